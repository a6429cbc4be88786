//! The safe Rust side of the contract: what a plugin author implements and uses, with no raw pointers in sight.
//!
//! A plugin implements [`Plugin`] with plain Rust types and calls [`export_plugin!`](crate::export_plugin);
//! the glue in `export.rs` converts to and from the `#[repr(C)]` types.

use std::fmt;
use std::path::PathBuf;

use crate::types::{LogLevel, UserKind};

/// A plugin: describes its features, then serves requests for them.
///
/// Both are associated functions: the host may call from any thread, so keep any state in your own statics.
pub trait Plugin: 'static {
    /// The plugin's name, version and features. Called once, when the host loads the library.
    fn describe() -> PluginInfo;

    /// Serves one page or API request for one of the plugin's features.
    ///
    /// An `Err` becomes [`Status::ERROR`](crate::Status::ERROR) with the error's text; a panic becomes
    /// [`Status::PANICKED`](crate::Status::PANICKED) and the host isolates the plugin.
    /// Answer expected failures (a WHM API error, a refused form) with a normal [`Response`] instead.
    fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error>;
}

/// Any error a handler wants to report; `?` converts most errors into it.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub features: Vec<Feature>,
}

impl PluginInfo {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            features: Vec::new(),
        }
    }

    /// Adds a feature.
    pub fn feature(mut self, feature: Feature) -> PluginInfo {
        self.features.push(feature);
        self
    }
}

/// One feature: a WHM menu entry, the page behind it, the WHM API 1 functions it answers, and what it needs.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Feature {
    /// Stable identifier, e.g. `remote-access-key`.
    pub id: String,
    /// Menu title, e.g. `Remote Access Key`.
    pub title: String,
    /// WHM menu group, e.g. `Clusters`.
    pub group: String,
    /// The page's path, e.g. `/remote-access-key`; empty for a feature without a page.
    pub path: String,
    /// The user needs any one of these ACLs (root and `all` pass); empty means none is needed.
    pub any_of_acls: Vec<String>,
    /// Tweak Settings that must all be on.
    pub all_settings_on: Vec<String>,
    pub deprecation: Option<Deprecation>,
    /// WHM API 1 functions, e.g. `accesshash`.
    pub api_functions: Vec<String>,
    /// Those of `api_functions` that also answer legacy WHM API 0 (a call without `api.version=1`), see
    /// [`Feature::api0_function`].
    pub api0_functions: Vec<String>,
    /// Only root uses it (resellers with `all` do not see it).
    pub root_only: bool,
    /// Only a full-access credential uses it: an API token narrowed by a list or a limited session does not see it.
    pub full_access: bool,
}

/// When a feature was deprecated and what replaces it.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// The WHM major version, e.g. 64; never 0.
    pub since: u32,
    /// The title of the replacement, e.g. `Manage API Tokens`; may be empty.
    pub replacement: String,
}

impl Feature {
    pub fn new(id: impl Into<String>, title: impl Into<String>, group: impl Into<String>) -> Feature {
        Feature {
            id: id.into(),
            title: title.into(),
            group: group.into(),
            ..Feature::default()
        }
    }

    /// Gives the feature a page at `path` (which starts with `/`).
    pub fn page(mut self, path: impl Into<String>) -> Feature {
        self.path = path.into();
        self
    }

    /// The user needs at least one of these ACLs (WHM's `ACL=a,b`).
    pub fn requires_any_acl<S: Into<String>>(mut self, acls: impl IntoIterator<Item = S>) -> Feature {
        self.any_of_acls.extend(acls.into_iter().map(Into::into));
        self
    }

    /// This Tweak Setting must be on (WHM's `CPCONF=key`).
    pub fn requires_setting(mut self, key: impl Into<String>) -> Feature {
        self.all_settings_on.push(key.into());
        self
    }

    pub fn deprecated(mut self, since: u32, replacement: impl Into<String>) -> Feature {
        self.deprecation = Some(Deprecation {
            since,
            replacement: replacement.into(),
        });
        self
    }

    /// Only root sees and uses it; the gate hides it from everyone else with `ROOT_ONLY`.
    pub fn root_only(mut self) -> Feature {
        self.root_only = true;
        self
    }

    /// Only a credential with all of its user's privileges sees and uses it; the gate hides it from an API token
    /// narrowed by a list, or a limited session, with `FULL_ACCESS_REQUIRED`.
    pub fn requires_full_access(mut self) -> Feature {
        self.full_access = true;
        self
    }

