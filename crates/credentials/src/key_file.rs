//! The `~/.accesshash` store: writes a key crash-safely with mode 0600, and reads one only if the file is safe to trust.
//!
//! Reading refuses what OpenSSH refuses for private keys: symlinks, anything that is not a
//! regular file, files others may read, and files owned by someone else (spec §4, proof guide
//! "Bad input").
//!
//! # Fault injection
//!
//! Setting the environment variable `TWEAKGATE_FAULT_KEY_WRITE` to `after-temp-written` or
//! `after-rename` makes [`write_key`] (and [`write_key_as`], [`write_key_with`]) call
//! [`std::process::abort`] at that point: after the temp file is written and fsynced but before
//! the rename, or after the rename but before the directory is fsynced. Crash tests run a child
//! process with it set and then check that `.accesshash` holds the complete old key or the
//! complete new one. Any other value is ignored. In-process tests use [`WriteHooks`] instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::access_key::{AccessKey, KeyError, MAX_KEY_TEXT};
use fsx::{FaultPoint, FsError, Owner, WriteHooks};

/// The file name of a user's access key in their home directory.
pub const KEY_FILE_NAME: &str = ".accesshash";
/// The environment variable that aborts the process at a [`FaultPoint`] of a key write.
pub const FAULT_ENV: &str = "TWEAKGATE_FAULT_KEY_WRITE";
/// The largest key file read.
pub const MAX_KEY_FILE: u64 = MAX_KEY_TEXT as u64;

/// Why a key file could not be read or written. Every message names the path and none holds key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// An I/O error while opening or reading.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The key file is a symbolic link.
    #[error("'{path}' is a symbolic link; the access key must be a regular file")]
    Symlink {
        /// The key file.
        path: PathBuf,
    },
    /// The home a key would be written into is a symbolic link.
    #[error("'{path}' is a symbolic link; an access key is not written through a linked home")]
    HomeSymlink {
        /// The home.
        path: PathBuf,
    },
    /// A FIFO, socket, device or directory.
    #[error("'{path}' is a {kind}, not a regular file")]
    NotRegularFile {
        /// The key file.
        path: PathBuf,
        /// "directory", "FIFO", ….
        kind: &'static str,
    },
    /// Larger than any key.
    #[error("'{path}' is too large for an access key ({size} bytes, at most {max})")]
    TooLarge {
        /// The key file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Group or other permission bits are set.
    #[error(
        "permissions {mode:04o} for '{path}' are too open; the access key must be readable by its owner only (chmod 600)"
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Owned by neither the expected user nor root.
    #[error("'{path}' is owned by uid {uid}; the access key must be owned by uid {expected} or root")]
    WrongOwner {
        /// The key file.
        path: PathBuf,
        /// The file's owner.
        uid: u32,
        /// The owner expected.
        expected: u32,
    },
    /// Not UTF-8 text.
    #[error("'{path}' is not text (invalid UTF-8)")]
    NotUtf8 {
        /// The key file.
        path: PathBuf,
    },
    /// Text that is not a key.
    #[error("'{path}' does not hold a valid access key: {source}")]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: KeyError,
    },
    /// Writing failed; the old key, if any, is unchanged (unless the failure came after the rename).
    #[error(transparent)]
    Write(#[from] FsError),
}

/// `<home>/.accesshash`.
pub fn key_file_path(home: &Path) -> PathBuf {
    home.join(KEY_FILE_NAME)
}

/// Writes `key` to `<home>/.accesshash` with mode 0600, replacing any old key atomically.
///
/// The file is owned by the calling process's user; see [`write_key_as`] to write for someone
/// else. Honours `TWEAKGATE_FAULT_KEY_WRITE` (see the module documentation).
pub fn write_key(home: &Path, key: &AccessKey) -> Result<(), KeyFileError> {
    write_key_inner(home, key, None, &WriteHooks::none())
}

/// [`write_key`], then gives the file to `owner` (before it is renamed into place); needs root to change owners.
pub fn write_key_as(home: &Path, key: &AccessKey, owner: Owner) -> Result<(), KeyFileError> {
    write_key_inner(home, key, Some(owner), &WriteHooks::none())
}

/// [`write_key`] with test hooks run at each [`FaultPoint`] (after the environment variable is checked).
pub fn write_key_with(home: &Path, key: &AccessKey, hooks: &WriteHooks) -> Result<(), KeyFileError> {
    write_key_inner(home, key, None, hooks)
}

