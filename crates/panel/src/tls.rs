//! HTTPS (WHM's 2087): the certificate from the config, or a self-signed pair made on first start (key 0600).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate and key are: configured, or `<state>/tls/` (made on first start).
pub fn paths(cert: Option<&Path>, key: Option<&Path>, state_dir: &Path) -> (PathBuf, PathBuf) {
    match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => (state_dir.join("tls/cert.pem"), state_dir.join("tls/key.pem")),
    }
}

/// Loads the certificate and key, creating a self-signed pair for `localhost` when none is configured or stored.
pub fn server_config(cert: Option<&Path>, key: Option<&Path>, state_dir: &Path) -> Result<Arc<ServerConfig>> {
    if cert.is_some() != key.is_some() {
        return Err(anyhow!(
            "[server] needs both tls_cert and tls_key, or neither for a self-signed pair"
        ));
    }
    let (cert_path, key_path) = paths(cert, key, state_dir);
    if cert.is_none() && !(cert_path.exists() && key_path.exists()) {
        crate::fsx::create_private_dir(cert_path.parent().unwrap_or(state_dir))?;
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .context("cannot make a self-signed certificate")?;
        credentials::write_atomic(&key_path, pair.signing_key.serialize_pem().as_bytes(), 0o600)?;
        credentials::write_atomic(&cert_path, pair.cert.pem().as_bytes(), 0o644)?;
        tracing::info!(
            "made a self-signed certificate for localhost in {}",
            cert_path.display()
        );
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("cannot read the certificate {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{} holds no certificate", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow!("cannot read the private key {}: {e}", key_path.display()))?;
    let config = ServerConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the key {} does not match the certificate {}",
                key_path.display(),
                cert_path.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// An HTTPS listener: the socket and the acceptor that runs each handshake. The accept loop (`conn`) counts a
/// connection against the cap from its first byte and gives its handshake [`HANDSHAKE_TIMEOUT`].
pub struct TlsListener {
    pub(crate) listener: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        Ok(TlsListener {
            listener,
            acceptor: TlsAcceptor::from(config),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}
