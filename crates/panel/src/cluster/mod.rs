//! The Configuration Cluster: member servers that receive every Tweak Settings change made on this one (the master).
//!
//! `<state>/cluster/` (0700) holds the journal `journal.jsonl` (0600: every change on a line of its own, appended and
//! synced once whatever the number of members, before the change is answered), `cursors.json` (where each member
//! stands in it: the last change it finished), `settings.json` (the settings as last journaled) and a directory per
//! member (0700): `member.json` (0600: name, user, credential, pinned certificate fingerprint) and `status.json` (what
//! the last attempt did, and a full-resync mark).
//! A change never waits for members: one task per member sends the changes after its cursor in order, over a
//! connection it keeps open, with retries and capped exponential backoff, a bounded number of members at a time.
//! Cursors and statuses are written by a group commit ([`COMMIT_EVERY`]), never on a change's path, and the journal
//! is compacted once every member has passed a prefix of it. A member that refuses the credential is reported once
//! and waits for a new one; a member that refuses a value is noted and moves on. A member lagging past the caps (or
//! for [`MAX_LAG`]) is marked for a full resync and moved to the head, so it does not hold the journal; a value too
//! long for the journal is a resync mark for its key, in the journal. A failed append fails the change.

pub mod client;
mod commit;
mod credential;
pub mod journal;
mod member;
mod push;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use settings::TweakSettings;
use tokio::sync::{Notify, Semaphore};

use self::client::Endpoint;
use self::journal::Changes;
use crate::audit::AuditLog;
use crate::fsx::{create_private_dir, unix_now, unix_now_ms};

/// How many members are pushed to at the same time.
pub const MAX_CONCURRENT_PUSHES: usize = 32;
/// How many changes one member is sent in a turn (one slot of [`MAX_CONCURRENT_PUSHES`], one connection).
pub const PUSH_BATCH: usize = 16;
/// The first wait after a failed attempt; each further failure doubles it, up to [`BACKOFF_CAP`].
pub const BACKOFF_START: Duration = Duration::from_millis(250);
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How often, at most, members' cursors and statuses are written.
pub const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// How often, at most, a member's status is written when only its counters changed.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);
/// A connection to a member idle this long is closed (members close theirs after a while anyway).
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(30);
/// The journal is compacted once every member has passed this many bytes of it.
const COMPACT_AFTER: u64 = 64 * 1024;
/// The longest value journaled for members; a longer one is a resync mark for its key instead.
pub const MAX_QUEUED_VALUE: usize = 96 * 1024;
/// The most changes, and bytes of keys and values, that may wait for a member; past either (or past [`MAX_LAG`])
/// the member is marked for a full resync and moved to the head rather than hold the journal.
pub const MAX_QUEUE_LEN: usize = 10_000;
pub const MAX_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// The longest a change may wait for a member (down, or refusing the credential) before the member is marked for a
/// full resync and moved to the head.
pub const MAX_LAG: Duration = Duration::from_secs(24 * 60 * 60);
/// The most of a member's `reason` kept (control characters escaped first), for logs, files and pages.
pub const MAX_REASON: usize = 300;

const JOURNAL: &str = "journal.jsonl";
const CURSORS: &str = "cursors.json";
const SETTINGS: &str = "settings.json";

pub use self::credential::{CredentialKind, MemberCredential};
pub use self::journal::Change;
use self::member::{LEGACY_OUTBOX, Member, MemberFile, Slot, check_user, load_member, member_id, view, write_private};
pub use self::member::{MemberState, MemberStatus, MemberView};
pub use self::push::{Outcome, classify, clean_reason};

/// A lock whose holder panicked is still usable: every state it guards is whole between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The master's Tweak Settings as last journaled for the members, kept in `<state>/cluster/settings.json`: a change
/// made while the master was stopped (an edit of its config file) is found against it at the next start, and a new
/// member is sent the settings the master holds explicitly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sent {
    /// Every setting's value (`None`: undefined).
    values: BTreeMap<String, Option<String>>,
    /// The settings the master's configuration sets explicitly.
    explicit: BTreeSet<String>,
    /// The journal's last change when these were recorded: the journal's later changes are newer than them (the
    /// group commit writes `settings.json` after the journal, so it may lag).
    #[serde(default)]
    through: u64,
}

impl Sent {
    fn of(settings: &TweakSettings) -> Sent {
        let keys: BTreeSet<&str> = settings::schema::keys()
            .map(|k| -> &str { k })
            .chain(settings.explicit().map(|(k, _)| k))
            .collect();
        Sent {
            values: keys
                .into_iter()
                .map(|k| (k.to_owned(), settings.get(k).map(str::to_owned)))
                .collect(),
            explicit: settings.explicit().map(|(k, _)| k.to_owned()).collect(),
            through: 0,
        }
    }

    /// These settings with the journal's changes made after them.
    fn with_journal(mut self, changes: &Changes) -> Sent {
        for c in changes.after(self.through, usize::MAX) {
            if !c.resync {
                self.values.insert(c.key.clone(), c.value.clone());
            }
            self.through = c.seq;
        }
        self
    }

    /// What changed from `self` to `now`.
    fn changes_to(&self, now: &Sent) -> Vec<(String, Option<String>)> {
        let keys: BTreeSet<&String> = self.values.keys().chain(now.values.keys()).collect();
        keys.into_iter()
            .filter(|k| self.values.get(*k).cloned().flatten() != now.values.get(*k).cloned().flatten())
            .map(|k| (k.clone(), now.values.get(k).cloned().flatten()))
            .collect()
    }

    fn value(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned().flatten()
    }
}

