//! The panel over a real loopback socket: authentication, WHM API 1 shapes, live config and the audit log.

use std::time::Duration;

use serde_json::Value;
use tests::{Cast, TestPanel, raw_request, request, wait_until};

/// The cast with the Remote Access Key plugin alone.
fn cast() -> Cast {
    Cast::standard().without_plugins().plugin("remote-access-key", "")
}

/// A fresh access key of `user`'s.
fn key_for(server: &TestPanel, user: &str) -> String {
    server.access_key(user)
}

fn whm(user: &str, secret: &str) -> String {
    format!("WHM {user}:{secret}")
}

fn apps(reply: &tests::Reply) -> Vec<String> {
    let v = reply.json();
    v["data"]["app"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn authentication_matrix() {
    let server = TestPanel::serve(&cast());
    let root_key = key_for(&server, "root");
    let bob_key = key_for(&server, "bob");
    let erin_key = key_for(&server, "erin");
    let now = panel::fsx::unix_now();
    let bob = server.as_("bob");
    let bob_token = bob.authorization().unwrap().to_owned();
    let bob_limited = bob.narrowed(&["list-accts"]).authorization().unwrap().to_owned();
    let bob_expiring = bob
        .token_limited(Some(now + 1), &[])
        .authorization()
        .unwrap()
        .to_owned();
    let bob_elsewhere = bob
        .token_limited(None, &["192.0.2.0/24"])
        .authorization()
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_millis(2100));

    // (who, authorization, expected status of applist, whether accesshash is listed)
    let cases: Vec<(&str, Option<String>, u16, bool)> = vec![
        ("root key", Some(whm("root", &root_key)), 200, true),
        (
            "root key lowercase scheme",
            Some(format!("whm root:{root_key}")),
            200,
            true,
        ),
        ("bob key", Some(whm("bob", &bob_key)), 200, true),
        (
            "erin key (no manage-api-tokens)",
            Some(whm("erin", &erin_key)),
            200,
            false,
        ),
        ("bob token", Some(bob_token), 200, true),
        ("bob token limited to list-accts", Some(bob_limited.clone()), 200, false),
        ("bob expired token", Some(bob_expiring), 401, false),
        ("bob token from outside its allow-list", Some(bob_elsewhere), 401, false),
        ("wrong secret", Some(whm("bob", &root_key)), 401, false),
        ("unknown user", Some(whm("nobody", &root_key)), 401, false),
        ("cPanel account", Some(whm("dave", &bob_key)), 401, false),
        ("no header", None, 401, false),
    ];
    let mut denied_bodies = Vec::new();
    for (who, auth, status, listed) in &cases {
        let client = match auth {
            Some(a) => server.presenting(a),
            None => server.anonymous(),
        };
        let reply = client.api("applist", "");
        assert_eq!(reply.status, *status, "{who}: {}", reply.body);
        if *status == 200 {
            let v = reply.json();
            assert_eq!(v["metadata"]["result"], 1, "{who}");
            assert_eq!(v["metadata"]["command"], "applist", "{who}");
            assert_eq!(
                apps(&reply).contains(&"accesshash".to_owned()),
                *listed,
                "{who}: {:?}",
                apps(&reply)
            );
            assert!(apps(&reply).contains(&"version".to_owned()), "{who}");
        } else {
            denied_bodies.push(reply.body.clone());
        }
    }
    assert!(
        denied_bodies.windows(2).all(|w| w[0] == w[1]),
        "every failure gets the same answer: {denied_bodies:?}"
    );

    // accesshash itself: bob reads his own key; erin is refused with the gate's reasons; bob may not read root's.
    let r = server.presenting(&whm("bob", &bob_key)).api("accesshash", "");
    assert_eq!(
        r.json()["data"]["accesshash"],
        Value::from(bob_key.clone()),
        "{}",
        r.body
    );
    let r = server.presenting(&whm("erin", &erin_key)).api("accesshash", "");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["metadata"]["reasons"][0]["code"], "PRIVILEGE_MISSING");
    let r = server.presenting(&whm("bob", &bob_key)).api("accesshash", "user=root");
    assert_eq!(
        r.json()["metadata"]["reason"],
        "You do not have access to load another user's accesshash"
    );
    let r = server
        .presenting(&whm("root", &root_key))
        .api("accesshash", "user=dave");
    assert_eq!(r.json()["metadata"]["reason"], "User dave is not a reseller.");
    let r = server
        .presenting(&whm("root", &root_key))
        .api("accesshash", "user=carol");
    assert_eq!(r.json()["metadata"]["reason"], "No accesshash exists for carol");

    // API 0: applist without api.version answers with a top-level list.
    let r = request(
        server.addr(),
        "GET",
        "/json-api/applist",
        &[("Authorization", &whm("root", &root_key))],
        "",
    );
    assert!(r.json()["app"].as_array().is_some_and(|a| !a.is_empty()), "{}", r.body);

    // myprivs reflects a token's limits.
    let r = server.presenting(&bob_limited).api("myprivs", "");
    let privs = &r.json()["data"]["privileges"][0];
    assert_eq!(privs["list-accts"], 1);
    assert_eq!(privs["manage-api-tokens"], 0);
}

