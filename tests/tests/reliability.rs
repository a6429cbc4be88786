//! The proof guide's "Reliability" and "Secrets" cases that need crashes, broken files, load or a real child process.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credentials::{AccessKey, FAULT_ENV};
use serde_json::Value;
use tests::{Cast, Reply, TestPanel, request, wait_until};

/// SIGABRT on Linux: what `std::process::abort` kills the process with.
const SIGABRT: i32 = 6;

use tests::tweakgate_bin;

fn whm(user: &str, secret: &str) -> String {
    format!("WHM {user}:{secret}")
}

fn private_dir(path: &Path) {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .unwrap();
}

fn health(server: &TestPanel) -> Value {
    request(server.addr(), "GET", "/health", &[], "").json()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The cast with the Remote Access Key plugin, bob holding `manage-api-tokens` and `list-accts`, and no throttling to
/// speak of.
fn cast() -> Cast {
    Cast::standard()
        .without_plugins()
        .plugin("remote-access-key", "")
        .server("auth_failure_limit = 1000000")
        .reseller("bob", &["manage-api-tokens", "list-accts"])
}

/// Checks `.accesshash` text as WHM writes it: 30 lines of 32 lowercase hex digits; returns the key on one line.
fn whole_key_text(text: &str) -> String {
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 30, "30 lines: {text:?}");
    for l in &lines {
        assert!(
            l.len() == 32 && l.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "a whole line of lowercase hex: {l:?}"
        );
    }
    assert!(text.ends_with('\n'));
    lines.concat()
}

