//! The plugin as the panel drives it: the built library opened with the authors' kit (`plugin_abi::testing::load`),
//! its description read and its calls made across the C ABI, and the same handler in process (`testing::serve`).

use std::path::PathBuf;

use plugin_abi::UserKind;
use plugin_abi::testing::{self, TestHost};
use serde_json::{Value, json};
use server_info::{FEATURE_ID, PAGE, ServerInfo};

/// The library cargo built for this package.
fn library() -> PathBuf {
    plugin_abi::this_plugin_library!()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[test]
fn the_library_describes_server_information_with_both_api_0_forms() {
    let plugin = testing::load(library()).unwrap();
    assert_eq!(plugin.abi_version, plugin_abi::ABI_VERSION);
    let feature = &plugin.info.features[0];
    assert_eq!((feature.id.as_str(), feature.path.as_str()), (FEATURE_ID, PAGE));
    assert_eq!(feature.any_of_acls, ["status"]);
    assert_eq!(feature.api_functions, ["systemloadavg", "gethostname"]);
    assert_eq!(feature.api0_functions, ["systemloadavg", "gethostname"]);
}

#[test]
fn gethostname_and_systemloadavg_answer_whms_shapes() {
    let plugin = testing::load(library()).unwrap();
    let host = TestHost::default();
    let call = |function: &str| {
        let answer = plugin
            .call(&testing::request(FEATURE_ID).api(function).build(), &host)
            .unwrap();
        assert_eq!((answer.status, answer.content_type.as_str()), (200, "application/json"));
        json_of(&answer.body)
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        call("gethostname"),
        json!({"data": {"hostname": hostname.trim()}, "metadata": {"command": "gethostname", "reason": "OK", "result": 1, "version": 1}})
    );
    let load = call("systemloadavg");
    assert_eq!(load["metadata"]["result"], 1);
    for key in ["one", "five", "fifteen"] {
        assert!(load["data"][key].as_f64().is_some_and(|n| n >= 0.0), "{key}: {load}");
    }
    let unknown = plugin.call(&testing::request(FEATURE_ID).api("version").build(), &host);
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("does not answer the API function \"version\"")
    );
}

#[test]
fn the_page_is_html_and_its_script_gets_json_for_a_json_body() {
    let plugin = testing::load(library()).unwrap();
    let host = TestHost::default();
    let reseller = testing::user("bob", UserKind::RESELLER, false);
    let page = plugin
        .call(&testing::request(FEATURE_ID).page(PAGE).user(reseller).build(), &host)
        .unwrap();
    assert!(page.content_type.starts_with("text/html"));
    let html = page.body_text();
    assert!(
        html.contains("Server Information") && html.contains("id=\"loadavg\""),
        "{html}"
    );
    assert!(
        html.contains("/cpsess0123456789/json-api/systemloadavg"),
        "links carry the session prefix"
    );

    let asked = testing::request(FEATURE_ID)
        .page(PAGE)
        .json_body(&json!({"fields": ["hostname", "uptime"]}))
        .build();
    let answer = plugin.call(&asked, &host).unwrap();
    assert_eq!((answer.status, answer.content_type.as_str()), (200, "application/json"));
    let fields = json_of(&answer.body);
    assert!(fields["hostname"].is_string() && fields["uptime"].is_u64(), "{fields}");
    assert!(fields.get("loadavg").is_none());

    for (body, why) in [
        (&b"{"[..], "the body is not JSON"),
        (br#"{"fields": "hostname"}"#, "list of \\\"fields\\\""),
        (br#"{"fields": ["disk"]}"#, "unknown field \\\"disk\\\""),
    ] {
        let answer = plugin
            .call(
                &testing::request(FEATURE_ID).page(PAGE).post().body(body).build(),
                &host,
            )
            .unwrap();
        assert_eq!(answer.status, 400);
        assert!(answer.body_text().contains(why), "{}", answer.body_text());
    }
}

#[test]
fn in_process_the_same_handler_answers_through_the_same_glue() {
    let host = TestHost::default();
    let answer = testing::serve::<ServerInfo>(&testing::request(FEATURE_ID).api("gethostname").build(), &host).unwrap();
    assert_eq!(json_of(&answer.body)["metadata"]["command"], "gethostname");
    assert!(host.log_lines().is_empty());
}
