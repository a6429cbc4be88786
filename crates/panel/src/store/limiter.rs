//! Throttling of authentication failures, in bounded memory, so that guessing is bounded and honest users are not.
//!
//! - Passwords (low entropy) are counted in leaky buckets, per (source, user) holding `limit` failures and per user
//!   (all sources together) holding `limit × USER_FACTOR`, each emptying over the window. While a bucket has room the
//!   password is checked; once it is full, the password is refused unchecked with a delay, `Retry-After` the time
//!   until a failure has drained out (at most `window / limit`), instead of a refusal for the rest of the window. The
//!   guessing bound is the one a window gave (a full bucket, then `limit` per window), and an honest user who typed
//!   wrong, or whose name others are guessing, waits seconds, not the whole window. Failures for one user never
//!   refuse another user's password.
//! - A source from which a user logged in with their password recently (within [`TRUSTED_FOR`]) is held only to its own
//!   failures for that user: other sources' failures cannot slow the user down where they log in.
//! - Keys and tokens (high entropy) are always checked: a correct one passes whatever anybody else did. Only wrong ones
//!   are answered 429 instead of 401 once their source has sent `limit` wrong ones.
//! - Nothing here sleeps: a delay is an answer given at once (429 with `Retry-After`), never a request held open.
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

/// Failures in leaky buckets: each failure adds one, a bucket empties at `capacity / window`, and a password is
/// checked only while its bucket has room for one more. In bounded memory.
#[derive(Debug)]
struct Buckets<K> {
    map: Mutex<HashMap<K, (f64, Instant)>>,
    capacity: f64,
    /// Failures drained per second.
    rate: f64,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(capacity: u32, window: Duration) -> Buckets<K> {
        let capacity = f64::from(capacity.max(1));
        Buckets {
            map: Mutex::new(HashMap::new()),
            capacity,
            rate: capacity / window.as_secs_f64().max(1.0),
        }
    }

    fn level(&self, (level, at): (f64, Instant), now: Instant) -> f64 {
        (level - self.rate * now.saturating_duration_since(at).as_secs_f64()).max(0.0)
    }

    /// How long until the bucket has room for one more failure (zero: now).
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = map.get(key) else {
            return Duration::ZERO;
        };
        let over = self.level(*entry, now) - (self.capacity - 1.0);
        if over > 0.0 {
            Duration::from_secs_f64(over / self.rate)
        } else {
            Duration::ZERO
        }
    }

    fn add(&self, key: K, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, entry| self.level(*entry, now) > 0.0);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let level = map.get(&key).map_or(0.0, |entry| self.level(*entry, now));
        map.insert(key, (level + 1.0, now));
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
    passwords: Buckets<(Source, String)>,
    /// Password failures per user, all sources together.
    users: Buckets<String>,
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
            passwords: Buckets::new(limit, window),
            users: Buckets::new(limit.saturating_mul(USER_FACTOR), window),
            secrets: Table::new(),
            trusted: Table::new(),
        }
    }

    /// How long a password for `user` from `ip` must wait before it is checked; `None`: check it now. A password that
    /// must wait is refused unchecked, and the client is told how long (`Retry-After`).
    pub fn password_wait(&self, ip: IpAddr, user: &str) -> Option<Duration> {
        self.password_wait_at(ip, user, Instant::now())
    }

    fn password_wait_at(&self, ip: IpAddr, user: &str, now: Instant) -> Option<Duration> {
        let key = (Source::of(ip), name_key(user));
        let own = self.passwords.wait(&key, now);
        // A place the user logged in from recently answers only for its own failures.
        let wait = if self.trusted.count(&key, TRUSTED_FOR) > 0 {
            own
        } else {
            own.max(self.users.wait(&key.1, now))
        };
        (!wait.is_zero()).then_some(wait)
    }

    /// A password login of `user` from `ip` succeeded: that source is trusted for the user for [`TRUSTED_FOR`].
    pub fn record_success(&self, ip: IpAddr, user: &str) {
        self.trusted.add((Source::of(ip), name_key(user)), TRUSTED_FOR);
    }

    /// Whether a wrong key or token from `ip` is answered 429 rather than 401. A correct one is never refused.
    pub fn secrets_throttled(&self, ip: IpAddr) -> bool {
        self.secrets.count(&Source::of(ip), self.window) >= self.limit
    }

    /// How long a source answered 429 for wrong keys or tokens waits at most: the window.
    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn record_failure(&self, ip: IpAddr, user: Option<&str>, kind: Kind) {
        self.record_failure_at(ip, user, kind, Instant::now());
    }

    fn record_failure_at(&self, ip: IpAddr, user: Option<&str>, kind: Kind, now: Instant) {
        let source = Source::of(ip);
        match (kind, user) {
            (Kind::Password, Some(user)) => {
                let user = name_key(user);
                self.users.add(user.clone(), now);
                self.passwords.add((source, user), now);
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
        assert!(l.password_wait(ip, "madeup").is_some());
        assert!(l.password_wait(ip, "root").is_none());
        assert!(!l.secrets_throttled(ip), "password failures do not make keys 429");
    }

    #[test]
    fn password_guessing_is_bounded_per_user_across_sources() {
        let l = Limiter::new(3, Duration::from_secs(60));
        let mut refused_at = None;
        for i in 0..200u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i));
            if l.password_wait(ip, "root").is_some() {
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
        assert!(l.password_wait("192.0.2.250".parse().unwrap(), "bob").is_none());
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

    #[test]
    fn a_full_bucket_delays_by_what_drains_and_keeps_the_bound() {
        // 10 failures over 300 s: one drains every 30 s.
        let l = Limiter::new(10, Duration::from_secs(300));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(l.password_wait_at(ip, "bob", t0), None, "the first ten are checked");
            l.record_failure_at(ip, Some("bob"), Kind::Password, t0);
        }
        let wait = l.password_wait_at(ip, "bob", t0).expect("a full bucket waits");
        assert!(
            wait <= Duration::from_secs(30),
            "{wait:?}: at most one drain, never the window"
        );
        assert!(wait >= Duration::from_secs(29), "{wait:?}");
        let t1 = t0 + Duration::from_secs(10);
        assert!(
            l.password_wait_at(ip, "bob", t1)
                .is_some_and(|w| w <= Duration::from_secs(20))
        );
        let t2 = t0 + Duration::from_secs(30);
        assert_eq!(l.password_wait_at(ip, "bob", t2), None, "one drained: one more check");
        // Guessing at every chance for an hour: the full bucket, then one per drain (what a window allowed).
        let mut guesses = 10;
        let mut t = t0;
        while t < t0 + Duration::from_secs(3600) {
            match l.password_wait_at(ip, "bob", t) {
                None => {
                    guesses += 1;
                    l.record_failure_at(ip, Some("bob"), Kind::Password, t);
                }
                Some(wait) => t += wait.max(Duration::from_millis(1)),
            }
        }
        assert!(guesses <= 10 + 3600 / 30 + 1, "{guesses}");
    }

    #[test]
    fn a_trusted_source_waits_only_for_its_own_failures() {
        let l = Limiter::new(2, Duration::from_secs(60));
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        l.record_success(home, "root");
        for i in 0..20u32 {
            l.record_failure(
                IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i)),
                Some("root"),
                Kind::Password,
            );
        }
        assert!(l.password_wait("198.51.100.200".parse().unwrap(), "root").is_some());
        assert_eq!(l.password_wait(home, "root"), None);
    }
}
