//! The binary contract between Tweakgate and its plugins, and the safe Rust API plugin authors write against.
//!
//! A plugin is a `cdylib` that exports one static, [`ENTRY_SYMBOL`] (`TWEAKGATE_PLUGIN`), of type [`PluginEntry`].
//! Its first field is [`ABI_VERSION`]; the host reads those 4 bytes and refuses a mismatch before it touches anything else.
//! Only `#[repr(C)]` data crosses: strings as pointer plus length, numbers, and integer newtypes for enumerations.
//! The side that allocates frees: a plugin's description and responses go back through its own `free_info` and `free_response`.
//!
//! Plugin authors implement [`Plugin`] and write `plugin_abi::export_plugin!(MyPlugin);`.
//! All the `unsafe` is in this crate; a plugin crate can declare `#![forbid(unsafe_code)]`:
//!
//! ```ignore
//! #![forbid(unsafe_code)]
//! use plugin_abi::{Error, Feature, Host, Plugin, PluginInfo, Request, Response};
//!
//! pub struct Hello;
//!
//! impl Plugin for Hello {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("hello", env!("CARGO_PKG_VERSION"))
//!             .feature(Feature::new("hello", "Hello", "Plugins").page("/hello").api_function("hello"))
//!     }
//!
//!     fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error> {
//!         host.info("saying hello");
//!         Ok(Response::json(200, &serde_json::json!({ "hello": request.user.name })))
//!     }
//! }
//!
//! plugin_abi::export_plugin!(Hello);
//! ```
//!
//! Why `forbid` works: the macro's one unsafe item, `#[unsafe(no_mangle)]` on the entry static, comes from this crate's
//! macro, and rustc does not report the `unsafe_code` lint inside expansions of another crate's `macro_rules!`.
//! The fixtures in `tests/fixtures` declare `#![forbid(unsafe_code)]`, so a compiler that changes this fails the build loudly.
//! The attribute is sound here because the symbol name is Tweakgate's own and a plugin library exports it once.

pub mod drive;
mod export;
mod safe;
#[cfg(feature = "testing")]
pub mod testing;
mod types;
pub mod whm;

pub use safe::{
    AuditFailed, CallerKey, Deprecation, Error, Feature, Host, HostCallbacks, Plugin, PluginInfo, Request, Response,
    Target, UserInfo, parse_bool,
};
pub use types::{
    ABI_VERSION, AbiBytes, AbiFeature, AbiParam, AbiPluginInfo, AbiRequest, AbiResponse, AbiSlice, AbiStr, AbiUserInfo,
    ENTRY_SYMBOL, HostApi, LogLevel, MIN_ABI_VERSION, PluginEntry, RequestKind, Requires, Status, UserKind,
};

/// The glue [`export_plugin!`] expands to. Not a stable API; `panic_message` is shared with the host.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{describe, entry, free_info, free_response, handle, panic_message};
}

/// In a plugin package's integration test (kit feature `testing`): the path of the package's own plugin library as
/// cargo built it ([`testing::library_in`]).
#[cfg(feature = "testing")]
#[macro_export]
macro_rules! this_plugin_library {
    () => {
        $crate::testing::library_in(
            env!("CARGO_TARGET_TMPDIR"),
            if cfg!(debug_assertions) { "debug" } else { "release" },
            env!("CARGO_PKG_NAME"),
        )
    };
}