fn write_key_inner(home: &Path, key: &AccessKey, owner: Option<Owner>, hooks: &WriteHooks) -> Result<(), KeyFileError> {
    let abort_at = std::env::var(FAULT_ENV).ok().and_then(|v| match v.as_str() {
        "after-temp-written" => Some(FaultPoint::AfterTempWritten),
        "after-rename" => Some(FaultPoint::AfterRename),
        _ => None,
    });
    let hook = |point| {
        if abort_at == Some(point) {
            std::process::abort();
        }
        hooks.run(point)
    };
    // A home that is a link could point anywhere (another user's home, a system directory): refuse it.
    if std::fs::symlink_metadata(home).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(KeyFileError::HomeSymlink {
            path: home.to_path_buf(),
        });
    }
    // A user's first key may come before their home exists; it is made readable by its owner only.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(home)
        .map_err(|e| FsError::new("create directory", home, e))?;
    let text = key.to_file_text_zeroizing();
    fsx::write_atomic_hooked(&key_file_path(home), text.as_bytes(), 0o600, owner, &hook)?;
    Ok(())
}

/// Reads `<home>/.accesshash`, accepting files owned by the process's effective user or root.
///
/// `Ok(None)` if there is no such file. See [`read_key_owned_by`] for the checks.
pub fn read_key(home: &Path) -> Result<Option<AccessKey>, KeyFileError> {
    read_key_owned_by(home, effective_uid())
}

