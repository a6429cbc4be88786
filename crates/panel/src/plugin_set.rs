//! The plugins in force: the host, the WHM API 1 functions they answer and the paths of their pages, replaced as one
//! when the `[[plugins]]` list changes, so that a request sees one consistent set and a plugin added or removed in the
//! config is served or hidden without a restart.
//!
//! A plugin is checked here against the names the panel owns (its pages and host paths, its WHM API 1 functions, its
//! features) and refused at load with the reason when it takes one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use plugin_host::PluginHost;

/// Paths the panel's own pages take inside a session; a plugin page declared there could never be reached.
pub const PANEL_PAGES: &[&str] = &[
    "/",
    "/logout",
    "/login",
    "/login/",
    "/tweak-settings",
    "/edit-reseller-privileges",
    "/manage-api-tokens",
    "/feature-access",
    "/configuration-cluster",
];

/// Paths the panel serves itself, with everything below them: a plugin page there is refused.
pub const HOST_PATH_PREFIXES: &[&str] = &["/json-api", "/login", "/static", "/ofrep"];

/// Other paths the panel serves itself outside a session: a plugin page there is refused.
pub const HOST_PATHS: &[&str] = &["/health", "/metrics"];

/// The names of the panel's own WHM API 1 functions (`whm::OPERATIONS`, which sits above this module; a test there
/// keeps the two equal): a plugin function of one of these names could never be routed, so it is refused.
pub const HOST_FUNCTIONS: &[&str] = &[
    "applist",
    "version",
    "myprivs",
    "get_tweaksetting",
    "set_tweaksetting",
    "listresellers",
    "listacls",
    "setacls",
    "saveacllist",
    "api_token_create",
    "api_token_list",
    "api_token_revoke",
    "create_user_session",
    "add_configclusterserver",
    "update_configclusterserver",
    "delete_configclusterserver",
    "list_configclusterservers",
    "listaccts",
    "accountsummary",
];

/// The panel's check of one plugin feature against what the panel owns (see [`plugin_host::HostCheck`]): its page
/// paths, its API function names and its own feature ids. `Err` says why, and the plugin is refused with it.
pub fn check_feature(feature: &plugin_abi::Feature) -> Result<(), String> {
    let path = feature.path.as_str();
    if !path.is_empty() {
        if PANEL_PAGES.contains(&path) || HOST_PATHS.contains(&path) {
            return Err(format!("the page path \"{path}\" is one of the panel's own pages"));
        }
        if let Some(prefix) = HOST_PATH_PREFIXES
            .iter()
            .find(|p| path == **p || path.strip_prefix(**p).is_some_and(|rest| rest.starts_with('/')))
        {
            return Err(format!(
                "the page path \"{path}\" is under {prefix}/, which the panel serves itself"
            ));
        }
    }
    if let Some(function) = feature
        .api_functions
        .iter()
        .find(|f| HOST_FUNCTIONS.contains(&f.as_str()))
    {
        return Err(format!(
            "the API function \"{function}\" is one of the panel's own WHM API 1 functions"
        ));
    }
    if crate::features::builtin_features().iter().any(|f| f.id == feature.id) {
        return Err(format!(
            "the feature id \"{}\" is one of the panel's own features",
            feature.id
        ));
    }
    Ok(())
}

/// One generation of plugins.
#[derive(Debug)]
pub struct PluginSet {
    pub host: PluginHost,
    /// Each plugin API function and the feature that guards it.
    pub functions: HashMap<String, String>,
    /// The plugin API functions that also answer legacy WHM API 0 ([`plugin_abi::Feature::api0_function`]).
    pub api0: HashSet<String>,
    /// Each plugin page path (no trailing `/`) and its feature.
    pages: HashMap<String, String>,
}

impl PluginSet {
    /// Loads the `[[plugins]]` list, refusing any plugin that takes a name the panel owns ([`check_feature`]).
    pub fn load(entries: &[settings::PluginEntry]) -> PluginSet {
        PluginSet::new(PluginHost::load_checked(entries, &check_feature))
    }

