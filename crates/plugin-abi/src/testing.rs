//! The authors' kit (feature `testing`): requests built as the panel builds them, a host that records what a plugin
//! asks of it, and [`load`], which opens a built plugin library and drives it through the same code the panel uses
//! ([`crate::drive`]: the version read first, the description copied, each call made across the C ABI).
//!
//! In a plugin crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! plugin-abi = { path = "../tweakgate/crates/plugin-abi", features = ["testing"] }
//! ```
//!
//! and in a test:
//!
//! ```ignore
//! use plugin_abi::testing::{self, TestHost};
//!
//! // `target/debug/deps/libserver_info.so` as `cargo test` just built it (or `target/debug/libserver_info.so`).
//! let plugin = testing::load(plugin_abi::this_plugin_library!()).unwrap();
//! let host = TestHost::default();
//! let answer = plugin
//!     .call(&testing::request("server-info").api("gethostname").build(), &host)
//!     .unwrap();
//! assert_eq!(answer.status, 200);
//! ```
//!
//! What the kit does not do is what only the panel knows: the checks made on the file before it is loaded (owner,
//! mode, pin, the directories above it), the description checked against the Tweak Settings, the ACLs and the
//! panel's own names, the gate, and the time budget. The library that does those (`plugin-host`) is built on this
//! one, so this one cannot call it; load the plugin in a served panel for those (docs/plugins.md, "Try it in a panel").

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::drive::{self, Failure};
use crate::safe::{HostCallbacks, Plugin, PluginInfo, Request, Response, Target, UserInfo};
use crate::types::{ENTRY_SYMBOL, LogLevel, UserKind};

/// A request for `feature`, built the way the panel builds one: as root with a full-access credential, from
/// `127.0.0.1`, a `GET` of the feature's page until [`RequestBuilder::api`] makes it an API call.
pub fn request(feature: &str) -> RequestBuilder {
    RequestBuilder {
        request: Request {
            feature: feature.to_owned(),
            target: Target::Page,
            user: user("root", UserKind::ROOT, true),
            source: "127.0.0.1".into(),
            method: "GET".into(),
            path: String::new(),
            params: Vec::new(),
            body: Vec::new(),
            security_token: "/cpsess0123456789".into(),
            csrf_token: "nonce-for-tests".into(),
            full_access: true,
        },
    }
}

/// A user as the panel describes one; the home is `/root` for root and `/home/<name>` for anyone else.
pub fn user(name: &str, kind: UserKind, has_all: bool) -> UserInfo {
    let home = if kind == UserKind::ROOT {
        PathBuf::from("/root")
    } else {
        PathBuf::from("/home").join(name)
    };
    UserInfo {
        name: name.to_owned(),
        kind,
        has_all,
        home,
    }
}

/// Builds a [`Request`]; see [`request`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    request: Request,
}

impl RequestBuilder {
    /// A WHM API call of `function`, at `/json-api/<function>`, with no session prefix or form nonce (as the panel
    /// sends API calls).
    pub fn api(mut self, function: &str) -> RequestBuilder {
        self.request.target = Target::Api {
            function: function.to_owned(),
        };
        self.request.path = format!("/json-api/{function}");
        self.request.security_token.clear();
        self.request.csrf_token.clear();
        self
    }

    /// The feature's page at `path`.
    pub fn page(mut self, path: &str) -> RequestBuilder {
        self.request.target = Target::Page;
        self.request.path = path.to_owned();
        self
    }

    /// Made by this user.
    pub fn user(mut self, user: UserInfo) -> RequestBuilder {
        self.request.user = user;
        self
    }

    /// Made with a credential limited to some ACLs (an API token with a list, or a session opened with one).
    pub fn limited(mut self) -> RequestBuilder {
        self.request.full_access = false;
        self
    }

