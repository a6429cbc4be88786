//! The plugin side of the boundary: the `extern "C"` functions [`export_plugin!`](crate::export_plugin) points the entry at.
//!
//! All of a plugin's `unsafe` lives here, once, so plugin crates stay safe Rust.
//! Every function catches panics: a panic unwinding out of an `extern "C"` function would abort the host.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::safe::{CallerKey, Host, HostCallbacks, Plugin, PluginInfo, Request, Response, Target, UserInfo};
use crate::types::{
    ABI_VERSION, AbiFeature, AbiParam, AbiPluginInfo, AbiRequest, AbiResponse, AbiSlice, AbiStr, AbiUserInfo, HostApi,
    LogLevel, PluginEntry, RequestKind, Requires, Status,
};

/// The entry static for plugin `P`; [`export_plugin!`](crate::export_plugin) puts it under [`ENTRY_SYMBOL`](crate::ENTRY_SYMBOL).
pub const fn entry<P: Plugin>() -> PluginEntry {
    PluginEntry {
        abi_version: ABI_VERSION,
        describe: Some(describe::<P>),
        free_info: Some(free_info),
        handle: Some(handle::<P>),
        free_response: Some(free_response),
    }
}

/// The text of a caught panic.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// A described plugin, kept alive behind `AbiPluginInfo::private` until `free_info`.
/// The `AbiStr`s point into the `String`s' heap buffers, which do not move when this struct does.
struct OwnedInfo {
    info: PluginInfo,
    error: String,
    features: Vec<AbiFeature>,
    lists: Vec<Vec<AbiStr>>,
    /// Every feature's API 0 functions, in one list as the ABI carries them.
    api0: Vec<String>,
}

fn strs(list: &[String], lists: &mut Vec<Vec<AbiStr>>) -> AbiSlice<AbiStr> {
    let v: Vec<AbiStr> = list.iter().map(|s| AbiStr::new(s)).collect();
    let slice = AbiSlice::new(&v);
    lists.push(v);
    slice
}

fn owned_info(info: PluginInfo, error: String) -> (AbiPluginInfo, Box<OwnedInfo>) {
    let mut owned = Box::new(OwnedInfo {
        info,
        error,
        features: Vec::new(),
        lists: Vec::new(),
        api0: Vec::new(),
    });
    let mut lists = Vec::new();
    let features: Vec<AbiFeature> = owned
        .info
        .features
        .iter()
        .map(|f| AbiFeature {
            id: AbiStr::new(&f.id),
            title: AbiStr::new(&f.title),
            group: AbiStr::new(&f.group),
            path: AbiStr::new(&f.path),
            any_of_acls: strs(&f.any_of_acls, &mut lists),
            all_settings_on: strs(&f.all_settings_on, &mut lists),
            deprecated_since: f.deprecation.as_ref().map_or(0, |d| d.since),
            requires: Requires(
                if f.root_only { Requires::ROOT.0 } else { 0 }
                    | if f.full_access { Requires::FULL_ACCESS.0 } else { 0 },
            ),
            replacement: f
                .deprecation
                .as_ref()
                .map_or(AbiStr::EMPTY, |d| AbiStr::new(&d.replacement)),
            api_functions: strs(&f.api_functions, &mut lists),
        })
        .collect();
    let api0: Vec<String> = owned
        .info
        .features
        .iter()
        .flat_map(|f| f.api0_functions.iter().cloned())
        .collect();
    owned.api0 = api0;
    let api0_functions = strs(&owned.api0, &mut lists);
    owned.features = features;
    owned.lists = lists;
    let view = AbiPluginInfo {
        name: AbiStr::new(&owned.info.name),
        version: AbiStr::new(&owned.info.version),
        features: AbiSlice::new(&owned.features),
        error: AbiStr::new(&owned.error),
        private: std::ptr::null_mut(),
        api0_functions,
    };
    (view, owned)
}

