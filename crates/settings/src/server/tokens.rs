//! WHM API tokens of a server tree (§9.5): `var/cpanel/authn/api_tokens_v2/whostmgr/<user>.json`, digests only.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::text::numbered;
use super::{ServerTree, Severity, Source};
use crate::acl::{Acl, AclSet};
use crate::username::Username;

const DIR: &str = "var/cpanel/authn/api_tokens_v2/whostmgr";

/// One token entry: never the token, only its SHA-512.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeToken {
    pub user: Username,
    pub name: String,
    /// 128 lowercase hex characters.
    pub hash: String,
    pub create_time: Option<i64>,
    /// `None`: never expires.
    pub expires_at: Option<u64>,
    /// `None`: full access (absent, or holding `all`).
    pub acls: Option<Vec<String>>,
    /// `None`: any address; `Some([])` admits none.
    pub whitelist_ips: Option<Vec<String>>,
    pub source: Source,
}

impl TreeToken {
    /// `<user>/<token name>`, the principal `matrix`, `explain` and `check` show.
    pub fn principal(&self) -> String {
        format!("{}/{}", self.user, self.name)
    }

    pub fn is_full(&self) -> bool {
        self.acls.is_none()
    }

    /// Expired strictly before `now` (an expiry equal to now is still valid).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t < now)
    }

    /// The token's own list as a set (names the catalogue does not know grant nothing here).
    pub fn limit(&self) -> Option<AclSet> {
        self.acls
            .as_ref()
            .map(|names| names.iter().filter_map(|n| Acl::from_name(n)).collect())
    }

    /// WHM's filter (§9.5 step 6): a full token keeps the user's ACLs; a user holding `all` gets exactly the token's
    /// list; anyone else what both hold.
    pub fn effective(&self, user_acls: AclSet) -> AclSet {
        user_acls.limit_by_token(self.limit())
    }
}

fn expiry(v: Option<&Value>) -> Result<Option<u64>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(|t| (t != 0).then_some(t)).ok_or(()),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse::<u64>().map(|t| (t != 0).then_some(t)).map_err(|_| ()),
        _ => Err(()),
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => Some(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}

pub(super) fn read(tree: &mut ServerTree, now: u64) {
    let Ok(entries) = std::fs::read_dir(tree.path(DIR)) else {
        return;
    };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    for file in files {
        let rel = format!("{DIR}/{file}");
        let user_name = file.trim_end_matches(".json");
        let Some(text) = tree.optional(&rel) else { continue };
        if let Ok(meta) = std::fs::metadata(tree.path(&rel))
            && meta.mode() & 0o077 != 0
        {
            let m = format!(
                "mode {:04o}: token digests readable by others; WHM writes 0600",
                meta.mode() & 0o7777
            );
            tree.note("FILE_PERMISSIONS", Severity::Warning, &rel, None, &m);
        }
        let Ok(user) = Username::new(user_name) else {
            let m = "the file name is not a user name; WHM never reads it";
            tree.note("TOKENS_OF_NON_RESELLER", Severity::Warning, &rel, None, m);
            continue;
        };
        let user_acls = tree.acls_of(&user);
        let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("tokens").cloned())
            .and_then(|t| match t {
                Value::Object(m) => Some(m),
                _ => None,
            });
        let Some(entries) = parsed else {
            // The first line, when the file has one: an empty file has no line to name.
            let line = numbered(&text).next().map(|(n, _)| n);
            let m = "not WHM's token store ({\"tokens\":{…}}); no token of this file authenticates";
            tree.note("UNREADABLE", Severity::Error, &rel, line, m);
            continue;
        };
        if user_acls.is_none() && !entries.is_empty() {
            let m = format!(
                "{user} is neither root nor a reseller: WHM tokens are for them only, so these {} token(s) \
                 authenticate nothing",
                entries.len()
            );
            tree.note("TOKENS_OF_NON_RESELLER", Severity::Warning, &rel, None, &m);
        }
        let shown = tree.shown(&rel);
        for (hash, entry) in entries {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
            if hash.len() != 128 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                let m = format!(
                    "the token \"{}\" is keyed by something that is not 128 lowercase hex characters (a SHA-512); it \
                     matches no token",
                    name.escape_debug()
                );
                tree.note("BAD_TOKEN_HASH", Severity::Error, &rel, None, &m);
                continue;
            }
            let Ok(expires_at) = expiry(entry.get("expires_at")) else {
                let m = format!(
                    "the token \"{}\" has an expires_at WHM cannot read",
                    name.escape_debug()
                );
                tree.note("UNREADABLE", Severity::Error, &rel, None, &m);
                continue;
            };
            let acls = strings(entry.get("acls")).filter(|a| !a.iter().any(|n| n == "all"));
            let whitelist_ips = strings(entry.get("whitelist_ips"));
            let token = TreeToken {
                user: user.clone(),
                name: name.clone(),
                hash,
                create_time: entry.get("create_time").and_then(Value::as_i64),
                expires_at,
                acls,
                whitelist_ips,
                source: Source {
                    path: shown.clone(),
                    line: None,
                },
            };
            if let Some(t) = token.expires_at.filter(|_| token.is_expired(now)) {
                let m = format!(
                    "{} expired at {t} (Unix time); it stays listed and authenticates nothing",
                    token.principal()
                );
                tree.note("TOKEN_EXPIRED", Severity::Note, &rel, None, &m);
            }
            if token.whitelist_ips.as_ref().is_some_and(Vec::is_empty) {
                let m = format!("{}: an empty whitelist_ips admits no address at all", token.principal());
                tree.note("TOKEN_EMPTY_WHITELIST", Severity::Warning, &rel, None, &m);
            }
            if let (Some(held), Some(list)) = (user_acls, &token.acls)
                && !held.has_all()
            {
                let lost: Vec<&str> = list
                    .iter()
                    .filter(|n| Acl::from_name(n).is_none_or(|a| !held.contains(a)))
                    .filter(|n| !tree.resellers.get(&user).is_some_and(|r| r.additional.contains(*n)))
                    .map(String::as_str)
                    .collect();
                if !lost.is_empty() {
                    let m = format!(
                        "{} lists ACLs {user} does not hold ({}); they have no effect",
                        token.principal(),
                        lost.join(", ")
                    );
                    tree.note("TOKEN_ACL_NOT_HELD", Severity::Warning, &rel, None, &m);
                }
            }
            tree.tokens.push(token);
        }
    }
    tree.tokens.sort_by(|a, b| (&a.user, &a.name).cmp(&(&b.user, &b.name)));
}