    /// Indexes what the host's plugins serve. A page path the panel owns (which [`PluginSet::load`] refuses already)
    /// is left out with a warning rather than shadowing a panel page.
    pub fn new(host: PluginHost) -> PluginSet {
        let functions = host.api_functions().into_iter().collect();
        let mut pages = HashMap::new();
        let mut api0 = HashSet::new();
        for spec in host.features() {
            let Some(info) = host.feature_info(&spec.id) else {
                continue;
            };
            api0.extend(info.api0_functions.iter().cloned());
            if info.path.is_empty() {
                continue;
            }
            match check_feature(&info) {
                Ok(()) if info.path.starts_with('/') && !info.path.contains(['?', '#']) => {
                    pages.entry(normalise(&info.path).to_owned()).or_insert(spec.id);
                }
                Ok(()) => tracing::warn!(
                    "the page path {:?} of feature {} cannot be served; it is left out",
                    info.path,
                    spec.id
                ),
                Err(why) => tracing::warn!("feature {} cannot be served ({why}); it is left out", spec.id),
            }
        }
        PluginSet {
            host,
            functions,
            api0,
            pages,
        }
    }

    /// The next generation for a new `[[plugins]]` list: loaded plugins are kept as they are, new entries load,
    /// removed ones leave (see [`PluginHost::reload`]).
    pub fn reload(&self, entries: &[settings::PluginEntry]) -> PluginSet {
        PluginSet::new(self.host.reload_checked(entries, &check_feature))
    }

    /// The feature whose page is at `path` (a trailing `/` is ignored).
    pub fn page(&self, path: &str) -> Option<&str> {
        self.pages.get(normalise(path)).map(String::as_str)
    }

    /// Why a restart is needed for the plugins, when a loaded plugin's file changed on disk.
    pub fn restart_needed(&self) -> Vec<String> {
        self.host.reports().iter().filter_map(|r| r.restart_needed()).collect()
    }

    /// The library files, for the config watcher: a file replaced on disk is reported as needing a restart.
    pub fn files(&self) -> Vec<PathBuf> {
        self.host.reports().into_iter().map(|r| r.path).collect()
    }
}

/// The file in the state directory where the server records the plugins it runs, for `tweakgate plugins list`.
const RECORD: &str = "plugins.json";

/// What a running server says about the plugins it serves: its process id, each library whose file changed on disk
/// since it was loaded (the server keeps running the old code until it restarts), and each library that faulted in
/// it, with why (its features are hidden there until it is loaded again).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerRecord {
    pub pid: u32,
    pub changed_on_disk: Vec<PathBuf>,
    #[serde(default)]
    pub faulted: Vec<(PathBuf, String)>,
}

