//! Plugins in a worker process of their own (`[[plugins]] isolation = "process"`): the plugin tests of `plugins.rs`
//! run again isolated, and what isolation is for: an abort, a null dereference or a hang in a plugin faults that plugin
//! alone, the panel keeps serving, and the worker is started again after its back-off.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use settings::Isolation;
use tests::{Cast, TestPanel};

use crate::plugins;

#[test]
fn hello_describes_itself_and_answers_in_a_worker_process() {
    plugins::hello_describes_itself_and_answers_in(Isolation::Process);
}

#[test]
fn a_panicking_plugin_in_a_worker_process_is_isolated() {
    plugins::a_panicking_plugin_is_isolated_in(Isolation::Process);
}

#[test]
fn the_key_page_in_a_worker_process_carries_the_hosts_nonce() {
    plugins::the_key_page_carries_the_hosts_nonce_in(Isolation::Process);
}

#[test]
fn a_limited_credential_reads_and_generates_no_key_in_a_worker_process() {
    plugins::a_limited_credential_reads_and_generates_no_key_in(Isolation::Process);
}

#[test]
fn the_callers_key_comes_from_the_hosts_service_over_the_workers_socket() {
    plugins::the_callers_key_comes_from_the_hosts_service_and_no_file_is_read_in(Isolation::Process);
}

#[test]
fn a_plugin_built_for_the_previous_abi_version_loads_in_a_worker_process() {
    plugins::a_plugin_built_for_the_previous_abi_version_loads_in(Isolation::Process);
}

/// The standard cast with the crashing fixture in a worker process of its own, beside the in-process plugins.
fn crashing(extra: &str) -> Cast {
    Cast::standard()
        .plugin("fixture-hello", "")
        .plugin("fixture-crashes", &format!("isolation = \"process\"\n{extra}"))
}

/// `crash_ok`'s answer: the worker's process id and user id, after a callback into the host.
fn crash_ok(p: &TestPanel) -> (u32, u32) {
    let r = p.as_("root").api("crash_ok", "");
    assert_eq!((r.status, r.result()), (200, 1), "{}", r.body);
    let data = &r.json()["data"];
    assert!(
        data["version"].as_str().is_some_and(|v| !v.is_empty()),
        "the host's `version` answered the worker's callback: {data}"
    );
    (
        u32::try_from(data["pid"].as_u64().unwrap()).unwrap(),
        u32::try_from(data["uid"].as_u64().unwrap()).unwrap(),
    )
}

