//! Reading a real server's files without changing them: capped, `O_NOATIME` where allowed, lossy about bad bytes,
//! and split into numbered lines with `\r\n` and a missing final newline tolerated.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Linux's `O_NOATIME`: reading leaves even the access time alone where the kernel lets us (owner or root).
const O_NOATIME: i32 = 0o1_000_000;

/// The largest file read from a server tree (a cpuser file or token store is a few KiB; `/etc/userdomains` of a
/// big server a few MiB).
pub const MAX_TREE_FILE: u64 = 64 * 1024 * 1024;

/// Why a file could not be read: missing, or anything else (with the message to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Missing,
    Failed(String),
}

/// Reads a whole file, never following it into a write: opened read-only, never locked.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    let open = |flags: i32| std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path);
    let file = match open(O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(1) => open(0),
        other => other,
    };
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Failed(message(&e))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_TREE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Failed(message(&e)))?;
    if bytes.len() as u64 > MAX_TREE_FILE {
        return Err(ReadError::Failed(format!(
            "larger than {MAX_TREE_FILE} bytes; not read"
        )));
    }
    Ok(bytes)
}

/// Reads a text file; bytes that are not UTF-8 become U+FFFD instead of failing the whole file.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    read_bytes(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The lines of a text with their 1-based numbers: split at `\n`, one trailing `\r` removed, a missing final newline
/// tolerated.
pub fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n')
        .enumerate()
        .filter(move |_| !empty)
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// An I/O error as a lowercase message without the OS code.
pub fn message(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn crlf_and_missing_final_newline() {
        let lines: Vec<_> = numbered("a=1\r\nb=2\nc=3").collect();
        assert_eq!(lines, [(1, "a=1"), (2, "b=2"), (3, "c=3")]);
        let lines: Vec<_> = numbered("a\n\nb\n").collect();
        assert_eq!(lines, [(1, "a"), (2, ""), (3, "b")]);
    }
}
