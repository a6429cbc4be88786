//! The cluster's journal, `<state>/cluster/journal.jsonl`: every change for the members on one line, appended and
//! synced once whatever their number, each member holding the cursor of the last change it finished. Reading its
//! bytes (where the complete lines end, which changes it holds, what a compaction keeps) is pure functions, which the
//! fuzz target reaches; so is reading the per-member outboxes that came before it, which are retired at the start.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One change in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub key: String,
    pub value: Option<String>,
    /// When the change was made, in Unix milliseconds.
    pub at_ms: u64,
    /// The value was longer than [`super::MAX_QUEUED_VALUE`] and is not in the journal: this line is a resync mark
    /// for the key, kept once for every member; a member reaching it is sent the master's value of the key then (or,
    /// when that is still too long, a warning is logged instead).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// A line of the journal: a change, or the line a compaction puts first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Line {
    Change(Change),
    /// Every change up to `compacted` was finished by every member and is gone; the next change takes `next` at
    /// least, so the sequence goes on.
    Compacted {
        compacted: u64,
        next: u64,
    },
}

/// Whether a complete line is one of the journal's (what tells a torn or glued line from a record).
pub fn is_record(line: &[u8]) -> bool {
    serde_json::from_slice::<Line>(line).is_ok()
}

/// Where a journal's complete lines end: after its last line break, and before a last line that is not one of its
/// lines (two writes glued together). What follows is a torn write, never acknowledged to anyone.
pub fn complete_len(bytes: &[u8]) -> usize {
    ::fsx::journal::complete_len(bytes, is_record)
}

/// What a journal's complete lines say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replay {
    /// The changes, in order of sequence, each with where its line ends in the bytes.
    pub changes: Vec<(Change, usize)>,
    /// Every change up to this one was compacted away (0: none).
    pub compacted: u64,
    /// The sequence number the next change takes: after every one the journal mentions.
    pub next_seq: u64,
}

/// The changes of a journal's bytes (complete lines; see [`complete_len`]). A line that is not one of the journal's,
/// a change out of order (not after the one before it, or at or below the compacted point), or a compaction's line
/// anywhere but first is skipped: the journal is only ever appended in order, and a compaction writes its line first,
/// so such a line was never acknowledged.
pub fn replay(bytes: &[u8]) -> Replay {
    let mut out = Replay {
        next_seq: 1,
        ..Replay::default()
    };
    for (i, (line, end)) in ::fsx::journal::lines(bytes).enumerate() {
        match serde_json::from_slice::<Line>(line) {
            Ok(Line::Change(c)) => {
                let after = out.changes.last().map_or(out.compacted, |(last, _)| last.seq);
                if c.seq > after && c.seq > out.compacted {
                    out.next_seq = out.next_seq.max(c.seq.saturating_add(1));
                    out.changes.push((c, end));
                }
            }
            Ok(Line::Compacted { compacted, next }) => {
                if i == 0 {
                    out.compacted = compacted;
                    out.next_seq = out.next_seq.max(next).max(compacted.saturating_add(1));
                }
            }
            Err(_) => {}
        }
    }
    out
}

/// A change as its journal line: JSON and a line break.
pub fn line(change: &Change) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(change).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The first line of a compacted journal.
pub fn compacted_line(compacted: u64, next: u64) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Line::Compacted { compacted, next }).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A journal's bytes compacted at `cursor` the way the group commit compacts the file (`Changes::keep_from`, then
/// `Changes::compacted_at` on the changes in memory): its first line says where the sequence stands, then every
/// line from the first change after the cursor on. Answers the bytes, which replay to the same changes after the
/// cursor and the same next sequence, and where memory then has each kept change end (the offsets the next
/// compaction cuts at, which must be the ends of the lines in the new bytes).
pub fn compact(bytes: &[u8], cursor: u64) -> (Vec<u8>, Vec<u64>) {
    let replay = replay(bytes);
    let cursor = cursor.max(replay.compacted).min(replay.next_seq.saturating_sub(1));
    let mut changes = Changes::of(&replay);
    let from = changes.keep_from(cursor, bytes.len() as u64);
    let mut out = compacted_line(cursor, changes.next_seq());
    let head_len = out.len() as u64;
    out.extend_from_slice(
        usize::try_from(from)
            .ok()
            .and_then(|f| bytes.get(f..))
            .unwrap_or_default(),
    );
    changes.compacted_at(cursor, from, head_len);
    let ends = changes.entries.iter().map(|e| e.end).collect();
    (out, ends)
}

