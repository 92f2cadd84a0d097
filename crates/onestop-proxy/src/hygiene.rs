//! HTTP hygiene on the public listener: what pingora 0.9.1 lets through and
//! onestop refuses (see `docs/hygiene.md` for the full account, probe by probe).
//!
//! Pure checks on the request head ([`check_request`], [`check_declared_body`],
//! [`check_body_read`]) plus [`admit_body`], which reads a chunked HTTP/1.1
//! body ahead of the upstream connection so that a malformed or oversized one
//! never reaches a department, and [`BodyGate`], which carries the body limit
//! and the read-ahead bytes to `request_body_filter`.
//!
//! Every refusal closes the downstream connection.

use bytes::{Bytes, BytesMut};
use http::{Version, header};
use onestop_config::{Limits, UnknownHost};
use onestop_core::ErrorCode;
use pingora_http::RequestHeader;
use pingora_proxy::Session;
use tokio::time::Instant;

use crate::request::host_without_port;

/// Bytes pingora keeps of a request body to send it again (its retry buffer,
/// `BODY_BUF_LIMIT` in `pingora-core/src/protocols/http/v1/common.rs`). A
/// chunked body read ahead of the upstream connection is forwarded from
/// there, so only this much can be read ahead and still be forwarded whole.
pub const READ_AHEAD_LIMIT: usize = 64 * 1024;

/// Why a request is refused before it reaches a department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A line of the header block ends in a bare LF, or holds a bare CR.
    BareLineEnding,
    /// A header line continues the previous one (obs-fold, RFC 9112 §5.2).
    ObsFold,
    /// Both `Content-Length` and `Transfer-Encoding` (request smuggling).
    ContentLengthWithTransferEncoding,
    /// More than one `Content-Length` value, even equal ones.
    DuplicateContentLength,
    /// A `Content-Length` that is not a decimal number.
    InvalidContentLength,
    /// A `Transfer-Encoding` other than exactly one `chunked`.
    UnsupportedTransferEncoding,
    /// More header fields than `limits.max_headers`.
    TooManyHeaders,
    /// More header bytes (names + values) than `limits.max_header_bytes`.
    HeadersTooLarge,
    /// An HTTP/1 request target that is not a path (absolute-, authority-
    /// or asterisk-form).
    NotOriginForm,
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// More than one `Host`.
    DuplicateHost,
    /// A `Host` that is not a valid `host[:port]`.
    InvalidHost,
    /// A host not in `limits.hosts` while `unknown_host = "reject"`.
    UnknownHost,
    /// A body larger than the limit in force.
    BodyTooLarge,
    /// The body could not be read: bad chunked framing, or the client
    /// stopped sending.
    UnreadableBody,
    /// The client paused longer than `limits.body_timeout` between two
    /// reads of its body.
    BodyTimeout,
    /// The whole request (header and body) took longer than
    /// `limits.request_timeout`.
    RequestTimeout,
}

impl Refusal {
    /// The gateway error this refusal is answered with.
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::TooManyHeaders | Refusal::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            Refusal::BodyTooLarge => ErrorCode::BodyTooLarge,
            Refusal::BodyTimeout | Refusal::RequestTimeout => ErrorCode::RequestTimeout,
            // Unknown hosts answer like unknown paths: no route serves them.
            Refusal::UnknownHost => ErrorCode::RouteNotFound,
            _ => ErrorCode::MalformedRequest,
        }
    }

    /// The HTTP status: 400, 404, 408, 413 or 431.
    pub fn status(self) -> u16 {
        self.code().http_status()
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::BareLineEnding => "header lines must end in CRLF",
            Refusal::ObsFold => "folded header lines are not accepted",
            Refusal::ContentLengthWithTransferEncoding => {
                "Content-Length and Transfer-Encoding must not both be sent"
            }
            Refusal::DuplicateContentLength => "Content-Length must be sent once",
            Refusal::InvalidContentLength => "Content-Length must be a decimal number",
            Refusal::UnsupportedTransferEncoding => "the only transfer coding accepted is chunked",
            Refusal::TooManyHeaders => "too many request header fields",
            Refusal::HeadersTooLarge => "the request header fields are too large",
            Refusal::NotOriginForm => "the request target must be a path starting with /",
            Refusal::MissingHost => "HTTP/1.1 requests must carry Host",
            Refusal::DuplicateHost => "Host must be sent once",
            Refusal::InvalidHost => "Host is not a valid host name",
            Refusal::UnknownHost => "no route matches this request",
            Refusal::BodyTooLarge => "the request body is too large",
            Refusal::UnreadableBody => "the request body could not be read",
            Refusal::BodyTimeout => "the request body arrived too slowly",
            Refusal::RequestTimeout => "the whole request was not received in time",
        }
    }
}

