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

    // The CLI shows the same state, without the credentials (as the group commit last wrote it: a moment behind).
    let status = || {
        let out = std::process::Command::new(tests::tweakgate_bin())
            .arg("--config")
            .arg(master.config_path())
            .args(["cluster", "status", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let in_sync = |stdout: &str| {
        let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        lines.len() == 2 && lines.iter().all(|l| l["state"]["changes_waiting"] == 0)
    };
    assert!(wait_until(DEADLINE, || in_sync(&status())).is_some(), "{}", status());
    let stdout = status();
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
        // A temp file of a write in progress may be gone by now.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_dir() {
            // The journal, the members' places and the settings as last journaled: root's only too.
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{:?}", entry.file_name());
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

/// An edit of the master's config file made while it was stopped is found at its next start and delivered: against
/// the settings it last journaled (`settings.json`), or, when that file is garbled or gone, by a full resync of every
/// member.
#[test]
fn an_edit_made_while_the_master_was_stopped_is_delivered() {
    for garble in [None, Some("{\"values\": [1, 2"), Some("gone")] {
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
        let journaled = master.state_dir().join("cluster").join("settings.json");
        assert!(journaled.is_file(), "the master records the settings it journaled");
        match garble {
            Some("gone") => std::fs::remove_file(&journaled).unwrap(),
            Some(garbled) => std::fs::write(&journaled, garbled).unwrap(),
            None => {}
        }
        master.resume();
        waits_for(&member, "11");
        if let Some(garble) = garble {
            let log = master.log();
            let told = if garble == "gone" {
                "is missing"
            } else {
                "is not the settings last journaled"
            };
            assert!(
                log.contains(told) && log.contains("marked for a full resync"),
                "the damaged file is told, and what it means for the members: {log}"
            );
        }
    }
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
/// and records what it was sent and how many connections it accepted.
struct StubMember {
    url: String,
    /// Each request's line and body, with the status it was answered.
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, u16)>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// How a stub member treats its connections.
#[derive(Clone, Copy, PartialEq)]
enum Connections {
    /// One request per connection, answered with `Connection: close`.
    Close,
    /// Requests one after another on a connection (HTTP/1.1 keep-alive) until the client closes it.
    KeepAlive,
}

type Answer = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

impl StubMember {
    fn start(answer: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static) -> StubMember {
        StubMember::start_with(Connections::Close, answer)
    }

    /// A member that is down (answers 503) until the switch it returns is cleared, then answers like WHM.
    fn down_until_cleared() -> (StubMember, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let down = Arc::new(AtomicBool::new(true));
        let is_down = Arc::clone(&down);
        let stub = StubMember::start(move |_, _| {
            if is_down.load(Ordering::SeqCst) {
                (503, "down".into())
            } else {
                (200, WHM_OK.into())
            }
        });
        (stub, down)
    }

    fn start_with(
        mode: Connections,
        answer: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> StubMember {
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (log, count) = (Arc::clone(&seen), Arc::clone(&connections));
        let answer: Arc<Answer> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                std::thread::spawn(move || StubMember::serve(stream, mode, &log, &*answer));
            }
        });
        StubMember { url, seen, connections }
    }

    fn serve(
        mut stream: std::net::TcpStream,
        mode: Connections,
        log: &std::sync::Mutex<Vec<(String, String, u16)>>,
        answer: &Answer,
    ) {
        use std::io::{Read, Write};
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            };
            let Some(head_end) = head_end else { return };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let length: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
            buf.drain(..head_end + length);
            let line = head.lines().next().unwrap_or_default().to_owned();
            let (status, text) = answer(&line, &body);
            log.lock().unwrap().push((line, body, status));
            let close = if mode == Connections::Close {
                "Connection: close\r\n"
            } else {
                ""
            };
            let written = write!(
                stream,
                "HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{close}\r\n{text}",
                text.len()
            );
            if written.is_err() || mode == Connections::Close {
                return;
            }
        }
    }

    /// The values it accepted for `key`, in order (`None`: the key was sent without a value).
    fn values(&self, key: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(_, body, _)| form(body))
            .filter(|f| f.iter().any(|(k, v)| k == "key" && v == key))
            .map(|f| f.into_iter().find(|(k, _)| k == "value").map(|(_, v)| v))
            .collect()
    }
}

/// A form body's pairs, decoded.
fn form(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1..i + 3)) {
                (b'%', Some(hex)) => {
                    out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("00"), 16).unwrap_or(0));
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
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

