//! The push tasks: each member's queue sent in order as `set_tweaksetting` calls, answers classified and recorded.

use super::*;

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

/// One member's task: sends its queue in order, waits when it is empty, backs off after failures and stops when the
/// member is removed. A member marked for a full resync is queued the master's settings once its queue is empty.
pub(super) async fn push_loop(
    slot: Arc<Slot>,
    permits: Arc<Semaphore>,
    audit: Option<Arc<AuditLog>>,
    sent: Arc<Mutex<Option<Sent>>>,
) {
    loop {
        let job = {
            let m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
            if m.removed {
                return;
            }
            match m.queue.front() {
                _ if m.status.auth_refused => Err(None),
                _ if m.retry_at.is_some_and(|t| t > Instant::now()) => Err(m.retry_at),
                None if m.status.resync.is_some() => Ok(None),
                None => Err(None),
                Some(change) => Ok(Some((
                    change.clone(),
                    m.endpoint.clone(),
                    m.file.fingerprint.clone(),
                    m.credential.header(&m.file.user),
                ))),
            }
        };
        let (change, endpoint, pin, header) = match job {
            Ok(Some(job)) => job,
            Ok(None) => {
                let (slot2, sent2) = (Arc::clone(&slot), Arc::clone(&sent));
                let _ = tokio::task::spawn_blocking(move || resync(&slot2, &sent2)).await;
                continue;
            }
            Err(None) => {
                slot.wake.notified().await;
                continue;
            }
            Err(Some(at)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = slot.wake.notified() => {}
                }
                continue;
            }
        };
        let outcome = {
            let Ok(_permit) = permits.acquire().await else { return };
            push(&endpoint, pin.as_deref(), &header, &change).await
        };
        // Recording syncs the outbox: done on a blocking thread, so request workers never wait for the disk.
        let (slot2, audit2) = (Arc::clone(&slot), audit.clone());
        let live = tokio::task::spawn_blocking(move || {
            let mut m = slot2.member.lock().unwrap_or_else(|e| e.into_inner());
            if m.removed {
                return false;
            }
            if m.queue.front().map(|c| c.seq) == Some(change.seq) {
                record(&mut m, &change, outcome, audit2.as_deref());
            }
            true
        })
        .await
        .unwrap_or(false);
        if !live {
            return;
        }
    }
}

/// A full resync: queues (durably) the master's current value of every setting it sets explicitly and of every key
/// whose change was not queued, then clears the mark; a value still too long is left out, with a warning. If the
/// outbox cannot be written the mark stays and the member backs off before it is tried again.
pub(super) fn resync(slot: &Slot, sent: &Mutex<Option<Sent>>) {
    let Some(sent) = sent.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
        return;
    };
    let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
    let Some(keys) = m.status.resync.take() else { return };
    let all: BTreeSet<String> = keys.iter().chain(sent.explicit.iter()).cloned().collect();
    let mut changes = Vec::new();
    for key in all {
        let value = sent.values.get(&key).cloned().flatten();
        if value.as_ref().is_some_and(|v| v.len() > MAX_QUEUED_VALUE) {
            tracing::warn!(
                "configuration cluster: {} is not sent {key}: its value is longer than {MAX_QUEUED_VALUE} bytes",
                m.file.url
            );
            continue;
        }
        changes.push((key, value));
    }
    let total = changes.len();
    drop(m);
    match queue_on(slot, &changes) {
        Ok(()) => {
            let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
            tracing::info!(
                "configuration cluster: {} resynchronised: {total} setting(s) queued",
                m.file.url
            );
            save_status(&m);
            m.retry_at = None;
        }
        Err(e) => {
            let mut m = slot.member.lock().unwrap_or_else(|e| e.into_inner());
            tracing::error!("configuration cluster: full resync not queued: {e:#}");
            let keys = m.status.resync.get_or_insert_with(BTreeSet::new);
            keys.extend(keys_of(&changes));
            m.retry_at = Some(Instant::now() + m.backoff);
            m.backoff = (m.backoff * 2).min(BACKOFF_CAP);
        }
    }
}

pub(super) fn keys_of(changes: &[(String, Option<String>)]) -> Vec<String> {
    changes.iter().map(|(k, _)| k.clone()).collect()
}

/// One `set_tweaksetting` call, its parameters in a POST form body (a long value fits no request line).
pub(super) async fn push(endpoint: &Endpoint, pin: Option<&str>, header: &str, change: &Change) -> Outcome {
    let form = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("api.version", "1").append_pair("key", &change.key);
        if let Some(v) = &change.value {
            form.append_pair("value", v);
        }
        form.finish()
    };
    match client::post_form(endpoint, pin, "/json-api/set_tweaksetting", form, header).await {
        Ok(reply) => classify(reply.status, &reply.body),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Applies an attempt's outcome to the member's queue and status.
pub(super) fn record(m: &mut Member, change: &Change, outcome: Outcome, audit: Option<&AuditLog>) {
    let now = unix_now();
    match outcome {
        Outcome::Delivered | Outcome::Rejected(_) => {
            let error = match &outcome {
                Outcome::Rejected(reason) => {
                    let text = format!(
                        "{} refused {} = {}: {reason}",
                        m.file.url,
                        change.key,
                        shown(change.value.as_deref())
                    );
                    tracing::warn!("configuration cluster: {text}");
                    m.status.rejected += 1;
                    m.status.last_error = Some(text);
                    m.status.last_error_at = Some(now);
                    Some(reason.clone())
                }
                _ => {
                    m.status.delivered += 1;
                    m.status.last_success = Some(now);
                    m.status.last_error = None;
                    m.status.last_error_at = None;
                    None
                }
            };
            if let Err(e) = append(
                m,
                &[Entry::Done {
                    done: change.seq,
                    error,
                }],
            ) {
                tracing::error!("cannot write the outbox of cluster member {}: {e:#}", m.file.url);
            }
            if let Some(c) = m.queue.pop_front() {
                m.queue_bytes = m.queue_bytes.saturating_sub(change_bytes(&c.key, c.value.as_deref()));
            }
            m.retry_at = None;
            m.backoff = BACKOFF_START;
            compact(m);
        }
        Outcome::CredentialRefused(reason) => {
            if !m.status.auth_refused {
                tracing::error!(
                    "configuration cluster: {} refused the credential of {} (signature {}): {reason}; its changes wait for update_configclusterserver",
                    m.file.url,
                    m.file.user,
                    m.credential.signature()
                );
                if let Some(audit) = audit {
                    let _ = audit.record(
                        "cluster_credential_refused",
                        json!({"server": m.file.url, "user": m.file.user, "signature": m.credential.signature(),
                            "reason": reason, "actor": "cluster", "auth": "configuration cluster"}),
                    );
                }
            }
            m.status.auth_refused = true;
            m.status.last_error = Some(reason);
            m.status.last_error_at = Some(now);
        }
        Outcome::Retry(reason) => {
            if m.retry_at.is_none() {
                tracing::warn!("configuration cluster: {} unreachable, retrying: {reason}", m.file.url);
            }
            m.status.last_error = Some(reason);
            m.status.last_error_at = Some(now);
            m.retry_at = Some(Instant::now() + m.backoff);
            m.backoff = (m.backoff * 2).min(BACKOFF_CAP);
        }
    }
    save_status(m);
}
