//! The gate as OpenFeature flags: the OpenFeature Remote Evaluation Protocol (OFREP v1), single and bulk
//! evaluation under `/ofrep/v1/`, so any OpenFeature SDK with an OFREP provider can ask who sees what.
//!
//! Every gate feature is a boolean flag and the evaluation context's `targetingKey` is the user name. The answer
//! carries the gate's reason codes in `metadata`. Callers authenticate as for the WHM API (`Authorization` header):
//! root evaluates for anyone, a reseller for itself and the accounts it owns.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use settings::{Decision, FeatureSpec, Reason, Snapshot, UserKind, Username};

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

/// The user the context names, after checking the caller may evaluate for them.
fn target(snapshot: &Snapshot, caller: &Caller, body: &Bytes) -> Result<String, Failure> {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "PARSE_ERROR",
                format!("the body is not JSON: {e}"),
            )
        })?
    };
    let context = match request.get("context") {
        None | Some(Value::Null) => &Value::Null,
        Some(c @ Value::Object(_)) => c,
        Some(_) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                "context must be an object",
            ));
        }
    };
    let key = match context.get("targetingKey") {
        None | Some(Value::Null) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "TARGETING_KEY_MISSING",
                "the context needs a targetingKey: the user name to evaluate for",
            ));
        }
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_TARGETING_KEY => s.clone(),
        Some(_) => {
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

/// The OpenFeature reason: `DISABLED` when a Tweak Setting turns the feature off for everyone, `TARGETING_MATCH`
/// when the decision depends on who asks.
fn reason(d: &Decision) -> &'static str {
    let off_for_all = !d.visible
        && d.reasons.iter().any(|r| {
            matches!(
                r,
                Reason::SettingDisabled { .. } | Reason::PluginFaulted { .. } | Reason::PluginIncompatible { .. }
            )
        });
    if off_for_all { "DISABLED" } else { "TARGETING_MATCH" }
}

/// The decision for `user`; when that is the caller, with the caller's effective set (a limited token is told what
/// it may use, not what its user may).
fn evaluation(panel: &Panel, snapshot: &Snapshot, caller: &Caller, feature: &FeatureSpec, user: &str) -> Value {
    let d = if caller.user.as_str() == user {
        caller.decide(snapshot, &feature.id)
    } else {
        snapshot.decide(user, &feature.id)
    };
    let mut metadata = Map::new();
    metadata.insert("title".into(), json!(feature.title));
    metadata.insert("reasons".into(), json!(d.codes().join(",")));
    if !d.reasons.is_empty() {
        let text: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
        metadata.insert("explanation".into(), json!(text.join("; ")));
    }
    if let Some(dep) = panel
        .plugins()
        .host
        .feature_info(&feature.id)
        .and_then(|i| i.deprecation)
    {
        metadata.insert("deprecatedSince".into(), json!(dep.since));
    }
    json!({
        "key": feature.id,
        "value": d.visible,
        "variant": if d.visible { "visible" } else { "hidden" },
        "reason": reason(&d),
        "metadata": metadata,
    })
}

async fn authenticated(
    panel: &Panel,
    snapshot: &Snapshot,
    headers: &HeaderMap,
    peer: Peer,
) -> Result<Caller, AuthError> {
    let header = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
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
async fn evaluation_request(
    panel: &Panel,
    headers: &HeaderMap,
    peer: Peer,
    body: &Bytes,
    key: Option<&str>,
) -> Result<(Arc<Snapshot>, Caller, String), Response> {
    let snapshot = panel.snapshot();
    let caller = authenticated(panel, &snapshot, headers, peer).await.map_err(refused)?;
    let user = target(&snapshot, &caller, body).map_err(|f| f.response(key))?;
    Ok((snapshot, caller, user))
}

pub async fn single(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (snapshot, caller, user) = match evaluation_request(&panel, &headers, peer, &body, Some(&key)).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let Some(feature) = snapshot.feature_id(&key).map(|id| snapshot.feature(id)) else {
        return Failure::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no feature \"{}\"", key.escape_debug()),
        )
        .response(Some(&key));
    };
    axum::Json(evaluation(&panel, &snapshot, &caller, feature, &user)).into_response()
}

/// `POST /ofrep/v1/evaluate/flags`: every flag, with an `ETag` so a poller can ask "changed?" cheaply.
pub async fn bulk(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (snapshot, caller, user) = match evaluation_request(&panel, &headers, peer, &body, None).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let flags: Vec<Value> = snapshot
        .features()
        .iter()
        .map(|f| evaluation(&panel, &snapshot, &caller, f, &user))
        .collect();
    let body = json!({ "flags": flags }).to_string();
    let etag = format!("\"{}\"", &credentials::sha512_hex(&body)[..32]);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag = HeaderValue::from_str(&etag).expect("hex in quotes is a valid header value");
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}
