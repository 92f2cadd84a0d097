//! The public feed through the API (only disclosed and closed appeals,
//! masked, paged) and bad ratings' follow-ups.

use onestop_core::mask::find_unmasked;
use onestop_store::{CaseStore, FollowupFilter, SubjectKind};

use super::*;

/// Files, has `water` accept and reply, and the citizen rate: the closed
/// appeal.
async fn answered(d: &Desk, citizen: &str, body: Value, at: Millis, score: i64) -> AppealRecord {
    let (a, _) = d.submit(submit(citizen, None, &body), at).await.unwrap();
    d.accept("water", &a.id, "", at + 10).await.unwrap();
    d.reply(
        "water",
        &a.id,
        "已派人维修。如有问题请联系张师傅13912345678，或邮件repair.team@water.gov.cn",
        at + 1_000,
    )
    .await
    .unwrap();
    d.rate(citizen, &a.id, score, "", at + 2_000).await.unwrap()
}

async fn feed_page(d: &Desk, query: &str) -> Result<(u16, Value), DeskError> {
    let names = |id: &str| (id == "water").then(|| "自来水公司".to_owned());
    api::feed(d, "GET", Some(query), &names).await
}

#[tokio::test]
async fn the_feed_shows_disclosed_closed_appeals_masked_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let secret = json!({
        "kind": "help",
        "title": "小区停水，电话13812345678",
        "content": "我叫王小明，身份证110101199003077774，住广州市天河区体育西路103号3栋501，停水三天",
        "location": {"address": "广州市天河区体育西路103号", "lat": 23.13, "lng": 113.32},
        "disclose": true
    });
    let first = answered(&d, "c1", secret, T0, 5).await;
    let later = answered(
        &d,
        "c2",
        json!({"kind": "help", "title": "停水", "content": "又停水了", "disclose": true}),
        T0 + 10_000,
        4,
    )
    .await;
    // Not disclosed; disclosed but still open; disclosed, no reply yet.
    answered(
        &d,
        "c3",
        json!({"kind": "help", "title": "停水", "content": "私事", "disclose": false}),
        T0 + 20_000,
        5,
    )
    .await;
    let (open, _) = d
        .submit(
            submit(
                "c4",
                None,
                &json!({"kind": "help", "title": "停水", "content": "未办结", "disclose": true}),
            ),
            T0 + 30_000,
        )
        .await
        .unwrap();
    d.accept("water", &open.id, "", T0 + 30_010).await.unwrap();

    let (status, page) = feed_page(&d, "limit=10").await.unwrap();
    assert_eq!(status, 200);
    let entries = page["appeals"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [view::public_id(&later.id), view::public_id(&first.id)]
    );
    assert_eq!(page["next"], Value::Null);
    let text = page.to_string();
    // No ID, phone, e-mail, name, exact address or citizen anywhere.
    for s in entries.iter().flat_map(|e| {
        ["id", "title", "content", "reply"].map(|k| e[k].as_str().unwrap().to_owned())
    }) {
        assert!(find_unmasked(&s).is_empty(), "{s}");
    }
    for leaked in [
        "13812345678",
        "1990030777",
        "王小明",
        "体育西路103号",
        "501",
        "repair.team",
        "c1",
        "\"citizen\"",
        "23.13",
    ] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
    let e = &entries[1];
    assert_eq!(e["kind"], "help");
    assert_eq!(e["dept"], json!({"id": "water", "name": "自来水公司"}));
    assert_eq!(e["district"], "广州市天河区");
    assert_eq!(e["title"], "小区停水，电话138****5678");
    assert_eq!(
        e["content"],
        "我叫王**，身份证110***********7774，住广州市天河区*****栋***，停水三天"
    );
    assert_eq!(
        e["reply"],
        "已派人维修。如有问题请联系张师傅139****5678，或邮件***@water.gov.cn"
    );
    assert_eq!(
        (
            &e["filed_at"],
            &e["closed_at"],
            &e["time_taken_ms"],
            &e["reply_time_ms"]
        ),
        (&json!(T0), &json!(T0 + 2_000), &json!(2_000), &json!(1_000))
    );
    assert_eq!(entries[0]["district"], Value::Null);

    // Paged: one at a time, `next` is the cursor.
    let (_, p1) = feed_page(&d, "limit=1").await.unwrap();
    assert_eq!(p1["appeals"][0]["id"], ids[0]);
    let next = p1["next"].as_str().unwrap().to_owned();
    let (_, p2) = feed_page(&d, &format!("limit=1&before={next}"))
        .await
        .unwrap();
    assert_eq!(p2["appeals"][0]["id"], ids[1]);
    // Bad parameters: 400 naming the field; other methods 405.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("before=a%20b", "before"),
    ] {
        let e = feed_page(&d, q).await.unwrap_err();
        assert_eq!((e.status(), e.field()), (400, Some(field)), "{q}");
    }
    let names = |_: &str| None;
    assert_eq!(
        api::feed(&d, "POST", None, &names)
            .await
            .unwrap_err()
            .status(),
        405
    );
}

#[tokio::test]
async fn a_rating_of_1_or_2_opens_exactly_one_followup_and_3_to_5_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = SqlStore::connect(
        &url,
        StoreOptions {
            max_connections: 2,
            timeout: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    let body = json!({"kind": "help", "title": "停水", "content": "三天没水"});
    let mut bad = Vec::new();
    for (n, score) in [1, 2, 3, 4, 5].into_iter().enumerate() {
        let a = answered(
            &d,
            &format!("c{n}"),
            body.clone(),
            T0 + n as i64 * 10_000,
            score,
        )
        .await;
        if score <= 2 {
            bad.push(a.id);
        }
    }
    let all = store.followups(&FollowupFilter::default()).await.unwrap();
    let mut subjects: Vec<(SubjectKind, String, String, i64)> = all
        .iter()
        .map(|f| (f.subject_kind, f.subject.clone(), f.dept.clone(), f.score))
        .collect();
    subjects.sort_by_key(|s| s.3);
    assert_eq!(
        subjects,
        vec![
            (SubjectKind::Appeal, bad[0].clone(), "water".into(), 1),
            (SubjectKind::Appeal, bad[1].clone(), "water".into(), 2),
        ]
    );
    // Due five working days after the rating, on the desk's calendar.
    let f = all.iter().find(|f| f.score == 1).unwrap();
    assert_eq!(
        f.due_at,
        d.settings().calendar.deadline(f.created_at, FOLLOWUP_LIMIT)
    );
    assert!(f.due_at > f.created_at + 5 * 86_400_000);
}
