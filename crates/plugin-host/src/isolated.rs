//! `isolation = "process"`: a plugin whose code runs in a worker process of its own (`tweakgate plugin-worker`, see
//! [`crate::worker`]), called over a Unix socket with the frames of [`crate::wire`]. A crash, an abort, a hang past
//! the call's deadline or a broken frame ends that worker, never the host: the call fails with
//! [`PluginCallError::WorkerFailed`], the plugin is faulted, and [`Worker::restart`] starts it again after a back-off
//! that doubles with each fault.
//!
//! The host checks the file as for an in-process plugin and hands the worker a sealed private copy of exactly the bytes
//! it checked (a memfd, descriptor 4; the socket is descriptor 3), so a restart runs the same code even if the file
//! changed on disk since. Calls into one worker run one at a time.

use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use plugin_abi::{HostCallbacks, Request, Response};

use crate::error::{LoadError, PluginCallError};
use crate::wire::{self, Answer, Callback, Description, FromWorker, ToWorker};

/// How long a call may take when its `[[plugins]]` entry sets no `call_timeout_ms`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker may take to load its library and describe it.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the first restart of a faulted worker; it doubles with each fault in a row, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a restart.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The program run as `<program> plugin-worker`; `None`: this process's own executable.
static PROGRAM: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Runs plugin workers as `program plugin-worker` instead of this process's own executable (which is right for the
/// `tweakgate` binary; a host embedded in another program names the `tweakgate` binary here).
pub fn set_worker_program(program: PathBuf) {
    *PROGRAM.write().unwrap_or_else(|e| e.into_inner()) = Some(program);
}

fn program() -> io::Result<PathBuf> {
    match &*PROGRAM.read().unwrap_or_else(|e| e.into_inner()) {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe(),
    }
}

/// The account a worker runs as.
#[derive(Debug, Clone)]
struct Account {
    uid: u32,
    gid: u32,
}

fn account(name: &str) -> Result<Account, String> {
    // SAFETY: `geteuid` has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "it is to run as the user {name}, but only a server running as root can start a process as another user"
        ));
    }
    let c_name = std::ffi::CString::new(name).map_err(|_| format!("the user name {name:?} holds a NUL byte"))?;
    // SAFETY: `passwd` is plain data (integers and pointers), for which all zeroes is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: the name is NUL-terminated, `pwd` and `buf` are writable and `buf`'s
    // length is given; `found` receives null or `&mut pwd`.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err(format!("the user {name} does not exist on this system"));
    }
    if pwd.pw_uid == 0 {
        return Err(format!(
            "the user {name} is root; name an unprivileged user for the worker"
        ));
    }
    Ok(Account {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// One running worker process.
#[derive(Debug)]
struct Conn {
    child: Child,
    stream: UnixStream,
}

/// A plugin's worker: the process while it runs, and what it takes to start it again.
#[derive(Debug)]
pub(crate) struct Worker {
    /// The configured path, for messages and the worker's log lines.
    path: PathBuf,
    /// The sealed copy of the checked bytes the worker loads.
    library: std::fs::File,
    sha256: String,
    user: Option<Account>,
    budget_ms: AtomicU64,
    conn: Mutex<Option<Conn>>,
    /// Faults since the last call the plugin answered: the back-off doubles with each.
    faults: AtomicU32,
    /// When the worker last stopped.
    down_since: Mutex<Option<Instant>>,
}

/// Why an exchange with the worker ended without an answer.
enum Broken {
    Late,
    Ended,
    Protocol(io::Error),
}

fn broken(e: io::Error) -> Broken {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Broken::Late,
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Broken::Ended,
        _ => Broken::Protocol(e),
    }
}

/// How a worker process ended, in words.
fn ended(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let what = match signal {
            libc::SIGABRT => " (SIGABRT: it aborted)",
            libc::SIGSEGV => " (SIGSEGV: it crashed on a bad memory access)",
            libc::SIGBUS => " (SIGBUS: it crashed on a bad memory access)",
            libc::SIGILL => " (SIGILL: it crashed)",
            libc::SIGFPE => " (SIGFPE: it crashed)",
            libc::SIGKILL => " (SIGKILL)",
            _ => "",
        };
        format!("its worker process was killed by signal {signal}{what}")
    } else {
        format!("its worker process exited with status {}", status.code().unwrap_or(-1))
    }
}

