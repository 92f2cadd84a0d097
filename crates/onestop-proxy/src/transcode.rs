//! HTTP/JSON calls of departments' gRPC methods (transcoding).
//!
//! A transcoded call is matched by the snapshot's [`Table`] (the methods'
//! `google.api.http` bindings, or `POST /api/v1/rpc/{package.Service}/{Method}`),
//! checked against the native method's route (channel, auth), turned into
//! the request message (a bad body, path or query is a 400 naming the field
//! and nothing is sent), and then sent as a **native gRPC call through the
//! gateway's own public listener** with the caller's credentials. So
//! identity, BOLA, rate limits, audit and signing apply to it exactly as to
//! a native call — it is one — and only its shape changes here: the answer
//! leaves as JSON (proto3 mapping), a server stream as NDJSON or
//! Server-Sent Events flushed per message, and a gRPC status as the HTTP
//! status with the SPEC's JSON error body (the department's code and
//! message, or the gateway's own code when the gateway refused).

use bytes::Bytes;
use onestop_core::{ErrorCode, error, request_id};
use onestop_transcode::{Binding, DynamicCodec, Method, StreamFormat};
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use prost_reflect::DynamicMessage;

use crate::access::APP_KEY_HEADER;
use crate::respond::GATEWAY_ERROR_HEADER;

/// Where methods without `google.api.http` are served.
pub use onestop_transcode::DEFAULT_RPC_PREFIX as RPC_PREFIX;

/// Request headers a transcoded call passes on to its native call: the
/// caller's credentials (the native call checks them again) and the id.
const PASSED_ON: [&str; 2] = ["authorization", APP_KEY_HEADER];

/// One transcoded call, ready to go.
pub struct Call<'a> {
    pub method: &'a Method,
    pub binding: &'a Binding,
    pub message: DynamicMessage,
    pub request_id: &'a str,
}

/// A transcoded call's outcome, for the access log.
pub struct Outcome {
    pub status: u16,
    /// The gateway's error code, when the gateway refused the call (a
    /// department's error is its own answer).
    pub failure: Option<ErrorCode>,
}

/// How a failed call is answered.
struct Failure {
    status: u16,
    code: String,
    message: String,
    grpc_status: Option<i32>,
    gateway: Option<ErrorCode>,
}

impl Failure {
    /// A gRPC status from the native call: the gateway's own refusal keeps
    /// its code (and status); a department's maps by the gRPC code.
    fn from_status(status: &tonic::Status) -> Failure {
        let gateway = status
            .metadata()
            .get(GATEWAY_ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorCode::from_name);
        match gateway {
            Some(code) => Failure {
                status: code.http_status(),
                code: code.as_str().to_string(),
                message: status.message().to_string(),
                grpc_status: None,
                gateway: Some(code),
            },
            None => Failure {
                status: onestop_transcode::http_status(status.code()).as_u16(),
                code: onestop_transcode::code_name(status.code()).to_string(),
                message: status.message().to_string(),
                grpc_status: Some(status.code() as i32),
                gateway: None,
            },
        }
    }

    fn body(&self, request_id: &str) -> Vec<u8> {
        error::json_body_with(
            &self.code,
            &self.message,
            request_id,
            None,
            self.grpc_status,
        )
    }
}

/// A JSON body repeating a key at any depth is refused before the request
/// message is built (the protobuf JSON parser would keep the last value).
pub fn unique_keys(body: &[u8]) -> Result<(), onestop_transcode::BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    onestop_core::json::check_unique_keys(body).map_err(|e| onestop_transcode::BadRequest {
        field: String::new(),
        message: e.to_string(),
    })
}

/// The 400 body of a request that does not fit its message.
pub fn bad_request_body(bad: &onestop_transcode::BadRequest, request_id: &str) -> Vec<u8> {
    let message = if bad.field.is_empty() {
        bad.message.clone()
    } else {
        format!("{}: {}", bad.field, bad.message)
    };
    error::json_body_with(
        ErrorCode::InvalidArgument.as_str(),
        &message,
        request_id,
        Some(&bad.field),
        None,
    )
}

