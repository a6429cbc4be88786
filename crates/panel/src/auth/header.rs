//! Authentication of the `Authorization` header: API tokens, access keys (only while the Tweak Setting allows them)
//! and passwords, each turned into a [`Caller`] with its effective privileges.
//!
//! Every failure gets the same answer; the cause goes to the audit log, never the secret.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::{Argon2, PasswordHash};
use credentials::{Credential, TokenRejection};
use settings::schema::ALLOW_DEPRECATED_ACCESSHASH;
use settings::{Acl, AclSet, Snapshot, UserKind, Username};

use super::{AuthMethod, Caller};
use crate::fsx::unix_now;
use crate::state::Panel;
use crate::store::limiter::Kind;

/// Why a request is not let in; the answer the client sees depends only on the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// 401 "Access denied", whatever the cause.
    Denied,
    /// 429 with `Retry-After`: a wrong key or token from a source that sent too many, or a password that must wait
    /// for its user's failures to drain (refused unchecked; the wait is what the client is told).
    Throttled(Duration),
    /// 503 with `Retry-After`: every password-check slot is taken and none freed up at once, so the password was not
    /// checked (answered now rather than parked, so a flood of guesses holds no connection).
    Busy,
}

/// A password hash that never matches, verified against when the user has none, so failures cost the same.
pub const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dHdlYWtnYXRlZGVjb3k$Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHg";

/// Why a presented credential was refused, before it becomes the one answer the client sees.
#[derive(Debug)]
enum Refusal {
    /// A wrong secret or unknown user: a guess, counted towards throttling.
    Wrong(String),
    /// The right secret of a kind that is not accepted here (an access key while they are disabled, an expired or
    /// address-bound token, a cPanel account at WHM): the same 401, not counted as a guess.
    NotHere(String),
}

