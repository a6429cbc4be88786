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

/// `session`: a one-time login URL for the user, landing on `goto` when given.
pub(crate) fn session(config_path: &Path, u: &str, goto: Option<&str>) -> Result<ExitCode> {
    let config = load(config_path)?;
    let name = user(u)?;
    if config.users.kind(&name).is_none() {
        bail!("\"{name}\" is not a user in {}", config.file.display());
    }
    if let Some(path) = goto
        && crate::web::login::session_path(path).is_none()
    {
        bail!(
            "--goto {path:?} is not a path inside the session: give one starting with '/', such as /tweak-settings, of letters, digits, '-', '_', '.' and '/'"
        );
    }
    let mut url = request_session(&config, &name)?;
    if let Some(path) = goto {
        url.push_str("&goto_uri=");
        url.extend(form_urlencoded::byte_serialize(path.as_bytes()));
    }
    println!("{url}");
    Ok(ExitCode::SUCCESS)
}

/// A one-time login URL, written into the state directory where the server (running with this config) redeems it.
fn request_session(config: &Config, user: &Username) -> Result<String> {
    let origin = login_origin(config)?;
    let grant = crate::store::sessions::Grant::own(user.clone(), "command line");
    let token = crate::store::sessions::new_security_token();
    let secret =
        crate::store::sessions::create_one_time_in(&config.server.state_dir.join("sessions"), &grant, Some(&token))?;
    Ok(format!("{origin}/{token}/login/?session={secret}"))
}

/// Where a login link made on the command line points: the first plain listener when it is loopback (exempt from
/// `requiressl`: a browser on this machine, or through an SSH tunnel, uses it without a certificate warning); else,
/// while `requiressl` is On, the first HTTPS listener, since a session is refused over plain HTTP from elsewhere (said
/// on standard error when there is none).
pub(super) fn login_origin(config: &Config) -> Result<String> {
    let server = &config.server;
    let plain = server.listen.first();
    if let Some(addr) = plain.filter(|a| a.ip().is_loopback()) {
        return Ok(format!("http://{addr}"));
    }
    if config.tweak_settings.is_on(crate::http::REQUIRESSL) {
        if let Some(tls) = server.tls_listen.first() {
            let host = if tls.ip().is_unspecified() {
                crate::fsx::host_name().unwrap_or_else(|| "localhost".to_owned())
            } else if tls.is_ipv6() {
                format!("[{}]", tls.ip())
            } else {
                tls.ip().to_string()
            };
            return Ok(format!("https://{host}:{}", tls.port()));
        }
        eprintln!(
            "note: requiressl is On and the server has no HTTPS listener ([server] tls_listen): this link works only \
             from this machine"
        );
    }
    let addr = plain.ok_or_else(|| anyhow!("the config has no [server] listen address"))?;
    Ok(format!("http://{addr}"))
}
