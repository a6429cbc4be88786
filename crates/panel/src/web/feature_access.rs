//! Feature Access: who sees which feature and why not, for one pair and for the whole matrix.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use settings::FeatureSpec;

use super::Visit;
use crate::features::FEATURE_ACCESS;

#[derive(Debug, Deserialize)]
pub struct Pick {
    user: Option<String>,
    feature: Option<String>,
}

pub async fn show(visit: Visit, Query(pick): Query<Pick>) -> Response {
    if let Err(d) = visit.authorize(FEATURE_ACCESS) {
        return visit.forbidden(&d);
    }
    let snapshot = &visit.snapshot;
    let users: Vec<String> = snapshot.config().users.all().map(|(u, _)| u.to_string()).collect();
    let features: Vec<&FeatureSpec> = snapshot.features().iter().filter(|f| !f.group.is_empty()).collect();
    let user = pick.user.as_deref().unwrap_or("root");
    let feature = pick.feature.as_deref().unwrap_or("remote-access-key");
    let d = snapshot.decide(user, feature);
    let body = html! {
        form method="get" action=(visit.url("/feature-access")) id="tester" {
            label { "User " select name="user" id="user" { @for u in &users { option selected[u == user] { (u) } } } }
            " "
            label { "Feature " select name="feature" id="feature" {
                @for f in &features { option value=(f.id) selected[f.id == feature] { (f.title) } }
            } }
            " "
            button type="submit" { "Explain" }
        }
        @if d.visible {
            p.ok #decision { (user) " sees " (feature) "." }
        } @else {
            div.error #decision {
                p { (user) " does not see " (feature) ":" }
                ul { @for r in &d.reasons { li { code { (r.code()) } " " (r.to_string()) } } }
            }
        }
        @if let Some(dep) = visit.panel.plugins().host.feature_info(feature).and_then(|i| i.deprecation) {
            p.warning #deprecation {
                (feature) " is deprecated since version " (dep.since)
                @if !dep.replacement.is_empty() { "; use " (dep.replacement) " instead" }
                "."
            }
        }
        h2 { "Every user and feature" }
        table #matrix {
            thead { tr { th { "User" } @for f in &features { th { (f.title) } } } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u) }
                        @for f in &features {
                            @let d = snapshot.decide(u, &f.id);
                            @let why = d.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                            td class=(if d.visible { "yes" } else { "no" }) title=(why) {
                                @if d.visible { "✔ visible" } @else { "✘ " (d.codes().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    };
    visit.render(StatusCode::OK, "Feature Access", body)
}
