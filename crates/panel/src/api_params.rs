//! A WHM API call's parameters as WHM reads them, the same on every API path: the query string, then the body in
//! whatever form the client sends it (a form under any content type, a JSON object, multipart fields).
//!
//! Perl's HTTP::Tiny (cPanel's own Perl client) sends `api.version=1&…` as `application/octet-stream`, other clients
//! as `text/plain` or with no content type at all: all of these are read as a form. A body that cannot be read is
//! refused with a reason naming its content type, never ignored.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use serde_json::Value;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use settings::Snapshot;

use crate::whm::{Answer, Params, WhmError};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// A WHM API call's parameters, read the same on every API path: the query string, then the body as its content type
/// says (see [`crate::api_params`]). A body that cannot be read is answered with WHM's envelope, `result` 0: 413 when
/// it is too large, 408 when it did not arrive (the connection's body deadline), 400 when it is not what its type says.
/// The raw body comes along for plugins (`Request::body`).
#[derive(Debug, Clone)]
pub struct WhmParams(pub Params, pub Bytes);

impl<S: Send + Sync> FromRequest<S> for WhmParams {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<WhmParams, Response> {
        // The function's name, for the envelope of a refusal only.
        let function = compact_str::CompactString::new(req.uri().path().rsplit('/').next().unwrap_or_default());
        let refuse = |e: WhmError| Answer::of(&function, Err(e)).into_response();
        let mut params: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match Bytes::from_request(req, state).await {
            Ok(body) => body,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(refuse(
                    WhmError::new(format!("The request body is larger than {MAX_BODY} bytes."))
                        .with_status(StatusCode::PAYLOAD_TOO_LARGE),
                ));
            }
            // Any other failure of the body stream: it stopped, or did not come within the connection's deadline.
            Err(_) => {
                return Err(refuse(
                    WhmError::new("the request body did not arrive in time").with_status(StatusCode::REQUEST_TIMEOUT),
                ));
            }
        };
        params.extend(
            crate::api_params::from_body(content_type.as_deref(), body.clone())
                .await
                .map_err(refuse)?,
        );
        Ok(WhmParams(Params(params), body))
    }
}

/// What an API call needs from the HTTP request besides its credential and parameters: its method, and where it
/// came to (the listener's scheme and the host the request named).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub tls: bool,
    /// The request line's authority or the `Host` header, when well formed (inline up to 24 bytes, which a name with
    /// its port usually fits).
    pub host: Option<compact_str::CompactString>,
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Call, Self::Rejection> {
        Ok(Call::from_head(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &parts.extensions,
        ))
    }
}

impl Call {
    /// The call a request makes, read from its head.
    pub fn of<B>(req: &axum::http::Request<B>) -> Call {
        Call::from_head(req.method(), req.uri(), req.headers(), req.extensions())
    }

    fn from_head(
        method: &Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
    ) -> Call {
        let well_formed = |h: &str| {
            !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        };
        let host = uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
            .filter(|h| well_formed(h))
            .map(compact_str::CompactString::new);
        Call {
            method: method.clone(),
            tls: extensions.get::<crate::conn::Https>().is_some_and(|h| h.0),
            host,
        }
    }
}

impl Call {
    /// `http(s)://host[:port]` as the request named it (no host: the first listen address): the origin a browser that
    /// sent it is on, which a same-origin check compares with. Never put into an answer: see [`origin`](Self::origin).
    pub fn request_origin(&self, snapshot: &Snapshot) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let server = &snapshot.config().server;
        let addrs = if self.tls { &server.tls_listen } else { &server.listen };
        let host = self
            .host
            .clone()
            .or_else(|| addrs.first().map(compact_str::ToCompactString::to_compact_string));
        format!("{scheme}://{}", host.as_deref().unwrap_or("localhost"))
    }

    /// `http(s)://host[:port]`: the host the request named when it is this server's (its host name, `localhost`, or a
    /// listen address), else the first listen address of the listener's scheme. A client's `Host` never puts another
    /// server's name into a login link.
    pub fn origin(&self, snapshot: &Snapshot) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let server = &snapshot.config().server;
        let addrs = if self.tls { &server.tls_listen } else { &server.listen };
        let ours = |host: &str| {
            let name = host
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(']'))
                .map_or(host, |(name, _)| name);
            let name = name.trim_start_matches('[').trim_end_matches(']');
            // Cheapest first: most clients name a listen address; the host name is asked of the kernel last.
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| addrs.iter().any(|a| a.ip() == ip))
                || crate::fsx::is_host_name(name)
        };
        match self.host.as_deref().filter(|h| ours(h)) {
            Some(host) => format!("{scheme}://{host}"),
            None => match addrs.first() {
                Some(addr) => format!("{scheme}://{addr}"),
                None => format!("{scheme}://localhost"),
            },
        }
    }
    /// `https://host:port` of this server's first HTTPS listener, named as the request named this server (when it
    /// named it: [`origin`](Self::origin)'s rule), else by the listener's address or the machine's host name; `None`
    /// when the server has no HTTPS listener. Where a plain-HTTP request for a password or session is sent.
    pub fn tls_origin(&self, snapshot: &Snapshot) -> Option<String> {
        let tls = snapshot.config().server.tls_listen.first()?;
        let here = Call {
            tls: false,
            ..self.clone()
        }
        .origin(snapshot);
        let host = here.trim_start_matches("http://");
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(']') => name,
            _ => host,
        };
        let name = if name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
        {
            crate::fsx::host_name().unwrap_or_else(|| "localhost".to_owned())
        } else {
            name.to_owned()
        };
        Some(format!("https://{name}:{}", tls.port()))
    }
}