/// Authenticates an `Authorization` header value.
///
/// Keys and tokens are always checked, so a correct one passes whatever others sent; a wrong one is answered 429
/// once its source has sent too many. A password is refused unchecked once its user is throttled.
pub async fn authenticate(
    panel: &Panel,
    snapshot: &Snapshot,
    header: Option<&[u8]>,
    peer: IpAddr,
) -> Result<Caller, AuthError> {
    let Some(header) = header else {
        return Err(AuthError::Denied);
    };
    let (user, kind, refusal) = match credentials::parse_authorization(header) {
        Ok(Credential::Whm { user, secret }) => match whm(panel, snapshot, &user, secret.expose(), peer) {
            Ok(caller) => return Ok(caller),
            Err(r) => (Some(user), Kind::Secret, r),
        },
        Ok(Credential::Basic { user, password }) => {
            if let Some(wait) = panel.limiter.password_wait(peer, &user) {
                refused(panel, Some(&user), peer, "password throttled; not checked");
                return Err(AuthError::Throttled(wait));
            }
            match basic(panel, snapshot, &user, password, peer).await {
                Ok(caller) => {
                    panel.limiter.record_success(peer, &user);
                    return Ok(caller);
                }
                Err(None) => {
                    refused(panel, Some(&user), peer, "every password check slot busy; not checked");
                    return Err(AuthError::Busy);
                }
                Err(Some(r)) => (Some(user), Kind::Password, r),
            }
        }
        Err(e) => (None, Kind::Secret, Refusal::Wrong(e.to_string())),
    };
    match refusal {
        Refusal::NotHere(why) => {
            refused(panel, user.as_deref(), peer, &why);
            Err(AuthError::Denied)
        }
        Refusal::Wrong(why) => {
            let throttled = kind == Kind::Secret && panel.limiter.secrets_throttled(peer);
            fail(panel, user.as_deref(), peer, &why, kind);
            Err(if throttled {
                AuthError::Throttled(panel.limiter.window())
            } else {
                AuthError::Denied
            })
        }
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least one.
pub fn retry_after(wait: Duration) -> axum::http::HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    axum::http::HeaderValue::from(secs.max(1))
}

/// Records a failed guess: counted towards throttling and audited without the secret.
pub fn fail(panel: &Panel, user: Option<&str>, peer: IpAddr, why: &str, kind: Kind) {
    panel.limiter.record_failure(peer, user, kind);
    refused(panel, user, peer, why);
}

/// Audits a refusal without counting it as a guess.
pub fn refused(panel: &Panel, user: Option<&str>, peer: IpAddr, why: &str) {
    panel.metrics.auth_failure(why);
    let user = user.filter(|u| Username::check(u).is_ok());
    if panel.audit.auth_failure(user, peer, why) {
        tracing::warn!("authentication failed from {peer} for {}: {why}", user.unwrap_or("?"));
    }
}

fn known_user(snapshot: &Snapshot, user: &str) -> Option<(Username, UserKind)> {
    let name = Username::new(user).ok()?;
    let id = snapshot.user_id(user)?;
    Some((name, snapshot.user_kind(id)))
}

fn whm(panel: &Panel, snapshot: &Snapshot, user: &str, secret: &str, peer: IpAddr) -> Result<Caller, Refusal> {
    let wrong = |why: &str| Refusal::Wrong(why.to_owned());
    // A secret longer than any API token may be an access key: it is compared with the user's cached key byte for
    // byte first, and when it is the key, the key's own digest (kept with it) is the secret's, so the secret is not
    // hashed. Otherwise it is hashed once, and the token digests (and, for a short secret, the key) are compared
    // against that digest. Which way is taken depends only on the secret's length, never on the user.
    let maybe_key = secret.len() > credentials::api_token::TOKEN_LEN;
    let Some((name, _)) = known_user(snapshot, user).filter(|(_, k)| *k != UserKind::Account) else {
        // Spend the same effort as a real user's token and key checks before refusing, so the answer's timing does
        // not tell which names exist. Root's key and tokens are the stand-in: every server has root.
        let root = Username::root();
        let home = panel.home_of(snapshot, &root);
        let key_digest = maybe_key
            .then(|| panel.keys.key_digest_if_presented(&root, &home, secret))
            .flatten();
        let digest = key_digest.unwrap_or_else(|| credentials::secret_digest(secret));
        let _ = panel.tokens.verify_digest(root.as_str(), &digest, unix_now(), peer);
        if !maybe_key {
            let _ = panel.keys.verify_digest(&root, &home, &digest);
        }
        return Err(wrong("unknown user or not a reseller"));
    };
    if let Some(tree) = snapshot.config().whm.as_deref() {
        use super::whm_tree::Outcome;
        let digest = credentials::secret_digest(secret);
        let keys_on = snapshot.config().tweak_settings.is_on(ALLOW_DEPRECATED_ACCESSHASH);
        return match super::whm_tree::verify(tree, &panel.keys, &name, &digest, unix_now(), peer, keys_on) {
            Outcome::Token(token) => {
                let method = AuthMethod::ApiToken {
                    name: token.name.clone(),
                };
                Caller::new(snapshot, &name, token.limit(), method, peer).ok_or_else(|| wrong("unknown user"))
            }
            Outcome::Key => {
                Caller::new(snapshot, &name, None, AuthMethod::AccessKey, peer).ok_or_else(|| wrong("unknown user"))
            }
            Outcome::Expired => Err(Refusal::NotHere("API token expired".into())),
            Outcome::AddressNotAllowed => Err(Refusal::NotHere(
                "API token used from an address outside its allow-list".into(),
            )),
            Outcome::KeyDisabled => Err(Refusal::NotHere(
                "access key presented while allow_deprecated_accesshash is Off".into(),
            )),
            Outcome::Suspended => Err(Refusal::NotHere(format!("{name} is suspended"))),
            Outcome::Wrong => Err(wrong("wrong secret")),
        };
    }
    let home = maybe_key.then(|| panel.home_of(snapshot, &name));
    let key_digest = home
        .as_deref()
        .and_then(|home| panel.keys.key_digest_if_presented(&name, home, secret));
    let presented_the_key = key_digest.is_some();
    let digest = key_digest.unwrap_or_else(|| credentials::secret_digest(secret));
    // Tokens first, as WHM checks them: a key converted to a token (`convert_accesshash_to_token`) authenticates as
    // that token.
    match panel.tokens.verify_digest(name.as_str(), &digest, unix_now(), peer) {
        Ok(record) => {
            let token_acls = record
                .acls
                .as_ref()
                .map(|names| AclSet::from_acls(names.iter().filter_map(|n| Acl::from_name(n))));
            let method = AuthMethod::ApiToken {
                name: record.name.to_string(),
            };
            return Caller::new(snapshot, &name, token_acls, method, peer).ok_or_else(|| wrong("unknown user"));
        }
        Err(TokenRejection::Expired) => return Err(Refusal::NotHere("API token expired".into())),
        Err(TokenRejection::AddressNotAllowed) => {
            return Err(Refusal::NotHere(
                "API token used from an address outside its allow-list".into(),
            ));
        }
        Err(_) => {}
    }
    let key_ok = match home {
        Some(_) => presented_the_key,
        None => panel
            .keys
            .verify_digest(&name, &panel.home_of(snapshot, &name), &digest),
    };
    if !snapshot.config().tweak_settings.is_on(ALLOW_DEPRECATED_ACCESSHASH) {
        return Err(if key_ok {
            Refusal::NotHere("access key presented while allow_deprecated_accesshash is Off".into())
        } else {
            wrong("wrong secret")
        });
    }
    if key_ok {
        Caller::new(snapshot, &name, None, AuthMethod::AccessKey, peer).ok_or_else(|| wrong("unknown user"))
    } else {
        Err(wrong("wrong secret"))
    }
}

/// A password login; `Err(None)` when no password check could be started in time (the server is busy checking).
async fn basic(
    panel: &Panel,
    snapshot: &Snapshot,
    user: &str,
    password: credentials::Secret,
    peer: IpAddr,
) -> Result<Caller, Option<Refusal>> {
    let known = known_user(snapshot, user);
    let hash = known
        .as_ref()
        .and_then(|(n, _)| snapshot.config().users.password_hash(n))
        .map(str::to_owned);
    let ok = verify_password(panel, hash.as_deref(), password).await.ok_or(None)? && hash.is_some();
    match known {
        Some((name, kind)) if ok && kind != UserKind::Account => {
            Caller::new(snapshot, &name, None, AuthMethod::Password, peer)
                .ok_or_else(|| Some(Refusal::Wrong("unknown user".into())))
        }
        Some(_) if ok => Err(Some(Refusal::NotHere("a cPanel account cannot log in to WHM".into()))),
        _ => Err(Some(Refusal::Wrong("wrong password or unknown user".into()))),
    }
}

pub use crate::store::PASSWORD_CHECKS;
/// A password check waits at most this long for its turn; past it the attempt is answered at once as busy: a check
/// takes tens of milliseconds, so an honest login waits a few turns at most, and a flood of guesses parks nothing.
pub const PASSWORD_QUEUE_WAIT: Duration = Duration::from_millis(250);

/// Checks a password off the request workers, behind [`PASSWORD_CHECKS`] slots. A user without a password is checked
/// against [`DECOY_HASH`] (never matches), so every failure costs one argon2 verification. `None`: no slot in time.
pub async fn verify_password(panel: &Panel, hash: Option<&str>, password: credentials::Secret) -> Option<bool> {
    let slot = tokio::time::timeout(PASSWORD_QUEUE_WAIT, Arc::clone(&panel.password_checks).acquire_owned())
        .await
        .ok()?
        .ok()?;
    let hash = hash.unwrap_or(DECOY_HASH).to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        check_password(&hash, password.expose())
    })
    .await
    .ok()
}