/// Sends `call` as a native gRPC call through the public listener and
/// answers the client.
pub async fn send(
    channel: tonic::transport::Channel,
    session: &mut Session,
    call: Call<'_>,
) -> Result<Outcome> {
    let mut request = tonic::Request::new(call.message);
    let headers = &session.req_header().headers;
    for name in PASSED_ON {
        if let Some(value) = headers
            .get(name)
            .and_then(|v| tonic::metadata::MetadataValue::try_from(v.as_bytes()).ok())
        {
            request.metadata_mut().insert(name, value);
        }
    }
    if let Ok(id) = tonic::metadata::MetadataValue::try_from(call.request_id) {
        request.metadata_mut().insert(request_id::HEADER, id);
    }
    let format = StreamFormat::from_accept(
        headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let path = match call.method.grpc_path.parse::<http::uri::PathAndQuery>() {
        Ok(p) => p,
        Err(_) => {
            return fail(
                session,
                Failure::gateway(ErrorCode::Internal, "bad method path"),
                call.request_id,
            )
            .await;
        }
    };
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return fail(
            session,
            Failure::gateway(ErrorCode::UpstreamUnavailable, &e.to_string()),
            call.request_id,
        )
        .await;
    }
    let codec = DynamicCodec::new(call.method.output.clone());
    let response_body = call.binding.response_body.as_ref();
    if !call.method.server_streaming {
        return match grpc.unary(request, path, codec).await {
            Ok(answer) => {
                let json = onestop_transcode::to_json(answer.get_ref(), response_body);
                let mut h = answer_header(200, "application/json", call.request_id)?;
                h.insert_header("content-length", json.len().to_string())?;
                session.write_response_header(Box::new(h), false).await?;
                session
                    .write_response_body(Some(Bytes::from(json)), true)
                    .await?;
                Ok(Outcome {
                    status: 200,
                    failure: None,
                })
            }
            Err(status) => fail(session, Failure::from_status(&status), call.request_id).await,
        };
    }
    let mut stream = match grpc.server_streaming(request, path, codec).await {
        Ok(answer) => answer.into_inner(),
        Err(status) => {
            return fail(session, Failure::from_status(&status), call.request_id).await;
        }
    };
    let mut h = answer_header(200, format.content_type(), call.request_id)?;
    if !session.is_http2() {
        h.insert_header("transfer-encoding", "chunked")?;
    }
    session.write_response_header(Box::new(h), false).await?;
    let mut failure = None;
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                let json = onestop_transcode::to_json(&message, response_body);
                let chunk = match format {
                    StreamFormat::Ndjson => onestop_transcode::ndjson_line(&json),
                    StreamFormat::Sse => onestop_transcode::sse_event(&json),
                };
                session.write_response_body(Some(chunk), false).await?;
            }
            Ok(None) => break,
            Err(status) => {
                // The stream started with 200: the error is its last item.
                let f = Failure::from_status(&status);
                let json = f.body(call.request_id);
                let chunk = match format {
                    StreamFormat::Ndjson => onestop_transcode::ndjson_line(&json),
                    StreamFormat::Sse => onestop_transcode::sse_error(&json),
                };
                session.write_response_body(Some(chunk), false).await?;
                failure = f.gateway;
                break;
            }
        }
    }
    session.write_response_body(None, true).await?;
    Ok(Outcome {
        status: 200,
        failure,
    })
}

impl Failure {
    fn gateway(code: ErrorCode, message: &str) -> Failure {
        Failure {
            status: code.http_status(),
            code: code.as_str().to_string(),
            message: message.to_string(),
            grpc_status: None,
            gateway: Some(code),
        }
    }
}

fn answer_header(status: u16, content_type: &str, request_id: &str) -> Result<ResponseHeader> {
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("content-type", content_type)?;
    h.insert_header(request_id::HEADER, request_id)?;
    h.insert_header("cache-control", "private, no-store")?;
    Ok(h)
}

async fn fail(session: &mut Session, f: Failure, request_id: &str) -> Result<Outcome> {
    let body = f.body(request_id);
    let mut h = answer_header(f.status, "application/json", request_id)?;
    h.insert_header("content-length", body.len().to_string())?;
    if f.gateway.is_some_and(ErrorCode::retryable) {
        h.insert_header("retry-after", "1")?;
    }
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(Outcome {
        status: f.status,
        failure: f.gateway,
    })
}
