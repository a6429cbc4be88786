//! `passwd` and `session`: a user's password in the config, and a one-time login link.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use settings::{Config, Username};

use super::{load, user};

/// `passwd`: the password read from standard input, hashed and written into the config.
pub(crate) fn passwd(config_path: &Path, u: &str) -> Result<ExitCode> {
    let config = load(config_path)?;
    let name = user(u)?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.len() < 8 {
        bail!("the password must be at least 8 characters long");
    }
    let hash = crate::auth::header::hash_password(password).map_err(|e| anyhow!("cannot hash the password: {e}"))?;
    let config = Arc::new(config);
    let this_process = std::sync::Mutex::new(());
    crate::config_write::Writer::lock(&this_process, || Arc::clone(&config))?.set_password_hash(&name, &hash)?;
    println!("password set for {u} in {}", config.file.display());
    Ok(ExitCode::SUCCESS)
}

/// `session`: a one-time login URL for the user.
pub(crate) fn session(config_path: &Path, u: &str) -> Result<ExitCode> {
    let config = load(config_path)?;
    let name = user(u)?;
    if config.users.kind(&name).is_none() {
        bail!("\"{name}\" is not a user in {}", config.file.display());
    }
    let url = request_session(&config, &name)?;
    println!("{url}");
    Ok(ExitCode::SUCCESS)
}

/// A one-time login URL, written into the state directory where the server (running with this config) redeems it.
fn request_session(config: &Config, user: &Username) -> Result<String> {
    let addr = config
        .server
        .listen
        .first()
        .ok_or_else(|| anyhow!("the config has no [server] listen address"))?;
    let grant = crate::store::sessions::Grant::own(user.clone(), "command line");
    let token = crate::store::sessions::new_security_token();
    let secret =
        crate::store::sessions::create_one_time_in(&config.server.state_dir.join("sessions"), &grant, Some(&token))?;
    Ok(format!("http://{addr}/{token}/login/?session={secret}"))
}
