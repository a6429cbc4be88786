//! Getting in and out: the login form, the landing page of a one-time login link, and logging out.
//! Each login and each redeemed link is audited with who opened the session and how.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use settings::{UserKind, Username};

use super::csrf::Csrf;
use super::{Visit, layout, page, redirect};
use crate::api_params::{Call, WhmParams};
use crate::auth::header::{fail, refused, verify_password};
use crate::conn::{Https, Peer};
use crate::state::Panel;
use crate::store::limiter::Kind;
use crate::store::sessions::{COOKIE, Grant, random_alnum};

/// The cookie that carries the login form's nonce; the form carries it too, and a login needs both to match.
pub const LOGIN_COOKIE: &str = "whostmgrlogin";

fn login_form(message: Option<&str>, nonce: &str) -> Markup {
    layout(
        "Login",
        None,
        html! {
            @if let Some(m) = message { p.error { (m) } }
            form method="post" action="/login/" {
                input type="hidden" name="csrf_token" value=(nonce);
                p { label { "Username " input name="user" id="user" autocomplete="username"; } }
                p { label { "Password " input type="password" name="pass" id="pass" autocomplete="current-password"; } }
                p { button type="submit" id="login_submit" { "Log in" } }
            }
            div.group #how-to-log-in {
                p { "No password yet? On the server, as its administrator:" }
                ul {
                    li { code { "tweakgate session --user root" } " prints a one-time login link (valid 5 minutes);" }
                    li { code { "tweakgate passwd --user root" } " sets a password, read from standard input." }
                }
            }
        },
    )
}

/// The login form with a fresh nonce, set in its cookie (for the login path only) and in the form.
fn login_page(status: StatusCode, jar: CookieJar, https: Https, message: Option<&str>) -> Response {
    let nonce = random_alnum(32);
    let cookie = Cookie::build((LOGIN_COOKIE, nonce.clone()))
        .path("/login")
        .http_only(true)
        .secure(https.0)
        .same_site(SameSite::Strict)
        .build();
    (status, jar.add(cookie), login_form(message, &nonce)).into_response()
}

pub async fn show(jar: CookieJar, https: Https) -> Response {
    login_page(StatusCode::OK, jar, https, None)
}

/// The origin (`scheme://host[:port]`) of a URL, lowercased, without the scheme's default port.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let scheme = scheme.to_ascii_lowercase();
    let mut host = host.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    if host.ends_with(default) {
        host.truncate(host.len() - default.len());
    }
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Whether a request carries a browser's marks of a cross-site post: `Sec-Fetch-Site: cross-site`, or an `Origin` or
/// `Referer` naming another origin than `own` (an unreadable or `null` one counts as another). A script sends none.
pub fn cross_site(headers: &HeaderMap, own: &str) -> bool {
    let own = origin_of(own);
    let foreign = |name: header::HeaderName| {
        headers
            .get(name)
            .is_some_and(|v| v.to_str().ok().and_then(origin_of).is_none_or(|o| Some(o) != own))
    };
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cross-site"));
    fetch_site || foreign(header::ORIGIN) || foreign(header::REFERER)
}

/// How a login answers: the login page for a browser, JSON for `login_only=1`.
#[derive(Debug, Clone, Copy)]
struct Reply {
    login_only: bool,
    https: Https,
}

impl Reply {
    /// A refused login: the page with its message and a fresh nonce, or `{"status":0,"message":…}`.
    fn refuse(self, status: StatusCode, jar: CookieJar, message: &str) -> Response {
        if self.login_only {
            (status, axum::Json(json!({"status": 0, "message": message}))).into_response()
        } else {
            login_page(status, jar, self.https, Some(message))
        }
    }
}

