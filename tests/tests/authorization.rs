//! A credential never yields more than it holds: the escalations found against the panel, each sent as the request
//! that exploited it, and a walk of every operation and page with a token limited to one unrelated privilege.
//!
//! The router is driven in process (`tower::ServiceExt::oneshot`), request in, response out, with the real
//! Remote Access Key plugin loaded from disk.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use panel::http::Peer;
use panel::state::Panel;
use panel::store::sessions::Grant;
use serde_json::Value;
use settings::{Acl, AclSet, Username};
use tower::ServiceExt;

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
state_dir = "state"
auth_failure_limit = 1000

[tweak_settings]
allow_deprecated_accesshash = true

[resellers.bob]
privileges = ["manage-api-tokens", "list-accts", "create-user-session"]

[resellers.carol]
privileges = ["all", "create-user-session"]

[accounts.dave]
owner = "bob"

[[plugins]]
path = "{plugin}"

[[plugins]]
path = "{api_shell}"
"#;

struct Harness {
    _dir: tempfile::TempDir,
    panel: Arc<Panel>,
    router: Router,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn result(&self) -> i64 {
        self.json()["metadata"]["result"].as_i64().unwrap_or(-1)
    }

    fn reason(&self) -> String {
        self.json()["metadata"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let plugin = tests::build_cdylib("remote-access-key");
    let api_shell = tests::build_cdylib("api-shell");
    let path = dir.path().join("tweakgate.toml");
    let text = CONFIG
        .replace("{plugin}", &plugin.display().to_string())
        .replace("{api_shell}", &api_shell.display().to_string());
    std::fs::write(&path, text).unwrap();
    let panel = Panel::open(&path).unwrap();
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let router = panel::http::router(Arc::clone(&panel)).layer(MockConnectInfo(Peer(peer)));
    Harness {
        _dir: dir,
        panel,
        router,
    }
}

impl Harness {
    fn send(&self, req: Request<Body>) -> Reply {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            Reply {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
    }

    /// `/json-api/<function>?api.version=1&<query>` with an `Authorization` header.
    fn api(&self, auth: &str, function: &str, query: &str) -> Reply {
        let req = Request::get(format!("/json-api/{function}?api.version=1&{query}"))
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap();
        self.send(req)
    }

    fn key(&self, user: &str) -> String {
        let user = Username::new(user).unwrap();
        panel::whm::ops::keys::generate_key(&self.panel, &user, "root")
            .unwrap()
            .as_str()
            .to_owned()
    }

    /// A token made directly in the store, optionally limited.
    fn token(&self, user: &str, name: &str, acls: Option<&[&str]>) -> String {
        let (_, token) = self
            .panel
            .tokens
            .create(
                user,
                &credentials::TokenName::new(name).unwrap(),
                acls.map(|a| a.iter().map(|s| s.to_string()).collect()),
                None,
                &[],
            )
            .unwrap();
        token.expose().to_owned()
    }

    /// Redeems a one-time login URL; returns the session's prefix (`/cpsess…`) and its cookie header.
    fn redeem(&self, url: &str) -> (String, String) {
        let reply = self.send(Request::get(url).body(Body::empty()).unwrap());
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let location = reply.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        (location, cookie)
    }

    fn in_session(&self, prefix: &str, cookie: &str, method: &str, path: &str, form: &str) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(format!("{prefix}{path}"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(req)
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.panel.audit.path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn audit_events(&self, event: &str) -> Vec<Value> {
        self.audit().into_iter().filter(|e| e["event"] == event).collect()
    }
}

fn whm(user: &str, secret: &str) -> String {
    format!("WHM {user}:{secret}")
}

/// Escalation 1: a token limited to `manage-api-tokens` made a full-access token, which changed Tweak Settings.
#[test]
fn a_token_creates_no_token_beyond_itself() {
    let h = start();
    let limited = whm("root", &h.token("root", "tokens_only", Some(&["manage-api-tokens"])));

    let made = h.api(&limited, "api_token_create", "token_name=x");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(
        made.json()["data"]["acls"],
        serde_json::json!(["manage-api-tokens"]),
        "no list means exactly the creator's effective set"
    );
    let x = made.json()["data"]["token"].as_str().unwrap().to_owned();
    let set = h.api(
        &whm("root", &x),
        "set_tweaksetting",
        "key=allow_deprecated_accesshash&value=0",
    );
    assert_eq!(set.status, StatusCode::FORBIDDEN, "{}", set.body);
    assert!(
        h.panel
            .snapshot()
            .config()
            .tweak_settings
            .is_on("allow_deprecated_accesshash"),
        "the setting did not change"
    );

    let beyond = h.api(&limited, "api_token_create", "token_name=y&acl=all");
    assert_eq!(beyond.result(), 0);
    assert_eq!(
        beyond.reason(),
        "You cannot grant the \"all\" privilege because you do not have it."
    );
    let beyond = h.api(
        &limited,
        "api_token_create",
        "token_name=z&acl-0=manage-api-tokens&acl-1=edit-ftp",
    );
    assert_eq!(beyond.result(), 0, "{}", beyond.body);
    let names: Vec<String> = h
        .panel
        .tokens
        .list("root")
        .unwrap()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names.len(), 2, "only the limited token and x exist: {names:?}");

    // A full-access credential still makes full-access tokens.
    let full = whm("root", &h.key("root"));
    let made = h.api(&full, "api_token_create", "token_name=full");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(made.json()["data"]["acls"], Value::Null);
}

/// Escalation 2: the same limited token read root's access key, a full-access credential. The Remote Access Key
/// requires a full-access credential, so the gate hides it from the token (and the plugin still refuses).
#[test]
fn a_limited_token_reads_and_generates_no_key() {
    let h = start();
    let root_key = h.key("root");
    let limited = whm("root", &h.token("root", "tokens_only", Some(&["manage-api-tokens"])));
    for query in ["", "user=root", "user=bob", "generate=1", "user=bob&generate=1"] {
        let r = h.api(&limited, "accesshash", query);
        assert_eq!(r.result(), 0, "accesshash {query}: {}", r.body);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "accesshash {query}: {}", r.body);
        assert!(
            r.body.contains("FULL_ACCESS_REQUIRED"),
            "accesshash {query}: {}",
            r.body
        );
        assert!(!r.body.contains(&root_key), "the key never leaks");
    }
    let still = credentials::read_key(&h.panel.home_of(&h.panel.snapshot(), &Username::root()))
        .unwrap()
        .unwrap();
    assert_eq!(still.as_str(), root_key, "root's key was not replaced");
    // A reseller holding `all` reads no one else's key: root's would make it root.
    let carol = whm("carol", &h.key("carol"));
    for query in ["user=root", "user=bob", "user=root&generate=1"] {
        let r = h.api(&carol, "accesshash", query);
        assert_eq!(r.result(), 0, "carol: accesshash {query}: {}", r.body);
        let refusal = if query.contains("generate") {
            remote_access_key::key_service::NO_GENERATE_FOR_OTHERS
        } else {
            remote_access_key::key_service::NO_ACCESS_TO_OTHERS
        };
        assert_eq!(r.reason(), refusal, "carol: accesshash {query}");
        assert!(!r.body.contains(&root_key));
    }
    // Root's own key still reads root's key.
    let r = h.api(&whm("root", &root_key), "accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], root_key.as_str());
}

/// Escalation 3: a token limited to `create-user-session` opened a root session with every privilege.
#[test]
fn a_session_carries_no_more_than_the_token_that_opened_it() {
    let h = start();
    let limited = whm(
        "root",
        &h.token("root", "sessions_only", Some(&["create-user-session"])),
    );
    let made = h.api(&limited, "create_user_session", "user=root&service=whostmgrd");
    assert_eq!(made.result(), 1, "{}", made.body);
    let (prefix, cookie) = h.redeem(made.json()["data"]["url"].as_str().unwrap());

    let set = h.in_session(
        &prefix,
        &cookie,
        "GET",
        "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=0",
        "",
    );
    assert_eq!(set.status, StatusCode::FORBIDDEN, "{}", set.body);
    let privs = h.in_session(&prefix, &cookie, "GET", "/json-api/myprivs?api.version=1", "");
    let privs = privs.json();
    let held: Vec<&str> = privs["data"]["privileges"][0]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| **v == 1)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(held, ["create-user-session"]);
    let page = h.in_session(&prefix, &cookie, "GET", "/tweak-settings", "");
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // The limit lives as long as the session: it survives the panel being opened again from disk.
    let again = Panel::open(&h.panel.config_path).unwrap();
    let token = prefix.trim_start_matches('/');
    let session = again
        .sessions
        .check(token, cookie.split_once('=').map(|(_, v)| v))
        .unwrap();
    assert_eq!(
        session.grant.limit(),
        Some(AclSet::from_acls([Acl::from_name("create-user-session").unwrap()]))
    );
}

/// Escalation 4: a reseller holding `all` opened a root session, granted `all` to others, and the audit log named
/// root as the actor.
#[test]
fn only_root_opens_a_session_as_root_and_the_audit_names_the_real_actor() {
    let h = start();
    let carol = whm("carol", &h.key("carol"));
    let r = h.api(&carol, "create_user_session", "user=root&service=whostmgrd");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(r.reason(), panel::whm::ops::sessions::ONLY_ROOT_AS_ROOT);
    let r = h.api(&carol, "create_user_session", "user=bob&service=whostmgrd");
    assert_eq!(r.result(), 0);
    assert_eq!(r.reason(), panel::whm::ops::sessions::NOT_FOR_OTHERS);

    // Root opens a session for bob with an API token; what happens in it names root and the token.
    let root_token = whm("root", &h.token("root", "ops", None));
    let made = h.api(&root_token, "create_user_session", "user=bob&service=whostmgrd");
    assert_eq!(made.result(), 1, "{}", made.body);
    let (prefix, cookie) = h.redeem(made.json()["data"]["url"].as_str().unwrap());
    let created = h.in_session(
        &prefix,
        &cookie,
        "GET",
        "/json-api/api_token_create?api.version=1&token_name=made_in_session",
        "",
    );
    assert_eq!(created.result(), 1, "{}", created.body);

    let opened = h.audit_events("session_created");
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["actor"], "root");
    assert_eq!(opened[0]["auth"], "API token \"ops\"");
    assert_eq!(opened[0]["session_user"], "bob");
    let redeemed = h.audit_events("session_redeemed");
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0]["user"], "bob");
    assert_eq!(redeemed[0]["actor"], "root");
    let token = h
        .audit_events("token_created")
        .into_iter()
        .find(|e| e["token_name"] == "made_in_session")
        .unwrap();
    assert_eq!(token["user"], "bob", "the token is bob's");
    assert_eq!(token["actor"], "root", "but root made it");
    assert!(
        token["auth"]
            .as_str()
            .unwrap()
            .contains("opened with API token \"ops\""),
        "{token}"
    );
}