/// `describe` for plugin `P`.
///
/// # Safety
/// `out` must be null or valid for writing one [`AbiPluginInfo`].
pub unsafe extern "C" fn describe<P: Plugin>(out: *mut AbiPluginInfo) -> Status {
    if out.is_null() {
        return Status::INVALID_ARGUMENT;
    }
    let built = catch_unwind(|| {
        let (status, info, error) = match catch_unwind(P::describe) {
            Ok(info) => (Status::OK, info, String::new()),
            Err(payload) => (
                Status::PANICKED,
                PluginInfo::new("", ""),
                panic_message(payload.as_ref()),
            ),
        };
        let (view, owned) = owned_info(info, error);
        (status, view, owned)
    });
    let Ok((status, mut view, owned)) = built else {
        return Status::PANICKED;
    };
    view.private = Box::into_raw(owned).cast::<c_void>();
    // SAFETY: `out` is non-null and the caller promises it is valid for one write.
    unsafe { out.write(view) };
    status
}

/// Frees what [`describe`] wrote and empties it.
///
/// # Safety
/// `info` must be null, or point at an [`AbiPluginInfo`] that is empty or was filled by this library's `describe`
/// and not freed since.
pub unsafe extern "C" fn free_info(info: *mut AbiPluginInfo) {
    if info.is_null() {
        return;
    }
    // SAFETY: non-null, and the caller promises it points at an info this library wrote (or an empty one).
    let private = unsafe { (*info).private };
    if !private.is_null() {
        // SAFETY: `private` came from `Box::into_raw` in `describe` and is freed only here, once: we clear it below.
        drop(unsafe { Box::from_raw(private.cast::<OwnedInfo>()) });
    }
    // SAFETY: as above; no view into the freed data survives in `*info`.
    unsafe { info.write(AbiPluginInfo::EMPTY) };
}

/// A response kept alive behind `AbiResponse::private` until `free_response`.
struct OwnedResponse {
    content_type: String,
    body: Vec<u8>,
}

fn write_response(out: *mut AbiResponse, response: Response) {
    let owned = Box::new(OwnedResponse {
        content_type: response.content_type,
        body: response.body,
    });
    let mut view = AbiResponse {
        status: response.status,
        content_type: AbiStr::new(&owned.content_type),
        body: AbiStr::from_bytes(&owned.body),
        private: std::ptr::null_mut(),
    };
    view.private = Box::into_raw(owned).cast::<c_void>();
    // SAFETY: every caller checked `out` is non-null, and the host promises it is valid for one write.
    unsafe { out.write(view) };
}

/// Copies a host string; `what` names it in the error.
///
/// # Safety
/// As for [`AbiStr::as_bytes`].
unsafe fn text(s: AbiStr, what: &str) -> Result<String, String> {
    // SAFETY: forwarded to our caller.
    match unsafe { s.as_bytes() } {
        None => Err(format!("{what} has a null pointer")),
        Some(b) => String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8")),
    }
}

/// Copies a host path (raw bytes on Unix).
///
/// # Safety
/// As for [`AbiStr::as_bytes`].
unsafe fn path(s: AbiStr, what: &str) -> Result<PathBuf, String> {
    // SAFETY: forwarded to our caller.
    let bytes = unsafe { s.as_bytes() }.ok_or_else(|| format!("{what} has a null pointer"))?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        String::from_utf8(bytes.to_vec())
            .map(PathBuf::from)
            .map_err(|_| format!("{what} is not UTF-8"))
    }
}

/// # Safety
/// The strings in `u` must be valid as for [`AbiStr::as_bytes`].
unsafe fn user(u: &AbiUserInfo, what: &str) -> Result<UserInfo, String> {
    // SAFETY: forwarded to our caller, for each field.
    unsafe {
        // The field's label is written only for an error: a request's user is copied on every call.
        Ok(UserInfo {
            name: text(u.name, "name").map_err(|e| format!("{what} {e}"))?,
            kind: u.kind,
            has_all: u.has_all != 0,
            home: path(u.home, "home").map_err(|e| format!("{what} {e}"))?,
        })
    }
}