/// Exports a [`Plugin`] implementation as the library's `TWEAKGATE_PLUGIN` entry. Use it once per library.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The entry the Tweakgate host looks up: ABI version first, then the functions generated for the plugin.
        #[unsafe(no_mangle)]
        pub static TWEAKGATE_PLUGIN: $crate::PluginEntry = $crate::__private::entry::<$plugin>();
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::ffi::c_void;
    use std::path::PathBuf;

    struct Echo;

    impl Plugin for Echo {
        fn describe() -> PluginInfo {
            PluginInfo::new("echo", "1.2.3").feature(
                Feature::new("echo", "Echo", "Plugins")
                    .page("/echo")
                    .requires_any_acl(["list-accts", "all"])
                    .requires_setting("allow_deprecated_accesshash")
                    .deprecated(64, "Manage API Tokens")
                    .api_function("echo"),
            )
        }

        fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error> {
            match request.param("mode") {
                Some("panic") => panic!("asked to panic"),
                Some("error") => Err("asked to fail".into()),
                Some("lookup") => {
                    let other = host.lookup_user(request.param("user").unwrap_or_default());
                    Ok(Response::text(200, format!("{other:?}")))
                }
                Some("audit") => {
                    host.audit(&serde_json::json!({"event": "echo"}))?;
                    Ok(Response::text(200, "audited"))
                }
                Some("key") => Ok(Response::text(
                    200,
                    host.caller_key(|key| match key {
                        CallerKey::Key(k) => format!("key of {} bytes ending {}", k.len(), &k[k.len() - 4..]),
                        other => format!("{other:?}"),
                    }),
                )),
                _ => {
                    host.info("echoing");
                    Ok(Response::json(
                        200,
                        &serde_json::json!({
                            "user": request.user.name,
                            "kind": request.user.kind.to_string(),
                            "all": request.user.has_all,
                            "home": request.user.home,
                            "function": request.api_function(),
                            "link": request.url("/echo"),
                            "body": request.body.len(),
                            "csrf": request.csrf_token,
                            "full": request.full_access,
                        }),
                    ))
                }
            }
        }
    }

    #[derive(Default)]
    struct Ctx {
        logs: RefCell<Vec<(u32, String)>>,
        audit_ok: bool,
        audits: RefCell<Vec<String>>,
        home: String,
    }

    unsafe extern "C" fn lookup(ctx: *mut c_void, name: AbiStr, out: *mut AbiUserInfo) -> Status {
        // SAFETY: the test passes a live `Ctx` as ctx.
        let ctx = unsafe { &*ctx.cast::<Ctx>() };
        // SAFETY: the plugin passes a string valid for this call.
        if unsafe { name.as_str() } != Some("bob") {
            return Status::NOT_FOUND;
        }
        // SAFETY: the plugin passes a writable out pointer; the strings outlive the handle call.
        unsafe {
            out.write(AbiUserInfo {
                name: AbiStr::new("bob"),
                kind: UserKind::RESELLER,
                has_all: 0,
                home: AbiStr::new(&ctx.home),
            })
        };
        Status::OK
    }

    unsafe extern "C" fn audit(ctx: *mut c_void, event: AbiStr) -> Status {
        // SAFETY: the test passes a live `Ctx` as ctx.
        let ctx = unsafe { &*ctx.cast::<Ctx>() };
        // SAFETY: the plugin passes a string valid for this call.
        ctx.audits
            .borrow_mut()
            .push(unsafe { event.as_str() }.unwrap().to_owned());
        if ctx.audit_ok { Status::OK } else { Status::ERROR }
    }

    unsafe extern "C" fn log(ctx: *mut c_void, level: LogLevel, message: AbiStr) {
        // SAFETY: the test passes a live `Ctx` as ctx.
        let ctx = unsafe { &*ctx.cast::<Ctx>() };
        // SAFETY: the plugin passes a string valid for this call.
        ctx.logs
            .borrow_mut()
            .push((level.0, unsafe { message.as_str() }.unwrap().to_owned()));
    }

    /// Calls the generated `handle` the way the host does, with a full-access credential, and copies the answer out.
    fn call(ctx: &Ctx, params: &[(&str, &str)]) -> (Status, u16, String, String) {
        call_with(ctx, params, 1)
    }

    /// As [`call`], with the raw `full_access` byte.
    fn call_with(ctx: &Ctx, params: &[(&str, &str)], full_access: u8) -> (Status, u16, String, String) {
        let entry = export::entry::<Echo>();
        let params: Vec<AbiParam> = params
            .iter()
            .map(|(k, v)| AbiParam {
                key: AbiStr::new(k),
                value: AbiStr::new(v),
            })
            .collect();
        let request = AbiRequest {
            feature: AbiStr::new("echo"),
            kind: RequestKind::API,
            function: AbiStr::new("echo"),
            user: AbiUserInfo {
                name: AbiStr::new("root"),
                kind: UserKind::ROOT,
                has_all: 1,
                home: AbiStr::new("/root"),
            },
            source: AbiStr::new("127.0.0.1"),
            method: AbiStr::new("GET"),
            path: AbiStr::new("/json-api/echo"),
            params: AbiSlice::new(&params),
            body: AbiStr::from_bytes(b"abc"),
            security_token: AbiStr::new("/cpsess0123456789"),
            csrf_token: AbiStr::new("nonce-0123"),
            full_access,
        };
        let host = HostApi {
            ctx: std::ptr::from_ref(ctx).cast_mut().cast(),
            lookup_user: Some(lookup),
            audit: Some(audit),
            log: Some(log),
            call_api: None,
            caller_key: None,
        };
        let mut out = AbiResponse::EMPTY;
        // SAFETY: every pointer is live for the call, as the contract asks.
        let status = unsafe { (entry.handle.unwrap())(&request, &host, &mut out) };
        // SAFETY: the plugin filled `out` and owns it until free_response.
        let body = unsafe { out.body.as_str() }.unwrap().to_owned();
        // SAFETY: as above.
        let ct = unsafe { out.content_type.as_str() }.unwrap().to_owned();
        let code = out.status;
        // SAFETY: `out` was filled by this library's handle and is freed once.
        unsafe { (entry.free_response.unwrap())(&mut out) };
        assert!(out.private.is_null(), "free_response empties the response");
        (status, code, ct, body)
    }

    #[test]
    fn describe_round_trips_and_frees() {
        let entry = export::entry::<Echo>();
        assert_eq!(entry.abi_version, ABI_VERSION);
        let mut info = AbiPluginInfo::EMPTY;
        // SAFETY: `info` is writable.
        let status = unsafe { (entry.describe.unwrap())(&mut info) };
        assert_eq!(status, Status::OK);
        // SAFETY: the plugin owns `info` until free_info, and we read before that.
        unsafe {
            assert_eq!(info.name.as_str(), Some("echo"));
            assert_eq!(info.version.as_str(), Some("1.2.3"));
            let features = info.features.as_slice().unwrap();
            assert_eq!(features.len(), 1);
            let f = &features[0];
            assert_eq!(f.path.as_str(), Some("/echo"));
            assert_eq!(f.deprecated_since, 64);
            assert_eq!(f.replacement.as_str(), Some("Manage API Tokens"));
            let acls: Vec<&str> = f
                .any_of_acls
                .as_slice()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(acls, ["list-accts", "all"]);
            assert_eq!(
                f.all_settings_on.as_slice().unwrap()[0].as_str(),
                Some("allow_deprecated_accesshash")
            );
            assert_eq!(f.api_functions.as_slice().unwrap()[0].as_str(), Some("echo"));
            (entry.free_info.unwrap())(&mut info);
        }
        assert!(info.private.is_null() && info.features.len == 0);
    }

    #[test]
    fn handle_serves_and_reports_failures_as_status() {
        let ctx = Ctx {
            audit_ok: true,
            home: "/home/bob".into(),
            ..Ctx::default()
        };
        let (status, code, ct, body) = call(&ctx, &[]);
        assert_eq!((status, code, ct.as_str()), (Status::OK, 200, "application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"user": "root", "kind": "root", "all": true, "home": "/root", "function": "echo", "link": "/cpsess0123456789/echo", "body": 3, "csrf": "nonce-0123", "full": true})
        );
        assert_eq!(*ctx.logs.borrow(), [(2, "echoing".to_owned())]);
        for (byte, full) in [(0, false), (1, true), (2, false), (255, false)] {
            let (_, _, _, body) = call_with(&ctx, &[], byte);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["full"], full, "full_access byte {byte}");
        }

        let (status, _, _, body) = call(&ctx, &[("mode", "panic")]);
        assert_eq!((status, body.as_str()), (Status::PANICKED, "asked to panic"));
        let (status, _, _, body) = call(&ctx, &[("mode", "error")]);
        assert_eq!((status, body.as_str()), (Status::ERROR, "asked to fail"));

        let (_, _, _, body) = call(&ctx, &[("mode", "lookup"), ("user", "bob")]);
        let bob = UserInfo {
            name: "bob".into(),
            kind: UserKind::RESELLER,
            has_all: false,
            home: PathBuf::from("/home/bob"),
        };
        assert_eq!(body, format!("{:?}", Some(bob)));
        let (_, _, _, body) = call(&ctx, &[("mode", "lookup"), ("user", "ghost")]);
        assert_eq!(body, "None");
    }

    /// What a host answers for the caller's key: `None` nothing; else a key, no key, or a refusal.
    type Offered = Option<Result<Option<String>, String>>;

    /// A host answering `caller_key` as told, through the host's glue of the boundary (`drive`).
    struct KeyHost(Offered);

    impl HostCallbacks for KeyHost {
        fn lookup_user(&self, _: &str) -> Option<UserInfo> {
            None
        }
        fn audit(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
            match &self.0 {
                None => {}
                Some(Ok(Some(key))) => answer(CallerKey::Key(key)),
                Some(Ok(None)) => answer(CallerKey::NoKey),
                Some(Err(why)) => answer(CallerKey::Refused(why)),
            }
        }
    }

    /// The caller's key crosses the boundary whole, whatever its length up to a key file's, or as what the host said
    /// instead; a host that answers nothing offers nothing, and a longer reason than the buffer is cut, not refused.
    #[test]
    fn the_callers_key_crosses_the_boundary_as_the_host_answered() {
        let entry = export::entry::<Echo>();
        let request = testing::request("echo").api("echo").param("mode", "key").build();
        let key = |n: usize| "0123456789abcdef".repeat(n / 16 + 1)[..n].to_owned();
        let long_reason = "why ".repeat(400);
        let cases: Vec<(Offered, String)> = vec![
            (None, "NotOffered".into()),
            (Some(Ok(None)), "NoKey".into()),
            (Some(Ok(Some(key(960)))), "key of 960 bytes ending cdef".into()),
            (Some(Ok(Some(key(2000)))), "key of 2000 bytes ending cdef".into()),
            (
                Some(Ok(Some(key(65 * 1024)))),
                "Refused(\"the host answered invalid argument\")".into(),
            ),
            (Some(Err("too open".into())), "Refused(\"too open\")".into()),
            (
                Some(Err(long_reason.clone())),
                format!("Refused({:?})", &long_reason[..1024]),
            ),
        ];
        for (answer, want) in cases {
            let what = format!(
                "{:?}",
                answer.as_ref().map(|a| a.as_ref().map(|k| k.as_ref().map(String::len)))
            );
            // SAFETY: the entry was generated in this process and lives as long as the program.
            let response = unsafe { drive::invoke(&entry, "echo", &request, &KeyHost(answer)) }.unwrap();
            assert_eq!(response.body_text(), want, "{what}");
        }
    }

    #[test]
    fn a_failed_audit_stops_the_action() {
        let ctx = Ctx::default();
        let (status, _, _, body) = call(&ctx, &[("mode", "audit")]);
        assert_eq!(status, Status::ERROR);
        assert_eq!(
            body,
            "the host could not record the audit event: the audit callback answered error"
        );
        assert_eq!(*ctx.audits.borrow(), [r#"{"event":"echo"}"#]);
    }

    #[test]
    fn bad_pointers_are_refused_not_followed() {
        let entry = export::entry::<Echo>();
        // SAFETY: null pointers are documented as refused.
        let status = unsafe { (entry.handle.unwrap())(std::ptr::null(), std::ptr::null(), std::ptr::null_mut()) };
        assert_eq!(status, Status::INVALID_ARGUMENT);
        let mut out = AbiResponse::EMPTY;
        // SAFETY: null request is refused; `out` is writable.
        let status = unsafe { (entry.handle.unwrap())(std::ptr::null(), std::ptr::null(), &mut out) };
        assert_eq!(status, Status::INVALID_ARGUMENT);
        // SAFETY: filled by this library, freed once.
        unsafe { (entry.free_response.unwrap())(&mut out) };
        // SAFETY: null is a no-op.
        unsafe { (entry.free_info.unwrap())(std::ptr::null_mut()) };
    }
}
