//! The Configuration Cluster's benchmark: how long one Tweak Settings change takes to reach 1, 5 and 20 member servers
//! (each a real panel on loopback), beside one `set_tweaksetting` call made straight to a member; and the master's
//! `version` latency while it pushes, beside the same when idle.

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
