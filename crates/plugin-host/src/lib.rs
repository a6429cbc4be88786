//! The plugin host: finds, verifies, loads and calls Tweakgate plugins. The only crate that touches `libloading`.
//!
//! [`PluginHost::load`] never fails as a whole: each configured library ends up loaded or failed with a typed
//! [`LoadError`], and the host keeps serving the plugins that did load.
//! A plugin that panics while serving is marked faulted: its features stay declared but hidden with `PLUGIN_FAULTED`,
//! and further calls are refused, while other plugins keep working.
//! [`PluginHost::reload`] follows a changed `[[plugins]]` list without a restart: new entries load, removed ones leave
//! the host (their libraries stay mapped), and a loaded plugin is kept as it is, even when its file changed on disk:
//! the new code runs only after a restart, and [`PluginReport::changed_on_disk`] says so.
//!
//! The host has no plugin vocabulary of its own: [`PluginHost::call`] takes a [`plugin_abi::Request`] and
//! [`plugin_abi::HostCallbacks`] and answers a [`plugin_abi::Response`]; [`PluginHost::feature_info`] answers a
//! [`plugin_abi::Feature`]. Import those from `plugin_abi`.
//!
//! A plugin configured with `isolation = "process"` runs in a worker process of its own (`isolated`, [`worker`]):
//! the same checks, the same ABI, the same calls, and a crash, an abort or a hang there faults that plugin alone; the
//! application starts it again with [`PluginHost::restart_workers`] once [`PluginHost::restart_due`] says so.

mod call;
mod descriptor;
mod error;
mod isolated;
mod verify;
mod wire;
pub mod worker;

use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_abi::{ABI_VERSION, ENTRY_SYMBOL, Feature, HostCallbacks, PluginEntry, Request, Response, Target};
use settings::{FeatureSpec, Reason};

pub use descriptor::check_description;
pub use error::{LoadError, PluginCallError};
pub use isolated::{DEFAULT_CALL_TIMEOUT, FIRST_BACKOFF, MAX_BACKOFF, set_worker_program};

use descriptor::Descriptor;

/// Every configured plugin, loaded or not. Lives as long as the panel; shared between request threads.
#[derive(Debug)]
pub struct PluginHost {
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    path: PathBuf,
    /// The pin the configuration gave.
    pin: Option<String>,
    /// Where the configuration runs it, and as whom.
    isolation: settings::Isolation,
    user: Option<String>,
    sha256: Option<String>,
    state: SlotState,
}

#[derive(Debug)]
enum SlotState {
    /// Shared with the host this one was reloaded from, so a reload keeps the very plugin that was serving.
    Loaded(Arc<Loaded>),
    /// `abi_version` is set when the entry was found; `descriptor` when the plugin described itself but was refused.
    Failed {
        error: LoadError,
        abi_version: Option<u32>,
        descriptor: Option<Descriptor>,
    },
}

/// A plugin whose description passed validation, with its code mapped here or running in its worker.
struct Loaded {
    descriptor: Descriptor,
    /// The ABI version the plugin was built for (from `MIN_ABI_VERSION` to `ABI_VERSION`).
    abi_version: u32,
    /// Why it faulted, while it is faulted. Only an isolated plugin comes back from a fault in place (its worker
    /// restarted); an in-process one stays faulted until it is loaded again.
    fault: Mutex<Option<String>>,
    /// The version of the file that was loaded.
    stamp: verify::Stamp,
    /// Declared last so that, were it ever dropped, everything that may point into the library goes first.
    code: Code,
}

/// Where a plugin's code runs.
enum Code {
    /// Mapped into this process.
    InProcess {
        entry: PluginEntry,
        /// Never dropped: a plugin may leave code running after a call returns (threads it spawned, thread-local
        /// destructors, a panic hook), and unmapping a Rust `cdylib` under such code crashes the process.
        /// So each library stays mapped until the process exits; loading the same file again reuses the mapping.
        library: ManuallyDrop<libloading::Library>,
    },
    /// In a worker process of its own, stopped when the plugin leaves the host.
    Process(isolated::Worker),
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Loaded");
        d.field("plugin", &self.descriptor.name).field("fault", &self.fault());
        match &self.code {
            Code::InProcess { library, .. } => d.field("library", library),
            Code::Process(worker) => d.field("worker", worker),
        };
        d.finish_non_exhaustive()
    }
}