/// Checks a request head against the listener's limits.
///
/// `raw` is the header block as received (HTTP/1 only; `None` for h2). It
/// is needed because pingora drops `Content-Length` from the parsed header
/// when `Transfer-Encoding` is present, and accepts bare-LF line endings.
pub fn check_request(
    req: &RequestHeader,
    raw: Option<&[u8]>,
    limits: &Limits,
) -> Result<(), Refusal> {
    if let Some(raw) = raw {
        check_raw(raw, req)?;
    }
    check_framing(req)?;
    check_sizes(req, limits)?;
    if req.version != Version::HTTP_2 && !req.raw_path().starts_with(b"/") {
        return Err(Refusal::NotOriginForm);
    }
    check_host(req, limits)
}

/// A declared `Content-Length` over `limit` (a route's `max_body_bytes`,
/// else `limits.max_body_bytes`) is refused before any upstream is contacted.
pub fn check_declared_body(req: &RequestHeader, limit: u64) -> Result<(), Refusal> {
    let declared = req
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| parse_decimal(v.as_bytes()));
    match declared {
        Some(n) if n > limit => Err(Refusal::BodyTooLarge),
        _ => Ok(()),
    }
}

/// `read` body bytes received from the client so far, against `limit`.
pub fn check_body_read(read: u64, limit: u64) -> Result<(), Refusal> {
    if read > limit {
        Err(Refusal::BodyTooLarge)
    } else {
        Ok(())
    }
}

/// Whether the body is read ahead of the upstream connection: a chunked
/// HTTP/1.1 body, unless the client waits for `100 Continue` (the department
/// sends that; waiting for the body first would stall such clients).
pub fn reads_ahead(req: &RequestHeader) -> bool {
    req.version == Version::HTTP_11
        && req.headers.contains_key(header::TRANSFER_ENCODING)
        && !req
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The request-body limit in force and the bytes read ahead that still have
/// to be forwarded. Lives in the proxy's per-request context.
#[derive(Debug, Default)]
pub struct BodyGate {
    /// The largest body accepted (a route's `max_body_bytes`, else
    /// `limits.max_body_bytes`).
    pub limit: u64,
    /// Read ahead but not in pingora's retry buffer (the body outgrew it):
    /// prepended to the next chunk pingora forwards.
    held: Option<BytesMut>,
    /// When the whole request must have been received
    /// (`limits.request_timeout` after its start).
    pub deadline: Option<Instant>,
}

impl BodyGate {
    pub fn new(limit: u64, deadline: Option<Instant>) -> Self {
        BodyGate {
            limit,
            held: None,
            deadline,
        }
    }

    /// For `request_body_filter`: checks the limit against `read` (all body
    /// bytes received from the client so far, which a replay of the retry
    /// buffer does not increase) and puts the held bytes in front of `body`.
    pub fn on_chunk(&mut self, body: &mut Option<Bytes>, read: u64) -> Result<(), Refusal> {
        check_deadline(self.deadline)?;
        check_body_read(read, self.limit)?;
        if let Some(mut held) = self.held.take() {
            if let Some(chunk) = body.take() {
                held.extend_from_slice(&chunk);
            }
            *body = Some(held.freeze());
        }
        Ok(())
    }
}

/// Admits the request body before any upstream is contacted: a declared
/// length over `gate.limit` is refused, and a chunked HTTP/1.1 body (see
/// [`reads_ahead`]) is read ahead, up to [`READ_AHEAD_LIMIT`] bytes.
///
/// A body that ends within that is checked whole (framing and limit) here,
/// and pingora forwards it from its retry buffer: a bad chunk or an
/// oversized body never reaches a department. A longer body is forwarded
/// from the bytes read so far on (they are held in `gate`); its limit is
/// enforced while it streams ([`BodyGate::on_chunk`]).
pub async fn admit_body(session: &mut Session, gate: &mut BodyGate) -> Result<(), Refusal> {
    check_declared_body(session.req_header(), gate.limit)?;
    if session.as_downstream().is_http2() || !reads_ahead(session.req_header()) {
        return Ok(());
    }
    // Before the first read: pingora copies what it reads into this buffer.
    session.enable_retry_buffering();
    let mut held = BytesMut::new();
    loop {
        match read_chunk(session, gate.deadline).await? {
            Ok(Some(chunk)) => {
                let read = session.as_downstream().body_bytes_read() as u64;
                check_body_read(read, gate.limit)?;
                held.extend_from_slice(&chunk);
                if held.len() > READ_AHEAD_LIMIT {
                    // The retry buffer gave up; forward from `held`.
                    gate.held = Some(held);
                    return Ok(());
                }
            }
            // The whole body is in the retry buffer.
            Ok(None) => return Ok(()),
            Err(e) => return Err(read_refusal(&e)),
        }
    }
}

/// `Err(RequestTimeout)` once `deadline` has passed.
pub fn check_deadline(deadline: Option<Instant>) -> Result<(), Refusal> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(Refusal::RequestTimeout),
        _ => Ok(()),
    }
}

/// One read of the request body, cut off at `deadline` (the request
/// timeout): the outer `Err` is the deadline, the inner result pingora's.
async fn read_chunk(
    session: &mut Session,
    deadline: Option<Instant>,
) -> Result<pingora_error::Result<Option<Bytes>>, Refusal> {
    check_deadline(deadline)?;
    let Some(d) = deadline else {
        return Ok(session.read_request_body().await);
    };
    crate::listener::bound_body_read(session.as_downstream_mut(), d);
    tokio::time::timeout_at(d, session.read_request_body())
        .await
        .map_err(|_| Refusal::RequestTimeout)
}

