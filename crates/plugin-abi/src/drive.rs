//! The host's side of the boundary, written once: reading an entry's version before anything else, copying a plugin's
//! description out of it, and serving one request through it. `plugin-host` drives every plugin it loads with these
//! functions, and so does the authors' kit (`plugin_abi::testing`, feature `testing`), so a plugin's own tests call
//! it exactly as the panel does.
//!
//! Loading the library (and the checks the panel makes on the file first) stays in `plugin-host`.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use crate::safe::{CallerKey, Deprecation, Feature, HostCallbacks, PluginInfo, Request, Response, Target, UserInfo};
use crate::types::{
    ABI_VERSION, AbiParam, AbiPluginInfo, AbiRequest, AbiResponse, AbiSlice, AbiStr, AbiUserInfo, HostApi, LogLevel,
    MIN_ABI_VERSION, PluginEntry, RequestKind, Requires, Status,
};

/// Why a plugin's entry, description or answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The entry's version is outside `MIN_ABI_VERSION..=ABI_VERSION`.
    Version { found: u32 },
    /// The plugin panicked (caught at its side of the boundary); its message.
    Panicked(String),
    /// `handle` answered an error status with this message (an `Err` from [`crate::Plugin::handle`]).
    Failed { status: Status, message: String },
    /// The plugin broke the contract: a missing function, a null pointer, a bad status, a description not as the ABI
    /// says.
    Contract(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Version { found } => write!(
                f,
                "plugin ABI version {found} is not one this plugin-abi drives ({MIN_ABI_VERSION} to {ABI_VERSION})"
            ),
            Failure::Panicked(m) => write!(f, "the plugin panicked: {m}"),
            Failure::Failed { status, message } => write!(f, "the plugin failed ({status}): {message}"),
            Failure::Contract(why) => write!(f, "the plugin broke the ABI contract: {why}"),
        }
    }
}

impl std::error::Error for Failure {}

/// Reads the entry at the address of a plugin's `TWEAKGATE_PLUGIN` symbol: the version first, and the rest only when
/// the version is one this crate drives. Answers the entry and the plugin's version.
///
/// # Safety
/// `address` must be the non-null address of a library's `TWEAKGATE_PLUGIN` symbol, which stays mapped.
pub unsafe fn read_entry(address: *const c_void) -> Result<(PluginEntry, u32), Failure> {
    // SAFETY: every ABI version promises a `u32` version as the first field of the entry, so these 4 bytes are the
    // version whatever follows; read unaligned so a hand-made symbol cannot make this read undefined.
    let found = unsafe { address.cast::<u32>().read_unaligned() };
    if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&found) {
        return Err(Failure::Version { found });
    }
    // SAFETY: the version is one whose `PluginEntry` has this layout: a u32 and four optional function pointers, for
    // which any non-null or null value is valid. It is copied out; the library stays mapped, as our caller promises.
    let entry = unsafe { address.cast::<PluginEntry>().read_unaligned() };
    Ok((entry, found))
}

/// # Safety
/// As for [`AbiStr::as_bytes`].
unsafe fn text(s: AbiStr, what: &str) -> Result<String, Failure> {
    // SAFETY: forwarded to our caller.
    let bytes = unsafe { s.as_bytes() }.ok_or_else(|| Failure::Contract(format!("{what} has a null pointer")))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Failure::Contract(format!("{what} is not UTF-8")))
}

/// # Safety
/// `list` and every string in it must be valid as the ABI documents.
unsafe fn texts(list: AbiSlice<AbiStr>, what: &str) -> Result<Vec<String>, Failure> {
    // SAFETY: forwarded to our caller.
    let items = unsafe { list.as_slice() }.ok_or_else(|| Failure::Contract(format!("{what} has a null pointer")))?;
    // SAFETY: forwarded to our caller.
    items.iter().map(|s| unsafe { text(*s, what) }).collect()
}