impl Loaded {
    fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks it faulted (the first detail stays); an isolated plugin's worker is stopped, to start again after the
    /// back-off.
    fn mark_faulted(&self, detail: String) {
        self.fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(detail);
        if let Code::Process(worker) = &self.code {
            worker.stop();
        }
    }

    fn worker(&self) -> Option<&isolated::Worker> {
        match &self.code {
            Code::Process(w) => Some(w),
            Code::InProcess { .. } => None,
        }
    }
}

/// Where a plugin stands, for `tweakgate plugins list` and `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginState {
    Loaded,
    /// Loaded, then panicked or broke the contract while serving; isolated until the next load.
    Faulted {
        detail: String,
    },
    Failed(LoadError),
}

/// One configured plugin as `tweakgate plugins list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReport {
    pub path: PathBuf,
    /// From the plugin's description, when it got that far.
    pub name: Option<String>,
    pub version: Option<String>,
    pub state: PluginState,
    /// The ABI version the library declares, when its entry symbol was found.
    pub abi_version: Option<u32>,
    /// Feature ids from the description, when it got that far.
    pub features: Vec<String>,
    /// SHA-256 of the file, when the configuration pins one and the file was read to check it ([`sha256_of`] hashes
    /// any other file, for listings).
    pub sha256: Option<String>,
    /// Loaded, and the file on disk is no longer the one loaded: the old code serves until a restart.
    pub changed_on_disk: bool,
    /// Loaded into a worker process of its own (`isolation = "process"`).
    pub isolated: bool,
}

impl PluginReport {
    /// Loaded, even if it faulted since; `false` means the configuration needs attention.
    pub fn is_loaded(&self) -> bool {
        !matches!(self.state, PluginState::Failed(_))
    }

    pub fn is_faulted(&self) -> bool {
        matches!(self.state, PluginState::Faulted { .. })
    }

    /// Why it is not serving, as text.
    pub fn failure(&self) -> Option<String> {
        match &self.state {
            PluginState::Loaded => None,
            PluginState::Faulted { detail } => Some(format!("faulted: {detail}")),
            PluginState::Failed(e) => Some(e.to_string()),
        }
    }

    /// What an administrator must do for the file on disk to run, when it is not the one loaded.
    pub fn restart_needed(&self) -> Option<String> {
        self.changed_on_disk.then(|| {
            format!(
                "{} changed on disk since it was loaded; the loaded code keeps serving until Tweakgate restarts",
                self.path.display()
            )
        })
    }
}

impl fmt::Display for PluginReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        let who = match (&self.name, &self.version) {
            (Some(n), Some(v)) => format!("{n} {v}"),
            (Some(n), None) => n.clone(),
            _ => String::new(),
        };
        match &self.state {
            PluginState::Loaded => write!(f, "loaded {who}")?,
            PluginState::Faulted { detail } => write!(f, "faulted {who}: {detail}")?,
            PluginState::Failed(e) if who.is_empty() => write!(f, "failed [{}]: {e}", e.code())?,
            PluginState::Failed(e) => write!(f, "failed {who} [{}]: {e}", e.code())?,
        }
        if let Some(v) = self.abi_version {
            write!(f, " (ABI {v}")?;
            if !self.features.is_empty() {
                write!(f, "; features: {}", self.features.join(", "))?;
            }
            if self.isolated {
                write!(f, "; in a worker process")?;
            }
            write!(f, ")")?;
        }
        if self.changed_on_disk {
            write!(
                f,
                "; the file changed on disk since it was loaded: restart to run the new code"
            )?;
        }
        Ok(())
    }
}

