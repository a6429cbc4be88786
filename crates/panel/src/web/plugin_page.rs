//! A plugin's page: routed by the path the plugin declared, authorized for its feature, given the session prefix and
//! a fresh form nonce, and shown inside the panel's layout.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{PreEscaped, html};

use super::csrf::Csrf;
use super::{Visit, feature_title};

/// Serves the page of `feature` at `path`.
pub async fn show(feature: String, path: String, visit: Visit, form: Csrf) -> Response {
    let auth = match visit.authorize(&feature) {
        Ok(a) => a,
        Err(d) => return visit.forbidden(&d),
    };
    let method = if form.posted { "POST" } else { "GET" };
    let title = feature_title(&visit.snapshot, &feature);
    match crate::whm::plugin::page(
        visit.ctx(),
        auth,
        &path,
        &form.params,
        method,
        visit.token(),
        &form.next,
    ) {
        // The fragment is the plugin's own markup, from code the administrator chose to load.
        Ok((status, fragment)) => visit.render(status, &title, html! { (PreEscaped(fragment)) }),
        Err(e) => visit.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "Plugin Error",
            html! { p.error { (e) } },
        ),
    }
}
