//! WHM API tokens: generation, names, IP allow-lists, and the per-user store that keeps only SHA-512 digests.
//!
//! Spec §5 "API tokens": 32 characters from `A-Z0-9`, shown once; only the SHA-512 hex digest
//! is stored, per user, in a root-only file (directory 0700, file 0600).

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::secret::Secret;
use fsx::{DirNotices, FileStamp, FsError, Seen, unix_now, write_atomic};

/// Characters in a token.
pub const TOKEN_LEN: usize = 32;
/// The most entries an IP allow-list may have.
pub const MAX_ALLOW_LIST: usize = 100;
/// The longest token name.
pub const MAX_NAME_LEN: usize = 50;
/// The largest store file read (about 10,000 tokens).
const MAX_STORE_FILE: u64 = 16 * 1024 * 1024;
const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The lowercase hex SHA-512 digest of `secret`, as the store keeps it.
pub fn sha512_hex(secret: &str) -> String {
    hex::encode(Sha512::digest(secret.as_bytes()))
}

/// API token generation.
#[derive(Debug)]
pub struct ApiToken;

impl ApiToken {
    /// A new token: 32 characters from `A-Z0-9`, from the OS random source, without modulo bias.
    pub fn generate() -> Result<Secret, TokenError> {
        ApiToken::generate_from(&mut rand::rngs::OsRng)
    }

    /// A new token from `rng`. Bytes of 252 or more are rejected so every character is equally likely.
    pub fn generate_from<R: TryRngCore + ?Sized>(rng: &mut R) -> Result<Secret, TokenError> {
        let mut out = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        let mut buf = Zeroizing::new([0u8; 64]);
        while out.len() < TOKEN_LEN {
            rng.try_fill_bytes(&mut buf[..])
                .map_err(|e| TokenError::RandomSource(e.to_string()))?;
            for &b in buf.iter() {
                // 252 = 7 × 36: the largest multiple of 36 that fits in a byte.
                if b < 252 && out.len() < TOKEN_LEN {
                    out.push(char::from(ALPHABET[usize::from(b % 36)]));
                }
            }
        }
        Ok(Secret::new(std::mem::take(&mut *out)))
    }
}

/// A token name: 1 to 50 characters from `A-Za-z0-9_-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<TokenName, TokenNameError> {
        if name.is_empty() {
            return Err(TokenNameError::Empty);
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_LEN {
            return Err(TokenNameError::TooLong { len: chars });
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(TokenNameError::BadCharacter { c });
        }
        Ok(TokenName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TokenName {
    type Err = TokenNameError;
    fn from_str(s: &str) -> Result<TokenName, TokenNameError> {
        TokenName::new(s)
    }
}

impl TryFrom<String> for TokenName {
    type Error = TokenNameError;
    fn try_from(s: String) -> Result<TokenName, TokenNameError> {
        TokenName::new(&s)
    }
}

impl From<TokenName> for String {
    fn from(n: TokenName) -> String {
        n.0
    }
}

/// What is wrong with a token name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenNameError {
    /// The empty string.
    #[error("the token name is empty; it needs 1 to 50 characters from A-Z, a-z, 0-9, _ and -")]
    Empty,
    /// Over 50 characters.
    #[error("the token name is {len} characters long; at most 50 are allowed")]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// A character outside `A-Za-z0-9_-`.
    #[error("the token name contains {c:?}; only A-Z, a-z, 0-9, _ and - are allowed")]
    BadCharacter {
        /// The first offending character.
        c: char,
    },
}

/// One entry of a token's IP allow-list: an address (stored as a /32 or /128) or a CIDR range, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpAllow(ipnet::IpNet);

impl IpAllow {
    /// Parses `1.2.3.4`, `192.0.2.0/24`, `2001:db8::1` or `2001:db8::/32`.
    pub fn parse(entry: &str) -> Result<IpAllow, TokenError> {
        let e = entry.trim();
        let bad = || TokenError::BadAllowEntry {
            entry: entry.chars().take(64).collect(),
        };
        if e.contains('/') {
            // `trunc` so that 192.0.2.7/24 means the network 192.0.2.0/24.
            e.parse::<ipnet::IpNet>().map(|n| IpAllow(n.trunc())).map_err(|_| bad())
        } else {
            e.parse::<IpAddr>()
                .map(|a| IpAllow(ipnet::IpNet::from(a.to_canonical())))
                .map_err(|_| bad())
        }
    }

    /// Parses a whole allow-list, refusing more than 100 entries. Errors name the bad entry.
    pub fn parse_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<IpAllow>, TokenError> {
        if entries.len() > MAX_ALLOW_LIST {
            return Err(TokenError::AllowListTooLong { len: entries.len() });
        }
        entries.iter().map(|e| IpAllow::parse(e.as_ref())).collect()
    }

    /// Whether `addr` falls inside this entry. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr.to_canonical())
    }
}

