//! Calls into plugins on behalf of one authorized caller: the request the plugin sees (who, with which privileges,
//! the form nonce of the page, the parameters and the raw body), what the host offers it during the call (user
//! lookup, the audit log, the log, the panel's own API, the caller's access key), and how its answer is served: an API function's JSON as written, or in API 0's
//! form; a page's HTML inside the panel's layout, anything else as its own document.

use axum::http::StatusCode;
use plugin_abi::{CallerKey, HostCallbacks, LogLevel, Request, Response, Target, UserInfo};
use serde_json::{Value, json};
use settings::{Snapshot, UserKind, Username};

use super::{Answer, Ctx, Params, WhmError};
use crate::auth::{Authorized, Caller};
use crate::state::Panel;

/// The host's side of one plugin call.
#[derive(Debug)]
pub struct Services<'a> {
    pub panel: &'a Panel,
    pub snapshot: &'a Snapshot,
    pub caller: &'a Caller,
    /// The feature the call is for.
    pub feature: &'a str,
    /// Set when the plugin tried to record a change on a read-only configuration (and so made none).
    pub refused_read_only: std::sync::atomic::AtomicBool,
    /// Set when the plugin recorded an event, which it does before every change it makes (a key it writes, say).
    pub audited: std::sync::atomic::AtomicBool,
}

fn abi_kind(kind: UserKind) -> plugin_abi::UserKind {
    match kind {
        UserKind::Root => plugin_abi::UserKind::ROOT,
        UserKind::Reseller => plugin_abi::UserKind::RESELLER,
        UserKind::Account => plugin_abi::UserKind::ACCOUNT,
    }
}

/// A user as plugins see them: kind, `all`, and where their home (and `.accesshash`) is. The home may not exist yet:
/// writing a key creates it (mode 0700), so nothing is created on a request's path.
pub fn user_info(panel: &Panel, snapshot: &Snapshot, user: &Username, has_all: bool) -> UserInfo {
    let kind = snapshot.config().users.kind(user).unwrap_or(UserKind::Account);
    let home = panel.home_of(snapshot, user);
    UserInfo {
        name: user.to_string(),
        kind: abi_kind(kind),
        has_all,
        home,
    }
}

impl HostCallbacks for Services<'_> {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        let user = Username::new(name).ok()?;
        let has_all = self.snapshot.config().users.privileges(&user)?.has_all();
        Some(user_info(self.panel, self.snapshot, &user, has_all))
    }

    fn audit(&self, event: &str) -> Result<(), String> {
        // Plugins audit a change before making it (a key is written only once its event is recorded), so refusing
        // the record on a real server's files keeps every plugin from writing there.
        if self.snapshot.config().is_read_only() {
            self.refused_read_only.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(settings::config::READ_ONLY.to_owned());
        }
        let fields: serde_json::Value =
            serde_json::from_str(event).map_err(|e| format!("audit event is not JSON: {e}"))?;
        let name = fields
            .get("event")
            .and_then(|v| v.as_str())
            .unwrap_or("plugin_event")
            .to_owned();
        self.audited.store(true, std::sync::atomic::Ordering::Relaxed);
        // The record is synced, and a change follows it: never on an async worker.
        crate::plugin_set::blocking(|| self.panel.audit.record(&name, self.caller.audit_with(fields)))
            .map_err(|e| format!("cannot write the audit log: {e}"))
    }

    /// The panel's own operations, as the request's caller and within its privileges; never another plugin's
    /// function, so a plugin cannot re-enter plugins.
    fn call_api(&self, function: &str, params: &[(String, String)]) -> Result<String, String> {
        if super::operation(function).is_none() {
            return Err(format!(
                "plugins may call the panel's own WHM API 1 functions only, not {function}"
            ));
        }
        let ctx = Ctx {
            panel: self.panel,
            snapshot: self.snapshot,
            origin: None,
            body: &[],
        };
        let params = Params(params.to_vec());
        let answer = || super::dispatch(ctx, self.caller, function, &params, "GET", true);
        // An operation that writes files writes them off the async workers, as it does when called over HTTP.
        let answer = if super::operation(function).is_some_and(|o| o.writes) {
            crate::plugin_set::blocking(answer)
        } else {
            answer()
        };
        match answer {
            Answer::Json(_, body) => Ok(body.to_string()),
            Answer::Raw(_, _, body) | Answer::Written(_, body) => String::from_utf8(body).map_err(|e| e.to_string()),
        }
    }

    /// The caller's own access key as the panel's key cache holds it (the key this request was authenticated with,
    /// when it was): only for a request carrying a full-access credential, to a feature that requires one, since the
    /// key is a full-access credential itself. A real server's key is read as its user's (owned by them); a user of a
    /// real server the tree knows no key of is left to the plugin.
    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        let requires_full_access = self
            .snapshot
            .feature_id(self.feature)
            .is_some_and(|id| self.snapshot.feature(id).requirements.full_access);
        if !self.caller.full_access || !requires_full_access {
            return answer(CallerKey::Refused(
                "the panel hands the caller's access key only to a feature that requires a full-access credential, \
                 for a request that carries one",
            ));
        }
        let user = &self.caller.user;
        let (home, owner) = match self.snapshot.config().whm.as_deref() {
            Some(tree) => match tree
                .keys
                .get(user)
                .and_then(|k| Some((k.path.parent()?.to_owned(), k.uid)))
            {
                Some((home, uid)) => (home, Some(uid)),
                None => return answer(CallerKey::NotOffered),
            },
            None => (self.panel.home_of(self.snapshot, user), None),
        };
        let read = self.panel.keys.with(&home, owner, |key| match key {
            Some(key) => answer(CallerKey::Key(key.as_str())),
            None => answer(CallerKey::NoKey),
        });
        if let Err(e) = read {
            answer(CallerKey::Refused(&e.to_string()));
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::ERROR => tracing::error!(target: "plugin", "{message}"),
            LogLevel::WARN => tracing::warn!(target: "plugin", "{message}"),
            _ => tracing::info!(target: "plugin", "{message}"),
        }
    }
}

