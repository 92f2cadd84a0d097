//! The gateway's own answers: errors in the SPEC shape (JSON for HTTP
//! callers, trailers-only `grpc-status` for gRPC callers), the error
//! header that names the gateway's code, and JSON documents it serves
//! itself. Every response the gateway writes (rather than a department)
//! leaves through this module.

use bytes::Bytes;
use onestop_core::{ErrorCode, error, request_id};
use pingora_core::protocols::http::HttpTask;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::grpc_web;

/// On a gateway-made gRPC error: the gateway's own code (`RATE_LIMITED`,
/// …), so that a transcoded call answers with it. Removed from departments'
/// answers.
pub const GATEWAY_ERROR_HEADER: &str = "x-onestop-error";

/// A pingora error carrying `code`'s HTTP status (the phase that returns
/// it sets `ctx.failure`, which `fail_to_proxy` answers with).
pub fn error_for(code: ErrorCode, why: impl Into<String>) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(code.http_status()), why.into())
}

/// Writes a gateway error in the SPEC shape: JSON for HTTP callers,
/// `grpc-status`/`grpc-message` in a trailers-only response for gRPC callers.
pub async fn respond_error(
    session: &mut Session,
    code: ErrorCode,
    message: &str,
    request_id: &str,
    grpc: bool,
) -> Result<u16> {
    respond_error_with(session, code, message, request_id, grpc, None).await
}

/// The response header of a gateway error with a JSON body of `body_len`
/// bytes (also used to answer a department's 404 on a citizen route, so
/// that it is indistinguishable from the gateway's own).
pub fn error_header(
    code: ErrorCode,
    body_len: usize,
    request_id: &str,
    retry_after: Option<u64>,
) -> Result<ResponseHeader> {
    let status = code.http_status();
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body_len.to_string())?;
    h.insert_header(request_id::HEADER, request_id)?;
    match retry_after {
        Some(secs) => h.insert_header("retry-after", secs.to_string())?,
        None if code.retryable() && status == 503 => h.insert_header("retry-after", "1")?,
        None => {}
    }
    Ok(h)
}

/// [`respond_error`] with a `Retry-After` (429).
pub async fn respond_error_with(
    session: &mut Session,
    code: ErrorCode,
    message: &str,
    request_id: &str,
    grpc: bool,
    retry_after: Option<u64>,
) -> Result<u16> {
    if grpc {
        let content_type = grpc_web::Mode::of(
            session
                .req_header()
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(http::HeaderValue::as_bytes),
        )
        .map_or("application/grpc", grpc_web::Mode::content_type);
        let mut h = ResponseHeader::build(200, Some(5))?;
        h.insert_header("content-type", content_type)?;
        h.insert_header(GATEWAY_ERROR_HEADER, code.as_str())?;
        h.insert_header("grpc-status", (code.grpc_code() as u8).to_string())?;
        h.insert_header("grpc-message", error::grpc_message(message))?;
        h.insert_header(request_id::HEADER, request_id)?;
        session
            .write_response_tasks(vec![HttpTask::Header(Box::new(h), true)])
            .await?;
        return Ok(200);
    }
    let body = Bytes::from(error::json_body(code.as_str(), message, request_id));
    let status = code.http_status();
    let h = error_header(code, body.len(), request_id, retry_after)?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(h), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(status)
}

/// The body of the gateway's "no such citizen" answer.
pub fn citizen_not_found_body(request_id: &str) -> Bytes {
    Bytes::from(error::json_body(
        ErrorCode::CitizenNotFound.as_str(),
        ErrorCode::CitizenNotFound.default_message(),
        request_id,
    ))
}

/// A `200` JSON answer the gateway writes itself (catalog, overview).
pub async fn respond_json(
    session: &mut Session,
    body: Vec<u8>,
    request_id: &str,
    cache_control: &str,
) -> Result<u16> {
    let mut h = ResponseHeader::build(200, Some(4))?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body.len().to_string())?;
    h.insert_header(request_id::HEADER, request_id)?;
    h.insert_header("cache-control", cache_control)?;
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(200)
}

/// A gateway error whose JSON body the caller built (a transcoded call's
/// 400 naming the field); the status is `code`'s.
pub async fn respond_error_body(
    session: &mut Session,
    code: ErrorCode,
    body: Vec<u8>,
    request_id: &str,
) -> Result<u16> {
    let h = error_header(code, body.len(), request_id, None)?;
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(code.http_status())
}

/// A file a citizen API answers (an appeal's attachment): its stored type,
/// a download never rendered inline (`content-disposition: attachment`,
/// `x-content-type-options: nosniff`), never stored.
pub async fn respond_download(
    session: &mut Session,
    media_type: &str,
    body: Vec<u8>,
    request_id: &str,
) -> Result<u16> {
    let mut h = ResponseHeader::build(200, Some(6))?;
    h.insert_header("content-type", media_type)?;
    h.insert_header("content-length", body.len().to_string())?;
    h.insert_header("content-disposition", "attachment")?;
    h.insert_header("x-content-type-options", "nosniff")?;
    h.insert_header(request_id::HEADER, request_id)?;
    h.insert_header("cache-control", "private, no-store")?;
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(200)
}

/// A citizen API's answer: `status` and its JSON document, never stored.
pub async fn respond_reply(
    session: &mut Session,
    status: u16,
    body: Vec<u8>,
    request_id: &str,
) -> Result<u16> {
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body.len().to_string())?;
    h.insert_header(request_id::HEADER, request_id)?;
    h.insert_header("cache-control", "private, no-store")?;
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(status)
}
