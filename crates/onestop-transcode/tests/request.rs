//! HTTP request (path parameters, query, JSON body) → request message.

#![allow(clippy::unwrap_used)]

mod common;

use common::{echo, method, sim_set};
use onestop_transcode::prost_reflect::{DynamicMessage, ReflectMessage as _};
use onestop_transcode::{
    BadRequest, Binding, BodyRule, FieldPath, Method, PathTemplate, compile, to_json,
};
use serde_json::{Value as Json, json};

/// The message as proto3 JSON, for comparing whole messages.
fn as_json(msg: &DynamicMessage) -> Json {
    serde_json::from_slice(&to_json(msg, None)).unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Vec<(FieldPath, String)> {
    pairs
        .iter()
        .map(|(f, v)| (FieldPath::parse(f).unwrap(), (*v).to_owned()))
        .collect()
}

fn binding(verb: http::Method, template: &str, body: BodyRule) -> Binding {
    Binding {
        verb,
        template: PathTemplate::parse(template).unwrap(),
        body,
        response_body: None,
    }
}

fn sim_method(service: &str, name: &str) -> Method {
    let compiled = compile(sim_set(), service).unwrap();
    method(&compiled, name).clone()
}

fn bad(field: &str, message: &str) -> BadRequest {
    BadRequest {
        field: field.into(),
        message: message.into(),
    }
}

/// Asserts the error names `field` and its message contains `message`.
fn assert_bad(result: Result<DynamicMessage, BadRequest>, field: &str, message: &str) {
    let e = result.expect_err("request must be rejected");
    assert_eq!(e.field, field, "field of {e:?}");
    assert!(
        e.message.contains(message),
        "message of {e:?} should contain {message:?}"
    );
}

// ---- the simulated departments' requests ----

#[test]
fn sim_file_return_body_and_path() {
    let m = sim_method("onestop.sim.tax.v1.TaxBureau", "FileReturn");
    let b = binding(
        http::Method::POST,
        "/api/v1/tax/citizens/{citizen_id}/returns",
        BodyRule::Whole,
    );
    let body = br#"{
        "year": 2024,
        "declaredIncomeFen": "12345600",
        "deductions": [
            {"kind": "DEDUCTION_KIND_HOUSING_RENT", "amountFen": 1500000, "description": "rent"},
            {"kind": 5, "amount_fen": "-1"}
        ],
        "request_refund": true
    }"#;
    let msg = m
        .request(
            &b,
            &params(&[("citizen_id", "110101199003077777")]),
            None,
            body,
        )
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({
            "citizenId": "110101199003077777",
            "year": 2024,
            "declaredIncomeFen": "12345600",
            "deductions": [
                {"kind": "DEDUCTION_KIND_HOUSING_RENT", "amountFen": "1500000", "description": "rent"},
                {"kind": "DEDUCTION_KIND_ELDERLY_SUPPORT", "amountFen": "-1"}
            ],
            "requestRefund": true
        })
    );
    // The path wins over the body for a field bound by both.
    let msg = m
        .request(
            &b,
            &params(&[("citizen_id", "A")]),
            None,
            br#"{"citizenId":"B"}"#,
        )
        .unwrap();
    assert_eq!(as_json(&msg), json!({"citizenId": "A"}));
    // An empty or blank body is the default message.
    for body in [&b""[..], b"  \r\n\t"] {
        let msg = m
            .request(&b, &params(&[("citizen_id", "A")]), None, body)
            .unwrap();
        assert_eq!(as_json(&msg), json!({"citizenId": "A"}));
    }
}