/// Fault: the process dies between writing the temp file and renaming it, or between the rename and the
/// directory sync. Afterwards `.accesshash` holds the whole old key or the whole new one, and the CLI works again.
#[test]
fn crash_during_key_write_leaves_a_whole_key() {
    let bin = tweakgate_bin();
    for (point, new_expected) in [("after-temp-written", false), ("after-rename", true)] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tweakgate.toml");
        // The cast without plugins: the CLI loads none.
        std::fs::write(&config, cast().without_plugins().toml()).unwrap();
        let home = dir.path().join("state/home/bob");
        private_dir(&home);
        let old = AccessKey::generate().unwrap();
        credentials::write_key(&home, &old).unwrap();

        let out = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(["accesshash", "generate", "--user", "bob"])
            .env(FAULT_ENV, point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(SIGABRT),
            "{point}: the child aborts there: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );

        let text = std::fs::read_to_string(home.join(".accesshash")).unwrap();
        let now = whole_key_text(&text);
        assert_eq!(
            now == old.as_str(),
            !new_expected,
            "{point}: old key exactly when the rename did not happen"
        );
        let back = credentials::read_key(&home).unwrap().expect("a key is there");
        assert!(back.matches(&now), "{point}: read_key reads the same whole key");
        assert_eq!(back.len(), 960);

        // The generation was audited before the file was touched: the log names the new key's signature.
        let audit = std::fs::read_to_string(dir.path().join("state/audit.log")).unwrap();
        let last = audit
            .lines()
            .rfind(|l| l.contains("\"key_generated\""))
            .unwrap_or_else(|| panic!("{point}: no key_generated entry in {audit}"));
        let last: Value = serde_json::from_str(last).unwrap();
        if new_expected {
            assert_eq!(last["signature"], back.signature().to_string(), "{point}");
        } else {
            assert_ne!(last["signature"], old.signature().to_string(), "{point}");
        }
        assert!(
            !audit.contains(old.as_str()) && !audit.contains(&now),
            "no key in the audit log"
        );

        // A temp file left behind by the crash holds key material: it must be private.
        for name in entries(&home) {
            let meta = std::fs::symlink_metadata(home.join(&name)).unwrap();
            assert_eq!(meta.mode() & 0o077, 0, "{point}: {name} is private");
        }

        // The next generation, without a fault, works and replaces whatever is there.
        let out = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(["accesshash", "generate", "--user", "bob"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = credentials::read_key(&home).unwrap().unwrap();
        assert!(!after.matches(&now) && !after.matches(old.as_str()), "{point}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&after.signature().to_string()), "{stdout}");
        assert!(
            !stdout.contains(after.as_str()),
            "the CLI prints the signature, not the key"
        );
    }
}

/// Serves the cast with `state/audit.log` a symlink to `/dev/full` and bob's key already on disk.
fn server_with_full_audit_log(bob_key: &AccessKey) -> TestPanel {
    TestPanel::serve_prepared(&cast(), |dir| {
        let state = dir.join("state");
        private_dir(&state);
        std::os::unix::fs::symlink("/dev/full", state.join("audit.log")).unwrap();
        let home = state.join("home/bob");
        private_dir(&home);
        credentials::write_key(&home, bob_key).unwrap();
    })
}

/// Fault: the audit log cannot be written (every write fails with ENOSPC). A key generation is refused with a
/// reason naming the audit log, the old key keeps working, and no temp file is left.
#[test]
fn audit_failure_blocks_key_generation() {
    let old = AccessKey::generate().unwrap();
    let server = server_with_full_audit_log(&old);
    let home = server.dir.path().join("state/home/bob");
    let auth = whm("bob", old.as_str());

    let r = server.presenting(&auth).api("accesshash", "generate=1");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["metadata"]["result"], 0, "{v}");
    let reason = v["metadata"]["reason"].as_str().unwrap();
    assert!(reason.contains("audit log"), "{reason}");
    assert!(v["data"].is_null(), "no key is handed out: {v}");

    // The host-side generation (what the CLI uses) is refused too.
    assert!(server.try_access_key("bob").is_err());

    assert_eq!(
        server.presenting(&auth).api("version", "").status,
        200,
        "the old key still works"
    );
    assert!(credentials::read_key(&home).unwrap().unwrap().matches(old.as_str()));
    assert_eq!(entries(&home), vec![".accesshash"], "no temp file left");
}

/// Bug check: the CLI's error for an unwritable audit log should say that the audit log failed.
#[test]
fn audit_failure_error_names_the_audit_log() {
    let old = AccessKey::generate().unwrap();
    let server = server_with_full_audit_log(&old);
    let err = server.try_access_key("bob").unwrap_err();
    assert!(err.contains("audit"), "{err}");
}

/// Bad input: key files that are symlinks, FIFOs, directories, huge, or group/world-readable are refused (401)
/// even when they hold (or point at) the right key, and the server keeps serving others.
#[test]
fn unsafe_key_files_are_refused() {
    let cast = ["sym", "fifo", "dirk", "huge", "open"]
        .into_iter()
        .fold(cast(), |cast, u| cast.reseller(u, &["manage-api-tokens"]));
    let server = TestPanel::serve(&cast);
    let state = server.dir.path().join("state");
    let bob = server.access_key("bob");
    let bob_auth = whm("bob", bob.as_str());
    assert_eq!(server.presenting(&bob_auth).api("version", "").status, 200);

    let home = |u: &str| {
        let h = state.join("home").join(u);
        private_dir(&h);
        h
    };
    let mut cases: Vec<(&str, AccessKey)> = Vec::new();

    // A symlink to a perfectly good key file.
    let key = AccessKey::generate().unwrap();
    let real = state.join("real-key");
    std::fs::write(&real, key.to_file_text()).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&real, home("sym").join(".accesshash")).unwrap();
    cases.push(("sym", key));

    // A FIFO: must not block the server.
    let status = Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(home("fifo").join(".accesshash"))
        .status()
        .unwrap();
    assert!(status.success());
    cases.push(("fifo", AccessKey::generate().unwrap()));

    // A directory.
    private_dir(&home("dirk").join(".accesshash"));
    cases.push(("dirk", AccessKey::generate().unwrap()));

    // 1 MiB: the right key followed by whitespace, which normalising would ignore.
    let key = AccessKey::generate().unwrap();
    let mut text = key.to_file_text();
    text.push_str(&"\n".repeat((1 << 20) - text.len()));
    let p = home("huge").join(".accesshash");
    std::fs::write(&p, &text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    cases.push(("huge", key));

    // Mode 0644 with the right key.
    let key = AccessKey::generate().unwrap();
    let p = home("open").join(".accesshash");
    std::fs::write(&p, key.to_file_text()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    cases.push(("open", key));

    let denied = server.presenting("WHM bob:nope").api("version", "").body;
    for (u, key) in &cases {
        let start = Instant::now();
        let r = server.presenting(&whm(u, key.as_str())).api("version", "");
        assert_eq!(r.status, 401, "{u}: {}", r.body);
        assert_eq!(r.body, denied, "{u}: the same answer as any failure");
        assert!(start.elapsed() < Duration::from_secs(5), "{u}: answered promptly");
        assert_eq!(
            server.presenting(&bob_auth).api("version", "").status,
            200,
            "after {u}: bob still works"
        );
        assert_eq!(health(&server)["status"], "ok", "after {u}");
    }
    // The refusals name the path (the message the log gets).
    for (u, _) in &cases {
        let err = credentials::read_key(&state.join("home").join(u)).unwrap_err();
        assert!(err.to_string().contains(&format!("home/{u}/.accesshash")), "{u}: {err}");
    }
}

/// Bad input, cached: a key that authenticated once must stop working as soon as its file becomes unsafe, even
/// when the change (chmod, or moving the file and linking to it) leaves its size and mtime as they were.
#[test]
fn key_file_made_unsafe_after_caching_is_refused() {
    let server = TestPanel::serve(&cast());
    let home = server.dir.path().join("state/home/bob");
    let key = server.access_key("bob");
    let auth = whm("bob", key.as_str());
    let file = home.join(".accesshash");

    assert_eq!(server.presenting(&auth).api("version", "").status, 200, "cached now");
    // The cache trusts the file until its directory's change notification is delivered: milliseconds, polled.
    let refused = || {
        wait_until(Duration::from_secs(10), || {
            server.presenting(&auth).api("version", "").status == 401
        })
        .is_some()
    };
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(refused(), "chmod 0644 after caching");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(server.presenting(&auth).api("version", "").status, 200, "0600 again");
    let moved = home.join("moved");
    std::fs::rename(&file, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &file).unwrap();
    assert!(refused(), "a symlink to the same inode");
}

/// Fault: the config is deleted, half-written, or replaced by rename with a broken file while serving. The last good
/// config stays in force, `/health` says `degraded` naming the file, and the next good file is in force within 250 ms.
#[test]
fn broken_config_keeps_the_last_good_one() {
    let server = TestPanel::serve(&cast());
    let key = server.access_key("bob");
    let auth = whm("bob", key.as_str());
    let good = std::fs::read_to_string(server.config_path()).unwrap();
    let file_name = server.config_path().display().to_string();
    let csp_on = |on: bool| good.replace("[tweak_settings]\n", &format!("[tweak_settings]\ncsp = {on}\n"));
    let csp = || server.is_on("csp");

    // Each fault, then a good file that flips `csp`, so that "picked up" is observable.
    type Fault<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let faults: Vec<Fault<'_>> = vec![
        (
            "deleted",
            Box::new(|| std::fs::remove_file(server.config_path()).unwrap()),
        ),
        (
            "half-written in place",
            Box::new(|| {
                let cut = good.find("\"manage-api").unwrap() + 5;
                std::fs::write(server.config_path(), &good[..cut]).unwrap();
            }),
        ),
        (
            "replaced by rename with a truncated file",
            Box::new(|| {
                let cut = good.find("[resellers.erin]").unwrap() + 8;
                server.rewrite_config(&good[..cut]);
            }),
        ),
        (
            "replaced by rename with a wrong type",
            Box::new(|| {
                server.rewrite_config(&good.replace("auth_failure_limit = 1000000", "auth_failure_limit = \"x\""))
            }),
        ),
    ];
    let mut expected_csp = false;
    for (what, fault) in &faults {
        let generation = server.generation();
        fault();
        let seen = wait_until(Duration::from_secs(3), || health(&server)["status"] == "degraded");
        assert!(seen.is_some(), "{what}: /health shows the problem");
        let h = server.health_as_root();
        let error = h["config"]["error"].as_str().unwrap_or_default();
        assert!(error.contains(&file_name), "{what}: the error names the file: {h}");
        assert_eq!(server.generation(), generation, "{what}: nothing new in force");
        assert!(server.reloads().last_error.is_some(), "{what}");
        assert_eq!(csp(), expected_csp, "{what}: the last good settings stay");
        assert_eq!(
            server.presenting(&auth).api("version", "").status,
            200,
            "{what}: key auth still works"
        );
        assert_eq!(
            server.presenting(&auth).api("accesshash", "").json()["data"]["accesshash"],
            key.as_str(),
            "{what}: the plugin still serves"
        );

        expected_csp = !expected_csp;
        server.rewrite_config(&csp_on(expected_csp));
        let took = wait_until(Duration::from_secs(3), || csp() == expected_csp);
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(250)),
            "{what}: the next good file is in force within 250 ms: {took:?}"
        );
        let ok = wait_until(Duration::from_secs(1), || health(&server)["status"] == "ok");
        assert!(ok.is_some(), "{what}: healthy again: {}", health(&server));
        assert_eq!(server.health_as_root()["config"]["error"], Value::Null);
    }
}

