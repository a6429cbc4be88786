//! The panel's web pages: login, the session landing, the menu, and plugin pages behind the gate.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use plugin_abi::{Request, Target};
use settings::{Decision, Snapshot, Username};

use crate::auth::{self, Caller};
use crate::http::Incoming;
use crate::services::{Services, full_access, user_info};
use crate::sessions::COOKIE;
use crate::state::Panel;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Wraps a page body in the panel's layout.
pub fn layout(title: &str, user: Option<(&str, &str)>, body: &str) -> String {
    let bar = match user {
        Some((name, token)) => format!(
            "<nav class=\"top\"><a class=\"brand\" href=\"/{token}/\">Tweak<b>gate</b> WHM</a><a href=\"/{token}/\">Home</a><span>Logged in as <b>{}</b></span><a href=\"/{token}/logout\">Log out</a></nav>",
            esc(name)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} - Tweakgate WHM</title><style>{CSS}</style></head>\
<body>{bar}<main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

const CSS: &str = "*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f3f5f7;color:#1c2b36}a{color:#0b62a4;text-decoration:none}a:hover{text-decoration:underline}nav.top{display:flex;gap:1.2em;align-items:center;background:#1f3347;color:#fff;padding:.65em 1.5em;box-shadow:0 1px 3px rgba(0,0,0,.25)}nav.top a{color:#fff}nav.top .brand{font-weight:700;letter-spacing:.02em;margin-right:.8em}nav.top .brand b{color:#ff7a3d}nav.top span{margin-left:auto;opacity:.9}main{padding:1em 2em 3em;max-width:78em}h1{font-size:1.6em;font-weight:600;margin:.4em 0 .7em}h2{font-size:1.15em}.menu{display:grid;grid-template-columns:repeat(auto-fill,minmax(17em,1fr));gap:1em;align-items:start}.menu .group{margin:0}.group{background:#fff;border:1px solid #d5dde3;border-radius:6px;margin:.8em 0;padding:.6em 1.1em}.group h2{font-size:1.02em;margin:.3em 0 .5em;padding-bottom:.35em;border-bottom:1px solid #e6ebef;color:#293a4a}.group ul{list-style:none;margin:0;padding:0}.group li{padding:.2em 0}.warning,.error,.ok{border-radius:4px;padding:.6em .9em;margin:.8em 0}.warning p{margin:0}.warning{background:#fff6dd;border:1px solid #e5c265;border-left:4px solid #e0a800}.error{background:#fde8e7;border:1px solid #e4a09e;border-left:4px solid #d9534f}.ok{background:#e6f5e3;border:1px solid #9fd29a;border-left:4px solid #4cae4c}button{background:#0b62a4;color:#fff;border:0;border-radius:4px;padding:.45em 1.1em;font:inherit;cursor:pointer}button:hover{background:#094f85}input,select,textarea{font:inherit;padding:.3em .45em;border:1px solid #b8c4cd;border-radius:4px;background:#fff}textarea{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;width:100%}code{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.88em;color:#44545f}small{color:#5a6b78}table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #dde4e9;padding:.45em .7em;text-align:left;vertical-align:top}th{background:#eef2f5;font-weight:600}fieldset.group legend{font-weight:600;padding:0 .3em}fieldset.group{display:grid;grid-template-columns:repeat(auto-fill,minmax(26em,1fr));gap:0 1.2em}fieldset.group label{padding:.12em 0}td.control{white-space:nowrap}td.yes{color:#2e7d32}td.no{color:#b3261e}fieldset{border:1px solid #d5dde3;border-radius:6px;background:#fff;margin:.8em 0}.key{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}.key textarea{width:auto;resize:none;background:#fbfcfd}.key .side{flex:1;min-width:20em}.key .side p:first-child{margin-top:0}";

/// The 403 page: the reasons, never the feature.
pub fn forbidden_page(caller: &Caller, decision: &Decision) -> Response {
    let token = session_token(caller);
    let items: String = decision
        .reasons
        .iter()
        .map(|r| format!("<li><code>{}</code> {}</li>", r.code(), esc(&r.to_string())))
        .collect();
    let body = format!(
        "<div class=\"error\"><p>You do not have access to this page.</p><ul id=\"reasons\">{items}</ul></div>"
    );
    (
        StatusCode::FORBIDDEN,
        Html(layout("Access Denied", Some((caller.user.as_str(), &token)), &body)),
    )
        .into_response()
}

fn session_token(caller: &Caller) -> String {
    match &caller.method {
        auth::AuthMethod::Session { security_token } => security_token.clone(),
        _ => String::new(),
    }
}

/// `/cpsess…/login/?session=…`: redeems a one-time login and starts a session with a cookie.
pub fn session_landing(panel: &Panel, req: &Incoming) -> Response {
    let Some(user) = req.param("session").and_then(|s| panel.sessions.redeem_one_time(s)) else {
        return (StatusCode::UNAUTHORIZED, Html(layout("Login", None, "<p class=\"error\">This login link is invalid or was already used.</p><p><a href=\"/login/\">Log in</a></p>"))).into_response();
    };
    start_session(panel, &user)
}

fn start_session(panel: &Panel, user: &Username) -> Response {
    let (token, cookie) = panel.sessions.start(user);
    let mut r = redirect(&format!("/{token}/"));
    let c = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Pages reachable without a session: the login form.
pub fn public(panel: &Panel, snapshot: &Snapshot, req: &Incoming) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => redirect("/login/"),
        ("GET", "/login/" | "/login") => Html(login_form(None)).into_response(),
        ("POST", "/login/" | "/login") => {
            let user = req.param("user").unwrap_or_default();
            let pass = req.param("pass").unwrap_or_default();
            if panel.limiter.is_throttled(req.peer) {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Html(login_form(Some("Too many failed logins; try again later."))),
                )
                    .into_response();
            }
            let known = Username::new(user)
                .ok()
                .filter(|u| snapshot.user_id(u.as_str()).is_some());
            let hash = known.as_ref().and_then(|u| snapshot.config().users.password_hash(u));
            match (known, hash) {
                (Some(u), Some(h)) if auth::check_password(h, pass) => start_session(panel, &u),
                _ => {
                    auth::fail(
                        panel,
                        Some(user),
                        req.peer,
                        "wrong password or unknown user at the login page",
                    );
                    (
                        StatusCode::UNAUTHORIZED,
                        Html(login_form(Some("The login is invalid."))),
                    )
                        .into_response()
                }
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            Html(layout("Not Found", None, "<p>There is no such page.</p>")),
        )
            .into_response(),
    }
}

fn login_form(message: Option<&str>) -> String {
    let msg = message
        .map(|m| format!("<p class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    layout(
        "Login",
        None,
        &format!(
            "{msg}<form method=\"post\" action=\"/login/\"><p><label>Username <input name=\"user\" id=\"user\" autocomplete=\"username\"></label></p>\
<p><label>Password <input type=\"password\" name=\"pass\" id=\"pass\" autocomplete=\"current-password\"></label></p><p><button type=\"submit\" id=\"login_submit\">Log in</button></p></form>"
        ),
    )
}

/// Pages inside a session (`/cpsess…/…`).
pub fn handle(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, path: &str) -> Response {
    let token = session_token(caller);
    if path == "/logout" {
        panel.sessions.end(&token);
        return redirect("/login/");
    }
    if path == "/" {
        return home(snapshot, caller, &token);
    }
    let page = path.trim_matches('/');
    if let Some(feature) = crate::admin_pages::feature_of_page(page) {
        let decision = caller.decide(snapshot, feature);
        if !decision.visible {
            return forbidden_page(caller, &decision);
        }
        if req.method == axum::http::Method::POST
            && !req
                .param("csrf_token")
                .is_some_and(|n| panel.sessions.consume_nonce(&token, n))
        {
            return refused(caller, &token);
        }
        let body = crate::admin_pages::render(panel, snapshot, caller, req, page, &token);
        let nonce = panel.sessions.issue_nonce(&token);
        let body = body.replace("{{csrf_token}}", &nonce);
        let title = snapshot
            .feature_id(feature)
            .map(|id| snapshot.feature(id).title.clone())
            .unwrap_or_default();
        return Html(layout(&title, Some((caller.user.as_str(), &token)), &body)).into_response();
    }
    if let Some(feature) = panel.plugins.page_route(path) {
        let decision = caller.decide(snapshot, &feature);
        if !decision.visible {
            return forbidden_page(caller, &decision);
        }
        return plugin_page(panel, snapshot, caller, req, &feature, path, &token);
    }
    (
        StatusCode::NOT_FOUND,
        Html(layout(
            "Not Found",
            Some((caller.user.as_str(), &token)),
            "<p>There is no such page.</p>",
        )),
    )
        .into_response()
}

/// A state-changing request without a valid one-use form token: forged or replayed.
fn refused(caller: &Caller, token: &str) -> Response {
    let body = "<p class=\"error\" id=\"refused\">This form was already submitted or did not come from this session. Reload the page and try again.</p>";
    (
        StatusCode::FORBIDDEN,
        Html(layout("Request Refused", Some((caller.user.as_str(), token)), body)),
    )
        .into_response()
}

fn home(snapshot: &Snapshot, caller: &Caller, token: &str) -> Response {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for f in snapshot.features() {
        if f.group.is_empty() || !caller.decide(snapshot, &f.id).visible {
            continue;
        }
        let link = format!(
            "<li><a href=\"/{token}/{}\" data-feature=\"{}\">{}</a></li>",
            esc(&f.id),
            esc(&f.id),
            esc(&f.title)
        );
        match groups.iter_mut().find(|(g, _)| *g == f.group) {
            Some((_, items)) => items.push(link),
            None => groups.push((f.group.clone(), vec![link])),
        }
    }
    let body: String = groups
        .iter()
        .map(|(g, items)| {
            format!(
                "<section class=\"group\" data-group=\"{}\"><h2>{}</h2><ul>{}</ul></section>",
                esc(g),
                esc(g),
                items.concat()
            )
        })
        .collect();
    let body = if body.is_empty() {
        "<p class=\"group\" id=\"empty-menu\">No pages are available to you. The server's administrator can grant privileges in Edit Reseller Nameservers and Privileges.</p>".to_owned()
    } else {
        format!("<div class=\"menu\">{body}</div>")
    };
    Html(layout("Home", Some((caller.user.as_str(), token)), &body)).into_response()
}

fn plugin_page(
    panel: &Panel,
    snapshot: &Snapshot,
    caller: &Caller,
    req: &Incoming,
    feature: &str,
    path: &str,
    token: &str,
) -> Response {
    if req.method == axum::http::Method::POST
        && !req
            .param("csrf_token")
            .is_some_and(|n| panel.sessions.consume_nonce(token, n))
    {
        return refused(caller, token);
    }
    let request = Request {
        feature: feature.to_owned(),
        target: Target::Page,
        user: user_info(panel, snapshot, &caller.user, caller.has_all()),
        source: req.peer.to_string(),
        method: req.method.to_string(),
        path: path.to_owned(),
        params: req.params.clone(),
        body: Vec::new(),
        security_token: format!("/{token}"),
        csrf_token: panel.sessions.issue_nonce(token),
        full_access: full_access(panel, caller),
    };
    let services = Services {
        panel,
        snapshot,
        actor: caller.user.clone(),
        source: req.peer.to_string(),
    };
    match panel.plugins.call(feature, &request, &services) {
        Ok(resp) => {
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            let title = snapshot
                .feature_id(feature)
                .map(|id| snapshot.feature(id).title.clone())
                .unwrap_or_default();
            let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Html(layout(&title, Some((caller.user.as_str(), token)), &body))).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(layout(
                "Plugin Error",
                Some((caller.user.as_str(), token)),
                &format!("<p class=\"error\">{}</p>", esc(&e.to_string())),
            )),
        )
            .into_response(),
    }
}
