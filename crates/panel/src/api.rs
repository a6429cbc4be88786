//! WHM API 1: `/json-api/<function>` with WHM's envelope, every function gated by the same decision that hides its page.

use std::net::IpAddr;

use axum::http::StatusCode;
use credentials::{AccessKey, TokenName, sha512_hex};
use plugin_abi::{Request, Response, Target};
use serde_json::{Value, json};
use settings::{Acl, AclSet, Decision, Snapshot, UserKind, Username, schema};

use crate::audit::unix_now;
use crate::auth::Caller;
use crate::config_write;
use crate::services::{Services, full_access, user_info};
use crate::state::Panel;

/// The WHM version Tweakgate's API answers to.
pub const WHM_VERSION: &str = "11.134.0.0";

/// A parsed API call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub function: String,
    pub params: Vec<(String, String)>,
    /// `api.version=1`; without it the call is legacy API 0.
    pub api1: bool,
    pub method: String,
}

impl ApiCall {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// WHM API 1's answer envelope.
pub fn envelope(command: &str, ok: bool, reason: &str, data: Value) -> Value {
    json!({"metadata": {"version": 1, "command": command, "result": u8::from(ok), "reason": reason}, "data": data})
}

pub type ApiAnswer = (StatusCode, Value);

fn ok(command: &str, data: Value) -> ApiAnswer {
    (StatusCode::OK, envelope(command, true, "OK", data))
}

fn error(command: &str, reason: impl Into<String>) -> ApiAnswer {
    (StatusCode::OK, envelope(command, false, &reason.into(), Value::Null))
}

/// 403 with the gate's reasons: the function's feature is hidden for this caller.
pub fn forbidden(command: &str, decision: &Decision) -> ApiAnswer {
    let text: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
    let mut body = envelope(
        command,
        false,
        &format!("Access denied: {}", text.join("; ")),
        Value::Null,
    );
    body["metadata"]["reasons"] = json!(decision.reasons);
    (StatusCode::FORBIDDEN, body)
}

/// The feature a built-in function belongs to.
fn builtin_feature(function: &str) -> Option<&'static str> {
    Some(match function {
        "applist" | "version" | "myprivs" => "whm",
        "get_tweaksetting" | "set_tweaksetting" => "tweak-settings",
        "listresellers" | "listacls" | "setacls" => "edit-reseller-privileges",
        "api_token_create" | "api_token_list" | "api_token_revoke" => "manage-api-tokens",
        "create_user_session" => "create-user-session",
        _ => return None,
    })
}

const BUILTIN_FUNCTIONS: &[&str] = &[
    "applist",
    "version",
    "myprivs",
    "get_tweaksetting",
    "set_tweaksetting",
    "listresellers",
    "listacls",
    "setacls",
    "api_token_create",
    "api_token_list",
    "api_token_revoke",
    "create_user_session",
];

/// The feature that guards a function, built-in or from a plugin.
pub fn feature_of(panel: &Panel, function: &str) -> Option<String> {
    builtin_feature(function)
        .map(str::to_owned)
        .or_else(|| panel.plugin_functions.get(function).cloned())
}

/// Functions this caller may call right now.
pub fn applist(panel: &Panel, snapshot: &Snapshot, caller: &Caller) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_FUNCTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(panel.plugin_functions.keys().cloned())
        .collect();
    names.retain(|f| feature_of(panel, f).is_some_and(|feature| caller.decide(snapshot, &feature).visible));
    names.sort();
    names.dedup();
    names
}

