//! `create_user_session`: a one-time login link for a WHM session, carrying no more than the request that asked.
//!
//! Only root opens a session as root; anyone else opens sessions only for themselves. The session is limited to the
//! creating request's effective privileges for as long as it lives, and remembers who really opened it and how.

use serde::Serialize;
use serde_json::json;
use settings::{UserKind, Username};

use crate::auth::{Authorized, Caller};
use crate::features::CREATE_USER_SESSION;
use crate::fsx::unix_now;
use crate::state::Panel;
use crate::store::sessions::{Grant, ONE_TIME, new_security_token};
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError};

/// Whom the session is for and which service it logs in to (both required, as WHM requires them).
#[derive(Debug, Clone)]
pub struct SessionFor {
    pub user: String,
    pub service: String,
}

impl FromParams for SessionFor {
    fn from_params(p: &Params) -> Result<SessionFor, WhmError> {
        Ok(SessionFor {
            user: p.require("user")?.to_owned(),
            service: p.require("service")?.to_owned(),
        })
    }
}

/// The service Tweakgate serves: WHM.
pub const SERVED: &str = "whostmgrd";

/// Why a service other than WHM's gets no session here.
pub fn service_refusal(service: &str) -> String {
    match service {
        "cpaneld" | "webmaild" => format!("This panel does not serve {service}."),
        other => format!(
            "Invalid service \"{}\": use whostmgrd, cpaneld or webmaild.",
            other.escape_debug()
        ),
    }
}

/// What `create_user_session` answers.
#[derive(Debug, Serialize)]
pub struct Created {
    /// Absolute: `http(s)://<host>/cpsess…/login/?session=…`.
    pub url: String,
    /// `/cpsess…`: the session keeps this token once the link is redeemed.
    pub cp_security_token: String,
    pub session: String,
    pub expires: u64,
    pub service: String,
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
    const WRITES: bool = true;
    const NAME: &'static str = "create_user_session";
    const FEATURE: &'static str = CREATE_USER_SESSION;
    const REASON: &'static str = "Created session";
    type Params = SessionFor;
    type Output = Created;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, p: SessionFor) -> Result<Created, WhmError> {
        if p.service != SERVED {
            return Err(WhmError::new(service_refusal(&p.service)));
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
        let origin = ctx.origin.map_or_else(|| default_origin(ctx), |o| o.get());
        Ok(Created {
            url: format!("{origin}/{token}/login/?session={secret}"),
            cp_security_token: format!("/{token}"),
            session: secret,
            expires: unix_now() + ONE_TIME.as_secs(),
            service: p.service,
        })
    }
}

/// Where the server listens, for a link made outside an HTTP request: the first HTTPS address, else the first HTTP.
fn default_origin(ctx: Ctx<'_>) -> String {
    let server = &ctx.snapshot.config().server;
    match (server.tls_listen.first(), server.listen.first()) {
        (Some(a), _) => format!("https://{a}"),
        (None, Some(a)) => format!("http://{a}"),
        (None, None) => "http://localhost".to_owned(),
    }
}

/// A one-time login: the security token chosen now (the session keeps it once the link is redeemed) and the secret
/// that the landing page redeems.
pub fn start_one_time(panel: &Panel, grant: &Grant) -> (String, String) {
    let token = new_security_token();
    let secret = panel.sessions.create_one_time(grant, Some(&token));
    (token, secret)
}
