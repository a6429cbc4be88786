//! File stamps: which file sits at a path and which version of it, to notice a change without reading the file.

use std::fs::Metadata;
use std::path::Path;

/// Identity of a file's contents and protection as far as metadata tells: a write, a rename, a `chmod`, a `chown`
/// or a symlink swapped in changes it (the change time moves with each). A stamp of the path itself
/// ([`FileStamp::of_link`]), of what it leads to ([`FileStamp::of_target`], [`FileStamp::of_metadata`] of an open
/// file), or of both ([`FileStamp::of`]); only stamps taken the same way are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// The path itself, not following a symlink.
    link: Option<Meta>,
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
    fn of(m: &Metadata) -> Meta {
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
    /// The stamp of `path` and of what it leads to, now; `None` when the path does not exist.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let link = Meta::of(&std::fs::symlink_metadata(path).ok()?);
        let target = std::fs::metadata(path).ok().map(|m| Meta::of(&m));
        Some(FileStamp {
            link: Some(link),
            target,
        })
    }

    /// The stamp of the path itself, not following a symlink; `None` when it does not exist.
    pub fn of_link(path: &Path) -> Option<FileStamp> {
        let link = Meta::of(&std::fs::symlink_metadata(path).ok()?);
        Some(FileStamp {
            link: Some(link),
            target: None,
        })
    }

    /// The stamp of the file `path` leads to, following symlinks; `None` when there is none.
    pub fn of_target(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of_metadata(&m))
    }

    /// The stamp of a file from its metadata (of an open file, say), comparable with [`FileStamp::of_target`].
    pub fn of_metadata(metadata: &Metadata) -> FileStamp {
        FileStamp {
            link: None,
            target: Some(Meta::of(metadata)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_a_chmod_and_a_swapped_symlink_change_the_stamp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b, link) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("link"));
        std::fs::write(&a, b"one").unwrap();
        std::fs::write(&b, b"one").unwrap();
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let before = FileStamp::of(&link).unwrap();
        assert_eq!(FileStamp::of(&link), Some(before), "nothing changed");
        let opened = std::fs::File::open(&a).unwrap().metadata().unwrap();
        assert_eq!(FileStamp::of_metadata(&opened), FileStamp::of_target(&link).unwrap());
        std::fs::write(&a, b"two!").unwrap();
        assert_ne!(FileStamp::of(&link), Some(before), "a write");
        let written = FileStamp::of(&link).unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_ne!(FileStamp::of(&link), Some(written), "a chmod");
        let chmodded = FileStamp::of_link(&link).unwrap();
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&b, &link).unwrap();
        assert_ne!(FileStamp::of_link(&link), Some(chmodded), "a swapped symlink");
        assert_eq!(FileStamp::of(&dir.path().join("missing")), None);
    }
}
