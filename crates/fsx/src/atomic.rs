//! Crash-safe file replacement: a private temp file beside the target, fsync, rename, fsync of the directory.
//!
//! A reader of the target sees the complete old file or the complete new one, never a torn
//! one, whatever happens to the writing process (spec §4, proof guide "Faults").

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A point in [`write_atomic_with`] where a test may inject a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The temp file is written and fsynced but not yet renamed over the target.
    AfterTempWritten,
    /// The rename is done but the directory is not yet fsynced.
    AfterRename,
    /// Lines are written to a journal ([`crate::journal::Journal::append`]) but not yet synced.
    AppendWritten,
}

impl FaultPoint {
    /// The point's name: `after-temp-written` or `after-rename` (the names the `TWEAKGATE_FAULT_KEY_WRITE`
    /// variable takes), or `append-written`.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::AfterTempWritten => "after-temp-written",
            FaultPoint::AfterRename => "after-rename",
            FaultPoint::AppendWritten => "append-written",
        }
    }
}

type Hook = dyn Fn(FaultPoint) -> io::Result<()> + Send + Sync;
/// A fault hook borrowed for one write.
pub type HookRef<'a> = dyn Fn(FaultPoint) -> io::Result<()> + 'a;

/// Callbacks run at each [`FaultPoint`]; an `Err` from the callback fails the write there,
/// as a full disk or an I/O error would. A callback may also panic or abort the process.
#[derive(Default)]
pub struct WriteHooks {
    at: Option<Box<Hook>>,
}

impl WriteHooks {
    /// No hooks: the ordinary write.
    pub fn none() -> WriteHooks {
        WriteHooks { at: None }
    }

    /// Runs `f` at every fault point.
    pub fn new(f: impl Fn(FaultPoint) -> io::Result<()> + Send + Sync + 'static) -> WriteHooks {
        WriteHooks { at: Some(Box::new(f)) }
    }

    /// Fails the write at `point` with an injected I/O error (as a full disk would there) and lets it pass every
    /// other point.
    pub fn failing_at(point: FaultPoint) -> WriteHooks {
        WriteHooks::new(move |at| {
            if at == point {
                Err(io::Error::other(format!("injected fault at {}", point.name())))
            } else {
                Ok(())
            }
        })
    }

    pub fn run(&self, point: FaultPoint) -> io::Result<()> {
        match &self.at {
            Some(f) => f(point),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for WriteHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHooks").field("set", &self.at.is_some()).finish()
    }
}

/// The owner to give a file written on someone's behalf (root writing a reseller's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// A failed atomic write: what was being done, to which path, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} '{path}': {source}")]
pub struct FsError {
    /// What failed, e.g. "create temp file".
    pub action: &'static str,
    /// The file the step was working on.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// A failed step: what was being done, to which path, and the OS error.
    pub fn new(action: &'static str, path: &Path, source: io::Error) -> FsError {
        FsError {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// The kind of the underlying I/O error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// Replaces `path` with `bytes`, atomically and durably, with permission bits exactly `mode`.
///
/// Recipe: create `.<name>.tmp.<pid>.<random>` in the same directory with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` (so it is never an existing file or a followed symlink), set
/// its mode with `fchmod` (the umask does not apply), write, fsync, rename over `path`, fsync
/// the directory. If `path` is a symlink, the rename replaces the link itself, not its target.
/// On any error the temp file is removed and the old file is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    write_atomic_with(path, bytes, mode, None, &WriteHooks::none())
}

/// [`write_atomic`] with an optional owner (set with `fchown` before the rename) and fault hooks.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<Owner>,
    hooks: &WriteHooks,
) -> Result<(), FsError> {
    write_atomic_hooked(path, bytes, mode, owner, &|p| hooks.run(p))
}

/// [`write_atomic`] with an optional owner and a borrowed fault hook.
pub fn write_atomic_hooked(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<Owner>,
    hooks: &HookRef<'_>,
) -> Result<(), FsError> {
    let (dir, file_name) = split(path)?;
    let temp = dir.join(format!(
        ".{}.tmp.{}.{:016x}",
        file_name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temp)
        .map_err(|e| FsError::new("create temp file", &temp, e))?;
    // From here on the temp file exists and must be removed on failure.
    let result = fill_and_replace(file, &temp, path, dir, bytes, mode, owner, hooks);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn fill_and_replace(
    mut file: File,
    temp: &Path,
    path: &Path,
    dir: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<Owner>,
    hook: &HookRef<'_>,
) -> Result<(), FsError> {
    if let Some(o) = owner {
        std::os::unix::fs::fchown(&file, Some(o.uid), Some(o.gid))
            .map_err(|e| FsError::new("change the owner of", temp, e))?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| FsError::new("set the mode of", temp, e))?;
    file.write_all(bytes).map_err(|e| FsError::new("write", temp, e))?;
    file.sync_all().map_err(|e| FsError::new("sync", temp, e))?;
    drop(file);
    hook(FaultPoint::AfterTempWritten).map_err(|e| FsError::new("write", temp, e))?;
    fs::rename(temp, path).map_err(|e| FsError::new("rename temp file over", path, e))?;
    // After the rename the temp name no longer exists; the caller's cleanup is a harmless no-op.
    hook(FaultPoint::AfterRename).map_err(|e| FsError::new("sync the directory of", path, e))?;
    sync_dir(dir)
}

/// Flushes a directory's entries (a rename) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    let d = File::open(dir).map_err(|e| FsError::new("open directory", dir, e))?;
    d.sync_all().map_err(|e| FsError::new("sync directory", dir, e))
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), FsError> {
    let invalid = || {
        FsError::new(
            "write",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"),
        )
    };
    let name = path.file_name().ok_or_else(invalid)?;
    let dir = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Err(invalid()),
    };
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_with_exact_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        write_atomic(&p, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        write_atomic(&p, b"three", 0o640).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(entries(dir.path()), vec!["a.toml"], "no temp file left behind");
    }

    #[test]
    fn replaces_a_symlink_rather_than_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"untouched").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"untouched");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_file());
        assert_eq!(fs::read(&link).unwrap(), b"new");
    }

    #[test]
    fn failure_at_each_point_cleans_up() {
        for point in [FaultPoint::AfterTempWritten, FaultPoint::AfterRename] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f");
            write_atomic(&p, b"old", 0o600).unwrap();
            let hooks = WriteHooks::failing_at(point);
            let err = write_atomic_with(&p, b"new", 0o600, None, &hooks).unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
            let expected: &[u8] = if point == FaultPoint::AfterTempWritten {
                b"old"
            } else {
                b"new"
            };
            assert_eq!(fs::read(&p).unwrap(), expected, "{point:?}");
            assert_eq!(entries(dir.path()), vec!["f"], "{point:?}: no temp file left");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        fs::write(&not_a_dir, b"x").unwrap();
        let err = write_atomic(&not_a_dir.join("child"), b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains(&*not_a_dir.to_string_lossy()), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
        let err = write_atomic(Path::new("/"), b"x", 0o600).unwrap_err();
        assert!(err.to_string().starts_with("cannot write '/'"), "{err}");
        // A directory in the way: the rename fails and the temp file is removed.
        fs::create_dir(dir.path().join("d")).unwrap();
        assert!(write_atomic(&dir.path().join("d"), b"x", 0o600).is_err());
        assert_eq!(entries(dir.path()), vec!["d", "file"]);
    }
}
