//! WHM API 1 as one table: each operation is written once as a typed function, registered once with the gate feature
//! that guards it, and called the same way by the JSON API, the pages and the CLI.
//!
//! `applist`, the Home menu and `explain` read the same table and the same decision, so what is shown and what is
//! allowed cannot drift apart. The envelope is written in one place, [`Answer`].

pub mod lists;
pub mod ops;
pub mod plugin;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use settings::{Decision, Snapshot};

pub use lists::List;

use crate::auth::{Authorized, Caller};
use crate::state::Panel;

/// What an operation runs against: the panel and the one snapshot this request holds.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub panel: &'a Panel,
    pub snapshot: &'a Snapshot,
    /// `http(s)://host[:port]` the request came to, for answers that carry absolute URLs; `None` outside HTTP.
    pub origin: Option<Origin<'a>>,
    /// The request's body as the client sent it, handed to plugins as `Request::body`; empty outside HTTP and for
    /// calls a plugin makes through `call_api`.
    pub body: &'a [u8],
}

/// Where a request came to, worked out only by the operation that puts it into an answer (a login link): most calls
/// never need it, and working it out may read the machine's host name.
#[derive(Clone, Copy)]
pub struct Origin<'a>(pub &'a (dyn Fn() -> String + Sync));

impl Origin<'_> {
    /// `http(s)://host[:port]`.
    pub fn get(&self) -> String {
        (self.0)()
    }
}

impl std::fmt::Debug for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Origin(..)")
    }
}

/// Query and form parameters in arrival order, as WHM reads them (repeated and numbered keys included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The last value of a parameter (a form value overrides the query's).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A parameter that must be there.
    pub fn require(&self, name: &str) -> Result<&str, WhmError> {
        self.get(name)
            .ok_or_else(|| WhmError::new(format!("Missing parameter: {name}")))
    }

    /// Every value of `name` itself and of its numbered forms `name-0`, `name-1`, … in arrival order.
    pub fn numbered<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| {
                k == name
                    || k.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A boolean parameter in any of WHM's spellings ([`parse_bool`]); absent: `None`.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, WhmError> {
        self.get(name)
            .map(|v| {
                parse_bool(v).ok_or_else(|| {
                    WhmError::new(format!(
                        "Invalid value for {name}: \"{}\" is not a boolean (1/0, true/false, yes/no, on/off).",
                        v.escape_debug()
                    ))
                })
            })
            .transpose()
    }
}

/// A WHM boolean: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in any case (one parser, shared with plugins).
pub use plugin_abi::parse_bool;

/// A WHM API error: the reason clients read, the HTTP status, and the gate's reasons when access was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct WhmError {
    pub status: StatusCode,
    pub reason: String,
    pub refusal: Option<Decision>,
}

impl WhmError {
    /// A failed call: HTTP 200 with `result` 0, as WHM answers.
    pub fn new(reason: impl Into<String>) -> WhmError {
        WhmError {
            status: StatusCode::OK,
            reason: reason.into(),
            refusal: None,
        }
    }

