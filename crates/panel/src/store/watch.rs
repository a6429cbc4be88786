//! Change notifications for the directories credentials are read from (homes holding `.accesshash`, the API token
//! store, a real server's homes): one `notify` watcher (inotify on Linux) that reports every change to the
//! [`DirNotices`] the key cache and the token store trust, so an authenticated request reads no file while nothing
//! changed. Started with the config watcher (`Panel::spawn_watcher`), so only a serving process watches; the
//! command line reads with stamp checks.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use crate::fsx::{DirNotices, DirWatcher};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};

/// The `notify` watcher behind a [`DirNotices`].
struct Notifier {
    watcher: Mutex<notify::RecommendedWatcher>,
}

impl DirWatcher for Notifier {
    fn watch(&self, dir: &Path) -> std::io::Result<()> {
        self.watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(std::io::Error::other)
    }

    fn unwatch(&self, dir: &Path) {
        let _ = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).unwatch(dir);
    }
}

/// What one notification means for what was read: nothing (a file opened or read, including the panel's own reads),
/// a change of the entries named, or their removal or renaming (a directory among them loses its watch).
fn meaning(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)) => None,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => Some(true),
        _ => Some(false),
    }
}

/// Starts watching for `notices`: from now on a credential read after its directory's watch was set up is trusted
/// until a notification for that directory. When notifications are unavailable, nothing changes: every read keeps
/// its stamp check.
pub fn start(notices: &Arc<DirNotices>) {
    let weak: Weak<DirNotices> = Arc::downgrade(notices);
    let handler = move |event: notify::Result<notify::Event>| {
        let Some(notices) = weak.upgrade() else {
            return;
        };
        match event {
            Err(e) => {
                tracing::debug!(
                    "credential watch failed ({e}); credentials are checked by their stamps until watched again"
                );
                notices.all_lost();
            }
            Ok(e) if e.need_rescan() => notices.all_changed(),
            Ok(e) => {
                if let Some(gone) = meaning(&e.kind) {
                    for path in &e.paths {
                        notices.notice(path, gone);
                    }
                }
            }
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(watcher) => notices.start(Arc::new(Notifier {
            watcher: Mutex::new(watcher),
        })),
        Err(e) => tracing::warn!(
            "file-change notifications are unavailable for credentials ({e}); each authenticated request checks its \
             credential file's stamp"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};

    /// Every kind `notify` reports for inotify, and what it means for a read: opens and reads (the panel's own among
    /// them) invalidate nothing; writes, attributes (chmod, chown), creation invalidate; removal and renaming also end
    /// the watch of a directory they name.
    #[test]
    fn each_notification_kind_has_its_meaning() {
        let cases = [
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), None),
            (EventKind::Access(AccessKind::Close(AccessMode::Read)), None),
            (EventKind::Access(AccessKind::Read), None),
            (EventKind::Access(AccessKind::Close(AccessMode::Write)), Some(false)),
            (EventKind::Create(CreateKind::File), Some(false)),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), Some(false)),
            (EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)), Some(false)),
            (EventKind::Modify(ModifyKind::Name(RenameMode::From)), Some(true)),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), Some(true)),
            (EventKind::Remove(RemoveKind::File), Some(true)),
            (EventKind::Remove(RemoveKind::Folder), Some(true)),
            (EventKind::Other, Some(false)),
            (EventKind::Any, Some(false)),
        ];
        for (kind, want) in cases {
            assert_eq!(meaning(&kind), want, "{kind:?}");
        }
    }
}
