//! The one way tests reach a panel: [`TestPanel::open`] drives the router in process (request in, response out),
//! [`TestPanel::serve`] serves the same panel on a loopback socket; both answer through one [`Client`] API.
//!
//! Credentials are made here, once, in the panel's own stores, so tests say who is asking (`as_("bob")`) and with
//! what (`.narrowed(&[..])`, `.with_key()`, `.in_session()`), never how a token or key is minted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::panel::http::Peer;
use ::panel::state::Panel;
use ::panel::store::sessions::Grant;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, header};
use settings::{AclSet, Username};
use tower::ServiceExt;

use crate::{Cast, Reply};

/// Where the in-process requests say they come from.
const PEER: &str = "127.0.0.1:40000";

/// A panel on the cast's config in a fresh temporary directory.
#[allow(missing_debug_implementations)] // holds a runtime
pub struct TestPanel {
    /// The panel's folder: its config, native files and `state/` (shared with a [`reopened`](Self::reopened) panel).
    pub dir: Arc<tempfile::TempDir>,
    panel: Arc<Panel>,
    router: axum::Router,
    /// The loopback address when served on a socket.
    addr: Option<SocketAddr>,
    /// The HTTPS listener's address, when served with one.
    tls_addr: Option<SocketAddr>,
    runtime: tokio::runtime::Runtime,
}

/// What the panel says of its reloads (root's `/health` reports the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloads {
    /// How many snapshots have been compiled since start.
    pub generation: u64,
    /// The error of the last attempt, when it failed (the last good config stays in force).
    pub last_error: Option<String>,
    /// What only a restart applies, when something waits for one.
    pub restart_needed: Option<String>,
}

/// An API token as the store holds it, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub name: String,
    /// `None`: every privilege the user holds.
    pub acls: Option<Vec<String>>,
    pub expires_at: Option<u64>,
}

/// What a client presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing at all.
    Anonymous,
    /// `whm user:token`, an API token; `Some` lists the ACLs it is limited to.
    Token(Option<Vec<String>>),
    /// `WHM user:key`, the user's access key.
    Key,
    /// A browser session (a cookie and its `/cpsess…` prefix); `Some` limits it to these ACLs.
    Session(Option<Vec<String>>),
    /// An `Authorization` value given as is (a wrong secret, a malformed header).
    Presented,
}