    /// Adds a parameter, after those already there.
    pub fn param(mut self, key: &str, value: &str) -> RequestBuilder {
        self.request.params.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds these parameters, in order, after those already there.
    pub fn params(self, params: &[(&str, &str)]) -> RequestBuilder {
        params
            .iter()
            .fold(self, |builder, (key, value)| builder.param(key, value))
    }

    /// A `POST` (a page's form; check [`Request::csrf_token`] in what the page renders, the panel checks the posted one).
    pub fn post(mut self) -> RequestBuilder {
        self.request.method = "POST".into();
        self
    }

    /// A raw body, as the client sent it; no parameters are read from it.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RequestBuilder {
        self.request.body = body.into();
        self
    }

    /// A JSON body, and its members as parameters the way the panel reads them: a string as it is, a number or a
    /// boolean as its text, a list as the key repeated, `null` left out. (The panel answers 400 for an object inside,
    /// so a plugin never sees one; it is left out here.)
    pub fn json_body(mut self, value: &serde_json::Value) -> RequestBuilder {
        use serde_json::Value;
        self.request.body = value.to_string().into_bytes();
        self.request.method = "POST".into();
        if let Value::Object(members) = value {
            for (key, value) in members {
                let items = match value {
                    Value::Array(items) => items.as_slice(),
                    one => std::slice::from_ref(one),
                };
                for item in items {
                    let text = match item {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    self.request.params.push((key.clone(), text));
                }
            }
        }
        self
    }

    pub fn build(self) -> Request {
        self.request
    }
}

/// A host for tests: knows the users it is given, records log lines and audit events, refuses audits when told to,
/// answers `call_api` from canned answers and `caller_key` with the answer it is given (by default it offers none,
/// as a host of an earlier ABI version).
#[derive(Debug, Default)]
pub struct TestHost {
    pub users: Vec<UserInfo>,
    /// Every line the plugin logged, in order.
    pub logs: Mutex<Vec<(LogLevel, String)>>,
    /// Every audit event the plugin recorded (JSON text), in order.
    pub audits: Mutex<Vec<String>>,
    /// When set, every audit fails with this reason (as when the panel's audit log cannot be written).
    pub audit_failure: Option<String>,
    /// `call_api` answers: function name and the JSON envelope to answer.
    pub api_answers: Vec<(String, String)>,
    /// The `caller_key` answer: `None` offers no key service; `Some(Ok(Some(key)))` the caller's key, `Some(Ok(None))`
    /// no key, `Some(Err(why))` a refusal.
    pub caller_key: Option<Result<Option<String>, String>>,
    /// How many times the plugin asked for the caller's key.
    pub caller_key_asked: std::sync::atomic::AtomicUsize,
}

impl TestHost {
    /// The lines logged so far, without their levels.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }
}

impl HostCallbacks for TestHost {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        self.users.iter().find(|u| u.name == name).cloned()
    }

    fn audit(&self, event_json: &str) -> Result<(), String> {
        self.audits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event_json.to_owned());
        self.audit_failure.clone().map_or(Ok(()), Err)
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((level, message.to_owned()));
    }

    fn call_api(&self, function: &str, _: &[(String, String)]) -> Result<String, String> {
        self.api_answers
            .iter()
            .find(|(f, _)| f == function)
            .map(|(_, answer)| answer.clone())
            .ok_or_else(|| format!("the test host has no answer for {function}"))
    }

    fn caller_key(&self, answer: &mut dyn FnMut(crate::CallerKey<'_>)) {
        use crate::CallerKey;
        self.caller_key_asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        answer(match &self.caller_key {
            None => CallerKey::NotOffered,
            Some(Ok(Some(key))) => CallerKey::Key(key),
            Some(Ok(None)) => CallerKey::NoKey,
            Some(Err(why)) => CallerKey::Refused(why),
        });
    }
}

/// Serves `request` with plugin `P` in this process, through the same exported functions a library built from it
/// exports (the request copied across the C ABI and the answer copied back), without building the library first.
pub fn serve<P: Plugin>(request: &Request, host: &dyn HostCallbacks) -> Result<Response, Failure> {
    let entry = crate::export::entry::<P>();
    // SAFETY: the entry was generated in this process for `P`, and its functions live as long as the program.
    unsafe { drive::invoke(&entry, &request.feature, request, host) }
}

