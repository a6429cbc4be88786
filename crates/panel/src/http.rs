//! The HTTP server: one axum `Router` for WHM API 1, the session's pages (nested under `/cpsess…`), plugin pages,
//! the login, the stylesheet and `/health`, with the security headers every answer carries.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};
use settings::Snapshot;

use crate::auth::header::{AuthError, authenticate};
use crate::auth::{AuthMethod, Caller};
pub use crate::conn::Peer;
use crate::metrics::Label;
use crate::state::Panel;
use crate::store::sessions::{COOKIE, is_security_token};
use crate::web::{self, Visit};
use crate::whm::{self, Answer, Ctx, Params, WhmError};

pub use crate::api_params::{Call, MAX_BODY, WhmParams};

/// The router, for `serve` and for tests that drive it in process or over a real socket.
pub fn router(panel: Arc<Panel>) -> Router {
    let session: Router<Arc<Panel>> = Router::new()
        .route("/", get(web::home::show))
        .route("/logout", axum::routing::post(web::login::logout))
        .route("/json-api/{function}", any(api_in_session))
        // A page's POST writes: it runs on a blocking thread, like the API's writing operations.
        .route(
            "/tweak-settings",
            get(web::tweak_settings::show)
                .post(|v: Visit, f: web::csrf::Csrf| off_worker(web::tweak_settings::show, v, f)),
        )
        .route(
            "/edit-reseller-privileges",
            get(web::privileges::show).post(|v: Visit, f: web::csrf::Csrf| off_worker(web::privileges::show, v, f)),
        )
        .route(
            "/manage-api-tokens",
            get(web::tokens::show).post(|v: Visit, f: web::csrf::Csrf| off_worker(web::tokens::show, v, f)),
        )
        .route("/feature-access", get(web::feature_access::show))
        .route(
            "/configuration-cluster",
            get(web::cluster::show).post(|v: Visit, f: web::csrf::Csrf| off_worker(web::cluster::show, v, f)),
        )
        // Every other path in a session: a plugin's page, looked up in the plugins in force when the request comes.
        .route("/{*page}", get(web::plugin_page::show).post(web::plugin_page::show));
    let guard = || middleware::from_fn_with_state(Arc::clone(&panel), session_layer);
    // `/cpsess…/` with its slash: the nested `/` matches only `/cpsess…`.
    let home = get(web::home::show).route_layer(guard());
    let session = session
        .route_layer(guard())
        .route("/login", get(web::login::landing))
        .route("/login/", get(web::login::landing));
    Router::new()
        .route("/health", get(health))
        .route("/static/panel.css", get(stylesheet))
        .route("/", get(|| async { web::redirect("/login/") }))
        .route("/login", get(web::login::show).post(web::login::submit))
        .route("/login/", get(web::login::show).post(web::login::submit))
        .route("/json-api/{function}", any(api_with_header))
        .route("/ofrep/v1/evaluate/flags", post(crate::ofrep::bulk))
        .route("/ofrep/v1/evaluate/flags/{key}", post(crate::ofrep::single))
        .route("/{cpsess}/", home)
        .nest("/{cpsess}", session)
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer((
            DefaultBodyLimit::max(MAX_BODY),
            Guard {
                panel: Arc::clone(&panel),
            },
        ))
        .with_state(panel)
}

/// What every answer of the router passes through, as one service around each route (no boxing, no extractor runs
/// per request): `requiressl` before anything else ([`plain_http_refusal`]), the request's count and latency under
/// its route pattern (every route but `/metrics` and the fallback), and the security headers on the way out.
#[derive(Debug, Clone)]
struct Guard {
    panel: Arc<Panel>,
}

impl<S> tower::Layer<S> for Guard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            panel: Arc::clone(&self.panel),
        }
    }
}

/// A route behind the [`Guard`].
#[derive(Debug, Clone)]
struct Guarded<S> {
    inner: S,
    panel: Arc<Panel>,
}

impl<S> tower::Service<Request> for Guarded<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = GuardedAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if let Some(refusal) = plain_http_refusal(&self.panel, &req) {
            return GuardedAnswer {
                state: Answering::Refused(Some(refusal)),
                panel: Arc::clone(&self.panel),
            };
        }
        let tracked = route_label(&self.panel, &req).map(|route| (route, std::time::Instant::now()));
        GuardedAnswer {
            state: Answering::Routed {
                answer: self.inner.call(req),
                tracked,
            },
            panel: Arc::clone(&self.panel),
        }
    }
}

