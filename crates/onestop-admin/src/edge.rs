//! What every response of the admin listener goes through: the
//! `x-request-id` (kept when well-formed, minted otherwise), the request
//! metric by matched route template, and the rendering of error bodies.
//!
//! Applied with `Router::layer`, which axum runs per route after routing,
//! so [`MatchedPath`] is known here (`unmatched` for the fallback).

use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use onestop_core::request_id;

use crate::error::ErrorPayload;
use crate::events;

/// The request id of the request being served (in request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(pub String);

/// The edge middleware.
pub(crate) async fn edge(mut request: Request, next: Next) -> Response {
    let id = request_id::accept_or_generate(
        request
            .headers()
            .get(request_id::HEADER)
            .map(HeaderValue::as_bytes),
    );
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let response = next.run(request).await;
    let mut response = render_error(response, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    events::request_done(&route, response.status().as_u16());
    response
}

/// Renders the body of an error response: from the [`ErrorPayload`] an
/// `ApiError` left, or, for a bare error from routing (no body type), from
/// its status. Other responses pass unchanged.
fn render_error(mut response: Response, request_id: &str) -> Response {
    let status = response.status();
    let payload = match response.extensions_mut().remove::<ErrorPayload>() {
        Some(p) => p,
        None if is_bare_error(&response, status) => ErrorPayload::for_status(status),
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    let body = Json(payload.render(request_id)).into_response();
    let (body_parts, body) = body.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(ct) = body_parts.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, ct.clone());
    }
    Response::from_parts(parts, body)
}

fn is_bare_error(response: &Response, status: StatusCode) -> bool {
    (status.is_client_error() || status.is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
}
