//! The master's WHM API 1 client for member servers: GETs and form POSTs over HTTP/1.1 (hyper) or HTTPS (rustls),
//! verified by the system's certificate authorities or by the certificate fingerprint pinned when the member was
//! added, with a timeout on each exchange; one connection per member kept open between exchanges.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};

/// How long one exchange with a member may take, connection and TLS handshake included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a member's answer that is read.
const MAX_ANSWER: usize = 1 << 20;

/// Where a member listens: `host[:port]` or a URL; HTTPS on WHM's 2087 unless the name says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// A host name or an address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Reads a member's name: `host`, `host:port`, `[v6]:port`, `https://host[:port][/]`, `http://host[:port][/]`.
    pub fn parse(name: &str) -> Result<Endpoint, String> {
        let name = name.trim();
        let bad = || {
            format!(
                "Invalid server name “{}”: give a host name or address, optionally with :port, or an http(s):// URL.",
                name.escape_debug()
            )
        };
        let (https, rest, default_port) = if let Some(r) = strip_prefix_ci(name, "https://") {
            (true, r, 2087)
        } else if let Some(r) = strip_prefix_ci(name, "http://") {
            (false, r, 2086)
        } else if name.contains("://") {
            return Err(bad());
        } else {
            (true, name, 2087)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) || authority.len() > 300 {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad());
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (h.to_owned(), port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        let host_ok = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                }));
        if !host_ok {
            return Err(bad());
        }
        Ok(Endpoint {
            https,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The canonical form, `https://host:port`, which identifies a member.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}", if self.https { "https" } else { "http" }, self.port)
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

/// A certificate's SHA-256 fingerprint as 32 colon-separated upper-case pairs, as browsers and `openssl` show it.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The same fingerprint whatever its case or separators, for comparison.
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    (hex.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == ' ')).then(|| {
        hex.to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// Why an exchange did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A member's answer: the HTTP status and the body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What the member's certificate is, as seen during one handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub fingerprint: String,
    /// Whether a certificate authority of the system store vouches for it under the member's name.
    pub ca_signed: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

/// The system's certificate authorities (`SSL_CERT_FILE`, else the Debian and Red Hat bundles), read once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            let candidates = std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .into_iter()
                .chain(
                    [
                        "/etc/ssl/certs/ca-certificates.crt",
                        "/etc/pki/tls/certs/ca-bundle.crt",
                        "/etc/ssl/cert.pem",
                    ]
                    .map(std::path::PathBuf::from),
                );
            for path in candidates {
                if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                    let (added, _) = store.add_parsable_certificates(iter.filter_map(Result::ok));
                    if added > 0 {
                        break;
                    }
                }
            }
            Arc::new(store)
        })
        .clone()
}

/// Checks a member's certificate: the pinned fingerprint when there is one (name and issuer then do not matter, as
/// with an SSH host key), else the system's certificate authorities. `seen` records what was presented.
#[derive(Debug)]
struct Verifier {
    pin: Option<String>,
    /// When set, any certificate passes and is only recorded (fetching a fingerprint to show for confirmation).
    record_only: bool,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<Certificate>>,
}