#[test]
fn generating_replaces_the_key_and_the_old_one_stops_working() {
    let server = TestPanel::serve(&cast());
    let old = key_for(&server, "bob");
    let r = server.presenting(&whm("bob", &old)).api("accesshash", "generate=1");
    let new = r.json()["data"]["accesshash"].as_str().expect("a new key").to_owned();
    assert_ne!(new, old);
    assert_eq!(new.len(), 960);
    assert_eq!(server.presenting(&whm("bob", &old)).api("version", "").status, 401);
    assert_eq!(server.presenting(&whm("bob", &new)).api("version", "").status, 200);
    let log = std::fs::read_to_string(server.dir.path().join("state/audit.log")).unwrap();
    assert!(log.contains("\"event\":\"key_generated\""), "{log}");
    let sig = credentials::Signature::of(&new).unwrap().to_string();
    assert!(log.contains(&sig), "the audit entry names the signature");
    assert!(
        !log.contains(&new) && !log.contains(&old),
        "the audit log never holds a key"
    );
}

#[test]
fn live_config_toggles_visibility_and_key_auth() {
    let server = TestPanel::serve(&cast());
    let key = key_for(&server, "bob");
    let auth = whm("bob", &key);
    assert_eq!(server.presenting(&auth).api("accesshash", "").status, 200);

    let off = std::fs::read_to_string(server.config_path()).unwrap().replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    );
    server.rewrite_config(&off);
    let took = wait_until(Duration::from_secs(2), || {
        server.presenting(&auth).api("version", "").status == 401
    });
    assert!(
        took.is_some_and(|t| t < Duration::from_millis(250)),
        "key auth stops within 250 ms: {took:?}"
    );

    // A broken config leaves the last good one in force and says why.
    std::fs::write(
        server.config_path(),
        "[tweak_settings\nallow_deprecated_accesshash = true\n",
    )
    .unwrap();
    let health = wait_until(Duration::from_secs(2), || {
        request(server.addr(), "GET", "/health", &[], "").json()["status"] == "degraded"
    });
    assert!(health.is_some(), "the error shows in /health");
    let h = server.health_as_root();
    assert!(
        h["config"]["error"].as_str().unwrap().contains("tweakgate.toml:1:"),
        "{h}"
    );
    assert_eq!(
        server.presenting(&auth).api("version", "").status,
        401,
        "the last good config (setting off) stays in force"
    );

    // The next good file is picked up.
    let on = off.replace(
        "allow_deprecated_accesshash = false",
        "allow_deprecated_accesshash = true",
    );
    server.rewrite_config(&on);
    let back = wait_until(Duration::from_secs(2), || {
        server.presenting(&auth).api("accesshash", "").status == 200
    });
    assert!(back.is_some_and(|t| t < Duration::from_millis(250)), "{back:?}");
    assert_eq!(request(server.addr(), "GET", "/health", &[], "").json()["status"], "ok");
}

