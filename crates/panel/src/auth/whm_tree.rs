//! The credentials of a real server's files (`[sources] whm_root`): WHM API tokens looked up by the SHA-512 of the
//! secret in that user's `api_tokens_v2/whostmgr/<user>.json`, with expiry and address rules, then the user's
//! `.accesshash` (owned by that user, as WHM writes it), which only counts while `allow_deprecated_accesshash` is on.
//! Keys come from the panel's own [`KeyCache`], read again only when their file changes.

use std::fmt::Write as _;
use std::net::IpAddr;

use settings::Username;

use crate::store::keys::KeyCache;
use settings::server::{ServerTree, TreeToken};

/// What a presented secret is on a server tree.
#[derive(Debug)]
pub enum Outcome<'a> {
    Token(&'a TreeToken),
    Expired,
    AddressNotAllowed,
    Key,
    /// A right token or key of a suspended user (§9.3: `!`-locked shadow hash, `SUSPENDED=1` when shadow is not
    /// readable, or a `bwlimited` file): WHM does not let a suspended reseller in.
    Suspended,
    /// The user's key, while keys are off.
    KeyDisabled,
    Wrong,
}

/// Checks a secret's SHA-512 against the user's tokens, then (only when no token matched) the user's key; a right
/// secret of a suspended user is [`Outcome::Suspended`], whatever else holds.
pub fn verify<'a>(
    tree: &'a ServerTree,
    keys: &KeyCache,
    user: &Username,
    digest: &[u8; 64],
    now: u64,
    peer: IpAddr,
    keys_on: bool,
) -> Outcome<'a> {
    let suspended = tree.accounts.get(user).is_some_and(|a| a.suspension.suspended);
    match check_secret(tree, keys, user, digest, now, peer, keys_on) {
        Outcome::Token(_) | Outcome::Key | Outcome::Expired | Outcome::AddressNotAllowed | Outcome::KeyDisabled
            if suspended =>
        {
            Outcome::Suspended
        }
        other => other,
    }
}

fn check_secret<'a>(
    tree: &'a ServerTree,
    keys: &KeyCache,
    user: &Username,
    digest: &[u8; 64],
    now: u64,
    peer: IpAddr,
    keys_on: bool,
) -> Outcome<'a> {
    let mut hex = String::with_capacity(128);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    if let Some(token) = tree.tokens.iter().find(|t| &t.user == user && t.hash == hex) {
        if token.is_expired(now) {
            return Outcome::Expired;
        }
        let admitted = token.whitelist_ips.as_ref().is_none_or(|list| {
            list.iter()
                .filter_map(|entry| credentials::IpAllow::parse(entry).ok())
                .any(|range| range.contains(peer))
        });
        return if admitted {
            Outcome::Token(token)
        } else {
            Outcome::AddressNotAllowed
        };
    }
    let Some(key) = tree.keys.get(user) else {
        return Outcome::Wrong;
    };
    let Some(home) = key.path.parent() else {
        return Outcome::Wrong;
    };
    if !keys.verify_owned_digest(home, key.uid, digest) {
        Outcome::Wrong
    } else if keys_on {
        Outcome::Key
    } else {
        Outcome::KeyDisabled
    }
}
