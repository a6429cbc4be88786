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

use super::{Visit, layout, page, redirect};
use crate::auth::Peer;
use crate::auth::header::{check_password, fail};
use crate::state::Panel;
use crate::store::sessions::{COOKIE, Grant};

fn login_form(message: Option<&str>) -> Markup {
    layout(
        "Login",
        None,
        html! {
            @if let Some(m) = message { p.error { (m) } }
            form method="post" action="/login/" {
                p { label { "Username " input name="user" id="user" autocomplete="username"; } }
                p { label { "Password " input type="password" name="pass" id="pass" autocomplete="current-password"; } }
                p { button type="submit" id="login_submit" { "Log in" } }
            }
        },
    )
}

pub async fn show() -> Markup {
    login_form(None)
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    user: String,
    #[serde(default)]
    pass: String,
}

/// `POST /login/`: a password login starts the user's own session.
pub async fn submit(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    jar: CookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let peer = peer.ip();
    if panel.limiter.is_throttled(peer) {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            login_form(Some("Too many failed logins; try again later.")),
        );
    }
    let snapshot = panel.snapshot();
    let known = Username::new(&form.user).ok().filter(|u| {
        snapshot
            .user_id(u.as_str())
            .is_some_and(|id| snapshot.user_kind(id) != UserKind::Account)
    });
    let hash = known.as_ref().and_then(|u| snapshot.config().users.password_hash(u));
    match (known, hash) {
        (Some(user), Some(h)) if check_password(h, &form.pass) => {
            let _ = panel.audit.record(
                "login",
                json!({"user": user, "actor": user, "auth": "password", "source": peer.to_string()}),
            );
            start_session(&panel, jar, Grant::own(user, "password"), None)
        }
        _ => {
            fail(
                &panel,
                Some(&form.user),
                peer,
                "wrong password or unknown user at the login page",
            );
            page(StatusCode::UNAUTHORIZED, login_form(Some("The login is invalid.")))
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
    jar: CookieJar,
    Query(q): Query<Landing>,
) -> Response {
    let Some(redeemed) = q.session.as_deref().and_then(|s| panel.sessions.redeem(s)) else {
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
    start_session(&panel, jar, grant, redeemed.security_token)
}

fn start_session(panel: &Panel, jar: CookieJar, grant: Grant, security_token: Option<String>) -> Response {
    let (token, cookie) = panel.sessions.start_with(grant, security_token);
    let cookie = Cookie::build((COOKIE, cookie))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), redirect(&format!("/{token}/"))).into_response()
}

/// `/cpsess…/logout`: ends the session.
pub async fn logout(visit: Visit, jar: CookieJar) -> Response {
    visit.panel.sessions.end(visit.token());
    (jar.remove(Cookie::build(COOKIE).path("/")), redirect("/login/")).into_response()
}