/// The answer of a guarded route.
#[derive(Debug)]
struct GuardedAnswer<F> {
    state: Answering<F>,
    panel: Arc<Panel>,
}

#[derive(Debug)]
enum Answering<F> {
    /// Refused by `requiressl` before the route ran (taken once answered).
    Refused(Option<Response>),
    /// The route runs; the request is counted under its route when it has one.
    Routed {
        answer: F,
        tracked: Option<(Label, std::time::Instant)>,
    },
}

impl<F> std::future::Future for GuardedAnswer<F>
where
    F: std::future::Future<Output = Result<Response, std::convert::Infallible>> + Unpin,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = match &mut this.state {
            Answering::Refused(refusal) => refusal.take().unwrap_or_else(|| StatusCode::OK.into_response()),
            Answering::Routed { answer, tracked } => {
                let Ok(response) = std::task::ready!(std::pin::Pin::new(answer).poll(cx));
                if let Some((route, start)) = tracked.take() {
                    this.panel
                        .metrics
                        .request(route, response.status().as_u16(), start.elapsed().as_secs_f64());
                }
                response
            }
        };
        security_headers(&this.panel, &mut response);
        std::task::Poll::Ready(Ok(response))
    }
}

/// Serves on every listener until the process is stopped.
pub async fn serve(panel: Arc<Panel>, listeners: Vec<tokio::net::TcpListener>) -> anyhow::Result<()> {
    serve_all(panel, listeners, Vec::new()).await
}

/// Serves plain HTTP and HTTPS listeners until the process is stopped, with the connection cap of the config in
/// force (`maxcpsrvdconnections`, over all listeners, following live reloads).
pub async fn serve_all(
    panel: Arc<Panel>,
    listeners: Vec<tokio::net::TcpListener>,
    tls: Vec<crate::tls::TlsListener>,
) -> anyhow::Result<()> {
    serve_until(panel, listeners, tls, std::future::pending()).await
}

/// The connection cap of the configuration in force.
fn live_cap(panel: &Arc<Panel>) -> crate::conn::Cap {
    let panel = Arc::clone(panel);
    Box::new(move || crate::conn::Limits::from_settings(&panel.snapshot().config().tweak_settings).max_connections)
}

/// [`serve_all`] with explicit connection limits (a fixed cap).
pub async fn serve_with(
    panel: Arc<Panel>,
    listeners: Vec<tokio::net::TcpListener>,
    tls: Vec<crate::tls::TlsListener>,
    limits: crate::conn::Limits,
) -> anyhow::Result<()> {
    crate::conn::serve(router(panel), listeners, tls, limits).await
}

/// [`serve_all`] until `shutdown` completes, then drains the requests in flight (see [`crate::conn::serve_until`]).
pub async fn serve_until(
    panel: Arc<Panel>,
    listeners: Vec<tokio::net::TcpListener>,
    tls: Vec<crate::tls::TlsListener>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let cap = live_cap(&panel);
    crate::conn::serve_until(
        router(panel),
        listeners,
        tls,
        crate::conn::Limits::default(),
        cap,
        shutdown,
    )
    .await
}

/// Serves a page's POST on a blocking thread: the page's handler writes files (and syncs them) without awaiting, so
/// it is driven to completion there and the async worker stays free for other requests.
async fn off_worker<F, Fut>(page: F, visit: Visit, form: web::csrf::Csrf) -> Response
where
    F: FnOnce(Visit, web::csrf::Csrf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(page(visit, form)))
        .await
        .unwrap_or_else(|e| {
            tracing::error!("a page failed on its blocking thread: {e}");
            web::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                web::layout(
                    "Error",
                    None,
                    maud::html! { p { "The server could not complete the request." } },
                ),
            )
        })
}

