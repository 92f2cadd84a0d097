//! [`AppealStore`]: appeals, their append-only timelines, changes as
//! compare-and-set transactions, listings, the overdue scan, counts and the
//! scanner's lease, on both backends (declared from `suite.rs`).

use onestop_store::{
    AppealChange, AppealFilter, AppealRecord, AppealStore, AttachmentBlob, NewAppeal,
    NewAppealEvent, NewDispatch, StoreError,
};
use serde_json::json;

use crate::common::Fixture;

mod feed;

on_both!(
    appeals_round_trip_with_their_first_entries,
    one_submit_key_is_one_appeal_also_concurrently,
    a_change_is_a_compare_and_set_with_one_entry,
    a_refused_change_writes_nothing,
    the_timeline_is_append_only,
    listings_by_citizen_department_and_queue,
    overdue_scan_finds_each_appeal_until_it_escalates,
    counts_per_state_kind_and_department,
    the_scanner_lease_has_one_holder,
    attachments_are_stored_once_by_hash_and_listed_with_the_appeal,
    an_unknown_attachment_writes_nothing,
    co_handlers_are_added_once_and_listed_by_department,
    supervision_finds_escalated_appeals_still_overdue_once,
);

fn new_appeal(
    id: &str,
    citizen: &str,
    at: i64,
    key: Option<&str>,
    dept: Option<&str>,
) -> NewAppeal {
    NewAppeal {
        id: id.into(),
        citizen: citizen.into(),
        channel: Some("app".into()),
        kind: "complaint".into(),
        title: "噪音".into(),
        content: "夜间施工".into(),
        matter: None,
        hint_dept: Some("housing".into()),
        location: Some(json!({"address": "某路1号", "lat": 23.1, "lng": 113.3})),
        disclose: true,
        submit_key: key.map(str::to_owned),
        created_at: at,
        reply_due: at + 15_000,
        next_due: at + 1_000,
        dispatch: dept.map(|d| NewDispatch {
            dept: d.into(),
            accept_due: at + 2_000,
            note: "rule 1".into(),
        }),
        attachments: Vec::new(),
    }
}

fn entry(event: &str, actor: &str, dept: Option<&str>, note: &str) -> NewAppealEvent {
    NewAppealEvent {
        event: event.into(),
        actor: actor.into(),
        actor_id: dept.map(str::to_owned),
        dept: dept.map(str::to_owned),
        note: note.into(),
    }
}

