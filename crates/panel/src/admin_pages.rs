//! The panel's own administration pages: Tweak Settings, reseller privileges, API tokens and the Feature Access tester.
//!
//! Every change goes through the same WHM API 1 function a script would call, so a page can do nothing the API refuses.

use std::fmt::Write as _;

use serde_json::Value;
use settings::acl::CATALOGUE;
use settings::schema::{SETTINGS, SettingKind};
use settings::{Acl, Snapshot};

use crate::api::{self, ApiCall};
use crate::auth::Caller;
use crate::http::Incoming;
use crate::pages::esc;
use crate::state::Panel;

/// The gate feature behind each page.
pub fn feature_of_page(page: &str) -> Option<&'static str> {
    Some(match page {
        "tweak-settings" => "tweak-settings",
        "edit-reseller-privileges" => "edit-reseller-privileges",
        "manage-api-tokens" => "manage-api-tokens",
        "feature-access" => "feature-access",
        _ => return None,
    })
}

pub fn render(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, page: &str, token: &str) -> String {
    match page {
        "tweak-settings" => tweak_settings(panel, snapshot, caller, req, token),
        "edit-reseller-privileges" => privileges(panel, snapshot, caller, req, token),
        "manage-api-tokens" => api_tokens(panel, snapshot, caller, req, token),
        "feature-access" => feature_access(snapshot, req, token),
        _ => String::new(),
    }
}

/// Runs a WHM API 1 function for the page and returns (ok, reason, data).
fn run(
    panel: &Panel,
    snapshot: &Snapshot,
    caller: &Caller,
    req: &Incoming,
    function: &str,
    params: Vec<(String, String)>,
) -> (bool, String, Value) {
    let call = ApiCall {
        function: function.to_owned(),
        params,
        api1: true,
        method: "POST".into(),
    };
    let (_, body) = api::call(panel, snapshot, caller, req.peer, &call);
    let ok = body["metadata"]["result"] == 1;
    let reason = body["metadata"]["reason"].as_str().unwrap_or_default().to_owned();
    (ok, reason, body["data"].clone())
}

fn message(ok: bool, text: &str) -> String {
    format!(
        "<p class=\"{}\" id=\"message\">{}</p>",
        if ok { "ok" } else { "error" },
        esc(text)
    )
}

