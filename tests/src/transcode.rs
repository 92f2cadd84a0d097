//! Clients of the gateway's JSON↔gRPC transcoding and gRPC-Web: proto3 JSON
//! read back into the generated types (through `prost-reflect` and the
//! fleet's descriptor set), NDJSON and server-sent events read as they
//! arrive, and gRPC-Web (binary and text) framing.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as PValue};
use serde_json::Value;
use tonic::service::interceptor::InterceptedService;

use crate::grpc::Metadata;

/// The descriptor pool of the fleet's four gRPC departments.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(onestop_sim::pb::FILE_DESCRIPTOR_SET).expect("fleet descriptor set")
    })
}

/// The descriptor of the message named `full_name` (`package.Message`).
pub fn message(full_name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("no message {full_name} in the fleet's descriptor set"))
}

/// Parses proto3 JSON as message `full_name` and decodes it into `T`
/// (through the binary encoding, so every field is compared as the native
/// client would see it). Unknown JSON fields are an error.
pub fn from_json<T: prost::Message + Default>(full_name: &str, json: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let dynamic = DynamicMessage::deserialize(message(full_name), &mut de)
        .map_err(|e| format!("{full_name}: not its proto3 JSON: {e}"))?;
    de.end()
        .map_err(|e| format!("{full_name}: trailing bytes: {e}"))?;
    dynamic
        .transcode_to::<T>()
        .map_err(|e| format!("{full_name}: {e}"))
}

/// `msg` as message `full_name` in the canonical proto3 JSON mapping
/// (lowerCamelCase names, default values omitted).
pub fn to_json<T: prost::Message>(full_name: &str, msg: &T) -> Value {
    let dynamic =
        DynamicMessage::decode(message(full_name), msg.encode_to_vec().as_slice()).expect("decode");
    serde_json::to_value(&dynamic).expect("proto3 JSON")
}

/// How many fields (at every depth, list elements counted one by one) are
/// set in `msg`: what a field-by-field comparison covers.
pub fn fields_set<T: prost::Message>(full_name: &str, msg: &T) -> usize {
    fn count(m: &DynamicMessage) -> usize {
        m.fields().map(|(_, v)| value(v)).sum()
    }
    fn value(v: &PValue) -> usize {
        match v {
            PValue::Message(m) => 1 + count(m),
            PValue::List(items) => items.iter().map(value).sum(),
            PValue::Map(map) => map.values().map(value).sum(),
            _ => 1,
        }
    }
    let dynamic =
        DynamicMessage::decode(message(full_name), msg.encode_to_vec().as_slice()).expect("decode");
    count(&dynamic)
}

/// The object keys of `got`, at every depth, are those of `want` (the same
/// names in the same places: lowerCamelCase, defaults omitted).
pub fn same_keys(got: &Value, want: &Value, at: &str) -> Result<(), String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let gk: Vec<&String> = g.keys().collect();
            let wk: Vec<&String> = w.keys().collect();
            let (mut gs, mut ws) = (gk.clone(), wk.clone());
            gs.sort();
            ws.sort();
            if gs != ws {
                return Err(format!("{at}: keys {gs:?}, expected {ws:?}"));
            }
            for (k, v) in w {
                same_keys(&g[k], v, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Err(format!("{at}: {} elements, expected {}", g.len(), w.len()));
            }
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                same_keys(g, w, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks a transcoded JSON answer against the native message `want`:
/// parsed as `full_name` it equals `want` field by field, and its keys are
/// those of the canonical mapping. Returns the fields compared.
pub fn assert_json_is<T>(full_name: &str, json: &[u8], want: &T) -> usize
where
    T: prost::Message + Default + PartialEq + std::fmt::Debug,
{
    let text = String::from_utf8_lossy(json);
    let got: T = from_json(full_name, json).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&got, want, "{full_name}: transcoded {text}");
    let value: Value = serde_json::from_slice(json).expect("JSON");
    if let Err(e) = same_keys(&value, &to_json(full_name, want), full_name) {
        panic!("{e}\n{text}");
    }
    fields_set(full_name, want)
}

/// One line (NDJSON) or event (SSE) and when it arrived, counted from the
/// moment the response headers arrived.
#[derive(Debug, Clone)]
pub struct Timed {
    pub at: Duration,
    /// The SSE event name (`None`: the default `message`; always `None` for NDJSON).
    pub event: Option<String>,
    /// The JSON text (the NDJSON line, or the event's `data`).
    pub data: String,
}

impl Timed {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.data))
    }
}

