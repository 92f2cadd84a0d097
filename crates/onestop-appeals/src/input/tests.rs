//! Good and bad submissions, each bad one naming its field.

use serde_json::json;

use super::*;

fn check(v: Value) -> Result<Submission, FieldError> {
    parse_submission(&v, &InputLimits::default())
}

#[test]
fn a_full_submission_is_taken_trimmed() {
    let s = check(json!({
        "kind": "complaint", "title": " 噪音扰民 ", "content": "夜间施工\n到凌晨",
        "dept": "housing", "matter": "housing/noise",
        "location": {"address": "某区某路1号", "lat": 23.1, "lng": 113.3},
        "attachments": [], "disclose": true
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.kind, Kind::Complaint);
    assert_eq!(s.title, "噪音扰民");
    assert_eq!(s.content, "夜间施工\n到凌晨");
    assert_eq!(s.dept.as_deref(), Some("housing"));
    assert_eq!(s.location.as_ref().map(|l| l.lat), Some(Some(23.1)));
    assert!(s.disclose);
    assert_eq!(s.matter_dept(), Some("housing"));
    let minimal = check(json!({"kind": "consult", "title": "t", "content": "c"}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (minimal.dept, minimal.location, minimal.disclose),
        (None, None, false)
    );
}

/// A well-formed attachment id.
const H: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[test]
fn attachments_are_named_by_their_hashes() {
    let s = check(json!({"kind": "help", "title": "t", "content": "c", "attachments": [H]}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.attachments, vec![H.to_owned()]);
    let none = check(json!({"kind": "help", "title": "t", "content": "c", "attachments": null}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(none.attachments.is_empty());
}

#[test]
fn every_bad_field_is_named() {
    let long = "字".repeat(2_001);
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "body"),
        (
            json!({"kind": "rant", "title": "t", "content": "c"}),
            "kind",
        ),
        (json!({"kind": 3, "title": "t", "content": "c"}), "kind"),
        (json!({"title": "t", "content": "c"}), "kind"),
        (json!({"kind": "help", "content": "c"}), "title"),
        (
            json!({"kind": "help", "title": "  ", "content": "c"}),
            "title",
        ),
        (
            json!({"kind": "help", "title": "t", "content": ""}),
            "content",
        ),
        (
            json!({"kind": "help", "title": "t", "content": long}),
            "content",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "a\u{0}b"}),
            "content",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "dept": "a/b"}),
            "dept",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "matter": "a b"}),
            "matter",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "matter": 5}),
            "matter",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": "here"}),
            "location",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {}}),
            "location.address",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "a", "lat": 91, "lng": 0}}),
            "location.lat",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "a", "lat": 0, "lng": "east"}}),
            "location.lng",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "a", "lat": 1}}),
            "location.lng",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "a", "alt": 1}}),
            "location.alt",
        ),
        (
            json!({"kind": "emergency", "title": "t", "content": "c"}),
            "location",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "attachments": [{"a": 1}]}),
            "attachments[0]",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "attachments": "sha256:00"}),
            "attachments",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "attachments": [H, "sha256:ab"]}),
            "attachments[1]",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "attachments": [H, H]}),
            "attachments[1]",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "attachments": [H, H, H, H, H, H]}),
            "attachments",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "disclose": "yes"}),
            "disclose",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "citizen": "x"}),
            "citizen",
        ),
    ];
    for (body, field) in cases {
        match check(body.clone()) {
            Err(e) => assert_eq!(e.field, field, "{body} → {e}"),
            Ok(s) => panic!("{body} was taken: {s:?}"),
        }
    }
}

#[test]
fn content_at_the_limit_is_taken() {
    let at = "字".repeat(2_000);
    assert!(check(json!({"kind": "help", "title": "t", "content": at})).is_ok());
}
