//! [`MessageStore`]: the inbox and the webhook outbox, written in the same
//! transaction as an appeal's change, on both backends (declared from
//! `suite.rs`).

use onestop_store::{
    AppealChange, AppealStore, CaseState, CaseStore, DeliveryOutcome, MessageFilter, MessageStore,
    NewAppeal, NewAppealEvent, NewCase, NewDispatch, NewStep, StepState, StepUpdate, StoreError,
};

use crate::common::Fixture;

on_both!(
    an_appeals_changes_reach_the_inbox_and_the_outbox,
    a_refused_change_leaves_no_message,
    deliveries_retry_and_fail_and_operators_retry,
    a_cases_steps_and_its_end_reach_the_inbox_and_the_outbox,
    a_failed_case_tells_its_citizen_once,
    a_step_past_its_deadline_is_told_once,
);

fn appeal(id: &str, citizen: &str, channel: &str, at: i64) -> NewAppeal {
    NewAppeal {
        id: id.into(),
        citizen: citizen.into(),
        channel: Some(channel.into()),
        kind: "complaint".into(),
        title: "噪音".into(),
        content: "夜间施工 13800138000".into(),
        matter: None,
        hint_dept: None,
        location: None,
        disclose: false,
        submit_key: None,
        created_at: at,
        reply_due: at + 15_000,
        next_due: at + 1_000,
        dispatch: Some(NewDispatch {
            dept: "housing".into(),
            accept_due: at + 2_000,
            note: "rule 1".into(),
        }),
        attachments: Vec::new(),
    }
}

fn change(version: i64, state: &str, event: &str, at: i64) -> AppealChange {
    AppealChange {
        version,
        state: state.into(),
        dept: Some("housing".into()),
        at,
        event: Some(NewAppealEvent {
            event: event.into(),
            actor: "department".into(),
            actor_id: Some("housing".into()),
            dept: Some("housing".into()),
            note: String::new(),
        }),
        ..Default::default()
    }
}

fn inbox(citizen: &str) -> MessageFilter {
    MessageFilter {
        citizen: citizen.into(),
        ..Default::default()
    }
}

async fn an_appeals_changes_reach_the_inbox_and_the_outbox(fx: Fixture) {
    let s = &fx.store;
    s.set_notify_channels(vec!["hooked".into()]);
    s.create_appeal(&appeal("A-1", "c1", "hooked", 1_000))
        .await
        .unwrap();
    s.change_appeal("A-1", &change(2, "accepted", "accepted", 2_000))
        .await
        .unwrap();
    s.change_appeal("A-1", &change(3, "replied", "replied", 3_000))
        .await
        .unwrap();
    // Another citizen on a channel without a webhook: inbox only.
    s.create_appeal(&appeal("A-2", "c2", "plain", 1_500))
        .await
        .unwrap();

    let got = s.messages(&inbox("c1")).await.unwrap();
    let kinds: Vec<&str> = got.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "rating.invitation",
            "appeal.replied",
            "appeal.accepted",
            "appeal.dispatched"
        ]
    );
    assert!(got.iter().all(|m| m.subject == "A-1" && m.title == "噪音"));
    assert!(got.iter().all(|m| m.read_at.is_none()));
    assert_eq!(s.messages(&inbox("c2")).await.unwrap().len(), 1);

    // Paging and read marks, only on one's own messages.
    let page = s
        .messages(&MessageFilter {
            before: Some(got[1].id.clone()),
            limit: 1,
            ..inbox("c1")
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].kind, "appeal.accepted");
    assert!(
        s.mark_read("c2", &got[0].id, 9_000)
            .await
            .unwrap()
            .is_none()
    );
    let read = s.mark_read("c1", &got[0].id, 9_000).await.unwrap().unwrap();
    assert_eq!(read.read_at, Some(9_000));
    let again = s.mark_read("c1", &got[0].id, 9_500).await.unwrap().unwrap();
    assert_eq!(again.read_at, Some(9_000));
    let unread = s
        .messages(&MessageFilter {
            unread: true,
            ..inbox("c1")
        })
        .await
        .unwrap();
    assert_eq!(unread.len(), 3);

    // The outbox holds the hooked channel's four events, pending.
    let all = s.outbox(None, 100).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .all(|o| o.channel == "hooked" && o.state == "pending")
    );
    let due = s.due_deliveries(1_000, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.kind, "appeal.dispatched");
    assert_eq!(s.due_deliveries(10_000, 100).await.unwrap().len(), 4);
}

