//! gRPC-Web on the public port: a browser's `application/grpc-web` (binary)
//! or `application/grpc-web-text` (base64) call goes to the department as
//! plain gRPC over h2c, and the answer comes back with its trailers as the
//! last frame of the body (flag `0x80`), as the gRPC-Web protocol says.
//!
//! The header and trailer conversion is pingora's own bridge
//! ([`GrpcWebCtx`]); this module adds the text mode (base64 both ways) and
//! keeps the per-request state. Everything else about the call — routing,
//! identity, limits, audit — is the native gRPC path's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use pingora_core::protocols::http::bridge::grpc_web::GrpcWebCtx;
use pingora_error::Result;
use pingora_http::{RequestHeader, ResponseHeader};

const GRPC_WEB: &[u8] = b"application/grpc-web";
const GRPC_WEB_TEXT: &[u8] = b"application/grpc-web-text";

/// How a gRPC-Web call frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `application/grpc-web[+proto]`: gRPC frames as they are.
    Binary,
    /// `application/grpc-web-text[+proto]`: the frames in base64.
    Text,
}

impl Mode {
    /// The gRPC-Web mode of a request, by its `content-type`; `None` for
    /// anything else (plain gRPC included).
    pub fn of(content_type: Option<&[u8]>) -> Option<Mode> {
        let ct = content_type?;
        let starts = |prefix: &[u8]| {
            ct.len() >= prefix.len() && ct[..prefix.len()].eq_ignore_ascii_case(prefix)
        };
        if starts(GRPC_WEB_TEXT) {
            Some(Mode::Text)
        } else if starts(GRPC_WEB) {
            Some(Mode::Binary)
        } else {
            None
        }
    }

    /// The `content-type` of answers in this mode.
    pub fn content_type(self) -> &'static str {
        match self {
            Mode::Binary => "application/grpc-web+proto",
            Mode::Text => "application/grpc-web-text+proto",
        }
    }
}

/// A request body in text mode that is not base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the gRPC-Web text body is not base64")]
pub struct NotBase64;

/// One gRPC-Web call's conversion state.
pub struct Bridge {
    mode: Mode,
    ctx: GrpcWebCtx,
    /// Text mode: request base64 not yet decoded (less than 4 characters).
    pending: BytesMut,
}