/// Runs an API call: an operation that writes on a blocking thread (see [`whm::Operation::WRITES`]), a plugin's
/// function in its plugin's bounded pool within its time budget ([`crate::plugin_set::CallPools`]), the rest here.
async fn run_api(
    panel: &Arc<Panel>,
    snapshot: &Arc<Snapshot>,
    caller: &Caller,
    function: &str,
    (params, body): (&Params, &Bytes),
    call: &Call,
) -> Answer {
    let op = whm::operation(function);
    let plugins = panel.plugins();
    let plugin_feature = op.is_none().then(|| plugins.functions.get(function)).flatten();
    if plugin_feature.is_none() && !op.is_some_and(|o| o.writes) {
        return api(panel, snapshot, caller, function, (params, body), call);
    }
    let api_call = ApiCall {
        panel,
        snapshot,
        caller,
        function,
        params,
        body,
        call,
    };
    if let Some(feature) = plugin_feature {
        return panel
            .plugin_calls
            .run(&plugins, snapshot.config(), feature, api_call)
            .await
            .unwrap_or_else(|refused| {
                tracing::warn!("{function}: {refused}");
                panel.metrics.plugin_call_refused(feature);
                if refused.faulted() {
                    panel.recompile_after_fault();
                }
                Answer::of(
                    function,
                    Err(WhmError::new(refused.to_string()).with_status(StatusCode::SERVICE_UNAVAILABLE)),
                )
            });
    }
    tokio::task::spawn_blocking(crate::plugin_set::PluginCall::owned(api_call))
        .await
        .unwrap_or_else(|e| {
            tracing::error!("an API call failed on its blocking thread: {e}");
            Answer::of(
                "",
                Err(WhmError::new("the server could not complete the call")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)),
            )
        })
}

/// An API call as the request holds it: made here in a plugin's fast lane, copied only to move onto a blocking thread.
struct ApiCall<'a> {
    panel: &'a Arc<Panel>,
    snapshot: &'a Arc<Snapshot>,
    caller: &'a Caller,
    function: &'a str,
    params: &'a Params,
    body: &'a Bytes,
    call: &'a Call,
}

impl crate::plugin_set::PluginCall<Answer> for ApiCall<'_> {
    type Owned = Box<dyn FnOnce() -> Answer + Send>;

    fn call(self) -> Answer {
        api(
            self.panel,
            self.snapshot,
            self.caller,
            self.function,
            (self.params, self.body),
            self.call,
        )
    }

    fn owned(self) -> Self::Owned {
        let (panel, snapshot, caller, function, params, body, call) = (
            Arc::clone(self.panel),
            Arc::clone(self.snapshot),
            self.caller.clone(),
            self.function.to_owned(),
            self.params.clone(),
            self.body.clone(),
            self.call.clone(),
        );
        Box::new(move || api(&panel, &snapshot, &caller, &function, (&params, &body), &call))
    }
}

fn api(
    panel: &Panel,
    snapshot: &Snapshot,
    caller: &Caller,
    function: &str,
    (params, body): (&Params, &[u8]),
    call: &Call,
) -> Answer {
    let method = &call.method;
    // A login link made over plain HTTP points at the HTTPS listener while `requiressl` keeps sessions off plain HTTP.
    let origin = || {
        (!call.tls && snapshot.config().tweak_settings.is_on(REQUIRESSL))
            .then(|| call.tls_origin(snapshot))
            .flatten()
            .unwrap_or_else(|| call.origin(snapshot))
    };
    let ctx = Ctx {
        panel,
        snapshot,
        origin: Some(whm::Origin(&origin)),
        body,
    };
    let api1 = params.get("api.version") == Some("1");
    whm::dispatch(ctx, caller, function, params, method.as_str(), api1)
}

/// A request's `Authorization` header, taken without copying the header map.
#[derive(Debug)]
struct AuthorizationHeader(Option<HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuthorizationHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(AuthorizationHeader(parts.headers.get(header::AUTHORIZATION).cloned()))
    }
}

/// `/json-api/<function>` with an `Authorization` header.
async fn api_with_header(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Path(function): Path<compact_str::CompactString>,
    call: Call,
    AuthorizationHeader(authorization): AuthorizationHeader,
    params: Result<WhmParams, Response>,
) -> Response {
    let snapshot = panel.snapshot();
    let header = authorization.as_ref().map(HeaderValue::as_bytes);
    // The credential is checked before a body's reading is answered: a caller without one learns nothing else.
    match authenticate(&panel, &snapshot, header, peer.ip()).await {
        Ok(caller) => match params {
            Ok(WhmParams(params, body)) => run_api(&panel, &snapshot, &caller, &function, (&params, &body), &call)
                .await
                .into_response(),
            Err(refused) => refused,
        },
        Err(e) => auth_refused(e),
    }
}

