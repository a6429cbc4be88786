//! The Home page: the menu, grouped as WHM groups it, built from what the gate shows this caller; a deprecated
//! plugin feature is marked as such.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use settings::FeatureSpec;

use super::Visit;

pub async fn show(visit: Visit) -> Response {
    let snapshot = &visit.snapshot;
    let plugins = visit.panel.plugins();
    let mut groups: Vec<(&str, Vec<&FeatureSpec>)> = Vec::new();
    for f in snapshot.features() {
        let no_page = plugins.host.feature_info(&f.id).is_some_and(|i| i.path.is_empty());
        if f.group.is_empty() || no_page || !visit.caller.decide(snapshot, &f.id).visible {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == f.group) {
            Some((_, items)) => items.push(f),
            None => groups.push((&f.group, vec![f])),
        }
    }
    let body = html! {
        @if groups.is_empty() {
            p.group #empty-menu {
                "No pages are available to you. The server's administrator can grant privileges in Edit Reseller Nameservers and Privileges."
            }
        } @else {
            div.menu {
                @for (group, items) in &groups {
                    section.group data-group=(group) {
                        h2 { (group) }
                        ul {
                            @for f in items {
                                @let info = plugins.host.feature_info(&f.id);
                                li {
                                    // A plugin's feature links to the page it declared; the panel's own are at their id.
                                    a href=(visit.url(&info.as_ref().map_or_else(|| format!("/{}", f.id), |i| i.path.clone()))) data-feature=(f.id) { (f.title) }
                                    @if let Some(d) = info.and_then(|i| i.deprecation) {
                                        span.deprecated title={ "Deprecated since version " (d.since) } { "deprecated" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    visit.render(StatusCode::OK, "Home", body)
}
