//! The panel's pages, rendered with `maud` (escaped by default, checked at compile time) inside one layout.
//!
//! A page authorizes its own gate feature through [`Visit::authorize`] and calls the same typed operations as the
//! JSON API; form nonces come in through the [`csrf::Csrf`] extractor, never by text substitution.

pub mod cluster;
pub mod csrf;
pub mod feature_access;
pub mod home;
pub mod login;
pub mod plugin_page;
pub mod privileges;
pub mod tokens;
pub mod tweak_settings;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use settings::{Decision, Snapshot};

use crate::auth::{AuthMethod, Authorized, Caller};
use crate::state::Panel;
use crate::whm::Ctx;

/// The stylesheet every page links to.
pub const CSS: &str = include_str!("static/panel.css");

/// The bar at the top of a session's pages.
#[derive(Debug, Clone)]
pub struct Nav<'a> {
    pub user: &'a str,
    /// The session's `cpsess…` token, without slashes.
    pub token: &'a str,
    /// The one-use nonce of the logout form.
    pub logout_nonce: String,
}

/// Wraps a page body in the panel's layout.
pub fn layout(title: &str, nav: Option<Nav<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " - Tweakgate WHM" }
                link rel="stylesheet" href="/static/panel.css";
            }
            body {
                @if let Some(nav) = nav {
                    nav.top {
                        a.brand href={ "/" (nav.token) "/" } { "Tweak" b { "gate" } " WHM" }
                        a href={ "/" (nav.token) "/" } { "Home" }
                        span { "Logged in as " b { (nav.user) } }
                        form.logout method="post" action={ "/" (nav.token) "/logout" } {
                            input type="hidden" name="csrf_token" value=(nav.logout_nonce);
                            button type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A full HTML answer.
/// The panel's "no such page".
pub fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        layout("Not Found", None, html! { p { "There is no such page." } }),
    )
}

pub fn page(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A one-line result message above a form.
pub fn message(ok: bool, text: &str) -> Markup {
    html! { p class=(if ok { "ok" } else { "error" }) id="message" { (text) } }
}

/// One visit to a session page: the caller, its session token and the snapshot the request holds.
#[derive(Debug, Clone)]
pub struct Visit {
    pub caller: Caller,
    pub snapshot: Arc<Snapshot>,
    pub panel: Arc<Panel>,
}

impl Visit {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            panel: &self.panel,
            snapshot: &self.snapshot,
            origin: None,
            body: &[],
        }
    }

    /// The session's `cpsess…` token.
    pub fn token(&self) -> &str {
        match &self.caller.method {
            AuthMethod::Session { security_token, .. } => security_token,
            _ => "",
        }
    }

    pub fn nav(&self) -> Nav<'_> {
        Nav {
            user: self.caller.user.as_str(),
            token: self.token(),
            logout_nonce: self.panel.sessions.issue_nonce(self.token()),
        }
    }

    /// A link inside the session: `url("/tweak-settings")`.
    pub fn url(&self, path: &str) -> String {
        format!("/{}{path}", self.token())
    }

    /// This visit may use `feature`, or the gate's decision for [`forbidden`](Self::forbidden).
    pub fn authorize<'a>(&'a self, feature: &'a str) -> Result<Authorized<'a>, Decision> {
        crate::whm::authorize(self.ctx(), &self.caller, feature)
    }

    /// A page in the layout.
    pub fn render(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        page(status, layout(title, Some(self.nav()), body))
    }

    /// The 403 page: the reasons, never the feature.
    pub fn forbidden(&self, decision: &Decision) -> Response {
        self.render(
            StatusCode::FORBIDDEN,
            "Access Denied",
            html! {
                div.error {
                    p { "You do not have access to this page." }
                    ul #reasons {
                        @for r in &decision.reasons {
                            li { code { (r.code()) } " " (r.to_string()) }
                        }
                    }
                }
            },
        )
    }
}

/// Set by the session layer on every request it lets through.
impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Visit, StatusCode> {
        parts.extensions.get::<Visit>().cloned().ok_or(StatusCode::UNAUTHORIZED)
    }
}

/// The title of a feature as the menu shows it.
pub fn feature_title(snapshot: &Snapshot, feature: &str) -> String {
    snapshot
        .feature_id(feature)
        .map(|id| snapshot.feature(id).title.clone())
        .unwrap_or_default()
}
