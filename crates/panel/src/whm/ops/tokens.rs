//! `api_token_create`, `api_token_list` and `api_token_revoke`: the caller's own API tokens.
//!
//! A token never carries more than the request that creates it: without a list it gets exactly the creator's
//! effective privileges, and a list reaching beyond them is refused.

use std::collections::BTreeMap;

use credentials::TokenName;
use serde::Serialize;
use serde_json::{Value, json};
use settings::{Acl, AclSet};

use crate::auth::Authorized;
use crate::features::MANAGE_API_TOKENS;
use crate::fsx::unix_now;
use crate::whm::{Ctx, FromParams, List, Operation, Params, WhmError};

/// What a new token is to be.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: TokenName,
    /// `acl`/`acl-N` values; empty: the creator's effective privileges.
    pub acls: Vec<Acl>,
    pub expires_at: Option<u64>,
    pub whitelist_ips: Vec<String>,
}

impl FromParams for NewToken {
    fn from_params(p: &Params) -> Result<NewToken, WhmError> {
        let name = TokenName::new(p.require("token_name")?).map_err(|e| WhmError::new(e.to_string()))?;
        let acls = p
            .numbered("acl")
            .map(Acl::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(WhmError::new)?;
        // `0` or absent: the token never expires.
        let expires_at = match p.get("expires_at").filter(|s| !s.is_empty()).map(str::parse::<u64>) {
            None | Some(Ok(0)) => None,
            Some(Ok(t)) if t > unix_now() => Some(t),
            Some(Ok(_)) => return Err(WhmError::new("expires_at is in the past")),
            Some(Err(_)) => return Err(WhmError::new("expires_at must be a Unix time")),
        };
        let whitelist_ips = p.numbered("whitelist_ip").map(str::to_owned).collect();
        Ok(NewToken {
            name,
            acls,
            expires_at,
            whitelist_ips,
        })
    }
}

/// The ACL list a new token gets, bounded by what the creating request carries (spec: a credential never yields more
/// than it holds). `None` is a full-access token, which only a full-access request can make.
pub fn token_acls(auth: &Authorized<'_>, requested: &[Acl]) -> Result<Option<AclSet>, WhmError> {
    if let Some(a) = requested.iter().find(|a| !auth.privileges.check(**a)) {
        return Err(WhmError::new(format!(
            "You cannot grant the \"{a}\" privilege because you do not have it."
        )));
    }
    Ok(if requested.is_empty() {
        auth.delegable()
    } else {
        Some(AclSet::from_acls(requested.iter().copied()))
    })
}

/// A new token: the secret is shown this once.
#[derive(Debug, Serialize)]
pub struct Created {
    pub token: String,
    pub create_time: u64,
    pub name: String,
    pub expires_at: Option<u64>,
    /// The token's ACL list, when it has one (a full-access token has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acls: Option<Vec<String>>,
    /// The addresses the token works from; `null`: any.
    pub whitelist_ips: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct ApiTokenCreate;

impl Operation for ApiTokenCreate {
    const WRITES: bool = true;
    const NAME: &'static str = "api_token_create";
    const FEATURE: &'static str = MANAGE_API_TOKENS;
    type Params = NewToken;
    type Output = Created;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, new: NewToken) -> Result<Created, WhmError> {
        let acls = token_acls(&auth, &new.acls)?;
        let names: Option<Vec<String>> = acls.map(|set| set.iter().map(|a| a.name().to_owned()).collect());
        let (record, token) = ctx
            .panel
            .tokens
            .create(
                auth.user.as_str(),
                &new.name,
                names.clone(),
                new.expires_at,
                &new.whitelist_ips,
            )
            .map_err(|e| WhmError::new(e.to_string()))?;
        let _ = ctx.panel.audit.record(
            "token_created",
            auth.audit_with(
                json!({"token_name": record.name.to_string(), "acls": names, "expires_at": new.expires_at}),
            ),
        );
        Ok(Created {
            token: token.expose().to_owned(),
            create_time: record.created_at,
            name: record.name.to_string(),
            expires_at: new.expires_at,
            acls: names,
            whitelist_ips: whitelist(&record.whitelist_ips),
        })
    }
}

/// `whitelist_ips` as WHM answers it: the list, or `null` when the token works from anywhere.
fn whitelist(ips: &[credentials::IpAllow]) -> Option<Vec<String>> {
    (!ips.is_empty()).then(|| ips.iter().map(ToString::to_string).collect())
}

/// A token's ACL list as `api_token_list` shows it, for a token of a user holding `holder`: every ACL with 0 or 1,
/// names the catalogue does not know kept with 1. A full-access token (no list, or a list holding `all`) shows every
/// ACL as 1 only when the user holds `all`; any other user's full-access token lists exactly the user's own ACLs,
/// each 1 (those the user lacks are left out), as WHM does.
pub fn acl_map(list: Option<&[String]>, holder: AclSet) -> BTreeMap<String, u8> {
    let full = list.is_none_or(|l| l.iter().any(|a| a == "all"));
    if full && !holder.has_all() {
        return holder.iter().map(|a| (a.name().to_owned(), 1)).collect();
    }
    let mut map: BTreeMap<String, u8> = Acl::iter()
        .map(|a| {
            let on = full || list.is_some_and(|l| l.iter().any(|n| n == a.name()));
            (a.name().to_owned(), u8::from(on))
        })
        .collect();
    for name in list.unwrap_or_default() {
        map.entry(name.clone()).or_insert(1);
    }
    map
}

/// One token as `api_token_list` shows it: never the secret.
#[derive(Debug, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub create_time: u64,
    pub expires_at: Option<u64>,
    pub has_full_access: u8,
    pub acls: BTreeMap<String, u8>,
    pub whitelist_ips: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct Tokens {
    pub tokens: BTreeMap<String, TokenInfo>,
}

#[derive(Debug)]
pub struct ApiTokenList;

impl Operation for ApiTokenList {
    const NAME: &'static str = "api_token_list";
    const FEATURE: &'static str = MANAGE_API_TOKENS;
    /// An object keyed by token name: it stays one, holding the records kept.
    const LIST: Option<List> = Some(List::Under("tokens"));
    type Params = ();
    type Output = Tokens;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, (): ()) -> Result<Tokens, WhmError> {
        let records = ctx
            .panel
            .tokens
            .list(auth.user.as_str())
            .map_err(|e| WhmError::new(e.to_string()))?;
        // The user's own ACLs (not this request's): what a full-access token of theirs carries.
        let holder = ctx
            .snapshot
            .config()
            .users
            .privileges(&auth.user)
            .unwrap_or(AclSet::EMPTY);
        let tokens = records
            .into_iter()
            .map(|r| {
                let info = TokenInfo {
                    name: r.name.to_string(),
                    create_time: r.created_at,
                    expires_at: r.expires_at,
                    // As authentication decides it: no list, or a list holding `all`.
                    has_full_access: u8::from(r.acls.as_ref().is_none_or(|l| l.iter().any(|a| a == "all"))),
                    acls: acl_map(r.acls.as_deref(), holder),
                    whitelist_ips: whitelist(&r.whitelist_ips),
                };
                (info.name.clone(), info)
            })
            .collect();
        Ok(Tokens { tokens })
    }
}

