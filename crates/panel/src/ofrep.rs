//! The gate as OpenFeature flags: the OpenFeature Remote Evaluation Protocol (OFREP v1), single and bulk
//! evaluation under `/ofrep/v1/`, so any OpenFeature SDK with an OFREP provider can ask who sees what.
//!
//! Every gate feature is a boolean flag and the evaluation context's `targetingKey` is the user name. The answer
//! carries the gate's reason codes in `metadata`. Callers authenticate as for the WHM API (`Authorization` header):
//! root evaluates for anyone, a reseller for itself and the accounts it owns.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use settings::{Explanation, ReasonRef, Snapshot, UserKind, Username};

use crate::auth::Caller;
use crate::auth::header::{AuthError, authenticate};
use crate::conn::Peer;
use crate::state::Panel;

/// Why a request cannot be evaluated, as OFREP names it.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: &'static str,
    details: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, details: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            details: details.into(),
        }
    }

    fn response(self, key: Option<&str>) -> Response {
        let mut body = json!({"errorCode": self.code, "errorDetails": self.details});
        if let Some(k) = key {
            body["key"] = json!(k);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// The user the context names, after checking the caller may evaluate for them (borrowed from the body when it
/// holds no escapes).
fn target<'b>(snapshot: &Snapshot, caller: &Caller, body: &'b Bytes) -> Result<Cow<'b, str>, Failure> {
    let request: EvaluationRequest<'b> = if body.is_empty() {
        EvaluationRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "PARSE_ERROR",
                format!("the body is not JSON: {e}"),
            )
        })?
    };
    let key = match request.context {
        ContextField::Absent | ContextField::Object(TargetingKey::Absent) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "TARGETING_KEY_MISSING",
                "the context needs a targetingKey: the user name to evaluate for",
            ));
        }
        ContextField::NotAnObject => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                "context must be an object",
            ));
        }
        ContextField::Object(TargetingKey::Name(s)) if !s.is_empty() && s.len() <= MAX_TARGETING_KEY => s,
        ContextField::Object(_) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                format!("targetingKey must be a user name (at most {MAX_TARGETING_KEY} bytes)"),
            ));
        }
    };
    if !may_evaluate_for(snapshot, caller, &key) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "GENERAL",
            format!("{} may not evaluate flags for \"{}\"", caller.user, key.escape_debug()),
        ));
    }
    Ok(key)
}

/// An evaluation request as OFREP sends it, `{"context": {"targetingKey": …, …}, …}`: only what is read is kept,
/// borrowed from the body, and a context or key of the wrong type is told apart from a body that is not JSON.
#[derive(Debug, Default, Deserialize)]
struct EvaluationRequest<'b> {
    #[serde(default, borrow)]
    context: ContextField<'b>,
}

/// The `context` member.
#[derive(Debug, Default)]
enum ContextField<'b> {
    /// Absent or `null`.
    #[default]
    Absent,
    NotAnObject,
    Object(TargetingKey<'b>),
}

/// The context's `targetingKey`.
#[derive(Debug, Default)]
enum TargetingKey<'b> {
    /// Absent or `null`.
    #[default]
    Absent,
    Name(Cow<'b, str>),
    /// A number, an object, …
    NotAString,
}

impl<'de: 'b, 'b> Deserialize<'de> for ContextField<'b> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'b>(std::marker::PhantomData<&'b ()>);
        impl<'de: 'b, 'b> Visitor<'de> for V<'b> {
            type Value = ContextField<'b>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an evaluation context")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(ContextField::Absent)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(ContextField::Absent)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ContextField::NotAnObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ContextField::NotAnObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ContextField::NotAnObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ContextField::NotAnObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ContextField::NotAnObject)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ContextField::NotAnObject)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut key = TargetingKey::Absent;
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    if name == "targetingKey" {
                        key = map.next_value()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ContextField::Object(key))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'b, 'b> Deserialize<'de> for TargetingKey<'b> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'b>(std::marker::PhantomData<&'b ()>);
        impl<'de: 'b, 'b> Visitor<'de> for V<'b> {
            type Value = TargetingKey<'b>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a targeting key")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TargetingKey::Absent)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(TargetingKey::Absent)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TargetingKey::Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                // Escapes were decoded: a copy, cut where no user name reaches (the answer refuses it anyway).
                let cut = v.floor_char_boundary(MAX_TARGETING_KEY + 1);
                let mut owned = String::with_capacity(cut + 1);
                owned.push_str(&v[..cut]);
                if cut < v.len() {
                    owned.push('…');
                }
                Ok(TargetingKey::Name(Cow::Owned(owned)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TargetingKey::NotAString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TargetingKey::NotAString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TargetingKey::NotAString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TargetingKey::NotAString)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TargetingKey::NotAString)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TargetingKey::NotAString)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The longest `targetingKey` read: user names are far shorter, and a key is echoed in answers, so a long one would
/// make every answer as long.
const MAX_TARGETING_KEY: usize = 64;

