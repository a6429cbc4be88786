//! `/metrics` as Prometheus scrapes it: requests by route and status, failures by cause, gate decisions, the
//! configuration's generation; served to the addresses the config allows and to root's credentials, refused to others.

use tests::{Cast, TestPanel};

#[test]
fn metrics_count_requests_failures_and_decisions() {
    let p = TestPanel::open(&Cast::standard().server("metrics_allow = [\"192.0.2.7\"]"));
    let erin = p.as_("erin");
    let root = p.as_("root");
    let local = "127.0.0.1:5000";

    assert_eq!(erin.from(local).api("version", "").status, 200);
    assert_eq!(erin.from(local).api("set_tweaksetting", "key=a&value=1").status, 403);
    let wrong = p.anonymous().from(local);
    let reply = p.presenting("WHM erin:wrong").from(local).get("/json-api/version");
    assert_eq!(reply.status, 401);
    erin.from(local).get("/json-api/no_such_function_{}");

    // Loopback is no trust boundary on a shared server: a local user without root's credentials is refused.
    assert_eq!(wrong.get("/metrics").status, 403);
    assert_eq!(erin.from(local).get("/metrics").status, 403);
    let scraped = root.from(local).get("/metrics");
    assert_eq!(scraped.status, 200);
    let text = scraped.body;
    for line in [
        "tweakgate_http_requests_total{route=\"/json-api/version\",status=\"200\"} 1",
        "tweakgate_http_requests_total{route=\"/json-api/set_tweaksetting\",status=\"403\"} 1",
        "tweakgate_http_requests_total{route=\"/json-api/version\",status=\"401\"} 1",
        "tweakgate_auth_failures_total{cause=\"wrong_secret\"} 1",
        "tweakgate_gate_decisions_total{feature=\"whm\",outcome=\"visible\"} 1",
        "tweakgate_gate_decisions_total{feature=\"tweak-settings\",outcome=\"PRIVILEGE_MISSING\"} 1",
        "tweakgate_config_generation 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        !text.contains("no_such_function"),
        "an unknown function name never becomes a label: {text}"
    );
    assert!(text.contains("route=\"/json-api/{unknown}\""), "{text}");

    // The allowed address reads it without a credential; anyone else is refused.
    assert_eq!(p.anonymous().from("192.0.2.7:9").get("/metrics").status, 200);
    assert_eq!(p.anonymous().from("198.51.100.1:9").get("/metrics").status, 403);
}