/// Token names to revoke (`token_name`, `token_name-N`).
#[derive(Debug, Clone)]
pub struct Names(pub Vec<String>);

impl FromParams for Names {
    fn from_params(p: &Params) -> Result<Names, WhmError> {
        let names: Vec<String> = p.numbered("token_name").map(str::to_owned).collect();
        if names.is_empty() {
            return Err(WhmError::new("Missing parameter: token_name"));
        }
        Ok(Names(names))
    }
}

#[derive(Debug)]
pub struct ApiTokenRevoke;

impl Operation for ApiTokenRevoke {
    const WRITES: bool = true;
    const NAME: &'static str = "api_token_revoke";
    const FEATURE: &'static str = MANAGE_API_TOKENS;
    type Params = Names;
    type Output = Value;

    /// Names that do not exist are skipped; the call still succeeds, as WHM's does.
    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, Names(names): Names) -> Result<Value, WhmError> {
        for name in names {
            match ctx.panel.tokens.revoke(auth.user.as_str(), &name) {
                Ok(true) => {
                    let _ = ctx
                        .panel
                        .audit
                        .record("token_revoked", auth.audit_with(json!({"token_name": name})));
                }
                Ok(false) => {}
                Err(e) => return Err(WhmError::new(e.to_string())),
            }
        }
        Ok(json!({}))
    }
}
