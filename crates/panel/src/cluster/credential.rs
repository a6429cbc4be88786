//! A member's credential: an API token or an access key, checked and normalised, never printed.

use super::*;

/// What kind of credential the master presents to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `Authorization: whm user:token`.
    ApiToken,
    /// `Authorization: WHM user:key`, the key's line breaks removed (works only while the member allows keys).
    Accesshash,
}

/// A member's credential, checked and normalised; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberCredential {
    pub(super) kind: CredentialKind,
    pub(super) secret: String,
}

impl std::fmt::Debug for MemberCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemberCredential({:?}, {})", self.kind, self.signature())
    }
}

impl MemberCredential {
    /// An API token (up to 64 letters and digits) or a remote access key (hex, line breaks and WHM's BEGIN/END lines
    /// allowed), told apart by their form as WHM tells them apart by their length.
    pub fn parse(text: &str) -> Result<MemberCredential, String> {
        let compact: String = text.split_whitespace().collect();
        if compact.is_empty() {
            return Err("The API token or remote access key is empty.".into());
        }
        if compact.len() > 64 || text.contains("-----") {
            return credentials::AccessKey::normalise(text)
                .map(|k| MemberCredential {
                    kind: CredentialKind::Accesshash,
                    secret: k.as_str().to_owned(),
                })
                .map_err(|e| format!("The remote access key is not valid: {e}."));
        }
        if compact.len() >= 16 && compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(MemberCredential {
                kind: CredentialKind::ApiToken,
                secret: compact,
            });
        }
        Err("This is neither an API token (letters and digits) nor a remote access key (hexadecimal).".into())
    }

    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// What lists show instead of the credential: a key's Access Key Signature (WHM's), or for a token the first 16
    /// bytes of its SHA-256 digest in the same colon-separated form (a token is too short to show any of it).
    pub fn signature(&self) -> String {
        match self.kind {
            CredentialKind::Accesshash => credentials::Signature::of(&self.secret)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            CredentialKind::ApiToken => Sha256::digest(self.secret.as_bytes())[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        }
    }

    /// The `Authorization` header value for `user`.
    pub(super) fn header(&self, user: &str) -> String {
        match self.kind {
            CredentialKind::ApiToken => format!("whm {user}:{}", self.secret),
            CredentialKind::Accesshash => format!("WHM {user}:{}", self.secret),
        }
    }
}
