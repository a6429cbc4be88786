//! The gate through OpenFeature: the OFREP endpoints answered for a real OpenFeature client (the Python SDK with
//! its OFREP provider) against the panel on a loopback socket, and the protocol's error and caching rules.

use std::process::Command;

use serde_json::Value;
use tests::{Cast, TestPanel, request, wait_until};

/// The cast, with `emma`, an account of erin's (a reseller evaluates for its own accounts).
fn cast() -> Cast {
    Cast::standard().account("emma", "erin")
}

/// What the OpenFeature Python SDK resolves through `OFREPProvider`, as JSON.
const CLIENT: &str = r#"
import json, sys
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider

base, auth = sys.argv[1], sys.argv[2]
api.set_provider(OFREPProvider(base_url=base, headers_factory=lambda: {"Authorization": auth}))
client = api.get_client()

def details(flag, ctx):
    d = client.get_boolean_details(flag, False, ctx)
    code = d.error_code
    return {
        "value": d.value,
        "reason": getattr(d.reason, "value", d.reason),
        "variant": d.variant,
        "metadata": dict(d.flag_metadata or {}),
        "error": getattr(code, "value", code),
    }

print(json.dumps({
    "bob": details("remote-access-key", EvaluationContext(targeting_key="bob")),
    "erin": details("remote-access-key", EvaluationContext(targeting_key="erin")),
    "missing": details("no-such-feature", EvaluationContext(targeting_key="bob")),
    "no_key": details("remote-access-key", EvaluationContext()),
}))
"#;

#[test]
fn an_openfeature_client_reads_the_gate() {
    let p = TestPanel::serve(&cast());
    let root = p.as_named("root", "ofrep").authorization().unwrap().to_owned();
    let script = p.dir.path().join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    // scripts/test installs the client in a virtual environment of its own and names its Python here.
    let python = std::env::var("TWEAKGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(&script)
        .arg(format!("http://{}", p.addr()))
        .arg(&root)
        .output()
        .expect("python3 runs (install openfeature-sdk and openfeature-provider-ofrep; .ci/run does)");
    assert!(
        out.status.success(),
        "the OpenFeature client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bob"]["value"], true, "{v}");
    assert_eq!(v["bob"]["variant"], "visible");
    assert_eq!(v["bob"]["reason"], "TARGETING_MATCH");
    assert_eq!(
        v["bob"]["metadata"]["deprecatedSince"], 64,
        "the plugin's deprecation travels too"
    );
    assert_eq!(v["erin"]["value"], false);
    assert_eq!(v["erin"]["variant"], "hidden");
    assert_eq!(v["erin"]["metadata"]["reasons"], "PRIVILEGE_MISSING", "{v}");
    assert_eq!(v["missing"]["error"], "FLAG_NOT_FOUND", "{v}");
    assert_eq!(v["missing"]["value"], false, "the client's default");
    assert_eq!(v["no_key"]["error"], "TARGETING_KEY_MISSING", "{v}");

    // With the setting off the feature is off for everyone: DISABLED.
    p.rewrite_config(&p.config_text().replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    ));
    let single = |auth: &str, flag: &str, body: &str| {
        request(
            p.addr(),
            "POST",
            &format!("/ofrep/v1/evaluate/flags/{flag}"),
            &[("Authorization", auth), ("Content-Type", "application/json")],
            body,
        )
    };
    let off = wait_until(std::time::Duration::from_secs(5), || {
        single(&root, "remote-access-key", r#"{"context":{"targetingKey":"bob"}}"#).json()["reason"] == "DISABLED"
    });
    assert!(off.is_some(), "a live reload reaches OFREP answers");
}

