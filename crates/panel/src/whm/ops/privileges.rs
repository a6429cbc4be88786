//! `listresellers`, `listacls`, `setacls` and `saveacllist`: the resellers, the saved privilege lists
//! (`<state>/acllists/<name>`, WHM's `/var/cpanel/acllists`), and a reseller's privileges.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};
use settings::native::{AclList, check_acl_list_name};
use settings::{Acl, AclSet, Username};

use crate::auth::Authorized;
use crate::features::EDIT_RESELLER_PRIVILEGES;
use crate::fsx::create_private_dir;
use crate::state::Panel;
use crate::whm::{Api0, Ctx, FromParams, List, Operation, Params, WhmError, parse_bool};

pub const NO_RESELLER: &str = "No reseller specified.";
pub const NO_LIST_NAME: &str = "No ACL list specified.";

/// WHM API 0's answer to a change: a one-element `result` list.
fn api0_status(_: Value) -> Value {
    json!({"result": [{"status": 1, "statusmsg": "OK"}]})
}

#[derive(Debug)]
pub struct ListResellers;

impl Operation for ListResellers {
    const NAME: &'static str = "listresellers";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    const API0: Api0 = Api0::Data;
    /// A list of names: each record's one return is `reseller`.
    const LIST: Option<List> = Some(List::Under("reseller"));
    type Params = ();
    type Output = Value;

    fn run(ctx: Ctx<'_>, _: Authorized<'_>, (): ()) -> Result<Value, WhmError> {
        Ok(json!({"reseller": ctx.snapshot.config().users.resellers.keys().collect::<Vec<_>>()}))
    }
}

/// `<state>/acllists`.
pub fn acllists_dir(panel: &Panel) -> PathBuf {
    panel.state_dir.join("acllists")
}

/// The largest saved list read: WHM's format is one short line per ACL.
const MAX_ACL_LIST_FILE: u64 = 64 * 1024;

/// A saved list by name: `Ok(None)` when there is none. The file is read only if it is a regular file (never through
/// a symbolic link), and an error names the list and the line, never what the file holds.
pub fn load_acl_list(panel: &Panel, name: &str) -> Result<Option<AclList>, WhmError> {
    check_acl_list_name(name).map_err(|e| WhmError::new(e.to_string()))?;
    let path = acllists_dir(panel).join(name);
    let shown = name.escape_debug();
    let bytes = match credentials::read_regular(&path, MAX_ACL_LIST_FILE) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => return Err(WhmError::new(format!("The ACL list \"{shown}\" {e}."))),
    };
    let text =
        String::from_utf8(bytes).map_err(|_| WhmError::new(format!("The ACL list \"{shown}\" is not UTF-8 text.")))?;
    AclList::parse(&text, name).map(Some).map_err(|e| {
        WhmError::new(format!(
            "The ACL list \"{shown}\" is not a saved list: line {} is not \"acl=1\" or \"acl=0\".",
            e.line
        ))
    })
}

/// The names of the saved lists, sorted (files WHM would not have written are skipped).
pub fn acl_list_names(panel: &Panel) -> Result<Vec<String>, WhmError> {
    let dir = acllists_dir(panel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WhmError::new(format!("cannot read {}: {e}", dir.display()))),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| check_acl_list_name(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// One saved list as `listacls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedList {
    pub name: String,
    /// Every built-in ACL with 0 or 1, then the list's third-party ACLs.
    pub privileges: Map<String, Value>,
}

#[derive(Debug, Serialize)]
pub struct SavedLists {
    pub acl: Vec<SavedList>,
}

/// API 0's older form: `{"acls": {"<name>": {"<acl>": 0|1, …}}}`.
fn api0_acl_map(mut data: Value) -> Value {
    let lists = data["acl"].take();
    let map: Map<String, Value> = lists
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or_default().to_owned(),
                l["privileges"].clone(),
            )
        })
        .collect();
    json!({"acls": map})
}

#[derive(Debug)]
pub struct ListAcls;

impl Operation for ListAcls {
    const NAME: &'static str = "listacls";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    const API0: Api0 = Api0::Shape(api0_acl_map);
    const LIST: Option<List> = Some(List::Under("acl"));
    type Params = ();
    type Output = SavedLists;

