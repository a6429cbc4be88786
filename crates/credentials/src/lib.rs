//! Credentials for Tweakgate: Remote Access Keys (generation, normalisation, signature, the `~/.accesshash` store), API tokens, and `Authorization` header parsing.
//!
//! Secrets live in [`Secret`] or [`AccessKey`], which wipe their memory and never print their
//! value; comparisons are constant-time; error messages name paths but never hold a secret.

pub mod access_key;
pub mod api_token;
pub mod authorization;
pub mod key_cache;
pub mod key_file;
pub mod secret;

pub use access_key::{AccessKey, KeyError, Signature};
pub use api_token::{
    ApiToken, IpAllow, TokenError, TokenMatch, TokenName, TokenNameError, TokenRecord, TokenRejection, TokenStore,
    sha512_hex,
};
pub use authorization::{AuthHeaderError, Credential, MAX_HEADER_LEN, parse_authorization, parse_authorization_header};
pub use fsx::{FaultPoint, FsError, Owner, ReadError, WriteHooks, read_regular, write_atomic, write_atomic_with};
pub use key_cache::KeyFileCache;
pub use key_file::{
    FAULT_ENV, KeyFileError, effective_uid, key_file_path, read_key, read_key_owned_by, write_key, write_key_as,
    write_key_with,
};
pub use secret::Secret;

/// The SHA-512 digest of a presented secret (key or token), computed once per request: tokens are stored as this
/// digest and keys are compared by it, always in constant time.
pub fn secret_digest(secret: &str) -> zeroize::Zeroizing<[u8; 64]> {
    use sha2::Digest;
    zeroize::Zeroizing::new(<[u8; 64]>::from(sha2::Sha512::digest(secret.as_bytes())))
}
