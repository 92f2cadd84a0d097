//! Response message → HTTP body (JSON, NDJSON lines, Server-Sent Events).

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use prost_reflect::{DynamicMessage, Kind, ReflectMessage as _, SerializeOptions, Value};

use crate::field_path::FieldPath;
use crate::fields::resolve;

/// The proto3 JSON mapping as prost-reflect's defaults: lowerCamelCase
/// names, 64-bit integers as strings, enums as names, well-known types in
/// their JSON forms, and fields with default values (0, "", false, empty
/// lists and maps, unset messages) left out.
const OPTIONS: SerializeOptions = SerializeOptions::new();

/// Serializes a response message by the proto3 JSON mapping.
///
/// Fields that hold their default value are **omitted** (prost-reflect's
/// default, and what the proto3 JSON spec prescribes by default): a client
/// must treat a missing field as 0 / "" / false / empty. Fields come in
/// field-number order; entries of map fields (and `Struct`s) in no
/// particular order, which may differ between two serializations.
///
/// With `response_body` (the binding's `response_body`), only that field's
/// value is written, e.g. a JSON array for a repeated field; a field at its
/// default is written as its default JSON value (`[]`, `0`, `""`, `{}`...).
/// A path that does not resolve in the message's type falls back to the
/// whole message.
pub fn to_json(msg: &DynamicMessage, response_body: Option<&FieldPath>) -> Vec<u8> {
    response_body
        .and_then(|path| field_json(msg, path))
        .unwrap_or_else(|| message_json(msg))
}

fn message_json(msg: &DynamicMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::new(&mut out);
    // Writing into a Vec cannot fail, and prost-reflect writes map keys as
    // strings and non-finite floats as "NaN"/"Infinity" strings.
    if msg
        .serialize_with_options(&mut serializer, &OPTIONS)
        .is_err()
    {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out
}

/// The JSON of the field at `path`, or `None` if the path does not resolve.
fn field_json(msg: &DynamicMessage, path: &FieldPath) -> Option<Vec<u8>> {
    let fields = resolve(&msg.descriptor(), path.segments()).ok()?;
    let (leaf, parents) = fields.split_last()?;
    let mut current = Cow::Borrowed(msg);
    for field in parents {
        let next = match current {
            Cow::Borrowed(m) => match m.get_field(field) {
                Cow::Borrowed(Value::Message(inner)) => Cow::Borrowed(inner),
                other => Cow::Owned(other.as_message()?.clone()),
            },
            Cow::Owned(m) => Cow::Owned(m.get_field(field).as_message()?.clone()),
        };
        current = next;
    }
    if let Kind::Message(_) = leaf.kind()
        && !leaf.is_list()
        && !leaf.is_map()
    {
        return Some(message_json(current.get_field(leaf).as_message()?));
    }
    // A scalar, list or map: serialize a message holding only that field and
    // take its value (the default JSON value when the field is unset).
    let mut holder = DynamicMessage::new(current.descriptor());
    holder.set_field(leaf, current.get_field(leaf).into_owned());
    let key = leaf.json_name();
    let value = match holder.serialize_with_options(serde_json::value::Serializer, &OPTIONS) {
        Ok(serde_json::Value::Object(mut map)) if map.contains_key(key) => map.remove(key)?,
        _ => {
            let defaults = OPTIONS.skip_default_fields(false);
            match DynamicMessage::new(current.descriptor())
                .serialize_with_options(serde_json::value::Serializer, &defaults)
            {
                Ok(serde_json::Value::Object(mut map)) => map.remove(key)?,
                _ => return None,
            }
        }
    };
    serde_json::to_vec(&value).ok()
}

/// One NDJSON line: `json` + `\n`.
pub fn ndjson_line(json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 1);
    out.put_slice(json);
    out.put_u8(b'\n');
    out.freeze()
}

/// One Server-Sent Event: `data: <json>\n\n`. A line break inside `json`
/// (never produced by [`to_json`]) starts another `data:` line, so the
/// event stays well-formed.
pub fn sse_event(json: &[u8]) -> Bytes {
    sse(None, json)
}