/// How a body is read, from the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`, and every type that is neither JSON nor multipart, or none at all.
    Form,
    /// `application/json` (or a `+json` type): an object whose members are the parameters.
    Json,
    /// `multipart/form-data`: its fields.
    Multipart,
}

/// The media type of a `Content-Type` value, lowercased, without its parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl BodyKind {
    pub fn of(content_type: Option<&str>) -> BodyKind {
        let Some(t) = content_type.map(essence) else {
            return BodyKind::Form;
        };
        if t == "application/json" || (t.starts_with("application/") && t.ends_with("+json")) {
            BodyKind::Json
        } else if t == "multipart/form-data" {
            BodyKind::Multipart
        } else {
            BodyKind::Form
        }
    }
}

/// The parameters a request body carries, in arrival order; `Err` is the answer's reason (HTTP 400) when the body
/// cannot be read as its content type says. An empty body carries none, whatever its type.
pub async fn from_body(content_type: Option<&str>, body: Bytes) -> Result<Vec<(String, String)>, WhmError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let named = content_type.map_or_else(|| "none".to_owned(), essence);
    let bad = |why: String| WhmError::new(why).with_status(StatusCode::BAD_REQUEST);
    match BodyKind::of(content_type) {
        BodyKind::Form => Ok(form_urlencoded::parse(&body).into_owned().collect()),
        BodyKind::Json => from_json(&body).map_err(|why| bad(format!("The request body ({named}) {why}"))),
        BodyKind::Multipart => {
            let content_type = content_type.unwrap_or_default();
            from_multipart(content_type, body).await.map_err(|e| {
                bad(format!(
                    "The request body ({named}) cannot be read as multipart/form-data: {e}."
                ))
            })
        }
    }
}

/// A JSON object's members: strings as they are, numbers and booleans as their text, a list as the key repeated
/// (one value each, in order); a `null` member is left out. Objects inside are refused.
fn from_json(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("is not valid JSON: {e}."))?;
    let Value::Object(members) = value else {
        return Err(format!(
            "must be a JSON object of parameters, not {}.",
            json_kind(&value)
        ));
    };
    let mut params = Vec::with_capacity(members.len());
    for (key, value) in members {
        match value {
            Value::Array(items) => {
                for item in items {
                    if let Some(text) = scalar(&key, &item)? {
                        params.push((key.clone(), text));
                    }
                }
            }
            value => {
                if let Some(text) = scalar(&key, &value)? {
                    params.push((key, text));
                }
            }
        }
    }
    Ok(params)
}

/// One parameter value from JSON; `None` for `null`.
fn scalar(key: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(format!(
            "holds {} for \"{}\"; a parameter is a string, a number, a boolean or a list of them.",
            json_kind(other),
            key.escape_debug()
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Every named field of a multipart body, its content as text (a file's too).
async fn from_multipart(content_type: &str, body: Bytes) -> Result<Vec<(String, String)>, multer::Error> {
    let boundary = multer::parse_boundary(content_type)?;
    let mut multipart = multer::Multipart::new(Body::from(body).into_data_stream(), boundary);
    let mut params = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().map(str::to_owned);
        let content = field.bytes().await?;
        if let Some(name) = name {
            params.push((name, String::from_utf8_lossy(&content).into_owned()));
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content_type: Option<&str>, body: &str) -> Result<Vec<(String, String)>, String> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(from_body(content_type, Bytes::from(body.to_owned())))
            .map_err(|e| e.reason)
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_type_but_json_and_multipart_is_a_form() {
        for t in [
            None,
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            Some("application/octet-stream"),
            Some("text/plain"),
            Some("application/xml"),
        ] {
            assert_eq!(read(t, "a=1&b=x+y"), Ok(pairs(&[("a", "1"), ("b", "x y")])), "{t:?}");
        }
    }

    #[test]
    fn a_json_object_members_are_parameters() {
        let got = read(
            Some("Application/JSON; charset=utf-8"),
            r#"{"s":"x","n":5,"f":2.5,"b":true,"l":["a",1,false],"z":null}"#,
        );
        assert_eq!(
            got,
            // Members in key order (a JSON object's keys are distinct, so their order decides nothing).
            Ok(pairs(&[
                ("b", "true"),
                ("f", "2.5"),
                ("l", "a"),
                ("l", "1"),
                ("l", "false"),
                ("n", "5"),
                ("s", "x")
            ]))
        );
    }

    #[test]
    fn unreadable_json_names_its_content_type() {
        for (body, why) in [
            ("{", "is not valid JSON"),
            ("[1]", "must be a JSON object of parameters, not a list."),
            (r#"{"a":{"b":1}}"#, "holds an object for \"a\""),
            (r#"{"a":[[1]]}"#, "holds a list for \"a\""),
        ] {
            let e = read(Some("application/json"), body).unwrap_err();
            assert!(e.starts_with("The request body (application/json) "), "{e}");
            assert!(e.contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn multipart_fields_are_parameters() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"api.version\"\r\n\r\n1\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\ncsp\r\n--XyZ--\r\n";
        assert_eq!(
            read(Some("multipart/form-data; boundary=XyZ"), body),
            Ok(pairs(&[("api.version", "1"), ("key", "csp")]))
        );
        let e = read(Some("multipart/form-data"), body).unwrap_err();
        assert!(
            e.starts_with("The request body (multipart/form-data) cannot be read"),
            "{e}"
        );
    }
}
