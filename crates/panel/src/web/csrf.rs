//! The `Csrf` extractor: a page's parameters, with every POST proven to come from a form this session was given.
//!
//! Each rendered form carries a one-use nonce issued for the session ([`Csrf::next`]); a POST without a valid one is
//! refused before the page sees it. The nonce is an input of the page, never text patched into its output.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::Visit;
use crate::whm::Params;

/// The largest form a page accepts.
const MAX_FORM: usize = 1 << 20;

/// A page request's parameters and the nonce for the forms it renders.
#[derive(Debug, Clone)]
pub struct Csrf {
    /// Query parameters, then (for a POST) the body's, read as the API reads them (a form, a JSON object's members,
    /// multipart fields: [`crate::api_params::from_body`]).
    pub params: Params,
    /// A POST's raw body, as the client sent it.
    pub body: Bytes,
    /// A POST that carried a valid nonce (consumed now).
    pub posted: bool,
    /// A fresh nonce for the forms of the page about to be rendered.
    pub next: String,
}

/// A state-changing request without a valid one-use form token: forged or replayed.
fn refused(visit: &Visit) -> Response {
    visit.render(
        StatusCode::FORBIDDEN,
        "Request Refused",
        html! {
            p.error #refused {
                "This form was already submitted or did not come from this session. Reload the page and try again."
            }
        },
    )
}

impl<S: Send + Sync> FromRequest<S> for Csrf {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Csrf, Response> {
        let Some(visit) = req.extensions().get::<Visit>().cloned() else {
            return Err(StatusCode::UNAUTHORIZED.into_response());
        };
        let mut params: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let posted = req.method() == Method::POST;
        let content_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut raw = Bytes::new();
        if posted {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
            if body.len() > MAX_FORM {
                return Err((StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response());
            }
            let form = crate::api_params::from_body(content_type.as_deref(), body.clone())
                .await
                .map_err(|e| (e.status, e.reason).into_response())?;
            raw = body;
            let nonce = form
                .iter()
                .rev()
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.clone());
            if !nonce.is_some_and(|n| visit.panel.sessions.consume_nonce(visit.token(), &n)) {
                return Err(refused(&visit));
            }
            params.extend(form);
        }
        Ok(Csrf {
            params: Params(params),
            body: raw,
            posted,
            next: visit.panel.sessions.issue_nonce(visit.token()),
        })
    }
}