/// A Server-Sent Event of type `error`: `event: error\ndata: <json>\n\n`.
pub fn sse_error(json: &[u8]) -> Bytes {
    sse(Some("error"), json)
}

fn sse(event: Option<&str>, json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 24);
    if let Some(event) = event {
        out.put_slice(b"event: ");
        out.put_slice(event.as_bytes());
        out.put_u8(b'\n');
    }
    for line in json.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// How a server stream is written to an HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Newline-delimited JSON (`application/x-ndjson`), one message a line.
    Ndjson,
    /// Server-Sent Events (`text/event-stream`), one message an event.
    Sse,
}

impl StreamFormat {
    /// Chooses by the `Accept` header: Server-Sent Events when it accepts
    /// `text/event-stream` (with a non-zero quality not below that of
    /// `application/x-ndjson`), NDJSON otherwise.
    pub fn from_accept(accept: Option<&str>) -> StreamFormat {
        let (mut sse, mut ndjson) = (None::<f32>, None::<f32>);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("text/event-stream") {
                sse = Some(sse.map_or(quality, |q| q.max(quality)));
            } else if media.eq_ignore_ascii_case("application/x-ndjson") {
                ndjson = Some(ndjson.map_or(quality, |q| q.max(quality)));
            }
        }
        match sse {
            Some(q) if q > 0.0 && q >= ndjson.unwrap_or(0.0) => StreamFormat::Sse,
            _ => StreamFormat::Ndjson,
        }
    }

    /// The response `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            StreamFormat::Ndjson => "application/x-ndjson",
            StreamFormat::Sse => "text/event-stream",
        }
    }

    /// One message of the stream in this format.
    pub fn message(self, json: &[u8]) -> Bytes {
        match self {
            StreamFormat::Ndjson => ndjson_line(json),
            StreamFormat::Sse => sse_event(json),
        }
    }

    /// The stream's final error in this format (an NDJSON line, or an SSE
    /// event of type `error`).
    pub fn error(self, json: &[u8]) -> Bytes {
        match self {
            StreamFormat::Ndjson => ndjson_line(json),
            StreamFormat::Sse => sse_error(json),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn framing() {
        assert_eq!(ndjson_line(br#"{"a":1}"#), &b"{\"a\":1}\n"[..]);
        assert_eq!(sse_event(br#"{"a":1}"#), &b"data: {\"a\":1}\n\n"[..]);
        assert_eq!(
            sse_error(br#"{"code":"NOT_FOUND"}"#),
            &b"event: error\ndata: {\"code\":\"NOT_FOUND\"}\n\n"[..]
        );
        assert_eq!(
            sse_event(b"{\n\"a\":1\r\n}"),
            &b"data: {\ndata: \"a\":1\ndata: }\n\n"[..]
        );
    }

    #[test]
    fn stream_format_from_accept() {
        let cases = [
            (None, StreamFormat::Ndjson),
            (Some(""), StreamFormat::Ndjson),
            (Some("*/*"), StreamFormat::Ndjson),
            (Some("application/json"), StreamFormat::Ndjson),
            (Some("text/event-stream"), StreamFormat::Sse),
            (Some("Text/Event-Stream; charset=utf-8"), StreamFormat::Sse),
            (
                Some("application/json, text/event-stream"),
                StreamFormat::Sse,
            ),
            (Some("text/event-stream;q=0"), StreamFormat::Ndjson),
            (
                Some("text/event-stream;q=0.5, application/x-ndjson"),
                StreamFormat::Ndjson,
            ),
            (
                Some("text/event-stream, application/x-ndjson;q=0.9"),
                StreamFormat::Sse,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(StreamFormat::from_accept(accept), want, "{accept:?}");
        }
        assert_eq!(StreamFormat::Sse.content_type(), "text/event-stream");
        assert_eq!(StreamFormat::Ndjson.content_type(), "application/x-ndjson");
        assert_eq!(StreamFormat::Sse.message(b"1"), &b"data: 1\n\n"[..]);
        assert_eq!(
            StreamFormat::Sse.error(b"1"),
            &b"event: error\ndata: 1\n\n"[..]
        );
        assert_eq!(StreamFormat::Ndjson.error(b"1"), &b"1\n"[..]);
    }
}
