//! A member: its files (`member.json`, `status.json`), where it stands in the journal, its state in memory and how
//! lists show it.

use std::collections::{BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::BACKOFF_START;
use super::client::Endpoint;
use super::credential::{CredentialKind, MemberCredential};
use super::journal::{Pending, legacy_outbox_keys};
use crate::fsx::unix_now_ms;

/// `member.json`: what the master knows about a member. Root-only, 0600.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct MemberFile {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) user: String,
    pub(super) credential: String,
    pub(super) fingerprint: Option<String>,
    pub(super) added_at: u64,
}

/// `status.json`: how the member is doing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Unix time of the last change the member accepted.
    pub last_success: Option<u64>,
    /// The last failure, until a later success.
    pub last_error: Option<String>,
    pub last_error_at: Option<u64>,
    /// The member refused the credential; its changes wait for `update_configclusterserver`.
    pub auth_refused: bool,
    /// Changes delivered and changes the member refused (skipped), since the member was added.
    pub delivered: u64,
    pub rejected: u64,
    /// The member is marked for a full resync: once it has finished the journal it is sent the master's current
    /// value of every setting the master sets explicitly and of these keys (changes it was not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync: Option<BTreeSet<String>>,
}

/// A member as lists show it: never the credential.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    /// The name as given when the member was added.
    pub name: String,
    /// Where the master sends its changes: `https://host:port` or `http://host:port`.
    pub url: String,
    pub user: String,
    pub credential_type: CredentialKind,
    pub signature: String,
    /// The SHA-256 fingerprint of the member's certificate pinned when it was added (`null`: a certificate
    /// authority vouches for the member, or it is plain HTTP).
    pub certificate_fingerprint: Option<String>,
    pub state: MemberState,
}

/// A member's state as lists and metrics show it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberState {
    /// `in_sync`, `pending`, `retrying` or `credential_refused`.
    pub status: &'static str,
    pub changes_waiting: usize,
    /// Seconds since the oldest waiting change was made (0 when none waits).
    pub lag_seconds: f64,
    pub last_success: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<u64>,
    pub delivered: u64,
    pub rejected: u64,
    /// Whether the member is marked for a full resync (see [`super::MAX_QUEUED_VALUE`], [`super::MAX_QUEUE_LEN`]).
    pub resync: bool,
}

/// A member: its files, where it stands in the journal and how it is doing.
pub(super) struct Member {
    pub(super) file: MemberFile,
    pub(super) endpoint: Endpoint,
    pub(super) credential: MemberCredential,
    pub(super) dir: PathBuf,
    /// The last change of the journal the member finished (accepted, or refused for good). Written to
    /// `cursors.json` by the group commit, never on a change's own path: a cursor that lags on disk only means a
    /// change is sent again after a crash.
    pub(super) cursor: u64,
    pub(super) status: MemberStatus,
    /// Bumped by every new resync mark, so a resync sent from older values does not clear a newer mark.
    pub(super) resync_gen: u64,
    /// A full resync being sent: the master's values as they were when it began, and the mark it answers.
    pub(super) resync_queue: VecDeque<(String, Option<String>)>,
    pub(super) resync_queue_gen: u64,
    /// A resync mark set before the cluster started (an upgraded outbox, a lost cursor): written at the start.
    pub(super) mark_unsaved: bool,
    /// The member still has the per-member outbox of older versions: retired at the start, once its changes are
    /// covered by the resync mark.
    pub(super) legacy_outbox: bool,
    /// How the status changed since the group commit last wrote it, and when it last did.
    pub(super) dirty: Dirty,
    pub(super) status_written: Option<Instant>,
    /// When the next attempt may run after a failure, and the wait after the next failure.
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    pub(super) removed: bool,
}

/// What changed in a member's status since it was last written: nothing, only its counters (written at most every
/// [`super::STATUS_EVERY`], so a fleet's deliveries are not a file each), or something a reader must see soon (an
/// error, a refusal, a resync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Dirty {
    Clean,
    Counters,
    Status,
}

impl Member {
    /// Notes a change of the status for the group commit.
    pub(super) fn touch(&mut self, what: Dirty) {
        self.dirty = self.dirty.max(what);
    }

    pub(super) fn new(file: MemberFile, endpoint: Endpoint, credential: MemberCredential, dir: PathBuf) -> Member {
        Member {
            file,
            endpoint,
            credential,
            dir,
            cursor: 0,
            status: MemberStatus::default(),
            resync_gen: 0,
            resync_queue: VecDeque::new(),
            resync_queue_gen: 0,
            mark_unsaved: false,
            legacy_outbox: false,
            dirty: Dirty::Clean,
            status_written: None,
            retry_at: None,
            backoff: BACKOFF_START,
            removed: false,
        }
    }