/// Someone asking the panel: a user and what they present.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // borrows the panel, which holds a runtime
pub struct Client<'a> {
    panel: &'a TestPanel,
    pub user: String,
    pub credential: Credential,
    /// The `Authorization` header value, or the session's prefix and cookie.
    secret: Secret,
    /// The address requests come from, in process (`None`: the panel's default peer).
    from: Option<SocketAddr>,
    /// More headers sent with every request (`Host`, `Origin`, a cookie of a login form).
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Secret {
    None,
    Header(String),
    Session { prefix: String, cookie: String },
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl TestPanel {
    /// The cast's panel, driven in process.
    pub fn open(cast: &Cast) -> TestPanel {
        TestPanel::start(cast, false)
    }

    /// The cast's panel, served on a loopback socket (with its watcher, so edits of the config apply).
    pub fn serve(cast: &Cast) -> TestPanel {
        TestPanel::start(cast, true)
    }

    /// Served from a folder that `prepare` filled first (state a previous run or an administrator left: key files,
    /// a broken audit log).
    pub fn serve_prepared(cast: &Cast, prepare: impl FnOnce(&std::path::Path)) -> TestPanel {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(dir.path());
        let mut p = TestPanel::start_in(cast, dir);
        p.listen(None);
        p
    }

    /// Served with explicit connection limits (short timeouts, a small cap).
    pub fn serve_with(cast: &Cast, limits: ::panel::conn::Limits) -> TestPanel {
        let mut p = TestPanel::start(cast, false);
        p.listen(Some(limits));
        p
    }

    fn start(cast: &Cast, serve: bool) -> TestPanel {
        let mut p = TestPanel::start_in(cast, tempfile::tempdir().expect("temp dir"));
        if serve {
            p.listen(None);
        }
        p
    }

    fn start_in(cast: &Cast, dir: tempfile::TempDir) -> TestPanel {
        let path = dir.path().join("tweakgate.toml");
        std::fs::write(&path, cast.toml()).expect("writing the config");
        if let Some(text) = cast.native_text() {
            std::fs::write(dir.path().join("cpanel.config"), text).expect("writing cpanel.config");
        }
        let panel = Panel::open(&path).unwrap_or_else(|e| panic!("the cast's config does not load: {e:#}"));
        let peer: SocketAddr = PEER.parse().expect("an address");
        let router = ::panel::http::router(Arc::clone(&panel)).layer(MockConnectInfo(Peer(peer)));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        TestPanel {
            dir: Arc::new(dir),
            panel,
            router,
            addr: None,
            tls_addr: None,
            runtime,
        }
    }

    /// Served on loopback over HTTP and HTTPS (a self-signed pair made in the state directory, as on a first
    /// start), with explicit connection limits when given.
    pub fn serve_tls(cast: &Cast, limits: Option<::panel::conn::Limits>) -> TestPanel {
        let mut p = TestPanel::start(cast, false);
        let config = ::panel::tls::server_config(None, None, &p.state_dir()).expect("a self-signed pair");
        let listener = p
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding loopback");
        p.tls_addr = Some(listener.local_addr().expect("local addr"));
        let tls = p
            .runtime
            .block_on(async { ::panel::tls::TlsListener::new(listener, config) })
            .expect("a TLS listener");
        p.listen_with(limits, vec![tls]);
        p
    }

    /// The HTTPS listener's address.
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_addr.expect("TestPanel::serve_tls gives an HTTPS address")
    }

    /// The certificate the HTTPS listener presents.
    pub fn cert_path(&self) -> PathBuf {
        self.state_dir().join("tls/cert.pem")
    }

    fn listen(&mut self, limits: Option<::panel::conn::Limits>) {
        self.listen_with(limits, Vec::new());
    }

    fn listen_with(&mut self, limits: Option<::panel::conn::Limits>, tls: Vec<::panel::tls::TlsListener>) {
        self.panel.spawn_watcher(Duration::from_millis(20));
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding loopback");
        self.addr = Some(listener.local_addr().expect("local addr"));
        self.panel.cluster.start(
            self.runtime.handle().clone(),
            &self.panel.snapshot().config().tweak_settings,
        );
        let p = Arc::clone(&self.panel);
        self.runtime.spawn(async move {
            match limits {
                Some(limits) => ::panel::http::serve_with(p, vec![listener], tls, limits).await,
                None => ::panel::http::serve_all(p, vec![listener], tls).await,
            }
        });
    }

    /// The socket address, for tests that send bytes no client sends.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("TestPanel::serve gives an address; open does not")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tweakgate.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A user with a fresh full-access API token.
    pub fn as_(&self, user: &str) -> Client<'_> {
        Client {
            panel: self,
            user: user.into(),
            credential: Credential::Token(None),
            secret: Secret::Header(format!("whm {user}:{}", self.token(user, None, None))),
            from: None,
            headers: Vec::new(),
        }
    }

    /// A user with a fresh full-access API token of this name (the audit log and `api_token_list` name it).
    pub fn as_named(&self, user: &str, token_name: &str) -> Client<'_> {
        Client {
            panel: self,
            user: user.into(),
            credential: Credential::Token(None),
            secret: Secret::Header(format!("whm {user}:{}", self.token(user, None, Some(token_name)))),
            from: None,
            headers: Vec::new(),
        }
    }

    /// A user presenting a password (`Basic`).
    pub fn with_password(&self, user: &str, password: &str) -> Client<'_> {
        Client {
            panel: self,
            user: user.into(),
            credential: Credential::Token(None),
            secret: Secret::Header(crate::basic_auth(user, password)),
            from: None,
            headers: Vec::new(),
        }
    }

    /// No credential at all.
    pub fn anonymous(&self) -> Client<'_> {
        Client {
            panel: self,
            user: String::new(),
            credential: Credential::Anonymous,
            secret: Secret::None,
            from: None,
            headers: Vec::new(),
        }
    }

    /// A client presenting this `Authorization` value as is (a wrong secret, another scheme).
    pub fn presenting(&self, authorization: &str) -> Client<'_> {
        Client {
            panel: self,
            user: String::new(),
            credential: Credential::Presented,
            secret: Secret::Header(authorization.into()),
            from: None,
            headers: Vec::new(),
        }
    }

    /// A user's session opened by redeeming a login link (`create_user_session`'s `url`, or a path of it), as a
    /// browser following it does: the link answers 303 into `/cpsess…/` with the session cookie.
    pub fn redeem(&self, url: &str) -> Client<'_> {
        let path = url.find("/cpsess").map_or(url, |i| &url[i..]);
        let reply = self.anonymous().get(path);
        assert_eq!(reply.status, 303, "redeeming {url}: {}", reply.body);
        let prefix = reply
            .header("location")
            .expect("a redirect into the session")
            .trim_end_matches('/')
            .to_owned();
        let cookie = reply
            .set_cookie(::panel::store::sessions::COOKIE)
            .expect("a session cookie");
        Client {
            panel: self,
            user: String::new(),
            credential: Credential::Session(None),
            secret: Secret::Session { prefix, cookie },
            from: None,
            headers: Vec::new(),
        }
    }

    /// The secret of a one-time login link for `user`, as `tweakgate session` makes it (redeemed at
    /// `/cpsess…/login/?session=<secret>`).
    pub fn login_secret(&self, user: &str) -> String {
        let name = Username::new(user).expect("a username");
        self.panel
            .sessions
            .create_one_time(&Grant::own(name, "command line"), None)
    }

    /// The same panel opened again from its files, as a restart would (sharing the folder).
    pub fn reopened(&self) -> TestPanel {
        let panel =
            Panel::open(&self.config_path()).unwrap_or_else(|e| panic!("the config does not load again: {e:#}"));
        let peer: SocketAddr = PEER.parse().expect("an address");
        let router = ::panel::http::router(Arc::clone(&panel)).layer(MockConnectInfo(Peer(peer)));
        TestPanel {
            dir: Arc::clone(&self.dir),
            panel,
            router,
            addr: None,
            tls_addr: None,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn token(&self, user: &str, acls: Option<&[String]>, name: Option<&str>) -> String {
        self.mint(user, acls, name, None, &[])
    }

    /// A token in the panel's own store: limited to `acls`, expiring at `expires_at` (Unix time), usable only from
    /// the addresses `from` (CIDR) when those are given.
    fn mint(
        &self,
        user: &str,
        acls: Option<&[String]>,
        name: Option<&str>,
        expires_at: Option<u64>,
        from: &[String],
    ) -> String {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = name.map_or_else(|| format!("test{n}"), str::to_owned);
        let name = credentials::TokenName::new(&name).expect("a token name");
        let (_, token) = self
            .panel
            .tokens
            .create(user, &name, acls.map(<[String]>::to_vec), expires_at, from)
            .unwrap_or_else(|e| panic!("a token for {user}: {e}"));
        token.expose().to_owned()
    }

    /// A fresh access key of `user`'s, made by the panel's own key generation (audited as done by root).
    pub fn access_key(&self, user: &str) -> String {
        self.key(user)
    }

    /// The panel's own key generation (what the CLI uses), or its error in full.
    pub fn try_access_key(&self, user: &str) -> Result<String, String> {
        let user = Username::new(user).expect("a username");
        ::panel::whm::ops::keys::generate_key(&self.panel, &user, "root")
            .map(|k| k.as_str().to_owned())
            .map_err(|e| format!("{e:#}"))
    }

    /// What one snapshot in force says of `user` and `feature`: whether the Tweak Setting `setting` is on, whether
    /// the user holds `acl`, and whether the feature is visible to them (all read from the same snapshot).
    pub fn one_view(&self, user: &str, setting: &str, acl: &str, feature: &str) -> (bool, bool, bool) {
        let snapshot = self.panel.snapshot();
        let on = snapshot.config().tweak_settings.is_on(setting);
        let id = snapshot.user_id(user).expect("a user of the cast");
        let held = snapshot
            .privileges(id)
            .contains(settings::Acl::from_name(acl).expect("an ACL"));
        let fid = snapshot.feature_id(feature).expect("a feature");
        (on, held, snapshot.is_visible(id, fid))
    }

    /// Records `n` failed secrets from `ip` in the panel's failure limiter, as that many wrong keys would.
    pub fn record_failures(&self, ip: std::net::IpAddr, n: usize) {
        for _ in 0..n {
            self.panel
                .limiter
                .record_failure(ip, None, ::panel::store::limiter::Kind::Secret);
        }
    }

    /// How many sources the failure limiter tracks now.
    pub fn tracked_sources(&self) -> usize {
        self.panel.limiter.tracked()
    }

    /// Whether the failure limiter throttles secrets from `ip`.
    pub fn throttled(&self, ip: std::net::IpAddr) -> bool {
        self.panel.limiter.secrets_throttled(ip)
    }

    /// Imports users' access keys as API tokens, as `tweakgate convert-accesshash` does; returns what it reports.
    pub fn convert_keys_to_tokens(&self, users: &[&str], verbose: bool) -> Vec<String> {
        let users: Vec<Username> = users.iter().map(|u| Username::new(u).expect("a username")).collect();
        ::panel::whm::ops::keys::convert_accesshash_to_token(&self.panel, &users, verbose).expect("converting keys")
    }

    /// What the panel says of its reloads.
    pub fn reloads(&self) -> Reloads {
        let s = self.panel.status();
        Reloads {
            generation: s.generation,
            last_error: s.last_error,
            restart_needed: s.restart_needed,
        }
    }

    /// The user's access key, made by the panel's own key generation (audited as done by root).
    fn key(&self, user: &str) -> String {
        let user = Username::new(user).expect("a username");
        ::panel::whm::ops::keys::generate_key(&self.panel, &user, "root")
            .expect("generating a key")
            .as_str()
            .to_owned()
    }

    fn session(&self, user: &str, limit: Option<&[String]>) -> (String, String) {
        let name = Username::new(user).expect("a username");
        let limit = limit.map(|acls| AclSet::from_acls(acls.iter().filter_map(|a| settings::Acl::from_name(a))));
        let grant = Grant::new(name.clone(), limit, name, "test".into());
        let (token, cookie) = self.panel.sessions.start(grant);
        (
            format!("/{token}"),
            format!("{}={cookie}", ::panel::store::sessions::COOKIE),
        )
    }

    /// Sends one request: in process, or over the socket when served.
    pub fn send(&self, request: Request<Body>) -> Reply {
        self.send_from(None, request)
    }

    /// Sends one request in process as if it came from `from` (over a socket the address is loopback's).
    pub fn send_from(&self, from: Option<SocketAddr>, request: Request<Body>) -> Reply {
        let (parts, body) = request.into_parts();
        let body = self
            .runtime
            .block_on(axum::body::to_bytes(body, usize::MAX))
            .expect("the request body");
        self.send_bytes(from, Request::from_parts(parts, body.to_vec()))
    }

    /// Sends one request whose body is bytes: in process, or over the socket when served (without entering the
    /// panel's runtime, so a served panel can be asked from inside another one's task).
    fn send_bytes(&self, from: Option<SocketAddr>, request: Request<Vec<u8>>) -> Reply {
        match self.addr {
            None => self.runtime.block_on(async {
                let router = match from {
                    Some(peer) => ::panel::http::router(Arc::clone(&self.panel)).layer(MockConnectInfo(Peer(peer))),
                    None => self.router.clone(),
                };
                let resp = router
                    .oneshot(request.map(Body::from))
                    .await
                    .expect("the router answers");
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .expect("the body");
                Reply {
                    status,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                }
            }),
            Some(addr) => {
                let (parts, body) = request.into_parts();
                let mut raw = format!("{} {} HTTP/1.1\r\nConnection: close\r\n", parts.method, parts.uri);
                if !parts.headers.contains_key(header::HOST) {
                    raw.push_str(&format!("Host: {addr}\r\n"));
                }
                for (k, v) in &parts.headers {
                    raw.push_str(&format!("{k}: {}\r\n", String::from_utf8_lossy(v.as_bytes())));
                }
                raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut bytes = raw.into_bytes();
                bytes.extend_from_slice(&body);
                crate::raw_request(addr, &bytes)
            }
        }
    }

    /// The config file as it is on disk now.
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).expect("reading the config")
    }

    /// The names of the plugins' WHM API 1 functions in force.
    pub fn plugin_functions(&self) -> Vec<String> {
        let mut f: Vec<String> = self.panel.plugins().functions.keys().cloned().collect();
        f.sort();
        f
    }

    /// The plugins' WHM API 1 functions in force, each with the feature that gates it.
    pub fn plugin_function_features(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = self
            .panel
            .plugins()
            .functions
            .iter()
            .map(|(f, feature)| (f.clone(), feature.clone()))
            .collect();
        f.sort();
        f
    }

    /// The page path of every feature of the Home menu, the panel's and the plugins'.
    pub fn menu_pages(&self) -> Vec<String> {
        let snapshot = self.panel.snapshot();
        let host = &self.panel.plugins().host;
        snapshot
            .features()
            .iter()
            .filter(|f| !f.group.is_empty())
            .map(|f| {
                host.feature_info(&f.id)
                    .map(|i| i.path)
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| format!("/{}", f.id))
            })
            .collect()
    }

    /// The id of every feature the gate decides on (the panel's and the plugins').
    pub fn feature_ids(&self) -> Vec<String> {
        self.panel.snapshot().features().iter().map(|f| f.id.clone()).collect()
    }

    /// Rewrites the config atomically (write + rename), as an editor or deploy tool would.
    pub fn rewrite_config(&self, text: &str) {
        let tmp = self.dir.path().join(".tweakgate.toml.tmp");
        std::fs::write(&tmp, text).expect("writing");
        std::fs::rename(&tmp, self.config_path()).expect("renaming");
    }

    /// The page paths of the plugins in force.
    pub fn plugin_pages(&self) -> Vec<String> {
        let host = &self.panel.plugins().host;
        let mut pages: Vec<String> = host
            .features()
            .iter()
            .filter_map(|f| host.feature_info(&f.id))
            .map(|i| i.path)
            .filter(|p| !p.is_empty())
            .collect();
        pages.sort();
        pages
    }

    /// Runs `hook` at each fault point of the Configuration Cluster journal's writes: an `Err` fails the write there,
    /// as a full disk would.
    pub fn cluster_journal_faults(
        &self,
        hook: impl Fn(credentials::FaultPoint) -> std::io::Result<()> + Send + Sync + 'static,
    ) {
        self.panel.cluster.set_journal_hooks(credentials::WriteHooks::new(hook));
    }

    /// The audit log's entries of one event.
    pub fn audit_events(&self, event: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.panel.audit.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == event)
            .collect()
    }
}

