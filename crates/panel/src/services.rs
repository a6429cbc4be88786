//! What the panel offers plugins while they serve a request: user lookup, the audit log and the log.

use plugin_abi::{HostCallbacks, LogLevel, UserInfo, UserKind};
use settings::{Snapshot, Username};

use crate::auth::{AuthMethod, Caller};
use crate::state::Panel;

/// Whether the caller's credential carries all of the user's privileges: anything but an API token with an ACL list
/// (a token that can no longer be found counts as limited).
pub fn full_access(panel: &Panel, caller: &Caller) -> bool {
    match &caller.method {
        AuthMethod::ApiToken { name } => panel
            .tokens
            .list(caller.user.as_str())
            .ok()
            .and_then(|records| records.into_iter().find(|r| r.name.as_str() == name))
            .is_some_and(|r| r.acls.is_none()),
        AuthMethod::AccessKey | AuthMethod::Password | AuthMethod::Session { .. } => true,
    }
}

/// The host side of one plugin call.
#[derive(Debug)]
pub struct Services<'a> {
    pub panel: &'a Panel,
    pub snapshot: &'a Snapshot,
    pub actor: Username,
    pub source: String,
}

/// A user as plugins see them: kind, `all`, and where their home (and `.accesshash`) is.
/// The home of root or a reseller is created (mode 0700) on first use, so a key can be written there.
pub fn user_info(panel: &Panel, snapshot: &Snapshot, user: &Username, has_all: bool) -> UserInfo {
    let kind = snapshot
        .config()
        .users
        .kind(user)
        .unwrap_or(settings::UserKind::Account);
    let home = panel.home_of(snapshot, user);
    if kind != settings::UserKind::Account
        && let Err(e) = crate::state::create_private_dir(&home)
    {
        tracing::warn!("{e:#}");
    }
    UserInfo {
        name: user.to_string(),
        kind: match kind {
            settings::UserKind::Root => UserKind::ROOT,
            settings::UserKind::Reseller => UserKind::RESELLER,
            settings::UserKind::Account => UserKind::ACCOUNT,
        },
        has_all,
        home,
    }
}

impl HostCallbacks for Services<'_> {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        let user = Username::new(name).ok()?;
        self.snapshot.config().users.kind(&user)?;
        let has_all = self
            .snapshot
            .config()
            .users
            .privileges(&user)
            .is_some_and(|p| p.has_all());
        Some(user_info(self.panel, self.snapshot, &user, has_all))
    }

    fn audit(&self, event_json: &str) -> Result<(), String> {
        let mut fields: serde_json::Value =
            serde_json::from_str(event_json).map_err(|e| format!("audit event is not JSON: {e}"))?;
        let name = fields
            .get("event")
            .and_then(|v| v.as_str())
            .unwrap_or("plugin_event")
            .to_owned();
        if let serde_json::Value::Object(map) = &mut fields {
            map.entry("actor").or_insert_with(|| self.actor.to_string().into());
            map.entry("source").or_insert_with(|| self.source.clone().into());
        }
        self.panel
            .audit
            .record(&name, fields)
            .map_err(|e| format!("cannot write the audit log: {e}"))
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::ERROR => tracing::error!(target: "plugin", "{message}"),
            LogLevel::WARN => tracing::warn!(target: "plugin", "{message}"),
            _ => tracing::info!(target: "plugin", "{message}"),
        }
    }
}
