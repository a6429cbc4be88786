//! Load figures of the release server with a real load generator (`wrk`): the gated call (beside `version` with the
//! same key, its own floor), the token call and the login page against the cheapest endpoint (`/health`), at 1, 16
//! and 64 connections, quiet and under two attacks
//! (1,000 idle connections and a password-guessing flood; 200 slow bodies and passwords for 200 made-up users), with
//! the server's memory and descriptors before and after.
//!
//! Writes `http-load.md` (the table) and `http-throughput.svg` (throughput against connections) to `target/bench/`,
//! or to the directory named by `TWEAKGATE_BENCH_OUT` (`docs/benchmarks` refreshes the copies BENCHMARKS.md shows).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tests::ServeProcess;

/// Connections per run.
pub(crate) const CONNECTIONS: [usize; 3] = [1, 16, 64];
/// Seconds per `wrk` run.
const SECONDS: u32 = 1;
/// Rounds per connection count; in each round every endpoint runs once, floor first, so each ratio compares runs
/// made moments apart, and the median over rounds is reported.
const ROUNDS: usize = 5;

/// What `wrk` measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Answers other than 2xx/3xx.
    pub(crate) errors: u64,
    /// The server's CPU time per request answered, in microseconds (NaN when `/proc` cannot tell).
    pub(crate) cpu_us: f64,
}

/// One endpoint under load.
struct Endpoint {
    name: &'static str,
    path: String,
    authorization: Option<String>,
}

/// The load run's configuration: WHM's defaults, bob with a key, root with a token.
const CONFIG: &str = "\n[tweak_settings]\n\
                      allow_deprecated_accesshash = true\n\n[resellers.bob]\nprivileges = [\"manage-api-tokens\"]\n\n\
                      [[plugins]]\npath = \"{plugin}\"\n";

/// Resident memory (KiB) and open descriptors of the server, or zeros when `/proc` cannot tell.
fn footprint(server: &ServeProcess) -> (u64, usize) {
    server.footprint().unwrap_or_else(|e| {
        println!("http load: {e}");
        (0, 0)
    })
}

/// Runs `wrk` against one endpoint, with the server's CPU time per request; `None` when `wrk` is missing or its
/// output cannot be read.
fn wrk(server: &ServeProcess, endpoint: &Endpoint, connections: usize) -> Option<Figures> {
    let addr = server.addr;
    let cpu_before = server.cpu_seconds();
    let mut cmd = Command::new("wrk");
    cmd.args(["--latency", "-d", &format!("{SECONDS}s")]).args([
        "-c",
        &connections.to_string(),
        "-t",
        &connections.min(2).to_string(),
    ]);
    if let Some(a) = &endpoint.authorization {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = cmd
        .arg(format!("http://{addr}{}", endpoint.path))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let cpu = match (cpu_before, server.cpu_seconds()) {
        (Ok(before), Ok(after)) => after - before,
        _ => f64::NAN,
    };
    let (mut figures, requests) = parse_wrk(&String::from_utf8_lossy(&out.stdout))?;
    figures.cpu_us = cpu * 1e6 / requests.max(1) as f64;
    Some(figures)
}

/// Reads requests/s, the 50th and 99th percentiles, the error count and the number of requests from `wrk --latency`
/// output.
pub(crate) fn parse_wrk(text: &str) -> Option<(Figures, u64)> {
    let ms = |v: &str| -> Option<f64> {
        let v = v.trim();
        let (n, scale) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (v, 1.0)
        };
        n.parse::<f64>().ok().map(|n| n * scale)
    };
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim));
    let rps = field("Requests/sec:")?.parse().ok()?;
    let p50_ms = ms(field("50%")?)?;
    let p99_ms = ms(field("99%")?)?;
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // "  12345 requests in 1.00s, 2.34MB read"
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim()))?
        .parse()
        .ok()?;
    Some((
        Figures {
            rps,
            p50_ms,
            p99_ms,
            errors,
            cpu_us: f64::NAN,
        },
        requests,
    ))
}

/// Holds `n` idle connections open, reopening those the server closes, until stopped.
fn idle_connections(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    hold_open(addr, n, stop, b"")
}