/// The journal's changes in memory, with the settings they come from.
struct Mem {
    changes: Changes,
    /// The master's settings in force (sent by a resync, and to a new member); `None` until the cluster starts.
    sent: Option<Sent>,
    /// The settings whose every change is in the journal (what `settings.json` records), and its version.
    recorded: Option<Sent>,
    recorded_gen: u64,
    /// Keys whose change the journal could not take: written again (with the master's value then) by the next
    /// append, or by the group commit after `retry_at`.
    unjournaled: BTreeSet<String>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Mem {
    /// Every change of the settings in force is in the journal: they are what `settings.json` is to record.
    fn record(&mut self) {
        self.recorded = self.sent.clone().map(|mut s| {
            s.through = self.changes.head();
            s
        });
        self.recorded_gen += 1;
    }
}

/// The journal's file: open once the cluster started (only the serving process appends to it).
#[derive(Default)]
struct JournalFile {
    journal: Option<::fsx::Journal>,
    /// Fault hooks given before the journal was opened, for it.
    hooks: Option<::fsx::WriteHooks>,
}

/// What the cluster's tasks share. Locks are taken in this order, each at most once: `file`, `members`, `mem`, a
/// member.
struct Inner {
    dir: PathBuf,
    file: Mutex<JournalFile>,
    members: Mutex<BTreeMap<String, Arc<Slot>>>,
    mem: Mutex<Mem>,
    permits: Semaphore,
    /// Wakes the members' tasks after an append: one wake on the change's path, the members woken from the cluster's
    /// own runtime (a wake from another thread costs a system call each).
    fanout: Notify,
    /// Wakes the group commit.
    commit: Notify,
    audit: Option<Arc<AuditLog>>,
}

/// The cluster's members and the journal of their changes, shared by the operations, the pages, the reload hook and
/// the tasks.
pub struct Cluster {
    inner: Arc<Inner>,
    /// Where the push tasks and the group commit run, once started.
    runtime: Mutex<Option<Tasks>>,
    /// Members being added: reserved before any network step, so one server is added once.
    adding: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// The runtime of the push tasks and the group commit: one thread of the cluster's own, so a change's fan-out to a
/// fleet never queues ahead of the requests on the serving runtime's workers (or the serving runtime, when a thread
/// cannot be started).
struct Tasks {
    own: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Tasks {
    fn new(serving: tokio::runtime::Handle) -> Tasks {
        let own = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cluster-push")
            .enable_all()
            .build();
        match own {
            Ok(rt) => Tasks {
                handle: rt.handle().clone(),
                own: Some(rt),
            },
            Err(e) => {
                tracing::warn!("configuration cluster: pushes share the serving runtime: {e}");
                Tasks {
                    own: None,
                    handle: serving,
                }
            }
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        // Never blocks, so the cluster may be dropped anywhere (an async task included).
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

impl Inner {
    fn slots(&self) -> Vec<Arc<Slot>> {
        lock(&self.members).values().cloned().collect()
    }

    /// Opens the journal for appending (cutting a torn tail) and reads it again, unless it is open.
    fn open_journal(&self, file: &mut JournalFile) -> Result<(), String> {
        if file.journal.is_some() {
            return Ok(());
        }
        let path = self.dir.join(JOURNAL);
        let opened = ::fsx::Journal::open(&path, 0o600, journal::is_record).and_then(|j| j.read().map(|b| (j, b)));
        let (mut j, bytes) =
            opened.map_err(|e| format!("the configuration cluster's journal cannot be opened: {e}"))?;
        if let Some(hooks) = file.hooks.take() {
            j.set_hooks(hooks);
        }
        let mut mem = lock(&self.mem);
        let before = mem.changes.next_seq();
        mem.changes = Changes::of(&journal::replay(&bytes));
        mem.changes.skip_past(before.saturating_sub(1));
        file.journal = Some(j);
        Ok(())
    }

    /// Appends `changes` to the journal (synced once, before returning) with any keys an earlier append could not
    /// take, and wakes the members' tasks. `now` are the master's settings with the changes made.
    ///
    /// An error means the journal could not be written: the change that made it must fail. Its keys are written again
    /// (with the master's values then) by the next append or the group commit's retry, and `settings.json` is not
    /// moved past them, so a restart before then finds the change again.
    fn append(&self, changes: &[(String, Option<String>)], now: Option<Sent>) -> Result<(), String> {
        let mut file = lock(&self.file);
        let has_members = !lock(&self.members).is_empty();
        // Opened (again, after a failure) before the sequence is read from it.
        let opened = if has_members {
            self.open_journal(&mut file)
        } else {
            Ok(())
        };
        let (batch, first) = {
            let mut mem = lock(&self.mem);
            if let Some(now) = now {
                mem.sent = Some(now);
            }
            let mut batch = changes.to_vec();
            for key in std::mem::take(&mut mem.unjournaled) {
                if !batch.iter().any(|(k, _)| *k == key) {
                    let value = mem.sent.as_ref().and_then(|s| s.value(&key));
                    batch.push((key, value));
                }
            }
            (batch, mem.changes.next_seq())
        };
        if !has_members || batch.is_empty() {
            // Nobody to send them to: a member added later is sent the master's settings.
            let mut mem = lock(&self.mem);
            mem.record();
            drop(mem);
            self.commit.notify_one();
            return Ok(());
        }
        let at_ms = unix_now_ms();
        let mut bytes = Vec::new();
        let mut lines = Vec::with_capacity(batch.len());
        for (i, (key, value)) in batch.iter().enumerate() {
            let resync = value.as_ref().is_some_and(|v| v.len() > MAX_QUEUED_VALUE);
            if resync {
                tracing::warn!(
                    "configuration cluster: the value of {key} is longer than {MAX_QUEUED_VALUE} bytes: it is not \
                     journaled; each member is sent the master's value of {key} when it reaches the change"
                );
            }
            let change = Change {
                seq: first + i as u64,
                key: key.clone(),
                value: if resync { None } else { value.clone() },
                at_ms,
                resync,
            };
            bytes.extend(journal::line(&change));
            lines.push((change, bytes.len() as u64));
        }
        let written = opened.and_then(|()| match file.journal.as_mut() {
            Some(j) => j.append(&bytes).map(|()| j.len()).map_err(|e| e.to_string()),
            None => Err("the configuration cluster's journal is not open".to_owned()),
        });
        let mut mem = lock(&self.mem);
        match written {
            Ok(len) => {
                let start = len - bytes.len() as u64;
                for (change, end) in lines {
                    mem.changes.push(change, start + end);
                }
                mem.record();
                mem.retry_at = None;
                mem.backoff = BACKOFF_START;
                drop(mem);
                drop(file);
                self.fanout.notify_one();
                self.commit.notify_one();
                Ok(())
            }
            Err(e) => {
                mem.unjournaled.extend(batch.into_iter().map(|(k, _)| k));
                mem.retry_at = Some(Instant::now() + mem.backoff);
                mem.backoff = (mem.backoff * 2).min(BACKOFF_CAP);
                drop(mem);
                drop(file);
                self.commit.notify_one();
                tracing::error!("configuration cluster: cannot journal a change: {e}");
                Err(format!(
                    "the change is in force on this server but could not be written to the configuration cluster's \
                     journal ({e}); the members are sent it once the journal can be written"
                ))
            }
        }
    }
}

impl Cluster {
    /// Opens `<state>/cluster` (made 0700) and reads the journal, the cursors and every member, writing nothing (a
    /// command-line process reads the cluster while the server appends to it); `audit` receives credential
    /// refusals (the command line passes none). Only [`Cluster::start`] opens the journal for appending.
    pub fn open(dir: &Path, audit: Option<Arc<AuditLog>>) -> Result<Cluster> {
        create_private_dir(dir)?;
        let bytes = ::fsx::journal::read_if_present(&dir.join(JOURNAL))?.unwrap_or_default();
        let mut changes = Changes::of(&journal::replay(&bytes[..journal::complete_len(&bytes)]));
        let cursors = read_cursors(&dir.join(CURSORS));
        let mut members = BTreeMap::new();
        let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.join("member.json").is_file() {
                continue;
            }
            match load_member(&path) {
                Ok(mut m) => {
                    let written = cursors.get(&m.file.url).copied();
                    place(&mut m, written, &changes);
                    changes.skip_past(m.cursor);
                    members.insert(
                        m.file.url.clone(),
                        Arc::new(Slot {
                            member: Mutex::new(m),
                            wake: Notify::new(),
                        }),
                    );
                }
                Err(e) => tracing::error!("configuration cluster member in {} not loaded: {e:#}", path.display()),
            }
        }
        Ok(Cluster {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                file: Mutex::new(JournalFile::default()),
                members: Mutex::new(members),
                mem: Mutex::new(Mem {
                    changes,
                    sent: None,
                    recorded: None,
                    recorded_gen: 0,
                    unjournaled: BTreeSet::new(),
                    retry_at: None,
                    backoff: BACKOFF_START,
                }),
                permits: Semaphore::new(MAX_CONCURRENT_PUSHES),
                fanout: Notify::new(),
                commit: Notify::new(),
                audit,
            }),
            runtime: Mutex::new(None),
            adding: Mutex::new(BTreeSet::new()),
        })
    }

    fn find(&self, name: &str) -> Result<Arc<Slot>, String> {
        let url = Endpoint::parse(name)?.url();
        lock(&self.inner.members)
            .get(&url)
            .cloned()
            .ok_or_else(|| format!("“{name}” is not a member of the configuration cluster."))
    }

    /// Starts the cluster (once, at `serve`; `runtime` is the serving one, used only when the cluster's own thread
    /// cannot be started): opens the journal for appending, writes the resync marks found when reading (and retires
    /// the outboxes of older versions they cover), journals whatever changed since the settings were last journaled
    /// (an edit made while the master was stopped), then starts the push tasks and the group commit. `settings` are
    /// the master's Tweak Settings now. Only a started cluster journals changes, so a command-line process that writes
    /// the config leaves that to the running server, which sees it on reload.
    pub fn start(&self, runtime: tokio::runtime::Handle, settings: &TweakSettings) {
        let mut started = lock(&self.runtime);
        if started.is_some() {
            return;
        }
        let inner = &self.inner;
        if let Err(e) = inner.open_journal(&mut lock(&inner.file)) {
            tracing::error!("{e}; changes are refused until it can be");
        }
        let journaled = inner.dir.join(SETTINGS);
        let before = match read_journaled_settings(&journaled) {
            Ok(Some(before)) => Some(before.with_journal(&lock(&inner.mem).changes)),
            Ok(None) => {
                // None recorded (lost, or never written): a member in step, with no resync of its own waiting, may
                // have missed an edit made while the server was stopped, and nothing can tell which.
                let why = format!(
                    "{} is missing: what changed while the server was stopped cannot be told",
                    journaled.display()
                );
                for slot in inner.slots() {
                    let mut m = lock(&slot.member);
                    if m.status.resync.is_none() {
                        m.mark_resync(settings::schema::keys().map(|k| k.to_string()), &why);
                        m.mark_unsaved = true;
                    }
                }
                None
            }
            Err(why) => {
                // What changed while the server was stopped cannot be told: every member is sent every setting.
                tracing::error!("configuration cluster: {why}");
                for slot in inner.slots() {
                    let mut m = lock(&slot.member);
                    m.mark_resync(settings::schema::keys().map(|k| k.to_string()), &why);
                    m.mark_unsaved = true;
                }
                None
            }
        };
        for slot in inner.slots() {
            let mut m = lock(&slot.member);
            if m.mark_unsaved {
                if let Err(e) = write_private(&m.dir.join("status.json"), &m.status) {
                    // The group commit tries again, and holds back `settings.json` until the mark is on disk.
                    tracing::error!("cannot record the full resync of {}: {e:#}", m.file.url);
                    m.touch(member::Dirty::Status);
                    continue;
                }
                m.mark_unsaved = false;
            }
            if m.legacy_outbox {
                let outbox = m.dir.join(LEGACY_OUTBOX);
                match std::fs::remove_file(&outbox) {
                    Ok(()) => tracing::info!(
                        "configuration cluster: {} retired: its changes are in the journal or its resync mark",
                        outbox.display()
                    ),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", outbox.display()),
                }
                m.legacy_outbox = false;
            }
        }
        let now = Sent::of(settings);
        let missed = before.map(|b| b.changes_to(&now)).unwrap_or_default();
        if !missed.is_empty() {
            tracing::info!(
                "{} Tweak Setting change(s) made while the server was stopped are journaled for the configuration \
                 cluster",
                missed.len()
            );
        }
        // Written now, not by the group commit: the next start finds what changed against it and the journal. Not
        // while a member's resync mark is only in memory: the file as it is makes the next start mark it again.
        let marks_unsaved = inner.slots().iter().any(|s| lock(&s.member).mark_unsaved);
        if inner.append(&missed, Some(now)).is_ok()
            && !marks_unsaved
            && let Some(recorded) = lock(&inner.mem).recorded.clone()
            && let Err(e) = write_private(&inner.dir.join(SETTINGS), &recorded)
        {
            tracing::error!("cannot record the settings journaled for the configuration cluster: {e:#}");
        }
        let tasks = Tasks::new(runtime);
        for s in inner.slots() {
            tasks.handle.spawn(push::push_loop(s, Arc::clone(inner)));
        }
        tasks.handle.spawn(push::fanout_loop(Arc::clone(inner)));
        tasks.handle.spawn(commit::commit_loop(Arc::clone(inner)));
        inner.commit.notify_one();
        *started = Some(tasks);
    }

    /// Journals changes for every member (synced once, before returning) and wakes their tasks; `settings` are the
    /// master's settings with the changes made. Nothing happens unless the cluster was started (see
    /// [`Cluster::start`]). An error means the journal could not be written: the change that made it must fail.
    pub fn enqueue(&self, changes: &[(String, Option<String>)], settings: &TweakSettings) -> Result<(), String> {
        if changes.is_empty() || lock(&self.runtime).is_none() {
            return Ok(());
        }
        self.inner.append(changes, Some(Sent::of(settings)))
    }

    /// Runs `hooks` at the fault points of the journal's appends and compactions (tests inject faults with it).
    pub fn set_journal_hooks(&self, hooks: ::fsx::WriteHooks) {
        let mut file = lock(&self.inner.file);
        match file.journal.as_mut() {
            Some(j) => j.set_hooks(hooks),
            None => file.hooks = Some(hooks),
        }
    }

    /// Adds a member. HTTPS members are checked first: a certificate an authority vouches for is trusted as such;
    /// otherwise its fingerprint is pinned (and must equal `fingerprint` when one is given, e.g. confirmed on the page).
    /// The new member starts at the journal's head, marked (durably) for a resync that sends it every setting the
    /// master's configuration sets, when there are any.
    pub fn add(
        &self,
        name: &str,
        user: &str,
        credential: MemberCredential,
        fingerprint: Option<&str>,
    ) -> Result<MemberView, String> {
        let endpoint = Endpoint::parse(name)?;
        let url = endpoint.url();
        check_user(user)?;
        // Reserved under the lock before any network step: a second add of the same server is refused at once.
        {
            let members = lock(&self.inner.members);
            let mut adding = lock(&self.adding);
            if members.contains_key(&url) {
                return Err(format!("{url} is already a member of the configuration cluster."));
            }
            if !adding.insert(url.clone()) {
                return Err(format!("{url} is being added to the configuration cluster already."));
            }
        }
        let _reserved = Reservation {
            adding: &self.adding,
            url: url.clone(),
        };
        let confirmed = match fingerprint.filter(|f| !f.trim().is_empty()) {
            Some(f) => Some(
                client::normalise_fingerprint(f)
                    .ok_or_else(|| "The certificate fingerprint is not a SHA-256 fingerprint.".to_owned())?,
            ),
            None => None,
        };
        let pin = if endpoint.https {
            let cert = self.certificate(name)?;
            match confirmed {
                Some(c) if c != cert.fingerprint => {
                    return Err(format!(
                        "The server now presents the certificate {}, not the one confirmed ({c}).",
                        cert.fingerprint
                    ));
                }
                Some(c) => Some(c),
                None if cert.ca_signed => None,
                None => Some(cert.fingerprint),
            }
        } else {
            None
        };
        let dir = self.inner.dir.join(member_id(&url));
        create_private_dir(&dir).map_err(|e| format!("{e:#}"))?;
        // An add that fails leaves no member file behind, so no half-added member comes back at the next start.
        let mut half_added = HalfAdded(Some(dir.clone()));
        let file = MemberFile {
            name: name.trim().to_owned(),
            url: url.clone(),
            user: user.to_owned(),
            credential: credential.secret.expose().to_owned(),
            fingerprint: pin,
            added_at: unix_now(),
        };
        write_private(&dir.join("member.json"), &file).map_err(|e| format!("{e:#}"))?;
        let _ = std::fs::remove_file(dir.join(LEGACY_OUTBOX));
        let _ = std::fs::remove_file(dir.join("status.json"));
        let slot = Arc::new(Slot {
            member: Mutex::new(Member::new(file, endpoint, credential, dir)),
            wake: Notify::new(),
        });
        let v = {
            // Under the journal's lock: no change is appended between reading the master's settings and the head and
            // joining the members.
            let _file = lock(&self.inner.file);
            let explicit = lock(&self.inner.mem)
                .sent
                .as_ref()
                .is_none_or(|s| !s.explicit.is_empty());
            // A new member starts in step: it is sent every setting the master's configuration sets (a resync,
            // marked durably before it joins).
            if explicit {
                let mut m = lock(&slot.member);
                m.status.resync = Some(BTreeSet::new());
                m.resync_gen = 1;
                write_private(&m.dir.join("status.json"), &m.status).map_err(|e| format!("{e:#}"))?;
            }
            let mut members = lock(&self.inner.members);
            let mem = lock(&self.inner.mem);
            let mut m = lock(&slot.member);
            m.cursor = mem.changes.head();
            members.insert(url, Arc::clone(&slot));
            half_added.0 = None;
            view(&m, mem.changes.pending(m.cursor))
        };
        if let Some(tasks) = lock(&self.runtime).as_ref() {
            tasks.handle.spawn(push::push_loop(slot, Arc::clone(&self.inner)));
        }
        self.inner.commit.notify_one();
        Ok(v)
    }

    /// Changes a member's credential and/or user; a new credential releases changes held by a refusal.
    pub fn update(
        &self,
        name: &str,
        user: Option<&str>,
        credential: Option<MemberCredential>,
    ) -> Result<MemberView, String> {
        let slot = self.find(name)?;
        let mut m = lock(&slot.member);
        let mut file = m.file.clone();
        if let Some(u) = user {
            check_user(u)?;
            file.user = u.to_owned();
        }
        if let Some(c) = &credential {
            file.credential = c.secret.expose().to_owned();
        }
        write_private(&m.dir.join("member.json"), &file).map_err(|e| format!("{e:#}"))?;
        m.file = file;
        if let Some(c) = credential {
            m.credential = c;
        }
        m.status.auth_refused = false;
        m.retry_at = None;
        m.backoff = BACKOFF_START;
        m.touch(member::Dirty::Status);
        drop(m);
        let v = {
            let mem = lock(&self.inner.mem);
            let m = lock(&slot.member);
            view(&m, mem.changes.pending(m.cursor))
        };
        slot.wake.notify_one();
        self.inner.commit.notify_one();
        Ok(v)
    }

    /// Removes a member with its credential and its place in the journal.
    pub fn remove(&self, name: &str) -> Result<MemberView, String> {
        let slot = self.find(name)?;
        let mut members = lock(&self.inner.members);
        let mem = lock(&self.inner.mem);
        let mut m = lock(&slot.member);
        // The member file makes the member (and holds its credential): a member whose file stays is kept, or it
        // would come back at the next start.
        let file = m.dir.join("member.json");
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!("cannot remove {}: {e}", file.display());
                return Err(format!(
                    "{} is still a member of the configuration cluster: cannot remove {}: {e}",
                    m.file.url,
                    file.display()
                ));
            }
        }
        members.remove(&m.file.url);
        m.removed = true;
        let v = view(&m, mem.changes.pending(m.cursor));
        drop((members, mem));
        if let Err(e) = std::fs::remove_dir_all(&m.dir) {
            tracing::warn!("cannot remove {} (its member file is gone): {e}", m.dir.display());
        }
        drop(m);
        slot.wake.notify_one();
        self.inner.commit.notify_one();
        Ok(v)
    }