impl<'a> Client<'a> {
    /// The same user with an API token limited to `acls`.
    pub fn narrowed(&self, acls: &[&str]) -> Client<'a> {
        let acls: Vec<String> = acls.iter().map(|s| (*s).to_owned()).collect();
        let secret = Secret::Header(format!(
            "whm {}:{}",
            self.user,
            self.panel.token(&self.user, Some(&acls), None)
        ));
        Client {
            credential: Credential::Token(Some(acls)),
            secret,
            ..self.clone()
        }
    }

    /// The same credential as an API token of this name (the audit log and `api_token_list` name it).
    pub fn named(&self, name: &str) -> Client<'a> {
        let acls = match &self.credential {
            Credential::Token(acls) => acls.clone(),
            other => panic!("only a token has a name, not {other:?}"),
        };
        let secret = Secret::Header(format!(
            "whm {}:{}",
            self.user,
            self.panel.token(&self.user, acls.as_deref(), Some(name))
        ));
        Client { secret, ..self.clone() }
    }

    /// The secret presented: the token or key of `whm user:secret`.
    pub fn secret(&self) -> &str {
        match &self.secret {
            Secret::Header(h) => h.split_once(':').map_or("", |(_, s)| s),
            _ => panic!("only a token or a key has a secret"),
        }
    }

    /// The same client with one more header on every request (`Host`, `Origin`, a login form's cookie).
    pub fn header(&self, name: &str, value: &str) -> Client<'a> {
        let mut c = self.clone();
        c.headers.push((name.into(), value.into()));
        c
    }

    /// The same credential sent to another panel (e.g. a [`reopened`](TestPanel::reopened) one).
    pub fn on<'b>(&self, panel: &'b TestPanel) -> Client<'b> {
        Client {
            panel,
            user: self.user.clone(),
            credential: self.credential.clone(),
            secret: self.secret.clone(),
            from: self.from,
            headers: self.headers.clone(),
        }
    }

    /// A form nonce of this session, as the panel puts one in each form it serves.
    pub fn nonce(&self) -> String {
        let (prefix, _) = self.session_parts().expect("a session client");
        self.panel.panel.sessions.issue_nonce(prefix.trim_start_matches('/'))
    }

    /// The same credential as a token that expires at `unix` (seconds) and is usable only from `from` (CIDR; empty:
    /// anywhere).
    pub fn token_limited(&self, unix: Option<u64>, from: &[&str]) -> Client<'a> {
        let acls = match &self.credential {
            Credential::Token(acls) => acls.clone(),
            other => panic!("only a token expires, not {other:?}"),
        };
        let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
        let secret = Secret::Header(format!(
            "whm {}:{}",
            self.user,
            self.panel.mint(&self.user, acls.as_deref(), None, unix, &from)
        ));
        Client { secret, ..self.clone() }
    }

    /// The same user with their access key.
    pub fn with_key(&self) -> Client<'a> {
        let secret = Secret::Header(format!("WHM {}:{}", self.user, self.panel.key(&self.user)));
        Client {
            credential: Credential::Key,
            secret,
            ..self.clone()
        }
    }

    /// The same user in a browser session.
    pub fn in_session(&self) -> Client<'a> {
        self.session(None)
    }

    /// The same user in a session limited to `acls` (as `create_user_session` by a narrowed token makes).
    pub fn in_limited_session(&self, acls: &[&str]) -> Client<'a> {
        let acls: Vec<String> = acls.iter().map(|s| (*s).to_owned()).collect();
        self.session(Some(acls))
    }

    fn session(&self, limit: Option<Vec<String>>) -> Client<'a> {
        let (prefix, cookie) = self.panel.session(&self.user, limit.as_deref());
        Client {
            credential: Credential::Session(limit),
            secret: Secret::Session { prefix, cookie },
            ..self.clone()
        }
    }

    /// The same client, its requests coming from `addr` (in process only).
    pub fn from(&self, addr: &str) -> Client<'a> {
        Client {
            from: Some(addr.parse().expect("an address with a port")),
            ..self.clone()
        }
    }

    /// The `Authorization` header value, for a token or a key.
    pub fn authorization(&self) -> Option<&str> {
        match &self.secret {
            Secret::Header(h) => Some(h),
            _ => None,
        }
    }

    /// `/cpsess…` and the cookie, for a session.
    pub fn session_parts(&self) -> Option<(&str, &str)> {
        match &self.secret {
            Secret::Session { prefix, cookie } => Some((prefix, cookie)),
            _ => None,
        }
    }

    fn build(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method);
        b = match &self.secret {
            Secret::None => b.uri(path),
            Secret::Header(h) => b.uri(path).header(header::AUTHORIZATION, h),
            Secret::Session { prefix, cookie } => b.uri(format!("{prefix}{path}")).header(header::COOKIE, cookie),
        };
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b
    }

    /// A WHM API 1 call: `/json-api/<function>?api.version=1&<query>`.
    pub fn api(&self, function: &str, query: &str) -> Reply {
        let sep = if query.is_empty() { "" } else { "&" };
        self.get(&format!("/json-api/{function}?api.version=1{sep}{query}"))
    }

    /// A GET of `path` (inside the session for a session client).
    pub fn get(&self, path: &str) -> Reply {
        self.panel
            .send_bytes(self.from, self.build("GET", path).body(Vec::new()).expect("a request"))
    }

    /// A page of the session (or any path for other clients).
    pub fn page(&self, path: &str) -> Reply {
        self.get(path)
    }

    /// A form POST to `path`.
    pub fn post(&self, path: &str, form: &str) -> Reply {
        self.post_as(path, "application/x-www-form-urlencoded", form)
    }

    /// A POST with any content type.
    pub fn post_as(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.post_bytes(path, Some(content_type), body.as_bytes().to_vec())
    }

    /// A POST of any bytes, with a `Content-Type` or none at all.
    pub fn post_bytes(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self.build("POST", path);
        if let Some(t) = content_type {
            req = req.header(header::CONTENT_TYPE, t);
        }
        let req = req.body(body).expect("a request");
        self.panel.send_bytes(self.from, req)
    }
}

