//! The push tasks: the changes after each member's cursor (and a full resync's values) sent in order as
//! `set_tweaksetting` calls over the member's kept connection, the answers classified and recorded in memory (the
//! group commit writes them).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::client::Connection;
use super::journal::Change;
use super::member::{Dirty, Member, Slot};
use super::{BACKOFF_CAP, BACKOFF_START, Inner, KEEP_ALIVE_IDLE, MAX_QUEUED_VALUE, MAX_REASON, PUSH_BATCH, lock};
use crate::fsx::unix_now;

/// What one attempt to deliver a change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The member answered `result` 0 for this change: noted and skipped.
    Rejected(String),
    /// HTTP 401/403, or `result` 0 with an access reason: the queue waits for a new credential.
    CredentialRefused(String),
    /// The member did not answer usefully: tried again later.
    Retry(String),
}

/// What a member's answer to `set_tweaksetting` means for its queue.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if status == 401 || status == 403 {
        return Outcome::CredentialRefused(format!("the server refused the credential (HTTP {status})"));
    }
    // Any other 4xx (URI too long, bad request, payload too large...) is this change refused, not a passing fault.
    if (400..500).contains(&status) && status != 408 && status != 429 {
        let said = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["metadata"]["reason"].as_str().map(clean_reason))
            .map_or_else(String::new, |r| format!(": {r}"));
        return Outcome::Rejected(format!("the server refused the change (HTTP {status}){said}"));
    }
    if !(200..300).contains(&status) {
        return Outcome::Retry(format!("the server answered HTTP {status}"));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Retry("the server's answer is not WHM API 1 JSON".into());
    };
    let reason = clean_reason(v["metadata"]["reason"].as_str().unwrap_or_default());
    match v["metadata"]["result"].as_u64() {
        Some(1) => Outcome::Delivered,
        Some(0) => {
            let lower = reason.to_ascii_lowercase();
            if ["access denied", "permission", "not authorized", "privilege"]
                .iter()
                .any(|w| lower.contains(w))
            {
                Outcome::CredentialRefused(format!("the server refused the credential: {reason}"))
            } else {
                Outcome::Rejected(reason)
            }
        }
        _ => Outcome::Retry("the server's answer is not WHM API 1 JSON".into()),
    }
}

