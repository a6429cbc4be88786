//! Files and time as the rest of the panel needs them: file stamps for change detection, private directories and the
//! clock. A leaf: it imports nothing from the panel, so every other module may use it without forming a circle.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Creates a directory (and parents) readable by its owner only.
pub fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Identity of a file's contents and protection as far as metadata tells: a write, a rename, a `chmod`, a `chown`
/// or a symlink swapped in changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// The path itself, not following a symlink.
    link: Meta,
    /// What the path leads to, following symlinks (a watched config may be a link to a deployed file).
    target: Option<Meta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    mode: u32,
    uid: u32,
    ctime_ns: i128,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Meta {
        use std::os::unix::fs::MetadataExt;
        Meta {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            mode: m.mode(),
            uid: m.uid(),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

impl FileStamp {
    /// The stamp of `path` now; `None` when it does not exist.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let link = Meta::of(&std::fs::symlink_metadata(path).ok()?);
        let target = std::fs::metadata(path).ok().map(|m| Meta::of(&m));
        Some(FileStamp { link, target })
    }
}
