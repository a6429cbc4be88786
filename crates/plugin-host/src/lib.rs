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

mod call;
mod descriptor;
mod error;
mod verify;

use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use plugin_abi::{ABI_VERSION, ENTRY_SYMBOL, Feature, HostCallbacks, PluginEntry, Request, Response, Target};
use settings::{FeatureSpec, Reason};

pub use error::{LoadError, PluginCallError};

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

/// A plugin whose library is mapped and whose description passed validation.
struct Loaded {
    descriptor: Descriptor,
    entry: PluginEntry,
    /// The ABI version the plugin was built for (from `MIN_ABI_VERSION` to `ABI_VERSION`).
    abi_version: u32,
    faulted: AtomicBool,
    fault_detail: OnceLock<String>,
    /// The version of the file that was loaded.
    stamp: verify::Stamp,
    /// Declared last so that, were it ever dropped, everything that may point into the library goes first.
    /// It is never dropped: a plugin may leave code running after a call returns (threads it spawned, thread-local
    /// destructors, a panic hook), and unmapping a Rust `cdylib` under such code crashes the process.
    /// So each library stays mapped until the process exits; loading the same file again reuses the mapping.
    library: ManuallyDrop<libloading::Library>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("plugin", &self.descriptor.name)
            .field("faulted", &self.faulted.load(Ordering::Relaxed))
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    fn fault(&self) -> Option<&str> {
        if self.faulted.load(Ordering::Acquire) {
            Some(self.fault_detail.get().map_or("faulted", String::as_str))
        } else {
            None
        }
    }

    fn mark_faulted(&self, detail: String) {
        let _ = self.fault_detail.set(detail);
        self.faulted.store(true, Ordering::Release);
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
                SlotState::Loaded(l) if s.path.components().eq(entry.path.components()) && s.pin == entry.sha256 => {
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
                    sha256: slot.sha256.clone(),
                    state,
                });
                continue;
            }
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                host.load_one(&entry.path, entry.sha256.as_deref(), check)
            }));
            let slot = loaded.unwrap_or_else(|payload| Slot {
                path: entry.path.clone(),
                pin: entry.sha256.clone(),
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

    fn load_one(&self, path: &Path, pin: Option<&str>, check: HostCheck<'_>) -> Slot {
        let fail = |error, sha256| Slot {
            path: path.to_owned(),
            pin: pin.map(str::to_owned),
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
        let library = match open_library(path, checked) {
            Ok(l) => l,
            Err(e) => return fail(e, sha256),
        };
        let (entry, abi_version) = match read_entry(&library) {
            Ok(e) => e,
            Err((e, found)) => {
                // The library is mapped and its initialisers have run; it is kept mapped for the reason given on `Loaded`.
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
                    return Slot {
                        path: path.to_owned(),
                        pin: pin.map(str::to_owned),
                        sha256,
                        state: SlotState::Loaded(Arc::new(Loaded {
                            descriptor,
                            entry,
                            abi_version,
                            faulted: AtomicBool::new(false),
                            fault_detail: OnceLock::new(),
                            stamp,
                            library: ManuallyDrop::new(library),
                        })),
                    };
                }
                Err(e) => (e, Some(descriptor)),
            },
            Err(e) => (e, None),
        };
        // Refused after its initialisers ran: kept mapped for the reason given on `Loaded::library`.
        std::mem::forget(library);
        Slot {
            path: path.to_owned(),
            pin: pin.map(str::to_owned),
            sha256,
            state: SlotState::Failed {
                error,
                abi_version: Some(abi_version),
                descriptor,
            },
        }
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
                            Some(detail) => PluginState::Faulted {
                                detail: detail.to_owned(),
                            },
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
                detail: detail.to_owned(),
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
        let result = call::invoke(&loaded.entry, plugin, feature_id, request, host);
        match &result {
            Err(PluginCallError::Panicked { message, .. }) => loaded.mark_faulted(format!("panicked: {message}")),
            Err(PluginCallError::ContractViolation { why, .. }) => loaded.mark_faulted(why.clone()),
            _ => {}
        }
        result
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
    // SAFETY: every ABI version promises a `u32` version as the first field of the entry, so these 4 bytes are the
    // version whatever follows; read unaligned so a hand-made symbol cannot make this read undefined.
    let found = unsafe { address.cast::<u32>().read_unaligned() };
    if !(plugin_abi::MIN_ABI_VERSION..=ABI_VERSION).contains(&found) {
        return Err((
            LoadError::AbiMismatch {
                expected: ABI_VERSION,
                found,
            },
            Some(found),
        ));
    }
    // SAFETY: the version is one whose `PluginEntry` has this layout, so the symbol is a `PluginEntry` of this ABI: a u32 and four optional function
    // pointers, for which any non-null or null value is valid. It is copied out; the library stays mapped.
    let entry = unsafe { address.cast::<PluginEntry>().read_unaligned() };
    Ok((entry, found))
}

/// The panel shares one host between request threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<PluginHost>();
};
