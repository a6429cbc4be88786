//! Clusters » Configuration Cluster: the member servers, their state, and forms to add one (after checking its
//! certificate), give one a new credential, test one and remove one, through the same operations as the API.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::csrf::Csrf;
use super::{Visit, message};
use crate::cluster::MemberCredential;
use crate::features::CONFIGURATION_CLUSTER;
use crate::whm::ops::cluster::{
    AddConfigClusterServer, DeleteConfigClusterServer, ListConfigClusterServers, NewServer, ServerName, ServerUpdate,
    UpdateConfigClusterServer, require_root,
};
use crate::whm::{self, WhmError};

fn param(form: &Csrf, name: &str) -> String {
    form.params.get(name).unwrap_or_default().trim().to_owned()
}

fn credential(form: &Csrf) -> Result<Option<MemberCredential>, WhmError> {
    let text = form.params.get("key").unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(None);
    }
    MemberCredential::parse(text).map(Some).map_err(WhmError::new)
}

fn time(unix: Option<u64>) -> String {
    unix.and_then(|t| i64::try_from(t).ok())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map_or_else(
            || "never".to_owned(),
            |d| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )
            },
        )
}

/// The form that adds a server once its certificate was seen (or for plain HTTP, which has none).
fn add_form(visit: &Visit, form: &Csrf, name: &str, fingerprint: Option<&str>) -> Markup {
    html! {
        form method="post" action=(visit.url("/configuration-cluster")) id="add-server" {
            input type="hidden" name="csrf_token" value=(form.next);
            input type="hidden" name="action" value="add";
            input type="hidden" name="name" value=(name);
            @if let Some(fp) = fingerprint {
                input type="hidden" name="fingerprint" value=(fp);
            }
            p { "Server: " b { (name) } }
            p { label { "User on the server " input name="user" id="user" value="root"; } }
            p { label { "API Token or Remote Access Key" br; textarea name="key" id="key" rows="4" cols="70" autocomplete="off" {} } }
            p { button type="submit" id="add" { "Add Server" } }
        }
    }
}

