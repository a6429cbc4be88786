//! `create_user_session`: a one-time login link for a WHM session, carrying no more than the request that asked.
//!
//! Only root opens a session as root; anyone else opens sessions only for themselves. The session is limited to the
//! creating request's effective privileges for as long as it lives, and remembers who really opened it and how.

use serde_json::{Value, json};
use settings::{UserKind, Username};

use crate::auth::{Authorized, Caller};
use crate::features::CREATE_USER_SESSION;
use crate::fsx::unix_now;
use crate::state::Panel;
use crate::store::sessions::{Grant, ONE_TIME, new_security_token};
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError};

/// Whom the session is for and which service it logs in to.
#[derive(Debug, Clone)]
pub struct SessionFor {
    pub user: String,
    pub service: Option<String>,
}

impl FromParams for SessionFor {
    fn from_params(p: &Params) -> Result<SessionFor, WhmError> {
        Ok(SessionFor {
            user: p.require("user")?.to_owned(),
            service: p.get("service").map(str::to_owned),
        })
    }
}

pub const ONLY_ROOT_AS_ROOT: &str = "Only root may create a session for root.";
pub const NOT_FOR_OTHERS: &str = "You do not have access to create a session for another user.";

/// Who may open a session for `target`: root for anyone, everyone else for themselves only.
pub fn may_open_for(caller: &Caller, target: &Username) -> Result<(), WhmError> {
    if target.is_root() && !caller.is_root() {
        return Err(WhmError::new(ONLY_ROOT_AS_ROOT));
    }
    if *target != caller.user && !caller.is_root() {
        return Err(WhmError::new(NOT_FOR_OTHERS));
    }
    Ok(())
}

#[derive(Debug)]
pub struct CreateUserSession;

impl Operation for CreateUserSession {
    const NAME: &'static str = "create_user_session";
    const FEATURE: &'static str = CREATE_USER_SESSION;
    type Params = SessionFor;
    type Output = Value;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, p: SessionFor) -> Result<Value, WhmError> {
        if let Some(service) = p.service.as_deref().filter(|s| *s != "whostmgrd") {
            return Err(WhmError::new(format!(
                "The service \"{}\" is not served here; use \"whostmgrd\"",
                service.escape_debug()
            )));
        }
        let Ok(target) = Username::new(&p.user) else {
            return Err(WhmError::new(format!("Invalid username \"{}\"", p.user.escape_debug())));
        };
        match ctx.snapshot.config().users.kind(&target) {
            Some(UserKind::Root | UserKind::Reseller) => {}
            Some(UserKind::Account) => return Err(WhmError::new(format!("User {target} is not a reseller."))),
            None => return Err(WhmError::new(format!("The user \"{target}\" does not exist."))),
        }
        may_open_for(&auth, &target)?;
        let grant = auth.grant_for(&target, auth.delegable());
        let (token, secret) = start_one_time(ctx.panel, &grant);
        let _ = ctx.panel.audit.record(
            "session_created",
            auth.audit_with(json!({"session_user": target, "limited_to": grant.limit().map(|s| s.iter().map(|a| a.name()).collect::<Vec<_>>())})),
        );
        Ok(json!({
            "url": format!("/{token}/login/?session={secret}"),
            "cp_security_token": format!("/{token}"),
            "session": secret,
            "expires": unix_now() + ONE_TIME.as_secs(),
        }))
    }
}

/// A one-time login: the URL's security token and the secret that the landing page redeems.
pub fn start_one_time(panel: &Panel, grant: &Grant) -> (String, String) {
    let secret = panel.sessions.create_one_time(grant);
    (new_security_token(), secret)
}
