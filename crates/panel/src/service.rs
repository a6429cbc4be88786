//! Running as a service: readiness and state told to systemd (`sd_notify` over `$NOTIFY_SOCKET`), SIGTERM and
//! SIGINT as a graceful stop, SIGHUP as "read the configuration again".

use std::sync::Arc;

use crate::state::Panel;

/// Tells the service manager a state change (`READY=1`, `STOPPING=1`, …); nothing happens outside systemd.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = socket.as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        // An abstract socket: the name after the `@`.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
        }
        None => sock.send_to(state.as_bytes(), &socket),
    };
    if let Err(e) = sent {
        tracing::warn!("cannot notify the service manager ({state}): {e}");
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; the process stops only when killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing the requests in flight, then stopping"),
        _ = int.recv() => tracing::info!("SIGINT: finishing the requests in flight, then stopping"),
    }
    notify("STOPPING=1");
}

/// Reloads the configuration on every SIGHUP (`systemctl reload`), as an edit of the file would.
pub async fn reload_on_sighup(panel: Arc<Panel>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; edits still apply through the file watcher");
        return;
    };
    while hup.recv().await.is_some() {
        notify("RELOADING=1");
        let panel = Arc::clone(&panel);
        let outcome = tokio::task::spawn_blocking(move || panel.reload()).await;
        match outcome {
            Ok(Ok(())) => tracing::info!("SIGHUP: configuration reloaded"),
            Ok(Err(e)) => tracing::error!("SIGHUP: the configuration does not load, the last good one stays: {e}"),
            Err(e) => tracing::error!("SIGHUP: the reload failed: {e}"),
        }
        notify("READY=1");
    }
}