/// # Safety
/// `info` must be what the plugin's `describe` wrote and has not yet freed.
/// `abi_version` is the plugin's: fields added since its version are not read.
unsafe fn copy(info: &AbiPluginInfo, abi_version: u32) -> Result<PluginInfo, Failure> {
    // SAFETY: forwarded to our caller, for every field.
    unsafe {
        let name = text(info.name, "the plugin name")?;
        let mut features = info
            .features
            .as_slice()
            .ok_or_else(|| Failure::Contract("the feature list has a null pointer".into()))?
            .iter()
            .map(|f| {
                let requires = if abi_version >= 3 {
                    f.requires
                } else {
                    Requires::NOTHING
                };
                if requires.0 & !Requires::KNOWN.0 != 0 {
                    return Err(Failure::Contract(format!(
                        "feature requirement bits {:#x} are unknown to this host",
                        requires.0 & !Requires::KNOWN.0
                    )));
                }
                Ok(Feature {
                    id: text(f.id, "a feature id")?,
                    title: text(f.title, "a feature title")?,
                    group: text(f.group, "a feature group")?,
                    path: text(f.path, "a feature path")?,
                    any_of_acls: texts(f.any_of_acls, "an ACL name")?,
                    all_settings_on: texts(f.all_settings_on, "a setting name")?,
                    deprecation: match f.deprecated_since {
                        0 => None,
                        since => Some(Deprecation {
                            since,
                            replacement: text(f.replacement, "a replacement title")?,
                        }),
                    },
                    api_functions: texts(f.api_functions, "an API function name")?,
                    api0_functions: Vec::new(),
                    root_only: requires.has(Requires::ROOT),
                    full_access: requires.has(Requires::FULL_ACCESS),
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let api0 = if abi_version >= 4 {
            texts(info.api0_functions, "an API 0 function name")?
        } else {
            Vec::new()
        };
        for function in api0 {
            let Some(f) = features.iter_mut().find(|f| f.api_functions.contains(&function)) else {
                return Err(Failure::Contract(format!(
                    "the API 0 function \"{}\" is not one of the plugin's API functions",
                    function.escape_debug()
                )));
            };
            if !f.api0_functions.contains(&function) {
                f.api0_functions.push(function);
            }
        }
        Ok(PluginInfo {
            version: text(info.version, "the plugin version")?,
            name,
            features,
        })
    }
}

/// Asks the plugin to describe itself and copies the answer, freeing the plugin's memory through the plugin.
/// A panic in `describe` is [`Failure::Panicked`]; anything else wrong is [`Failure::Contract`].
///
/// # Safety
/// `entry` must come from [`read_entry`] with `abi_version`, and its library must stay mapped.
pub unsafe fn describe(entry: &PluginEntry, abi_version: u32) -> Result<PluginInfo, Failure> {
    let contract = |why: &str| Failure::Contract(why.to_owned());
    let describe = entry
        .describe
        .ok_or_else(|| contract("the entry has no describe function"))?;
    let free_info = entry
        .free_info
        .ok_or_else(|| contract("the entry has no free_info function"))?;
    if entry.handle.is_none() || entry.free_response.is_none() {
        return Err(contract("the entry has no handle or free_response function"));
    }
    // Zeroed, so a plugin of an earlier version, which writes a shorter struct, leaves the newer fields empty.
    let mut info = AbiPluginInfo::EMPTY;
    // SAFETY: the entry is of a version this crate drives, so `describe` takes a writable `AbiPluginInfo` (of this size
    // or a prefix of it). A panic cannot unwind out of it (plugins catch their own); this guard only keeps a panic on
    // our side of the copy from skipping the free.
    let status = unsafe { describe(&mut info) };
    let copied = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `describe` filled `info` and the plugin owns it until `free_info` below.
        let error = unsafe { text(info.error, "the describe error") }.unwrap_or_default();
        match status {
            // SAFETY: as above.
            Status::OK => unsafe { copy(&info, abi_version) },
            Status::PANICKED => Err(Failure::Panicked(error)),
            other => Err(Failure::Contract(format!("describe answered {other}: {error}"))),
        }
    }));
    // SAFETY: `info` was written by this library's `describe` and is freed exactly once.
    unsafe { free_info(&mut info) };
    copied.unwrap_or_else(|_| Err(contract("the description could not be read")))
}

fn abi_user(u: &UserInfo) -> AbiUserInfo {
    AbiUserInfo {
        name: AbiStr::new(&u.name),
        kind: u.kind,
        has_all: u8::from(u.has_all),
        home: AbiStr::from_bytes(path_bytes(&u.home)),
    }
}

#[cfg(unix)]
fn path_bytes(p: &std::path::Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

#[cfg(not(unix))]
fn path_bytes(p: &std::path::Path) -> &[u8] {
    p.to_str().unwrap_or_default().as_bytes()
}

/// The host's side of one call, behind `HostApi::ctx`.
struct CallCtx<'a> {
    services: &'a dyn HostCallbacks,
    /// Users handed to the plugin: their strings' heap buffers must stay put until the call returns, and do even when
    /// the vector moves the `UserInfo`s themselves.
    users: Mutex<Vec<UserInfo>>,
    /// API answers handed to the plugin, kept (and never moved in the heap) until the call returns.
    answers: Mutex<Vec<String>>,
}

/// # Safety
/// `ctx` must be the `CallCtx` of a call in progress.
unsafe fn ctx<'a>(ctx: *mut c_void) -> Option<&'a CallCtx<'a>> {
    // SAFETY: forwarded to our caller; null is refused.
    unsafe { ctx.cast::<CallCtx<'a>>().as_ref() }
}

unsafe extern "C" fn host_call_api(
    ctx_ptr: *mut c_void,
    function: AbiStr,
    params: AbiSlice<AbiParam>,
    out: *mut AbiStr,
) -> Status {
    if out.is_null() {
        return Status::INVALID_ARGUMENT;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: we gave the plugin this ctx for the call in progress.
        let Some(ctx) = (unsafe { ctx(ctx_ptr) }) else {
            return Status::INVALID_ARGUMENT;
        };
        // SAFETY: the plugin passes a string valid for this call.
        let Some(function) = (unsafe { function.as_str() }) else {
            return Status::INVALID_ARGUMENT;
        };
        // SAFETY: the plugin passes a slice valid for this call.
        let Some(pairs) = (unsafe { params.as_slice() }) else {
            return Status::INVALID_ARGUMENT;
        };
        let mut owned = Vec::with_capacity(pairs.len());
        for p in pairs {
            // SAFETY: every string of the slice is valid for this call, as the ABI promises.
            let (Some(k), Some(v)) = (unsafe { p.key.as_str() }, unsafe { p.value.as_str() }) else {
                return Status::INVALID_ARGUMENT;
            };
            owned.push((k.to_owned(), v.to_owned()));
        }
        let (status, text) = match ctx.services.call_api(function, &owned) {
            Ok(answer) => (Status::OK, answer),
            Err(why) => (Status::NOT_FOUND, why),
        };
        let mut answers = ctx.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.push(text);
        let kept = answers.last().map_or(AbiStr::EMPTY, |t| AbiStr::new(t));
        // SAFETY: `out` is non-null and the plugin passes it for writing; the string lives in `ctx.answers` until the
        // call returns, as the ABI promises.
        unsafe { out.write(kept) };
        status
    }))
    .unwrap_or(Status::PANICKED)
}

