//! What a plugin author is promised: the raw body and a JSON body's members, a function's legacy API 0 form, page
//! answers that are HTML (in the layout) or their own document, a plugin built for the previous ABI loading, the
//! Server Information plugin, and the outside author's guide followed from scratch.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tests::{Cast, TestPanel};

/// The standard cast (which loads Server Information) and `sam`, a reseller with `status` only.
fn cast() -> Cast {
    Cast::standard().reseller("sam", &["status"])
}

/// The one-use nonce of the form `#id` in a rendered page.
fn nonce_of(page: &str, id: &str) -> String {
    let form = &page[page.find(&format!("id=\"{id}\"")).expect("the form")..];
    let at = form.find("name=\"csrf_token\" value=\"").expect("its nonce") + "name=\"csrf_token\" value=\"".len();
    form[at..form[at..].find('"').unwrap() + at].to_owned()
}

#[test]
fn a_plugin_function_gets_the_raw_body_and_the_members_of_a_json_body() {
    let p = TestPanel::open(&cast());
    let root = p.as_("root");
    let body = r#"{"a":"x","n":[1,2],"skip":null}"#;
    let r = root.post_as("/json-api/hello?api.version=1&echo=1", "application/json", body);
    assert_eq!(r.result(), 1, "{}", r.body);
    let data = &r.json()["data"];
    assert_eq!(data["body"], body, "the body as the client sent it");
    assert_eq!(
        data["params"],
        json!([["echo", "1"], ["a", "x"], ["n", "1"], ["n", "2"]]),
        "the query, then the JSON members as the API reads them; never api.version"
    );

    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"echo\"\r\n\r\n1\r\n--XyZ--\r\n";
    let r = root.post_as(
        "/json-api/hello?api.version=1",
        "multipart/form-data; boundary=XyZ",
        multipart,
    );
    assert_eq!(r.json()["data"]["params"], json!([["echo", "1"]]), "{}", r.body);
    assert_eq!(r.json()["data"]["body"], multipart);

    // An unreadable body never reaches the plugin.
    let r = root.post_as("/json-api/hello?api.version=1&echo=1", "application/json", "{");
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn a_plugin_function_declared_with_its_api_0_form_answers_api_0_callers() {
    let p = TestPanel::open(&cast());
    let root = p.as_("root");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();

    let api1 = root.api("gethostname", "");
    assert_eq!(api1.json()["data"]["hostname"], hostname.trim(), "{}", api1.body);
    let api0 = root.get("/json-api/gethostname");
    assert_eq!(api0.status, 200, "{}", api0.body);
    assert_eq!(
        api0.json(),
        json!({"hostname": hostname.trim()}),
        "data at the top level"
    );
    let load = root.get("/json-api/systemloadavg").json();
    assert!(load["one"].is_number() && load["fifteen"].is_number(), "{load}");

    // API 0's applist lists them, and leaves out plugin functions without an API 0 form.
    let apps = root.get("/json-api/applist").json();
    let apps: Vec<&str> = apps["app"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        apps.contains(&"gethostname") && apps.contains(&"systemloadavg"),
        "{apps:?}"
    );
    assert!(!apps.contains(&"hello"), "{apps:?}");
    let hello = root.get("/json-api/hello").json();
    assert!(hello["error"].as_str().unwrap().contains("version (0)"), "{hello}");

    // Refused in API 0's own words, with the gate's reasons.
    let refused = p.as_("frank").get("/json-api/gethostname");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["status"], 0, "{}", refused.body);
    assert!(
        refused.json()["statusmsg"]
            .as_str()
            .unwrap()
            .starts_with("Access denied")
    );
    assert_eq!(p.as_("sam").get("/json-api/gethostname").status, 200);
}

#[test]
fn a_plugin_page_is_html_in_the_layout_or_its_own_document() {
    let p = TestPanel::open(&cast());
    let sam = p.as_("sam").in_session();
    let page = sam.page("/server-information");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        page.body.contains("panel.css") && page.body.contains("id=\"hostname\""),
        "{}",
        page.body
    );

    // The page's script: a JSON body carrying the page's nonce, answered as JSON, not pasted into the layout.
    let nonce = nonce_of(&page.body, "refresh");
    let asked = json!({"csrf_token": nonce, "fields": ["hostname", "loadavg"]}).to_string();
    let answer = sam.post_as("/server-information", "application/json", &asked);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let fields = answer.json();
    assert!(
        fields["hostname"].is_string() && fields["loadavg"]["five"].is_number(),
        "{fields}"
    );

    // The nonce was used once; a replay (or a post without one) is refused before the plugin sees it.
    let replayed = sam.post_as("/server-information", "application/json", &asked);
    assert_eq!(replayed.status, 403, "{}", replayed.body);
    assert!(replayed.body.contains("id=\"refused\""), "{}", replayed.body);
}

