//! The desk over a real SQLite store: the whole loop, privacy, refusals
//! that write nothing, returns and re-dispatch, and the scanner.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use onestop_appeals::{Kind, KindLimits, Limit, Rule, Rules, Settings};
use onestop_store::{SqlStore, StoreOptions};
use serde_json::json;

use super::*;

mod cohandling;
mod feed;

const T0: Millis = 1_765_000_000_000;

async fn desk(dir: &tempfile::TempDir) -> Desk {
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = SqlStore::connect(
        &url,
        StoreOptions {
            max_connections: 4,
            timeout: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    let mut limits = Settings::default().limits;
    limits.insert(
        Kind::Consult,
        KindLimits {
            accept: Limit::Millis(1_000),
            reply: Limit::Millis(5_000),
        },
    );
    let settings = Settings {
        rules: Rules {
            rules: vec![Rule {
                dept: "water".into(),
                keywords: vec!["停水".into()],
                ..Rule::default()
            }],
            depts: ["water", "housing", "emergency"].map(String::from).into(),
        },
        limits,
        ..Settings::default()
    };
    Desk::new(Arc::new(store), settings)
}

fn submit<'a>(citizen: &'a str, key: Option<&'a str>, body: &'a Value) -> Submit<'a> {
    Submit {
        citizen,
        channel: Some("app"),
        idempotency_key: key,
        body,
    }
}

fn events(a: &AppealRecord) -> Vec<String> {
    a.timeline
        .iter()
        .map(|e| format!("{}:{}", e.event, e.actor))
        .collect()
}

