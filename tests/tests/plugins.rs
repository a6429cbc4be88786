//! Real `dlopen` of the fixture plugins: every way a library can be refused, a panic isolating one plugin while the
//! others keep serving, and the file checks that run before any plugin code does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use plugin_abi::testing;
use plugin_abi::{HostCallbacks, LogLevel, Request, Response, UserInfo, UserKind};
use plugin_host::{LoadError, PluginCallError, PluginHost, PluginReport, PluginState};
use serde_json::{Value, json};
use settings::{Config, Isolation, PluginEntry, Snapshot};
use tests::build_cdylib;

fn fixture(name: &str) -> PathBuf {
    build_cdylib(&format!("fixture-{name}"))
}

fn entry(path: &Path) -> PluginEntry {
    PluginEntry {
        path: path.to_owned(),
        sha256: None,
        call_timeout_ms: None,
        isolation: Isolation::InProcess,
        user: None,
    }
}

fn load(paths: &[&Path]) -> PluginHost {
    load_in(Isolation::InProcess, paths)
}

/// Loads the libraries in their own worker processes, or in this one: the tests that take an `Isolation` pass alike in
/// both (`isolation.rs` runs them isolated).
pub(crate) fn load_in(isolation: Isolation, paths: &[&Path]) -> PluginHost {
    if isolation == Isolation::Process {
        tests::isolated_workers();
    }
    let entries: Vec<PluginEntry> = paths.iter().map(|p| PluginEntry { isolation, ..entry(p) }).collect();
    PluginHost::load(&entries)
}

fn report_for<'a>(reports: &'a [PluginReport], path: &Path) -> &'a PluginReport {
    reports
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no report for {}", path.display()))
}

fn failure(host: &PluginHost, path: &Path) -> LoadError {
    match &report_for(&host.reports(), path).state {
        PluginState::Failed(e) => e.clone(),
        other => panic!("{} should have failed, but is {other:?}", path.display()),
    }
}

/// Copies a fixture into `dir` (a fresh inode, so its mode can change without touching the build).
fn copy_to(dir: &Path, name: &str, from: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    to
}

/// Host services that remember what plugins did with them.
#[derive(Default)]
struct Recorder {
    logs: Mutex<Vec<(u32, String)>>,
    audits: Mutex<Vec<String>>,
}

impl HostCallbacks for Recorder {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        (name == "bob").then(|| UserInfo {
            name: "bob".into(),
            kind: UserKind::RESELLER,
            has_all: false,
            home: PathBuf::from("/home/bob"),
        })
    }

    fn audit(&self, event: &str) -> Result<(), String> {
        self.audits.lock().unwrap().push(event.to_owned());
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level.0, message.to_owned()));
    }
}

/// A WHM API call of `function` as root with full access, as the authors' kit builds it (`PluginHost::call` names the
/// feature, so the request leaves it empty).
fn api_request(function: &str, params: &[(&str, &str)]) -> Request {
    testing::request("").api(function).params(params).build()
}

fn call_hello(host: &PluginHost, params: &[(&str, &str)]) -> Value {
    let services = Recorder::default();
    let Response {
        status,
        content_type,
        body,
    } = host
        .call("hello", &api_request("hello", params), &services)
        .expect("fixture-hello answers");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(
        *services.logs.lock().unwrap(),
        [(2, "saying hello".to_owned())],
        "the plugin's log line reaches the host"
    );
    let answer: Value = serde_json::from_slice(&body).expect("fixture-hello answers JSON");
    assert_eq!(answer["metadata"]["result"], 1, "the host's envelope: {answer}");
    answer["data"].clone()
}

fn snapshot(host: &PluginHost) -> Snapshot {
    let config = Config::parse(
        "[tweak_settings]\nallow_deprecated_accesshash = true\n[resellers.bob]\nprivileges = [\"list-accts\"]\n",
        Path::new("plugins-test.toml"),
    )
    .unwrap();
    Snapshot::compile(Arc::new(config), host.features())
}

#[test]
fn hello_describes_itself_and_answers() {
    hello_describes_itself_and_answers_in(Isolation::InProcess);
}

pub(crate) fn hello_describes_itself_and_answers_in(isolation: Isolation) {
    let hello = fixture("hello");
    let host = load_in(isolation, &[&hello]);
    let report = report_for(&host.reports(), &hello).clone();
    assert_eq!(report.state, PluginState::Loaded);
    assert_eq!(
        (report.name.as_deref(), report.version.as_deref(), report.abi_version),
        (Some("hello"), Some("0.1.0"), Some(plugin_abi::ABI_VERSION))
    );
    assert_eq!(report.features, ["hello"]);
    // Every loaded library is hashed (its bytes are what the sealed copy holds), so `plugins list` can show the digest.
    let digest = Command::new("sha256sum")
        .arg(&hello)
        .output()
        .expect("running sha256sum")
        .stdout;
    let digest = String::from_utf8(digest).unwrap();
    assert_eq!(report.sha256.as_deref(), digest.split_whitespace().next());
    assert_eq!(
        report.to_string(),
        format!(
            "{}: loaded hello 0.1.0 (ABI {}; features: hello{})",
            hello.display(),
            plugin_abi::ABI_VERSION,
            if isolation == Isolation::Process {
                "; in a worker process"
            } else {
                ""
            }
        )
    );

    assert_eq!(host.api_functions(), [("hello".to_owned(), "hello".to_owned())]);
    assert_eq!(host.page_route("/hello").as_deref(), Some("hello"));
    assert_eq!(host.page_route("/hello/").as_deref(), Some("hello"));
    assert_eq!(host.page_route("/hello/x"), None);
    assert_eq!(host.page_route("/"), None);

    let features = host.features();
    assert_eq!(features.len(), 1);
    assert_eq!(
        (
            features[0].id.as_str(),
            features[0].group.as_str(),
            features[0].plugin.as_deref()
        ),
        ("hello", "Plugins", Some("hello"))
    );
    assert!(features[0].fault.is_none());
    let s = snapshot(&host);
    assert!(s.decide("root", "hello").visible);
    assert!(s.decide("bob", "hello").visible, "hello requires nothing");

    assert_eq!(
        call_hello(&host, &[]),
        json!({"hello": "root", "function": "hello", "looked_up": null})
    );
    assert_eq!(call_hello(&host, &[("user", "bob")])["looked_up"], json!("reseller"));
    assert_eq!(call_hello(&host, &[("user", "ghost")])["looked_up"], Value::Null);

    let services = Recorder::default();
    assert_eq!(
        host.call("hello", &api_request("goodbye", &[]), &services),
        Err(PluginCallError::UnknownFunction {
            feature: "hello".into(),
            function: "goodbye".into()
        })
    );
    assert_eq!(
        host.call("nope", &api_request("hello", &[]), &services),
        Err(PluginCallError::UnknownFeature { feature: "nope".into() })
    );
}

