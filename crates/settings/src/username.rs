//! Validated usernames: after parsing, a user is a `Username`, never a bare string.

use std::fmt;

/// The longest username cPanel accepts.
pub const MAX_LEN: usize = 16;

/// A username that follows cPanel's rules: a lowercase ASCII letter, then lowercase letters and digits, at most 16 characters.
///
/// These rules make a username safe to use as a path component: no `/`, `.`, NUL, whitespace or Unicode look-alikes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

/// Why a string is not a valid username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username must not be empty")]
    Empty,
    #[error("a username is at most {MAX_LEN} characters long")]
    TooLong,
    #[error("a username must start with a lowercase letter")]
    BadFirst,
    #[error("a username may contain only lowercase letters a-z and digits 0-9")]
    BadChar,
}

impl Username {
    /// Validates `name` against cPanel's username rules.
    pub fn new(name: &str) -> Result<Self, UsernameError> {
        Username::check(name)?;
        Ok(Username(name.to_owned()))
    }

    /// Whether `name` follows cPanel's username rules, without making a `Username` of it.
    pub fn check(name: &str) -> Result<(), UsernameError> {
        let first = name.chars().next().ok_or(UsernameError::Empty)?;
        if name.len() > MAX_LEN || name.chars().count() > MAX_LEN {
            return Err(UsernameError::TooLong);
        }
        if !first.is_ascii_lowercase() {
            return Err(UsernameError::BadFirst);
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(UsernameError::BadChar);
        }
        Ok(())
    }

    /// The superuser.
    pub fn root() -> Self {
        Username("root".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "root"
    }
}

impl std::str::FromStr for Username {
    type Err = UsernameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Username::new(s)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Lets maps keyed by `Username` be searched with a `&str` without building one; the hash and order of a
/// `Username` are those of its text, as `Borrow` requires.
impl std::borrow::Borrow<str> for Username {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Username {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Username::new(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid username \"{}\": {e}", s.escape_debug())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cpanel_usernames() {
        for ok in ["root", "bob", "a", "reseller01", "abcdefghijklmnop"] {
            assert!(Username::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_and_lookalikes() {
        let cases: &[(&str, UsernameError)] = &[
            ("", UsernameError::Empty),
            ("../root", UsernameError::BadFirst),
            (".", UsernameError::BadFirst),
            ("/x", UsernameError::BadFirst),
            ("~root", UsernameError::BadFirst),
            ("ro\0ot", UsernameError::BadChar),
            ("r%2e%2e", UsernameError::BadChar),
            ("bob/../root", UsernameError::BadChar),
            ("Bob", UsernameError::BadFirst),
            ("rооt", UsernameError::BadChar), // Cyrillic o
            ("abcdefghijklmnopq", UsernameError::TooLong),
            ("1abc", UsernameError::BadFirst),
            ("bob smith", UsernameError::BadChar),
        ];
        for (input, want) in cases {
            assert_eq!(Username::new(input).unwrap_err(), *want, "{input:?}");
        }
    }
}