fn tweak_settings(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, token: &str) -> String {
    let mut out = String::new();
    let mut current = snapshot.config().tweak_settings.clone();
    if req.method == axum::http::Method::POST {
        let mut changed = Vec::new();
        let mut errors = Vec::new();
        for def in SETTINGS {
            let field = format!("set-{}", def.key);
            let Some(value) = req.param(&field) else { continue };
            let undefined = req.param(&format!("undef-{}", def.key)) == Some("1");
            let new: Option<&str> = if undefined { None } else { Some(value) };
            if current.get(def.key) == new {
                continue;
            }
            let mut params = vec![("key".to_owned(), def.key.to_owned())];
            if let Some(v) = new {
                params.push(("value".to_owned(), v.to_owned()));
            }
            let (ok, reason, _) = run(panel, snapshot, caller, req, "set_tweaksetting", params);
            if ok {
                changed.push(def.label)
            } else {
                errors.push(format!("{}: {reason}", def.label))
            }
        }
        if !errors.is_empty() {
            out.push_str(&message(false, &errors.join("; ")));
        } else if changed.is_empty() {
            out.push_str(&message(true, "Nothing changed."));
        } else {
            out.push_str(&message(
                true,
                &format!("Saved: {}. The change is in force now.", changed.join(", ")),
            ));
        }
        current = panel.snapshot().config().tweak_settings.clone();
    }
    let query = req.param("find").unwrap_or_default().to_lowercase();
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/{token}/tweak-settings\" id=\"search\"><label>Find <input name=\"find\" id=\"find\" value=\"{}\"></label> <button type=\"submit\">Find</button></form>",
        esc(&query)
    );
    // Saving keeps the search, so the page after Save shows the settings that were on screen.
    let keep = if query.is_empty() {
        String::new()
    } else {
        format!(
            "?find={}",
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        )
    };
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/{token}/tweak-settings{}\" id=\"tweak-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{{{csrf_token}}}}\">",
        esc(&keep)
    );
    let mut section = None;
    for def in SETTINGS {
        if !query.is_empty() && !def.key.to_lowercase().contains(&query) && !def.label.to_lowercase().contains(&query) {
            continue;
        }
        if section != Some(def.section) {
            if section.is_some() {
                out.push_str("</tbody></table></section>");
            }
            section = Some(def.section);
            let _ = write!(
                out,
                "<section class=\"group\"><h2>{}</h2><table><thead><tr><th>Setting</th><th>Value</th><th>Default</th></tr></thead><tbody>",
                def.section
            );
        }
        let value = current.get(def.key);
        let deprecated = def
            .deprecation
            .map(|d| {
                format!(
                    " <em>(deprecated since version {}; use {})</em>",
                    d.since_version,
                    esc(d.replacement)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr id=\"row-{k}\"><td><label><b>{label}</b></label>{deprecated}<br><small>{help}</small><br><code>{k}</code></td><td class=\"control\">{control}</td><td>{default}</td></tr>",
            k = esc(def.key),
            label = esc(def.label),
            help = esc(def.help),
            control = control(def, value),
            default = esc(&def.shown(def.default)),
        );
    }
    if section.is_some() {
        out.push_str("</tbody></table></section>");
    } else {
        out.push_str("<p>No setting matches.</p>");
    }
    out.push_str("<p><button type=\"submit\" id=\"save\">Save</button></p></form>");
    out
}

fn control(def: &settings::SettingDef, value: Option<&str>) -> String {
    let name = format!("set-{}", def.key);
    let radio = |stored: &str, shown: &str| {
        let checked = if value == Some(stored) { " checked" } else { "" };
        format!(
            "<label><input type=\"radio\" name=\"{}\" id=\"{}-{}\" value=\"{}\"{checked}> {}</label> ",
            esc(&name),
            esc(&name),
            esc(stored),
            esc(stored),
            esc(shown)
        )
    };
    match def.kind {
        SettingKind::Binary => radio("1", "On") + &radio("0", "Off"),
        // The label says the opposite of the stored key.
        SettingKind::InverseBinary => radio("0", "On") + &radio("1", "Off"),
        SettingKind::Radio { options } => options.iter().map(|o| radio(o.stored, o.shown)).collect(),
        SettingKind::Number {
            minimum,
            maximum,
            unit,
            undefined_means,
        } => {
            let min = minimum.map(|m| format!(" min=\"{m}\"")).unwrap_or_default();
            let max = maximum.map(|m| format!(" max=\"{m}\"")).unwrap_or_default();
            let mut s = format!(
                "<input type=\"number\" name=\"{}\" id=\"{}\" value=\"{}\"{min}{max}> {}",
                esc(&name),
                esc(&name),
                esc(value.unwrap_or("")),
                esc(unit.unwrap_or(""))
            );
            if let Some(word) = undefined_means {
                let checked = if value.is_none() { " checked" } else { "" };
                let _ = write!(
                    s,
                    " <label><input type=\"checkbox\" name=\"undef-{}\" value=\"1\"{checked}> {}</label>",
                    esc(def.key),
                    esc(word)
                );
            }
            s
        }
        SettingKind::Text { .. } => format!(
            "<input name=\"{}\" id=\"{}\" value=\"{}\">",
            esc(&name),
            esc(&name),
            esc(value.unwrap_or(""))
        ),
    }
}

fn privileges(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, token: &str) -> String {
    let mut out = String::new();
    let resellers: Vec<String> = snapshot
        .config()
        .users
        .resellers
        .keys()
        .map(|u| u.to_string())
        .collect();
    let chosen = req
        .param("reseller")
        .map(str::to_owned)
        .or_else(|| resellers.first().cloned());
    if req.method == axum::http::Method::POST
        && let Some(r) = &chosen
    {
        let mut params = vec![("reseller".to_owned(), r.clone())];
        params.extend(
            req.params
                .iter()
                .filter(|(k, v)| k.starts_with("acl-") && v == "1")
                .cloned(),
        );
        let (ok, reason, _) = run(panel, snapshot, caller, req, "setacls", params);
        out.push_str(&message(
            ok,
            if ok {
                "Privileges saved. They are in force now."
            } else {
                &reason
            },
        ));
    }
    let options: String = resellers
        .iter()
        .map(|r| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(r),
                if Some(r) == chosen.as_ref() { " selected" } else { "" },
                esc(r)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/{token}/edit-reseller-privileges\" id=\"choose\"><label>Reseller <select name=\"reseller\" id=\"reseller\">{options}</select></label> <button type=\"submit\">Edit</button></form>"
    );
    let Some(chosen) = chosen else {
        return out + "<p>There are no resellers.</p>";
    };
    let snap = panel.snapshot();
    let Some(reseller) = settings::Username::new(&chosen)
        .ok()
        .and_then(|u| snap.config().users.resellers.get(&u).cloned())
    else {
        return out + &message(false, &format!("{chosen} is not a reseller."));
    };
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/{token}/edit-reseller-privileges?reseller={r}\" id=\"acl-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{{{csrf_token}}}}\"><input type=\"hidden\" name=\"reseller\" value=\"{r}\"><h2>Privileges of {r}</h2>",
        r = esc(&chosen)
    );
    let mut heading = ("", "");
    for info in CATALOGUE.iter() {
        if (info.category, info.group) != heading {
            if !heading.0.is_empty() {
                out.push_str("</fieldset>");
            }
            heading = (info.category, info.group);
            let _ = write!(
                out,
                "<fieldset class=\"group\"><legend>{} » {}</legend>",
                esc(info.category),
                esc(info.group)
            );
        }
        let acl = Acl::from_name(info.name).expect("catalogue names resolve");
        let checked = if reseller.privileges.contains(acl) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" name=\"acl-{n}\" id=\"acl-{n}\" value=\"1\"{checked}> {t} <code>{n}</code></label>",
            n = esc(info.name),
            t = esc(info.title)
        );
    }
    out.push_str("</fieldset>");
    if !reseller.additional.is_empty() {
        let _ = write!(
            out,
            "<p>Additional Software privileges (kept as they are): {}</p>",
            esc(&reseller.additional.iter().cloned().collect::<Vec<_>>().join(", "))
        );
    }
    out.push_str("<p><button type=\"submit\" id=\"save\">Save All Settings</button></p></form>");
    out
}

