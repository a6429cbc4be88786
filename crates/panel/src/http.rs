//! The HTTP server: routes WHM API 1 calls, session logins, plugin pages and `/health`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use settings::Snapshot;

use crate::api::{self, ApiCall, envelope};
use crate::auth::{self, AuthError, Caller};
use crate::pages;
use crate::sessions::{COOKIE, split_prefix};
use crate::state::Panel;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// The router, for `serve` and for tests that drive it over a real socket.
pub fn router(panel: Arc<Panel>) -> Router {
    Router::new().fallback(dispatch).with_state(panel)
}

/// Serves on every listener until the process is stopped.
pub async fn serve(panel: Arc<Panel>, listeners: Vec<tokio::net::TcpListener>) -> anyhow::Result<()> {
    serve_all(panel, listeners, Vec::new()).await
}

/// Serves plain HTTP and HTTPS listeners until the process is stopped.
pub async fn serve_all(
    panel: Arc<Panel>,
    listeners: Vec<tokio::net::TcpListener>,
    tls: Vec<crate::tls::TlsListener>,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for listener in listeners {
        let app = router(Arc::clone(&panel)).into_make_service_with_connect_info::<Peer>();
        tasks.push(tokio::spawn(async move { axum::serve(listener, app).await }));
    }
    for listener in tls {
        let app = router(Arc::clone(&panel)).into_make_service_with_connect_info::<Peer>();
        tasks.push(tokio::spawn(async move { axum::serve(listener, app).await }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The client's address, for plain and TLS connections alike.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// The parsed parts of a request that handlers need.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub peer: IpAddr,
}

impl Incoming {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }
}

async fn dispatch(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && !body.is_empty() {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        params,
        headers: parts.headers,
        peer: peer.ip(),
    };
    let snapshot = panel.snapshot();
    let mut response = route(&panel, &snapshot, incoming);
    security_headers(&snapshot, response.headers_mut());
    response
}

fn route(panel: &Panel, snapshot: &Snapshot, req: Incoming) -> Response {
    if req.path == "/health" {
        return health(panel);
    }
    if let Some((token, rest)) = split_prefix(&req.path) {
        let (token, rest) = (token.to_owned(), rest.to_owned());
        if rest == "/login/" || rest == "/login" {
            return pages::session_landing(panel, &req);
        }
        let session = panel.sessions.check(&token, req.cookie(COOKIE));
        let caller = session.and_then(|s| auth::session_caller(snapshot, &s.user, &token));
        let Some(caller) = caller else {
            return if rest.starts_with("/json-api/") {
                denied()
            } else {
                pages::redirect("/login/")
            };
        };
        if let Some(function) = rest.strip_prefix("/json-api/") {
            return api_response(panel, snapshot, &caller, &req, function);
        }
        return pages::handle(panel, snapshot, &caller, &req, &rest);
    }
    if let Some(function) = req.path.strip_prefix("/json-api/") {
        let header = req.headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
        return match auth::authenticate(panel, snapshot, header, req.peer) {
            Ok(caller) => api_response(panel, snapshot, &caller, &req, function),
            Err(AuthError::Denied) => denied(),
            Err(AuthError::Throttled) => throttled(),
        };
    }
    pages::public(panel, snapshot, &req)
}

fn api_response(panel: &Panel, snapshot: &Snapshot, caller: &Caller, req: &Incoming, function: &str) -> Response {
    let call = ApiCall {
        function: function.trim_end_matches('/').to_owned(),
        params: req.params.clone(),
        api1: req.param("api.version") == Some("1"),
        method: req.method.to_string(),
    };
    let (status, body) = api::call(panel, snapshot, caller, req.peer, &call);
    json_response(status, &body)
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// The one answer every failed authentication gets.
pub fn denied() -> Response {
    let mut r = json_response(
        StatusCode::UNAUTHORIZED,
        &envelope("", false, "Access denied", Value::Null),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("WHM realm=\"tweakgate\""),
    );
    r
}

fn throttled() -> Response {
    let mut r = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &envelope(
            "",
            false,
            "Too many failed logins from this address; try again later",
            Value::Null,
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

fn health(panel: &Panel) -> Response {
    let status = panel.status();
    let loaded_at = status
        .loaded_at
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let plugins: Vec<Value> = panel.plugins.reports().iter().map(|r| json!(r.to_string())).collect();
    let body = json!({
        "status": if status.last_error.is_some() { "degraded" } else { "ok" },
        "config": {"file": panel.config_path.display().to_string(), "generation": status.generation, "loaded_at": loaded_at, "error": status.last_error},
        "plugins": plugins,
    });
    json_response(StatusCode::OK, &body)
}

/// `X-Frame-Options`/`X-Content-Type-Options` follow `xframecpsrvd`; a Content-Security-Policy follows `csp`.
fn security_headers(snapshot: &Snapshot, headers: &mut HeaderMap) {
    let settings = &snapshot.config().tweak_settings;
    if settings.is_on("xframecpsrvd") {
        headers.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    }
    if settings.is_on("csp") {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; form-action 'self'"),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