impl PluginSet {
    /// Records, for `tweakgate plugins list`, which of the plugins this process serves need a restart or faulted; a
    /// record that already says so is not written again.
    pub fn record(&self, state_dir: &Path) {
        let reports = self.host.reports();
        let record = ServerRecord {
            pid: std::process::id(),
            changed_on_disk: reports
                .iter()
                .filter(|r| r.changed_on_disk)
                .map(|r| r.path.clone())
                .collect(),
            faulted: reports
                .iter()
                .filter_map(|r| match &r.state {
                    plugin_host::PluginState::Faulted { detail } => Some((r.path.clone(), detail.clone())),
                    _ => None,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
        let path = state_dir.join(RECORD);
        // Most reloads change nothing here: a record that already says this is left alone, unwritten and unsynced.
        if std::fs::read(&path).is_ok_and(|held| held == bytes) {
            return;
        }
        if let Err(e) = credentials::write_atomic(&path, &bytes, 0o600) {
            tracing::warn!("cannot record the plugins in force in {}: {e}", state_dir.display());
        }
    }
}

/// The record of the server running on `state_dir`, when one is running.
pub fn running_server(state_dir: &Path) -> Option<ServerRecord> {
    let text = std::fs::read(state_dir.join(RECORD)).ok()?;
    let record: ServerRecord = serde_json::from_slice(&text).ok()?;
    Path::new(&format!("/proc/{}", record.pid)).exists().then_some(record)
}

fn normalise(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    }
}

/// How long a plugin call may take when its `[[plugins]]` entry sets no `call_timeout_ms`.
pub const DEFAULT_CALL_TIMEOUT: std::time::Duration = plugin_host::DEFAULT_CALL_TIMEOUT;
/// How much longer than its budget the panel waits for a call into an isolated plugin: the host keeps that call's
/// deadline itself and, past it, stops the worker and faults the plugin before answering, so the client's 503 comes
/// with the fault already in force.
pub const ISOLATED_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// Calls of one plugin running at once; more wait for a slot (within the call's budget), then are answered 503. A
/// call past its deadline keeps its slot until it really returns, so a plugin that hangs uses up its own slots and no
/// one else's.
pub const CALLS_PER_PLUGIN: usize = 16;

/// Why a plugin call was not answered by the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallRefused {
    /// Every one of the plugin's call slots is taken.
    Busy { plugin: String },
    /// The plugin did not answer within its time budget.
    TimedOut {
        plugin: String,
        budget: std::time::Duration,
    },
    /// The plugin missed its budget [`FAULT_AFTER_MISSES`] times in a row, this time included: it is faulted.
    Faulted {
        plugin: String,
        budget: std::time::Duration,
    },
    /// The blocking thread running it failed.
    Failed,
}

impl std::fmt::Display for CallRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallRefused::Busy { plugin } => {
                write!(
                    f,
                    "the plugin {plugin} is busy with {CALLS_PER_PLUGIN} calls that did not end in time; try again shortly"
                )
            }
            CallRefused::TimedOut { plugin, budget } => write!(
                f,
                "the plugin {plugin} did not answer within {} ms (its call_timeout_ms)",
                budget.as_millis()
            ),
            CallRefused::Faulted { plugin, budget } => write!(
                f,
                "the plugin {plugin} did not answer within {} ms (its call_timeout_ms), {FAULT_AFTER_MISSES} times in a row: it is faulted",
                budget.as_millis()
            ),
            CallRefused::Failed => f.write_str("the server could not complete the call"),
        }
    }
}

/// The bounded pools plugin calls run in: off the async workers (on blocking threads), at most [`CALLS_PER_PLUGIN`]
/// per plugin, each within its time budget. Kept by the `Panel` across reloads, so a hung call still counts.
///
/// The fast lane: an in-process plugin whose last [`FAST_LANE_EARNED`] calls each took at most [`FAST_CALL`] is
/// called on the request's own worker, saving the two thread hand-offs of the blocking pool, while fewer than all but
/// one of the runtime's workers are in such a call and none of the same plugin's is. A call in the lane that takes
/// longer than [`FAST_CALL`] puts its plugin back in the pool (seen by its next call while it still runs, and by
/// itself when it returns), so a plugin that turns slow holds at most one worker for one call, and the runtime always
/// keeps a worker no plugin code runs on.
#[derive(Debug, Default)]
pub struct CallPools {
    pools: std::sync::RwLock<HashMap<String, std::sync::Arc<Pool>>>,
    /// Calls running in the fast lane now, over every plugin.
    inline_now: std::sync::atomic::AtomicUsize,
    /// Calls made in the fast lane since the start (`tweakgate_plugin_calls_inline_total`).
    inline_total: prometheus_client::metrics::counter::Counter,
}

/// One plugin's slots, its calls past their budget in a row (an answer in time sets it back to 0), its calls within
/// [`FAST_CALL`] in a row, and when its call in the fast lane started (nanoseconds on [`lane_clock`]; 0: none runs).
#[derive(Debug)]
struct Pool {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    missed: std::sync::atomic::AtomicU32,
    fast: std::sync::atomic::AtomicU32,
    inline_since: std::sync::atomic::AtomicU64,
}

/// A plugin that misses its budget this many times in a row is faulted: it is hidden with `PLUGIN_FAULTED` like one
/// that panicked, until it is loaded again.
pub const FAULT_AFTER_MISSES: u32 = 3;

/// The longest call that counts as fast. A plugin whose calls keep within it may be called in the fast lane; the
/// first call there that does not holds its worker until the plugin returns (it is not cut at its deadline), and its
/// plugin goes back to the pool.
pub const FAST_CALL: std::time::Duration = std::time::Duration::from_millis(1);