/// The keys of the changes still waiting in a member's outbox, the per-member file this journal replaced (a change
/// line without a line saying it was done). A line that is not one of the outbox's is skipped.
pub fn legacy_outbox_keys(bytes: &[u8]) -> BTreeSet<String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Outbox {
        Change { seq: u64, key: String },
        Done { done: u64 },
    }
    let mut pending: BTreeMap<u64, String> = BTreeMap::new();
    for line in bytes.split(|b| *b == b'\n') {
        match serde_json::from_slice::<Outbox>(line) {
            Ok(Outbox::Change { seq, key }) => {
                pending.insert(seq, key);
            }
            Ok(Outbox::Done { done }) => {
                pending.remove(&done);
            }
            Err(_) => {}
        }
    }
    pending.into_values().collect()
}

/// Bytes of a change that count against a member's caps: its key and value.
pub(super) fn change_bytes(key: &str, value: Option<&str>) -> u64 {
    (key.len() + value.map_or(0, str::len)) as u64
}

/// A change held in memory, with where its line ends in the file and the bytes of every change before it.
#[derive(Debug)]
struct Entry {
    change: Arc<Change>,
    end: u64,
    bytes_before: u64,
}

/// What waits for a member after its cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) count: usize,
    pub(super) bytes: u64,
    /// When the oldest of them was made (Unix milliseconds).
    pub(super) oldest_ms: Option<u64>,
}

/// The journal's changes in memory, from the compacted point to the head, in order.
#[derive(Debug)]
pub(super) struct Changes {
    entries: VecDeque<Entry>,
    compacted: u64,
    next_seq: u64,
    /// Bytes of every change appended since the start of the count (the caps use differences of it).
    total_bytes: u64,
}

impl Changes {
    pub(super) fn of(replay: &Replay) -> Changes {
        let mut changes = Changes {
            entries: VecDeque::new(),
            compacted: replay.compacted,
            next_seq: replay.next_seq,
            total_bytes: 0,
        };
        for (c, end) in &replay.changes {
            changes.push(c.clone(), *end as u64);
        }
        changes
    }

