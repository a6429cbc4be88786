//! A plugin's page: found by the path the plugin declared among the plugins in force, authorized for its feature,
//! given the session prefix and a fresh form nonce, and shown inside the panel's layout.

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{PreEscaped, html};

use super::csrf::Csrf;
use super::{Visit, feature_title};

/// Serves the plugin page at the session path `/{page}`, or the panel's "no such page".
pub async fn show(Path(params): Path<HashMap<String, String>>, visit: Visit, form: Csrf) -> Response {
    let path = format!("/{}", params.get("page").map_or("", String::as_str));
    let Some(feature) = visit.panel.plugins().page(&path).map(str::to_owned) else {
        return super::not_found();
    };
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