/// A token limited to one unrelated privilege: every operation of the table and every plugin function refuses, and
/// the operations open to every WHM user reveal nothing beyond the limit.
#[test]
fn every_operation_refuses_a_token_limited_to_an_unrelated_privilege() {
    let h = start();
    let limited = whm("root", &h.token("root", "unrelated", Some(&["add-pkg"])));
    let mut functions: Vec<(String, String)> = panel::whm::OPERATIONS
        .iter()
        .map(|o| (o.name.to_owned(), o.feature.to_owned()))
        .collect();
    functions.extend(
        h.panel
            .plugins()
            .functions
            .iter()
            .map(|(f, feature)| (f.clone(), feature.clone())),
    );
    assert!(
        functions.iter().any(|(f, _)| f == "accesshash"),
        "the plugin's function is walked too"
    );
    for (function, feature) in &functions {
        let r = h.api(
            &limited,
            function,
            "user=root&key=allow_deprecated_accesshash&value=0&reseller=bob&token_name=t",
        );
        if feature == panel::features::WHM {
            assert_eq!(r.status, StatusCode::OK, "{function} is open to every WHM user");
            continue;
        }
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{function}: {}", r.body);
        assert_eq!(r.result(), 0, "{function}");
        assert!(r.json()["metadata"]["reasons"].is_array(), "{function} says why");
    }
    let apps = h.api(&limited, "applist", "");
    let apps = apps.json();
    let listed: Vec<&str> = apps["data"]["app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["applist", "myprivs", "version"],
        "applist shows only what the token may call"
    );
    assert!(h.panel.tokens.list("root").unwrap().len() == 1, "no token was made");
}