impl Bridge {
    pub fn new(mode: Mode) -> Bridge {
        let mut ctx = GrpcWebCtx::default();
        ctx.init();
        Bridge {
            mode,
            ctx,
            pending: BytesMut::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The request as the department receives it: `application/grpc`,
    /// `te: trailers`, and (text mode) no length, since decoding shrinks it.
    pub fn request_header(&mut self, req: &mut RequestHeader) -> Result<()> {
        self.ctx.request_header_filter(req);
        if self.mode == Mode::Text {
            req.insert_header(http::header::CONTENT_TYPE, "application/grpc")?;
            req.remove_header(&http::header::CONTENT_LENGTH);
        }
        Ok(())
    }

    /// Text mode: decodes what can be decoded of the base64 body so far
    /// (whole 4-character groups; padding may end any group, as clients
    /// that send several messages do).
    pub fn request_body(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), NotBase64> {
        if self.mode == Mode::Binary {
            return Ok(());
        }
        if let Some(chunk) = body.take() {
            self.pending
                .extend(chunk.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        }
        let whole = if end {
            self.pending.len()
        } else {
            self.pending.len() - self.pending.len() % 4
        };
        if end && whole % 4 != 0 {
            return Err(NotBase64);
        }
        let ready = self.pending.split_to(whole);
        *body = Some(Bytes::from(decode_groups(&ready)?));
        Ok(())
    }

    /// The department's answer header as gRPC-Web: its content type,
    /// chunked (trailers follow in the body).
    pub fn response_header(&mut self, resp: &mut ResponseHeader) -> Result<()> {
        self.ctx.response_header_filter(resp);
        if self.mode == Mode::Text && self.ctx == GrpcWebCtx::Trailers {
            resp.insert_header(http::header::CONTENT_TYPE, Mode::Text.content_type())?;
        }
        Ok(())
    }

    /// Text mode: each body chunk leaves as base64 of its own.
    pub fn response_body(&self, body: &mut Option<Bytes>) {
        if self.mode == Mode::Text
            && let Some(chunk) = body.as_ref().filter(|c| !c.is_empty())
        {
            *body = Some(Bytes::from(STANDARD.encode(chunk)));
        }
    }

    /// The trailers as the body's last frame (base64 in text mode).
    pub fn response_trailers(&mut self, trailers: &mut http::HeaderMap) -> Result<Option<Bytes>> {
        let frame = self.ctx.response_trailer_filter(trailers)?;
        Ok(match (self.mode, frame) {
            (Mode::Text, Some(frame)) => Some(Bytes::from(STANDARD.encode(&frame))),
            (_, frame) => frame,
        })
    }
}

/// Decodes base64 made of whole 4-character groups, each of which may be
/// padded (a client may concatenate separately encoded messages).
fn decode_groups(text: &[u8]) -> Result<Vec<u8>, NotBase64> {
    if !text.contains(&b'=') {
        return STANDARD.decode(text).map_err(|_| NotBase64);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut start = 0;
    for (i, group) in text.chunks(4).enumerate() {
        if group.contains(&b'=') {
            STANDARD
                .decode_vec(&text[start..(i + 1) * 4], &mut out)
                .map_err(|_| NotBase64)?;
            start = (i + 1) * 4;
        }
    }
    if start < text.len() {
        STANDARD
            .decode_vec(&text[start..], &mut out)
            .map_err(|_| NotBase64)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn modes_by_content_type() {
        assert_eq!(Mode::of(Some(b"application/grpc-web")), Some(Mode::Binary));
        assert_eq!(
            Mode::of(Some(b"application/grpc-web+proto")),
            Some(Mode::Binary)
        );
        assert_eq!(
            Mode::of(Some(b"Application/GRPC-Web-Text+proto")),
            Some(Mode::Text)
        );
        assert_eq!(Mode::of(Some(b"application/grpc")), None);
        assert_eq!(Mode::of(Some(b"application/json")), None);
        assert_eq!(Mode::of(None), None);
    }

    #[test]
    fn text_request_bodies_decode_across_chunks_and_padded_groups() {
        let frame_a = b"\x00\x00\x00\x00\x02hi".to_vec();
        let frame_b = b"\x00\x00\x00\x00\x01!".to_vec();
        // Two messages encoded separately, each padded, sent in odd chunks.
        let text = format!("{}{}", STANDARD.encode(&frame_a), STANDARD.encode(&frame_b));
        let mut bridge = Bridge::new(Mode::Text);
        let mut decoded = Vec::new();
        let bytes = text.as_bytes();
        for (i, piece) in bytes.chunks(5).enumerate() {
            let end = (i + 1) * 5 >= bytes.len();
            let mut body = Some(Bytes::copy_from_slice(piece));
            bridge.request_body(&mut body, end).unwrap();
            decoded.extend_from_slice(&body.unwrap());
        }
        let mut want = frame_a;
        want.extend_from_slice(&frame_b);
        assert_eq!(decoded, want);
    }

    #[test]
    fn text_bodies_that_are_not_base64_are_refused() {
        let mut bridge = Bridge::new(Mode::Text);
        let mut body = Some(Bytes::from_static(b"not base64!"));
        assert_eq!(bridge.request_body(&mut body, true), Err(NotBase64));
        let mut bridge = Bridge::new(Mode::Text);
        let mut body = Some(Bytes::from_static(b"AAAAA"));
        assert_eq!(bridge.request_body(&mut body, true), Err(NotBase64));
    }

    #[test]
    fn binary_bodies_pass_unchanged() {
        let mut bridge = Bridge::new(Mode::Binary);
        let mut body = Some(Bytes::from_static(b"\x00\x00\x00\x00\x00"));
        bridge.request_body(&mut body, true).unwrap();
        assert_eq!(body.unwrap().as_ref(), b"\x00\x00\x00\x00\x00");
    }

    #[test]
    fn answers_become_grpc_web_with_trailers_in_the_body() {
        for mode in [Mode::Binary, Mode::Text] {
            let mut bridge = Bridge::new(mode);
            let mut req = RequestHeader::build("POST", b"/a.B/C", None).unwrap();
            let (sent, forwarded) = match mode {
                Mode::Binary => ("application/grpc-web+proto", "application/grpc+proto"),
                Mode::Text => ("application/grpc-web-text", "application/grpc"),
            };
            req.insert_header("content-type", sent).unwrap();
            bridge.request_header(&mut req).unwrap();
            assert_eq!(req.headers["content-type"], forwarded);
            assert_eq!(req.headers["te"], "trailers");

            let mut resp = ResponseHeader::build(200, None).unwrap();
            resp.insert_header("content-type", "application/grpc")
                .unwrap();
            bridge.response_header(&mut resp).unwrap();
            let want = match mode {
                Mode::Binary => "application/grpc-web",
                Mode::Text => "application/grpc-web-text+proto",
            };
            assert_eq!(resp.headers["content-type"], want);

            let mut body = Some(Bytes::from_static(b"\x00\x00\x00\x00\x01x"));
            bridge.response_body(&mut body);
            let body = body.unwrap();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let last = bridge.response_trailers(&mut trailers).unwrap().unwrap();
            let (body, last) = match mode {
                Mode::Binary => (body.to_vec(), last.to_vec()),
                Mode::Text => (
                    STANDARD.decode(&body).unwrap(),
                    STANDARD.decode(&last).unwrap(),
                ),
            };
            assert_eq!(body, b"\x00\x00\x00\x00\x01x");
            assert_eq!(last[0], 0x80);
            let len = u32::from_be_bytes([last[1], last[2], last[3], last[4]]) as usize;
            assert_eq!(&last[5..5 + len], b"grpc-status:0\r\n");
        }
    }
}
