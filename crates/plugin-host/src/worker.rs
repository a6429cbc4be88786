//! The worker side of `isolation = "process"` (`tweakgate plugin-worker`): a process that loads one plugin library and
//! serves the host's calls into it over the socket the host handed it, so that a crash, an abort or a hang in the
//! plugin ends this process and not the host.
//!
//! Descriptor 3 is the socket, descriptor 4 the sealed copy of the library the host checked. The worker checks those
//! bytes against the SHA-256 the host sends, loads them as the host loads an in-process plugin (ELF bounds, the ABI
//! version first, then the description) and answers `FromWorker::Described`; then it serves one call at
//! a time, forwarding the plugin's [`HostCallbacks`] to the host over the same socket. It exits when the socket closes
//! or the host process ends.

use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use plugin_abi::{CallerKey, HostCallbacks, LogLevel, UserInfo};
use sha2::Digest;

use crate::error::LoadError;
use crate::wire::{self, Answer, Callback, Description, FromWorker, ToWorker};

const SOCKET_FD: i32 = 3;
const LIBRARY_FD: i32 = 4;

/// Runs the worker until the host closes the socket; the process's exit code.
pub fn serve() -> i32 {
    // One line per panic on standard error, which the host writes to its log.
    std::panic::set_hook(Box::new(|info| {
        let message = plugin_abi::__private::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("the plugin panicked{at}: {message}");
    }));
    // SAFETY: `getppid` has no preconditions.
    let parent = unsafe { libc::getppid() };
    // The host may end without closing the socket first (killed): a worker stuck in a plugin call ends with it.
    let _ = std::thread::Builder::new().name("host-watch".into()).spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            // SAFETY: `getppid` has no preconditions.
            if unsafe { libc::getppid() } != parent {
                std::process::exit(0);
            }
        }
    });
    // SAFETY: the host starts this process with its end of a socket pair as descriptor 3 (see `isolated::Worker`),
    // which nothing else here owns.
    let stream = unsafe { UnixStream::from_raw_fd(SOCKET_FD) };
    let (path, sha256) = match wire::receive::<ToWorker>(&mut &stream) {
        Ok(ToWorker::Load { path, sha256 }) => (path, sha256),
        Ok(other) => {
            eprintln!("the host sent {other:?} before the library to load");
            return 2;
        }
        Err(e) => {
            eprintln!("cannot read the host's first message: {e}");
            return 2;
        }
    };
    let (entry, description) = match load(Path::new(&path), &sha256) {
        Ok(loaded) => loaded,
        Err(refused) => {
            let _ = wire::send(&mut &stream, &FromWorker::Described(Err(refused)));
            return 1;
        }
    };
    if wire::send(&mut &stream, &FromWorker::Described(Ok(description.clone()))).is_err() {
        return 2;
    }
    let host = Remote { stream: &stream };
    loop {
        match wire::receive::<ToWorker>(&mut &stream) {
            Ok(ToWorker::Call { feature, request }) => {
                let answer = crate::call::invoke(&entry, &description.name, &feature, &request, &host);
                if let Err(e) = wire::send(&mut &stream, &FromWorker::Done(answer)) {
                    eprintln!("cannot send the answer to the host: {e}");
                    return 2;
                }
            }
            Ok(other) => {
                eprintln!("the host sent {other:?} outside a callback");
                return 2;
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return 0,
            Err(e) => {
                eprintln!("cannot read the host's request: {e}");
                return 2;
            }
        }
    }
}

/// Loads the library handed over as descriptor 4 with the host's own steps, after checking its bytes are the ones the
/// host checked.
fn load(path: &Path, sha256: &str) -> Result<(plugin_abi::PluginEntry, Description), (LoadError, Option<u32>)> {
    let unreadable = |e: std::io::Error| {
        (
            LoadError::Unreadable {
                detail: format!("{}: the worker cannot read its copy: {e}", path.display()),
            },
            None,
        )
    };
    // SAFETY: the host starts this process with the sealed copy of the library as descriptor 4, owned by nothing else.
    let file = unsafe { std::fs::File::from_raw_fd(LIBRARY_FD) };
    let len = file.metadata().map_err(unreadable)?.len();
    let mut bytes = vec![0u8; usize::try_from(len).map_err(|e| unreadable(std::io::Error::other(e)))?];
    // At offset 0 whatever the descriptor's shared offset: every worker of this plugin reads the same copy.
    file.read_exact_at(&mut bytes, 0).map_err(unreadable)?;
    let found = hex::encode(sha2::Sha256::digest(&bytes));
    if found != sha256 {
        return Err((
            LoadError::HashMismatch {
                expected: sha256.to_owned(),
                found,
            },
            None,
        ));
    }
    crate::verify::check_elf_bounds(&bytes, len).map_err(|e| (e, None))?;
    let checked = crate::verify::CheckedFile {
        stamp: fsx::FileStamp::of_metadata(&file.metadata().map_err(unreadable)?),
        bytes,
        sha256: found,
    };
    let library = crate::open_library(path, checked).map_err(|e| (e, None))?;
    let (entry, abi_version) = crate::read_entry(&library)?;
    let descriptor = crate::descriptor::describe(&entry, abi_version).map_err(|e| (e, Some(abi_version)))?;
    // Mapped until the process exits, as in the host (see `Loaded::library`).
    std::mem::forget(library);
    Ok((
        entry,
        Description {
            name: descriptor.name,
            version: descriptor.version,
            features: descriptor.features,
            abi_version,
        },
    ))
}

/// The host, across the socket, for the plugin's callbacks during a call.
struct Remote<'a> {
    stream: &'a UnixStream,
}

impl Remote<'_> {
    fn send(&self, callback: Callback) {
        if let Err(e) = wire::send(&mut &*self.stream, &FromWorker::Callback(callback)) {
            eprintln!("cannot reach the host: {e}");
            std::process::exit(2);
        }
    }

    fn ask(&self, callback: Callback) -> Answer {
        self.send(callback);
        match wire::receive::<ToWorker>(&mut &*self.stream) {
            Ok(ToWorker::Answer(answer)) => answer,
            Ok(other) => {
                eprintln!("the host sent {other:?} instead of an answer");
                std::process::exit(2);
            }
            Err(e) => {
                eprintln!("cannot read the host's answer: {e}");
                std::process::exit(2);
            }
        }
    }
}

impl HostCallbacks for Remote<'_> {
    fn lookup_user(&self, name: &str) -> Option<UserInfo> {
        match self.ask(Callback::LookupUser { name: name.to_owned() }) {
            Answer::User(user) => user,
            _ => None,
        }
    }

    fn audit(&self, event_json: &str) -> Result<(), String> {
        match self.ask(Callback::Audit {
            event: event_json.to_owned(),
        }) {
            Answer::Audit(done) => done,
            _ => Err("the host answered something else".into()),
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.send(Callback::Log {
            level,
            message: message.to_owned(),
        });
    }

    fn call_api(&self, function: &str, params: &[(String, String)]) -> Result<String, String> {
        match self.ask(Callback::CallApi {
            function: function.to_owned(),
            params: params.to_vec(),
        }) {
            Answer::Api(answer) => answer,
            _ => Err("the host answered something else".into()),
        }
    }

    fn caller_key(&self, answer: &mut dyn FnMut(CallerKey<'_>)) {
        match self.ask(Callback::CallerKey) {
            Answer::Key(key) => answer(key.as_answer()),
            _ => answer(CallerKey::Refused("the host answered something else")),
        }
    }
}
