//! An append-only journal of lines, for records that must be on disk before anyone is told: a batch of lines is
//! written and synced in one go, a torn last line (a write cut short by a crash or a full disk) is cut off before the
//! next append, the complete lines are read back in order, and the journal is compacted by an atomic rewrite that
//! keeps a head line of the caller's (where its sequence stands) and the lines still needed.
//!
//! One process writes a journal (the handle keeps its length); a line is a record when the caller's `is_record`
//! says so, which is how two writes glued together (a torn line and the next one) are told from a record.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::atomic::{FaultPoint, FsError, WriteHooks, write_atomic_with};

/// Whether a complete line (without its line break) is one of the journal's records.
pub type IsRecord = fn(&[u8]) -> bool;

/// How far back [`Journal::open`] reads at first to find the last complete line; doubled while it is not enough.
const TAIL_WINDOW: u64 = 64 * 1024;

/// An open journal. See the module documentation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    mode: u32,
    file: File,
    /// Where the last complete record ends, as this handle wrote or found it.
    len: u64,
    /// A failed append may have left bytes that could not be cut off: the tail is checked before the next append.
    suspect: bool,
    /// A compaction renamed its new file into place but this handle could not open it: the next read or append opens
    /// the file at the path first, so nothing is written to the old, unlinked one.
    replaced: bool,
    is_record: IsRecord,
    hooks: WriteHooks,
    syncs: u64,
}

impl Journal {
    /// Opens the journal at `path` (created with permission bits `mode` when missing; a symbolic link or anything
    /// but a regular file is refused) and cuts a torn tail off, syncing the cut.
    pub fn open(path: &Path, mode: u32, is_record: IsRecord) -> Result<Journal, FsError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| FsError::new("open", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| FsError::new("read the metadata of", path, e))?;
        if !meta.file_type().is_file() {
            return Err(FsError::new(
                "open",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            mode,
            file,
            len: 0,
            suspect: true,
            replaced: false,
            is_record,
            hooks: WriteHooks::none(),
            syncs: 0,
        };
        journal.repair()?;
        Ok(journal)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes up to the end of the last complete record.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the journal holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many times this handle synced the journal's data (appends, cuts), for the counters of those who ask.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Runs `hooks` at [`FaultPoint::AppendWritten`] of every append and at the points of a compaction's rewrite.
    pub fn set_hooks(&mut self, hooks: WriteHooks) {
        self.hooks = hooks;
    }

    /// The journal's complete lines, as bytes (every line ends with a line break).
    pub fn read(&self) -> Result<Vec<u8>, FsError> {
        let mut bytes = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        let reopened = if self.replaced { Some(self.open_again()?) } else { None };
        reopened
            .as_ref()
            .unwrap_or(&self.file)
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| FsError::new("read", &self.path, e))?;
        Ok(bytes)
    }

    /// Appends `lines` (one or more records, each ending with a line break) and syncs them: when this returns `Ok`
    /// they are on disk. On an error nothing of them stays: what was written is cut off again (or, failing that,
    /// before the next append).
    pub fn append(&mut self, lines: &[u8]) -> Result<(), FsError> {
        if lines.is_empty() {
            return Ok(());
        }
        if !lines.ends_with(b"\n") {
            return Err(FsError::new(
                "append to",
                &self.path,
                io::Error::new(io::ErrorKind::InvalidInput, "a record does not end with a line break"),
            ));
        }
        if self.replaced {
            self.follow_the_path()?;
        }
        let on_disk = self
            .file
            .metadata()
            .map_err(|e| FsError::new("read the metadata of", &self.path, e))?
            .len();
        if self.suspect || on_disk != self.len {
            self.repair()?;
        }
        let written = (&self.file)
            .write_all(lines)
            .and_then(|()| self.hooks.run(FaultPoint::AppendWritten))
            .and_then(|()| {
                self.syncs += 1;
                self.file.sync_data()
            });
        if let Err(e) = written {
            self.suspect = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
                .is_err();
            return Err(FsError::new("append to", &self.path, e));
        }
        self.len += lines.len() as u64;
        Ok(())
    }

    /// Replaces the journal, atomically and durably, by `head` (a line of the caller's, or nothing) followed by its
    /// lines from byte `keep_from` on (the start of a line), and goes on appending to the new file. On an error before
    /// the rename the journal is as it was; once the new file is renamed into place the compaction is done, and an
    /// error then only says the new file could not be opened yet (the next read or append opens it).
    pub fn compact(&mut self, head: &[u8], keep_from: u64) -> Result<(), FsError> {
        let keep_from = keep_from.min(self.len);
        let mut bytes = Vec::with_capacity(head.len() + usize::try_from(self.len - keep_from).unwrap_or(0));
        bytes.extend_from_slice(head);
        let start = bytes.len();
        bytes.resize(start + usize::try_from(self.len - keep_from).unwrap_or(0), 0);
        self.file
            .read_exact_at(&mut bytes[start..], keep_from)
            .map_err(|e| FsError::new("read", &self.path, e))?;
        let written = write_atomic_with(&self.path, &bytes, self.mode, None, &self.hooks);
        self.syncs += 1;
        if written.is_err() && !self.renamed_over() {
            return written;
        }
        // Renamed into place, synced: the compaction is in effect even when the directory's sync after the rename
        // failed, so it is answered as done (the caller's offsets must follow the file at the path). From here on
        // this handle holds that file; one it cannot open yet is opened at the next read or append.
        self.replaced = true;
        self.follow_the_path()
    }

    /// Whether the file at the path is no longer the one this handle holds.
    fn renamed_over(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::symlink_metadata(&self.path)) {
            (Ok(held), Ok(there)) => (held.dev(), held.ino()) != (there.dev(), there.ino()),
            _ => true,
        }
    }