    /// 403 with the gate's reasons: the operation's feature is hidden for this caller.
    pub fn forbidden(decision: Decision) -> WhmError {
        let text: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
        WhmError {
            status: StatusCode::FORBIDDEN,
            reason: format!("Access denied: {}", text.join("; ")),
            refusal: Some(decision),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> WhmError {
        self.status = status;
        self
    }
}

impl From<Decision> for WhmError {
    fn from(d: Decision) -> WhmError {
        WhmError::forbidden(d)
    }
}

/// Typed parameters of an operation, read from WHM's flat parameter list.
pub trait FromParams: Sized {
    fn from_params(params: &Params) -> Result<Self, WhmError>;
}

/// An operation without parameters.
impl FromParams for () {
    fn from_params(_: &Params) -> Result<(), WhmError> {
        Ok(())
    }
}

/// How an operation answers a legacy API 0 caller (a call without `api.version=1`).
#[derive(Debug, Clone, Copy)]
pub enum Api0 {
    /// The function exists only in API 1: an API 0 caller is told it is unknown, and API 0's `applist` leaves it out.
    Unknown,
    /// API 0 answers the data at the top level, without the envelope.
    Data,
    /// API 0 answers its own older form of the data (e.g. `myprivs` → `{"privs":{…}}`).
    Shape(fn(Value) -> Value),
    /// As `Shape`, for a form that depends on what is in force (`applist`: the plugins' API 0 functions).
    ShapeIn(fn(Ctx<'_>, Value) -> Value),
}

/// One WHM API 1 function.
pub trait Operation {
    /// The function's name, e.g. `set_tweaksetting`.
    const NAME: &'static str;
    /// The gate feature that guards it.
    const FEATURE: &'static str;
    /// What a caller without `api.version=1` gets: most functions exist only in API 1.
    const API0: Api0 = Api0::Unknown;
    /// The `reason` of a successful answer.
    const REASON: &'static str = "OK";
    /// Whether it writes files (and syncs them): the HTTP layer then runs it on a blocking thread, so a write never
    /// holds up the requests sharing its async worker.
    const WRITES: bool = false;
    /// Where the answer's list is, for an operation that answers one: WHM API 1's generic list parameters
    /// (`api.filter.*`, `api.sort.*`, `api.chunk.*`, `api.columns.*`) then apply to it ([`lists`]).
    const LIST: Option<List> = None;
    type Params: FromParams;
    type Output: Serialize;
    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, params: Self::Params) -> Result<Self::Output, WhmError>;
}

/// Authorizes a feature for a caller, counting the decision.
pub fn authorize<'a>(ctx: Ctx<'_>, caller: &'a Caller, feature: &'a str) -> Result<Authorized<'a>, Decision> {
    match caller.authorize(ctx.snapshot, feature) {
        Ok(auth) => {
            ctx.panel.metrics.allowed(feature);
            Ok(auth)
        }
        Err(d) => {
            ctx.panel.metrics.refused(feature, &d);
            Err(d)
        }
    }
}

/// Runs an operation for a caller: the only way to one, so every run is authorized for the operation's feature.
pub fn call<O: Operation>(ctx: Ctx<'_>, caller: &Caller, params: O::Params) -> Result<O::Output, WhmError> {
    let auth = authorize(ctx, caller, O::FEATURE)?;
    O::run(ctx, auth, params)
}

impl Api0 {
    /// Whether API 0 serves the function.
    pub fn serves(self) -> bool {
        !matches!(self, Api0::Unknown)
    }
}

/// Whether API 0 serves `function`: a built-in operation whose [`Api0`] is not `Unknown`, or a plugin function
/// declared with its API 0 form ([`plugin_abi::Feature::api0_function`]).
pub fn api0_serves(ctx: Ctx<'_>, function: &str) -> bool {
    match operation(function) {
        Some(o) => o.api0.serves(),
        None => ctx.panel.plugins().api0.contains(function),
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct OpEntry {
    pub name: &'static str,
    pub feature: &'static str,
    pub api0: Api0,
    pub reason: &'static str,
    /// [`Operation::WRITES`].
    pub writes: bool,
    /// [`Operation::LIST`].
    pub list: Option<List>,
    run: fn(Ctx<'_>, &Caller, &Params) -> Result<Value, WhmError>,
    /// The API 1 answer written straight from the operation's typed output, for an operation that answers no list
    /// (no tree is built, and nothing of the answer is copied).
    write: fn(Ctx<'_>, &Caller, &Params) -> Result<Vec<u8>, WhmError>,
}

/// Runs an operation for a caller: the one path of every operation, whichever way its answer is written.
fn run_checked<O: Operation>(ctx: Ctx<'_>, caller: &Caller, params: &Params) -> Result<O::Output, WhmError> {
    // Authorization comes before parsing, so a refused caller learns nothing from parameter errors.
    let auth = authorize_writable::<O>(ctx, caller)?;
    let params = O::Params::from_params(params)?;
    O::run(ctx, auth, params)
}

fn run_erased<O: Operation>(ctx: Ctx<'_>, caller: &Caller, params: &Params) -> Result<Value, WhmError> {
    let out = run_checked::<O>(ctx, caller, params)?;
    serde_json::to_value(out).map_err(|e| WhmError::new(format!("cannot encode the answer: {e}")))
}

/// Authorization, then (both ways an operation runs go through here) the read-only guard: a writing operation on a
/// real server's files answers that they are read-only, and runs nothing.
fn authorize_writable<'a, O: Operation>(ctx: Ctx<'_>, caller: &'a Caller) -> Result<Authorized<'a>, WhmError> {
    let auth = authorize(ctx, caller, O::FEATURE)?;
    if O::WRITES && ctx.snapshot.config().is_read_only() {
        return Err(WhmError::new(settings::config::READ_ONLY));
    }
    Ok(auth)
}

fn write_erased<O: Operation>(ctx: Ctx<'_>, caller: &Caller, params: &Params) -> Result<Vec<u8>, WhmError> {
    let out = run_checked::<O>(ctx, caller, params)?;
    write_envelope(O::NAME, O::REASON, &out).map_err(|e| WhmError::new(format!("cannot encode the answer: {e}")))
}

/// WHM API 1's success envelope written from typed data: the same bytes [`envelope_with`] gives for the data's JSON
/// (`data` first, then `metadata`; data that is `null`, an operation answering nothing, leaves `data` out).
pub fn write_envelope(command: &str, ok_reason: &str, data: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(160);
    body.extend_from_slice(b"{\"data\":");
    let start = body.len();
    serde_json::to_writer(&mut body, data)?;
    if &body[start..] == b"null" {
        body.truncate(1);
    } else {
        body.push(b',');
    }
    body.extend_from_slice(b"\"metadata\":");
    serde_json::to_writer(
        &mut body,
        &plugin_abi::whm::Metadata::<()> {
            command,
            reason: ok_reason,
            reasons: None,
            result: 1,
            version: 1,
        },
    )?;
    body.push(b'}');
    Ok(body)
}

impl OpEntry {
    const fn of<O: Operation>() -> OpEntry {
        OpEntry {
            name: O::NAME,
            feature: O::FEATURE,
            api0: O::API0,
            reason: O::REASON,
            writes: O::WRITES,
            list: O::LIST,
            run: run_erased::<O>,
            write: write_erased::<O>,
        }
    }
}

/// Every built-in WHM operation. Plugins add theirs at load time (see [`feature_of`]).
pub static OPERATIONS: &[OpEntry] = &[
    OpEntry::of::<ops::info::Applist>(),
    OpEntry::of::<ops::info::Version>(),
    OpEntry::of::<ops::info::Myprivs>(),
    OpEntry::of::<ops::tweaks::GetTweakSetting>(),
    OpEntry::of::<ops::tweaks::SetTweakSetting>(),
    OpEntry::of::<ops::privileges::ListResellers>(),
    OpEntry::of::<ops::privileges::ListAcls>(),
    OpEntry::of::<ops::privileges::SetAcls>(),
    OpEntry::of::<ops::privileges::SaveAclList>(),
    OpEntry::of::<ops::tokens::ApiTokenCreate>(),
    OpEntry::of::<ops::tokens::ApiTokenList>(),
    OpEntry::of::<ops::tokens::ApiTokenRevoke>(),
    OpEntry::of::<ops::sessions::CreateUserSession>(),
    OpEntry::of::<ops::cluster::AddConfigClusterServer>(),
    OpEntry::of::<ops::cluster::UpdateConfigClusterServer>(),
    OpEntry::of::<ops::cluster::DeleteConfigClusterServer>(),
    OpEntry::of::<ops::cluster::ListConfigClusterServers>(),
    OpEntry::of::<ops::accounts::ListAccts>(),
    OpEntry::of::<ops::accounts::AccountSummary>(),
];

/// A built-in operation by name.
pub fn operation(name: &str) -> Option<&'static OpEntry> {
    OPERATIONS.iter().find(|o| o.name == name)
}

/// The feature that guards a function, built-in or a plugin's.
pub fn feature_of(panel: &Panel, function: &str) -> Option<String> {
    operation(function)
        .map(|o| o.feature.to_owned())
        .or_else(|| panel.plugins().functions.get(function).cloned())
}

/// Functions this caller may call right now, sorted: the table's and the plugins' in force.
pub fn applist(ctx: Ctx<'_>, caller: &Caller) -> Vec<String> {
    let plugins = ctx.panel.plugins();
    let visible = |feature: &str| caller.decide(ctx.snapshot, feature).visible;
    let mut names: Vec<String> = OPERATIONS
        .iter()
        .filter(|o| visible(o.feature))
        .map(|o| o.name.to_owned())
        .chain(
            plugins
                .functions
                .iter()
                .filter(|(_, feature)| visible(feature))
                .map(|(f, _)| f.clone()),
        )
        .collect();
    names.sort();
    names.dedup();
    names
}

/// An API answer: the envelope (or a plugin's own JSON) and its status.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Json(StatusCode, Value),
    /// The envelope, already written (JSON).
    Written(StatusCode, Vec<u8>),
    /// A plugin's answer, passed through as it wrote it.
    Raw(StatusCode, String, Vec<u8>),
}

/// WHM API 1's envelope.
pub fn envelope(command: &str, result: Result<Value, &WhmError>) -> Value {
    envelope_with(command, "OK", result)
}

/// WHM API 1's envelope, with the reason a success answers (`OK` for most functions).
pub fn envelope_with(command: &str, ok_reason: &str, result: Result<Value, &WhmError>) -> Value {
    use plugin_abi::whm::Envelope;
    let written = match result {
        // An operation that answers nothing (`()`) answers metadata only, as WHM does.
        Ok(Value::Null) => serde_json::to_value(Envelope::<()>::ok(command, ok_reason, None)),
        Ok(data) => serde_json::to_value(Envelope::ok(command, ok_reason, Some(data))),
        // A failure has no `data` at all: WHM never answers `data: null` (cPanel's JavaScript client throws on it).
        Err(e) => serde_json::to_value(Envelope::failed(
            command,
            &e.reason,
            e.refusal.as_ref().map(|d| &d.reasons),
        )),
    };
    written.unwrap_or_else(
        |e| json!({"metadata": {"version": 1, "command": command, "result": 0, "reason": e.to_string()}}),
    )
}

impl Answer {
    pub fn of(command: &str, result: Result<Value, WhmError>) -> Answer {
        match result {
            Ok(data) => Answer::Json(StatusCode::OK, envelope(command, Ok(data))),
            Err(e) => Answer::Json(e.status, envelope(command, Err(&e))),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Json(status, body) => (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response(),
            Answer::Written(status, body) => (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response(),
            Answer::Raw(status, content_type, body) => {
                (status, [(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
            }
        }
    }
}

/// WHM's answer to a function it does not serve, in the form of the API version asked for: HTTP 200, result 0 in
/// API 1; API 0's `{"error": …}`, the key and words cPanel's own Perl client looks for.
pub fn unknown(function: &str, api1: bool) -> Answer {
    if api1 {
        Answer::of(
            function,
            Err(WhmError::new(format!(
                "Unknown app (\"{function}\") requested for this version (1) of the API."
            ))),
        )
    } else {
        Answer::Json(
            StatusCode::OK,
            json!({"error": format!("Unknown App Requested for this version (0) of the api: {function}")}),
        )
    }
}

/// An API 0 failure: no envelope, WHM's legacy `status`/`statusmsg` pair.
pub fn api0_error(reason: &str) -> Value {
    json!({"status": 0, "statusmsg": reason})
}

/// Runs one API call by name for an authenticated caller: a built-in operation or a plugin's function.
/// `api1` is whether the call asked for `api.version=1`; without it the call is API 0.
pub fn dispatch(ctx: Ctx<'_>, caller: &Caller, function: &str, params: &Params, method: &str, api1: bool) -> Answer {
    if let Some(op) = operation(function) {
        if api1 && op.list.is_none() {
            return match (op.write)(ctx, caller, params) {
                Ok(body) => Answer::Written(StatusCode::OK, body),
                Err(e) => Answer::of(function, Err(e)),
            };
        }
        if api1 {
            // The generic list parameters apply to what the operation answered, after it ran (so a refused caller
            // learns nothing from their errors either).
            let answered = (op.run)(ctx, caller, params).and_then(|data| lists::apply(op.list, function, data, params));
            return match answered {
                Ok((data, applied)) => {
                    let mut body = envelope_with(function, op.reason, Ok(data));
                    if let Some(metadata) = body["metadata"].as_object_mut() {
                        metadata.extend(applied);
                    }
                    Answer::Json(StatusCode::OK, body)
                }
                Err(e) => Answer::of(function, Err(e)),
            };
        }
        let shape = |data: Value| match op.api0 {
            Api0::Unknown | Api0::Data => data,
            Api0::Shape(f) => f(data),
            Api0::ShapeIn(f) => f(ctx, data),
        };
        if !op.api0.serves() {
            return unknown(function, false);
        }
        return match (op.run)(ctx, caller, params) {
            Ok(data) => Answer::Json(StatusCode::OK, shape(data)),
            Err(e) => {
                let mut body = api0_error(&e.reason);
                if let Some(d) = &e.refusal {
                    body["reasons"] = json!(d.reasons);
                }
                Answer::Json(e.status, body)
            }
        };
    }
    if let Some(feature) = ctx.panel.plugins().functions.get(function) {
        // A plugin function answers API 0 only when it declared that form.
        if !api1 && !api0_serves(ctx, function) {
            return unknown(function, false);
        }
        return match (authorize(ctx, caller, feature), api1) {
            (Ok(auth), true) => plugin::api(ctx, auth, function, params, method),
            (Ok(auth), false) => plugin::api0(ctx, auth, function, params, method),
            (Err(d), true) => Answer::of(function, Err(WhmError::forbidden(d))),
            (Err(d), false) => {
                let e = WhmError::forbidden(d);
                let mut body = api0_error(&e.reason);
                if let Some(d) = &e.refusal {
                    body["reasons"] = json!(d.reasons);
                }
                Answer::Json(e.status, body)
            }
        };
    }
    unknown(function, api1)
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    /// The names plugins may not take (`plugin_set::HOST_FUNCTIONS`, checked below this module) are this table's.
    #[test]
    fn the_names_plugins_may_not_take_are_the_operations() {
        let mut table: Vec<&str> = super::OPERATIONS.iter().map(|o| o.name).collect();
        let mut reserved = crate::plugin_set::HOST_FUNCTIONS.to_vec();
        table.sort_unstable();
        reserved.sort_unstable();
        assert_eq!(table, reserved);
    }

    #[test]
    fn booleans_in_every_spelling_whm_accepts() {
        for t in ["1", "true", "TRUE", "Yes", "on", " ON "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "False", "no", "NO", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "2", "y", "enable", "truee"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
