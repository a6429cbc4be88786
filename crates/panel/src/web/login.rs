//! Getting in and out: the login form, the landing page of a one-time login link, and logging out.
//! Each login and each redeemed link is audited with who opened the session and how.

use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use settings::{UserKind, Username};

use super::csrf::Csrf;
use super::{Visit, layout, page, redirect};
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

#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    user: String,
    #[serde(default)]
    pass: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /login/`: a password login starts the user's own session.
pub async fn submit(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    https: Https,
    jar: CookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let peer = peer.ip();
    let nonce_ok = jar
        .get(LOGIN_COOKIE)
        .is_some_and(|c| !form.csrf_token.is_empty() && credentials::Secret::from(c.value()).ct_eq(&form.csrf_token));
    if !nonce_ok {
        return login_page(
            StatusCode::FORBIDDEN,
            jar,
            https,
            Some("The login form expired or did not come from this server; try again."),
        );
    }
    if !panel.limiter.password_allowed(peer, &form.user) {
        refused(
            &panel,
            Some(&form.user),
            peer,
            "password throttled at the login page; not checked",
        );
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            jar,
            https,
            Some("Too many failed logins; try again later."),
        );
    }
    let snapshot = panel.snapshot();
    let known = Username::new(&form.user)
        .ok()
        .and_then(|u| snapshot.user_id(u.as_str()).map(|id| (u, snapshot.user_kind(id))));
    let hash = known
        .as_ref()
        .and_then(|(u, _)| snapshot.config().users.password_hash(u));
    let Some(ok) = verify_password(&panel, hash, form.pass.into()).await else {
        return login_page(
            StatusCode::SERVICE_UNAVAILABLE,
            jar,
            https,
            Some("The server is busy; try again in a moment."),
        );
    };
    match known {
        Some((_, UserKind::Account)) if ok => {
            refused(&panel, Some(&form.user), peer, "a cPanel account cannot log in to WHM");
            login_page(StatusCode::UNAUTHORIZED, jar, https, Some("The login is invalid."))
        }
        Some((user, _)) if ok && hash.is_some() => {
            let _ = panel.audit.record(
                "login",
                json!({"user": user, "actor": user, "auth": "password", "source": peer.to_string()}),
            );
            let jar = jar.remove(Cookie::build(LOGIN_COOKIE).path("/login"));
            start_session(&panel, jar, https, Grant::own(user, "password"), None)
        }
        _ => {
            fail(
                &panel,
                Some(&form.user),
                peer,
                "wrong password or unknown user at the login page",
                Kind::Password,
            );
            login_page(StatusCode::UNAUTHORIZED, jar, https, Some("The login is invalid."))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Landing {
    session: Option<String>,
}

/// `/cpsess…/login/?session=…`: redeems a one-time login link once and starts its session.
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
    start_session(&panel, jar, https, grant, redeemed.security_token)
}

/// Starts a session; its cookie is `Secure` when the request came over HTTPS.
fn start_session(
    panel: &Panel,
    jar: CookieJar,
    https: Https,
    grant: Grant,
    security_token: Option<String>,
) -> Response {
    let (token, cookie) = panel.sessions.start_with(grant, security_token);
    let cookie = Cookie::build((COOKIE, cookie))
        .path("/")
        .http_only(true)
        .secure(https.0)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), redirect(&format!("/{token}/"))).into_response()
}

/// `POST /cpsess…/logout` with the nav's one-use nonce (the `Csrf` extractor refuses it without): ends the session
/// and clears its cookie.
pub async fn logout(visit: Visit, jar: CookieJar, _form: Csrf) -> Response {
    visit.panel.sessions.end(visit.token());
    (jar.remove(Cookie::build(COOKIE).path("/")), redirect("/login/")).into_response()
}
