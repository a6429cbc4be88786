//! The architecture's promises as rules over the tables, not tests per case: every operation, plugin function and
//! page, for every cast user and every kind of credential. A new operation, function or page is covered the day it
//! is added.

use std::collections::BTreeSet;

use tests::cast::WHM_USERS;
use tests::{Cast, Client, Reply, TestPanel};

/// A refusal, whoever made it: the gate (403 with its reasons), an operation's own check, or a plugin's.
fn refused(reply: &Reply) -> bool {
    if reply.status == 401 || reply.status == 403 {
        return true;
    }
    let reason = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|j| j["metadata"]["reason"].as_str().map(str::to_owned))
        .unwrap_or_default();
    reason.starts_with("Access denied") || reason == remote_access_key::key_service::NEEDS_FULL_ACCESS
}

/// Every credential the cast's `user` can present: full token, two narrowed tokens, the key, full and limited sessions.
fn credentials<'a>(p: &'a TestPanel, user: &str) -> Vec<(String, Client<'a>)> {
    let full = p.as_(user);
    vec![
        ("full token".into(), full.clone()),
        ("token narrowed to list-accts".into(), full.narrowed(&["list-accts"])),
        (
            "token narrowed to manage-api-tokens".into(),
            full.narrowed(&["manage-api-tokens"]),
        ),
        ("access key".into(), full.with_key()),
        ("session".into(), full.in_session()),
        (
            "session limited to manage-api-tokens".into(),
            full.in_limited_session(&["manage-api-tokens"]),
        ),
    ]
}

