//! The group commit: members' cursors (`cursors.json`, synced) and statuses written at most every [`COMMIT_EVERY`]
//! (a status whose counters alone changed at most every [`STATUS_EVERY`]), never on a change's path; members lagging
//! past the caps marked for a full resync (durably) and moved to the head; the journal compacted once every member's
//! written cursor has passed a prefix of it; a change the journal could not take written again once it can be.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::journal;
use super::member::{Dirty, save_status, write_private};
use super::{
    COMMIT_EVERY, COMPACT_AFTER, CURSORS, Inner, MAX_LAG, MAX_QUEUE_BYTES, MAX_QUEUE_LEN, SETTINGS, STATUS_EVERY, lock,
};
use crate::fsx::unix_now_ms;

/// How long the group commit sleeps when nothing wakes it: a member can only pass [`MAX_LAG`] with time.
const IDLE_TICK: Duration = Duration::from_secs(60);

/// What the group commit last wrote.
#[derive(Debug, Default)]
pub(super) struct Committed {
    /// Each member's cursor as `cursors.json` holds it, once this process has written it: a compaction never passes
    /// one of these, and none runs before they are known.
    pub(super) cursors: Option<BTreeMap<String, u64>>,
    pub(super) recorded_gen: u64,
}

/// The group commit's task: woken by changes, answers and edits of members, it waits [`COMMIT_EVERY`] to gather
/// more, then writes what changed on a blocking thread.
pub(super) async fn commit_loop(inner: Arc<Inner>) {
    let mut committed = Committed::default();
    let mut counters_waiting = false;
    loop {
        let retry_at = lock(&inner.mem).retry_at;
        let idle = if counters_waiting { STATUS_EVERY } else { IDLE_TICK };
        let wake = retry_at.map_or(idle, |t| t.saturating_duration_since(Instant::now()).min(idle));
        tokio::select! {
            () = inner.commit.notified() => {}
            () = tokio::time::sleep(wake) => {}
        }
        tokio::time::sleep(COMMIT_EVERY).await;
        let inner2 = Arc::clone(&inner);
        (committed, counters_waiting) = tokio::task::spawn_blocking(move || {
            let waiting = tick(&inner2, &mut committed);
            (committed, waiting)
        })
        .await
        .unwrap_or_default();
    }
}

/// One round of the group commit (see the module documentation): `true` when a status whose counters alone changed
/// was left for a later round.
pub(super) fn tick(inner: &Inner, committed: &mut Committed) -> bool {
    mark_laggards(inner);
    let mut cursors = BTreeMap::new();
    let mut statuses = Vec::new();
    let mut counters_waiting = false;
    let now = Instant::now();
    // A resync mark not on disk holds back `settings.json`: written over, it would no longer tell the next start that
    // the member needs the mark (an edit made while the server was stopped, a garbled file).
    let mut marks_unsaved = false;
    for slot in inner.slots() {
        let mut m = lock(&slot.member);
        if m.removed {
            continue;
        }
        cursors.insert(m.file.url.clone(), m.cursor);
        let due = m.dirty == Dirty::Status
            || (m.dirty == Dirty::Counters && m.status_written.is_none_or(|t| now - t >= STATUS_EVERY));
        if due {
            m.dirty = Dirty::Clean;
            m.status_written = Some(now);
            statuses.push((Arc::clone(&slot), m.dir.clone(), m.file.url.clone(), m.status.clone()));
        } else {
            marks_unsaved |= m.mark_unsaved;
            if m.dirty == Dirty::Counters {
                counters_waiting = true;
            }
        }
    }
    for (slot, dir, url, status) in &statuses {
        let saved = save_status(dir, url, status);
        let mut m = lock(&slot.member);
        if saved {
            m.mark_unsaved = false;
        } else {
            m.touch(Dirty::Status);
            marks_unsaved = true;
        }
    }
    if committed.cursors.as_ref() != Some(&cursors) {
        match write_private(&inner.dir.join(CURSORS), &cursors) {
            Ok(()) => committed.cursors = Some(cursors),
            Err(e) => tracing::error!("configuration cluster: cannot record the members' places: {e:#}"),
        }
    }
    let (generation, recorded) = {
        let mem = lock(&inner.mem);
        (mem.recorded_gen, mem.recorded.clone())
    };
    if generation != committed.recorded_gen
        && !marks_unsaved
        && let Some(recorded) = recorded
    {
        match write_private(&inner.dir.join(SETTINGS), &recorded) {
            Ok(()) => committed.recorded_gen = generation,
            Err(e) => tracing::error!("cannot record the settings journaled for the configuration cluster: {e:#}"),
        }
    }
    compact(inner, committed);
    let due = {
        let mem = lock(&inner.mem);
        !mem.unjournaled.is_empty() && mem.retry_at.is_none_or(|t| t <= Instant::now())
    };
    if due {
        // Logged by the append when it fails again.
        let _ = inner.append(&[], None);
    }
    counters_waiting
}

