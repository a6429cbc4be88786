//! Allocations per request, counted: the bench binary's allocator counts every allocation, and a panel served on a
//! loopback socket in this process answers one keep-alive client that allocates nothing itself, so what is counted
//! is the server's work per request: `/health` (the floor), `version` with a token, `accesshash` with a key, and
//! OFREP one flag and every flag.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

use tests::{Cast, TestPanel};

/// The system allocator, counting allocations (and reallocations, which allocate again).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counter has no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Requests per measurement, after as many to warm the caches up.
const REQUESTS: u64 = 2000;

/// Sends `request` `n` times on one connection, reading each answer into a fixed buffer (no allocation here).
fn send(stream: &mut TcpStream, request: &[u8], n: u64) {
    let mut buf = [0u8; 1 << 16];
    for _ in 0..n {
        stream.write_all(request).expect("send");
        let mut have = 0;
        loop {
            let got = stream.read(&mut buf[have..]).expect("read");
            assert!(got > 0, "the server closed the connection");
            have += got;
            let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = &buf[..end];
            let length = head
                .split(|&b| b == b'\n')
                .find_map(|l| {
                    let l = std::str::from_utf8(l).ok()?.trim();
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if have >= end + 4 + length {
                assert!(
                    buf.starts_with(b"HTTP/1.1 2"),
                    "{}",
                    String::from_utf8_lossy(&buf[..have.min(400)])
                );
                break;
            }
        }
    }
}

pub fn allocations_per_request() {
    let p = TestPanel::serve(&Cast::standard());
    let addr = p.addr();
    let root = p.as_("root");
    let token = root.authorization().expect("root's token").to_owned();
    let bob_key = p.as_("bob").with_key();
    let key = bob_key.authorization().expect("bob's key").to_owned();
    let get = |path: &str, auth: Option<&str>| {
        let auth = auth.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes()
    };
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let context = r#"{"context":{"targetingKey":"bob"}}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/health (floor)", get("/health", None)),
        (
            "version, API token",
            get("/json-api/version?api.version=1", Some(&token)),
        ),
        ("accesshash, key", get("/json-api/accesshash?api.version=1", Some(&key))),
        (
            "OFREP one flag",
            post("/ofrep/v1/evaluate/flags/remote-access-key", context),
        ),
        ("OFREP every flag", post("/ofrep/v1/evaluate/flags", context)),
    ];
    let mut floor = None;
    for (name, request) in &cases {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        send(&mut stream, request, REQUESTS);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        send(&mut stream, request, REQUESTS);
        let per_request = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / REQUESTS as f64;
        let floor = *floor.get_or_insert(per_request);
        println!(
            "allocations per request, {name}: {per_request:.1} ({:+.1} over the floor's {floor:.1})",
            per_request - floor
        );
    }
}
