//! The running panel: the gate snapshot in force, loaded plugins, credentials stores, and live reload of the config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use credentials::TokenStore;
use plugin_host::PluginHost;
use serde_json::json;
use settings::{Config, ConfigError, FeatureSpec, Gate, Snapshot, Username};

use crate::audit::AuditLog;
use crate::features::builtin_features;
use crate::fsx::{FileStamp, create_private_dir};
use crate::plugin_set::PluginSet;
use crate::store::keys::KeyCache;
use crate::store::limiter::Limiter;
use crate::store::retiring::{Pending, Retiring};
use crate::store::sessions::Sessions;

/// What `/health` and `config check` report about the configuration in force.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// How many snapshots have been compiled since start.
    pub generation: u64,
    pub loaded_at: Option<SystemTime>,
    /// The error of the last attempt, when it failed; the last good config stays in force.
    pub last_error: Option<String>,
    /// What only a restart applies, when something is waiting for one: a changed listener, certificate or state
    /// directory, or a loaded plugin whose file changed on disk.
    pub restart_needed: Option<String>,
}

/// Why a reload left the last good configuration in force.
#[derive(Debug)]
pub enum ReloadError {
    /// The files do not load.
    Config(ConfigError),
    /// They load, but look like a save in progress or a mistake that would be destructive to act on (an empty file,
    /// most users gone at once): held back until an administrator confirms with `systemctl reload` (SIGHUP).
    HeldBack(String),
    /// The change is in force, but could not be written to the Configuration Cluster's journal.
    Cluster(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Config(e) => e.fmt(f),
            ReloadError::HeldBack(why) | ReloadError::Cluster(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ReloadError {}

impl From<ConfigError> for ReloadError {
    fn from(e: ConfigError) -> ReloadError {
        ReloadError::Config(e)
    }
}

/// How long a watched file must stay unchanged before it is read: an editor that truncates and then writes, or a
/// copy in place, leaves a torn file for a moment, which is never a new configuration.
pub const SETTLE: Duration = Duration::from_millis(50);

/// What prompted a reload: a change the watcher noticed, a write of the panel's own, or an administrator's
/// confirmation of the files as they are (SIGHUP, `systemctl reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The watcher saw the files change: a destructive-looking change is held back, and a dropped user's credentials
    /// wait out `removed_user_grace_secs`.
    Noticed,
    /// The panel wrote the change itself (an API call, a page, the CLI): applied at once; users it drops wait their
    /// grace like any other.
    Written,
    /// An administrator confirmed the files: applied at once, and every user they leave out is retired now.
    Confirmed,
}

/// A noticed change that drops at least this many users, and more than half of them, is held back until confirmed.
const MASS_REMOVAL: usize = 3;

/// Everything a request needs. One per process, shared by every connection.
pub struct Panel {
    pub config_path: PathBuf,
    pub gate: Gate,
    /// The plugins in force, replaced when the `[[plugins]]` list changes (see [`Panel::plugins`]).
    plugins: ArcSwap<PluginSet>,
    pub state_dir: PathBuf,
    pub keys: KeyCache,
    pub tokens: TokenStore,
    /// The change notifications `keys` and `tokens` trust; watching starts with [`Panel::spawn_watcher`], so only a
    /// serving process answers credentials without a `stat`.
    credential_notices: Arc<crate::fsx::DirNotices>,
    pub sessions: Sessions,
    pub limiter: Limiter,
    /// Users dropped from the configuration whose key and tokens wait out their grace before they are retired.
    pub retiring: Retiring,
    /// When the watcher last looked for users whose grace is over.
    retire_checked: Mutex<std::time::Instant>,
    /// Slots for password checks (argon2), which run on blocking threads: at most this many at once.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Where plugin calls run: off the async workers, bounded per plugin, within a time budget.
    pub plugin_calls: crate::plugin_set::CallPools,
    pub audit: AuditLog,
    pub metrics: crate::metrics::Metrics,
    /// Configuration Cluster members and the journal of their changes: every Tweak Settings change is sent to them.
    pub cluster: crate::cluster::Cluster,
    /// What `/health` and `/metrics` read: locked only briefly, never across a reload's writes and syncs.
    pub status: Mutex<ReloadStatus>,
    /// One reload at a time.
    reload_lock: Mutex<()>,
    /// This process serves (its watcher runs): each reload records its plugins for `tweakgate plugins list`.
    records_plugins: std::sync::atomic::AtomicBool,
    /// The panel itself, for the thread that restarts faulted plugin workers ([`Panel::restart_workers_later`]).
    me: std::sync::Weak<Panel>,
    /// That thread runs.
    restarting: std::sync::atomic::AtomicBool,
    /// The `[server]` section the process started with: what a restart would change is measured against it.
    started: settings::ServerConfig,
    /// Serialises writers of the config and native files.
    pub write_lock: Mutex<()>,
    stamps: Mutex<Vec<(PathBuf, Option<FileStamp>)>>,
}

impl std::fmt::Debug for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl Panel {
    /// Loads the config and its plugins, and prepares the state directory.
    pub fn open(config_path: &Path) -> Result<Arc<Panel>> {
        let config = Config::load(config_path)?;
        Panel::from_config(config)
    }

    pub fn from_config(config: Config) -> Result<Arc<Panel>> {
        let state_dir = config.server.state_dir.clone();
        let started_server = config.server.clone();
        create_private_dir(&state_dir)?;
        log_warnings(&config);
        let plugins = PluginSet::load(&config.plugins);
        for report in plugins.host.reports() {
            tracing::info!("plugin {}", report);
        }
        let sessions = Sessions::open(&state_dir.join("sessions")).context("cannot open the session store")?;
        let credential_notices = crate::fsx::DirNotices::new();
        let tokens = TokenStore::open(&state_dir.join("api_tokens"))
            .context("cannot open the API token store")?
            .watched_by(Arc::clone(&credential_notices));
        let audit = AuditLog::open(&state_dir.join("audit.log"))
            .with_context(|| format!("cannot open the audit log in {}", state_dir.display()))?;
        let cluster_audit = AuditLog::open(&state_dir.join("audit.log"))
            .with_context(|| format!("cannot open the audit log in {}", state_dir.display()))?;
        let cluster = crate::cluster::Cluster::open(&state_dir.join("cluster"), Some(Arc::new(cluster_audit)))
            .context("cannot open the configuration cluster")?;
        let limiter = Limiter::new(
            config.server.auth_failure_limit,
            Duration::from_secs(config.server.auth_failure_window_secs),
        );
        let retiring = Retiring::open(&state_dir.join("retiring.json"));
        for (user, _) in retiring.all() {
            if Username::new(&user).is_ok_and(|u| config.users.kind(&u).is_some()) {
                // Back in the configuration since: they keep what they had.
                retiring.take(&user);
            }
        }
        let config_path = config.file.clone();
        let stamps = watched_files(&config, &plugins).into_iter().map(|p| {
            let s = FileStamp::of(&p);
            (p, s)
        });
        let snapshot = compile(Arc::new(config), &plugins.host);
        let metrics = crate::metrics::Metrics::default();
        Ok(Arc::new_cyclic(|me| Panel {
            me: me.clone(),
            restarting: std::sync::atomic::AtomicBool::new(false),
            config_path,
            gate: Gate::new(snapshot),
            plugins: ArcSwap::from_pointee(plugins),
            state_dir,
            keys: KeyCache::watched_by(Arc::clone(&credential_notices)),
            tokens,
            credential_notices,
            sessions,
            limiter,
            retiring,
            retire_checked: Mutex::new(std::time::Instant::now()),
            password_checks: Arc::new(tokio::sync::Semaphore::new(crate::store::PASSWORD_CHECKS)),
            plugin_calls: crate::plugin_set::CallPools::counting_inline(metrics.plugin_calls_inline()),
            audit,
            metrics,
            cluster,
            status: Mutex::new(ReloadStatus {
                generation: 1,
                loaded_at: Some(SystemTime::now()),
                last_error: None,
                restart_needed: None,
            }),
            reload_lock: Mutex::new(()),
            records_plugins: std::sync::atomic::AtomicBool::new(false),
            started: started_server,
            write_lock: Mutex::new(()),
            stamps: Mutex::new(stamps.collect()),
        }))
    }

    /// Something this process did may have changed credential files (a plugin wrote a key): every cached key and
    /// token list is compared with its file's stamp at its next use, instead of waiting for the change's notification.
    pub fn credential_files_changed(&self) {
        self.credential_notices.all_changed();
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.gate.load()
    }

    /// The plugins in force. A reload stores a new set before the snapshot that shows its features, so a feature a
    /// request sees as visible has its plugin loaded.
    pub fn plugins(&self) -> Arc<PluginSet> {
        self.plugins.load_full()
    }

    /// Where a user's `.accesshash` lives: the configured home, else `<state>/root` or `<state>/home/<user>`.
    pub fn home_of(&self, snapshot: &Snapshot, user: &Username) -> PathBuf {
        if let Some(home) = snapshot.config().users.home(user) {
            return home.clone();
        }
        // Built in one buffer of the right size: a request asks for a home more than once.
        let state = self.state_dir.as_os_str().len();
        let mut home = PathBuf::with_capacity(state + "/home/".len() + user.as_str().len() + 1);
        home.push(&self.state_dir);
        if user.is_root() {
            home.push("root");
        } else {
            home.push("home");
            home.push(user.as_str());
        }
        home
    }

    /// Re-reads the config now. On failure the last good snapshot stays in force and the error is recorded.
    pub fn reload(&self) -> Result<(), ReloadError> {
        self.reload_as(Confirmation::Confirmed)
    }

    /// Reloads, holding back a noticed change that would be destructive to act on if it were a transient state.
    pub fn reload_as(&self, confirmation: Confirmation) -> Result<(), ReloadError> {
        self.reload_diffed(confirmation).1
    }

    /// Reloads, and gives what the reload installed with its diff, if it installed a snapshot (even when the cluster
    /// could not journal the change: it is in force).
    fn reload_diffed(&self, confirmation: Confirmation) -> (Option<Installed>, Result<(), ReloadError>) {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let (installed, outcome) = self.reload_locked(confirmation);
        if let Err(e) = &outcome {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            if status.last_error.as_deref() != Some(&e.to_string()) {
                tracing::error!("configuration not reloaded, the last good one stays in force: {e}");
            }
            status.last_error = Some(e.to_string());
        }
        (installed, outcome)
    }

    fn reload_locked(&self, confirmation: Confirmation) -> (Option<Installed>, Result<(), ReloadError>) {
        // Stamps are taken before reading, so a write that lands while we read is seen as a change next time.
        let before: Vec<(PathBuf, Option<FileStamp>)> = watched_files(self.gate.load().config(), &self.plugins())
            .into_iter()
            .map(|p| {
                let s = FileStamp::of(&p);
                (p, s)
            })
            .collect();
        let loaded = Config::load(&self.config_path)
            .map_err(ReloadError::from)
            .and_then(|config| {
                if confirmation == Confirmation::Noticed {
                    self.hold_back(&config)?;
                }
                Ok(config)
            });
        match loaded {
            Ok(config) => {
                log_warnings(&config);
                // A file this configuration starts watching (a plugin added, say) is stamped before it is loaded, not
                // once the new snapshot is in force: a change made as soon as a client sees the snapshot is then a
                // change, never taken for the file as loaded.
                let added: Vec<(PathBuf, Option<FileStamp>)> = config
                    .watched_files()
                    .into_iter()
                    .chain(config.plugins.iter().map(|e| e.path.clone()))
                    .filter(|p| !before.iter().any(|(b, _)| b == p))
                    .map(|p| {
                        let s = FileStamp::of(&p);
                        (p, s)
                    })
                    .collect();
                let current = self.plugins();
                let plugins = Arc::new(current.reload(&config.plugins));
                log_plugin_changes(&current, &plugins);
                let watched = watched_files(&config, &plugins);
                let mut restart: Vec<String> = restart_needed(&self.started, &config.server).into_iter().collect();
                restart.extend(plugins.restart_needed());
                let restart = (!restart.is_empty()).then(|| restart.join("; "));
                if restart.is_some() && restart != self.status().restart_needed {
                    tracing::warn!("{}", restart.as_deref().unwrap_or_default());
                }
                let old = self.gate.load();
                let new = compile(Arc::new(config), &plugins.host);
                self.plugins.store(plugins);
                // A plugin earns the fast lane again on the set now in force (its file, pin or isolation may differ).
                self.plugin_calls.forget_lanes();
                // The one diff of this reload: the settings for the cluster, who gained or lost what for the log
                // and for the audit of a write (`apply_write`).
                let changes = visibility_changes(&old, &new);
                let settings_changed = new.config().tweak_settings.changes_since(&old.config().tweak_settings);
                let new_config = Arc::clone(new.config());
                let removed: Vec<Username> = old
                    .config()
                    .users
                    .all()
                    .filter(|(u, _)| new.config().users.kind(u).is_none())
                    .map(|(u, _)| u.clone())
                    .collect();
                // Settled before the snapshot is in force, so whoever sees it sees its users' credentials settled.
                let now = crate::fsx::unix_now();
                for user in &removed {
                    // Their sessions end now; their key and tokens wait out the grace (see `settle_retiring`).
                    self.sessions.end_user(user);
                    let home = self.home_of(&old, user);
                    self.keys.invalidate(&home);
                    self.retiring.add(user.as_str(), Pending { since: now, home });
                }
                self.settle_retiring(&new_config, confirmation);
                // The status changes with the snapshot, so no reader sees the new configuration with the old status.
                {
                    let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
                    self.gate.store(new);
                    status.restart_needed = restart;
                    status.generation += 1;
                    status.loaded_at = Some(SystemTime::now());
                    if status.last_error.take().is_some() {
                        tracing::info!(
                            "configuration {} is valid again and in force",
                            self.config_path.display()
                        );
                    }
                }
                if self.records_plugins.load(std::sync::atomic::Ordering::Relaxed) {
                    self.plugins().record(&self.state_dir);
                }
                // Journaled (durably, once) for every Configuration Cluster member before anyone is told the change is
                // made.
                let queued = self.cluster.enqueue(&settings_changed, &new_config.tweak_settings);
                *self.stamps.lock().unwrap_or_else(|e| e.into_inner()) = watched
                    .into_iter()
                    .map(|p| {
                        let s = before
                            .iter()
                            .chain(&added)
                            .find(|(b, _)| *b == p)
                            .map_or_else(|| FileStamp::of(&p), |(_, s)| *s);
                        (p, s)
                    })
                    .collect();
                if !changes.is_empty() {
                    tracing::info!(
                        "configuration reloaded: {}",
                        changes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
                    );
                }
                let installed = Installed {
                    replaced: old,
                    visibility: changes,
                };
                (Some(installed), queued.map_err(ReloadError::Cluster))
            }
            Err(e) => (None, Err(e)),
        }
    }

    /// Makes a plugin's fault visible everywhere at once: compiles the snapshot again from the configuration in force
    /// and the plugins in force (nothing is read from disk), so the next request's menu, `applist`, OFREP and gate
    /// explanations see the faulted plugin's features hidden with `PLUGIN_FAULTED`. `/health` and `/metrics` read the
    /// fault from the plugins themselves; the record for `tweakgate plugins list` is written again.
    pub fn recompile_after_fault(&self) {
        // It waits for a reload and writes the record: off the worker when a plugin faulted in the fast lane.
        crate::plugin_set::blocking(|| {
            let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
            let plugins = self.plugins();
            let config = Arc::clone(self.gate.load().config());
            self.gate.store(compile(config, &plugins.host));
            self.status.lock().unwrap_or_else(|e| e.into_inner()).generation += 1;
            plugins.record(&self.state_dir);
        });
        self.restart_workers_later();
    }

    /// What the host does when a call into the plugin providing `feature` failed in the plugin: a panic or a broken
    /// contract faults the plugin (one ERROR line with plugin, feature and message, counted, and the snapshot compiled
    /// again at once: [`Panel::recompile_after_fault`]); an `Err` from its `handle` is a WARN line and counted.
    /// Refusals the host made itself (unknown feature, a plugin not loaded or already faulted) are not the plugin's.
    pub fn plugin_call_failed(&self, feature: &str, error: &plugin_host::PluginCallError) {
        use plugin_host::PluginCallError as E;
        let (plugin, kind, detail) = match error {
            E::Panicked { plugin, message } => (plugin, "panic", format!("panicked: {message}")),
            E::ContractViolation { plugin, why } => (plugin, "contract", format!("broke the ABI contract: {why}")),
            E::WorkerFailed { plugin, why } => (plugin, "worker", why.clone()),
            E::Failed {
                plugin,
                status,
                message,
            } => {
                tracing::warn!(
                    plugin = %plugin,
                    feature = %feature,
                    status = %status,
                    error = %message,
                    "the plugin {plugin} failed serving {feature} ({status}): {message}"
                );
                self.metrics.plugin_call_error(feature, "error");
                return;
            }
            E::UnknownFeature { .. }
            | E::UnknownFunction { .. }
            | E::NotLoaded { .. }
            | E::Faulted { .. }
            | E::Busy { .. } => return,
        };
        tracing::error!(
            plugin = %plugin,
            feature = %feature,
            detail = %detail,
            "the plugin {plugin} faulted serving {feature}: {detail}; its features are hidden (PLUGIN_FAULTED) until \
             it is loaded again"
        );
        self.metrics.plugin_call_error(feature, kind);
        self.recompile_after_fault();
    }

    /// Starts, unless it runs, the thread that brings isolated plugins back: it sleeps until the first faulted worker's
    /// back-off has passed (`PluginHost::restart_due`), starts it again (`PluginHost::restart_workers`) and compiles the
    /// snapshot anew so its features are served again, until no worker waits. It holds the panel weakly.
    pub fn restart_workers_later(&self) {
        use std::sync::atomic::Ordering;
        if self.plugins().host.restart_due().is_none() || self.restarting.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name("plugin-restarts".into())
            .spawn(move || {
                loop {
                    let Some(panel) = weak.upgrade() else { return };
                    let Some(due) = panel.plugins().host.restart_due() else {
                        panel.restarting.store(false, Ordering::Release);
                        // A fault between the look and the store found the flag still set: look once more.
                        if panel.plugins().host.restart_due().is_some() && !panel.restarting.swap(true, Ordering::AcqRel)
                        {
                            continue;
                        }
                        return;
                    };
                    drop(panel);
                    std::thread::sleep(due);
                    let Some(panel) = weak.upgrade() else { return };
                    let restarted = panel.plugins().host.restart_workers();
                    for plugin in &restarted {
                        tracing::info!(plugin = %plugin, "the plugin {plugin}'s worker process was started again; its features are served again");
                    }
                    if !restarted.is_empty() {
                        panel.recompile_after_fault();
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the thread that restarts plugin workers: {e}");
            self.restarting.store(false, Ordering::Release);
        }
    }

    /// Refuses to act on a noticed config that looks like a save in progress or a mass removal: an empty file, or one
    /// that drops most users at once (their keys, tokens and sessions would be retired).
    fn hold_back(&self, config: &Config) -> Result<(), ReloadError> {
        let empty = std::fs::read(&self.config_path).is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace));
        if empty {
            return Err(ReloadError::HeldBack(format!(
                "{} is empty (a save in progress?): not a new configuration; the last good one stays in force",
                self.config_path.display()
            )));
        }
        let old = self.gate.load();
        let before = old.config().users.all().filter(|(u, _)| !u.is_root()).count();
        let dropped = old
            .config()
            .users
            .all()
            .filter(|(u, _)| !u.is_root() && config.users.kind(u).is_none())
            .count();
        if dropped >= MASS_REMOVAL && dropped * 2 > before {
            return Err(ReloadError::HeldBack(format!(
                "the edit of {} removes {dropped} of {before} users at once, which would retire their keys, tokens and \
                 sessions: held back; if that is meant, confirm with `systemctl reload tweakgate` (SIGHUP)",
                self.config_path.display()
            )));
        }
        Ok(())
    }

    /// Waits until the watched files have stopped changing for [`SETTLE`] (at most about two seconds).
    fn settle(&self) {
        let files = self.watched_now();
        let stamps = || files.iter().map(|f| FileStamp::of(f)).collect::<Vec<_>>();
        let mut last = stamps();
        for _ in 0..40 {
            std::thread::sleep(SETTLE);
            let now = stamps();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Ends the wait of every user dropped from the configuration: one who is back keeps their key and tokens; one
    /// absent for `removed_user_grace_secs`, or left out of files an administrator confirmed, is retired now.
    fn settle_retiring(&self, config: &Config, confirmation: Confirmation) {
        let now = crate::fsx::unix_now();
        let grace = config.server.removed_user_grace_secs;
        for (user, pending) in self.retiring.all() {
            let Ok(name) = Username::new(&user) else {
                self.retiring.take(&user);
                continue;
            };
            if config.users.kind(&name).is_some() {
                self.retiring.take(&user);
                tracing::info!(
                    "{user} is back in the configuration within {grace} s of leaving it and keeps their access key \
                     and API tokens"
                );
                if let Err(e) = self.audit.record(
                    "credentials_kept",
                    json!({"user": user, "actor": "config", "auth": "configuration file",
                        "absent_secs": now.saturating_sub(pending.since)}),
                ) {
                    tracing::error!("cannot write the audit log: {e}");
                }
            } else if confirmation == Confirmation::Confirmed || now.saturating_sub(pending.since) >= grace {
                self.retiring.take(&user);
                // A real server's files are never moved: there the user's key and tokens are WHM's, not ours.
                if config.is_read_only() {
                    continue;
                }
                let why = if confirmation == Confirmation::Confirmed {
                    "confirmed by a reload"
                } else {
                    "absent past the grace"
                };
                self.remove_credentials(&name, &pending.home, why);
            }
        }
    }

    /// Retires the users whose grace is over; the watcher calls it every tick, and it looks at most once a second.
    fn retire_due(&self) {
        if self.retiring.is_empty() {
            return;
        }
        {
            let mut checked = self.retire_checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.elapsed() < Duration::from_secs(1) {
                return;
            }
            *checked = std::time::Instant::now();
        }
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let config = Arc::clone(self.gate.load().config());
        self.settle_retiring(&config, Confirmation::Noticed);
    }

    /// A user left the config for good: their API tokens, access key and sessions end with them, so a user of the
    /// same name added later inherits nothing. Nothing is deleted: the token digests and the key move to
    /// `<state>/removed/<user>-<unix time>/` (0700), where an administrator can restore them after a mistaken edit.
    fn remove_credentials(&self, user: &Username, home: &Path, why: &str) {
        let attic = self
            .state_dir
            .join("removed")
            .join(format!("{user}-{}", crate::fsx::unix_now()));
        if let Err(e) = create_private_dir(&attic) {
            tracing::error!("cannot set aside the credentials of the removed user {user}: {e:#}");
            return;
        }
        let tokens = self
            .tokens
            .retire_user(user.as_str(), &attic.join("api_tokens.json"))
            .unwrap_or_else(|e| {
                tracing::error!("cannot set aside the API tokens of the removed user {user}: {e}");
                0
            });
        let key_path = credentials::key_file_path(home);
        let key = match std::fs::symlink_metadata(&key_path) {
            Ok(_) => match move_file(&key_path, &attic.join(".accesshash")) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!("cannot set aside {}: {e}", key_path.display());
                    false
                }
            },
            Err(_) => false,
        };
        self.keys.invalidate(home);
        self.sessions.end_user(user);
        if tokens == 0 && !key {
            // Nothing was set aside (a user who never had credentials): leave no empty directory behind.
            let _ = std::fs::remove_dir(&attic);
        }
        tracing::info!(
            "{user} was removed ({why}): {tokens} API token(s){} set aside in {}",
            if key { " and the access key" } else { "" },
            attic.display()
        );
        if let Err(e) = self.audit.record(
            "credentials_removed",
            json!({"user": user, "actor": "config", "auth": "configuration file", "tokens": tokens, "access_key": key,
                "why": why, "kept_in": attic.is_dir().then(|| attic.display().to_string())}),
        ) {
            tracing::error!("cannot write the audit log: {e}");
        }
    }

    /// True when a watched file changed since the last look (and remembers the new stamps).
    fn files_changed(&self) -> bool {
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (path, stamp) in stamps.iter_mut() {
            let now = FileStamp::of(path);
            if now != *stamp {
                *stamp = now;
                changed = true;
            }
        }
        changed
    }

    /// Watches the config, the native files it names and the plugin libraries, and reloads on change.
    ///
    /// File-change notifications (inotify, through `notify`) on the directories holding those files wake the
    /// watcher at once, so a change is in force within milliseconds; every `interval` it also compares the files'
    /// stamps, which catches what notifications miss (file systems without them, a watch that could not be set, a
    /// symbolic link in a file's path, a directory replaced). While notifications see every change of every watched
    /// file, that comparison runs only every [`NOTIFIED_RECHECK`].
    /// A notification only prompts a comparison of stamps: nothing reloads unless a watched file really changed.
    /// From then on this process records its plugins for `tweakgate plugins list` and `explain` at every reload and
    /// fault (see [`PluginSet::record`]), and the credential caches watch the directories they read from
    /// (`store::watch`), answering keys and tokens without a `stat` while nothing changed there.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) {
        self.records_plugins.store(true, std::sync::atomic::Ordering::Relaxed);
        crate::store::watch::start(&self.credential_notices);
        self.plugins().record(&self.state_dir);
        let (wake, woken) = std::sync::mpsc::channel::<()>();
        let notifier = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = wake.send(());
            }
        });
        let mut notifier = match notifier {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!("file-change notifications are unavailable ({e}); the configuration is polled");
                None
            }
        };
        // Watches are in place before this returns, so a change made right after start is noticed at once.
        let mut watched_dirs = BTreeMap::new();
        if let Some(n) = notifier.as_mut() {
            watch_directories(n, &mut watched_dirs, &self.watched_now());
        }
        // The watcher holds the panel weakly: once the panel is dropped (a test's server, say), the thread ends and
        // its notification descriptor closes.
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("config-watcher".into())
            .spawn(move || {
                loop {
                    let notified = match (notifier.as_mut(), weak.upgrade()) {
                        (Some(n), Some(panel)) => watch_directories(n, &mut watched_dirs, &panel.watched_now()),
                        _ => false,
                    };
                    let wait = if notified {
                        interval.max(NOTIFIED_RECHECK)
                    } else {
                        interval
                    };
                    if woken.recv_timeout(wait).is_ok() {
                        // A write is often several events (truncate, write, rename): let it settle, then look once.
                        std::thread::sleep(Duration::from_millis(2));
                        while woken.try_recv().is_ok() {}
                    }
                    let Some(panel) = weak.upgrade() else {
                        return;
                    };
                    let retry = panel
                        .status
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .last_error
                        .is_some();
                    if panel.files_changed() || retry {
                        panel.settle();
                        let _ = panel.reload_as(Confirmation::Noticed);
                    }
                    panel.retire_due();
                }
            })
            .expect("spawning a thread at start-up");
    }

    /// The files a change of which reloads, as of the configuration in force.
    fn watched_now(&self) -> Vec<PathBuf> {
        self.stamps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The one way to change the config or a native file: both locks held (this process's and the `flock` other
    /// processes see) from here until [`ConfigEdit::commit`] has reloaded and audited the change.
    pub fn edit_config(&self) -> Result<ConfigEdit<'_>> {
        let writer = crate::config_write::Writer::lock(&self.write_lock, || Arc::clone(self.snapshot().config()))?;
        Ok(ConfigEdit {
            panel: self,
            before: self.snapshot(),
            writer,
        })
    }

    /// Applies a change to the config or native files that the panel just wrote, and audits who gained or lost what.
    ///
    /// `before` is the snapshot the write was made against (read under the write lock): the file watcher may have
    /// reloaded the written file already, so the snapshot in force now can be the new one.
    fn apply_write(
        &self,
        before: &Arc<Snapshot>,
        event: &str,
        mut fields: serde_json::Value,
    ) -> Result<(), ReloadError> {
        // A change in force that the cluster could not journal is still audited, then fails.
        let (installed, reloaded) = self.reload_diffed(Confirmation::Written);
        if let Err(e @ (ReloadError::Config(_) | ReloadError::HeldBack(_))) = reloaded {
            return Err(e);
        }
        // The reload's own diff when it replaced the snapshot the write was made against; when the file watcher
        // reloaded the written file first, the diff from that snapshot to the one in force.
        let changes = match installed {
            Some(i) if Arc::ptr_eq(&i.replaced, before) => i.visibility,
            _ => visibility_changes(before, &self.gate.load()),
        };
        if let serde_json::Value::Object(map) = &mut fields {
            map.insert(
                "gained".into(),
                json!(
                    changes
                        .iter()
                        .filter(|c| c.gained)
                        .map(|c| json!({"user": c.user, "feature": c.feature}))
                        .collect::<Vec<_>>()
                ),
            );
            map.insert(
                "lost".into(),
                json!(
                    changes
                        .iter()
                        .filter(|c| !c.gained)
                        .map(|c| json!({"user": c.user, "feature": c.feature}))
                        .collect::<Vec<_>>()
                ),
            );
        }
        if let Err(e) = self.audit.record(event, fields) {
            tracing::error!("cannot write the audit log: {e}");
        }
        reloaded
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A change of the config or its native files in progress ([`Panel::edit_config`]): the writes of
/// [`crate::config_write::Writer`], the snapshot they are made against, and [`commit`](Self::commit).
#[derive(Debug)]
pub struct ConfigEdit<'p> {
    panel: &'p Panel,
    before: Arc<Snapshot>,
    writer: crate::config_write::Writer<'p>,
}

impl<'p> ConfigEdit<'p> {
    /// The snapshot in force when both locks were taken: what the change is checked and diffed against.
    pub fn before(&self) -> &Arc<Snapshot> {
        &self.before
    }

    /// Ends the change: reloads what was written, then audits `event` with who gained or lost which feature, all
    /// before the locks are let go. A change that was written is always audited.
    pub fn commit(self, event: &str, fields: serde_json::Value) -> Result<(), ReloadError> {
        self.panel.apply_write(&self.before, event, fields)
    }
}

impl<'p> std::ops::Deref for ConfigEdit<'p> {
    type Target = crate::config_write::Writer<'p>;

    fn deref(&self) -> &Self::Target {
        &self.writer
    }
}

/// Adds a notification watch on each directory holding a watched file (and on the file itself when it is a
/// symlink, whose target may live elsewhere), once.
/// How often the config watcher compares the watched files' stamps while change notifications see every change of
/// them (otherwise every `interval` of [`Panel::spawn_watcher`]).
pub const NOTIFIED_RECHECK: Duration = Duration::from_secs(1);

/// A directory the config watcher tried to watch: its device and inode then (`None`: it did not exist), and whether
/// its notifications see every change.
type WatchedDir = (Option<(u64, u64)>, bool);

/// Watches the directories holding `files` (each file's own and, through symbolic links, its target's), each once
/// per directory as it stands: one replaced by another is watched again. `true` when notifications see every change
/// of every file: each path is free of symbolic links (pointing one elsewhere is a change no watch here reports),
/// and each directory is watched on a file system that reports every change.
fn watch_directories(
    notifier: &mut impl notify::Watcher,
    watched: &mut BTreeMap<PathBuf, WatchedDir>,
    files: &[PathBuf],
) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mut notified = true;
    for file in files {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        let target = std::fs::canonicalize(file).ok();
        let parent = absolute.parent().map(Path::to_path_buf);
        // A missing file is judged by its directory, where its creation will be reported.
        let resolved = target.clone().or_else(|| {
            let dir = std::fs::canonicalize(parent.as_deref()?).ok()?;
            Some(dir.join(absolute.file_name()?))
        });
        if resolved.as_deref() != Some(absolute.as_path()) {
            notified = false;
        }
        let dirs = parent
            .into_iter()
            .chain(target.as_deref().and_then(Path::parent).map(Path::to_path_buf));
        for dir in dirs {
            let identity = std::fs::metadata(&dir).ok().map(|m| (m.dev(), m.ino()));
            // Tried once per directory as it stands: one that cannot be watched is left to the polling.
            let ok = match watched.get(&dir) {
                Some(&(seen, ok)) if seen == identity => ok,
                _ => {
                    let _ = notifier.unwatch(&dir);
                    let ok = identity.is_some()
                        && match notifier.watch(&dir, notify::RecursiveMode::NonRecursive) {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::debug!("cannot watch {} for changes ({e}); it is polled", dir.display());
                                false
                            }
                        }
                        && crate::fsx::notifies_every_change(&dir);
                    watched.insert(dir.clone(), (identity, ok));
                    ok
                }
            };
            notified &= ok;
        }
    }
    notified
}