    /// The file at the path, opened as the journal opens it.
    fn open_again(&self) -> Result<File, FsError> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|e| FsError::new("open", &self.path, e))
    }

    /// Holds the file at the path from now on, its tail checked as at opening.
    fn follow_the_path(&mut self) -> Result<(), FsError> {
        self.file = self.open_again()?;
        self.replaced = false;
        self.suspect = true;
        self.repair()
    }

    /// Cuts the file back to its last complete record (looking only as far back as needed) and syncs the cut.
    fn repair(&mut self) -> Result<(), FsError> {
        let end = (&self.file)
            .seek(SeekFrom::End(0))
            .map_err(|e| FsError::new("read", &self.path, e))?;
        let mut window = TAIL_WINDOW;
        let good = loop {
            let start = end.saturating_sub(window);
            let mut tail = vec![0; usize::try_from(end - start).unwrap_or(0)];
            self.file
                .read_exact_at(&mut tail, start)
                .map_err(|e| FsError::new("read", &self.path, e))?;
            if let Some(good) = tail_complete_len(&tail, start == 0, self.is_record) {
                break start + good as u64;
            }
            window = window.saturating_mul(2);
        };
        if good < end {
            self.file
                .set_len(good)
                .and_then(|()| {
                    self.syncs += 1;
                    self.file.sync_data()
                })
                .map_err(|e| FsError::new("cut the torn tail of", &self.path, e))?;
        }
        self.len = good;
        self.suspect = false;
        Ok(())
    }
}

/// Where the complete records of `bytes` (a whole journal) end: after the last line break, and before a last line
/// that is not a record (two writes glued together), repeatedly. What follows was never acknowledged to anyone.
pub fn complete_len(bytes: &[u8], is_record: impl Fn(&[u8]) -> bool) -> usize {
    tail_complete_len(bytes, true, is_record).unwrap_or(0)
}

/// [`complete_len`] of the tail of a file: `None` when the answer depends on bytes before `tail` (the line to judge
/// starts before it), unless `at_start` says the tail is the whole file.
fn tail_complete_len(tail: &[u8], at_start: bool, is_record: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let mut good = tail.len();
    loop {
        let complete = match tail[..good].iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if at_start => 0,
            None => return None,
        };
        if complete < good {
            good = complete;
            continue;
        }
        if good == 0 {
            return Some(0);
        }
        let start = match tail[..good - 1].iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if at_start => 0,
            None => return None,
        };
        let line = &tail[start..good - 1];
        if line.is_empty() || is_record(line) {
            return Some(good);
        }
        good = start;
    }
}

/// The lines of `bytes` (complete ones: each followed by a line break) with where each ends, line break included:
/// the offset a compaction keeps from is the end of the last line it drops.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &bytes[at..];
        let n = rest.iter().position(|b| *b == b'\n')?;
        at += n + 1;
        Some((&rest[..n], at))
    })
}

