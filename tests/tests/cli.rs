//! The `tweakgate` command line as an administrator runs it: the built binary, its output and its exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use tests::{run_cli as run, tweakgate_bin};

/// The shipped default config, copied beside a state directory of its own with the plugin path made absolute.
fn default_config(dir: &Path) -> PathBuf {
    let plugin = tests::build_cdylib("remote-access-key");
    let text = settings::config::EMBEDDED_DEFAULT;
    assert!(text.contains("../target/debug/libremote_access_key.so"), "{text}");
    let text = text.replace("../target/debug/libremote_access_key.so", &plugin.display().to_string());
    let path = dir.join("tweakgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_check_accepts_the_default_and_locates_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let r = run(&config, &["config", "check"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("OK (3 resellers, 1 accounts, 1 plugins)"),
        "{}",
        r.stdout
    );

    // The repository's own file, where it is, when the plugin is built where it expects.
    let repo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tweakgate.toml");
    if tests::target_dir() == Path::new(env!("CARGO_MANIFEST_DIR")).join("../target") {
        let r = run(&repo_config, &["config", "check"]);
        assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    }

    // A misspelled ACL on line 4: file, line, column, key and a suggestion.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nstate_dir = \"state\"\n[resellers.bob]\nprivileges = [\"list-accts\", \"manage-api-tokns\"]\n",
    )
    .unwrap();
    let r = run(&bad, &["config", "check"]);
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    let message = r.stderr.trim();
    // The column is that of the array (14); the key path names the element.
    let location = format!("{}:4:", bad.display());
    assert!(message.contains(&location), "{message}");
    assert!(message.contains("resellers.bob.privileges[1]"), "{message}");
    assert!(message.contains("manage-api-tokens"), "a suggestion: {message}");

    // A wrong type in [server].
    std::fs::write(&bad, "[server]\nauth_failure_limit = \"ten\"\n").unwrap();
    let r = run(&bad, &["config", "check"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(&format!("{}:2:", bad.display())), "{}", r.stderr);
    assert!(r.stderr.contains("server.auth_failure_limit"), "{}", r.stderr);

    // A file that does not exist.
    let r = run(&dir.path().join("missing.toml"), &["config", "check"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.toml"), "{}", r.stderr);
}

#[test]
fn explain_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let r = run(
        &config,
        &["explain", "--user", "erin", "--feature", "remote-access-key", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["deprecated", "feature", "reasons", "user", "visible"]);
    assert_eq!(
        v["deprecated"],
        serde_json::json!({"since": 64, "replacement": "Manage API Tokens"}),
        "the plugin's declared deprecation is shown, not dropped"
    );
    assert_eq!(v["user"], "erin");
    assert_eq!(v["feature"], "remote-access-key");
    assert_eq!(v["visible"], false);
    let codes: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().expect("every reason has a code"))
        .collect();
    assert_eq!(codes, ["PRIVILEGE_MISSING"], "{v}");

    let r = run(
        &config,
        &["explain", "--user", "bob", "--feature", "remote-access-key", "--json"],
    );
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["visible"], true);
    assert_eq!(v["reasons"], serde_json::json!([]));

    // Unknown users and features fail closed, with a reason.
    let r = run(
        &config,
        &[
            "explain",
            "--user",
            "nobody",
            "--feature",
            "remote-access-key",
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["visible"], false);
    assert!(!v["reasons"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn matrix_has_a_row_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let r = run(&config, &["matrix"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<Vec<&str>> = r.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0][..2], ["user", "kind"], "{}", r.stdout);
    assert!(rows[0].contains(&"remote-access-key"), "{}", r.stdout);
    let mut users: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    users.sort();
    assert_eq!(users, ["bob", "carol", "dave", "erin", "root"], "{}", r.stdout);
    let line = |u: &str| r.stdout.lines().find(|l| l.starts_with(&format!("{u} "))).unwrap();
    assert!(line("erin").contains("PRIVILEGE_MISSING"), "{}", line("erin"));

    let r = run(&config, &["matrix", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let cells = v.as_array().unwrap();
    for u in ["root", "bob", "carol", "dave", "erin"] {
        assert!(
            cells
                .iter()
                .any(|c| c["user"] == u && c["feature"] == "remote-access-key"),
            "{u}"
        );
    }
    // Each cell says what `explain` says for the same pair, hidden cells' reasons included.
    for u in ["bob", "erin", "dave"] {
        let cell = cells
            .iter()
            .find(|c| c["user"] == u && c["feature"] == "remote-access-key")
            .unwrap();
        let r = run(
            &config,
            &["explain", "--user", u, "--feature", "remote-access-key", "--json"],
        );
        let explained: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(cell["visible"], explained["visible"], "{u}");
        assert_eq!(cell["reasons"], explained["reasons"], "{u}");
    }
    let erin = cells
        .iter()
        .find(|c| c["user"] == "erin" && c["feature"] == "remote-access-key")
        .unwrap();
    assert_eq!(erin["reasons"][0]["code"], "PRIVILEGE_MISSING", "{erin}");
    assert_eq!(erin["reasons"][0]["user"], "erin", "{erin}");
}

#[test]
fn check_exits_by_whether_expectations_hold() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[[expect]]
user = "bob"
feature = "remote-access-key"
visible = true

[[expect]]
user = "erin"
feature = "remote-access-key"
visible = false
reasons = ["PRIVILEGE_MISSING"]
"#,
    )
    .unwrap();
    let r = run(&config, &["check", good.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("all 2 expectation(s) hold"), "{}", r.stdout);

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[[expect]]
user = "erin"
feature = "remote-access-key"
visible = true

[[expect]]
user = "bob"
feature = "remote-access-key"
visible = true

[[expect]]
user = "dave"
feature = "remote-access-key"
visible = false
reasons = ["SETTING_DISABLED"]
"#,
    )
    .unwrap();
    let r = run(&config, &["check", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    let prefix = format!("{}:", bad.display());
    let failures: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(failures.len(), 2, "{}", r.stdout);
    // Each failure names the line of its `[[expect]]` table.
    assert!(
        failures[0].starts_with(&format!(
            "{prefix}2: erin / remote-access-key: expected visible, but it is hidden"
        )),
        "{}",
        failures[0]
    );
    assert!(failures[0].contains("PRIVILEGE_MISSING"), "{}", failures[0]);
    assert!(
        failures[1].starts_with(&format!(
            "{prefix}12: dave / remote-access-key: expected reasons [SETTING_DISABLED]"
        )),
        "{}",
        failures[1]
    );
    assert!(r.stdout.contains("2 expectation(s) failed"), "{}", r.stdout);

    // A malformed expectations file is an error (2), naming the file.
    std::fs::write(&bad, "[[expect]]\nuser = \"bob\"\nfeture = \"x\"\n").unwrap();
    let r = run(&config, &["check", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("bad.toml"), "{}", r.stderr);
}

#[test]
fn plugins_list_shows_loaded_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let empty = dir.path().join("empty.so");
    std::fs::write(&empty, b"").unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[[plugins]]\npath = \"{}\"\n", empty.display()));
    std::fs::write(&config, text).unwrap();

    let r = run(&config, &["plugins", "list"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].contains("libremote_access_key.so: loaded remote-access-key"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{}: failed [", empty.display())),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("empty"), "the reason: {}", lines[1]);
    // Each file's digest, as the JSON listing has it, ready to pin.
    let json = run(&config, &["plugins", "list", "--json"]);
    let first: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    let digest = first["sha256"].as_str().expect("the loaded file's digest");
    assert_eq!(digest.len(), 64, "{digest}");
    assert!(lines[0].ends_with(&format!("; sha256 {digest}")), "{}", lines[0]);

    // `config check` reports the refused plugin and exits 1.
    let r = run(&config, &["config", "check"]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("empty.so: failed ["), "{}", r.stdout);
}

#[test]
fn session_prints_a_one_time_login_url_from_the_running_server() {
    let server = tests::TestPanel::serve(&tests::Cast::standard());
    let out = run(&server.config_path(), &["session", "--user", "bob"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let url = out.stdout.trim();
    let path = &url[url.find("/cpsess").expect("a session URL")..];
    assert!(path.contains("/login/?session="), "{url}");
    let landing = server.anonymous().get(path);
    assert_eq!(landing.status, 303, "the link logs bob in");
    assert_eq!(server.anonymous().get(path).status, 401, "once");
    let unknown = run(&server.config_path(), &["session", "--user", "nobody"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn explain_names_the_nearest_feature_for_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let r = run(&config, &["explain", "--user", "bob", "--feature", "remote-acess-key"]);
    assert_eq!(r.code, 2, "an unknown feature is an error: {}", r.stdout);
    assert!(
        r.stderr.contains("unknown feature \"remote-acess-key\"")
            && r.stderr.contains("did you mean \"remote-access-key\""),
        "{}",
        r.stderr
    );
}

#[test]
fn init_writes_an_editable_default_that_serves_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/tweakgate.toml");
    let r = run(&path, &["init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600,
        "it will hold password hashes"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("../"), "every place is absolute: {text}");
    let r = run(&path, &["config", "check"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let again = run(&path, &["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "nothing was overwritten");
}

#[test]
fn without_a_config_commands_say_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tweakgate_bin())
        .args(["matrix"])
        .env("TWEAKGATE_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tweakgate init"), "{stderr}");
}

/// A free loopback port for a `tweakgate serve` process of a test.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("tweakgate.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\nstate_dir = \"state\"\n"),
    )
    .unwrap();
    let mut child = Command::new(tweakgate_bin())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        std::net::TcpStream::connect(addr).is_ok()
    });
    assert!(up, "the server came up");
    // A request whose body is still arriving when SIGTERM comes.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\nabcde")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.write_all(b"fghij").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the request in flight got its whole answer: {answer:?}"
    );
    let status = (0..400)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(25));
            child.try_wait().unwrap()
        })
        .expect("the server stopped after draining");
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
    assert!(std::net::TcpStream::connect(addr).is_err(), "nothing listens any more");
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("SIGTERM"), "the log says why it stopped: {log}");
    assert!(
        !log.contains("\u{1b}["),
        "no colour codes when the log is not a terminal: {log}"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/tweakgate.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed; the unit's text was checked only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tweakgate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/tweakgate", &tweakgate_bin().display().to_string()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_and_the_manual_page_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unused.toml");
    let r = run(&config, &["completions", "bash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("_tweakgate()") && r.stdout.contains("explain"),
        "{}",
        r.stdout
    );
    let r = run(&config, &["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH tweakgate"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("explain"), "the subcommands are in the page");
}

#[test]
fn reports_come_as_json_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config(dir.path());
    let r = run(&config, &["config", "check", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["resellers"], 3);
    let r = run(&config, &["plugins", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plugins: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["name"], "remote-access-key");
    assert_eq!(plugins[0]["loaded"], true);
    assert_eq!(plugins[0]["abi_version"], plugin_abi::ABI_VERSION);
    assert_eq!(plugins[0]["features"], serde_json::json!(["remote-access-key"]));
}

/// A native `cpanel.config` with odd values still checks (exit 0): each rejected value is a warning with file and
/// line, in text and JSON, and the gate uses the fallback (an invalid `allow_deprecated_accesshash` is Off).
#[test]
fn config_check_warns_about_odd_native_values_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = tests::build_cdylib("remote-access-key");
    let native = dir.path().join("cpanel.config");
    std::fs::write(
        &native,
        "# from a real server\nallow_deprecated_accesshash=yes\ncsp=1\nloadthreshold=high\n",
    )
    .unwrap();
    let config = dir.path().join("tweakgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = \"state\"\n[sources]\ncpanel_config = \"cpanel.config\"\n[resellers.bob]\n\
             privileges = [\"all\"]\n[[plugins]]\npath = \"{}\"\n",
            plugin.display()
        ),
    )
    .unwrap();
    let r = run(&config, &["config", "check"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let warnings: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{}", r.stdout);
    assert!(
        warnings[0].starts_with(&format!(
            "warning: {}:2: allow_deprecated_accesshash: expected 1 or 0, found \"yes\"",
            native.display()
        )),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].ends_with("\"Off\" is in force"), "{}", warnings[0]);
    assert!(
        warnings[1].starts_with(&format!("warning: {}:4: loadthreshold: ", native.display())),
        "{}",
        warnings[1]
    );

    let r = run(&config, &["config", "check", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    let lines: Vec<(i64, &str)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["line"].as_i64().unwrap(), w["key"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(2, "allow_deprecated_accesshash"), (4, "loadthreshold")]);
    assert_eq!(v["warnings"][0]["file"], native.display().to_string());

    let r = run(
        &config,
        &["explain", "--user", "root", "--feature", "remote-access-key"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("remote-access-key: hidden from root"), "{}", r.stdout);
    assert!(r.stdout.contains("SETTING_DISABLED"), "{}", r.stdout);
}

/// A 53 MB `cpanel.config` took the server to 1.4 GB: config and native files past `MAX_FILE_BYTES` are refused
/// with a message naming the file, before they are read whole.
#[test]
fn an_oversized_native_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tweakgate.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\n[sources]\ncpanel_config = \"cpanel.config\"\n",
    )
    .unwrap();
    let native = dir.path().join("cpanel.config");
    let line = "some_unmodelled_key=".to_owned() + &"x".repeat(1000) + "\n";
    let big = line.repeat((settings::MAX_FILE_BYTES as usize) / line.len() + 2);
    std::fs::write(&native, big).unwrap();
    let r = run(&config, &["config", "check"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("cpanel.config") && r.stderr.contains("larger than 16777216 bytes"),
        "{}",
        r.stderr
    );
}