/// Each broken library gets its own typed error and message, and fixture-hello keeps serving beside them.
#[test]
fn broken_libraries_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hello = fixture("hello");
    let bytes = std::fs::read(&hello).unwrap();

    let missing = dir.path().join("missing.so");
    let empty = dir.path().join("empty.so");
    std::fs::write(&empty, b"").unwrap();
    let random = dir.path().join("random.so");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, &noise).unwrap();
    let truncated = dir.path().join("truncated.so");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Cut inside the first loadable segment: dlopen itself would map pages past the end and fault on them.
    let cut_short = dir.path().join("cut-short.so");
    std::fs::write(&cut_short, &bytes[..4096]).unwrap();
    let no_symbol = fixture("no-symbol");
    let empty_lib = fixture("empty");
    let wrong_abi = fixture("wrong-abi");
    let unknown_acl = fixture("unknown-acl");

    let host = load(&[
        &missing,
        &empty,
        &hello,
        &random,
        &truncated,
        &cut_short,
        &no_symbol,
        &empty_lib,
        &wrong_abi,
        &unknown_acl,
    ]);

    assert_eq!(
        failure(&host, &missing),
        LoadError::FileMissing {
            detail: format!(": {}", missing.display())
        }
    );
    assert_eq!(
        failure(&host, &missing).to_string(),
        format!("the file does not exist: {}", missing.display())
    );

    let not_a_library = |path: &Path, needle: &str| match failure(&host, path) {
        LoadError::NotALibrary { detail } => {
            assert!(
                detail.contains(needle),
                "{}: {detail:?} lacks {needle:?}",
                path.display()
            );
            assert!(
                !detail.contains("/proc/self/fd"),
                "the message names the real file: {detail}"
            );
        }
        other => panic!("{}: expected NotALibrary, got {other:?}", path.display()),
    };
    not_a_library(&empty, "file too short");
    not_a_library(&empty, &empty.display().to_string());
    not_a_library(&random, "invalid ELF header");
    not_a_library(
        &truncated,
        "truncated ELF file: the section header table reaches past the end of the file",
    );
    not_a_library(&cut_short, "truncated ELF file: segment");

    assert_eq!(failure(&host, &no_symbol), LoadError::MissingSymbol);
    assert_eq!(failure(&host, &empty_lib), LoadError::MissingSymbol);
    assert_eq!(
        failure(&host, &no_symbol).to_string(),
        "the library exports no TWEAKGATE_PLUGIN symbol, so it is not a Tweakgate plugin"
    );

    // fixture-wrong-abi is an ABI-1 build; its functions abort the process if the host ever calls them.
    let reports = host.reports();
    assert_eq!(
        plugin_abi::MIN_ABI_VERSION,
        2,
        "the fixture stands for a version older than the oldest the host loads"
    );
    assert_eq!(plugin_abi::ABI_VERSION, 5, "the messages below name the host's version");
    assert_eq!(
        failure(&host, &wrong_abi),
        LoadError::AbiMismatch { expected: 5, found: 1 }
    );
    assert_eq!(report_for(&reports, &wrong_abi).abi_version, Some(1));
    assert_eq!(
        failure(&host, &wrong_abi).to_string(),
        "plugin ABI version 1 does not match the host's ABI version 5 (it loads versions 2 to 5); rebuild the plugin against plugin-abi with ABI version 5"
    );
    assert!(
        report_for(&reports, &wrong_abi)
            .to_string()
            .contains("failed [ABI_MISMATCH]: plugin ABI version 1 does not match the host's ABI version 5")
    );
    assert_eq!(
        report_for(&reports, &wrong_abi).features,
        Vec::<String>::new(),
        "never described"
    );

    match failure(&host, &unknown_acl) {
        LoadError::UnknownRequirement { feature, detail } => {
            assert_eq!(feature, "typo-tokens");
            assert_eq!(
                detail,
                "unknown ACL \"manage-api-tokenz\"; did you mean \"manage-api-tokens\"?"
            );
        }
        other => panic!("expected UnknownRequirement, got {other:?}"),
    }
    let acl_report = report_for(&reports, &unknown_acl);
    assert_eq!(acl_report.name.as_deref(), Some("unknown-acl"));
    assert_eq!(acl_report.features, ["typo-tokens"]);
    assert!(!acl_report.is_loaded());

    // Only hello loaded; its features and those of the plugin refused after describing itself reach the gate.
    let loaded: Vec<&Path> = reports
        .iter()
        .filter(|r| r.is_loaded())
        .map(|r| r.path.as_path())
        .collect();
    assert_eq!(loaded, [hello.as_path()]);
    let ids: Vec<String> = host.features().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["hello", "typo-tokens"]);
    let s = snapshot(&host);
    let d = s.decide("root", "typo-tokens");
    assert_eq!(d.codes(), ["PLUGIN_INCOMPATIBLE"]);
    assert_eq!(
        d.reasons[0].to_string(),
        "the plugin \"unknown-acl\" could not be loaded: feature \"typo-tokens\" cannot be gated: unknown ACL \"manage-api-tokenz\"; did you mean \"manage-api-tokens\"?"
    );
    assert!(matches!(
        host.call("typo-tokens", &api_request("x", &[]), &Recorder::default()),
        Err(PluginCallError::NotLoaded { plugin, .. }) if plugin == "unknown-acl"
    ));

    assert_eq!(call_hello(&host, &[])["hello"], "root");
}

/// A panic in `handle` is caught in the plugin, faults that plugin alone, and hides its features with a reason.
#[test]
fn a_panicking_plugin_is_isolated() {
    a_panicking_plugin_is_isolated_in(Isolation::InProcess);
}

pub(crate) fn a_panicking_plugin_is_isolated_in(isolation: Isolation) {
    let panics = fixture("panics");
    let hello = fixture("hello");
    let host = load_in(isolation, &[&panics, &hello]);
    assert!(host.reports().iter().all(PluginReport::is_loaded));
    assert!(
        snapshot(&host).decide("root", "panics").visible,
        "visible until it panics"
    );

    let services = Recorder::default();
    let err = host.call("panics", &api_request("panics", &[]), &services).unwrap_err();
    assert_eq!(
        err,
        PluginCallError::Panicked {
            plugin: "panics".into(),
            message: "fixture-panics always panics in handle".into()
        }
    );

    let report = report_for(&host.reports(), &panics).clone();
    assert!(report.is_faulted());
    assert_eq!(
        report.failure().as_deref(),
        Some("faulted: panicked: fixture-panics always panics in handle")
    );

    let s = snapshot(&host);
    let d = s.decide("root", "panics");
    assert!(!d.visible);
    assert_eq!(d.codes(), ["PLUGIN_FAULTED"]);
    assert_eq!(
        d.reasons[0].to_string(),
        "the plugin \"panics\" faulted and is isolated: panicked: fixture-panics always panics in handle"
    );
    assert!(s.decide("root", "hello").visible);

    assert!(matches!(
        host.call("panics", &api_request("panics", &[]), &services),
        Err(PluginCallError::Faulted { plugin, .. }) if plugin == "panics"
    ));
    assert_eq!(call_hello(&host, &[])["hello"], "root");
}

