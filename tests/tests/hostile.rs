//! Honest clients keep being served under hostile ones: idle and slow connections, floods of connections, and
//! guessing that must not lock out anyone else's credentials.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use panel::conn::Limits;
use tests::{Cast, TestPanel, request, wait_until};

/// The cast with the Remote Access Key plugin alone.
fn cast() -> Cast {
    Cast::standard().without_plugins().plugin("remote-access-key", "")
}

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
    let server = TestPanel::serve_with(&cast(), limits(10_000, 300, 200));
    // A silent connection.
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    let closed = closed.expect("the server closes a silent connection");
    assert!(closed >= Duration::from_millis(250), "closed too early: {closed:?}");
    // A keep-alive connection after its answer.
    let mut kept = TcpStream::connect(server.addr()).unwrap();
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
    let server = TestPanel::serve_with(&cast(), limits(400, 10_000, 200));
    let mut slow = TcpStream::connect(server.addr()).unwrap();
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
    assert_eq!(request(server.addr(), "GET", "/health", &[], "").status, 200);
}

#[test]
fn the_connection_cap_holds_and_honest_requests_get_through() {
    const CAP: usize = 8;
    let server = TestPanel::serve_with(&cast(), limits(30_000, 30_000, CAP));
    let hostile: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(server.addr()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..20 {
        let r = request(server.addr(), "GET", "/health", &[], "");
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

/// The status of a `/health` on a fresh connection, or 0 when the server closed it without an answer.
fn health_status(addr: SocketAddr) -> u16 {
    request(addr, "GET", "/health", &[], "").status
}

#[test]
fn the_cap_follows_maxcpsrvdconnections_live_and_refuses_with_503_when_every_connection_is_busy() {
    let server = TestPanel::serve(&cast().setting("maxcpsrvdconnections", "200"));
    let config = server.config_text();
    // WHM's smallest cap, every connection serving an authenticated request whose body has arrived: 200 writers of
    // the config, each waiting for the config lock that this test holds as another process would. None can be closed
    // to make room, so a newcomer is told so.
    let lock = hold_config_lock(&server.dir.path().join("state"));
    let root = server.as_("root");
    let token = root.secret();
    let mut busy: Vec<TcpStream> = (0..200).map(|_| busy_writer(server.addr(), token)).collect();
    // 200 connections made busy take a while on a loaded machine: the deadline is generous, the refusal prompt. A
    // writer that came while the cap was still taken by a connection being closed to make room was refused; it is
    // replaced, so that the cap is reached with 200 busy writers.
    let refused = wait_until(Duration::from_secs(30), || {
        busy.retain(still_waiting);
        while busy.len() < 200 {
            busy.push(busy_writer(server.addr(), token));
        }
        health_status(server.addr()) == 503
    });
    assert!(
        refused.is_some(),
        "a connection over a cap of 200 busy ones was not refused"
    );
    let reply = request(server.addr(), "GET", "/health", &[], "");
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    // Raising the cap in the config applies without a restart.
    let generation = server.generation();
    server.rewrite_config(&config.replace("maxcpsrvdconnections = 200", "maxcpsrvdconnections = 202"));
    assert!(wait_until(Duration::from_secs(5), || server.generation() > generation).is_some());
    assert_eq!(health_status(server.addr()), 200, "the raised cap leaves room");
    // Lowered again: with the busy connections still open, the next one is refused again.
    let generation = server.generation();
    server.rewrite_config(&config);
    assert!(wait_until(Duration::from_secs(5), || server.generation() > generation).is_some());
    assert_eq!(health_status(server.addr()), 503, "the lowered cap applies at once");
    drop(lock);
    drop(busy);
    // Once the busy clients leave, honest requests get through.
    assert!(wait_until(Duration::from_secs(10), || health_status(server.addr()) == 200).is_some());
}

/// The config lock, held as another process holds it (its own open file description).
fn hold_config_lock(state: &std::path::Path) -> std::fs::File {
    std::fs::create_dir_all(state).unwrap();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("config.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

/// A connection whose request is complete, authenticated and waiting for the config lock: really busy.
fn busy_writer(addr: SocketAddr, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = "api.version=1&key=skipboxtrapper&value=1";
    stream
        .write_all(
            format!(
                "POST /json-api/set_tweaksetting HTTP/1.1\r\nHost: x\r\nAuthorization: whm root:{token}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream
}

/// Whether a connection is still open with nothing answered on it (its request still waits).
fn still_waiting(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let waiting = matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    waiting
}

/// A request head with a body that never finishes: two bytes of the 100,000 it announces.
fn slow_body(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nap")
        .unwrap();
    stream
}

/// The outage: connections that send a head and then withhold their body held every slot (each counted as a request
/// in flight), so every honest request, root's key included, got 503 for as long as the attacker liked. A request
/// now counts as busy only once its body has arrived, so the slow ones are closed to make room.
#[test]
fn requests_whose_bodies_never_finish_do_not_lock_out_honest_ones() {
    const CAP: usize = 20;
    let p = tests::TestPanel::serve_with(
        &tests::Cast::standard(),
        Limits {
            max_connections: CAP,
            ..Limits::default()
        },
    );
    let root = p.as_("root").with_key();
    let mut attack: Vec<TcpStream> = (0..2 * CAP).map(|_| slow_body(p.addr())).collect();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..CAP {
        let reply = root.api("version", "");
        assert_eq!(
            reply.status,
            200,
            "honest request {i} under {} slow bodies: {}",
            attack.len(),
            reply.body
        );
        // The attacker comes straight back.
        attack.push(slow_body(p.addr()));
    }
    let open = attack.iter().filter(|s| is_open(s)).count();
    assert!(open <= CAP, "{open} slow bodies open over a cap of {CAP}");
}

/// An answer larger than the socket buffers, read by a client that keeps reading, only slowly, is written whole,
/// however long after its request it ends: the idle and head deadlines count from the answer's last bytes written,
/// not from the moment it was ready (12 MiB read at about 6 MiB/s came out cut at a 300 ms idle timeout). A client
/// that stops reading is still closed once nothing could be written to it for that long. (The idle timeout here is
/// 1 s, so that a busy machine's pause in the reading client is not taken for a client that stopped.)
#[test]
fn a_large_answer_read_slowly_is_written_whole_and_a_reader_that_stops_is_closed() {
    const BYTES: usize = 12 << 20;
    let server = TestPanel::serve_with(&Cast::standard(), limits(10_000, 1000, 300));
    let token = server.as_("root").secret().to_owned();
    let ask = || {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .write_all(
                format!(
                    "GET /json-api/hello?api.version=1&bytes={BYTES} HTTP/1.1\r\nHost: x\r\n\
                     Authorization: whm root:{token}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    };
    // Reads the answer, `pause` after each read of at most 64 KiB: (announced length, body bytes received).
    let read = |mut stream: TcpStream, pause: Duration| -> (usize, usize) {
        let mut head = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut body = 0;
        let mut length = None;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match length {
                Some(_) => body += n,
                None => {
                    head.extend_from_slice(&buf[..n]);
                    if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&head[..end]).to_lowercase();
                        assert!(text.starts_with("http/1.1 200"), "{text}");
                        length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok());
                        body = head.len() - end - 4;
                    }
                }
            }
            if length.is_some_and(|l| body >= l) {
                break;
            }
            std::thread::sleep(pause);
        }
        (length.expect("an answer with its length"), body)
    };
    let started = Instant::now();
    // At most 3.2 MiB/s: the server waits seconds for this reader after the answer is ready.
    let (length, body) = read(ask(), Duration::from_millis(20));
    assert!(length > BYTES, "the filler and its envelope: {length}");
    assert_eq!(body, length, "the whole answer, read in {:?}", started.elapsed());

    let stopped = ask();
    std::thread::sleep(Duration::from_secs(3));
    let (length, body) = read(stopped, Duration::ZERO);
    assert!(
        body < length,
        "a reader that stopped for 3 s was closed: {body} of {length} bytes"
    );
}

/// A body must arrive within the body-read timeout: a client that trickles one byte every 100 ms (never idle) is
/// answered and cut at the deadline.
#[test]
fn a_slow_request_body_is_cut_at_the_deadline() {
    let p = tests::TestPanel::serve_with(
        &tests::Cast::standard(),
        Limits {
            body_read_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
    );
    let mut slow = slow_body(p.addr());
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut closed = None;
    while start.elapsed() < Duration::from_secs(5) && closed.is_none() {
        if slow.write_all(b"i").is_err() {
            closed = Some(start.elapsed());
            break;
        }
        let (got, end) = read_until_closed(&mut slow, Duration::from_millis(100));
        answer.extend(got);
        closed = end;
    }
    let closed = closed.expect("the slow body is cut");
    assert!(closed < Duration::from_secs(3), "cut after {closed:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "answered before the cut: {answer:?}");
}

/// Password guesses for made-up users each waited up to 10 s for an argon2 slot, counted in flight all the while:
/// 200 of them held the server. A guess that cannot get a slot at once is now answered 503 with `Retry-After`, and
/// honest key requests keep flowing.
#[test]
fn a_password_flood_is_answered_at_once_not_parked() {
    let p = tests::TestPanel::serve(&tests::Cast::standard());
    let root = p.as_("root").with_key();
    let addr = p.addr();
    let (guesses, honest) = std::thread::scope(|s| {
        let flood: Vec<_> = (0..100)
            .map(|t| {
                s.spawn(move || {
                    let basic = tests::basic_auth(&format!("madeup{t}"), "guess");
                    let start = Instant::now();
                    let r = request(
                        addr,
                        "GET",
                        "/json-api/version?api.version=1",
                        &[("Authorization", &basic)],
                        "",
                    );
                    (r.status, r.header("retry-after").map(str::to_owned), start.elapsed())
                })
            })
            .collect();
        let honest: Vec<u16> = (0..10).map(|_| root.api("version", "").status).collect();
        (flood.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>(), honest)
    });
    assert!(honest.iter().all(|s| *s == 200), "honest key requests: {honest:?}");
    assert!(guesses.iter().all(|(s, _, _)| *s == 401 || *s == 503), "{guesses:?}");
    let busy: Vec<_> = guesses.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(
        !busy.is_empty(),
        "100 guesses at once found a free slot every time: {guesses:?}"
    );
    assert!(
        busy.iter().all(|(_, retry, _)| retry.as_deref() == Some("1")),
        "{busy:?}"
    );
    let slowest = guesses.iter().map(|(_, _, t)| *t).max().unwrap();
    assert!(slowest < Duration::from_secs(5), "a guess was parked for {slowest:?}");
}

#[test]
fn the_tls_listener_has_the_same_timeouts_and_cap() {
    const CAP: usize = 4;
    let server = TestPanel::serve_tls(&cast(), Some(limits(400, 400, CAP)));
    let addr = server.tls_addr();
    let state = server.state_dir();

    // A client that never starts its handshake is cut.
    let mut silent = TcpStream::connect(addr).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(closed.is_some(), "a silent TLS client is cut");

    // More silent clients than the cap: an honest HTTPS request still gets through.
    let hostile: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let answer = tests::https_get(addr, &state.join("tls/cert.pem"), "/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let open = hostile.iter().filter(|s| is_open(s)).count();
    assert!(open <= CAP, "{open} silent TLS connections open over a cap of {CAP}");
}

const ROOT_PASSWORD: &str = "root's long password";

/// The cast with a failure limit of 5, root's password, and dave (a cPanel account) holding the same password.
fn limited() -> Cast {
    cast()
        .server("auth_failure_limit = 5")
        .root_password(ROOT_PASSWORD)
        .account_password("dave", ROOT_PASSWORD)
}

fn limited_server() -> TestPanel {
    TestPanel::serve(&limited())
}

fn whm(user: &str, secret: &str) -> String {
    format!("WHM {user}:{secret}")
}

#[test]
fn a_made_up_users_failures_do_not_block_roots_key_token_or_password() {
    let server = limited_server();
    let key = server.access_key("root");
    let token = server.as_("root");
    let wrong: Vec<u16> = (0..10)
        .map(|_| server.presenting(&whm("madeup", "wrong")).api("version", "").status)
        .collect();
    assert_eq!(&wrong[..5], &[401; 5], "{wrong:?}");
    assert!(wrong[5..].iter().all(|s| *s == 429), "{wrong:?}");
    let passwords: Vec<u16> = (0..10)
        .map(|_| {
            server
                .presenting(&tests::basic_auth("madeup", "guess"))
                .api("version", "")
                .status
        })
        .collect();
    assert_eq!(&passwords[..5], &[401; 5], "{passwords:?}");
    assert!(passwords[5..].iter().all(|s| *s == 429), "{passwords:?}");
    assert_eq!(
        server.presenting(&whm("root", key.as_str())).api("version", "").status,
        200,
        "root's key"
    );
    assert_eq!(token.api("version", "").status, 200, "root's token");
    let r = server
        .presenting(&tests::basic_auth("root", ROOT_PASSWORD))
        .api("version", "");
    assert_eq!(r.status, 200, "root's password: {}", r.body);
}

#[test]
fn a_correct_key_of_a_disabled_kind_is_refused_but_not_counted() {
    let server = limited_server();
    let key = server.access_key("bob");
    let off = std::fs::read_to_string(server.config_path()).unwrap().replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    );
    server.rewrite_config(&off);
    wait_until(Duration::from_secs(5), || {
        server.presenting(&whm("bob", key.as_str())).api("version", "").status == 401
    });
    let statuses: Vec<u16> = (0..12)
        .map(|_| server.presenting(&whm("bob", key.as_str())).api("version", "").status)
        .collect();
    assert_eq!(statuses, vec![401; 12], "the same 401, never a 429");
    let r = server.presenting(&whm("bob", "wrong")).api("version", "");
    assert_eq!(r.status, 401, "none of those counted as a guess");
    let log = std::fs::read_to_string(server.dir.path().join("state/audit.log")).unwrap();
    assert!(log.contains("allow_deprecated_accesshash is Off"), "still audited");
    assert!(
        log.lines()
            .any(|l| l.contains(r#""event":"auth_failed""#) && l.contains(r#""source":"127.0.0.1""#)),
        "a refusal names its source address: {log}"
    );
    // A cPanel account's right password at WHM: refused the same way, not counted.
    let statuses: Vec<u16> = (0..7)
        .map(|_| {
            server
                .presenting(&tests::basic_auth("dave", ROOT_PASSWORD))
                .api("version", "")
                .status
        })
        .collect();
    assert_eq!(statuses, vec![401; 7]);
}

#[test]
fn wrong_root_passwords_from_200_loopback_addresses_get_throttled() {
    let server = limited_server();
    let key = server.access_key("root");
    let path = "/json-api/version?api.version=1";
    let statuses: Vec<u16> = (0..200u8)
        .map(|i| {
            let from = std::net::IpAddr::from([127, 0, 1, i]);
            tests::get_from(from, server.addr(), path, &tests::basic_auth("root", "guess")).status
        })
        .collect();
    assert_eq!(&statuses[..5], &[401; 5], "loopback is one source");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let from = std::net::IpAddr::from([127, 0, 2, 1]);
    let r = tests::get_from(from, server.addr(), path, &whm("root", key.as_str()));
    assert_eq!(r.status, 200, "root's key is not refused for the guesses");
}

/// argon2 runs on blocking threads behind a few slots: a flood of password guesses (each a real check, for distinct
/// made-up users) leaves the request workers free, so key requests keep their latency.
#[test]
fn a_flood_of_password_guesses_does_not_slow_key_requests() {
    let server = limited_server();
    let key = server.access_key("root");
    let auth = whm("root", key.as_str());
    // One argon2 check here, as the yardstick.
    let start = Instant::now();
    assert!(!panel::auth::header::check_password(
        panel::auth::header::DECOY_HASH,
        "guess"
    ));
    let argon2 = start.elapsed();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (latencies, guesses) = std::thread::scope(|s| {
        let flood: Vec<_> = (0..8)
            .map(|t| {
                let server = &server;
                s.spawn(move || {
                    (0..3)
                        .map(|i| {
                            let basic = tests::basic_auth(&format!("guess{t}x{i}"), "guess");
                            server.presenting(&basic).api("version", "").status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        let honest = s.spawn(|| {
            let mut latencies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                assert_eq!(server.presenting(&auth).api("version", "").status, 200);
                latencies.push(start.elapsed());
            }
            latencies
        });
        let guesses: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (honest.join().unwrap(), guesses)
    });
    // A guess that found every password slot busy is answered 503 at once rather than parked.
    assert!(guesses.iter().all(|s| *s == 401 || *s == 503), "{guesses:?}");
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let p99 = sorted[sorted.len() * 99 / 100];
    eprintln!(
        "24 password guesses (one argon2 check {argon2:?}): {} key requests meanwhile, median {median:?}, p99 {p99:?}, worst {:?}",
        sorted.len(),
        sorted.last().unwrap()
    );
    assert!(sorted.len() >= 5, "key requests kept flowing: {}", sorted.len());
    // With argon2 on the request workers, key requests queue behind it: p99 reaches a whole check or more.
    assert!(
        p99 < argon2,
        "p99 key request {p99:?} against one argon2 check {argon2:?}"
    );
}

/// The login form's nonce: (cookie pair, form value) from `GET /login/`.
fn login_nonce(addr: SocketAddr) -> (String, String) {
    let form = request(addr, "GET", "/login/", &[], "");
    let cookie = form.header("set-cookie").expect("a login cookie").to_owned();
    assert!(
        cookie.starts_with("whostmgrlogin=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let nonce = form
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .expect("a nonce in the form");
    (pair, nonce.split('"').next().unwrap().to_owned())
}

fn cookie_pair(reply: &tests::Reply, name: &str) -> Option<String> {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

#[test]
fn the_login_form_refuses_cross_site_posts_without_its_nonce_and_cpanel_accounts() {
    let server = limited_server();
    let body = format!(
        "user=root&pass={}",
        ROOT_PASSWORD.replace(' ', "+").replace('\'', "%27")
    );
    // A browser's cross-site post without the nonce is login CSRF; a script's post (no such marks) is served below.
    let r = request(
        server.addr(),
        "POST",
        "/login/",
        &[("Origin", "https://elsewhere.example")],
        &body,
    );
    assert_eq!(r.status, 403, "a cross-site post without nonce, no login");
    assert!(cookie_pair(&r, "whostmgrsession").is_none());
    let (cookie, nonce) = login_nonce(server.addr());
    let r = request(
        server.addr(),
        "POST",
        "/login/",
        &[("Cookie", &cookie)],
        &format!("csrf_token=forged&{body}"),
    );
    assert_eq!(r.status, 403, "a forged nonce");
    let r = request(server.addr(), "POST", "/login/", &[], &body);
    assert_eq!(r.status, 303, "a script's post without nonce: {}", r.body);
    assert!(cookie_pair(&r, "whostmgrsession").is_some());
    let r = request(
        server.addr(),
        "POST",
        "/login/",
        &[("Cookie", &cookie)],
        &format!("csrf_token={nonce}&{body}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(cookie_pair(&r, "whostmgrsession").is_some());
    let session_cookie = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("whostmgrsession="))
        .unwrap()
        .1
        .clone();
    assert!(!session_cookie.contains("Secure"), "plain HTTP: {session_cookie}");
    // dave is a cPanel account with the right password: refused at WHM, as any wrong login is.
    let (cookie, nonce) = login_nonce(server.addr());
    let dave = body.replace("user=root", "user=dave");
    let r = request(
        server.addr(),
        "POST",
        "/login/",
        &[("Cookie", &cookie)],
        &format!("csrf_token={nonce}&{dave}"),
    );
    assert_eq!(r.status, 401);
    assert!(cookie_pair(&r, "whostmgrsession").is_none());
}

#[test]
fn logout_is_a_post_with_a_nonce_and_clears_the_cookie() {
    let server = limited_server();
    let (cookie, nonce) = login_nonce(server.addr());
    let body = format!(
        "csrf_token={nonce}&user=root&pass={}",
        ROOT_PASSWORD.replace(' ', "+").replace('\'', "%27")
    );
    let r = request(server.addr(), "POST", "/login/", &[("Cookie", &cookie)], &body);
    assert_eq!(r.status, 303, "{}", r.body);
    let session = cookie_pair(&r, "whostmgrsession").unwrap();
    let home = r.header("location").unwrap().to_owned();
    let prefix = home.trim_end_matches('/').to_owned();
    let page = request(server.addr(), "GET", &home, &[("Cookie", &session)], "");
    assert_eq!(page.status, 200);
    let form = format!("form class=\"logout\" method=\"post\" action=\"{prefix}/logout\"");
    assert!(page.body.contains(&form), "{}", page.body);
    let nonce = page.body.split(&form).nth(1).unwrap();
    let nonce = nonce
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let logout = format!("{prefix}/logout");
    assert_eq!(
        request(server.addr(), "GET", &logout, &[("Cookie", &session)], "").status,
        405,
        "a link cannot log anyone out"
    );
    assert_eq!(
        request(server.addr(), "POST", &logout, &[("Cookie", &session)], "").status,
        403,
        "nor a form without the nonce"
    );
    let r = request(
        server.addr(),
        "POST",
        &logout,
        &[("Cookie", &session)],
        &format!("csrf_token={nonce}"),
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login/"));
    let cleared = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("whostmgrsession="))
        .expect("the cookie is cleared")
        .1
        .clone();
    assert!(cleared.contains("Max-Age=0") || cleared.contains("1970"), "{cleared}");
    let after = request(server.addr(), "GET", &home, &[("Cookie", &session)], "");
    assert_eq!(after.status, 303, "the session is over");
}

#[test]
fn cookies_are_secure_over_https() {
    let server = TestPanel::serve_tls(&limited(), None);
    let addr = server.tls_addr();
    let cert = server.cert_path();

    let form = tests::https_get(addr, &cert, "/login/");
    let login_cookie = form
        .lines()
        .find(|l| l.starts_with("set-cookie: whostmgrlogin="))
        .unwrap();
    assert!(login_cookie.contains("Secure"), "{login_cookie}");
    let secret = server.login_secret("root");
    let landing = tests::https_get(addr, &cert, &format!("/cpsess0123456789/login/?session={secret}"));
    assert!(landing.starts_with("HTTP/1.1 303"), "{landing}");
    let session_cookie = landing
        .lines()
        .find(|l| l.starts_with("set-cookie: whostmgrsession="))
        .unwrap();
    assert!(
        session_cookie.contains("Secure") && session_cookie.contains("HttpOnly"),
        "{session_cookie}"
    );
}

#[test]
fn health_tells_anonymous_callers_only_ok_or_degraded() {
    let server = limited_server();
    let anonymous = request(server.addr(), "GET", "/health", &[], "").json();
    assert_eq!(anonymous, serde_json::json!({"status": "ok"}));
    let bob = server.access_key("bob");
    let as_bob = request(
        server.addr(),
        "GET",
        "/health",
        &[("Authorization", &whm("bob", bob.as_str()))],
        "",
    )
    .json();
    assert_eq!(as_bob, serde_json::json!({"status": "ok"}), "details are root's only");
    let as_root = server.health_as_root();
    assert_eq!(as_root["status"], "ok");
    assert!(
        as_root["config"]["file"].as_str().unwrap().ends_with("tweakgate.toml"),
        "{as_root}"
    );
    assert!(as_root["plugins"].is_array(), "{as_root}");
    // Degraded says so, and nothing more.
    std::fs::write(server.config_path(), "[tweak_settings\n").unwrap();
    let seen = wait_until(Duration::from_secs(3), || {
        request(server.addr(), "GET", "/health", &[], "").json()["status"] == "degraded"
    });
    assert!(seen.is_some());
    assert_eq!(
        request(server.addr(), "GET", "/health", &[], "").json(),
        serde_json::json!({"status": "degraded"})
    );
}

/// `tweakgate serve` with its output sent to a file or pipe prints no login link (a credential) and makes none.
#[test]
fn the_start_banner_prints_no_login_link_when_stdout_is_not_a_terminal() {
    use std::io::BufRead;
    let bin = tests::tweakgate_bin();
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("tweakgate.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = [\"{addr}\"]\nstate_dir = \"state\"\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let last = line.starts_with("For a login link");
        lines.push(line);
        if last || lines.len() > 20 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(text.contains("serving WHM API 1"), "{text}");
    assert!(text.contains("tweakgate session --user root"), "{text}");
    assert!(!text.contains("session="), "no login link: {text}");
    let one_time = dir.path().join("state/sessions/one-time");
    let made = std::fs::read_dir(&one_time).map(|d| d.count()).unwrap_or(0);
    assert_eq!(made, 0, "no one-time login was made");
}

/// No lost updates: `tweakgate passwd` in six processes at once, while the server writes a Tweak Setting again and
/// again, and every change is in the file at the end.
#[test]
fn concurrent_writers_of_the_config_lose_no_update() {
    let users = ["bob", "r1", "r2", "r3", "r4", "r5"];
    let cast = users[1..]
        .iter()
        .fold(limited(), |cast, u| cast.reseller(u, &["list-accts"]));
    let server = TestPanel::serve(&cast);
    let root = server.access_key("root");
    let auth = whm("root", root.as_str());
    let bin = tests::tweakgate_bin();
    let mut children: Vec<std::process::Child> = users
        .iter()
        .map(|u| {
            let mut child = std::process::Command::new(&bin)
                .arg("--config")
                .arg(server.config_path())
                .args(["passwd", "--user", u])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(format!("password of {u}\n").as_bytes()).unwrap();
            child
        })
        .collect();
    let mut last = 0;
    for i in 0..30 {
        last = 300 + i;
        let r = server
            .presenting(&auth)
            .api("set_tweaksetting", &format!("key=maxcpsrvdconnections&value={last}"));
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    }
    for child in &mut children {
        let status = child.wait().unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "{err}");
    }
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    let parsed = settings::Config::load(&server.config_path()).unwrap();
    for u in users {
        let hash = parsed.users.password_hash(&settings::Username::new(u).unwrap());
        let hash = hash.unwrap_or_else(|| panic!("{u}'s password was lost:\n{text}"));
        assert!(panel::auth::header::check_password(hash, &format!("password of {u}")));
    }
    assert_eq!(
        parsed.tweak_settings.get("maxcpsrvdconnections"),
        Some(last.to_string().as_str()),
        "{text}"
    );
}

/// Credentials end with their user: a reseller removed from the config loses its key, tokens and sessions, and a
/// reseller of the same name added later inherits none of them. Nothing is lost: they are set aside in
/// `<state>/removed/`, where an administrator can restore them after a mistaken edit.
#[test]
fn removing_a_reseller_removes_its_key_tokens_and_sessions() {
    let server = limited_server();
    let key = server.access_key("bob");
    let token = server.as_("bob");
    let session = server.as_("bob").in_session();
    assert_eq!(
        server.presenting(&whm("bob", key.as_str())).api("version", "").status,
        200
    );
    assert_eq!(session.api("version", "").status, 200);
    let with_bob = std::fs::read_to_string(server.config_path()).unwrap();
    // bob and his account dave go (their tables, up to the next blank line); everything else stays.
    let mut dropping = false;
    let without_bob: String = with_bob
        .split_inclusive('\n')
        .filter(|line| {
            if line.starts_with('[') {
                dropping = line.trim() == "[resellers.bob]" || line.trim() == "[accounts.dave]";
            } else if line.trim().is_empty() {
                dropping = false;
            }
            !dropping
        })
        .collect();
    assert_ne!(with_bob, without_bob);
    let generation = server.generation();
    server.rewrite_config(&without_bob);
    let reloaded = wait_until(Duration::from_secs(5), || server.generation() > generation);
    assert!(reloaded.is_some(), "{:?}", server.reloads().last_error);
    // The edit alone starts bob's grace (`lockout::a_user_dropped_by_an_edit_and_restored_in_time_keeps_key_and_tokens`);
    // the administrator's `systemctl reload` confirms the removal.
    server.confirm_reload().unwrap();
    let home = server.dir.path().join("state/home/bob");
    assert!(!home.join(".accesshash").exists(), "the key file is gone");
    assert!(server.tokens("bob").is_empty(), "the tokens are gone");
    assert!(session.api("version", "").status == 401, "the session is over");
    let log = std::fs::read_to_string(server.dir.path().join("state/audit.log")).unwrap();
    assert!(log.contains("credentials_removed"), "{log}");
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(server.dir.path().join("state/removed"))
        .expect("the removed user's credentials are set aside")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].file_name().unwrap().to_string_lossy().starts_with("bob-"));
    let kept_key = credentials::read_key(&kept[0]).unwrap().expect("the key is kept");
    assert_eq!(kept_key.as_str(), key.as_str());
    assert!(kept[0].join("api_tokens.json").is_file(), "the token digests are kept");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777, 0o700);
    // A new bob inherits nothing.
    let generation = server.generation();
    server.rewrite_config(&with_bob);
    wait_until(Duration::from_secs(5), || server.generation() > generation);
    assert_eq!(
        server.presenting(&whm("bob", key.as_str())).api("version", "").status,
        401
    );
    assert_eq!(token.api("version", "").status, 401);
}

/// An editor that truncates and then writes (`open(…, 'w')`, `cat >`, `rsync --inplace`) left an empty file for a few
/// milliseconds; the reload took it for a config without users and retired every reseller's key and tokens. The
/// watcher now reads a file only once it has stopped changing, and never takes an empty file for a configuration.
#[test]
fn an_in_place_save_of_the_config_loses_no_credential() {
    let p = tests::TestPanel::serve(&tests::Cast::standard());
    let bob = p.as_("bob");
    let key = bob.with_key();
    let text = p.config_text();
    for gap in [0u64, 1, 5, 5, 5, 10, 20, 5, 5, 5] {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(p.config_path())
            .unwrap();
        std::thread::sleep(Duration::from_millis(gap));
        f.write_all(text.as_bytes()).unwrap();
        drop(f);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            bob.api("version", "").status,
            200,
            "bob's token after an in-place save ({gap} ms gap)"
        );
    }
    assert_eq!(key.api("version", "").status, 200, "bob's key survives every save");
    assert!(
        !p.state_dir().join("removed").exists(),
        "no credential was retired: {:?}",
        std::fs::read_dir(p.state_dir().join("removed"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    // An empty file left as it is stays held back, and root's /health says why.
    std::fs::write(p.config_path(), "").unwrap();
    assert!(
        tests::wait_until(Duration::from_secs(5), || p.health_as_root()["config"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("is empty")))
        .is_some(),
        "{}",
        p.health_as_root()
    );
    assert_eq!(
        bob.api("version", "").status,
        200,
        "the last good config stays in force"
    );
}

/// An edit that drops most users at once is held back (their keys, tokens and sessions would be retired) until an
/// administrator confirms it; then it applies and the credentials move aside.
#[test]
fn an_edit_that_removes_most_users_waits_for_confirmation() {
    let p = tests::TestPanel::serve(&tests::Cast::standard());
    let bob = p.as_("bob");
    let text = p.config_text();
    let mut kept = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = [
                "[resellers.bob]",
                "[resellers.carol]",
                "[resellers.erin]",
                "[accounts.dave]",
            ]
            .contains(&line);
        }
        if !skip {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let generation = p.generation();
    std::fs::write(p.config_path().with_extension("tmp"), &kept).unwrap();
    std::fs::rename(p.config_path().with_extension("tmp"), p.config_path()).unwrap();
    assert!(
        tests::wait_until(Duration::from_secs(5), || p.health_as_root()["config"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("removes 4 of 5 users")))
        .is_some(),
        "{}",
        p.health_as_root()
    );
    assert_eq!(p.generation(), generation, "nothing was installed");
    assert_eq!(
        bob.api("version", "").status,
        200,
        "bob keeps working while the edit is held back"
    );
    p.confirm_reload().expect("a confirmed reload applies");
    assert_eq!(bob.api("version", "").status, 401, "confirmed: bob is gone");
    assert!(
        p.state_dir().join("removed").is_dir(),
        "and his credentials are set aside"
    );
}

/// A server whose Tweak Settings are a native `cpanel.config`, with a reseller holding `all`.
const NATIVE_CPANEL_CONFIG: &str = "# written by WHM\nallow_deprecated_accesshash=1\nallow_server_info_status_from=\n";

/// `set_tweaksetting key=allow_server_info_status_from value="a\nallow_deprecated_accesshash=0"`
/// from a reseller with `all` wrote a second line into `cpanel.config` that won over the real one: every access key
/// got 401, and any key name at all got in past the schema. Every key and value is one line, however it is sent.
#[test]
fn a_line_break_in_a_tweak_setting_writes_no_line_into_cpanel_config() {
    let server = TestPanel::serve(&cast().native_cpanel_config(NATIVE_CPANEL_CONFIG));
    let root = server.access_key("root");
    let root = whm("root", root.as_str());
    let carol = server.as_("carol").authorization().unwrap().to_owned();
    let file = server.dir.path().join("cpanel.config");
    let exploits = [
        (
            "GET",
            "key=allow_server_info_status_from&value=a%0Aallow_deprecated_accesshash%3D0",
            "a line feed",
        ),
        (
            "GET",
            "key=allow_server_info_status_from&value=a%0D%0Aallow_deprecated_accesshash%3D0",
            "a carriage return",
        ),
        (
            "GET",
            "key=allow_server_info_status_from&value=a%0Dallow_deprecated_accesshash%3D0",
            "a carriage return",
        ),
        (
            "GET",
            "key=allow_server_info_status_from&value=a%00b",
            "a NUL character",
        ),
        (
            "POST",
            "key=allow_server_info_status_from&value=a%0Aallow_deprecated_accesshash%3D0",
            "a line feed",
        ),
        (
            "GET",
            "key=allow_deprecated_accesshash&value=1%0Aany_key_at_all%3D1",
            "a line feed",
        ),
    ];
    for (method, params, what) in exploits {
        let r = match method {
            "GET" => server.presenting(&carol).api("set_tweaksetting", params),
            _ => request(
                server.addr(),
                "POST",
                "/json-api/set_tweaksetting?api.version=1",
                &[("Authorization", &carol)],
                params,
            ),
        };
        assert_eq!(r.status, 200, "{method} {params}: {}", r.body);
        let json = r.json();
        assert_eq!(json["metadata"]["result"], 0, "{method} {params}: {}", r.body);
        let reason = json["metadata"]["reason"].as_str().unwrap();
        let key = if params.contains("key=allow_deprecated_accesshash") {
            "allow_deprecated_accesshash"
        } else {
            "allow_server_info_status_from"
        };
        assert_eq!(
            reason,
            format!(
                "Invalid value for {key}; multi-line values are not allowed: the value holds {what}. The setting will not be updated."
            ),
            "{method} {params}"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, NATIVE_CPANEL_CONFIG, "{method} {params}: the file is untouched");
        // Every access key still works.
        assert_eq!(
            server.presenting(&root).api("version", "").status,
            200,
            "{method} {params}"
        );
    }
    // A line break in the key is no key at all.
    let r = server.presenting(&carol).api(
        "set_tweaksetting",
        "key=allow_server_info_status_from%0Aallow_deprecated_accesshash&value=0",
    );
    assert_eq!(r.json()["metadata"]["result"], 0, "{}", r.body);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), NATIVE_CPANEL_CONFIG);
    // A one-line value is still written, in place, as one line.
    let r = server.presenting(&carol).api(
        "set_tweaksetting",
        "key=allow_server_info_status_from&value=127.0.0.1%20localhost",
    );
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# written by WHM\nallow_deprecated_accesshash=1\nallow_server_info_status_from=127.0.0.1 localhost\n"
    );
    assert_eq!(server.presenting(&root).api("version", "").status, 200);
}

/// `tweakgate passwd` wrote a password hash into a config left 0644, readable by every local
/// user. Once the config holds a hash it is 0600, and it stays so when the server writes it again.
#[test]
fn the_config_is_private_once_it_holds_a_password_hash() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestPanel::serve(&cast());
    let path = server.config_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let mut child = std::process::Command::new(tests::tweakgate_bin())
        .arg("--config")
        .arg(&path)
        .args(["passwd", "--user", "bob"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"bob's long password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&path).unwrap().contains("password_hash"));
    assert_eq!(mode(), 0o600, "the hash is readable by the owner only");
    // The server's next write of the config keeps it private.
    let r = server
        .as_("root")
        .api("set_tweaksetting", "key=maxcpsrvdconnections&value=300");
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert_eq!(mode(), 0o600);
}

/// A holder of `create-user-session` made 12,000 unredeemed one-time links (50 MB), and every
/// create scanned them all. A user has at most `MAX_ONE_TIME_PER_USER` outstanding (a new one ends the oldest);
/// another user's links are untouched.
#[test]
fn one_time_links_are_capped_per_user() {
    use panel::store::sessions::MAX_ONE_TIME_PER_USER;
    let server = TestPanel::serve(&cast());
    let token = |user: &str| server.as_(user).authorization().unwrap().to_owned();
    let (root, bob) = (token("root"), token("bob"));
    let link = |auth: &str, user: &str| {
        let r = server
            .presenting(auth)
            .api("create_user_session", &format!("user={user}&service=whostmgrd"));
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
        r.json()["data"]["url"].as_str().unwrap().to_owned()
    };
    let roots = link(&root, "root");
    let bobs: Vec<String> = (0..MAX_ONE_TIME_PER_USER * 3).map(|_| link(&bob, "bob")).collect();
    let one_time = server.dir.path().join("state/sessions/one-time");
    let files = std::fs::read_dir(&one_time).unwrap().count();
    assert_eq!(
        files,
        MAX_ONE_TIME_PER_USER + 1,
        "bob's links are capped, root's is kept"
    );
    let redeem = |url: &str| {
        let path = url.split_once("://").unwrap().1;
        let path = &path[path.find('/').unwrap()..];
        request(server.addr(), "GET", path, &[], "").status
    };
    assert_eq!(redeem(&bobs[0]), 401, "bob's oldest link ended");
    assert_eq!(redeem(bobs.last().unwrap()), 303, "bob's newest link works");
    assert_eq!(redeem(&roots), 303, "root's link works");
}

/// Wrong `Basic root:` passwords from anywhere locked root's correct password out for everyone, renewably. A source
/// root logged in from recently now answers only for its own failures; elsewhere the guessing bound holds.
#[test]
fn guesses_from_elsewhere_do_not_lock_a_user_out_of_where_they_log_in() {
    const PASSWORD: &str = "root's long password";
    let p = tests::TestPanel::open(
        &tests::Cast::standard()
            .server("auth_failure_limit = 3")
            // Passwords from other hosts over plain HTTP (`lockout::passwords_and_sessions_travel_only_over_tls`).
            .setting("requiressl", "false")
            .root_password(PASSWORD),
    );
    let home = p.with_password("root", PASSWORD).from("10.0.0.1:40000");
    assert_eq!(home.api("version", "").status, 200, "root logs in from home");
    for i in 0..20 {
        let guess = p
            .with_password("root", "wrong guess")
            .from(&format!("10.1.0.{}:40000", i + 1));
        assert_ne!(guess.api("version", "").status, 200);
    }
    assert_eq!(
        home.api("version", "").status,
        200,
        "home still lets root in after 20 guesses from elsewhere"
    );
    let elsewhere = p.with_password("root", PASSWORD).from("10.2.0.1:40000");
    assert_eq!(
        elsewhere.api("version", "").status,
        429,
        "a new place stays throttled: the guessing bound holds"
    );
}
