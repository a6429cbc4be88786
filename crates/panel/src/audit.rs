//! The audit log: one JSON object per line in `<state>/audit.log`, never holding a key, token or password.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

/// The most authentication-failure entries written per minute; the rest are counted and summarised.
const AUTH_FAILURES_PER_MINUTE: u32 = 60;

#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    failures: Mutex<(Instant, u32, u32)>,
}

use crate::fsx::unix_now;

impl AuditLog {
    /// Opens (creating, mode 0600) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            failures: Mutex::new((Instant::now(), 0, 0)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event with its time and syncs it to disk; an error means the event was not recorded.
    pub fn record(&self, event: &str, fields: Value) -> std::io::Result<()> {
        self.append(event, fields, true)
    }

    fn append(&self, event: &str, mut fields: Value, sync: bool) -> std::io::Result<()> {
        if let Value::Object(map) = &mut fields {
            map.insert("event".into(), json!(event));
            map.insert("time".into(), json!(unix_now()));
        }
        let mut line = serde_json::to_string(&fields).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())?;
        if sync { file.sync_data() } else { Ok(()) }
    }

    /// Records a failed authentication, at most `AUTH_FAILURES_PER_MINUTE` entries a minute; `false` when this one
    /// was only counted (the server's log follows the same limit, so a guessing flood cannot flood it either).
    pub fn auth_failure(&self, user: Option<&str>, source: std::net::IpAddr, why: &str) -> bool {
        let mut guard = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (since, written, suppressed) = &mut *guard;
        if since.elapsed().as_secs() >= 60 {
            if *suppressed > 0 {
                tracing::warn!(
                    "{suppressed} more authentication failures in the last minute were counted but not logged one by one"
                );
                let _ = self.record("auth_failures_suppressed", json!({"count": *suppressed}));
            }
            *since = Instant::now();
            *written = 0;
            *suppressed = 0;
        }
        if *written >= AUTH_FAILURES_PER_MINUTE {
            *suppressed += 1;
            return false;
        }
        *written += 1;
        drop(guard);
        // Not synced: a failed login must not cost a disk flush, or failures would be slower than successes.
        if let Err(e) = self.append(
            "auth_failed",
            json!({"user": user, "source": source, "why": why}),
            false,
        ) {
            tracing::warn!("cannot write the audit log {}: {e}", self.path.display());
        }
        true
    }
}
