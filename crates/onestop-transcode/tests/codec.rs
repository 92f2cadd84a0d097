//! DynamicCodec against prost's own encoding, through tonic's framing.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{method, sim_set};
use futures::stream;
use http_body_util::{BodyExt, Full};
use onestop_transcode::prost_reflect::{DynamicMessage, ReflectMessage};
use onestop_transcode::{BodyRule, DynamicCodec, compile};
use prost::Message;
use tonic::codec::{Codec, EncodeBody, Streaming};

/// `onestop.sim.tax.v1.Deduction`, as prost-build would generate it.
#[derive(Clone, PartialEq, prost::Message)]
struct Deduction {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(int64, tag = "2")]
    amount_fen: i64,
    #[prost(string, tag = "3")]
    description: String,
}

/// `onestop.sim.tax.v1.FileReturnRequest`, as prost-build would generate it.
#[derive(Clone, PartialEq, prost::Message)]
struct FileReturnRequest {
    #[prost(string, tag = "1")]
    citizen_id: String,
    #[prost(int32, tag = "2")]
    year: i32,
    #[prost(int64, tag = "3")]
    declared_income_fen: i64,
    #[prost(message, repeated, tag = "4")]
    deductions: Vec<Deduction>,
    #[prost(bool, tag = "5")]
    request_refund: bool,
}

fn expected() -> FileReturnRequest {
    FileReturnRequest {
        citizen_id: "110101199003077777".into(),
        year: 2024,
        declared_income_fen: -12_345_600,
        deductions: vec![
            Deduction {
                kind: 4,
                amount_fen: 1_500_000,
                description: "房租".into(),
            },
            Deduction {
                kind: 1,
                amount_fen: 0,
                description: String::new(),
            },
        ],
        request_refund: true,
    }
}

/// The same request, built from JSON as a transcoded call would be.
fn dynamic() -> DynamicMessage {
    let compiled = compile(sim_set(), "onestop.sim.tax.v1.TaxBureau").unwrap();
    let m = method(&compiled, "FileReturn");
    let b = onestop_transcode::Binding {
        verb: http::Method::POST,
        template: onestop_transcode::PathTemplate::parse("/x").unwrap(),
        body: BodyRule::Whole,
        response_body: None,
    };
    let body = r#"{"citizenId": "110101199003077777", "year": 2024, "declaredIncomeFen": "-12345600",
        "deductions": [{"kind": "DEDUCTION_KIND_HOUSING_RENT", "amountFen": 1500000, "description": "房租"},
                       {"kind": "DEDUCTION_KIND_CHILD_EDUCATION"}],
        "requestRefund": true}"#;
    m.request(&b, &[], None, body.as_bytes()).unwrap()
}

/// A gRPC frame: uncompressed flag, big-endian length, payload.
fn frame(payload: &[u8]) -> Bytes {
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out.into()
}

#[tokio::test]
async fn encodes_as_prost_does() {
    let msg = dynamic();
    let mut codec = DynamicCodec::new(msg.descriptor());
    let body = EncodeBody::new_client(
        codec.encoder(),
        stream::iter([Ok::<_, tonic::Status>(msg)]),
        None,
        None,
    );
    let sent = body.collect().await.unwrap().to_bytes();
    assert_eq!(sent, frame(&expected().encode_to_vec()));
}

#[tokio::test]
async fn decodes_prost_encoding() {
    let msg = dynamic();
    let mut codec = DynamicCodec::new(msg.descriptor());
    let body = Full::new(frame(&expected().encode_to_vec()));
    let mut stream =
        Streaming::new_response(codec.decoder(), body, http::StatusCode::OK, None, None);
    let decoded = stream.message().await.unwrap().unwrap();
    assert_eq!(decoded, msg);
    assert_eq!(
        decoded.transcode_to::<FileReturnRequest>().unwrap(),
        expected()
    );
}

#[tokio::test]
async fn decode_error_is_internal() {
    let msg = dynamic();
    let mut codec = DynamicCodec::new(msg.descriptor());
    // A length-delimited field (citizen_id) claiming 100 bytes, with 1.
    let body = Full::new(frame(&[0x0a, 100, b'x']));
    let mut stream =
        Streaming::new_response(codec.decoder(), body, http::StatusCode::OK, None, None);
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(
        status
            .message()
            .contains("onestop.sim.tax.v1.FileReturnRequest"),
        "{}",
        status.message()
    );
}
