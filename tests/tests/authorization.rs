//! A credential never yields more than it holds: the escalations found against the panel, each sent as the request
//! that exploited it, and a walk of every operation and page with a token limited to one unrelated privilege.
//!
//! Every test drives the cast's panel in process (`TestPanel::open`), with the real Remote Access Key and API Shell
//! plugins loaded from disk.

use serde_json::Value;
use settings::{Acl, AclSet};
use tests::{Cast, Client, TestPanel};

/// The cast with the Remote Access Key and API Shell plugins (not the `hello` fixture, whose function and page need
/// nothing), the API Shell off (its own test turns it on).
fn cast() -> Cast {
    Cast::standard()
        .without_plugins()
        .plugin("remote-access-key", "")
        .plugin("api-shell", "")
        .setting("api_shell", "false")
}

fn start() -> TestPanel {
    TestPanel::open(&cast())
}

/// The form nonce a page carries.
fn form_nonce(page: &str) -> String {
    page.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page's form carries a nonce")
        .to_owned()
}

/// A login link's session: `create_user_session`'s answer redeemed.
fn redeem<'a>(p: &'a TestPanel, made: &tests::Reply) -> Client<'a> {
    p.redeem(made.json()["data"]["url"].as_str().expect("a login link"))
}

/// Escalation 1: a token limited to `manage-api-tokens` made a full-access token, which changed Tweak Settings.
#[test]
fn a_token_creates_no_token_beyond_itself() {
    let p = start();
    let limited = p.as_("root").narrowed(&["manage-api-tokens"]);

    let made = limited.api("api_token_create", "token_name=x");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(
        made.json()["data"]["acls"],
        serde_json::json!(["manage-api-tokens"]),
        "no list means exactly the creator's effective set"
    );
    let x = made.json()["data"]["token"].as_str().unwrap().to_owned();
    let set = p
        .presenting(&format!("whm root:{x}"))
        .api("set_tweaksetting", "key=allow_deprecated_accesshash&value=0");
    assert_eq!(set.status, 403, "{}", set.body);
    assert!(p.is_on("allow_deprecated_accesshash"), "the setting did not change");

    let beyond = limited.api("api_token_create", "token_name=y&acl=all");
    assert_eq!(beyond.result(), 0);
    assert_eq!(
        beyond.reason(),
        "You cannot grant the \"all\" privilege because you do not have it."
    );
    let beyond = limited.api(
        "api_token_create",
        "token_name=z&acl-0=manage-api-tokens&acl-1=edit-ftp",
    );
    assert_eq!(beyond.result(), 0, "{}", beyond.body);
    let names = p.token_names("root");
    // `as_("root")` made one full-access token before it was narrowed: it, the limited token and x.
    assert_eq!(names.len(), 3, "only the limited token and x are new: {names:?}");
    assert!(!names.iter().any(|n| n == "y" || n == "z"), "{names:?}");

    // A full-access credential still makes full-access tokens.
    let full = p.as_("root").with_key();
    let made = full.api("api_token_create", "token_name=full");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(made.json()["data"]["acls"], Value::Null);
}