    /// Every member with its state, by URL.
    pub fn list(&self) -> Vec<MemberView> {
        let slots = self.inner.slots();
        let mem = lock(&self.inner.mem);
        slots
            .iter()
            .map(|s| {
                let m = lock(&s.member);
                view(&m, mem.changes.pending(m.cursor))
            })
            .collect()
    }

    /// The certificate a server presents (for confirmation before it is added).
    pub fn certificate(&self, name: &str) -> Result<client::Certificate, String> {
        let endpoint = Endpoint::parse(name)?;
        if !endpoint.https {
            return Err(format!("{} is plain HTTP: it has no certificate.", endpoint.url()));
        }
        client::block_on(async move { client::certificate(&endpoint).await })
            .ok_or_else(|| "the connection task failed".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// Calls `version` on a member with its credential: the version, or why not.
    pub fn test(&self, name: &str) -> Result<String, String> {
        let slot = self.find(name)?;
        let (endpoint, pin, header) = {
            let m = lock(&slot.member);
            (
                m.endpoint.clone(),
                m.file.fingerprint.clone(),
                m.credential.header(&m.file.user),
            )
        };
        let reply = client::block_on(async move {
            client::get(&endpoint, pin.as_deref(), "/json-api/version?api.version=1", &header).await
        })
        .ok_or_else(|| "the connection task failed".to_owned())?
        .map_err(|e| e.to_string())?;
        match classify(reply.status, &reply.body) {
            Outcome::Delivered => {
                let v: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
                Ok(clean_reason(v["data"]["version"].as_str().unwrap_or("unknown")))
            }
            Outcome::Rejected(r) | Outcome::CredentialRefused(r) | Outcome::Retry(r) => Err(r),
        }
    }
}

/// The settings as last journaled (`settings.json`): `None` when none are recorded; `Err` says why a file that is
/// there cannot be read. Either way, changes made while the server was stopped cannot be told from it.
fn read_journaled_settings(path: &Path) -> Result<Option<Sent>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{} is not the settings last journaled: {e}", path.display()))
}

/// The members' places in the journal (`cursors.json`): none recorded yet when the file is missing; a file that
/// cannot be read is logged and read as none, which resends the journal or marks members for a full resync ([`place`]).
fn read_cursors(path: &Path) -> BTreeMap<String, u64> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            tracing::error!("configuration cluster: cannot read {}: {e}", path.display());
            return BTreeMap::new();
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::error!(
            "configuration cluster: {} is not the members' places in the journal: {e}",
            path.display()
        );
        BTreeMap::new()
    })
}