/// The files whose change triggers a reload: the config, the native files it names, and the plugin libraries (a
/// changed library is reported as needing a restart).
fn watched_files(config: &Config, plugins: &PluginSet) -> Vec<PathBuf> {
    let mut files = config.watched_files();
    files.extend(plugins.files());
    files
}

/// Logs what a reload changed in the plugins: each plugin that loaded, failed or changed state, and each one left out.
fn log_plugin_changes(old: &PluginSet, new: &PluginSet) {
    let before: Vec<String> = old.host.reports().iter().map(|r| r.to_string()).collect();
    let after = new.host.reports();
    for report in &after {
        if !before.contains(&report.to_string()) {
            if report.is_loaded() {
                tracing::info!("plugin {report}");
            } else {
                tracing::warn!("plugin {report}");
            }
        }
    }
    for report in old.host.reports() {
        if !after.iter().any(|r| r.path == report.path) {
            tracing::info!(
                "plugin {} left the configuration; its features are hidden",
                report.path.display()
            );
        }
    }
}

/// All features: the panel's own, then each plugin's (never one that reuses a panel feature's id: such a plugin is
/// refused, and its features must not shadow the panel's).
pub fn all_features(plugins: &PluginHost) -> Vec<FeatureSpec> {
    let mut features = builtin_features();
    let plugin_features: Vec<FeatureSpec> = plugins
        .features()
        .into_iter()
        .filter(|f| !features.iter().any(|b| b.id == f.id))
        .collect();
    features.extend(plugin_features);
    features
}