/// A plugin library opened by [`load`]: its description, and calls into it.
#[derive(Debug)]
pub struct Loaded {
    /// The plugin's description, as the panel reads it.
    pub info: PluginInfo,
    /// The ABI version the library was built for.
    pub abi_version: u32,
    entry: crate::PluginEntry,
    /// Never unloaded, as in the panel: a library's thread-local destructors may still refer to its code.
    _library: ManuallyDrop<libloading::Library>,
}

impl Loaded {
    /// Serves `request` (for the feature `request.feature` names) with `host` answering the plugin's callbacks.
    /// `Err` is what the panel would treat as the plugin failing: a panic (which faults the plugin in the panel), an
    /// `Err` from its handler, or a broken contract.
    pub fn call(&self, request: &Request, host: &dyn HostCallbacks) -> Result<Response, Failure> {
        if let Target::Api { function } = &request.target {
            let known = self
                .info
                .features
                .iter()
                .any(|f| f.id == request.feature && f.api_functions.contains(function));
            if !known {
                return Err(Failure::Contract(format!(
                    "the feature \"{}\" does not answer the API function \"{function}\"",
                    request.feature
                )));
            }
        }
        // SAFETY: the entry was read by `drive::read_entry` from the library this value keeps mapped.
        unsafe { drive::invoke(&self.entry, &request.feature, request, host) }
    }
}

/// Why [`load`] could not open a plugin.
#[derive(Debug)]
pub enum LoadFailure {
    /// The file is not a loadable library (or is missing); the loader's message.
    NotALibrary(String),
    /// The library exports no `TWEAKGATE_PLUGIN`.
    MissingSymbol,
    /// The version, description or entry is not usable.
    Refused(Failure),
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadFailure::NotALibrary(why) => write!(f, "not a loadable shared library: {why}"),
            LoadFailure::MissingSymbol => f.write_str("the library exports no TWEAKGATE_PLUGIN symbol"),
            LoadFailure::Refused(why) => why.fmt(f),
        }
    }
}

impl std::error::Error for LoadFailure {}

/// The shared library cargo built for the package whose integration test calls this: in the target directory of
/// `target_tmpdir` (`CARGO_TARGET_TMPDIR`), under `profile`, the one in `deps/` (which `cargo test` rebuilds) when it
/// exists, else the one `cargo build` put beside it. Use [`this_plugin_library!`](crate::this_plugin_library).
pub fn library_in(target_tmpdir: &str, profile: &str, package: &str) -> PathBuf {
    let dir = Path::new(target_tmpdir)
        .parent()
        .unwrap_or(Path::new("target"))
        .join(profile);
    let file = format!("lib{}.so", package.replace('-', "_"));
    let fresh = dir.join("deps").join(&file);
    if fresh.is_file() { fresh } else { dir.join(file) }
}

/// Opens the plugin library at `path` (relative to the current directory, which `cargo test` sets to the crate's
/// folder: `load("target/debug/libmy_plugin.so")`), reads its ABI version before anything else, and copies its
/// description, as the panel does. Build the library first (`cargo build`); a test does not build it.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, LoadFailure> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(LoadFailure::NotALibrary(format!(
            "{}: no such file; build the plugin first (`cargo build`)",
            path.display()
        )));
    }
    // SAFETY: loading a library runs its initialisers; the caller asked for this library, built as a plugin.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| LoadFailure::NotALibrary(format!("{}: {e}", path.display())))?;
    // SAFETY: looked up as an address, which is right whatever the library put under the name.
    let address = unsafe { library.get::<*const std::ffi::c_void>(ENTRY_SYMBOL) }
        .map(|s| *s)
        .map_err(|_| LoadFailure::MissingSymbol)?;
    if address.is_null() {
        return Err(LoadFailure::MissingSymbol);
    }
    // SAFETY: the address of the library's entry symbol, non-null; the library stays mapped (see `Loaded`).
    let (entry, abi_version) = unsafe { drive::read_entry(address) }.map_err(LoadFailure::Refused)?;
    // SAFETY: as above.
    let info = unsafe { drive::describe(&entry, abi_version) }.map_err(LoadFailure::Refused)?;
    Ok(Loaded {
        info,
        abi_version,
        entry,
        _library: ManuallyDrop::new(library),
    })
}