impl Worker {
    /// Starts the worker for a checked file: `library` is the sealed copy of its bytes. Answers the worker and the
    /// plugin's description, or why it did not load (with the ABI version when the worker read it).
    pub(crate) fn start(
        path: &Path,
        library: std::fs::File,
        sha256: &str,
        user: Option<&str>,
        budget: Duration,
    ) -> Result<(Worker, Description), (LoadError, Option<u32>)> {
        let user = match user.map(account).transpose() {
            Ok(u) => u,
            Err(why) => return Err((LoadError::WorkerFailed { why }, None)),
        };
        let worker = Worker {
            path: path.to_owned(),
            library,
            sha256: sha256.to_owned(),
            user,
            budget_ms: AtomicU64::new(u64::try_from(budget.as_millis()).unwrap_or(u64::MAX)),
            conn: Mutex::new(None),
            faults: AtomicU32::new(0),
            down_since: Mutex::new(None),
        };
        let (conn, description) = worker.spawn()?;
        *worker.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        Ok((worker, description))
    }

    pub(crate) fn set_budget(&self, budget: Duration) {
        self.budget_ms
            .store(u64::try_from(budget.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn budget(&self) -> Duration {
        Duration::from_millis(self.budget_ms.load(Ordering::Relaxed))
    }

    /// Starts a process, hands it the library and asks for the description.
    fn spawn(&self) -> Result<(Conn, Description), (LoadError, Option<u32>)> {
        let failed = |why: String| (LoadError::WorkerFailed { why }, None);
        let program = program().map_err(|e| failed(format!("cannot find the tweakgate program to run: {e}")))?;
        let (host_end, worker_end) =
            UnixStream::pair().map_err(|e| failed(format!("cannot make the worker's socket: {e}")))?;
        let mut command = Command::new(&program);
        command
            .arg("plugin-worker")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(a) = &self.user {
            command.uid(a.uid).gid(a.gid);
        }
        let socket: RawFd = worker_end.as_raw_fd();
        let library: RawFd = self.library.as_raw_fd();
        // SAFETY: the closure runs in the child between fork and exec and calls only async-signal-safe functions
        // (fcntl, dup2, close) on descriptors this process owns; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                // Out of the way first, so that neither lands on the other's target number.
                let s = libc::fcntl(socket, libc::F_DUPFD, 10);
                let l = libc::fcntl(library, libc::F_DUPFD, 10);
                if s < 0 || l < 0 || libc::dup2(s, 3) < 0 || libc::dup2(l, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(s);
                libc::close(l);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| failed(format!("cannot start {} plugin-worker: {e}", program.display())))?;
        drop(worker_end);
        if let Some(stderr) = child.stderr.take() {
            let label = self.path.display().to_string();
            let pid = child.id();
            let _ = std::thread::Builder::new()
                .name("plugin-worker-log".into())
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        tracing::warn!(target: "plugin", plugin = %label, worker = pid, "{line}");
                    }
                });
        }
        let mut conn = Conn {
            child,
            stream: host_end,
        };
        let described = (|| {
            conn.stream.set_read_timeout(Some(LOAD_TIMEOUT))?;
            conn.stream.set_write_timeout(Some(LOAD_TIMEOUT))?;
            wire::send(
                &mut conn.stream,
                &ToWorker::Load {
                    path: self.path.display().to_string(),
                    sha256: self.sha256.clone(),
                },
            )?;
            wire::receive::<FromWorker>(&mut conn.stream)
        })();
        let why = match described {
            Ok(FromWorker::Described(Ok(description))) => return Ok((conn, description)),
            Ok(FromWorker::Described(Err(refused))) => {
                stop(conn);
                return Err(refused);
            }
            Ok(other) => format!("it answered {other:?} instead of its description"),
            Err(e) => match broken(e) {
                Broken::Late => format!("it did not describe the plugin within {} s", LOAD_TIMEOUT.as_secs()),
                Broken::Ended => return Err(failed(wait_for_end(conn))),
                Broken::Protocol(e) => format!("it broke the worker protocol: {e}"),
            },
        };
        stop(conn);
        Err(failed(why))
    }

    /// Serves one request in the worker, answering its callbacks with `services`, within the call's deadline.
    pub(crate) fn call(
        &self,
        plugin: &str,
        feature: &str,
        request: &Request,
        services: &dyn HostCallbacks,
    ) -> Result<Response, PluginCallError> {
        let budget = self.budget();
        let queued = Instant::now();
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if queued.elapsed() >= budget {
            return Err(PluginCallError::Busy {
                plugin: plugin.to_owned(),
            });
        }
        let Some(running) = conn.as_mut() else {
            return Err(PluginCallError::WorkerFailed {
                plugin: plugin.to_owned(),
                why: "has no worker process running".into(),
            });
        };
        let deadline = Instant::now() + budget;
        match exchange(running, plugin, feature, request, services, deadline) {
            Ok(Ok(response)) => {
                self.faults.store(0, Ordering::Relaxed);
                Ok(response)
            }
            Ok(Err(e)) => {
                if matches!(
                    e,
                    PluginCallError::Panicked { .. } | PluginCallError::ContractViolation { .. }
                ) {
                    // The fault is contained to the worker: a fresh one starts after the back-off.
                    self.down(conn.take());
                }
                Err(e)
            }
            Err(broke) => {
                let Some(running) = conn.take() else {
                    unreachable!("the connection was just used")
                };
                let why = match broke {
                    Broken::Late => {
                        stop(running);
                        format!(
                            "did not answer within {} ms (its call_timeout_ms); its worker process was stopped",
                            budget.as_millis()
                        )
                    }
                    Broken::Ended => wait_for_end(running),
                    Broken::Protocol(e) => {
                        stop(running);
                        format!("broke the worker protocol ({e}); its worker process was stopped")
                    }
                };
                self.down(None);
                Err(PluginCallError::WorkerFailed {
                    plugin: plugin.to_owned(),
                    why,
                })
            }
        }
    }

