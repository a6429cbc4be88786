//! What the OFREP answers are made of, now that they are written from the snapshot rather than built as a JSON tree
//! and hashed: the bulk `ETag` follows the configuration in force and the credential's effective set (never a stale
//! 304), a targeting key is read whether or not it holds escapes, and a bulk answer carries codes, a single flag its
//! sentences.

use axum::body::Body;
use axum::http::{Request, header};
use tests::{Cast, Client, Reply, TestPanel};

const BULK: &str = "/ofrep/v1/evaluate/flags";

/// A bulk evaluation for `user` by `client`, with `If-None-Match` when given.
fn bulk(p: &TestPanel, client: &Client<'_>, user: &str, if_none_match: Option<&str>) -> Reply {
    let mut req = Request::post(BULK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::AUTHORIZATION,
            client.authorization().expect("a header credential"),
        );
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    p.send(
        req.body(Body::from(format!(r#"{{"context":{{"targetingKey":"{user}"}}}}"#)))
            .expect("a request"),
    )
}

fn flag(reply: &Reply, key: &str) -> serde_json::Value {
    reply.json()["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {}", reply.body))
        .clone()
}

/// Once the configuration changes, a tag from before never matches again: a poller that sends it gets the new
/// flags, not a 304 that would keep the old ones. The same tag with the same snapshot still answers 304.
#[test]
fn the_bulk_etag_changes_with_the_configuration_in_force() {
    let p = TestPanel::open(&Cast::standard());
    let root = p.as_("root");
    let first = bulk(&p, &root, "bob", None);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(flag(&first, "remote-access-key")["value"], true);
    let tag = first.header("etag").expect("an ETag").to_owned();
    let again = bulk(&p, &root, "bob", Some(&tag));
    assert_eq!(again.status, 304, "{}", again.body);
    assert!(again.body.is_empty(), "a 304 has no body");
    assert_eq!(again.header("etag"), Some(tag.as_str()));

    let text = p.config_text().replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    );
    std::fs::write(p.config_path(), text).expect("writing the config");
    p.confirm_reload().expect("the new config loads");
    let after = bulk(&p, &root, "bob", Some(&tag));
    assert_eq!(after.status, 200, "the old tag no longer matches: {}", after.body);
    assert_eq!(flag(&after, "remote-access-key")["value"], false, "{}", after.body);
    assert_ne!(after.header("etag"), Some(tag.as_str()));
}

/// A token limited to some of bob's privileges is told less than bob's full credential, so the two answers have
/// different tags: the limited token sending the full one's tag is answered in full, with what it may use.
#[test]
fn the_bulk_etag_follows_the_credentials_effective_set() {
    let p = TestPanel::open(&Cast::standard());
    let full = p.as_("bob");
    let limited = full.narrowed(&["list-accts"]);
    let full_answer = bulk(&p, &full, "bob", None);
    assert_eq!(flag(&full_answer, "manage-api-tokens")["value"], true);
    let full_tag = full_answer.header("etag").expect("an ETag").to_owned();
    let limited_answer = bulk(&p, &limited, "bob", Some(&full_tag));
    assert_eq!(limited_answer.status, 200, "{}", limited_answer.body);
    assert_eq!(flag(&limited_answer, "manage-api-tokens")["value"], false);
    assert_ne!(limited_answer.header("etag"), Some(full_tag.as_str()));
    // Another user's flags, asked by root, have a tag of their own too.
    let root = p.as_("root");
    let for_erin = bulk(&p, &root, "erin", None);
    let for_bob = bulk(&p, &root, "bob", None);
    assert_ne!(for_erin.header("etag"), for_bob.header("etag"));
    assert_eq!(bulk(&p, &root, "erin", for_erin.header("etag")).status, 304);
}

/// A targeting key written with JSON escapes names the same user as the plain one; a key in any other type is an
/// invalid context, and extra members of the context and of the body are ignored.
#[test]
fn a_targeting_key_with_escapes_is_the_same_user() {
    let p = TestPanel::open(&Cast::standard());
    let root = p.as_("root");
    let one = "/ofrep/v1/evaluate/flags/remote-access-key";
    let cases: &[(&str, u16, Option<&str>)] = &[
        (r#"{"context":{"targetingKey":"b\u006fb"}}"#, 200, None),
        (
            r#"{"flagKey":1,"context":{"plan":[1,{"a":null}],"targetingKey":"bob","x":{}}}"#,
            200,
            None,
        ),
        (r#"{"context":{"targetingKey":["bob"]}}"#, 400, Some("INVALID_CONTEXT")),
        (
            r#"{"context":{"targetingKey":{"bob":1}}}"#,
            400,
            Some("INVALID_CONTEXT"),
        ),
        (r#"{"context":{"targetingKey":true}}"#, 400, Some("INVALID_CONTEXT")),
        (r#"{"context":{"targetingKey":""}}"#, 400, Some("INVALID_CONTEXT")),
        (
            r#"{"context":{"targetingKey":null}}"#,
            400,
            Some("TARGETING_KEY_MISSING"),
        ),
        (r#"{"context":null}"#, 400, Some("TARGETING_KEY_MISSING")),
        (r#"{"context":[]}"#, 400, Some("INVALID_CONTEXT")),
        (r#"{"context":{"targetingKey":"bob"}"#, 400, Some("PARSE_ERROR")),
    ];
    for (body, status, code) in cases {
        let r = root.post_as(one, "application/json", body);
        assert_eq!(r.status, *status, "{body}: {}", r.body);
        match code {
            Some(code) => assert_eq!(r.json()["errorCode"], *code, "{body}: {}", r.body),
            None => assert_eq!(r.json()["value"], true, "{body}: {}", r.body),
        }
    }
    // A decoded key that is no user's name is an unknown user, escaped in the sentence that says so.
    let r = root.post_as(one, "application/json", r#"{"context":{"targetingKey":"b\u0000b"}}"#);
    assert_eq!(r.json()["metadata"]["reasons"], "UNKNOWN_USER", "{}", r.body);
    assert!(!r.body.contains('\0'), "{}", r.body);
    // An escaped key far past the cap is refused with a short answer, like a plain one.
    let long = format!(r#"{{"context":{{"targetingKey":"{}"}}}}"#, "\\u0062".repeat(100_000));
    let r = root.post_as(one, "application/json", &long);
    assert_eq!(r.status, 400, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.len() < 1024, "the answer is {} bytes", r.body.len());
}

/// A bulk answer carries each hidden flag's reason codes and no sentences (a poller reads codes); asking for the one
/// flag gives its title and the explanation in sentences. A visible flag carries no reasons at all.
#[test]
fn a_bulk_answer_carries_codes_and_a_single_flag_explains() {
    let p = TestPanel::open(&Cast::standard());
    let root = p.as_("root");
    let all = bulk(&p, &root, "erin", None);
    let hidden = flag(&all, "remote-access-key");
    assert_eq!(hidden["value"], false);
    assert_eq!(hidden["metadata"]["reasons"], "PRIVILEGE_MISSING", "{hidden}");
    assert!(hidden["metadata"].get("explanation").is_none(), "{hidden}");
    assert_eq!(hidden["metadata"]["deprecatedSince"], 64, "{hidden}");
    let visible = flag(&bulk(&p, &root, "bob", None), "remote-access-key");
    assert_eq!(visible["value"], true);
    assert!(visible["metadata"].get("reasons").is_none(), "{visible}");

    let one = root.post_as(
        "/ofrep/v1/evaluate/flags/remote-access-key",
        "application/json",
        r#"{"context":{"targetingKey":"erin"}}"#,
    );
    let one = one.json();
    assert_eq!(one["metadata"]["reasons"], "PRIVILEGE_MISSING", "{one}");
    assert_eq!(one["metadata"]["title"], "Remote Access Key", "{one}");
    let explanation = one["metadata"]["explanation"].as_str().expect("an explanation");
    assert!(
        explanation.contains("erin") && explanation.contains("manage-api-tokens"),
        "{explanation}"
    );
    assert_eq!(one["reason"], "TARGETING_MATCH");
}