impl fmt::Display for IpAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl TryFrom<String> for IpAllow {
    type Error = TokenError;
    fn try_from(s: String) -> Result<IpAllow, TokenError> {
        IpAllow::parse(&s)
    }
}

impl From<IpAllow> for String {
    fn from(a: IpAllow) -> String {
        a.to_string()
    }
}

/// A stored token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Unique per user.
    pub name: TokenName,
    /// Lowercase hex SHA-512 of the token.
    pub hash: String,
    /// Unix time of creation.
    pub created_at: u64,
    /// Unix time from which the token no longer works; it stays stored.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// `None` means every privilege the user holds; `Some` limits the token to these ACL names.
    #[serde(default)]
    pub acls: Option<Vec<String>>,
    /// Empty means any address.
    #[serde(default)]
    pub whitelist_ips: Vec<IpAllow>,
}

impl TokenRecord {
    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Whether `peer` may use the token.
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.whitelist_ips.is_empty() || self.whitelist_ips.iter().any(|a| a.contains(peer))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

const STORE_VERSION: u32 = 1;

/// Errors of token generation and the token store. None holds a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The OS random source failed; there is no weaker fallback.
    #[error("the system's secure random source failed: {0}")]
    RandomSource(String),
    /// A bad token name.
    #[error(transparent)]
    Name(#[from] TokenNameError),
    /// The name is taken for this user.
    #[error("a token named \"{name}\" already exists")]
    Duplicate {
        /// The name.
        name: TokenName,
    },
    /// An allow-list entry that is neither an address nor a CIDR range.
    #[error("{entry:?} is not an IP address or CIDR range")]
    BadAllowEntry {
        /// The entry (at most 64 characters of it).
        entry: String,
    },
    /// Over 100 allow-list entries.
    #[error("the IP allow-list has {len} entries; at most 100 are allowed")]
    AllowListTooLong {
        /// Entries given.
        len: usize,
    },
    /// Not 128 hex digits.
    #[error("not a SHA-512 hex digest")]
    BadHash,
    /// A user name the store refuses (defence in depth: callers validate first).
    #[error("{user:?} is not a valid user name for the token store")]
    BadUser {
        /// The name (at most 64 characters of it).
        user: String,
    },
    /// The store directory or a file in it could not be used.
    #[error("cannot use the token store at '{path}': {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A store file that is not what this program writes.
    #[error("the token store file '{path}' is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing a store file failed; the old file is unchanged.
    #[error(transparent)]
    Write(#[from] FsError),
}

/// Why a presented token was not accepted. Callers answer all of them with the same 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No token of this user has this value (or the user has no tokens, or the name is invalid).
    #[error("no API token matches")]
    NoMatch,
    /// The token matched but has expired.
    #[error("the API token has expired")]
    Expired,
    /// The token matched but the peer is outside its allow-list.
    #[error("the API token may not be used from this address")]
    AddressNotAllowed,
    /// The store could not be read.
    #[error("the token store is unavailable: {0}")]
    Unavailable(String),
}

/// The per-user token store: `<dir>/<user>.json`, directory 0700, files 0600.
///
/// Changes within one process are serialised by a lock; each change is a read, modify and
/// atomic replace of the user's file.
/// Verification reads a user's file once and keeps its records and decoded digests until the file changes, so a
/// request never parses JSON to check a token. A store watched by change notifications ([`TokenStore::watched_by`])
/// answers from memory, with no file-system call, while no notification came for the directory since the records
/// were read; otherwise it compares the file's stamp (one `stat`).
#[derive(Debug)]
pub struct TokenStore {
    dir: PathBuf,
    lock: Mutex<()>,
    cache: RwLock<HashMap<String, CacheEntry>>,
    notices: Arc<DirNotices>,
}

/// A user's records as last read, and the directory's watch as registered before they were read (or their stamp
/// last compared): while that is unchanged, the records are answered as they are.
#[derive(Debug)]
struct CacheEntry {
    seen: Option<Seen>,
    cached: Arc<CachedUser>,
}

/// The record a secret matched, shared with the store's cache rather than copied (a request reads its name and list
/// and lets it go).
pub struct TokenMatch {
    cached: Arc<CachedUser>,
    index: usize,
}

impl std::fmt::Debug for TokenMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMatch")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for TokenMatch {
    type Target = TokenRecord;

