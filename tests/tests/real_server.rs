//! A real cPanel & WHM server's files as the source (`[sources] whm_root`): synthetic trees built as WHM writes them,
//! checked from the outside through the `tweakgate` binary and WHM API 1 over loopback.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tests::whm_tree::{self, WhmTree};
use tests::{Cast, TestPanel, run_cli as run};

/// A config that reads the tree (and loads the Remote Access Key plugin), beside a state directory of its own.
fn config_for(tree: &WhmTree, state: &Path) -> PathBuf {
    let plugin = tests::build_cdylib("remote-access-key");
    let path = state.join("tweakgate.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nstate_dir = \"{}\"\n[sources]\nwhm_root = \"{}\"\n[[plugins]]\npath = \"{}\"\n",
            state.join("var").display(),
            tree.root().display(),
            plugin.display()
        ),
    )
    .unwrap();
    path
}

/// A matrix cell: visible, and the reason codes when hidden.
type Cell = (bool, Vec<String>);

/// `matrix --json` as (principal, feature) → (visible, reason codes).
fn matrix(config: &Path) -> BTreeMap<(String, String), Cell> {
    let r = run(config, &["matrix", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rows: Vec<Value> = serde_json::from_str(&r.stdout).expect("matrix JSON");
    rows.iter()
        .map(|row| {
            let codes = row["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["code"].as_str().unwrap().to_owned())
                .collect();
            (
                (
                    row["user"].as_str().unwrap().to_owned(),
                    row["feature"].as_str().unwrap().to_owned(),
                ),
                (row["visible"].as_bool().unwrap(), codes),
            )
        })
        .collect()
}

#[test]
fn the_matrix_has_every_principal_of_the_server_by_whms_rules() {
    let tree = WhmTree::standard();
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let m = matrix(&config);
    let cell = |user: &str, feature: &str| {
        m.get(&(user.to_owned(), feature.to_owned()))
            .unwrap_or_else(|| panic!("no cell for {user} / {feature}"))
            .clone()
    };
    let yes = (true, Vec::<String>::new());
    let no = |codes: &[&str]| (false, codes.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
    let rows: &[(&str, &str, Cell)] = &[
        // The file says allow_deprecated_accesshash=1 (the cache's 0 is not used for a key the file sets).
        ("root", "remote-access-key", yes.clone()),
        ("alpha", "remote-access-key", yes.clone()),
        ("alpha", "tweak-settings", no(&["PRIVILEGE_MISSING"])),
        // The first line for alpha wins; the later "alpha:all" is not read by WHM's login.
        ("bravo", "tweak-settings", yes.clone()),
        ("charlie", "manage-api-tokens", yes.clone()),
        // " delta:list-accts" never matches WHM's login reader: delta is an account, not a reseller.
        ("delta", "manage-api-tokens", no(&["NOT_A_RESELLER"])),
        ("amy", "remote-access-key", no(&["NOT_A_RESELLER"])),
        ("root/rootfull", "tweak-settings", yes.clone()),
        // bravo holds all; its token limited to acct-summary and list-accts holds exactly those.
        ("bravo/bravo-list", "tweak-settings", no(&["PRIVILEGE_MISSING"])),
        ("bravo/bravo-list", "manage-api-tokens", no(&["PRIVILEGE_MISSING"])),
        ("alpha/alpha-old", "manage-api-tokens", no(&["TOKEN_EXPIRED"])),
        // A token listing ACLs alpha lacks holds only what both hold: list-accts, not manage-api-tokens.
        ("alpha/alpha-lost", "manage-api-tokens", no(&["PRIVILEGE_MISSING"])),
        ("charlie/charlie-nowhere", "manage-api-tokens", yes.clone()),
        ("amy/amy-token", "manage-api-tokens", no(&["NOT_A_RESELLER"])),
    ];
    let mut wrong = Vec::new();
    for (user, feature, want) in rows {
        let got = cell(user, feature);
        if &got != want {
            wrong.push(format!("{user} / {feature}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        !m.keys()
            .any(|(u, _)| u == "ghost" || u == "nodns" || u == "alpha/alpha-bad"),
        "a reseller without a system user, a cpuser file without DNS= and a badly keyed token are no principals"
    );
}

#[test]
fn explain_says_where_each_fact_came_from() {
    let tree = WhmTree::standard();
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let root = tree.root().display().to_string();
    let r = run(
        &config,
        &["explain", "--user", "alpha", "--feature", "remote-access-key"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for want in [
        "remote-access-key: visible to alpha".to_owned(),
        format!(
            "from alpha: reseller, ACLs [acct-summary,basic-whm-functions,create-user-session,list-accts,manage-api-tokens,acme-backup] from {root}/var/cpanel/resellers:1"
        ),
        format!("from alpha: cPanel account, owner root from {root}/var/cpanel/users/alpha"),
        format!("from alpha: home /home/alpha from {root}/etc/passwd:3"),
        format!(
            "from alpha: access key {root}/home/alpha/.accesshash (authenticates while allow_deprecated_accesshash is on)"
        ),
        format!("from allow_deprecated_accesshash = 1: {root}/var/cpanel/cpanel.config:2"),
    ] {
        assert!(r.stdout.contains(&want), "missing {want:?} in:\n{}", r.stdout);
    }
    let r = run(
        &config,
        &[
            "explain",
            "--user",
            "bravo/bravo-list",
            "--feature",
            "manage-api-tokens",
            "--json",
        ],
    );
    let row: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(row["visible"], false);
    let sources: Vec<&str> = row["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        sources[0].starts_with("token bravo/bravo-list: ")
            && sources[0].ends_with(
                "bravo.json: limited to [acct-summary, list-accts], expires at 4102444800 (Unix time), only from 127.0.0.1, 192.0.2.0/24"
            ),
        "{sources:?}"
    );
    let r = run(
        &config,
        &["explain", "--user", "alpha/alpha-old", "--feature", "manage-api-tokens"],
    );
    assert!(
        r.stdout.contains(
            "TOKEN_EXPIRED: the API token alpha/alpha-old expired at 1000000000 (Unix time) and authenticates nothing"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn privilege_test_files_name_tokens_as_user_slash_name() {
    let tree = WhmTree::standard();
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let file = state.path().join("expect.toml");
    std::fs::write(
        &file,
        "[[expect]]\nuser = \"bravo/bravo-list\"\nfeature = \"tweak-settings\"\nvisible = false\nreasons = [\"PRIVILEGE_MISSING\"]\n\n[[expect]]\nuser = \"alpha\"\nfeature = \"remote-access-key\"\nvisible = true\n",
    )
    .unwrap();
    let r = run(&config, &["check", file.to_str().unwrap()]);
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "all 2 expectation(s) hold"),
        "{}",
        r.stderr
    );
    std::fs::write(
        &file,
        "[[expect]]\nuser = \"alpha/alpha-old\"\nfeature = \"manage-api-tokens\"\nvisible = true\n",
    )
    .unwrap();
    let r = run(&config, &["check", file.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("alpha/alpha-old / manage-api-tokens: expected visible, but it is hidden (TOKEN_EXPIRED"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_server_reports_each_finding_with_code_path_and_line() {
    let tree = WhmTree::standard();
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let r = run(&config, &["check", "--server", "--json"]);
    assert_eq!(
        r.code, 1,
        "warnings and errors fail the check: {}{}",
        r.stdout, r.stderr
    );
    let findings: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    let root = tree.root().display().to_string();
    let has = |code: &str, rel: &str, line: Option<u64>| {
        findings
            .iter()
            .any(|f| f["code"] == code && f["path"] == format!("{root}/{rel}") && f["line"].as_u64() == line)
    };
    let tokens = "var/cpanel/authn/api_tokens_v2/whostmgr";
    let want: &[(&str, String, Option<u64>)] = &[
        ("MALFORMED_RESELLER_LINE", "var/cpanel/resellers".into(), Some(4)),
        ("DUPLICATE_RESELLER", "var/cpanel/resellers".into(), Some(5)),
        ("RESELLER_WITHOUT_SYSTEM_USER", "var/cpanel/resellers".into(), Some(6)),
        ("UNKNOWN_ACL", "var/cpanel/resellers".into(), Some(1)),
        ("STALE_CACHE", "etc/trueuserowners".into(), Some(4)),
        ("USER_FIELD_MISMATCH", "var/cpanel/users/bob".into(), Some(6)),
        ("NOT_AN_ACCOUNT", "var/cpanel/users/nodns".into(), None),
        ("KEY_OF_NON_RESELLER", "home/amy/.accesshash".into(), None),
        ("KEY_PERMISSIONS", "home/charlie/.accesshash".into(), None),
        ("TOKENS_OF_NON_RESELLER", format!("{tokens}/amy.json"), None),
        ("TOKEN_EXPIRED", format!("{tokens}/alpha.json"), None),
        ("TOKEN_ACL_NOT_HELD", format!("{tokens}/alpha.json"), None),
        ("BAD_TOKEN_HASH", format!("{tokens}/alpha.json"), None),
        ("TOKEN_EMPTY_WHITELIST", format!("{tokens}/charlie.json"), None),
        ("FROM_CACHE", "var/cpanel/cpanel.config.cache".into(), None),
    ];
    let missing: Vec<String> = want
        .iter()
        .filter(|(code, rel, line)| !has(code, rel, *line))
        .map(|(code, rel, line)| format!("{code} {rel}:{line:?}"))
        .collect();
    assert!(missing.is_empty(), "missing {missing:?} in {}", r.stdout);
    let stale = findings.iter().find(|f| f["code"] == "STALE_CACHE").unwrap();
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("bob's owner is \"root\", the cpuser file says \"bravo\""),
        "{stale}"
    );
    let text = run(&config, &["check", "--server"]);
    assert!(
        text.stdout.contains(&format!("{root}/var/cpanel/resellers:5: DUPLICATE_RESELLER: a second line for \"alpha\"; WHM's login uses the first, line 1")),
        "{}",
        text.stdout
    );
    // `config check` shows the same findings, and leaves failing on them to `check --server`.
    let config_check = run(&config, &["config", "check"]);
    assert_eq!(config_check.code, 0, "{}{}", config_check.stdout, config_check.stderr);
    assert!(
        config_check
            .stdout
            .contains(&format!("{root}/var/cpanel/resellers:5: DUPLICATE_RESELLER"))
            && config_check.stdout.contains("error(s),"),
        "{}",
        config_check.stdout
    );
    let config_json: Value = serde_json::from_str(&run(&config, &["config", "check", "--json"]).stdout).unwrap();
    assert_eq!(
        config_json["findings"].as_array().map(Vec::len),
        Some(findings.len()),
        "{config_json}"
    );
}

/// A served panel on the tree, with the Remote Access Key plugin.
fn serve(tree: &WhmTree) -> TestPanel {
    TestPanel::serve(
        &Cast::standard()
            .whm_root(tree.root())
            .without_plugins()
            .plugin("remote-access-key", ""),
    )
}

fn users_of(reply: &tests::Reply) -> Vec<String> {
    reply.json()["data"]["acct"]
        .as_array()
        .map(|a| a.iter().map(|r| r["user"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn listaccts_shows_each_caller_exactly_what_whm_does_with_the_trees_own_credentials() {
    let tree = WhmTree::standard();
    let server = serve(&tree);
    let whm = |user: &str, secret: &str| format!("whm {user}:{secret}");
    // The spec's literal answer: alpha (a root-owned reseller) through its token, narrowed to list-accts.
    let alpha = whm("alpha", whm_tree::ALPHA_LOST_TOKEN);
    let r = server.presenting(&alpha).api(
        "listaccts",
        "want=user,owner,plan,suspended,suspendreason,unix_startdate",
    );
    assert_eq!(
        r.body,
        r#"{"data":{"acct":[{"owner":"alpha","plan":"alpha_basic","suspended":0,"suspendreason":"not suspended","unix_startdate":1690000000,"user":"amy"},{"owner":"alpha","plan":"alpha_pro","suspended":1,"suspendreason":"Nonpayment","unix_startdate":1700000000,"user":"andy"}]},"metadata":{"command":"listaccts","reason":"OK","result":1,"version":1}}"#
    );
    // The same with alpha's access key (allow_deprecated_accesshash=1 in cpanel.config).
    let key = format!("WHM alpha:{}", tree.alpha_key);
    let by_key = server.presenting(&key).api("listaccts", "");
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert_eq!(users_of(&by_key), ["amy", "andy"]);
    // bravo holds all, but its token limited to list-accts sees only what bravo owns: itself and bob.
    let bravo = whm("bravo", whm_tree::BRAVO_LIST_TOKEN);
    assert_eq!(
        users_of(&server.presenting(&bravo).api("listaccts", "")),
        ["bob", "bravo"]
    );
    let root = whm("root", whm_tree::ROOT_TOKEN);
    assert_eq!(
        users_of(&server.presenting(&root).api("listaccts", "")),
        ["alpha", "amy", "andy", "bob", "bravo", "charlie", "delta"]
    );
    // Searching: a case-blind regex, WHM's exact user path, and an unknown type.
    assert_eq!(
        users_of(&server.presenting(&root).api("listaccts", "searchtype=user&search=^AN")),
        ["andy"]
    );
    assert_eq!(
        users_of(
            &server
                .presenting(&root)
                .api("listaccts", "searchtype=owner&search=bravo&searchmethod=exact")
        ),
        ["bob", "bravo"]
    );
    let none = server
        .presenting(&alpha)
        .api("listaccts", "searchtype=user&search=bob&searchmethod=exact");
    assert_eq!((none.result(), none.reason()), (0, "No accounts found.".to_owned()));
    let nothing = server
        .presenting(&alpha)
        .api("listaccts", "searchtype=domain&search=nowhere");
    assert_eq!(
        (nothing.result(), nothing.json().get("data").is_none()),
        (1, true),
        "{}",
        nothing.body
    );
    let bad = server.presenting(&root).api("listaccts", "searchtype=colour&search=x");
    assert_eq!((bad.result(), bad.reason()), (0, "Unknown search type.".to_owned()));
    // Tokens WHM would not accept are refused: expired, an empty allow-list, a non-reseller's.
    for (user, secret) in [
        ("alpha", whm_tree::ALPHA_OLD_TOKEN),
        ("charlie", whm_tree::CHARLIE_NONE_TOKEN),
        ("amy", whm_tree::AMY_TOKEN),
        ("alpha", whm_tree::ROOT_TOKEN),
    ] {
        let r = server.presenting(&whm(user, secret)).api("listaccts", "");
        assert_eq!(r.status, 401, "{user}: {}", r.body);
    }
}

#[test]
fn accountsummary_has_whms_fields_and_placeholders() {
    let tree = WhmTree::standard();
    let server = serve(&tree);
    let root = format!("whm root:{}", whm_tree::ROOT_TOKEN);
    let r = server.presenting(&root).api("accountsummary", "user=amy");
    let amy = &r.json()["data"]["acct"][0];
    for (field, want) in [
        ("domain", serde_json::json!("amy.example")),
        ("email", serde_json::json!("amy@mail.example")),
        ("ip", serde_json::json!("192.0.2.10")),
        ("ipv6", serde_json::json!(["2001:db8::10"])),
        ("startdate", serde_json::json!("23 Jul 22 04:26")),
        ("partition", serde_json::json!("home")),
        ("shell", serde_json::json!("/bin/bash")),
        ("uid", serde_json::json!(1004)),
        ("theme", serde_json::json!("jupiter")),
        ("maxpop", serde_json::json!(10)),
        ("maxsql", serde_json::json!("*unknown*")),
        ("diskused", serde_json::json!("none")),
        ("suspended", serde_json::json!(0)),
        ("mailbox_format", serde_json::json!("maildir")),
    ] {
        assert_eq!(amy[field], want, "{field} in {amy}");
    }
    assert!(amy.get("has_backup").is_none(), "accountsummary has no has_backup");
    let andy = server.presenting(&root).api("accountsummary", "domain=ANDY.example");
    assert_eq!(andy.json()["data"]["acct"][0]["suspendreason"], "Nonpayment");
    assert_eq!(andy.json()["data"]["acct"][0]["partition"], "home3");
    // bravo's token holds acct-summary but amy is not bravo's.
    let bravo = format!("whm bravo:{}", whm_tree::BRAVO_LIST_TOKEN);
    let r = server.presenting(&bravo).api("accountsummary", "user=amy");
    assert_eq!((r.result(), r.reason()), (0, "Account does not exist.".to_owned()));
    let r = server.presenting(&root).api("accountsummary", "");
    assert_eq!(r.reason(), "You must specify a user or domain to get a summary of.");
    // alpha's token narrowed to list-accts lacks acct-summary.
    let r = server
        .presenting(&format!("whm alpha:{}", whm_tree::ALPHA_LOST_TOKEN))
        .api("accountsummary", "user=amy");
    assert_eq!(
        (r.status, r.reason_codes()),
        (403, vec!["PRIVILEGE_MISSING".to_owned()])
    );
}

#[test]
fn listaccts_reads_the_toml_accounts_too() {
    let server = TestPanel::open(
        &Cast::standard()
            .account_detail(
                "dave",
                "domain = \"Dave.example\"\nplan = \"bob_basic\"\ncontact_email = \"dave@mail.example\"\nsuspended = \"Nonpayment\"",
            )
            .account("gina", "root"),
    );
    let root = server.as_("root");
    let r = root.api(
        "listaccts",
        "want=user,owner,domain,plan,email,suspended,suspendreason,uid",
    );
    assert_eq!(
        r.json()["data"]["acct"],
        serde_json::json!([
            {"user": "dave", "owner": "bob", "domain": "dave.example", "plan": "bob_basic", "email": "dave@mail.example", "suspended": 1, "suspendreason": "Nonpayment", "uid": "*unknown*"},
            {"user": "gina", "owner": "root", "domain": "*unknown*", "plan": "undefined", "email": "*unknown*", "suspended": 0, "suspendreason": "not suspended", "uid": "*unknown*"}
        ])
    );
}

/// Every file and directory of the tree: bytes, mode and mtime.
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path, (bytes, meta.mode(), meta.mtime(), meta.mtime_nsec()));
        }
    }
    out
}

#[test]
fn the_tree_is_untouched_by_every_command_and_a_served_session() {
    let tree = WhmTree::standard();
    let before = fingerprint(tree.root());
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let expect = state.path().join("expect.toml");
    std::fs::write(
        &expect,
        "[[expect]]\nuser = \"alpha\"\nfeature = \"remote-access-key\"\nvisible = true\n",
    )
    .unwrap();
    let expect = expect.to_str().unwrap();
    for args in [
        &["matrix"][..],
        &["matrix", "--json"],
        &["explain", "--user", "bravo/bravo-list"],
        &["explain", "--user", "alpha", "--json"],
        &["check", expect],
        &["check", "--server"],
        &["check", "--server", "--json"],
        &["config", "check"],
        &["plugins", "list"],
        &["accesshash", "show", "--user", "alpha"],
    ] {
        run(&config, args);
    }
    // Every writing command refuses, saying why.
    for args in [
        &["accesshash", "generate", "--user", "alpha"][..],
        &["convert-accesshash-to-token", "alpha"],
    ] {
        let r = run(&config, args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("read-only"), "{args:?}: {}", r.stderr);
    }
    {
        let server = serve(&tree);
        let root = format!("whm root:{}", whm_tree::ROOT_TOKEN);
        // Every writing operation of the table (a new one is covered the day it is added), and the plugin's key
        // generation.
        let mut writers: Vec<&str> = panel::whm::OPERATIONS
            .iter()
            .filter(|o| o.writes)
            .map(|o| o.name)
            .collect();
        assert!(writers.contains(&"set_tweaksetting"), "{writers:?}");
        writers.push("accesshash");
        let query = "key=allow_deprecated_accesshash&value=0&reseller=alpha&acl-all=1&acllist=new&acl-list-accts=1\
                     &token_name=rootfull&user=alpha&service=whostmgrd&name=node2.example&generate=1\
                     &host=node3.example&user_name=root&token=NODE3";
        for function in writers {
            let r = server.presenting(&root).api(function, query);
            assert_eq!(r.result(), 0, "{function}: {}", r.body);
            assert!(r.reason().contains("read-only"), "{function}: {}", r.body);
        }
        for function in [
            "listaccts",
            "accountsummary",
            "get_tweaksetting",
            "listresellers",
            "myprivs",
            "api_token_list",
        ] {
            server
                .presenting(&root)
                .api(function, "user=amy&key=allow_deprecated_accesshash");
        }
        let key = format!("WHM root:{}", tree.root_key);
        assert_eq!(server.presenting(&key).api("myprivs", "").result(), 1);
    }
    let after = fingerprint(tree.root());
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.display().to_string())
        .chain(
            after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .map(|p| format!("new: {}", p.display())),
        )
        .collect();
    assert!(changed.is_empty(), "changed in the tree: {changed:?}");
}

#[test]
fn import_writes_a_toml_config_with_the_same_matrix_and_no_credentials() {
    let tree = WhmTree::standard();
    let state = tempfile::tempdir().unwrap();
    let from_tree = matrix(&config_for(&tree, state.path()));
    let imported = state.path().join("imported.toml");
    let out = Command::new(tests::tweakgate_bin())
        .args(["import", "--from-whm"])
        .arg(tree.root())
        .arg("--output")
        .arg(&imported)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("imported 3 reseller(s), 4 account(s) and 2 Tweak Setting(s); left behind 6 API token(s), 3 access key(s) and 1 cluster member credential(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("alpha: third-party ACLs left out (the TOML config holds WHM's own): acme-backup"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&imported).unwrap();
    for secret in [whm_tree::ROOT_TOKEN, &tree.root_key, &tree.alpha_key, "NODE2TOKEN"] {
        assert!(!text.contains(secret), "a credential was copied:\n{text}");
    }
    assert!(text.contains("[accounts.andy]\nowner = \"alpha\"\ndomain = \"andy.example\"\nplan = \"alpha_pro\"\nsuspended = \"Nonpayment\"\n"), "{text}");
    // The same principals see the same features (tokens aside: they are not copied).
    let plugin = tests::build_cdylib("remote-access-key");
    let config = state.path().join("roundtrip.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = \"{}\"\n{text}\n[[plugins]]\npath = \"{}\"\n",
            state.path().join("var2").display(),
            plugin.display()
        ),
    )
    .unwrap();
    let from_toml = matrix(&config);
    let users_only: BTreeMap<_, _> = from_tree.into_iter().filter(|((u, _), _)| !u.contains('/')).collect();
    assert_eq!(from_toml, users_only);
}

#[test]
fn a_suspended_resellers_token_and_key_are_refused() {
    // alpha suspended as WHM does it (`!!` before its shadow hash, the reason in var/cpanel/suspended/alpha), bravo
    // over its bandwidth limit: both still hold working tokens and alpha its key, which WHM would not let in.
    let tree = WhmTree::standard();
    whm_tree::put(
        tree.root(),
        "etc/shadow",
        "root:$6$x:19000::::::\nalpha:!!$6$a:19000::::::\namy:$6$b:19000::::::\nandy:!!$6$c:19000::::::\n",
        0o600,
        0,
    );
    whm_tree::put(tree.root(), "var/cpanel/suspended/alpha", "Abuse\n", 0o644, 0);
    whm_tree::put(tree.root(), "var/cpanel/bwlimited/bravo", "", 0o644, 0);
    // Shown means allowed: the matrix, `explain` and privilege test files hide every feature from them and their
    // tokens with USER_SUSPENDED, and root still sees what it saw.
    let state = tempfile::tempdir().unwrap();
    let config = config_for(&tree, state.path());
    let cells = matrix(&config);
    let suspended = |p: &str| {
        ["alpha", "bravo"]
            .iter()
            .any(|u| p == *u || p.starts_with(&format!("{u}/")))
    };
    let of_suspended: Vec<_> = cells.iter().filter(|((p, _), _)| suspended(p)).collect();
    assert!(
        of_suspended.len() >= 2 * 4,
        "alpha, bravo and their tokens: {of_suspended:?}"
    );
    for ((principal, feature), (visible, codes)) in &of_suspended {
        // An expired token authenticates nothing, suspended or not: it says so alone.
        let first = codes.first().map(String::as_str);
        assert!(
            !visible && (first == Some("USER_SUSPENDED") || codes == &["TOKEN_EXPIRED"]),
            "{principal} {feature}: {codes:?}"
        );
    }
    assert_eq!(
        cells[&("root".to_owned(), "remote-access-key".to_owned())],
        (true, vec![])
    );
    let explained = run(
        &config,
        &["explain", "--user", "alpha", "--feature", "remote-access-key"],
    );
    assert!(
        explained.stdout.contains("alpha is suspended on this server"),
        "{}{}",
        explained.stdout,
        explained.stderr
    );
    let server = serve(&tree);
    for (user, secret) in [
        ("alpha", whm_tree::ALPHA_LOST_TOKEN),
        ("alpha", tree.alpha_key.as_str()),
        ("bravo", whm_tree::BRAVO_LIST_TOKEN),
    ] {
        let r = server.presenting(&format!("whm {user}:{secret}")).api("listaccts", "");
        assert_eq!(r.status, 401, "{user}: {}", r.body);
    }
    // Root's token on the same server still works, and sees alpha as suspended with its reason.
    let r = server.presenting(&format!("whm root:{}", whm_tree::ROOT_TOKEN)).api(
        "listaccts",
        "searchtype=user&search=alpha&searchmethod=exact&want=user,suspended,suspendreason",
    );
    assert_eq!(
        r.json()["data"]["acct"],
        serde_json::json!([{"user": "alpha", "suspended": 1, "suspendreason": "Abuse"}]),
        "{}",
        r.body
    );
}

#[test]
fn listaccts_takes_whms_generic_list_parameters() {
    let tree = WhmTree::standard();
    let server = serve(&tree);
    let root = format!("whm root:{}", whm_tree::ROOT_TOKEN);
    // Paged: the second page of two, with the metadata cPanel's own client reads.
    let r = server
        .presenting(&root)
        .api("listaccts", "api.chunk.enable=1&api.chunk.size=2&api.chunk.start=3");
    assert_eq!(users_of(&r), ["andy", "bob"], "{}", r.body);
    assert_eq!(
        r.json()["metadata"]["chunk"],
        serde_json::json!({"start": 3, "size": 2, "records": 7, "chunks": 4, "current": 2}),
        "{}",
        r.body
    );
    // Filtered, sorted and narrowed to columns, after the caller's own view: alpha sees only its two accounts.
    let alpha = format!("whm alpha:{}", whm_tree::ALPHA_LOST_TOKEN);
    let r = server.presenting(&alpha).api(
        "listaccts",
        "api.filter.enable=1&api.filter.a.field=user&api.filter.a.type=begins&api.filter.a.arg0=A\
         &api.sort.enable=1&api.sort.a.field=user&api.sort.a.reverse=1&api.columns.enable=1&api.columns.a=user",
    );
    assert_eq!(
        r.json()["data"]["acct"],
        serde_json::json!([{"user": "andy"}, {"user": "amy"}]),
        "{}",
        r.body
    );
    assert_eq!(
        r.json()["metadata"]["filter"],
        serde_json::json!({"filtered": 2}),
        "{}",
        r.body
    );
    // A field no record has is a failed call naming the parameter.
    let bad = server
        .presenting(&root)
        .api("listaccts", "api.sort.enable=1&api.sort.a.field=colour");
    assert_eq!(bad.result(), 0, "{}", bad.body);
}