/// Reads a whole file that may be a journal (`Ok(None)` when there is none), for readers that do not append: a
/// regular file, never through a symbolic link, and a FIFO put in its place does not block the reader.
pub fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("open", path, e)),
    };
    let meta = file.metadata().map_err(|e| FsError::new("stat", path, e))?;
    if !meta.file_type().is_file() {
        return Err(FsError::new(
            "read",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| FsError::new("read", path, e))?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn json_ish(line: &[u8]) -> bool {
        line.starts_with(b"{") && line.ends_with(b"}") && line.iter().filter(|b| **b == b'{').count() == 1
    }

    /// A new journal in a directory of its own (kept while the test holds it), and its path.
    fn journal() -> (tempfile::TempDir, std::path::PathBuf, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path, 0o600, json_ish).unwrap();
        (dir, path, j)
    }

    #[test]
    fn appends_are_whole_lines_and_a_torn_tail_is_cut_before_the_next() {
        let (_dir, path, mut j) = journal();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        j.append(b"{a}\n{b}\n").unwrap();
        assert_eq!(j.syncs(), 1, "one sync for the batch");
        // A torn write by someone else (or a crash) at the end: cut before the next append.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{c")
            .unwrap();
        j.append(b"{d}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{a}\n{b}\n{d}\n");
        // A line glued onto a torn one, then a torn one: both cut at the next open.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{e{f}\n{g")
            .unwrap();
        drop(j);
        let mut j = Journal::open(&path, 0o600, json_ish).unwrap();
        assert_eq!(j.read().unwrap(), b"{a}\n{b}\n{d}\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"{a}\n{b}\n{d}\n");
        assert!(j.append(b"{x}").is_err(), "a record without its line break");
        assert_eq!(j.read().unwrap(), b"{a}\n{b}\n{d}\n");
    }

    #[test]
    fn a_failed_append_leaves_nothing_behind() {
        let (_dir, path, mut j) = journal();
        j.append(b"{a}\n").unwrap();
        j.set_hooks(WriteHooks::failing_at(FaultPoint::AppendWritten));
        let err = j.append(b"{b}\n").unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{a}\n");
        j.set_hooks(WriteHooks::none());
        j.append(b"{c}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{a}\n{c}\n");
    }

    #[test]
    fn compaction_keeps_the_head_and_the_lines_still_needed() {
        let (_dir, path, mut j) = journal();
        j.append(b"{1}\n{2}\n{3}\n").unwrap();
        let bytes = j.read().unwrap();
        let ends: Vec<usize> = lines(&bytes).map(|(_, end)| end).collect();
        assert_eq!(ends, [4, 8, 12]);
        j.compact(b"{next 3}\n", ends[1] as u64).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{next 3}\n{3}\n");
        j.append(b"{4}\n").unwrap();
        assert_eq!(j.read().unwrap(), b"{next 3}\n{3}\n{4}\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // A failed rewrite leaves the journal as it was, still appendable.
        j.set_hooks(WriteHooks::failing_at(FaultPoint::AfterTempWritten));
        assert!(j.compact(b"", 0).is_err());
        j.set_hooks(WriteHooks::none());
        j.append(b"{5}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{next 3}\n{3}\n{4}\n{5}\n");
    }

    /// A compaction whose rename went through is in effect even when what follows it fails (the directory's sync):
    /// the handle goes on with the new file, so no append lands in the old, unlinked one.
    #[test]
    fn appends_after_a_compaction_that_failed_past_its_rename_reach_the_file() {
        let (_dir, path, mut j) = journal();
        j.append(b"{1}\n{2}\n").unwrap();
        j.set_hooks(WriteHooks::failing_at(FaultPoint::AfterRename));
        j.compact(b"{next 2}\n", 4).unwrap();
        j.set_hooks(WriteHooks::none());
        j.append(b"{3}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{next 2}\n{2}\n{3}\n");
        assert_eq!(j.read().unwrap(), b"{next 2}\n{2}\n{3}\n");
    }

    #[test]
    fn a_long_torn_tail_is_found_past_the_first_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut text = b"{a}\n".to_vec();
        text.push(b'{');
        text.extend(std::iter::repeat_n(b'x', 3 * TAIL_WINDOW as usize));
        std::fs::write(&path, &text).unwrap();
        let j = Journal::open(&path, 0o600, json_ish).unwrap();
        assert_eq!(j.len(), 4);
        let long_record: Vec<u8> = [b"{".as_slice(), &vec![b'y'; 2 * TAIL_WINDOW as usize], b"}\n"].concat();
        std::fs::write(&path, [b"{a}\n".as_slice(), &long_record].concat()).unwrap();
        let j = Journal::open(&path, 0o600, json_ish).unwrap();
        assert_eq!(
            j.len() as usize,
            4 + long_record.len(),
            "a long last record is kept whole"
        );
    }

    #[test]
    fn a_link_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(Journal::open(&link, 0o600, json_ish).is_err());
        assert!(Journal::open(dir.path(), 0o600, json_ish).is_err());
    }

    #[test]
    fn complete_len_cuts_torn_and_glued_lines() {
        let cases: &[(&[u8], usize)] = &[
            (b"", 0),
            (b"{a}", 0),
            (b"{a}\n", 4),
            (b"{a}\n{b", 4),
            (b"{a}\n{b{c}\n", 4),
            (b"{a}\n\n", 5),
            (b"x\n", 0),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                complete_len(bytes, json_ish),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// A reader of the journal gets its bytes, `None` without one, and an error at once for what is not a regular
    /// file (a FIFO in its place would have blocked the reader for good, a link is not followed).
    #[test]
    fn a_reader_takes_only_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        assert_eq!(read_if_present(&path).unwrap(), None);
        std::fs::write(&path, b"{\"a\":1}\n").unwrap();
        assert_eq!(read_if_present(&path).unwrap().as_deref(), Some(&b"{\"a\":1}\n"[..]));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_if_present(&link).is_err(), "a link is not followed");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        // Read on a thread of its own, so a reader that blocks fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(read_if_present(&fifo).map(|_| ()).map_err(|e| e.to_string())));
        let read = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the reader did not block on a FIFO");
        let err = read.unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