/// Copies a request out of host memory.
///
/// # Safety
/// Every pointer in `r` must be valid as the ABI documents, for the duration of this call.
unsafe fn request(r: &AbiRequest) -> Result<Request, String> {
    // SAFETY: forwarded to our caller, for each field.
    unsafe {
        let target = match r.kind {
            RequestKind::PAGE => Target::Page,
            RequestKind::API => Target::Api {
                function: text(r.function, "function")?,
            },
            other => return Err(format!("the request kind is {other}")),
        };
        let params = r
            .params
            .as_slice()
            .ok_or("params has a null pointer")?
            .iter()
            .map(|p| Ok((text(p.key, "a parameter name")?, text(p.value, "a parameter value")?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Request {
            feature: text(r.feature, "feature")?,
            target,
            user: user(&r.user, "user")?,
            source: text(r.source, "source")?,
            method: text(r.method, "method")?,
            path: text(r.path, "path")?,
            params,
            body: r.body.as_bytes().ok_or("body has a null pointer")?.to_vec(),
            security_token: text(r.security_token, "security_token")?,
            csrf_token: text(r.csrf_token, "csrf_token")?,
            full_access: r.full_access == 1,
        })
    }
}

/// The host's callbacks for one `handle` call.
struct AbiHost {
    api: Option<HostApi>,
}

impl HostCallbacks for AbiHost {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        let api = self.api?;
        let f = api.lookup_user?;
        let mut out = AbiUserInfo::EMPTY;
        // SAFETY: the host gave us `f` and `ctx` together for this call; `name` and `out` outlive it.
        let status = unsafe { f(api.ctx, AbiStr::new(name), &mut out) };
        if status != Status::OK {
            return None;
        }
        // SAFETY: the host promises what it wrote stays valid until `handle` returns, and we copy it now.
        unsafe { user(&out, "looked-up user") }.ok()
    }

    fn audit(&self, event_json: &str) -> Result<(), String> {
        let api = self.api.ok_or("the host offers no callbacks")?;
        let f = api.audit.ok_or("the host offers no audit log")?;
        // SAFETY: the host gave us `f` and `ctx` together for this call; the event outlives it.
        match unsafe { f(api.ctx, AbiStr::new(event_json)) } {
            Status::OK => Ok(()),
            status => Err(format!("the audit callback answered {status}")),
        }
    }

    fn call_api(&self, function: &str, params: &[(String, String)]) -> Result<String, String> {
        let api = self.api.ok_or("the host offers no callbacks")?;
        let f = api.call_api.ok_or("this host offers no WHM API to plugins")?;
        let pairs: Vec<AbiParam> = params
            .iter()
            .map(|(k, v)| AbiParam {
                key: AbiStr::new(k),
                value: AbiStr::new(v),
            })
            .collect();
        let mut out = AbiStr::EMPTY;
        // SAFETY: the host gave us `f` and `ctx` together for this call; the name, the pairs and `out` outlive it.
        let status = unsafe { f(api.ctx, AbiStr::new(function), AbiSlice::new(&pairs), &mut out) };
        // SAFETY: the host promises what it wrote stays valid until `handle` returns, and we copy it now.
        let text = unsafe { out.as_str() }.map(str::to_owned);
        match status {
            Status::OK => text.ok_or_else(|| "the host answered with a null or non-UTF-8 string".into()),
            Status::NOT_FOUND => Err(format!("the host does not let plugins call {function}")),
            other => Err(text.unwrap_or_else(|| format!("the host answered {other}"))),
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(api) = self.api
            && let Some(f) = api.log
        {
            // SAFETY: the host gave us `f` and `ctx` together for this call; the message outlives it.
            unsafe { f(api.ctx, level, AbiStr::new(message)) }
        }
    }

    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        use zeroize::Zeroize as _;
        // A version 5 plugin is only ever called by a host of version 5 or later (earlier hosts refuse it), whose
        // `HostApi` has this field.
        let Some((api, f)) = self.api.and_then(|api| Some((api, api.caller_key?))) else {
            return answer(CallerKey::NotOffered);
        };
        // A key as WHM writes it (960 digits) fits on the stack; a longer one gets a buffer of its size.
        let mut small = [0u8; 1024];
        let mut large: Vec<u8> = Vec::new();
        let mut len = 0usize;
        // SAFETY: the host gave us `f` and `ctx` together for this call; the buffer is writable for its length and
        // `len` for one `usize`.
        let mut status = unsafe { f(api.ctx, small.as_mut_ptr(), small.len(), &mut len) };
        if status == Status::INVALID_ARGUMENT && len > small.len() && len <= MAX_KEY_ANSWER {
            large = vec![0u8; len];
            // SAFETY: as above, with the larger buffer.
            status = unsafe { f(api.ctx, large.as_mut_ptr(), large.len(), &mut len) };
        }
        let buf: &[u8] = if large.is_empty() { &small } else { &large };
        let got = &buf[..len.min(buf.len())];
        match status {
            Status::OK => match std::str::from_utf8(got) {
                Ok(key) => answer(CallerKey::Key(key)),
                Err(_) => answer(CallerKey::Refused("the host's answer is not text")),
            },
            Status::NOT_FOUND => answer(CallerKey::NoKey),
            Status::ERROR => answer(CallerKey::Refused(&String::from_utf8_lossy(got))),
            Status::UNSUPPORTED => answer(CallerKey::NotOffered),
            other => answer(CallerKey::Refused(&format!("the host answered {other}"))),
        }
        small.as_mut_slice().zeroize();
        large.as_mut_slice().zeroize();
    }
}

/// The longest key a plugin takes from the host: as long as a key file may be.
const MAX_KEY_ANSWER: usize = 64 * 1024;

/// `handle` for plugin `P`.
///
/// # Safety
/// `request` must be null or point at a valid [`AbiRequest`]; `host` null or a valid [`HostApi`];
/// `out` null or valid for writing one [`AbiResponse`]; all for the duration of the call.
pub unsafe extern "C" fn handle<P: Plugin>(
    request: *const AbiRequest,
    host: *const HostApi,
    out: *mut AbiResponse,
) -> Status {
    if out.is_null() {
        return Status::INVALID_ARGUMENT;
    }
    let served = catch_unwind(AssertUnwindSafe(|| {
        if request.is_null() {
            return (
                Status::INVALID_ARGUMENT,
                Response::text(500, "the request pointer is null"),
            );
        }
        // SAFETY: non-null, and the host promises a valid request for this call.
        let req = match unsafe { self::request(&*request) } {
            Ok(r) => r,
            Err(why) => return (Status::INVALID_ARGUMENT, Response::text(500, why)),
        };
        // SAFETY: null, or a valid `HostApi` for this call; we copy it (it is plain data).
        let api = unsafe { host.as_ref() }.copied();
        let callbacks = AbiHost { api };
        let host = Host::new(&callbacks);
        match catch_unwind(AssertUnwindSafe(|| P::handle(&req, &host))) {
            Ok(Ok(response)) => (Status::OK, response),
            Ok(Err(e)) => (Status::ERROR, Response::text(500, e.to_string())),
            Err(payload) => (Status::PANICKED, Response::text(500, panic_message(payload.as_ref()))),
        }
    }));
    let (status, response) =
        served.unwrap_or_else(|payload| (Status::PANICKED, Response::text(500, panic_message(payload.as_ref()))));
    if catch_unwind(AssertUnwindSafe(|| write_response(out, response))).is_err() {
        return Status::PANICKED;
    }
    status
}

/// Frees what [`handle`] wrote and empties it.
///
/// # Safety
/// `response` must be null, or point at an [`AbiResponse`] that is empty or was filled by this library's `handle`
/// and not freed since.
pub unsafe extern "C" fn free_response(response: *mut AbiResponse) {
    if response.is_null() {
        return;
    }
    // SAFETY: non-null, and the caller promises it points at a response this library wrote (or an empty one).
    let private = unsafe { (*response).private };
    if !private.is_null() {
        // SAFETY: `private` came from `Box::into_raw` in `write_response` and is freed only here, once.
        drop(unsafe { Box::from_raw(private.cast::<OwnedResponse>()) });
    }
    // SAFETY: as above.
    unsafe { response.write(AbiResponse::EMPTY) };
}
