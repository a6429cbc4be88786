//! Nobody locked out, nothing lost: a user dropped by an edit keeps their credentials through a grace period, guessing
//! slows a user's password down rather than shutting it out, and passwords and sessions travel only over TLS.

use std::time::Duration;

use tests::{Cast, TestPanel, wait_until};

/// The config text without the named sections (e.g. `[resellers.bob]`).
fn without(text: &str, sections: &[&str]) -> String {
    let mut kept = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = sections.contains(&line);
        }
        if !skip {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// Saves the config as an editor that writes a new file and renames it does, and waits for the watcher to apply it.
fn save(p: &TestPanel, text: &str) {
    let generation = p.generation();
    let tmp = p.config_path().with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, p.config_path()).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || p.generation() > generation).is_some(),
        "the edit was applied: {}",
        p.health_as_root()
    );
}

const BOB: &[&str] = &["[resellers.bob]", "[accounts.dave]"];

/// An edit dropped bob (a mistake, a save of the wrong file) and was undone a moment later: his key and tokens were
/// already moved to `removed/` and every client of his had to be given new ones. Now they wait out a grace period.
#[test]
fn a_user_dropped_by_an_edit_and_restored_in_time_keeps_key_and_tokens() {
    let p = TestPanel::serve(&Cast::standard());
    let key = p.as_("bob").with_key();
    let token = p.as_("bob").narrowed(&["list-accts"]);
    let session = p.as_("bob").in_session();
    assert_eq!(key.api("version", "").status, 200);
    let text = p.config_text();
    save(&p, &without(&text, BOB));
    assert_eq!(key.api("version", "").status, 401, "bob is not a user while he is out");
    assert_eq!(token.api("version", "").status, 401);
    save(&p, &text);
    assert_eq!(key.api("version", "").status, 200, "his key is his again");
    assert_eq!(token.api("version", "").status, 200, "and so is his token");
    assert_ne!(session.page("/").status, 200, "sessions may end with the edit");
    assert!(p.audit_events("credentials_removed").is_empty(), "nothing was retired");
    let kept = p.audit_events("credentials_kept");
    assert!(kept.iter().any(|e| e["user"] == "bob"), "{kept:?}");
    assert!(!p.state_dir().join("removed").exists());
}

/// Past the grace, the credentials end with their user, so a user of the same name added later inherits nothing.
#[test]
fn a_user_absent_past_the_grace_is_retired() {
    let p = TestPanel::serve(&Cast::standard().server("removed_user_grace_secs = 1"));
    let key = p.as_("bob").with_key();
    let token = p.as_("bob").narrowed(&["list-accts"]);
    let text = p.config_text();
    save(&p, &without(&text, BOB));
    assert!(
        wait_until(Duration::from_secs(5), || p
            .audit_events("credentials_removed")
            .iter()
            .any(|e| e["user"] == "bob"))
        .is_some(),
        "bob is retired once his grace is over"
    );
    let retired = p.audit_events("credentials_removed");
    let retired = retired.iter().find(|e| e["user"] == "bob").expect("bob is retired");
    assert_eq!(retired["why"], "absent past the grace");
    assert_eq!(retired["access_key"], true);
    save(&p, &text);
    assert_eq!(key.api("version", "").status, 401, "a new bob inherits no key");
    assert_eq!(token.api("version", "").status, 401, "nor a token");
}

/// The administrator's `systemctl reload` (SIGHUP) confirms the files as they are: a user they leave out is retired at
/// once, without waiting out the grace. The list of users waiting is durable, so a restart keeps it too.
#[test]
fn a_confirmed_reload_retires_a_dropped_user_at_once() {
    let p = TestPanel::serve(&Cast::standard());
    let key = p.as_("bob").with_key();
    let text = p.config_text();
    save(&p, &without(&text, BOB));
    let waiting = std::fs::read_to_string(p.state_dir().join("retiring.json")).expect("the wait is on disk");
    assert!(waiting.contains("\"bob\""), "{waiting}");
    assert!(p.audit_events("credentials_removed").is_empty());
    p.confirm_reload().unwrap();
    let retired = p.audit_events("credentials_removed");
    let bob: Vec<_> = retired.iter().filter(|e| e["user"] == "bob").collect();
    assert_eq!(bob.len(), 1, "{retired:?}");
    assert_eq!(bob[0]["why"], "confirmed by a reload");
    save(&p, &text);
    assert_eq!(key.api("version", "").status, 401);
    let waiting = std::fs::read_to_string(p.state_dir().join("retiring.json")).unwrap();
    assert!(!waiting.contains("\"bob\""), "{waiting}");
}