fn applist(client: &Client<'_>) -> BTreeSet<String> {
    let reply = client.api("applist", "");
    assert_eq!(
        reply.result(),
        1,
        "applist answers everyone with WHM access: {}",
        reply.body
    );
    reply.json()["data"]["app"]
        .as_array()
        .expect("applist's data.app")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// One envelope: every API 1 answer, success or failure, is WHM's `metadata` (version, command, result, reason), and
/// a failure has no `data` at all (cPanel's JavaScript client throws on `data: null`).
fn envelope(function: &str, reply: &Reply) {
    let json: serde_json::Value =
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{function}: not JSON ({e}): {}", reply.body));
    let meta = &json["metadata"];
    assert_eq!(meta["version"], 1, "{function}: {}", reply.body);
    assert!(meta["reason"].is_string(), "{function}: {}", reply.body);
    let result = meta["result"].as_i64();
    assert!(matches!(result, Some(0 | 1)), "{function}: {}", reply.body);
    if result == Some(0) {
        assert!(
            json.get("data").is_none(),
            "{function}: a failure carries data: {}",
            reply.body
        );
    }
    if reply.status != 401 {
        assert_eq!(meta["command"], function, "{function}: {}", reply.body);
    }
}

/// Every refusal before a caller is known (no credential, a wrong one) is the same envelope, without `data`.
#[test]
fn unauthenticated_answers_are_the_one_envelope() {
    let p = TestPanel::open(&Cast::standard());
    let mut functions: Vec<String> = panel::whm::OPERATIONS.iter().map(|o| o.name.to_owned()).collect();
    functions.extend(p.plugin_functions());
    for function in &functions {
        let reply = p.anonymous().api(function, "");
        assert_eq!(reply.status, 401, "{function}: {}", reply.body);
        envelope(function, &reply);
        assert_eq!(reply.result(), 0);
    }
}

/// Shown ⇔ allowed: a function is in `applist` exactly when calling it is not refused, for every operation of
/// `whm::OPERATIONS` and every plugin function in force, for every cast user and credential.
#[test]
fn a_function_is_listed_exactly_when_calling_it_is_not_refused() {
    let p = TestPanel::open(&Cast::standard());
    let mut functions: Vec<String> = panel::whm::OPERATIONS.iter().map(|o| o.name.to_owned()).collect();
    functions.extend(p.plugin_functions());
    assert!(
        functions.iter().any(|f| f == "accesshash"),
        "the plugins' functions are walked too"
    );
    let mut wrong = Vec::new();
    for user in WHM_USERS {
        for (how, client) in credentials(&p, user) {
            let listed = applist(&client);
            for function in &functions {
                let reply = client.api(function, "");
                envelope(function, &reply);
                let allowed = !refused(&reply);
                if listed.contains(function) != allowed {
                    wrong.push(format!(
                        "{user} with {how}: {function} is {} but the call {}: {} {}",
                        if listed.contains(function) {
                            "listed"
                        } else {
                            "not listed"
                        },
                        if allowed { "is allowed" } else { "is refused" },
                        reply.status,
                        reply.body
                    ));
                }
                if !allowed && reply.status == 403 {
                    assert!(
                        !reply.reason_codes().is_empty(),
                        "a refusal says why: {function} for {user} with {how}: {}",
                        reply.body
                    );
                }
            }
        }
    }
    assert!(wrong.is_empty(), "shown and allowed differ:\n{}", wrong.join("\n"));
}

/// The links of the Home menu, as `/path` inside the session.
fn menu(client: &Client<'_>) -> BTreeSet<String> {
    let (prefix, _) = client.session_parts().expect("a session client");
    let home = client.page("/");
    assert_eq!(home.status, 200, "{}", home.body);
    home.body
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter_map(|href| href.strip_prefix(prefix))
        .filter(|path| !path.is_empty() && !path.starts_with("/static") && *path != "/")
        .map(str::to_owned)
        .collect()
}

/// Shown ⇔ allowed for pages: every link of the Home menu opens, and every page that opens (the panel's own and the
/// plugins') is in the menu, for every cast user in a full and in a limited session.
#[test]
fn a_page_is_in_the_menu_exactly_when_it_opens() {
    let p = TestPanel::open(&Cast::standard());
    let mut pages: BTreeSet<String> = panel::plugin_set::PANEL_PAGES
        .iter()
        .filter(|page| !["/", "/logout", "/login", "/login/"].contains(page))
        .map(|page| (*page).to_owned())
        .collect();
    pages.extend(p.plugin_pages());
    assert!(pages.contains("/remote-access-key") && pages.contains("/configuration-cluster"));
    let mut wrong = Vec::new();
    for user in WHM_USERS {
        let full = p.as_(user);
        for (how, client) in [
            ("session", full.in_session()),
            (
                "session limited to manage-api-tokens",
                full.in_limited_session(&["manage-api-tokens"]),
            ),
        ] {
            let shown = menu(&client);
            for link in &shown {
                assert!(
                    pages.contains(link),
                    "{user} ({how}): the menu links to {link}, which is no page"
                );
            }
            for page in &pages {
                let reply = client.page(page);
                let opens = reply.status == 200;
                assert!(
                    opens || reply.status == 403,
                    "{user} ({how}): {page} answers {}: {}",
                    reply.status,
                    reply.body
                );
                if shown.contains(page) != opens {
                    wrong.push(format!(
                        "{user} ({how}): {page} is {} but answers {}",
                        if shown.contains(page) {
                            "in the menu"
                        } else {
                            "not in the menu"
                        },
                        reply.status
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "shown and allowed differ:\n{}", wrong.join("\n"));
}

/// What a credential cannot use, `explain` says with the gate's reason: a reseller holding `all` is told the cluster
/// is root's, a narrowed token that the Remote Access Key needs a full-access credential.
#[test]
fn what_is_hidden_says_why() {
    let p = TestPanel::open(&Cast::standard());
    let carol = p.as_("carol");
    let reply = carol.api("list_configclusterservers", "");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.reason_codes(), ["ROOT_ONLY"], "{}", reply.body);
    let narrowed = p.as_("root").narrowed(&["manage-api-tokens"]);
    let reply = narrowed.api("accesshash", "");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.reason_codes(), ["FULL_ACCESS_REQUIRED"], "{}", reply.body);
    let reply = p
        .as_("bob")
        .in_limited_session(&["manage-api-tokens"])
        .page("/remote-access-key");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.body.contains("full-access") || reply.body.contains("all of bob"),
        "{}",
        reply.body
    );
    // The same credential's key-free, token-free work is untouched.
    assert_eq!(narrowed.api("api_token_list", "").result(), 1);
}

/// Each writing operation of `whm::OPERATIONS` with parameters that make it write, and whether what it writes is the
/// config (or a native file, or a saved ACL list) that the config lock guards. A writing operation missing here
/// fails the rule below, so the next one is covered the day it is added.
const WRITERS: &[(&str, &str, bool)] = &[
    ("set_tweaksetting", "key=skipboxtrapper&value=1", true),
    ("setacls", "reseller=erin&acl-list-accts=1&acl-acct-summary=1", true),
    ("saveacllist", "acllist=resellers&acl-list-accts=1", true),
    ("api_token_create", "token_name=rule", false),
    ("api_token_revoke", "token_name=rule", false),
    ("create_user_session", "user=bob&service=whostmgrd", false),
    (
        "add_configclusterserver",
        "name=http://127.0.0.1:9&user=root&key=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        false,
    ),
    (
        "update_configclusterserver",
        "name=http://127.0.0.1:9&key=ZYXWVUTSRQPONMLKJIHGFEDCBA543210",
        false,
    ),
    ("delete_configclusterserver", "name=http://127.0.0.1:9", false),
];

/// The files the config lock guards, with their bytes: the config and the saved ACL lists.
fn guarded_files(p: &TestPanel) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("tweakgate.toml".to_owned(), p.config_text().into_bytes())];
    if let Ok(native) = std::fs::read(p.dir.path().join("cpanel.config")) {
        files.push(("cpanel.config".to_owned(), native));
    }
    if let Ok(dir) = std::fs::read_dir(p.state_dir().join("acllists")) {
        let mut lists: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        lists.sort();
        files.extend(
            lists
                .into_iter()
                .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap_or_default())),
        );
    }
    files
}