/// Reads a body chunk by chunk, returning each complete unit (split at
/// `sep`) with its arrival time.
async fn read_units(resp: reqwest::Response, sep: &[u8]) -> Vec<(Duration, Vec<u8>)> {
    let mut resp = resp;
    let start = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("body chunk") {
        let at = start.elapsed();
        buf.extend_from_slice(&chunk);
        while let Some(i) = buf.windows(sep.len()).position(|w| w == sep) {
            let unit: Vec<u8> = buf.drain(..i + sep.len()).take(i).collect();
            out.push((at, unit));
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        out.push((start.elapsed(), buf));
    }
    out
}

/// The lines of an NDJSON answer (blank lines skipped), as they arrived.
pub async fn ndjson(resp: reqwest::Response) -> Vec<Timed> {
    read_units(resp, b"\n")
        .await
        .into_iter()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(at, l)| Timed {
            at,
            event: None,
            data: String::from_utf8(l).expect("UTF-8 line"),
        })
        .collect()
}

/// The events of a `text/event-stream` answer, as they arrived (comments
/// and events without data skipped; several `data:` lines joined by `\n`).
pub async fn sse(resp: reqwest::Response) -> Vec<Timed> {
    let mut out = Vec::new();
    for (at, raw) in read_units(resp, b"\n\n").await {
        let text = String::from_utf8(raw).expect("UTF-8 event");
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            } else if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_string());
            }
        }
        if !data.is_empty() {
            out.push(Timed {
                at,
                event,
                data: data.join("\n"),
            });
        }
    }
    out
}

/// A reqwest client that sends the app key and (when given) a bearer token
/// on every request; HTTP/1.1 keep-alive.
pub fn http_client(app_key: &str, token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-onestop-app-key", app_key.parse().expect("app key"));
    if let Some(t) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().expect("token"),
        );
    }
    crate::client_builder()
        .default_headers(headers)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// gRPC metadata with an app key and a bearer token.
pub fn metadata(app_key: &str, token: &str) -> Metadata {
    Metadata(vec![
        ("x-onestop-app-key", app_key.to_string()),
        ("authorization", format!("Bearer {token}")),
    ])
}

/// The HTTP/1.1 client under a gRPC-Web channel.
pub type Http1 = Client<HttpConnector, tonic_web::GrpcWebCall<tonic::body::Body>>;

/// A gRPC-Web "channel" to `public` for the generated clients
/// (`XClient::with_origin(channel, origin)`): tonic's calls coerced to
/// `application/grpc-web` over HTTP/1.1, with `metadata` on every call.
pub fn grpc_web_channel(
    metadata: Metadata,
) -> InterceptedService<tonic_web::GrpcWebClientService<Http1>, Metadata> {
    let http: Http1 =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
    let svc = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http);
    InterceptedService::new(svc, metadata)
}

/// The origin URI of the gateway's public listener.
pub fn origin(public: std::net::SocketAddr) -> http::Uri {
    format!("http://{public}").parse().expect("origin")
}

