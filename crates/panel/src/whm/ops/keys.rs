//! Access keys outside a request: the command line's `accesshash generate` and `convert-accesshash-to-token`.
//! Inside a request, keys are the Remote Access Key plugin's, which sees whether the credential has full access.

use credentials::{AccessKey, sha512_hex};
use serde_json::json;
use settings::{UserKind, Username};

use crate::fsx::unix_now;
use crate::state::Panel;

/// Converts users' access keys into full-access API tokens, as `convert_accesshash_to_token` does.
pub fn convert_accesshash_to_token(panel: &Panel, users: &[Username], verbose: bool) -> anyhow::Result<Vec<String>> {
    let snapshot = panel.snapshot();
    if snapshot.config().is_read_only() {
        anyhow::bail!(settings::config::READ_ONLY);
    }
    let mut out = Vec::new();
    for user in users {
        let home = panel.home_of(&snapshot, user);
        let Some(key) = credentials::read_key(&home)? else {
            continue;
        };
        let name = import_converted_key(panel, user, &sha512_hex(key.as_str()))?;
        panel.audit.record("token_converted", json!({"user": user, "token_name": name.to_string(), "signature": key.signature().to_string(), "log": "CREATEAPITOKEN"}))?;
        if verbose {
            out.push(format!("Imported accesshash for “{user}” as “{name}”"));
        }
    }
    Ok(out)
}

/// Stores a converted key as `accesshash-<unix time>`; on a name clash, appends `-` and 8 random `A-Z0-9`
/// characters, up to 25 tries, as cPanel's `convert_accesshash_to_token` does.
fn import_converted_key(panel: &Panel, user: &Username, hash: &str) -> anyhow::Result<credentials::TokenName> {
    let base = format!("accesshash-{}", unix_now());
    let mut name = base.clone();
    for _ in 0..25 {
        match panel.tokens.import_hash(user.as_str(), &name, hash) {
            Err(credentials::TokenError::Duplicate { .. }) => {
                const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                let suffix: String = (0..8)
                    .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                    .collect();
                name = format!("{base}-{suffix}");
            }
            other => return Ok(other?),
        }
    }
    anyhow::bail!("no free token name for {user} after 25 tries, starting from \"{base}\"")
}

/// Generates a new key for `user` outside any request (CLI), audited first so a key never changes unrecorded.
pub fn generate_key(panel: &Panel, user: &Username, actor: &str) -> anyhow::Result<AccessKey> {
    let snapshot = panel.snapshot();
    if snapshot.config().is_read_only() {
        anyhow::bail!(settings::config::READ_ONLY);
    }
    match snapshot.config().users.kind(user) {
        Some(UserKind::Root | UserKind::Reseller) => {}
        Some(UserKind::Account) => anyhow::bail!("User {user} is not a reseller."),
        None => anyhow::bail!("\"{user}\" is not a user on this server"),
    }
    let home = panel.home_of(&snapshot, user);
    let key = AccessKey::generate()?;
    panel
        .audit
        .record(
            "key_generated",
            json!({"user": user, "actor": actor, "signature": key.signature().to_string(), "source": "cli"}),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the key was not changed because the audit log {} could not record it: {e}",
                panel.audit.path().display()
            )
        })?;
    credentials::write_key(&home, &key)?;
    panel.keys.invalidate(&home);
    Ok(key)
}
