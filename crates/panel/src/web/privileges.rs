//! Edit Reseller Nameservers and Privileges: pick a reseller, tick its ACLs by category, save through `setacls`;
//! apply a saved privilege list to the reseller, or save the ticks as a named list (`saveacllist`).

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use settings::acl::CATALOGUE;
use settings::{Acl, AclSet, Username};

use super::csrf::Csrf;
use super::{Visit, message};
use crate::features::EDIT_RESELLER_PRIVILEGES;
use crate::whm;
use crate::whm::ops::privileges::{Grants, NewAcls, NewList, SaveAclList, SetAcls, acl_list_names};

pub async fn show(visit: Visit, form: Csrf) -> Response {
    if let Err(d) = visit.authorize(EDIT_RESELLER_PRIVILEGES) {
        return visit.forbidden(&d);
    }
    let resellers: Vec<String> = visit
        .snapshot
        .config()
        .users
        .resellers
        .keys()
        .map(ToString::to_string)
        .collect();
    let chosen = form
        .params
        .get("reseller")
        .map(str::to_owned)
        .or_else(|| resellers.first().cloned());
    let mut result = None;
    if form.posted
        && let Some(r) = &chosen
    {
        let acls = AclSet::from_acls(
            form.params
                .iter()
                .filter(|(_, v)| *v == "1")
                .filter_map(|(k, _)| k.strip_prefix("acl-").and_then(Acl::from_name)),
        );
        let list_name = form.params.get("acllist").unwrap_or_default().trim().to_owned();
        result = Some(match form.params.get("action") {
            Some("apply-list") => {
                let change = NewAcls {
                    reseller: r.clone(),
                    grants: Grants::SavedList(list_name.clone()),
                };
                match whm::call::<SetAcls>(visit.ctx(), &visit.caller, change) {
                    Ok(()) => message(
                        true,
                        &format!("The list “{list_name}” was applied to {r}. It is in force now."),
                    ),
                    Err(e) => message(false, &e.reason),
                }
            }
            Some("save-list") => {
                let list = NewList {
                    name: list_name.clone(),
                    acls,
                };
                match whm::call::<SaveAclList>(visit.ctx(), &visit.caller, list) {
                    Ok(()) => message(
                        true,
                        &format!("The ticked privileges were saved as the list “{list_name}”."),
                    ),
                    Err(e) => message(false, &e.reason),
                }
            }
            _ => {
                let change = NewAcls {
                    reseller: r.clone(),
                    grants: Grants::Exactly(acls),
                };
                match whm::call::<SetAcls>(visit.ctx(), &visit.caller, change) {
                    Ok(()) => message(true, "Privileges saved. They are in force now."),
                    Err(e) => message(false, &e.reason),
                }
            }
        });
    }
    let saved_lists = acl_list_names(&visit.panel).unwrap_or_default();
    let now = visit.panel.snapshot();
    let reseller = chosen
        .as_deref()
        .and_then(|c| Username::new(c).ok())
        .and_then(|u| now.config().users.resellers.get(&u).cloned());
    let mut groups: Vec<(&str, &str, Vec<&settings::acl::AclInfo>)> = Vec::new();
    for info in CATALOGUE.iter() {
        match groups.last_mut() {
            Some((c, g, items)) if (*c, *g) == (info.category, info.group) => items.push(info),
            _ => groups.push((info.category, info.group, vec![info])),
        }
    }
    let action = visit.url("/edit-reseller-privileges");
    let body = html! {
        @if let Some(m) = result { (m) }
        form method="get" action=(action) id="choose" {
            label {
                "Reseller "
                select name="reseller" id="reseller" {
                    @for r in &resellers {
                        option value=(r) selected[Some(r) == chosen.as_ref()] { (r) }
                    }
                }
            }
            " "
            button type="submit" { "Edit" }
        }
        @match (&chosen, &reseller) {
            (None, _) => { p { "There are no resellers." } },
            (Some(c), None) => { (message(false, &format!("{c} is not a reseller."))) },
            (Some(c), Some(reseller)) => {
                form method="post" action={ (action) "?reseller=" (form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()) } id="acl-form" {
                    input type="hidden" name="csrf_token" value=(form.next);
                    input type="hidden" name="reseller" value=(c);
                    h2 { "Privileges of " (c) }
                    @for (category, group, items) in &groups {
                        fieldset.group {
                            legend { (category) " » " (group) }
                            @for info in items {
                                @let checked = Acl::from_name(info.name).is_some_and(|a| reseller.privileges.contains(a));
                                label {
                                    input type="checkbox" name={ "acl-" (info.name) } id={ "acl-" (info.name) } value="1" checked[checked];
                                    " " (info.title) " " code { (info.name) }
                                }
                            }
                        }
                    }
                    @if !reseller.additional.is_empty() {
                        p {
                            "Additional Software privileges (kept as they are): "
                            (reseller.additional.iter().cloned().collect::<Vec<_>>().join(", "))
                        }
                    }
                    p { button type="submit" id="save" { "Save All Settings" } }
                    fieldset #acl-lists {
                        legend { "Saved privilege lists" }
                        p {
                            label {
                                "List name "
                                input name="acllist" id="acllist" list="saved-acllists";
                            }
                            datalist #saved-acllists {
                                @for l in &saved_lists { option value=(l) {} }
                            }
                        }
                        p {
                            button type="submit" name="action" value="save-list" id="save-list" { "Save Ticked Privileges as List" }
                            " "
                            button type="submit" name="action" value="apply-list" id="apply-list" { "Apply List to " (c) }
                        }
                        @if !saved_lists.is_empty() {
                            p #saved-lists { "Saved: " (saved_lists.join(", ")) }
                        }
                    }
                }
            },
        }
    };
    visit.render(StatusCode::OK, "Edit Reseller Nameservers and Privileges", body)
}
