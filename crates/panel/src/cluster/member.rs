//! A member: its files (`member.json`, `status.json`), its state in memory and how lists show it.

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
use super::outbox::{Change, change_bytes, repair_outbox};
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
    /// The member refused the credential; its queue waits for `update_configclusterserver`.
    pub auth_refused: bool,
    /// Changes delivered and changes the member refused (skipped), since the member was added.
    pub delivered: u64,
    pub rejected: u64,
    /// The member is marked for a full resync: once its queue is empty it is sent the master's current value of
    /// every setting the master sets explicitly and of these keys (changes that were not queued).
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

/// A member and its queue.
pub(super) struct Member {
    pub(super) file: MemberFile,
    pub(super) endpoint: Endpoint,
    pub(super) credential: MemberCredential,
    pub(super) dir: PathBuf,
    pub(super) queue: VecDeque<Change>,
    /// Bytes of keys and values in `queue`.
    pub(super) queue_bytes: usize,
    pub(super) next_seq: u64,
    /// The outbox's length up to its last complete line, as this process wrote it.
    pub(super) journal_len: u64,
    /// A failed append may have left part of a line that could not be cut off: repaired before the next append.
    pub(super) torn: bool,
    pub(super) status: MemberStatus,
    /// When the next attempt may run after a failure, and the wait after the next failure.
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    pub(super) removed: bool,
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

pub(super) fn view(m: &Member) -> MemberView {
    let status = if m.status.auth_refused {
        "credential_refused"
    } else if m.queue.is_empty() {
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
            changes_waiting: m.queue.len(),
            lag_seconds: m
                .queue
                .front()
                .map_or(0.0, |c| unix_now_ms().saturating_sub(c.at_ms) as f64 / 1000.0),
            last_success: m.status.last_success,
            last_error: m.status.last_error.clone(),
            last_error_at: m.status.last_error_at,
            delivered: m.status.delivered,
            rejected: m.status.rejected,
            resync: m.status.resync.is_some(),
        },
    }
}

pub(super) fn load_member(dir: &Path) -> Result<Member> {
    let text = std::fs::read(dir.join("member.json"))?;
    let file: MemberFile = serde_json::from_slice(&text).context("member.json")?;
    let endpoint = Endpoint::parse(&file.url).map_err(|e| anyhow!(e))?;
    let credential = MemberCredential::parse(&file.credential).map_err(|e| anyhow!(e))?;
    let status: MemberStatus = std::fs::read(dir.join("status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let path = dir.join("outbox.jsonl");
    let good = match repair_outbox(&path) {
        Ok(good) => good,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(anyhow!(e).context(format!("cannot repair {}", path.display()))),
    };
    let mut journal = std::fs::read(&path).unwrap_or_default();
    journal.truncate(usize::try_from(good).unwrap_or(usize::MAX));
    // A line cut short by a crash was never acknowledged to anyone: skipped.
    let replay = super::outbox::replay(&journal);
    let queue: VecDeque<Change> = replay.pending.into_iter().collect();
    Ok(Member {
        file,
        endpoint,
        credential,
        dir: dir.to_path_buf(),
        queue_bytes: queue.iter().map(|c| change_bytes(&c.key, c.value.as_deref())).sum(),
        queue,
        next_seq: replay.next_seq,
        journal_len: good,
        torn: false,
        status,
        retry_at: None,
        backoff: BACKOFF_START,
        removed: false,
    })
}

/// `status.json` is informational (the outbox is what must survive), so it is replaced without a sync.
pub(super) fn save_status(m: &Member) {
    let Ok(bytes) = serde_json::to_vec(&m.status) else {
        return;
    };
    let tmp = m.dir.join(".status.json.tmp");
    let written = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes))
        .and_then(|()| std::fs::rename(&tmp, m.dir.join("status.json")));
    if let Err(e) = written {
        tracing::debug!("cannot write the status of {}: {e}", m.file.url);
    }
}
