//! The access-key cache: keys are read once and re-read only when their file changes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use credentials::AccessKey;
use settings::Username;

use crate::fsx::FileStamp;

/// A user's key as last read, with the stamp of the file it was read from.
type CachedKey = (Option<FileStamp>, Option<AccessKey>);

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<Username, CachedKey>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache { .. }")
    }
}

/// A fixed key compared against when the user has none, so every failure costs the same.
fn decoy() -> &'static AccessKey {
    static DECOY: std::sync::OnceLock<AccessKey> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| AccessKey::normalise(&"0".repeat(960)).expect("a hex string is a valid key"))
}

impl KeyCache {
    /// Compares `candidate` with the user's key in constant time. A user without a (valid) key never matches.
    pub fn verify(&self, user: &Username, home: &Path, candidate: &str) -> bool {
        self.verify_digest(user, home, &credentials::secret_digest(candidate))
    }

    /// [`KeyCache::verify`] for a candidate already hashed with [`credentials::secret_digest`].
    pub fn verify_digest(&self, user: &Username, home: &Path, candidate: &[u8; 64]) -> bool {
        let path = credentials::key_file_path(home);
        let stamp = FileStamp::of(&path);
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((cached, key)) = entries.get(user)
                && *cached == stamp
            {
                return compare(key.as_ref(), candidate);
            }
        }
        let key = match credentials::read_key(home) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!("access key of {user} refused: {e}");
                None
            }
        };
        let ok = compare(key.as_ref(), candidate);
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.clone(), (stamp, key));
        ok
    }

    /// Forgets a user's cached key (after the panel wrote a new one).
    pub fn invalidate(&self, user: &Username) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(user);
    }
}

fn compare(key: Option<&AccessKey>, candidate: &[u8; 64]) -> bool {
    match key {
        Some(k) => k.matches_digest(candidate),
        None => {
            let _ = decoy().matches_digest(candidate);
            false
        }
    }
}