/// Where a member read from disk stands in the journal: at its cursor as last written. A member the journal cannot
/// serve (its cursor missing after a compaction, before the compacted point, or past the head, the journal having
/// lost changes) is marked for a full resync of every setting, written at the start.
fn place(m: &mut Member, written: Option<u64>, changes: &Changes) {
    let why = match written {
        Some(c) if c >= changes.compacted() && c <= changes.head() => None,
        None if changes.compacted() == 0 => None,
        None => Some("its place in the journal was not recorded".to_owned()),
        Some(c) if c < changes.compacted() => Some(format!(
            "the journal was compacted past its place ({c} < {})",
            changes.compacted()
        )),
        Some(c) => Some(format!(
            "its place in the journal is past the journal's end ({c} > {})",
            changes.head()
        )),
    };
    m.cursor = written.unwrap_or(0).max(changes.compacted());
    if let Some(why) = why {
        m.mark_resync(settings::schema::keys().map(|k| k.to_string()), &why);
        m.mark_unsaved = true;
    }
}

/// The directory of a member whose add has not succeeded ([`Cluster::add`]): removed when the add ends in an error.
struct HalfAdded(Option<PathBuf>);

impl Drop for HalfAdded {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::error!("cannot remove {} after a failed add: {e}", dir.display());
        }
    }
}