/// Root for anyone; a reseller for itself and the accounts it owns. Another user's decisions need a full-access
/// credential or one that may use Feature Access, the page that shows the same answers: a token limited to some
/// unrelated privilege learns only its own user's flags.
fn may_evaluate_for(snapshot: &Snapshot, caller: &Caller, user: &str) -> bool {
    if caller.user.as_str() == user {
        return true;
    }
    if !caller.full_access && !caller.decide(snapshot, crate::features::FEATURE_ACCESS).visible {
        return false;
    }
    if caller.is_root() {
        return true;
    }
    let Ok(name) = Username::new(user) else { return false };
    caller.kind == UserKind::Reseller
        && snapshot
            .config()
            .users
            .accounts
            .get(&name)
            .is_some_and(|a| a.owner == caller.user)
}

/// A flag's answer, written straight from the snapshot's borrowed explanation (no JSON tree, no owned reasons).
#[derive(Serialize)]
struct Flag<'a> {
    key: &'a str,
    value: bool,
    variant: &'static str,
    reason: &'static str,
    metadata: Metadata<'a>,
}

/// What OFREP calls the flag's metadata: the gate's reason codes (none when visible); the title and the explanation
/// in sentences only for a single flag (a bulk poller reads codes, and asks one flag to learn why); the plugin's
/// deprecation.
#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Codes::is_empty")]
    reasons: Codes<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Sentences<'a>>,
    #[serde(rename = "deprecatedSince", skip_serializing_if = "Option::is_none")]
    deprecated_since: Option<u32>,
}

/// The reason codes, comma-separated, written without collecting them.
struct Codes<'a>(Explanation<'a>);

impl Codes<'_> {
    fn is_empty(&self) -> bool {
        self.0.visible()
    }
}

impl std::fmt::Display for Codes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.0.reasons().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(r.code())?;
        }
        Ok(())
    }
}

impl Serialize for Codes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Every reason in sentences, `; `-separated, rendered straight into the answer.
struct Sentences<'a>(Explanation<'a>);

impl std::fmt::Display for Sentences<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.0.reasons().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            r.fmt(f)?;
        }
        Ok(())
    }
}

impl Serialize for Sentences<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The OpenFeature reason: `DISABLED` when a Tweak Setting (or the providing plugin's fault) turns the feature off
/// for everyone, `TARGETING_MATCH` when the decision depends on who asks.
fn reason(e: &Explanation<'_>) -> &'static str {
    let off_for_all = !e.visible()
        && e.reasons()
            .any(|r| matches!(r, ReasonRef::SettingDisabled { .. } | ReasonRef::Plugin(_)));
    if off_for_all { "DISABLED" } else { "TARGETING_MATCH" }
}

/// What an answer needs besides the snapshot that only changes with it: each feature's deprecation, read from the
/// plugins once per snapshot instead of copying the plugin's description per flag per request.
struct Prepared {
    serial: u64,
    /// By feature position.
    deprecated_since: Vec<Option<u32>>,
}

/// The answers prepared for the snapshot last asked about, keyed by its serial (unique in the process, so a panel
/// of another test in the same process only makes it be prepared again, never answered wrongly).
static PREPARED: arc_swap::ArcSwapOption<Prepared> = arc_swap::ArcSwapOption::const_empty();

fn prepared(panel: &Panel, snapshot: &Snapshot) -> Arc<Prepared> {
    if let Some(p) = PREPARED.load_full()
        && p.serial == snapshot.serial()
    {
        return p;
    }
    let plugins = panel.plugins();
    let p = Arc::new(Prepared {
        serial: snapshot.serial(),
        deprecated_since: snapshot
            .features()
            .iter()
            .map(|f| {
                f.plugin.as_ref()?;
                plugins
                    .host
                    .feature_info(&f.id)
                    .and_then(|i| i.deprecation)
                    .map(|d| d.since)
            })
            .collect(),
    });
    PREPARED.store(Some(Arc::clone(&p)));
    p
}

/// The answer for one feature (by position) and `user`; when that is the caller, with the caller's effective set (a
/// limited token is told what it may use, not what its user may).
fn evaluation<'a>(
    snapshot: &'a Snapshot,
    prepared: &Prepared,
    caller: &Caller,
    index: usize,
    user: &'a str,
    single: bool,
) -> Flag<'a> {
    let feature = &snapshot.features()[index];
    let e = if caller.user.as_str() == user {
        snapshot.explain_for(caller.id, &feature.id, caller.privileges, caller.full_access)
    } else {
        snapshot.explain(user, &feature.id)
    };
    Flag {
        key: &feature.id,
        value: e.visible(),
        variant: if e.visible() { "visible" } else { "hidden" },
        reason: reason(&e),
        metadata: Metadata {
            title: single.then_some(feature.title.as_str()),
            reasons: Codes(e),
            explanation: (single && !e.visible()).then_some(Sentences(e)),
            deprecated_since: prepared.deprecated_since.get(index).copied().flatten(),
        },
    }
}

/// A JSON answer written from a typed value.
fn json_answer(value: &impl Serialize, capacity: usize, etag: Option<HeaderValue>) -> Response {
    let mut body = Vec::with_capacity(capacity);
    if let Err(e) = serde_json::to_writer(&mut body, value) {
        return Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "GENERAL",
            format!("cannot encode the answer: {e}"),
        )
        .response(None);
    }
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if let Some(etag) = etag {
        r.headers_mut().insert(header::ETAG, etag);
    }
    r
}

