//! A string that must never be printed, logged or left behind in memory: tokens, passwords, keys in transit.

use std::fmt;

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string.
///
/// Its memory is wiped when it is dropped, `Debug` and `Display` print `[REDACTED]`, and the
/// only way to see the value is the deliberately named [`Secret::expose`].
/// There is deliberately no `PartialEq`: use [`Secret::ct_eq`].
#[derive(Clone, Default)]
pub struct Secret(WipedString);

/// A string wiped when dropped with `zeroize`'s bulk fill: every byte, then any spare capacity.
/// (`Zeroizing<String>` wipes a `String` one volatile byte write at a time, which for a 960-character access key cost
/// more than generating its text.)
#[derive(Clone, Default)]
pub(crate) struct WipedString(String);

impl From<String> for WipedString {
    fn from(value: String) -> WipedString {
        WipedString(value)
    }
}

impl std::ops::Deref for WipedString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for WipedString {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.as_mut_slice().zeroize();
        bytes.spare_capacity_mut().zeroize();
    }
}

impl Secret {
    /// Wraps `value`; the string is wiped when the secret is dropped.
    pub fn new(value: String) -> Secret {
        Secret(WipedString(value))
    }

    /// The secret itself. Call this only where the value must leave the program (an HTTP answer shown once, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares with `other` in constant time.
    ///
    /// Both sides are hashed with SHA-512 first and the digests compared with `subtle`, so neither
    /// the position of the first difference nor a difference in length shows in the timing
    /// beyond the (public) cost of hashing the candidate.
    pub fn ct_eq(&self, other: &str) -> bool {
        ct_eq_str(self.expose(), other)
    }
}

/// Compares two strings in constant time by comparing their SHA-512 digests.
pub(crate) fn ct_eq_str(a: &str, b: &str) -> bool {
    let da = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(a.as_bytes())));
    let db = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(b.as_bytes())));
    bool::from(da.ct_eq(&*db))
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::from("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    [REDACTED],\n)");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn ct_eq_compares_values() {
        let s = Secret::from("abc");
        assert!(s.ct_eq("abc"));
        assert!(!s.ct_eq("abd"));
        assert!(!s.ct_eq("ab"));
        assert!(!s.ct_eq("abcd"));
        assert!(!s.ct_eq(""));
        assert!(Secret::from("").ct_eq(""));
    }
}