#[test]
fn sim_body_errors_name_the_field() {
    let m = sim_method("onestop.sim.tax.v1.TaxBureau", "FileReturn");
    let b = binding(http::Method::POST, "/r/{citizen_id}", BodyRule::Whole);
    let p = params(&[("citizen_id", "A")]);
    let call = |body: &str| m.request(&b, &p, None, body.as_bytes());

    // Invalid JSON: the whole body, with serde_json's line and column.
    assert_bad(call("{\n  \"year\": }"), "", "line 2 column 11");
    assert_bad(
        call("{} trailing"),
        "",
        "trailing characters at line 1 column 4",
    );
    assert_bad(call("{\"year\": 2024"), "", "EOF while parsing");
    // Wrong type, at the top and nested in a repeated message.
    assert_bad(call(r#"{"year": "abc"}"#), "year", "at line 1 column");
    assert_bad(
        call(r#"{"deductions": [{"amountFen": 1}, {"amountFen": "x"}]}"#),
        "deductions[1].amountFen",
        "",
    );
    assert_bad(
        call(r#"{"deductions": {"amountFen": 1}}"#),
        "deductions",
        "",
    );
    // Unknown fields, at the top and nested.
    assert_bad(
        call(r#"{"yaer": 2024}"#),
        "yaer",
        "unrecognized field name 'yaer'",
    );
    assert_bad(
        call(r#"{"deductions": [{"kind": 1}, {"amount": 1}]}"#),
        "deductions[1].amount",
        "unrecognized field name 'amount'",
    );
    // Integer out of range.
    assert_bad(call(r#"{"year": 3000000000}"#), "year", "");
    assert_bad(
        call(r#"{"declaredIncomeFen": "9223372036854775808"}"#),
        "declaredIncomeFen",
        "",
    );
    // Bad enum name.
    assert_bad(
        call(r#"{"deductions": [{"kind": "DEDUCTION_KIND_NOPE"}]}"#),
        "deductions[0].kind",
        "unrecognized enum value 'DEDUCTION_KIND_NOPE'",
    );
    // The whole error, as the integrator prints it.
    let e = call(r#"{"yaer": 2024}"#).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("yaer: unrecognized field name 'yaer'"),
        "{e}"
    );
}

#[test]
fn sim_path_and_query_parameters() {
    let m = sim_method("onestop.sim.tax.v1.TaxBureau", "GetTaxSummary");
    let b = binding(
        http::Method::GET,
        "/api/v1/tax/citizens/{citizen_id}/summary/{year}",
        BodyRule::None,
    );
    let msg = m
        .request(
            &b,
            &params(&[("citizen_id", "C1"), ("year", "2023")]),
            None,
            b"",
        )
        .unwrap();
    assert_eq!(as_json(&msg), json!({"citizenId": "C1", "year": 2023}));

    // Missing (empty) path parameter, named as in the template.
    assert_eq!(
        m.request(
            &b,
            &params(&[("citizen_id", ""), ("year", "2023")]),
            None,
            b""
        )
        .unwrap_err(),
        bad("citizen_id", "missing path parameter")
    );
    // Path values are converted by the field's kind.
    assert_eq!(
        m.request(
            &b,
            &params(&[("citizen_id", "C1"), ("year", "3000000000")]),
            None,
            b""
        )
        .unwrap_err(),
        bad("year", "value 3000000000 is out of range for int32")
    );
    assert_eq!(
        m.request(
            &b,
            &params(&[("citizen_id", "C1"), ("year", "20x3")]),
            None,
            b""
        )
        .unwrap_err(),
        bad("year", "invalid int32 \"20x3\"")
    );
    // No body where the rule has none.
    assert_bad(
        m.request(
            &b,
            &params(&[("citizen_id", "C1"), ("year", "1")]),
            None,
            b"{}",
        ),
        "",
        "takes no request body",
    );

    // Query: fields bound by neither path nor body.
    let list = sim_method("onestop.sim.traffic.v1.TrafficPolice", "ListViolations");
    let lb = binding(
        http::Method::GET,
        "/t/{citizen_id}/violations",
        BodyRule::None,
    );
    let p = params(&[("citizen_id", "C1")]);
    let msg = list
        .request(&lb, &p, Some("unpaid_only=true"), b"")
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({"citizenId": "C1", "unpaidOnly": true})
    );
    let msg = list
        .request(&lb, &p, Some("unpaidOnly=false&"), b"")
        .unwrap();
    assert_eq!(as_json(&msg), json!({"citizenId": "C1"}));
    assert_eq!(
        list.request(&lb, &p, Some("unpaid_only=yes"), b"")
            .unwrap_err(),
        bad(
            "unpaid_only",
            "invalid bool \"yes\": expected true or false"
        )
    );
    assert_bad(
        list.request(&lb, &p, Some("unpaid_only=true&plate=A"), b""),
        "plate",
        "unknown query parameter",
    );
    assert_bad(
        list.request(&lb, &p, Some("citizen_id=C2"), b""),
        "citizen_id",
        "bound by the URL path",
    );

    // uint32 range and enum names in the query.
    let watch = sim_method("onestop.sim.health.v1.Hospital", "WatchQueue");
    let wb = binding(http::Method::GET, "/h/{hospital_id}/queue", BodyRule::None);
    let p = params(&[("hospital_id", "H1")]);
    let msg = watch
        .request(
            &wb,
            &p,
            Some("count=3&interval_ms=10&citizen_id=C%201"),
            b"",
        )
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({"hospitalId": "H1", "count": 3, "intervalMs": 10, "citizenId": "C 1"})
    );
    assert_eq!(
        watch.request(&wb, &p, Some("count=-1"), b"").unwrap_err(),
        bad("count", "value -1 is out of range for uint32")
    );
    let book = sim_method("onestop.sim.traffic.v1.TrafficPolice", "BookDrivingTest");
    let bb = binding(http::Method::POST, "/t/{citizen_id}/tests", BodyRule::None);
    let p = params(&[("citizen_id", "C1")]);
    let msg = book
        .request(
            &bb,
            &p,
            Some("subject=EXAM_SUBJECT_ROAD&exam_centre_id=CQ-YB"),
            b"",
        )
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({"citizenId": "C1", "subject": "EXAM_SUBJECT_ROAD", "examCentreId": "CQ-YB"})
    );
    assert_eq!(
        book.request(&bb, &p, Some("subject=EXAM_SUBJECT_NOPE"), b"")
            .unwrap_err(),
        bad(
            "subject",
            "unknown value \"EXAM_SUBJECT_NOPE\" for enum onestop.sim.traffic.v1.ExamSubject"
        )
    );
    let msg = book.request(&bb, &p, Some("subject=2"), b"").unwrap();
    assert_eq!(as_json(&msg)["subject"], json!("EXAM_SUBJECT_SITE"));
}

// ---- the test proto: every binding form ----

#[test]
fn get_with_nested_path_field_and_query() {
    let svc = echo();
    let m = method(&svc, "GetThing");
    let b = &m.bindings[0];
    let query = "verbose=true&tags=a&tags=b%20c&color=COLOR_RED\
        &maxSize=18446744073709551615&limit=-2147483648&token=AQID&ratio=0.5\
        &min_count=7&since=2024-01-02T03:04:05Z&ref.version=-9&ids=1&ids=2\
        &page=4294967295&weight=1.5&part.name=p+1&part.color=2";
    let msg = m
        .request(
            b,
            &params(&[("shelf", "s/1"), ("ref.id", "t1")]),
            Some(query),
            b"",
        )
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({
            "shelf": "s/1",
            "ref": {"id": "t1", "version": "-9"},
            "verbose": true,
            "tags": ["a", "b c"],
            "color": "COLOR_RED",
            "maxSize": "18446744073709551615",
            "limit": -2147483648_i64,
            "token": "AQID",
            "ratio": 0.5,
            "minCount": "7",
            "since": "2024-01-02T03:04:05Z",
            "ids": [1, 2],
            "part": {"name": "p 1", "color": "COLOR_GREEN"},
            "page": 4294967295_u64,
            "weight": 1.5
        })
    );
}

#[test]
fn query_errors_name_the_parameter() {
    let svc = echo();
    let m = method(&svc, "GetThing");
    let b = &m.bindings[0];
    let p = params(&[("shelf", "s1"), ("ref.id", "t1")]);
    let q = |query: &str| m.request(b, &p, Some(query), b"");
    assert_bad(q("nope=1"), "nope", "unknown query parameter");
    assert_bad(q("ref.nope=1"), "ref.nope", "unknown query parameter");
    assert_bad(q("verbose.x=1"), "verbose.x", "unknown query parameter");
    assert_bad(q("ref.id=t2"), "ref.id", "bound by the URL path");
    assert_bad(q("ref=x"), "ref", "not a scalar field");
    assert_bad(q("labels=x"), "labels", "map");
    assert_bad(q("limit=1&limit=2"), "limit", "given more than once");
    assert_bad(q("limit=2147483648"), "limit", "out of range for int32");
    assert_bad(q("max_size=-1"), "max_size", "out of range for uint64");
    assert_bad(
        q("max_size=18446744073709551616"),
        "max_size",
        "out of range for uint64",
    );
    assert_bad(q("ids=1&ids=x"), "ids", "invalid int32 \"x\"");
    assert_bad(q("weight=1e39"), "weight", "out of range for float");
    assert_bad(q("ratio=abc"), "ratio", "invalid double");
    assert_bad(q("color=PURPLE"), "color", "unknown value \"PURPLE\"");
    assert_bad(q("token=%%%"), "token", "invalid base64");
    assert_bad(
        q("since=yesterday"),
        "since",
        "invalid google.protobuf.Timestamp",
    );
    assert_bad(q("min_count=seven"), "min_count", "invalid int64");
    // Floats accept the proto3 JSON spellings.
    let msg = q("ratio=NaN&weight=-Infinity").unwrap();
    assert_eq!(as_json(&msg)["ratio"], json!("NaN"));
    assert_eq!(as_json(&msg)["weight"], json!("-Infinity"));
    // URL-safe base64 without padding.
    let msg = q("token=-_8").unwrap();
    assert_eq!(as_json(&msg)["token"], json!("+/8="));
}

#[test]
fn rest_match_value_is_a_string_field() {
    let svc = echo();
    let m = method(&svc, "GetResource");
    let b = &m.bindings[0];
    let found = b.template.matches("/v1/resources/a%2Fb/c").unwrap();
    let msg = m.request(b, &found, Some("view=FULL"), b"").unwrap();
    assert_eq!(
        as_json(&msg),
        json!({"name": "resources/a%2Fb/c", "view": "FULL"})
    );
}

#[test]
fn body_field_message() {
    let svc = echo();
    let m = method(&svc, "CreateThing");
    let b = &m.bindings[0];
    let p = params(&[("shelf", "s1")]);
    let body = br#"{"displayName": "Lamp", "size": "12", "parts": [{"name": "a", "weight": 3}]}"#;
    let msg = m.request(b, &p, Some("request_id=r-1"), body).unwrap();
    assert_eq!(
        as_json(&msg),
        json!({
            "shelf": "s1",
            "thing": {"displayName": "Lamp", "size": "12", "parts": [{"name": "a", "weight": "3"}]},
            "requestId": "r-1"
        })
    );
    // Errors inside the body are prefixed with the body field.
    assert_bad(
        m.request(b, &p, None, br#"{"parts": [{"weight": "x"}]}"#),
        "thing.parts[0].weight",
        "",
    );
    assert_bad(
        m.request(b, &p, None, br#"{"nope": 1}"#),
        "thing.nope",
        "unrecognized field",
    );
    assert_bad(
        m.request(b, &p, None, br#"{"displayName" "x"}"#),
        "",
        "expected `:` at line 1 column 16",
    );
    // A JSON value of the wrong type for the body field names it.
    assert_bad(
        m.request(b, &p, None, b"[1]"),
        "thing",
        "invalid type: sequence",
    );
    // The body field cannot also come from the query.
    assert_bad(
        m.request(b, &p, Some("thing.size=1"), b""),
        "thing.size",
        "bound by the request body",
    );
}

#[test]
fn body_star_takes_no_query() {
    let svc = echo();
    let m = method(&svc, "UpdateThing");
    let b = &m.bindings[0];
    let p = params(&[("id", "t1")]);
    let msg = m
        .request(
            b,
            &p,
            None,
            br#"{"id": "other", "ttl": "1.5s", "quota": 3}"#,
        )
        .unwrap();
    assert_eq!(
        as_json(&msg),
        json!({"id": "t1", "ttl": "1.500s", "quota": "3"})
    );
    assert_bad(
        m.request(b, &p, Some("size=1"), b"{}"),
        "size",
        "query parameters are not accepted here",
    );
    // An empty query string is no parameter at all.
    assert!(m.request(b, &p, Some(""), b"{}").is_ok());
}

#[test]
fn body_field_repeated() {
    let svc = echo();
    let m = method(&svc, "AddParts");
    let b = &m.bindings[0];
    let p = params(&[("id", "t1")]);
    let body = br#"[{"name": "a"}, {"name": "b", "weight": "2", "color": "COLOR_RED"}]"#;
    let msg = m.request(b, &p, Some("replace=true"), body).unwrap();
    assert_eq!(
        as_json(&msg),
        json!({
            "id": "t1",
            "parts": [{"name": "a"}, {"name": "b", "weight": "2", "color": "COLOR_RED"}],
            "replace": true
        })
    );
    assert_bad(
        m.request(b, &p, None, br#"[{"name": "a"}, {"weight": "x"}]"#),
        "parts[1].weight",
        "",
    );
    assert_bad(m.request(b, &p, None, br#"{"name": "a"}"#), "parts", "");
    assert_bad(m.request(b, &p, None, b"[{]"), "", "line 1 column 3");
}

#[test]
fn path_parameter_errors() {
    let svc = echo();
    let m = method(&svc, "GetThing");
    let b = &m.bindings[0];
    assert_eq!(
        m.request(b, &params(&[("shelf", "s"), ("ref.id", "")]), None, b"")
            .unwrap_err(),
        bad("ref.id", "missing path parameter")
    );
    // Parameters not of the request message (a caller bug) are named too.
    assert_bad(
        m.request(b, &params(&[("nope", "1")]), None, b""),
        "nope",
        "no field \"nope\"",
    );
    assert_bad(
        m.request(b, &params(&[("ref", "1")]), None, b""),
        "ref",
        "not a scalar field",
    );
}

#[test]
fn default_binding_request() {
    let svc = echo();
    let m = method(&svc, "Plain");
    let b = &m.bindings[0];
    let msg = m
        .request(b, &[], None, br#"{"id": "x", "counts": {"a": "1"}}"#)
        .unwrap();
    assert_eq!(as_json(&msg), json!({"id": "x", "counts": {"a": "1"}}));
    assert_eq!(msg.descriptor().full_name(), "onestop.test.v1.Thing");
}