/// The disk holding the journal fills up mid-append. The change that could not be written
/// durably is answered as a failure (it used to answer OK and leave half a line, onto which the next change was
/// glued, and after a restart both were gone); the journal keeps every change answered OK, one a line, in order,
/// across a kill and a restart. The failed change (in force on the master) may be written again between them, with
/// the master's value, once the disk has room.
#[test]
fn a_full_disk_fails_the_change_and_the_journal_keeps_every_acknowledged_one() {
    let mut master = ServeProcess::start("", false);
    master.stop();
    let cluster = master.state_dir().join("cluster");
    std::fs::remove_dir_all(&cluster).unwrap();
    std::fs::create_dir(&cluster).unwrap();
    let Some(_mount) = Mount::tmpfs(&cluster, "256k") else {
        return;
    };
    master.resume();
    // A member that never answers: every change waits in the journal for it.
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
    let journal = std::fs::read_to_string(cluster.join("journal.jsonl")).unwrap();
    assert!(journal.ends_with('\n'), "the journal ends with a complete line");
    let values: Vec<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("a torn line ({e}): {l:.80}")))
        .filter(|v| v["key"] == TEXT_KEY)
        .map(|v| v["value"].as_str().unwrap().to_owned())
        .collect();
    let acknowledged = [value('a'), value('c')];
    let rewritten = [value('a'), value('b'), value('c')];
    assert!(
        values == acknowledged || values == rewritten,
        "every change answered OK, in order: {:?}",
        values.iter().map(|v| &v[..1]).collect::<Vec<_>>()
    );
    let state = state_of(&master, "http://127.0.0.1:9");
    assert_eq!(state["changes_waiting"], values.len(), "{state}");
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
    for (line, body, _) in &seen {
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
    // The journal, the cursors, the settings and each member's files.
    let cluster = master.state_dir().join("cluster");
    let members = std::fs::read_dir(&cluster).unwrap().flatten().map(|e| e.path());
    let files = members.flat_map(|p| match std::fs::read_dir(&p) {
        Ok(dir) => dir.flatten().map(|e| e.path()).collect(),
        Err(_) => vec![p],
    });
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains(&long) && !text.contains(&format!("\n{forged}")),
            "{}",
            file.display()
        );
    }
}

/// The journal's lines (`<state>/cluster/journal.jsonl`) as JSON.
fn journal_lines(state: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("cluster/journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a journal line that is not JSON ({e}): {l}")))
        .collect()
}

/// How many journal lines hold `key` = `value`.
fn journaled(state: &std::path::Path, key: &str, value: &str) -> usize {
    journal_lines(state)
        .iter()
        .filter(|l| l["key"] == key && l["value"] == value)
        .count()
}

/// One change for five members is one line of the shared journal (one append, synced once), not one per member, and
/// each member receives it; members' pushes reuse one connection each, and a member that closes every connection
/// still gets every change.
#[test]
fn one_change_for_many_members_is_journaled_once_and_reaches_each() {
    let master = ServeProcess::start("", false);
    let stubs: Vec<StubMember> = (0..5)
        .map(|i| {
            let mode = if i == 0 {
                Connections::Close
            } else {
                Connections::KeepAlive
            };
            StubMember::start_with(mode, |_, _| (200, WHM_OK.into()))
        })
        .collect();
    for stub in &stubs {
        add_stub(&master, stub);
    }
    for value in ["5", "6", "7"] {
        set(&master, value);
    }
    for stub in &stubs {
        assert!(
            wait_until(DEADLINE, || stub.values(KEY).len() == 3).is_some(),
            "{}: {:?}",
            stub.url,
            stub.values(KEY)
        );
        assert_eq!(
            stub.values(KEY),
            [Some("5".into()), Some("6".into()), Some("7".into())],
            "in order"
        );
    }
    for value in ["5", "6", "7"] {
        assert_eq!(journaled(&master.state_dir(), KEY, value), 1, "{value} is on one line");
    }
    let opened = |s: &StubMember| s.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        opened(&stubs[0]),
        3,
        "a member that closes each connection gets a new one"
    );
    for stub in &stubs[1..] {
        assert_eq!(opened(stub), 1, "one kept connection: {}", stub.url);
    }
}