    fn deref(&self) -> &TokenRecord {
        &self.cached.tokens[self.index]
    }
}

/// A user's file as last read, and which version of the file it was.
#[derive(Debug)]
struct CachedUser {
    stamp: Option<FileStamp>,
    tokens: Vec<TokenRecord>,
    /// Each record's digest as bytes; `None` for a record whose stored digest is not 128 hex digits (never matches).
    digests: Vec<Option<[u8; 64]>>,
}

impl TokenStore {
    /// Opens (creating if needed) the store directory and makes its mode 0700.
    pub fn open(dir: &Path) -> Result<TokenStore, TokenError> {
        let io_err = |source| TokenError::Io {
            path: dir.to_owned(),
            source,
        };
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(io_err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        Ok(TokenStore {
            dir: dir.to_owned(),
            lock: Mutex::new(()),
            cache: RwLock::new(HashMap::new()),
            notices: Arc::new(DirNotices::default()),
        })
    }

    /// The store, its verification trusting what it read while `notices` reports no change of the store's directory
    /// (see [`fsx::notice`]); a store without it compares the file's stamp at every verification.
    pub fn watched_by(mut self, notices: Arc<DirNotices>) -> TokenStore {
        self.notices = notices;
        self.cache.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
        self
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a token for `user` and returns its record and the token, which is never stored.
    ///
    /// `user` must already be a validated user name; the store still refuses empty names and
    /// names with `/`, `.` or NUL. `whitelist` entries are addresses or CIDR ranges.
    pub fn create(
        &self,
        user: &str,
        name: &TokenName,
        acls: Option<Vec<String>>,
        expires_at: Option<u64>,
        whitelist: &[String],
    ) -> Result<(TokenRecord, Secret), TokenError> {
        let whitelist_ips = IpAllow::parse_list(whitelist)?;
        let token = ApiToken::generate()?;
        let record = TokenRecord {
            name: name.clone(),
            hash: sha512_hex(token.expose()),
            created_at: unix_now(),
            expires_at,
            acls,
            whitelist_ips,
        };
        self.modify(user, |tokens| {
            if tokens.iter().any(|t| t.name == *name) {
                return Err(TokenError::Duplicate { name: name.clone() });
            }
            tokens.push(record.clone());
            Ok(())
        })?;
        Ok((record, token))
    }

    /// Stores a full-access, non-expiring token for `user` whose digest is `sha512_hex` (converting an access key).
    ///
    /// A record with the same digest is replaced (so converting twice keeps one token); a
    /// different record with the same name is a [`TokenError::Duplicate`].
    pub fn import_hash(&self, user: &str, name: &str, sha512_hex: &str) -> Result<TokenName, TokenError> {
        self.import_record(user, name, sha512_hex, None, None, &[])
    }

    /// [`TokenStore::import_hash`] with privileges, expiry and allow-list.
    pub fn import_record(
        &self,
        user: &str,
        name: &str,
        sha512_hex: &str,
        acls: Option<Vec<String>>,
        expires_at: Option<u64>,
        whitelist: &[String],
    ) -> Result<TokenName, TokenError> {
        let name = TokenName::new(name)?;
        if sha512_hex.len() != 128 || !sha512_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::BadHash);
        }
        let hash = sha512_hex.to_ascii_lowercase();
        let whitelist_ips = IpAllow::parse_list(whitelist)?;
        let record = TokenRecord {
            name: name.clone(),
            hash,
            created_at: unix_now(),
            expires_at,
            acls,
            whitelist_ips,
        };
        self.modify(user, |tokens| {
            tokens.retain(|t| !bool::from(t.hash.as_bytes().ct_eq(record.hash.as_bytes())));
            if tokens.iter().any(|t| t.name == name) {
                return Err(TokenError::Duplicate { name: name.clone() });
            }
            tokens.push(record);
            Ok(())
        })?;
        Ok(name)
    }