/// What the application hosting the plugins checks in each declared feature, beyond what the host itself checks: the
/// names it owns (its pages, its API functions, its features). `Err` says why the feature cannot be served, and the
/// plugin is refused with [`LoadError::TakenByHost`].
pub type HostCheck<'a> = &'a dyn Fn(&Feature) -> Result<(), String>;

/// Checks each feature with `check`; the first refusal, as a load error.
fn host_check(descriptor: &Descriptor, check: HostCheck<'_>) -> Result<(), LoadError> {
    for f in &descriptor.features {
        check(f).map_err(|why| LoadError::TakenByHost {
            feature: f.id.clone(),
            why,
        })?;
    }
    Ok(())
}

impl PluginHost {
    /// Loads every configured plugin in order. Never fails as a whole: each plugin is loaded or failed with a reason.
    /// A feature id, page path or API function already claimed by an earlier plugin makes a later plugin invalid.
    pub fn load(entries: &[settings::PluginEntry]) -> PluginHost {
        PluginHost::load_checked(entries, &|_| Ok(()))
    }

    /// [`load`](Self::load), refusing a plugin any of whose features `check` refuses.
    pub fn load_checked(entries: &[settings::PluginEntry], check: HostCheck<'_>) -> PluginHost {
        PluginHost::empty().reload_checked(entries, check)
    }

    /// The host for a new `[[plugins]]` list, made from this one: a plugin loaded here under the same path and pin is
    /// kept as it is (same library, same fault state, even if its file changed on disk since); every other entry is
    /// loaded, so an entry that failed before is tried again. Plugins no longer listed are left out; their libraries
    /// stay mapped (see `Loaded::library`), and requests already holding this host finish with it.
    pub fn reload(&self, entries: &[settings::PluginEntry]) -> PluginHost {
        self.reload_checked(entries, &|_| Ok(()))
    }