/// A fault injected into the journal's append (after the bytes are written, before the sync) fails the change:
/// nothing of it is in the journal and nothing is delivered while the journal cannot be written, not even by the
/// retries; once it can, the member is sent the master's value.
#[test]
fn a_journal_that_cannot_be_written_fails_the_change_and_nothing_is_delivered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let panel = TestPanel::serve(&Cast::standard());
    let root = panel.as_("root");
    let stub = StubMember::start(|_, _| (200, WHM_OK.into()));
    let r = root.api(
        "add_configclusterserver",
        &format!("name={}&key={STUB_TOKEN}", encode(&stub.url)),
    );
    assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    let (failing, attempts) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
    let (f, a) = (Arc::clone(&failing), Arc::clone(&attempts));
    panel.cluster_journal_faults(move |point| {
        if point != credentials::FaultPoint::AppendWritten || !f.load(Ordering::SeqCst) {
            return Ok(());
        }
        a.fetch_add(1, Ordering::SeqCst);
        Err(std::io::Error::other("injected: no space left on device"))
    });
    let r = root.api("set_tweaksetting", &format!("key={KEY}&value=12"));
    assert_eq!(r.json()["metadata"]["result"], 0, "{}", r.body);
    assert!(r.reason().contains("journal"), "{}", r.body);
    // The group commit tries again (and fails again) before anything could be sent.
    assert!(
        wait_until(DEADLINE, || attempts.load(Ordering::SeqCst) >= 2).is_some(),
        "the journal is written again"
    );
    assert_eq!(
        journaled(&panel.state_dir(), KEY, "12"),
        0,
        "nothing of it is in the journal"
    );
    assert!(stub.values(KEY).is_empty(), "nothing delivered: {:?}", stub.values(KEY));
    failing.store(false, Ordering::SeqCst);
    assert!(
        wait_until(DEADLINE, || stub.values(KEY) == [Some("12".to_owned())]).is_some(),
        "the master's value arrives once the journal can be written: {:?}",
        stub.values(KEY)
    );
    assert_eq!(journaled(&panel.state_dir(), KEY, "12"), 1);
}

/// A master that crashed after a delivery but before the member's place was written (here: `cursors.json` put back
/// two changes) sends those changes again, in order, and the member ends with the master's value.
#[test]
fn a_crash_between_delivery_and_cursor_write_resends_in_order() {
    let mut master = ServeProcess::start("", false);
    let stub = StubMember::start(|_, _| (200, WHM_OK.into()));
    add_stub(&master, &stub);
    for value in ["5", "6", "7"] {
        set(&master, value);
    }
    let cursors = master.state_dir().join("cluster/cursors.json");
    let written =
        || -> Value { serde_json::from_slice(&std::fs::read(&cursors).unwrap_or_default()).unwrap_or(Value::Null) };
    assert!(
        wait_until(DEADLINE, || written()[&stub.url] == 3).is_some(),
        "the member's place is written: {}",
        written()
    );
    master.stop();
    std::fs::write(&cursors, serde_json::json!({ &stub.url: 1 }).to_string()).unwrap();
    master.resume();
    let expected: Vec<Option<String>> = ["5", "6", "7", "6", "7"]
        .iter()
        .map(|v| Some((*v).to_owned()))
        .collect();
    assert!(
        wait_until(DEADLINE, || stub.values(KEY) == expected).is_some(),
        "{:?}",
        stub.values(KEY)
    );
    assert!(wait_until(DEADLINE, || state_of(&master, &stub.url)["status"] == "in_sync").is_some());
}

/// Once every member has passed a prefix of the journal it is compacted, the sequence going on after it: a member that
/// was down meanwhile still receives every change it had not finished, in order, and the next change (after a
/// restart, too) takes the next number.
#[test]
fn compaction_keeps_the_sequence_and_loses_nothing_unfinished() {
    use std::sync::atomic::Ordering;
    let mut master = ServeProcess::start("", false);
    let up = StubMember::start_with(Connections::KeepAlive, |_, _| (200, WHM_OK.into()));
    let (late, down) = StubMember::down_until_cleared();
    add_stub(&master, &up);
    add_stub(&master, &late);
    // 20 values of 5,000 bytes: past the 64 KiB a compaction waits for.
    let value = |i: usize| format!("{i:02}{}", "x".repeat(4998));
    for i in 0..20 {
        let r = post_set(&master, TEXT_KEY, &value(i));
        assert_eq!(r.json()["metadata"]["result"], 1, "{}", r.body);
    }
    assert!(wait_until(DEADLINE, || up.values(TEXT_KEY).len() == 20).is_some());
    let state = master.state_dir();
    assert!(
        journal_lines(&state).iter().all(|l| l.get("compacted").is_none()),
        "not compacted while a member has not finished"
    );
    down.store(false, Ordering::SeqCst);
    let all: Vec<Option<String>> = (0..20).map(|i| Some(value(i))).collect();
    assert!(
        wait_until(DEADLINE, || late.values(TEXT_KEY) == all).is_some(),
        "every change, in order: {} received",
        late.values(TEXT_KEY).len()
    );
    assert!(
        wait_until(DEADLINE, || journal_lines(&state)
            .first()
            .is_some_and(|l| l["compacted"].is_u64()))
        .is_some(),
        "compacted once both finished"
    );
    // Compacted up to where both had passed 64 KiB when the group commit ran: what follows is the rest, in order.
    let lines = journal_lines(&state);
    let compacted = lines[0]["compacted"].as_u64().unwrap();
    assert_eq!(lines[0]["next"], 21, "{}", lines[0]);
    let kept: Vec<u64> = lines[1..].iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(kept, (compacted + 1..=20).collect::<Vec<_>>());
    master.stop();
    master.resume();
    set(&master, "9");
    let lines = journal_lines(&state);
    assert_eq!(lines.last().unwrap()["seq"], 21, "the sequence goes on");
    for stub in [&up, &late] {
        assert!(wait_until(DEADLINE, || stub.values(KEY) == [Some("9".to_owned())]).is_some());
    }
}