    /// The saved privilege lists in `<state>/acllists/<name>`, in WHM's `acl=1` format.
    fn run(ctx: Ctx<'_>, _: Authorized<'_>, (): ()) -> Result<SavedLists, WhmError> {
        let mut acl = Vec::new();
        for name in acl_list_names(ctx.panel)? {
            let Some(list) = load_acl_list(ctx.panel, &name)? else {
                continue;
            };
            let mut privileges: Map<String, Value> = Acl::iter()
                .map(|a| (a.name().to_owned(), json!(u8::from(list.granted.contains(a)))))
                .collect();
            privileges.extend(list.additional.iter().map(|(k, v)| (k.clone(), json!(u8::from(*v)))));
            acl.push(SavedList { name, privileges });
        }
        Ok(SavedLists { acl })
    }
}

/// The ACLs named by `acl-<name>=<value>`: a value grants unless it is empty or a false word (`0`, `false`, `no`,
/// `off`), as WHM reads them. An unknown ACL is refused.
pub fn acls_from_params(p: &Params) -> Result<AclSet, WhmError> {
    let mut acls = AclSet::EMPTY;
    for (k, v) in p.iter() {
        let Some(name) = k.strip_prefix("acl-") else { continue };
        let acl = Acl::parse(name).map_err(WhmError::new)?;
        if v.is_empty() || parse_bool(v) == Some(false) {
            acls.remove(acl);
        } else {
            acls.insert(acl);
        }
    }
    Ok(acls)
}

/// What a reseller is to hold: exactly these ACLs, or a saved list's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    Exactly(AclSet),
    SavedList(String),
}

/// A reseller (`reseller`, or `user` as a synonym) and what it is to hold (`acllist=<name>` or `acl-<name>=1`…).
#[derive(Debug, Clone)]
pub struct NewAcls {
    pub reseller: String,
    pub grants: Grants,
}

impl FromParams for NewAcls {
    fn from_params(p: &Params) -> Result<NewAcls, WhmError> {
        let reseller = p
            .get("reseller")
            .filter(|r| !r.is_empty())
            .or_else(|| p.get("user").filter(|u| !u.is_empty()))
            .ok_or_else(|| WhmError::new(NO_RESELLER))?
            .to_owned();
        let grants = match p.get("acllist").filter(|l| !l.is_empty()) {
            Some(list) => Grants::SavedList(list.to_owned()),
            None => Grants::Exactly(acls_from_params(p)?),
        };
        Ok(NewAcls { reseller, grants })
    }
}

#[derive(Debug)]
pub struct SetAcls;

impl Operation for SetAcls {
    const WRITES: bool = true;
    const NAME: &'static str = "setacls";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    const API0: Api0 = Api0::Shape(api0_status);
    type Params = NewAcls;
    /// Metadata only.
    type Output = ();

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, NewAcls { reseller, grants }: NewAcls) -> Result<(), WhmError> {
        let Ok(name) = Username::new(&reseller) else {
            return Err(WhmError::new(format!(
                "Invalid username \"{}\"",
                reseller.escape_debug()
            )));
        };
        // A saved list that is not there is an error: it must never read as "no privileges" and wipe the reseller's.
        let acls = match grants {
            Grants::Exactly(set) => set,
            Grants::SavedList(list) => match load_acl_list(ctx.panel, &list)? {
                Some(l) => l.granted,
                None => {
                    return Err(WhmError::new(format!(
                        "The ACL list \"{}\" does not exist.",
                        list.escape_debug()
                    )));
                }
            },
        };
        let edit = ctx.panel.edit_config().map_err(|e| WhmError::new(format!("{e:#}")))?;
        let current_snapshot = Arc::clone(edit.before());
        let Some(current) = current_snapshot.config().users.resellers.get(&name) else {
            return Err(WhmError::new(format!("User {name} is not a reseller.")));
        };
        if !auth.is_root() && acls.has_all() != current.privileges.has_all() {
            return Err(WhmError::new(
                "Only root may grant or revoke root-level access (\"all\")",
            ));
        }
        // Nobody hands out a privilege their request does not carry.
        if let Some(a) = acls
            .iter()
            .find(|a| !current.privileges.contains(*a) && !auth.privileges.check(*a))
        {
            return Err(WhmError::new(format!(
                "You cannot grant the \"{a}\" privilege because you do not have it."
            )));
        }
        edit.set_reseller_acls(&name, acls)
            .map_err(|e| WhmError::new(format!("{e:#}")))?;
        let granted: Vec<&str> = acls
            .iter()
            .filter(|a| !current.privileges.contains(*a))
            .map(|a| a.name())
            .collect();
        let revoked: Vec<&str> = current
            .privileges
            .iter()
            .filter(|a| !acls.contains(*a))
            .map(|a| a.name())
            .collect();
        let root_access = match (current.privileges.has_all(), acls.has_all()) {
            (false, true) => Some("GRANTROOT"),
            (true, false) => Some("REVOKEROOT"),
            _ => None,
        };
        let fields = auth
            .audit_with(json!({"reseller": name, "granted": granted, "revoked": revoked, "root_access": root_access}));
        edit.commit("acls_changed", fields).map_err(|e| {
            WhmError::new(format!(
                "the privileges were written but the configuration does not load: {e}"
            ))
        })?;
        Ok(())
    }
}

