//! A plugin's page: found by the path the plugin declared among the plugins in force, authorized for its feature,
//! given the session prefix, a fresh form nonce and the posted body, and shown inside the panel's layout when it is
//! HTML, or served as its own document (JSON, a download) when it is not.

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};

use super::csrf::Csrf;
use super::{Visit, feature_title};
use crate::whm::plugin::PageAnswer;

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
        let (params, next, body) = (form.params.clone(), form.next.clone(), form.body.clone());
        move || {
            // The same caller and snapshot decided above; not counted twice.
            let auth = visit
                .caller
                .authorize(&visit.snapshot, &feature)
                .map_err(|_| "access was refused".to_owned())?;
            let ctx = crate::whm::Ctx {
                body: &body,
                ..visit.ctx()
            };
            crate::whm::plugin::page(ctx, auth, &path, &params, method, visit.token(), &next)
        }
    };
    let answer = visit
        .panel
        .plugin_calls
        .run(
            &plugins,
            visit.snapshot.config(),
            &feature,
            crate::plugin_set::OnThePool(call),
        )
        .await;
    match answer.unwrap_or_else(|refused| {
        visit.panel.metrics.plugin_call_refused(&feature);
        if refused.faulted() {
            visit.panel.recompile_after_fault();
        }
        Err(refused.to_string())
    }) {
        // The fragment is the plugin's own markup, from code the administrator chose to load.
        Ok(PageAnswer::Fragment(status, fragment)) => visit.render(status, &title, html! { (PreEscaped(fragment)) }),
        Ok(PageAnswer::Document(status, content_type, body)) => {
            // A type that is not a valid header value is served as bytes, never guessed at.
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(e) => visit.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "Plugin Error",
            html! { p.error { (e) } },
        ),
    }
}