/// Runs one API call for an authenticated caller.
pub fn call(panel: &Panel, snapshot: &Snapshot, caller: &Caller, peer: IpAddr, call: &ApiCall) -> ApiAnswer {
    let f = call.function.as_str();
    let Some(feature) = feature_of(panel, f) else {
        return (
            StatusCode::NOT_FOUND,
            envelope(
                f,
                false,
                &format!("Unknown function \"{}\"", f.escape_debug()),
                Value::Null,
            ),
        );
    };
    let decision = caller.decide(snapshot, &feature);
    if !decision.visible {
        return forbidden(f, &decision);
    }
    match f {
        "applist" => {
            let apps = applist(panel, snapshot, caller);
            if call.api1 {
                ok(f, json!({"app": apps}))
            } else {
                (StatusCode::OK, json!({"app": apps}))
            }
        }
        "version" => ok(
            f,
            json!({"version": WHM_VERSION, "tweakgate": env!("CARGO_PKG_VERSION")}),
        ),
        "myprivs" => {
            let privs: serde_json::Map<String, Value> = Acl::iter()
                .map(|a| {
                    (
                        a.name().to_owned(),
                        json!(u8::from(caller.privileges.contains(a) || caller.privileges.has_all())),
                    )
                })
                .collect();
            ok(f, json!({"privileges": [privs]}))
        }
        "get_tweaksetting" => get_tweaksetting(snapshot, call),
        "set_tweaksetting" => set_tweaksetting(panel, snapshot, caller, call),
        "listresellers" => ok(
            f,
            json!({"reseller": snapshot.config().users.resellers.keys().collect::<Vec<_>>()}),
        ),
        "listacls" => listacls(panel),
        "setacls" => setacls(panel, snapshot, caller, call),
        "api_token_create" => token_create(panel, caller, call),
        "api_token_list" => token_list(panel, caller),
        "api_token_revoke" => token_revoke(panel, caller, peer, call),
        "create_user_session" => create_user_session(panel, snapshot, caller, call),
        _ => plugin_call(panel, snapshot, caller, peer, call, &feature),
    }
}

fn get_tweaksetting(snapshot: &Snapshot, call: &ApiCall) -> ApiAnswer {
    let f = "get_tweaksetting";
    let Some(key) = call.param("key") else {
        return error(f, "Missing parameter: key");
    };
    let settings = &snapshot.config().tweak_settings;
    if schema::setting(key).is_none() && !settings.is_explicit(key) {
        return error(f, format!("Unknown Tweak Setting key \"{}\"", key.escape_debug()));
    }
    ok(f, json!({"tweaksetting": {"key": key, "value": settings.get(key)}}))
}

fn set_tweaksetting(panel: &Panel, snapshot: &Snapshot, caller: &Caller, call: &ApiCall) -> ApiAnswer {
    let f = "set_tweaksetting";
    let Some(key) = call.param("key") else {
        return error(f, "Missing parameter: key");
    };
    let Some(def) = schema::setting(key) else {
        let hint = settings::suggest::did_you_mean(key, schema::keys());
        return error(f, format!("Unknown Tweak Setting key \"{}\"{hint}", key.escape_debug()));
    };
    let value = call.param("value");
    let old = snapshot.config().tweak_settings.get(key).map(str::to_owned);
    let _guard = panel.write_lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = config_write::set_tweak_setting(snapshot.config(), def, value) {
        return error(f, format!("{e:#}"));
    }
    let fields = json!({"key": key, "old": old, "new": value, "actor": caller.user});
    match panel.apply_write("setting_changed", fields) {
        Ok(()) => ok(f, json!({"tweaksetting": {"key": key, "value": value}})),
        Err(e) => error(
            f,
            format!("the setting was written but the configuration does not load: {e}"),
        ),
    }
}