impl Verifier {
    fn new(pin: Option<String>, record_only: bool) -> Verifier {
        let provider = provider();
        let roots = system_roots();
        let webpki = (!roots.is_empty())
            .then(|| {
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .ok()
            })
            .flatten();
        Verifier {
            pin,
            record_only,
            webpki,
            provider,
            seen: Mutex::new(None),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let fp = fingerprint(end_entity.as_ref());
        let ca_signed = self.webpki.as_ref().is_some_and(|v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .is_ok()
        });
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Certificate {
            fingerprint: fp.clone(),
            ca_signed,
        });
        let pinned_ok = self.pin.as_deref().is_some_and(|p| p == fp);
        if self.record_only || pinned_ok || (self.pin.is_none() && ca_signed) {
            Ok(ServerCertVerified::assertion())
        } else if self.pin.is_some() {
            Err(TlsError::General(format!(
                "the certificate's fingerprint {fp} is not the one pinned for this server"
            )))
        } else {
            Err(TlsError::General(
                "the certificate is not signed by a trusted authority and no fingerprint is pinned".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A connected stream, plain or TLS, boxed so one hyper connection type serves both.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// The TLS configuration of one member: its verifier (pin or authorities) and, kept with it, the sessions to resume.
fn tls_config(verifier: Arc<Verifier>) -> Result<Arc<ClientConfig>, TransportError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn connect(endpoint: &Endpoint, tls: Option<&Arc<ClientConfig>>) -> Result<Box<dyn Stream>, TransportError> {
    let tcp = TcpStream::connect(endpoint.authority())
        .await
        .map_err(|e| TransportError(format!("cannot connect to {}: {e}", endpoint.url())))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|_| TransportError(format!("{} is not a valid TLS server name", endpoint.host)))?;
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| TransportError(format!("TLS handshake with {} failed: {e}", endpoint.url())))?;
    Ok(Box::new(tls))
}

/// An open HTTP/1.1 connection: the request side and the task driving it (ended with the connection).
struct Open {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One member's connection, kept open between exchanges (HTTP/1.1 keep-alive) and opened again, transparently, when
/// the member closed it (after an idle time, or with `Connection: close`). An HTTPS member's TLS configuration
/// (its pin or the authorities) is made once, so a new connection resumes the TLS session of the last one.
pub struct Connection {
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    open: Option<Open>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.endpoint.url())
            .field("open", &self.open.is_some())
            .finish()
    }
}

impl Connection {
    /// A connection to `endpoint`, verified by `pin` or the system's authorities; nothing is opened yet.
    pub fn new(endpoint: &Endpoint, pin: Option<&str>) -> Result<Connection, TransportError> {
        let tls = if endpoint.https {
            Some(tls_config(Arc::new(Verifier::new(pin.map(str::to_owned), false)))?)
        } else {
            None
        };
        Ok(Connection {
            endpoint: endpoint.clone(),
            tls,
            open: None,
        })
    }

    /// Closes the connection (the next exchange opens a new one, resuming the TLS session).
    pub fn close(&mut self) {
        self.open = None;
    }

    /// Whether a connection is open (as far as this side knows: the member may have closed it meanwhile).
    pub fn is_open(&self) -> bool {
        self.open.as_ref().is_some_and(|o| !o.sender.is_closed())
    }

    /// One GET of `path` (with its query).
    pub async fn get(&mut self, path: &str, authorization: &str) -> Result<Reply, TransportError> {
        self.send(path, None, authorization).await
    }

    /// One POST of `form` (`application/x-www-form-urlencoded`) to `path`.
    pub async fn post_form(&mut self, path: &str, form: &str, authorization: &str) -> Result<Reply, TransportError> {
        self.send(path, Some(form), authorization).await
    }

    /// One exchange within [`REQUEST_TIMEOUT`]. A connection kept from an earlier exchange that fails (the member
    /// closed it meanwhile) is replaced by a new one and the request sent once more: the WHM API calls sent this way
    /// (`version`, `set_tweaksetting`) give the same result when repeated.
    async fn send(&mut self, path: &str, form: Option<&str>, authorization: &str) -> Result<Reply, TransportError> {
        let url = self.endpoint.url();
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut kept = self.open.as_ref().is_some_and(|o| !o.sender.is_closed());
            loop {
                if !kept {
                    self.open = Some(self.handshake().await?);
                }
                let request = self.request(path, form, authorization)?;
                let Some(open) = self.open.as_mut() else {
                    return Err(TransportError(format!("{url}: no connection")));
                };
                match exchange(open, request, &url).await {
                    Ok(reply) => return Ok(reply),
                    Err(e) => {
                        self.open = None;
                        if !kept {
                            return Err(e);
                        }
                        kept = false;
                    }
                }
            }
        })
        .await;
        answered.unwrap_or_else(|_| {
            self.open = None;
            Err(TransportError(format!(
                "{url} did not answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            )))
        })
    }

    async fn handshake(&self) -> Result<Open, TransportError> {
        let stream = connect(&self.endpoint, self.tls.as_ref()).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError(format!("HTTP: {e}")))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Open { sender, driver })
    }