/// Every page of the menu, for a session limited to one unrelated privilege: each refuses, on GET and on a POST
/// that carries a valid form nonce, and the Home menu is empty.
#[test]
fn every_page_refuses_a_session_limited_to_an_unrelated_privilege() {
    let h = start();
    let grant = Grant::new(
        Username::root(),
        Some(AclSet::from_acls([Acl::from_name("list-accts").unwrap()])),
        Username::root(),
        "API token \"unrelated\"".into(),
    );
    let (token, cookie) = h.panel.sessions.start(grant);
    let (prefix, cookie) = (format!("/{token}"), format!("whostmgrsession={cookie}"));
    let snapshot = h.panel.snapshot();
    let pages: Vec<String> = snapshot
        .features()
        .iter()
        .filter(|f| !f.group.is_empty())
        .map(|f| {
            h.panel
                .plugins()
                .host
                .feature_info(&f.id)
                .map(|i| i.path)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| format!("/{}", f.id))
        })
        .collect();
    assert!(pages.len() >= 5, "{pages:?}");
    for page in &pages {
        let get = h.in_session(&prefix, &cookie, "GET", page, "");
        assert_eq!(get.status, StatusCode::FORBIDDEN, "GET {page}: {}", get.body);
        assert!(get.body.contains("id=\"reasons\""), "GET {page} says why");
        let nonce = h.panel.sessions.issue_nonce(&token);
        let post = h.in_session(
            &prefix,
            &cookie,
            "POST",
            page,
            &format!("csrf_token={nonce}&generate=1&set-allow_deprecated_accesshash=0&action=create&token_name=t&reseller=bob&acl-all=1"),
        );
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::METHOD_NOT_ALLOWED].contains(&post.status),
            "POST {page}: {} {}",
            post.status,
            post.body
        );
    }
    let home = h.in_session(&prefix, &cookie, "GET", "/", "");
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("id=\"empty-menu\""), "{}", home.body);
    assert!(
        h.panel
            .snapshot()
            .config()
            .tweak_settings
            .is_on("allow_deprecated_accesshash")
    );
    assert!(h.panel.tokens.list("root").unwrap().is_empty());
}

