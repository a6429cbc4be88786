//! A bounded soak on loopback: mixed valid and invalid traffic must leave memory and file descriptors flat.

use std::path::Path;
use std::time::{Duration, Instant};

use tests::{ServeProcess, TestServer, raw_request, request};

/// After `[server]`'s listeners and state directory.
const CONFIG: &str = r#"
auth_failure_limit = 1000000000

[tweak_settings]
allow_deprecated_accesshash = true

[resellers.bob]
privileges = ["manage-api-tokens"]

[[plugins]]
path = "{plugin}"
"#;

/// How many file descriptors this process holds open, from `/proc/self/fd`.
fn open_fds() -> usize {
    open_fds_in(Path::new("/proc/self/fd")).unwrap_or_else(|e| panic!("{e}"))
}

fn open_fds_in(dir: &Path) -> Result<usize, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot count open file descriptors: reading {}: {e}", dir.display()))?;
    let count = entries
        .map(|e| e.map_err(|e| format!("cannot count open file descriptors: listing {}: {e}", dir.display())))
        .try_fold(0, |n, e| e.map(|_| n + 1))?;
    // Reading the folder holds a descriptor of its own, so a working /proc never shows zero.
    if count == 0 {
        return Err(format!(
            "cannot count open file descriptors: {} is empty",
            dir.display()
        ));
    }
    Ok(count)
}

/// This process's resident memory in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    rss_kib_in(Path::new("/proc/self/status")).unwrap_or_else(|e| panic!("{e}"))
}

fn rss_kib_in(path: &Path) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(path).map_err(|e| format!("cannot measure memory: reading {}: {e}", path.display()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .filter(|&kib| kib > 0)
        .ok_or_else(|| format!("cannot measure memory: no VmRSS line with a size in {}", path.display()))
}

#[test]
fn unreadable_proc_fails_the_measurements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let absent = dir.path().join("absent");
    let err = open_fds_in(&absent).unwrap_err();
    assert!(err.starts_with("cannot count open file descriptors: reading "), "{err}");
    let err = open_fds_in(dir.path()).unwrap_err();
    assert!(err.ends_with("is empty"), "{err}");
    let err = rss_kib_in(&absent).unwrap_err();
    assert!(err.starts_with("cannot measure memory: reading "), "{err}");
    let status = dir.path().join("status");
    std::fs::write(&status, "Name:\tit\nVmPeak:\t 100 kB\n").expect("writing");
    let err = rss_kib_in(&status).unwrap_err();
    assert!(err.contains("no VmRSS line"), "{err}");
    std::fs::write(&status, "Name:\tit\nVmRSS:\t 2048 kB\n").expect("writing");
    assert_eq!(rss_kib_in(&status), Ok(2048));
    assert!(open_fds() > 0 && rss_kib() > 0, "this machine's /proc reads");
}

/// Sends `rounds` of the mix from 4 threads and returns how many requests were answered 5xx.
fn traffic(server: &ServeProcess, key: &str, rounds: usize) -> usize {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    let mut server_errors = 0;
                    for i in 0..rounds {
                        let status = match (i + t) % 6 {
                            0 => server.api_as("accesshash", "", &format!("WHM bob:{key}")).status,
                            1 => server.api_as("applist", "", "WHM bob:0000").status,
                            2 => server.api_as("version", "", "Bearer nonsense").status,
                            3 => request(server.addr, "GET", "/health", &[], "").status,
                            4 => raw_request(server.addr, b"GET /json-api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: WHM \xff\xfe:x\r\n\r\n").status,
                            _ => request(server.addr, "POST", "/login/", &[], "user=bob&pass=wrong").status,
                        };
                        if status >= 500 || status == 0 {
                            server_errors += 1;
                        }
                    }
                    server_errors
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).sum()
    })
}

/// The server runs as its own process, so what is measured is the server's memory and descriptors alone, whatever
/// other tests of this binary do meanwhile.
#[test]
fn soak_keeps_memory_and_descriptors_flat() {
    let server = ServeProcess::start(CONFIG, false);
    // Bob's key, written into the server's state directory; the server reads it on first use.
    let panel = panel::state::Panel::open(&server.config_path()).expect("the config loads");
    let key = panel::whm::ops::keys::generate_key(&panel, &settings::Username::new("bob").unwrap(), "root").unwrap();
    let key = key.as_str().to_owned();
    // Warm up: caches, thread pools and allocator arenas reach their working size.
    assert_eq!(traffic(&server, &key, 150), 0);
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, fds_before) = server.footprint().unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(4) {
        assert_eq!(traffic(&server, &key, 150), 0, "no request gets a server error");
        sent += 600;
    }
    // Connections the clients closed are closed by the server too within its idle timeout.
    std::thread::sleep(Duration::from_millis(200));
    let (rss_after, fds_after) = server.footprint().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "soak: {sent} requests in {:?}; server fds {fds_before} -> {fds_after}; RSS {rss_before} KiB -> {rss_after} KiB",
        start.elapsed()
    );
    assert!(
        fds_after <= fds_before + 4,
        "file descriptors leak: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "memory grows: {rss_before} KiB -> {rss_after} KiB after {sent} requests"
    );
}

#[test]
fn reloading_ten_thousand_resellers_does_not_stall_requests() {
    let mut config = format!("[server]\nstate_dir = \"state\"\n{CONFIG}");
    for i in 0..10_000 {
        config.push_str(&format!("[resellers.r{i}]\nprivileges = [\"list-accts\"]\n"));
    }
    let server = TestServer::start(&config);
    let key =
        panel::whm::ops::keys::generate_key(&server.panel, &settings::Username::new("bob").unwrap(), "root").unwrap();
    let auth = format!("WHM bob:{}", key.as_str());
    let generation = server.panel.status().generation;
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let latencies = std::thread::scope(|s| {
        let client = s.spawn(|| {
            let mut latencies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                assert_eq!(server.api("accesshash", "", Some(&auth)).status, 200);
                latencies.push(start.elapsed());
            }
            latencies
        });
        for i in 0..4 {
            let csp = if i % 2 == 0 { "csp = true\n" } else { "csp = false\n" };
            server.rewrite_config(&text.replace("[tweak_settings]\n", &format!("[tweak_settings]\n{csp}")));
            let want = generation + i + 1;
            let reloaded = server.wait_for(Duration::from_secs(30), || server.panel.status().generation >= want);
            assert!(reloaded.is_some(), "reload {i} happened");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        client.join().expect("client")
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let worst = *sorted.last().unwrap();
    eprintln!(
        "10,000 resellers, 4 reloads: {} requests, median {median:?}, worst {worst:?}",
        sorted.len()
    );
    // Latency figures belong to the benchmarks; here it is enough that every request was answered while the
    // reloads ran.
    assert!(sorted.len() > 20, "requests kept flowing during the reloads");
}
