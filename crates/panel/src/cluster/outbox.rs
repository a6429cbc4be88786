//! A member's outbox as bytes: where its complete lines end (the repair after a crash or a full disk), which changes
//! still wait (the replay at start), and the line an appended change is. Pure functions, so the fuzz targets reach
//! exactly what the files go through.

use std::collections::BTreeMap;

use super::{Change, Entry};

/// What an outbox's complete lines say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The changes without a finishing line, in order of sequence.
    pub pending: Vec<Change>,
    /// The sequence number the next change takes: after every one the outbox mentions.
    pub next_seq: u64,
}

/// Where an outbox's complete lines end: after its last line break, and before a last line that is not an entry
/// (two writes glued together). What follows is a torn write, never acknowledged to anyone.
pub fn complete_len(bytes: &[u8]) -> usize {
    let mut good = bytes.len();
    loop {
        let complete = bytes[..good].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < good {
            good = complete;
            continue;
        }
        if good == 0 {
            return 0;
        }
        let start = bytes[..good - 1].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let line = &bytes[start..good - 1];
        if line.is_empty() || serde_json::from_slice::<Entry>(line).is_ok() {
            return good;
        }
        good = start;
    }
}

/// The changes still waiting in an outbox's bytes (a line that is not an entry is skipped: never acknowledged).
pub fn replay(bytes: &[u8]) -> Replay {
    let mut pending: BTreeMap<u64, Change> = BTreeMap::new();
    let mut last = 0;
    for line in bytes.split(|b| *b == b'\n') {
        match serde_json::from_slice::<Entry>(line) {
            Ok(Entry::Change(c)) => {
                last = last.max(c.seq);
                pending.insert(c.seq, c);
            }
            Ok(Entry::Done { done, .. }) => {
                last = last.max(done);
                pending.remove(&done);
            }
            Err(_) => {}
        }
    }
    Replay {
        pending: pending.into_values().collect(),
        next_seq: last.saturating_add(1),
    }
}

/// A change as its outbox line: JSON and a line break.
pub fn line(change: &Change) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Entry::Change(change.clone())).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
