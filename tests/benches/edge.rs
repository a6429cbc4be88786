//! Tweakgate's OFREP endpoints beside the peer the proof guide names, Unleash Edge (its frontend API, offline mode),
//! on the same flags and users, with `wrk` against both release servers in alternating rounds: requests/s, p50/p99
//! and each server's CPU time per request from `/proc`, for one flag, every flag and the cheapest endpoint, at 1, 16
//! and 64 connections.
//!
//! Runs when an `unleash-edge` binary is on `PATH` (`../shared/tools/build-unleash-edge.sh` builds one) and `wrk` is
//! installed; skipped with a note otherwise. Edge's bootstrap file is generated from Tweakgate's own bulk answers for
//! every user, and both servers are checked to answer alike for sample users before anything is timed.
//! `TWEAKGATE_BENCH_BEFORE=<tweakgate binary>` adds a third server, another build of Tweakgate on a copy of the same
//! configuration and state, so a change is measured against the build before it in the same run; without Edge, the
//! ratios are then to that build.
//!
//! Writes `peer.md` (the table) and `peer-throughput.svg` to `target/bench/` (or `TWEAKGATE_BENCH_OUT`).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::ServeProcess;

use crate::load::{CONNECTIONS, Figures, median, out_dir, parse_wrk, plot_series};

/// Users of the run: `u0000` … `u1999`, resellers whose privileges cycle through four sets, so flags differ by user.
const USERS: usize = 2000;
/// Seconds per `wrk` run.
const SECONDS: u32 = 1;
/// Rounds per case and connection count; each round runs every server once, in an order that turns each round.
const ROUNDS: usize = 5;
/// Edge's tokens (`<project>:<environment>.<secret>`): the client one for its own use, the frontend one for ours.
const CLIENT_TOKEN: &str = "*:development.benchclientsecret0123456789";
const FRONTEND_TOKEN: &str = "*:development.benchfrontendsecret012345678";
/// The flag the single-flag case asks for: the plugin's, whose answer depends on a setting and a privilege.
const FLAG: &str = "remote-access-key";

fn user(i: usize) -> String {
    format!("u{i:04}")
}

/// The configuration: the Remote Access Key plugin, and 2,000 resellers in four privilege sets.
fn config() -> String {
    let mut text = String::from("\n[tweak_settings]\nallow_deprecated_accesshash = true\n");
    for i in 0..USERS {
        let privileges = match i % 4 {
            0 => r#"["all"]"#,
            1 => r#"["manage-api-tokens"]"#,
            2 => r#"["manage-api-tokens", "create-user-session"]"#,
            _ => "[]",
        };
        let _ = write!(text, "\n[resellers.{}]\nprivileges = {privileges}\n", user(i));
    }
    text.push_str("\n[[plugins]]\npath = \"{plugin}\"\n");
    text
}

/// A server under load: its address, and how to read its CPU time.
struct Server {
    name: String,
    addr: SocketAddr,
    pid: u32,
    /// The endpoint paths and bodies it is asked on.
    api: Api,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Tweakgate,
    Edge,
}

/// What each server is asked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Health,
    OneFlag,
    EveryFlag,
    /// WHM API 1 `version` with root's API token (Tweakgate only: the builds compared with each other).
    Version,
    /// WHM API 1 `accesshash` with a reseller's access key (Tweakgate only).
    KeyCall,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Health,
        Case::OneFlag,
        Case::EveryFlag,
        Case::Version,
        Case::KeyCall,
    ];

    fn label(self) -> &'static str {
        match self {
            Case::Health => "cheapest endpoint",
            Case::OneFlag => "one flag",
            Case::EveryFlag => "every flag",
            Case::Version => "version, API token",
            Case::KeyCall => "accesshash, key",
        }
    }
}