/// Escalation 2: the same limited token read root's access key, a full-access credential. The Remote Access Key
/// requires a full-access credential, so the gate hides it from the token (and the plugin still refuses).
#[test]
fn a_limited_token_reads_and_generates_no_key() {
    let p = start();
    let root = p.as_("root").with_key();
    let root_key = root.secret().to_owned();
    let limited = p.as_("root").narrowed(&["manage-api-tokens"]);
    for query in ["", "user=root", "user=bob", "generate=1", "user=bob&generate=1"] {
        let r = limited.api("accesshash", query);
        assert_eq!(r.result(), 0, "accesshash {query}: {}", r.body);
        assert_eq!(r.status, 403, "accesshash {query}: {}", r.body);
        assert!(
            r.body.contains("FULL_ACCESS_REQUIRED"),
            "accesshash {query}: {}",
            r.body
        );
        assert!(!r.body.contains(&root_key), "the key never leaks");
    }
    let still = p.key_on_disk("root").expect("root's key");
    assert_eq!(still, root_key, "root's key was not replaced");
    // A reseller holding `all` reads no one else's key: root's would make it root.
    let carol = p.as_("carol").with_key();
    for query in ["user=root", "user=bob", "user=root&generate=1"] {
        let r = carol.api("accesshash", query);
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
    let r = root.api("accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], root_key.as_str());
}

/// Escalation 3: a token limited to `create-user-session` opened a root session with every privilege.
#[test]
fn a_session_carries_no_more_than_the_token_that_opened_it() {
    let p = start();
    let limited = p.as_("root").narrowed(&["create-user-session"]);
    let made = limited.api("create_user_session", "user=root&service=whostmgrd");
    assert_eq!(made.result(), 1, "{}", made.body);
    let session = redeem(&p, &made);

    let set = session.api("set_tweaksetting", "key=allow_deprecated_accesshash&value=0");
    assert_eq!(set.status, 403, "{}", set.body);
    let held = |session: &Client<'_>| {
        let privs = session.api("myprivs", "").json();
        privs["data"]["privileges"][0]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| **v == 1)
            .map(|(k, _)| k.clone())
            .collect::<Vec<String>>()
    };
    assert_eq!(held(&session), ["create-user-session"]);
    let page = session.page("/tweak-settings");
    assert_eq!(page.status, 403);
    // The limit lives as long as the session: it survives the panel being opened again from disk.
    let again = p.reopened();
    assert_eq!(held(&session.on(&again)), ["create-user-session"]);
    assert_eq!(session.on(&again).page("/tweak-settings").status, 403);
}

/// Escalation 4: a reseller holding `all` opened a root session, granted `all` to others, and the audit log named
/// root as the actor.
#[test]
fn only_root_opens_a_session_as_root_and_the_audit_names_the_real_actor() {
    let p = start();
    let carol = p.as_("carol").with_key();
    let r = carol.api("create_user_session", "user=root&service=whostmgrd");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(r.reason(), panel::whm::ops::sessions::ONLY_ROOT_AS_ROOT);
    let r = carol.api("create_user_session", "user=bob&service=whostmgrd");
    assert_eq!(r.result(), 0);
    assert_eq!(r.reason(), panel::whm::ops::sessions::NOT_FOR_OTHERS);

    // Root opens a session for bob with an API token; what happens in it names root and the token.
    let root_token = p.as_("root").named("ops");
    let made = root_token.api("create_user_session", "user=bob&service=whostmgrd");
    assert_eq!(made.result(), 1, "{}", made.body);
    let created = redeem(&p, &made).api("api_token_create", "token_name=made_in_session");
    assert_eq!(created.result(), 1, "{}", created.body);

    let opened = p.audit_events("session_created");
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["actor"], "root");
    assert_eq!(opened[0]["auth"], "API token \"ops\"");
    assert_eq!(opened[0]["session_user"], "bob");
    let redeemed = p.audit_events("session_redeemed");
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0]["user"], "bob");
    assert_eq!(redeemed[0]["actor"], "root");
    let token = p
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
    let p = start();
    let limited = p.as_("root").narrowed(&["add-pkg"]);
    let tokens_before = p.token_names("root");
    let mut functions: Vec<(String, String)> = panel::whm::OPERATIONS
        .iter()
        .map(|o| (o.name.to_owned(), o.feature.to_owned()))
        .collect();
    functions.extend(p.plugin_function_features());
    assert!(
        functions.iter().any(|(f, _)| f == "accesshash"),
        "the plugin's function is walked too"
    );
    for (function, feature) in &functions {
        let r = limited.api(
            function,
            "user=root&key=allow_deprecated_accesshash&value=0&reseller=bob&token_name=t",
        );
        if feature == panel::features::WHM {
            assert_eq!(r.status, 200, "{function} is open to every WHM user");
            continue;
        }
        assert_eq!(r.status, 403, "{function}: {}", r.body);
        assert_eq!(r.result(), 0, "{function}");
        assert!(r.json()["metadata"]["reasons"].is_array(), "{function} says why");
    }
    let apps = limited.api("applist", "");
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
    assert_eq!(p.token_names("root"), tokens_before, "no token was made");
}