/// The nonce is an input of the page: `{{csrf_token}}` typed into a reflected parameter stays text.
#[test]
fn a_reflected_placeholder_is_not_expanded() {
    let h = start();
    let (token, cookie) = h.panel.sessions.start(Grant::own(Username::root(), "password"));
    let (prefix, cookie) = (format!("/{token}"), format!("whostmgrsession={cookie}"));
    let page = h.in_session(
        &prefix,
        &cookie,
        "GET",
        "/tweak-settings?find=%7B%7Bcsrf_token%7D%7D",
        "",
    );
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("value=\"{{csrf_token}}\""),
        "the search box shows what was typed"
    );
    let page = h.in_session(
        &prefix,
        &cookie,
        "GET",
        "/remote-access-key?user=%7B%7Bcsrf_token%7D%7D",
        "",
    );
    assert!(
        !page.body.contains("{{"),
        "nothing is substituted, and the plugin does not echo it either"
    );
    // A POST with the nonce the plugin's page carried is accepted once.
    let page = h.in_session(&prefix, &cookie, "GET", "/remote-access-key", "");
    let nonce = page
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page's form carries a nonce")
        .to_owned();
    let post = h.in_session(
        &prefix,
        &cookie,
        "POST",
        "/remote-access-key",
        &format!("csrf_token={nonce}&generate=1&user=root"),
    );
    assert_eq!(post.status, StatusCode::OK, "{}", post.body);
    let replay = h.in_session(
        &prefix,
        &cookie,
        "POST",
        "/remote-access-key",
        &format!("csrf_token={nonce}&generate=1&user=root"),
    );
    assert_eq!(replay.status, StatusCode::FORBIDDEN, "a nonce works once");
}