/// The saved privilege lists in `<state>/acllists/<name>` (WHM's `/var/cpanel/acllists`), each in WHM's `acl=1` format.
fn listacls(panel: &Panel) -> ApiAnswer {
    let f = "listacls";
    let dir = panel.state_dir.join("acllists");
    let mut lists = serde_json::Map::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ok(f, json!({"acls": lists})),
        Err(e) => return error(f, format!("cannot read {}: {e}", dir.display())),
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
        let list = match std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                settings::native::AclList::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(l) => l,
            Err(e) => return error(f, e),
        };
        let mut privs: serde_json::Map<String, Value> = Acl::iter()
            .map(|a| (a.name().to_owned(), json!(u8::from(list.granted.contains(a)))))
            .collect();
        privs.extend(list.additional.iter().map(|(k, v)| (k.clone(), json!(u8::from(*v)))));
        lists.insert(name, Value::Object(privs));
    }
    ok(f, json!({"acls": lists}))
}

fn setacls(panel: &Panel, snapshot: &Snapshot, caller: &Caller, call: &ApiCall) -> ApiAnswer {
    let f = "setacls";
    let Some(reseller) = call.param("reseller") else {
        return error(f, "Missing parameter: reseller");
    };
    let Ok(name) = Username::new(reseller) else {
        return error(f, format!("Invalid username \"{}\"", reseller.escape_debug()));
    };
    let Some(current) = snapshot.config().users.resellers.get(&name) else {
        return error(f, format!("User {name} is not a reseller."));
    };
    let mut acls = AclSet::EMPTY;
    for (k, v) in &call.params {
        let Some(acl_name) = k.strip_prefix("acl-") else {
            continue;
        };
        match Acl::parse(acl_name) {
            Ok(a) if v == "1" => acls.insert(a),
            Ok(_) => {}
            Err(e) => return error(f, e),
        }
    }
    if !caller.user.is_root() && acls.has_all() != current.privileges.has_all() {
        return error(f, "Only root may grant or revoke root-level access (\"all\")");
    }
    let _guard = panel.write_lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = config_write::set_reseller_acls(snapshot.config(), &name, acls) {
        return error(f, format!("{e:#}"));
    }
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
    let fields = json!({"reseller": name, "actor": caller.user, "granted": granted, "revoked": revoked, "root_access": root_access});
    match panel.apply_write("acls_changed", fields) {
        Ok(()) => ok(f, json!({})),
        Err(e) => error(
            f,
            format!("the privileges were written but the configuration does not load: {e}"),
        ),
    }
}

fn token_create(panel: &Panel, caller: &Caller, call: &ApiCall) -> ApiAnswer {
    let f = "api_token_create";
    let Some(name) = call.param("token_name") else {
        return error(f, "Missing parameter: token_name");
    };
    let name = match TokenName::new(name) {
        Ok(n) => n,
        Err(e) => return error(f, e.to_string()),
    };
    let mut acls = Vec::new();
    for (k, v) in &call.params {
        if k == "acl"
            || k.strip_prefix("acl-")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            let a = match Acl::parse(v) {
                Ok(a) => a,
                Err(e) => return error(f, e),
            };
            if !caller.privileges.check(a) {
                return error(
                    f,
                    format!("You cannot grant the \"{a}\" privilege because you do not have it."),
                );
            }
            acls.push(a.name().to_owned());
        }
    }
    let expires_at = match call
        .param("expires_at")
        .filter(|s| !s.is_empty())
        .map(str::parse::<u64>)
    {
        None => None,
        Some(Ok(t)) if t > unix_now() => Some(t),
        Some(Ok(_)) => return error(f, "expires_at is in the past"),
        Some(Err(_)) => return error(f, "expires_at must be a Unix time"),
    };
    let whitelist: Vec<String> = call
        .params
        .iter()
        .filter(|(k, _)| k == "whitelist_ip" || k.starts_with("whitelist_ip-"))
        .map(|(_, v)| v.clone())
        .collect();
    let acls = (!acls.is_empty()).then_some(acls);
    match panel
        .tokens
        .create(caller.user.as_str(), &name, acls.clone(), expires_at, &whitelist)
    {
        Ok((record, token)) => {
            let _ = panel.audit.record("token_created", json!({"user": caller.user, "token_name": record.name.to_string(), "acls": acls, "expires_at": expires_at}));
            ok(
                f,
                json!({"token": token.expose(), "create_time": record.created_at, "name": record.name.to_string(), "expires_at": expires_at}),
            )
        }
        Err(e) => error(f, e.to_string()),
    }
}

