//! The Tweak Settings page: every setting by section, searchable; saving changes only the fields that changed, each
//! through `set_tweaksetting`.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use settings::SettingDef;
use settings::schema::{SETTINGS, SettingKind};

use super::csrf::Csrf;
use super::{Visit, message};
use crate::features::TWEAK_SETTINGS;
use crate::whm;
use crate::whm::ops::tweaks::{Change, Module, SetTweakSetting};

pub async fn show(visit: Visit, form: Csrf) -> Response {
    if let Err(d) = visit.authorize(TWEAK_SETTINGS) {
        return visit.forbidden(&d);
    }
    let mut result = None;
    let mut current = visit.snapshot.config().tweak_settings.clone();
    if form.posted {
        let mut changed = Vec::new();
        let mut errors = Vec::new();
        for def in SETTINGS {
            let Some(value) = form.params.get(&format!("set-{}", def.key)) else {
                continue;
            };
            let undefined = form.params.get(&format!("undef-{}", def.key)) == Some("1");
            let new = (!undefined).then(|| value.to_owned());
            if current.get(def.key) == new.as_deref() {
                continue;
            }
            let value_for_hint = new.clone();
            let change = Change {
                key: def.key.to_owned(),
                value: new,
                module: Module::Main,
            };
            match whm::call::<SetTweakSetting>(visit.ctx(), &visit.caller, change) {
                Ok(_) => changed.push(def.label),
                // The API answers WHM's words; the page also says what the setting takes.
                Err(e) => match def.check_stored(value_for_hint.as_deref()) {
                    Err(why) => errors.push(format!("{}: {} ({why})", def.label, e.reason)),
                    Ok(()) => errors.push(format!("{}: {}", def.label, e.reason)),
                },
            }
        }
        result = Some(if !errors.is_empty() {
            message(false, &errors.join("; "))
        } else if changed.is_empty() {
            message(true, "Nothing changed.")
        } else {
            message(
                true,
                &format!("Saved: {}. The change is in force now.", changed.join(", ")),
            )
        });
        current = visit.panel.snapshot().config().tweak_settings.clone();
    }
    let query = form.params.get("find").unwrap_or_default().to_lowercase();
    // Saving keeps the search, so the page after Save shows the settings that were on screen.
    let action = if query.is_empty() {
        visit.url("/tweak-settings")
    } else {
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        visit.url(&format!("/tweak-settings?find={q}"))
    };
    let shown: Vec<&SettingDef> = SETTINGS
        .iter()
        .filter(|d| {
            query.is_empty() || d.key.to_lowercase().contains(&query) || d.label.to_lowercase().contains(&query)
        })
        .collect();
    let mut sections: Vec<(settings::schema::Section, Vec<&SettingDef>)> = Vec::new();
    for def in shown {
        match sections.last_mut() {
            Some((s, defs)) if *s == def.section => defs.push(def),
            _ => sections.push((def.section, vec![def])),
        }
    }
    let body = html! {
        @if let Some(m) = result { (m) }
        form method="get" action=(visit.url("/tweak-settings")) id="search" {
            label { "Find " input name="find" id="find" value=(query); }
            " "
            button type="submit" { "Find" }
        }
        form method="post" action=(action) id="tweak-form" {
            input type="hidden" name="csrf_token" value=(form.next);
            @for (section, defs) in &sections {
                section.group {
                    h2 { (section) }
                    table {
                        thead { tr { th { "Setting" } th { "Value" } th { "Default" } } }
                        tbody {
                            @for def in defs {
                                tr id={ "row-" (def.key) } {
                                    td {
                                        label { b { (def.label) } }
                                        @if let Some(d) = def.deprecation {
                                            " " em { "(deprecated since version " (d.since_version) "; use " (d.replacement) ")" }
                                        }
                                        br;
                                        small { (def.help) }
                                        br;
                                        @if current.is_rejected(def.key) {
                                            div.warning {
                                                "cpanel.config holds a value this setting does not take; "
                                                (def.shown(def.fallback())) " is in force."
                                            }
                                        }
                                        code { (def.key) }
                                    }
                                    td.control { (control(def, current.get(def.key), current.is_rejected(def.key))) }
                                    td { (def.shown(def.default)) }
                                }
                            }
                        }
                    }
                }
            }
            @if sections.is_empty() { p { "No setting matches." } }
            p { button type="submit" id="save" { "Save" } }
        }
    };
    visit.render(StatusCode::OK, "Tweak Settings", body)
}

/// The input for one setting. A stored value the setting does not take (`rejected`) is shown as it is written in a
/// plain text box, so that saving the page without touching it posts it back unchanged and leaves it as it is.
fn control(def: &SettingDef, value: Option<&str>, rejected: bool) -> Markup {
    let name = format!("set-{}", def.key);
    let radio = |stored: &str, shown: &str| {
        html! {
            label {
                input type="radio" name=(name) id={ (name) "-" (stored) } value=(stored) checked[value == Some(stored)];
                " " (shown)
            }
            " "
        }
    };
    // A setting that may be undefined gets a checkbox for it, named with the word WHM shows ("unlimited", "All").
    let undefined = def.check_stored(None).is_ok().then(|| {
        let word = match def.kind {
            SettingKind::Number {
                undefined_means: Some(w),
                ..
            }
            | SettingKind::Decimal {
                undefined_means: Some(w),
                ..
            } => w,
            _ => "undefined",
        };
        html! {
            " "
            label {
                input type="checkbox" name={ "undef-" (def.key) } value="1" checked[value.is_none()];
                " " (word)
            }
        }
    });
    if rejected && value.is_some() {
        return html! {
            input name=(name) id=(name) value=(value.unwrap_or(""));
            @if let Some(u) = undefined { (u) }
        };
    }
    match def.kind {
        SettingKind::Binary => html! { (radio("1", "On")) (radio("0", "Off")) },
        // The label says the opposite of the stored key.
        SettingKind::InverseBinary => html! { (radio("0", "On")) (radio("1", "Off")) },
        SettingKind::Radio { options } => html! { @for o in options { (radio(o.stored, o.shown)) } },
        SettingKind::Number {
            minimum, maximum, unit, ..
        } => html! {
            input type="number" name=(name) id=(name) value=(value.unwrap_or("")) min=[minimum] max=[maximum];
            " " (unit.unwrap_or(""))
            @if let Some(u) = undefined { (u) }
        },
        SettingKind::Decimal {
            minimum, maximum, unit, ..
        } => html! {
            input type="number" step="any" name=(name) id=(name) value=(value.unwrap_or("")) min=[minimum] max=[maximum];
            " " (unit.unwrap_or(""))
            @if let Some(u) = undefined { (u) }
        },
        SettingKind::Text { .. } => html! {
            input name=(name) id=(name) value=(value.unwrap_or(""));
            @if let Some(u) = undefined { (u) }
        },
    }
}