#[test]
fn set_tweaksetting_and_setacls_write_the_file_and_apply() {
    let server = TestPanel::serve(&cast());
    let root = key_for(&server, "root");
    let erin = key_for(&server, "erin");
    let auth = whm("root", &root);

    let r = server
        .presenting(&auth)
        .api("get_tweaksetting", "key=allow_deprecated_accesshash");
    assert_eq!(r.json()["data"]["tweaksetting"]["value"], "1", "{}", r.body);
    let r = server
        .presenting(&auth)
        .api("set_tweaksetting", "key=allow_deprecated_accesshas&value=0");
    assert_eq!(r.json()["metadata"]["result"], 0);
    assert_eq!(
        r.json()["metadata"]["reason"],
        "Invalid tweaksetting key",
        "WHM's words"
    );

    // Erin gains manage-api-tokens through setacls: accesshash appears in her applist at once.
    assert!(!apps(&server.presenting(&whm("erin", &erin)).api("applist", "")).contains(&"accesshash".to_owned()));
    let r = server
        .presenting(&auth)
        .api("setacls", "reseller=erin&acl-list-accts=1&acl-manage-api-tokens=1");
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert!(apps(&server.presenting(&whm("erin", &erin)).api("applist", "")).contains(&"accesshash".to_owned()));
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(
        text.contains("[resellers.erin]\nprivileges = [\"manage-api-tokens\", \"list-accts\"]")
            || text.contains("\"list-accts\", \"manage-api-tokens\""),
        "{text}"
    );

    // Turning the setting off through the API: the file keeps its comments and the feature disappears.
    let r = server
        .presenting(&auth)
        .api("set_tweaksetting", "key=allow_deprecated_accesshash&value=0");
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(text.contains("allow_deprecated_accesshash = false"), "{text}");
    assert!(text.contains("[accounts.dave]"));
    let log = std::fs::read_to_string(server.dir.path().join("state/audit.log")).unwrap();
    let change = log
        .lines()
        .find(|l| l.contains("\"setting_changed\""))
        .expect("audited");
    let change: Value = serde_json::from_str(change).unwrap();
    assert_eq!(change["old"], "1");
    assert!(
        change["lost"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["user"] == "bob" && c["feature"] == "remote-access-key"),
        "{change}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("\"acls_changed\"") && l.contains("manage-api-tokens"))
    );

    // Non-root callers may not touch Tweak Settings: 403 with the gate's reason.
    let _key = key_for(&server, "bob");
    let r = server.as_("bob").api("set_tweaksetting", "key=csp&value=1");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["metadata"]["reasons"][0]["code"], "PRIVILEGE_MISSING");
}

#[test]
fn converted_key_keeps_working_as_a_token() {
    let server = TestPanel::serve(&cast());
    let key = key_for(&server, "bob");
    let lines = server.convert_keys_to_tokens(&["bob"], true);
    assert!(
        lines[0].starts_with("Imported accesshash for “bob” as “accesshash-"),
        "{lines:?}"
    );
    let off = std::fs::read_to_string(server.config_path()).unwrap().replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    );
    server.rewrite_config(&off);
    wait_until(Duration::from_secs(2), || !server.is_on("allow_deprecated_accesshash"));
    assert_eq!(
        server.presenting(&whm("bob", &key)).api("version", "").status,
        200,
        "the key now authenticates as an API token"
    );
    assert!(
        server.dir.path().join("state/home/bob/.accesshash").is_file(),
        "the key file remains"
    );
    let tokens = server.tokens("bob");
    assert!(
        tokens
            .iter()
            .any(|t| t.name.starts_with("accesshash-") && t.acls.is_none() && t.expires_at.is_none())
    );
}

