//! Response message → JSON (proto3 mapping), and round trips.

#![allow(clippy::unwrap_used)]

mod common;

use common::{echo, method, sim_set};
use onestop_transcode::prost_reflect::{DynamicMessage, Value};
use onestop_transcode::{FieldPath, compile, to_json};
use serde_json::{Value as Json, json};

/// A `Thing` from its JSON, through the default (body `*`) binding.
fn thing(body: &Json) -> DynamicMessage {
    let svc = echo();
    let m = method(&svc, "Plain");
    m.request(&m.bindings[0], &[], None, body.to_string().as_bytes())
        .unwrap()
}

fn parse(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn every_kind_in_the_proto3_mapping() {
    let input = json!({
        "id": "t1",
        "display_name": "Lamp",
        "size": -5,
        "big": "18446744073709551615",
        "color": "COLOR_GREEN",
        "tags": ["a", "b"],
        "counts": {"x": "1", "y": 2},
        "mainPart": {"name": "m", "weight": "3", "color": 1},
        "parts": [{"name": "p"}, {"weight": 7}],
        "createdAt": "2024-01-02T03:04:05.500+08:00",
        "ttl": "1.5s",
        "quota": "42",
        "nickname": "lampy",
        "attributes": {"k": "v", "n": 1.5, "b": true, "nil": null, "list": [1, "two"], "obj": {"z": false}},
        "small": -1,
        "usmall": 4000000000_u64,
        "ratio": 0.25,
        "active": true,
        "blob": "AQID",
        "score": 1e300
    });
    let out = to_json(&thing(&input), None);
    let want = json!({
        "id": "t1",
        "displayName": "Lamp",
        "size": "-5",
        "big": "18446744073709551615",
        "color": "COLOR_GREEN",
        "tags": ["a", "b"],
        "counts": {"x": "1", "y": "2"},
        "mainPart": {"name": "m", "weight": "3", "color": "COLOR_RED"},
        "parts": [{"name": "p"}, {"weight": "7"}],
        "createdAt": "2024-01-01T19:04:05.500Z",
        "ttl": "1.500s",
        "quota": "42",
        "nickname": "lampy",
        "attributes": {"k": "v", "n": 1.5, "b": true, "nil": null, "list": [1.0, "two"], "obj": {"z": false}},
        "small": -1,
        "usmall": 4000000000_u64,
        "ratio": 0.25,
        "active": true,
        "blob": "AQID",
        "score": 1e300
    });
    assert_eq!(parse(&out), want);
    // Compact, one line (as NDJSON and SSE need).
    assert!(!out.contains(&b'\n'));
    // Fields in field-number order (map entries in no particular order).
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"id":"t1","displayName":"Lamp","size":"-5","big":"#),
        "{text}"
    );
    assert!(
        text.ends_with(r#""active":true,"blob":"AQID","score":1e+300}"#),
        "{text}"
    );
    // Round trip: JSON → message → JSON gives the same document and message.
    let message = thing(&parse(&out));
    assert_eq!(parse(&to_json(&message, None)), want);
    assert_eq!(message, thing(&input));
}

#[test]
fn defaults_are_omitted() {
    assert_eq!(to_json(&thing(&json!({})), None), b"{}");
    let zeros =
        json!({"id": "", "size": "0", "color": "COLOR_UNSPECIFIED", "tags": [], "active": false});
    assert_eq!(to_json(&thing(&zeros), None), b"{}");
    // Set wrappers and messages are kept even when they hold defaults.
    let wrapped = json!({"id": "x", "quota": 0, "nickname": "", "mainPart": {}});
    assert_eq!(
        parse(&to_json(&thing(&wrapped), None)),
        json!({"id": "x", "quota": "0", "nickname": "", "mainPart": {}})
    );
}

#[test]
fn unknown_enum_numbers_stay_numbers() {
    let msg = thing(&json!({"color": 99}));
    assert_eq!(parse(&to_json(&msg, None)), json!({"color": 99}));
}

#[test]
fn response_body_field() {
    let msg = thing(&json!({
        "id": "t1",
        "size": "5",
        "tags": ["a", "b"],
        "mainPart": {"name": "m"},
        "counts": {"k": 1}
    }));
    let field = |p: &str| FieldPath::parse(p).unwrap();
    assert_eq!(to_json(&msg, Some(&field("tags"))), br#"["a","b"]"#);
    assert_eq!(to_json(&msg, Some(&field("main_part"))), br#"{"name":"m"}"#);
    assert_eq!(to_json(&msg, Some(&field("mainPart"))), br#"{"name":"m"}"#);
    assert_eq!(to_json(&msg, Some(&field("size"))), br#""5""#);
    assert_eq!(to_json(&msg, Some(&field("counts"))), br#"{"k":"1"}"#);
    assert_eq!(to_json(&msg, Some(&field("main_part.name"))), br#""m""#);
    // Unset fields give their default JSON value.
    let empty = thing(&json!({}));
    assert_eq!(to_json(&empty, Some(&field("tags"))), b"[]");
    assert_eq!(to_json(&empty, Some(&field("main_part"))), b"{}");
    assert_eq!(to_json(&empty, Some(&field("size"))), br#""0""#);
    assert_eq!(
        to_json(&empty, Some(&field("color"))),
        br#""COLOR_UNSPECIFIED""#
    );
    assert_eq!(to_json(&empty, Some(&field("counts"))), b"{}");
    assert_eq!(to_json(&empty, Some(&field("main_part.name"))), br#""""#);
    assert_eq!(
        to_json(&empty, Some(&field("created_at"))),
        br#""1970-01-01T00:00:00Z""#
    );
    // A path not in the message's type falls back to the whole message.
    assert_eq!(to_json(&msg, Some(&field("nope"))), to_json(&msg, None));
}

#[test]
fn binding_response_body_from_annotation() {
    let svc = echo();
    let m = method(&svc, "ListTags");
    let rb = m.bindings[0].response_body.as_ref().unwrap();
    let mut out = DynamicMessage::new(m.output.clone());
    out.set_field_by_name(
        "tags",
        Value::List(vec![Value::String("x".into()), Value::String("y".into())]),
    );
    assert_eq!(to_json(&out, Some(rb)), br#"["x","y"]"#);
}

#[test]
fn sim_tax_summary() {
    let compiled = compile(sim_set(), "onestop.sim.tax.v1.TaxBureau").unwrap();
    let m = method(&compiled, "GetTaxSummary");
    let mut summary = DynamicMessage::new(m.output.clone());
    summary.set_field_by_name("citizen_id", Value::String("C1".into()));
    summary.set_field_by_name("year", Value::I32(2024));
    summary.set_field_by_name("income_fen", Value::I64(12_345_600));
    summary.set_field_by_name("balance_fen", Value::I64(-300));
    summary.set_field_by_name("status", Value::EnumNumber(3));
    summary.set_field_by_name("filed", Value::Bool(true));
    let deduction = m
        .output
        .parent_pool()
        .get_message_by_name("onestop.sim.tax.v1.Deduction")
        .unwrap();
    let mut d = DynamicMessage::new(deduction);
    d.set_field_by_name("kind", Value::EnumNumber(1));
    d.set_field_by_name("amount_fen", Value::I64(1_000));
    summary.set_field_by_name("deductions", Value::List(vec![Value::Message(d)]));
    assert_eq!(
        parse(&to_json(&summary, None)),
        json!({
            "citizenId": "C1",
            "year": 2024,
            "incomeFen": "12345600",
            "balanceFen": "-300",
            "deductions": [{"kind": "DEDUCTION_KIND_CHILD_EDUCATION", "amountFen": "1000"}],
            "status": "FILING_STATUS_REFUNDED",
            "filed": true
        })
    );
}