/// Method, path and the body for user `u{i}` (`%s` marks where the user goes) of a case on a server; `None` when
/// the server has no such endpoint.
fn request_of(api: Api, case: Case) -> Option<(&'static str, String, Option<&'static str>)> {
    Some(match (api, case) {
        (Api::Edge, Case::Version | Case::KeyCall) => return None,
        (Api::Tweakgate, Case::Version) => ("GET", "/json-api/version?api.version=1".into(), None),
        (Api::Tweakgate, Case::KeyCall) => ("GET", "/json-api/accesshash?api.version=1".into(), None),
        (Api::Tweakgate, Case::Health) => ("GET", "/health".into(), None),
        (Api::Edge, Case::Health) => ("GET", "/internal-backstage/health".into(), None),
        (Api::Tweakgate, Case::OneFlag) => (
            "POST",
            format!("/ofrep/v1/evaluate/flags/{FLAG}"),
            Some(r#"{"context":{"targetingKey":"%s"}}"#),
        ),
        (Api::Tweakgate, Case::EveryFlag) => (
            "POST",
            "/ofrep/v1/evaluate/flags".into(),
            Some(r#"{"context":{"targetingKey":"%s"}}"#),
        ),
        (Api::Edge, Case::OneFlag) => (
            "POST",
            format!("/api/frontend/features/{FLAG}"),
            Some(r#"{"userId":"%s"}"#),
        ),
        (Api::Edge, Case::EveryFlag) => ("POST", "/api/frontend/all".into(), Some(r#"{"userId":"%s"}"#)),
    })
}

/// A `wrk` script that cycles through every user, one request each in turn. Every request is formatted once per
/// `wrk` thread before the run (`init`), so the load generator's per-request work is handing out the next string,
/// not building it in Lua: on two shared cores `wrk`'s own CPU is taken from the servers'.
fn script(dir: &Path, api: Api, case: Case, authorization: Option<&str>) -> Option<PathBuf> {
    let (method, path, body) = request_of(api, case)?;
    let mut lua = format!("wrk.method = \"{method}\"\nwrk.path = \"{path}\"\n");
    if let Some(authorization) = authorization {
        let _ = writeln!(lua, "wrk.headers[\"Authorization\"] = \"{authorization}\"");
    }
    // Without a body the request never changes: no `request` function, so `wrk` formats it once.
    if let Some(body) = body {
        let _ = writeln!(lua, "wrk.headers[\"Content-Type\"] = \"application/json\"");
        let _ = write!(
            lua,
            "local requests = {{}}\nlocal n = 0\n\
             function init(args)\n  \
             for i = 0, {last} do\n    \
             requests[i + 1] = wrk.format(nil, nil, nil, string.format('{body}', string.format('u%04d', i)))\n  \
             end\nend\n\
             function request()\n  n = n % {USERS} + 1\n  return requests[n]\nend\n",
            last = USERS - 1,
        );
    }
    let file = dir.join(format!(
        "{}-{case:?}.lua",
        if api == Api::Edge { "edge" } else { "tweakgate" }
    ));
    std::fs::write(&file, lua).expect("writing the wrk script");
    Some(file)
}

/// CPU time each thread of a process has run so far, in nanoseconds, by thread id: the scheduler's own count
/// (`/proc/<pid>/task/<tid>/schedstat`, first field), exact where `/proc/<pid>/stat` counts 10 ms ticks.
fn cpu_by_thread(pid: u32) -> std::collections::HashMap<u32, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return std::collections::HashMap::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            Some((tid, stat.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// CPU seconds a process's threads ran between two [`cpu_by_thread`] readings: a thread started in between counts
/// whole, one that ended in between loses its part (the servers' worker threads live as long as the process).
/// NaN when `/proc` could not tell.
fn cpu_between(before: &std::collections::HashMap<u32, u64>, after: &std::collections::HashMap<u32, u64>) -> f64 {
    if after.is_empty() {
        return f64::NAN;
    }
    let ns: u64 = after
        .iter()
        .map(|(tid, &t)| t.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    ns as f64 / 1e9
}

/// Times a process's threads gave up the CPU to wait (voluntary context switches, summed over `/proc/<pid>/task/*`):
/// each is a sleep that a wake-up ended, so per request it counts the wake-ups a request costs.
fn voluntary_switches(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .sum()
}

/// One `wrk` run of a script against a server, with the server's CPU per request and its wake-ups per request.
fn run(server: &Server, script: &Path, connections: usize) -> Option<(Figures, f64)> {
    let before = cpu_by_thread(server.pid);
    let switches = voluntary_switches(server.pid);
    let out = Command::new("wrk")
        .args([
            "--latency",
            "-d",
            &format!("{SECONDS}s"),
            "-c",
            &connections.to_string(),
        ])
        .args(["-t", &connections.min(2).to_string(), "-s"])
        .arg(script)
        .arg(format!("http://{}", server.addr))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let cpu = cpu_between(&before, &cpu_by_thread(server.pid));
    let switches = voluntary_switches(server.pid) - switches;
    let (mut figures, requests) = parse_wrk(&String::from_utf8_lossy(&out.stdout))?;
    figures.cpu_us = cpu * 1e6 / requests.max(1) as f64;
    Some((figures, switches / requests.max(1) as f64))
}

/// A process this run started (Edge, or the build before), stopped by its id when the run ends.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(addr: SocketAddr, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Tweakgate's bulk answer for one user, as `(flag, value)` pairs in order.
fn tweakgate_flags(addr: SocketAddr, authorization: &str, user: &str) -> Vec<(String, bool)> {
    let r = tests::request(
        addr,
        "POST",
        "/ofrep/v1/evaluate/flags",
        &[("Authorization", authorization), ("Content-Type", "application/json")],
        &format!(r#"{{"context":{{"targetingKey":"{user}"}}}}"#),
    );
    assert_eq!(r.status, 200, "bulk OFREP for {user}: {}", r.body);
    r.json()["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| (f["key"].as_str().expect("key").to_owned(), f["value"] == true))
        .collect()
}

/// Tweakgate's answer for [`FLAG`] alone and one user.
fn tweakgate_flag(addr: SocketAddr, authorization: &str, user: &str) -> bool {
    let r = tests::request(
        addr,
        "POST",
        &format!("/ofrep/v1/evaluate/flags/{FLAG}"),
        &[("Authorization", authorization), ("Content-Type", "application/json")],
        &format!(r#"{{"context":{{"targetingKey":"{user}"}}}}"#),
    );
    assert_eq!(r.status, 200, "OFREP {FLAG} for {user}: {}", r.body);
    r.json()["value"] == true
}

/// Edge's answer for [`FLAG`] alone and one user (its frontend API answers a toggle that is off for the user with
/// `enabled: false`).
fn edge_flag(addr: SocketAddr, user: &str) -> bool {
    let r = tests::request(
        addr,
        "POST",
        &format!("/api/frontend/features/{FLAG}"),
        &[("Authorization", FRONTEND_TOKEN), ("Content-Type", "application/json")],
        &format!(r#"{{"userId":"{user}"}}"#),
    );
    assert_eq!(r.status, 200, "Edge's {FLAG} for {user}: {}", r.body);
    r.json()["enabled"] == true
}

/// Edge's answer for every flag and one user, sorted by name.
fn edge_flags(addr: SocketAddr, user: &str) -> Vec<(String, bool)> {
    let r = tests::request(
        addr,
        "POST",
        "/api/frontend/all",
        &[("Authorization", FRONTEND_TOKEN), ("Content-Type", "application/json")],
        &format!(r#"{{"userId":"{user}"}}"#),
    );
    assert_eq!(r.status, 200, "Edge's /api/frontend/all for {user}: {}", r.body);
    let mut flags: Vec<(String, bool)> = r.json()["toggles"]
        .as_array()
        .expect("toggles")
        .iter()
        .map(|t| (t["name"].as_str().expect("name").to_owned(), t["enabled"] == true))
        .collect();
    flags.sort();
    flags
}

/// Unleash's client-features document with, for each flag, the users Tweakgate answers `true`: on for everyone (a
/// `default` strategy), for a list (`userId IN [...]`), or off (`enabled: false`, no strategy).
fn bootstrap(answers: &[Vec<(String, bool)>]) -> Value {
    let names: Vec<&str> = answers[0].iter().map(|(k, _)| k.as_str()).collect();
    let features: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(f, name)| {
            let on: Vec<String> = (0..USERS).filter(|&u| answers[u][f].1).map(user).collect();
            let strategies = if on.len() == USERS {
                json!([{"name": "default", "parameters": {}, "constraints": []}])
            } else {
                json!([{"name": "default", "parameters": {}, "constraints": [{
                    "contextName": "userId", "operator": "IN", "values": on,
                    "inverted": false, "caseInsensitive": false
                }]}])
            };
            let enabled = !on.is_empty();
            json!({
                "name": name, "type": "release", "project": "default", "enabled": enabled, "stale": false,
                "impressionData": false, "variants": [],
                "strategies": if enabled { strategies } else { json!([]) },
            })
        })
        .collect();
    json!({"version": 2, "features": features})
}

/// One case and connection count on one server: medians over the rounds and the medians of the per-round ratios to
/// Edge's figures (requests/s, CPU per request).
struct Row {
    case: Case,
    connections: usize,
    server: String,
    figures: Figures,
    /// Wake-ups (voluntary context switches) per request.
    wakeups: f64,
    /// The server the ratios are to.
    base: String,
    rps_ratio: f64,
    cpu_ratio: f64,
    /// The lowest and highest per-round ratios.
    rps_range: (f64, f64),
    cpu_range: (f64, f64),
}

/// The lowest and highest of some figures.
fn range(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

pub fn run_all() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("peer: wrk is not installed (apt-get install wrk); skipped");
        return;
    }
    // Edge has no `--version`; `--help` answers 0 from a binary that runs.
    let has_edge = Command::new("unleash-edge")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let before_bin = std::env::var_os("TWEAKGATE_BENCH_BEFORE");
    if !has_edge {
        println!(
            "peer: no unleash-edge on PATH (build it with ../shared/tools/build-unleash-edge.sh ROOT and add ROOT/bin \
             to PATH); {}",
            if before_bin.is_some() {
                "measuring against the build before only"
            } else {
                "skipped"
            }
        );
        if before_bin.is_none() {
            return;
        }
    }
    let tweakgate = ServeProcess::start_with(&config(), false, true);
    let authorization = format!("whm root:{}", tweakgate.root_token);
    // A reseller's access key for the gated call, written into the state before anything is copied.
    let key_authorization = {
        let panel = panel::state::Panel::open(&tweakgate.config_path()).expect("panel");
        let name = settings::Username::new(&user(1)).expect("a user name");
        let key = panel::whm::ops::keys::generate_key(&panel, &name, "bench").expect("a key");
        format!("WHM {}:{}", user(1), key.as_str())
    };
    // Tweakgate's answers for every user make Edge's flags.
    let answers: Vec<Vec<(String, bool)>> = (0..USERS)
        .map(|i| tweakgate_flags(tweakgate.addr, &authorization, &user(i)))
        .collect();
    let work = tempfile::tempdir().expect("a work directory");
    let features = work.path().join("features.json");
    std::fs::write(&features, bootstrap(&answers).to_string()).expect("writing the bootstrap file");
    let edge = has_edge.then(|| {
        let addr = tests::free_loopback_addr();
        let child = Spawned(
            Command::new("unleash-edge")
                .args([
                    "--port",
                    &addr.port().to_string(),
                    "--interface",
                    "127.0.0.1",
                    "--workers",
                    "2",
                ])
                .arg("offline")
                .arg("--bootstrap-file")
                .arg(&features)
                .args(["--tokens", CLIENT_TOKEN, "--frontend-tokens", FRONTEND_TOKEN])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting unleash-edge"),
        );
        wait_for_port(addr, "unleash-edge");
        // Both answer alike, for a sample of users from every privilege set, before anything is timed.
        for i in (0..USERS).step_by(97).chain([0, 1, 2, 3, USERS - 1]) {
            let mut ours = answers[i].clone();
            ours.sort();
            assert_eq!(
                ours,
                edge_flags(addr, &user(i)),
                "Tweakgate and Edge differ for {}",
                user(i)
            );
            assert_eq!(
                tweakgate_flag(tweakgate.addr, &authorization, &user(i)),
                edge_flag(addr, &user(i)),
                "Tweakgate and Edge answer {FLAG} differently for {}",
                user(i)
            );
        }
        println!(
            "peer: Tweakgate and Unleash Edge agree on every flag, and on {FLAG} asked alone, for the sampled users"
        );
        (child, addr)
    });

    // The build before, on a copy of the same configuration and state.
    let before_dir = tempfile::tempdir().expect("a directory for the build before");
    let before = before_bin.map(|bin| {
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", tweakgate.dir.path().display()))
            .arg(before_dir.path())
            .status()
            .expect("cp");
        assert!(copied.success(), "copying the server's directory");
        let addr = tests::free_loopback_addr();
        let path = before_dir.path().join("tweakgate.toml");
        let text = std::fs::read_to_string(&path).expect("the config");
        std::fs::write(&path, text.replace(&tweakgate.addr.to_string(), &addr.to_string())).expect("the config");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&path)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the build before");
        wait_for_port(addr, "the build before");
        (Spawned(child), addr)
    });

    // The first server is the one every ratio is to: Edge, or without it the build before.
    let mut servers = Vec::new();
    if let Some((child, addr)) = &edge {
        servers.push(Server {
            name: "Unleash Edge".into(),
            addr: *addr,
            pid: child.0.id(),
            api: Api::Edge,
        });
    }
    if let Some((child, addr)) = &before {
        servers.push(Server {
            name: "Tweakgate, build before".into(),
            addr: *addr,
            pid: child.0.id(),
            api: Api::Tweakgate,
        });
    }
    servers.push(Server {
        name: "Tweakgate".into(),
        addr: tweakgate.addr,
        pid: tweakgate.pid().expect("the server runs"),
        api: Api::Tweakgate,
    });
    let baseline = servers[0].name.clone();

    let mut rows = Vec::new();
    for case in Case::ALL {
        let scripts: Vec<Option<PathBuf>> = servers
            .iter()
            .map(|s| {
                let auth = match (s.api, case) {
                    (_, Case::Health) => None,
                    (Api::Edge, _) => Some(FRONTEND_TOKEN),
                    (Api::Tweakgate, Case::KeyCall) => Some(key_authorization.as_str()),
                    (Api::Tweakgate, _) => Some(authorization.as_str()),
                };
                script(work.path(), s.api, case, auth)
            })
            .collect();
        // Ratios are to the first server that has the endpoint: Edge, or the build before for the WHM calls.
        let Some(base) = scripts.iter().position(Option::is_some) else {
            continue;
        };
        if scripts.iter().flatten().count() < 2 {
            println!(
                "peer: {} has one server here, nothing to compare with (`-- wrk` measures it against /health); skipped",
                case.label()
            );
            continue;
        }
        for &c in &CONNECTIONS {
            let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); servers.len()];
            let mut wakeups: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
            let mut rps_ratios: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
            let mut cpu_ratios: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
            for round in 0..ROUNDS {
                let mut figures: Vec<Option<Figures>> = vec![None; servers.len()];
                for k in 0..servers.len() {
                    let i = (k + round) % servers.len();
                    let Some(script) = &scripts[i] else { continue };
                    if let Some((f, w)) = run(&servers[i], script, c) {
                        figures[i] = Some(f);
                        wakeups[i].push(w);
                    }
                }
                for (i, f) in figures.iter().enumerate() {
                    let Some(f) = f else { continue };
                    if f.errors > 0 {
                        println!(
                            "peer: {} answered {} errors ({}, {c} connections)",
                            servers[i].name,
                            f.errors,
                            case.label()
                        );
                    }
                    runs[i].push(*f);
                    if let Some(base) = figures[base] {
                        rps_ratios[i].push(f.rps / base.rps);
                        cpu_ratios[i].push(f.cpu_us / base.cpu_us);
                    }
                }
            }
            for (i, s) in servers.iter().enumerate() {
                if scripts[i].is_none() {
                    continue;
                }
                if runs[i].is_empty() {
                    println!(
                        "peer: wrk gave no figures for {} ({}, {c} connections)",
                        s.name,
                        case.label()
                    );
                    continue;
                }
                let pick = |f: fn(&Figures) -> f64| median(runs[i].iter().map(f).collect());
                let row = Row {
                    case,
                    connections: c,
                    server: s.name.clone(),
                    figures: Figures {
                        rps: pick(|f| f.rps),
                        p50_ms: pick(|f| f.p50_ms),
                        p99_ms: pick(|f| f.p99_ms),
                        errors: runs[i].iter().map(|f| f.errors).sum(),
                        cpu_us: pick(|f| f.cpu_us),
                    },
                    wakeups: median(std::mem::take(&mut wakeups[i])),
                    base: servers[base].name.clone(),
                    rps_range: range(&rps_ratios[i]),
                    cpu_range: range(&cpu_ratios[i]),
                    rps_ratio: median(std::mem::take(&mut rps_ratios[i])),
                    cpu_ratio: median(std::mem::take(&mut cpu_ratios[i])),
                };
                let spread = |v: Vec<f64>| {
                    let lo = v.iter().copied().fold(f64::MAX, f64::min);
                    let hi = v.iter().copied().fold(f64::MIN, f64::max);
                    format!("{lo:.0}–{hi:.0}")
                };
                println!(
                    "peer {} at {c} connection(s), {}: {:.0} req/s (rounds {}), p50 {:.2} ms, p99 {:.2} ms, server CPU \
                     {:.1} us/request, {:.2} wake-ups/request; ÷ {}: {:.2}x requests/s (rounds {:.2}–{:.2}; target \
                     against Edge >= 1.3), {:.2}x CPU per request (rounds {:.2}–{:.2}; target against Edge <= 0.7)",
                    case.label(),
                    s.name,
                    row.figures.rps,
                    spread(runs[i].iter().map(|f| f.rps).collect()),
                    row.figures.p50_ms,
                    row.figures.p99_ms,
                    row.figures.cpu_us,
                    row.wakeups,
                    row.base,
                    row.rps_ratio,
                    row.rps_range.0,
                    row.rps_range.1,
                    row.cpu_ratio,
                    row.cpu_range.0,
                    row.cpu_range.1,
                );
                rows.push(row);
            }
        }
    }
    drop(before);
    drop(edge);

    let mut table = String::from(
        "| case | connections | server | requests/s | p50 ms | p99 ms | server CPU µs/request | wake-ups/request | \
         compared with | requests/s ratio (rounds) | CPU ratio (rounds) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let f = r.figures;
        let errors = if f.errors > 0 {
            format!(" ({} errors)", f.errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {:.0}{errors} | {:.2} | {:.2} | {:.1} | {:.2} | {} | {:.2}× ({:.2}–{:.2}) | {:.2}× ({:.2}–{:.2}) |",
            r.case.label(),
            r.connections,
            r.server,
            f.rps,
            f.p50_ms,
            f.p99_ms,
            f.cpu_us,
            r.wakeups,
            r.base,
            r.rps_ratio,
            r.rps_range.0,
            r.rps_range.1,
            r.cpu_ratio,
            r.cpu_range.0,
            r.cpu_range.1
        );
    }
    let series: Vec<(String, Vec<Option<f64>>)> = Case::ALL
        .iter()
        .filter(|c| matches!(c, Case::OneFlag | Case::EveryFlag))
        .flat_map(|&case| {
            let rows = &rows;
            servers.iter().map(move |s| {
                let points = CONNECTIONS
                    .iter()
                    .map(|&c| {
                        rows.iter()
                            .find(|r| r.case == case && r.server == s.name && r.connections == c)
                            .map(|r| r.figures.rps)
                    })
                    .collect();
                (format!("{}, {}", s.name, case.label()), points)
            })
        })
        .filter(|(_, points): &(String, Vec<Option<f64>>)| points.iter().any(Option::is_some))
        .collect();
    let out = out_dir();
    std::fs::write(out.join("peer.md"), &table).expect("writing the table");
    std::fs::write(
        out.join("peer-throughput.svg"),
        plot_series(
            &format!("Tweakgate vs {baseline} on loopback, wrk: requests/s by connections"),
            &series,
        ),
    )
    .expect("writing the plot");
    println!("peer: table and plot written to {}", out.display());
}
