//! Authentication of WHM API requests: API tokens, access keys (only while the Tweak Setting allows them), passwords and sessions.
//!
//! Every failure gets the same answer; the cause goes to the audit log, never the secret.

use std::net::IpAddr;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use credentials::{Credential, TokenRejection};
use settings::schema::ALLOW_DEPRECATED_ACCESSHASH;
use settings::{Acl, AclSet, Decision, Snapshot, UserId, UserKind, Username};

use crate::audit::unix_now;
use crate::state::Panel;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    AccessKey,
    ApiToken { name: String },
    Password,
    Session { security_token: String },
}

/// An authenticated caller and the privileges this request carries.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: Username,
    pub id: UserId,
    pub kind: UserKind,
    /// The user's ACLs, limited by the API token's list when one was used.
    pub privileges: AclSet,
    pub method: AuthMethod,
}

impl Caller {
    /// The gate's decision for this caller and request: the same evaluation that decides visibility.
    pub fn decide(&self, snapshot: &Snapshot, feature: &str) -> Decision {
        snapshot.decide_with_privileges(self.id, feature, self.privileges)
    }

    pub fn has_all(&self) -> bool {
        self.privileges.has_all()
    }
}

/// Why a request is not let in; the answer the client sees depends only on the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// 401 "Access denied", whatever the cause.
    Denied,
    /// 429: too many failures from this address.
    Throttled,
}

/// A password hash that never matches, verified against when the user has none, so failures cost the same.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dHdlYWtnYXRlZGVjb3k$Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHg";

/// Authenticates an `Authorization` header value.
pub fn authenticate(
    panel: &Panel,
    snapshot: &Snapshot,
    header: Option<&[u8]>,
    peer: IpAddr,
) -> Result<Caller, AuthError> {
    if panel.limiter.is_throttled(peer) {
        return Err(AuthError::Throttled);
    }
    let Some(header) = header else {
        return Err(AuthError::Denied);
    };
    let result = match credentials::parse_authorization(header) {
        Ok(Credential::Whm { user, secret }) => {
            whm(panel, snapshot, &user, secret.expose(), peer).map_err(|why| (Some(user), why))
        }
        Ok(Credential::Basic { user, password }) => {
            basic(snapshot, &user, password.expose()).map_err(|why| (Some(user), why))
        }
        Err(e) => Err((None, e.to_string())),
    };
    result.map_err(|(user, why)| {
        fail(panel, user.as_deref(), peer, &why);
        AuthError::Denied
    })
}

/// Records a failure: counted towards throttling and audited without the secret.
pub fn fail(panel: &Panel, user: Option<&str>, peer: IpAddr, why: &str) {
    panel.limiter.record_failure(peer);
    let user = user.filter(|u| Username::new(u).is_ok());
    tracing::warn!("authentication failed from {peer} for {}: {why}", user.unwrap_or("?"));
    panel.audit.auth_failure(user, &peer.to_string(), why);
}

fn known_user(snapshot: &Snapshot, user: &str) -> Option<(Username, UserId, UserKind)> {
    let name = Username::new(user).ok()?;
    let id = snapshot.user_id(user)?;
    Some((name, id, snapshot.user_kind(id)))
}

fn whm(panel: &Panel, snapshot: &Snapshot, user: &str, secret: &str, peer: IpAddr) -> Result<Caller, String> {
    let Some((name, id, kind)) = known_user(snapshot, user).filter(|(_, _, k)| *k != UserKind::Account) else {
        // Spend the same effort as a real user's token and key checks before refusing, so the answer's timing does
        // not tell which names exist. Root's key and tokens are the stand-in: every server has root.
        let root = Username::root();
        let _ = panel.tokens.verify(root.as_str(), secret, unix_now(), peer);
        let _ = panel.keys.verify(&root, &panel.home_of(snapshot, &root), secret);
        return Err("unknown user or not a reseller".into());
    };
    let base = snapshot.privileges(id);
    match panel.tokens.verify(name.as_str(), secret, unix_now(), peer) {
        Ok(record) => {
            let token_acls = record
                .acls
                .as_ref()
                .map(|names| AclSet::from_acls(names.iter().filter_map(|n| Acl::from_name(n))));
            return Ok(Caller {
                user: name,
                id,
                kind,
                privileges: base.limit_by_token(token_acls),
                method: AuthMethod::ApiToken {
                    name: record.name.to_string(),
                },
            });
        }
        Err(TokenRejection::Expired) => return Err("API token expired".into()),
        Err(TokenRejection::AddressNotAllowed) => {
            return Err("API token used from an address outside its allow-list".into());
        }
        Err(_) => {}
    }
    let home = panel.home_of(snapshot, &name);
    let key_ok = panel.keys.verify(&name, &home, secret);
    if !snapshot.config().tweak_settings.is_on(ALLOW_DEPRECATED_ACCESSHASH) {
        return Err(if key_ok {
            "access key presented while allow_deprecated_accesshash is Off"
        } else {
            "wrong secret"
        }
        .into());
    }
    if key_ok {
        Ok(Caller {
            user: name,
            id,
            kind,
            privileges: base,
            method: AuthMethod::AccessKey,
        })
    } else {
        Err("wrong secret".into())
    }
}

fn basic(snapshot: &Snapshot, user: &str, password: &str) -> Result<Caller, String> {
    let known = known_user(snapshot, user);
    let hash = known
        .as_ref()
        .and_then(|(n, _, _)| snapshot.config().users.password_hash(n))
        .unwrap_or(DECOY_HASH);
    let ok = check_password(hash, password);
    match known {
        Some((name, id, kind)) if ok => Ok(Caller {
            user: name,
            id,
            kind,
            privileges: snapshot.privileges(id),
            method: AuthMethod::Password,
        }),
        _ => Err("wrong password or unknown user".into()),
    }
}

/// Verifies a password against a PHC string (argon2).
pub fn check_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Hashes a password for the config (`tweakgate passwd`).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A session's caller: the user's full privileges.
pub fn session_caller(snapshot: &Snapshot, user: &Username, security_token: &str) -> Option<Caller> {
    let id = snapshot.user_id(user.as_str())?;
    let kind = snapshot.user_kind(id);
    Some(Caller {
        user: user.clone(),
        id,
        kind,
        privileges: snapshot.privileges(id),
        method: AuthMethod::Session {
            security_token: security_token.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(check_password(&h, "correct horse"));
        assert!(!check_password(&h, "wrong"));
        assert!(!check_password(DECOY_HASH, ""));
        assert!(!check_password("not a hash", "x"));
    }
}