/// Holds `n` connections open that each sent `first` (nothing: idle), reopening those the server closes, until stopped.
fn hold_open(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>, first: &'static [u8]) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::with_capacity(n);
        while !stop.load(Ordering::Relaxed) {
            open.retain(|s| {
                s.set_nonblocking(true).ok();
                let mut b = [0u8; 1];
                matches!(std::io::Read::read(&mut &*s, &mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            while open.len() < n {
                let Ok(mut s) = TcpStream::connect(addr) else {
                    break;
                };
                if !first.is_empty() {
                    let _ = s.write_all(first);
                }
                open.push(s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// Sends `Basic` passwords as fast as `threads` clients can, until stopped; `guess(client, n)` gives each one's user
/// and password. Returns how many each client sent.
fn basic_flood(
    addr: SocketAddr,
    threads: usize,
    stop: Arc<AtomicBool>,
    guess: fn(usize, u64) -> (String, String),
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..threads)
        .map(|i| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (user, password) = guess(i, sent);
                    let auth = tests::basic_auth(&user, &password);
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let req = format!(
                        "GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                         Authorization: {auth}\r\n\r\n"
                    );
                    if s.write_all(req.as_bytes()).is_ok() {
                        let mut sink = Vec::new();
                        let _ = std::io::Read::read_to_end(&mut s, &mut sink);
                    }
                    sent += 1;
                }
                sent
            })
        })
        .collect()
}

/// Guesses root's password as fast as `threads` clients can, until stopped.
fn password_flood(addr: SocketAddr, threads: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<u64>> {
    basic_flood(addr, threads, stop, |i, n| ("root".into(), format!("guess-{i}-{n}")))
}

/// Holds `n` connections that each sent a request head announcing a 100,000-byte body and two bytes of it, reopening
/// those the server closes, until stopped.
fn slow_bodies(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    hold_open(
        addr,
        n,
        stop,
        b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nap",
    )
}

/// Sends `Basic` passwords for made-up users (a different one each time, so no per-user throttle applies) as fast as
/// `threads` clients can, until stopped.
fn made_up_users_flood(addr: SocketAddr, threads: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<u64>> {
    basic_flood(addr, threads, stop, |i, n| (format!("u{i}x{n}"), "guess".into()))
}

/// One endpoint at one connection count: medians over the rounds, and the median of the per-round ratios of its
/// throughput to the floor's (the first endpoint).
#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    connections: usize,
    figures: Figures,
    ratio: f64,
    /// The median of the per-round ratios of its server CPU time per request to the floor's.
    cpu_ratio: f64,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Every endpoint at every connection count, in alternating rounds.
fn sweep(server: &ServeProcess, endpoints: &[Endpoint]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &c in &CONNECTIONS {
        let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); endpoints.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); endpoints.len()];
        let mut cpu_ratios: Vec<Vec<f64>> = vec![Vec::new(); endpoints.len()];
        for r in 0..ROUNDS {
            // The order turns each round, so a burst of other load on the machine does not always land on the same
            // endpoint; the figures are kept in the endpoints' order.
            let mut round: Vec<Option<Figures>> = vec![None; endpoints.len()];
            for k in 0..endpoints.len() {
                let i = (k + r) % endpoints.len();
                round[i] = wrk(server, &endpoints[i], c);
            }
            let floor = round.first().copied().flatten();
            for (i, f) in round.into_iter().enumerate() {
                if let Some(f) = f {
                    runs[i].push(f);
                    if let Some(floor) = floor {
                        ratios[i].push(f.rps / floor.rps);
                        cpu_ratios[i].push(f.cpu_us / floor.cpu_us);
                    }
                }
            }
        }
        for (i, e) in endpoints.iter().enumerate() {
            if runs[i].is_empty() {
                println!("wrk gave no figures for {} at {c} connections", e.name);
                continue;
            }
            let figures = Figures {
                rps: median(runs[i].iter().map(|f| f.rps).collect()),
                p50_ms: median(runs[i].iter().map(|f| f.p50_ms).collect()),
                p99_ms: median(runs[i].iter().map(|f| f.p99_ms).collect()),
                errors: runs[i].iter().map(|f| f.errors).sum(),
                cpu_us: median(runs[i].iter().map(|f| f.cpu_us).collect()),
            };
            rows.push(Row {
                name: e.name,
                connections: c,
                figures,
                ratio: median(std::mem::take(&mut ratios[i])),
                cpu_ratio: median(std::mem::take(&mut cpu_ratios[i])),
            });
        }
    }
    rows
}

pub(crate) fn out_dir() -> PathBuf {
    let dir = std::env::var_os("TWEAKGATE_BENCH_OUT")
        .map(|d| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d))
        .unwrap_or_else(|| tests::target_dir().join("bench"));
    std::fs::create_dir_all(&dir).expect("bench output directory");
    dir
}

/// `http-throughput.svg`: requests/s against connections, one line per endpoint, quiet runs.
fn plot(rows: &[Row], names: &[&'static str]) -> String {
    let series: Vec<(String, Vec<Option<f64>>)> = names
        .iter()
        .map(|name| {
            let points = CONNECTIONS
                .iter()
                .map(|c| {
                    rows.iter()
                        .find(|r| r.name == *name && r.connections == *c)
                        .map(|r| r.figures.rps)
                })
                .collect();
            ((*name).to_owned(), points)
        })
        .collect();
    plot_series("Release server on loopback, wrk: requests/s by connections", &series)
}

/// A plot of requests/s against [`CONNECTIONS`]: one line per series, a point per connection count (`None`: not
/// measured).
pub(crate) fn plot_series(title: &str, series: &[(String, Vec<Option<f64>>)]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 360.0;
    const L: f64 = 70.0;
    const R: f64 = 170.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    let max = series
        .iter()
        .flat_map(|(_, points)| points.iter().flatten())
        .copied()
        .fold(1.0, f64::max)
        * 1.1;
    let x = |i: usize| L + (W - L - R) * i as f64 / (CONNECTIONS.len() - 1) as f64;
    let y = |v: f64| H - B - (H - T - B) * v / max;
    let colours = [
        "#1b6ac9", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#2c3e50", "#f39c12",
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" \
         font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{L}\" y=\"18\" font-size=\"14\">{title}</text>\n"
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{L}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" \
             text-anchor=\"end\">{v:.0}</text>",
            W - R,
            L - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (i, c) in CONNECTIONS.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{c}</text>",
            x(i),
            H - B + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">connections</text>",
        (L + W - R) / 2.0,
        H - 10.0
    );
    for (n, (name, values)) in series.iter().enumerate() {
        let colour = colours[n % colours.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>",
            points.join(" "),
            W - R + 10.0,
            T + 20.0 + 18.0 * n as f64
        );
    }
    svg.push_str("</svg>\n");
    svg
}

pub fn http_load() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("http load: wrk is not installed (apt-get install wrk); skipped");
        return;
    }
    // Bob's key, written into the running server's state directory; root's API token is the server's test token.
    let server = ServeProcess::start_with(CONFIG, false, true);
    let addr = server.addr;
    let panel = panel::state::Panel::open(&server.config_path()).expect("panel");
    let key = panel::whm::ops::keys::generate_key(&panel, &settings::Username::new("bob").expect("name"), "bench")
        .expect("key");
    let endpoints = [
        Endpoint {
            name: "/health (floor)",
            path: "/health".into(),
            authorization: None,
        },
        Endpoint {
            name: "accesshash, key",
            path: "/json-api/accesshash?api.version=1".into(),
            authorization: Some(format!("WHM bob:{}", key.as_str())),
        },
        // The gated call's own floor: the same credential in the same header, a host function instead of the plugin's.
        Endpoint {
            name: "version, key",
            path: "/json-api/version?api.version=1".into(),
            authorization: Some(format!("WHM bob:{}", key.as_str())),
        },
        Endpoint {
            name: "version, API token",
            path: "/json-api/version?api.version=1".into(),
            authorization: Some(format!("whm root:{}", server.root_token)),
        },
        Endpoint {
            name: "login page",
            path: "/login/".into(),
            authorization: None,
        },
    ];
    let names: Vec<&'static str> = endpoints.iter().map(|e| e.name).collect();
    let before = footprint(&server);
    let quiet = sweep(&server, &endpoints);
    // How many of the quiet sweep's plugin calls ran in the fast lane (on the request's worker) rather than the pool.
    let scraped = tests::request(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", &format!("whm root:{}", server.root_token))],
        "",
    )
    .body;
    let metric = |prefix: &str| -> f64 {
        scraped
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|v| v.split_whitespace().last()?.parse::<f64>().ok())
            .sum()
    };
    let inline = metric("tweakgate_plugin_calls_inline_total");
    let calls = metric("tweakgate_http_requests_total{route=\"/json-api/accesshash\",status=\"200\"}");
    println!(
        "http load: accesshash calls in the fast lane: {inline:.0} of {calls:.0} ({:.0} %)",
        100.0 * inline / calls.max(1.0)
    );
    let after_quiet = footprint(&server);

    let stop = Arc::new(AtomicBool::new(false));
    let idle = idle_connections(addr, 1000, Arc::clone(&stop));
    let flood = password_flood(addr, 4, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(1));
    let attacked = sweep(&server, &endpoints);
    let during = footprint(&server);
    stop.store(true, Ordering::Relaxed);
    let _ = idle.join();
    let guesses: u64 = flood.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    std::thread::sleep(Duration::from_secs(6));
    // The second attack: requests whose bodies never arrive, and passwords for made-up users.
    let stop = Arc::new(AtomicBool::new(false));
    let slow = slow_bodies(addr, 200, Arc::clone(&stop));
    let made_up = made_up_users_flood(addr, 50, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(1));
    let slowed = sweep(&server, &endpoints);
    stop.store(true, Ordering::Relaxed);
    let _ = slow.join();
    let made_up: u64 = made_up.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    std::thread::sleep(Duration::from_secs(6));
    let after = footprint(&server);

    let mut table = String::from(
        "| endpoint | connections | quiet: requests/s | p50 ms | p99 ms | ÷ floor | server CPU µs/request | ÷ floor | \
         under attack: requests/s | p50 ms | p99 ms | ÷ floor | slow bodies: requests/s | p99 ms | p99 ÷ quiet |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for q in &quiet {
        let (name, c) = (q.name, q.connections);
        let a = attacked.iter().find(|r| r.name == name && r.connections == c);
        let (ar, ap50, ap99, af) = match a {
            Some(a) => (
                format!("{:.0}", a.figures.rps),
                format!("{:.2}", a.figures.p50_ms),
                format!("{:.2}", a.figures.p99_ms),
                format!("{:.2}×", a.ratio),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let (sr, sp99, sx) = match slowed.iter().find(|r| r.name == name && r.connections == c) {
            Some(s) => (
                format!("{:.0}", s.figures.rps),
                format!("{:.2}", s.figures.p99_ms),
                format!("{:.2}×", s.figures.p99_ms / q.figures.p99_ms),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let f = q.figures;
        let errors = if f.errors > 0 {
            format!(" ({} errors)", f.errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            table,
            "| {name} | {c} | {:.0}{errors} | {:.2} | {:.2} | {:.2}× | {:.1} | {:.2}× | {ar} | {ap50} | {ap99} | {af} | {sr} | {sp99} | {sx} |",
            f.rps, f.p50_ms, f.p99_ms, q.ratio, f.cpu_us, q.cpu_ratio
        );
        println!(
            "http load {name} at {c} connection(s): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {:.3}x of the floor \
             (target >= 0.8 for the gated and token calls); server CPU {:.1} us/request, {:.2}x the floor's; under \
             attack {ar} req/s, p99 {ap99} ms, {af} of the floor; under slow bodies {sr} req/s, p99 {sp99} ms, {sx} of \
             the quiet p99 (target <= 2)",
            f.rps, f.p50_ms, f.p99_ms, q.ratio, f.cpu_us, q.cpu_ratio
        );
    }
    let _ = write!(
        table,
        "\nServer footprint (resident KiB, open descriptors): start {} / {}; after the quiet runs {} / {}; \
         during the attack {} / {}; 6 s after it {} / {}. The attack: 1,000 idle connections held open (reopened \
         when closed) and 4 clients guessing root's password ({guesses} guesses sent). The slow-body attack: 200 \
         connections each sending a head for a 100,000-byte body and two bytes of it (reopened when closed), and 50 \
         clients sending passwords for made-up users ({made_up} sent).\n",
        before.0, before.1, after_quiet.0, after_quiet.1, during.0, during.1, after.0, after.1
    );
    println!(
        "http load footprint: rss {} -> {} KiB, fds {} -> {} (during the attack {} KiB, {} fds)",
        before.0, after.0, before.1, after.1, during.0, during.1
    );
    let out = out_dir();
    std::fs::write(out.join("http-load.md"), &table).expect("writing the table");
    std::fs::write(out.join("http-throughput.svg"), plot(&quiet, &names)).expect("writing the plot");
    println!("http load: table and plot written to {}", out.display());
}