/// A member with more changes waiting than the caps allow (here a journal of 10,001 changes it was down for) is
/// marked for a full resync and moved to the head: the journal is compacted without it, and once it is back it is
/// sent the master's value of the key once rather than 10,001 changes.
#[test]
fn a_lagging_member_is_marked_for_a_resync_and_releases_the_journal() {
    use std::sync::atomic::Ordering;
    let mut master = ServeProcess::start(&format!("[tweak_settings]\n{KEY} = 4\n"), false);
    let (stub, down) = StubMember::down_until_cleared();
    add_stub(&master, &stub);
    master.stop();
    let cluster = master.state_dir().join("cluster");
    let lines: String = (1..=10_001)
        .map(|seq| {
            format!(
                "{{\"seq\":{seq},\"key\":\"{KEY}\",\"value\":\"{}\",\"at_ms\":1}}\n",
                seq % 90
            )
        })
        .collect();
    std::fs::write(cluster.join("journal.jsonl"), lines).unwrap();
    std::fs::write(
        cluster.join("cursors.json"),
        serde_json::json!({ &stub.url: 0 }).to_string(),
    )
    .unwrap();
    master.resume();
    assert!(
        wait_until(DEADLINE, || journal_lines(&master.state_dir())
            .first()
            .is_some_and(|l| l["compacted"].as_u64() >= Some(10_001)))
        .is_some(),
        "the journal is compacted past the lagging member"
    );
    down.store(false, Ordering::SeqCst);
    assert!(
        wait_until(DEADLINE, || state_of(&master, &stub.url)["status"] == "in_sync").is_some(),
        "{}",
        list(&master).1
    );
    assert_eq!(stub.values(KEY), [Some("4".to_owned())], "the master's value, once");
    assert_eq!(state_of(&master, &stub.url)["resync"], false);
}

/// A state directory of an older version (a member's `outbox.jsonl` with changes waiting, no journal) loses nothing:
/// the member is marked for a resync of the keys that waited, is sent the master's values of them, and the old file
/// is retired.
#[test]
fn an_outbox_of_an_older_version_becomes_a_resync_of_its_keys() {
    let mut master = ServeProcess::start(&format!("[tweak_settings]\n{KEY} = 7\n"), false);
    master.stop();
    let stub = StubMember::start(|_, _| (200, WHM_OK.into()));
    let cluster = master.state_dir().join("cluster");
    for file in ["journal.jsonl", "cursors.json"] {
        let _ = std::fs::remove_file(cluster.join(file));
    }
    let member = cluster.join("0123456789abcdef");
    std::fs::create_dir_all(&member).unwrap();
    let file = serde_json::json!({"name": stub.url, "url": stub.url, "user": "root", "credential": STUB_TOKEN,
        "fingerprint": null, "added_at": 1});
    std::fs::write(member.join("member.json"), file.to_string()).unwrap();
    std::fs::write(
        member.join("status.json"),
        r#"{"delivered":3,"rejected":0,"auth_refused":false}"#,
    )
    .unwrap();
    let outbox = format!(
        "{{\"seq\":4,\"key\":\"{KEY}\",\"value\":\"6\",\"at_ms\":1}}\n{{\"done\":4,\"error\":null}}\n\
         {{\"seq\":5,\"key\":\"{KEY}\",\"value\":\"7\",\"at_ms\":2}}\n\
         {{\"seq\":6,\"key\":\"{TEXT_KEY}\",\"value\":null,\"at_ms\":3}}\n{{\"seq\":7,\"key\""
    );
    std::fs::write(member.join("outbox.jsonl"), outbox).unwrap();
    master.resume();
    assert!(
        wait_until(DEADLINE, || stub.values(KEY).contains(&Some("7".to_owned()))
            && !stub.values(TEXT_KEY).is_empty())
        .is_some(),
        "{:?} {:?}",
        stub.values(KEY),
        stub.values(TEXT_KEY)
    );
    assert!(!member.join("outbox.jsonl").exists(), "the old outbox is retired");
    assert!(wait_until(DEADLINE, || state_of(&master, &stub.url)["status"] == "in_sync").is_some());
    assert_eq!(state_of(&master, &stub.url)["delivered"].as_u64().unwrap(), 3 + 2);
}