pub fn compile(config: Arc<Config>, plugins: &PluginHost) -> Snapshot {
    Snapshot::compile(config, all_features(plugins))
}

/// What a reload installed: the snapshot it replaced and who gained or lost which feature, computed once.
struct Installed {
    replaced: Arc<Snapshot>,
    visibility: Vec<VisibilityChange>,
}

/// A user who gained or lost a feature between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityChange {
    pub user: String,
    pub feature: String,
    pub gained: bool,
}

impl std::fmt::Display for VisibilityChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.user,
            if self.gained { "gained" } else { "lost" },
            self.feature
        )
    }
}

/// Who gained or lost which feature from `old` to `new`.
pub fn visibility_changes(old: &Snapshot, new: &Snapshot) -> Vec<VisibilityChange> {
    let visible = |s: &Snapshot| -> BTreeMap<String, BTreeSet<String>> {
        s.config()
            .users
            .all()
            .map(|(u, _)| {
                let id = s.user_id(u.as_str()).expect("every listed user has an id");
                (u.to_string(), s.visible_features(id).map(|f| f.id.clone()).collect())
            })
            .collect()
    };
    let (before, after) = (visible(old), visible(new));
    let users: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = BTreeSet::new();
    let mut changes = Vec::new();
    for user in users {
        let b = before.get(user).unwrap_or(&empty);
        let a = after.get(user).unwrap_or(&empty);
        changes.extend(a.difference(b).map(|f| VisibilityChange {
            user: user.clone(),
            feature: f.clone(),
            gained: true,
        }));
        changes.extend(b.difference(a).map(|f| VisibilityChange {
            user: user.clone(),
            feature: f.clone(),
            gained: false,
        }));
    }
    changes
}