fn applist(p: &TestPanel) -> Vec<Value> {
    p.as_("root").api("applist", "").json()["data"]["app"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A fault shows at once: the call after it is refused with `PLUGIN_FAULTED`, `applist` hides the plugin, `/health`
/// says degraded with `detail` for root, and the panel's other plugins and pages answer.
fn faulted_and_serving(p: &TestPanel, detail: &str) {
    let again = p.as_("root").api("crash_ok", "");
    assert_eq!(again.status, 403, "{}", again.body);
    assert_eq!(again.reason_codes(), ["PLUGIN_FAULTED"], "{}", again.body);
    assert!(!applist(p).contains(&Value::from("crash_ok")));
    let health = p.health_as_root();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["plugins_faulted"][0]["plugin"], "crashes", "{health}");
    assert!(
        health["plugins_faulted"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(detail),
        "{health}"
    );
    assert_eq!(
        p.as_("root").api("hello", "").result(),
        1,
        "an in-process plugin answers"
    );
    assert_eq!(p.as_("root").api("version", "").result(), 1, "the panel answers");
    assert_eq!(p.as_("root").in_session().page("/tweak-settings").status, 200);
}

/// Waits for the worker to be started again after its back-off, and answers its new process id.
fn restarted(p: &TestPanel, within: Duration) -> u32 {
    let start = Instant::now();
    loop {
        let r = p.as_("root").api("crash_ok", "");
        if r.status == 200 {
            return crash_ok(p).0;
        }
        assert!(
            start.elapsed() < within,
            "not started again within {within:?}: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// An isolated plugin that calls `abort()`, then one that reads through a null pointer, takes down its worker and
/// nothing else: the call answers 503 saying how the worker ended, the plugin is faulted on the very next request,
/// everything else keeps serving over real HTTP, and after the back-off a fresh worker serves it again.
#[test]
fn an_abort_or_a_null_dereference_faults_the_plugin_and_the_panel_keeps_serving() {
    let p = TestPanel::serve(&crashing(""));
    let (first, _) = crash_ok(&p);
    assert_ne!(first, std::process::id(), "the plugin runs in a process of its own");
    let mut worker = first;
    for (function, signal) in [("crash_abort", "SIGABRT"), ("crash_null", "SIGSEGV")] {
        let r = p.as_("root").api(function, "");
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains(signal), "{function}: {}", r.body);
        assert!(gone(worker), "the worker {worker} ended");
        faulted_and_serving(&p, signal);
        let fresh = restarted(&p, plugin_host::FIRST_BACKOFF + Duration::from_secs(5));
        assert_ne!(fresh, worker, "a new worker process");
        assert_eq!(p.health_as_root()["status"], "ok");
        assert!(applist(&p).contains(&Value::from("crash_ok")));
        worker = fresh;
    }
}

/// A call that never returns gets its 503 at the plugin's `call_timeout_ms`, and the worker running it is stopped
/// (not left holding a thread), so the plugin is faulted on the next request; meanwhile `/health` and the other
/// plugins answer at once; the worker is started again after the back-off.
#[test]
fn a_hang_hits_the_call_budget_and_the_worker_is_restarted_after_the_back_off() {
    let p = TestPanel::serve(&crashing("call_timeout_ms = 300"));
    let (hung, _) = crash_ok(&p);
    let (hang, quick) = std::thread::scope(|s| {
        let hang = s.spawn(|| {
            let start = Instant::now();
            let r = p.as_("root").api("crash_hang", "");
            (r, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        let quick: Vec<(u16, Duration)> = (0..5)
            .flat_map(|_| {
                [
                    tests::timed(|| p.anonymous().get("/health").status),
                    tests::timed(|| p.as_("root").api("hello", "").status),
                ]
            })
            .collect();
        (hang.join().unwrap(), quick)
    });
    for (status, took) in quick {
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(250),
            "took {took:?} while the plugin hangs"
        );
    }
    let (r, took) = hang;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("within 300 ms"), "{}", r.body);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(300) + panel::plugin_set::ISOLATED_GRACE,
        "answered after {took:?}"
    );
    assert!(gone(hung), "the hung worker {hung} was stopped");
    faulted_and_serving(&p, "call_timeout_ms");
    let fresh = restarted(&p, plugin_host::FIRST_BACKOFF + Duration::from_secs(5));
    assert_ne!(fresh, hung);
}

/// What a worker writes on standard error (here the panic message of a plugin that panics) is a line of the host's
/// log, a JSON object under `--log-format json`, naming the plugin's file.
#[test]
fn the_workers_standard_error_is_in_the_hosts_log() {
    tests::isolated_workers();
    let panics = tests::build_cdylib("fixture-panics");
    let server = tests::ServeProcess::start_with_args(
        &format!(
            "\n[[plugins]]\npath = {:?}\nisolation = \"process\"\n",
            panics.display().to_string()
        ),
        &["--log-format", "json"],
    );
    assert_eq!(server.api("panics", "").status, 503);
    let from_worker = || -> Vec<Value> {
        server
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["fields"]["plugin"] == panics.display().to_string()
                    && l["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("fixture-panics always panics in handle"))
            })
            .collect()
    };
    tests::wait_until(Duration::from_secs(5), || !from_worker().is_empty());
    let lines = from_worker();
    assert_eq!(lines.len(), 1, "{}", server.log());
    assert_eq!(
        lines[0]["fields"]["plugin"],
        panics.display().to_string(),
        "{}",
        lines[0]
    );
}

/// Switching a loaded plugin between the modes in `[[plugins]]` loads it again in the new one, without a restart.
#[test]
fn changing_the_isolation_of_a_loaded_plugin_loads_it_again() {
    let p = TestPanel::open(&Cast::standard().plugin("fixture-crashes", ""));
    assert_eq!(crash_ok(&p).0, std::process::id(), "in process by default");
    let text = p.config_text();
    let built = tests::build_cdylib("fixture-crashes").display().to_string();
    let isolated = text.replace(
        &format!("path = {built:?}\n"),
        &format!("path = {built:?}\nisolation = \"process\"\n"),
    );
    assert_ne!(text, isolated);
    tests::isolated_workers();
    std::fs::write(p.config_path(), isolated).unwrap();
    p.confirm_reload().unwrap();
    assert_ne!(crash_ok(&p).0, std::process::id(), "in a worker process now");
}

/// Run as root, the server starts a worker as the user its entry names; `user` without a worker process is a
/// configuration error.
#[test]
fn a_worker_runs_as_the_user_its_entry_names() {
    let err = settings::Config::parse(
        "[[plugins]]\npath = \"x.so\"\nuser = \"nobody\"\n",
        Path::new("tweakgate.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("plugins[0].user") && err.contains("isolation = \"process\""),
        "{err}"
    );
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        eprintln!("not root: a worker cannot be started as another user here");
        return;
    }
    let p = TestPanel::open(&crashing("user = \"nobody\""));
    let (_, uid) = crash_ok(&p);
    let nobody = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("nobody:x:")
                .and_then(|r| r.split(':').next()?.parse::<u32>().ok())
        })
        .expect("a nobody user");
    assert_eq!(uid, nobody);
}

/// A worker running as an unprivileged user cannot read the server's key files, yet the Remote Access Key function in
/// it answers the caller's own key: the host hands it over the socket (`HostCallbacks::caller_key`). Another user's
/// key, which the plugin reads itself, is refused to it by the system.
#[test]
fn a_worker_that_cannot_read_key_files_answers_the_callers_key_from_the_host() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        eprintln!("not root: a worker cannot be started as another user here");
        return;
    }
    let p = TestPanel::open(
        &Cast::standard()
            .without_plugins()
            .plugin("remote-access-key", "isolation = \"process\"\nuser = \"nobody\""),
    );
    let key = p.access_key("root");
    let r = p.as_("root").api("accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], key.as_str());
    p.access_key("bob");
    let r = p.as_("root").api("accesshash", "user=bob");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert!(
        r.reason().contains("ermission denied"),
        "the worker reads no key file: {}",
        r.body
    );
}

/// A worker serves one call at a time: calls queued behind slow ones past their budget are answered 503 without being
/// started, and that is no fault of the plugin's, which keeps serving.
#[test]
fn calls_queued_past_their_budget_are_refused_and_fault_nothing() {
    let p =
        TestPanel::serve(&Cast::standard().plugin("fixture-hello", "isolation = \"process\"\ncall_timeout_ms = 400"));
    let root = p.as_("root");
    let replies: Vec<tests::Reply> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let root = root.clone();
                s.spawn(move || root.api("hello", "sleep_ms=150"))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let answered = replies.iter().filter(|r| r.status == 200).count();
    assert!(answered >= 2, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(
            r.body.contains("busy") || r.body.contains("call_timeout_ms"),
            "{}",
            r.body
        );
    }
    assert_eq!(root.api("hello", "").result(), 1, "the plugin is not faulted");
    assert_eq!(p.health_as_root()["status"], "ok");
}
