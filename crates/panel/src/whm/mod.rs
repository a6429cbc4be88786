//! WHM API 1 as one table: each operation is written once as a typed function, registered once with the gate feature
//! that guards it, and called the same way by the JSON API, the pages and the CLI.
//!
//! `applist`, the Home menu and `explain` read the same table and the same decision, so what is shown and what is
//! allowed cannot drift apart. The envelope is written in one place, [`Answer`].

pub mod ops;
pub mod plugin;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use settings::{Decision, Snapshot};

use crate::auth::{Authorized, Caller};
use crate::state::Panel;

/// What an operation runs against: the panel and the one snapshot this request holds.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub panel: &'a Panel,
    pub snapshot: &'a Snapshot,
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
}

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

/// One WHM API 1 function.
pub trait Operation {
    /// The function's name, e.g. `set_tweaksetting`.
    const NAME: &'static str;
    /// The gate feature that guards it.
    const FEATURE: &'static str;
    /// Without `api.version=1`, answer the data alone rather than the API 1 envelope (legacy API 0 callers).
    const API0_BARE: bool = false;
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

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct OpEntry {
    pub name: &'static str,
    pub feature: &'static str,
    api0_bare: bool,
    run: fn(Ctx<'_>, &Caller, &Params) -> Result<Value, WhmError>,
}

fn run_erased<O: Operation>(ctx: Ctx<'_>, caller: &Caller, params: &Params) -> Result<Value, WhmError> {
    // Authorization comes before parsing, so a refused caller learns nothing from parameter errors.
    let auth = authorize(ctx, caller, O::FEATURE)?;
    let params = O::Params::from_params(params)?;
    let out = O::run(ctx, auth, params)?;
    serde_json::to_value(out).map_err(|e| WhmError::new(format!("cannot encode the answer: {e}")))
}

impl OpEntry {
    const fn of<O: Operation>() -> OpEntry {
        OpEntry {
            name: O::NAME,
            feature: O::FEATURE,
            api0_bare: O::API0_BARE,
            run: run_erased::<O>,
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
    OpEntry::of::<ops::tokens::ApiTokenCreate>(),
    OpEntry::of::<ops::tokens::ApiTokenList>(),
    OpEntry::of::<ops::tokens::ApiTokenRevoke>(),
    OpEntry::of::<ops::sessions::CreateUserSession>(),
];

/// A built-in operation by name.
pub fn operation(name: &str) -> Option<&'static OpEntry> {
    OPERATIONS.iter().find(|o| o.name == name)
}

/// The feature that guards a function, built-in or a plugin's.
pub fn feature_of(panel: &Panel, function: &str) -> Option<String> {
    operation(function)
        .map(|o| o.feature.to_owned())
        .or_else(|| panel.plugin_functions.get(function).cloned())
}

/// Every function name: the table's, then the plugins'.
pub fn all_functions(panel: &Panel) -> impl Iterator<Item = &str> {
    OPERATIONS
        .iter()
        .map(|o| o.name)
        .chain(panel.plugin_functions.keys().map(String::as_str))
}

/// Functions this caller may call right now, sorted.
pub fn applist(ctx: Ctx<'_>, caller: &Caller) -> Vec<String> {
    let mut names: Vec<String> = all_functions(ctx.panel)
        .filter(|f| feature_of(ctx.panel, f).is_some_and(|feature| caller.decide(ctx.snapshot, &feature).visible))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// An API answer: the envelope (or a plugin's own JSON) and its status.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Json(StatusCode, Value),
    /// A plugin's answer, passed through as it wrote it.
    Raw(StatusCode, String, Vec<u8>),
}

/// WHM API 1's envelope.
pub fn envelope(command: &str, result: Result<Value, &WhmError>) -> Value {
    match result {
        Ok(data) => {
            json!({"metadata": {"version": 1, "command": command, "result": 1, "reason": "OK"}, "data": data})
        }
        Err(e) => {
            let mut body =
                json!({"metadata": {"version": 1, "command": command, "result": 0, "reason": e.reason}, "data": null});
            if let Some(d) = &e.refusal {
                body["metadata"]["reasons"] = json!(d.reasons);
            }
            body
        }
    }
}

impl Answer {
    pub fn of(command: &str, result: Result<Value, WhmError>) -> Answer {
        match result {
            Ok(data) => Answer::Json(StatusCode::OK, envelope(command, Ok(data))),
            Err(e) => Answer::Json(e.status, envelope(command, Err(&e))),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Answer::Json(s, _) | Answer::Raw(s, _, _) => *s,
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
            Answer::Raw(status, content_type, body) => {
                (status, [(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
            }
        }
    }
}

/// Runs one API call by name for an authenticated caller: a built-in operation or a plugin's function.
pub fn dispatch(ctx: Ctx<'_>, caller: &Caller, function: &str, params: &Params, method: &str, api1: bool) -> Answer {
    if let Some(op) = operation(function) {
        let result = (op.run)(ctx, caller, params);
        return match result {
            Ok(data) if op.api0_bare && !api1 => Answer::Json(StatusCode::OK, data),
            other => Answer::of(function, other),
        };
    }
    if let Some(feature) = ctx.panel.plugin_functions.get(function) {
        return match authorize(ctx, caller, feature) {
            Ok(auth) => plugin::api(ctx, auth, function, params, method),
            Err(d) => Answer::of(function, Err(WhmError::forbidden(d))),
        };
    }
    Answer::of(
        function,
        Err(
            WhmError::new(format!("Unknown function \"{}\"", function.escape_debug()))
                .with_status(StatusCode::NOT_FOUND),
        ),
    )
}