    /// Marks the member for a full resync that also sends `keys` (in memory: the caller writes it durably).
    pub(super) fn mark_resync(&mut self, keys: impl IntoIterator<Item = String>, why: &str) {
        if self.status.resync.is_none() {
            tracing::warn!(
                "configuration cluster: {} is marked for a full resync: {why}",
                self.file.url
            );
        }
        self.status.resync.get_or_insert_with(BTreeSet::new).extend(keys);
        self.resync_gen += 1;
    }

    /// Changes waiting for the member: those after its cursor and those of a resync being sent.
    pub(super) fn waiting(&self, pending: Pending) -> usize {
        pending.count + self.resync_queue.len()
    }
}

pub(super) struct Slot {
    pub(super) member: Mutex<Member>,
    pub(super) wake: Notify,
}

/// A member's directory name: from its canonical URL, so one server is one member.
pub(super) fn member_id(url: &str) -> String {
    Sha256::digest(url.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn write_private(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    credentials::write_atomic(path, &bytes, 0o600).map_err(|e| anyhow!("{e}"))
}

/// A member's user: a WHM user name.
pub(super) fn check_user(user: &str) -> Result<(), String> {
    settings::Username::new(user)
        .map(|_| ())
        .map_err(|e| format!("Invalid user “{}”: {e}", user.escape_debug()))
}

pub(super) fn view(m: &Member, pending: Pending) -> MemberView {
    let waiting = m.waiting(pending);
    let status = if m.status.auth_refused {
        "credential_refused"
    } else if waiting == 0 && m.status.resync.is_none() {
        "in_sync"
    } else if m.retry_at.is_some() {
        "retrying"
    } else {
        "pending"
    };
    MemberView {
        name: m.file.name.clone(),
        url: m.file.url.clone(),
        user: m.file.user.clone(),
        credential_type: m.credential.kind(),
        signature: m.credential.signature(),
        certificate_fingerprint: m.file.fingerprint.clone(),
        state: MemberState {
            status,
            changes_waiting: waiting,
            lag_seconds: pending
                .oldest_ms
                .map_or(0.0, |at| unix_now_ms().saturating_sub(at) as f64 / 1000.0),
            last_success: m.status.last_success,
            last_error: m.status.last_error.clone(),
            last_error_at: m.status.last_error_at,
            delivered: m.status.delivered,
            rejected: m.status.rejected,
            resync: m.status.resync.is_some(),
        },
    }
}

/// Reads a member's directory, without writing anything: `member.json`, `status.json`, and the keys still waiting in
/// an outbox of older versions, which mark the member for a resync of those keys (written at the start).
pub(super) fn load_member(dir: &Path) -> Result<Member> {
    let text = std::fs::read(dir.join("member.json"))?;
    let file: MemberFile = serde_json::from_slice(&text).context("member.json")?;
    let endpoint = Endpoint::parse(&file.url).map_err(|e| anyhow!(e))?;
    let credential = MemberCredential::parse(&file.credential).map_err(|e| anyhow!(e))?;
    let mut m = Member::new(file, endpoint, credential, dir.to_path_buf());
    m.status = match std::fs::read(dir.join("status.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: unreadable ({e}); the member's counters start again",
                dir.join("status.json").display()
            );
            MemberStatus::default()
        }),
        Err(_) => MemberStatus::default(),
    };
    let outbox = dir.join(LEGACY_OUTBOX);
    if let Some(bytes) = ::fsx::journal::read_if_present(&outbox).map_err(|e| anyhow!(e))? {
        m.legacy_outbox = true;
        let keys = legacy_outbox_keys(&bytes);
        if !keys.is_empty() {
            let why = format!(
                "{} change(s) waited in its outbox of an older version ({})",
                keys.len(),
                outbox.display()
            );
            m.mark_resync(keys, &why);
            m.mark_unsaved = true;
        }
    }
    Ok(m)
}

/// The per-member outbox of older versions, which the journal replaced.
pub(super) const LEGACY_OUTBOX: &str = "outbox.jsonl";

/// Writes `status.json`: without a sync while it holds only informational counters, synced ([`write_private`])
/// while it holds a resync mark, which must survive a crash (an unsynced rename over it could leave an empty file).
/// `false` when a resync mark it holds could not be written.
pub(super) fn save_status(dir: &Path, url: &str, status: &MemberStatus) -> bool {
    if status.resync.is_some() {
        return write_private(&dir.join("status.json"), status)
            .map_err(|e| tracing::error!("cannot record the resync mark of {url}: {e:#}"))
            .is_ok();
    }
    let Ok(bytes) = serde_json::to_vec(status) else {
        return true;
    };
    let tmp = dir.join(".status.json.tmp");
    let written = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes))
        .and_then(|()| std::fs::rename(&tmp, dir.join("status.json")));
    // Counters only: the next round writes them again.
    if let Err(e) = written {
        tracing::debug!("cannot write the status of {url}: {e}");
    }
    true
}
