//! `serve`: the panel on its listeners until SIGTERM or SIGINT, with logging set up first.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use settings::Username;

use super::LogFormat;
use crate::state::Panel;

/// Logs go to standard error, coloured only on a terminal; `RUST_LOG` sets the level (default `info`).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

pub(crate) fn serve(config_path: &Path, log_format: LogFormat) -> Result<ExitCode> {
    init_logging(log_format);
    let panel = Panel::open(config_path)?;
    panel.spawn_watcher(Duration::from_millis(50));
    let snapshot = panel.snapshot();
    let server = snapshot.config().server.clone();
    let addrs = server.listen.clone();
    let tls_config = if server.tls_listen.is_empty() {
        None
    } else {
        Some(crate::tls::server_config(
            server.tls_cert.as_deref(),
            server.tls_key.as_deref(),
            &server.state_dir,
        )?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &addrs {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            listeners.push(l);
        }
        let mut tls = Vec::new();
        if let Some(config) = tls_config {
            for addr in &server.tls_listen {
                let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
                tls.push(crate::tls::TlsListener::new(l, config.clone())?);
                println!("Tweakgate is serving HTTPS on https://{addr}/");
            }
        }
        for addr in &addrs {
            println!("Tweakgate is serving WHM API 1 and the panel on http://{addr}/");
        }
        // A login link is a credential: it goes to a terminal only, never into a log that stdout was sent to.
        if let Some(addr) = addrs.first() {
            if std::io::stdout().is_terminal() {
                let grant = crate::store::sessions::Grant::own(Username::root(), "command line");
                let (token, secret) = crate::whm::ops::sessions::start_one_time(&panel, &grant);
                println!("Log in as root with this one-time link (valid 5 minutes): http://{addr}/{token}/login/?session={secret}");
                println!("For another link later: tweakgate session --user root --config {}", config_path.display());
            } else {
                println!("For a login link: tweakgate session --user root --config {}", config_path.display());
            }
        }
        for r in panel.plugins().host.reports() {
            println!("plugin {r}");
        }
        tokio::spawn(crate::service::reload_on_sighup(Arc::clone(&panel)));
        panel.cluster.start(tokio::runtime::Handle::current(), &panel.snapshot().config().tweak_settings);
        crate::service::notify("READY=1");
        crate::http::serve_until(panel, listeners, tls, crate::service::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