/// Ten wrong `Basic root:` passwords from anywhere refused root's correct password, from any place he had not logged
/// in from, for the rest of the 300 s window, renewable for ever. Now a full bucket delays the next check by the time
/// one failure takes to drain (`window / (limit × 5)` for the user's bucket), said in `Retry-After`; the guessing bound
/// is the one the window gave.
#[test]
fn guesses_delay_the_honest_user_by_seconds_not_the_window() {
    const PASSWORD: &str = "root's long password";
    // A user's bucket holds 2 × 5 failures and drains one every 10 s (the checks of debug builds take a while).
    let p = TestPanel::open(
        &Cast::standard()
            .server("auth_failure_limit = 2")
            .setting("requiressl", "false")
            .server("auth_failure_window_secs = 100")
            .root_password(PASSWORD),
    );
    for i in 0..10 {
        let guess = p
            .with_password("root", "wrong guess")
            .from(&format!("10.1.0.{}:40000", i + 1));
        assert_eq!(guess.api("version", "").status, 401, "guess {i} is checked");
    }
    let root = p.with_password("root", PASSWORD).from("10.2.0.1:40000");
    let refused = root.api("version", "");
    assert_eq!(refused.status, 429, "the guessing bound holds: a full bucket waits");
    let wait: u64 = refused
        .header("retry-after")
        .expect("the delay is said")
        .parse()
        .expect("in seconds");
    assert!(wait <= 10, "one failure drains in 10 s, not the 100 s window: {wait}");
    std::thread::sleep(Duration::from_millis(wait * 1000 + 100));
    assert_eq!(root.api("version", "").status, 200, "root is in after the delay");
}