#[test]
fn files_others_can_write_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hello = fixture("hello");
    for (mode, who) in [
        (0o664, "group-writable (mode 0664)"),
        (0o646, "world-writable (mode 0646)"),
        (0o777, "group- and world-writable (mode 0777)"),
    ] {
        let copy = copy_to(dir.path(), &format!("hello-{mode:o}.so"), &hello);
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
        let host = load(&[&copy]);
        assert_eq!(
            failure(&host, &copy),
            LoadError::FileUnsafe {
                why: format!(
                    "{} is {who}, so another user could replace the code; run chmod go-w on it",
                    copy.display()
                )
            }
        );
        assert!(host.features().is_empty());
    }
    let fine = copy_to(dir.path(), "hello-ok.so", &hello);
    std::fs::set_permissions(&fine, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(report_for(&load(&[&fine]).reports(), &fine).is_loaded());
}

#[test]
fn a_sha256_pin_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let hello = copy_to(dir.path(), "hello.so", &fixture("hello"));
    let found = Command::new("sha256sum")
        .arg(&hello)
        .output()
        .expect("running sha256sum");
    let found = String::from_utf8(found.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let wrong = "0".repeat(64);
    let host = PluginHost::load(&[PluginEntry {
        path: hello.clone(),
        sha256: Some(wrong.clone()),
        call_timeout_ms: None,
        ..entry(&hello)
    }]);
    assert_eq!(
        failure(&host, &hello),
        LoadError::HashMismatch {
            expected: wrong,
            found: found.clone()
        }
    );
    assert!(host.features().is_empty(), "a mismatched file contributes nothing");

    let host = PluginHost::load(&[PluginEntry {
        path: hello.clone(),
        sha256: Some(found.to_uppercase()),
        call_timeout_ms: None,
        ..entry(&hello)
    }]);
    assert!(
        report_for(&host.reports(), &hello).is_loaded(),
        "the pin is compared case-insensitively"
    );
}

#[test]
fn symlinks_must_lead_to_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("running mkfifo");
    assert!(status.success());
    let to_fifo = d.join("to-fifo.so");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    let to_dir = d.join("to-dir.so");
    std::os::unix::fs::symlink(d, &to_dir).unwrap();
    let dangling = d.join("dangling.so");
    std::os::unix::fs::symlink(d.join("gone.so"), &dangling).unwrap();
    let real = copy_to(d, "real.so", &fixture("hello"));
    let to_real = d.join("to-real.so");
    std::os::unix::fs::symlink(&real, &to_real).unwrap();

    // The FIFO has no writer: a host that opened it blindly would hang here.
    let host = load(&[&to_fifo, &to_dir, &fifo, &dangling, &to_real]);
    assert_eq!(
        failure(&host, &to_fifo),
        LoadError::FileUnsafe {
            why: format!("{} is a FIFO, not a regular file", to_fifo.display())
        }
    );
    assert_eq!(
        failure(&host, &to_dir),
        LoadError::FileUnsafe {
            why: format!("{} is a directory, not a regular file", to_dir.display())
        }
    );
    assert_eq!(failure(&host, &fifo).code(), "FILE_UNSAFE");
    assert_eq!(
        failure(&host, &dangling).to_string(),
        format!(
            "the file does not exist; {} is a symlink to a missing file",
            dangling.display()
        )
    );
    assert!(
        report_for(&host.reports(), &to_real).is_loaded(),
        "a symlink to a good file is fine"
    );
}

#[test]
fn a_second_plugin_cannot_take_a_loaded_ones_names() {
    let dir = tempfile::tempdir().unwrap();
    let hello = fixture("hello");
    let again = copy_to(dir.path(), "hello-again.so", &hello);
    let host = load(&[&hello, &again]);
    assert_eq!(
        failure(&host, &again),
        LoadError::InvalidDescriptor {
            why: "a plugin named \"hello\" is already loaded".into()
        }
    );
    let ids: Vec<String> = host.features().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["hello"], "the refused copy does not shadow the loaded feature");
    assert_eq!(call_hello(&host, &[])["hello"], "root");
}

/// glibc knows a library by the name it was opened under; the host loads through `/proc/self/fd/N`, so that number
/// must never come to mean another file while the first stays mapped.
#[test]
fn a_descriptor_name_never_means_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let hello = fixture("hello");
    for i in 0..4 {
        let copy = copy_to(dir.path(), &format!("hello-{i}.so"), &hello);
        assert!(report_for(&load(&[&copy]).reports(), &copy).is_loaded());
        let empty = dir.path().join(format!("empty-{i}.so"));
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(failure(&load(&[&empty]), &empty).code(), "NOT_A_LIBRARY", "round {i}");
    }
}

/// Users with real homes for the Remote Access Key plugin: root (holds `all`) and the reseller bob.
struct Homes {
    dir: tempfile::TempDir,
    audits: Mutex<Vec<String>>,
}

impl Homes {
    fn new() -> Homes {
        Homes {
            dir: tempfile::tempdir().unwrap(),
            audits: Mutex::new(Vec::new()),
        }
    }

    fn user(&self, name: &str) -> UserInfo {
        UserInfo {
            name: name.into(),
            kind: if name == "root" {
                UserKind::ROOT
            } else {
                UserKind::RESELLER
            },
            has_all: name == "root",
            home: self.dir.path().join(name),
        }
    }

    /// The user's key file, `None` when there is none.
    fn key_file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(name).join(".accesshash")).ok()
    }
}

impl HostCallbacks for Homes {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        ["root", "bob"].contains(&name).then(|| self.user(name))
    }

    fn audit(&self, event: &str) -> Result<(), String> {
        self.audits.lock().unwrap().push(event.to_owned());
        Ok(())
    }

    fn log(&self, _: LogLevel, _: &str) {}
}

const KEY_FEATURE: &str = remote_access_key::FEATURE_ID;

/// The real Remote Access Key library, loaded through the host.
fn key_host(isolation: Isolation) -> PluginHost {
    let plugin = build_cdylib("remote-access-key");
    let host = load_in(isolation, &[&plugin]);
    assert_eq!(report_for(&host.reports(), &plugin).state, PluginState::Loaded);
    host
}