async fn appeals_round_trip_with_their_first_entries(fx: Fixture) {
    let s = &fx.store;
    let (a, fresh) = s
        .create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!(
        (a.state.as_str(), a.dept.as_deref(), a.version),
        ("dispatched", Some("housing"), 2)
    );
    assert_eq!(
        (a.dispatched_at, a.accept_due, a.next_due, a.reply_due),
        (Some(1_000), Some(3_000), Some(3_000), 16_000)
    );
    assert_eq!(
        a.location,
        Some(json!({"address": "某路1号", "lat": 23.1, "lng": 113.3}))
    );
    assert!(a.disclose);
    let events: Vec<(i64, &str, &str, Option<&str>, &str)> = a
        .timeline
        .iter()
        .map(|e| {
            (
                e.seq,
                e.event.as_str(),
                e.actor.as_str(),
                e.dept.as_deref(),
                e.note.as_str(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (1, "submitted", "citizen", None, ""),
            (2, "dispatched", "system", Some("housing"), "rule 1")
        ]
    );
    assert_eq!(s.appeal("A-1").await.unwrap(), Some(a));

    let (q, _) = s
        .create_appeal(&new_appeal("A-2", "c1", 2_000, None, None))
        .await
        .unwrap();
    assert_eq!(
        (q.state.as_str(), q.dept, q.version, q.next_due),
        ("submitted", None, 1, Some(3_000))
    );
    assert_eq!(q.timeline.len(), 1);
    assert_eq!(s.appeal("nope").await.unwrap(), None);
}

async fn one_submit_key_is_one_appeal_also_concurrently(fx: Fixture) {
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_appeal(&new_appeal(
                    &format!("A-{n}"),
                    "c1",
                    1_000 + n,
                    Some("k"),
                    None,
                ))
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let winners: Vec<&AppealRecord> = outcomes.iter().filter(|o| o.1).map(|o| &o.0).collect();
    assert_eq!(winners.len(), 1);
    assert!(outcomes.iter().all(|(a, _)| a == winners[0]));
    // Another citizen may use the same key.
    let (other, fresh) = fx
        .store
        .create_appeal(&new_appeal("B-1", "c2", 5_000, Some("k"), None))
        .await
        .unwrap();
    assert!(fresh && other.id == "B-1");
    let mine = fx
        .store
        .list_appeals(&AppealFilter {
            citizen: Some("c1".into()),
            ..AppealFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
}

fn accept(version: i64, at: i64) -> AppealChange {
    AppealChange {
        version,
        state: "accepted".into(),
        dept: Some("housing".into()),
        at,
        next_due: Some(16_000),
        accepted_at: Some(at),
        event: Some(entry("accepted", "department", Some("housing"), "")),
        ..AppealChange::default()
    }
}

async fn a_change_is_a_compare_and_set_with_one_entry(fx: Fixture) {
    let s = &fx.store;
    s.create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    let a = s.change_appeal("A-1", &accept(2, 1_500)).await.unwrap();
    assert_eq!(
        (a.state.as_str(), a.version, a.accepted_at, a.updated_at),
        ("accepted", 3, Some(1_500), 1_500)
    );
    // Fields a change leaves out keep their value.
    assert_eq!((a.dispatched_at, a.accept_due), (Some(1_000), Some(3_000)));
    assert_eq!(
        a.timeline.last().map(|e| (e.seq, e.event.as_str(), e.at)),
        Some((3, "accepted", 1_500))
    );
    // The same change decided on the old version loses: nothing written.
    match s.change_appeal("A-1", &accept(2, 1_600)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{other:?}"),
    }
    match s.change_appeal("nope", &accept(2, 1_600)).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{other:?}"),
    }
    let reply = AppealChange {
        version: 3,
        state: "replied".into(),
        dept: Some("housing".into()),
        at: 2_000,
        next_due: None,
        replied_at: Some(2_000),
        reply: Some("已整改".into()),
        event: Some(entry("replied", "department", Some("housing"), "已整改")),
        ..AppealChange::default()
    };
    let a = s.change_appeal("A-1", &reply).await.unwrap();
    let rate = AppealChange {
        version: 4,
        state: "closed".into(),
        dept: a.dept.clone(),
        at: 3_000,
        closed_at: Some(3_000),
        score: Some(5),
        rating_comment: Some("好".into()),
        rated_at: Some(3_000),
        event: Some(entry("rated", "citizen", None, "5")),
        ..AppealChange::default()
    };
    let a = s.change_appeal("A-1", &rate).await.unwrap();
    assert_eq!(
        (a.state.as_str(), a.score, a.reply.as_deref(), a.next_due),
        ("closed", Some(5), Some("已整改"), None)
    );
    let seqs: Vec<i64> = a.timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    // Concurrent changes on one version: exactly one wins.
    s.create_appeal(&new_appeal("A-2", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..6 {
        let store = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            store.change_appeal("A-2", &accept(2, 2_000 + n)).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(s.appeal("A-2").await.unwrap().unwrap().timeline.len(), 3);
}

async fn a_refused_change_writes_nothing(fx: Fixture) {
    let s = &fx.store;
    s.create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    let before = s.appeal("A-1").await.unwrap().unwrap();
    // A score outside 1–5 breaks the table's CHECK after the row was
    // updated: the whole transaction rolls back, the timeline too.
    let bad = AppealChange {
        version: 2,
        state: "closed".into(),
        at: 5_000,
        score: Some(9),
        event: Some(entry("rated", "citizen", None, "")),
        ..AppealChange::default()
    };
    assert!(s.change_appeal("A-1", &bad).await.is_err());
    let mut unknown = accept(2, 5_000);
    unknown.state = "lost".into();
    assert!(s.change_appeal("A-1", &unknown).await.is_err());
    assert_eq!(s.appeal("A-1").await.unwrap().unwrap(), before);
}

async fn the_timeline_is_append_only(fx: Fixture) {
    fx.store
        .create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    for sql in [
        "UPDATE appeal_events SET note = 'rewritten' WHERE appeal_id = 'A-1'",
        "DELETE FROM appeal_events WHERE appeal_id = 'A-1'",
    ] {
        assert!(fx.try_raw_execute(sql).await.is_err(), "{sql} went through");
    }
    let a = fx.store.appeal("A-1").await.unwrap().unwrap();
    assert_eq!(a.timeline.len(), 2);
    assert!(a.timeline.iter().all(|e| e.note != "rewritten"));
}

async fn listings_by_citizen_department_and_queue(fx: Fixture) {
    let s = &fx.store;
    for (id, citizen, at, dept) in [
        ("A-1", "c1", 100, Some("housing")),
        ("A-2", "c1", 200, None),
        ("A-3", "c2", 300, Some("housing")),
        ("A-4", "c1", 300, Some("water")),
        ("A-5", "c2", 400, None),
    ] {
        s.create_appeal(&new_appeal(id, citizen, at, None, dept))
            .await
            .unwrap();
    }
    let ids = |v: Vec<AppealRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let c1 = AppealFilter {
        citizen: Some("c1".into()),
        ..AppealFilter::default()
    };
    assert_eq!(
        ids(s.list_appeals(&c1).await.unwrap()),
        ["A-4", "A-2", "A-1"]
    );
    let page = AppealFilter {
        limit: 1,
        after: Some("A-4".into()),
        ..c1.clone()
    };
    assert_eq!(ids(s.list_appeals(&page).await.unwrap()), ["A-2"]);
    // Lists carry no timeline.
    assert!(
        s.list_appeals(&c1)
            .await
            .unwrap()
            .iter()
            .all(|a| a.timeline.is_empty())
    );
    let housing = AppealFilter {
        dept: Some("housing".into()),
        ..AppealFilter::default()
    };
    assert_eq!(ids(s.list_appeals(&housing).await.unwrap()), ["A-1", "A-3"]);
    let open = AppealFilter {
        states: vec!["accepted".into()],
        ..housing.clone()
    };
    assert!(s.list_appeals(&open).await.unwrap().is_empty());
    // Several states (a department's open queue): one listing in filing
    // order across the states, paged by the same cursor.
    let version = s.appeal("A-1").await.unwrap().unwrap().version;
    s.change_appeal("A-1", &accept(version, 500)).await.unwrap();
    let open = AppealFilter {
        states: ["dispatched", "accepted", "escalated"]
            .map(String::from)
            .into(),
        ..housing.clone()
    };
    assert_eq!(ids(s.list_appeals(&open).await.unwrap()), ["A-1", "A-3"]);
    let first = AppealFilter {
        limit: 1,
        ..open.clone()
    };
    assert_eq!(ids(s.list_appeals(&first).await.unwrap()), ["A-1"]);
    let rest = AppealFilter {
        after: Some("A-1".into()),
        ..open.clone()
    };
    assert_eq!(ids(s.list_appeals(&rest).await.unwrap()), ["A-3"]);
    let accepted_only = AppealFilter {
        states: vec!["accepted".into(), "closed".into()],
        ..housing.clone()
    };
    assert_eq!(ids(s.list_appeals(&accepted_only).await.unwrap()), ["A-1"]);
    let queue = AppealFilter {
        queue: true,
        ..AppealFilter::default()
    };
    assert_eq!(ids(s.list_appeals(&queue).await.unwrap()), ["A-2", "A-5"]);
    let after = AppealFilter {
        after: Some("A-2".into()),
        ..queue
    };
    assert_eq!(ids(s.list_appeals(&after).await.unwrap()), ["A-5"]);
    // Paging through a tie on `created_at` (A-3 and A-4 at 300), oldest
    // first and newest first; an unknown cursor has nothing after it.
    let all = |after: &str, citizen: Option<&str>| AppealFilter {
        after: Some(after.into()),
        citizen: citizen.map(str::to_owned),
        ..AppealFilter::default()
    };
    assert_eq!(
        ids(s.list_appeals(&all("A-2", None)).await.unwrap()),
        ["A-3", "A-4", "A-5"]
    );
    assert_eq!(
        ids(s.list_appeals(&all("A-3", None)).await.unwrap()),
        ["A-4", "A-5"]
    );
    assert_eq!(
        ids(s.list_appeals(&all("A-4", None)).await.unwrap()),
        ["A-5"]
    );
    assert_eq!(
        ids(s.list_appeals(&all("A-5", Some("c2"))).await.unwrap()),
        ["A-3"]
    );
    assert!(s.list_appeals(&all("A-9", None)).await.unwrap().is_empty());
}

async fn overdue_scan_finds_each_appeal_until_it_escalates(fx: Fixture) {
    let s = &fx.store;
    // next_due: A-1 (dispatched) 3 000, A-2 (queue) 2 000, A-3 11 000.
    s.create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    s.create_appeal(&new_appeal("A-2", "c1", 1_000, None, None))
        .await
        .unwrap();
    s.create_appeal(&new_appeal("A-3", "c1", 10_000, None, None))
        .await
        .unwrap();
    let ids = |v: Vec<AppealRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.overdue_appeals(2_000, 10).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(s.overdue_appeals(3_001, 10).await.unwrap()),
        ["A-2", "A-1"]
    );
    assert_eq!(ids(s.overdue_appeals(3_001, 1).await.unwrap()), ["A-2"]);
    let escalate = AppealChange {
        version: 2,
        state: "escalated".into(),
        dept: Some("housing".into()),
        at: 3_500,
        next_due: Some(3_000),
        escalated_at: Some(3_500),
        event: Some(entry(
            "escalated",
            "system",
            Some("housing"),
            "accept overdue",
        )),
        ..AppealChange::default()
    };
    s.change_appeal("A-1", &escalate).await.unwrap();
    assert_eq!(
        ids(s.overdue_appeals(20_000, 10).await.unwrap()),
        ["A-2", "A-3"]
    );
}

async fn counts_per_state_kind_and_department(fx: Fixture) {
    let s = &fx.store;
    s.create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    s.create_appeal(&new_appeal("A-2", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    s.create_appeal(&new_appeal("A-3", "c1", 1_000, None, None))
        .await
        .unwrap();
    let counts = s.appeal_counts(2_500).await.unwrap();
    let got: Vec<(&str, &str, Option<&str>, i64, i64)> = counts
        .iter()
        .map(|c| {
            (
                c.state.as_str(),
                c.kind.as_str(),
                c.dept.as_deref(),
                c.count,
                c.overdue,
            )
        })
        .collect();
    let mut want = vec![
        ("dispatched", "complaint", Some("housing"), 2, 0),
        ("submitted", "complaint", None, 1, 1),
    ];
    want.sort();
    let mut got = got;
    got.sort();
    assert_eq!(got, want);
    let from_period = s.dispatched_appeals(0, 2_000).await.unwrap();
    assert_eq!(from_period.len(), 2);
    assert!(s.dispatched_appeals(1_001, 2_000).await.unwrap().is_empty());
}

async fn the_scanner_lease_has_one_holder(fx: Fixture) {
    let s = &fx.store;
    assert!(
        s.claim_appeal_lease("scan", "gw-a", 1_000, 2_000)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_appeal_lease("scan", "gw-b", 1_500, 2_500)
            .await
            .unwrap()
    );
    assert!(
        s.claim_appeal_lease("scan", "gw-a", 1_600, 3_000)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_appeal_lease("scan", "gw-b", 3_000, 4_000)
            .await
            .unwrap()
    );
    assert!(
        s.claim_appeal_lease("scan", "gw-b", 3_001, 4_000)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_appeal_lease("scan", "gw-a", 3_500, 5_000)
            .await
            .unwrap()
    );
    // Other names are other leases.
    assert!(
        s.claim_appeal_lease("other", "gw-a", 3_500, 5_000)
            .await
            .unwrap()
    );
}

fn reply_change(version: i64, at: i64) -> AppealChange {
    AppealChange {
        version,
        state: "replied".into(),
        dept: Some("housing".into()),
        at,
        replied_at: Some(at),
        reply: Some("已整改".into()),
        event: Some(entry("replied", "department", Some("housing"), "已整改")),
        ..AppealChange::default()
    }
}

fn blob(hash: &str, media_type: &str, content: &[u8]) -> AttachmentBlob {
    AttachmentBlob {
        hash: hash.into(),
        media_type: media_type.into(),
        size: content.len() as i64,
        content: content.to_vec(),
    }
}

async fn attachments_are_stored_once_by_hash_and_listed_with_the_appeal(fx: Fixture) {
    let s = &fx.store;
    // Every byte value survives the round trip (BLOB / BYTEA).
    let png: Vec<u8> = (0..=255u8).chain([0x89, b'P', b'N', b'G']).collect();
    assert!(
        s.put_appeal_blob(&blob("sha256:aa", "image/png", &png), 10)
            .await
            .unwrap()
    );
    // The same hash again: kept as it was.
    assert!(
        !s.put_appeal_blob(&blob("sha256:aa", "application/pdf", b"x"), 11)
            .await
            .unwrap()
    );
    let stored = s.appeal_blob("sha256:aa", true).await.unwrap().unwrap();
    assert_eq!(stored, blob("sha256:aa", "image/png", &png));
    let head = s.appeal_blob("sha256:aa", false).await.unwrap().unwrap();
    assert_eq!((head.size, head.content.len()), (png.len() as i64, 0));
    assert_eq!(s.appeal_blob("sha256:bb", true).await.unwrap(), None);

    let mut new = new_appeal("A-1", "c1", 1_000, None, Some("housing"));
    new.attachments = vec!["sha256:aa".into()];
    let (a, _) = s.create_appeal(&new).await.unwrap();
    let seen: Vec<(&str, &str, i64, i64, &str)> = a
        .attachments
        .iter()
        .map(|t| {
            (
                t.hash.as_str(),
                t.media_type.as_str(),
                t.size,
                t.seq,
                t.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![("sha256:aa", "image/png", png.len() as i64, 1, "citizen")]
    );

    // The department's reply carries a PDF; the same PNG again is not a
    // second attachment.
    s.put_appeal_blob(&blob("sha256:cc", "application/pdf", b"%PDF-1.4"), 20)
        .await
        .unwrap();
    let mut c = reply_change(2, 2_000);
    c.attachments = vec!["sha256:cc".into(), "sha256:aa".into()];
    let r = s.change_appeal("A-1", &c).await.unwrap();
    let seen: Vec<(&str, i64, &str, Option<&str>, i64)> = r
        .attachments
        .iter()
        .map(|t| {
            (
                t.hash.as_str(),
                t.seq,
                t.actor.as_str(),
                t.actor_id.as_deref(),
                t.at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("sha256:aa", 1, "citizen", None, 1_000),
            ("sha256:cc", 3, "department", Some("housing"), 2_000),
        ]
    );
    assert_eq!(
        s.appeal("A-1").await.unwrap().unwrap().attachments,
        r.attachments
    );
    // Lists carry no attachments (like timelines).
    let list = s
        .list_appeals(&AppealFilter {
            citizen: Some("c1".into()),
            ..AppealFilter::default()
        })
        .await
        .unwrap();
    assert!(list[0].attachments.is_empty());
}

async fn an_unknown_attachment_writes_nothing(fx: Fixture) {
    let s = &fx.store;
    let mut new = new_appeal("A-1", "c1", 1_000, None, Some("housing"));
    new.attachments = vec!["sha256:missing".into()];
    assert!(matches!(
        s.create_appeal(&new).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.appeal("A-1").await.unwrap(), None);

    new.attachments.clear();
    s.create_appeal(&new).await.unwrap();
    let mut c = reply_change(2, 2_000);
    c.attachments = vec!["sha256:missing".into()];
    assert!(matches!(
        s.change_appeal("A-1", &c).await,
        Err(StoreError::NotFound(_))
    ));
    let a = s.appeal("A-1").await.unwrap().unwrap();
    assert_eq!(
        (a.version, a.state.as_str(), a.attachments.len()),
        (2, "dispatched", 0)
    );
}

async fn co_handlers_are_added_once_and_listed_by_department(fx: Fixture) {
    let s = &fx.store;
    s.create_appeal(&new_appeal("A-1", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    s.create_appeal(&new_appeal("A-2", "c1", 1_000, None, Some("housing")))
        .await
        .unwrap();
    let add = |version: i64, co: &str| AppealChange {
        version,
        state: "dispatched".into(),
        dept: Some("housing".into()),
        at: 1_500,
        next_due: Some(3_000),
        co_handler: Some(co.into()),
        event: Some(entry("cohandler_added", "department", Some(co), "")),
        ..AppealChange::default()
    };
    let a = s.change_appeal("A-1", &add(2, "water")).await.unwrap();
    assert_eq!(a.co_handlers, ["water"]);
    assert_eq!(a.version, 3);
    let a = s.change_appeal("A-1", &add(3, "police")).await.unwrap();
    assert_eq!(a.co_handlers, ["water", "police"]);
    // The same department again: a conflict, nothing written.
    let e = s.change_appeal("A-1", &add(4, "water")).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let a = s.appeal("A-1").await.unwrap().unwrap();
    assert_eq!((a.version, a.timeline.len()), (4, 4));
    assert_eq!(a.co_handlers, ["water", "police"]);
    // Listed for the co-handler, not for others.
    let listed = |dept: &str| AppealFilter {
        cohandler: Some(dept.into()),
        ..AppealFilter::default()
    };
    let ids = |v: Vec<AppealRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_appeals(&listed("water")).await.unwrap()),
        ["A-1"]
    );
    assert!(s.list_appeals(&listed("housing")).await.unwrap().is_empty());
    assert!(s.list_appeals(&listed("tax")).await.unwrap().is_empty());
}

async fn supervision_finds_escalated_appeals_still_overdue_once(fx: Fixture) {
    let s = &fx.store;
    for id in ["A-1", "A-2", "A-3"] {
        s.create_appeal(&new_appeal(id, "c1", 1_000, None, Some("housing")))
            .await
            .unwrap();
    }
    let ids = |v: Vec<AppealRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let escalate = |supervise_due: i64| AppealChange {
        version: 2,
        state: "escalated".into(),
        dept: Some("housing".into()),
        at: 3_500,
        next_due: Some(3_000),
        escalated_at: Some(3_500),
        supervise_due: Some(supervise_due),
        event: Some(entry("escalated", "system", Some("housing"), "")),
        ..AppealChange::default()
    };
    s.change_appeal("A-1", &escalate(5_000)).await.unwrap();
    s.change_appeal("A-2", &escalate(4_000)).await.unwrap();
    s.change_appeal("A-3", &escalate(4_000)).await.unwrap();
    // A-3 is replied: no longer overdue.
    let reply = AppealChange {
        version: 3,
        state: "replied".into(),
        dept: Some("housing".into()),
        at: 3_600,
        next_due: None,
        replied_at: Some(3_600),
        reply: Some("ok".into()),
        event: Some(entry("replied", "department", Some("housing"), "ok")),
        ..AppealChange::default()
    };
    s.change_appeal("A-3", &reply).await.unwrap();
    assert!(s.supervision_due(4_000, 10).await.unwrap().is_empty());
    assert_eq!(
        ids(s.supervision_due(6_000, 10).await.unwrap()),
        ["A-2", "A-1"]
    );
    assert_eq!(ids(s.supervision_due(6_000, 1).await.unwrap()), ["A-2"]);
    let supervise = AppealChange {
        version: 3,
        state: "escalated".into(),
        dept: Some("housing".into()),
        at: 6_000,
        next_due: Some(3_000),
        supervised_at: Some(6_000),
        event: Some(entry("supervised", "system", Some("housing"), "")),
        ..AppealChange::default()
    };
    let a = s.change_appeal("A-2", &supervise).await.unwrap();
    assert_eq!(
        (a.supervise_due, a.supervised_at, a.escalated_at),
        (Some(4_000), Some(6_000), Some(3_500))
    );
    assert_eq!(ids(s.supervision_due(7_000, 10).await.unwrap()), ["A-1"]);
    let counts = s.appeal_counts(7_000).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.supervised).sum::<i64>(), 1);
}
