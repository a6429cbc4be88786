//! What the panel keeps between requests, below any notion of a request: the access-key cache, browser sessions and
//! one-time logins, the failure counter behind throttling, the users waiting to have their credentials retired, and
//! the change notifications the credential caches trust.

pub mod keys;
pub mod limiter;
pub mod retiring;
pub mod sessions;
pub mod watch;

/// How many password checks (argon2) run at once, each on a blocking thread so request workers never run argon2.
pub const PASSWORD_CHECKS: usize = 2;
