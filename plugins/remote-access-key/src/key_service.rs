//! What the Remote Access Key feature does, independent of how it is called: ownership rules, reading and generating keys.

use credentials::{AccessKey, KeyFileCache};
use once_cell::sync::OnceCell;
use serde_json::json;

pub use plugin_abi::UserInfo as User;
use plugin_abi::{CallerKey, UserKind};

/// The host services the feature needs; the real host and tests both provide them.
pub trait Directory {
    fn lookup(&self, name: &str) -> Option<User>;
    /// Records an event; generation must not happen when this fails.
    fn audit(&self, event: &serde_json::Value) -> Result<(), String>;
    /// The caller's own key as the host holds it, given to `answer`; [`CallerKey::NotOffered`] (the default) when the
    /// host does not offer it, and the key file is read here.
    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        answer(CallerKey::NotOffered);
    }
}

impl Directory for plugin_abi::Host<'_> {
    fn lookup(&self, name: &str) -> Option<User> {
        self.lookup_user(name)
    }

    fn audit(&self, event: &serde_json::Value) -> Result<(), String> {
        plugin_abi::Host::audit(self, event).map_err(|e| e.to_string())
    }

    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        plugin_abi::Host::caller_key(self, answer);
    }
}

/// WHM's error strings (spec §6), kept word for word because clients match on them.
pub fn not_a_reseller(user: &str) -> String {
    format!("User {user} is not a reseller.")
}

pub fn no_accesshash(user: &str) -> String {
    format!("No accesshash exists for {user}")
}

pub const NO_ACCESS_TO_OTHERS: &str = "You do not have access to load another user's accesshash";

pub const NO_GENERATE_FOR_OTHERS: &str = "You do not have access to generate another user's accesshash";

/// Tweakgate's own refusal: an access key carries every privilege of its user, so a credential limited to some ACLs
/// must not read or replace one (it would escalate to full access).
pub const NEEDS_FULL_ACCESS: &str = "Reading or generating an access key needs a full-access credential; this API token or session is limited to some privileges.";

/// Proof that the request's credential carries all of its user's privileges ([`plugin_abi::Request::full_access`]).
/// [`read`] and [`generate`] take one, so no key is touched without the check.
#[derive(Debug, Clone, Copy)]
pub struct FullAccess(());

impl FullAccess {
    /// The proof when `full_access` is set; [`NEEDS_FULL_ACCESS`] otherwise.
    pub fn check(full_access: bool) -> Result<FullAccess, String> {
        if full_access {
            Ok(FullAccess(()))
        } else {
            Err(NEEDS_FULL_ACCESS.to_owned())
        }
    }
}

/// Decides whose key the caller asked for, applying the ownership rules of spec §4, tightened: everyone their own,
/// and only root another user's. A key is a full-access credential of its user, so a reseller holding `all` who read
/// root's key (or another reseller's) would become that user.
///
/// `generate` says whether the key is to be replaced; a refusal then names generating, as WHM's does.
pub fn target(caller: &User, requested: Option<&str>, generate: bool, dir: &dyn Directory) -> Result<User, String> {
    let name = requested.filter(|s| !s.is_empty()).unwrap_or(&caller.name);
    if name != caller.name && !caller.is_root() {
        let refusal = if generate {
            NO_GENERATE_FOR_OTHERS
        } else {
            NO_ACCESS_TO_OTHERS
        };
        return Err(refusal.to_owned());
    }
    let user = if name == caller.name {
        Some(caller.clone())
    } else {
        dir.lookup(name)
    };
    match user {
        Some(u) if u.kind == UserKind::ROOT || u.kind == UserKind::RESELLER => Ok(u),
        // Unknown users and cPanel accounts get the same answer, so the API does not reveal which names exist.
        _ => Err(not_a_reseller(
            &name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(32)
                .collect::<String>(),
        )),
    }
}

/// Keys as last read, read again only when their file changes (one `stat` per request): for a host that does not hand
/// over the caller's key, and for another user's key (which only root loads).
static KEYS: once_cell::sync::Lazy<KeyFileCache> = once_cell::sync::Lazy::new(KeyFileCache::default);

/// Runs `f` on the target's key on one line (`None` when there is none), without copying it: the caller's own key as
/// the host holds it when the host offers it (no file is touched here then), else the key file as read here.
pub fn with_key<T>(
    caller: &User,
    target: &User,
    dir: &dyn Directory,
    _: FullAccess,
    f: impl FnOnce(Option<&str>) -> T,
) -> Result<T, String> {
    let mut f = Some(f);
    let mut answered = None;
    if target.name == caller.name {
        dir.caller_key(&mut |key| {
            answered = match key {
                CallerKey::NotOffered => None,
                CallerKey::NoKey => f.take().map(|f| Ok(f(None))),
                CallerKey::Key(key) => f.take().map(|f| Ok(f(Some(key)))),
                CallerKey::Refused(why) => Some(Err(why.to_owned())),
            };
        });
    }
    match (answered, f) {
        (Some(answered), _) => answered,
        (None, Some(f)) => KEYS
            .with(&target.home, |key| f(key.map(AccessKey::as_str)))
            .map_err(|e| e.to_string()),
        (None, None) => Err("the host answered the key request twice".into()),
    }
}

/// The target's key: `Ok(None)` when there is none (see [`with_key`]).
pub fn read(caller: &User, target: &User, dir: &dyn Directory, full: FullAccess) -> Result<Option<AccessKey>, String> {
    with_key(caller, target, dir, full, |key| {
        key.map(AccessKey::normalise).transpose()
    })?
    .map_err(|e| e.to_string())
}

/// Checked once per process, retried while it fails: the OS random source answers.
static RANDOM_SOURCE: OnceCell<()> = OnceCell::new();

/// Generates and stores a new key for `user`, replacing the old one, after the audit log has recorded it.
pub fn generate(
    user: &User,
    actor: &str,
    source: &str,
    dir: &dyn Directory,
    _: FullAccess,
) -> Result<AccessKey, String> {
    RANDOM_SOURCE.get_or_try_init(|| {
        let mut probe = [0u8; 1];
        rand::rngs::OsRng
            .try_fill_bytes(&mut probe)
            .map_err(|e| format!("the system's secure random source failed: {e}"))
    })?;
    let key = AccessKey::generate().map_err(|e| e.to_string())?;
    let event = json!({"event": "key_generated", "user": user.name, "actor": actor, "signature": key.signature().to_string(), "source": source});
    dir.audit(&event)
        .map_err(|e| format!("the key was not changed because the audit log could not record it: {e}"))?;
    let written = credentials::write_key(&user.home, &key).map_err(|e| e.to_string());
    KEYS.forget(&user.home);
    written?;
    Ok(key)
}

use rand::TryRngCore as _;