    /// The user's tokens, in creation order. A user without a file has none.
    pub fn list(&self, user: &str) -> Result<Vec<TokenRecord>, TokenError> {
        let path = self.user_file(user)?;
        Ok(read_store(&path)?.tokens)
    }

    /// Removes the user's token called `name`; `Ok(false)` if there was none.
    pub fn revoke(&self, user: &str, name: &str) -> Result<bool, TokenError> {
        let mut found = false;
        self.modify(user, |tokens| {
            let before = tokens.len();
            tokens.retain(|t| t.name.as_str() != name);
            found = tokens.len() != before;
            Ok(())
        })?;
        Ok(found)
    }

    /// Moves every token of `user` out of the store into the file `to` (in a directory the caller made private):
    /// they stop working at once, and their digests stay on disk for an administrator to restore or delete.
    /// Answers how many tokens moved; a user without tokens moves nothing.
    pub fn retire_user(&self, user: &str, to: &Path) -> Result<usize, TokenError> {
        let path = self.user_file(user)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let count = read_store(&path)?.tokens.len();
        self.forget(user);
        match fs::rename(&path, to) {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(TokenError::Io { path, source }),
        }
    }

    /// Checks `secret` against every token of `user` at time `now` from `peer`.
    ///
    /// The digest of `secret` is compared with every stored digest in constant time, without
    /// stopping at the first match. An invalid user name or a missing file is
    /// [`TokenRejection::NoMatch`], like a wrong token.
    pub fn verify(&self, user: &str, secret: &str, now: u64, peer: IpAddr) -> Result<TokenRecord, TokenRejection> {
        self.verify_digest(user, &crate::secret_digest(secret), now, peer)
            .map(|m| (*m).clone())
    }

    /// [`TokenStore::verify`] for a secret already hashed with [`crate::secret_digest`].
    pub fn verify_digest(
        &self,
        user: &str,
        digest: &[u8; 64],
        now: u64,
        peer: IpAddr,
    ) -> Result<TokenMatch, TokenRejection> {
        if check_user(user).is_err() {
            return Err(TokenRejection::NoMatch);
        }
        let cached = self.cached(user)?;
        let mut found: Option<usize> = None;
        for (i, (_, d)) in cached.tokens.iter().zip(&cached.digests).enumerate() {
            // A malformed stored digest is still compared (with zeros), so every record costs the same; it never
            // matches.
            let (valid, d) = match d {
                Some(d) => (true, d),
                None => (false, &[0u8; 64]),
            };
            let matched = bool::from(d.ct_eq(digest)) && valid;
            if matched && found.is_none() {
                found = Some(i);
            }
        }
        let index = found.ok_or(TokenRejection::NoMatch)?;
        let record = &cached.tokens[index];
        if record.is_expired(now) {
            return Err(TokenRejection::Expired);
        }
        if !record.allows(peer) {
            return Err(TokenRejection::AddressNotAllowed);
        }
        Ok(TokenMatch { cached, index })
    }

    /// The user's records as of the file on disk now: from memory while no notification came for the directory since
    /// they were read, else when the file's stamp has not changed since; read again otherwise.
    fn cached(&self, user: &str) -> Result<Arc<CachedUser>, TokenRejection> {
        if let Some(e) = self.cache.read().unwrap_or_else(|e| e.into_inner()).get(user)
            && e.seen.as_ref().is_some_and(Seen::unchanged)
        {
            return Ok(Arc::clone(&e.cached));
        }
        let path = self
            .user_file(user)
            .map_err(|e| TokenRejection::Unavailable(e.to_string()))?;
        // The watch first, then the stamp and the read, so a change after this point is never missed.
        let seen = self.notices.before_read(&self.dir);
        let stamp = FileStamp::of_link(&path);
        if seen.is_none() {
            if let Some(e) = self.cache.read().unwrap_or_else(|e| e.into_inner()).get(user)
                && e.cached.stamp == stamp
            {
                return Ok(Arc::clone(&e.cached));
            }
        } else if let Some(e) = self.cache.write().unwrap_or_else(|e| e.into_inner()).get_mut(user)
            && e.cached.stamp == stamp
        {
            // The same file as read: trusted on notifications again from this registration on.
            e.seen = seen;
            return Ok(Arc::clone(&e.cached));
        }
        let store = read_store(&path).map_err(|e| TokenRejection::Unavailable(e.to_string()))?;
        let digests = store
            .tokens
            .iter()
            .map(|t| {
                let mut d = [0u8; 64];
                hex::decode_to_slice(&t.hash, &mut d).ok().map(|()| d)
            })
            .collect();
        let cached = Arc::new(CachedUser {
            stamp,
            tokens: store.tokens,
            digests,
        });
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(
            user.to_owned(),
            CacheEntry {
                seen,
                cached: Arc::clone(&cached),
            },
        );
        Ok(cached)
    }