/// Reads `<home>/.accesshash`, accepting files owned by `owner` or root (root reading a reseller's key passes the reseller's uid).
///
/// The file is opened with `O_NOFOLLOW|O_NONBLOCK` (a symlink fails, a FIFO does not block),
/// then the open descriptor is checked: a regular file, at most 64 KiB, no group or other
/// permission bits, the right owner. Only then is it read and normalised.
pub fn read_key_owned_by(home: &Path, owner: u32) -> Result<Option<AccessKey>, KeyFileError> {
    let path = key_file_path(home);
    let io_err = |source| KeyFileError::Io {
        path: path.clone(),
        source,
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(KeyFileError::Symlink { path }),
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "device"
        } else if ft.is_symlink() {
            return Err(KeyFileError::Symlink { path });
        } else {
            "special file"
        };
        return Err(KeyFileError::NotRegularFile { path, kind });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyFileError::TooLarge {
            path,
            size: meta.len(),
            max: MAX_KEY_FILE,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen { path, mode });
    }
    if meta.uid() != owner && meta.uid() != 0 {
        return Err(KeyFileError::WrongOwner {
            path,
            uid: meta.uid(),
            expected: owner,
        });
    }
    let bytes = read_bounded(file, meta.len()).map_err(io_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        // It grew after the check.
        return Err(KeyFileError::TooLarge {
            path,
            size: bytes.len() as u64,
            max: MAX_KEY_FILE,
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyFileError::NotUtf8 { path: path.clone() })?;
    AccessKey::normalise(text)
        .map(Some)
        .map_err(|source| KeyFileError::InvalidKey { path, source })
}

fn read_bounded(file: File, size: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    // Sized up front (plus one byte to see growth) so that the vector is not reallocated,
    // which would leave an unwiped copy of the key behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(size).unwrap_or(MAX_KEY_TEXT).min(MAX_KEY_TEXT) + 1,
    ));
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn home() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_key_is_not_written_through_a_linked_home() {
        let dir = home();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let linked = dir.path().join("bob");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        let key = AccessKey::generate().unwrap();
        let err = write_key(&linked, &key).unwrap_err();
        assert!(matches!(err, KeyFileError::HomeSymlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            !elsewhere.join(KEY_FILE_NAME).exists(),
            "nothing written where the link points"
        );
    }

    #[test]
    fn first_key_creates_a_private_home() {
        let base = home();
        let fresh = base.path().join("home").join("bob");
        let key = AccessKey::generate().unwrap();
        write_key(&fresh, &key).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(read_key(&fresh).unwrap().unwrap().matches(key.as_str()));
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn write_raw(home: &Path, text: &[u8], mode: u32) -> PathBuf {
        let p = key_file_path(home);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn round_trip_with_mode_0600() {
        let h = home();
        assert!(read_key(h.path()).unwrap().is_none(), "no file is no key, not an error");
        let key = AccessKey::generate().unwrap();
        write_key(h.path(), &key).unwrap();
        let p = key_file_path(h.path());
        let meta = fs::metadata(&p).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(meta.uid(), effective_uid());
        assert_eq!(fs::read_to_string(&p).unwrap(), key.to_file_text());
        let back = read_key(h.path()).unwrap().unwrap();
        assert_eq!(back.as_str(), key.as_str());
        assert_eq!(entries(h.path()), vec![".accesshash"]);
    }

    #[test]
    fn writing_replaces_the_old_key() {
        let h = home();
        let old = AccessKey::generate().unwrap();
        let new = AccessKey::generate().unwrap();
        write_key(h.path(), &old).unwrap();
        write_key(h.path(), &new).unwrap();
        let back = read_key(h.path()).unwrap().unwrap();
        assert!(back.matches(new.as_str()));
        assert!(!back.matches(old.as_str()));
    }

    #[test]
    fn reads_old_29_line_keys_and_armour() {
        let h = home();
        let text = format!(
            "-----BEGIN WHM ACCESS KEY-----\n{}-----END WHM ACCESS KEY-----\n",
            format!("{}\n", "0a".repeat(16)).repeat(29)
        );
        write_raw(h.path(), text.as_bytes(), 0o600);
        assert_eq!(read_key(h.path()).unwrap().unwrap().len(), 928);
    }

    #[test]
    fn symlink_is_refused_even_to_a_good_key() {
        let h = home();
        let real = h.path().join("real");
        fs::write(&real, AccessKey::generate().unwrap().to_file_text()).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&real, key_file_path(h.path())).unwrap();
        let err = read_key(h.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::Symlink { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&*key_file_path(h.path()).to_string_lossy()),
            "{err}"
        );
        // A dangling symlink is refused too, not "no key".
        fs::remove_file(&real).unwrap();
        assert!(matches!(read_key(h.path()), Err(KeyFileError::Symlink { .. })));
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let h = home();
        let p = key_file_path(h.path());
        let status = std::process::Command::new("mkfifo")
            .arg("-m")
            .arg("600")
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_key(h.path()).unwrap_err();
        assert!(
            matches!(err, KeyFileError::NotRegularFile { kind: "FIFO", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&*p.to_string_lossy()), "{err}");
    }

    #[test]
    fn directory_is_refused() {
        let h = home();
        fs::create_dir(key_file_path(h.path())).unwrap();
        let err = read_key(h.path()).unwrap_err();
        assert!(
            matches!(err, KeyFileError::NotRegularFile { kind: "directory", .. }),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("is a directory, not a regular file"), "{err}");
    }

    #[test]
    fn oversized_is_refused() {
        let h = home();
        write_raw(h.path(), "a".repeat(64 * 1024 + 1).as_bytes(), 0o600);
        let err = read_key(h.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::TooLarge { size: 65537, .. }), "{err:?}");
    }

    #[test]
    fn group_or_world_readable_is_refused_like_openssh() {
        let h = home();
        let key = AccessKey::generate().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o601] {
            let p = write_raw(h.path(), key.to_file_text().as_bytes(), mode);
            let err = read_key(h.path()).unwrap_err();
            assert!(matches!(err, KeyFileError::TooOpen { .. }), "{mode:o}: {err:?}");
            if mode == 0o644 {
                assert_eq!(
                    err.to_string(),
                    format!(
                        "permissions 0644 for '{}' are too open; the access key must be readable by its owner only (chmod 600)",
                        p.display()
                    )
                );
            }
        }
        write_raw(h.path(), key.to_file_text().as_bytes(), 0o400);
        assert!(read_key(h.path()).unwrap().is_some(), "0400 is fine");
    }

    #[test]
    fn someone_elses_file_is_refused() {
        let h = home();
        write_raw(
            h.path(),
            AccessKey::generate().unwrap().to_file_text().as_bytes(),
            0o600,
        );
        let me = effective_uid();
        let stranger = if me == 12345 { 12346 } else { 12345 };
        if me == 0 {
            // Root can create a file owned by a stranger; the file is then refused for root's own reads.
            std::os::unix::fs::chown(key_file_path(h.path()), Some(stranger), None).unwrap();
            let err = read_key(h.path()).unwrap_err();
            assert!(
                matches!(err, KeyFileError::WrongOwner { uid, .. } if uid == stranger),
                "{err:?}"
            );
            assert!(read_key_owned_by(h.path(), stranger).unwrap().is_some());
        } else {
            // Not root: the file is ours, so expecting a stranger must refuse it.
            let err = read_key_owned_by(h.path(), stranger).unwrap_err();
            assert!(
                matches!(err, KeyFileError::WrongOwner { uid, expected, .. } if uid == me && expected == stranger),
                "{err:?}"
            );
            assert!(err.to_string().contains(".accesshash"), "{err}");
        }
    }

    #[test]
    fn invalid_content_is_a_clear_error() {
        let h = home();
        write_raw(h.path(), b"\xff\xfe not utf8", 0o600);
        let err = read_key(h.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::NotUtf8 { .. }), "{err:?}");
        let secretish = format!("{}xyz", "ab".repeat(40));
        write_raw(h.path(), secretish.as_bytes(), 0o600);
        let err = read_key(h.path()).unwrap_err();
        assert!(
            matches!(
                err,
                KeyFileError::InvalidKey {
                    source: KeyError::NotHex { position: 81 },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            !err.to_string().contains("abab"),
            "no key material in the message: {err}"
        );
        write_raw(h.path(), b"", 0o600);
        assert!(matches!(
            read_key(h.path()),
            Err(KeyFileError::InvalidKey {
                source: KeyError::Empty,
                ..
            })
        ));
    }

    #[test]
    fn failed_write_keeps_old_key_and_leaves_no_temp_file() {
        let h = home();
        let old = AccessKey::generate().unwrap();
        write_key(h.path(), &old).unwrap();
        let new = AccessKey::generate().unwrap();
        let hooks = WriteHooks::failing_at(FaultPoint::AfterTempWritten);
        let err = write_key_with(h.path(), &new, &hooks).unwrap_err();
        assert!(
            err.to_string().contains("injected fault at after-temp-written"),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains(&new.as_str()[..32]));
        assert!(
            read_key(h.path()).unwrap().unwrap().matches(old.as_str()),
            "the old key still works"
        );
        assert_eq!(entries(h.path()), vec![".accesshash"], "no temp file left");
    }

    #[test]
    fn home_that_is_a_file_is_an_error_naming_the_path() {
        let h = home();
        let not_home = h.path().join("plain-file");
        fs::write(&not_home, b"x").unwrap();
        let err = write_key(&not_home, &AccessKey::generate().unwrap()).unwrap_err();
        assert!(err.to_string().contains("plain-file"), "{err}");
        assert_eq!(entries(h.path()), vec!["plain-file"]);
        assert!(matches!(read_key(&not_home), Err(KeyFileError::Io { .. })));
    }

    #[test]
    fn hooks_see_both_points_in_order() {
        let h = home();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        write_key_with(
            h.path(),
            &AccessKey::generate().unwrap(),
            &WriteHooks::new(move |p| {
                s.lock().unwrap().push(p);
                Ok(())
            }),
        )
        .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![FaultPoint::AfterTempWritten, FaultPoint::AfterRename]
        );
    }

    #[test]
    fn write_replaces_a_symlink_without_touching_its_target() {
        let h = home();
        let target = h.path().join("elsewhere");
        fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, key_file_path(h.path())).unwrap();
        let key = AccessKey::generate().unwrap();
        write_key(h.path(), &key).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(read_key(h.path()).unwrap().unwrap().matches(key.as_str()));
    }

    /// Run only as a child of `env_fault_aborts_the_process_and_leaves_a_whole_key`.
    #[test]
    #[ignore = "a helper run in a child process"]
    fn child_writes_a_key() {
        if let Some(home) = std::env::var_os("TWEAKGATE_TEST_CHILD_HOME") {
            write_key(Path::new(&home), &AccessKey::generate().unwrap()).unwrap();
        }
    }

    #[test]
    fn env_fault_aborts_the_process_and_leaves_a_whole_key() {
        for (point, new_expected) in [("after-temp-written", false), ("after-rename", true)] {
            let h = home();
            let old = AccessKey::generate().unwrap();
            write_key(h.path(), &old).unwrap();
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "key_file::tests::child_writes_a_key",
                    "--ignored",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(FAULT_ENV, point)
                .env("TWEAKGATE_TEST_CHILD_HOME", h.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "{point}: the child must abort");
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGABRT), "{point}: {status:?}");
            let now = read_key(h.path()).unwrap().expect("a key is still there");
            assert_eq!(now.len(), 960, "{point}: the key is whole");
            assert_eq!(!now.matches(old.as_str()), new_expected, "{point}");
        }
    }
}
