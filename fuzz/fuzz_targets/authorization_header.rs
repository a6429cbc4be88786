//! Fuzzes `credentials::parse_authorization`: any header bytes give a credential or an error, never a panic, and
//! neither the credential's `Debug` nor the error's message shows the secret.

#![no_main]

use credentials::{AuthHeaderError, Credential, MAX_HEADER_LEN, parse_authorization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_authorization(data) {
        Ok(credential) => {
            assert!(data.len() <= MAX_HEADER_LEN, "a value over the limit was accepted");
            let user = credential.user();
            let secret = credential.secret().expose();
            assert!(!user.is_empty() && !secret.is_empty());
            assert!(!user.contains(':'), "the split is at the first colon");
            for text in [user, secret] {
                assert!(
                    !text.bytes().any(|b| b < 0x20 || b == 0x7f),
                    "a control character got through"
                );
            }
            if let Credential::Whm { .. } = credential {
                let text = std::str::from_utf8(data).expect("accepted WHM values are UTF-8");
                assert!(
                    text.contains(user) && text.contains(secret),
                    "WHM credentials come from the value itself"
                );
            }
            // Debug shows the user and the kind, and the secret only as a placeholder.
            let expected = match &credential {
                Credential::Whm { .. } => format!("Whm {{ user: {user:?}, secret: [REDACTED] }}"),
                Credential::Basic { .. } => format!("Basic {{ user: {user:?}, password: [REDACTED] }}"),
            };
            assert_eq!(format!("{credential:?}"), expected);
        }
        Err(e) => {
            // The error carries nothing of the value but its length, so it cannot echo a secret.
            if let AuthHeaderError::TooLong { len, max } = e {
                assert_eq!((len, max), (data.len(), MAX_HEADER_LEN));
            } else {
                assert!(
                    data.len() <= MAX_HEADER_LEN,
                    "a long value must be refused for its length first: {e}"
                );
            }
            assert!(!e.to_string().is_empty());
        }
    }
});
