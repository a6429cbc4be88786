//! Throttling of authentication failures, in bounded memory, so that guessing is bounded and honest users are not.
//!
//! - Passwords (low entropy) are refused *before* they are checked once their user has failed `limit` times from one
//!   source, or `limit × USER_FACTOR` times from all sources together (guessing from rotating addresses is bounded).
//!   Failures for one user never refuse another user's password.
//! - A source from which a user logged in with their password recently (within [`TRUSTED_FOR`]) is held only to its own
//!   failures for that user: other sources' failures cannot lock the user out of a place they log in from.
//! - Keys and tokens (high entropy) are always checked: a correct one passes whatever anybody else did. Only wrong ones
//!   are answered 429 instead of 401 once their source has sent `limit` wrong ones.
//!
//! A source is an IPv4 address, all of loopback (`127.0.0.0/8`) together, or an IPv6 `/64` (an IPv4-mapped IPv6 address
//! counts as its IPv4 address).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys one table tracks at once; beyond it the stalest entries are evicted.
pub const MAX_TRACKED: usize = 4096;
/// A user's password may fail this many times `limit` over all sources within the window.
pub const USER_FACTOR: u32 = 5;
/// How long a successful password login keeps its source trusted for that user.
pub const TRUSTED_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// Where failures come from, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4(u32),
    /// The first 64 bits.
    V6(u64),
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) if v4.is_loopback() => Source::V4(0x7f00_0000),
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::V4(0x7f00_0000) => f.write_str("127.0.0.0/8"),
            Source::V4(a) => write!(f, "{}", std::net::Ipv4Addr::from(*a)),
            Source::V6(p) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*p) << 64)),
        }
    }
}

/// What kind of secret failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A password: low entropy, throttled per user.
    Password,
    /// An access key, an API token, or a header that named no usable credential.
    Secret,
}

/// Failure counts per key within a window, in bounded memory.
#[derive(Debug)]
struct Table<K> {
    map: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new() -> Table<K> {
        Table {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, key: &K, window: Duration) -> u32 {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((count, start)) if start.elapsed() < window => *count,
            _ => 0,
        }
    }

    fn add(&self, key: K, window: Duration) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, (_, start)| now.duration_since(*start) < window);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, start))| *start).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(key).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }

    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window: Duration,
    /// Password failures per (source, user).
    passwords: Table<(Source, String)>,
    /// Password failures per user, all sources together.
    users: Table<String>,
    /// Wrong keys and tokens per source.
    secrets: Table<Source>,
    /// Successful password logins per (source, user), within [`TRUSTED_FOR`].
    trusted: Table<(Source, String)>,
}

/// Usernames longer than this are counted under their first bytes (a name is at most 32 characters anyway).
const MAX_NAME: usize = 64;

fn name_key(user: &str) -> String {
    let mut end = user.len().min(MAX_NAME);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_owned()
}

impl Limiter {
    pub fn new(limit: u32, window: Duration) -> Limiter {
        Limiter {
            limit,
            window,
            passwords: Table::new(),
            users: Table::new(),
            secrets: Table::new(),
            trusted: Table::new(),
        }
    }

    /// Whether a password for `user` may be checked now; when not, it is refused unchecked.
    pub fn password_allowed(&self, ip: IpAddr, user: &str) -> bool {
        let key = (Source::of(ip), name_key(user));
        let own = self.passwords.count(&key, self.window) < self.limit;
        // A place the user logged in from recently answers only for its own failures.
        if self.trusted.count(&key, TRUSTED_FOR) > 0 {
            return own;
        }
        own && self.users.count(&key.1, self.window) < self.limit.saturating_mul(USER_FACTOR)
    }

    /// A password login of `user` from `ip` succeeded: that source is trusted for the user for [`TRUSTED_FOR`].
    pub fn record_success(&self, ip: IpAddr, user: &str) {
        self.trusted.add((Source::of(ip), name_key(user)), TRUSTED_FOR);
    }

    /// Whether a wrong key or token from `ip` is answered 429 rather than 401. A correct one is never refused.
    pub fn secrets_throttled(&self, ip: IpAddr) -> bool {
        self.secrets.count(&Source::of(ip), self.window) >= self.limit
    }

    pub fn record_failure(&self, ip: IpAddr, user: Option<&str>, kind: Kind) {
        let source = Source::of(ip);
        match (kind, user) {
            (Kind::Password, Some(user)) => {
                let user = name_key(user);
                self.users.add(user.clone(), self.window);
                self.passwords.add((source, user), self.window);
            }
            _ => self.secrets.add(source, self.window),
        }
    }

    /// Keys tracked in the largest table.
    pub fn tracked(&self) -> usize {
        self.passwords.len().max(self.users.len()).max(self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn loopback_is_one_source_and_ipv6_counts_by_64() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.45.6.7".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_eq!(Source::of(a), Source::of("::ffff:127.9.9.9".parse().unwrap()));
        assert_ne!(
            Source::of("192.0.2.1".parse().unwrap()),
            Source::of("192.0.2.2".parse().unwrap())
        );
        assert_eq!(
            Source::of("2001:db8:1:2::1".parse().unwrap()),
            Source::of("2001:db8:1:2:ffff::9".parse().unwrap())
        );
        assert_ne!(
            Source::of("2001:db8:1:2::1".parse().unwrap()),
            Source::of("2001:db8:1:3::1".parse().unwrap())
        );
        assert_eq!(Source::of(a).to_string(), "127.0.0.0/8");
        assert_eq!(
            Source::of("2001:db8:1:2::1".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn one_users_failures_never_refuse_another_users_password() {
        let l = Limiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            l.record_failure(ip, Some("madeup"), Kind::Password);
        }
        assert!(!l.password_allowed(ip, "madeup"));
        assert!(l.password_allowed(ip, "root"));
        assert!(!l.secrets_throttled(ip), "password failures do not make keys 429");
    }

    #[test]
    fn password_guessing_is_bounded_per_user_across_sources() {
        let l = Limiter::new(3, Duration::from_secs(60));
        let mut refused_at = None;
        for i in 0..200u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i));
            if !l.password_allowed(ip, "root") {
                refused_at = Some(i);
                break;
            }
            l.record_failure(ip, Some("root"), Kind::Password);
        }
        assert_eq!(
            refused_at,
            Some(3 * USER_FACTOR),
            "200 addresses get limit × {USER_FACTOR} guesses"
        );
        assert!(l.password_allowed("192.0.2.250".parse().unwrap(), "bob"));
    }

    #[test]
    fn memory_stays_bounded() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for i in 0..(MAX_TRACKED as u32 + 500) {
            let ip = IpAddr::from(Ipv4Addr::from(0x0a00_0000 + i));
            l.record_failure(ip, None, Kind::Secret);
            l.record_failure(ip, Some(&format!("u{i}")), Kind::Password);
        }
        assert!(l.tracked() <= MAX_TRACKED);
    }
}
