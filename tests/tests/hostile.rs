//! Honest clients keep being served under hostile ones: idle and slow connections, floods of connections, and
//! guessing that must not lock out anyone else's credentials.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use panel::conn::Limits;
use tests::{TestServer, request};

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
state_dir = "state"

[tweak_settings]
allow_deprecated_accesshash = true

[resellers.bob]
privileges = ["manage-api-tokens", "list-accts", "create-user-session"]

[accounts.dave]
owner = "bob"

[[plugins]]
path = "{plugin}"
"#;

fn limits(header: u64, idle: u64, cap: usize) -> Limits {
    Limits {
        max_connections: cap,
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        handshake_timeout: Duration::from_millis(header),
        ..Limits::default()
    }
}

/// Reads until the server closes the connection (or `limit` passes); returns what was read and when it closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (got, Some(start.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (got, Some(start.elapsed())),
        }
    }
    (got, None)
}

/// True while the server keeps the connection open.
fn is_open(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let open = matches!(stream.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let server = TestServer::start_with_limits(CONFIG, limits(10_000, 300, 200));
    // A silent connection.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    let closed = closed.expect("the server closes a silent connection");
    assert!(closed >= Duration::from_millis(250), "closed too early: {closed:?}");
    // A keep-alive connection after its answer.
    let mut kept = TcpStream::connect(server.addr).unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (answer, closed) = read_until_closed(&mut kept, Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{answer:?}"
    );
    assert!(closed.is_some(), "the idle keep-alive connection is closed");
}

#[test]
fn a_slow_request_head_is_cut() {
    let server = TestServer::start_with_limits(CONFIG, limits(400, 10_000, 200));
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut cut = None;
    while start.elapsed() < Duration::from_secs(5) {
        // One header line every 100 ms: never idle, never finished.
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            cut = Some(start.elapsed());
            break;
        }
        let (got, closed) = read_until_closed(&mut slow, Duration::from_millis(100));
        assert!(got.is_empty(), "no answer to an unfinished head");
        if closed.is_some() {
            cut = Some(start.elapsed());
            break;
        }
    }
    let cut = cut.expect("the slow head is cut");
    assert!(cut < Duration::from_secs(3), "cut after {cut:?}");
    assert_eq!(request(server.addr, "GET", "/health", &[], "").status, 200);
}

#[test]
fn the_connection_cap_holds_and_honest_requests_get_through() {
    const CAP: usize = 8;
    let server = TestServer::start_with_limits(CONFIG, limits(30_000, 30_000, CAP));
    let hostile: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..20 {
        let r = request(server.addr, "GET", "/health", &[], "");
        assert_eq!(
            r.status,
            200,
            "honest request {i} under {} idle connections",
            hostile.len()
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let open = hostile.iter().filter(|s| is_open(s)).count();
    assert!(open <= CAP, "{open} idle connections still open over a cap of {CAP}");
}

/// A TLS client that trusts whatever certificate the server shows (the test only cares about the connection).
fn tls_get(addr: SocketAddr, cert: &std::path::Path) -> String {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn the_tls_listener_has_the_same_timeouts_and_cap() {
    const CAP: usize = 4;
    let server = TestServer::start(CONFIG);
    let state = server.dir.path().join("state");
    let config = panel::tls::server_config(None, None, &state).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let panel = std::sync::Arc::clone(&server.panel);
    let tls = runtime.block_on(async { panel::tls::TlsListener::new(listener, config).unwrap() });
    runtime.spawn(panel::http::serve_with(
        panel,
        Vec::new(),
        vec![tls],
        limits(400, 400, CAP),
    ));

    // A client that never starts its handshake is cut.
    let mut silent = TcpStream::connect(addr).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(closed.is_some(), "a silent TLS client is cut");

    // More silent clients than the cap: an honest HTTPS request still gets through.
    let hostile: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let answer = tls_get(addr, &state.join("tls/cert.pem"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let open = hostile.iter().filter(|s| is_open(s)).count();
    assert!(open <= CAP, "{open} silent TLS connections open over a cap of {CAP}");
}
