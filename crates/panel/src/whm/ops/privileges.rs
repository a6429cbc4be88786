//! `listresellers`, `listacls` and `setacls`: the resellers, the saved privilege lists, and a reseller's privileges.

use serde_json::{Map, Value, json};
use settings::{Acl, AclSet, Username};

use crate::auth::Authorized;
use crate::config_write;
use crate::features::EDIT_RESELLER_PRIVILEGES;
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError};

#[derive(Debug)]
pub struct ListResellers;

impl Operation for ListResellers {
    const NAME: &'static str = "listresellers";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    type Params = ();
    type Output = Value;

    fn run(ctx: Ctx<'_>, _: Authorized<'_>, (): ()) -> Result<Value, WhmError> {
        Ok(json!({"reseller": ctx.snapshot.config().users.resellers.keys().collect::<Vec<_>>()}))
    }
}

#[derive(Debug)]
pub struct ListAcls;

impl Operation for ListAcls {
    const NAME: &'static str = "listacls";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    type Params = ();
    type Output = Value;

    /// The saved privilege lists in `<state>/acllists/<name>` (WHM's `/var/cpanel/acllists`), in WHM's `acl=1` format.
    fn run(ctx: Ctx<'_>, _: Authorized<'_>, (): ()) -> Result<Value, WhmError> {
        let dir = ctx.panel.state_dir.join("acllists");
        let mut lists = Map::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(json!({"acls": lists})),
            Err(e) => return Err(WhmError::new(format!("cannot read {}: {e}", dir.display()))),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            if settings::native::check_acl_list_name(&name).is_err() || name.starts_with('.') {
                continue;
            }
            let path = dir.join(&name);
            let list = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    settings::native::AclList::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
                })
                .map_err(WhmError::new)?;
            let mut privs: Map<String, Value> = Acl::iter()
                .map(|a| (a.name().to_owned(), json!(u8::from(list.granted.contains(a)))))
                .collect();
            privs.extend(list.additional.iter().map(|(k, v)| (k.clone(), json!(u8::from(*v)))));
            lists.insert(name, Value::Object(privs));
        }
        Ok(json!({"acls": lists}))
    }
}

/// A reseller and the complete set of ACLs it is to hold (`acl-<name>=1`).
#[derive(Debug, Clone)]
pub struct NewAcls {
    pub reseller: String,
    pub acls: AclSet,
}

impl FromParams for NewAcls {
    fn from_params(p: &Params) -> Result<NewAcls, WhmError> {
        let reseller = p.require("reseller")?.to_owned();
        let mut acls = AclSet::EMPTY;
        for (k, v) in p.iter() {
            let Some(name) = k.strip_prefix("acl-") else { continue };
            match Acl::parse(name) {
                Ok(a) if v == "1" => acls.insert(a),
                Ok(_) => {}
                Err(e) => return Err(WhmError::new(e)),
            }
        }
        Ok(NewAcls { reseller, acls })
    }
}

#[derive(Debug)]
pub struct SetAcls;

impl Operation for SetAcls {
    const NAME: &'static str = "setacls";
    const FEATURE: &'static str = EDIT_RESELLER_PRIVILEGES;
    type Params = NewAcls;
    type Output = Value;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, NewAcls { reseller, acls }: NewAcls) -> Result<Value, WhmError> {
        let Ok(name) = Username::new(&reseller) else {
            return Err(WhmError::new(format!(
                "Invalid username \"{}\"",
                reseller.escape_debug()
            )));
        };
        let panel = ctx.panel;
        let _guard = panel.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current_snapshot = panel.snapshot();
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
        config_write::set_reseller_acls(current_snapshot.config(), &name, acls)
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
        panel.apply_write("acls_changed", fields).map_err(|e| {
            WhmError::new(format!(
                "the privileges were written but the configuration does not load: {e}"
            ))
        })?;
        Ok(json!({}))
    }
}