    /// Forgets a user's cached records (after a change through the store).
    fn forget(&self, user: &str) {
        self.cache.write().unwrap_or_else(|e| e.into_inner()).remove(user);
    }

    fn modify(
        &self,
        user: &str,
        change: impl FnOnce(&mut Vec<TokenRecord>) -> Result<(), TokenError>,
    ) -> Result<(), TokenError> {
        let path = self.user_file(user)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut store = read_store(&path)?;
        change(&mut store.tokens)?;
        store.version = STORE_VERSION;
        let text = serde_json::to_vec_pretty(&store).expect("token records always serialise");
        write_atomic(&path, &text, 0o600)?;
        self.forget(user);
        Ok(())
    }

    fn user_file(&self, user: &str) -> Result<PathBuf, TokenError> {
        check_user(user)?;
        Ok(self.dir.join(format!("{user}.json")))
    }
}

/// Refuses a user name the store cannot name a file after (defence in depth: callers validate first).
fn check_user(user: &str) -> Result<(), TokenError> {
    if user.is_empty()
        || user.len() > 255
        || user.contains(['/', '.', '\0', '\\'])
        || user.chars().any(char::is_control)
    {
        return Err(TokenError::BadUser {
            user: user.chars().take(64).collect(),
        });
    }
    Ok(())
}