/// The request a plugin sees for this caller.
fn request(
    ctx: Ctx<'_>,
    auth: Authorized<'_>,
    target: Target,
    path: String,
    params: &Params,
    method: &str,
    page: Option<(&str, &str)>,
) -> Request {
    let caller = auth.caller();
    let (security_token, csrf_token) =
        page.map_or((String::new(), String::new()), |(s, c)| (format!("/{s}"), c.to_owned()));
    Request {
        // The call names the feature itself (`PluginHost::call`, which sets it for the plugin).
        feature: String::new(),
        target,
        user: user_info(ctx.panel, ctx.snapshot, &caller.user, caller.privileges.has_all()),
        source: caller.source.to_string(),
        method: method.to_owned(),
        path,
        // `api.version` chose between API 1 and API 0; the plugin is not asked to read it.
        params: params.0.iter().filter(|(k, _)| k != "api.version").cloned().collect(),
        body: ctx.body.to_vec(),
        security_token,
        csrf_token,
        full_access: caller.full_access,
    }
}

fn call(ctx: Ctx<'_>, auth: Authorized<'_>, request: &Request) -> Result<Response, String> {
    let services = Services {
        panel: ctx.panel,
        snapshot: ctx.snapshot,
        caller: auth.caller(),
        feature: auth.feature(),
        refused_read_only: std::sync::atomic::AtomicBool::new(false),
        audited: std::sync::atomic::AtomicBool::new(false),
    };
    // Only a call that reaches the plugin counts towards its fast lane; a refused one says nothing of its speed.
    crate::plugin_set::reached_the_plugin();
    let answer = ctx.panel.plugins().host.call(auth.feature(), request, &services);
    // A plugin that recorded an event may have changed a credential file (a key it generated): the credential caches
    // look at their files again before the client can present the new credential, without waiting for the change's
    // notification.
    if services.audited.load(std::sync::atomic::Ordering::Relaxed) {
        ctx.panel.credential_files_changed();
    }
    if let Err(e) = &answer {
        ctx.panel.plugin_call_failed(auth.feature(), e);
    }
    // A change refused because the server's files are read-only is answered as that, whatever the plugin said.
    if services.refused_read_only.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(settings::config::READ_ONLY.to_owned());
    }
    answer.map_err(|e| e.to_string())
}

