//! The test seam: the one cast and the one way to reach a panel, the one `Reply`, raw sockets, real processes and builds.
//!
//! - `cast`: the cast every test knows (root; bob; carol with `all`; erin; frank; dave, an account of bob) and the
//!   config builder;
//! - `panel`: `TestPanel::open` (in process) and `TestPanel::serve` (loopback), with one `Client` API;
//! - here: `Reply`, the raw-socket helpers, `ServeProcess` (a real `tweakgate serve`) and the builds.

pub mod cast;
pub mod panel;
pub mod whm_tree;

pub use cast::Cast;
pub use panel::{Client, Credential, TestPanel};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Exit code, standard output and standard error of one run of the `tweakgate` binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tweakgate --config CONFIG ARGS…` to its end.
pub fn run_cli(config: &Path, args: &[&str]) -> Run {
    let out = Command::new(tweakgate_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("running tweakgate");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set, else `target/` at the workspace root.
pub fn target_dir() -> PathBuf {
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"))
}

/// The target directory for a `CARGO_TARGET_DIR` value. Cargo reads a relative one from the folder it runs in,
/// which for the builds here is this package's folder.
fn target_dir_from(var: Option<std::ffi::OsString>) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    match var {
        Some(dir) => here.join(dir),
        None => here.join("../target"),
    }
}

/// Where cargo puts what it builds with the dev profile, or with `--release`.
pub fn profile_dir(target_dir: &Path, release: bool) -> PathBuf {
    target_dir.join(if release { "release" } else { "debug" })
}

/// Builds a workspace cdylib package once per test binary and returns the path of its shared library.
pub fn build_cdylib(package: &str) -> PathBuf {
    build_cdylib_in(package, false)
}

/// Like [`build_cdylib`], with the release profile when `release` is set (benchmarks compare optimised code).
pub fn build_cdylib_in(package: &str, release: bool) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let key = format!("{package}{}", if release { "@release" } else { "" });
    if let Some(p) = built.get(&key) {
        return p.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", package])
        .args(release.then_some("--release"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    let path = profile_dir(&target_dir(), release).join(format!("lib{}.so", package.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    built.insert(key, path.clone());
    path
}

/// Builds the `tweakgate` binary once per test binary and returns its path.
pub fn tweakgate_bin() -> PathBuf {
    tweakgate_bin_in(false)
}

/// Like [`tweakgate_bin`], with the release profile when `release` is set (load benchmarks drive optimised code).
pub fn tweakgate_bin_in(release: bool) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    BUILT[usize::from(release)]
        .get_or_init(|| {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--quiet", "-p", "panel", "--bin", "tweakgate"])
                .args(release.then_some("--release"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build -p panel failed");
            let path = profile_dir(&target_dir(), release).join("tweakgate");
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// Plugins configured with `isolation = "process"` run as `tweakgate plugin-worker`; a host in a test process (whose own
/// executable is the test binary) is told to run the built `tweakgate` instead. Safe to call from any test, any time.
pub fn isolated_workers() {
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| plugin_host::set_worker_program(tweakgate_bin()));
}

/// An HTTP response as the tests see it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `name=value` a `Set-Cookie` header of this answer sets for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find(|c| c.split_once('=').is_some_and(|(n, _)| n.trim() == name))
            .map(str::to_owned)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// WHM API 1's `metadata.result` (-1 when the answer has none).
    pub fn result(&self) -> i64 {
        self.json()["metadata"]["result"].as_i64().unwrap_or(-1)
    }

    /// WHM API 1's `metadata.reason`.
    pub fn reason(&self) -> String {
        self.json()["metadata"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The gate's reason codes of a refusal (`metadata.reasons[].code`).
    pub fn reason_codes(&self) -> Vec<String> {
        self.json()["metadata"]["reasons"]
            .as_array()
            .map(|r| r.iter().filter_map(|c| c["code"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// Sends one raw HTTP/1.1 request (any header bytes, even invalid ones) and reads the whole answer.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connecting to the test server");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    stream.write_all(request).expect("sending");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    parse_reply(&buf)
}

fn parse_reply(buf: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Reply { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// A GET or POST with optional headers and form body.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    raw_request(addr, req.as_bytes())
}

/// A GET of `path` over HTTPS from a client that trusts exactly the certificate in `cert` (as `localhost`); the whole
/// answer as text, head and body.
pub fn https_get(addr: SocketAddr, cert: &Path, path: &str) -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).expect("the certificate file") {
        roots.add(c.expect("a certificate")).expect("a trusted root");
    }
    let client =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(client), name).expect("a TLS client");
    let mut sock = TcpStream::connect(addr).expect("connecting");
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("sending");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding loopback");
    l.local_addr().expect("local addr")
}

/// A real `tweakgate serve` process on loopback, with its own config and state in a temporary directory; it can be
/// stopped (killed, as a crash would) and started again on the same ports with the same state.
#[allow(missing_debug_implementations)] // holds a child process
pub struct ServeProcess {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// The HTTPS listener, when asked for (a self-signed certificate made on first start).
    pub tls_addr: Option<SocketAddr>,
    /// A full-access API token of root's, made before the first start, for the test's own calls.
    pub root_token: String,
    /// The release build is served (load benchmarks), else the debug build.
    release: bool,
    /// Global options given before `serve`, e.g. `--log-format json`.
    args: Vec<String>,
    child: Option<std::process::Child>,
}

impl ServeProcess {
    /// Writes a config (listeners, `state_dir = "state"`, then `extra`) and starts serving it.
    pub fn start(extra: &str, tls: bool) -> ServeProcess {
        ServeProcess::start_with(extra, tls, false)
    }

    /// [`start`](Self::start) with the build to serve; `{plugin}` in `extra` becomes the Remote Access Key plugin of
    /// that build.
    pub fn start_with(extra: &str, tls: bool, release: bool) -> ServeProcess {
        ServeProcess::start_full(extra, tls, release, &[])
    }

    /// [`start`](Self::start) without TLS, with global options before `serve` (e.g. `["--log-format", "json"]`).
    pub fn start_with_args(extra: &str, args: &[&str]) -> ServeProcess {
        ServeProcess::start_full(extra, false, false, args)
    }

    fn start_full(extra: &str, tls: bool, release: bool, args: &[&str]) -> ServeProcess {
        let extra = if extra.contains("{plugin}") {
            extra.replace(
                "{plugin}",
                &build_cdylib_in("remote-access-key", release).display().to_string(),
            )
        } else {
            extra.to_owned()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = free_loopback_addr();
        let tls_addr = tls.then(free_loopback_addr);
        let tls_line = tls_addr.map_or_else(String::new, |a| format!("tls_listen = [\"{a}\"]\n"));
        let config = format!("[server]\nlisten = [\"{addr}\"]\n{tls_line}state_dir = \"state\"\n{extra}");
        std::fs::write(dir.path().join("tweakgate.toml"), config).expect("writing the config");
        let root_token = ServeProcess::token_in(dir.path(), "test_admin");
        let mut p = ServeProcess {
            dir,
            addr,
            tls_addr,
            root_token,
            release,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        p.resume();
        p
    }

    /// The running server's process id (`None` while stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Resident memory (KiB) and open descriptors of the running server, from `/proc`.
    pub fn footprint(&self) -> Result<(u64, usize), String> {
        let pid = self.child.as_ref().ok_or("the server is stopped")?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("cannot measure memory of process {pid}: {e}"))?;
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("no VmRSS line for process {pid}"))?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map_err(|e| format!("cannot count the descriptors of process {pid}: {e}"))?
            .count();
        Ok((rss, fds))
    }

    /// CPU time the running server has used so far (user + system, every thread, from `/proc/<pid>/stat`), in
    /// seconds at the kernel's 1/100 s resolution.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        let pid = self.child.as_ref().ok_or("the server is stopped")?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("cannot read the CPU time of process {pid}: {e}"))?;
        // Fields after the command name (which may hold spaces) start at the state, field 3; utime is 14, stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| -> Result<f64, String> {
            fields
                .get(i - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .map(|t| t as f64 / 100.0)
                .ok_or_else(|| format!("no field {i} in /proc/{pid}/stat"))
        };
        Ok(ticks(14)? + ticks(15)?)
    }

    /// A new full-access API token of root's, written straight into the state directory's store.
    pub fn new_root_token(&self, name: &str) -> String {
        ServeProcess::token_in(self.dir.path(), name)
    }

    fn token_in(dir: &Path, name: &str) -> String {
        let store = credentials::TokenStore::open(&dir.join("state/api_tokens")).expect("the token store");
        let name = credentials::TokenName::new(name).expect("a token name");
        let (_, token) = store.create("root", &name, None, None, &[]).expect("a token for root");
        token.expose().to_owned()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tweakgate.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Starts the server again (after [`stop`](Self::stop)) and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .expect("the log file");
        let child = Command::new(tweakgate_bin_in(self.release))
            .arg("--config")
            .arg(self.config_path())
            .args(&self.args)
            .arg("serve")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting tweakgate serve");
        self.child = Some(child);
        let started = std::time::Instant::now();
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: nothing is flushed on the way out) and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the server wrote on standard output and error.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// A WHM API 1 call with root's test token.
    pub fn api(&self, function: &str, query: &str) -> Reply {
        self.api_as(function, query, &format!("whm root:{}", self.root_token))
    }

    /// A WHM API 1 call with any `Authorization` value.
    pub fn api_as(&self, function: &str, query: &str, authorization: &str) -> Reply {
        let sep = if query.is_empty() { "" } else { "&" };
        request(
            self.addr,
            "GET",
            &format!("/json-api/{function}?api.version=1{sep}{query}"),
            &[("Authorization", authorization)],
            "",
        )
    }

    /// A root session through `tweakgate session`: the `/cpsess…` prefix and the cookie header value.
    pub fn root_session(&self) -> (String, String) {
        let out = Command::new(tweakgate_bin())
            .arg("--config")
            .arg(self.config_path())
            .args(["session", "--user", "root"])
            .output()
            .expect("running tweakgate session");
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let path = url[url.find("/cpsess").expect("a session URL")..].to_owned();
        let landing = request(self.addr, "GET", &path, &[], "");
        let cookie = landing
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find(|c| c.starts_with("whostmgrsession="))
            .expect("a session cookie")
            .to_owned();
        let prefix = path[..path.find("/login/").expect("a login path")].to_owned();
        (prefix, cookie)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits up to `limit` for `cond` to hold, polling; returns how long it took.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A request's status and how long it took to answer.
pub fn timed(request: impl FnOnce() -> u16) -> (u16, Duration) {
    let start = std::time::Instant::now();
    let status = request();
    (status, start.elapsed())
}

/// A `Basic` Authorization header value for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A GET of `path` with one header, sent from the loopback address `from` (any of `127.0.0.0/8`).
pub fn get_from(from: std::net::IpAddr, addr: SocketAddr, path: &str, authorization: &str) -> Reply {
    let stream = socket_from(from, addr);
    let mut stream = stream;
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {authorization}\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("sending");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    parse_reply(&buf)
}

fn socket_from(from: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(from, 0))
            .expect("binding the client address");
        let stream = socket.connect(addr).await.expect("connecting");
        let std = stream.into_std().expect("std stream");
        std.set_nonblocking(false).expect("blocking");
        std
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_are_looked_for_where_their_profile_puts_them() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(target_dir_from(None), here.join("../target"));
        assert_eq!(target_dir_from(Some("/elsewhere/t".into())), Path::new("/elsewhere/t"));
        assert_eq!(target_dir_from(Some("rel".into())), here.join("rel"));
        assert_eq!(profile_dir(Path::new("/t"), false), Path::new("/t/debug"));
        assert_eq!(profile_dir(Path::new("/t"), true), Path::new("/t/release"));
    }

    /// A real release build of the one fixture without dependencies, so it costs a second or two.
    #[test]
    fn a_release_build_is_loaded_from_the_release_folder() {
        let release = build_cdylib_in("fixture-empty", true);
        assert_eq!(release, target_dir().join("release/libfixture_empty.so"));
        let debug = build_cdylib_in("fixture-empty", false);
        assert_eq!(debug, target_dir().join("debug/libfixture_empty.so"));
    }
}