/// `POST /login/` (form fields `user`, `pass`, the page's `csrf_token`; optional `tfa_token`; `?login_only=1` for a
/// JSON answer): a password login starts the user's own session. The body is read as the API reads it, whatever its
/// content type. The page's nonce, when sent, must be the one its cookie holds; a post without one is a script's
/// and is served, unless it carries a browser's cross-site marks ([`cross_site`]): that is login CSRF, refused.
pub async fn submit(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    https: Https,
    call: Call,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<WhmParams, Response>,
) -> Response {
    let params = match params {
        Ok(WhmParams(params, _)) => params,
        Err(refused) => return refused,
    };
    let reply = Reply {
        login_only: params.flag("login_only").ok().flatten().unwrap_or(false),
        https,
    };
    let user = params.get("user").unwrap_or_default().to_owned();
    let nonce = params.get("csrf_token").unwrap_or_default();
    let peer = peer.ip();
    let nonce_ok = if nonce.is_empty() {
        !cross_site(&headers, &call.request_origin(&panel.snapshot()))
    } else {
        jar.get(LOGIN_COOKIE)
            .is_some_and(|c| credentials::Secret::from(c.value()).ct_eq(nonce))
    };
    if !nonce_ok {
        return reply.refuse(
            StatusCode::FORBIDDEN,
            jar,
            "The login form expired or did not come from this server; try again.",
        );
    }
    if let Some(wait) = panel.limiter.password_wait(peer, &user) {
        refused(
            &panel,
            Some(&user),
            peer,
            "password throttled at the login page; not checked",
        );
        let mut answer = reply.refuse(
            StatusCode::TOO_MANY_REQUESTS,
            jar,
            &format!(
                "Too many failed logins; try again in {} seconds.",
                crate::auth::header::retry_after(wait).to_str().unwrap_or("a few")
            ),
        );
        answer
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, crate::auth::header::retry_after(wait));
        return answer;
    }
    let snapshot = panel.snapshot();
    let known = Username::new(&user)
        .ok()
        .and_then(|u| snapshot.user_id(u.as_str()).map(|id| (u, snapshot.user_kind(id))));
    let hash = known
        .as_ref()
        .and_then(|(u, _)| snapshot.config().users.password_hash(u));
    let pass = params.get("pass").unwrap_or_default().to_owned();
    let Some(ok) = verify_password(&panel, hash, pass.into()).await else {
        return reply.refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            jar,
            "The server is busy; try again in a moment.",
        );
    };
    match known {
        Some((_, UserKind::Account)) if ok => {
            refused(&panel, Some(&user), peer, "a cPanel account cannot log in to WHM");
            reply.refuse(StatusCode::UNAUTHORIZED, jar, "The login is invalid.")
        }
        Some((user, _)) if ok && hash.is_some() => {
            panel.limiter.record_success(peer, user.as_str());
            let _ = panel.audit.record(
                "login",
                json!({"user": user, "actor": user, "auth": "password", "source": peer.to_string()}),
            );
            let jar = jar.remove(Cookie::build(LOGIN_COOKIE).path("/login"));
            let (jar, token) = start(&panel, jar, https, Grant::own(user, "password"), None);
            if reply.login_only {
                let body =
                    json!({"status": 1, "security_token": format!("/{token}"), "redirect": format!("/{token}/")});
                (jar, axum::Json(body)).into_response()
            } else {
                (jar, redirect(&format!("/{token}/"))).into_response()
            }
        }
        _ => {
            fail(
                &panel,
                Some(&user),
                peer,
                "wrong password or unknown user at the login page",
                Kind::Password,
            );
            reply.refuse(StatusCode::UNAUTHORIZED, jar, "The login is invalid.")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Landing {
    session: Option<String>,
    /// Where the session starts (WHM's `goto_uri`): a path inside the session, e.g. `/server-information`.
    goto_uri: Option<String>,
}

/// A `goto_uri` the landing follows: a path inside the session (`/` then letters, digits, `-`, `_`, `.`, `/`, and a
/// query of the same plus `=` and `&`), never another site, another session or a path with `..`.
pub fn session_path(goto: &str) -> Option<&str> {
    let (path, query) = goto.split_once('?').unwrap_or((goto, ""));
    let plain = |s: &str, extra: &[u8]| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b) || extra.contains(&b))
    };
    let fine = path.starts_with('/')
        && !path.starts_with("//")
        && !path.split('/').any(|seg| seg == "..")
        && goto.len() <= 512
        && plain(path, b"")
        && plain(query, b"=&%");
    fine.then_some(goto)
}

/// `/cpsess…/login/?session=…[&goto_uri=/path]`: redeems a one-time login link once and starts its session, on the
/// Home menu or at `goto_uri`.
pub async fn landing(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    https: Https,
    jar: CookieJar,
    Query(q): Query<Landing>,
) -> Response {
    let snapshot = panel.snapshot();
    // A link works once, and only for a WHM user: root or a reseller in the configuration in force now.
    let redeemed = q.session.as_deref().and_then(|s| panel.sessions.redeem(s)).filter(|r| {
        snapshot
            .user_id(r.grant.user.as_str())
            .is_some_and(|id| snapshot.user_kind(id) != UserKind::Account)
    });
    let Some(redeemed) = redeemed else {
        return page(
            StatusCode::UNAUTHORIZED,
            layout(
                "Login",
                None,
                html! {
                    p.error { "This login link is invalid or was already used." }
                    p { a href="/login/" { "Log in" } }
                },
            ),
        );
    };
    let grant = redeemed.grant;
    let _ = panel.audit.record(
        "session_redeemed",
        json!({"user": grant.user, "actor": grant.opened_by, "auth": grant.opened_with, "source": peer.ip().to_string(),
            "limited_to": grant.limit().map(|s| s.iter().map(|a| a.name()).collect::<Vec<_>>())}),
    );
    // The session keeps the security token its link was made with: the one `create_user_session` answered.
    let goto = q.goto_uri.as_deref().and_then(session_path);
    let (jar, token) = start(&panel, jar, https, grant, redeemed.security_token);
    (jar, redirect(&format!("/{token}{}", goto.unwrap_or("/")))).into_response()
}

/// Starts a session: the jar with its cookie, and its security token (`cpsess…`).
fn start(
    panel: &Panel,
    jar: CookieJar,
    https: Https,
    grant: Grant,
    security_token: Option<String>,
) -> (CookieJar, String) {
    let (token, cookie) = panel.sessions.start_with(grant, security_token);
    let cookie = Cookie::build((COOKIE, cookie))
        .path("/")
        .http_only(true)
        .secure(https.0)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), token)
}

/// `POST /cpsess…/logout` with the nav's one-use nonce (the `Csrf` extractor refuses it without): ends the session
/// and clears its cookie.
pub async fn logout(visit: Visit, jar: CookieJar, _form: Csrf) -> Response {
    visit.panel.sessions.end(visit.token());
    (jar.remove(Cookie::build(COOKIE).path("/")), redirect("/login/")).into_response()
}
