//! Manage API Tokens: the caller's tokens, generating one (limited to privileges the caller's request carries) and
//! revoking one, through the same operations as `api_token_create`, `api_token_list` and `api_token_revoke`.

use axum::http::StatusCode;
use axum::response::Response;
use credentials::TokenName;
use maud::{Markup, html};
use settings::Acl;

use super::csrf::Csrf;
use super::{Visit, message};
use crate::features::MANAGE_API_TOKENS;
use crate::fsx::unix_now;
use crate::whm::ops::tokens::{ApiTokenCreate, ApiTokenList, ApiTokenRevoke, Names, NewToken};
use crate::whm::{self, WhmError};

/// The form's fields as a new token, or why not.
fn new_token(form: &Csrf) -> Result<NewToken, WhmError> {
    let p = &form.params;
    let name = TokenName::new(p.get("token_name").unwrap_or_default()).map_err(|e| WhmError::new(e.to_string()))?;
    let acls = p
        .iter()
        .filter(|(_, v)| *v == "1")
        .filter_map(|(k, _)| k.strip_prefix("acl-"))
        .map(Acl::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(WhmError::new)?;
    let expires_at = match p.get("expires_days").map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(days) => {
            let days: u64 = days
                .parse()
                .map_err(|_| WhmError::new("The expiry must be a whole number of days."))?;
            Some(unix_now().saturating_add(days.saturating_mul(86_400)))
        }
    };
    let whitelist_ips = p
        .get("whitelist")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Ok(NewToken {
        name,
        acls,
        expires_at,
        whitelist_ips,
    })
}

pub async fn show(visit: Visit, form: Csrf) -> Response {
    if let Err(d) = visit.authorize(MANAGE_API_TOKENS) {
        return visit.forbidden(&d);
    }
    let ctx = visit.ctx();
    let result: Option<Markup> = form.posted.then(|| match form.params.get("action") {
        Some("create") => match new_token(&form).and_then(|t| whm::call::<ApiTokenCreate>(ctx, &visit.caller, t)) {
            Ok(created) => html! {
                div.ok #new-token {
                    p { "Token “" (created.name) "” created. Copy it now: it will not be shown again." }
                    p { code #token-value { (created.token) } }
                }
            },
            Err(e) => message(false, &e.reason),
        },
        Some("revoke") => {
            let names = Names(vec![form.params.get("token_name").unwrap_or_default().to_owned()]);
            match whm::call::<ApiTokenRevoke>(ctx, &visit.caller, names) {
                Ok(_) => message(true, "Token revoked."),
                Err(e) => message(false, &e.reason),
            }
        }
        _ => message(false, "Unknown action."),
    });
    let (tokens, list_error) = match whm::call::<ApiTokenList>(ctx, &visit.caller, ()) {
        Ok(list) => (list.tokens, None),
        Err(e) => (Default::default(), Some(e.reason)),
    };
    let action = visit.url("/manage-api-tokens");
    // Only privileges this request carries can be put on a token.
    // Grouped and labelled as on the privileges page.
    let mut groups: Vec<(&str, &str, Vec<&settings::acl::AclInfo>)> = Vec::new();
    for info in settings::acl::CATALOGUE.iter() {
        if !Acl::from_name(info.name).is_some_and(|a| visit.caller.privileges.check(a)) {
            continue;
        }
        match groups.last_mut() {
            Some((c, g, items)) if (*c, *g) == (info.category, info.group) => items.push(info),
            _ => groups.push((info.category, info.group, vec![info])),
        }
    }
    let body = html! {
        @if let Some(m) = result { (m) }
        @if let Some(e) = list_error { (message(false, &e)) }
        h2 { "API Tokens" }
        table #tokens {
            thead { tr { th { "Name" } th { "Privileges" } th { "Expires" } th { "Allowed addresses" } th {} } }
            tbody {
                @if tokens.is_empty() {
                    tr #no-tokens { td colspan="5" { "No API tokens." } }
                }
                @for (name, t) in &tokens {
                    tr data-token=(name) {
                        td { (name) }
                        td {
                            @if t.has_full_access == 1 {
                                "All (full access)"
                            } @else {
                                (t.acls.iter().filter(|(_, on)| **on == 1).map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", "))
                            }
                        }
                        td {
                            @match t.expires_at {
                                None => "Never",
                                Some(e) => { (date(e)) },
                            }
                        }
                        td {
                            @match &t.whitelist_ips {
                                None => "Any",
                                Some(ips) => (ips.join(", ")),
                            }
                        }
                        td {
                            form method="post" action=(action) {
                                input type="hidden" name="csrf_token" value=(form.next);
                                input type="hidden" name="action" value="revoke";
                                input type="hidden" name="token_name" value=(name);
                                button type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Generate Token" }
        form method="post" action=(action) id="create-token" {
            input type="hidden" name="csrf_token" value=(form.next);
            input type="hidden" name="action" value="create";
            p { label { "Name " input name="token_name" id="token_name" maxlength="50" pattern="[A-Za-z0-9_-]+"; } " (letters, digits, - and _)" }
            p { label { "Expires after " input name="expires_days" id="expires_days" size="4"; " days" } " (empty: never)" }
            p { label { "Allowed IP addresses or ranges, one per line (empty: any)" br; textarea name="whitelist" rows="3" {} } }
            p { "Limit to these privileges (none checked: the privileges you are using now):" }
            @for (category, group, items) in &groups {
                fieldset.group {
                    legend { (category) " » " (group) }
                    @for info in items {
                        label {
                            input type="checkbox" name={ "acl-" (info.name) } id={ "token-acl-" (info.name) } value="1";
                            " " (info.title) " " code { (info.name) }
                        }
                    }
                }
            }
            p { button type="submit" id="create" { "Generate" } }
        }
    };
    visit.render(StatusCode::OK, "Manage API Tokens", body)
}

/// A Unix time as a UTC date and time, the way the page shows expiry.
fn date(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map_or_else(
            || format!("Unix time {unix}"),
            |d| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute()
                )
            },
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_shows_as_a_utc_date() {
        assert_eq!(super::date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(1_798_573_514), "2026-12-29 19:45 UTC");
        assert_eq!(super::date(u64::MAX), format!("Unix time {}", u64::MAX));
    }
}
