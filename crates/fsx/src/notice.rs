//! Change notifications as a rule for trusting what was read from a directory: a file read after its directory's watch
//! was in place is answered from memory, without a `stat`, until a notification for that directory arrives.
//!
//! [`DirNotices`] keeps, per directory, a generation that every notification moves and whether a watch is in place. A
//! reader takes a [`Seen`] from [`DirNotices::before_read`] **before** it reads (the watch is set up first, so a change
//! between the read and the watch cannot be missed), keeps it beside what it read, and trusts that while
//! [`Seen::unchanged`] holds. Where a directory cannot be watched (no watcher started, the watch limit, a file system
//! whose notifications miss changes made elsewhere, a directory that is a symbolic link or does not exist) there is no
//! `Seen`, and the reader checks the file's stamp on every read as before. The watching itself (inotify, through the
//! `notify` crate) is the application's: it implements [`DirWatcher`] and reports what it sees with
//! [`DirNotices::notice`], [`DirNotices::all_changed`] and [`DirNotices::all_lost`].
//!
//! The window: a change is seen once its notification has been delivered (the watcher thread read it from the
//! kernel), microseconds after the change, not at the instant of the write. A change a directory's own watch does not
//! report (a directory above it renamed or a symbolic link above it pointed elsewhere, a file system unmounted under
//! it) is caught by the stamp check that every trusted entry goes through again at least every [`RECHECK`].

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The longest a reader trusts a read on notifications alone: past it the file's stamp is compared once more (one
/// `stat`), which catches what a directory's own watch cannot report.
pub const RECHECK: Duration = Duration::from_secs(30);
/// How long after a failed watch (the directory missing, the watch limit reached) the next read tries again; until
/// then the directory is read with stamp checks.
pub const RETRY: Duration = Duration::from_secs(1);

/// What watches directories for a [`DirNotices`]: the application's notification mechanism.
pub trait DirWatcher: Send + Sync {
    /// Watches `dir` (not its subdirectories): once this returns `Ok`, every later change of an entry of `dir`, and
    /// the directory itself removed or moved, is reported to the [`DirNotices`] (after the kernel delivers it).
    fn watch(&self, dir: &Path) -> io::Result<()>;
    /// Stops watching `dir`, whose watch was reported lost (it is watched afresh right after).
    fn unwatch(&self, dir: &Path);
}

/// The state of one directory: bit 0 says a watch is in place; bits 1 to 16 count the watches lost; bits 17 and up
/// count notifications. Every notification changes the value, so a [`Seen`] is current exactly while it is equal.
#[derive(Debug, Default)]
struct DirState {
    state: AtomicU64,
    /// Milliseconds since [`DirNotices`] was made before which a failed watch is not tried again.
    retry_at_ms: AtomicU64,
}

const WATCHED: u64 = 1;
const LOST_ONE: u64 = 1 << 1;
const LOST_MASK: u64 = 0xffff << 1;
const CHANGED_ONE: u64 = 1 << 17;

impl DirState {
    /// A notification: the generation moves, the watch stays.
    fn changed(&self) {
        self.state.fetch_add(CHANGED_ONE, Ordering::AcqRel);
    }

    /// The watch is gone: the generation and the count of lost watches move, and the directory is not watched.
    fn lost(&self) {
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            let lost = ((v & LOST_MASK) + LOST_ONE) & LOST_MASK;
            Some(((v & !LOST_MASK & !WATCHED).wrapping_add(CHANGED_ONE)) | lost)
        });
    }
}

/// What a reader registered before reading a file of a watched directory: the read stays good while no notification
/// came for the directory and [`RECHECK`] has not passed.
#[derive(Debug, Clone)]
pub struct Seen {
    dir: Arc<DirState>,
    state: u64,
    until: Instant,
}

impl Seen {
    /// Whether what was read after this registration may still be answered without looking at the file.
    pub fn unchanged(&self) -> bool {
        self.dir.state.load(Ordering::Acquire) == self.state && Instant::now() < self.until
    }
}

/// Directories watched for change notifications, and what each notification invalidates (see the module
/// documentation). Without a started watcher nothing is trusted: every read checks stamps.
pub struct DirNotices {
    watcher: RwLock<Option<Arc<dyn DirWatcher>>>,
    dirs: RwLock<HashMap<PathBuf, Arc<DirState>>>,
    /// One watch set up at a time, so two readers of a new directory do not both ask the watcher.
    watching: Mutex<()>,
    born: Instant,
    recheck: Duration,
}

impl std::fmt::Debug for DirNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirNotices")
            .field("started", &self.started())
            .finish_non_exhaustive()
    }
}

impl Default for DirNotices {
    fn default() -> DirNotices {
        DirNotices::with_recheck(RECHECK)
    }
}

impl DirNotices {
    /// No watcher yet: every read checks stamps until [`DirNotices::start`].
    pub fn new() -> Arc<DirNotices> {
        Arc::new(DirNotices::default())
    }

    /// As [`DirNotices::new`], with another recheck period (tests).
    pub fn with_recheck(recheck: Duration) -> DirNotices {
        DirNotices {
            watcher: RwLock::new(None),
            dirs: RwLock::new(HashMap::new()),
            watching: Mutex::new(()),
            born: Instant::now(),
            recheck,
        }
    }