impl TestPanel {
    /// What an administrator's `systemctl reload` (SIGHUP) does: a reload that confirms a held-back change.
    pub fn confirm_reload(&self) -> Result<(), String> {
        self.panel.reload().map_err(|e| e.to_string())
    }

    /// The configuration's generation (how many snapshots were compiled), as root's `/health` reports it.
    pub fn generation(&self) -> u64 {
        self.panel.status().generation
    }

    /// Root's `/health` answer.
    pub fn health_as_root(&self) -> serde_json::Value {
        self.as_("root").get("/health").json()
    }

    /// A Tweak Setting's stored value in force (`None`: not set, its default applies).
    pub fn setting(&self, key: &str) -> Option<String> {
        self.panel
            .snapshot()
            .config()
            .tweak_settings
            .get(key)
            .map(str::to_owned)
    }

    /// Whether a Tweak Setting in force is on.
    pub fn is_on(&self, key: &str) -> bool {
        self.panel.snapshot().config().tweak_settings.is_on(key)
    }

    /// The keys set explicitly (in the TOML or the native file), the native file's unmodelled ones too.
    pub fn explicit_settings(&self) -> Vec<String> {
        let snapshot = self.panel.snapshot();
        snapshot
            .config()
            .tweak_settings
            .explicit()
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    /// The warnings of the native files in force, as (line, key).
    pub fn warnings(&self) -> Vec<(usize, String)> {
        let snapshot = self.panel.snapshot();
        snapshot
            .config()
            .warnings
            .iter()
            .map(|w| (w.line, w.key.clone()))
            .collect()
    }

    /// A reseller's privileges in force, in catalogue order (`None`: no such reseller).
    pub fn privileges(&self, user: &str) -> Option<Vec<String>> {
        let user = Username::new(user).expect("a username");
        let snapshot = self.panel.snapshot();
        let set = snapshot.config().users.privileges(&user)?;
        Some(set.iter().map(|a| a.name().to_owned()).collect())
    }

    /// The names of a user's API tokens in the store.
    pub fn token_names(&self, user: &str) -> Vec<String> {
        self.panel
            .tokens
            .list(user)
            .expect("the token store")
            .iter()
            .map(|r| r.name.to_string())
            .collect()
    }

    /// A user's API tokens as the store holds them.
    pub fn tokens(&self, user: &str) -> Vec<StoredToken> {
        self.panel
            .tokens
            .list(user)
            .expect("the token store")
            .into_iter()
            .map(|r| StoredToken {
                name: r.name.to_string(),
                acls: r.acls,
                expires_at: r.expires_at,
            })
            .collect()
    }

    /// Stores a token of `user`'s named `name` for `secret` (only its digest is kept, as an import does).
    pub fn import_token(&self, user: &str, name: &str, secret: &str) {
        self.panel
            .tokens
            .import_hash(user, name, &credentials::sha512_hex(secret))
            .expect("importing a token");
    }

    /// Where the user's `.accesshash` is: the file an administrator or another program may change behind the panel.
    pub fn key_file(&self, user: &str) -> PathBuf {
        let user = Username::new(user).expect("a username");
        credentials::key_file_path(&self.panel.home_of(&self.panel.snapshot(), &user))
    }

    /// Where the user's API tokens are stored (the store another process may change behind the panel).
    pub fn token_store_dir(&self) -> PathBuf {
        self.panel.tokens.dir().to_owned()
    }

    /// The user's access key as the file on disk holds it (`None`: no key).
    pub fn key_on_disk(&self, user: &str) -> Option<String> {
        let user = Username::new(user).expect("a username");
        credentials::read_key(&self.panel.home_of(&self.panel.snapshot(), &user))
            .expect("reading the key file")
            .map(|k| k.as_str().to_owned())
    }
}