async fn a_refused_change_leaves_no_message(fx: Fixture) {
    let s = &fx.store;
    s.set_notify_channels(vec!["hooked".into()]);
    s.create_appeal(&appeal("A-1", "c1", "hooked", 1_000))
        .await
        .unwrap();
    // A stale version: nothing written, no message, no outbox row.
    let err = s
        .change_appeal("A-1", &change(1, "accepted", "accepted", 2_000))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.messages(&inbox("c1")).await.unwrap().len(), 1);
    assert_eq!(s.outbox(None, 100).await.unwrap().len(), 1);
}

async fn deliveries_retry_and_fail_and_operators_retry(fx: Fixture) {
    let s = &fx.store;
    s.set_notify_channels(vec!["hooked".into()]);
    s.create_appeal(&appeal("A-1", "c1", "hooked", 1_000))
        .await
        .unwrap();
    let id = s.due_deliveries(1_000, 10).await.unwrap()[0]
        .event_id
        .clone();
    let retry = DeliveryOutcome::Retry {
        next_at: 5_000,
        error: "HTTP 500".into(),
    };
    assert!(s.record_delivery(&id, 1_000, &retry).await.unwrap());
    assert!(s.due_deliveries(4_999, 10).await.unwrap().is_empty());
    let o = &s.outbox(Some("pending"), 10).await.unwrap()[0];
    assert_eq!((o.attempts, o.next_at), (1, 5_000));
    assert_eq!(o.last_error.as_deref(), Some("HTTP 500"));
    let failed = DeliveryOutcome::Failed {
        error: "too old".into(),
    };
    assert!(s.record_delivery(&id, 5_000, &failed).await.unwrap());
    assert!(s.outbox(Some("pending"), 10).await.unwrap().is_empty());
    assert_eq!(s.outbox(Some("failed"), 10).await.unwrap()[0].attempts, 2);
    // Not pending any more: a late attempt records nothing.
    assert!(!s.record_delivery(&id, 5_001, &retry).await.unwrap());
    assert!(s.retry_delivery(&id, 6_000).await.unwrap());
    assert!(!s.retry_delivery("nope", 6_000).await.unwrap());
    assert!(
        s.record_delivery(&id, 6_000, &DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let o = &s.outbox(Some("delivered"), 10).await.unwrap()[0];
    assert_eq!((o.attempts, o.delivered_at), (3, Some(6_000)));
    assert!(!s.retry_delivery(&id, 7_000).await.unwrap());
}

/// A two-step case of `citizen` on `channel`, claimed by `gw` until 100 s.
async fn claimed_case(s: &onestop_store::SqlStore, id: &str, citizen: &str, channel: &str) {
    let case = NewCase {
        id: id.into(),
        citizen: citizen.into(),
        channel: Some(channel.into()),
        matter: "newborn".into(),
        matter_name: "出生一件事".into(),
        lead_dept: "health".into(),
        input: serde_json::json!({"child": "小明"}),
        submit_key: None,
        created_at: 1_000,
        steps: [("a", "health", "出生医学证明"), ("b", "police", "户口登记")]
            .into_iter()
            .map(|(step, dept, name)| NewStep {
                step: step.into(),
                dept: dept.into(),
                name: name.into(),
                deadline_at: 50_000,
            })
            .collect(),
    };
    assert!(s.create_case(&case).await.unwrap().1);
    assert!(s.claim_case(id, "gw", 1_000, 100_000).await.unwrap());
}

fn done(at: i64) -> StepUpdate {
    StepUpdate {
        state: Some(StepState::Done),
        finished_at: Some(at),
        assign_done_seq: true,
        ..StepUpdate::default()
    }
}

async fn a_cases_steps_and_its_end_reach_the_inbox_and_the_outbox(fx: Fixture) {
    let s = &fx.store;
    s.set_notify_channels(vec!["hooked".into()]);
    claimed_case(s, "C-1", "c1", "hooked").await;
    // Starting a step tells nobody; finishing it does, once.
    let running = StepUpdate {
        state: Some(StepState::Running),
        add_attempts: 1,
        started_at: Some(1_100),
        ..StepUpdate::default()
    };
    s.update_step("C-1", "a", "gw", 1_100, &running)
        .await
        .unwrap();
    assert!(s.messages(&inbox("c1")).await.unwrap().is_empty());
    s.update_step("C-1", "a", "gw", 2_000, &done(2_000))
        .await
        .unwrap();
    s.update_step("C-1", "a", "gw", 2_100, &done(2_000))
        .await
        .unwrap();
    s.update_step("C-1", "b", "gw", 3_000, &done(3_000))
        .await
        .unwrap();
    // Still running: no message.
    s.set_case_state("C-1", "gw", 3_500, CaseState::Running, None)
        .await
        .unwrap();
    s.set_case_state("C-1", "gw", 4_000, CaseState::Completed, None)
        .await
        .unwrap();

    let got = s.messages(&inbox("c1")).await.unwrap();
    let seen: Vec<(&str, &str, Option<&str>, i64)> = got
        .iter()
        .map(|m| (m.id.as_str(), m.kind.as_str(), m.dept.as_deref(), m.at))
        .collect();
    assert_eq!(
        seen,
        [
            ("C-1.rate", "rating.invitation", Some("health"), 4_000),
            ("C-1.completed", "case.completed", Some("health"), 4_000),
            ("C-1.b.done", "case.progress", Some("police"), 3_000),
            ("C-1.a.done", "case.progress", Some("health"), 2_000),
        ]
    );
    assert!(
        got.iter()
            .all(|m| m.subject == "C-1" && m.title == "出生一件事")
    );
    // Each event once in the outbox, pending delivery to the hooked channel.
    let outbox = s.outbox(None, 100).await.unwrap();
    assert_eq!(outbox.len(), 4);
    assert!(
        outbox
            .iter()
            .all(|o| o.channel == "hooked" && o.state == "pending")
    );
}

async fn a_failed_case_tells_its_citizen_once(fx: Fixture) {
    let s = &fx.store;
    claimed_case(s, "C-2", "c2", "plain").await;
    s.set_case_state(
        "C-2",
        "gw",
        2_000,
        CaseState::Compensating,
        Some("b: refused"),
    )
    .await
    .unwrap();
    s.set_case_state("C-2", "gw", 3_000, CaseState::Failed, None)
        .await
        .unwrap();
    let got = s.messages(&inbox("c2")).await.unwrap();
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|m| (m.id.as_str(), m.kind.as_str()))
        .collect();
    assert_eq!(kinds, [("C-2.failed", "case.failed")]);
    // A refused change (the lease is gone) writes no message.
    let refused = s
        .set_case_state("C-2", "gw", 4_000, CaseState::Completed, None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(s.messages(&inbox("c2")).await.unwrap().len(), 1);
    // No webhook on this channel: nothing in the outbox.
    assert!(s.outbox(None, 100).await.unwrap().is_empty());
}

async fn a_step_past_its_deadline_is_told_once(fx: Fixture) {
    let s = &fx.store;
    s.set_notify_channels(vec!["hooked".into()]);
    // Both steps are due at 50 s; `a` finishes in time, `b` does not.
    claimed_case(s, "C-3", "c3", "hooked").await;
    s.update_step("C-3", "a", "gw", 2_000, &done(2_000))
        .await
        .unwrap();
    assert_eq!(s.tell_overdue_steps(50_000, 100).await.unwrap(), 0);
    assert_eq!(s.tell_overdue_steps(60_000, 100).await.unwrap(), 1);
    // Again, from this or another gateway: nothing more.
    assert_eq!(s.tell_overdue_steps(61_000, 100).await.unwrap(), 0);
    let got = s.messages(&inbox("c3")).await.unwrap();
    let seen: Vec<(&str, &str, Option<&str>, i64)> = got
        .iter()
        .map(|m| (m.id.as_str(), m.kind.as_str(), m.dept.as_deref(), m.at))
        .collect();
    assert_eq!(
        seen,
        [
            ("C-3.b.overdue", "case.overdue", Some("police"), 60_000),
            ("C-3.a.done", "case.progress", Some("health"), 2_000),
        ]
    );
    let outbox = s.outbox(None, 100).await.unwrap();
    assert!(outbox.iter().any(|o| o.event_id == "C-3.b.overdue"));
    // A finished case's late steps are nobody's news.
    claimed_case(s, "C-4", "c4", "plain").await;
    s.set_case_state("C-4", "gw", 3_000, CaseState::Compensating, Some("x"))
        .await
        .unwrap();
    s.set_case_state("C-4", "gw", 4_000, CaseState::Failed, None)
        .await
        .unwrap();
    assert_eq!(s.tell_overdue_steps(70_000, 100).await.unwrap(), 0);
    // The limit bounds one sweep; the next takes the rest.
    claimed_case(s, "C-5", "c5", "plain").await;
    assert_eq!(s.tell_overdue_steps(80_000, 1).await.unwrap(), 1);
    assert_eq!(s.tell_overdue_steps(80_000, 100).await.unwrap(), 1);
    assert_eq!(s.tell_overdue_steps(80_000, 100).await.unwrap(), 0);
}