fn token_list(panel: &Panel, caller: &Caller) -> ApiAnswer {
    match panel.tokens.list(caller.user.as_str()) {
        Ok(records) => {
            let tokens: serde_json::Map<String, Value> = records
                .iter()
                .map(|r| {
                    let v = json!({"name": r.name.to_string(), "create_time": r.created_at, "expires_at": r.expires_at,
                        "has_full_access": u8::from(r.acls.is_none()), "acls": r.acls, "whitelist_ips": r.whitelist_ips.iter().map(ToString::to_string).collect::<Vec<_>>()});
                    (r.name.to_string(), v)
                })
                .collect();
            ok("api_token_list", json!({"tokens": tokens}))
        }
        Err(e) => error("api_token_list", e.to_string()),
    }
}

fn token_revoke(panel: &Panel, caller: &Caller, peer: IpAddr, call: &ApiCall) -> ApiAnswer {
    let f = "api_token_revoke";
    let names: Vec<&str> = call
        .params
        .iter()
        .filter(|(k, _)| k == "token_name" || k.starts_with("token_name-"))
        .map(|(_, v)| v.as_str())
        .collect();
    if names.is_empty() {
        return error(f, "Missing parameter: token_name");
    }
    for name in names {
        match panel.tokens.revoke(caller.user.as_str(), name) {
            Ok(true) => {
                let _ = panel.audit.record(
                    "token_revoked",
                    json!({"user": caller.user, "token_name": name, "source": peer.to_string()}),
                );
            }
            Ok(false) => {
                return error(
                    f,
                    format!(
                        "The user \"{}\" has no API token named \"{}\".",
                        caller.user,
                        name.escape_debug()
                    ),
                );
            }
            Err(e) => return error(f, e.to_string()),
        }
    }
    ok(f, json!({}))
}

fn create_user_session(panel: &Panel, snapshot: &Snapshot, caller: &Caller, call: &ApiCall) -> ApiAnswer {
    let f = "create_user_session";
    let Some(user) = call.param("user") else {
        return error(f, "Missing parameter: user");
    };
    if let Some(service) = call.param("service").filter(|s| *s != "whostmgrd") {
        return error(
            f,
            format!(
                "The service \"{}\" is not served here; use \"whostmgrd\"",
                service.escape_debug()
            ),
        );
    }
    let Ok(target) = Username::new(user) else {
        return error(f, format!("Invalid username \"{}\"", user.escape_debug()));
    };
    match snapshot.config().users.kind(&target) {
        Some(UserKind::Root | UserKind::Reseller) => {}
        Some(UserKind::Account) => return error(f, format!("User {target} is not a reseller.")),
        None => return error(f, format!("The user \"{target}\" does not exist.")),
    }
    if target != caller.user && !caller.has_all() {
        return error(f, "You do not have access to create a session for another user");
    }
    let (token, secret) = start_one_time(panel, &target);
    ok(
        f,
        json!({"url": format!("/{token}/login/?session={secret}"), "cp_security_token": format!("/{token}"), "session": secret, "expires": unix_now() + crate::sessions::ONE_TIME.as_secs()}),
    )
}

/// A one-time login: the URL's security token and the secret that the landing page redeems.
pub fn start_one_time(panel: &Panel, user: &Username) -> (String, String) {
    let secret = panel.sessions.create_one_time(user);
    let token = format!("cpsess{:010}", rand::random_range(0..10_000_000_000u64));
    (token, secret)
}