/// Why a body read failed: a pause past `limits.body_timeout` (408), else
/// framing or a client gone (400).
pub fn read_refusal(e: &pingora_error::Error) -> Refusal {
    if e.etype() == &pingora_error::ErrorType::ReadTimedout {
        Refusal::BodyTimeout
    } else {
        Refusal::UnreadableBody
    }
}

/// The whole body of a request the gateway answers itself (built-in
/// routes), through the same gate as proxied bodies: a declared length over
/// `limit` is refused before anything is read (413), the bytes read are
/// checked against it as they come (413), framing errors are 400 and a
/// pause past `limits.body_timeout` or a body unfinished at `deadline`
/// (`limits.request_timeout`) is 408.
pub async fn read_whole_body(
    session: &mut Session,
    limit: u64,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, Refusal> {
    check_declared_body(session.req_header(), limit)?;
    let mut body = Vec::new();
    loop {
        match read_chunk(session, deadline).await? {
            Ok(Some(chunk)) => {
                check_body_read((body.len() + chunk.len()) as u64, limit)?;
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(read_refusal(&e)),
        }
    }
}

/// Bare CR/LF, obs-fold, and a `Content-Length` pingora dropped because
/// `Transfer-Encoding` was present.
fn check_raw(raw: &[u8], req: &RequestHeader) -> Result<(), Refusal> {
    for (i, &b) in raw.iter().enumerate() {
        let bare = match b {
            b'\n' => i == 0 || raw[i - 1] != b'\r',
            b'\r' => raw.get(i + 1) != Some(&b'\n'),
            _ => false,
        };
        if bare {
            return Err(Refusal::BareLineEnding);
        }
    }
    let mut content_lengths = 0;
    for line in raw.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err(Refusal::ObsFold);
        }
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-length") {
            content_lengths += 1;
        }
    }
    if content_lengths > 0 && req.headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(Refusal::ContentLengthWithTransferEncoding);
    }
    Ok(())
}

/// One `Transfer-Encoding: chunked` or one decimal `Content-Length`, never both.
fn check_framing(req: &RequestHeader) -> Result<(), Refusal> {
    let mut te = req.headers.get_all(header::TRANSFER_ENCODING).iter();
    let mut cl = req.headers.get_all(header::CONTENT_LENGTH).iter();
    let (first_te, first_cl) = (te.next(), cl.next());
    if first_te.is_some() && first_cl.is_some() {
        return Err(Refusal::ContentLengthWithTransferEncoding);
    }
    if let Some(v) = first_te
        && (te.next().is_some()
            || req.version != Version::HTTP_11
            || !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"))
    {
        return Err(Refusal::UnsupportedTransferEncoding);
    }
    if let Some(v) = first_cl {
        if cl.next().is_some() || v.as_bytes().contains(&b',') {
            return Err(Refusal::DuplicateContentLength);
        }
        if parse_decimal(v.as_bytes()).is_none() {
            return Err(Refusal::InvalidContentLength);
        }
    }
    Ok(())
}

fn check_sizes(req: &RequestHeader, limits: &Limits) -> Result<(), Refusal> {
    if req.headers.len() > limits.max_headers {
        return Err(Refusal::TooManyHeaders);
    }
    let bytes: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > limits.max_header_bytes {
        return Err(Refusal::HeadersTooLarge);
    }
    Ok(())
}

/// One valid `Host` (HTTP/1.1 requires it; h2 may use `:authority`), and a
/// served one when `unknown_host = "reject"`.
fn check_host(req: &RequestHeader, limits: &Limits) -> Result<(), Refusal> {
    let mut hosts = req.headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(Refusal::DuplicateHost),
        (Some(h), None) => Some(h.to_str().map_err(|_| Refusal::InvalidHost)?),
        (None, _) if req.version == Version::HTTP_2 => req.uri.authority().map(|a| a.as_str()),
        (None, _) if req.version == Version::HTTP_11 => return Err(Refusal::MissingHost),
        (None, _) => None,
    };
    if let Some(h) = host {
        let valid = !h.is_empty()
            && !h.contains('@')
            && http::uri::Authority::try_from(h).is_ok_and(|a| a.as_str() == h);
        if !valid {
            return Err(Refusal::InvalidHost);
        }
    }
    if limits.unknown_host == UnknownHost::Reject && !limits.hosts.is_empty() {
        let served = host.is_some_and(|h| {
            let name = host_without_port(h);
            let name = name.strip_suffix('.').unwrap_or(name);
            limits
                .hosts
                .iter()
                .any(|served| served.eq_ignore_ascii_case(name))
        });
        if !served {
            return Err(Refusal::UnknownHost);
        }
    }
    Ok(())
}

/// A `Content-Length` value: ASCII digits only (no sign, no spaces), fitting u64.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