/// `accesshash` as `caller`, through the real library: the envelope's `result`, `reason` and key.
fn accesshash(
    host: &PluginHost,
    homes: &Homes,
    caller: &str,
    params: &[(&str, &str)],
    full_access: bool,
) -> (i64, String, Option<String>) {
    let request = Request {
        full_access,
        ..testing::request(KEY_FEATURE)
            .api("accesshash")
            .user(homes.user(caller))
            .params(params)
            .build()
    };
    let response = host.call(KEY_FEATURE, &request, homes).expect("the plugin answers");
    assert_eq!(
        (response.status, response.content_type.as_str()),
        (200, "application/json")
    );
    let v: Value = serde_json::from_slice(&response.body).unwrap();
    (
        v["metadata"]["result"].as_i64().unwrap(),
        v["metadata"]["reason"].as_str().unwrap().to_owned(),
        v["data"]["accesshash"].as_str().map(str::to_owned),
    )
}

/// The page as `caller`, through the real library, with the nonce `csrf`.
fn key_page(
    host: &PluginHost,
    homes: &Homes,
    caller: &str,
    method: &str,
    params: &[(&str, &str)],
    csrf: &str,
    full_access: bool,
) -> String {
    let request = Request {
        method: method.into(),
        csrf_token: csrf.into(),
        full_access,
        ..testing::request(KEY_FEATURE)
            .page("/remote-access-key")
            .user(homes.user(caller))
            .params(params)
            .build()
    };
    let response = host.call(KEY_FEATURE, &request, homes).expect("the plugin answers");
    assert_eq!(
        (response.status, response.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    response.body_text()
}

#[test]
fn the_key_page_carries_the_hosts_nonce() {
    the_key_page_carries_the_hosts_nonce_in(Isolation::InProcess);
}

pub(crate) fn the_key_page_carries_the_hosts_nonce_in(isolation: Isolation) {
    let host = key_host(isolation);
    let homes = Homes::new();
    let nonce = "n0nce-5f2a9c41e7";
    let page = key_page(&host, &homes, "root", "GET", &[], nonce, true);
    assert!(
        page.contains(&format!(r#"<input type="hidden" name="csrf_token" value="{nonce}">"#)),
        "{page}"
    );
    assert!(
        !page.contains("{{"),
        "no placeholder is left for the host to fill: {page}"
    );
    for id in [
        "deprecation",
        "api-tokens-link",
        "pick-user",
        "pick",
        "key-heading",
        "first-key",
        "generate-form",
        "generate",
    ] {
        assert!(page.contains(&format!(r#"id="{id}""#)), "{id} missing: {page}");
    }
    assert!(page.contains("Access Key For User “root”"), "{page}");
    assert!(page.contains(r#"href="/cpsess0123456789/manage-api-tokens""#), "{page}");

    // A value from the request is escaped, the nonce included.
    let page = key_page(&host, &homes, "root", "GET", &[], "a\"b<c", true);
    assert!(!page.contains("a\"b"), "{page}");
    assert!(page.contains(r#"value="a&quot;b&lt;c""#), "{page}");
    // A user name that is no reseller shows the error alone: no key section, no form to generate for anyone.
    let page = key_page(&host, &homes, "root", "GET", &[("user", "<b>\"x")], "n", true);
    assert!(!page.contains("<b>"), "{page}");
    assert!(
        page.contains(r#"id="error""#) && !page.contains(r#"id="generate-form""#),
        "{page}"
    );
}

#[test]
fn a_limited_credential_reads_and_generates_no_key() {
    a_limited_credential_reads_and_generates_no_key_in(Isolation::InProcess);
}

pub(crate) fn a_limited_credential_reads_and_generates_no_key_in(isolation: Isolation) {
    use remote_access_key::key_service::NEEDS_FULL_ACCESS;
    let host = key_host(isolation);
    let homes = Homes::new();
    let refused = (0, NEEDS_FULL_ACCESS.to_owned(), None);

    // No key yet: a limited credential neither reads nor creates one, its own or another user's.
    for (caller, params) in [
        ("root", &[][..]),
        ("root", &[("generate", "1")][..]),
        ("root", &[("user", "bob")][..]),
        ("root", &[("user", "bob"), ("generate", "1")][..]),
        ("bob", &[][..]),
        ("bob", &[("generate", "1")][..]),
    ] {
        assert_eq!(
            accesshash(&host, &homes, caller, params, false),
            refused,
            "{caller} {params:?}"
        );
    }
    assert_eq!((homes.key_file("root"), homes.key_file("bob")), (None, None));
    assert!(homes.audits.lock().unwrap().is_empty(), "nothing was generated");

    // A full-access credential still works, for root's own key and bob's.
    let (result, reason, root_key) = accesshash(&host, &homes, "root", &[("generate", "1")], true);
    assert_eq!((result, reason.as_str()), (1, "OK"));
    let root_key = root_key.expect("a new key");
    let (result, _, bob_key) = accesshash(&host, &homes, "root", &[("user", "bob"), ("generate", "1")], true);
    assert_eq!(result, 1);
    let bob_key = bob_key.expect("a new key");
    assert_eq!(homes.audits.lock().unwrap().len(), 2, "each generation is audited");
    assert_eq!(
        accesshash(&host, &homes, "root", &[], true),
        (1, "OK".to_owned(), Some(root_key.clone()))
    );
    assert_eq!(
        accesshash(&host, &homes, "root", &[("user", "bob")], true),
        (1, "OK".to_owned(), Some(bob_key.clone()))
    );
    assert_eq!(
        accesshash(&host, &homes, "bob", &[], true),
        (1, "OK".to_owned(), Some(bob_key.clone()))
    );
    let files = (homes.key_file("root"), homes.key_file("bob"));
    assert!(files.0.is_some() && files.1.is_some());

    // With keys in place, a limited credential still reads none and replaces none.
    for (caller, params) in [
        ("root", &[][..]),
        ("root", &[("generate", "1")][..]),
        ("root", &[("user", "bob")][..]),
        ("root", &[("user", "bob"), ("generate", "1")][..]),
        ("bob", &[][..]),
        ("bob", &[("generate", "1")][..]),
    ] {
        assert_eq!(
            accesshash(&host, &homes, caller, params, false),
            refused,
            "{caller} {params:?}"
        );
    }
    assert_eq!(
        (homes.key_file("root"), homes.key_file("bob")),
        files,
        "no key file changed"
    );
    assert_eq!(homes.audits.lock().unwrap().len(), 2, "nothing more was generated");

    // The page says the same, shows no key and generates none.
    let error = format!(r#"<p class="error" id="error">{NEEDS_FULL_ACCESS}</p>"#);
    for (caller, method, params) in [
        ("root", "GET", &[][..]),
        ("root", "GET", &[("user", "bob")][..]),
        ("root", "POST", &[("generate", "1")][..]),
        ("root", "POST", &[("user", "bob"), ("generate", "1")][..]),
        ("bob", "POST", &[("generate", "1")][..]),
    ] {
        let page = key_page(&host, &homes, caller, method, params, "nonce", false);
        assert!(page.contains(&error), "{caller} {method} {params:?}: {page}");
        assert!(!page.contains(r#"id="accesshash""#), "{page}");
        assert!(
            !page.contains(&root_key[..32]) && !page.contains(&bob_key[..32]),
            "{page}"
        );
    }
    assert_eq!(
        (homes.key_file("root"), homes.key_file("bob")),
        files,
        "no key file changed"
    );
    assert_eq!(homes.audits.lock().unwrap().len(), 2);

    // And a full-access session's page shows the key and replaces it on POST.
    let page = key_page(&host, &homes, "root", "GET", &[("user", "bob")], "nonce", true);
    assert!(
        page.contains(r#"id="accesshash""#) && page.contains(r#"id="signature""#),
        "{page}"
    );
    let page = key_page(
        &host,
        &homes,
        "root",
        "POST",
        &[("user", "bob"), ("generate", "1")],
        "nonce",
        true,
    );
    assert!(page.contains(r#"id="notice""#), "{page}");
    assert_ne!(homes.key_file("bob"), files.1, "bob's key was replaced");
}

/// The caller's key is a full-access credential: the panel hands it only to a feature that requires one, for a
/// request that carries one. A plugin serving any other feature (hello needs nothing) that asks for root's key while
/// root uses it gets a refusal, never the key.
#[test]
fn a_plugin_whose_feature_needs_no_full_access_never_gets_the_callers_key() {
    let p = tests::TestPanel::open(&tests::Cast::standard().plugin("fixture-hello", ""));
    p.access_key("root");
    for client in [p.as_("root"), p.as_("root").with_key(), p.as_("root").in_session()] {
        let r = client.api("hello", "caller_key=1");
        assert_eq!(r.result(), 1, "{}", r.body);
        let answer = r.json()["data"]["caller_key"].as_str().unwrap().to_owned();
        assert!(
            answer.starts_with("Refused(") && answer.contains("full-access"),
            "{answer}"
        );
    }
}

/// A host that offers the caller's key through its service (ABI 5), and counts the requests for it, beside real homes.
struct KeyService {
    homes: Homes,
    /// What the service answers: `None` offers nothing (a host of an earlier version); `Some(Ok(Some(key)))` a key.
    offered: Mutex<Option<Result<Option<String>, String>>>,
    asked: std::sync::atomic::AtomicUsize,
}

impl HostCallbacks for KeyService {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        self.homes.lookup_user(name)
    }

    fn audit(&self, event: &str) -> Result<(), String> {
        self.homes.audit(event)
    }

    fn log(&self, _: LogLevel, _: &str) {}

    fn caller_key(&self, answer: &mut dyn FnMut(plugin_abi::CallerKey<'_>)) {
        use plugin_abi::CallerKey;
        self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &*self.offered.lock().unwrap() {
            None => answer(CallerKey::NotOffered),
            Some(Ok(Some(key))) => answer(CallerKey::Key(key)),
            Some(Ok(None)) => answer(CallerKey::NoKey),
            Some(Err(why)) => answer(CallerKey::Refused(why)),
        }
    }
}

#[test]
fn the_callers_key_comes_from_the_hosts_service_and_no_file_is_read() {
    the_callers_key_comes_from_the_hosts_service_and_no_file_is_read_in(Isolation::InProcess);
}

/// The plugin answers the caller's own key as the host's service hands it, without reading a file: root has no key
/// file at all here, yet the function and the page show the key the host offered; what the host says instead (no key,
/// a refusal) is what the plugin answers. Another user's key, and any key on a host that offers no service, is read
/// from its file as before.
pub(crate) fn the_callers_key_comes_from_the_hosts_service_and_no_file_is_read_in(isolation: Isolation) {
    use std::sync::atomic::Ordering;
    let host = key_host(isolation);
    let offered = credentials::AccessKey::generate().unwrap();
    let service = KeyService {
        homes: Homes::new(),
        offered: Mutex::new(Some(Ok(Some(offered.as_str().to_owned())))),
        asked: std::sync::atomic::AtomicUsize::new(0),
    };
    let homes = &service.homes;
    let call = |caller: &str, params: &[(&str, &str)]| {
        let request = testing::request(KEY_FEATURE)
            .api("accesshash")
            .user(homes.user(caller))
            .params(params)
            .build();
        let v: Value = serde_json::from_slice(&host.call(KEY_FEATURE, &request, &service).unwrap().body).unwrap();
        (
            v["metadata"]["reason"].as_str().unwrap().to_owned(),
            v["data"]["accesshash"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(homes.key_file("root"), None, "root has no key file");
    assert_eq!(call("root", &[]), ("OK".to_owned(), Some(offered.as_str().to_owned())));
    assert_eq!(service.asked.load(Ordering::Relaxed), 1);
    let page = testing::request(KEY_FEATURE)
        .page("/remote-access-key")
        .user(homes.user("root"))
        .build();
    let page = host.call(KEY_FEATURE, &page, &service).unwrap().body_text();
    assert!(page.contains(&offered.to_file_text()[..32]), "{page}");
    assert!(page.contains(&offered.signature().to_string()), "{page}");
    assert_eq!(service.asked.load(Ordering::Relaxed), 2);
    // Another user's key is not the caller's: read from its file, the service not asked.
    assert_eq!(
        call("root", &[("user", "bob")]),
        ("No accesshash exists for bob".to_owned(), None)
    );
    assert_eq!(service.asked.load(Ordering::Relaxed), 2);
    // The host's word stands, whatever the file says: a key on disk the host says is not there is not shown.
    let on_disk = credentials::AccessKey::generate().unwrap();
    credentials::write_key(&homes.user("root").home, &on_disk).unwrap();
    *service.offered.lock().unwrap() = Some(Ok(None));
    assert_eq!(call("root", &[]), ("No accesshash exists for root".to_owned(), None));
    *service.offered.lock().unwrap() = Some(Err("the key file is too open".into()));
    assert_eq!(call("root", &[]), ("the key file is too open".to_owned(), None));
    // A host offering no service: the file, as before.
    *service.offered.lock().unwrap() = None;
    assert_eq!(call("root", &[]), ("OK".to_owned(), Some(on_disk.as_str().to_owned())));
    assert_eq!(service.asked.load(Ordering::Relaxed), 5);
}

/// `cp` over a loaded plugin (same inode) changed the pages under running code: the next call crashed the server.
/// The host loads a sealed private copy of the bytes it checked, so overwriting, truncating or replacing the file
/// reaches nothing that runs.
#[test]
fn overwriting_a_loaded_plugin_in_place_changes_nothing_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_to(dir.path(), "hello.so", &fixture("hello"));
    let host = load(&[&copy]);
    assert_eq!(call_hello(&host, &[])["hello"], "root");
    // In place, as `cp` and `rsync --inplace` write: truncate the same inode, then write other code into it.
    let other = std::fs::read(fixture("panics")).unwrap();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&copy).unwrap());
    std::fs::write(&copy, &other).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&copy).unwrap()),
        ino,
        "the same file"
    );
    for _ in 0..3 {
        assert_eq!(call_hello(&host, &[])["hello"], "root", "the loaded code keeps serving");
    }
    std::fs::write(&copy, b"").unwrap();
    assert_eq!(
        call_hello(&host, &[])["hello"],
        "root",
        "even after the file is emptied"
    );
    assert!(
        report_for(&host.reports(), &copy).changed_on_disk,
        "and the change is reported as needing a restart"
    );
}

/// OpenSSH's StrictModes for plugins: a directory on the way that other users can write (and that is not sticky), or
/// a final symbolic link another user owns, would let a local user swap in another library.
#[test]
fn plugin_paths_follow_strict_modes() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let hello = copy_to(&open, "hello.so", &fixture("hello"));
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(
        failure(&load(&[&hello]), &hello),
        LoadError::FileUnsafe {
            why: format!(
                "the directory {} holding {} is writable by other users (mode 0777), so they could swap in another library; run chmod go-w on it",
                open.display(),
                hello.display()
            )
        }
    );
    // Sticky, like /tmp: only an entry's owner may rename or remove it.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(report_for(&load(&[&hello]).reports(), &hello).is_loaded());
    // A link another user owns may be pointed elsewhere by them (the test needs root to give it away).
    let link = dir.path().join("link.so");
    std::os::unix::fs::symlink(&hello, &link).unwrap();
    if std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).is_ok() {
        let why = failure(&load(&[&link]), &link);
        assert!(
            matches!(&why, LoadError::FileUnsafe { why } if why.contains("is a symbolic link owned by uid 65534")),
            "{why:?}"
        );
    } else {
        eprintln!("plugin_paths_follow_strict_modes: not root, the foreign link case is skipped");
    }
}

/// A slow plugin function ran on the async workers with no deadline: one 45 s call held `/health` for 43 s, twenty
/// silenced the server. Plugin calls now run off the workers, in a pool per plugin, within `call_timeout_ms`.
#[test]
fn a_sleeping_plugin_function_gets_its_503_at_the_deadline_and_holds_nothing_else() {
    let p = tests::TestPanel::serve(&tests::Cast::standard().plugin("fixture-hello", "call_timeout_ms = 300"));
    let root = p.as_("root");
    let key = p.as_("root").with_key();
    let (slow, quick) = std::thread::scope(|s| {
        let sleepers: Vec<_> = (0..24)
            .map(|_| {
                let root = root.clone();
                s.spawn(move || {
                    let start = std::time::Instant::now();
                    let r = root.api("hello", "sleep_ms=3000");
                    (r.status, r.body, start.elapsed())
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let quick: Vec<(u16, std::time::Duration)> = (0..10)
            .flat_map(|_| {
                let start = std::time::Instant::now();
                let health = p.anonymous().get("/health").status;
                let h = (health, start.elapsed());
                let start = std::time::Instant::now();
                let other = key.api("accesshash", "").status;
                [h, (other, start.elapsed())]
            })
            .collect();
        (
            sleepers.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>(),
            quick,
        )
    });
    for (status, took) in &quick {
        assert_eq!(*status, 200, "/health and another plugin answer while hello sleeps");
        assert!(
            *took < std::time::Duration::from_secs(1),
            "took {took:?} while the plugin sleeps 3 s"
        );
    }
    for (status, body, took) in &slow {
        assert_eq!(*status, 503, "{body}");
        assert!(body.contains("call_timeout_ms") || body.contains("busy"), "{body}");
        assert!(
            *took < std::time::Duration::from_millis(1500),
            "answered after {took:?}"
        );
    }
}

/// The fast lane never costs the server its workers. A plugin that earned the lane (its calls kept within
/// `FAST_CALL`) is called on the request's own worker; when it turns slow, the one call in the lane holds that worker
/// until the plugin returns and is answered 503 then, while every other call of it goes to the pool and gets its 503
/// at the deadline, no second call of it enters the lane, and `/health` and another plugin keep answering on the
/// worker the lane never takes.
#[test]
fn a_plugin_in_the_fast_lane_that_turns_slow_holds_one_worker_for_one_call() {
    use std::time::{Duration, Instant};
    let p = tests::TestPanel::serve(&tests::Cast::standard().plugin("fixture-hello", "call_timeout_ms = 300"));
    let root = p.as_("root");
    let key = p.as_("root").with_key();
    let inline_calls = || -> u64 {
        let scraped = root.get("/metrics");
        assert_eq!(scraped.status, 200, "{}", scraped.body);
        scraped
            .body
            .lines()
            .find_map(|l| l.strip_prefix("tweakgate_plugin_calls_inline_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no tweakgate_plugin_calls_inline_total in\n{}", scraped.body))
    };
    // Fast calls until one is made in the lane; a debug build on a loaded machine takes longer than FAST_CALL now
    // and then, which only delays it.
    let earn = || {
        let earned = tests::wait_until(Duration::from_secs(60), || {
            let before = inline_calls();
            for _ in 0..16 {
                assert_eq!(root.api("hello", "sleep_ms=0").status, 200);
            }
            inline_calls() > before
        });
        assert!(earned.is_some(), "calls within FAST_CALL never earned the fast lane");
    };
    let sleep = |c: &tests::Client<'_>| {
        let start = Instant::now();
        let r = c.api("hello", "sleep_ms=3000");
        (r.status, r.body, start.elapsed())
    };
    let (first, during, others, quick) = std::thread::scope(|s| {
        // One sleeper first, until it is the one in the lane (a lane lost to a slow moment just before sends it to
        // the pool, where it is one miss of the three that fault the plugin; earned again, the misses start over).
        let mut tries = 0;
        let (first, during) = loop {
            earn();
            let before = inline_calls();
            let first = s.spawn(|| sleep(&root));
            if tests::wait_until(Duration::from_secs(2), || inline_calls() > before).is_some() {
                break (first, before + 1);
            }
            let (status, body, _) = first.join().unwrap();
            assert_eq!(status, 503, "{body}");
            tries += 1;
            assert!(tries < 3, "the sleeper never took the lane");
        };
        let others: Vec<_> = (0..7).map(|_| s.spawn(|| sleep(&root))).collect();
        std::thread::sleep(Duration::from_millis(100));
        let quick: Vec<(u16, Duration)> = (0..10)
            .flat_map(|_| {
                [
                    tests::timed(|| p.anonymous().get("/health").status),
                    tests::timed(|| key.api("accesshash", "").status),
                ]
            })
            .collect();
        let others: Vec<_> = others.into_iter().map(|t| t.join().unwrap()).collect();
        (first.join().unwrap(), during, others, quick)
    });
    for (status, took) in &quick {
        assert_eq!(
            *status, 200,
            "/health and another plugin answer while hello sleeps in the lane"
        );
        assert!(
            *took < Duration::from_secs(1),
            "took {took:?} while the plugin sleeps 3 s"
        );
    }
    let (status, body, took) = &first;
    assert_eq!(*status, 503, "{body}");
    assert!(body.contains("call_timeout_ms"), "{body}");
    assert!(
        *took >= Duration::from_millis(2900),
        "the call in the lane is not cut at its deadline: it holds its worker until the plugin returns ({took:?})"
    );
    assert_eq!(
        inline_calls(),
        during,
        "no other call entered the lane while one was stuck in it"
    );
    for (status, body, took) in &others {
        // Past the third miss the plugin is faulted and hidden: a sleeper that arrives later is refused for that.
        let faulted = *status == 403 && body.contains("PLUGIN_FAULTED");
        assert!(*status == 503 || faulted, "{status} {body}");
        assert!(
            body.contains("call_timeout_ms") || body.contains("busy") || faulted,
            "{body}"
        );
        assert!(*took < Duration::from_millis(1500), "answered after {took:?}: {body}");
    }
}

/// Refused calls never earn a plugin the fast lane: only a call that reached the plugin says how fast it is, so a
/// caller without the privilege cannot make a slow plugin run on the request workers by asking quickly and often.
#[test]
fn refused_calls_do_not_earn_the_fast_lane() {
    let p = tests::TestPanel::serve(&tests::Cast::standard());
    let inline_calls = || -> u64 {
        p.as_("root")
            .get("/metrics")
            .body
            .lines()
            .find_map(|l| l.strip_prefix("tweakgate_plugin_calls_inline_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("tweakgate_plugin_calls_inline_total")
    };
    let erin = p.as_("erin").with_key();
    for _ in 0..2 * panel::plugin_set::FAST_LANE_EARNED {
        assert_eq!(erin.api("accesshash", "").status, 403, "erin lacks the privilege");
    }
    let root = p.as_("root").with_key();
    assert_eq!(root.api("accesshash", "").status, 200);
    assert_eq!(inline_calls(), 0, "refused calls earned the plugin the fast lane");
}

/// Blocking work a fast-lane call asks of the host is moved off the worker, and the plugin leaves the lane for it:
/// after a call that audited, the next call of the plugin runs on its pool, and the record is in the audit log.
#[test]
fn a_call_in_the_fast_lane_that_audits_leaves_the_lane() {
    let p = tests::TestPanel::serve(&tests::Cast::standard().plugin("fixture-hello", ""));
    let root = p.as_("root");
    let inline_calls = || -> u64 {
        root.get("/metrics")
            .body
            .lines()
            .find_map(|l| l.strip_prefix("tweakgate_plugin_calls_inline_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("tweakgate_plugin_calls_inline_total")
    };
    let earn = || {
        let earned = tests::wait_until(std::time::Duration::from_secs(60), || {
            let before = inline_calls();
            assert_eq!(root.api("hello", "").status, 200);
            inline_calls() > before
        });
        assert!(earned.is_some(), "calls within FAST_CALL never earned the fast lane");
    };
    // The call that audits must be the one in the lane; a slow moment just before sends it to the pool instead.
    let mut tries = 0;
    let (audited, after) = loop {
        earn();
        let before = inline_calls();
        let audited = root.api("hello", "audit=1");
        if inline_calls() == before + 1 {
            let before = inline_calls();
            assert_eq!(root.api("hello", "").status, 200);
            break (audited, inline_calls() - before);
        }
        tries += 1;
        assert!(tries < 5, "the call that audits never took the lane");
    };
    assert_eq!(audited.status, 200, "{}", audited.body);
    assert_eq!(after, 0, "the call after the one that audited ran in the lane");
    assert!(
        !p.audit_events("hello_audited").is_empty(),
        "the audit record was not written"
    );
}

/// A fault is visible everywhere at once. One call that panics, and the very next request sees
/// the plugin hidden with `PLUGIN_FAULTED` in `applist`, the Home menu, OFREP and the call's own refusal, while
/// `/health` is degraded and names the plugin to root, without any reload of the configuration.
#[test]
fn a_fault_is_visible_everywhere_on_the_next_request() {
    let p = tests::TestPanel::open(&tests::Cast::standard().plugin("fixture-panics", ""));
    let root = p.as_("root");
    let session = root.in_session();
    let applist = |c: &tests::Client<'_>| -> Vec<String> {
        c.api("applist", "").json()["data"]["app"]
            .as_array()
            .expect("applist's data.app")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    };
    let flag = || {
        root.post_as(
            "/ofrep/v1/evaluate/flags/panics",
            "application/json",
            r#"{"context":{"targetingKey":"root"}}"#,
        )
        .json()
    };
    assert!(applist(&root).contains(&"panics".to_owned()));
    assert!(session.page("/").body.contains("data-feature=\"panics\""));
    assert_eq!(flag()["value"], true, "{}", flag());
    assert_eq!(p.health_as_root()["status"], "ok");
    let generation = p.generation();

    let first = root.api("panics", "");
    assert_eq!(first.status, 503, "{}", first.body);

    assert!(!applist(&root).contains(&"panics".to_owned()), "applist still lists it");
    let again = root.api("panics", "");
    assert_eq!(again.status, 403, "{}", again.body);
    assert_eq!(again.reason_codes(), ["PLUGIN_FAULTED"], "{}", again.body);
    assert!(
        !session.page("/").body.contains("data-feature=\"panics\""),
        "the menu still shows it"
    );
    let page = session.page("/panics");
    assert_eq!(page.status, 403, "{}", page.body);
    let evaluated = flag();
    assert_eq!(evaluated["value"], false, "{evaluated}");
    assert!(
        evaluated["metadata"]["reasons"]
            .as_str()
            .unwrap_or_default()
            .contains("PLUGIN_FAULTED"),
        "{evaluated}"
    );
    let health = p.health_as_root();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["plugins_faulted"][0]["plugin"], "panics", "{health}");
    assert!(
        health["plugins_faulted"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("fixture-panics always panics in handle"),
        "{health}"
    );
    assert_eq!(p.anonymous().get("/health").json(), json!({"status": "degraded"}));
    // Compiled once more from the configuration in force, not reloaded from disk; the other plugins keep serving.
    assert_eq!(p.generation(), generation + 1);
    assert_eq!(root.api("hello", "").status, 200);
    let record = std::fs::read_to_string(p.state_dir().join("plugins.json")).unwrap();
    assert!(record.contains("fixture-panics always panics in handle"), "{record}");

    // Recovery without a restart, as docs/plugins.md says: the library under a new file name in `[[plugins]]`.
    let built = fixture("panics");
    let fresh = copy_to(p.dir.path(), "libpanics-again.so", &built);
    let text = p.config_text().replace(
        &format!("{:?}", built.display().to_string()),
        &format!("{:?}", fresh.display().to_string()),
    );
    std::fs::write(p.config_path(), text).unwrap();
    p.confirm_reload().unwrap();
    assert!(applist(&root).contains(&"panics".to_owned()), "the plugin loaded again");
    assert_eq!(p.health_as_root()["status"], "ok");
}

/// The host's own word on a fault: one ERROR line naming plugin, feature and what happened, a JSON object under
/// `--log-format json`, written once however often the faulted plugin is asked again, and counted. An `Err` from a
/// plugin's `handle` is a WARN line and counted too, and the plugin keeps serving.
#[test]
fn a_fault_is_one_error_line_of_the_hosts_own() {
    let (panics, hello) = (fixture("panics"), fixture("hello"));
    let server = tests::ServeProcess::start_with_args(
        &format!(
            "\n[[plugins]]\npath = {:?}\n\n[[plugins]]\npath = {:?}\n",
            panics.display().to_string(),
            hello.display().to_string()
        ),
        &["--log-format", "json"],
    );
    let failed = server.api("hello", "fail=1");
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(server.api("hello", "").status, 200, "an Err does not fault the plugin");
    assert_eq!(server.api("panics", "").status, 503);
    assert_eq!(server.api("panics", "").status, 403);
    assert_eq!(server.api("panics", "").status, 403);
    let faults = || -> Vec<Value> {
        server
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["level"] == "ERROR" && l["fields"]["plugin"] == "panics")
            .collect()
    };
    tests::wait_until(std::time::Duration::from_secs(5), || !faults().is_empty());
    let lines = faults();
    assert_eq!(lines.len(), 1, "{}", server.log());
    let fields = &lines[0]["fields"];
    assert_eq!(fields["feature"], "panics", "{fields}");
    assert_eq!(
        fields["detail"], "panicked: fixture-panics always panics in handle",
        "{fields}"
    );
    assert!(
        fields["message"]
            .as_str()
            .unwrap_or_default()
            .contains("PLUGIN_FAULTED"),
        "{fields}"
    );
    let warned: Vec<Value> = server
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "WARN" && l["fields"]["plugin"] == "hello")
        .collect();
    assert_eq!(warned.len(), 1, "{}", server.log());
    assert_eq!(warned[0]["fields"]["error"], "asked to fail", "{}", warned[0]);
    // `tweakgate explain`, in a process of its own, says what the running server does.
    let explained = Command::new(tests::tweakgate_bin())
        .arg("--config")
        .arg(server.config_path())
        .args(["explain", "--user", "root", "--feature", "panics"])
        .output()
        .unwrap();
    let explained = String::from_utf8_lossy(&explained.stdout);
    assert!(
        explained.contains("hidden from root") && explained.contains("PLUGIN_FAULTED"),
        "{explained}"
    );
    let root = format!("whm root:{}", server.root_token);
    let metrics = tests::request(server.addr, "GET", "/metrics", &[("Authorization", &root)], "").body;
    for counted in [
        "plugin_call_errors_total{feature=\"hello\",kind=\"error\"} 1",
        "plugin_call_errors_total{feature=\"panics\",kind=\"panic\"} 1",
    ] {
        assert!(metrics.contains(counted), "{counted} in {metrics}");
    }
}

/// A real library whose description takes the panel's page `/tweak-settings` and its function
/// `version` is refused at load (not loaded with a warning and never routed), with the reason in root's `/health`
/// and in `tweakgate plugins list`; the panel's own page and function answer as before.
#[test]
fn a_plugin_taking_the_panels_names_is_refused_with_the_reason() {
    let p = tests::TestPanel::open(&tests::Cast::standard().plugin("fixture-host-names", ""));
    let why = "[TAKEN_BY_HOST]: feature \"host-names\" is refused by the panel: the page path \"/tweak-settings\" is \
               one of the panel's own pages";
    let health = p.health_as_root();
    let listed = health["plugins"].as_array().expect("root's plugins");
    assert!(
        listed.iter().any(|r| r
            .as_str()
            .is_some_and(|r| r.contains("failed host-names") && r.contains(why))),
        "{health}"
    );
    let root = p.as_("root");
    let version = root.api("version", "");
    assert_eq!(version.result(), 1, "{}", version.body);
    assert!(version.json()["data"]["version"].is_string(), "{}", version.body);
    let page = root.in_session().page("/tweak-settings");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("never routed"), "{}", page.body);

    let out = Command::new(tests::tweakgate_bin())
        .arg("--config")
        .arg(p.config_path())
        .args(["plugins", "list"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains(why), "{out}");
}

/// A plugin built for ABI version 2 loads on this host (4); version 3 appended a field where version 2
/// had padding, and the host reads nothing of it from the older plugin.
#[test]
fn a_plugin_built_for_the_previous_abi_version_loads() {
    a_plugin_built_for_the_previous_abi_version_loads_in(Isolation::InProcess);
}

pub(crate) fn a_plugin_built_for_the_previous_abi_version_loads_in(isolation: Isolation) {
    let old = fixture("abi-v2");
    let host = load_in(isolation, &[&old]);
    let reports = host.reports();
    let report = report_for(&reports, &old);
    assert!(report.is_loaded(), "{report}");
    assert_eq!(report.abi_version, Some(2));
    let feature = host.feature_info("old-hello").expect("its feature");
    assert!(
        !feature.full_access,
        "a field version 2 did not have is not read from a version 2 plugin"
    );
    let services = Recorder::default();
    let answer = host
        .call("old-hello", &api_request("old_hello", &[]), &services)
        .expect("the old plugin answers");
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(answer["data"]["hello"], "root", "{answer}");
}

/// A plugin that keeps missing its time budget is faulted like one that panicked: hidden with `PLUGIN_FAULTED` on the
/// next request, so its callers stop queueing behind it.
#[test]
fn a_plugin_that_keeps_missing_its_budget_is_faulted() {
    let p = tests::TestPanel::open(&tests::Cast::standard().plugin("fixture-hello", "call_timeout_ms = 200"));
    let root = p.as_("root");
    assert_eq!(root.api("hello", "").result(), 1, "in time, it answers");
    for _ in 0..panel::plugin_set::FAULT_AFTER_MISSES {
        let r = root.api("hello", "sleep_ms=600");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    let r = root.api("hello", "");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.reason_codes(), ["PLUGIN_FAULTED"], "{}", r.body);
    let apps = root.api("applist", "").json()["data"]["app"].clone();
    assert!(!apps.as_array().unwrap().iter().any(|a| a == "hello"), "{apps}");
}
