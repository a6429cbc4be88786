//! The CLI on a real server's files (`[sources] whm_root`): its principals (root, resellers, accounts, and every WHM API
//! token as `<user>/<token name>`), where each fact came from for `explain`, and `check --server`'s findings.

use std::fmt::Write as _;

use anyhow::Result;
use settings::server::{ServerTree, Severity, TreeToken};
use settings::{Decision, Reason, Snapshot, UserKind, Username};

/// Now, in Unix seconds: which tokens expired.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unknown(principal: &str) -> Decision {
    Decision {
        visible: false,
        reasons: vec![Reason::UnknownUser { user: principal.into() }],
    }
}

/// The decision for a principal: a user name, or on a server tree a token as `<user>/<token name>`.
pub fn decide(snapshot: &Snapshot, principal: &str, feature: &str) -> Decision {
    match snapshot.config().whm.as_deref() {
        Some(tree) if principal.contains('/') => match tree.token(principal) {
            Some(token) => decide_token(snapshot, token, feature, now()),
            None => unknown(principal),
        },
        _ => snapshot.decide(principal, feature),
    }
}

/// A token's decision by WHM's rules (§9.5): expired authenticates nothing; a non-reseller's token holds nothing;
/// otherwise the user's ACLs filtered by the token's list, full access only for a token without one.
pub fn decide_token(snapshot: &Snapshot, token: &TreeToken, feature: &str, now: u64) -> Decision {
    if let Some(at) = token.expires_at.filter(|_| token.is_expired(now)) {
        return Decision {
            visible: false,
            reasons: vec![Reason::TokenExpired {
                token: token.principal().into(),
                expired_at: at,
            }],
        };
    }
    let Some(uid) = snapshot.user_id(token.user.as_str()) else {
        return unknown(token.user.as_str());
    };
    if snapshot.user_kind(uid) == UserKind::Account {
        return snapshot.decide(token.user.as_str(), feature);
    }
    let privileges = token.effective(snapshot.privileges(uid));
    snapshot.decide_for(uid, feature, privileges, token.is_full())
}

/// Every token of the tree, as principals, sorted.
pub fn token_principals(snapshot: &Snapshot) -> Vec<&TreeToken> {
    snapshot
        .config()
        .whm
        .as_deref()
        .map(|t| t.tokens.iter().collect())
        .unwrap_or_default()
}

/// Where each fact `explain` used came from: the user's (or token's) file and line, each setting the feature needs
/// (the file's line, the cache, or the default), and the key.
pub fn sources(snapshot: &Snapshot, tree: &ServerTree, principal: &str, feature: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (user, token) = match principal.split_once('/') {
        Some((u, _)) => (u, tree.token(principal)),
        None => (principal, None),
    };
    if let Some(t) = token {
        let acls = match &t.acls {
            None => "full access (its user's ACLs)".to_owned(),
            Some(list) => format!("limited to [{}]", list.join(", ")),
        };
        let expiry = t.expires_at.map_or_else(
            || "never expires".to_owned(),
            |at| format!("expires at {at} (Unix time)"),
        );
        let addresses = match &t.whitelist_ips {
            None => "any address".to_owned(),
            Some(list) if list.is_empty() => "no address at all (an empty whitelist_ips)".to_owned(),
            Some(list) => format!("only from {}", list.join(", ")),
        };
        out.push(format!(
            "token {principal}: {}: {acls}, {expiry}, {addresses}",
            t.source
        ));
    }
    match Username::new(user) {
        Ok(u) if u.is_root() => out.push("root: always holds all".to_owned()),
        Ok(u) => {
            if let Some(r) = tree.resellers.get(&u) {
                let mut names: Vec<&str> = r.acls.iter().map(|a| a.name()).collect();
                names.sort_unstable();
                names.extend(r.additional.iter().map(String::as_str));
                out.push(format!("{u}: reseller, ACLs [{}] from {}", names.join(","), r.source));
            }
            if let Some(a) = tree.accounts.get(&u) {
                out.push(format!(
                    "{u}: cPanel account, owner {} from {}",
                    a.owner(),
                    a.cpuser.path
                ));
            }
            if let Some(p) = tree.passwd.get(user) {
                out.push(format!(
                    "{u}: home {} from {}:{}",
                    p.home,
                    tree.path("etc/passwd").display(),
                    p.line
                ));
            }
            if !tree.resellers.contains_key(&u) && !tree.accounts.contains_key(&u) {
                out.push(format!("{u}: not a reseller or account of this server"));
            }
        }
        Err(_) => {}
    }
    if let Ok(u) = Username::new(user)
        && let Some(k) = tree.keys.get(&u)
    {
        let on = if tree.settings.is_on("allow_deprecated_accesshash") {
            "authenticates while allow_deprecated_accesshash is on"
        } else {
            "authenticates nothing while allow_deprecated_accesshash is off"
        };
        out.push(format!("{u}: access key {} ({on})", k.path.display()));
    }
    if let Some(spec) = snapshot.features().iter().find(|f| f.id == feature) {
        for def in &spec.requirements.all_settings_on {
            let value = tree.settings.in_force(def.key).unwrap_or("undefined");
            out.push(format!("{} = {value}: {}", def.key, tree.setting_origin(def.key)));
        }
    }
    out
}

/// `check --server`: every finding, as text lines or JSON, and whether any is a warning or an error.
pub fn findings(tree: &ServerTree, json: bool) -> Result<(String, bool)> {
    let failing = tree.findings.iter().any(|f| f.severity >= Severity::Warning);
    if json {
        let mut out = serde_json::to_string_pretty(&tree.findings)?;
        out.push('\n');
        return Ok((out, failing));
    }
    let mut out = String::new();
    for f in &tree.findings {
        writeln!(out, "{f}")?;
    }
    let count = |s: Severity| tree.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{} error(s), {} warning(s), {} note(s) in {}",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
        tree.root.display()
    )?;
    Ok((out, failing))
}