/// One writer: every operation that writes the config waits while another process holds the config lock and writes
/// once it is let go; every other writing operation leaves the config untouched.
#[test]
fn every_writer_of_the_config_waits_for_the_config_lock() {
    let writing: Vec<&str> = panel::whm::OPERATIONS
        .iter()
        .filter(|o| o.writes)
        .map(|o| o.name)
        .collect();
    for name in &writing {
        assert!(
            WRITERS.iter().any(|(n, _, _)| n == name),
            "{name} writes files: give it a row in WRITERS"
        );
    }
    let p = TestPanel::open(&Cast::standard());
    check_writers(&p, &writing, WRITERS);
    // A native cpanel.config: modelled keys and a key the schema does not model are written under the lock too.
    let native = TestPanel::open(
        &Cast::standard().native_cpanel_config("allow_deprecated_accesshash=1\nsome_unmodelled_key=42\n"),
    );
    check_writers(
        &native,
        &writing,
        &[
            ("set_tweaksetting", "key=skipboxtrapper&value=1", true),
            ("set_tweaksetting", "key=some_unmodelled_key&value=43", true),
        ],
    );
}

fn check_writers(p: &TestPanel, writing: &[&str], rows: &[(&str, &str, bool)]) {
    let root = p.as_("root");
    for (function, query, writes_config) in rows {
        assert!(
            writing.contains(function),
            "{function} is not a writing operation of the table"
        );
        let before = guarded_files(p);
        std::fs::create_dir_all(p.state_dir()).unwrap();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p.state_dir().join("config.lock"))
            .unwrap();
        lock.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = tx.send(root.api(function, query));
            });
            let early = rx.recv_timeout(std::time::Duration::from_millis(300));
            if *writes_config {
                assert!(
                    early.is_err(),
                    "{function} answered while another process held the config lock: {early:?}"
                );
                assert_eq!(
                    guarded_files(p),
                    before,
                    "{function} wrote while another process held the config lock"
                );
                drop(lock);
                let reply = rx
                    .recv_timeout(std::time::Duration::from_secs(20))
                    .expect("an answer once the lock is free");
                assert_eq!(reply.result(), 1, "{function}: {}", reply.body);
                assert_ne!(guarded_files(p), before, "{function} wrote nothing");
            } else {
                let reply = match early {
                    Ok(r) => r,
                    Err(_) => rx
                        .recv_timeout(std::time::Duration::from_secs(20))
                        .unwrap_or_else(|_| panic!("{function} hung on the config lock it does not need")),
                };
                assert_eq!(reply.result(), 1, "{function}: {}", reply.body);
                assert_eq!(guarded_files(p), before, "{function} changed the config");
                drop(lock);
            }
        });
    }
}