    fn request(
        &self,
        path: &str,
        form: Option<&str>,
        authorization: &str,
    ) -> Result<hyper::Request<Full<Bytes>>, TransportError> {
        let mut request = hyper::Request::builder()
            .method(if form.is_some() { "POST" } else { "GET" })
            .uri(path)
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(hyper::header::USER_AGENT, "tweakgate-cluster")
            .header(hyper::header::AUTHORIZATION, authorization);
        if let Some(f) = form {
            request = request
                .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(hyper::header::CONTENT_LENGTH, f.len());
        }
        request
            .body(Full::new(Bytes::copy_from_slice(form.unwrap_or_default().as_bytes())))
            .map_err(|e| TransportError(format!("cannot build the request: {e}")))
    }
}

async fn exchange(open: &mut Open, request: hyper::Request<Full<Bytes>>, url: &str) -> Result<Reply, TransportError> {
    open.sender
        .ready()
        .await
        .map_err(|e| TransportError(format!("{url} closed the connection: {e}")))?;
    let response = open
        .sender
        .send_request(request)
        .await
        .map_err(|e| TransportError(format!("{url} did not answer: {e}")))?;
    let status = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| TransportError(format!("reading the answer of {url}: {e}")))?
        .to_bytes()
        .to_vec();
    Ok(Reply { status, body })
}

/// One GET of `path` (with its query) on a member, on a connection of its own, verified by `pin` or the system's
/// authorities.
pub async fn get(
    endpoint: &Endpoint,
    pin: Option<&str>,
    path: &str,
    authorization: &str,
) -> Result<Reply, TransportError> {
    Connection::new(endpoint, pin)?.get(path, authorization).await
}

/// The certificate a member presents, fetched to pin it (or to see that an authority vouches for it).
pub async fn certificate(endpoint: &Endpoint) -> Result<Certificate, TransportError> {
    let verifier = Arc::new(Verifier::new(None, true));
    let config = tls_config(Arc::clone(&verifier))?;
    let fetch = async {
        let _stream = connect(endpoint, Some(&config)).await?;
        Ok::<(), TransportError>(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fetch)
        .await
        .map_err(|_| TransportError(format!("{} did not answer in time", endpoint.url())))??;
    verifier
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| TransportError("the server presented no certificate".into()))
}

/// Runs a client future to its end from synchronous code (the typed operations are synchronous): on a
/// multi-threaded runtime the worker steps aside while it waits, elsewhere a short-lived runtime of its own runs it.
pub fn block_on<T: Send + 'static>(fut: impl std::future::Future<Output = T> + Send + 'static) -> Option<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Some(tokio::task::block_in_place(|| h.block_on(fut)))
        }
        _ => std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
                .map(|rt| rt.block_on(fut))
        })
        .join()
        .ok()
        .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_endpoints() {
        let ok = [
            ("member.example.com", "https://member.example.com:2087"),
            ("Member.Example.com:2443", "https://member.example.com:2443"),
            ("10.0.0.5", "https://10.0.0.5:2087"),
            ("[::1]:8443", "https://[::1]:8443"),
            ("http://127.0.0.1:2086/", "http://127.0.0.1:2086"),
            ("https://127.0.0.1", "https://127.0.0.1:2087"),
            ("HTTP://localhost", "http://localhost:2086"),
        ];
        for (name, url) in ok {
            assert_eq!(Endpoint::parse(name).map(|e| e.url()), Ok(url.to_owned()), "{name}");
        }
        for bad in [
            "",
            "ftp://x",
            "host:0",
            "host:99999",
            "a/b",
            "user@host",
            "http://host/path",
            "-x.com",
            "bad_host",
            "[zz]:1",
            "host:",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_compare_in_any_spelling() {
        let fp = fingerprint(b"certificate");
        assert_eq!(fp.len(), 95);
        assert_eq!(normalise_fingerprint(&fp.to_ascii_lowercase()), Some(fp.clone()));
        assert_eq!(normalise_fingerprint(&fp.replace(':', "")), Some(fp));
        assert_eq!(normalise_fingerprint("AB:CD"), None);
        assert_eq!(normalise_fingerprint(&"G".repeat(64)), None);
    }
}
