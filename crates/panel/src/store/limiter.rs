//! Throttling of repeated authentication failures per source address, in bounded memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most addresses tracked at once; beyond it the stalest entries are evicted.
pub const MAX_TRACKED: usize = 4096;

#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Limiter {
    pub fn new(limit: u32, window: Duration) -> Limiter {
        Limiter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// True when `ip` has failed `limit` times within the window.
    pub fn is_throttled(&self, ip: IpAddr) -> bool {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        matches!(map.get(&ip), Some((count, start)) if *count >= self.limit && start.elapsed() < self.window)
    }

    pub fn record_failure(&self, ip: IpAddr) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (_, start)| now.duration_since(*start) < self.window);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, start))| *start).map(|(ip, _)| *ip)
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }

    pub fn tracked(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_after_limit_and_stays_bounded() {
        let l = Limiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..2 {
            l.record_failure(ip);
        }
        assert!(!l.is_throttled(ip));
        l.record_failure(ip);
        assert!(l.is_throttled(ip));
        for i in 0..(MAX_TRACKED as u32 + 500) {
            l.record_failure(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
        }
        assert!(l.tracked() <= MAX_TRACKED);
    }
}
