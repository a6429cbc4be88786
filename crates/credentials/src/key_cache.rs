//! Access keys as last read from their `.accesshash` files, read again only when a file changes: checking or showing
//! a key costs one `stat` per request instead of an open, a read and a parse. The host and the Remote Access Key
//! plugin both keep one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::access_key::AccessKey;
use crate::key_file::{KeyFileError, key_file_path, read_key, read_key_owned_by};
use fsx::FileStamp;

/// Keys by home directory, each with the stamp of the file it was read from. A file that fails its checks is not
/// cached: the error is answered again on the next read.
#[derive(Default)]
pub struct KeyFileCache {
    entries: RwLock<HashMap<PathBuf, CachedKey>>,
}

/// A key as last read (`None`: there was none), with the stamp of its file then and the owner it was required to
/// have (`None`: the current user, as [`read_key`] requires).
type CachedKey = (Option<FileStamp>, Option<u32>, Option<AccessKey>);

impl std::fmt::Debug for KeyFileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFileCache { .. }")
    }
}

impl KeyFileCache {
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
        let stamp = FileStamp::of_link(&key_file_path(home));
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((cached, cached_owner, key)) = entries.get(home)
                && *cached == stamp
                && *cached_owner == owner
            {
                return Ok(f(key.as_ref()));
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
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(home.to_owned(), (stamp, owner, key));
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

    #[test]
    fn the_cache_follows_the_file() {
        let home = tempfile::tempdir().unwrap();
        let cache = KeyFileCache::default();
        assert!(cache.read(home.path()).unwrap().is_none(), "no key yet");
        let first = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &first).unwrap();
        assert_eq!(cache.read(home.path()).unwrap().unwrap().as_str(), first.as_str());
        // Replaced by another writer: the new key is read.
        let second = AccessKey::generate().unwrap();
        crate::write_key(home.path(), &second).unwrap();
        assert_eq!(cache.read(home.path()).unwrap().unwrap().as_str(), second.as_str());
        // Made readable by others: the checks run again and refuse it.
        let path = key_file_path(home.path());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            cache.read(home.path()).is_err(),
            "a group/world-readable key is refused"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(cache.read(home.path()).unwrap().is_some());
        // Removed: no key.
        std::fs::remove_file(&path).unwrap();
        assert!(cache.read(home.path()).unwrap().is_none());
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
