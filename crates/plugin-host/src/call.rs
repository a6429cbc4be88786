//! One call into a plugin: the caller's [`Request`] and [`HostCallbacks`] turned into ABI data, the plugin's answer
//! copied back and freed by the plugin, and its status turned into a typed result.

use std::ffi::c_void;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use plugin_abi::{
    AbiParam, AbiRequest, AbiResponse, AbiSlice, AbiStr, AbiUserInfo, HostApi, HostCallbacks, LogLevel, PluginEntry,
    Request, RequestKind, Response, Status, Target, UserInfo,
};

use crate::error::PluginCallError;

fn abi_user(u: &UserInfo) -> AbiUserInfo {
    AbiUserInfo {
        name: AbiStr::new(&u.name),
        kind: u.kind,
        has_all: u8::from(u.has_all),
        home: AbiStr::from_bytes(u.home.as_os_str().as_bytes()),
    }
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

/// Calls the plugin's `handle` for `feature` (which replaces `request.feature`) and copies its answer.
/// `plugin` names it in errors.
pub(crate) fn invoke(
    entry: &PluginEntry,
    plugin: &str,
    feature: &str,
    request: &Request,
    services: &dyn HostCallbacks,
) -> Result<Response, PluginCallError> {
    let violation = |why: &str| PluginCallError::ContractViolation {
        plugin: plugin.to_owned(),
        why: why.to_owned(),
    };
    let (Some(handle), Some(free_response)) = (entry.handle, entry.free_response) else {
        return Err(violation("the entry has no handle or free_response function"));
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
    };
    let mut out = AbiResponse::EMPTY;
    // SAFETY: the entry matches our ABI version; the request, host API and everything they point at live until this
    // returns, and `out` is writable. Plugins catch their own panics, so nothing unwinds out of this call.
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
        return Err(violation("the response has a null pointer with a non-zero length"));
    };
    let message = || String::from_utf8_lossy(&body).into_owned();
    match status {
        Status::OK if (100..=599).contains(&code) => Ok(Response {
            status: code,
            content_type,
            body,
        }),
        Status::OK => Err(violation(&format!("the response has HTTP status {code}"))),
        Status::PANICKED => Err(PluginCallError::Panicked {
            plugin: plugin.to_owned(),
            message: message(),
        }),
        other => Err(PluginCallError::Failed {
            plugin: plugin.to_owned(),
            status: other.to_string(),
            message: message(),
        }),
    }
}