/// Load: four threads authenticate with bob's key while another regenerates it 20 times. No 5xx ever; a failure
/// with a key only happens once a regeneration has started (no torn read); once a generation returns, the old key
/// fails and the new one works at once.
#[test]
fn authentication_during_regeneration() {
    let server = TestPanel::serve(&cast());
    let first = server.access_key("bob");
    // (generation, key) in force; `started` counts generations begun.
    let current = Arc::new(Mutex::new((0u64, first.as_str().to_owned())));
    let started = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(4);

    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (current, started, stop, requests, server) = (&current, &started, &stop, &requests, &server);
            workers.push(s.spawn(move || {
                let (mut ok, mut denied) = (0, 0);
                while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
                    let (generation, key) = current.lock().unwrap().clone();
                    let r = server.presenting(&whm("bob", &key)).api("version", "");
                    requests.fetch_add(1, Ordering::Relaxed);
                    assert!(r.status < 500, "never a 5xx: {} {}", r.status, r.body);
                    match r.status {
                        200 => ok += 1,
                        401 => {
                            assert!(
                                started.load(Ordering::Acquire) > generation,
                                "key of generation {generation} refused while it was still in force"
                            );
                            denied += 1;
                        }
                        other => panic!("unexpected status {other}: {}", r.body),
                    }
                }
                (ok, denied)
            }));
        }

        let mut keys = vec![first.as_str().to_owned()];
        for i in 1..=20u64 {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            started.store(i, Ordering::Release);
            let new = server.access_key("bob");
            let new = new.as_str().to_owned();
            let old = std::mem::replace(&mut *current.lock().unwrap(), (i, new.clone())).1;
            assert_eq!(
                server.presenting(&whm("bob", &old)).api("version", "").status,
                401,
                "generation {i}: old key"
            );
            assert_eq!(
                server.presenting(&whm("bob", &new)).api("version", "").status,
                200,
                "generation {i}: new key"
            );
            assert!(!keys.contains(&new), "every key is new");
            keys.push(new);
        }
        stop.store(true, Ordering::Release);
        assert_eq!(keys.len(), 21, "20 generations within the time limit");
        let (mut ok, mut denied) = (0, 0);
        for w in workers {
            let (o, d) = w.join().unwrap();
            ok += o;
            denied += d;
        }
        assert!(ok > 50, "the workers did authenticate: {ok} ok, {denied} denied");
    });
    assert_eq!(health(&server)["status"], "ok");
}