/// Logins are audited with how the user proved who they are.
#[test]
fn a_password_login_is_audited() {
    let h = start();
    let hash = panel::auth::header::hash_password("a long password").unwrap();
    let text = std::fs::read_to_string(&h.panel.config_path).unwrap();
    std::fs::write(
        &h.panel.config_path,
        text.replace(
            "[resellers.bob]",
            &format!("[root]\npassword_hash = \"{hash}\"\n\n[resellers.bob]"),
        ),
    )
    .unwrap();
    h.panel.reload().unwrap();
    let form = h.send(Request::get("/login/").body(Body::empty()).unwrap());
    let cookie = form.headers[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let nonce = form.body.split("name=\"csrf_token\" value=\"").nth(1).unwrap();
    let nonce = nonce.split('"').next().unwrap();
    let req = Request::post("/login/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(format!("csrf_token={nonce}&user=root&pass=a+long+password")))
        .unwrap();
    let r = h.send(req);
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let logins = h.audit_events("login");
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0]["user"], "root");
    assert_eq!(logins[0]["auth"], "password");
    assert!(
        !std::fs::read_to_string(h.panel.audit.path())
            .unwrap()
            .contains("a long password")
    );
}

/// The API Shell plugin calls the panel's operations through the host, as the session's user and within its
/// privileges: it shows only while `api_shell` is on, and it cannot be used to climb.
#[test]
fn the_api_shell_calls_within_the_sessions_privileges() {
    let h = start();
    let (token, cookie) = h.panel.sessions.start(Grant::own(Username::root(), "password"));
    let (root, root_cookie) = (format!("/{token}"), format!("whostmgrsession={cookie}"));
    let off = h.in_session(&root, &root_cookie, "GET", "/api-shell", "");
    assert_eq!(off.status, StatusCode::FORBIDDEN, "hidden while api_shell is Off");
    assert!(off.body.contains("SETTING_DISABLED"), "{}", off.body);

    let text = std::fs::read_to_string(&h.panel.config_path).unwrap();
    std::fs::write(
        &h.panel.config_path,
        text.replace(
            "allow_deprecated_accesshash = true",
            "allow_deprecated_accesshash = true\napi_shell = true",
        ),
    )
    .unwrap();
    h.panel.reload().unwrap();
    let page = h.in_session(&root, &root_cookie, "GET", "/api-shell", "");
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<option value=\"set_tweaksetting\""),
        "root's applist: {}",
        page.body
    );
    let call = |prefix: &str, cookie: &str, body: &str| {
        let page = h.in_session(prefix, cookie, "GET", "/api-shell", "");
        let nonce = page
            .body
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the shell's form carries a nonce")
            .to_owned();
        h.in_session(
            prefix,
            cookie,
            "POST",
            "/api-shell",
            &format!("csrf_token={nonce}&{body}"),
        )
    };
    let set = call(
        &root,
        &root_cookie,
        "function=set_tweaksetting&params=key%3Dallow_deprecated_accesshash%0Avalue%3D0",
    );
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("&quot;result&quot;: 1"), "{}", set.body);
    assert!(
        !h.panel
            .snapshot()
            .config()
            .tweak_settings
            .is_on("allow_deprecated_accesshash")
    );

    // Carol holds `all` but is not root: through the shell she still cannot open a root session, and the shell
    // reaches no plugin's function.
    let (token, cookie) = h
        .panel
        .sessions
        .start(Grant::own(Username::new("carol").unwrap(), "password"));
    let (carol, carol_cookie) = (format!("/{token}"), format!("whostmgrsession={cookie}"));
    let r = call(
        &carol,
        &carol_cookie,
        "function=create_user_session&params=user%3Droot%0Aservice%3Dwhostmgrd",
    );
    assert!(
        r.body.contains(panel::whm::ops::sessions::ONLY_ROOT_AS_ROOT),
        "{}",
        r.body
    );
    let r = call(&carol, &carol_cookie, "function=accesshash&params=user%3Droot");
    assert!(r.body.contains("id=\"error\""), "{}", r.body);
    assert!(
        r.body.contains("the host does not let plugins call accesshash"),
        "{}",
        r.body
    );
}

