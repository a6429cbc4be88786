//! The Configuration Cluster: member servers that receive every Tweak Settings change made on this one (the master).
//!
//! Each member has a directory `<state>/cluster/<id>/` (0700): `member.json` (0600: name, user, credential, pinned
//! certificate fingerprint), `outbox.jsonl` (the member's durable queue: one line per change, then one per change
//! delivered or given up, each line synced before anyone is told) and `status.json` (what the last attempt did).
//! A change never waits for members: it is appended to every outbox, and one task per member sends its queue in
//! order, with retries and capped exponential backoff, a bounded number of members at a time. A member that refuses
//! the credential is reported once and waits for a new one; a member that refuses a value is noted and skipped.
//! A value too long to queue, or a queue past its caps, marks the member for a full resync instead of growing; a
//! torn last line of an outbox is cut off before anything is appended, and a failed append fails the change.

pub mod client;
mod credential;
mod member;
mod outbox;
mod push;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use settings::TweakSettings;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore};

use self::client::Endpoint;
use crate::audit::AuditLog;
use crate::fsx::{create_private_dir, unix_now};

/// How many members are pushed to at the same time.
pub const MAX_CONCURRENT_PUSHES: usize = 32;
/// The first wait after a failed attempt; each further failure doubles it, up to [`BACKOFF_CAP`].
pub const BACKOFF_START: Duration = Duration::from_millis(250);
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// An outbox longer than this is rewritten (atomically) once everything in it was delivered.
const COMPACT_AFTER: u64 = 64 * 1024;
/// The longest value queued for members; a longer one marks each member for a full resync instead.
pub const MAX_QUEUED_VALUE: usize = 96 * 1024;
/// The most changes, and bytes of keys and values, a member's queue holds; past either the member is marked for a
/// full resync rather than left to grow.
pub const MAX_QUEUE_LEN: usize = 10_000;
pub const MAX_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// The most of a member's `reason` kept (control characters escaped first), for logs, files and pages.
pub const MAX_REASON: usize = 300;

pub use self::credential::*;
pub use self::member::*;
pub use self::outbox::*;
pub use self::push::*;

/// Every Tweak Setting whose value differs between two configurations, with its new value (`None`: undefined).
pub fn changed_settings(old: &TweakSettings, new: &TweakSettings) -> Vec<(String, Option<String>)> {
    let keys: BTreeSet<&str> = settings::schema::keys()
        .map(|k| -> &str { k })
        .chain(old.explicit().map(|(k, _)| k))
        .chain(new.explicit().map(|(k, _)| k))
        .collect();
    keys.into_iter()
        .filter(|k| old.get(k) != new.get(k))
        .map(|k| (k.to_owned(), new.get(k).map(str::to_owned)))
        .collect()
}

/// The master's Tweak Settings as last queued for the members, kept in `<state>/cluster/settings.json`: a change
/// made while the master was stopped (an edit of its config file) is found against it at the next start, and a new
/// member is sent the settings the master holds explicitly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sent {
    /// Every setting's value (`None`: undefined).
    values: BTreeMap<String, Option<String>>,
    /// The settings the master's configuration sets explicitly.
    explicit: BTreeSet<String>,
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
        }
    }

    /// What changed from `self` to `now`.
    fn changes_to(&self, now: &Sent) -> Vec<(String, Option<String>)> {
        let keys: BTreeSet<&String> = self.values.keys().chain(now.values.keys()).collect();
        keys.into_iter()
            .filter(|k| self.values.get(*k).cloned().flatten() != now.values.get(*k).cloned().flatten())
            .map(|k| (k.clone(), now.values.get(k).cloned().flatten()))
            .collect()
    }
}

