//! The public feed's query and appeals' bad-rating follow-ups, on both
//! backends.

use onestop_store::{
    AppealChange, AppealStore, CaseStore, FollowupFilter, StoreError, SubjectKind,
};

use super::{entry, new_appeal};
use crate::common::Fixture;

on_both!(
    the_feed_lists_disclosed_appeals_closed_after_a_reply_newest_first,
    a_bad_rating_opens_one_followup_with_its_change,
);

/// Reply (as `housing`) then close at `closed`; `score` rates it.
async fn reply_and_close(
    s: &dyn AppealStore,
    id: &str,
    replied: Option<i64>,
    closed: i64,
    score: Option<i64>,
) {
    let mut a = s.appeal(id).await.unwrap().unwrap();
    if let Some(at) = replied {
        a = s
            .change_appeal(
                id,
                &AppealChange {
                    version: a.version,
                    state: "replied".into(),
                    dept: Some("housing".into()),
                    at,
                    accepted_at: Some(at),
                    replied_at: Some(at),
                    reply: Some("已处理".into()),
                    event: Some(entry("replied", "department", Some("housing"), "已处理")),
                    ..AppealChange::default()
                },
            )
            .await
            .unwrap();
    }
    s.change_appeal(
        id,
        &AppealChange {
            version: a.version,
            state: "closed".into(),
            dept: a.dept.clone(),
            at: closed,
            closed_at: Some(closed),
            score,
            rated_at: score.map(|_| closed),
            event: Some(entry("closed", "operator", a.dept.as_deref(), "")),
            ..AppealChange::default()
        },
    )
    .await
    .unwrap();
}

async fn the_feed_lists_disclosed_appeals_closed_after_a_reply_newest_first(fx: Fixture) {
    let s = &fx.store;
    let mut hidden = new_appeal("A-private", "c1", 1_000, None, Some("housing"));
    hidden.disclose = false;
    for a in [
        new_appeal("A-old", "c1", 1_000, None, Some("housing")),
        new_appeal("A-spam", "c2", 1_100, None, Some("housing")),
        new_appeal("A-open", "c2", 1_200, None, Some("housing")),
        new_appeal("A-new", "c3", 1_300, None, Some("housing")),
        new_appeal("A-tie", "c3", 1_400, None, Some("housing")),
        hidden,
    ] {
        s.create_appeal(&a).await.unwrap();
    }
    reply_and_close(s, "A-old", Some(2_000), 3_000, Some(5)).await;
    // Closed by an operator without a reply: not in the feed.
    reply_and_close(s, "A-spam", None, 3_100, None).await;
    reply_and_close(s, "A-new", Some(2_500), 4_000, Some(4)).await;
    reply_and_close(s, "A-tie", Some(2_600), 4_000, None).await;
    reply_and_close(s, "A-private", Some(2_000), 5_000, Some(5)).await;
    let ids = |v: Vec<onestop_store::AppealRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.disclosed_appeals(None, 10).await.unwrap()),
        ["A-tie", "A-new", "A-old"]
    );
    // Paged one by one, through the tie on `closed_at`.
    assert_eq!(ids(s.disclosed_appeals(None, 1).await.unwrap()), ["A-tie"]);
    assert_eq!(
        ids(s.disclosed_appeals(Some("A-tie"), 1).await.unwrap()),
        ["A-new"]
    );
    assert_eq!(
        ids(s.disclosed_appeals(Some("A-new"), 1).await.unwrap()),
        ["A-old"]
    );
    assert!(
        s.disclosed_appeals(Some("A-old"), 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.disclosed_appeals(Some("nope"), 5)
            .await
            .unwrap()
            .is_empty()
    );
    let a = &s.disclosed_appeals(None, 1).await.unwrap()[0];
    assert_eq!(
        (a.reply.as_deref(), a.replied_at, a.closed_at, a.created_at),
        (Some("已处理"), Some(2_600), Some(4_000), 1_400)
    );
}

async fn a_bad_rating_opens_one_followup_with_its_change(fx: Fixture) {
    let s = &fx.store;
    for id in ["A-bad", "A-good"] {
        s.create_appeal(&new_appeal(id, "c1", 1_000, None, Some("housing")))
            .await
            .unwrap();
    }
    reply_and_close(s, "A-good", Some(2_000), 3_000, Some(4)).await;
    let mut bad = s.appeal("A-bad").await.unwrap().unwrap();
    bad = s
        .change_appeal(
            "A-bad",
            &AppealChange {
                version: bad.version,
                state: "replied".into(),
                dept: Some("housing".into()),
                at: 2_000,
                replied_at: Some(2_000),
                reply: Some("已处理".into()),
                event: Some(entry("replied", "department", Some("housing"), "")),
                ..AppealChange::default()
            },
        )
        .await
        .unwrap();
    let rate = |version: i64| AppealChange {
        version,
        state: "closed".into(),
        dept: Some("housing".into()),
        at: 3_000,
        closed_at: Some(3_000),
        score: Some(2),
        rating_comment: Some("没解决".into()),
        rated_at: Some(3_000),
        event: Some(entry("rated", "citizen", Some("housing"), "2")),
        followup_due_at: Some(9_000),
        ..AppealChange::default()
    };
    let rated = s.change_appeal("A-bad", &rate(bad.version)).await.unwrap();
    let open = s
        .followups(&FollowupFilter {
            dept: Some("housing".into()),
            open: true,
            ..FollowupFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let f = &open[0];
    assert_eq!(
        (
            f.subject_kind,
            f.subject.as_str(),
            f.citizen.as_str(),
            f.score,
            f.created_at,
            f.due_at
        ),
        (SubjectKind::Appeal, "A-bad", "c1", 2, 3_000, 9_000)
    );
    let r = s
        .rating_of("c1", SubjectKind::Appeal, "A-bad")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.score, r.comment.as_str(), r.followup_id),
        (2, "没解决", Some(f.id))
    );
    // A second follow-up for the same appeal is refused with nothing
    // written, not even the change.
    let again = s.change_appeal("A-bad", &rate(rated.version)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        s.appeal("A-bad").await.unwrap().unwrap().version,
        rated.version
    );
    // Operators close it as any other.
    let closed = s
        .close_followup(f.id, "ops", "回访已完成", 10_000)
        .await
        .unwrap();
    assert_eq!(closed.closed_at, Some(10_000));
    assert_eq!(
        s.followups(&FollowupFilter::default()).await.unwrap().len(),
        1
    );
}
