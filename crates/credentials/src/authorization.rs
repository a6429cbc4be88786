//! Parsing of the `Authorization` header into a user and a secret, without ever panicking or echoing the secret.
//!
//! Spec §5: `WHM user:<key or token>` (scheme case-insensitive, split at the first `:`) and
//! `Basic base64(user:password)`. Which kind of WHM secret it is (key or token) is decided
//! later, by looking it up.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// The longest header value looked at; longer values are refused before anything is copied.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// A parsed credential. `Debug` shows the user and the kind, never the secret.
pub enum Credential {
    /// `Authorization: WHM user:secret` (or `whm`): an access key or an API token.
    Whm {
        /// The user name, not yet validated.
        user: String,
        /// The key (line breaks already absent) or token.
        secret: Secret,
    },
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name, not yet validated.
        user: String,
        /// The password.
        password: Secret,
    },
}

impl Credential {
    /// The user name given.
    pub fn user(&self) -> &str {
        match self {
            Credential::Whm { user, .. } | Credential::Basic { user, .. } => user,
        }
    }

    /// The secret given (key, token or password).
    pub fn secret(&self) -> &Secret {
        match self {
            Credential::Whm { secret, .. } => secret,
            Credential::Basic { password, .. } => password,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Whm { user, secret } => f
                .debug_struct("Whm")
                .field("user", user)
                .field("secret", secret)
                .finish(),
            Credential::Basic { user, password } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", password)
                .finish(),
        }
    }
}

/// Why an `Authorization` header was not understood. Carries no part of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    /// No header at all.
    #[error("no Authorization header")]
    Missing,
    /// A header with nothing (or only spaces) in it.
    #[error("the Authorization header is empty")]
    Empty,
    /// A scheme other than `WHM` or `Basic`.
    #[error("the Authorization scheme is not supported; use WHM or Basic")]
    UnsupportedScheme,
    /// A scheme with nothing after it.
    #[error("the Authorization header has a scheme but no credentials")]
    MissingCredentials,
    /// No `:` between user and secret.
    #[error("the credentials have no ':' between the user name and the secret")]
    MissingColon,
    /// Nothing before the `:`.
    #[error("the credentials have an empty user name")]
    EmptyUser,
    /// Nothing after the `:`.
    #[error("the credentials have an empty secret")]
    EmptySecret,
    /// Over [`MAX_HEADER_LEN`] bytes.
    #[error("the Authorization header is too long ({len} bytes, at most {max})")]
    TooLong {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8 (the header itself or the decoded Basic credentials).
    #[error("the Authorization header is not valid UTF-8")]
    NotUtf8,
    /// CR, LF, NUL, TAB or another control character.
    #[error("the Authorization header contains a control character")]
    ControlCharacter,
    /// Basic credentials that are not base64.
    #[error("the Basic credentials are not valid base64")]
    BadBase64,
}

/// Parses an optional header value; `None` is [`AuthHeaderError::Missing`].
pub fn parse_authorization_header(value: Option<&[u8]>) -> Result<Credential, AuthHeaderError> {
    parse_authorization(value.ok_or(AuthHeaderError::Missing)?)
}

/// Parses an `Authorization` header value.
///
/// The scheme (`WHM` or `Basic`, any case) is followed by one or more spaces and the
/// credentials, which are split at the first `:`; surrounding spaces are ignored. Values over
/// 8 KiB are refused before anything is copied, and any control character (CR, LF, NUL, TAB, …)
/// is refused rather than stripped.
pub fn parse_authorization(value: &[u8]) -> Result<Credential, AuthHeaderError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(AuthHeaderError::TooLong {
            len: value.len(),
            max: MAX_HEADER_LEN,
        });
    }
    check_controls(value)?;
    let text = std::str::from_utf8(value).map_err(|_| AuthHeaderError::NotUtf8)?;
    let text = text.trim_matches(' ');
    if text.is_empty() {
        return Err(AuthHeaderError::Empty);
    }
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim_start_matches(' ');
    if scheme.eq_ignore_ascii_case("whm") {
        let (user, secret) = split_credentials(rest)?;
        Ok(Credential::Whm {
            user: user.to_owned(),
            secret: Secret::from(secret),
        })
    } else if scheme.eq_ignore_ascii_case("basic") {
        if rest.is_empty() {
            return Err(AuthHeaderError::MissingCredentials);
        }
        let decoded = Zeroizing::new(BASE64.decode(rest).map_err(|_| AuthHeaderError::BadBase64)?);
        check_controls(&decoded)?;
        let decoded = std::str::from_utf8(&decoded).map_err(|_| AuthHeaderError::NotUtf8)?;
        let (user, password) = split_credentials(decoded)?;
        Ok(Credential::Basic {
            user: user.to_owned(),
            password: Secret::from(password),
        })
    } else {
        Err(AuthHeaderError::UnsupportedScheme)
    }
}