pub async fn show(visit: Visit, form: Csrf) -> Response {
    let auth = match visit.authorize(CONFIGURATION_CLUSTER) {
        Ok(a) => a,
        Err(d) => return visit.forbidden(&d),
    };
    if let Err(e) = require_root(&auth) {
        return visit.render(StatusCode::FORBIDDEN, "Access Denied", message(false, &e.reason));
    }
    let ctx = visit.ctx();
    let caller = &visit.caller;
    let result: Option<Markup> = form.posted.then(|| match form.params.get("action") {
        Some("fetch") => {
            let name = param(&form, "name");
            match crate::cluster::client::Endpoint::parse(&name) {
                Err(e) => message(false, &e),
                Ok(ep) if !ep.https => html! {
                    (message(true, "Plain HTTP: the server has no certificate, and the credential travels unencrypted."))
                    (add_form(&visit, &form, &name, None))
                },
                Ok(_) => match visit.panel.cluster.certificate(&name) {
                    Err(e) => message(false, &e),
                    Ok(cert) => html! {
                        div #certificate {
                            @if cert.ca_signed {
                                p.ok { "A trusted certificate authority vouches for this server's certificate." }
                            } @else {
                                p.error { "No trusted certificate authority vouches for this certificate. Compare its fingerprint with the one the server shows (e.g. in WHM » Manage SSL Hosts) before adding it; it will be pinned." }
                            }
                            p { "SHA-256 fingerprint: " code #fingerprint { (cert.fingerprint) } }
                        }
                        (add_form(&visit, &form, &name, (!cert.ca_signed).then_some(cert.fingerprint.as_str())))
                    },
                },
            }
        }
        Some("add") => {
            let new = credential(&form).and_then(|c| {
                Ok(NewServer {
                    name: param(&form, "name"),
                    user: Some(param(&form, "user")).filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into()),
                    credential: c.ok_or_else(|| WhmError::new("Give the API token or remote access key."))?,
                    fingerprint: form.params.get("fingerprint").map(str::to_owned),
                })
            });
            match new.and_then(|n| whm::call::<AddConfigClusterServer>(ctx, caller, n)) {
                Ok(s) => message(true, &format!("{} added to the configuration cluster.", s.server.url)),
                Err(e) => message(false, &e.reason),
            }
        }
        Some("update") => {
            let update = credential(&form).map(|c| ServerUpdate {
                name: param(&form, "name"),
                user: Some(param(&form, "user")).filter(|u| !u.is_empty()),
                credential: c,
            });
            match update.and_then(|u| whm::call::<UpdateConfigClusterServer>(ctx, caller, u)) {
                Ok(s) => message(true, &format!("{} updated.", s.server.url)),
                Err(e) => message(false, &e.reason),
            }
        }
        Some("test") => match visit.panel.cluster.test(&param(&form, "name")) {
            Ok(version) => message(true, &format!("Connected: the server runs version {version}.")),
            Err(e) => message(false, &format!("The test failed: {e}")),
        },
        Some("remove") => {
            match whm::call::<DeleteConfigClusterServer>(ctx, caller, ServerName(param(&form, "name"))) {
                Ok(()) => message(true, "Server removed from the configuration cluster."),
                Err(e) => message(false, &e.reason),
            }
        }
        _ => message(false, "Unknown action."),
    });
    let servers = match whm::call::<ListConfigClusterServers>(ctx, caller, ()) {
        Ok(list) => list.servers,
        Err(e) => return visit.render(StatusCode::FORBIDDEN, "Access Denied", message(false, &e.reason)),
    };
    let action = visit.url("/configuration-cluster");
    let body = html! {
        @if let Some(m) = result { (m) }
        p { "Every change to Tweak Settings on this server is sent to each server below, in order; a server that is down receives its changes when it is back." }
        h2 { "Servers" }
        table #servers {
            thead { tr { th { "Server" } th { "User" } th { "Credential" } th { "State" } th { "Last push" } th { "Last error" } th {} } }
            tbody {
                @if servers.is_empty() {
                    tr #no-servers { td colspan="7" { "No servers in the configuration cluster." } }
                }
                @for s in &servers {
                    tr data-server=(s.url) {
                        td { (s.url) @if let Some(fp) = &s.certificate_fingerprint { br; small title="pinned certificate" { "pinned " (fp) } } }
                        td { (s.user) }
                        td { @match s.credential_type { crate::cluster::CredentialKind::ApiToken => "API token ", crate::cluster::CredentialKind::Accesshash => "Access key ", } code { (s.signature) } }
                        td.state data-status=(s.state.status) {
                            (s.state.status.replace('_', " "))
                            @if s.state.changes_waiting > 0 { br; (s.state.changes_waiting) " waiting, " (format!("{:.1}", s.state.lag_seconds)) " s behind" }
                        }
                        td { (time(s.state.last_success)) }
                        td.last-error { (s.state.last_error.as_deref().unwrap_or("")) }
                        td {
                            form method="post" action=(action) {
                                input type="hidden" name="csrf_token" value=(form.next);
                                input type="hidden" name="action" value="test";
                                input type="hidden" name="name" value=(s.url);
                                button type="submit" { "Test Connection" }
                            }
                            form method="post" action=(action) {
                                input type="hidden" name="csrf_token" value=(form.next);
                                input type="hidden" name="action" value="remove";
                                input type="hidden" name="name" value=(s.url);
                                button type="submit" { "Remove" }
                            }
                            details {
                                summary { "Edit" }
                                form method="post" action=(action) {
                                    input type="hidden" name="csrf_token" value=(form.next);
                                    input type="hidden" name="action" value="update";
                                    input type="hidden" name="name" value=(s.url);
                                    p { label { "User " input name="user" value=(s.user); } }
                                    p { label { "New API Token or Remote Access Key (empty: keep)" br; textarea name="key" rows="3" cols="50" autocomplete="off" {} } }
                                    button type="submit" { "Save" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a Server" }
        form method="post" action=(action) id="fetch-server" {
            input type="hidden" name="csrf_token" value=(form.next);
            input type="hidden" name="action" value="fetch";
            p { label { "Server (host name or address, optionally :port, or a URL; HTTPS on 2087 by default) " input name="name" id="name" size="40"; } }
            p { button type="submit" id="fetch" { "Check Server" } }
        }
    };
    visit.render(StatusCode::OK, "Configuration Cluster", body)
}