/// [`FAST_CALL`] on [`lane_clock`].
const FAST_CALL_NANOS: u64 = FAST_CALL.as_nanos() as u64;

/// The calls within [`FAST_CALL`] in a row, on the pool or in the lane, that earn a plugin the fast lane.
pub const FAST_LANE_EARNED: u32 = 64;

/// Nanoseconds since the first call of the process, at least 1 (0 marks "no call in the lane").
fn lane_clock() -> u64 {
    static EPOCH: std::sync::LazyLock<std::time::Instant> = std::sync::LazyLock::new(std::time::Instant::now);
    u64::try_from(EPOCH.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

impl Pool {
    /// Records a call that answered within its budget after `took`.
    fn answered(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.missed.store(0, Ordering::Relaxed);
        if took > FAST_CALL {
            self.fast.store(0, Ordering::Relaxed);
        } else if self.fast.load(Ordering::Relaxed) < FAST_LANE_EARNED {
            self.fast.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A call into a plugin, as the pools run it: on the request's own worker in the fast lane, borrowing what it needs
/// ([`PluginCall::call`]), or made owned ([`PluginCall::owned`]) to move onto a blocking thread. Any `'static`
/// closure is one.
pub trait PluginCall<T>: Send {
    /// Whether the call may be made in the fast lane.
    const MAY_TAKE_THE_LANE: bool = true;
    /// The call made owned, for a blocking thread.
    type Owned: FnOnce() -> T + Send + 'static;
    /// Makes the call here.
    fn call(self) -> T;
    /// The call with everything it needs owned.
    fn owned(self) -> Self::Owned;
}

impl<T, F: FnOnce() -> T + Send + 'static> PluginCall<T> for F {
    type Owned = F;
    fn call(self) -> T {
        self()
    }
    fn owned(self) -> F {
        self
    }
}

/// A call always made on the plugin's pool, never in the fast lane: a page's, which may write (a form posted).
#[derive(Debug)]
pub struct OnThePool<F>(pub F);

impl<T, F: FnOnce() -> T + Send + 'static> PluginCall<T> for OnThePool<F> {
    const MAY_TAKE_THE_LANE: bool = false;
    type Owned = F;
    fn call(self) -> T {
        (self.0)()
    }
    fn owned(self) -> F {
        self.0
    }
}

thread_local! {
    /// Whether this thread is making a plugin call in the fast lane, and whether that call did blocking work through
    /// [`blocking`].
    static LANE: std::cell::Cell<OnLane> = const { std::cell::Cell::new(OnLane::Off) };
}

thread_local! {
    /// Whether this thread's plugin call reached the plugin ([`reached_the_plugin`]).
    static REACHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Says that this thread's plugin call reached the plugin (past authorization): only such a call's time counts
/// towards the plugin's fast lane, so refused calls, however many and however quick, never earn a slow plugin the lane.
pub fn reached_the_plugin() {
    REACHED.set(true);
}

/// Makes `call` on this thread, with whether it reached the plugin.
fn reaching<T>(call: impl FnOnce() -> T) -> (T, bool) {
    REACHED.set(false);
    let answer = call();
    (answer, REACHED.replace(false))
}

/// What [`LANE`] says of this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnLane {
    Off,
    In,
    Blocked,
}

/// Runs `f`, work that blocks (a write and its sync, made for a plugin through the host's services), so that it never
/// holds an async worker: in a fast-lane call the worker's core is handed to another thread for it
/// (`tokio::task::block_in_place`) and the plugin goes back to the pool; anywhere else (a blocking thread of a
/// plugin's pool) it just runs.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if LANE.get() == OnLane::Off {
        return f();
    }
    LANE.set(OnLane::Blocked);
    tokio::task::block_in_place(f)
}

/// What the fast lane offers a call now.
enum Lane<'a> {
    /// A place in it.
    Open(InlineCall<'a>),
    /// Taken by another call for less than [`FAST_CALL`] so far: worth a moment's wait.
    Busy,
    /// Not earned, taken away, or no worker to spare: the call goes to the pool.
    Closed,
}

/// A call in the fast lane: while it lives, it counts against the lane's cap and marks its plugin's lane taken.
struct InlineCall<'a> {
    pools: &'a CallPools,
    pool: &'a Pool,
}