/// A member being added ([`Cluster::add`]): its URL is let go when the add ends, however it ends.
struct Reservation<'a> {
    adding: &'a Mutex<BTreeSet<String>>,
    url: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        lock(self.adding).remove(&self.url);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::commit::{Committed, tick};
    use super::*;

    #[test]
    fn answers_are_classified_as_whm_clients_read_them() {
        let ok = br#"{"metadata":{"result":1,"reason":"OK"}}"#;
        let bad = br#"{"metadata":{"result":0,"reason":"Invalid value for x; The setting will not be updated."}}"#;
        let denied = br#"{"metadata":{"result":0,"reason":"Access denied: no privilege"}}"#;
        assert_eq!(classify(200, ok), Outcome::Delivered);
        assert!(matches!(classify(200, bad), Outcome::Rejected(_)));
        assert!(matches!(classify(200, denied), Outcome::CredentialRefused(_)));
        assert!(matches!(classify(401, b""), Outcome::CredentialRefused(_)));
        assert!(matches!(classify(403, ok), Outcome::CredentialRefused(_)));
        assert!(matches!(classify(503, ok), Outcome::Retry(_)));
        // Any other 4xx refuses this change (it is skipped, not retried for ever); 408 and 429 pass.
        assert!(matches!(classify(414, b"URI Too Long"), Outcome::Rejected(_)));
        assert!(matches!(classify(400, bad), Outcome::Rejected(r) if r.contains("Invalid value for x")));
        assert!(matches!(classify(429, b""), Outcome::Retry(_)));
        assert!(matches!(classify(408, b""), Outcome::Retry(_)));
        assert!(matches!(classify(200, b"<html>"), Outcome::Retry(_)));
    }

    #[test]
    fn credentials_are_told_apart_and_never_shown() {
        let token = MemberCredential::parse(" ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 \n").unwrap();
        assert_eq!(token.kind(), CredentialKind::ApiToken);
        assert_eq!(token.header("root"), "whm root:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
        assert!(!format!("{token:?}").contains("ABCDEFGH"));
        assert_eq!(token.signature().len(), 47);
        let key = credentials::AccessKey::generate().unwrap();
        let parsed = MemberCredential::parse(&key.to_file_text()).unwrap();
        assert_eq!(parsed.kind(), CredentialKind::Accesshash);
        assert_eq!(parsed.header("root"), format!("WHM root:{}", key.as_str()));
        assert_eq!(parsed.signature(), key.signature().to_string());
        assert!(!format!("{parsed:?}").contains(&key.as_str()[..40]));
        for bad in ["", "   ", "short", "has-dashes-inside-so-not-a-token", "zz-zz"] {
            assert!(MemberCredential::parse(bad).is_err(), "{bad}");
        }
    }

    const URL: &str = "http://127.0.0.1:9";

    /// A cluster of one member (nobody answers on port 9) with its journal open for appending, no task started.
    fn one_member(dir: &Path) -> (Cluster, Arc<Slot>) {
        let cluster = Cluster::open(&dir.join("cluster"), None).unwrap();
        let cred = MemberCredential::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").unwrap();
        cluster.add(URL, "root", cred, None).unwrap();
        cluster.inner.open_journal(&mut lock(&cluster.inner.file)).unwrap();
        lock(&cluster.inner.mem).sent = Some(Sent::of(&TweakSettings::defaults()));
        let slot = cluster.find(URL).unwrap();
        (cluster, slot)
    }

    fn changes(keys: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        keys.iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    fn journal_lines(dir: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("cluster").join(JOURNAL))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_journal_survives_a_restart_and_a_member_resumes_after_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        cluster
            .inner
            .append(&changes(&[("a", Some("1")), ("b", None)]), None)
            .unwrap();
        cluster.inner.append(&changes(&[("c", Some("3"))]), None).unwrap();
        assert_eq!(
            journal_lines(dir.path()).len(),
            3,
            "each change once, whatever the members"
        );
        lock(&slot.member).cursor = 1;
        tick(&cluster.inner, &mut Committed::default());
        drop((cluster, slot));
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let list = again.list();
        assert_eq!(list[0].state.changes_waiting, 2);
        let slot = again.find(URL).unwrap();
        assert_eq!(lock(&slot.member).cursor, 1);
        let waiting: Vec<(u64, String)> = lock(&again.inner.mem)
            .changes
            .after(1, 10)
            .iter()
            .map(|c| (c.seq, c.key.clone()))
            .collect();
        assert_eq!(waiting, [(2, "b".to_owned()), (3, "c".to_owned())]);
        assert_eq!(lock(&again.inner.mem).changes.next_seq(), 4);
    }

    #[test]
    fn a_finished_journal_is_compacted_and_keeps_its_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let many: Vec<(String, Option<String>)> =
            (0..300).map(|i| (format!("key{i}"), Some("v".repeat(300)))).collect();
        cluster.inner.append(&many, None).unwrap();
        cluster.inner.append(&changes(&[("last", Some("1"))]), None).unwrap();
        let mut committed = Committed::default();
        lock(&slot.member).cursor = 300;
        tick(&cluster.inner, &mut committed);
        let path = dir.path().join("cluster").join(JOURNAL);
        let lines = journal_lines(dir.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], json!({"compacted": 300, "next": 302}));
        assert_eq!(lines[1]["key"], "last", "what waits is kept");
        assert!(std::fs::metadata(&path).unwrap().len() < 200);
        cluster.inner.append(&changes(&[("after", None)]), None).unwrap();
        drop((cluster, slot));
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let mem = lock(&again.inner.mem);
        let seqs: Vec<u64> = mem.changes.after(0, 10).iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [301, 302], "the sequence goes on after compaction");
        assert_eq!(mem.changes.next_seq(), 303);
    }

    /// A member whose cursor the journal can no longer serve (not recorded after a compaction, or past the journal's
    /// end) is marked for a resync of every setting rather than left to miss changes.
    #[test]
    fn a_member_the_journal_cannot_serve_is_marked_for_a_full_resync() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let many: Vec<(String, Option<String>)> = (0..300).map(|i| (format!("k{i}"), Some("v".repeat(300)))).collect();
        cluster.inner.append(&many, None).unwrap();
        lock(&slot.member).cursor = 300;
        tick(&cluster.inner, &mut Committed::default());
        drop((cluster, slot));
        std::fs::remove_file(dir.path().join("cluster").join(CURSORS)).unwrap();
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let slot = again.find(URL).unwrap();
        let m = lock(&slot.member);
        assert!(m.mark_unsaved && m.status.resync.as_ref().unwrap().contains("empty_trash_days"));
        assert_eq!(m.cursor, 300);
    }

    /// A value longer than the cap is not journaled: its line is a resync mark for the key, once for every member.
    #[test]
    fn a_value_past_the_cap_is_a_resync_mark_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, _slot) = one_member(dir.path());
        let huge = "v".repeat(MAX_QUEUED_VALUE + 1);
        cluster.inner.append(&changes(&[("big", Some(&huge))]), None).unwrap();
        let lines = journal_lines(dir.path());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["resync"], true);
        assert_eq!(lines[0]["value"], serde_json::Value::Null);
    }

    /// A member with more changes waiting than the caps allow is marked (durably) for a resync of their keys and
    /// moved to the head, so the journal does not grow for it.
    #[test]
    fn a_lagging_member_is_marked_for_a_resync_and_releases_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let many: Vec<(String, Option<String>)> = (0..=MAX_QUEUE_LEN).map(|i| (format!("k{i}"), None)).collect();
        cluster.inner.append(&many, None).unwrap();
        let mut committed = Committed::default();
        tick(&cluster.inner, &mut committed);
        let m = lock(&slot.member);
        assert_eq!(m.cursor, (MAX_QUEUE_LEN + 1) as u64, "moved to the head");
        let on_disk: MemberStatus = serde_json::from_slice(&std::fs::read(m.dir.join("status.json")).unwrap()).unwrap();
        let keys = on_disk.resync.unwrap();
        assert!(
            keys.contains("k0") && keys.contains(&format!("k{MAX_QUEUE_LEN}")),
            "{}",
            keys.len()
        );
        drop(m);
        tick(&cluster.inner, &mut committed);
        assert!(
            journal_lines(dir.path()).len() <= 1,
            "compacted once the member's place is written"
        );
    }

    /// Nothing is compacted before the members' cursors are on disk: with `cursors.json` unwritable, every change a
    /// member has not finished stays in the journal.
    #[test]
    fn no_compaction_passes_cursors_that_could_not_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let value = "v".repeat(1024);
        for i in 0..100 {
            cluster
                .inner
                .append(&changes(&[(&format!("k{i}"), Some(value.as_str()))]), None)
                .unwrap();
        }
        // A directory where the cursors' file goes: its write fails.
        std::fs::create_dir_all(dir.path().join("cluster").join(CURSORS).join("x")).unwrap();
        let mut committed = Committed::default();
        tick(&cluster.inner, &mut committed);
        assert_eq!(lock(&slot.member).cursor, 0, "nothing was sent");
        assert_eq!(
            journal_lines(dir.path()).len(),
            100,
            "changes the member still needs were compacted away"
        );
    }

    /// A full resync sends the master's current values: the explicit ones and the marked keys.
    #[test]
    fn a_resync_sends_the_masters_values_of_the_marked_and_explicit_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let mut settings = TweakSettings::defaults();
        settings
            .set_stored("allow_deprecated_accesshash", Some("1".into()))
            .unwrap();
        lock(&cluster.inner.mem).sent = Some(Sent::of(&settings));
        lock(&slot.member).mark_resync(["big".to_owned(), "empty_trash_days".to_owned()], "test");
        assert!(push::build_resync_for_test(&slot, &cluster.inner));
        let m = lock(&slot.member);
        let queued: Vec<(&str, Option<&str>)> =
            m.resync_queue.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        assert_eq!(
            queued,
            [
                ("allow_deprecated_accesshash", Some("1")),
                ("big", None),
                ("empty_trash_days", settings.get("empty_trash_days")),
            ]
        );
        assert_eq!(view(&m, journal::Pending::default()).state.changes_waiting, 3);
    }

    /// A member's reason reaches logs, files and pages cut short, its control characters escaped.
    #[test]
    fn a_members_reason_is_cut_and_escaped() {
        let forged = format!(
            "bad\n2026-01-01T00:00:00Z ERROR forged line\r\u{1b}[31m{}",
            "x".repeat(1 << 20)
        );
        let clean = clean_reason(&forged);
        assert!(clean.len() <= MAX_REASON, "{}", clean.len());
        assert!(!clean.chars().any(char::is_control), "{clean}");
        assert!(
            clean.starts_with("bad\\n2026-01-01T00:00:00Z ERROR forged line\\r\\u{1b}[31m"),
            "{clean}"
        );
        assert!(clean.ends_with('…'));
        assert_eq!(clean_reason("Invalid value"), "Invalid value");
        let answer = json!({"metadata": {"result": 0, "reason": forged}}).to_string();
        let Outcome::Rejected(r) = classify(200, answer.as_bytes()) else {
            panic!()
        };
        assert!(r.len() <= MAX_REASON && !r.contains('\n'));
    }

    /// An add that fails after the member's file is written (its resync mark could not be) leaves no member behind,
    /// now or at the next start; a member whose file cannot be removed stays a member, and the remove says so.
    #[test]
    fn a_failed_add_or_remove_leaves_the_member_as_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let cluster_dir = dir.path().join("cluster");
        let cluster = Cluster::open(&cluster_dir, None).unwrap();
        let member_dir = cluster_dir.join(member_id(&Endpoint::parse(URL).unwrap().url()));
        // The resync mark cannot be written over a directory that holds a file.
        std::fs::create_dir_all(member_dir.join("status.json").join("in-the-way")).unwrap();
        let cred = || MemberCredential::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").unwrap();
        assert!(cluster.add(URL, "root", cred(), None).is_err());
        assert!(!member_dir.exists(), "the half-added member's directory is gone");
        assert!(cluster.list().is_empty());
        assert!(Cluster::open(&cluster_dir, None).unwrap().list().is_empty());

        cluster.add(URL, "root", cred(), None).unwrap();
        let file = member_dir.join("member.json");
        let kept = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("in-the-way")).unwrap();
        let refused = cluster.remove(URL).unwrap_err();
        assert!(refused.contains("is still a member"), "{refused}");
        assert_eq!(cluster.list().len(), 1, "the member is kept");
        std::fs::remove_dir_all(&file).unwrap();
        std::fs::write(&file, kept).unwrap();
        cluster.remove(URL).unwrap();
        assert!(cluster.list().is_empty() && !member_dir.exists());
        assert!(Cluster::open(&cluster_dir, None).unwrap().list().is_empty());
    }

    /// When `settings.json` is garbled, every member is marked for a full resync; a mark that cannot be written yet
    /// holds `settings.json` back (rewritten, it would tell the next start nothing was missed), and the group commit
    /// writes the mark, then the settings, once it can.
    #[test]
    fn a_resync_mark_not_on_disk_holds_back_the_settings_it_stands_for() {
        let dir = tempfile::tempdir().unwrap();
        let cluster_dir = dir.path().join("cluster");
        let (cluster, slot) = one_member(dir.path());
        let status = lock(&slot.member).dir.join("status.json");
        drop((cluster, slot));
        let settings = cluster_dir.join(SETTINGS);
        std::fs::write(&settings, "{\"values\": [").unwrap();
        let _ = std::fs::remove_file(&status);
        std::fs::create_dir_all(status.join("in-the-way")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let again = Cluster::open(&cluster_dir, None).unwrap();
        again.start(runtime.handle().clone(), &TweakSettings::defaults());
        let slot = again.find(URL).unwrap();
        assert!(
            lock(&slot.member)
                .status
                .resync
                .as_ref()
                .is_some_and(|r| r.contains("empty_trash_days"))
        );
        let mut committed = Committed::default();
        tick(&again.inner, &mut committed);
        assert_eq!(
            std::fs::read_to_string(&settings).unwrap(),
            "{\"values\": [",
            "kept while the mark is only in memory"
        );
        std::fs::remove_dir_all(&status).unwrap();
        tick(&again.inner, &mut committed);
        let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
        assert!(
            on_disk["resync"].as_array().is_some_and(|keys| !keys.is_empty()),
            "{on_disk}"
        );
        tick(&again.inner, &mut committed);
        assert!(
            read_journaled_settings(&settings).unwrap().is_some(),
            "written once the mark is"
        );
    }
}