/// A member's `reason` (or any other text a member sent, its version too) as it may reach a log line, a file or a
/// page: control characters escaped, cut to [`MAX_REASON`] bytes.
pub fn clean_reason(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let piece: String = if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > MAX_REASON - '…'.len_utf8() {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// A value as a log line shows it: quoted, escaped, and cut short.
pub(super) fn shown(value: Option<&str>) -> String {
    match value {
        None => "(undefined)".to_owned(),
        Some(v) if v.len() > 80 => format!("{:?}… ({} bytes)", v.chars().take(60).collect::<String>(), v.len()),
        Some(v) => format!("{v:?}"),
    }
}

/// What a member's task sends: a change of the journal, or a value of a full resync.
enum Item {
    Change(Arc<Change>),
    Resync(String, Option<String>),
}

/// What a member's task does next.
enum Job {
    Stop,
    /// Wait to be woken (until this time, when given).
    Wait(Option<Instant>),
    /// Read the master's values for the member's resync mark.
    BuildResync,
    /// Send these, in order: `cursor` is the member's before the first change among them, `generation` the resync's.
    Send {
        items: Vec<Item>,
        cursor: u64,
        generation: u64,
    },
}

fn next_job(slot: &Slot, inner: &Inner) -> Job {
    let (cursor, marked) = {
        let m = lock(&slot.member);
        if m.removed {
            return Job::Stop;
        }
        if m.status.auth_refused {
            return Job::Wait(None);
        }
        if m.retry_at.is_some_and(|t| t > Instant::now()) {
            return Job::Wait(m.retry_at);
        }
        // A resync began from the values of its time: it ends before the changes made since are sent.
        if !m.resync_queue.is_empty() {
            let items = m
                .resync_queue
                .iter()
                .take(PUSH_BATCH)
                .map(|(k, v)| Item::Resync(k.clone(), v.clone()))
                .collect();
            return Job::Send {
                items,
                cursor: m.cursor,
                generation: m.resync_queue_gen,
            };
        }
        (m.cursor, m.status.resync.is_some())
    };
    let changes = lock(&inner.mem).changes.after(cursor, PUSH_BATCH);
    if !changes.is_empty() {
        return Job::Send {
            items: changes.into_iter().map(Item::Change).collect(),
            cursor,
            generation: 0,
        };
    }
    if marked { Job::BuildResync } else { Job::Wait(None) }
}

/// Wakes every member's task after each append (see `Inner::fanout`).
pub(super) async fn fanout_loop(inner: Arc<Inner>) {
    loop {
        inner.fanout.notified().await;
        for slot in inner.slots() {
            slot.wake.notify_one();
        }
    }
}

/// One member's task: sends the changes after its cursor in order, waits when there are none, backs off after
/// failures and stops when the member is removed. A member marked for a full resync is sent the master's settings
/// once it has finished the journal. Its connection is kept between sends and closed after [`KEEP_ALIVE_IDLE`].
pub(super) async fn push_loop(slot: Arc<Slot>, inner: Arc<Inner>) {
    let mut connection: Option<Connection> = None;
    let mut idle_since = Instant::now();
    loop {
        match next_job(&slot, &inner) {
            Job::Stop => return,
            Job::BuildResync => {
                if !build_resync(&slot, &inner) {
                    slot.wake.notified().await;
                }
            }
            Job::Wait(until) => {
                let close_at = connection
                    .as_ref()
                    .filter(|c| c.is_open())
                    .map(|_| idle_since + KEEP_ALIVE_IDLE);
                let wake_at = match (until, close_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                match wake_at {
                    Some(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at.into()) => {}
                            () = slot.wake.notified() => {}
                        }
                    }
                    None => slot.wake.notified().await,
                }
                if close_at.is_some_and(|t| t <= Instant::now())
                    && let Some(c) = connection.as_mut()
                {
                    // Closed, not dropped: its TLS configuration keeps the session to resume.
                    c.close();
                }
            }
            Job::Send {
                items,
                cursor,
                generation,
            } => {
                let Ok(_permit) = inner.permits.acquire().await else {
                    return;
                };
                send(&slot, &inner, &mut connection, items, cursor, generation).await;
                idle_since = Instant::now();
            }
        }
    }
}

/// Sends `items` in order on the member's connection, recording each answer; stops at the first that does not
/// finish its item (a failure, a refused credential) or when the member moved on meanwhile.
async fn send(
    slot: &Slot,
    inner: &Inner,
    connection: &mut Option<Connection>,
    items: Vec<Item>,
    mut cursor: u64,
    generation: u64,
) {
    let (endpoint, pin, header) = {
        let m = lock(&slot.member);
        (
            m.endpoint.clone(),
            m.file.fingerprint.clone(),
            m.credential.header(&m.file.user),
        )
    };
    let conn = match connection {
        Some(c) => c,
        None => match Connection::new(&endpoint, pin.as_deref()) {
            Ok(c) => connection.insert(c),
            Err(e) => {
                let mut m = lock(&slot.member);
                apply(&mut m, inner, "", None, Outcome::Retry(e.to_string()));
                return;
            }
        },
    };
    for item in items {
        let (key, value) = match &item {
            Item::Resync(key, value) => (key.clone(), value.clone()),
            Item::Change(c) if c.resync => {
                // Journaled as a resync mark for its key: the master's value now, when it fits.
                let value = lock(&inner.mem).sent.as_ref().and_then(|s| s.value(&c.key));
                if value.as_ref().is_some_and(|v| v.len() > MAX_QUEUED_VALUE) {
                    let mut m = lock(&slot.member);
                    if m.cursor != cursor {
                        return;
                    }
                    tracing::warn!(
                        "configuration cluster: {} is not sent {}: its value is longer than {MAX_QUEUED_VALUE} bytes",
                        m.file.url,
                        c.key
                    );
                    m.cursor = c.seq;
                    cursor = c.seq;
                    inner.commit.notify_one();
                    continue;
                }
                (c.key.clone(), value)
            }
            Item::Change(c) => (c.key.clone(), c.value.clone()),
        };
        let outcome = push(conn, &header, &key, value.as_deref()).await;
        if matches!(outcome, Outcome::Retry(_)) {
            conn.close();
        }
        let mut m = lock(&slot.member);
        let current = match &item {
            Item::Change(c) => m.cursor == cursor && !m.removed && c.seq > cursor,
            Item::Resync(k, _) => {
                m.resync_queue_gen == generation
                    && m.resync_queue.front().is_some_and(|(front, _)| front == k)
                    && !m.removed
            }
        };
        if !current {
            // Moved on meanwhile (marked for a resync past a lag, removed): this answer is not its to record.
            return;
        }
        if !apply(&mut m, inner, &key, value.as_deref(), outcome) {
            return;
        }
        match &item {
            Item::Change(c) => {
                m.cursor = c.seq;
                cursor = c.seq;
            }
            Item::Resync(..) => {
                m.resync_queue.pop_front();
                if m.resync_queue.is_empty() && m.resync_gen == m.resync_queue_gen {
                    m.status.resync = None;
                    m.touch(Dirty::Status);
                    tracing::info!("configuration cluster: {} resynchronised", m.file.url);
                }
            }
        }
    }
}

/// Reads the master's values for a member's resync mark (every setting its configuration sets explicitly and the
/// marked keys) into the member's resync queue; a value still too long is left out, with a warning. A mark with
/// nothing to send is cleared at once. `false` when there is nothing to read them from yet (the cluster did not start).
fn build_resync(slot: &Slot, inner: &Inner) -> bool {
    let (keys, generation) = {
        let m = lock(&slot.member);
        (m.status.resync.clone(), m.resync_gen)
    };
    let Some(keys) = keys else { return true };
    let Some(sent) = lock(&inner.mem).sent.clone() else {
        return false;
    };
    let mut m = lock(&slot.member);
    if m.resync_gen != generation || !m.resync_queue.is_empty() {
        return true;
    }
    let all: BTreeSet<&String> = keys.iter().chain(sent.explicit.iter()).collect();
    for key in all {
        let value = sent.value(key);
        if value.as_ref().is_some_and(|v| v.len() > MAX_QUEUED_VALUE) {
            tracing::warn!(
                "configuration cluster: {} is not sent {key}: its value is longer than {MAX_QUEUED_VALUE} bytes",
                m.file.url
            );
            continue;
        }
        m.resync_queue.push_back((key.clone(), value));
    }
    m.resync_queue_gen = generation;
    if m.resync_queue.is_empty() {
        m.status.resync = None;
    } else {
        tracing::info!(
            "configuration cluster: {}: full resync of {} setting(s)",
            m.file.url,
            m.resync_queue.len()
        );
    }
    m.touch(Dirty::Status);
    drop(m);
    inner.commit.notify_one();
    true
}

/// One `set_tweaksetting` call, its parameters in a POST form body (a long value fits no request line).
pub(super) async fn push(conn: &mut Connection, header: &str, key: &str, value: Option<&str>) -> Outcome {
    let form = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("api.version", "1").append_pair("key", key);
        if let Some(v) = value {
            form.append_pair("value", v);
        }
        form.finish()
    };
    match conn.post_form("/json-api/set_tweaksetting", &form, header).await {
        Ok(reply) => classify(reply.status, &reply.body),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Applies an attempt's outcome to the member's status (in memory; the group commit writes it): `true` when the
/// change is finished (accepted, or refused for good) and the member moves on.
pub(super) fn apply(m: &mut Member, inner: &Inner, key: &str, value: Option<&str>, outcome: Outcome) -> bool {
    let now = unix_now();
    inner.commit.notify_one();
    match outcome {
        Outcome::Delivered => {
            m.touch(if m.status.last_error.is_some() {
                Dirty::Status
            } else {
                Dirty::Counters
            });
            m.status.delivered += 1;
            m.status.last_success = Some(now);
            m.status.last_error = None;
            m.status.last_error_at = None;
            m.retry_at = None;
            m.backoff = BACKOFF_START;
            true
        }
        Outcome::Rejected(reason) => {
            m.touch(Dirty::Status);
            let text = format!("{} refused {key} = {}: {reason}", m.file.url, shown(value));
            tracing::warn!("configuration cluster: {text}");
            m.status.rejected += 1;
            m.status.last_error = Some(text);
            m.status.last_error_at = Some(now);
            m.retry_at = None;
            m.backoff = BACKOFF_START;
            true
        }
        Outcome::CredentialRefused(reason) => {
            m.touch(Dirty::Status);
            if !m.status.auth_refused {
                tracing::error!(
                    "configuration cluster: {} refused the credential of {} (signature {}): {reason}; its changes wait for update_configclusterserver",
                    m.file.url,
                    m.file.user,
                    m.credential.signature()
                );
                if let Some(audit) = inner.audit.clone() {
                    let fields = json!({"server": m.file.url, "user": m.file.user, "signature": m.credential.signature(),
                        "reason": reason, "actor": "cluster", "auth": "configuration cluster"});
                    // The audit log is synced: written on a blocking thread, never a request worker's.
                    tokio::task::spawn_blocking(move || {
                        let _ = audit.record("cluster_credential_refused", fields);
                    });
                }
            }
            m.status.auth_refused = true;
            m.status.last_error = Some(reason);
            m.status.last_error_at = Some(now);
            false
        }
        Outcome::Retry(reason) => {
            m.touch(Dirty::Status);
            if m.retry_at.is_none() {
                tracing::warn!("configuration cluster: {} unreachable, retrying: {reason}", m.file.url);
            }
            m.status.last_error = Some(reason);
            m.status.last_error_at = Some(now);
            m.retry_at = Some(Instant::now() + m.backoff);
            m.backoff = (m.backoff * 2).min(BACKOFF_CAP);
            false
        }
    }
}

#[cfg(test)]
pub(super) fn build_resync_for_test(slot: &Slot, inner: &Inner) -> bool {
    build_resync(slot, inner)
}