/// Argon2's working memory, one buffer per password-check slot, kept between checks. A check with the parameters
/// `tweakgate passwd` writes fills 19 MiB; freed after each check, that memory stayed with the allocator's
/// per-thread arenas, and a flood of guesses grew the server by 200 MiB. Reused, it stays at [`PASSWORD_CHECKS`]
/// buffers.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

/// Verifies a password against a PHC string (argon2, with the algorithm, version and parameters the string names),
/// in constant time, in reused working memory.
pub fn check_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default();
    memory.resize(blocks, argon2::Block::default());
    let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    {
        let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < PASSWORD_CHECKS {
            pool.push(memory);
        }
    }
    // `Output` compares in constant time.
    hashed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameters come from the stored hash, not from the defaults: a hash made with others still verifies.
    #[test]
    fn a_hash_with_other_parameters_verifies() {
        use argon2::PasswordHasher;
        use argon2::password_hash::SaltString;
        let params = argon2::Params::new(64, 1, 1, Some(24)).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x10, params);
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        let h = argon.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(h.starts_with("$argon2i$v=16$m=64,t=1,p=1$"), "{h}");
        assert!(check_password(&h, "pw"));
        assert!(!check_password(&h, "pW"));
        // The default hash right after, in the same pooled memory.
        let d = hash_password("x").unwrap();
        assert!(check_password(&d, "x") && !check_password(&d, "y"));
    }

    #[test]
    fn password_hashes_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(check_password(&h, "correct horse"));
        assert!(!check_password(&h, "wrong"));
        assert!(!check_password(DECOY_HASH, ""));
        assert!(!check_password("not a hash", "x"));
    }

    /// A failed login costs one argon2 verification with the same parameters whether or not the user has a password.
    #[test]
    fn the_decoy_costs_what_a_real_hash_costs() {
        let real = hash_password("anything at all").unwrap();
        let (real, decoy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(DECOY_HASH).unwrap(),
        );
        assert_eq!(real.algorithm, decoy.algorithm);
        assert_eq!(real.version, decoy.version);
        assert_eq!(real.params, decoy.params);
        assert_eq!(real.hash.map(|h| h.len()), decoy.hash.map(|h| h.len()));
    }
}