    /// Starts trusting notifications from `watcher`. Directories read before are watched at their next read.
    pub fn start(&self, watcher: Arc<dyn DirWatcher>) {
        *self.watcher.write().unwrap_or_else(|e| e.into_inner()) = Some(watcher);
        self.all_lost();
    }

    /// Whether a watcher was started.
    pub fn started(&self) -> bool {
        self.watcher.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn state_of(&self, dir: &Path) -> Arc<DirState> {
        if let Some(d) = self.dirs.read().unwrap_or_else(|e| e.into_inner()).get(dir) {
            return Arc::clone(d);
        }
        Arc::clone(
            self.dirs
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(dir.to_owned())
                .or_default(),
        )
    }

    /// Call before reading a file of `dir`: makes sure `dir` is watched, then answers what to keep beside the read;
    /// `None` when `dir` is not watched (the reader checks stamps).
    pub fn before_read(&self, dir: &Path) -> Option<Seen> {
        let watcher = self.watcher.read().unwrap_or_else(|e| e.into_inner()).clone()?;
        let d = self.state_of(dir);
        let seen = |state: u64| Seen {
            dir: Arc::clone(&d),
            state,
            until: Instant::now() + self.recheck,
        };
        let state = d.state.load(Ordering::Acquire);
        if state & WATCHED != 0 {
            return Some(seen(state));
        }
        if self.now_ms() < d.retry_at_ms.load(Ordering::Relaxed) {
            return None;
        }
        let _one = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        let state = d.state.load(Ordering::Acquire);
        if state & WATCHED != 0 {
            return Some(seen(state));
        }
        let retry_later = || {
            d.retry_at_ms.store(
                self.now_ms() + u64::try_from(RETRY.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            None
        };
        if !notifies_every_change(dir) {
            return retry_later();
        }
        // A watch lost earlier may still be registered with the watcher under this path; it is dropped first.
        watcher.unwatch(dir);
        if watcher.watch(dir).is_err() {
            return retry_later();
        }
        // Watched from now on, unless the watch was lost again meanwhile (a notification for the directory only
        // moves the generation, which this registration then includes).
        let lost = state & LOST_MASK;
        d.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v & LOST_MASK == lost).then_some(v | WATCHED)
            })
            .ok()
            .map(|v| seen(v | WATCHED))
    }

    /// A notification for `path`: a change of an entry of a watched directory, or of the directory itself. `gone`
    /// says `path` was removed or renamed away: when it is a watched directory, its watch is lost with it.
    pub fn notice(&self, path: &Path, gone: bool) {
        let dirs = self.dirs.read().unwrap_or_else(|e| e.into_inner());
        if let Some(parent) = path.parent()
            && let Some(d) = dirs.get(parent)
        {
            d.changed();
        }
        if let Some(d) = dirs.get(path) {
            if gone { d.lost() } else { d.changed() }
        }
    }

    /// Notifications were dropped (the kernel's queue overflowed): nothing read so far is trusted any more, though
    /// the watches stay.
    pub fn all_changed(&self) {
        for d in self.dirs.read().unwrap_or_else(|e| e.into_inner()).values() {
            d.changed();
        }
    }

    /// The watcher failed: nothing read so far is trusted, and every directory is watched afresh at its next read.
    pub fn all_lost(&self) {
        for d in self.dirs.read().unwrap_or_else(|e| e.into_inner()).values() {
            d.lost();
        }
    }
}

