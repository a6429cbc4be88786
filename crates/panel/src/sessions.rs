//! Browser sessions: one-time login URLs, `/cpsess<10 digits>` security tokens, cookies and one-use form nonces.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use settings::Username;

/// The cookie that carries the session secret.
pub const COOKIE: &str = "whostmgrsession";
/// How long a session lives without use.
pub const IDLE: Duration = Duration::from_secs(3600);
/// How long a one-time login URL stays valid.
pub const ONE_TIME: Duration = Duration::from_secs(300);
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: Username,
    /// `cpsess` and 10 digits: the path prefix every URL of the session carries.
    pub security_token: String,
    cookie: String,
    last_used: Instant,
    nonces: HashSet<String>,
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    one_time: Mutex<HashMap<String, (Username, Instant)>>,
}

fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Sessions {
    /// A one-time login secret for `user`, valid for [`ONE_TIME`].
    pub fn create_one_time(&self, user: &Username) -> String {
        let secret = random_alnum(32);
        let mut map = self.one_time.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, t)| t.elapsed() < ONE_TIME);
        map.insert(secret.clone(), (user.clone(), Instant::now()));
        secret
    }

    /// Consumes a one-time secret: it works once.
    pub fn redeem_one_time(&self, secret: &str) -> Option<Username> {
        let mut map = self.one_time.lock().unwrap_or_else(|e| e.into_inner());
        let (user, created) = map.remove(secret)?;
        (created.elapsed() < ONE_TIME).then_some(user)
    }

    /// Starts a session; returns (security token, cookie value).
    pub fn start(&self, user: &Username) -> (String, String) {
        let mut rng = rand::rng();
        let token = format!("cpsess{:010}", rng.random_range(0..10_000_000_000u64));
        let cookie = random_alnum(40);
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.last_used.elapsed() < IDLE);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Session {
                user: user.clone(),
                security_token: token.clone(),
                cookie: cookie.clone(),
                last_used: Instant::now(),
                nonces: HashSet::new(),
            },
        );
        (token, cookie)
    }

    /// The session for a security token, if the cookie matches and it has not expired.
    pub fn check(&self, token: &str, cookie: Option<&str>) -> Option<Session> {
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let session = map.get_mut(token)?;
        let cookie = cookie?;
        let same = credentials::Secret::from(session.cookie.clone()).ct_eq(cookie);
        if !same || session.last_used.elapsed() >= IDLE {
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }

    /// A fresh nonce for one form; it is accepted once.
    pub fn issue_nonce(&self, token: &str) -> String {
        let nonce = random_alnum(24);
        if let Some(s) = self.by_token.lock().unwrap_or_else(|e| e.into_inner()).get_mut(token) {
            if s.nonces.len() > 256 {
                s.nonces.clear();
            }
            s.nonces.insert(nonce.clone());
        }
        nonce
    }

    /// Accepts a nonce once: a replayed or forged form is refused.
    pub fn consume_nonce(&self, token: &str, nonce: &str) -> bool {
        self.by_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(token)
            .is_some_and(|s| s.nonces.remove(nonce))
    }

    pub fn end(&self, token: &str) {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

/// Splits `/cpsess0123456789/rest` into the token and `/rest`.
pub fn split_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let end = rest.find('/').unwrap_or(rest.len());
    let token = &rest[..end];
    let digits = token.strip_prefix("cpsess")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tail = &rest[end..];
    Some((token, if tail.is_empty() { "/" } else { tail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_split() {
        assert_eq!(
            split_prefix("/cpsess0123456789/json-api/version"),
            Some(("cpsess0123456789", "/json-api/version"))
        );
        assert_eq!(split_prefix("/cpsess0123456789"), Some(("cpsess0123456789", "/")));
        assert_eq!(split_prefix("/cpsess012345678/x"), None);
        assert_eq!(split_prefix("/json-api/version"), None);
    }

    #[test]
    fn one_time_and_nonces_work_once() {
        let s = Sessions::default();
        let bob = Username::new("bob").unwrap();
        let secret = s.create_one_time(&bob);
        assert_eq!(s.redeem_one_time(&secret), Some(bob.clone()));
        assert_eq!(s.redeem_one_time(&secret), None);
        let (token, cookie) = s.start(&bob);
        assert!(s.check(&token, Some(&cookie)).is_some());
        assert!(s.check(&token, Some("forged")).is_none());
        assert!(s.check(&token, None).is_none());
        let n = s.issue_nonce(&token);
        assert!(s.consume_nonce(&token, &n));
        assert!(!s.consume_nonce(&token, &n), "replayed nonce refused");
    }
}