#[tokio::test]
async fn the_loop_from_submission_to_rating() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let body = json!({"kind": "help", "title": "小区停水", "content": "三天没水"});
    let (a, fresh) = d.submit(submit("c1", Some("k1"), &body), T0).await.unwrap();
    assert!(fresh);
    assert_eq!(
        (a.state.as_str(), a.dept.as_deref()),
        ("dispatched", Some("water"))
    );
    assert!(a.id.starts_with('S') && a.id.len() == 19, "{}", a.id);
    // The same key again: the same appeal, not a new one.
    let (again, fresh) = d
        .submit(submit("c1", Some("k1"), &body), T0 + 5)
        .await
        .unwrap();
    assert!(!fresh);
    assert_eq!(again.id, a.id);

    // Rating before the reply: 409, nothing written.
    assert_eq!(
        d.rate("c1", &a.id, 5, "", T0 + 10)
            .await
            .unwrap_err()
            .status(),
        409
    );
    // Another department: PERMISSION_DENIED; another citizen: not found.
    assert_eq!(
        d.accept("housing", &a.id, "", T0 + 10)
            .await
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        d.read(Who::Citizen("c2"), &a.id).await.unwrap_err(),
        DeskError::NotFound
    );
    assert_eq!(
        d.rate("c2", &a.id, 5, "", T0 + 10).await.unwrap_err(),
        DeskError::NotFound
    );
    // A department cannot rate, a citizen cannot accept.
    assert_eq!(d.read(Who::Citizen("c1"), &a.id).await.unwrap().version, 2);

    let a = d.accept("water", &a.id, "收到", T0 + 100).await.unwrap();
    assert_eq!(
        (a.state.as_str(), a.accepted_at, a.next_due),
        ("accepted", Some(T0 + 100), Some(a.reply_due))
    );
    assert_eq!(
        d.reply("water", &a.id, "  ", T0 + 200)
            .await
            .unwrap_err()
            .field(),
        Some("text")
    );
    let a = d
        .reply("water", &a.id, "已恢复供水", T0 + 200)
        .await
        .unwrap();
    assert_eq!((a.state.as_str(), a.next_due), ("replied", None));
    assert_eq!(
        d.rate("c1", &a.id, 6, "", T0 + 300)
            .await
            .unwrap_err()
            .field(),
        Some("score")
    );
    let a = d.rate("c1", &a.id, 4, "快", T0 + 300).await.unwrap();
    assert_eq!((a.state.as_str(), a.score), ("closed", Some(4)));
    assert_eq!(
        d.rate("c1", &a.id, 4, "", T0 + 400)
            .await
            .unwrap_err()
            .status(),
        409
    );
    assert_eq!(
        events(&a),
        [
            "submitted:citizen",
            "dispatched:system",
            "accepted:department",
            "replied:department",
            "rated:citizen"
        ]
    );
    // Lists: the citizen's own; the department's.
    let mine = d
        .list(Who::Citizen("c1"), AppealFilter::default())
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert!(
        d.list(Who::Citizen("c2"), AppealFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = d
        .list(
            Who::Department("housing"),
            AppealFilter {
                dept: Some("water".into()),
                ..AppealFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(
        theirs.is_empty(),
        "a department's filter is its own department"
    );
}

#[tokio::test]
async fn bad_submissions_name_the_field_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    for (body, field) in [
        (
            json!({"kind": "rant", "title": "t", "content": "c"}),
            "kind",
        ),
        (
            json!({"kind": "help", "title": "t", "content": ""}),
            "content",
        ),
        (
            json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "a", "lat": 99, "lng": 1}}),
            "location.lat",
        ),
    ] {
        assert_eq!(
            d.submit(submit("c1", None, &body), T0)
                .await
                .unwrap_err()
                .field(),
            Some(field)
        );
    }
    let body = json!({"kind": "help", "title": "t", "content": "c"});
    assert_eq!(
        d.submit(submit("c1", Some(""), &body), T0)
            .await
            .unwrap_err()
            .field(),
        Some("Idempotency-Key")
    );
    assert!(
        d.list(Who::Citizen("c1"), AppealFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_return_goes_to_the_operators_and_is_re_dispatched() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let body = json!({"kind": "complaint", "title": "停水投诉", "content": "物业不管"});
    let (a, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    assert_eq!(
        d.return_to_operators("water", &a.id, "", T0 + 1)
            .await
            .unwrap_err()
            .field(),
        Some("reason")
    );
    let a = d
        .return_to_operators("water", &a.id, "物业纠纷，非本单位职责", T0 + 10)
        .await
        .unwrap();
    assert_eq!((a.state.as_str(), a.dept.as_deref()), ("returned", None));
    // The department no longer sees it; the operators' queue does.
    assert_eq!(
        d.read(Who::Department("water"), &a.id)
            .await
            .unwrap_err()
            .status(),
        403
    );
    let queue = d
        .list(
            Who::Operator("op"),
            AppealFilter {
                queue: true,
                ..AppealFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        queue.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str()]
    );
    assert_eq!(
        d.dispatch("op", &a.id, "nobody", "", T0 + 20)
            .await
            .unwrap_err()
            .field(),
        Some("dept")
    );
    let a = d
        .dispatch("op", &a.id, "housing", "物业归住建", T0 + 20)
        .await
        .unwrap();
    assert_eq!(
        (a.state.as_str(), a.dept.as_deref(), a.redispatches),
        ("dispatched", Some("housing"), 1)
    );
    assert_eq!(a.dispatched_at, Some(T0 + 20));
    assert_eq!(
        events(&a),
        [
            "submitted:citizen",
            "dispatched:system",
            "returned:department",
            "dispatched:operator"
        ]
    );
    assert_eq!(a.timeline[2].note, "物业纠纷，非本单位职责");
    let a = d.close("op", &a.id, "已协调", T0 + 30).await.unwrap();
    assert_eq!(a.state, "closed");
}

#[tokio::test]
async fn the_scanner_escalates_each_overdue_appeal_once_under_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    // A consultation: accept within 1 s, reply within 5 s (configured).
    let body = json!({"kind": "consult", "title": "停水咨询", "content": "何时来水"});
    let (a, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    // Nobody decides for this one: the operators' queue.
    let queued = json!({"kind": "consult", "title": "问题", "content": "内容"});
    let (q, _) = d.submit(submit("c1", None, &queued), T0).await.unwrap();
    assert_eq!(q.state, "submitted");
    let lease = Duration::from_secs(10);
    assert_eq!(
        scanner::scan_once(&d, "gw-a", T0 + 500, lease)
            .await
            .unwrap(),
        Some(0)
    );
    // gw-b cannot scan while gw-a holds the lease.
    assert_eq!(
        scanner::scan_once(&d, "gw-b", T0 + 1_500, lease)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        scanner::scan_once(&d, "gw-a", T0 + 1_500, lease)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        scanner::scan_once(&d, "gw-a", T0 + 2_000, lease)
            .await
            .unwrap(),
        Some(0)
    );
    // After the lease lapsed gw-b takes over and finds nothing new.
    assert_eq!(
        scanner::scan_once(&d, "gw-b", T0 + 20_000, lease)
            .await
            .unwrap(),
        Some(0)
    );
    let a = d.read(Who::Operator("op"), &a.id).await.unwrap();
    assert_eq!(
        (a.state.as_str(), a.escalated_at),
        ("escalated", Some(T0 + 1_500))
    );
    assert_eq!(
        a.timeline.iter().filter(|e| e.event == "escalated").count(),
        1
    );
    // The department still accepts and replies an escalated appeal.
    let a = d.accept("water", &a.id, "", T0 + 21_000).await.unwrap();
    assert_eq!(a.state, "accepted");
    // Escalating again directly is a no-op.
    assert_eq!(d.escalate(&a, T0 + 22_000).await.unwrap(), None);
    let q = d.read(Who::Operator("op"), &q.id).await.unwrap();
    assert_eq!(
        q.timeline.last().map(|e| e.note.as_str()),
        Some("dispatch overdue (督办: operators)")
    );
    let counts = d.counts(T0 + 30_000).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 2);
}

#[tokio::test]
async fn an_operators_escalation_before_the_deadline_is_not_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let body = json!({"kind": "consult", "title": "停水", "content": "小区停水三天"});
    let (a, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    let a = d
        .escalate_by("op", &a.id, "先督办", T0 + 100)
        .await
        .unwrap();
    assert_eq!(a.state, "escalated");
    assert_eq!(view::appeal(&a, T0 + 200)["overdue"], false);
    // Past the accept limit (1 s) it is overdue, escalated or not.
    assert_eq!(view::appeal(&a, T0 + 1_001)["overdue"], true);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR photo";
const PDF: &[u8] = b"%PDF-1.7\n reply document";

fn citizen_req<'a>(
    citizen: &'a str,
    method: &'a str,
    path: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
) -> api::Request<'a> {
    api::Request {
        method,
        path,
        query: None,
        citizen,
        channel: Some("app"),
        idempotency_key: None,
        content_type,
        body,
    }
}