/// A plugin built for ABI version 3 loads on this host (4), and the list version 4 added (`api0_functions`) is not
/// read from it: its function answers API 1 only.
#[test]
fn a_plugin_built_for_the_previous_abi_minor_loads() {
    let p = TestPanel::open(&cast().plugin("fixture-abi-v3", ""));
    let root = p.as_("root");
    let r = root.api("v3_hello", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["hello"], "root");
    let api0 = root.get("/json-api/v3_hello").json();
    assert!(api0["error"].as_str().unwrap().contains("version (0)"), "{api0}");
}

/// A plugin built for ABI version 4 loads on this host (5) and serves as it did, API 0 form and host callbacks
/// included: the host's callback table is longer since version 5 (the caller's key service), and a version 4 plugin
/// reads only what it knows of it.
#[test]
fn a_plugin_built_for_the_previous_abi_version_serves_as_it_did() {
    let p = TestPanel::open(&cast().plugin("fixture-abi-v4", ""));
    let root = p.as_("root");
    let r = root.api("v4_hello", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"], serde_json::json!({"hello": "root", "known": true}));
    let api0 = root.get("/json-api/v4_hello").json();
    assert_eq!(api0, serde_json::json!({"hello": "root", "known": true}));
}

/// The outside author's guide (docs/plugins.md), followed from scratch: a crate outside the workspace with its own
/// manifest, depending on `plugin-abi` by path, built with `cargo build`, its own kit tests run with `cargo test`,
/// then loaded by a served panel where the gate, the menu and the API treat it as any plugin.
#[test]
fn the_outside_authors_guide_works_from_scratch() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = here.join("outside/server-info-outside/Cargo.toml");
    let target = tests::target_dir().join("outside");
    let cargo = |verb: &str| {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([verb, "--quiet", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("running cargo");
        assert!(
            out.status.success(),
            "cargo {verb} of the outside crate failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cargo("build");
    cargo("test");
    let library: PathBuf = target.join("debug/libserver_info_outside.so");
    assert!(library.is_file(), "{}", library.display());

    let p = TestPanel::serve(&cast().extra(&format!("\n[[plugins]]\npath = {:?}\n", library.display().to_string())));
    let sam = p.as_("sam");
    let r = sam.api("example_uptime", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert!(r.json()["data"]["seconds"].is_u64(), "{}", r.body);
    assert!(
        sam.get("/json-api/example_uptime").json()["seconds"].is_u64(),
        "its API 0 form"
    );
    let refused = p.as_("frank").api("example_uptime", "");
    assert_eq!(refused.status, 403, "{}", refused.body);
    let menu = sam.in_session().page("/");
    assert!(
        menu.body.contains("/example-uptime"),
        "the Home menu links to its page: {}",
        menu.body
    );
    let page = sam.in_session().page("/example-uptime");
    assert!(page.body.contains("Server Uptime"), "{}", page.body);
}

/// A one-time login link lands on `goto_uri` (what `tweakgate session --goto PATH` adds) when it is a path inside the
/// session, and on the Home menu for anything else: never another site or a path out of the session.
#[test]
fn a_login_link_lands_on_the_page_it_names_and_nowhere_else() {
    let p = TestPanel::open(&cast());
    let root = p.as_("root");
    for (goto, lands) in [
        ("%2Fserver-information", "/server-information"),
        (
            "%2Fserver-information%3Fformat%3Dfull",
            "/server-information?format=full",
        ),
        ("%2F%2Fevil.example%2Fx", "/"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F..%2F..%2Fjson-api%2Fversion", "/"),
        ("%2Fx%22%3E%3Cscript%3E", "/"),
        ("server-information", "/"),
    ] {
        let created = root.api("create_user_session", "user=root&service=whostmgrd");
        let url = created.json()["data"]["url"].as_str().unwrap().to_owned();
        let path = &url[url.find("/cpsess").unwrap()..];
        let token = &path[..path.find("/login").unwrap()];
        let landed = p.anonymous().get(&format!("{path}&goto_uri={goto}"));
        assert!(landed.status / 100 == 3, "{goto}: {} {}", landed.status, landed.body);
        assert_eq!(
            landed.header("location"),
            Some(format!("{token}{lands}").as_str()),
            "{goto}"
        );
    }
}

/// The kit reads a library as the panel does: the version before anything else (a library of an unknown version is
/// refused and never called), nothing newer than the plugin's version, and a panic comes back as a failure.
#[test]
fn the_kit_reads_and_calls_libraries_as_the_panel_does() {
    use plugin_abi::drive::Failure;
    use plugin_abi::testing::{self, LoadFailure, TestHost};

    // fixture-wrong-abi is an ABI-1 build whose functions abort the process if anyone calls them.
    match testing::load(tests::build_cdylib("fixture-wrong-abi")) {
        Err(LoadFailure::Refused(Failure::Version { found: 1 })) => {}
        other => panic!("expected the version refused, got {other:?}"),
    }
    assert!(matches!(
        testing::load(tests::build_cdylib("fixture-no-symbol")),
        Err(LoadFailure::MissingSymbol)
    ));
    let missing = testing::load("target/debug/libno_such_plugin.so").unwrap_err();
    assert!(missing.to_string().contains("build the plugin first"), "{missing}");

    let v3 = testing::load(tests::build_cdylib("fixture-abi-v3")).unwrap();
    assert_eq!(v3.abi_version, 3);
    assert!(
        v3.info.features[0].api0_functions.is_empty(),
        "not read from a version 3 plugin"
    );
    assert!(v3.info.features[0].full_access, "what version 3 had is read");
    let v4 = testing::load(tests::build_cdylib("fixture-abi-v4")).unwrap();
    assert_eq!(v4.abi_version, 4);
    assert_eq!(
        v4.info.features[0].api0_functions,
        ["v4_hello"],
        "read from a version 4 plugin"
    );

    let host = TestHost::default();
    let panics = testing::load(tests::build_cdylib("fixture-panics")).unwrap();
    let feature = panics.info.features[0].clone();
    let request = match feature.api_functions.first() {
        Some(f) => testing::request(&feature.id).api(f).build(),
        None => testing::request(&feature.id).page(&feature.path).build(),
    };
    assert!(matches!(panics.call(&request, &host), Err(Failure::Panicked(_))));

    let hello = testing::load(tests::build_cdylib("fixture-hello")).unwrap();
    let answer = hello
        .call(
            &testing::request("hello")
                .api("hello")
                .json_body(&json!({"echo": 1, "tag": ["a", "b"]}))
                .build(),
            &host,
        )
        .unwrap();
    let data = &serde_json::from_slice::<Value>(&answer.body).unwrap()["data"];
    assert_eq!(data["params"], json!([["echo", "1"], ["tag", "a"], ["tag", "b"]]));
    assert_eq!(data["body"], r#"{"echo":1,"tag":["a","b"]}"#);
    assert_eq!(host.log_lines(), ["saying hello"]);
}

/// `tweakgate session --goto PATH` prints a link that opens the session on that page (for screenshots of a plugin's
/// page), and refuses a path that is not inside the session.
#[test]
fn tweakgate_session_goto_opens_the_session_on_the_page() {
    let p = TestPanel::serve(&cast());
    let session = |goto: &str| {
        Command::new(tests::tweakgate_bin())
            .arg("--config")
            .arg(p.config_path())
            .args(["session", "--user", "root", "--goto", goto])
            .output()
            .unwrap()
    };
    let out = session("/server-information");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    assert!(url.trim_end().ends_with("&goto_uri=%2Fserver-information"), "{url}");
    let path = &url[url.find("/cpsess").unwrap()..].trim_end();
    let token = &path[..path.find("/login").unwrap()];
    let landed = p.anonymous().get(path);
    assert_eq!(
        landed.header("location"),
        Some(format!("{token}/server-information").as_str()),
        "{}",
        landed.body
    );

    let refused = session("//evil.example/");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not a path inside the session"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
