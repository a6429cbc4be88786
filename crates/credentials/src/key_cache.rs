//! Access keys as last read from their `.accesshash` files. A cache watched by change notifications
//! ([`fsx::DirNotices`]) answers a key from memory, without any file-system call, while no notification came for its
//! home since it was read; otherwise (no watcher, a home that cannot be watched, a notification since) it compares
//! the file's stamp, one `stat`, and reads the file again only when that changed. The host and the Remote Access Key
//! plugin (as a fallback, on a host that does not hand it the key) both keep one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::access_key::AccessKey;
use crate::key_file::{KeyFileError, key_file_path, read_key, read_key_owned_by};
use fsx::{DirNotices, FileStamp, Seen};

/// Keys by home directory, each with what it was read under. A file that fails its checks is not cached: the error is
/// answered again on the next read.
#[derive(Default)]
pub struct KeyFileCache {
    entries: RwLock<HashMap<PathBuf, CachedKey>>,
    notices: Arc<DirNotices>,
}

/// A key as last read (`None`: there was none).
struct CachedKey {
    /// The home's watch as registered before the read: while unchanged, the entry is answered as it is.
    seen: Option<Seen>,
    /// The file's stamp when it was read, compared when `seen` does not vouch for the entry.
    stamp: Option<FileStamp>,
    /// The owner the file was required to have (`None`: the current user, as [`read_key`] requires).
    owner: Option<u32>,
    key: Option<AccessKey>,
}

impl std::fmt::Debug for KeyFileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFileCache { .. }")
    }
}

impl KeyFileCache {
    /// A cache whose entries are trusted while `notices` reports no change of their home (see the module
    /// documentation); [`KeyFileCache::default`] checks stamps on every read.
    pub fn watched_by(notices: Arc<DirNotices>) -> KeyFileCache {
        KeyFileCache {
            entries: RwLock::default(),
            notices,
        }
    }

    /// The key in `<home>/.accesshash` as [`read_key`] reads it (`None` when there is none), from the cache while
    /// the file is unchanged.
    pub fn read(&self, home: &Path) -> Result<Option<AccessKey>, KeyFileError> {
        self.with(home, |key| key.cloned())
    }

    /// Runs `f` on the key of `home` without copying it.
    pub fn with<T>(&self, home: &Path, f: impl FnOnce(Option<&AccessKey>) -> T) -> Result<T, KeyFileError> {
        self.lookup(home, None, f)
    }

    /// [`KeyFileCache::with`] for a key that must be owned by `owner`, as [`read_key_owned_by`] reads it (a real
    /// server's `.accesshash`, owned by its user). An entry read for another owner is read again.
    pub fn with_owned_by<T>(
        &self,
        home: &Path,
        owner: u32,
        f: impl FnOnce(Option<&AccessKey>) -> T,
    ) -> Result<T, KeyFileError> {
        self.lookup(home, Some(owner), f)
    }