/// The bulk answer's `ETag`: a keyed hash of what the answer depends on (the snapshot, the user evaluated for and,
/// when that is the caller, the credential's effective set), not of the body, so "unchanged?" is answered before any
/// flag is evaluated. The key is random per process, so a restart (whose snapshot serials start again) never
/// repeats a tag.
fn etag(snapshot: &Snapshot, caller: &Caller, user: &str) -> HeaderValue {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let own = caller.user.as_str() == user;
    let scope = own.then_some((caller.privileges.bits(), caller.full_access));
    let h = KEY
        .get_or_init(std::hash::RandomState::new)
        .hash_one((snapshot.serial(), user, scope));
    let mut text = [b'"'; 18];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in text[1..17].iter_mut().enumerate() {
        *b = HEX[(h >> (60 - 4 * i) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).expect("hex in quotes is a valid header value")
}

/// The two request headers an evaluation reads, taken without copying the whole header map.
#[derive(Debug)]
pub struct EvaluationHeaders {
    authorization: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for EvaluationHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(EvaluationHeaders {
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            if_none_match: parts.headers.get(header::IF_NONE_MATCH).cloned(),
        })
    }
}

async fn authenticated(
    panel: &Panel,
    snapshot: &Snapshot,
    headers: &EvaluationHeaders,
    peer: Peer,
) -> Result<Caller, AuthError> {
    let header = headers.authorization.as_ref().map(HeaderValue::as_bytes);
    authenticate(panel, snapshot, header, peer.0.ip()).await
}

/// 401, or 429 with `Retry-After` (the OFREP providers pause until then).
fn refused(e: AuthError) -> Response {
    match e {
        AuthError::Denied => Failure::new(StatusCode::UNAUTHORIZED, "GENERAL", "Access denied").response(None),
        AuthError::Throttled(wait) => {
            let mut r = Failure::new(StatusCode::TOO_MANY_REQUESTS, "GENERAL", "Too many failed logins").response(None);
            r.headers_mut()
                .insert(header::RETRY_AFTER, crate::auth::header::retry_after(wait));
            r
        }
        AuthError::Busy => {
            let mut r = Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "GENERAL",
                "The server is busy checking passwords",
            )
            .response(None);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

/// `POST /ofrep/v1/evaluate/flags/{key}`: one flag.
/// The caller, the snapshot and the user an evaluation request is for, or the answer that refuses it.
async fn evaluation_request<'b>(
    panel: &Panel,
    headers: &EvaluationHeaders,
    peer: Peer,
    body: &'b Bytes,
    key: Option<&str>,
) -> Result<(Arc<Snapshot>, Caller, Cow<'b, str>), Response> {
    let snapshot = panel.snapshot();
    let caller = authenticated(panel, &snapshot, headers, peer).await.map_err(refused)?;
    let user = target(&snapshot, &caller, body).map_err(|f| f.response(key))?;
    Ok((snapshot, caller, user))
}

pub async fn single(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(key): Path<compact_str::CompactString>,
    headers: EvaluationHeaders,
    body: Bytes,
) -> Response {
    let (snapshot, caller, user) = match evaluation_request(&panel, &headers, peer, &body, Some(&key)).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let Some(id) = snapshot.feature_id(&key) else {
        return Failure::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no feature \"{}\"", key.escape_debug()),
        )
        .response(Some(&key));
    };
    let spec = snapshot.feature(id);
    let index = snapshot
        .features()
        .iter()
        .position(|f| std::ptr::eq(f, spec))
        .unwrap_or_default();
    let prepared = prepared(&panel, &snapshot);
    json_answer(
        &evaluation(&snapshot, &prepared, &caller, index, &user, true),
        256,
        None,
    )
}

/// Every flag, in the snapshot's order.
#[derive(Serialize)]
struct Bulk<'a> {
    #[serde(serialize_with = "serialize_flags")]
    flags: (&'a Snapshot, &'a Prepared, &'a Caller, &'a str),
}

fn serialize_flags<S: serde::Serializer>(
    &(snapshot, prepared, caller, user): &(&Snapshot, &Prepared, &Caller, &str),
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq((0..snapshot.features().len()).map(|i| evaluation(snapshot, prepared, caller, i, user, false)))
}

/// `POST /ofrep/v1/evaluate/flags`: every flag, with an `ETag` so a poller can ask "changed?" cheaply.
pub async fn bulk(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: EvaluationHeaders,
    body: Bytes,
) -> Response {
    let (snapshot, caller, user) = match evaluation_request(&panel, &headers, peer, &body, None).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let etag = etag(&snapshot, &caller, &user);
    let unchanged = headers
        .if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().as_bytes() == etag.as_bytes() || t.trim() == "*")
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let prepared = prepared(&panel, &snapshot);
    let answer = Bulk {
        flags: (&snapshot, &prepared, &caller, &user),
    };
    json_answer(&answer, 32 + 128 * snapshot.features().len(), Some(etag))
}