/// `/cpsess…/json-api/<function>`: the session layer put the caller on the request (its cookie session, or the
/// request's `Authorization` header).
async fn api_in_session(
    visit: Visit,
    Path(path): Path<HashMap<String, String>>,
    call: Call,
    WhmParams(params, body): WhmParams,
) -> Response {
    let function = path.get("function").map_or("", String::as_str);
    run_api(
        &visit.panel,
        &visit.snapshot,
        &visit.caller,
        function,
        (&params, &body),
        &call,
    )
    .await
    .into_response()
}

/// Lets a request into `/cpsess…` only with the session's cookie; the caller carries the session's grant.
async fn session_layer(
    State(panel): State<Arc<Panel>>,
    Path(path): Path<HashMap<String, String>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    let token = path.get("cpsess").map_or("", String::as_str);
    if !is_security_token(token) {
        return not_found().await;
    }
    // The json-api route itself (the path may or may not still carry the `/cpsess…` prefix here).
    let path = req.uri().path();
    let is_api = path
        .strip_prefix(&format!("/{token}"))
        .unwrap_or(path)
        .starts_with("/json-api/");
    let snapshot = panel.snapshot();
    // An API call that carries an `Authorization` header is authenticated by that header on every URL form: clients
    // send `<cp_security_token>/json-api/<fn>` with their header and no cookie. Cookie sessions are unchanged.
    if is_api && let Some(header) = req.headers().get(header::AUTHORIZATION) {
        let caller = match authenticate(&panel, &snapshot, Some(header.as_bytes()), peer.ip()).await {
            Ok(caller) => caller,
            Err(e) => return auth_refused(e),
        };
        req.extensions_mut().insert(caller.clone());
        req.extensions_mut().insert(Visit {
            caller,
            snapshot,
            panel,
        });
        return next.run(req).await;
    }
    let caller = panel
        .sessions
        .check(token, jar.get(COOKIE).map(|c| c.value()))
        .and_then(|s| {
            let method = AuthMethod::Session {
                security_token: token.to_owned(),
                grant: s.grant.clone(),
            };
            Caller::new(&snapshot, &s.grant.user, s.grant.limit(), method, peer.ip())
        });
    let Some(caller) = caller else {
        return if is_api { denied() } else { web::redirect("/login/") };
    };
    req.extensions_mut().insert(caller.clone());
    req.extensions_mut().insert(Visit {
        caller,
        snapshot,
        panel,
    });
    next.run(req).await
}

/// The route a request is counted under: the router's pattern (a WHM function by its name when it is a known one);
/// `None` for `/metrics` and for what no route matched.
fn route_label(panel: &Panel, req: &Request) -> Option<Label> {
    let pattern = req.extensions().get::<MatchedPath>()?.as_str();
    if pattern == "/metrics" {
        return None;
    }
    Some(match pattern.strip_suffix("{function}") {
        Some(prefix) => {
            let function = req.uri().path().rsplit('/').next().unwrap_or_default();
            let known = whm::operation(function).is_some() || panel.plugins().functions.contains_key(function);
            Label::joined(prefix, if known { function } else { "{unknown}" })
        }
        None => Label::from(pattern),
    })
}

/// `/metrics` in Prometheus' text format, for the addresses `[server] metrics_allow` names and for root's credentials.
/// Loopback alone is not enough: on a shared server every local user reaches it, and it names cluster members.
async fn metrics(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    let snapshot = panel.snapshot();
    let ip = peer.ip().to_canonical();
    let allowed = snapshot.config().server.metrics_allow.contains(&ip) || {
        let header = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
        header.is_some()
            && authenticate(&panel, &snapshot, header, peer.ip())
                .await
                .is_ok_and(|c| c.is_root())
    };
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            "metrics are served to the addresses of [server] metrics_allow and to root's credentials only\n",
        )
            .into_response();
    }
    let status = panel.status();
    let reports = panel.plugins().host.reports();
    let now = crate::metrics::Scrape {
        generation: status.generation,
        config_error: status.last_error.is_some(),
        plugins_faulted: reports.iter().filter(|r| r.is_faulted()).count() as u64,
        plugins_failed: reports.iter().filter(|r| !r.is_loaded()).count() as u64,
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        panel.metrics.encode_with_cluster(now, &cluster_members(&panel)),
    )
        .into_response()
}