/// Every page of the menu, for a session limited to one unrelated privilege: each refuses, on GET and on a POST
/// that carries a valid form nonce, and the Home menu is empty.
#[test]
fn every_page_refuses_a_session_limited_to_an_unrelated_privilege() {
    let p = start();
    let session = p.as_("root").in_limited_session(&["add-pkg"]);
    let tokens_before = p.token_names("root");
    let pages = p.menu_pages();
    assert!(pages.len() >= 5, "{pages:?}");
    for page in &pages {
        let get = session.page(page);
        assert_eq!(get.status, 403, "GET {page}: {}", get.body);
        assert!(get.body.contains("id=\"reasons\""), "GET {page} says why");
        let nonce = session.nonce();
        let post = session.post(
            page,
            &format!("csrf_token={nonce}&generate=1&set-allow_deprecated_accesshash=0&action=create&token_name=t&reseller=bob&acl-all=1"),
        );
        assert!(
            [403, 405].contains(&post.status),
            "POST {page}: {} {}",
            post.status,
            post.body
        );
    }
    let home = session.page("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"empty-menu\""), "{}", home.body);
    assert!(p.is_on("allow_deprecated_accesshash"));
    assert_eq!(p.token_names("root"), tokens_before, "no token was made");
}

/// The nonce is an input of the page: `{{csrf_token}}` typed into a reflected parameter stays text.
#[test]
fn a_reflected_placeholder_is_not_expanded() {
    let p = start();
    let root = p.as_("root").in_session();
    let page = root.page("/tweak-settings?find=%7B%7Bcsrf_token%7D%7D");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("value=\"{{csrf_token}}\""),
        "the search box shows what was typed"
    );
    let page = root.page("/remote-access-key?user=%7B%7Bcsrf_token%7D%7D");
    assert!(
        !page.body.contains("{{"),
        "nothing is substituted, and the plugin does not echo it either"
    );
    // A POST with the nonce the plugin's page carried is accepted once.
    let nonce = form_nonce(&root.page("/remote-access-key").body);
    let post = root.post(
        "/remote-access-key",
        &format!("csrf_token={nonce}&generate=1&user=root"),
    );
    assert_eq!(post.status, 200, "{}", post.body);
    let replay = root.post(
        "/remote-access-key",
        &format!("csrf_token={nonce}&generate=1&user=root"),
    );
    assert_eq!(replay.status, 403, "a nonce works once");
}

/// Logins are audited with how the user proved who they are.
#[test]
fn a_password_login_is_audited() {
    let p = TestPanel::open(&cast().root_password("a long password"));
    let form = p.anonymous().get("/login/");
    let cookie = form.header("set-cookie").expect("the form's cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let nonce = form_nonce(&form.body);
    let r = p
        .anonymous()
        .header("cookie", &cookie)
        .post("/login/", &format!("csrf_token={nonce}&user=root&pass=a+long+password"));
    assert_eq!(r.status, 303, "{}", r.body);
    let logins = p.audit_events("login");
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0]["user"], "root");
    assert_eq!(logins[0]["auth"], "password");
    assert!(
        !std::fs::read_to_string(p.state_dir().join("audit.log"))
            .unwrap()
            .contains("a long password")
    );
}

/// The API Shell plugin calls the panel's operations through the host, as the session's user and within its
/// privileges: it shows only while `api_shell` is on, and it cannot be used to climb.
#[test]
fn the_api_shell_calls_within_the_sessions_privileges() {
    let p = start();
    let root = p.as_("root").in_session();
    let off = root.page("/api-shell");
    assert_eq!(off.status, 403, "hidden while api_shell is Off");
    assert!(off.body.contains("SETTING_DISABLED"), "{}", off.body);

    std::fs::write(
        p.config_path(),
        p.config_text().replace("api_shell = false", "api_shell = true"),
    )
    .unwrap();
    p.confirm_reload().unwrap();
    let page = root.page("/api-shell");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<option value=\"set_tweaksetting\""),
        "root's applist: {}",
        page.body
    );
    let call = |session: &Client<'_>, body: &str| {
        let nonce = form_nonce(&session.page("/api-shell").body);
        session.post("/api-shell", &format!("csrf_token={nonce}&{body}"))
    };
    let set = call(
        &root,
        "function=set_tweaksetting&params=key%3Dallow_deprecated_accesshash%0Avalue%3D0",
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(set.body.contains("&quot;result&quot;: 1"), "{}", set.body);
    assert!(!p.is_on("allow_deprecated_accesshash"));

    // Carol holds `all` but is not root: through the shell she still cannot open a root session, and the shell
    // reaches no plugin's function.
    let carol = p.as_("carol").in_session();
    let r = call(
        &carol,
        "function=create_user_session&params=user%3Droot%0Aservice%3Dwhostmgrd",
    );
    assert!(
        r.body.contains(panel::whm::ops::sessions::ONLY_ROOT_AS_ROOT),
        "{}",
        r.body
    );
    let r = call(&carol, "function=accesshash&params=user%3Droot");
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
    let p = start();
    let secret = p.login_secret("dave");
    let r = p.anonymous().get(&format!("/cpsess0123456789/login/?session={secret}"));
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .all(|(_, c)| !c.contains("whostmgrsession="))
    );
}

