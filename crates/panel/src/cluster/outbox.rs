//! A member's outbox: the append-only journal of its changes, queued within the caps, repaired and compacted. Reading
//! its bytes (where the complete lines end, which changes wait) is pure functions, which the fuzz targets reach.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::member::{Member, Slot, save_status, write_private};
use super::{COMPACT_AFTER, MAX_QUEUE_BYTES, MAX_QUEUE_LEN, MAX_QUEUED_VALUE};
use crate::fsx::unix_now_ms;

/// One change in a member's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub key: String,
    pub value: Option<String>,
    /// When the change was made, in Unix milliseconds.
    pub at_ms: u64,
}

/// A line of an outbox: a change queued, or the end of one (delivered, or refused with `error`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Entry {
    Change(Change),
    Done { done: u64, error: Option<String> },
}

pub(super) fn change_bytes(key: &str, value: Option<&str>) -> usize {
    key.len() + value.map_or(0, str::len)
}

/// Marks a member for a full resync that will also send `key`.
pub(super) fn mark_resync(m: &mut Member, key: &str, why: &str) {
    if m.status.resync.is_none() {
        tracing::warn!(
            "configuration cluster: {} is marked for a full resync: {why}",
            m.file.url
        );
    }
    m.status.resync.get_or_insert_with(BTreeSet::new).insert(key.to_owned());
}

/// Queues changes on one member (durably, before returning) and wakes its task. A change that cannot be queued
/// within the caps marks the member for a full resync instead (recorded durably in `status.json`); an error means
/// the outbox could not be written (the changes are then not queued, and the member is marked for a full resync that
/// sends the master's values of their keys once it can).
pub(super) fn queue_on(slot: &Slot, changes: &[(String, Option<String>)]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let at_ms = unix_now_ms();
    let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
    if m.removed {
        return Ok(());
    }
    let resync_before = m.status.resync.clone();
    let mut batch = Vec::new();
    let (mut len, mut bytes) = (m.queue.len(), m.queue_bytes);
    for (key, value) in changes {
        let size = change_bytes(key, value.as_deref());
        if value.as_ref().is_some_and(|v| v.len() > MAX_QUEUED_VALUE) {
            let why = format!("the value of {key} is longer than {MAX_QUEUED_VALUE} bytes");
            mark_resync(&mut m, key, &why);
            continue;
        }
        if len + 1 > MAX_QUEUE_LEN || bytes + size > MAX_QUEUE_BYTES {
            let why = format!("its queue is full ({MAX_QUEUE_LEN} changes or {MAX_QUEUE_BYTES} bytes)");
            mark_resync(&mut m, key, &why);
            continue;
        }
        len += 1;
        bytes += size;
        batch.push(Change {
            seq: m.next_seq + batch.len() as u64,
            key: key.clone(),
            value: value.clone(),
            at_ms,
        });
    }
    let entries: Vec<Entry> = batch.iter().cloned().map(Entry::Change).collect();
    let written = if entries.is_empty() {
        Ok(())
    } else {
        append(&mut m, &entries)
    };
    match written {
        Ok(()) => {
            m.next_seq += batch.len() as u64;
            m.queue_bytes = bytes;
            m.queue.extend(batch);
        }
        Err(e) => {
            let why = format!("its outbox could not be written: {e:#}");
            for c in &batch {
                mark_resync(&mut m, &c.key, &why);
            }
            save_status(&m);
            return Err(e.context(format!("cluster member {}", m.file.url)));
        }
    }
    if resync_before != m.status.resync {
        // The mark stands for changes that are in no outbox: kept durably.
        if let Err(e) = write_private(&m.dir.join("status.json"), &m.status) {
            tracing::error!("cannot record the full resync of {}: {e:#}", m.file.url);
        }
    }
    drop(m);
    slot.wake.notify_one();
    Ok(())
}

/// Where an outbox's complete lines end: after its last line break, and before a last line that is not an entry
/// (two writes glued together). Anything after that is cut off, with a warning naming the file and the bytes
/// dropped, so the next append starts on a line of its own. Returns the outbox's length after the repair.
pub(super) fn repair_outbox(path: &Path) -> std::io::Result<u64> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let good = complete_len(&bytes);
    if good < bytes.len() {
        tracing::warn!(
            "configuration cluster: {} ended in a torn line: {} byte(s) dropped",
            path.display(),
            bytes.len() - good
        );
        f.set_len(good as u64)?;
        f.sync_data()?;
    }
    Ok(good as u64)
}

/// Appends lines to a member's outbox and syncs them; on failure, what was written of them is cut off again (or,
/// failing that, before the next append), so the outbox always ends with a complete line.
pub(super) fn append(m: &mut Member, entries: &[Entry]) -> Result<()> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    let path = m.dir.join("outbox.jsonl");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len();
    if m.torn || len != m.journal_len {
        m.journal_len = repair_outbox(&path).with_context(|| format!("cannot repair {}", path.display()))?;
        m.torn = false;
    }
    let written = f
        .seek(SeekFrom::Start(m.journal_len))
        .and_then(|_| f.write_all(text.as_bytes()))
        .and_then(|()| f.sync_data());
    if let Err(e) = written {
        m.torn = f.set_len(m.journal_len).and_then(|()| f.sync_data()).is_err();
        return Err(anyhow!(e).context(format!("cannot append to {}", path.display())));
    }
    m.journal_len += text.len() as u64;
    Ok(())
}

/// Once nothing waits, a long outbox is replaced by one line that keeps the sequence going.
pub(super) fn compact(m: &mut Member) {
    if !m.queue.is_empty() || m.journal_len < COMPACT_AFTER {
        return;
    }
    let line = json!({"done": m.next_seq - 1, "error": null}).to_string() + "\n";
    match credentials::write_atomic(&m.dir.join("outbox.jsonl"), line.as_bytes(), 0o600) {
        Ok(()) => m.journal_len = line.len() as u64,
        Err(e) => tracing::warn!("cannot compact the outbox of {}: {e}", m.file.url),
    }
}

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
