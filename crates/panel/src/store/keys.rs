//! The host's access-key check: keys come from a [`KeyFileCache`] (answered from memory while no change notification
//! came for the home, else read again only when the file changed) and are compared in constant time with the
//! presented secret: byte for byte when the secret may be a key, else against its digest.

use std::path::Path;
use std::sync::Arc;

use crate::fsx::DirNotices;
use credentials::{AccessKey, KeyFileCache, KeyFileError};
use settings::Username;
use zeroize::Zeroizing;

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
    /// Keys trusted while `notices` reports no change of their home (see `fsx::notice`).
    pub fn watched_by(notices: Arc<DirNotices>) -> KeyCache {
        KeyCache {
            files: KeyFileCache::watched_by(notices),
        }
    }

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

    /// Whether `secret` is the user's key, compared byte for byte in constant time with the key as cached, without
    /// hashing the secret: `Some` with the key's SHA-512 (kept with the key), which is the secret's own, when it is.
    /// A user without a (valid) key never matches; the same comparison is made against a stand-in key then.
    pub fn key_digest_if_presented(&self, user: &Username, home: &Path, secret: &str) -> Option<Zeroizing<[u8; 64]>> {
        let matched = |key: Option<&AccessKey>| match key {
            Some(k) if k.is(secret) => Some(Zeroizing::new(*k.digest())),
            Some(_) => None,
            None => {
                let _ = decoy().is(secret);
                None
            }
        };
        match self.files.with(home, matched) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("access key of {user} refused: {e}");
                matched(None)
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

    /// Runs `f` on the key of `home` as the cache holds it (owned by `owner` when given, as a real server's keys are),
    /// without copying it: what the host hands a plugin that asks for its caller's key.
    pub fn with<T>(
        &self,
        home: &Path,
        owner: Option<u32>,
        f: impl FnOnce(Option<&AccessKey>) -> T,
    ) -> Result<T, KeyFileError> {
        match owner {
            Some(uid) => self.files.with_owned_by(home, uid, f),
            None => self.files.with(home, f),
        }
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