fn api_tokens(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, token: &str) -> String {
    let mut out = String::new();
    if req.method == axum::http::Method::POST {
        match req.param("action") {
            Some("create") => {
                let mut params = vec![(
                    "token_name".to_owned(),
                    req.param("token_name").unwrap_or_default().to_owned(),
                )];
                let mut n = 0;
                for (k, v) in &req.params {
                    if let Some(acl) = k.strip_prefix("acl-")
                        && v == "1"
                    {
                        params.push((format!("acl-{n}"), acl.to_owned()));
                        n += 1;
                    }
                }
                if let Some(days) = req.param("expires_days").filter(|d| !d.trim().is_empty()) {
                    match days.trim().parse::<u64>() {
                        Ok(d) => {
                            params.push(("expires_at".into(), (crate::audit::unix_now() + d * 86_400).to_string()))
                        }
                        Err(_) => {
                            return message(false, "The expiry must be a whole number of days.")
                                + &token_list(panel, snapshot, caller, req, token);
                        }
                    }
                }
                for (i, ip) in req
                    .param("whitelist")
                    .unwrap_or_default()
                    .split_whitespace()
                    .enumerate()
                {
                    params.push((format!("whitelist_ip-{i}"), ip.to_owned()));
                }
                let (ok, reason, data) = run(panel, snapshot, caller, req, "api_token_create", params);
                if ok {
                    let _ = write!(
                        out,
                        "<div class=\"ok\" id=\"new-token\"><p>Token “{}” created. Copy it now: it will not be shown again.</p><p><code id=\"token-value\">{}</code></p></div>",
                        esc(data["name"].as_str().unwrap_or_default()),
                        esc(data["token"].as_str().unwrap_or_default())
                    );
                } else {
                    out.push_str(&message(false, &reason));
                }
            }
            Some("revoke") => {
                let params = vec![(
                    "token_name".to_owned(),
                    req.param("token_name").unwrap_or_default().to_owned(),
                )];
                let (ok, reason, _) = run(panel, snapshot, caller, req, "api_token_revoke", params);
                out.push_str(&message(ok, if ok { "Token revoked." } else { &reason }));
            }
            _ => out.push_str(&message(false, "Unknown action.")),
        }
    }
    out + &token_list(panel, snapshot, caller, req, token)
}