    /// Answers this WHM API 1 function.
    pub fn api_function(mut self, name: impl Into<String>) -> Feature {
        self.api_functions.push(name.into());
        self
    }

    /// Answers this WHM API 1 function and its legacy API 0 form: the same call without `api.version=1`.
    ///
    /// The handler answers WHM API 1's envelope either way ([`Response::whm_ok`], [`Response::whm_error`]); for an
    /// API 0 call the host answers what `data` holds at the top level, as WHM's API 0 does, and a failure as API 0's
    /// `{"status": 0, "statusmsg": reason}`. API 0's `applist` lists the function too.
    pub fn api0_function(mut self, name: impl Into<String>) -> Feature {
        let name = name.into();
        self.api0_functions.push(name.clone());
        self.api_functions.push(name);
        self
    }
}

/// A WHM user as the host describes them.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub kind: UserKind,
    /// Holds the `all` ACL (root always does).
    pub has_all: bool,
    /// Home directory, where `.accesshash` lives.
    pub home: PathBuf,
}

impl UserInfo {
    pub fn is_root(&self) -> bool {
        self.kind == UserKind::ROOT
    }

    /// Root or a reseller: someone with WHM access and an access key.
    pub fn is_whm_user(&self) -> bool {
        matches!(self.kind, UserKind::ROOT | UserKind::RESELLER)
    }
}

/// What a request asks for.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The feature's web page.
    Page,
    /// A WHM API 1 function.
    Api { function: String },
}

/// One request, copied out of the host's memory so the handler can keep what it likes.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The feature the host routed the request to.
    pub feature: String,
    pub target: Target,
    /// The authenticated user.
    pub user: UserInfo,
    /// The client's address.
    pub source: String,
    pub method: String,
    /// The path without the session prefix.
    pub path: String,
    /// Query and form parameters in arrival order.
    pub params: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The session prefix (`/cpsess…`) to put before the page's own links and form actions; empty for API calls.
    pub security_token: String,
    /// The one-use form nonce the host issued for this page render; empty for API calls.
    /// Put it in a hidden `<input name="csrf_token">` of every POST form the page renders.
    pub csrf_token: String,
    /// Whether the credential behind the request carries all of its user's privileges: `true` for a password, an
    /// access key, an API token without an ACL list, or a session opened by one of these; `false` for an API token
    /// with an ACL list or a session opened with one. Refuse what would let a limited credential escalate, such as
    /// reading or replacing a full-access credential, when this is `false`.
    pub full_access: bool,
}

/// A WHM boolean parameter: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in any case, blanks around ignored;
/// anything else is `None`. The host's WHM functions and plugins read booleans with this one parser.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Request {
    /// A boolean parameter ([`parse_bool`]): `None` when absent, `Some(Err(value))` when it is not a boolean word.
    pub fn flag(&self, key: &str) -> Option<Result<bool, &str>> {
        self.param(key).map(|v| parse_bool(v).ok_or(v))
    }

    /// The first value of a parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter, in order.
    pub fn params_named<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The API function, or `None` for a page.
    pub fn api_function(&self) -> Option<&str> {
        match &self.target {
            Target::Api { function } => Some(function),
            Target::Page => None,
        }
    }

    pub fn is_post(&self) -> bool {
        self.method.eq_ignore_ascii_case("POST")
    }

    /// A link or form action inside the panel, with the session prefix: `url("/remote-access-key")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.security_token, path)
    }
}

/// A plugin's answer.
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Response {
    /// An HTML fragment; the host puts it inside its page layout.
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: body.into().into_bytes(),
        }
    }

    /// A JSON document, e.g. a WHM API 1 envelope.
    /// A JSON answer: a `serde_json::Value` or any serialisable type, written straight into the body.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json".into(),
                body,
            },
            Err(e) => Response::text(500, format!("the plugin's answer cannot be written as JSON: {e}")),
        }
    }

    /// A successful WHM API 1 answer for `command`: the host's one envelope ([`crate::whm::Envelope`]) around `data`.
    pub fn whm_ok(command: &str, data: &impl serde::Serialize) -> Response {
        Response::json(200, &crate::whm::Envelope::ok(command, "OK", Some(data)))
    }

    /// A failed WHM API 1 answer for `command`: `result` 0 with the reason WHM clients show, and no `data`.
    pub fn whm_error(command: &str, reason: &str) -> Response {
        Response::json(200, &crate::whm::Envelope::<(), ()>::failed(command, reason, None))
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into().into_bytes(),
        }
    }

    /// The body as text (lossy), for tests and messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The audit log did not record the event, so the action it describes must not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFailed {
    pub detail: String,
}

