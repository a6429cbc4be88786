//! The host's access-key check: keys come from a [`KeyFileCache`] (read once, read again only when their file
//! changes) and are compared in constant time against the digest of the presented secret.

use std::path::Path;

use credentials::{AccessKey, KeyFileCache};
use settings::Username;

#[derive(Debug, Default)]
pub struct KeyCache {
    files: KeyFileCache,
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
        match self.files.with(home, |key| compare(key, candidate)) {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!("access key of {user} refused: {e}");
                compare(None, candidate)
            }
        }
    }

    /// Whether `candidate` is the key of a real server's user, in `home` and owned by `uid` (read again only when
    /// the file changes). A key that fails its checks never matches.
    pub fn verify_owned_digest(&self, home: &Path, uid: u32, candidate: &[u8; 64]) -> bool {
        self.files
            .with_owned_by(home, uid, |key| compare(key, candidate))
            .unwrap_or_else(|_| compare(None, candidate))
    }

    /// Forgets the key of `home` (after the panel wrote a new one, or when its user is removed).
    pub fn invalidate(&self, home: &Path) {
        self.files.forget(home);
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
