//! Browser sessions: one-time login URLs, `/cpsess<10 digits>` security tokens, cookies and one-use form nonces.
//!
//! Sessions and one-time logins are kept in `<state>/sessions/` (directory 0700, files 0600) so they survive a restart
//! and so `tweakgate session` can make a login link without talking to the server. Only digests of the secrets are
//! stored: the cookie's and the one-time secret's SHA-512.
//!
//! Every session and one-time login carries a [`Grant`]: whom it is for, who opened it and with what credential, and
//! the privileges it is limited to. A session never carries more than the credential that opened it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use settings::{Acl, AclSet, Username};

use crate::fsx::{create_private_dir, unix_now};

/// The cookie that carries the session secret.
pub const COOKIE: &str = "whostmgrsession";
/// How long a session lives without use.
pub const IDLE: Duration = Duration::from_secs(3600);
/// How long a one-time login URL stays valid.
pub const ONE_TIME: Duration = Duration::from_secs(300);
/// The most sessions one user has at once; starting another ends that user's least recently used one.
pub const MAX_SESSIONS_PER_USER: usize = 16;
/// The most one-time login links one user has outstanding; making another ends that user's oldest, never another
/// user's link.
pub const MAX_ONE_TIME_PER_USER: usize = 16;
/// The one-time directory is swept of expired links at most this often, not at every link made.
pub const PRUNE_EVERY: Duration = Duration::from_secs(5);
/// Open form nonces kept per session; past it the oldest stops working, never the newest.
pub const MAX_NONCES: usize = 256;
/// A session's last use is written back at most this often.
const TOUCH_EVERY_SECS: u64 = 60;

/// What a session or one-time login was opened for, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Whom the session acts as.
    pub user: Username,
    /// The ACLs the session is limited to (names, as stored); `None`: every privilege the user holds.
    limit: Option<Vec<String>>,
    /// The real actor: who asked for the session.
    pub opened_by: Username,
    /// How they authenticated, e.g. `API token "billing"`.
    pub opened_with: String,
}

impl Grant {
    pub fn new(user: Username, limit: Option<AclSet>, opened_by: Username, opened_with: String) -> Grant {
        Grant {
            user,
            limit: limit.map(|set| set.iter().map(|a| a.name().to_owned()).collect()),
            opened_by,
            opened_with,
        }
    }

    /// The user's own session, opened by logging in (password or one-time link written by the administrator).
    pub fn own(user: Username, opened_with: &str) -> Grant {
        Grant::new(user.clone(), None, user, opened_with.to_owned())
    }

    /// The limit as a set; an unknown stored name counts as nothing (fails closed).
    pub fn limit(&self) -> Option<AclSet> {
        self.limit
            .as_ref()
            .map(|names| AclSet::from_acls(names.iter().filter_map(|n| Acl::from_name(n))))
    }
}

/// What is stored for a session; the cookie only as a digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    grant: Grant,
    cookie_sha512: String,
    last_used: u64,
}

/// What is stored for a one-time login; the secret is the file's name, as a digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredOneTime {
    grant: Grant,
    created: u64,
    /// The security token chosen when the link was made (the one `create_user_session` told its caller): the
    /// session keeps it once the link is redeemed. Older files have none; the session then gets a new one.
    #[serde(default)]
    security_token: Option<String>,
}

/// A redeemed one-time login: the grant, and the security token the session is to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub grant: Grant,
    pub security_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub grant: Grant,
    /// `cpsess` and 10 digits: the path prefix every URL of the session carries.
    pub security_token: String,
    cookie_sha512: String,
    last_used: u64,
    /// Open form nonces, oldest first; at most [`MAX_NONCES`], the oldest dropped first.
    nonces: VecDeque<String>,
}

