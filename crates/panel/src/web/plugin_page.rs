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
    if let Err(d) = visit.authorize(&feature) {
        return visit.forbidden(&d);
    }
    let method = if form.posted { "POST" } else { "GET" };
    let title = feature_title(&visit.snapshot, &feature);
    let plugins = visit.panel.plugins();
    let call = {
        let (visit, feature) = (visit.clone(), feature.clone());
        let (params, next) = (form.params.clone(), form.next.clone());
        move || {
            // The same caller and snapshot decided above; not counted twice.
            let auth = visit
                .caller
                .authorize(&visit.snapshot, &feature)
                .map_err(|_| "access was refused".to_owned())?;
            crate::whm::plugin::page(visit.ctx(), auth, &path, &params, method, visit.token(), &next)
        }
    };
    let answer = visit
        .panel
        .plugin_calls
        .run(&plugins, visit.snapshot.config(), &feature, call)
        .await;
    match answer.unwrap_or_else(|refused| {
        visit.panel.metrics.plugin_call_refused(&feature);
        if refused.faulted() {
            visit.panel.recompile_after_fault();
        }
        Err(refused.to_string())
    }) {
        // The fragment is the plugin's own markup, from code the administrator chose to load.
        Ok((status, fragment)) => visit.render(status, &title, html! { (PreEscaped(fragment)) }),
        Err(e) => visit.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "Plugin Error",
            html! { p.error { (e) } },
        ),
    }
}