    /// [`reload`](Self::reload), refusing a plugin (kept or new) any of whose features `check` refuses.
    pub fn reload_checked(&self, entries: &[settings::PluginEntry], check: HostCheck<'_>) -> PluginHost {
        let mut host = PluginHost { slots: Vec::new() };
        for entry in entries {
            let kept = self.slots.iter().find_map(|s| match &s.state {
                // `bin/x.so` and `./bin/x.so` are one path: a faulted plugin stays isolated across such an edit.
                SlotState::Loaded(l)
                    if s.path.components().eq(entry.path.components())
                        && s.pin == entry.sha256
                        && s.isolation == entry.isolation
                        && s.user == entry.user =>
                {
                    Some((s, l))
                }
                _ => None,
            });
            if let Some((slot, loaded)) = kept {
                let others: Vec<&Descriptor> = host.loaded_descriptors().collect();
                let checked = loaded
                    .descriptor
                    .check(&others)
                    .and_then(|_| host_check(&loaded.descriptor, check));
                if let Some(worker) = loaded.worker() {
                    worker.set_budget(budget_of(entry));
                }
                let state = match checked {
                    Ok(()) => SlotState::Loaded(Arc::clone(loaded)),
                    Err(error) => SlotState::Failed {
                        error,
                        abi_version: Some(loaded.abi_version),
                        descriptor: Some(loaded.descriptor.clone()),
                    },
                };
                host.slots.push(Slot {
                    path: slot.path.clone(),
                    pin: slot.pin.clone(),
                    isolation: slot.isolation,
                    user: slot.user.clone(),
                    sha256: slot.sha256.clone(),
                    state,
                });
                continue;
            }
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.load_one(entry, check)));
            let slot = loaded.unwrap_or_else(|payload| Slot {
                path: entry.path.clone(),
                pin: entry.sha256.clone(),
                isolation: entry.isolation,
                user: entry.user.clone(),
                sha256: None,
                state: SlotState::Failed {
                    error: LoadError::InvalidDescriptor {
                        why: format!(
                            "the host failed while loading it: {}",
                            plugin_abi::__private::panic_message(payload.as_ref())
                        ),
                    },
                    abi_version: None,
                    descriptor: None,
                },
            });
            host.slots.push(slot);
        }
        host
    }

    /// No plugins at all.
    pub fn empty() -> PluginHost {
        PluginHost { slots: Vec::new() }
    }

    fn load_one(&self, config: &settings::PluginEntry, check: HostCheck<'_>) -> Slot {
        let (path, pin) = (config.path.as_path(), config.sha256.as_deref());
        let slot = |sha256, state| Slot {
            path: path.to_owned(),
            pin: pin.map(str::to_owned),
            isolation: config.isolation,
            user: config.user.clone(),
            sha256,
            state,
        };
        let fail = |error, sha256| Slot {
            path: path.to_owned(),
            pin: pin.map(str::to_owned),
            isolation: config.isolation,
            user: config.user.clone(),
            sha256,
            state: SlotState::Failed {
                error,
                abi_version: None,
                descriptor: None,
            },
        };
        let checked = match verify::check_file(path, pin) {
            Ok(c) => c,
            Err(e) => return fail(e, None),
        };
        let sha256 = Some(checked.sha256.clone());
        let stamp = checked.stamp;
        if config.isolation == settings::Isolation::Process {
            let started = sealed_copy(&checked.bytes)
                .map_err(|e| {
                    (
                        LoadError::WorkerFailed {
                            why: format!("cannot make the sealed copy of the library for the worker: {e}"),
                        },
                        None,
                    )
                })
                .and_then(|copy| {
                    isolated::Worker::start(path, copy, &checked.sha256, config.user.as_deref(), budget_of(config))
                });
            let (worker, d) = match started {
                Ok(started) => started,
                Err((error, abi_version)) => {
                    let mut failed = fail(error, sha256);
                    if let SlotState::Failed { abi_version: found, .. } = &mut failed.state {
                        *found = abi_version;
                    }
                    return failed;
                }
            };
            let mut descriptor = Descriptor {
                name: d.name,
                version: d.version,
                features: d.features,
                requirements: Vec::new(),
            };
            let others: Vec<&Descriptor> = self.loaded_descriptors().collect();
            let state = match descriptor
                .validate(&others)
                .and_then(|()| host_check(&descriptor, check))
            {
                Ok(()) => SlotState::Loaded(Arc::new(Loaded {
                    descriptor,
                    abi_version: d.abi_version,
                    fault: Mutex::new(None),
                    stamp,
                    code: Code::Process(worker),
                })),
                // Refused: the worker is stopped as it drops here.
                Err(error) => SlotState::Failed {
                    error,
                    abi_version: Some(d.abi_version),
                    descriptor: Some(descriptor),
                },
            };
            return slot(sha256, state);
        }
        let library = match open_library(path, checked) {
            Ok(l) => l,
            Err(e) => return fail(e, sha256),
        };
        let (entry, abi_version) = match read_entry(&library) {
            Ok(e) => e,
            Err((e, found)) => {
                // The library is mapped and its initialisers have run; it is kept mapped for the reason given on `Code`.
                std::mem::forget(library);
                let mut slot = fail(e, sha256);
                if let SlotState::Failed { abi_version, .. } = &mut slot.state {
                    *abi_version = found;
                }
                return slot;
            }
        };
        let others: Vec<&Descriptor> = self.loaded_descriptors().collect();
        let (error, descriptor) = match descriptor::describe(&entry, abi_version) {
            Ok(mut descriptor) => match descriptor
                .validate(&others)
                .and_then(|()| host_check(&descriptor, check))
            {
                Ok(()) => {
                    return slot(
                        sha256,
                        SlotState::Loaded(Arc::new(Loaded {
                            descriptor,
                            abi_version,
                            fault: Mutex::new(None),
                            stamp,
                            code: Code::InProcess {
                                entry,
                                library: ManuallyDrop::new(library),
                            },
                        })),
                    );
                }
                Err(e) => (e, Some(descriptor)),
            },
            Err(e) => (e, None),
        };
        // Refused after its initialisers ran: kept mapped for the reason given on `Code::InProcess`.
        std::mem::forget(library);
        slot(
            sha256,
            SlotState::Failed {
                error,
                abi_version: Some(abi_version),
                descriptor,
            },
        )
    }

    fn loaded(&self) -> impl Iterator<Item = &Loaded> {
        self.slots.iter().filter_map(|s| match &s.state {
            SlotState::Loaded(l) => Some(&**l),
            SlotState::Failed { .. } => None,
        })
    }

    fn loaded_descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.loaded().map(|l| &l.descriptor)
    }

    /// One report per configured plugin, in configuration order.
    pub fn reports(&self) -> Vec<PluginReport> {
        self.slots
            .iter()
            .map(|s| {
                let changed_on_disk = match &s.state {
                    SlotState::Loaded(l) => verify::Stamp::of_target(&s.path) != Some(l.stamp),
                    SlotState::Failed { .. } => false,
                };
                let (descriptor, state, abi_version) = match &s.state {
                    SlotState::Loaded(l) => {
                        let state = match l.fault() {
                            Some(detail) => PluginState::Faulted { detail },
                            None => PluginState::Loaded,
                        };
                        (Some(&l.descriptor), state, Some(l.abi_version))
                    }
                    SlotState::Failed {
                        error,
                        abi_version,
                        descriptor,
                    } => (descriptor.as_ref(), PluginState::Failed(error.clone()), *abi_version),
                };
                PluginReport {
                    path: s.path.clone(),
                    name: descriptor.map(|d| d.name.clone()),
                    version: descriptor.map(|d| d.version.clone()),
                    state,
                    abi_version,
                    features: descriptor.map_or_else(Vec::new, |d| d.features.iter().map(|f| f.id.clone()).collect()),
                    sha256: s.sha256.clone(),
                    changed_on_disk,
                    isolated: s.isolation == settings::Isolation::Process,
                }
            })
            .collect()
    }

    /// The features plugins declare, for the gate. A faulted plugin's carry `PLUGIN_FAULTED`; a plugin refused after
    /// describing itself contributes its features with `PLUGIN_INCOMPATIBLE`, so the gate can say why they are hidden.
    pub fn features(&self) -> Vec<FeatureSpec> {
        let mut out = Vec::new();
        for slot in &self.slots {
            match &slot.state {
                SlotState::Loaded(l) => {
                    let fault = l.fault().map(|detail| Reason::PluginFaulted {
                        plugin: l.descriptor.name.as_str().into(),
                        detail: detail.into(),
                    });
                    for (f, requirements) in l.descriptor.features.iter().zip(&l.descriptor.requirements) {
                        out.push(FeatureSpec {
                            id: f.id.clone(),
                            title: f.title.clone(),
                            group: f.group.clone(),
                            requirements: requirements.clone(),
                            plugin: Some(l.descriptor.name.clone()),
                            fault: fault.clone(),
                        });
                    }
                }
                SlotState::Failed {
                    error,
                    descriptor: Some(d),
                    ..
                } => {
                    for f in self.incompatible_features(d) {
                        out.push(FeatureSpec {
                            id: f.id.clone(),
                            title: f.title.clone(),
                            group: f.group.clone(),
                            requirements: settings::Requirements::default(),
                            plugin: Some(d.name.clone()),
                            fault: Some(Reason::PluginIncompatible {
                                plugin: d.name.as_str().into(),
                                detail: error.to_string().into(),
                            }),
                        });
                    }
                }
                SlotState::Failed { descriptor: None, .. } => {}
            }
        }
        out
    }

    /// Features of a refused description that are worth showing: a usable id, once, and not a loaded plugin's.
    fn incompatible_features<'a>(&'a self, d: &'a Descriptor) -> impl Iterator<Item = &'a Feature> + 'a {
        let mut seen = std::collections::HashSet::new();
        d.features.iter().filter(move |f| {
            descriptor::valid_id(&f.id)
                && seen.insert(f.id.as_str())
                && !self
                    .loaded_descriptors()
                    .any(|o| o.features.iter().any(|g| g.id == f.id))
        })
    }

    /// Every WHM API 1 function plugins answer, with the feature that answers it (including faulted plugins', so the
    /// gate can explain why they are refused).
    pub fn api_functions(&self) -> Vec<(String, String)> {
        self.loaded()
            .flat_map(|l| l.descriptor.features.iter())
            .flat_map(|f| f.api_functions.iter().map(|func| (func.clone(), f.id.clone())))
            .collect()
    }

    /// The feature whose page lives at `path` (a trailing `/` is ignored).
    pub fn page_route(&self, path: &str) -> Option<String> {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        self.loaded()
            .flat_map(|l| l.descriptor.features.iter())
            .find(|f| !f.path.is_empty() && f.path == path)
            .map(|f| f.id.clone())
    }

    /// Everything a plugin declared about a feature: page, functions, deprecation.
    pub fn feature_info(&self, feature_id: &str) -> Option<Feature> {
        self.loaded()
            .flat_map(|l| l.descriptor.features.iter())
            .find(|f| f.id == feature_id)
            .cloned()
    }

    /// The name and configured path of the loaded plugin that provides `feature_id`.
    pub fn plugin_of(&self, feature_id: &str) -> Option<(&str, &Path)> {
        self.slots.iter().find_map(|s| match &s.state {
            SlotState::Loaded(l) if l.descriptor.features.iter().any(|f| f.id == feature_id) => {
                Some((l.descriptor.name.as_str(), s.path.as_path()))
            }
            _ => None,
        })
    }

    /// Marks the loaded plugin configured at `path` faulted with `detail`, as a running server recorded it, so what
    /// another process shows (`tweakgate explain`, `matrix`) says what that server does. No effect on anything else.
    pub fn mark_faulted(&self, path: &Path, detail: &str) {
        for slot in &self.slots {
            if let SlotState::Loaded(l) = &slot.state
                && slot.path == path
            {
                l.mark_faulted(detail.to_owned());
            }
        }
    }

    /// Serves one request with the plugin that provides `feature_id`; `host` answers the plugin's callbacks during
    /// the call.
    ///
    /// `feature_id` alone routes the call and is what the plugin receives as [`Request::feature`]: the `feature`
    /// field of `request` is ignored, so callers may leave it empty.
    /// The caller has already decided the user may use the feature; this refuses only what the host itself knows:
    /// an unknown feature or function, a plugin that failed to load or has faulted.
    /// A panic in the plugin faults it: this call and every later one fail, and its features carry `PLUGIN_FAULTED`.
    pub fn call(
        &self,
        feature_id: &str,
        request: &Request,
        host: &dyn HostCallbacks,
    ) -> Result<Response, PluginCallError> {
        let Some(loaded) = self
            .loaded()
            .find(|l| l.descriptor.features.iter().any(|f| f.id == feature_id))
        else {
            let refused = self.slots.iter().find_map(|s| match &s.state {
                SlotState::Failed {
                    error,
                    descriptor: Some(d),
                    ..
                } if d.features.iter().any(|f| f.id == feature_id) => Some((d.name.clone(), error.to_string())),
                _ => None,
            });
            return Err(match refused {
                Some((plugin, reason)) => PluginCallError::NotLoaded { plugin, reason },
                None => PluginCallError::UnknownFeature {
                    feature: feature_id.to_owned(),
                },
            });
        };
        let plugin = &loaded.descriptor.name;
        if let Some(detail) = loaded.fault() {
            return Err(PluginCallError::Faulted {
                plugin: plugin.clone(),
                detail,
            });
        }
        if let Target::Api { function } = &request.target {
            let feature = loaded.descriptor.features.iter().find(|f| f.id == feature_id);
            if !feature.is_some_and(|f| f.api_functions.iter().any(|g| g == function)) {
                return Err(PluginCallError::UnknownFunction {
                    feature: feature_id.to_owned(),
                    function: function.clone(),
                });
            }
        }
        let result = match &loaded.code {
            Code::InProcess { entry, .. } => call::invoke(entry, plugin, feature_id, request, host),
            Code::Process(worker) => worker.call(plugin, feature_id, request, host),
        };
        match &result {
            Err(PluginCallError::Panicked { message, .. }) => loaded.mark_faulted(format!("panicked: {message}")),
            Err(PluginCallError::ContractViolation { why, .. }) => loaded.mark_faulted(why.clone()),
            Err(PluginCallError::WorkerFailed { why, .. }) => loaded.mark_faulted(why.clone()),
            _ => {}
        }
        result
    }

    /// Whether the plugin providing `feature_id` runs in a worker process of its own; its calls then keep their own
    /// deadline (`call_timeout_ms`) and fail with [`PluginCallError::WorkerFailed`] past it.
    pub fn is_isolated(&self, feature_id: &str) -> bool {
        self.loaded()
            .find(|l| l.descriptor.features.iter().any(|f| f.id == feature_id))
            .is_some_and(|l| l.worker().is_some())
    }

    /// How long until the first faulted isolated plugin may have its worker started again ([`FIRST_BACKOFF`], doubled
    /// for each fault in a row, at most [`MAX_BACKOFF`]); `None` when no worker waits for a restart.
    pub fn restart_due(&self) -> Option<Duration> {
        self.loaded()
            .filter(|l| l.fault().is_some())
            .filter_map(|l| l.worker()?.restart_in())
            .min()
    }

    /// Starts again the worker of each faulted isolated plugin whose back-off has passed. A worker that describes the
    /// plugin as before serves again (its fault is cleared); one that does not start, or describes something else,
    /// stays faulted with why, and waits for the next, longer back-off. Answers the names of the plugins restarted:
    /// their features are served again once the gate is compiled anew.
    pub fn restart_workers(&self) -> Vec<String> {
        let mut restarted = Vec::new();
        for l in self.loaded() {
            let Some(worker) = l.worker() else { continue };
            if l.fault().is_none() || worker.restart_in() != Some(Duration::ZERO) {
                continue;
            }
            let mut fault = l.fault.lock().unwrap_or_else(|e| e.into_inner());
            match worker.restart() {
                Ok(d)
                    if d.name == l.descriptor.name
                        && d.version == l.descriptor.version
                        && d.features == l.descriptor.features =>
                {
                    *fault = None;
                    restarted.push(l.descriptor.name.clone());
                }
                Ok(_) => {
                    worker.stop();
                    *fault = Some("its restarted worker described the plugin differently; load it again".into());
                }
                Err(why) => *fault = Some(format!("its worker could not be started again: {why}")),
            }
        }
        restarted
    }
}