/// Load: the config flips `allow_deprecated_accesshash` and bob's `manage-api-tokens` together, each state held just
/// past the watcher's settle time (`state::SETTLE`, since a file still changing is not read). Every request and every
/// snapshot sees both on or both off, never a mix, and nothing answers 5xx.
#[test]
fn settings_flipping_under_load_are_seen_whole() {
    let server = TestPanel::serve(&cast());
    let on = server.config_text();
    let off = on
        .replace(
            "allow_deprecated_accesshash = true",
            "allow_deprecated_accesshash = false",
        )
        .replace(
            "privileges = [\"manage-api-tokens\", \"list-accts\"]",
            "privileges = [\"list-accts\"]",
        );
    assert_ne!(on, off);
    let auth = server.as_("bob").authorization().unwrap().to_owned();
    let stop = AtomicBool::new(false);
    let seen_on = AtomicUsize::new(0);
    let seen_off = AtomicUsize::new(0);
    let snapshots = AtomicUsize::new(0);

    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    let r = server.presenting(&auth).api("applist", "");
                    assert_eq!(r.status, 200, "{}", r.body);
                    let apps: Vec<String> = r.json()["data"]["app"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect();
                    // accesshash needs the setting and the privilege; api_token_create needs only the privilege.
                    let key_feature = apps.iter().any(|a| a == "accesshash");
                    let privilege = apps.iter().any(|a| a == "api_token_create");
                    assert_eq!(key_feature, privilege, "a mixed state: {apps:?}");
                    if privilege {
                        seen_on.fetch_add(1, Ordering::Relaxed);
                    } else {
                        seen_off.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        s.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                let (setting, privilege, visible) = server.one_view(
                    "bob",
                    "allow_deprecated_accesshash",
                    "manage-api-tokens",
                    "remote-access-key",
                );
                assert_eq!(setting, privilege, "a snapshot mixes two configs");
                assert_eq!(visible, setting);
                snapshots.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        // Each flip waits for its reload (however loaded the machine), then lets the readers see it a while.
        for flip in 1..=8 {
            let before = server.generation();
            server.rewrite_config(if flip % 2 == 0 { &on } else { &off });
            let reloaded = wait_until(Duration::from_secs(10), || server.generation() > before);
            if reloaded.is_none() {
                stop.store(true, Ordering::Release);
                panic!("flip {flip}: the config was not reloaded within 10 s");
            }
            std::thread::sleep(panel::state::SETTLE + Duration::from_millis(30));
        }
        stop.store(true, Ordering::Release);
    });
    let (on_count, off_count) = (seen_on.load(Ordering::Relaxed), seen_off.load(Ordering::Relaxed));
    assert!(
        on_count > 0 && off_count > 0,
        "both states were served: {on_count} on, {off_count} off"
    );
    assert!(server.generation() > 4, "the config was reloaded many times");
    assert!(snapshots.load(Ordering::Relaxed) > 100);
}