/// Escalation: `full_access` was "the token's list covers the user's current ACLs", so bob's token
/// listing exactly bob's three ACLs read bob's key and minted an unlimited child token, which later grants then
/// reached. A token with a list is never full access unless the list holds `all`, whatever the user holds now; a
/// token it makes carries at most its list. Checked again after bob is narrowed, widened, and set back.
#[test]
fn a_token_listing_exactly_the_users_acls_is_not_full_access() {
    let p = start();
    let bob = p.as_("bob").with_key();
    let bobs_key = bob.secret().to_owned();
    let root = p.as_("root").with_key();
    let bobs_acls = ["manage-api-tokens", "list-accts", "create-user-session"];
    let listed = p.as_("bob").narrowed(&bobs_acls);
    let setacls = |acls: &[&str]| {
        let query: Vec<String> = acls.iter().map(|a| format!("acl-{a}=1")).collect();
        let r = root.api("setacls", &format!("reseller=bob&{}", query.join("&")));
        assert_eq!(r.result(), 1, "setacls {acls:?}: {}", r.body);
    };
    // In catalogue order, as `api_token_create` lists them.
    let sorted = |acls: &[&str]| {
        let set = AclSet::from_acls(acls.iter().map(|a| Acl::from_name(a).unwrap()));
        Value::Array(set.iter().map(|a| Value::from(a.name())).collect())
    };
    let no_key_no_unlimited_child = |stage: &str, n: usize| {
        for query in ["", "user=bob", "generate=1", "user=bob&generate=1"] {
            let r = listed.api("accesshash", query);
            assert_eq!(r.result(), 0, "{stage}: accesshash {query}: {}", r.body);
            // The Remote Access Key requires a full-access credential: the gate hides it from a listed token.
            assert_eq!(r.status, 403, "{stage}: accesshash {query}: {}", r.body);
            assert!(
                r.body.contains("FULL_ACCESS_REQUIRED"),
                "{stage}: accesshash {query}: {}",
                r.body
            );
            assert!(!r.body.contains(&bobs_key), "{stage}: bob's key never leaks");
        }
        let made = listed.api("api_token_create", &format!("token_name=child{n}"));
        assert_eq!(made.result(), 1, "{stage}: {}", made.body);
        assert_ne!(
            made.json()["data"]["acls"],
            Value::Null,
            "{stage}: the child is not unlimited"
        );
        let child = p.presenting(&format!("whm bob:{}", made.json()["data"]["token"].as_str().unwrap()));
        let r = child.api("accesshash", "");
        assert_eq!(r.result(), 0, "{stage}: the child reads no key either: {}", r.body);
        made.json()["data"]["acls"].clone()
    };

    let first = no_key_no_unlimited_child("exact", 0);
    assert_eq!(first, sorted(&bobs_acls), "the child carries at most the list");
    let list = bob.api("api_token_list", "");
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
    let beyond = listed.api("api_token_create", "token_name=beyond&acl=create-acct");
    assert_eq!(beyond.result(), 0, "{}", beyond.body);
    let beyond = listed.api("api_token_create", "token_name=beyond&acl=all");
    assert_eq!(beyond.result(), 0, "{}", beyond.body);

    // Set back to exactly the list: still not full access.
    setacls(&bobs_acls);
    no_key_no_unlimited_child("set back", 3);

    // A token without a list, and bob's own key, are full access.
    let full = p.as_("bob");
    let r = full.api("accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], bobs_key.as_str());
    let made = full.api("api_token_create", "token_name=unlimited");
    assert_eq!(made.result(), 1, "{}", made.body);
    assert_eq!(made.json()["data"]["acls"], Value::Null);
    // A list holding `all` is full access for a user who holds `all`.
    let carols_key = p.as_("carol").with_key().secret().to_owned();
    let carols = p.as_("carol").narrowed(&["all"]);
    let r = carols.api("accesshash", "");
    assert_eq!(r.result(), 1, "{}", r.body);
    assert_eq!(r.json()["data"]["accesshash"], carols_key.as_str());
}

/// `saveacllist` took names with a newline, a trailing space, a leading dash, and a leading dot
/// (which `listacls` then hid); `setacls acllist=` followed a symbolic link and quoted a line of its target in the
/// error. One name rule, said in the error; a saved list is read only as a regular file, and no error quotes it.
#[test]
fn acl_list_names_follow_one_rule_and_setacls_follows_no_link() {
    let p = start();
    let root = p.as_("root").with_key();
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
        let r = root.api("saveacllist", &format!("acllist={name}&acl-list-accts=1"));
        assert_eq!(r.result(), 0, "{name}: {}", r.body);
        assert!(
            r.reason().ends_with(settings::native::ACL_LIST_NAME_RULE),
            "{name}: the rule is said: {}",
            r.reason()
        );
    }
    let dir = p.state_dir().join("acllists");
    let saved: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(saved.is_empty(), "nothing was saved: {saved:?}");
    let r = root.api("saveacllist", "acllist=billing&acl-list-accts=1");
    assert_eq!(r.result(), 1, "{}", r.body);
    let listed = root.api("listacls", "");
    assert_eq!(listed.json()["data"]["acl"][0]["name"], "billing", "{}", listed.body);

    // A link in the list directory to a file that is not a list.
    let secret = p.dir.path().join("secret.txt");
    std::fs::write(&secret, "the first line of a private file\n").unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("link")).unwrap();
    let before = p.privileges("bob");
    let r = root.api("setacls", "reseller=bob&acllist=link");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(r.reason(), "The ACL list \"link\" is a symbolic link.");
    assert!(!r.body.contains("private file"), "{}", r.body);
    // A regular file that is not a list is named by its line, never quoted.
    std::fs::write(dir.join("notalist"), "list-accts=1\nthe first line of a private file\n").unwrap();
    let r = root.api("setacls", "reseller=bob&acllist=notalist");
    assert_eq!(r.result(), 0, "{}", r.body);
    assert_eq!(
        r.reason(),
        "The ACL list \"notalist\" is not a saved list: line 2 is not \"acl=1\" or \"acl=0\"."
    );
    assert!(!r.body.contains("private file"), "{}", r.body);
    let after = p.privileges("bob");
    assert_eq!(before, after, "bob's privileges did not change");
}