    /// Stops the worker (when `conn` holds it) and counts the fault for the back-off.
    fn down(&self, conn: Option<Conn>) {
        if let Some(conn) = conn {
            stop(conn);
        }
        self.faults.fetch_add(1, Ordering::Relaxed);
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Stops the worker, if it runs, for a fault found elsewhere (a plugin marked faulted).
    pub(crate) fn stop(&self) {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        if conn.is_some() {
            self.down(conn);
        }
    }

    /// How long until the worker may be started again: `None` while it runs.
    pub(crate) fn restart_in(&self) -> Option<Duration> {
        if self.conn.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            return None;
        }
        let since = (*self.down_since.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(self.backoff().saturating_sub(since.elapsed()))
    }

    /// The wait after the faults in a row so far: [`FIRST_BACKOFF`], doubled for each fault after the first.
    pub(crate) fn backoff(&self) -> Duration {
        let faults = self.faults.load(Ordering::Relaxed).max(1);
        FIRST_BACKOFF
            .saturating_mul(1u32.checked_shl(faults - 1).unwrap_or(u32::MAX))
            .min(MAX_BACKOFF)
    }

    /// Starts a stopped worker again; the description it gives, or why it did not start (the back-off then grows).
    pub(crate) fn restart(&self) -> Result<Description, String> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_some() {
            return Err("its worker process is running".into());
        }
        match self.spawn() {
            Ok((running, description)) => {
                *conn = Some(running);
                Ok(description)
            }
            Err((e, _)) => {
                drop(conn);
                self.down(None);
                Err(e.to_string())
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            stop(conn);
        }
    }
}

/// Kills and reaps a worker.
fn stop(mut conn: Conn) {
    let _ = conn.child.kill();
    let _ = conn.child.wait();
}

/// A worker whose socket closed: how it ended (killed after a short wait if it lingers).
fn wait_for_end(mut conn: Conn) -> String {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match conn.child.try_wait() {
            Ok(Some(status)) => return ended(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                stop(conn);
                return "closed its socket; its worker process was stopped".into();
            }
        }
    }
}

/// One call over the socket: the request, then callbacks answered until the plugin's answer.
fn exchange(
    conn: &mut Conn,
    plugin: &str,
    feature: &str,
    request: &Request,
    services: &dyn HostCallbacks,
    deadline: Instant,
) -> Result<Result<Response, PluginCallError>, Broken> {
    let stream = &mut conn.stream;
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() { Err(Broken::Late) } else { Ok(left) }
    };
    stream.set_write_timeout(Some(left()?)).map_err(broken)?;
    wire::send(stream, &wire::CallRef::Call { feature, request }).map_err(broken)?;
    loop {
        stream.set_read_timeout(Some(left()?)).map_err(broken)?;
        let answer = match wire::receive::<FromWorker>(stream).map_err(broken)? {
            FromWorker::Done(Ok(response)) if !(100..=599).contains(&response.status) => {
                return Ok(Err(PluginCallError::ContractViolation {
                    plugin: plugin.to_owned(),
                    why: format!("the response has HTTP status {}", response.status),
                }));
            }
            FromWorker::Done(result) => return Ok(result),
            FromWorker::Callback(Callback::Log { level, message }) => {
                services.log(level, &message);
                continue;
            }
            FromWorker::Callback(Callback::LookupUser { name }) => Answer::User(services.lookup_user(&name)),
            FromWorker::Callback(Callback::Audit { event }) => Answer::Audit(services.audit(&event)),
            FromWorker::Callback(Callback::CallApi { function, params }) => {
                Answer::Api(services.call_api(&function, &params))
            }
            FromWorker::Callback(Callback::CallerKey) => {
                let mut key = wire::WireKey::NotOffered;
                services.caller_key(&mut |answer| key = wire::WireKey::from_answer(answer));
                Answer::Key(key)
            }
            FromWorker::Described(_) => {
                return Err(Broken::Protocol(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a description in the middle of a call",
                )));
            }
        };
        stream.set_write_timeout(Some(left()?)).map_err(broken)?;
        wire::send(stream, &ToWorker::Answer(answer)).map_err(broken)?;
    }
}