/// A saved list to write: its name (`acllist`) and the ACLs it grants (`acl-<name>=1`…).
#[derive(Debug, Clone)]
pub struct NewList {
    pub name: String,
    pub acls: AclSet,
}

impl FromParams for NewList {
    fn from_params(p: &Params) -> Result<NewList, WhmError> {
        let name = p
            .get("acllist")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| WhmError::new(NO_LIST_NAME))?
            .to_owned();
        check_acl_list_name(&name).map_err(|e| WhmError::new(e.to_string()))?;
        Ok(NewList {
            name,
            acls: acls_from_params(p)?,
        })
    }
}

#[derive(Debug)]
pub struct SaveAclList;

impl Operation for SaveAclList {
    const WRITES: bool = true;
    const NAME: &'static str = "saveacllist";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    const API0: Api0 = Api0::Shape(api0_status);
    type Params = NewList;
    /// Metadata only.
    type Output = ();

    /// Writes `<state>/acllists/<name>` (0600 in a 0700 directory) in WHM's format, replacing a list of that name.
    /// Nobody saves a list granting what their request does not carry, so a list cannot carry a privilege past them.
    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, NewList { name, acls }: NewList) -> Result<(), WhmError> {
        check_acl_list_name(&name).map_err(|e| WhmError::new(e.to_string()))?;
        if let Some(a) = acls.iter().find(|a| !auth.privileges.check(*a)) {
            return Err(WhmError::new(format!(
                "You cannot grant the \"{a}\" privilege because you do not have it."
            )));
        }
        let panel = ctx.panel;
        let edit = panel.edit_config().map_err(|e| WhmError::new(format!("{e:#}")))?;
        // Root-level access is root's to hand out, in a list as in `setacls`: only root saves a list granting `all`,
        // or replaces one that does.
        if !auth.is_root() {
            let replaces_root_level = load_acl_list(panel, &name)?.is_some_and(|old| old.granted.has_all());
            if acls.has_all() || replaces_root_level {
                return Err(WhmError::new(format!(
                    "Only root may save the ACL list \"{name}\": it grants root-level access (\"all\")."
                )));
            }
        }
        let dir = acllists_dir(panel);
        create_private_dir(&dir).map_err(|e| WhmError::new(format!("{e:#}")))?;
        let list = AclList {
            granted: acls,
            additional: Default::default(),
        };
        edit.write_acl_list(&dir.join(&name), &list.render())
            .map_err(|e| WhmError::new(format!("{e:#}")))?;
        let granted: Vec<&str> = acls.iter().map(|a| a.name()).collect();
        edit.commit(
            "acllist_saved",
            auth.audit_with(json!({"acllist": name, "granted": granted})),
        )
        .map_err(|e| WhmError::new(format!("the list was saved but the configuration does not load: {e}")))
    }
}