/// One gRPC length-prefixed message (flag 0: data).
pub fn frame<T: prost::Message>(msg: &T) -> Vec<u8> {
    let payload = msg.encode_to_vec();
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(0);
    out.extend_from_slice(&u32::try_from(payload.len()).expect("len").to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The frames of a gRPC-Web body: `(flag, payload)` in order.
pub fn frames(mut body: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return Err(format!("{} stray bytes after the last frame", body.len()));
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        if body.len() < 5 + len {
            return Err(format!(
                "frame of {len} bytes, {} left",
                body.len().saturating_sub(5)
            ));
        }
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    Ok(out)
}

/// Decodes a `grpc-web-text` body: standard base64, possibly several padded
/// chunks one after the other (decoded four characters at a time).
pub fn decode_web_text(body: &[u8]) -> Result<Vec<u8>, String> {
    let chars: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !chars.len().is_multiple_of(4) {
        return Err(format!(
            "{} base64 characters, not a multiple of 4",
            chars.len()
        ));
    }
    let mut out = Vec::new();
    for quad in chars.chunks(4) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(quad)
            .map_err(|e| format!("base64 {:?}: {e}", String::from_utf8_lossy(quad)))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// A gRPC-Web trailer frame's text as `name → value` (lower-case names).
pub fn trailers(payload: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(payload)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// The answer to a hand-made gRPC-Web call.
#[derive(Debug)]
pub struct WebAnswer {
    pub status: u16,
    pub content_type: String,
    /// The frames, decoded from base64 in text mode.
    pub frames: Vec<(u8, Vec<u8>)>,
}

impl WebAnswer {
    /// The data frames' messages.
    pub fn messages<T: prost::Message + Default>(&self) -> Vec<T> {
        self.frames
            .iter()
            .filter(|(flag, _)| flag & 0x80 == 0)
            .map(|(_, p)| T::decode(p.as_slice()).expect("a message of the method's type"))
            .collect()
    }

    /// The trailer frame's fields (the last frame, flag 0x80).
    pub fn trailers(&self) -> Vec<(String, String)> {
        match self.frames.last() {
            Some((flag, payload)) if flag & 0x80 != 0 => trailers(payload),
            _ => Vec::new(),
        }
    }

    pub fn trailer(&self, name: &str) -> Option<String> {
        self.trailers()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// POSTs one message to `/{service}/{method}` as gRPC-Web over HTTP/1.1:
/// binary (`content_type` `application/grpc-web+proto` or
/// `application/grpc-web`) or text (`application/grpc-web-text`, the body
/// base64 both ways).
pub async fn grpc_web_call<T: prost::Message>(
    http: &reqwest::Client,
    public: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    msg: &T,
) -> WebAnswer {
    let text = content_type.starts_with("application/grpc-web-text");
    let framed = frame(msg);
    let body = if text {
        base64::engine::general_purpose::STANDARD
            .encode(&framed)
            .into_bytes()
    } else {
        framed
    };
    let resp = http
        .post(format!("http://{public}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("gRPC-Web {path}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let raw = resp.bytes().await.expect("gRPC-Web body");
    let bytes = if text && content_type.starts_with("application/grpc-web-text") {
        decode_web_text(&raw).unwrap_or_else(|e| {
            panic!(
                "{path}: grpc-web-text body: {e}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
    } else {
        raw.to_vec()
    };
    let frames = frames(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path} ({status}, {content_type}): {e}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    });
    WebAnswer {
        status,
        content_type,
        frames,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_text_decodes_several_padded_chunks() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let a = frame(&onestop_sim::pb::traffic::GetLicenceRequest {
            citizen_id: "me".into(),
        });
        let t = b"\x80\0\0\0\x0fgrpc-status:0\r\n".to_vec();
        let text = format!("{}{}", b64(&a), b64(&t));
        let bytes = decode_web_text(text.as_bytes()).unwrap();
        let f = frames(&bytes).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, 0);
        assert_eq!(f[1].0, 0x80);
        assert_eq!(trailers(&f[1].1), [("grpc-status".into(), "0".into())]);
    }

    #[test]
    fn json_round_trips_through_the_descriptor_set() {
        use onestop_sim::pb::tax::{Deduction, TaxSummary};
        let s = TaxSummary {
            citizen_id: "x".into(),
            year: 2025,
            income_fen: 12_345_678_901,
            deductions: vec![Deduction {
                kind: 4,
                amount_fen: 1_800_000,
                description: "住房租金".into(),
            }],
            status: 2,
            ..TaxSummary::default()
        };
        let name = "onestop.sim.tax.v1.TaxSummary";
        let json = to_json(name, &s);
        assert_eq!(json["incomeFen"], "12345678901");
        assert_eq!(json["status"], "FILING_STATUS_ACCEPTED");
        assert!(json.get("filed").is_none());
        let bytes = serde_json::to_vec(&json).unwrap();
        assert_eq!(assert_json_is(name, &bytes, &s), 8);
        assert!(from_json::<TaxSummary>(name, br#"{"nope":1}"#).is_err());
    }
}
