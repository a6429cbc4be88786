//! Checks a plugin file before `dlopen` runs any of its code: a regular file, not writable by others, owned by us or
//! root, in directories that only root or we can change (OpenSSH's StrictModes), reached through no symbolic link
//! another user owns, matching its SHA-256 pin, and not a truncated ELF image that would fault the loader.
//!
//! The checks run on an open descriptor and on the bytes read from it; the host then loads a sealed private copy of
//! those very bytes (see `open_library` in `lib.rs`), so the file that was checked is the code that runs, whatever
//! later happens to the file on disk.

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::LoadError;

/// Which file sits at a path and which version of it ([`fsx::FileStamp`] of the file a path leads to). A library
/// whose stamp changed after it was loaded has new code on disk that only a restart runs.
pub(crate) type Stamp = fsx::FileStamp;

/// A checked plugin file: its bytes as checked, and their hash.
#[derive(Debug)]
pub(crate) struct CheckedFile {
    /// The version of the file that was checked.
    pub stamp: Stamp,
    /// The whole file as it was read and checked: what the host loads.
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses anything but a regular file that only its owner (us or root) can change.
fn check_meta(path: &Path, meta: &Metadata) -> Result<(), LoadError> {
    if !meta.file_type().is_file() {
        return Err(LoadError::FileUnsafe {
            why: format!("{} is {}, not a regular file", path.display(), kind_of(meta)),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "group- and world-writable",
            (true, false) => "group-writable",
            _ => "world-writable",
        };
        return Err(LoadError::FileUnsafe {
            why: format!(
                "{} is {who} (mode {mode:04o}), so another user could replace the code; run chmod go-w on it",
                path.display()
            ),
        });
    }
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(LoadError::FileUnsafe {
            why: format!(
                "{} is owned by uid {}, not by the user running Tweakgate (uid {me}) or root",
                path.display(),
                meta.uid()
            ),
        });
    }
    Ok(())
}

/// Whether a directory on the way to a plugin is one only root or we can change: owned by one of us, and writable by
/// no one else, unless it is sticky (like `/tmp`, where only an entry's owner may rename or remove it).
fn check_directory(dir: &Path, path: &Path) -> Result<(), LoadError> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(LoadError::FileUnsafe {
            why: format!(
                "the directory {} holding {} is owned by uid {}, not by the user running Tweakgate (uid {me}) or root, so its owner could swap in another library",
                dir.display(),
                path.display(),
                meta.uid()
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(LoadError::FileUnsafe {
            why: format!(
                "the directory {} holding {} is writable by other users (mode {mode:04o}), so they could swap in another library; run chmod go-w on it",
                dir.display(),
                path.display()
            ),
        });
    }
    Ok(())
}

/// OpenSSH's StrictModes for a plugin path: every directory up to `/` (of the path as written and of where it leads)
/// passes [`check_directory`], and a final symbolic link is owned by root or us.
fn check_path(path: &Path) -> Result<(), LoadError> {
    let me = euid();
    if let Ok(link) = std::fs::symlink_metadata(path)
        && link.file_type().is_symlink()
        && link.uid() != me
        && link.uid() != 0
    {
        return Err(LoadError::FileUnsafe {
            why: format!(
                "{} is a symbolic link owned by uid {}, not by the user running Tweakgate (uid {me}) or root, so its owner could point it at another library",
                path.display(),
                link.uid()
            ),
        });
    }
    let written = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| written.clone());
    for dir in written.ancestors().skip(1).chain(resolved.ancestors().skip(1)) {
        check_directory(dir, path)?;
    }
    Ok(())
}

/// Runs every check and reads the file whole for loading.
pub(crate) fn check_file(path: &Path, pin: Option<&str>) -> Result<CheckedFile, LoadError> {
    check_path(path)?;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let detail = if std::fs::symlink_metadata(path).is_ok() {
                format!("; {} is a symlink to a missing file", path.display())
            } else {
                format!(": {}", path.display())
            };
            return Err(LoadError::FileMissing { detail });
        }
        Err(e) => {
            return Err(LoadError::Unreadable {
                detail: format!("{}: {e}", path.display()),
            });
        }
    };
    check_meta(path, &meta)?;
    // O_NONBLOCK: should the path be swapped for a FIFO after the check above, opening it must not hang the host.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| LoadError::Unreadable {
            detail: format!("{}: {e}", path.display()),
        })?;
    let opened = file.metadata().map_err(|e| LoadError::Unreadable {
        detail: format!("{}: {e}", path.display()),
    })?;
    check_meta(path, &opened)?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(LoadError::FileUnsafe {
            why: format!("{} was replaced while it was being checked", path.display()),
        });
    }
    let len = opened.len();
    let read_err = |e: std::io::Error| LoadError::Unreadable {
        detail: format!("{}: {e}", path.display()),
    };
    if len > MAX_LIBRARY_BYTES {
        return Err(LoadError::FileUnsafe {
            why: format!(
                "{} is {len} bytes, more than the {MAX_LIBRARY_BYTES} a plugin may have",
                path.display()
            ),
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut file)
        .take(MAX_LIBRARY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let found = hex::encode(Sha256::digest(&bytes));
    if let Some(expected) = pin {
        let expected = expected.trim();
        if !expected.eq_ignore_ascii_case(&found) {
            return Err(LoadError::HashMismatch {
                expected: expected.to_ascii_lowercase(),
                found,
            });
        }
    }
    // The bytes read are what is loaded: their ELF tables must lie inside them.
    check_elf_bounds(&bytes, bytes.len() as u64)?;
    Ok(CheckedFile {
        stamp: fsx::FileStamp::of_metadata(&opened),
        bytes,
        sha256: found,
    })
}

/// The largest plugin library read and loaded.
const MAX_LIBRARY_BYTES: u64 = 256 * 1024 * 1024;

#[cfg(test)]
fn check_whole(b: &[u8]) -> Result<(), LoadError> {
    check_elf_bounds(b, b.len() as u64)
}

fn u16_at(b: &[u8], at: usize, le: bool) -> Option<u64> {
    let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(
        if le {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        }
        .into(),
    )
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u64> {
    let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(
        if le {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
        .into(),
    )
}

fn u64_at(b: &[u8], at: usize, le: bool) -> Option<u64> {
    let raw: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(if le {
        u64::from_le_bytes(raw)
    } else {
        u64::from_be_bytes(raw)
    })
}

/// The loader maps segments straight from the file, so a truncated library can pass `dlopen`'s header checks and then
/// fault (SIGBUS) the whole host when the missing pages are touched; and a library cut after its last segment loads
/// fine while being half of what was shipped. Refuse any ELF whose header tables or loadable segments reach past the
/// end of the file; anything that is not ELF at all is left for `dlopen` to reject with its own words.
/// `b` is the start of the file (or all of it), `len` the file's length.
pub(crate) fn check_elf_bounds(b: &[u8], len: u64) -> Result<(), LoadError> {
    if b.len() < 16 || &b[..4] != b"\x7fELF" {
        return Ok(());
    }
    let wide = match b[4] {
        1 => false,
        2 => true,
        _ => return Ok(()),
    };
    let le = match b[5] {
        1 => true,
        2 => false,
        _ => return Ok(()),
    };
    let truncated = |what: &str| LoadError::NotALibrary {
        detail: format!("truncated ELF file: {what} reaches past the end of the file ({len} bytes)"),
    };
    let header = |field: Option<u64>| field.ok_or_else(|| truncated("the ELF header"));
    let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if wide {
        (
            header(u64_at(b, 32, le))?,
            header(u64_at(b, 40, le))?,
            header(u16_at(b, 54, le))?,
            header(u16_at(b, 56, le))?,
            header(u16_at(b, 58, le))?,
            header(u16_at(b, 60, le))?,
        )
    } else {
        (
            header(u32_at(b, 28, le))?,
            header(u32_at(b, 32, le))?,
            header(u16_at(b, 42, le))?,
            header(u16_at(b, 44, le))?,
            header(u16_at(b, 46, le))?,
            header(u16_at(b, 48, le))?,
        )
    };
    let ends_in_file = |offset: u64, size: u64, count: u64| {
        size.checked_mul(count)
            .and_then(|n| n.checked_add(offset))
            .is_some_and(|end| end <= len)
    };
    if !ends_in_file(phoff, phentsize, phnum) {
        return Err(truncated("the program header table"));
    }
    if phentsize.saturating_mul(phnum).saturating_add(phoff) > b.len() as u64 {
        return Err(LoadError::NotALibrary {
            detail: "the ELF program header table is not near the start of the file".into(),
        });
    }
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let field = |f: Option<u64>| f.ok_or_else(|| truncated("a program header"));
        let p_type = field(u32_at(b, at, le))?;
        let (offset, filesz) = if wide {
            (field(u64_at(b, at + 8, le))?, field(u64_at(b, at + 32, le))?)
        } else {
            (field(u32_at(b, at + 4, le))?, field(u32_at(b, at + 16, le))?)
        };
        const PT_LOAD: u64 = 1;
        const PT_DYNAMIC: u64 = 2;
        if (p_type == PT_LOAD || p_type == PT_DYNAMIC) && offset.checked_add(filesz).is_none_or(|end| end > len) {
            return Err(truncated(&format!("segment {i}")));
        }
    }
    // The loader does not need section headers, but every linker writes them last: a file cut short loses them first.
    if !ends_in_file(shoff, shentsize, shnum) {
        return Err(truncated("the section header table"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF header with one PT_LOAD segment at `offset..offset+size`.
    fn elf(len: usize, offset: u64, size: u64) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[40..48].copy_from_slice(&0u64.to_le_bytes()); // e_shoff
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        b[72..80].copy_from_slice(&offset.to_le_bytes());
        b[96..104].copy_from_slice(&size.to_le_bytes());
        b
    }

    #[test]
    fn elf_bounds() {
        assert!(check_whole(&elf(512, 0, 512)).is_ok());
        assert_eq!(
            check_whole(&elf(512, 256, 512)).unwrap_err().to_string(),
            "not a loadable shared library: truncated ELF file: segment 0 reaches past the end of the file (512 bytes)"
        );
        assert!(
            check_whole(&elf(512, u64::MAX, 2)).is_err(),
            "overflow is refused, not wrapped"
        );
        assert!(
            check_whole(&elf(512, 0, 512)[..100]).is_err(),
            "a cut program header table"
        );
        assert!(
            check_whole(b"not an elf file at all").is_ok(),
            "left for dlopen to describe"
        );
    }
}