/// A plugin's API function: its answer, checked to be JSON; `Err` is the envelope of why there is none.
fn api_answer(
    ctx: Ctx<'_>,
    auth: Authorized<'_>,
    function: &str,
    params: &Params,
    method: &str,
) -> Result<Response, Answer> {
    let target = Target::Api {
        function: function.to_owned(),
    };
    let req = request(ctx, auth, target, format!("/json-api/{function}"), params, method, None);
    match call(ctx, auth, &req) {
        Ok(resp) if serde_json::from_slice::<serde::de::IgnoredAny>(&resp.body).is_ok() => Ok(resp),
        Ok(_) => Err(Answer::of(
            function,
            Err(WhmError::new("the plugin answered with invalid JSON").with_status(StatusCode::BAD_GATEWAY)),
        )),
        Err(e) if e == settings::config::READ_ONLY => Err(Answer::of(function, Err(WhmError::new(e)))),
        Err(e) => Err(Answer::of(
            function,
            Err(WhmError::new(format!("the plugin could not answer: {e}")).with_status(StatusCode::SERVICE_UNAVAILABLE)),
        )),
    }
}

/// A plugin's API function; its JSON is passed through as the plugin wrote it.
pub fn api(ctx: Ctx<'_>, auth: Authorized<'_>, function: &str, params: &Params, method: &str) -> Answer {
    match api_answer(ctx, auth, function, params, method) {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Answer::Written(status, resp.body)
        }
        Err(answer) => answer,
    }
}

/// A plugin's API function called as legacy API 0 (declared with `Feature::api0_function`): the plugin answers WHM
/// API 1's envelope, and API 0 gets `data` at the top level (an empty object when there is none), or its
/// `{"status": 0, "statusmsg": reason}` when `result` is 0. A plugin answer that is not an envelope is passed through.
pub fn api0(ctx: Ctx<'_>, auth: Authorized<'_>, function: &str, params: &Params, method: &str) -> Answer {
    let resp = match api_answer(ctx, auth, function, params, method) {
        Ok(resp) => resp,
        Err(Answer::Json(status, body)) => {
            let reason = body["metadata"]["reason"].as_str().unwrap_or_default();
            return Answer::Json(status, super::api0_error(reason));
        }
        Err(raw) => return raw,
    };
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let Ok(mut answer) = serde_json::from_slice::<Value>(&resp.body) else {
        return Answer::Raw(status, "application/json; charset=utf-8".into(), resp.body);
    };
    let Some(result) = answer["metadata"]["result"].as_u64() else {
        return Answer::Json(status, answer);
    };
    if result == 1 {
        let data = answer.get_mut("data").map_or_else(|| json!({}), Value::take);
        Answer::Json(status, data)
    } else {
        let reason = answer["metadata"]["reason"].as_str().unwrap_or_default();
        Answer::Json(status, super::api0_error(reason))
    }
}

/// What a plugin page answered.
#[derive(Debug)]
pub enum PageAnswer {
    /// `text/html`: a fragment to go inside the panel's layout.
    Fragment(StatusCode, String),
    /// Any other type (JSON, CSV, a file to download): served as the plugin wrote it, with its own content type.
    Document(StatusCode, String, Vec<u8>),
}

/// Whether a content type is HTML, which a page puts inside the layout.
fn is_html(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
}

/// A plugin's page: its answer, or why it could not answer.
pub fn page(
    ctx: Ctx<'_>,
    auth: Authorized<'_>,
    path: &str,
    params: &Params,
    method: &str,
    security_token: &str,
    csrf_token: &str,
) -> Result<PageAnswer, String> {
    let req = request(
        ctx,
        auth,
        Target::Page,
        path.to_owned(),
        params,
        method,
        Some((security_token, csrf_token)),
    );
    let resp = call(ctx, auth, &req)?;
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if is_html(&resp.content_type) {
        return Ok(PageAnswer::Fragment(
            status,
            String::from_utf8_lossy(&resp.body).into_owned(),
        ));
    }
    let content_type = if resp.content_type.trim().is_empty() {
        "application/octet-stream".to_owned()
    } else {
        resp.content_type
    };
    Ok(PageAnswer::Document(status, content_type, resp.body))
}