unsafe extern "C" fn host_caller_key(ctx_ptr: *mut c_void, buf: *mut u8, cap: usize, len: *mut usize) -> Status {
    if len.is_null() || (buf.is_null() && cap > 0) {
        return Status::INVALID_ARGUMENT;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: we gave the plugin this ctx for the call in progress.
        let Some(ctx) = (unsafe { ctx(ctx_ptr) }) else {
            return Status::INVALID_ARGUMENT;
        };
        let mut status = Status::UNSUPPORTED;
        ctx.services.caller_key(&mut |answer| {
            let (answered, bytes) = match answer {
                CallerKey::NotOffered => (Status::UNSUPPORTED, &[][..]),
                CallerKey::NoKey => (Status::NOT_FOUND, &[][..]),
                CallerKey::Key(key) => (Status::OK, key.as_bytes()),
                CallerKey::Refused(why) => (Status::ERROR, why.as_bytes()),
            };
            if answered == Status::OK && bytes.len() > cap {
                // SAFETY: `len` is non-null and the plugin passes it for writing one `usize`.
                unsafe { len.write(bytes.len()) };
                status = Status::INVALID_ARGUMENT;
                return;
            }
            // A reason longer than the buffer is cut; a key is whole or not given.
            let n = bytes.len().min(cap);
            if n > 0 {
                // SAFETY: `buf` is non-null (cap > 0) and the plugin passes it writable for `cap` bytes; `n <= cap`,
                // and the bytes are ours, so the two do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, n) };
            }
            // SAFETY: as above.
            unsafe { len.write(n) };
            status = answered;
        });
        status
    }))
    .unwrap_or(Status::PANICKED)
}

unsafe extern "C" fn host_lookup_user(ctx_ptr: *mut c_void, name: AbiStr, out: *mut AbiUserInfo) -> Status {
    if out.is_null() {
        return Status::INVALID_ARGUMENT;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: we gave the plugin this ctx for the call in progress.
        let Some(ctx) = (unsafe { ctx(ctx_ptr) }) else {
            return Status::INVALID_ARGUMENT;
        };
        // SAFETY: the plugin passes a string valid for this call.
        let Some(name) = (unsafe { name.as_str() }) else {
            return Status::INVALID_ARGUMENT;
        };
        let Some(user) = ctx.services.lookup_user(name) else {
            return Status::NOT_FOUND;
        };
        let view = abi_user(&user);
        ctx.users.lock().unwrap_or_else(|e| e.into_inner()).push(user);
        // SAFETY: `out` is non-null and the plugin passes it for writing; the strings live in `ctx.users` until the
        // call returns, as the ABI promises.
        unsafe { out.write(view) };
        Status::OK
    }))
    .unwrap_or(Status::PANICKED)
}

