//! Users dropped by an edit of the files whose credentials are not retired yet: each waits out a grace period, so a
//! save in progress or a mistaken edit undone in time costs nobody their key and tokens.
//!
//! The list is durable (`<state>/retiring.json`, 0600, replaced atomically), so a restart neither forgets a user
//! waiting to be retired nor restarts their grace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One user waiting to be retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// When the user left the configuration (Unix seconds).
    pub since: u64,
    /// Their home as the configuration named it then: where their `.accesshash` is.
    pub home: PathBuf,
}

/// The users waiting to be retired, by name.
#[derive(Debug)]
pub struct Retiring {
    path: PathBuf,
    users: Mutex<BTreeMap<String, Pending>>,
}

impl Retiring {
    /// Reads the list at `path` (none yet: empty). An unreadable list is logged and starts empty: the users on it are
    /// then retired by no timer, but still cannot log in, since they are not in the configuration.
    pub fn open(path: &Path) -> Retiring {
        let users = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(
                    "cannot read {}: {e}; no dropped user is waiting to be retired",
                    path.display()
                );
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::error!(
                    "cannot read {}: {e}; no dropped user is waiting to be retired",
                    path.display()
                );
                BTreeMap::new()
            }
        };
        Retiring {
            path: path.to_owned(),
            users: Mutex::new(users),
        }
    }

    /// Starts `user`'s grace at `since`, unless it already runs (a second edit dropping them does not extend it).
    pub fn add(&self, user: &str, pending: Pending) {
        let mut users = self.lock();
        if users.contains_key(user) {
            return;
        }
        users.insert(user.to_owned(), pending);
        self.save(&users);
    }

    /// Ends `user`'s wait (they are back, or retired now); what they waited with, if they did.
    pub fn take(&self, user: &str) -> Option<Pending> {
        let mut users = self.lock();
        let pending = users.remove(user)?;
        self.save(&users);
        Some(pending)
    }

    /// Every user waiting, with their record.
    pub fn all(&self) -> Vec<(String, Pending)> {
        self.lock().iter().map(|(u, p)| (u.clone(), p.clone())).collect()
    }

    /// Whether anyone is waiting (cheap: the watcher asks at every tick).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pending>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, users: &BTreeMap<String, Pending>) {
        let bytes = serde_json::to_vec_pretty(users).unwrap_or_default();
        if let Err(e) = credentials::write_atomic(&self.path, &bytes, 0o600) {
            tracing::error!("cannot write {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_survives_a_restart_and_a_second_drop_keeps_the_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retiring.json");
        let r = Retiring::open(&path);
        r.add(
            "bob",
            Pending {
                since: 10,
                home: "/h/bob".into(),
            },
        );
        r.add(
            "bob",
            Pending {
                since: 20,
                home: "/h/bob".into(),
            },
        );
        let again = Retiring::open(&path);
        assert_eq!(again.all()[0].1.since, 10);
        assert_eq!(again.take("bob").map(|p| p.since), Some(10));
        assert!(Retiring::open(&path).is_empty());
    }
}