/// Standard base64, padding optional (some clients leave it off).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn check_controls(bytes: &[u8]) -> Result<(), AuthHeaderError> {
    // Whole chunks without an early exit inside them, so many bytes are checked per instruction.
    let control = |b: u8| b < 0x20 || b == 0x7f;
    if bytes
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |seen, &b| seen | control(b)))
    {
        Err(AuthHeaderError::ControlCharacter)
    } else {
        Ok(())
    }
}

fn split_credentials(text: &str) -> Result<(&str, &str), AuthHeaderError> {
    if text.is_empty() {
        return Err(AuthHeaderError::MissingCredentials);
    }
    let (user, secret) = text.split_once(':').ok_or(AuthHeaderError::MissingColon)?;
    if user.is_empty() {
        return Err(AuthHeaderError::EmptyUser);
    }
    if secret.is_empty() {
        return Err(AuthHeaderError::EmptySecret);
    }
    Ok((user, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthHeaderError as E;

    #[derive(Debug, PartialEq)]
    enum Want {
        Whm(&'static str, &'static str),
        Basic(&'static str, &'static str),
        Err(AuthHeaderError),
    }

    fn check(input: &[u8], want: Want) {
        let got = parse_authorization(input);
        let got = match got {
            Ok(Credential::Whm { user, secret }) => (Some(("whm", user, secret.expose().to_owned())), None),
            Ok(Credential::Basic { user, password }) => (Some(("basic", user, password.expose().to_owned())), None),
            Err(e) => (None, Some(e)),
        };
        let shown = String::from_utf8_lossy(&input[..input.len().min(40)]).into_owned();
        match want {
            Want::Whm(u, s) => assert_eq!(got.0, Some(("whm", u.to_owned(), s.to_owned())), "{shown:?}"),
            Want::Basic(u, s) => assert_eq!(got.0, Some(("basic", u.to_owned(), s.to_owned())), "{shown:?}"),
            Want::Err(e) => assert_eq!(got.1, Some(e), "{shown:?}"),
        }
    }

    #[test]
    fn header_table() {
        use Want::*;
        let cases: Vec<(&[u8], Want)> = vec![
            (b"WHM root:abc", Whm("root", "abc")),
            (b"whm root:abc", Whm("root", "abc")),
            (b"wHm   root:abc  ", Whm("root", "abc")),
            (b"  WHM root:abc", Whm("root", "abc")),
            (b"WHM root:a:b", Whm("root", "a:b")),
            (b"WHM root::", Whm("root", ":")),
            (b"WHM root", Err(E::MissingColon)),
            (b"WHM :key", Err(E::EmptyUser)),
            (b"WHM root:", Err(E::EmptySecret)),
            (b"WHM :", Err(E::EmptyUser)),
            (b"WHM", Err(E::MissingCredentials)),
            (b"WHM    ", Err(E::MissingCredentials)),
            (b"", Err(E::Empty)),
            (b"   ", Err(E::Empty)),
            (b"Bearer x", Err(E::UnsupportedScheme)),
            (b"WHMroot:abc", Err(E::UnsupportedScheme)),
            (b"root:abc", Err(E::UnsupportedScheme)),
            (b"WHM root:ab\r\ncd", Err(E::ControlCharacter)),
            (b"WHM root:ab\ncd", Err(E::ControlCharacter)),
            (b"WHM root:ab\rcd", Err(E::ControlCharacter)),
            (b"WHM root:ab\0cd", Err(E::ControlCharacter)),
            (b"WHM\troot:abc", Err(E::ControlCharacter)),
            (b"WHM root:ab\x7fcd", Err(E::ControlCharacter)),
            (b"WHM root:ab\xff\xfecd", Err(E::NotUtf8)),
            (b"WHM r\xc3\xb6ot:abc", Whm("r\u{f6}ot", "abc")),
            (b"Basic cm9vdDpodW50ZXIy", Basic("root", "hunter2")),
            (b"basic cm9vdDpodW50ZXI6Mg==", Basic("root", "hunter:2")),
            (b"Basic cm9vdDpodW50ZXI6Mg", Basic("root", "hunter:2")),
            (b"Basic cm9vdA==", Err(E::MissingColon)),
            (b"Basic OnB3", Err(E::EmptyUser)),
            (b"Basic cm9vdDo=", Err(E::EmptySecret)),
            (b"Basic !!!notbase64", Err(E::BadBase64)),
            (b"Basic cm9v dDpodW50ZXIy", Err(E::BadBase64)),
            (b"Basic", Err(E::MissingCredentials)),
            (b"Basic cm9vdDr/", Err(E::NotUtf8)),
            (b"Basic cm9vdDphCmI=", Err(E::ControlCharacter)),
        ];
        for (input, want) in cases {
            check(input, want);
        }
    }

    #[test]
    fn sizes() {
        let at_limit = format!("WHM root:{}", "a".repeat(MAX_HEADER_LEN - 9));
        assert_eq!(at_limit.len(), MAX_HEADER_LEN);
        let c = parse_authorization(at_limit.as_bytes()).unwrap();
        assert_eq!(c.secret().expose().len(), MAX_HEADER_LEN - 9);
        let over = format!("{at_limit}a");
        assert_eq!(
            parse_authorization(over.as_bytes()).unwrap_err(),
            E::TooLong {
                len: MAX_HEADER_LEN + 1,
                max: MAX_HEADER_LEN
            }
        );
        let huge = vec![b'a'; 1024 * 1024];
        assert!(matches!(
            parse_authorization(&huge),
            Err(E::TooLong { len: 1_048_576, .. })
        ));
        let mut huge_whm = b"WHM root:".to_vec();
        huge_whm.extend(std::iter::repeat_n(b'\n', 1024 * 1024));
        assert!(matches!(parse_authorization(&huge_whm), Err(E::TooLong { .. })));
        assert_eq!(parse_authorization_header(None).unwrap_err(), E::Missing);
        assert!(parse_authorization_header(Some(b"whm a:b")).is_ok());
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let c = parse_authorization(b"WHM root:s3cr3t-value").unwrap();
        let d = format!("{c:?} {c:#?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("root") && d.contains("[REDACTED]"), "{d}");
        let c = parse_authorization(b"Basic cm9vdDpodW50ZXIy").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        for bad in [
            &b"WHM root:s3cr3t\n"[..],
            b"Bearer s3cr3t",
            b"Basic s3cr3t!",
            b"s3cr3t",
            b"WHM s3cr3t",
        ] {
            let e = parse_authorization(bad).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_authorization(&bytes);
            let mut whm = b"WHM ".to_vec();
            whm.extend_from_slice(&bytes);
            let _ = parse_authorization(&whm);
            let mut basic = b"Basic ".to_vec();
            basic.extend_from_slice(&bytes);
            let _ = parse_authorization(&basic);
        }

        #[test]
        fn whm_round_trip(user in "[a-z][a-z0-9]{0,15}", secret in "[!-~]{1,100}") {
            let header = format!("WHM {user}:{secret}");
            let c = parse_authorization(header.as_bytes()).unwrap();
            proptest::prop_assert_eq!(c.user(), user.as_str());
            proptest::prop_assert_eq!(c.secret().expose(), secret.as_str());
        }
    }
}