/// OFREP answered a token limited to `list-accts` with its user's whole set: it was told
/// `manage-api-tokens` is visible, then refused by the API. Evaluating for the caller uses the caller's effective set.
#[test]
fn ofrep_for_a_limited_token_answers_with_what_the_token_may_use() {
    let p = start();
    let full = p.as_("bob");
    let limited = full.narrowed(&["list-accts"]);
    let ofrep = |client: &Client<'_>, path: &str| {
        let r = client.post_as(path, "application/json", r#"{"context":{"targetingKey":"bob"}}"#);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    };
    let single = ofrep(&limited, "/ofrep/v1/evaluate/flags/manage-api-tokens");
    assert_eq!(single["value"], false, "{single}");
    let refused = limited.api("api_token_list", "");
    assert_eq!(refused.status, 403, "the API agrees: {}", refused.body);
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
    let p = TestPanel::open(&Cast::standard());
    let root = p.as_("root");
    let url = |host: &str| {
        root.header("host", host)
            .api("create_user_session", "user=bob&service=whostmgrd")
            .json()["data"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for host in ["evil.example", "evil.example:2087", "127.0.0.2"] {
        let url = url(host);
        assert!(url.starts_with("http://127.0.0.1:0/cpsess"), "Host {host}: {url}");
    }
    let url = url("localhost:2086");
    assert!(url.starts_with("http://localhost:2086/cpsess"), "{url}");
}

/// A reseller holding `all` overwrote a list root had saved granting `all` (and could save one granting it): root's
/// next `setacls acllist=` then applied the reseller's list. Root-level lists are root's alone.
#[test]
fn only_root_saves_or_replaces_a_list_granting_all() {
    let p = TestPanel::open(&Cast::standard());
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