/// Whether change notifications for `dir` report every change: not for a directory that is a symbolic link (pointing
/// it elsewhere is a change of its parent), nor on a network or user-space file system, where a change made by
/// another machine or the file system's own process is never reported.
pub fn notifies_every_change(dir: &Path) -> bool {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        _ => return false,
    }
    let Ok(fs) = rustix::fs::statfs(dir) else {
        return false;
    };
    // Magic numbers of `statfs(2)`: NFS, SMB, CIFS, SMB2, FUSE, Ceph, 9P, AFS, Coda, OCFS2, GFS2, Lustre, GPFS.
    const REMOTE: &[u32] = &[
        0x6969,
        0x517b,
        0xff53_4d42,
        0xfe53_4d42,
        0x6573_5546,
        0x00c3_6400,
        0x0102_1997,
        0x5346_414f,
        0x7375_7245,
        0x7461_636f,
        0x0116_1970,
        0x0bd0_0bd0,
        0x4750_4653,
    ];
    // `f_type` is a signed word of the platform's width; the magic numbers are 32-bit patterns.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let kind = fs.f_type as u32;
    !REMOTE.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    /// A watcher that records what it was asked, fails when told to, and can report a notice from inside `watch`
    /// (as a notification racing the watch's set-up).
    #[derive(Default)]
    struct Fake {
        watched: Mutex<Vec<PathBuf>>,
        unwatched: Mutex<Vec<PathBuf>>,
        fail: std::sync::atomic::AtomicBool,
        lose_during_watch: Mutex<Option<Weak<DirNotices>>>,
    }

    impl DirWatcher for Fake {
        fn watch(&self, dir: &Path) -> io::Result<()> {
            if self.fail.load(Ordering::Relaxed) {
                return Err(io::Error::other("no more watches"));
            }
            self.watched.lock().unwrap().push(dir.to_owned());
            if let Some(notices) = self.lose_during_watch.lock().unwrap().take().and_then(|w| w.upgrade()) {
                notices.notice(dir, true);
            }
            Ok(())
        }

        fn unwatch(&self, dir: &Path) {
            self.unwatched.lock().unwrap().push(dir.to_owned());
        }
    }

    fn started(recheck: Duration) -> (tempfile::TempDir, Arc<DirNotices>, Arc<Fake>) {
        let dir = tempfile::tempdir().unwrap();
        let notices = Arc::new(DirNotices::with_recheck(recheck));
        let fake = Arc::new(Fake::default());
        notices.start(Arc::clone(&fake) as Arc<dyn DirWatcher>);
        (dir, notices, fake)
    }

    #[test]
    fn without_a_watcher_nothing_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let notices = DirNotices::new();
        assert!(!notices.started());
        assert!(notices.before_read(dir.path()).is_none());
    }

    /// Each kind of notification ends the trust in what was read before it; a change of another directory does not.
    #[test]
    fn a_notification_for_the_directory_ends_the_trust_in_what_was_read() {
        let (dir, notices, fake) = started(RECHECK);
        let other = tempfile::tempdir().unwrap();
        let file = dir.path().join(".accesshash");
        type Notify = fn(&DirNotices, &Path, &Path);
        let cases: &[(&str, Notify, bool)] = &[
            ("a file in it written", |n, _, f| n.notice(f, false), false),
            (
                "a file in it removed or renamed away",
                |n, _, f| n.notice(f, true),
                false,
            ),
            ("the directory's own metadata", |n, d, _| n.notice(d, false), false),
            ("the directory removed or moved", |n, d, _| n.notice(d, true), true),
            ("the queue overflowed", |n, _, _| n.all_changed(), false),
            ("the watcher failed", |n, _, _| n.all_lost(), true),
        ];
        for (what, notify, rewatched) in cases {
            let seen = notices.before_read(dir.path()).expect("watched");
            let unrelated = notices.before_read(other.path()).expect("watched");
            assert!(seen.unchanged(), "{what}: trusted until a notification");
            let watches = fake.watched.lock().unwrap().len();
            notices.notice(&other.path().join("x"), false);
            assert!(seen.unchanged(), "{what}: another directory's change is not this one's");
            notify(&notices, dir.path(), &file);
            assert!(!seen.unchanged(), "{what}: no longer trusted");
            let again = notices.before_read(dir.path()).expect("watched again");
            assert!(again.unchanged(), "{what}: a read after the notification is trusted");
            let watched_again = fake.watched.lock().unwrap().len() > watches;
            assert_eq!(
                watched_again, *rewatched,
                "{what}: the watch is set up afresh only when it was lost"
            );
            let _ = unrelated;
        }
        assert!(
            fake.unwatched
                .lock()
                .unwrap()
                .iter()
                .all(|d| d == dir.path() || d == other.path())
        );
    }

    /// A directory that cannot be watched is read with stamp checks; the watch is tried again only after [`RETRY`].
    #[test]
    fn a_directory_that_cannot_be_watched_is_left_to_stamps_and_tried_again_later() {
        let (dir, notices, fake) = started(RECHECK);
        fake.fail.store(true, Ordering::Relaxed);
        assert!(notices.before_read(dir.path()).is_none());
        fake.fail.store(false, Ordering::Relaxed);
        assert!(notices.before_read(dir.path()).is_none(), "not tried again at once");
        assert!(fake.watched.lock().unwrap().is_empty());
        // Missing, a symbolic link: not watched at all.
        assert!(notices.before_read(&dir.path().join("missing")).is_none());
        let link = dir.path().join("link");
        let target = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(target.path(), &link).unwrap();
        assert!(notices.before_read(&link).is_none(), "a linked directory");
        assert!(fake.watched.lock().unwrap().is_empty());
        assert!(notifies_every_change(target.path()));
        assert!(!notifies_every_change(&link) && !notifies_every_change(&dir.path().join("missing")));
    }

    /// A watch lost while it was being set up is not taken for a working one.
    #[test]
    fn a_watch_lost_while_it_is_set_up_is_not_trusted() {
        let (dir, notices, fake) = started(RECHECK);
        *fake.lose_during_watch.lock().unwrap() = Some(Arc::downgrade(&notices));
        assert!(notices.before_read(dir.path()).is_none());
        let seen = notices.before_read(dir.path()).expect("watched at the next read");
        assert!(seen.unchanged());
        assert_eq!(fake.watched.lock().unwrap().len(), 2);
    }

    /// Trust on notifications alone ends after the recheck period: the reader compares the stamp once more.
    #[test]
    fn trust_ends_after_the_recheck_period() {
        let (dir, notices, _) = started(Duration::ZERO);
        let seen = notices.before_read(dir.path()).expect("watched");
        assert!(!seen.unchanged());
    }
}