fn json_of(answer: Result<api::Answer, DeskError>) -> (u16, Value) {
    match answer {
        Ok(api::Answer::Json(status, doc)) => (status, doc),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn attachments_upload_dedup_submit_reply_and_download() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let upload = |who: &'static str, ct: Option<&'static str>, body: &'static [u8]| {
        let d = &d;
        async move {
            api::handle(
                d,
                citizen_req(who, "POST", api::ATTACHMENTS_PATH, ct, body),
                T0,
            )
            .await
        }
    };
    let (status, doc) = json_of(upload("c1", Some("image/png"), PNG).await);
    assert_eq!(status, 201);
    let png_id = onestop_appeals::content_hash(PNG);
    assert_eq!(
        doc,
        json!({"id": png_id, "size": PNG.len(), "type": "image/png"})
    );
    // The same content again (another citizen too): the same id, not new.
    let (status, again) = json_of(upload("c2", None, PNG).await);
    assert_eq!((status, &again["id"]), (200, &doc["id"]));

    // A PDF declared as a PNG, HTML, a type not taken: 415 naming the header.
    for (ct, body) in [
        (Some("image/png"), PDF),
        (Some("image/png"), b"<html><script>x</script>".as_slice()),
        (Some("text/html"), PNG),
    ] {
        let e = upload("c1", ct, body).await.unwrap_err();
        assert_eq!(
            (e.status(), e.code(), e.field()),
            (415, "UNSUPPORTED_MEDIA_TYPE", Some("Content-Type")),
            "{e}"
        );
    }
    // Over the limit: 413.
    let mut small = (*d.settings()).clone();
    small.input.max_attachment_bytes = 8;
    d.update(small);
    let e = upload("c1", Some("image/png"), PNG).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (413, "BODY_TOO_LARGE"));
    d.update(Settings {
        input: onestop_appeals::InputLimits::default(),
        ..(*d.settings()).clone()
    });

    // An id never uploaded: 400 naming it, nothing filed.
    let unknown = onestop_appeals::content_hash(b"never uploaded");
    let body = json!({"kind": "complaint", "title": "停水", "content": "三天停水",
        "attachments": [png_id, unknown]});
    let e = d.submit(submit("c1", None, &body), T0).await.unwrap_err();
    assert_eq!(e.field(), Some("attachments[1]"));
    assert!(
        d.list(Who::Citizen("c1"), AppealFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Filed with the photo; the rules send it to water.
    let body = json!({"kind": "complaint", "title": "停水", "content": "三天停水",
        "attachments": [png_id]});
    let (a, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    assert_eq!(a.dept.as_deref(), Some("water"));
    let doc = view::appeal(&a, T0);
    assert_eq!(doc["attachments"][0]["id"], png_id);
    assert_eq!(doc["attachments"][0]["by"], "citizen");
    assert_eq!(doc["timeline"][0]["attachments"], json!([png_id]));

    // The department reads the photo; another department may not.
    let (_, photo) = d
        .attachment(Who::Department("water"), &a.id, &png_id)
        .await
        .unwrap();
    assert_eq!(
        (photo.content.as_slice(), photo.media_type.as_str()),
        (PNG, "image/png")
    );
    assert!(matches!(
        d.attachment(Who::Department("housing"), &a.id, &png_id)
            .await,
        Err(DeskError::NotYours(_))
    ));

    // A reply with a bad document writes nothing.
    d.accept("water", &a.id, "", T0 + 100).await.unwrap();
    let bad = [NewFile {
        content_type: Some("application/pdf"),
        content: b"not a pdf",
    }];
    let e = d
        .reply_with("water", &a.id, "已恢复", &bad, T0 + 200)
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("attachments[0]"));
    assert_eq!(d.read(Who::System, &a.id).await.unwrap().state, "accepted");
    // Another department cannot reply (nothing stored for it either).
    let pdf = [NewFile {
        content_type: Some("application/pdf"),
        content: PDF,
    }];
    assert!(matches!(
        d.reply_with("housing", &a.id, "x", &pdf, T0 + 200).await,
        Err(DeskError::NotYours(_))
    ));
    let r = d
        .reply_with("water", &a.id, "已恢复供水", &pdf, T0 + 300)
        .await
        .unwrap();
    let pdf_id = onestop_appeals::content_hash(PDF);
    let doc = view::appeal(&r, T0 + 300);
    assert_eq!(doc["attachments"][1]["id"], pdf_id);
    assert_eq!(doc["attachments"][1]["by"], "department");
    assert_eq!(doc["attachments"][1]["by_id"], "water");
    let replied = doc["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (replied["event"].as_str(), &replied["attachments"]),
        (Some("replied"), &json!([pdf_id]))
    );

    // The citizen downloads the reply's PDF byte for byte; another citizen,
    // or an id the appeal does not carry, answers 404 like a missing appeal.
    let path = format!("/api/v1/me/appeals/{}/attachments/{pdf_id}", a.id);
    match api::handle(&d, citizen_req("c1", "GET", &path, None, b""), T0).await {
        Ok(api::Answer::File(f)) => {
            assert_eq!(
                (f.content.as_slice(), f.media_type.as_str()),
                (PDF, "application/pdf")
            )
        }
        other => panic!("{other:?}"),
    }
    let e = api::handle(&d, citizen_req("c2", "GET", &path, None, b""), T0)
        .await
        .unwrap_err();
    assert_eq!(e, DeskError::NotFound);
    let other = format!("/api/v1/me/appeals/{}/attachments/{unknown}", a.id);
    let e = api::handle(&d, citizen_req("c1", "GET", &other, None, b""), T0)
        .await
        .unwrap_err();
    assert_eq!(e, DeskError::NotFound);
    // An operator reads it too.
    assert_eq!(
        d.attachment(Who::Operator("op"), &a.id, &pdf_id)
            .await
            .unwrap()
            .1
            .content,
        PDF
    );
    // The upload path takes the upload limit; others the default.
    assert_eq!(
        api::max_body(&d, "POST", api::ATTACHMENTS_PATH, 10),
        5 * 1024 * 1024
    );
    assert_eq!(api::max_body(&d, "POST", api::APPEALS_PATH, 10), 10);
}