/// A one-time link made for a cPanel account (or for a user removed since) does not open a WHM session.
#[test]
fn a_login_link_opens_no_session_for_a_cpanel_account() {
    let h = start();
    let secret = h
        .panel
        .sessions
        .create_one_time(&Grant::own(Username::new("dave").unwrap(), "command line"), None);
    let r = h.send(
        Request::get(format!("/cpsess0123456789/login/?session={secret}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(
        r.headers
            .get(header::SET_COOKIE)
            .is_none_or(|c| !c.to_str().unwrap().contains("whostmgrsession="))
    );
}

/// Escalation: `full_access` was "the token's list covers the user's current ACLs", so bob's token
/// listing exactly bob's three ACLs read bob's key and minted an unlimited child token, which later grants then
/// reached. A token with a list is never full access unless the list holds `all`, whatever the user holds now; a
/// token it makes carries at most its list. Checked again after bob is narrowed, widened, and set back.
#[test]
fn a_token_listing_exactly_the_users_acls_is_not_full_access() {
    let h = start();
    let bobs_key = h.key("bob");
    let root = whm("root", &h.key("root"));
    let bobs_acls = ["manage-api-tokens", "list-accts", "create-user-session"];
    let listed = whm("bob", &h.token("bob", "exact", Some(&bobs_acls)));
    let setacls = |acls: &[&str]| {
        let query: Vec<String> = acls.iter().map(|a| format!("acl-{a}=1")).collect();
        let r = h.api(&root, "setacls", &format!("reseller=bob&{}", query.join("&")));
        assert_eq!(r.result(), 1, "setacls {acls:?}: {}", r.body);
    };
    // In catalogue order, as `api_token_create` lists them.
    let sorted = |acls: &[&str]| {
        let set = AclSet::from_acls(acls.iter().map(|a| Acl::from_name(a).unwrap()));
        Value::Array(set.iter().map(|a| Value::from(a.name())).collect())
    };
    let no_key_no_unlimited_child = |stage: &str, n: usize| {
        for query in ["", "user=bob", "generate=1", "user=bob&generate=1"] {
            let r = h.api(&listed, "accesshash", query);
            assert_eq!(r.result(), 0, "{stage}: accesshash {query}: {}", r.body);
            // The Remote Access Key requires a full-access credential: the gate hides it from a listed token.
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{stage}: accesshash {query}: {}",
                r.body
            );
            assert!(
                r.body.contains("FULL_ACCESS_REQUIRED"),
                "{stage}: accesshash {query}: {}",
                r.body
            );
            assert!(!r.body.contains(&bobs_key), "{stage}: bob's key never leaks");
        }
        let made = h.api(&listed, "api_token_create", &format!("token_name=child{n}"));
        assert_eq!(made.result(), 1, "{stage}: {}", made.body);
        assert_ne!(
            made.json()["data"]["acls"],
            Value::Null,
            "{stage}: the child is not unlimited"
        );
        let child = whm("bob", made.json()["data"]["token"].as_str().unwrap());
        let r = h.api(&child, "accesshash", "");
        assert_eq!(r.result(), 0, "{stage}: the child reads no key either: {}", r.body);
        made.json()["data"]["acls"].clone()
    };

    let first = no_key_no_unlimited_child("exact", 0);
    assert_eq!(first, sorted(&bobs_acls), "the child carries at most the list");
    let list = h.api(&whm("bob", &bobs_key), "api_token_list", "");
    assert_eq!(
        list.json()["data"]["tokens"]["child0"]["has_full_access"],
        0,
        "{}",
        list.body
    );

    // Narrowed: bob loses create-user-session.
    setacls(&["manage-api-tokens", "list-accts"]);
    let narrowed = no_key_no_unlimited_child("narrowed", 1);
    assert_eq!(narrowed, sorted(&["manage-api-tokens", "list-accts"]));

    // Widened past the list: the list does not follow bob's new grant, and nor does any child.
    setacls(&["manage-api-tokens", "list-accts", "create-user-session", "create-acct"]);
    let widened = no_key_no_unlimited_child("widened", 2);
    assert_eq!(widened, sorted(&bobs_acls));
    let beyond = h.api(&listed, "api_token_create", "token_name=beyond&acl=create-acct");
    assert_eq!(beyond.result(), 0, "{}", beyond.body);
    let beyond = h.api(&listed, "api_token_create", "token_name=beyond&acl=all");
    assert_eq!(beyond.result(), 0, "{}", beyond.body);

    // Set back to exactly the list: still not full access.
    setacls(&bobs_acls);
    no_key_no_unlimited_child("set back", 3);

    // A token without a list, and bob's own key, are full access.
    let full = whm("bob", &h.token("bob", "full", None));
    let r = h.api(&full, "accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], bobs_key.as_str());
    let made = h.api(&full, "api_token_create", "token_name=unlimited");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(made.json()["data"]["acls"], Value::Null);
    // A list holding `all` is full access for a user who holds `all`.
    let carols_key = h.key("carol");
    let carols = whm("carol", &h.token("carol", "all", Some(&["all"])));
    let r = h.api(&carols, "accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], carols_key.as_str());
}

/// `saveacllist` took names with a newline, a trailing space, a leading dash, and a leading dot
/// (which `listacls` then hid); `setacls acllist=` followed a symbolic link and quoted a line of its target in the
/// error. One name rule, said in the error; a saved list is read only as a regular file, and no error quotes it.
#[test]
fn acl_list_names_follow_one_rule_and_setacls_follows_no_link() {
    let h = start();
    let root = whm("root", &h.key("root"));
    for name in [
        "a%0Ab",
        "billing%20",
        "-rf",
        ".hidden",
        "a%5Cb",
        "a%2Fb",
        "a%00b",
        "a%09b",
    ] {
        let r = h.api(&root, "saveacllist", &format!("acllist={name}&acl-list-accts=1"));
        assert_eq!(r.result(), 0, "{name}: {}", r.body);
        assert!(
            r.reason().ends_with(settings::native::ACL_LIST_NAME_RULE),
            "{name}: the rule is said: {}",
            r.reason()
        );
    }
    let dir = h.panel.state_dir.join("acllists");
    let saved: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(saved.is_empty(), "nothing was saved: {saved:?}");
    let r = h.api(&root, "saveacllist", "acllist=billing&acl-list-accts=1");
    assert_eq!(r.result(), 1, "{}", r.body);
    let listed = h.api(&root, "listacls", "");
    assert_eq!(listed.json()["data"]["acl"][0]["name"], "billing", "{}", listed.body);

    // A link in the list directory to a file that is not a list.
    let secret = h._dir.path().join("secret.txt");
    std::fs::write(&secret, "the first line of a private file\n").unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("link")).unwrap();
    let before = h
        .panel
        .snapshot()
        .config()
        .users
        .privileges(&Username::new("bob").unwrap());
    let r = h.api(&root, "setacls", "reseller=bob&acllist=link");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(r.reason(), "The ACL list \"link\" is a symbolic link.");
    assert!(!r.body.contains("private file"), "{}", r.body);
    // A regular file that is not a list is named by its line, never quoted.
    std::fs::write(dir.join("notalist"), "list-accts=1\nthe first line of a private file\n").unwrap();
    let r = h.api(&root, "setacls", "reseller=bob&acllist=notalist");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(
        r.reason(),
        "The ACL list \"notalist\" is not a saved list: line 2 is not \"acl=1\" or \"acl=0\"."
    );
    assert!(!r.body.contains("private file"), "{}", r.body);
    let after = h
        .panel
        .snapshot()
        .config()
        .users
        .privileges(&Username::new("bob").unwrap());
    assert_eq!(before, after, "bob's privileges did not change");
}

/// OFREP answered a token limited to `list-accts` with its user's whole set: it was told
/// `manage-api-tokens` is visible, then refused by the API. Evaluating for the caller uses the caller's effective set.
#[test]
fn ofrep_for_a_limited_token_answers_with_what_the_token_may_use() {
    let h = start();
    let limited = whm("bob", &h.token("bob", "accounts", Some(&["list-accts"])));
    let full = whm("bob", &h.token("bob", "full", None));
    let ofrep = |auth: &str, path: &str| {
        let req = Request::post(path)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"context":{"targetingKey":"bob"}}"#))
            .unwrap();
        let r = h.send(req);
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        r.json()
    };
    let single = ofrep(&limited, "/ofrep/v1/evaluate/flags/manage-api-tokens");
    assert_eq!(single["value"], false, "{single}");
    let refused = h.api(&limited, "api_token_list", "");
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "the API agrees: {}",
        refused.body
    );
    let bulk = ofrep(&limited, "/ofrep/v1/evaluate/flags");
    let flag = |answer: &Value, key: &str| {
        answer["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {answer}"))["value"]
            .clone()
    };
    assert_eq!(flag(&bulk, "manage-api-tokens"), false);
    assert_eq!(flag(&bulk, "create-user-session"), false);
    // The same user's full credential is told what bob may use.
    let bulk = ofrep(&full, "/ofrep/v1/evaluate/flags");
    assert_eq!(flag(&bulk, "manage-api-tokens"), true);
    assert_eq!(flag(&bulk, "create-user-session"), true);
    let single = ofrep(&full, "/ofrep/v1/evaluate/flags/manage-api-tokens");
    assert_eq!(single["value"], true, "{single}");
}

