//! Calls into plugins on behalf of one authorized caller: the request the plugin sees (who, with which privileges,
//! the form nonce of the page) and what the host offers it during the call (user lookup, the audit log, the log).

use axum::http::StatusCode;
use plugin_abi::{HostCallbacks, LogLevel, Request, Response, Target, UserInfo};
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
    /// Set when the plugin tried to record a change on a read-only configuration (and so made none).
    pub refused_read_only: std::sync::atomic::AtomicBool,
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
        self.panel
            .audit
            .record(&name, self.caller.audit_with(fields))
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
        };
        match super::dispatch(ctx, self.caller, function, &Params(params.to_vec()), "GET", true) {
            Answer::Json(_, body) => Ok(body.to_string()),
            Answer::Raw(_, _, body) => String::from_utf8(body).map_err(|e| e.to_string()),
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
        feature: auth.feature().to_owned(),
        target,
        user: user_info(ctx.panel, ctx.snapshot, &caller.user, caller.privileges.has_all()),
        source: caller.source.to_string(),
        method: method.to_owned(),
        path,
        params: params.0.clone(),
        body: Vec::new(),
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
        refused_read_only: std::sync::atomic::AtomicBool::new(false),
    };
    let answer = ctx.panel.plugins().host.call(auth.feature(), request, &services);
    if let Err(e) = &answer {
        ctx.panel.plugin_call_failed(auth.feature(), e);
    }
    // A change refused because the server's files are read-only is answered as that, whatever the plugin said.
    if services.refused_read_only.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(settings::config::READ_ONLY.to_owned());
    }
    answer.map_err(|e| e.to_string())
}

/// A plugin's API function; its JSON is passed through as the plugin wrote it.
pub fn api(ctx: Ctx<'_>, auth: Authorized<'_>, function: &str, params: &Params, method: &str) -> Answer {
    let target = Target::Api {
        function: function.to_owned(),
    };
    let req = request(ctx, auth, target, format!("/json-api/{function}"), params, method, None);
    match call(ctx, auth, &req) {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if serde_json::from_slice::<serde::de::IgnoredAny>(&resp.body).is_err() {
                return Answer::of(
                    function,
                    Err(WhmError::new("the plugin answered with invalid JSON").with_status(StatusCode::BAD_GATEWAY)),
                );
            }
            Answer::Raw(status, "application/json; charset=utf-8".into(), resp.body)
        }
        Err(e) if e == settings::config::READ_ONLY => Answer::of(function, Err(WhmError::new(e))),
        Err(e) => Answer::of(
            function,
            Err(WhmError::new(format!("the plugin could not answer: {e}")).with_status(StatusCode::SERVICE_UNAVAILABLE)),
        ),
    }
}

/// A plugin's page: its status and HTML fragment (to go inside the panel's layout), or why it could not answer.
pub fn page(
    ctx: Ctx<'_>,
    auth: Authorized<'_>,
    path: &str,
    params: &Params,
    method: &str,
    security_token: &str,
    csrf_token: &str,
) -> Result<(StatusCode, String), String> {
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
    Ok((status, String::from_utf8_lossy(&resp.body).into_owned()))
}
