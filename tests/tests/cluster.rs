//! Configuration Cluster: a master and member servers as separate `tweakgate serve` processes on loopback. Changes
//! reach every member, survive a member or the master going down, wait for a new credential after a refusal, and the
//! credentials never show.

use std::time::Duration;

use serde_json::Value;
use tests::{Cast, ServeProcess, TestPanel, request, wait_until};

/// How long a change may take to arrive before a test gives up (a deadline, not a measurement).
const DEADLINE: Duration = Duration::from_secs(60);

const KEY: &str = "empty_trash_days";

fn setting(server: &ServeProcess) -> Option<String> {
    let r = server.api("get_tweaksetting", &format!("key={KEY}"));
    (r.status == 200).then(|| r.json()["data"]["tweaksetting"]["value"].as_str().map(str::to_owned))?
}

fn set(master: &ServeProcess, value: &str) {
    let r = master.api("set_tweaksetting", &format!("key={KEY}&value={value}"));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
}

fn waits_for(member: &ServeProcess, value: &str) {
    assert!(
        wait_until(DEADLINE, || setting(member).as_deref() == Some(value)).is_some(),
        "the member never got {KEY}={value}; it has {:?}",
        setting(member)
    );
}

/// Adds `member` to `master` with a new root token of the member's; returns the token and the answer's data.
fn add(master: &ServeProcess, name: &str, member: &ServeProcess, token_name: &str) -> (String, Value) {
    let token = member.new_root_token(token_name);
    let r = master.api("add_configclusterserver", &format!("name={}&key={token}", encode(name)));
    let v = r.json();
    assert_eq!(v["metadata"]["result"], 1, "{}", r.body);
    (token, v["data"]["server"].clone())
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn list(master: &ServeProcess) -> (Vec<Value>, String) {
    let r = master.api("list_configclusterservers", "");
    let v = r.json();
    assert_eq!(v["metadata"]["result"], 1, "{}", r.body);
    // `data` is an object keyed by member name, as WHM answers.
    let servers = v["data"]
        .as_object()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    (servers, r.body)
}

fn state_of(master: &ServeProcess, url: &str) -> Value {
    list(master)
        .0
        .into_iter()
        .find(|s| s["url"] == url)
        .map(|s| s["state"].clone())
        .unwrap_or(Value::Null)
}

/// The SHA-256 fingerprint of the certificate a server made for its HTTPS listener.
fn certificate_fingerprint(server: &ServeProcess) -> String {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::pem_file_iter(server.state_dir().join("tls/cert.pem"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    panel::cluster::client::fingerprint(cert.as_ref())
}

/// One change on the master (an API call), then one made by editing its config file, reach a member over plain HTTP
/// and a member over HTTPS whose self-signed certificate was pinned when it was added.
#[test]
fn a_change_on_the_master_reaches_every_member() {
    let master = ServeProcess::start("", false);
    let plain = ServeProcess::start("", false);
    let https = ServeProcess::start("", true);
    let plain_url = format!("http://{}", plain.addr);
    let (plain_token, added) = add(&master, &plain_url, &plain, "master");
    assert_eq!(
        added["certificate_fingerprint"],
        Value::Null,
        "plain HTTP has no certificate"
    );
    let tls_addr = https.tls_addr.unwrap();
    let (https_token, added) = add(&master, &format!("127.0.0.1:{}", tls_addr.port()), &https, "master");
    assert_eq!(added["url"], format!("https://127.0.0.1:{}", tls_addr.port()));
    assert_eq!(
        added["certificate_fingerprint"],
        certificate_fingerprint(&https),
        "the self-signed certificate is pinned"
    );
    assert_eq!(added["credential_type"], "api_token");

    set(&master, "17");
    waits_for(&plain, "17");
    waits_for(&https, "17");

    // An edit of the master's config file, seen by live reload, is sent as well.
    let text = std::fs::read_to_string(master.config_path()).unwrap();
    assert!(
        text.contains("empty_trash_days = \"17\"") || text.contains("empty_trash_days = 17"),
        "{text}"
    );
    let edited = text
        .replace("empty_trash_days = \"17\"", "empty_trash_days = \"23\"")
        .replace("empty_trash_days = 17", "empty_trash_days = 23");
    let tmp = master.dir.path().join(".edit.tmp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, master.config_path()).unwrap();
    waits_for(&plain, "23");
    waits_for(&https, "23");

    assert!(
        wait_until(DEADLINE, || list(&master)
            .0
            .iter()
            .all(|s| s["state"]["status"] == "in_sync"))
        .is_some(),
        "{:?}",
        list(&master).1
    );
    let (servers, body) = list(&master);
    assert_eq!(servers.len(), 2, "{body}");
    for s in &servers {
        assert_eq!(s["user"], "root");
        assert_eq!(s["signature"].as_str().unwrap().len(), 47, "{s}");
        assert!(s["state"]["last_success"].is_u64(), "{s}");
    }
    for token in [&plain_token, &https_token] {
        assert!(!body.contains(token.as_str()), "the list shows a credential: {body}");
        assert!(!master.log().contains(token.as_str()), "the log shows a credential");
    }

    // The CLI shows the same state, without the credentials.
    let out = std::process::Command::new(tests::tweakgate_bin())
        .arg("--config")
        .arg(master.config_path())
        .args(["cluster", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines.iter().all(|l| l["state"]["changes_waiting"] == 0), "{stdout}");
    assert!(!stdout.contains(&plain_token) && !stdout.contains(&https_token));

    // Metrics show the queue of each member.
    let root = format!("whm root:{}", master.root_token);
    let metrics = request(master.addr, "GET", "/metrics", &[("Authorization", &root)], "");
    assert!(
        metrics.body.contains(&format!(
            "tweakgate_cluster_changes_waiting{{server=\"{plain_url}\"}} 0"
        )),
        "{}",
        metrics.body
    );
}

/// A member that is down when the change is made receives it once it is back.
#[test]
fn a_member_that_was_down_catches_up() {
    let master = ServeProcess::start("", false);
    let mut member = ServeProcess::start("", false);
    let url = format!("http://{}", member.addr);
    add(&master, &url, &member, "master");
    member.stop();
    set(&master, "31");
    assert!(
        wait_until(DEADLINE, || {
            let s = state_of(&master, &url);
            s["changes_waiting"] == 1 && s["last_error"].is_string()
        })
        .is_some(),
        "the change waits and the failure shows: {}",
        list(&master).1
    );
    member.resume();
    waits_for(&member, "31");
    assert!(wait_until(DEADLINE, || state_of(&master, &url)["changes_waiting"] == 0).is_some());
}

/// A master killed with changes queued sends them after it starts again.
#[test]
fn a_restarted_master_delivers_what_it_had_queued() {
    let mut master = ServeProcess::start("", false);
    let mut member = ServeProcess::start("", false);
    let url = format!("http://{}", member.addr);
    add(&master, &url, &member, "master");
    member.stop();
    set(&master, "5");
    set(&master, "6");
    assert_eq!(
        state_of(&master, &url)["changes_waiting"],
        2,
        "queued before the call returned"
    );
    master.stop();
    member.resume();
    master.resume();
    waits_for(&member, "6");
    assert!(wait_until(DEADLINE, || state_of(&master, &url)["changes_waiting"] == 0).is_some());
    assert_eq!(state_of(&master, &url)["delivered"], 2, "both changes, in order");
}

/// A member that refuses the credential is shown as such (API and page), reported once, and its queue waits; with a
/// new credential everything queued arrives.
#[test]
fn a_refused_credential_waits_for_a_new_one_and_loses_nothing() {
    let master = ServeProcess::start("", false);
    let member = ServeProcess::start("", false);
    let url = format!("http://{}", member.addr);
    add(&master, &url, &member, "master");
    set(&master, "8");
    waits_for(&member, "8");
    let r = member.api("api_token_revoke", "token_name=master");
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);

    set(&master, "9");
    assert!(
        wait_until(DEADLINE, || state_of(&master, &url)["status"] == "credential_refused").is_some(),
        "{}",
        list(&master).1
    );
    set(&master, "10");
    let state = state_of(&master, &url);
    assert!(
        state["last_error"].as_str().unwrap().contains("refused the credential"),
        "{state}"
    );
    assert_eq!(state["changes_waiting"], 2, "{state}");
    assert_eq!(setting(&member).as_deref(), Some("8"), "nothing was sent in between");

    let (prefix, cookie) = master.root_session();
    let page = request(
        master.addr,
        "GET",
        &format!("{prefix}/configuration-cluster"),
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("credential refused"), "{}", page.body);
    assert!(page.body.contains("refused the credential"), "{}", page.body);

    let audit = std::fs::read_to_string(master.state_dir().join("audit.log")).unwrap();
    assert_eq!(
        audit.matches("\"cluster_credential_refused\"").count(),
        1,
        "reported once: {audit}"
    );

    let fresh = member.new_root_token("master2");
    let r = master.api(
        "update_configclusterserver",
        &format!("name={}&key={fresh}", encode(&url)),
    );
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    waits_for(&member, "10");
    assert!(
        wait_until(DEADLINE, || state_of(&master, &url)["status"] == "in_sync").is_some(),
        "{}",
        list(&master).1
    );
    let state = state_of(&master, &url);
    assert_eq!(state["delivered"], 3, "8, 9 and 10: {state}");
    assert!(!list(&master).1.contains(&fresh));
}

/// Only root manages the cluster: not a reseller holding `all`, not root's own token narrowed by a list; a listing
/// shows signatures, never a token or a key.
#[test]
fn only_root_manages_the_cluster_and_lists_never_show_credentials() {
    let server = TestPanel::serve(&Cast::standard());
    let root = server.as_("root");
    let carol = server.as_("carol");
    let narrowed = root.narrowed(&["list-accts"]);
    let bob = server.as_("bob");

    let member_token = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let key = credentials::AccessKey::generate().unwrap();
    let add = |client: &tests::Client<'_>, name: &str, secret: &str| {
        client.api(
            "add_configclusterserver",
            &format!("name={}&key={}", encode(name), encode(secret)),
        )
    };
    for (who, auth) in [("carol (all)", &carol), ("bob", &bob)] {
        let r = add(auth, "http://127.0.0.1:9", member_token);
        assert_eq!(r.status, 403, "{who}: {}", r.body);
        assert_eq!(r.json()["metadata"]["result"], 0);
        let r = auth.api("list_configclusterservers", "");
        assert_eq!(r.status, 403, "{who}: {}", r.body);
    }
    let r = add(&narrowed, "http://127.0.0.1:9", member_token);
    assert_eq!(r.status, 403, "a narrowed token: {}", r.body);

    let r = add(&root, "http://127.0.0.1:9", member_token);
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let r = add(&root, "http://127.0.0.1:10/", &key.to_file_text());
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert_eq!(r.json()["data"]["server"]["credential_type"], "accesshash");
    assert_eq!(r.json()["data"]["server"]["signature"], key.signature().to_string());
    let r = add(&root, "127.0.0.1:9:9", member_token);
    assert_eq!(r.json()["metadata"]["result"], 0, "a bad name: {}", r.body);
    let r = add(&root, "http://127.0.0.1:9", member_token);
    assert_eq!(r.json()["metadata"]["result"], 0, "already a member: {}", r.body);

    let r = root.api("list_configclusterservers", "");
    let servers = r.json()["data"].as_object().cloned().unwrap();
    assert_eq!(servers.len(), 2, "{}", r.body);
    assert_eq!(
        servers["http://127.0.0.1:10/"]["signature"],
        key.signature().to_string(),
        "keyed by the name as given: {}",
        r.body
    );
    assert_eq!(servers["http://127.0.0.1:10/"]["user"], "root", "{}", r.body);
    assert!(!r.body.contains(member_token), "{}", r.body);
    assert!(!r.body.contains(&key.as_str()[..32]), "{}", r.body);
    let stored = std::fs::read_dir(server.state_dir().join("cluster")).unwrap();
    for entry in stored.flatten() {
        use std::os::unix::fs::PermissionsExt;
        if !entry.path().is_dir() {
            // The settings as last queued (`settings.json`): root's only too.
            assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600);
            continue;
        }
        assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o700);
        let file = entry.path().join("member.json");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let r = root.api("update_configclusterserver", "name=http://127.0.0.1:11");
    assert_eq!(r.json()["metadata"]["result"], 0, "not a member: {}", r.body);
    let r = root.api("delete_configclusterserver", "name=http%3A%2F%2F127.0.0.1%3A9");
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let r = root.api("list_configclusterservers", "");
    assert_eq!(r.json()["data"].as_object().unwrap().len(), 1);
}

/// The page, in a root session: check a server, add it, test the connection, give it a new token, remove it; every
/// POST carries a one-use nonce, and a reseller holding `all` is refused.
#[test]
fn the_page_adds_tests_updates_and_removes_a_member() {
    let master = TestPanel::serve(&Cast::standard());
    let member = TestPanel::serve(&Cast::standard());
    let member_token = |name: &str| member.as_named("root", name).secret().to_owned();
    let session = master.as_("root").in_session();
    let page = "/configuration-cluster";
    let post = |form: &str| {
        let nonce = session.nonce();
        let r = session.post(page, &format!("csrf_token={nonce}&{form}"));
        assert_eq!(r.status, 200, "{form}: {}", r.body);
        r.body
    };
    let url = format!("http://{}", member.addr());
    let name = encode(&url);

    let body = post(&format!("action=fetch&name={name}"));
    assert!(body.contains("id=\"add-server\""), "{body}");
    let first = member_token("first");
    let body = post(&format!("action=add&name={name}&user=root&key={first}"));
    assert!(body.contains("added to the configuration cluster"), "{body}");
    assert!(body.contains(&format!("data-server=\"{url}\"")), "{body}");
    assert!(!body.contains(&first), "the page never shows the credential");

    let body = post(&format!("action=test&name={name}"));
    assert!(body.contains("Connected: the server runs version"), "{body}");

    let r = master
        .presenting(&format!("whm root:{}", member_token("unused")))
        .api("set_tweaksetting", &format!("key={KEY}&value=41"));
    assert_eq!(r.status, 401, "a member's token is not the master's");
    let root = master.as_("root");
    let r = root.api("set_tweaksetting", &format!("key={KEY}&value=41"));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert!(
        wait_until(DEADLINE, || { member.setting(KEY).as_deref() == Some("41") }).is_some(),
        "the change reached the member"
    );

    let second = member_token("second");
    let body = post(&format!("action=update&name={name}&user=root&key={second}"));
    assert!(body.contains("updated."), "{body}");
    let body = post(&format!("action=test&name={name}"));
    assert!(body.contains("Connected"), "{body}");

    // Without a nonce the POST is refused and nothing changes.
    let r = session.post(page, &format!("action=remove&name={name}"));
    assert_eq!(r.status, 403, "{}", r.body);
    let listed = root.api("list_configclusterservers", "");
    assert_eq!(listed.json()["data"].as_object().unwrap().len(), 1, "{}", listed.body);

    let body = post(&format!("action=remove&name={name}"));
    assert!(body.contains("Server removed"), "{body}");
    assert!(body.contains("id=\"no-servers\""), "{body}");

    let r = master.as_("carol").in_session().page("/configuration-cluster");
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A new member starts in step: the settings the master's configuration sets reach it without any change being made.
#[test]
fn a_new_member_is_sent_the_masters_settings() {
    let master = ServeProcess::start(&format!("[tweak_settings]\n{KEY} = 4\n"), false);
    let member = ServeProcess::start("", false);
    assert_ne!(setting(&member).as_deref(), Some("4"));
    add(&master, &format!("http://{}", member.addr), &member, "master");
    waits_for(&member, "4");
}

/// An edit of the master's config file made while it was stopped is found at its next start and delivered.
#[test]
fn an_edit_made_while_the_master_was_stopped_is_delivered() {
    let mut master = ServeProcess::start("", false);
    let member = ServeProcess::start("", false);
    add(&master, &format!("http://{}", member.addr), &member, "master");
    set(&master, "5");
    waits_for(&member, "5");
    master.stop();
    let text = std::fs::read_to_string(master.config_path()).unwrap();
    let line = format!("{KEY} = \"5\"");
    assert!(
        text.contains(&line),
        "the API wrote the setting into the config:\n{text}"
    );
    std::fs::write(master.config_path(), text.replace(&line, &format!("{KEY} = \"11\""))).unwrap();
    master.resume();
    waits_for(&member, "11");
}

/// A well-formed API token for members that are not tweakgates.
const STUB_TOKEN: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// A Tweak Setting that takes any text: long values.
const TEXT_KEY: &str = "allow_server_info_status_from";

/// `set_tweaksetting` on the master with the parameters in a POST body (a long value fits no request line).
fn post_set(master: &ServeProcess, key: &str, value: &str) -> tests::Reply {
    request(
        master.addr,
        "POST",
        "/json-api/set_tweaksetting",
        &[("Authorization", &format!("whm root:{}", master.root_token))],
        &format!("api.version=1&key={key}&value={}", encode(value)),
    )
}

/// A member that is not a tweakgate: it answers each request as `answer` says (given its request line and body)
/// and records what it was sent.
struct StubMember {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl StubMember {
    fn start(answer: impl Fn(&str, &str) -> (u16, String) + Send + 'static) -> StubMember {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let (status, text) = answer(&line, &body);
                log.lock().unwrap().push((line, body));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        StubMember { url, seen }
    }
}

fn add_stub(master: &ServeProcess, stub: &StubMember) {
    let r = master.api(
        "add_configclusterserver",
        &format!("name={}&key={STUB_TOKEN}", encode(&stub.url)),
    );
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
}

const WHM_OK: &str = r#"{"metadata":{"result":1,"reason":"OK","version":1,"command":"set_tweaksetting"}}"#;

/// A tmpfs mounted for one test, unmounted however the test ends.
struct Mount(std::path::PathBuf);

impl Mount {
    /// `None` (the test is skipped, with a note) when the mount fails, e.g. when not run as root.
    fn tmpfs(dir: &std::path::Path, size: &str) -> Option<Mount> {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Mount(dir.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let plain = std::process::Command::new("umount").arg(&self.0).status();
        if !plain.is_ok_and(|s| s.success()) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// The disk holding the outboxes fills up mid-append. The change that could not be written
/// durably is answered as a failure (it used to answer OK and leave half a line, onto which the next change was
/// glued, and after a restart both were gone); the outbox keeps exactly the changes answered OK, one a line, across
/// a kill and a restart.
#[test]
fn a_full_disk_fails_the_change_and_the_outbox_keeps_every_acknowledged_one() {
    let mut master = ServeProcess::start("", false);
    master.stop();
    let cluster = master.state_dir().join("cluster");
    std::fs::remove_dir_all(&cluster).unwrap();
    std::fs::create_dir(&cluster).unwrap();
    let Some(_mount) = Mount::tmpfs(&cluster, "256k") else {
        return;
    };
    master.resume();
    // A member that never answers: every change stays in its outbox.
    let r = master.api(
        "add_configclusterserver",
        &format!("name=http%3A%2F%2F127.0.0.1%3A9&key={STUB_TOKEN}"),
    );
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    // Each value is longer than a page, so an append into a full tmpfs is cut short.
    let value = |c: char| c.to_string().repeat(5000);
    let r = post_set(&master, TEXT_KEY, &value('a'));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);

    let filler = cluster.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let page = [b'f'; 4096];
        while f.write_all(&page).is_ok() {}
        while f.write_all(b"f").is_ok() {}
    }
    let r = post_set(&master, TEXT_KEY, &value('b'));
    assert_eq!(
        r.json()["metadata"]["result"],
        0,
        "a change not queued durably is not OK: {}",
        r.body
    );
    assert!(
        r.json()["metadata"]["reason"].as_str().unwrap().contains("cluster"),
        "{}",
        r.body
    );

    std::fs::remove_file(&filler).unwrap();
    let r = post_set(&master, TEXT_KEY, &value('c'));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);

    master.stop();
    master.resume();
    let dirs: Vec<_> = std::fs::read_dir(&cluster)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(dirs.len(), 1);
    let outbox = std::fs::read_to_string(dirs[0].path().join("outbox.jsonl")).unwrap();
    assert!(outbox.ends_with('\n'), "the outbox ends with a complete line");
    let values: Vec<String> = outbox
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("a torn line ({e}): {l:.80}")))
        .filter(|v| v["key"] == TEXT_KEY)
        .map(|v| v["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(values, [value('a'), value('c')], "exactly the changes answered OK");
    let state = state_of(&master, "http://127.0.0.1:9");
    assert_eq!(state["changes_waiting"], 2, "{state}");
    master.stop();
}

/// Three parallel adds of one server used to answer OK three times and leave push tasks that no
/// delete reached; the member is reserved before any network step, so one add succeeds, and after the delete no
/// change reaches it.
#[test]
fn parallel_adds_of_one_server_add_it_once() {
    let master = ServeProcess::start("", false);
    let member = ServeProcess::start("", true);
    let token = member.new_root_token("master");
    let name = format!("127.0.0.1:{}", member.tls_addr.unwrap().port());
    let answers: Vec<Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    master
                        .api("add_configclusterserver", &format!("name={name}&key={token}"))
                        .json()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|a| a["metadata"]["result"] == 1).count();
    assert_eq!(ok, 1, "one add of one server succeeds: {answers:?}");
    assert_eq!(list(&master).0.len(), 1);
    let r = master.api("delete_configclusterserver", &format!("name={name}"));
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    assert!(list(&master).0.is_empty());
    set(&master, "13");
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(
        setting(&member).as_deref(),
        Some("13"),
        "nothing is pushed after the delete"
    );
    assert!(
        !std::fs::read_dir(master.state_dir().join("cluster"))
            .unwrap()
            .flatten()
            .any(|e| e.path().is_dir())
    );
}

/// A 70 kB value used to be sent as a GET query, refused as "URI too long" and retried for ever;
/// it is sent in a POST body and arrives.
#[test]
fn a_long_value_reaches_the_member_in_a_post_body() {
    let master = ServeProcess::start("", false);
    let member = ServeProcess::start("", false);
    add(&master, &format!("http://{}", member.addr), &member, "master");
    let long = "10.0.0.1 ".repeat(70_000 / 9);
    let long = long.trim_end();
    let r = post_set(&master, TEXT_KEY, long);
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let got = || {
        let r = member.api("get_tweaksetting", &format!("key={TEXT_KEY}"));
        r.json()["data"]["tweaksetting"]["value"].as_str().map(str::to_owned)
    };
    assert!(
        wait_until(DEADLINE, || got().as_deref() == Some(long)).is_some(),
        "the member never got the long value: {}",
        list(&master).1
    );
}

/// A member's 4xx (other than 401/403) refuses that change: it is recorded and skipped, and the
/// next change is delivered (a 414 used to be retried for ever, blocking every later change). Changes are POSTs.
#[test]
fn a_members_4xx_rejects_the_change_and_the_queue_moves_on() {
    let master = ServeProcess::start("", false);
    // The first change is refused each time it is sent; the second is accepted.
    let stub = StubMember::start(|line, body| {
        if line.contains("value=5") || body.contains("value=5") {
            (414, "URI Too Long".into())
        } else {
            (200, WHM_OK.into())
        }
    });
    add_stub(&master, &stub);
    set(&master, "5");
    set(&master, "6");
    assert!(
        wait_until(DEADLINE, || {
            let s = state_of(&master, &stub.url);
            s["changes_waiting"] == 0 && s["rejected"] == 1 && s["delivered"] == 1
        })
        .is_some(),
        "{}",
        list(&master).1
    );
    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "each change once: {seen:?}");
    for (line, body) in &seen {
        assert!(line.starts_with("POST /json-api/set_tweaksetting "), "{line}");
        assert!(body.contains(&format!("key={KEY}")), "{body}");
    }
    assert!(seen[1].1.contains("value=6"));
}

/// A member's `reason` (here 200 kB with line breaks forging a log line) reaches the master's log,
/// its files and the list cut to a few hundred bytes, its control characters escaped.
#[test]
fn a_members_reason_is_cut_and_escaped_before_logs_files_and_pages() {
    let master = ServeProcess::start("", false);
    let forged = "2026-12-04T00:00:00.000000Z ERROR panel: forged line";
    let reason = format!("Invalid value\n{forged}\n{}", "y".repeat(200_000));
    let answer = serde_json::json!({"metadata": {"result": 0, "reason": reason}}).to_string();
    let stub = StubMember::start(move |_, _| (200, answer.clone()));
    add_stub(&master, &stub);
    set(&master, "5");
    assert!(
        wait_until(DEADLINE, || state_of(&master, &stub.url)["rejected"] == 1).is_some(),
        "{}",
        list(&master).1
    );
    let state = state_of(&master, &stub.url);
    let last = state["last_error"].as_str().unwrap();
    assert!(
        last.len() < 600 && !last.contains('\n') && last.contains("forged line"),
        "{last}"
    );
    let long = "y".repeat(400);
    assert!(
        !master.log().lines().any(|l| l.starts_with(forged)),
        "a forged log line"
    );
    assert!(!master.log().contains(&long));
    let (page_prefix, cookie) = master.root_session();
    let page = request(
        master.addr,
        "GET",
        &format!("{page_prefix}/configuration-cluster"),
        &[("Cookie", &cookie)],
        "",
    );
    assert!(!page.body.contains(&long), "the page");
    for entry in std::fs::read_dir(master.state_dir().join("cluster")).unwrap().flatten() {
        for file in ["outbox.jsonl", "status.json"] {
            let text = std::fs::read_to_string(entry.path().join(file)).unwrap_or_default();
            assert!(
                !text.contains(&long) && !text.contains(&format!("\n{forged}")),
                "{file}"
            );
        }
    }
}