/// `create_user_session` built its login link from the request's `Host` (or an absolute request target), so a
/// caller could have the server hand out links to another site. The link names this server.
#[test]
fn a_login_link_names_this_server_whatever_host_the_request_names() {
    let p = tests::TestPanel::open(&tests::Cast::standard());
    let root = p.as_("root");
    for host in ["evil.example", "evil.example:2087", "127.0.0.2"] {
        let req = axum::http::Request::get("/json-api/create_user_session?api.version=1&user=bob&service=whostmgrd")
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, root.authorization().unwrap())
            .body(Body::empty())
            .unwrap();
        let reply = p.send(req);
        let url = reply.json()["data"]["url"].as_str().unwrap_or_default().to_owned();
        assert!(url.starts_with("http://127.0.0.1:0/cpsess"), "Host {host}: {url}");
    }
    let req = axum::http::Request::get("/json-api/create_user_session?api.version=1&user=bob&service=whostmgrd")
        .header(header::HOST, "localhost:2086")
        .header(header::AUTHORIZATION, root.authorization().unwrap())
        .body(Body::empty())
        .unwrap();
    let url = p.send(req).json()["data"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(url.starts_with("http://localhost:2086/cpsess"), "{url}");
}

/// A reseller holding `all` overwrote a list root had saved granting `all` (and could save one granting it): root's
/// next `setacls acllist=` then applied the reseller's list. Root-level lists are root's alone.
#[test]
fn only_root_saves_or_replaces_a_list_granting_all() {
    let p = tests::TestPanel::open(&tests::Cast::standard());
    let root = p.as_("root");
    let carol = p.as_("carol");
    assert_eq!(root.api("saveacllist", "acllist=admins&acl-all=1").result(), 1);
    let saved = std::fs::read(p.state_dir().join("acllists/admins")).unwrap();
    for query in ["acllist=admins&acl-list-accts=1", "acllist=mine&acl-all=1"] {
        let r = carol.api("saveacllist", query);
        assert_eq!(r.result(), 0, "{query}: {}", r.body);
        assert!(r.reason().contains("Only root may save the ACL list"), "{}", r.reason());
    }
    assert_eq!(
        std::fs::read(p.state_dir().join("acllists/admins")).unwrap(),
        saved,
        "root's list is untouched"
    );
    assert!(!p.state_dir().join("acllists/mine").exists());
    // Lists without root-level access stay the resellers' to save.
    assert_eq!(carol.api("saveacllist", "acllist=support&acl-list-accts=1").result(), 1);
}