    fn lookup<T>(
        &self,
        home: &Path,
        owner: Option<u32>,
        f: impl FnOnce(Option<&AccessKey>) -> T,
    ) -> Result<T, KeyFileError> {
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = entries.get(home)
                && c.owner == owner
                && c.seen.as_ref().is_some_and(Seen::unchanged)
            {
                return Ok(f(c.key.as_ref()));
            }
        }
        // The watch first, then the stamp and the read: a change after this point is a notification that moves
        // what `seen` holds, so it is never missed.
        let seen = self.notices.before_read(home);
        let stamp = FileStamp::of_link(&key_file_path(home));
        if seen.is_none() {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = entries.get(home)
                && c.owner == owner
                && c.stamp == stamp
            {
                return Ok(f(c.key.as_ref()));
            }
        } else {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = entries.get_mut(home)
                && c.owner == owner
                && c.stamp == stamp
            {
                // The same file as read: trusted on notifications again from this registration on.
                c.seen = seen;
                return Ok(f(c.key.as_ref()));
            }
        }
        let read = match owner {
            Some(uid) => read_key_owned_by(home, uid),
            None => read_key(home),
        };
        let key = match read {
            Ok(key) => key,
            Err(e) => {
                self.forget(home);
                return Err(e);
            }
        };
        let out = f(key.as_ref());
        self.entries.write().unwrap_or_else(|e| e.into_inner()).insert(
            home.to_owned(),
            CachedKey {
                seen,
                stamp,
                owner,
                key,
            },
        );
        Ok(out)
    }

    /// Forgets the key of `home` (after writing a new one, or when its user is removed).
    pub fn forget(&self, home: &Path) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(home);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A watcher that says yes and remembers nothing: what it would report, the tests report by hand.
    struct Accepting;

    impl fsx::DirWatcher for Accepting {
        fn watch(&self, _: &Path) -> std::io::Result<()> {
            Ok(())
        }
        fn unwatch(&self, _: &Path) {}
    }

    /// Watched, an entry is answered as read until a notification for its home: a key replaced behind the cache's
    /// back (no notification delivered) is not looked at; once the notification comes, it is read anew. The stamp
    /// check still guards every re-read: a notification for another file of the home re-reads nothing.
    #[test]
    fn a_watched_entry_is_trusted_until_its_homes_notification() {
        let home = tempfile::tempdir().unwrap();
        let notices = std::sync::Arc::new(DirNotices::default());
        notices.start(std::sync::Arc::new(Accepting));
        let cache = KeyFileCache::watched_by(std::sync::Arc::clone(&notices));
        let first = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &first).unwrap();
        let read = |cache: &KeyFileCache| cache.read(home.path()).unwrap().map(|k| k.as_str().to_owned());
        assert_eq!(read(&cache).as_deref(), Some(first.as_str()));
        let second = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &second).unwrap();
        assert_eq!(
            read(&cache).as_deref(),
            Some(first.as_str()),
            "no notification delivered yet: the entry is answered without looking at the file"
        );
        notices.notice(&key_file_path(home.path()), true);
        assert_eq!(
            read(&cache).as_deref(),
            Some(second.as_str()),
            "read anew after the notification"
        );
        // A chmod, then its notification: the checks of a read run again and refuse the file.
        let path = key_file_path(home.path());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        notices.notice(&path, false);
        assert!(cache.read(home.path()).is_err(), "a group-readable key is refused");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        notices.notice(&path, false);
        assert_eq!(read(&cache).as_deref(), Some(second.as_str()));
        // Deleted, then its notification: no key.
        std::fs::remove_file(&path).unwrap();
        notices.notice(&path, true);
        assert_eq!(read(&cache), None);
    }

    /// Without a watcher (or for a home that cannot be watched) every read compares the stamp: a key written, replaced
    /// by another writer, made readable by others or removed is seen at the next read, with no notification at all.
    #[test]
    fn unwatched_every_read_compares_the_stamp() {
        for (what, cache) in [
            ("plain", KeyFileCache::default()),
            ("watched, no watcher", KeyFileCache::watched_by(DirNotices::new())),
        ] {
            let home = tempfile::tempdir().unwrap();
            assert!(cache.read(home.path()).unwrap().is_none(), "{what}: no key yet");
            let first = AccessKey::generate().unwrap();
            crate::write_key(home.path(), &first).unwrap();
            assert_eq!(
                cache.read(home.path()).unwrap().unwrap().as_str(),
                first.as_str(),
                "{what}"
            );
            // Replaced by another writer: the new key is read.
            let second = AccessKey::generate().unwrap();
            crate::write_key(home.path(), &second).unwrap();
            assert_eq!(
                cache.read(home.path()).unwrap().unwrap().as_str(),
                second.as_str(),
                "{what}"
            );
            // Made readable by others: the checks run again and refuse it.
            let path = key_file_path(home.path());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(
                cache.read(home.path()).is_err(),
                "{what}: a group/world-readable key is refused"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(cache.read(home.path()).unwrap().is_some(), "{what}");
            // Removed: no key.
            std::fs::remove_file(&path).unwrap();
            assert!(cache.read(home.path()).unwrap().is_none(), "{what}");
        }
    }

    #[test]
    fn a_key_required_of_an_owner_is_not_taken_from_an_entry_read_for_another() {
        let home = tempfile::tempdir().unwrap();
        let cache = KeyFileCache::default();
        let key = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &key).unwrap();
        // A reseller's key on a real server: owned by its user (only root can give a file away).
        let reseller = 4242;
        if std::os::unix::fs::chown(key_file_path(home.path()), Some(reseller), None).is_err() {
            return;
        }
        assert!(cache.with_owned_by(home.path(), reseller, |k| k.is_some()).unwrap());
        assert!(
            cache.read(home.path()).is_err(),
            "a key owned by another user is refused to the current one, not served from the reseller's entry"
        );
        assert!(cache.with_owned_by(home.path(), reseller, |k| k.is_some()).unwrap());
        // Replaced: read again for that owner too.
        let second = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &second).unwrap();
        std::os::unix::fs::chown(key_file_path(home.path()), Some(reseller), None).unwrap();
        let now = cache
            .with_owned_by(home.path(), reseller, |k| k.map(|k| k.as_str().to_owned()))
            .unwrap();
        assert_eq!(now.as_deref(), Some(second.as_str()));
    }
}
