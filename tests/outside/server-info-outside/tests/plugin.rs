//! The plugin as the panel drives it, through the kit's `load`.

use plugin_abi::testing::{self, TestHost};

#[test]
fn it_answers_its_function_and_its_page() {
    let plugin = testing::load(plugin_abi::this_plugin_library!()).unwrap();
    assert_eq!(plugin.info.features[0].api0_functions, ["example_uptime"]);
    let host = TestHost::default();

    let answer = plugin
        .call(&testing::request("example-uptime").api("example_uptime").build(), &host)
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["metadata"]["result"], 1);
    assert!(json["data"]["seconds"].is_u64());

    let page = plugin
        .call(&testing::request("example-uptime").page("/example-uptime").build(), &host)
        .unwrap();
    assert!(page.body_text().contains("Server Uptime"));
    assert_eq!(host.log_lines(), ["showing the uptime"]);
}