impl Drop for InlineCall<'_> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.pool.inline_since.store(0, Ordering::Release);
        self.pools.inline_now.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallPools {
    /// The plugin's pool, looked up without a copy of its name once it exists.
    fn pool(&self, plugin: &str) -> std::sync::Arc<Pool> {
        if let Some(pool) = self.pools.read().unwrap_or_else(|e| e.into_inner()).get(plugin) {
            return std::sync::Arc::clone(pool);
        }
        let mut pools = self.pools.write().unwrap_or_else(|e| e.into_inner());
        std::sync::Arc::clone(pools.entry(plugin.to_owned()).or_insert_with(|| {
            std::sync::Arc::new(Pool {
                slots: std::sync::Arc::new(tokio::sync::Semaphore::new(CALLS_PER_PLUGIN)),
                missed: std::sync::atomic::AtomicU32::new(0),
                fast: std::sync::atomic::AtomicU32::new(0),
                inline_since: std::sync::atomic::AtomicU64::new(0),
            })
        }))
    }

    /// Pools whose fast-lane calls count in `inline_total` (the metric `plugin_calls_inline`).
    pub fn counting_inline(inline_total: prometheus_client::metrics::counter::Counter) -> CallPools {
        CallPools {
            inline_total,
            ..CallPools::default()
        }
    }

    /// Every plugin earns the fast lane anew: the plugins in force changed (a file, a pin, an isolation).
    pub fn forget_lanes(&self) {
        for pool in self.pools.read().unwrap_or_else(|e| e.into_inner()).values() {
            pool.fast.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A place in the fast lane for a call of `pool`'s plugin, on the runtime this runs on (no place on a runtime of
    /// one worker).
    fn fast_lane<'a>(&'a self, pool: &'a Pool) -> Lane<'a> {
        let cap = tokio::runtime::Handle::try_current().map_or(0, |h| h.metrics().num_workers().saturating_sub(1));
        self.fast_lane_at(pool, lane_clock(), cap)
    }

    /// A place in the fast lane at `now` ([`lane_clock`]) for a call of `pool`'s plugin, when it has earned one, no call
    /// of its own is in the lane and fewer than `cap` calls are. A call of its own found in the lane for longer than
    /// [`FAST_CALL`] takes the lane away; a lane full of such calls is closed rather than waited for.
    fn fast_lane_at<'a>(&'a self, pool: &'a Pool, now: u64, cap: usize) -> Lane<'a> {
        use std::sync::atomic::Ordering;
        if pool.fast.load(Ordering::Relaxed) < FAST_LANE_EARNED {
            return Lane::Closed;
        }
        if let Err(since) = pool
            .inline_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
        {
            if now.saturating_sub(since) > FAST_CALL_NANOS {
                pool.fast.store(0, Ordering::Relaxed);
                return Lane::Closed;
            }
            return Lane::Busy;
        }
        if self
            .inline_now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
            .is_err()
        {
            pool.inline_since.store(0, Ordering::Release);
            // Calls still in the lane past FAST_CALL will not make room soon: a plugin hangs there.
            let stuck = || {
                self.pools.read().unwrap_or_else(|e| e.into_inner()).values().any(|p| {
                    let since = p.inline_since.load(Ordering::Acquire);
                    since != 0 && now.saturating_sub(since) > FAST_CALL_NANOS
                })
            };
            return if cap == 0 || stuck() { Lane::Closed } else { Lane::Busy };
        }
        self.inline_total.inc();
        Lane::Open(InlineCall { pools: self, pool })
    }

    /// The fast lane's place for this call, waiting for a busy lane by yielding the worker to other tasks (never
    /// blocking it) for at most [`FAST_CALL`], since calls in the lane are that short; `None`: the call goes to the pool.
    async fn wait_for_lane<'a>(&'a self, pool: &'a Pool) -> Option<InlineCall<'a>> {
        let mut first_busy = None;
        loop {
            match self.fast_lane(pool) {
                Lane::Open(call) => return Some(call),
                Lane::Closed => return None,
                Lane::Busy => {
                    let now = lane_clock();
                    if now.saturating_sub(*first_busy.get_or_insert(now)) > FAST_CALL_NANOS {
                        return None;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    /// Runs `call` (which calls into the plugin providing `feature`) in the fast lane when its plugin has earned it
    /// (see [`CallPools`]), else on a blocking thread of that plugin's pool: waits for a slot and then for the call,
    /// each at most the plugin's budget. A client that goes away drops this future: a call still waiting for its slot
    /// never starts.
    pub async fn run<T: Send + 'static, C: PluginCall<T>>(
        &self,
        plugins: &PluginSet,
        config: &settings::Config,
        feature: &str,
        call: C,
    ) -> Result<T, CallRefused> {
        let (plugin, path) = plugins
            .host
            .plugin_of(feature)
            .map_or((feature, None), |(n, p)| (n, Some(p)));
        let budget = path
            .and_then(|p| config.plugins.iter().find(|e| e.path == p))
            .and_then(|e| e.call_timeout_ms)
            .map_or(DEFAULT_CALL_TIMEOUT, std::time::Duration::from_millis);
        let pool = self.pool(plugin);
        // A free slot is taken at once; only a call that has to wait for one sets a timer.
        let slot = match std::sync::Arc::clone(&pool.slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => match tokio::time::timeout(budget, std::sync::Arc::clone(&pool.slots).acquire_owned()).await {
                Ok(Ok(slot)) => slot,
                _ => {
                    return Err(CallRefused::Busy {
                        plugin: plugin.to_owned(),
                    });
                }
            },
        };
        let isolated = plugins.host.is_isolated(feature);
        if C::MAY_TAKE_THE_LANE
            && !isolated
            && let Some(lane) = self.wait_for_lane(&pool).await
        {
            let _slot = slot;
            let started = std::time::Instant::now();
            LANE.set(OnLane::In);
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reaching(|| call.call())));
            let blocked = LANE.replace(OnLane::Off) == OnLane::Blocked;
            let took = started.elapsed();
            // Counted before the lane is given back, so a slow call's plugin is out of it before another call looks.
            let answer = match answer {
                Err(payload) => {
                    pool.fast.store(0, std::sync::atomic::Ordering::Relaxed);
                    let why = plugin_abi::__private::panic_message(payload.as_ref());
                    tracing::error!("a call into the plugin {plugin} failed on its worker: {why}");
                    Err(CallRefused::Failed)
                }
                Ok(_) if took > budget => Err(missed(plugins, &pool, plugin, feature, path, budget)),
                Ok((answer, reached)) => {
                    if reached {
                        pool.answered(took);
                    }
                    if blocked {
                        pool.fast.store(0, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(answer)
                }
            };
            drop(lane);
            return answer;
        }
        let call = call.owned();
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let started = std::time::Instant::now();
            let (answer, reached) = reaching(call);
            (answer, started.elapsed(), reached)
        });
        let wait = if isolated { budget + ISOLATED_GRACE } else { budget };
        match tokio::time::timeout(wait, task).await {
            Ok(Ok((answer, took, reached))) => {
                if reached {
                    pool.answered(took);
                }
                Ok(answer)
            }
            Ok(Err(e)) => {
                tracing::error!("a call into the plugin {plugin} failed on its thread: {e}");
                Err(CallRefused::Failed)
            }
            // An isolated plugin's own deadline stops and faults its worker; a call that waited here for the calls
            // before it is no miss of the plugin's.
            Err(_) if isolated => Err(CallRefused::TimedOut {
                plugin: plugin.to_owned(),
                budget,
            }),
            Err(_) => Err(missed(plugins, &pool, plugin, feature, path, budget)),
        }
    }
}

/// A call of an in-process plugin past its budget: counted, and the plugin faulted at [`FAULT_AFTER_MISSES`] in a row.
fn missed(
    plugins: &PluginSet,
    pool: &Pool,
    plugin: &str,
    feature: &str,
    path: Option<&Path>,
    budget: std::time::Duration,
) -> CallRefused {
    use std::sync::atomic::Ordering;
    let plugin = plugin.to_owned();
    pool.fast.store(0, Ordering::Relaxed);
    if pool.missed.fetch_add(1, Ordering::Relaxed).saturating_add(1) >= FAULT_AFTER_MISSES
        && let Some(path) = path
    {
        pool.missed.store(0, Ordering::Relaxed);
        let detail = format!(
            "missed its call_timeout_ms budget ({} ms) {FAULT_AFTER_MISSES} times in a row",
            budget.as_millis()
        );
        tracing::error!(plugin = %plugin, feature = %feature, detail = %detail, "plugin faulted");
        plugins.host.mark_faulted(path, &detail);
        return CallRefused::Faulted { plugin, budget };
    }
    CallRefused::TimedOut { plugin, budget }
}

impl CallRefused {
    /// Whether the plugin was faulted by this refusal: the snapshot must be compiled again so it is hidden at once.
    pub fn faulted(&self) -> bool {
        matches!(self, CallRefused::Faulted { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast lane, on a clock the test sets: earned by fast answers, one call of a plugin at a time, never past
    /// its cap (the runtime's workers but one), closed rather than busy when the calls in it are stuck, taken away
    /// from a plugin whose call in it runs past `FAST_CALL`, that answers slowly or whose plugins were reloaded, and
    /// closed on a runtime of one worker.
    #[test]
    fn the_fast_lane_is_earned_held_by_one_call_and_taken_from_a_slow_one() {
        use std::sync::atomic::Ordering;
        let fast_call = FAST_CALL_NANOS;
        let earn = |pool: &Pool| {
            for _ in 0..FAST_LANE_EARNED {
                pool.answered(std::time::Duration::ZERO);
            }
        };
        let (t, cap) = (1_000 * fast_call, 2);
        let pools = CallPools::default();
        let (p, q, r) = (pools.pool("p"), pools.pool("q"), pools.pool("r"));
        assert!(matches!(pools.fast_lane_at(&p, t, cap), Lane::Closed), "not earned yet");
        for _ in 1..FAST_LANE_EARNED {
            p.answered(std::time::Duration::ZERO);
        }
        assert!(
            matches!(pools.fast_lane_at(&p, t, cap), Lane::Closed),
            "one fast answer short"
        );
        p.answered(std::time::Duration::ZERO);
        let Lane::Open(in_p) = pools.fast_lane_at(&p, t, cap) else {
            panic!("earned by {FAST_LANE_EARNED} fast answers");
        };
        assert!(
            matches!(pools.fast_lane_at(&p, t, cap), Lane::Busy),
            "one call of a plugin at a time"
        );
        earn(&q);
        let Lane::Open(in_q) = pools.fast_lane_at(&q, t, cap) else {
            panic!("room for a second plugin's call");
        };
        earn(&r);
        assert!(
            matches!(pools.fast_lane_at(&r, t, cap), Lane::Busy),
            "the last worker stays free"
        );
        let late = t + fast_call + 1;
        assert!(
            matches!(pools.fast_lane_at(&r, late, cap), Lane::Closed),
            "the calls in the lane are stuck: no use waiting"
        );
        assert!(
            matches!(pools.fast_lane_at(&p, late, cap), Lane::Closed),
            "a call of p's ran long: p's lane is taken away"
        );
        drop(in_p);
        drop(in_q);
        assert!(
            matches!(pools.fast_lane_at(&p, late, cap), Lane::Closed),
            "until earned again"
        );
        let Lane::Open(in_r) = pools.fast_lane_at(&r, late, cap) else {
            panic!("room again once the calls returned");
        };
        drop(in_r);
        assert_eq!(pools.inline_total.get(), 3);
        earn(&p);
        let Lane::Open(in_p) = pools.fast_lane_at(&p, late, cap) else {
            panic!("earned again");
        };
        drop(in_p);
        p.answered(FAST_CALL * 2);
        assert!(
            matches!(pools.fast_lane_at(&p, late, cap), Lane::Closed),
            "a slow answer takes it away"
        );
        pools.forget_lanes();
        assert!(
            matches!(pools.fast_lane_at(&q, late, cap), Lane::Closed),
            "earned anew after a reload"
        );
        assert_eq!(pools.inline_now.load(Ordering::Relaxed), 0, "every place given back");

        let one_worker = tokio::runtime::Builder::new_current_thread().build().unwrap();
        one_worker.block_on(async {
            earn(&q);
            assert!(matches!(pools.fast_lane(&q), Lane::Closed), "no worker to spare");
        });
        let two_workers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        two_workers.block_on(async {
            let Lane::Open(in_q) = pools.fast_lane(&q) else {
                panic!("one of two workers may take the lane");
            };
            drop(in_q);
        });
    }

    /// Blocking work asked for in a fast-lane call hands the worker on: with the runtime's only worker in it, another
    /// task still runs meanwhile, and the call is marked as having blocked (its plugin leaves the lane).
    #[test]
    fn blocking_work_in_the_lane_hands_the_worker_on() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let (ran_beside, lane) = runtime.block_on(async move {
            tokio::spawn(async move {
                LANE.set(OnLane::In);
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let ran_beside = blocking(move || {
                    handle.spawn(async move {
                        let _ = tx.send(());
                    });
                    rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
                });
                (ran_beside, LANE.replace(OnLane::Off))
            })
            .await
            .unwrap()
        });
        assert!(ran_beside, "the worker was held while the blocking work ran");
        assert_eq!(lane, OnLane::Blocked);
        assert_eq!(blocking(|| 7), 7, "off the lane it just runs");
        assert_eq!(LANE.get(), OnLane::Off);
    }

    fn feature(id: &str, path: &str, functions: &[&str]) -> plugin_abi::Feature {
        let mut f = plugin_abi::Feature::new(id, "T", "Plugins");
        f.path = path.into();
        f.api_functions = functions.iter().map(|s| (*s).to_owned()).collect();
        f
    }

    /// A description that takes what the panel owns is refused with the reason, every kind.
    #[test]
    fn names_the_panel_owns_are_refused() {
        let cases: &[(plugin_abi::Feature, &str)] = &[
            (
                feature("x", "/tweak-settings", &[]),
                "the page path \"/tweak-settings\" is one of the panel's own pages",
            ),
            (
                feature("x", "/logout", &[]),
                "the page path \"/logout\" is one of the panel's own pages",
            ),
            (
                feature("x", "/health", &[]),
                "the page path \"/health\" is one of the panel's own pages",
            ),
            (
                feature("x", "/metrics", &[]),
                "the page path \"/metrics\" is one of the panel's own pages",
            ),
            (
                feature("x", "/json-api/x", &[]),
                "the page path \"/json-api/x\" is under /json-api/, which the panel serves itself",
            ),
            (
                feature("x", "/json-api", &[]),
                "the page path \"/json-api\" is under /json-api/, which the panel serves itself",
            ),
            (
                feature("x", "/login/again", &[]),
                "the page path \"/login/again\" is under /login/, which the panel serves itself",
            ),
            (
                feature("x", "/static/x.css", &[]),
                "the page path \"/static/x.css\" is under /static/, which the panel serves itself",
            ),
            (
                feature("x", "/ofrep/v1", &[]),
                "the page path \"/ofrep/v1\" is under /ofrep/, which the panel serves itself",
            ),
            (
                feature("x", "", &["gethostname", "version"]),
                "the API function \"version\" is one of the panel's own WHM API 1 functions",
            ),
            (
                feature("manage-api-tokens", "/my-tokens", &[]),
                "the feature id \"manage-api-tokens\" is one of the panel's own features",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(check_feature(f).unwrap_err(), *want, "{f:?}");
        }
        for fine in [
            feature("x", "/server-information", &["systemloadavg"]),
            feature("x", "/loginhistory", &[]),
            feature("x", "/statics", &[]),
            feature("x", "", &["gethostname"]),
        ] {
            assert_eq!(check_feature(&fine), Ok(()), "{fine:?}");
        }
    }
}