/// Members past the caps (changes or bytes waiting) or with a change waiting longer than [`MAX_LAG`]: each is marked
/// for a full resync of the keys it was not sent (written, synced, before anything else), then moved to the head,
/// so it no longer holds the journal.
fn mark_laggards(inner: &Inner) {
    let now_ms = unix_now_ms();
    let lag_ms = u64::try_from(MAX_LAG.as_millis()).unwrap_or(u64::MAX);
    let found: Vec<_> = {
        let slots = inner.slots();
        let mem = lock(&inner.mem);
        slots
            .into_iter()
            .filter_map(|slot| {
                let m = lock(&slot.member);
                if m.removed {
                    return None;
                }
                let p = mem.changes.pending(m.cursor);
                let why = if p.count > MAX_QUEUE_LEN {
                    format!("{} changes wait for it (more than {MAX_QUEUE_LEN})", p.count)
                } else if p.bytes > MAX_QUEUE_BYTES as u64 {
                    format!("{} bytes of changes wait for it (more than {MAX_QUEUE_BYTES})", p.bytes)
                } else if p.oldest_ms.is_some_and(|at| now_ms.saturating_sub(at) > lag_ms) {
                    format!("a change has waited for it longer than {} s", MAX_LAG.as_secs())
                } else {
                    return None;
                };
                let keys = mem.changes.keys_after(m.cursor);
                drop(m);
                Some((slot, keys, mem.changes.head(), why))
            })
            .collect()
    };
    for (slot, keys, head, why) in found {
        let (path, status) = {
            let mut m = lock(&slot.member);
            tracing::warn!(
                "configuration cluster: {} lags ({why}): marked for a full resync of {} setting(s) and moved to the \
                 journal's head",
                m.file.url,
                keys.len()
            );
            m.mark_resync(keys, &why);
            (m.dir.join("status.json"), m.status.clone())
        };
        if let Err(e) = write_private(&path, &status) {
            // The cursor stays: nothing is skipped until the mark is on disk.
            tracing::error!(
                "configuration cluster: cannot record a full resync in {}: {e:#}",
                path.display()
            );
            continue;
        }
        let mut m = lock(&slot.member);
        m.cursor = m.cursor.max(head);
        drop(m);
        slot.wake.notify_one();
    }
}

/// Rewrites the journal without the changes every member finished, once they are [`COMPACT_AFTER`] bytes or more,
/// up to the smallest cursor written to `cursors.json` (a cursor that lags on disk never finds its changes gone).
fn compact(inner: &Inner, committed: &Committed) {
    // Until the cursors are on disk (a first write that failed, a round that panicked), nothing is compacted.
    let Some(on_disk) = &committed.cursors else { return };
    let mut file = lock(&inner.file);
    let Some(j) = file.journal.as_mut() else { return };
    let (cursor, keep_from, head) = {
        let mem = lock(&inner.mem);
        let head_seq = mem.changes.head();
        let cursor = on_disk
            .values()
            .copied()
            .min()
            .unwrap_or(head_seq)
            .min(head_seq)
            .max(mem.changes.compacted());
        let keep_from = mem.changes.keep_from(cursor, j.len());
        (
            cursor,
            keep_from,
            journal::compacted_line(cursor, mem.changes.next_seq()),
        )
    };
    if keep_from < COMPACT_AFTER {
        return;
    }
    match j.compact(&head, keep_from) {
        Ok(()) => {
            lock(&inner.mem)
                .changes
                .compacted_at(cursor, keep_from, head.len() as u64);
            tracing::debug!("configuration cluster: journal compacted up to change {cursor}");
        }
        Err(e) => tracing::warn!("configuration cluster: cannot compact the journal: {e}"),
    }
}