impl fmt::Display for AuditFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the host could not record the audit event: {}", self.detail)
    }
}

impl std::error::Error for AuditFailed {}

/// What a host does for a plugin. The real host reaches it through [`HostApi`](crate::HostApi);
/// a plugin's own tests implement it directly and pass [`Host::new`] to `handle`.
pub trait HostCallbacks {
    fn lookup_user(&self, name: &str) -> Option<UserInfo>;
    fn audit(&self, event_json: &str) -> Result<(), String>;
    fn log(&self, level: LogLevel, message: &str);
    /// One of the host's WHM API 1 functions, called as the request's caller: the API 1 JSON answer, or why the
    /// host would not call it. Hosts that offer no API say so.
    fn call_api(&self, function: &str, params: &[(String, String)]) -> Result<String, String> {
        let _ = (function, params);
        Err("this host offers no WHM API to plugins".into())
    }
    /// Since ABI 5: the access key of the request's user as the host holds it (for a request authenticated by that
    /// key, the very key the host has just checked), passed to `answer` once, borrowed for the call. A host that does
    /// not offer it answers [`CallerKey::NotOffered`], as this default does, and the plugin reads the key file itself.
    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        answer(CallerKey::NotOffered);
    }
}

/// The access key of the request's user, as the host answered [`HostCallbacks::caller_key`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallerKey<'a> {
    /// The host does not answer this (a host of an earlier version or a test host, or a request it leaves to the
    /// plugin): read the key file yourself.
    NotOffered,
    /// The user has no key.
    NoKey,
    /// The key on one line, borrowed for the call: copy only what the answer needs.
    Key(&'a str),
    /// The host refuses (the key file fails its checks, or the request may not see a key): why, without any key.
    Refused(&'a str),
}

impl fmt::Debug for CallerKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerKey::NotOffered => f.write_str("NotOffered"),
            CallerKey::NoKey => f.write_str("NoKey"),
            CallerKey::Key(_) => f.write_str("Key(..)"),
            CallerKey::Refused(why) => f.debug_tuple("Refused").field(why).finish(),
        }
    }
}

/// The host, as a handler sees it during one request.
pub struct Host<'a> {
    callbacks: &'a dyn HostCallbacks,
}

impl fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Host")
    }
}

impl<'a> Host<'a> {
    pub fn new(callbacks: &'a dyn HostCallbacks) -> Host<'a> {
        Host { callbacks }
    }

    /// Another user's kind, `all` and home, to apply ownership rules; `None` when the host does not know the name.
    pub fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        self.callbacks.lookup_user(name)
    }

    /// Records an event (a JSON object) in the audit log. Do not perform the action if this fails.
    pub fn audit(&self, event: &serde_json::Value) -> Result<(), AuditFailed> {
        self.callbacks
            .audit(&event.to_string())
            .map_err(|detail| AuditFailed { detail })
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        self.callbacks.log(level, message);
    }

    /// Calls one of the host's own WHM API 1 functions as the request's caller, with no more privilege than the
    /// request carries; the answer is WHM's JSON envelope (`metadata.result` 0 with a `reason` when refused).
    pub fn call_api(&self, function: &str, params: &[(String, String)]) -> Result<serde_json::Value, String> {
        let text = self.callbacks.call_api(function, params)?;
        serde_json::from_str(&text).map_err(|e| format!("the host answered with invalid JSON: {e}"))
    }

    /// The access key of the request's user as the host holds it ([`HostCallbacks::caller_key`]), given to `f` for
    /// the time of the call; [`CallerKey::NotOffered`] when the host does not offer it (read the key file then).
    pub fn caller_key<T>(&self, f: impl FnOnce(CallerKey<'_>) -> T) -> T {
        let mut f = Some(f);
        let mut out = None;
        self.callbacks.caller_key(&mut |key| {
            if let Some(f) = f.take() {
                out = Some(f(key));
            }
        });
        match (out, f) {
            (Some(out), _) => out,
            // A host that never answered offers nothing.
            (None, Some(f)) => f(CallerKey::NotOffered),
            (None, None) => unreachable!("the answer is taken only when it is given"),
        }
    }

    pub fn info(&self, message: &str) {
        self.log(LogLevel::INFO, message);
    }

    pub fn warn(&self, message: &str) {
        self.log(LogLevel::WARN, message);
    }

    pub fn error(&self, message: &str) {
        self.log(LogLevel::ERROR, message);
    }
}