/// The SHA-256 of the file at `path` as it is now, in hex, for an administrator to pin (`[[plugins]] sha256`); `None`
/// when it cannot be read. Loading hashes every file it loads (its report carries the digest); listings call this for files not loaded.
pub fn sha256_of(path: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).ok()?;
    Some(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The sealed private copies libraries are loaded from, by the SHA-256 of their bytes, kept open until the process
/// exits.
///
/// glibc recognises an already-loaded library by the name it was opened under before it looks at the file, so a
/// `/proc/self/fd/N` name must never come to mean another file: the descriptor stays open as long as the mapping
/// (which is forever, see [`Loaded::library`]), and loading the same bytes again reuses the same name.
static MAPPED: Mutex<Vec<(String, std::fs::File)>> = Mutex::new(Vec::new());

/// A private, immutable copy of a checked library: a memfd holding exactly the bytes that were checked, sealed against
/// every change. Overwriting the file on disk in place (`cp`, `rsync --inplace`), truncating or replacing it then
/// changes nothing under the code that runs.
#[cfg(target_os = "linux")]
fn sealed_copy(bytes: &[u8]) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the name is a NUL-terminated literal and the flags are valid; the call returns a new descriptor or -1.
    let fd = unsafe {
        libc::memfd_create(
            c"tweakgate-plugin".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on a memfd this function created; no mapping of it exists yet.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn sealed_copy(_: &[u8]) -> std::io::Result<std::fs::File> {
    Err(std::io::Error::other("sealed copies need Linux"))
}

/// Maps the library from a sealed private copy of the bytes that were checked (on Linux), so what runs is what was
/// checked and nothing done to the file afterwards reaches it; elsewhere it loads the canonical path.
fn open_library(path: &Path, checked: verify::CheckedFile) -> Result<libloading::Library, LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    use std::os::fd::AsRawFd;

    let mut mapped = MAPPED.lock().unwrap_or_else(|e| e.into_inner());
    let known = mapped
        .iter()
        .find(|(sha256, _)| *sha256 == checked.sha256)
        .map(|(_, f)| f.as_raw_fd());
    let copy = match known {
        Some(_) => None,
        None if cfg!(target_os = "linux") => Some(sealed_copy(&checked.bytes).map_err(|e| LoadError::Unreadable {
            detail: format!(
                "{}: cannot make the sealed private copy the library is loaded from: {e}",
                path.display()
            ),
        })?),
        None => None,
    };
    let fd = known.or(copy.as_ref().map(AsRawFd::as_raw_fd));
    let target = match fd {
        Some(fd) => PathBuf::from(format!("/proc/self/fd/{fd}")),
        None => std::fs::canonicalize(path).map_err(|e| LoadError::Unreadable {
            detail: format!("{}: {e}", path.display()),
        })?,
    };
    // SAFETY: loading a library runs its initialisers. That is the point of a plugin; the bytes passed the ownership,
    // permission and pin checks above, and RTLD_NOW resolves every symbol now rather than failing later mid-call.
    let library = unsafe { Library::open(Some(target.as_os_str()), RTLD_NOW | RTLD_LOCAL) };
    match library {
        Ok(library) => {
            if let Some(copy) = copy {
                mapped.push((checked.sha256, copy));
            }
            Ok(library.into())
        }
        Err(e) => {
            let detail = match std::error::Error::source(&e) {
                Some(source) => source.to_string(),
                None => e.to_string(),
            };
            Err(LoadError::NotALibrary {
                detail: detail.replace(&*target.to_string_lossy(), &path.display().to_string()),
            })
        }
    }
}

/// The deadline of one call into an isolated plugin: its `call_timeout_ms`, or [`DEFAULT_CALL_TIMEOUT`].
fn budget_of(entry: &settings::PluginEntry) -> Duration {
    entry
        .call_timeout_ms
        .map_or(DEFAULT_CALL_TIMEOUT, Duration::from_millis)
}

/// Finds the entry, reads the version and only then the rest. The error carries the version when it was read.
fn read_entry(library: &libloading::Library) -> Result<(PluginEntry, u32), (LoadError, Option<u32>)> {
    // SAFETY: the symbol is looked up as an address (`*const c_void`), which is right whatever the library put there.
    let symbol = unsafe { library.get::<*const std::ffi::c_void>(ENTRY_SYMBOL) };
    let address = match symbol {
        Ok(s) => *s,
        Err(_) => return Err((LoadError::MissingSymbol, None)),
    };
    if address.is_null() {
        return Err((LoadError::MissingSymbol, None));
    }
    // SAFETY: the address of the library's `TWEAKGATE_PLUGIN`, non-null; the library is never unmapped.
    match unsafe { plugin_abi::drive::read_entry(address) } {
        Ok(read) => Ok(read),
        Err(plugin_abi::drive::Failure::Version { found }) => Err((
            LoadError::AbiMismatch {
                expected: ABI_VERSION,
                found,
            },
            Some(found),
        )),
        Err(other) => Err((LoadError::InvalidDescriptor { why: other.to_string() }, None)),
    }
}

/// The panel shares one host between request threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<PluginHost>();
};
