//! The Configuration Cluster's benchmark: how long one Tweak Settings change takes to reach 1, 5 and 20 member servers
//! (each a real panel on loopback), beside one `set_tweaksetting` call made straight to a member; and the master's
//! `version` latency while it pushes, beside the same when idle. Then a fleet of 1,000 simulated members (stub WHM
//! endpoints in this process) behind a release `tweakgate` master, beside a master of one member: the change in force
//! on all of them, the change's own cost on the master (latency and syncs) and `version` while it pushes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "empty_trash_days";

/// A panel serving on a loopback port, with a root token; its runtime lives as long as it does.
struct Server {
    addr: SocketAddr,
    panel: Arc<panel::state::Panel>,
    token: String,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tweakgate.toml");
        std::fs::write(&path, "[server]\nstate_dir = \"state\"\n").expect("config");
        let panel = panel::state::Panel::open(&path).expect("panel");
        let name = credentials::TokenName::new("bench").expect("name");
        let (_, token) = panel.tokens.create("root", &name, None, None, &[]).expect("token");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        panel
            .cluster
            .start(runtime.handle().clone(), &panel.snapshot().config().tweak_settings);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let p = Arc::clone(&panel);
        runtime.spawn(async move { panel::http::serve(p, vec![listener]).await });
        Server {
            addr,
            panel,
            token: token.expose().to_owned(),
            _dir: dir,
            _runtime: runtime,
        }
    }

    fn api(&self, function: &str, query: &str) -> tests::Reply {
        tests::request(
            self.addr,
            "GET",
            &format!("/json-api/{function}?api.version=1&{query}"),
            &[("Authorization", &format!("whm root:{}", self.token))],
            "",
        )
    }

    fn value(&self) -> Option<String> {
        self.panel
            .snapshot()
            .config()
            .tweak_settings
            .get(KEY)
            .map(str::to_owned)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The lowest and the highest of `v`.
fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// One `set_tweaksetting` call's latency on the master with many members over the one with one member: the median
/// of the per-round ratios, the two medians and their ratio, and the rounds' range.
fn call_ratio(ratios: &mut [f64], many: &mut [f64], one: &mut [f64]) -> String {
    let (m, o) = (median(many), median(one));
    let (lo, hi) = range(ratios);
    format!(
        "{:.2}x (medians {:.2} ms / {:.2} ms: {:.2}x; per-round ratios {lo:.2}-{hi:.2}x, {} rounds)",
        median(ratios),
        m * 1e3,
        o * 1e3,
        m / o,
        ratios.len()
    )
}

fn percentile(v: &mut [f64], p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * p / 100).min(v.len() - 1)]
}

/// Sets the value on `target` and returns how long until every server in `wait_on` holds it.
fn change(target: &Server, wait_on: &[&Server], value: u64) -> f64 {
    let value = value.to_string();
    let start = Instant::now();
    let r = target.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
    assert_eq!(r.status, 200, "{}", r.body);
    for s in wait_on {
        while s.value().as_deref() != Some(value.as_str()) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "a member never got the change"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    start.elapsed().as_secs_f64()
}

/// Latencies (seconds) of `n` `version` calls to `server`.
fn version_latencies(server: &Server, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            let r = server.api("version", "");
            assert_eq!(r.status, 200);
            start.elapsed().as_secs_f64()
        })
        .collect()
}