fn token_list(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, token: &str) -> String {
    let mut out = String::new();
    let (_, _, data) = run(panel, snapshot, caller, req, "api_token_list", Vec::new());
    out.push_str("<h2>API Tokens</h2><table id=\"tokens\"><thead><tr><th>Name</th><th>Privileges</th><th>Expires</th><th>Allowed addresses</th><th></th></tr></thead><tbody>");
    if data["tokens"].as_object().is_none_or(serde_json::Map::is_empty) {
        out.push_str("<tr id=\"no-tokens\"><td colspan=\"5\">No API tokens.</td></tr>");
    }
    if let Some(tokens) = data["tokens"].as_object() {
        for (name, t) in tokens {
            let acls = t["acls"].as_array().map_or("All (full access)".to_owned(), |a| {
                a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
            });
            let expires = t["expires_at"]
                .as_u64()
                .map_or("Never".to_owned(), |e| format!("Unix time {e}"));
            let ips = t["whitelist_ips"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr data-token=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/{token}/manage-api-tokens\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{{{csrf_token}}}}\"><input type=\"hidden\" name=\"action\" value=\"revoke\"><input type=\"hidden\" name=\"token_name\" value=\"{n}\"><button type=\"submit\">Revoke</button></form></td></tr>",
                esc(&acls),
                esc(&expires),
                esc(if ips.is_empty() { "Any" } else { &ips }),
                n = esc(name)
            );
        }
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        "<h2>Generate Token</h2><form method=\"post\" action=\"/{token}/manage-api-tokens\" id=\"create-token\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{{{csrf_token}}}}\"><input type=\"hidden\" name=\"action\" value=\"create\">\
<p><label>Name <input name=\"token_name\" id=\"token_name\" maxlength=\"50\" pattern=\"[A-Za-z0-9_-]+\"></label> (letters, digits, - and _)</p>\
<p><label>Expires after <input name=\"expires_days\" id=\"expires_days\" size=\"4\"> days</label> (empty: never)</p>\
<p><label>Allowed IP addresses or ranges, one per line (empty: any)<br><textarea name=\"whitelist\" rows=\"3\"></textarea></label></p><fieldset><legend>Limit to these privileges (none checked: full access)</legend>"
    );
    for a in caller
        .privileges
        .iter()
        .chain(caller.has_all().then(Acl::iter).into_iter().flatten())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" name=\"acl-{n}\" value=\"1\"> {n}</label> ",
            n = esc(a.name())
        );
    }
    out.push_str("</fieldset><p><button type=\"submit\" id=\"create\">Generate</button></p></form>");
    out
}

fn feature_access(snapshot: &Snapshot, req: &Incoming, token: &str) -> String {
    let mut out = String::new();
    let users: Vec<String> = snapshot.config().users.all().map(|(u, _)| u.to_string()).collect();
    let features: Vec<&settings::FeatureSpec> = snapshot.features().iter().filter(|f| !f.group.is_empty()).collect();
    let user = req.param("user").unwrap_or("root");
    let feature = req.param("feature").unwrap_or("remote-access-key");
    let user_opts: String = users
        .iter()
        .map(|u| {
            format!(
                "<option{}>{}</option>",
                if u == user { " selected" } else { "" },
                esc(u)
            )
        })
        .collect();
    let feature_opts: String = features
        .iter()
        .map(|f| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(&f.id),
                if f.id == feature { " selected" } else { "" },
                esc(&f.title)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/{token}/feature-access\" id=\"tester\"><label>User <select name=\"user\" id=\"user\">{user_opts}</select></label> <label>Feature <select name=\"feature\" id=\"feature\">{feature_opts}</select></label> <button type=\"submit\">Explain</button></form>"
    );
    let d = snapshot.decide(user, feature);
    if d.visible {
        let _ = write!(
            out,
            "<p class=\"ok\" id=\"decision\">{} sees {}.</p>",
            esc(user),
            esc(feature)
        );
    } else {
        let items: String = d
            .reasons
            .iter()
            .map(|r| format!("<li><code>{}</code> {}</li>", r.code(), esc(&r.to_string())))
            .collect();
        let _ = write!(
            out,
            "<div class=\"error\" id=\"decision\"><p>{} does not see {}:</p><ul>{items}</ul></div>",
            esc(user),
            esc(feature)
        );
    }
    out.push_str("<h2>Every user and feature</h2><table id=\"matrix\"><thead><tr><th>User</th>");
    for f in &features {
        let _ = write!(out, "<th>{}</th>", esc(&f.title));
    }
    out.push_str("</tr></thead><tbody>");
    for u in &users {
        let _ = write!(out, "<tr><td>{}</td>", esc(u));
        for f in &features {
            let d = snapshot.decide(u, &f.id);
            let cell = if d.visible {
                "✔ visible".to_owned()
            } else {
                format!("✘ {}", d.codes().join(", "))
            };
            let _ = write!(
                out,
                "<td class=\"{}\" title=\"{}\">{}</td>",
                if d.visible { "yes" } else { "no" },
                esc(&d.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
                esc(&cell)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}