unsafe extern "C" fn host_audit(ctx_ptr: *mut c_void, event: AbiStr) -> Status {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: we gave the plugin this ctx for the call in progress.
        let Some(ctx) = (unsafe { ctx(ctx_ptr) }) else {
            return Status::INVALID_ARGUMENT;
        };
        // SAFETY: the plugin passes a string valid for this call.
        let Some(event) = (unsafe { event.as_str() }) else {
            return Status::INVALID_ARGUMENT;
        };
        match ctx.services.audit(event) {
            Ok(()) => Status::OK,
            Err(why) => {
                ctx.services.log(
                    LogLevel::ERROR,
                    &format!("a plugin's audit event was not recorded: {why}"),
                );
                Status::ERROR
            }
        }
    }))
    .unwrap_or(Status::PANICKED)
}

unsafe extern "C" fn host_log(ctx_ptr: *mut c_void, level: LogLevel, message: AbiStr) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: we gave the plugin this ctx for the call in progress.
        if let Some(ctx) = unsafe { ctx(ctx_ptr) } {
            // SAFETY: the plugin passes a string valid for this call.
            let message = unsafe { message.as_bytes() }
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            ctx.services.log(level, &message);
        }
    }));
}

/// Calls the plugin's `handle` for `feature` (which replaces `request.feature`) with `services` answering its
/// callbacks, and copies its answer.
///
/// # Safety
/// `entry` must come from [`read_entry`], and its library must stay mapped.
pub unsafe fn invoke(
    entry: &PluginEntry,
    feature: &str,
    request: &Request,
    services: &dyn HostCallbacks,
) -> Result<Response, Failure> {
    let contract = |why: &str| Failure::Contract(why.to_owned());
    let (Some(handle), Some(free_response)) = (entry.handle, entry.free_response) else {
        return Err(contract("the entry has no handle or free_response function"));
    };
    let params: Vec<AbiParam> = request
        .params
        .iter()
        .map(|(k, v)| AbiParam {
            key: AbiStr::new(k),
            value: AbiStr::new(v),
        })
        .collect();
    let (kind, function) = match &request.target {
        Target::Page => (RequestKind::PAGE, ""),
        Target::Api { function } => (RequestKind::API, function.as_str()),
    };
    let abi_request = AbiRequest {
        feature: AbiStr::new(feature),
        kind,
        function: AbiStr::new(function),
        user: abi_user(&request.user),
        source: AbiStr::new(&request.source),
        method: AbiStr::new(&request.method),
        path: AbiStr::new(&request.path),
        params: AbiSlice::new(&params),
        body: AbiStr::from_bytes(&request.body),
        security_token: AbiStr::new(&request.security_token),
        csrf_token: AbiStr::new(&request.csrf_token),
        full_access: u8::from(request.full_access),
    };
    let call_ctx = CallCtx {
        services,
        users: Mutex::new(Vec::new()),
        answers: Mutex::new(Vec::new()),
    };
    let host = HostApi {
        ctx: std::ptr::from_ref(&call_ctx).cast_mut().cast(),
        lookup_user: Some(host_lookup_user),
        audit: Some(host_audit),
        log: Some(host_log),
        call_api: Some(host_call_api),
        caller_key: Some(host_caller_key),
    };
    let mut out = AbiResponse::EMPTY;
    // SAFETY: the entry is of a version this crate drives; the request, host API and everything they point at live
    // until this returns, and `out` is writable. Plugins catch their own panics, so nothing unwinds out of this call.
    let status = unsafe { handle(&abi_request, &host, &mut out) };
    // SAFETY: `out` is what the plugin wrote (or still empty), and it owns the memory until `free_response` below.
    let content_type = unsafe { out.content_type.as_bytes() }.map(|b| String::from_utf8_lossy(b).into_owned());
    // SAFETY: as above.
    let body = unsafe { out.body.as_bytes() }.map(<[u8]>::to_vec);
    let code = out.status;
    // SAFETY: `out` came from this plugin's `handle` and is freed exactly once.
    unsafe { free_response(&mut out) };
    drop(call_ctx);

    let (Some(content_type), Some(body)) = (content_type, body) else {
        return Err(contract("the response has a null pointer with a non-zero length"));
    };
    let message = || String::from_utf8_lossy(&body).into_owned();
    match status {
        Status::OK if (100..=599).contains(&code) => Ok(Response {
            status: code,
            content_type,
            body,
        }),
        Status::OK => Err(Failure::Contract(format!("the response has HTTP status {code}"))),
        Status::PANICKED => Err(Failure::Panicked(message())),
        other => Err(Failure::Failed {
            status: other,
            message: message(),
        }),
    }
}
