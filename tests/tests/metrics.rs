//! `/metrics` as Prometheus scrapes it: requests by route and status, failures by cause, gate decisions, the
//! configuration's generation; served to loopback and to the addresses the config allows, refused to others.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use panel::http::Peer;
use tower::ServiceExt;

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
state_dir = "state"
metrics_allow = ["192.0.2.7"]

[resellers.erin]
privileges = ["list-accts"]
"#;

fn send(router: &axum::Router, peer: &str, req: Request<Body>) -> (StatusCode, String) {
    let router = router
        .clone()
        .layer(MockConnectInfo(Peer(peer.parse::<SocketAddr>().unwrap())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

fn get(path: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

#[test]
fn metrics_count_requests_failures_and_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tweakgate.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let panel = panel::state::Panel::open(&path).unwrap();
    let (_, token) = panel
        .tokens
        .create("erin", &credentials::TokenName::new("m").unwrap(), None, None, &[])
        .unwrap();
    let erin = format!("WHM erin:{}", token.expose());
    let (_, token) = panel
        .tokens
        .create("root", &credentials::TokenName::new("scrape").unwrap(), None, None, &[])
        .unwrap();
    let root = format!("whm root:{}", token.expose());
    let router = panel::http::router(Arc::clone(&panel));
    let local = "127.0.0.1:5000";

    assert_eq!(
        send(&router, local, get("/json-api/version?api.version=1", Some(&erin))).0,
        StatusCode::OK
    );
    let refused = send(
        &router,
        local,
        get("/json-api/set_tweaksetting?api.version=1&key=a&value=1", Some(&erin)),
    );
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&router, local, get("/json-api/version", Some("WHM erin:wrong"))).0,
        StatusCode::UNAUTHORIZED
    );
    send(&router, local, get("/json-api/no_such_function_{}", Some(&erin)));

    // Loopback is no trust boundary on a shared server: a local user without root's credentials is refused.
    assert_eq!(send(&router, local, get("/metrics", None)).0, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&router, local, get("/metrics", Some(&erin))).0,
        StatusCode::FORBIDDEN
    );
    let (status, text) = send(&router, local, get("/metrics", Some(&root)));
    assert_eq!(status, StatusCode::OK);
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
    assert_eq!(send(&router, "192.0.2.7:9", get("/metrics", None)).0, StatusCode::OK);
    assert_eq!(
        send(&router, "198.51.100.1:9", get("/metrics", None)).0,
        StatusCode::FORBIDDEN
    );
}