#[test]
fn bad_authorization_headers_never_break_the_server() {
    let server = TestPanel::serve(&cast());
    let huge = format!("WHM root:{}", "a".repeat(16 * 1024));
    let cases: Vec<Vec<u8>> = vec![
        b"Bearer abc".to_vec(),
        b"WHM root".to_vec(),
        b"WHM :key".to_vec(),
        b"WHM root:".to_vec(),
        b"WHM root:a:b:c".to_vec(),
        huge.into_bytes(),
        b"WHM r\xffoot:abc".to_vec(),
        b"WHM root:ab\x00cd".to_vec(),
        b"Basic !!!notbase64".to_vec(),
        b"WHM ../root:abc".to_vec(),
        b"WHM r%2e%2e:abc".to_vec(),
    ];
    for header in cases {
        let mut req =
            b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ".to_vec();
        req.extend_from_slice(&header);
        req.extend_from_slice(b"\r\n\r\n");
        let r = raw_request(server.addr(), &req);
        assert!(
            matches!(r.status, 400 | 401 | 431),
            "{:?} -> {}",
            String::from_utf8_lossy(&header),
            r.status
        );
    }
    let megabyte = format!(
        "GET /json-api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: WHM root:{}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let r = raw_request(server.addr(), megabyte.as_bytes());
    assert!(matches!(r.status, 0 | 400 | 401 | 431), "1 MiB header -> {}", r.status);
    assert_eq!(
        request(server.addr(), "GET", "/health", &[], "").status,
        200,
        "still serving"
    );
}

#[test]
fn repeated_failures_are_throttled() {
    let server = TestPanel::serve(&cast().server("auth_failure_limit = 5"));
    let statuses: Vec<u16> = (0..8)
        .map(|_| server.presenting("WHM root:wrong").api("version", "").status)
        .collect();
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[test]
fn sessions_log_in_once_and_carry_the_prefix() {
    let server = TestPanel::serve(&cast());
    let root = key_for(&server, "root");
    let r = server
        .presenting(&whm("root", &root))
        .api("create_user_session", "user=bob&service=whostmgrd");
    let v = r.json();
    let url = v["data"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url: {v}"))
        .to_owned();
    let token = v["data"]["cp_security_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("/cpsess") && token.len() == 17, "{token}");
    let landing = request(server.addr(), "GET", &url, &[], "");
    assert_eq!(landing.status, 303);
    let cookie = landing.header("set-cookie").expect("cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let location = landing.header("location").unwrap().to_owned();
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let home = request(server.addr(), "GET", &location, &[("Cookie", &cookie_pair)], "");
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("Remote Access Key"),
        "bob sees the feature in the menu"
    );
    let prefix = location.trim_end_matches('/');
    let api = request(
        server.addr(),
        "GET",
        &format!("{prefix}/json-api/version?api.version=1"),
        &[("Cookie", &cookie_pair)],
        "",
    );
    assert_eq!(api.status, 200, "API calls under the session prefix work");
    assert_eq!(
        request(server.addr(), "GET", &url, &[], "").status,
        401,
        "a one-time URL works once"
    );
    let forged = request(
        server.addr(),
        "GET",
        &format!("{prefix}/json-api/version?api.version=1"),
        &[("Cookie", "whostmgrsession=forged")],
        "",
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn https_with_a_self_signed_pair_made_on_first_start() {
    use std::os::unix::fs::PermissionsExt;

    // A real server with an HTTPS listener and no certificate configured: it makes a pair on first start.
    let server = tests::ServeProcess::start("", true);
    let state = server.state_dir();
    let key_mode = std::fs::metadata(state.join("tls/key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600, "the private key is readable by its owner only");
    let addr = server.tls_addr.expect("an HTTPS listener");

    // A client that trusts exactly the certificate the panel made.
    let answer = tests::https_get(addr, &state.join("tls/cert.pem"), "/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":\"ok\""), "{answer}");
}

#[test]
fn listacls_reads_saved_privilege_lists() {
    let server = TestPanel::serve(&cast());
    let root = key_for(&server, "root");
    let dir = server.dir.path().join("state/acllists");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Basic"), "list-accts=1\nmanage-api-tokens=0\nvendor-acl=1\n").unwrap();
    let r = server.presenting(&whm("root", &root)).api("listacls", "");
    let v = r.json();
    assert_eq!(v["data"]["acl"][0]["name"], "Basic", "{v}");
    let basic = &v["data"]["acl"][0]["privileges"];
    assert_eq!(basic["list-accts"], 1, "{v}");
    assert_eq!(basic["manage-api-tokens"], 0);
    assert_eq!(basic["vendor-acl"], 1, "third-party ACLs are listed too");
    std::fs::write(dir.join("Broken"), "list-accts=yes\n").unwrap();
    let v = server.presenting(&whm("root", &root)).api("listacls", "").json();
    assert_eq!(v["metadata"]["result"], 0);
    assert!(
        v["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("\"Broken\" is not a saved list: line 1 is not"),
        "{v}"
    );
}

#[test]
fn a_reseller_without_a_home_yet_can_generate_a_key() {
    let server = TestPanel::serve(&cast());
    let bob = server.as_("bob");
    let home = server.dir.path().join("state/home/bob");
    assert!(!home.exists());
    let r = bob.api("accesshash", "");
    assert_eq!(r.json()["metadata"]["reason"], "No accesshash exists for bob");
    assert!(!home.exists(), "reading a key creates nothing");
    let r = bob.api("accesshash", "generate=1");
    let key = r.json()["data"]["accesshash"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", r.body))
        .to_owned();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&home).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(home.join(".accesshash"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(server.presenting(&whm("bob", &key)).api("version", "").status, 200);
}

#[test]
fn converting_a_key_whose_name_is_taken_gets_a_suffixed_name() {
    let server = TestPanel::serve(&cast());
    key_for(&server, "bob");
    // Occupy the names the conversion could pick in the next few seconds, with tokens of other secrets.
    let now = panel::fsx::unix_now();
    for (i, t) in (now..now + 3).enumerate() {
        server.import_token("bob", &format!("accesshash-{t}"), &format!("another secret {i}"));
    }
    let lines = server.convert_keys_to_tokens(&["bob"], true);
    let name = lines[0].rsplit('“').next().unwrap().trim_end_matches('”').to_owned();
    let (base, suffix) = name.rsplit_once('-').unwrap_or_else(|| panic!("no suffix in {name}"));
    assert!(base.starts_with("accesshash-"), "{name}");
    assert_eq!(suffix.len(), 8, "{name}");
    assert!(
        suffix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(server.tokens("bob").len(), 4, "the other tokens are kept");
    // Converting the same key again replaces its token rather than adding one.
    server.convert_keys_to_tokens(&["bob"], false);
    assert_eq!(server.tokens("bob").len(), 4);
}

/// A changed `listen` cannot apply live: the server keeps serving where it listens, and says a restart is needed,
/// in the log and in `/health`.
#[test]
fn a_listen_change_is_reported_as_needing_a_restart() {
    let server = TestPanel::serve(&cast());
    let root = key_for(&server, "root");
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    let generation = server.generation();
    server.rewrite_config(&text.replace("listen = [\"127.0.0.1:0\"]", "listen = [\"127.0.0.1:1\"]"));
    let reloaded = wait_until(Duration::from_secs(5), || server.generation() > generation);
    assert!(reloaded.is_some(), "{:?}", server.reloads().last_error);
    let anonymous = request(server.addr(), "GET", "/health", &[], "").json();
    assert_eq!(anonymous["status"], "ok");
    assert_eq!(anonymous["restart_needed"], true);
    let detail = request(
        server.addr(),
        "GET",
        "/health",
        &[("Authorization", &whm("root", &root))],
        "",
    )
    .json();
    let why = detail["config"]["restart_needed"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(why.contains("listen") && why.contains("restart"), "{detail}");
    // Putting it back clears the report.
    let generation = server.generation();
    server.rewrite_config(&text);
    wait_until(Duration::from_secs(5), || server.generation() > generation);
    assert!(server.reloads().restart_needed.is_none());
}

#[test]
fn plugins_follow_the_config_without_a_restart() {
    let server = TestPanel::serve(&cast());
    let root = whm("root", &key_for(&server, "root"));
    // A copy of the fixture in the server's directory, so the test can change the file under the running server.
    let hello = server.dir.path().join("hello.so");
    std::fs::copy(tests::build_cdylib("fixture-hello"), &hello).unwrap();
    let says_hello = |server: &TestPanel| server.presenting(&root).api("hello", "").json()["data"]["hello"] == "root";
    let applist = |server: &TestPanel| apps(&server.presenting(&root).api("applist", ""));
    assert!(!says_hello(&server));
    assert!(!applist(&server).contains(&"hello".to_owned()));

    // Added to [[plugins]]: served at once, listed by applist, shown in plugins list.
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    let with_hello = format!("{text}\n[[plugins]]\npath = \"{}\"\n", hello.display());
    server.rewrite_config(&with_hello);
    assert!(
        wait_until(Duration::from_secs(5), || says_hello(&server)).is_some(),
        "the added plugin never answered: {:?}",
        server.reloads()
    );
    assert!(applist(&server).contains(&"hello".to_owned()));
    // The plugin that was loaded before is the same one, still serving.
    assert_eq!(
        server.presenting(&root).api("accesshash", "user=root").json()["metadata"]["result"],
        1
    );

    // Removed: its function is unknown again at once.
    server.rewrite_config(&text);
    assert!(
        wait_until(Duration::from_secs(5), || !says_hello(&server)).is_some(),
        "the removed plugin still answers"
    );
    let gone = server.presenting(&root).api("hello", "").json();
    assert_eq!(
        gone["metadata"]["reason"],
        "Unknown app (\"hello\") requested for this version (1) of the API."
    );
    assert!(!applist(&server).contains(&"hello".to_owned()));

    // Back again, then its file is replaced on disk: reported as needing a restart, and the loaded code serves on.
    server.rewrite_config(&with_hello);
    assert!(wait_until(Duration::from_secs(5), || says_hello(&server)).is_some());
    assert!(server.reloads().restart_needed.is_none(), "{:?}", server.reloads());
    let replacement = server.dir.path().join("hello.so.new");
    std::fs::copy(&hello, &replacement).unwrap();
    std::fs::rename(&replacement, &hello).unwrap();
    let reported = wait_until(Duration::from_secs(5), || {
        server
            .reloads()
            .restart_needed
            .is_some_and(|why| why.contains("hello.so") && why.contains("restart"))
    });
    assert!(reported.is_some(), "{:?}", server.reloads());
    assert!(says_hello(&server), "the loaded code keeps serving");
    let health = server.health_as_root();
    assert!(
        health["config"]["restart_needed"]
            .as_str()
            .unwrap_or_default()
            .contains("hello.so"),
        "{health}"
    );
    assert_eq!(
        request(server.addr(), "GET", "/health", &[], "").json()["restart_needed"],
        true
    );
    // `plugins list` in another process reads what the running server recorded.
    let out = std::process::Command::new(tests::tweakgate_bin())
        .args([
            "--config",
            &server.config_path().display().to_string(),
            "plugins",
            "list",
        ])
        .current_dir(server.dir.path())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listed}");
    assert!(
        listed.contains("loaded an older version of this file"),
        "plugins list does not say the server needs a restart:\n{listed}"
    );

    // A reload that changes nothing of the plugins leaves their record as it was: not written, not synced again.
    let record_file = || {
        let meta = std::fs::metadata(server.state_dir().join("plugins.json")).unwrap();
        (std::os::unix::fs::MetadataExt::ino(&meta), meta.modified().unwrap())
    };
    let held = record_file();
    // Two edits, each reloaded: reloads are made one at a time, so the first one's record is written (or not) by the
    // time the second is in force.
    for comment in ["# a comment", "# another comment"] {
        let generation = server.generation();
        server.rewrite_config(&format!("{with_hello}\n{comment}\n"));
        assert!(
            wait_until(Duration::from_secs(5), || server.generation() > generation).is_some(),
            "the edit was never reloaded"
        );
    }
    assert_eq!(
        record_file(),
        held,
        "plugins.json was written again by a reload that changed nothing in it"
    );
}