fn read_store(path: &Path) -> Result<StoreFile, TokenError> {
    let io_err = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(StoreFile {
                version: STORE_VERSION,
                tokens: Vec::new(),
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    let corrupt = |reason: String| TokenError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if !meta.is_file() {
        return Err(corrupt("not a regular file".into()));
    }
    if meta.len() > MAX_STORE_FILE {
        return Err(corrupt(format!(
            "{} bytes is more than the {MAX_STORE_FILE} allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_STORE_FILE + 1).read_to_end(&mut bytes).map_err(io_err)?;
    let store: StoreFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if store.version != STORE_VERSION {
        return Err(corrupt(format!(
            "version {} is not the supported version {STORE_VERSION}",
            store.version
        )));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const NONE: &[String] = &[];

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = TokenStore::open(&dir.path().join("api_tokens")).unwrap();
        (dir, s)
    }

    fn name(n: &str) -> TokenName {
        TokenName::new(n).unwrap()
    }

    #[test]
    fn generated_tokens_have_the_whm_shape() {
        let a = ApiToken::generate().unwrap();
        let b = ApiToken::generate().unwrap();
        assert_eq!(a.expose().len(), 32);
        assert!(
            a.expose().bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{}",
            a.expose()
        );
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn token_characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..400 {
            for c in ApiToken::generate().unwrap().expose().bytes() {
                counts[ALPHABET.iter().position(|&a| a == c).unwrap()] += 1;
            }
        }
        // 12,800 characters, 355.6 expected per symbol; a biased generator would skew the first four.
        assert!(counts.iter().all(|&n| (250..470).contains(&n)), "{counts:?}");
    }

    #[test]
    fn sha512_hex_is_lowercase_and_known() {
        assert_eq!(
            sha512_hex("abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn names_are_validated() {
        assert!(TokenName::new("a").is_ok());
        assert!(TokenName::new(&"x".repeat(50)).is_ok());
        assert!(TokenName::new("my_Token-01").is_ok());
        assert_eq!(TokenName::new(""), Err(TokenNameError::Empty));
        assert_eq!(
            TokenName::new(&"x".repeat(51)),
            Err(TokenNameError::TooLong { len: 51 })
        );
        assert_eq!(TokenName::new("a b"), Err(TokenNameError::BadCharacter { c: ' ' }));
        assert_eq!(TokenName::new("../x"), Err(TokenNameError::BadCharacter { c: '.' }));
        assert_eq!(TokenName::new("é"), Err(TokenNameError::BadCharacter { c: 'é' }));
        assert!(TokenName::new("a b").unwrap_err().to_string().contains("' '"));
        assert!(TokenName::new("").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn allow_list_parsing() {
        let list = IpAllow::parse_list(&["192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "::1"]).unwrap();
        assert_eq!(
            list.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "::1"]
        );
        assert!(list[0].contains("192.0.2.200".parse().unwrap()));
        assert!(!list[0].contains("192.0.3.1".parse().unwrap()));
        assert!(
            list[0].contains("::ffff:192.0.2.9".parse().unwrap()),
            "mapped IPv4 counts as IPv4"
        );
        assert!(list[1].contains("2001:db8:1::5".parse().unwrap()));
        assert!(list[2].contains("198.51.100.7".parse().unwrap()));
        assert!(!list[2].contains("198.51.100.8".parse().unwrap()));
        let err = IpAllow::parse_list(&["10.0.0.1", "10.0.0.300"]).unwrap_err();
        assert_eq!(err.to_string(), "\"10.0.0.300\" is not an IP address or CIDR range");
        assert!(IpAllow::parse("10.0.0.0/33").is_err());
        assert!(IpAllow::parse("").is_err());
        assert!(IpAllow::parse("example.com").is_err());
        let many: Vec<String> = (0..101).map(|i| format!("10.0.0.{}", i % 250)).collect();
        assert!(matches!(
            IpAllow::parse_list(&many),
            Err(TokenError::AllowListTooLong { len: 101 })
        ));
        assert!(IpAllow::parse_list(&many[..100]).is_ok());
    }

    #[test]
    fn create_and_verify() {
        let (dir, s) = store();
        let (record, token) = s.create("bob", &name("full"), None, None, NONE).unwrap();
        assert_eq!(record.hash, sha512_hex(token.expose()));
        let ok = s.verify("bob", token.expose(), 0, HERE).unwrap();
        assert_eq!(ok.name, name("full"));
        assert_eq!(
            s.verify("bob", "WRONGWRONGWRONGWRONGWRONGWRONG12", 0, HERE),
            Err(TokenRejection::NoMatch)
        );
        assert_eq!(
            s.verify("alice", token.expose(), 0, HERE),
            Err(TokenRejection::NoMatch),
            "tokens are per user"
        );
        assert_eq!(
            s.verify("../bob", token.expose(), 0, HERE),
            Err(TokenRejection::NoMatch)
        );
        assert_eq!(s.verify("bob", "", 0, HERE), Err(TokenRejection::NoMatch));
        // Modes and the absence of the token in the file.
        let d = dir.path().join("api_tokens");
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
        let f = d.join("bob.json");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o600);
        let text = fs::read_to_string(&f).unwrap();
        assert!(!text.contains(token.expose()), "the store never holds the token");
        assert!(text.contains(&record.hash));
        let debug = format!("{record:?} {token:?} {token}");
        assert!(!debug.contains(token.expose()), "{debug}");
    }

    /// Verification keeps the records between requests, and sees every change to the file: through this store,
    /// through another process's store, by an edit in place, or by the file going away.
    #[test]
    fn the_verification_cache_follows_the_file() {
        let (dir, s) = store();
        let other = TokenStore::open(&dir.path().join("api_tokens")).unwrap();
        let (_, first) = s.create("bob", &name("first"), None, None, NONE).unwrap();
        assert!(s.verify("bob", first.expose(), 0, HERE).is_ok());
        // Another process revokes it: the next check reads the new file.
        assert!(other.revoke("bob", "first").unwrap());
        assert_eq!(s.verify("bob", first.expose(), 0, HERE), Err(TokenRejection::NoMatch));
        // Another process creates one: it works here at once.
        let (_, second) = other.create("bob", &name("second"), None, None, NONE).unwrap();
        assert!(s.verify("bob", second.expose(), 0, HERE).is_ok());
        // An edit in place (same inode) that removes the record.
        let f = dir.path().join("api_tokens").join("bob.json");
        let text = fs::read_to_string(&f).unwrap();
        let edited = text.replace(&sha512_hex(second.expose()), &"0".repeat(128));
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&f)
            .unwrap()
            .write_all(edited.as_bytes())
            .unwrap();
        assert_eq!(s.verify("bob", second.expose(), 0, HERE), Err(TokenRejection::NoMatch));
        // The file removed: no token at all.
        fs::remove_file(&f).unwrap();
        assert_eq!(s.verify("bob", second.expose(), 0, HERE), Err(TokenRejection::NoMatch));
        // A malformed digest in the file never matches, and the good record beside it still does.
        let (_, third) = s.create("bob", &name("third"), None, None, NONE).unwrap();
        let (_, fourth) = s.create("bob", &name("fourth"), None, None, NONE).unwrap();
        let text = fs::read_to_string(&f).unwrap();
        let third_hash = sha512_hex(third.expose());
        fs::write(&f, text.replace(&third_hash, &format!("zz{}", &third_hash[2..]))).unwrap();
        assert_eq!(s.verify("bob", third.expose(), 0, HERE), Err(TokenRejection::NoMatch));
        assert!(s.verify("bob", fourth.expose(), 0, HERE).is_ok());
    }

    /// A watcher that says yes; the tests deliver its notifications by hand.
    struct Accepting;

    impl fsx::DirWatcher for Accepting {
        fn watch(&self, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn unwatch(&self, _: &Path) {}
    }

    /// Watched, the records are answered from memory until a notification for the store's directory: a revocation
    /// by another process is seen once its notification arrives; another user's change re-reads nothing of bob's
    /// (his file's stamp is unchanged).
    #[test]
    fn a_watched_store_trusts_its_records_until_a_notification() {
        let (dir, plain) = store();
        let d = dir.path().join("api_tokens");
        let notices = Arc::new(DirNotices::default());
        notices.start(Arc::new(Accepting));
        let s = TokenStore::open(&d).unwrap().watched_by(Arc::clone(&notices));
        let (_, bob) = plain.create("bob", &name("one"), None, None, NONE).unwrap();
        assert!(s.verify("bob", bob.expose(), 0, HERE).is_ok());
        assert!(plain.revoke("bob", "one").unwrap());
        assert!(
            s.verify("bob", bob.expose(), 0, HERE).is_ok(),
            "no notification delivered yet: answered from memory"
        );
        notices.notice(&d.join("bob.json"), true);
        assert_eq!(s.verify("bob", bob.expose(), 0, HERE), Err(TokenRejection::NoMatch));
        let (_, again) = plain.create("bob", &name("two"), None, None, NONE).unwrap();
        notices.notice(&d.join("bob.json"), true);
        let first = s
            .verify_digest("bob", &crate::secret_digest(again.expose()), 0, HERE)
            .unwrap();
        plain.create("alice", &name("a"), None, None, NONE).unwrap();
        notices.notice(&d.join("alice.json"), true);
        let second = s
            .verify_digest("bob", &crate::secret_digest(again.expose()), 0, HERE)
            .unwrap();
        assert!(
            Arc::ptr_eq(&first.cached, &second.cached),
            "bob's records were not read again for alice's change"
        );
    }

    #[test]
    fn expiry_and_allow_list() {
        let (_dir, s) = store();
        let (_, soon) = s.create("bob", &name("soon"), None, Some(1000), NONE).unwrap();
        assert!(s.verify("bob", soon.expose(), 999, HERE).is_ok());
        assert_eq!(s.verify("bob", soon.expose(), 1000, HERE), Err(TokenRejection::Expired));
        assert_eq!(s.verify("bob", soon.expose(), 5000, HERE), Err(TokenRejection::Expired));
        assert_eq!(s.list("bob").unwrap().len(), 1, "expired tokens stay stored");
        let (record, remote) = s
            .create(
                "bob",
                &name("remote"),
                Some(vec!["list-accts".into()]),
                None,
                &["192.0.2.0/24".to_owned()],
            )
            .unwrap();
        assert_eq!(record.acls.as_deref(), Some(&["list-accts".to_owned()][..]));
        assert_eq!(
            s.verify("bob", remote.expose(), 0, HERE),
            Err(TokenRejection::AddressNotAllowed)
        );
        assert!(
            s.verify("bob", remote.expose(), 0, "192.0.2.55".parse().unwrap())
                .is_ok()
        );
        let err = s
            .create(
                "bob",
                &name("bad"),
                None,
                None,
                &["192.0.2.0/24".to_owned(), "nonsense".to_owned()],
            )
            .unwrap_err();
        assert!(err.to_string().contains("\"nonsense\""), "{err}");
        assert_eq!(s.list("bob").unwrap().len(), 2, "a refused token is not stored");
    }

    #[test]
    fn duplicate_names_revoke_and_list() {
        let (_dir, s) = store();
        s.create("bob", &name("t"), None, None, NONE).unwrap();
        let err = s.create("bob", &name("t"), None, None, NONE).unwrap_err();
        assert_eq!(err.to_string(), "a token named \"t\" already exists");
        s.create("alice", &name("t"), None, None, NONE).unwrap();
        let (_, t2) = s.create("bob", &name("t2"), None, None, NONE).unwrap();
        assert_eq!(
            s.list("bob")
                .unwrap()
                .iter()
                .map(|r| r.name.to_string())
                .collect::<Vec<_>>(),
            ["t", "t2"]
        );
        assert!(s.revoke("bob", "t2").unwrap());
        assert!(!s.revoke("bob", "t2").unwrap());
        assert!(!s.revoke("carol", "t").unwrap());
        assert_eq!(
            s.verify("bob", t2.expose(), 0, HERE),
            Err(TokenRejection::NoMatch),
            "a revoked token stops working"
        );
        assert_eq!(s.list("alice").unwrap().len(), 1);
        assert!(s.list("nobody").unwrap().is_empty());
    }

    #[test]
    fn bad_users_are_refused_before_any_file_is_touched() {
        let (dir, s) = store();
        for user in ["", "../root", ".", "a/b", "a\0b", "bob.json", "x\n"] {
            assert!(
                matches!(
                    s.create(user, &name("t"), None, None, NONE),
                    Err(TokenError::BadUser { .. })
                ),
                "{user:?}"
            );
            assert!(matches!(s.list(user), Err(TokenError::BadUser { .. })), "{user:?}");
        }
        assert_eq!(fs::read_dir(dir.path().join("api_tokens")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn import_hash_converts_keys_and_replaces_same_hash() {
        let (_dir, s) = store();
        let key = crate::AccessKey::generate().unwrap();
        let hash = sha512_hex(key.as_str());
        let n = s.import_hash("bob", "accesshash-1", &hash).unwrap();
        assert_eq!(n.as_str(), "accesshash-1");
        let r = s.verify("bob", key.as_str(), 0, HERE).unwrap();
        assert!(r.acls.is_none() && r.expires_at.is_none() && r.whitelist_ips.is_empty());
        s.import_hash("bob", "accesshash-2", &hash.to_uppercase()).unwrap();
        let list = s.list("bob").unwrap();
        assert_eq!(list.len(), 1, "same digest replaced");
        assert_eq!(list[0].name.as_str(), "accesshash-2");
        assert!(matches!(
            s.import_hash("bob", "accesshash-2", &sha512_hex("other")),
            Err(TokenError::Duplicate { .. })
        ));
        assert!(matches!(s.import_hash("bob", "x", "abc"), Err(TokenError::BadHash)));
        assert!(matches!(
            s.import_hash("bob", "bad name", &hash),
            Err(TokenError::Name(_))
        ));
    }

    #[test]
    fn open_fixes_mode_and_refuses_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("t");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        TokenStore::open(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
        let f = dir.path().join("f");
        fs::write(&f, b"").unwrap();
        let err = TokenStore::open(&f).unwrap_err();
        assert!(err.to_string().contains(&*f.to_string_lossy()), "{err}");
    }

    #[test]
    fn damaged_store_is_an_error_naming_the_file() {
        let (dir, s) = store();
        let f = dir.path().join("api_tokens/bob.json");
        fs::write(&f, b"{ not json").unwrap();
        let err = s.list("bob").unwrap_err();
        assert!(err.to_string().contains("bob.json"), "{err}");
        assert!(matches!(
            s.verify("bob", "X", 0, HERE),
            Err(TokenRejection::Unavailable(_))
        ));
        assert!(
            s.create("bob", &name("t"), None, None, NONE).is_err(),
            "a damaged file is not silently overwritten"
        );
    }
}