/// The bound while someone keeps guessing: the full bucket, then one check per drain, however fast the guesses come
/// and from however many addresses; every other guess is answered at once, unchecked.
#[test]
fn continuous_guessing_gets_one_check_per_drain() {
    let p = TestPanel::open(
        &Cast::standard()
            .server("auth_failure_limit = 2")
            .setting("requiressl", "false")
            .server("auth_failure_window_secs = 30")
            .root_password("root's long password"),
    );
    let start = std::time::Instant::now();
    let mut checked = 0;
    let mut refused = 0;
    let mut i = 0u32;
    while refused < 5 && start.elapsed() < Duration::from_secs(30) {
        i += 1;
        let guess = p.with_password("root", "wrong guess").from(&format!(
            "10.{}.{}.{}:40000",
            3 + i / 65536,
            (i / 256) % 256,
            i % 256
        ));
        match guess.api("version", "").status {
            401 => checked += 1,
            429 => refused += 1,
            other => panic!("{other}"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert!(refused > 0);
    assert!(
        f64::from(checked) <= 10.0 + elapsed / 3.0 + 1.0,
        "{checked} guesses checked in {elapsed:.1} s"
    );
}

/// `requiressl` (WHM's default On) was not enforced: `Basic` over plain HTTP answered 200, and a session's cookie and
/// the login form worked over plain HTTP from anywhere. From another host over plain HTTP, a password or a session
/// now gets nowhere: pages are redirected to the HTTPS listener, the rest refused with its address; tokens and keys
/// stay accepted, as WHM accepts them; loopback, whose traffic crosses no network, is exempt.
#[test]
fn passwords_and_sessions_travel_only_over_tls() {
    const PASSWORD: &str = "root's long password";
    const AWAY: &str = "203.0.113.9:40000";
    let cast = Cast::standard()
        .server("tls_listen = [\"127.0.0.1:2087\"]")
        .root_password(PASSWORD);
    let p = TestPanel::open(&cast);
    let basic = p.with_password("root", PASSWORD).from(AWAY).api("version", "");
    assert_eq!(basic.status, 403, "{}", basic.body);
    assert!(basic.reason().contains("requiressl"), "{}", basic.reason());
    assert_eq!(
        basic.header("location"),
        Some("https://127.0.0.1:2087/json-api/version?api.version=1")
    );
    assert_eq!(
        p.as_("root").from(AWAY).api("version", "").status,
        200,
        "a token is accepted"
    );
    assert_eq!(
        p.as_("bob").with_key().from(AWAY).api("version", "").status,
        200,
        "so is a key"
    );
    let login_page = p.anonymous().from(AWAY).get("/login/");
    assert!((300..400).contains(&login_page.status), "{}", login_page.status);
    assert_eq!(login_page.header("location"), Some("https://127.0.0.1:2087/login/"));
    let login = p
        .anonymous()
        .from(AWAY)
        .post("/login/?login_only=1", &format!("user=root&pass={PASSWORD}"));
    assert_eq!(login.status, 403, "no session is started over plain HTTP");
    assert!(login.header("set-cookie").is_none());
    let session = p.as_("bob").in_session().from(AWAY);
    let home = session.page("/");
    assert!((300..400).contains(&home.status), "{}", home.status);
    assert!(
        home.header("location")
            .unwrap_or_default()
            .starts_with("https://127.0.0.1:2087/cpsess")
    );
    assert_eq!(
        session.api("version", "").status,
        403,
        "a session's API call is refused"
    );
    let link = p
        .as_("root")
        .from(AWAY)
        .api("create_user_session", "user=bob&service=whostmgrd");
    assert!(
        link.json()["data"]["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://127.0.0.1:2087/cpsess"),
        "a login link made over plain HTTP points at the HTTPS listener: {}",
        link.body
    );
    // Loopback is exempt: the README's http://127.0.0.1:2086/ keeps working.
    assert_eq!(p.with_password("root", PASSWORD).api("version", "").status, 200);
    assert_eq!(p.as_("bob").in_session().page("/").status, 200);
    // Without an HTTPS listener the refusal says how to proceed.
    let p = TestPanel::open(&Cast::standard().root_password(PASSWORD));
    let refused = p.with_password("root", PASSWORD).from(AWAY).api("version", "");
    assert_eq!(refused.status, 403);
    assert!(refused.reason().contains("tls_listen"), "{}", refused.reason());
    // requiressl Off: passwords over plain HTTP, as WHM then allows.
    let p = TestPanel::open(&Cast::standard().setting("requiressl", "false").root_password(PASSWORD));
    assert_eq!(
        p.with_password("root", PASSWORD).from(AWAY).api("version", "").status,
        200
    );
}

/// `tweakgate session` printed `http://<first listen address>/…`: from another host that link is now refused by
/// `requiressl`, so it points at the HTTPS listener unless the plain listener is loopback (exempt), and says so when
/// there is no HTTPS listener.
#[test]
fn command_line_login_links_point_where_sessions_are_accepted() {
    let link = |server: &str, settings: &str| {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tweakgate.toml");
        std::fs::write(
            &config,
            format!("[server]\n{server}\nstate_dir = \"state\"\n\n[tweak_settings]\n{settings}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(tests::tweakgate_bin())
            .args(["session", "--user", "root", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (url, _) = link("listen = [\"192.0.2.1:2086\"]\ntls_listen = [\"192.0.2.1:2087\"]", "");
    assert!(url.starts_with("https://192.0.2.1:2087/cpsess"), "{url}");
    let (url, _) = link("listen = [\"127.0.0.1:2086\"]\ntls_listen = [\"127.0.0.1:2087\"]", "");
    assert!(
        url.starts_with("http://127.0.0.1:2086/cpsess"),
        "loopback is exempt: {url}"
    );
    let (url, _) = link(
        "listen = [\"192.0.2.1:2086\"]\ntls_listen = [\"192.0.2.1:2087\"]",
        "requiressl = false",
    );
    assert!(url.starts_with("http://192.0.2.1:2086/cpsess"), "{url}");
    let (url, note) = link("listen = [\"192.0.2.1:2086\"]", "");
    assert!(url.starts_with("http://192.0.2.1:2086/cpsess"), "{url}");
    assert!(note.contains("no HTTPS listener"), "{note}");
}