/// The Configuration Cluster's members as `/metrics` shows them.
fn cluster_members(panel: &Panel) -> Vec<crate::metrics::ClusterMember> {
    panel
        .cluster
        .list()
        .into_iter()
        .map(|m| crate::metrics::ClusterMember {
            server: m.url,
            waiting: m.state.changes_waiting as u64,
            lag_seconds: m.state.lag_seconds,
            credential_refused: m.state.status == "credential_refused",
        })
        .collect()
}

async fn not_found() -> Response {
    web::not_found()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        web::CSS,
    )
        .into_response()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Answer::Json(status, body.clone()).into_response()
}

/// The one answer every failed authentication gets.
pub fn denied() -> Response {
    let mut r = Answer::of(
        "",
        Err(WhmError::new("Access denied").with_status(StatusCode::UNAUTHORIZED)),
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("WHM realm=\"tweakgate\""),
    );
    r
}

/// The answer to a request whose `Authorization` header was not accepted.
fn auth_refused(e: AuthError) -> Response {
    match e {
        AuthError::Denied => denied(),
        AuthError::Throttled(wait) => throttled(wait),
        AuthError::Busy => busy(),
    }
}

/// Every password-check slot was taken: the password was not checked; try again in a second.
fn busy() -> Response {
    let mut r = Answer::of(
        "",
        Err(
            WhmError::new("The server is busy checking passwords; try again shortly")
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
        ),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Refused unchecked for now: `Retry-After` says when the next attempt is checked.
fn throttled(wait: std::time::Duration) -> Response {
    let mut r = Answer::of(
        "",
        Err(WhmError::new("Too many failed logins; try again later").with_status(StatusCode::TOO_MANY_REQUESTS)),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, crate::auth::header::retry_after(wait));
    r
}

/// `/health`: `{"status": "ok" | "degraded"}` for anyone (degraded while the config on disk does not load or a plugin
/// has faulted); the config file, its error and the plugins (each faulted one by name) only for root's credentials (an
/// `Authorization` header), since they name paths and versions.
async fn health(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    let status = panel.status();
    let reports = panel.plugins().host.reports();
    let faulted: Vec<Value> = reports
        .iter()
        .filter_map(|r| match &r.state {
            plugin_host::PluginState::Faulted { detail } => Some(json!({
                "plugin": r.name,
                "path": r.path.display().to_string(),
                "detail": detail,
            })),
            _ => None,
        })
        .collect();
    let word = if status.last_error.is_some() || !faulted.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    let header = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let root = match header {
        Some(_) => authenticate(&panel, &panel.snapshot(), header, peer.ip())
            .await
            .is_ok_and(|c| c.is_root()),
        None => false,
    };
    if !root {
        let mut body = json!({ "status": word });
        if status.restart_needed.is_some() {
            body["restart_needed"] = json!(true);
        }
        return json_response(StatusCode::OK, &body);
    }
    let loaded_at = status
        .loaded_at
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let plugins: Vec<Value> = reports.iter().map(|r| json!(r.to_string())).collect();
    let body = json!({
        "status": word,
        "config": {"file": panel.config_path.display().to_string(), "generation": status.generation, "loaded_at": loaded_at, "error": status.last_error, "restart_needed": status.restart_needed},
        "plugins": plugins,
        "plugins_faulted": faulted,
    });
    json_response(StatusCode::OK, &body)
}

/// The Tweak Setting that keeps passwords and sessions off plain HTTP.
pub const REQUIRESSL: &str = "requiressl";

/// `requiressl` (On by default), as WHM enforces it: over plain HTTP from another host, a password (the login page
/// and its form, `Basic` authentication) or a session (its cookie, a one-time login link) never gets in. A page asked
/// for with `GET` is redirected to the same path on the HTTPS listener; anything else is refused (403) with the
/// HTTPS address to use. API tokens and access keys over plain HTTP stay accepted, as WHM accepts them. Loopback is
/// exempt: its traffic never crosses a network, which is what TLS protects, so `http://127.0.0.1:2086/` (the README's
/// login link) keeps working. `None` lets the request in.
fn plain_http_refusal(panel: &Panel, req: &Request) -> Option<Response> {
    let tls = req.extensions().get::<crate::conn::Https>().is_some_and(|h| h.0);
    // The peer as the `ConnectInfo` extractor finds it: the connection's, or the one a test's router was given.
    let peer = req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0).or_else(|| {
        req.extensions()
            .get::<axum::extract::connect_info::MockConnectInfo<Peer>>()
            .map(|m| m.0)
    });
    let local = peer.is_some_and(|Peer(peer)| match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    });
    if tls || local {
        return None;
    }
    let snapshot = panel.snapshot();
    if !snapshot.config().tweak_settings.is_on(REQUIRESSL) {
        return None;
    }
    let path = req.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    let in_session = is_security_token(first);
    let login = first == "login";
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().trim_ascii_start().to_ascii_lowercase());
    let basic = authorization.as_ref().is_some_and(|a| a.starts_with(b"basic"));
    // In a session, a key or token header authenticates instead of the cookie (see `api_in_session`).
    let by_key_or_token = authorization.as_ref().is_some_and(|a| a.starts_with(b"whm"));
    if !(basic || login || (in_session && !by_key_or_token)) {
        return None;
    }
    let call = Call::of(req);
    let target = call.tls_origin(&snapshot).map(|origin| {
        let rest = req.uri().path_and_query().map_or(path, |p| p.as_str());
        format!("{origin}{rest}")
    });
    let api = path.contains("/json-api/") || basic;
    if let Some(target) = target
        .as_deref()
        .filter(|_| !api && req.method() == axum::http::Method::GET)
    {
        return Some(web::redirect(target));
    }
    let why = match &target {
        Some(target) => format!(
            "Passwords and sessions are accepted only over HTTPS on this server (Tweak Setting requiressl): use {target}"
        ),
        None => {
            "Passwords and sessions are accepted only over HTTPS on this server (Tweak Setting requiressl), and it \
                 has no HTTPS listener ([server] tls_listen); API tokens work over HTTP"
                .to_owned()
        }
    };
    tracing::debug!("refused over plain HTTP: {why}");
    if api {
        let mut r = Answer::of("", Err(WhmError::new(why).with_status(StatusCode::FORBIDDEN))).into_response();
        if let Some(target) = target.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            r.headers_mut().insert(header::LOCATION, target);
        }
        return Some(r);
    }
    Some(web::page(
        StatusCode::FORBIDDEN,
        web::layout("HTTPS required", None, maud::html! { p { (why) } }),
    ))
}