/// Moves a file, copying (then removing) when it lives on another file system than `to`.
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV: another file system.
            std::fs::copy(from, to)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

/// What differs between the `[server]` section in force since start and a new one, in words, when a restart is
/// needed to apply it.
pub fn restart_needed(started: &settings::ServerConfig, now: &settings::ServerConfig) -> Option<String> {
    let mut changed = Vec::new();
    if started.listen != now.listen {
        changed.push("listen");
    }
    if started.tls_listen != now.tls_listen {
        changed.push("tls_listen");
    }
    if (&started.tls_cert, &started.tls_key) != (&now.tls_cert, &now.tls_key) {
        changed.push("tls_cert/tls_key");
    }
    if started.state_dir != now.state_dir {
        changed.push("state_dir");
    }
    (!changed.is_empty()).then(|| {
        format!(
            "[server] {} changed in the configuration; they apply after a restart (the rest of the change is in force)",
            changed.join(", ")
        )
    })
}

/// Logs each value of the native `cpanel.config` that the schema rejects; the file still loads, with the setting's
/// fallback in force for each.
fn log_warnings(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    /// The config watcher slows its polling only where notifications see every change: a plain directory yes, a path
    /// through a symbolic link (a deploy's `current -> releases/N`) no, a file whose directory is missing no; a
    /// directory replaced by another is watched again.
    #[test]
    fn polling_slows_only_where_notifications_see_every_change() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let mut notifier = notify::recommended_watcher(|_: notify::Result<notify::Event>| {}).unwrap();
        let mut watched = BTreeMap::new();
        // A temporary directory on a network file system is polled like any other there.
        let local = crate::fsx::notifies_every_change(&root);
        let plain = root.join("etc");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("tweakgate.toml"), "").unwrap();
        let config = plain.join("tweakgate.toml");
        assert_eq!(
            watch_directories(&mut notifier, &mut watched, std::slice::from_ref(&config)),
            local
        );
        assert_eq!(
            watch_directories(&mut notifier, &mut watched, &[plain.join("cpanel.config")]),
            local,
            "a file not there yet is seen by its directory's watch"
        );
        assert!(
            !watch_directories(&mut notifier, &mut watched, &[root.join("none").join("cpanel.config")]),
            "no directory to watch"
        );
        std::fs::create_dir_all(root.join("releases/1")).unwrap();
        std::fs::write(root.join("releases/1/tweakgate.toml"), "").unwrap();
        std::os::unix::fs::symlink("releases/1", root.join("current")).unwrap();
        assert!(
            !watch_directories(&mut notifier, &mut watched, &[root.join("current/tweakgate.toml")]),
            "a link flipped higher up is seen only by polling"
        );
        // Replaced by another directory: watched again, as the directory that stands there now.
        let before = watched[&plain];
        std::fs::rename(&plain, root.join("etc.old")).unwrap();
        std::fs::create_dir(&plain).unwrap();
        assert_eq!(
            watch_directories(&mut notifier, &mut watched, std::slice::from_ref(&config)),
            local
        );
        assert_ne!(watched[&plain], before);
    }

    /// Log lines captured from `tracing`, for the test that reads them.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
        }
    }

    /// Opening and reloading log each native value the schema rejects, with file and line, and still load.
    #[test]
    fn load_and_reload_log_rejected_native_values() {
        let dir = tempfile::tempdir().unwrap();
        let native = dir.path().join("cpanel.config");
        std::fs::write(&native, "csp=1\nallow_deprecated_accesshash=yes\n").unwrap();
        let config = dir.path().join("tweakgate.toml");
        std::fs::write(
            &config,
            "[server]\nstate_dir = \"state\"\n[sources]\ncpanel_config = \"cpanel.config\"\n",
        )
        .unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let panel = Panel::open(&config).unwrap();
            let logged = captured.take();
            let at = format!("{}:2: allow_deprecated_accesshash: expected 1 or 0", native.display());
            assert!(logged.contains("WARN") && logged.contains(&at), "{logged}");
            assert!(!panel.snapshot().config().tweak_settings.is_on(ALLOW));

            std::fs::write(
                &native,
                "csp=1\nallow_deprecated_accesshash=1\nmaxcpsrvdconnections=lots\n",
            )
            .unwrap();
            panel.reload().unwrap();
            let logged = captured.take();
            let at = format!("{}:3: maxcpsrvdconnections: expected a whole number", native.display());
            assert!(logged.contains(&at), "{logged}");
            assert!(!logged.contains("allow_deprecated_accesshash"), "{logged}");
            assert!(panel.snapshot().config().tweak_settings.is_on(ALLOW));
        });
    }

    const ALLOW: &str = settings::schema::ALLOW_DEPRECATED_ACCESSHASH;
}