#[test]
fn ofrep_errors_permissions_and_etags() {
    let p = TestPanel::serve(&cast());
    let root = p.as_("root").authorization().unwrap().to_owned();
    let erin = p.as_("erin").authorization().unwrap().to_owned();
    let limited = p
        .as_("root")
        .narrowed(&["list-accts"])
        .authorization()
        .unwrap()
        .to_owned();
    let post = |path: &str, auth: Option<&str>, body: &str, extra: &[(&str, &str)]| {
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        headers.extend_from_slice(extra);
        request(p.addr(), "POST", path, &headers, body)
    };
    let one = "/ofrep/v1/evaluate/flags/remote-access-key";
    /// Path, credential, body, expected status and OFREP error code.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, u16, Option<&'a str>);
    let cases: &[Case] = &[
        (one, None, r#"{"context":{"targetingKey":"bob"}}"#, 401, None),
        (
            one,
            Some("WHM root:wrong"),
            r#"{"context":{"targetingKey":"bob"}}"#,
            401,
            None,
        ),
        (one, Some(&root), "not json", 400, Some("PARSE_ERROR")),
        (
            one,
            Some(&root),
            r#"{"context":{}}"#,
            400,
            Some("TARGETING_KEY_MISSING"),
        ),
        (
            one,
            Some(&root),
            r#"{"context":{"targetingKey":7}}"#,
            400,
            Some("INVALID_CONTEXT"),
        ),
        (one, Some(&root), r#"{"context":"bob"}"#, 400, Some("INVALID_CONTEXT")),
        (
            "/ofrep/v1/evaluate/flags/nope",
            Some(&root),
            r#"{"context":{"targetingKey":"bob"}}"#,
            404,
            Some("FLAG_NOT_FOUND"),
        ),
        // A reseller evaluates for itself and its own accounts, not for root or other resellers.
        (one, Some(&erin), r#"{"context":{"targetingKey":"erin"}}"#, 200, None),
        (one, Some(&erin), r#"{"context":{"targetingKey":"emma"}}"#, 200, None),
        (
            one,
            Some(&erin),
            r#"{"context":{"targetingKey":"root"}}"#,
            403,
            Some("GENERAL"),
        ),
        (
            one,
            Some(&erin),
            r#"{"context":{"targetingKey":"bob"}}"#,
            403,
            Some("GENERAL"),
        ),
        // A root token limited to an unrelated privilege reads its own user's flags, not everyone's.
        (one, Some(&limited), r#"{"context":{"targetingKey":"root"}}"#, 200, None),
        (
            one,
            Some(&limited),
            r#"{"context":{"targetingKey":"bob"}}"#,
            403,
            Some("GENERAL"),
        ),
    ];
    for (path, auth, body, status, code) in cases {
        let r = post(path, *auth, body, &[]);
        assert_eq!(r.status, *status, "{path} {auth:?} {body}: {}", r.body);
        if let Some(code) = code {
            assert_eq!(r.json()["errorCode"], *code, "{body}");
            assert!(r.json()["errorDetails"].is_string());
        }
    }

    let bulk = post(
        "/ofrep/v1/evaluate/flags",
        Some(&root),
        r#"{"context":{"targetingKey":"bob"}}"#,
        &[],
    );
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    let flags = bulk.json()["flags"].as_array().unwrap().clone();
    let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
    for id in p.feature_ids() {
        assert!(
            keys.contains(&id.as_str()),
            "every gate feature is a flag: {id} in {keys:?}"
        );
    }
    let etag = bulk.header("etag").expect("bulk answers carry an ETag").to_owned();
    let again = post(
        "/ofrep/v1/evaluate/flags",
        Some(&root),
        r#"{"context":{"targetingKey":"bob"}}"#,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    let other = post(
        "/ofrep/v1/evaluate/flags",
        Some(&root),
        r#"{"context":{"targetingKey":"erin"}}"#,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(
        other.status, 200,
        "another user's flags differ, so the tag does not match"
    );
}

/// A bulk evaluation with a 1 MB `targetingKey` answered 9 MB (the key echoed per flag): the key is capped.
#[test]
fn a_huge_targeting_key_is_refused_with_a_short_answer() {
    let p = TestPanel::open(&Cast::standard());
    let key = "b".repeat(1_000_000);
    let reply = p.as_("root").post_as(
        "/ofrep/v1/evaluate/flags",
        "application/json",
        &format!(r#"{{"context":{{"targetingKey":"{key}"}}}}"#),
    );
    assert_eq!(reply.status, 400, "{}", &reply.body[..reply.body.len().min(300)]);
    assert!(reply.body.len() < 1024, "the answer is {} bytes", reply.body.len());
    assert!(reply.body.contains("at most 64 bytes"), "{}", reply.body);
}