/// `X-Frame-Options`/`X-Content-Type-Options` follow `xframecpsrvd`; a Content-Security-Policy follows `csp`; an
/// answer that says nothing of caching is not stored.
fn security_headers(panel: &Panel, response: &mut Response) {
    let snapshot = panel.snapshot();
    let settings = &snapshot.config().tweak_settings;
    let headers = response.headers_mut();
    if settings.is_on("xframecpsrvd") {
        headers.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    }
    if settings.is_on("csp") {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'; form-action 'self'"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::body::{Body, Bytes};
    use axum::extract::FromRequest;
    use hyper::body::Frame;

    use super::*;

    /// A body whose stream fails, as one that misses the connection's body deadline does.
    struct Stalled;

    impl hyper::body::Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the body deadline passed",
            ))))
        }
    }

    #[test]
    fn a_body_that_does_not_arrive_is_408_with_whms_envelope() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let req = Request::post("/cpsess0123456789/json-api/version?api.version=1")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::new(Stalled))
            .unwrap();
        let refused = rt.block_on(WhmParams::from_request(req, &())).unwrap_err();
        assert_eq!(refused.status(), StatusCode::REQUEST_TIMEOUT);
        let body = rt
            .block_on(axum::body::to_bytes(refused.into_body(), usize::MAX))
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"metadata": {"version": 1, "command": "version", "result": 0,
                "reason": "the request body did not arrive in time"}})
        );
    }
}