    /// The last change's sequence number (or where the sequence stands when none was ever made).
    pub(super) fn head(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Changes up to this one are gone from the journal.
    pub(super) fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Makes sure the next change is numbered after `seq` (a cursor the journal does not reach).
    pub(super) fn skip_past(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
    }

    /// Where the journal's lines end (the length of the file they were read from or appended to).
    #[cfg(test)]
    pub(super) fn end(&self) -> Option<u64> {
        self.entries.back().map(|e| e.end)
    }

    pub(super) fn push(&mut self, change: Change, end: u64) {
        self.next_seq = self.next_seq.max(change.seq.saturating_add(1));
        let bytes_before = self.total_bytes;
        self.total_bytes += change_bytes(&change.key, change.value.as_deref());
        self.entries.push_back(Entry {
            change: Arc::new(change),
            end,
            bytes_before,
        });
    }

    fn first_after(&self, cursor: u64) -> usize {
        self.entries.partition_point(|e| e.change.seq <= cursor)
    }

    /// Up to `n` changes after `cursor`, in order.
    pub(super) fn after(&self, cursor: u64, n: usize) -> Vec<Arc<Change>> {
        self.entries
            .range(self.first_after(cursor)..)
            .take(n)
            .map(|e| Arc::clone(&e.change))
            .collect()
    }

    pub(super) fn pending(&self, cursor: u64) -> Pending {
        let i = self.first_after(cursor);
        match self.entries.get(i) {
            None => Pending::default(),
            Some(first) => Pending {
                count: self.entries.len() - i,
                bytes: self.total_bytes - first.bytes_before,
                oldest_ms: Some(first.change.at_ms),
            },
        }
    }

    /// The keys of the changes after `cursor`.
    pub(super) fn keys_after(&self, cursor: u64) -> BTreeSet<String> {
        self.entries
            .range(self.first_after(cursor)..)
            .map(|e| e.change.key.clone())
            .collect()
    }

    /// Where a compaction at `cursor` keeps the file (of `len` bytes) from: the end of the last change up to the
    /// cursor (nothing before it is needed), or the end when every change is up to it.
    pub(super) fn keep_from(&self, cursor: u64, len: u64) -> u64 {
        let i = self.first_after(cursor);
        if i == self.entries.len() {
            return len;
        }
        i.checked_sub(1)
            .and_then(|last| self.entries.get(last))
            .map_or(0, |dropped| dropped.end)
    }

    /// After the file was compacted at `cursor` (lines from `keep_from` on kept behind a head line of `head_len`
    /// bytes): the changes up to the cursor leave memory and the others' offsets move.
    pub(super) fn compacted_at(&mut self, cursor: u64, keep_from: u64, head_len: u64) {
        let i = self.first_after(cursor);
        self.entries.drain(..i);
        for e in &mut self.entries {
            e.end = e.end - keep_from + head_len;
        }
        self.compacted = self.compacted.max(cursor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64, key: &str) -> Change {
        Change {
            seq,
            key: key.into(),
            value: Some("1".into()),
            at_ms: seq,
            resync: false,
        }
    }

    #[test]
    fn a_compacted_journal_keeps_what_waits_and_its_sequence() {
        let mut bytes = Vec::new();
        for seq in 1..=5 {
            bytes.extend(line(&change(seq, &format!("k{seq}"))));
        }
        let r = replay(&bytes);
        assert_eq!(r.next_seq, 6);
        assert_eq!(r.changes.len(), 5);
        let (compacted, _) = compact(&bytes, 3);
        let again = replay(&compacted);
        let seqs: Vec<u64> = again.changes.iter().map(|(c, _)| c.seq).collect();
        assert_eq!(seqs, [4, 5]);
        assert_eq!((again.compacted, again.next_seq), (3, 6));
        let (all, ends) = compact(&compacted, 5);
        assert!(ends.is_empty());
        let empty = replay(&all);
        assert!(empty.changes.is_empty());
        assert_eq!(
            (empty.compacted, empty.next_seq),
            (5, 6),
            "the sequence goes on: {all:?}"
        );
        // A change out of order, or at or below the compacted point, was never appended in order: skipped.
        let mut odd = all.clone();
        odd.extend(line(&change(4, "old")));
        odd.extend(line(&change(7, "new")));
        odd.extend(line(&change(6, "late")));
        let r = replay(&odd);
        let keys: Vec<&str> = r.changes.iter().map(|(c, _)| c.key.as_str()).collect();
        assert_eq!(keys, ["new"]);
        assert_eq!(r.next_seq, 8);
        // A compaction's line anywhere but first was never written by a compaction: a compaction that brings it to
        // the top keeps what waits and the sequence.
        let mut stray = [line(&change(1, "k1")), line(&change(2, "k2")), compacted_line(9, 20)].concat();
        stray.extend(line(&change(3, "k3")));
        assert_eq!(replay(&stray).next_seq, 4);
        let (compacted, _) = compact(&stray, 2);
        let again = replay(&compacted);
        assert_eq!(again.changes.iter().map(|(c, _)| c.seq).collect::<Vec<_>>(), [3]);
        assert_eq!(again.next_seq, 4);
    }

    #[test]
    fn memory_follows_the_file_through_a_compaction() {
        let mut bytes = Vec::new();
        for seq in 1..=4 {
            bytes.extend(line(&change(seq, "k")));
        }
        let mut mem = Changes::of(&replay(&bytes));
        assert_eq!(mem.pending(1).count, 3);
        assert_eq!(mem.pending(1).bytes, 6);
        let from = mem.keep_from(2, bytes.len() as u64);
        assert_eq!(
            from as usize,
            replay(&bytes).changes[1].1,
            "the end of the last change finished"
        );
        let head = compacted_line(2, mem.next_seq());
        let file = [head.as_slice(), &bytes[from as usize..]].concat();
        mem.compacted_at(2, from, head.len() as u64);
        assert_eq!(mem.end(), Some(file.len() as u64));
        let r = replay(&file);
        assert_eq!(mem.keep_from(3, file.len() as u64), r.changes[0].1 as u64);
        assert_eq!(mem.after(0, 10).iter().map(|c| c.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(mem.pending(0).count, 2);
    }

    #[test]
    fn an_old_outbox_gives_the_keys_that_waited() {
        let old = b"{\"seq\":1,\"key\":\"a\",\"value\":\"1\",\"at_ms\":1}\n\
                    {\"seq\":2,\"key\":\"b\",\"value\":null,\"at_ms\":2}\n\
                    {\"done\":1,\"error\":null}\n\
                    {\"seq\":3,\"key\":\"c\",\"val";
        assert_eq!(
            legacy_outbox_keys(old).into_iter().collect::<Vec<_>>(),
            ["b"],
            "a torn line was never acknowledged"
        );
    }
}