fn plugin_call(
    panel: &Panel,
    snapshot: &Snapshot,
    caller: &Caller,
    peer: IpAddr,
    call: &ApiCall,
    feature: &str,
) -> ApiAnswer {
    let request = Request {
        feature: feature.to_owned(),
        target: Target::Api {
            function: call.function.clone(),
        },
        user: user_info(panel, snapshot, &caller.user, caller.privileges.has_all()),
        source: peer.to_string(),
        method: call.method.clone(),
        path: format!("/json-api/{}", call.function),
        params: call.params.clone(),
        body: Vec::new(),
        security_token: String::new(),
        csrf_token: String::new(),
        full_access: full_access(panel, caller),
    };
    let services = Services {
        panel,
        snapshot,
        actor: caller.user.clone(),
        source: peer.to_string(),
    };
    match panel.plugins.call(feature, &request, &services) {
        Ok(Response { status, body, .. }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match serde_json::from_slice(&body) {
                Ok(v) => (status, v),
                Err(_) => (
                    StatusCode::BAD_GATEWAY,
                    envelope(
                        &call.function,
                        false,
                        "the plugin answered with invalid JSON",
                        Value::Null,
                    ),
                ),
            }
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            envelope(
                &call.function,
                false,
                &format!("the plugin could not answer: {e}"),
                Value::Null,
            ),
        ),
    }
}

/// Converts users' access keys into full-access API tokens, as `convert_accesshash_to_token` does.
pub fn convert_accesshash_to_token(panel: &Panel, users: &[Username], verbose: bool) -> anyhow::Result<Vec<String>> {
    let snapshot = panel.snapshot();
    let mut out = Vec::new();
    for user in users {
        let home = panel.home_of(&snapshot, user);
        let Some(key) = credentials::read_key(&home)? else {
            continue;
        };
        let name = import_converted_key(panel, user, &sha512_hex(key.as_str()))?;
        panel.audit.record("token_converted", json!({"user": user, "token_name": name.to_string(), "signature": key.signature().to_string(), "log": "CREATEAPITOKEN"}))?;
        if verbose {
            out.push(format!("Imported accesshash for “{user}” as “{name}”"));
        }
    }
    Ok(out)
}

/// Stores a converted key as `accesshash-<unix time>`; on a name clash, appends `-` and 8 random `A-Z0-9`
/// characters, up to 25 tries, as cPanel's `convert_accesshash_to_token` does.
fn import_converted_key(panel: &Panel, user: &Username, hash: &str) -> anyhow::Result<credentials::TokenName> {
    let base = format!("accesshash-{}", unix_now());
    let mut name = base.clone();
    for _ in 0..25 {
        match panel.tokens.import_hash(user.as_str(), &name, hash) {
            Err(credentials::TokenError::Duplicate { .. }) => {
                const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                let suffix: String = (0..8)
                    .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                    .collect();
                name = format!("{base}-{suffix}");
            }
            other => return Ok(other?),
        }
    }
    anyhow::bail!("no free token name for {user} after 25 tries, starting from \"{base}\"")
}

/// Generates a new key for `user` outside any request (CLI), audited first so a key never changes unrecorded.
pub fn generate_key(panel: &Panel, user: &Username, actor: &str) -> anyhow::Result<AccessKey> {
    let snapshot = panel.snapshot();
    match snapshot.config().users.kind(user) {
        Some(UserKind::Root | UserKind::Reseller) => {}
        Some(UserKind::Account) => anyhow::bail!("User {user} is not a reseller."),
        None => anyhow::bail!("\"{user}\" is not a user on this server"),
    }
    let home = panel.home_of(&snapshot, user);
    let key = AccessKey::generate()?;
    panel
        .audit
        .record(
            "key_generated",
            json!({"user": user, "actor": actor, "signature": key.signature().to_string(), "source": "cli"}),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the key was not changed because the audit log {} could not record it: {e}",
                panel.audit.path().display()
            )
        })?;
    credentials::write_key(&home, &key)?;
    panel.keys.invalidate(user);
    Ok(key)
}