/// The sessions of one panel.
#[derive(Debug, Default)]
pub struct Sessions {
    /// `<state>/sessions`; `None` keeps everything in memory (tests).
    dir: Option<PathBuf>,
    by_token: Mutex<HashMap<String, Session>>,
    one_time: Mutex<HashMap<String, StoredOneTime>>,
    /// The outstanding one-time links, per user, oldest first.
    links: Mutex<LinkIndex>,
}

/// Which one-time links are outstanding for whom, so a cap holds without reading the directory.
#[derive(Debug, Default)]
struct LinkIndex {
    /// Per user: (digest of the secret, time made), oldest first.
    by_user: HashMap<Username, VecDeque<(String, u64)>>,
    last_prune: Option<Instant>,
}

impl LinkIndex {
    fn forget(&mut self, user: &Username, digest: &str) {
        if let Some(queue) = self.by_user.get_mut(user) {
            queue.retain(|(d, _)| d != digest);
            if queue.is_empty() {
                self.by_user.remove(user);
            }
        }
    }
}

fn live(created: u64, now: u64) -> bool {
    now.saturating_sub(created) < ONE_TIME.as_secs()
}

/// `n` random letters and digits.
pub fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `cpsess` and exactly 10 digits.
pub fn is_security_token(name: &str) -> bool {
    name.strip_prefix("cpsess")
        .is_some_and(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes a one-time login into a sessions directory and returns the secret for the URL.
/// The server redeems it once, within [`ONE_TIME`]; the session it starts keeps `security_token` when given.
pub fn create_one_time_in(dir: &Path, grant: &Grant, security_token: Option<&str>) -> anyhow::Result<String> {
    create_private_dir(&dir.join("one-time"))?;
    prune_one_time(dir);
    write_one_time(dir, grant, security_token, unix_now()).map(|(secret, _)| secret)
}

/// Writes one one-time login file; returns the secret and its digest (the file's name).
fn write_one_time(
    dir: &Path,
    grant: &Grant,
    security_token: Option<&str>,
    created: u64,
) -> anyhow::Result<(String, String)> {
    let one_time = dir.join("one-time");
    create_private_dir(&one_time)?;
    let secret = random_alnum(32);
    let body = serde_json::to_vec(&StoredOneTime {
        grant: grant.clone(),
        created,
        security_token: security_token.filter(|t| is_security_token(t)).map(str::to_owned),
    })?;
    let digest = credentials::sha512_hex(&secret);
    credentials::write_atomic(&one_time.join(&digest), &body, 0o600)?;
    Ok((secret, digest))
}

/// The outstanding one-time logins in a sessions directory, per user, oldest first.
fn read_links(dir: &Path) -> HashMap<Username, VecDeque<(String, u64)>> {
    // Made in the same second, the file times tell which came first.
    let mut found: Vec<(u64, Option<std::time::SystemTime>, Username, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("one-time")) {
        for entry in entries.flatten() {
            let Ok(digest) = entry.file_name().into_string() else {
                continue;
            };
            let stored = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<StoredOneTime>(&b).ok());
            if let Some(o) = stored {
                let written = entry.metadata().and_then(|m| m.modified()).ok();
                found.push((o.created, written, o.grant.user, digest));
            }
        }
    }
    found.sort_by_key(|a| (a.0, a.1));
    let mut by_user: HashMap<Username, VecDeque<(String, u64)>> = HashMap::new();
    for (created, _, user, digest) in found {
        by_user.entry(user).or_default().push_back((digest, created));
    }
    by_user
}

/// Removes one-time logins older than [`ONE_TIME`] (by the time their file was written): they can no longer be
/// redeemed, and left alone they would pile up.
pub fn prune_one_time(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir.join("one-time")) else {
        return;
    };
    for entry in entries.flatten() {
        let expired = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= ONE_TIME);
        if expired {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A new security token: `cpsess` and 10 digits.
pub fn new_security_token() -> String {
    format!("cpsess{:010}", rand::rng().random_range(0..10_000_000_000u64))
}

impl Sessions {
    /// Sessions kept in `dir` (created 0700); sessions found there that have not expired are loaded.
    pub fn open(dir: &Path) -> anyhow::Result<Sessions> {
        create_private_dir(dir)?;
        let mut by_token = HashMap::new();
        let now = unix_now();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_security_token(&name) {
                continue;
            }
            let stored = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Stored>(&b).ok());
            match stored {
                Some(s) if now.saturating_sub(s.last_used) < IDLE.as_secs() => {
                    let session = Session {
                        grant: s.grant,
                        security_token: name.clone(),
                        cookie_sha512: s.cookie_sha512,
                        last_used: s.last_used,
                        nonces: VecDeque::new(),
                    };
                    by_token.insert(name, session);
                }
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        prune_one_time(dir);
        let links = LinkIndex {
            by_user: read_links(dir),
            last_prune: Some(Instant::now()),
        };
        Ok(Sessions {
            dir: Some(dir.to_path_buf()),
            by_token: Mutex::new(by_token),
            one_time: Mutex::default(),
            links: Mutex::new(links),
        })
    }

    fn persist(&self, session: &Session) {
        let Some(dir) = &self.dir else { return };
        let stored = Stored {
            grant: session.grant.clone(),
            cookie_sha512: session.cookie_sha512.clone(),
            last_used: session.last_used,
        };
        let body = serde_json::to_vec(&stored).unwrap_or_default();
        if let Err(e) = credentials::write_atomic(&dir.join(&session.security_token), &body, 0o600) {
            tracing::warn!("cannot store the session: {e}");
        }
    }

    fn forget(&self, token: &str) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join(token));
        }
    }

    /// Removes one outstanding one-time login, wherever it is kept.
    fn drop_one_time(&self, digest: &str) {
        self.one_time.lock().unwrap_or_else(|e| e.into_inner()).remove(digest);
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join("one-time").join(digest));
        }
    }

    /// A one-time login secret for a grant, valid for [`ONE_TIME`]; the session it starts keeps `security_token`.
    /// A user has at most [`MAX_ONE_TIME_PER_USER`] outstanding: a new one ends that user's oldest. Expired links
    /// are swept at most every [`PRUNE_EVERY`].
    pub fn create_one_time(&self, grant: &Grant, security_token: Option<&str>) -> String {
        let security_token = security_token.filter(|t| is_security_token(t));
        let now = unix_now();
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if links.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            links.last_prune = Some(Instant::now());
            if let Some(dir) = &self.dir {
                prune_one_time(dir);
            }
            self.one_time
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, o| live(o.created, now));
            links.by_user.retain(|_, queue| {
                queue.retain(|(_, created)| live(*created, now));
                !queue.is_empty()
            });
        }
        let queue = links.by_user.entry(grant.user.clone()).or_default();
        while queue.len() >= MAX_ONE_TIME_PER_USER {
            let Some((oldest, _)) = queue.pop_front() else { break };
            self.drop_one_time(&oldest);
        }
        let written = self.dir.as_deref().and_then(|dir| {
            write_one_time(dir, grant, security_token, now)
                .inspect_err(|e| tracing::warn!("cannot store a one-time login, keeping it in memory: {e:#}"))
                .ok()
        });
        let (secret, digest) = written.unwrap_or_else(|| {
            let secret = random_alnum(32);
            let digest = credentials::sha512_hex(&secret);
            self.one_time.lock().unwrap_or_else(|e| e.into_inner()).insert(
                digest.clone(),
                StoredOneTime {
                    grant: grant.clone(),
                    created: now,
                    security_token: security_token.map(str::to_owned),
                },
            );
            (secret, digest)
        });
        queue.push_back((digest, now));
        secret
    }

    /// Consumes a one-time secret: it works once.
    pub fn redeem_one_time(&self, secret: &str) -> Option<Grant> {
        self.redeem(secret).map(|r| r.grant)
    }

    /// Consumes a one-time secret (it works once): its grant and the security token chosen with it.
    pub fn redeem(&self, secret: &str) -> Option<Redeemed> {
        let key = credentials::sha512_hex(secret);
        let found = self.one_time.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        let (grant, created, security_token) = match (found, &self.dir) {
            (Some(o), _) => (o.grant, o.created, o.security_token),
            (None, Some(dir)) => {
                let path = dir.join("one-time").join(&key);
                let body = std::fs::read(&path).ok()?;
                // Whoever removes the file redeems it: two requests racing for one link cannot both win.
                std::fs::remove_file(&path).ok()?;
                let stored: StoredOneTime = serde_json::from_slice(&body).ok()?;
                (stored.grant, stored.created, stored.security_token)
            }
            (None, None) => return None,
        };
        self.links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(&grant.user, &key);
        live(created, unix_now()).then_some(Redeemed { grant, security_token })
    }

    /// Starts a session with a new security token; returns (security token, cookie value).
    pub fn start(&self, grant: Grant) -> (String, String) {
        self.start_with(grant, None)
    }

    /// Starts a session that keeps `security_token` (when it is well formed and no live session holds it; otherwise
    /// a new one); returns (security token, cookie value).
    pub fn start_with(&self, grant: Grant, security_token: Option<String>) -> (String, String) {
        let cookie = random_alnum(40);
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let expired: Vec<String> = map
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_used) >= IDLE.as_secs())
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            map.remove(&k);
            self.forget(&k);
        }
        // The cap is per user: one user's many logins never end another user's session.
        while map.values().filter(|s| s.grant.user == grant.user).count() >= MAX_SESSIONS_PER_USER {
            let Some(oldest) = map
                .iter()
                .filter(|(_, s)| s.grant.user == grant.user)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
            self.forget(&oldest);
        }
        let token = security_token
            .filter(|t| is_security_token(t) && !map.contains_key(t))
            .unwrap_or_else(|| {
                loop {
                    let t = new_security_token();
                    if !map.contains_key(&t) {
                        break t;
                    }
                }
            });
        let session = Session {
            grant,
            security_token: token.clone(),
            cookie_sha512: credentials::sha512_hex(&cookie),
            last_used: unix_now(),
            nonces: VecDeque::new(),
        };
        self.persist(&session);
        map.insert(token.clone(), session);
        (token, cookie)
    }

    /// The session for a security token, if the cookie matches and it has not expired.
    pub fn check(&self, token: &str, cookie: Option<&str>) -> Option<Session> {
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let session = map.get_mut(token)?;
        let cookie = cookie?;
        let same = credentials::Secret::from(session.cookie_sha512.clone()).ct_eq(&credentials::sha512_hex(cookie));
        let now = unix_now();
        if !same || now.saturating_sub(session.last_used) >= IDLE.as_secs() {
            return None;
        }
        if now.saturating_sub(session.last_used) >= TOUCH_EVERY_SECS {
            session.last_used = now;
            let copy = session.clone();
            self.persist(&copy);
        }
        Some(session.clone())
    }

    /// A fresh nonce for one form; it is accepted once.
    pub fn issue_nonce(&self, token: &str) -> String {
        let nonce = random_alnum(24);
        if let Some(s) = self.by_token.lock().unwrap_or_else(|e| e.into_inner()).get_mut(token) {
            if s.nonces.len() >= MAX_NONCES {
                s.nonces.pop_front();
            }
            s.nonces.push_back(nonce.clone());
        }
        nonce
    }

    /// Accepts a nonce once: a replayed or forged form is refused.
    pub fn consume_nonce(&self, token: &str, nonce: &str) -> bool {
        self.by_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(token)
            .is_some_and(|s| match s.nonces.iter().position(|n| n == nonce) {
                Some(i) => s.nonces.remove(i).is_some(),
                None => false,
            })
    }

    /// Ends every session and outstanding one-time login of `user` (the user was removed).
    pub fn end_user(&self, user: &Username) {
        let links = self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_user
            .remove(user);
        for (digest, _) in links.into_iter().flatten() {
            self.drop_one_time(&digest);
        }
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let theirs: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.grant.user == *user)
            .map(|(k, _)| k.clone())
            .collect();
        for token in theirs {
            map.remove(&token);
            self.forget(&token);
        }
    }

    pub fn end(&self, token: &str) {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
        self.forget(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_tokens_are_cpsess_and_ten_digits() {
        assert!(is_security_token("cpsess0123456789"));
        assert!(is_security_token(&new_security_token()));
        for bad in [
            "cpsess012345678",
            "cpsess01234567890",
            "cpsess012345678a",
            "login",
            "json-api",
            "",
        ] {
            assert!(!is_security_token(bad), "{bad}");
        }
    }

    fn own(name: &str) -> Grant {
        Grant::own(Username::new(name).unwrap(), "password")
    }

    #[test]
    fn sessions_survive_a_restart_with_their_grant_and_store_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("sessions");
        let bob = Username::new("bob").unwrap();
        let limited = Grant::new(
            bob.clone(),
            Some(AclSet::from_acls([Acl::MANAGE_API_TOKENS])),
            Username::root(),
            "API token \"x\"".into(),
        );
        let (token, cookie) = Sessions::open(&dir).unwrap().start(limited.clone());
        let secret = create_one_time_in(&dir, &own("bob"), None).unwrap();
        let again = Sessions::open(&dir).unwrap();
        let session = again.check(&token, Some(&cookie)).expect("the session survives");
        assert_eq!(session.grant, limited, "the limit and the real actor survive a restart");
        assert_eq!(session.grant.limit(), Some(AclSet::from_acls([Acl::MANAGE_API_TOKENS])));
        assert!(again.check(&token, Some("forged")).is_none());
        assert_eq!(again.redeem_one_time(&secret).map(|g| g.user), Some(bob.clone()));
        assert_eq!(again.redeem_one_time(&secret), None, "a one-time login works once");
        let stored = std::fs::read_to_string(dir.join(&token)).unwrap();
        assert!(!stored.contains(&cookie), "only the cookie's digest is stored");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.join(&token)).unwrap().permissions().mode() & 0o777,
            0o600
        );
        again.end(&token);
        assert!(!dir.join(&token).exists());
    }

    #[test]
    fn many_open_forms_lose_only_the_oldest_nonce() {
        let s = Sessions::default();
        let (token, _) = s.start(own("bob"));
        let nonces: Vec<String> = (0..MAX_NONCES + 2).map(|_| s.issue_nonce(&token)).collect();
        assert!(!s.consume_nonce(&token, &nonces[0]), "the oldest form is refused");
        assert!(!s.consume_nonce(&token, &nonces[1]), "and the next oldest");
        for n in &nonces[2..] {
            assert!(s.consume_nonce(&token, n), "every newer open form still works");
        }
    }

    #[test]
    fn one_time_and_nonces_work_once() {
        let s = Sessions::default();
        let secret = s.create_one_time(&own("bob"), None);
        assert_eq!(s.redeem_one_time(&secret), Some(own("bob")));
        assert_eq!(s.redeem_one_time(&secret), None);
        let chosen = new_security_token();
        let secret = s.create_one_time(&own("bob"), Some(&chosen));
        let redeemed = s.redeem(&secret).unwrap();
        assert_eq!(redeemed.security_token.as_deref(), Some(chosen.as_str()));
        let (kept, _) = s.start_with(redeemed.grant, redeemed.security_token);
        assert_eq!(kept, chosen, "the session keeps the token chosen with the link");
        let (token, cookie) = s.start(own("bob"));
        assert!(s.check(&token, Some(&cookie)).is_some());
        assert!(s.check(&token, Some("forged")).is_none());
        assert!(s.check(&token, None).is_none());
        let n = s.issue_nonce(&token);
        assert!(s.consume_nonce(&token, &n));
        assert!(!s.consume_nonce(&token, &n), "replayed nonce refused");
    }

    #[test]
    fn the_session_cap_is_per_user_and_ends_the_oldest() {
        let s = Sessions::default();
        let (root_token, root_cookie) = s.start(own("root"));
        let bobs: Vec<(String, String)> = (0..MAX_SESSIONS_PER_USER + 5).map(|_| s.start(own("bob"))).collect();
        assert!(
            s.check(&root_token, Some(&root_cookie)).is_some(),
            "bob's logins never end root's session"
        );
        let live = bobs.iter().filter(|(t, c)| s.check(t, Some(c)).is_some()).count();
        assert_eq!(live, MAX_SESSIONS_PER_USER);
        let (newest, cookie) = bobs.last().unwrap();
        assert!(s.check(newest, Some(cookie)).is_some(), "the newest session lives");
    }

    #[test]
    fn expired_one_time_logins_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("sessions");
        let sessions = Sessions::open(&dir).unwrap();
        let old = sessions.create_one_time(&own("bob"), None);
        let path = dir.join("one-time").join(credentials::sha512_hex(&old));
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - ONE_TIME - Duration::from_secs(1))
            .unwrap();
        // The sweep runs at most every PRUNE_EVERY; let that much time pass.
        sessions.links.lock().unwrap().last_prune = Instant::now().checked_sub(PRUNE_EVERY);
        let fresh = sessions.create_one_time(&own("bob"), None);
        assert!(!path.exists(), "the expired link's file is gone");
        assert!(dir.join("one-time").join(credentials::sha512_hex(&fresh)).exists());
        assert_eq!(sessions.redeem_one_time(&old), None);
    }

    /// A holder of `create-user-session` made 12,000 unredeemed links. A user has at most
    /// `MAX_ONE_TIME_PER_USER` outstanding (the oldest end first), another user's links are untouched, and the cap
    /// survives a restart.
    #[test]
    fn outstanding_one_time_links_are_capped_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("sessions");
        let sessions = Sessions::open(&dir).unwrap();
        let carols = sessions.create_one_time(&own("carol"), None);
        let bobs: Vec<String> = (0..MAX_ONE_TIME_PER_USER + 5)
            .map(|_| sessions.create_one_time(&own("bob"), None))
            .collect();
        let files = || std::fs::read_dir(dir.join("one-time")).unwrap().count();
        assert_eq!(files(), MAX_ONE_TIME_PER_USER + 1);
        drop(sessions);
        let sessions = Sessions::open(&dir).unwrap();
        let more = sessions.create_one_time(&own("bob"), None);
        assert_eq!(files(), MAX_ONE_TIME_PER_USER + 1, "the cap holds after a restart");
        for (i, secret) in bobs.iter().enumerate() {
            let works = sessions.redeem_one_time(secret).is_some();
            assert_eq!(works, i >= 6, "bob's link {i}");
        }
        assert!(sessions.redeem_one_time(&more).is_some());
        assert!(sessions.redeem_one_time(&carols).is_some(), "carol's link is untouched");
        assert_eq!(files(), 0);
        // In memory (no directory) the cap holds too.
        let sessions = Sessions::default();
        let first = sessions.create_one_time(&own("bob"), None);
        for _ in 0..MAX_ONE_TIME_PER_USER {
            sessions.create_one_time(&own("bob"), None);
        }
        assert!(sessions.redeem_one_time(&first).is_none());
        assert_eq!(sessions.one_time.lock().unwrap().len(), MAX_ONE_TIME_PER_USER);
    }

    #[test]
    fn an_unknown_stored_acl_limits_to_nothing_more() {
        let mut g = own("bob");
        g.limit = Some(vec!["no-such-acl".into()]);
        assert_eq!(g.limit(), Some(AclSet::EMPTY));
    }
}