pub fn run() {
    let master = Server::start();
    let members: Vec<Server> = (0..20).map(|_| Server::start()).collect();
    let mut value = 1u64;
    let mut added = 0;
    for n in [1usize, 5, 20] {
        while added < n {
            let m = &members[added];
            let r = master.api(
                "add_configclusterserver",
                &format!("name=http%3A%2F%2F{}&key={}", m.addr, m.token),
            );
            assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
            added += 1;
        }
        let wait_on: Vec<&Server> = members[..n].iter().collect();
        let (mut fanout, mut direct) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            value += 1;
            direct.push(change(&members[0], &[&members[0]], value));
            value += 1;
            fanout.push(change(&master, &wait_on, value));
        }
        let (f, d) = (median(&mut fanout), median(&mut direct));
        println!(
            "cluster: one change on the master -> in force on {n} member(s): {:.2} ms; / one set_tweaksetting straight to a member ({:.2} ms): {:.2}x",
            f * 1e3,
            d * 1e3,
            f / d
        );
    }

    // The master's own latency while it pushes to 20 members, beside the same when idle: a burst of changes is made
    // first, then `version` is timed while the queues drain (nothing else runs on the master meanwhile).
    let mut idle = version_latencies(&master, 300);
    for _ in 0..30 {
        value += 1;
        let r = master.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let waiting = || -> usize {
        master
            .panel
            .cluster
            .list()
            .iter()
            .map(|m| m.state.changes_waiting)
            .sum()
    };
    let queued = waiting();
    let mut during = Vec::new();
    while during.len() < 300 && waiting() > 0 {
        during.extend(version_latencies(&master, 1));
    }
    let (i50, d50) = (median(&mut idle), median(&mut during));
    let (i99, d99) = (percentile(&mut idle, 99), percentile(&mut during, 99));
    println!(
        "cluster: master `version` latency while it pushes a burst of 30 changes to 20 members ({queued} queued, {} calls timed) / idle: p50 {:.2}x ({:.2} ms / {:.2} ms), p99 {:.2}x ({:.2} ms / {:.2} ms)",
        during.len(),
        d50 / i50,
        d50 * 1e3,
        i50 * 1e3,
        d99 / i99,
        d99 * 1e3,
        i99 * 1e3
    );

    // The same while changes also keep being made on the master (each write and reload runs on its one worker).
    let busy = Arc::new(AtomicBool::new(true));
    let pushing = {
        let busy = Arc::clone(&busy);
        let (addr, token) = (master.addr, master.token.clone());
        std::thread::spawn(move || {
            let mut v = 1_000u64;
            while busy.load(Ordering::Relaxed) {
                v += 1;
                let _ = tests::request(
                    addr,
                    "GET",
                    &format!("/json-api/set_tweaksetting?api.version=1&key={KEY}&value={v}"),
                    &[("Authorization", &format!("whm root:{token}"))],
                    "",
                );
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut writing = version_latencies(&master, 200);
    busy.store(false, Ordering::Relaxed);
    let _ = pushing.join();
    println!(
        "cluster: master `version` latency while changes are also being made without pause / idle: p50 {:.2}x ({:.2} ms), p99 {:.2}x ({:.2} ms)",
        median(&mut writing) / i50,
        median(&mut writing) * 1e3,
        percentile(&mut writing, 99) / i99,
        percentile(&mut writing, 99) * 1e3
    );
    println!(
        "cluster: changes still queued when the load stopped: {} (sent after)",
        waiting()
    );
}

/// The simulated fleet: members answering `set_tweaksetting` like WHM, all in this process.
mod fleet {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ANSWER: &str = r#"{"metadata":{"result":1,"reason":"OK","version":1,"command":"set_tweaksetting"}}"#;

    /// `n` stub members on loopback ports, each answering after its own latency (5 to 20 ms) on kept connections and
    /// recording the last value of `empty_trash_days` it was sent.
    pub struct Fleet {
        pub urls: Vec<String>,
        values: Arc<Vec<AtomicU64>>,
        /// While set, every member but the last refuses the credential (401), as WHM does for a revoked token.
        refusing: Arc<AtomicBool>,
        refused: Arc<AtomicUsize>,
        _runtime: tokio::runtime::Runtime,
    }

    impl Fleet {
        pub fn start(n: usize) -> Fleet {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let values: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
            let (refusing, refused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
            let mut urls = Vec::with_capacity(n);
            for i in 0..n {
                let listener = runtime
                    .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                    .expect("bind");
                urls.push(format!("http://{}", listener.local_addr().expect("addr")));
                let latency = Duration::from_millis(5 + (i as u64 * 7919) % 16);
                let member = Member {
                    values: Arc::clone(&values),
                    i,
                    latency,
                    refusing: (i + 1 < n).then(|| Arc::clone(&refusing)),
                    refused: Arc::clone(&refused),
                };
                let member = Arc::new(member);
                runtime.spawn(async move {
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(serve(stream, Arc::clone(&member)));
                    }
                });
            }
            Fleet {
                urls,
                values,
                refusing,
                refused,
                _runtime: runtime,
            }
        }

        /// Every member but the last refuses the credential from now on (or accepts it again).
        pub fn refuse(&self, on: bool) {
            self.refusing.store(on, Ordering::Relaxed);
        }

        /// How many requests were refused so far.
        pub fn refused(&self) -> usize {
            self.refused.load(Ordering::Relaxed)
        }

        /// How many members hold `value`.
        pub fn holding(&self, value: u64) -> usize {
            self.values
                .iter()
                .filter(|v| v.load(Ordering::Relaxed) == value)
                .count()
        }
    }

    /// One stub member.
    struct Member {
        values: Arc<Vec<AtomicU64>>,
        i: usize,
        latency: Duration,
        refusing: Option<Arc<AtomicBool>>,
        refused: Arc<AtomicUsize>,
    }

    async fn serve(mut stream: tokio::net::TcpStream, member: Arc<Member>) {
        let _ = stream.set_nodelay(true);
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            let head_end = loop {
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
            buf.drain(..head_end + length);
            tokio::time::sleep(member.latency).await;
            let answer = if member.refusing.as_ref().is_some_and(|r| r.load(Ordering::Relaxed)) {
                member.refused.fetch_add(1, Ordering::Relaxed);
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_owned()
            } else {
                let is_key = body.split('&').any(|p| p == "key=empty_trash_days");
                if let Some(v) = body.split('&').find_map(|p| p.strip_prefix("value="))
                    && is_key
                    && let Ok(v) = v.parse()
                {
                    member.values[member.i].store(v, Ordering::Relaxed);
                }
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ANSWER}",
                    ANSWER.len()
                )
            };
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// `fsync` and `fdatasync` calls the process `pid` (all its threads) makes while `during` runs, counted by `strace`;
/// `None` when `strace` is missing or cannot attach.
fn syncs_during(pid: u32, during: impl FnOnce()) -> Option<u64> {
    use std::io::{BufRead, BufReader};
    let out = tempfile::NamedTempFile::new().ok()?;
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(out.path())
        .args(["-p", &pid.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // Attached once it says so for the process.
    let mut err = BufReader::new(strace.stderr.take()?);
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).ok()? == 0 {
            let _ = strace.wait();
            return None;
        }
        if line.contains("attached") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    during();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let _ = strace.wait();
    let summary = std::fs::read_to_string(out.path()).ok()?;
    // Summary lines: % time, seconds, usecs/call, calls, [errors,] syscall.
    Some(
        summary
            .lines()
            .filter(|l| l.ends_with(" fsync") || l.ends_with(" fdatasync"))
            .filter_map(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
            .sum(),
    )
}

/// A Configuration Cluster of 1,000 simulated members beside one of a single member, each a release `tweakgate`
/// master: one change until it is in force on every member, the change's own call on the master (latency, and the
/// syncs it makes, counted by `strace`), and the master's `version` latency while it pushes to 1,000 members
/// against idle. The two masters take turns in every round.
pub fn run_fleet() {
    const MEMBERS: usize = 1_000;
    const ROUNDS: usize = 15;
    let fleet = fleet::Fleet::start(MEMBERS + 1);
    let one = tests::ServeProcess::start_with("", false, true);
    let many = tests::ServeProcess::start_with("", false, true);
    let add = |master: &tests::ServeProcess, url: &str| {
        let r = master.api(
            "add_configclusterserver",
            &format!(
                "name={}&key=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
                url.replace(':', "%3A").replace('/', "%2F")
            ),
        );
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    };
    add(&one, &fleet.urls[MEMBERS]);
    let started = Instant::now();
    for url in &fleet.urls[..MEMBERS] {
        add(&many, url);
    }
    println!(
        "cluster fleet: {MEMBERS} members added through add_configclusterserver in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // One change on `master` with value `value`: the call's latency and the time until `members` hold it (`version`
    // timed meanwhile when `probe` is set).
    let change = |master: &tests::ServeProcess, value: u64, members: usize, probe: bool| -> (f64, f64, Vec<f64>) {
        let start = Instant::now();
        let r = master.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
        let call = start.elapsed().as_secs_f64();
        let mut during = Vec::new();
        while fleet.holding(value) < members {
            assert!(start.elapsed() < Duration::from_secs(60), "the fleet never got {value}");
            if probe {
                let t = Instant::now();
                assert_eq!(master.api("version", "").status, 200);
                during.push(t.elapsed().as_secs_f64());
            } else {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        (call, start.elapsed().as_secs_f64(), during)
    };
    // `version` back to back on an idle `master` for `span`.
    let idle = |master: &tests::ServeProcess, span: f64| -> Vec<f64> {
        let start = Instant::now();
        let mut out = Vec::new();
        while start.elapsed().as_secs_f64() < span {
            let t = Instant::now();
            assert_eq!(master.api("version", "").status, 200);
            out.push(t.elapsed().as_secs_f64());
        }
        out
    };
    // Warm: every member connected once.
    let mut value = 100u64;
    change(&one, value, 1, false);
    change(&many, value, MEMBERS + 1, false);
    let (mut calls_one, mut calls_many, mut force_one, mut force_many) = (vec![], vec![], vec![], vec![]);
    let (mut call_ratios, mut idle_all, mut pushing_all) = (vec![], vec![], vec![]);
    let mut span = 0.5;
    for _ in 0..ROUNDS {
        value += 1;
        let (c1, f1, _) = change(&one, value, 1, false);
        // As long as the last fan-out took, so both samples are alike in size.
        let mut quiet = idle(&many, span);
        let (c2, f2, mut during) = change(&many, value, MEMBERS + 1, true);
        span = f2;
        calls_one.push(c1);
        calls_many.push(c2);
        force_one.push(f1);
        force_many.push(f2);
        call_ratios.push(c2 / c1);
        idle_all.append(&mut quiet);
        pushing_all.append(&mut during);
    }
    let (f1, f2) = (median(&mut force_one), median(&mut force_many));
    let (lo, hi) = range(&force_many);
    println!(
        "cluster fleet: one change -> in force on {MEMBERS} members: {:.0} ms (median of {ROUNDS}; {:.0}-{:.0} ms) [target <= 2 s]; on 1 member: {:.1} ms",
        f2 * 1e3,
        lo * 1e3,
        hi * 1e3,
        f1 * 1e3
    );
    println!(
        "cluster fleet: set_tweaksetting on the master with {MEMBERS} members / with 1 member: {}",
        call_ratio(&mut call_ratios, &mut calls_many, &mut calls_one)
    );
    let (i99, p99) = (percentile(&mut idle_all, 99), percentile(&mut pushing_all, 99));
    let (i50, p50) = (median(&mut idle_all), median(&mut pushing_all));
    println!(
        "cluster fleet: master `version` while it pushes one change to {MEMBERS} members / idle: p99 {:.2}x ({:.2} ms / {:.2} ms), p50 {:.2}x ({:.2} ms / {:.2} ms); {} calls timed while pushing, {} idle [target p99 <= 2x]",
        p99 / i99,
        p99 * 1e3,
        i99 * 1e3,
        p50 / i50,
        p50 * 1e3,
        i50 * 1e3,
        pushing_all.len(),
        idle_all.len()
    );
    // Syncs: in the change's own call, and until it is in force everywhere and the group commit has run.
    syncs(&fleet, &one, &many, &mut value, MEMBERS, &change);
    // The same call with the 1,000 members holding their changes (they refused the credential: each change is
    // journaled, nothing is sent), so the fan-out's work on the two shared cores is out of the call's way.
    fleet.refuse(true);
    value += 1;
    let r = many.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let start = Instant::now();
    while fleet.refused() < MEMBERS {
        assert!(start.elapsed() < Duration::from_secs(60), "the fleet never refused");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (mut held_one, mut held_many, mut held_ratios) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        value += 1;
        let (c1, _, _) = change(&one, value, 1, false);
        let start = Instant::now();
        let r = many.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
        let c2 = start.elapsed().as_secs_f64();
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
        std::thread::sleep(Duration::from_millis(200));
        held_one.push(c1);
        held_many.push(c2);
        held_ratios.push(c2 / c1);
    }
    println!(
        "cluster fleet: set_tweaksetting on the master with {MEMBERS} members holding their changes (credential refused: journaled, not sent) / with 1 member: {}",
        call_ratio(&mut held_ratios, &mut held_many, &mut held_one)
    );
}

/// One change on a master with a value, waiting for that many members to hold it (timing `version` meanwhile when
/// asked): the call's latency, the time until in force, and the `version` latencies.
type Change<'a> = dyn Fn(&tests::ServeProcess, u64, usize, bool) -> (f64, f64, Vec<f64>) + 'a;

/// The syncs of one change on each master, counted by `strace`.
fn syncs(
    fleet: &fleet::Fleet,
    one: &tests::ServeProcess,
    many: &tests::ServeProcess,
    value: &mut u64,
    members_of_many: usize,
    change: &Change<'_>,
) {
    for (master, members, name) in [(one, 1, "1 member"), (many, members_of_many, "1,000 members")] {
        let pid = master.pid().expect("running");
        *value += 2;
        let (first, second) = (*value - 1, *value);
        let value = first;
        let in_call = syncs_during(pid, || {
            let r = master.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
            assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
        });
        let start = Instant::now();
        while fleet.holding(value) < members {
            assert!(start.elapsed() < Duration::from_secs(60), "the fleet never got {value}");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(500));
        let value = second;
        let overall = syncs_during(pid, || {
            change(master, value, members, false);
            std::thread::sleep(Duration::from_millis(500));
        });
        match (in_call, overall) {
            (Some(a), Some(b)) => println!(
                "cluster fleet: fsync+fdatasync with {name}: {a} in the set_tweaksetting call, {b} from the call until in force on all and the group commit ran (strace -f -c)"
            ),
            _ => println!("cluster fleet: syncs not counted: strace is missing or cannot attach"),
        }
    }
}