/// Load: many wrong keys from one address are answered 429 after `auth_failure_limit`, while the right key still
/// passes; the limiter tracks at most `MAX_TRACKED` sources whatever their number.
#[test]
fn brute_force_is_throttled_in_bounded_memory() {
    let server = TestPanel::serve(&cast().server("auth_failure_limit = 7"));
    let key = server.access_key("bob");
    let statuses: Vec<u16> = (0..12)
        .map(|_| {
            let wrong = AccessKey::generate().unwrap();
            server.presenting(&whm("bob", wrong.as_str())).api("version", "").status
        })
        .collect();
    assert_eq!(&statuses[..7], &[401; 7], "{statuses:?}");
    assert!(statuses[7..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = server.presenting(&whm("bob", key.as_str())).api("version", "");
    assert_eq!(r.status, 200, "a correct key is never refused for wrong ones");
    let wrong = AccessKey::generate().unwrap();
    let r = server.presenting(&whm("bob", wrong.as_str())).api("version", "");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(!r.body.contains(key.as_str()));

    for i in 0..10_000u32 {
        server.record_failures(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 1);
        assert!(
            server.tracked_sources() <= panel::store::limiter::MAX_TRACKED,
            "after {i}"
        );
    }
    assert!(server.tracked_sources() <= panel::store::limiter::MAX_TRACKED);
    // A recent attacker among many sources is still throttled after 7 failures.
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    server.record_failures(ip, 7);
    assert!(server.throttled(ip));
    assert_eq!(
        request(server.addr(), "GET", "/health", &[], "").status,
        200,
        "still serving"
    );
}

/// Kills the child server when the test ends, passes or panics.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Secret texts to look for, and the chunks of each whose absence proves that no run of it longer than a chunk leaked.
fn leaks(haystack: &str, secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, secret) in secrets {
        let chunk = (secret.len() / 2).clamp(8, 24);
        let mut i = 0;
        while i + chunk <= secret.len() {
            if haystack.contains(&secret[i..i + chunk]) {
                found.push(format!("{what} (chars {i}..{})", i + chunk));
                break;
            }
            i += chunk;
        }
    }
    found
}

/// Secrets: a real `tweakgate serve` with debug logging, keys generated and presented right and wrong, tokens
/// created, used, listed and revoked, passwords, a key converted by the CLI and a plugin that panics. No key, token,
/// password or raw `Authorization` value appears in the captured output, the audit log or any listing; signatures do.
#[test]
fn secrets_never_reach_logs_or_listings() {
    let bin = tweakgate_bin();
    let rak = tests::build_cdylib("remote-access-key");
    let panics = tests::build_cdylib("fixture-panics");
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let password = "correct horse battery staple";
    let hash = panel::auth::header::hash_password(password).unwrap();
    let config = format!(
        r#"
[server]
listen = ["{addr}"]
state_dir = "state"
auth_failure_limit = 1000000

[tweak_settings]
allow_deprecated_accesshash = true

[root]
password_hash = "{hash}"

[resellers.bob]
privileges = ["manage-api-tokens", "list-accts"]

[resellers.sym]
privileges = ["manage-api-tokens"]

[[plugins]]
path = "{}"

[[plugins]]
path = "{}"
"#,
        rak.display(),
        panics.display()
    );
    let config_path = dir.path().join("tweakgate.toml");
    std::fs::write(&config_path, config).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(&bin)
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };

    // Keys for root and bob from the CLI, before the server starts.
    let mut captured_cli = String::new();
    for u in ["root", "bob"] {
        let (status, out) = cli(&["accesshash", "generate", "--user", u]);
        assert!(status.success(), "{out}");
        captured_cli.push_str(&out);
    }
    let state = dir.path().join("state");
    let root_key = credentials::read_key(&state.join("root")).unwrap().unwrap();
    let bob_key = credentials::read_key(&state.join("home/bob")).unwrap().unwrap();
    assert!(
        captured_cli.contains(&root_key.signature().to_string()),
        "{captured_cli}"
    );
    // A refused key file, so that the refusal is logged too.
    let sym_home = state.join("home/sym");
    private_dir(&sym_home);
    let sym_key = AccessKey::generate().unwrap();
    std::fs::write(state.join("elsewhere"), sym_key.to_file_text()).unwrap();
    std::os::unix::fs::symlink(state.join("elsewhere"), sym_home.join(".accesshash")).unwrap();

    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _guard = Child(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(15), "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let api = |function: &str, query: &str, auth: &str| -> Reply {
        request(
            addr,
            "GET",
            &format!("/json-api/{function}?api.version=1&{query}"),
            &[("Authorization", auth)],
            "",
        )
    };

    let mut secrets: Vec<(String, String)> = vec![
        ("root key".into(), root_key.as_str().to_owned()),
        ("bob key".into(), bob_key.as_str().to_owned()),
        ("sym key".into(), sym_key.as_str().to_owned()),
        ("password".into(), password.to_owned()),
    ];
    let root_auth = whm("root", root_key.as_str());
    assert_eq!(api("version", "", &root_auth).status, 200);

    // Bob regenerates his key through the plugin; the new key is in the answer only.
    let r = api("accesshash", "generate=1", &whm("bob", bob_key.as_str()));
    let new_bob = r.json()["data"]["accesshash"].as_str().expect("a new key").to_owned();
    secrets.push(("bob's new key".into(), new_bob.clone()));
    assert_eq!(api("version", "", &whm("bob", &new_bob)).status, 200);
    assert_eq!(api("version", "", &whm("bob", bob_key.as_str())).status, 401);

    // Wrong secrets of every kind.
    let wrong_key = AccessKey::generate().unwrap();
    secrets.push(("wrong key".into(), wrong_key.as_str().to_owned()));
    assert_eq!(api("version", "", &whm("root", wrong_key.as_str())).status, 401);
    assert_eq!(api("version", "", &whm("nobody", wrong_key.as_str())).status, 401);
    assert_eq!(api("version", "", &whm("sym", sym_key.as_str())).status, 401);
    let wrong_token = "WRONGTOKENWRONGTOKENWRONGTOKEN42";
    secrets.push(("wrong token".into(), wrong_token.into()));
    assert_eq!(api("version", "", &whm("bob", wrong_token)).status, 401);
    let basic = |user: &str, pw: &str| tests::basic_auth(user, pw).trim_start_matches("Basic ").to_owned();
    let good_basic = basic("root", password);
    let wrong_password = "not the password at all, no";
    let bad_basic = basic("root", wrong_password);
    secrets.push(("wrong password".into(), wrong_password.into()));
    secrets.push(("Basic value".into(), good_basic.clone()));
    secrets.push(("wrong Basic value".into(), bad_basic.clone()));
    assert_eq!(api("version", "", &format!("Basic {good_basic}")).status, 200);
    assert_eq!(api("version", "", &format!("Basic {bad_basic}")).status, 401);
    let garbage = "WHM root:secretgarbage\u{7f}withcontrol";
    let r = tests::raw_request(
        addr,
        format!("GET /json-api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {garbage}\r\n\r\n")
            .as_bytes(),
    );
    assert!(matches!(r.status, 400 | 401), "{}", r.status);
    secrets.push(("garbage header".into(), "secretgarbage".into()));

    // Tokens: create, use, list, revoke.
    let r = api("api_token_create", "token_name=hygiene", &root_auth);
    let token = r.json()["data"]["token"].as_str().expect("a token").to_owned();
    secrets.push(("token".into(), token.clone()));
    assert_eq!(api("version", "", &whm("root", &token)).status, 200);
    let listing = api("api_token_list", "", &root_auth);
    assert!(listing.body.contains("hygiene"), "{}", listing.body);
    let r = api("api_token_revoke", "token_name=hygiene", &root_auth);
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert_eq!(api("version", "", &whm("root", &token)).status, 401);

    // The plugin that panics: isolated, the server keeps serving.
    let r = api("panics", "", &root_auth);
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    assert_eq!(api("version", "", &root_auth).status, 200);

    // The CLI converts bob's (new) key into a token.
    let (status, out) = cli(&["convert-accesshash-to-token", "--verbose", "bob"]);
    assert!(status.success(), "{out}");
    assert!(out.contains("Imported accesshash for “bob”"), "{out}");
    captured_cli.push_str(&out);
    let listing2 = api("api_token_list", "", &whm("bob", &new_bob));
    assert!(listing2.body.contains("accesshash-"), "{}", listing2.body);

    // A burst of wrong keys: each is counted, but the log (like the audit log) takes at most 60 of them a minute.
    for i in 0..80 {
        let status = api("version", "", &whm("bob", &format!("{i:064x}"))).status;
        assert!(status == 401 || status == 429, "{status}");
    }

    // Let the server flush, then stop it.
    std::thread::sleep(Duration::from_millis(200));
    drop(_guard);
    let mut output = String::new();
    std::fs::File::open(&log_path)
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let audit = std::fs::read_to_string(state.join("audit.log")).unwrap();
    let token_files: String = walk(&state.join("api_tokens"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();

    // The captures are real: they hold what happened, with signatures.
    assert!(output.contains("authentication failed"), "{output}");
    let logged = output.matches("authentication failed").count();
    assert!(logged <= 60, "a guessing burst floods the log: {logged} lines");
    assert!(output.contains("fixture-panics always panics"), "{output}");
    assert!(
        output.contains("home/sym/.accesshash"),
        "the refused key file is named: {output}"
    );
    assert!(
        audit.contains(&credentials::Signature::of(&new_bob).unwrap().to_string()),
        "{audit}"
    );
    assert!(audit.contains("token_created") && audit.contains("token_revoked") && audit.contains("token_converted"));

    for (name, text) in [
        ("server output", &output),
        ("audit log", &audit),
        ("CLI output", &captured_cli),
        ("api_token_list", &listing.body),
        ("api_token_list after conversion", &listing2.body),
        ("token store files", &token_files),
    ] {
        let found = leaks(text, &secrets);
        assert!(found.is_empty(), "{name} holds {found:?}");
        assert!(!text.contains("Authorization: "), "{name} holds a raw header");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Found by `fuzz/` (cpanel_config): writing a parsed `cpanel.config` back and reading it again must give the same
/// document, or every rewrite by the panel changes lines it did not touch.
#[test]
fn cpanel_config_render_is_a_fixed_point() {
    use settings::native::CpanelConfig;
    for text in ["#\r\r\r\n", "k=v\r\r", "x=1\r\r\r\ny=2\n"] {
        let doc = CpanelConfig::parse(text);
        assert_eq!(CpanelConfig::parse(&doc.render()), doc, "{text:?}");
    }
}

/// Runs a command that must succeed (test set-up as root: `chattr`, `mount`).
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Undoes a set-up step when the test ends, even by panic.
struct Undo(Vec<(String, Vec<String>)>);

impl Drop for Undo {
    fn drop(&mut self) {
        for (program, args) in self.0.drain(..).rev() {
            let _ = Command::new(&program).args(&args).status();
        }
    }
}

/// Generating a key into a home that cannot be written fails with a clear error; the old key keeps working.
fn generation_fails_cleanly(server: &TestPanel, home: &Path, old: &str) {
    let r = server.presenting(&whm("bob", old)).api("accesshash", "generate=1");
    let v = r.json();
    assert_eq!(v["metadata"]["result"], 0, "{v}");
    let reason = v["metadata"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&home.display().to_string()),
        "the error names the path: {reason}"
    );
    assert!(!reason.contains(old), "the error holds no key");
    assert_eq!(
        server.presenting(&whm("bob", old)).api("version", "").status,
        200,
        "the old key still works"
    );
    let leftovers: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".accesshash" && n != "filler")
        .collect();
    assert!(leftovers.is_empty(), "no temp file is left: {leftovers:?}");
}

#[test]
fn read_only_home_refuses_a_new_key_and_keeps_the_old() {
    let server = TestPanel::serve(&cast());
    let old = server.access_key("bob");
    let home = server.dir.path().join("state/home/bob");
    // Root ignores file modes, but not the immutable attribute.
    sh("chattr", &["+i", home.to_str().unwrap()]);
    let _undo = Undo(vec![("chattr".into(), vec!["-i".into(), home.display().to_string()])]);
    generation_fails_cleanly(&server, &home, &old);
}

#[test]
fn full_disk_refuses_a_new_key_and_keeps_the_old() {
    let mount = tempfile::tempdir().unwrap();
    let home = mount.path().join("bob");
    sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=16k",
            "tweakgate-test",
            mount.path().to_str().unwrap(),
        ],
    );
    let _undo = Undo(vec![("umount".into(), vec![mount.path().display().to_string()])]);
    std::fs::create_dir(&home).unwrap();
    let server = TestPanel::serve(&cast().reseller_home("bob", &home));
    assert!(
        server.config_text().contains("home = "),
        "the test config names bob's home"
    );
    let old = server.access_key("bob");
    // Fill the file system so the next key cannot be written whole.
    let mut filler = std::fs::File::create(home.join("filler")).unwrap();
    let _ = std::io::Write::write_all(&mut filler, &vec![0u8; 64 * 1024]);
    drop(filler);
    generation_fails_cleanly(&server, &home, &old);
}