/// The cluster's members and their queues, shared by the operations, the pages, the reload hook and the push tasks.
pub struct Cluster {
    dir: PathBuf,
    members: Mutex<BTreeMap<String, Arc<Slot>>>,
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// The settings as last queued; `None` until [`Cluster::start`] (only the serving process queues changes).
    /// Shared with the push tasks, which send them in a full resync.
    sent: Arc<Mutex<Option<Sent>>>,
    /// Members being added: reserved before any network step, so one server is added once.
    adding: Mutex<BTreeSet<String>>,
    permits: Arc<Semaphore>,
    audit: Option<Arc<AuditLog>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Opens `<state>/cluster` (made 0700), reading every member and its outbox; `audit` receives credential
    /// refusals (the command line, which only reads, passes none).
    pub fn open(dir: &Path, audit: Option<Arc<AuditLog>>) -> Result<Cluster> {
        create_private_dir(dir)?;
        let mut members = BTreeMap::new();
        let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.join("member.json").is_file() {
                continue;
            }
            match load_member(&path) {
                Ok(m) => {
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
            dir: dir.to_path_buf(),
            members: Mutex::new(members),
            runtime: Mutex::new(None),
            sent: Arc::new(Mutex::new(None)),
            adding: Mutex::new(BTreeSet::new()),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_PUSHES)),
            audit,
        })
    }

    fn slots(&self) -> Vec<Arc<Slot>> {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn find(&self, name: &str) -> Result<Arc<Slot>, String> {
        let url = Endpoint::parse(name)?.url();
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&url)
            .cloned()
            .ok_or_else(|| format!("“{name}” is not a member of the configuration cluster."))
    }

    /// Starts the push tasks on `runtime` (once, at `serve`); members added later get theirs when added.
    /// `settings` are the master's Tweak Settings now: whatever changed since they were last queued (an edit made
    /// while the master was stopped) is queued first. Only a started cluster queues changes, so a command-line
    /// process that writes the config leaves the queuing to the running server, which sees the change on reload.
    pub fn start(&self, runtime: tokio::runtime::Handle, settings: &TweakSettings) {
        let mut slot = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return;
        }
        let now = Sent::of(settings);
        let path = self.dir.join("settings.json");
        let before: Option<Sent> = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if let Some(before) = before {
            let missed = before.changes_to(&now);
            if !missed.is_empty() {
                tracing::info!(
                    "{} Tweak Setting change(s) made while the server was stopped are queued for the configuration \
                     cluster",
                    missed.len()
                );
                if let Err(e) = self.queue_everywhere(&missed) {
                    tracing::error!("{e}");
                }
            }
        }
        self.remember(now);
        for s in self.slots() {
            runtime.spawn(push_loop(
                s,
                Arc::clone(&self.permits),
                self.audit.clone(),
                Arc::clone(&self.sent),
            ));
        }
        *slot = Some(runtime);
    }

    /// Records the settings as queued, in memory and in `settings.json`.
    fn remember(&self, now: Sent) {
        if let Err(e) = write_private(&self.dir.join("settings.json"), &now) {
            tracing::error!("cannot record the settings queued for the configuration cluster: {e:#}");
        }
        *self.sent.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    /// Queues changes for every member (durably, before returning) and wakes their tasks; `settings` are the
    /// master's settings with the changes made. Nothing happens unless the cluster was started (see [`Cluster::start`]).
    ///
    /// An error says which members' outboxes could not be written: the change that made them must fail. Those
    /// members are marked for a full resync (sent once their outbox can be written and their queue is empty), and
    /// the settings are not recorded as queued, so a restart before then finds the change again.
    pub fn enqueue(&self, changes: &[(String, Option<String>)], settings: &TweakSettings) -> Result<(), String> {
        if changes.is_empty() || self.runtime.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
            return Ok(());
        }
        let written = self.queue_everywhere(changes);
        // The resync of a member sends the settings as they are now, whatever happened to their outboxes.
        let now = Sent::of(settings);
        match &written {
            Ok(()) => self.remember(now),
            Err(_) => *self.sent.lock().unwrap_or_else(|e| e.into_inner()) = Some(now),
        }
        written
    }

    fn queue_everywhere(&self, changes: &[(String, Option<String>)]) -> Result<(), String> {
        let failed: Vec<String> = self
            .slots()
            .iter()
            .filter_map(|slot| queue_on(slot, changes).err())
            .map(|e| format!("{e:#}"))
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        for f in &failed {
            tracing::error!("configuration cluster: cannot queue a change: {f}");
        }
        Err(format!(
            "the change is in force on this server but could not be queued durably for {} configuration cluster \
             member(s) ({}); they are resynchronised once their outbox can be written",
            failed.len(),
            failed.join("; ")
        ))
    }

    /// Adds a member. HTTPS members are checked first: a certificate an authority vouches for is trusted as such;
    /// otherwise its fingerprint is pinned (and must equal `fingerprint` when one is given, e.g. confirmed on the page).
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
            let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            let mut adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
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
        let dir = self.dir.join(member_id(&url));
        create_private_dir(&dir).map_err(|e| format!("{e:#}"))?;
        let file = MemberFile {
            name: name.trim().to_owned(),
            url: url.clone(),
            user: user.to_owned(),
            credential: credential.secret.clone(),
            fingerprint: pin,
            added_at: unix_now(),
        };
        write_private(&dir.join("member.json"), &file).map_err(|e| format!("{e:#}"))?;
        let _ = std::fs::remove_file(dir.join("outbox.jsonl"));
        let _ = std::fs::remove_file(dir.join("status.json"));
        let member = Member {
            file,
            endpoint,
            credential,
            dir,
            queue: VecDeque::new(),
            queue_bytes: 0,
            next_seq: 1,
            journal_len: 0,
            torn: false,
            status: MemberStatus::default(),
            retry_at: None,
            backoff: BACKOFF_START,
            removed: false,
        };
        let view = view(&member);
        let slot = Arc::new(Slot {
            member: Mutex::new(member),
            wake: Notify::new(),
        });
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url, Arc::clone(&slot));
        // A new member starts in step: it is sent every setting the master's configuration sets.
        let initial: Vec<(String, Option<String>)> = self
            .sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|sent| {
                sent.explicit
                    .iter()
                    .map(|k| (k.clone(), sent.values.get(k).cloned().flatten()))
                    .collect()
            })
            .unwrap_or_default();
        if let Err(e) = queue_on(&slot, &initial) {
            tracing::error!("configuration cluster: {e:#}");
        }
        if let Some(rt) = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            rt.spawn(push_loop(
                slot,
                Arc::clone(&self.permits),
                self.audit.clone(),
                Arc::clone(&self.sent),
            ));
        }
        Ok(view)
    }

    /// Changes a member's credential and/or user; a new credential releases a queue held by a refusal.
    pub fn update(
        &self,
        name: &str,
        user: Option<&str>,
        credential: Option<MemberCredential>,
    ) -> Result<MemberView, String> {
        let slot = self.find(name)?;
        let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = m.file.clone();
        if let Some(u) = user {
            check_user(u)?;
            file.user = u.to_owned();
        }
        if let Some(c) = &credential {
            file.credential = c.secret.clone();
        }
        write_private(&m.dir.join("member.json"), &file).map_err(|e| format!("{e:#}"))?;
        m.file = file;
        if let Some(c) = credential {
            m.credential = c;
        }
        m.status.auth_refused = false;
        m.retry_at = None;
        m.backoff = BACKOFF_START;
        save_status(&m);
        let v = view(&m);
        drop(m);
        slot.wake.notify_one();
        Ok(v)
    }

    /// Removes a member with its credential and queue.
    pub fn remove(&self, name: &str) -> Result<MemberView, String> {
        let slot = self.find(name)?;
        let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&m.file.url);
        m.removed = true;
        let v = view(&m);
        if let Err(e) = std::fs::remove_dir_all(&m.dir) {
            tracing::error!("cannot remove {}: {e}", m.dir.display());
        }
        drop(m);
        slot.wake.notify_one();
        Ok(v)
    }

    /// Every member with its state, by URL.
    pub fn list(&self) -> Vec<MemberView> {
        self.slots()
            .iter()
            .map(|s| view(&s.member.lock().unwrap_or_else(|e| e.into_inner())))
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
            let m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
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

/// A member being added ([`Cluster::add`]): its URL is let go when the add ends, however it ends.
struct Reservation<'a> {
    adding: &'a Mutex<BTreeSet<String>>,
    url: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.adding.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.url);
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn changed_settings_name_each_key_once() {
        let old = TweakSettings::defaults();
        let mut new = TweakSettings::defaults();
        new.set_stored("allow_deprecated_accesshash", Some("1".into())).unwrap();
        new.set_stored("some_unmodelled_key", Some("x".into())).unwrap();
        assert_eq!(
            changed_settings(&old, &new),
            vec![
                ("allow_deprecated_accesshash".to_owned(), Some("1".to_owned())),
                ("some_unmodelled_key".to_owned(), Some("x".to_owned())),
            ]
        );
        assert!(changed_settings(&new, &new).is_empty());
        assert_eq!(
            changed_settings(&new, &old)
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["allow_deprecated_accesshash", "some_unmodelled_key"]
        );
    }

    #[test]
    fn the_outbox_survives_a_restart_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let cred = MemberCredential::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").unwrap();
        cluster.add("http://127.0.0.1:9", "root", cred, None).unwrap();
        cluster
            .queue_everywhere(&[("a".into(), Some("1".into())), ("b".into(), None)])
            .unwrap();
        cluster.queue_everywhere(&[("c".into(), Some("3".into()))]).unwrap();
        {
            let slot = cluster.find("http://127.0.0.1:9").unwrap();
            let mut m = slot.member.lock().unwrap();
            let first = m.queue.front().cloned().unwrap();
            record(&mut m, &first, Outcome::Delivered, None);
        }
        drop(cluster);
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let list = again.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state.changes_waiting, 2);
        assert_eq!(list[0].state.delivered, 1);
        let slot = again.find("http://127.0.0.1:9").unwrap();
        let m = slot.member.lock().unwrap();
        let keys: Vec<(u64, &str)> = m.queue.iter().map(|c| (c.seq, c.key.as_str())).collect();
        assert_eq!(keys, [(2, "b"), (3, "c")]);
        assert_eq!(m.next_seq, 4);
        drop(m);

        // A value the member refuses is noted and skipped; a refused credential holds the queue.
        let mut m = slot.member.lock().unwrap();
        let b = m.queue.front().cloned().unwrap();
        record(&mut m, &b, Outcome::Rejected("Invalid value for b".into()), None);
        assert_eq!(m.queue.len(), 1);
        assert_eq!(m.status.rejected, 1);
        assert!(m.status.last_error.as_deref().unwrap().contains("Invalid value for b"));
        let c = m.queue.front().cloned().unwrap();
        record(&mut m, &c, Outcome::CredentialRefused("HTTP 401".into()), None);
        record(&mut m, &c, Outcome::Retry("down".into()), None);
        assert_eq!(m.queue.len(), 1, "nothing is dropped for a refusal or a failure");
        assert_eq!(view(&m).state.status, "credential_refused");
    }
    #[test]
    fn a_delivered_outbox_is_compacted_and_keeps_its_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let cred = MemberCredential::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").unwrap();
        cluster.add("http://127.0.0.1:9", "root", cred, None).unwrap();
        let changes: Vec<(String, Option<String>)> =
            (0..300).map(|i| (format!("key{i}"), Some("v".repeat(300)))).collect();
        cluster.queue_everywhere(&changes).unwrap();
        let slot = cluster.find("http://127.0.0.1:9").unwrap();
        let path = {
            let mut m = slot.member.lock().unwrap();
            while let Some(c) = m.queue.front().cloned() {
                record(&mut m, &c, Outcome::Delivered, None);
            }
            m.dir.join("outbox.jsonl")
        };
        assert!(std::fs::metadata(&path).unwrap().len() < 100, "compacted");
        drop(cluster);
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let slot = again.find("http://127.0.0.1:9").unwrap();
        let m = slot.member.lock().unwrap();
        assert!(m.queue.is_empty());
        assert_eq!(m.next_seq, 301, "the sequence goes on after compaction");
        assert_eq!(m.status.delivered, 300);
    }

    fn one_member(dir: &Path) -> (Cluster, Arc<Slot>) {
        let cluster = Cluster::open(&dir.join("cluster"), None).unwrap();
        let cred = MemberCredential::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").unwrap();
        cluster.add("http://127.0.0.1:9", "root", cred, None).unwrap();
        let slot = cluster.find("http://127.0.0.1:9").unwrap();
        (cluster, slot)
    }

    /// A torn last line (a write cut short, or a change glued onto one) is cut off when the outbox
    /// is opened and before an append, so the next change starts on a line of its own and survives a restart.
    #[test]
    fn a_torn_outbox_tail_is_cut_off_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        cluster.queue_everywhere(&[("a".into(), Some("1".into()))]).unwrap();
        let path = slot.member.lock().unwrap().dir.join("outbox.jsonl");
        let good = std::fs::read(&path).unwrap();
        // A torn append while the process runs: repaired before the next one.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":2,"key":"b","val"#).unwrap();
        cluster.queue_everywhere(&[("c".into(), Some("3".into()))]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(std::str::from_utf8(&good).unwrap()), "{text}");
        assert!(text.ends_with('\n') && text.lines().count() == 2, "{text}");
        // Torn at a crash, and a complete line glued onto a torn one: both cut off at the next open.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":9,"key":"x"{"seq":10,"key":"y","value":null,"at_ms":1}"#)
            .unwrap();
        f.write_all(b"\n{\"seq\":11").unwrap();
        drop((cluster, slot));
        let again = Cluster::open(&dir.path().join("cluster"), None).unwrap();
        let slot = again.find("http://127.0.0.1:9").unwrap();
        let m = slot.member.lock().unwrap();
        let keys: Vec<&str> = m.queue.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "cut back to the last complete line"
        );
        assert_eq!(m.next_seq, 3);
    }

    /// A value longer than the cap, and changes past a queue's count or bytes, are not queued; the
    /// member is marked for a full resync instead (and later changes wait for it), which sends current values.
    #[test]
    fn queues_are_capped_and_a_member_past_them_is_resynchronised() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, slot) = one_member(dir.path());
        let huge = "v".repeat(MAX_QUEUED_VALUE + 1);
        cluster.queue_everywhere(&[("big".into(), Some(huge.clone()))]).unwrap();
        {
            let m = slot.member.lock().unwrap();
            assert!(m.queue.is_empty(), "a value past the cap is not queued");
            assert_eq!(m.status.resync.as_ref().unwrap().len(), 1);
            assert!(view(&m).state.resync);
        }
        slot.member.lock().unwrap().status.resync = None;
        let many: Vec<(String, Option<String>)> = (0..=MAX_QUEUE_LEN).map(|i| (format!("k{i}"), None)).collect();
        cluster.queue_everywhere(&many).unwrap();
        cluster.queue_everywhere(&[("later".into(), Some("1".into()))]).unwrap();
        {
            let m = slot.member.lock().unwrap();
            assert_eq!(m.queue.len(), MAX_QUEUE_LEN, "the count is capped");
            let keys = m.status.resync.as_ref().unwrap();
            assert!(
                keys.contains(&format!("k{MAX_QUEUE_LEN}")) && keys.contains("later"),
                "{keys:?}"
            );
        }
        let mut m = slot.member.lock().unwrap();
        m.queue.clear();
        m.queue_bytes = 0;
        m.status.resync = None;
        drop(m);
        let wide: Vec<(String, Option<String>)> = (0..MAX_QUEUE_BYTES / MAX_QUEUED_VALUE + 1)
            .map(|i| (format!("w{i}"), Some("w".repeat(MAX_QUEUED_VALUE))))
            .collect();
        cluster.queue_everywhere(&wide).unwrap();
        let m = slot.member.lock().unwrap();
        assert!(
            m.queue_bytes <= MAX_QUEUE_BYTES && m.queue.len() < wide.len(),
            "the bytes are capped"
        );
        assert!(m.status.resync.is_some());
        drop(m);

        // The resync sends the master's current values: the explicit ones and the keys left out.
        let mut settings = TweakSettings::defaults();
        settings
            .set_stored("allow_deprecated_accesshash", Some("1".into()))
            .unwrap();
        *cluster.sent.lock().unwrap() = Some(Sent::of(&settings));
        let mut m = slot.member.lock().unwrap();
        m.queue.clear();
        m.queue_bytes = 0;
        m.status.resync = Some(BTreeSet::from(["big".to_owned(), "empty_trash_days".to_owned()]));
        drop(m);
        resync(&slot, &cluster.sent);
        let m = slot.member.lock().unwrap();
        assert!(m.status.resync.is_none());
        let queued: Vec<(&str, Option<&str>)> = m.queue.iter().map(|c| (c.key.as_str(), c.value.as_deref())).collect();
        assert_eq!(
            queued,
            [
                ("allow_deprecated_accesshash", Some("1")),
                ("big", None),
                ("empty_trash_days", settings.get("empty_trash_days")),
            ]
        );
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
}
