//! [`CaseStore`]: cases, their steps and leases, ratings and follow-ups,
//! on both backends (declared from `suite.rs`, whose `on_both!` it uses).

use onestop_store::{
    CaseRecord, CaseState, CaseStore, FollowupFilter, NewCase, NewRating, NewStep, RatingStats,
    StepRecord, StepState, StepUpdate, Store, StoreError, SubjectKind,
};
use serde_json::json;

use crate::common::{Fixture, assert_quiet};

on_both!(
    cases_round_trip,
    submit_key_returns_the_first_case,
    concurrent_submissions_with_one_key_make_one_case,
    citizen_cases_page_newest_first,
    claim_honours_the_lease,
    update_step_under_the_lease,
    set_case_state_finishes_and_releases,
    orphaned_cases_are_the_unheld_active_ones,
    overdue_cases_have_an_unfinished_step_past_its_deadline,
    ratings_open_followups,
    close_followup_once,
    rating_stats_per_department,
    corrupt_case_rows_are_errors_not_panics,
);

/// A case of `citizen` with three steps (`a`, `b`, `c`, deadlines 10 000,
/// 20 000 and 30 000 after `created_at`).
fn new_case(id: &str, citizen: &str, created_at: i64, submit_key: Option<&str>) -> NewCase {
    NewCase {
        id: id.into(),
        citizen: citizen.into(),
        channel: Some("app".into()),
        matter: "newborn".into(),
        matter_name: "出生一件事".into(),
        lead_dept: "health".into(),
        input: json!({"child": {"name": "小明", "born": "2024-05-01"}, "copies": 2}),
        submit_key: submit_key.map(str::to_string),
        created_at,
        steps: ["a", "b", "c"]
            .iter()
            .zip([
                ("health", "出生医学证明"),
                ("police", "户口登记"),
                ("hpf", "医保参保"),
            ])
            .zip(1_i64..)
            .map(|((step, (dept, name)), n)| NewStep {
                step: (*step).to_string(),
                dept: dept.into(),
                name: name.into(),
                deadline_at: created_at + n * 10_000,
            })
            .collect(),
    }
}

fn ids(cases: &[CaseRecord]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

fn step<'a>(case: &'a CaseRecord, name: &str) -> &'a StepRecord {
    case.steps.iter().find(|s| s.step == name).unwrap()
}

/// Stores `new` and takes its lease for `owner` (from 0 to `until`).
async fn create_claimed(fx: &Fixture, new: &NewCase, owner: &str, until: i64) {
    assert!(fx.store.create_case(new).await.unwrap().1);
    assert!(
        fx.store
            .claim_case(&new.id, owner, new.created_at, until)
            .await
            .unwrap()
    );
}

fn rating(citizen: &str, subject: &str, dept: &str, score: i64, due: Option<i64>) -> NewRating {
    NewRating {
        citizen: citizen.into(),
        subject_kind: SubjectKind::Case,
        subject: subject.into(),
        dept: dept.into(),
        score,
        tags: vec!["slow".into(), "态度好".into()],
        comment: format!("{citizen} on {subject}"),
        at: 7_000 + score,
        followup_due_at: due,
    }
}

async fn cases_round_trip(fx: Fixture) {
    let store = &fx.store;
    let mut changes = store.changes();
    let new = new_case("C-1", "citizen-1", 1_000, Some("key-1"));
    let (created, fresh) = store.create_case(&new).await.unwrap();
    assert!(fresh);
    let want = CaseRecord {
        id: "C-1".into(),
        citizen: "citizen-1".into(),
        channel: Some("app".into()),
        matter: "newborn".into(),
        matter_name: "出生一件事".into(),
        lead_dept: "health".into(),
        input: new.input.clone(),
        state: CaseState::Running,
        failure: None,
        submit_key: Some("key-1".into()),
        created_at: 1_000,
        updated_at: 1_000,
        finished_at: None,
        owner: None,
        lease_until: 0,
        steps: new
            .steps
            .iter()
            .zip(0..)
            .map(|(s, position)| StepRecord {
                step: s.step.clone(),
                position,
                dept: s.dept.clone(),
                name: s.name.clone(),
                state: StepState::Pending,
                attempts: 0,
                output: None,
                error: None,
                deadline_at: s.deadline_at,
                started_at: None,
                finished_at: None,
                done_seq: None,
                compensated_at: None,
            })
            .collect(),
    };
    assert_eq!(created, want);
    assert_eq!(
        want.steps
            .iter()
            .map(|s| s.step.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(want.steps[2].deadline_at, 31_000);
    assert_eq!(store.case("C-1").await.unwrap(), Some(want));
    assert_eq!(store.case("C-2").await.unwrap(), None);

    // A case without channel, key or steps reads back as such.
    let mut bare = new_case("C-2", "citizen-1", 2_000, None);
    bare.channel = None;
    bare.steps.clear();
    bare.input = json!([]);
    let (created, fresh) = store.create_case(&bare).await.unwrap();
    assert!(fresh);
    assert_eq!(store.case("C-2").await.unwrap(), Some(created.clone()));
    assert_eq!(
        (created.channel, created.submit_key, created.steps.len()),
        (None, None, 0)
    );

    // The same id again is a conflict, not a second case.
    let again = store
        .create_case(&new_case("C-1", "citizen-9", 3_000, None))
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("C-1 already exists")),
        "{again:?}"
    );
    assert!(
        store
            .citizen_cases("citizen-9", 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Case writes announce nothing.
    assert!(store.claim_case("C-1", "gw-1", 1_000, 9_000).await.unwrap());
    store
        .update_step("C-1", "a", "gw-1", 1_100, &StepUpdate::default())
        .await
        .unwrap();
    assert_quiet(&mut changes, "case writes");
}

async fn submit_key_returns_the_first_case(fx: Fixture) {
    let store = &fx.store;
    let (first, fresh) = store
        .create_case(&new_case("C-1", "citizen-1", 1_000, Some("key-1")))
        .await
        .unwrap();
    assert!(fresh);

    // The same citizen and key, another id and form: the first case.
    let mut retry = new_case("C-2", "citizen-1", 2_000, Some("key-1"));
    retry.input = json!({"different": true});
    let (got, fresh) = store.create_case(&retry).await.unwrap();
    assert!(!fresh);
    assert_eq!(got, first);
    assert_eq!(store.case("C-2").await.unwrap(), None);
    let listed = store.citizen_cases("citizen-1", 10, None).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);

    // The key is the citizen's: another citizen may use it.
    let (other, fresh) = store
        .create_case(&new_case("C-3", "citizen-2", 3_000, Some("key-1")))
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!(other.id, "C-3");
    // Without a key nothing is deduplicated.
    for id in ["C-4", "C-5"] {
        assert!(
            store
                .create_case(&new_case(id, "citizen-1", 4_000, None))
                .await
                .unwrap()
                .1
        );
    }
    assert_eq!(
        ids(&store.citizen_cases("citizen-1", 10, None).await.unwrap()),
        ["C-5", "C-4", "C-1"]
    );
}

async fn concurrent_submissions_with_one_key_make_one_case(fx: Fixture) {
    let mut submitters = Vec::new();
    for n in 0..8 {
        let store = fx.store.clone();
        submitters.push(tokio::spawn(async move {
            let new = new_case(&format!("C-{n}"), "citizen-1", 1_000 + n, Some("key-1"));
            store.create_case(&new).await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for submitter in submitters {
        outcomes.push(submitter.await.unwrap());
    }
    let winners: Vec<&CaseRecord> = outcomes.iter().filter(|o| o.1).map(|o| &o.0).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0].clone();
    assert!(outcomes.iter().all(|(case, _)| *case == winner));
    assert_eq!(
        fx.store.citizen_cases("citizen-1", 10, None).await.unwrap(),
        vec![winner]
    );
}

async fn citizen_cases_page_newest_first(fx: Fixture) {
    let store = &fx.store;
    // C-3 and C-4 share a creation time: the larger id comes first.
    for (id, at) in [
        ("C-1", 100),
        ("C-2", 200),
        ("C-3", 300),
        ("C-4", 300),
        ("C-5", 500),
    ] {
        store
            .create_case(&new_case(id, "citizen-1", at, None))
            .await
            .unwrap();
    }
    for (id, at) in [("D-1", 150), ("D-2", 600)] {
        store
            .create_case(&new_case(id, "citizen-2", at, None))
            .await
            .unwrap();
    }

    let all = store.citizen_cases("citizen-1", 10, None).await.unwrap();
    assert_eq!(ids(&all), ["C-5", "C-4", "C-3", "C-2", "C-1"]);
    for case in &all {
        assert_eq!(
            case.steps
                .iter()
                .map(|s| s.step.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"],
            "{}",
            case.id
        );
        assert_eq!(Some(case.clone()), store.case(&case.id).await.unwrap());
    }

    let page1 = store.citizen_cases("citizen-1", 2, None).await.unwrap();
    assert_eq!(ids(&page1), ["C-5", "C-4"]);
    let page2 = store
        .citizen_cases("citizen-1", 2, Some("C-4"))
        .await
        .unwrap();
    assert_eq!(ids(&page2), ["C-3", "C-2"]);
    let page3 = store
        .citizen_cases("citizen-1", 2, Some("C-2"))
        .await
        .unwrap();
    assert_eq!(ids(&page3), ["C-1"]);
    assert!(
        store
            .citizen_cases("citizen-1", 2, Some("C-1"))
            .await
            .unwrap()
            .is_empty()
    );

    // Another citizen's cases are never listed, not even as a cursor.
    assert_eq!(
        ids(&store.citizen_cases("citizen-2", 10, None).await.unwrap()),
        ["D-2", "D-1"]
    );
    assert!(
        store
            .citizen_cases("citizen-1", 10, Some("D-2"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .citizen_cases("citizen-1", 10, Some("nope"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .citizen_cases("nobody", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn claim_honours_the_lease(fx: Fixture) {
    let store = &fx.store;
    store
        .create_case(&new_case("C-1", "citizen-1", 1_000, None))
        .await
        .unwrap();
    assert!(store.claim_case("C-1", "gw-1", 1_000, 2_000).await.unwrap());
    let held = store.case("C-1").await.unwrap().unwrap();
    assert_eq!(
        (held.owner.as_deref(), held.lease_until),
        (Some("gw-1"), 2_000)
    );

    // Another gateway is refused while the lease holds (up to its last ms).
    assert!(!store.claim_case("C-1", "gw-2", 1_500, 9_000).await.unwrap());
    assert!(!store.claim_case("C-1", "gw-2", 2_000, 9_000).await.unwrap());
    // The holder extends it.
    assert!(store.claim_case("C-1", "gw-1", 1_900, 2_500).await.unwrap());
    assert!(!store.claim_case("C-1", "gw-2", 2_400, 9_000).await.unwrap());
    // Once it lapsed, another takes over.
    assert!(store.claim_case("C-1", "gw-2", 2_501, 4_000).await.unwrap());
    let taken = store.case("C-1").await.unwrap().unwrap();
    assert_eq!(
        (taken.owner.as_deref(), taken.lease_until),
        (Some("gw-2"), 4_000)
    );
    assert!(!store.claim_case("C-1", "gw-1", 3_000, 9_000).await.unwrap());

    // An inactive case cannot be claimed by anyone.
    store
        .set_case_state("C-1", "gw-2", 3_000, CaseState::Completed, None)
        .await
        .unwrap();
    for (owner, now) in [("gw-2", 3_100), ("gw-1", 3_100), ("gw-3", 99_000)] {
        assert!(
            !store
                .claim_case("C-1", owner, now, now + 1_000)
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .claim_case("nope", "gw-1", 1_000, 2_000)
            .await
            .unwrap()
    );
}

async fn update_step_under_the_lease(fx: Fixture) {
    let store = &fx.store;
    create_claimed(
        &fx,
        &new_case("C-1", "citizen-1", 1_000, None),
        "gw-1",
        10_000,
    )
    .await;
    let before = store.case("C-1").await.unwrap().unwrap();

    let start = StepUpdate {
        state: Some(StepState::Running),
        add_attempts: 1,
        started_at: Some(1_100),
        ..StepUpdate::default()
    };
    let refused = store.update_step("C-1", "a", "gw-2", 1_100, &start).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("case C-1 is held by gw-1")),
        "{refused:?}"
    );
    let unknown = store.update_step("C-1", "zz", "gw-1", 1_100, &start).await;
    assert!(
        matches!(&unknown, Err(StoreError::NotFound(m)) if m.contains("zz")),
        "{unknown:?}"
    );
    let no_case = store.update_step("C-9", "a", "gw-1", 1_100, &start).await;
    assert!(
        matches!(&no_case, Err(StoreError::NotFound(m)) if m.contains("C-9")),
        "{no_case:?}"
    );
    // Refused writes left no trace.
    assert_eq!(store.case("C-1").await.unwrap().unwrap(), before);

    let a = store
        .update_step("C-1", "a", "gw-1", 1_100, &start)
        .await
        .unwrap();
    assert_eq!(
        (a.state, a.attempts, a.started_at, a.done_seq),
        (StepState::Running, 1, Some(1_100), None)
    );
    // A retry: attempts add up, the first start time stays.
    let retry = StepUpdate {
        add_attempts: 1,
        started_at: Some(1_300),
        error: Some("timeout".into()),
        ..StepUpdate::default()
    };
    let a = store
        .update_step("C-1", "a", "gw-1", 1_300, &retry)
        .await
        .unwrap();
    assert_eq!(
        (a.state, a.attempts, a.started_at, a.error.as_deref()),
        (StepState::Running, 2, Some(1_100), Some("timeout"))
    );

    // Completed in the order b, a, c: done_seq 1, 2, 3.
    for (n, name) in ["b", "a", "c"].into_iter().enumerate() {
        let n = i64::try_from(n).unwrap();
        let done = StepUpdate {
            state: Some(StepState::Done),
            output: Some(json!({"receipt": format!("R-{name}"), "n": n})),
            finished_at: Some(2_000 + n),
            assign_done_seq: true,
            ..StepUpdate::default()
        };
        let stored = store
            .update_step("C-1", name, "gw-1", 2_000 + n, &done)
            .await
            .unwrap();
        assert_eq!(stored.done_seq, Some(n + 1), "{name}");
        assert_eq!(stored.state, StepState::Done);
    }
    let case = store.case("C-1").await.unwrap().unwrap();
    assert_eq!(case.updated_at, 2_002);
    let a = step(&case, "a");
    assert_eq!(
        a,
        &StepRecord {
            step: "a".into(),
            position: 0,
            dept: "health".into(),
            name: "出生医学证明".into(),
            state: StepState::Done,
            attempts: 2,
            output: Some(json!({"receipt": "R-a", "n": 1})),
            error: Some("timeout".into()),
            deadline_at: 11_000,
            started_at: Some(1_100),
            finished_at: Some(2_001),
            done_seq: Some(2),
            compensated_at: None,
        }
    );
    assert_eq!(
        case.steps.iter().map(|s| s.done_seq).collect::<Vec<_>>(),
        [Some(2), Some(1), Some(3)]
    );
    assert_eq!(step(&case, "b").started_at, None);

    // Compensation keeps what was recorded and adds its time.
    let undone = StepUpdate {
        state: Some(StepState::Compensated),
        compensated_at: Some(3_000),
        ..StepUpdate::default()
    };
    let c = store
        .update_step("C-1", "c", "gw-1", 3_000, &undone)
        .await
        .unwrap();
    assert_eq!(
        (c.state, c.done_seq, c.compensated_at, c.finished_at),
        (StepState::Compensated, Some(3), Some(3_000), Some(2_002))
    );

    // Once the lease lapsed even the former holder is refused.
    let late = store
        .update_step("C-1", "a", "gw-1", 10_001, &StepUpdate::default())
        .await;
    assert!(
        matches!(&late, Err(StoreError::Conflict(m)) if m.contains("ended at 10000")),
        "{late:?}"
    );
}

async fn set_case_state_finishes_and_releases(fx: Fixture) {
    let store = &fx.store;
    create_claimed(
        &fx,
        &new_case("C-1", "citizen-1", 1_000, None),
        "gw-1",
        10_000,
    )
    .await;

    let refused = store
        .set_case_state("C-1", "gw-2", 1_500, CaseState::Completed, None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let missing = store
        .set_case_state("C-9", "gw-1", 1_500, CaseState::Completed, None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // Still active: the runner keeps its lease.
    store
        .set_case_state(
            "C-1",
            "gw-1",
            2_000,
            CaseState::Compensating,
            Some("b: refused"),
        )
        .await
        .unwrap();
    let case = store.case("C-1").await.unwrap().unwrap();
    assert_eq!(
        (
            case.state,
            case.failure.as_deref(),
            case.updated_at,
            case.finished_at,
            case.owner.as_deref(),
            case.lease_until
        ),
        (
            CaseState::Compensating,
            Some("b: refused"),
            2_000,
            None,
            Some("gw-1"),
            10_000
        )
    );

    // Inactive: finished, the lease released, the failure kept.
    store
        .set_case_state("C-1", "gw-1", 3_000, CaseState::Failed, None)
        .await
        .unwrap();
    let case = store.case("C-1").await.unwrap().unwrap();
    assert_eq!(
        (
            case.state,
            case.failure.as_deref(),
            case.updated_at,
            case.finished_at,
            case.owner.as_deref(),
            case.lease_until
        ),
        (
            CaseState::Failed,
            Some("b: refused"),
            3_000,
            Some(3_000),
            None,
            0
        )
    );
    assert!(!store.claim_case("C-1", "gw-1", 3_100, 9_000).await.unwrap());
    let after = store
        .set_case_state("C-1", "gw-1", 3_200, CaseState::Running, None)
        .await;
    assert!(
        matches!(&after, Err(StoreError::Conflict(m)) if m.contains("held by nobody")),
        "{after:?}"
    );

    // Completed: the same.
    create_claimed(
        &fx,
        &new_case("C-2", "citizen-1", 4_000, None),
        "gw-1",
        10_000,
    )
    .await;
    store
        .set_case_state("C-2", "gw-1", 5_000, CaseState::Completed, None)
        .await
        .unwrap();
    let case = store.case("C-2").await.unwrap().unwrap();
    assert_eq!(
        (
            case.state,
            case.failure,
            case.finished_at,
            case.owner,
            case.lease_until
        ),
        (CaseState::Completed, None, Some(5_000), None, 0)
    );
    assert!(!store.claim_case("C-2", "gw-1", 5_100, 9_000).await.unwrap());
}

async fn orphaned_cases_are_the_unheld_active_ones(fx: Fixture) {
    let store = &fx.store;
    // Unowned (A, E), held until 5 000 (B), until 1 500 (C), finished (D).
    for (id, at) in [("A", 100), ("E", 400)] {
        store
            .create_case(&new_case(id, "citizen-1", at, None))
            .await
            .unwrap();
    }
    create_claimed(&fx, &new_case("B", "citizen-1", 200, None), "gw-1", 5_000).await;
    create_claimed(&fx, &new_case("C", "citizen-1", 300, None), "gw-1", 1_500).await;
    create_claimed(&fx, &new_case("D", "citizen-1", 50, None), "gw-1", 5_000).await;
    store
        .set_case_state("D", "gw-1", 60, CaseState::Completed, None)
        .await
        .unwrap();
    // Compensating is active too.
    create_claimed(&fx, &new_case("F", "citizen-1", 450, None), "gw-2", 1_200).await;
    store
        .set_case_state("F", "gw-2", 500, CaseState::Compensating, Some("x"))
        .await
        .unwrap();

    assert_eq!(store.orphaned_cases(1_000, 10).await.unwrap(), ["A", "E"]);
    assert_eq!(
        store.orphaned_cases(2_000, 10).await.unwrap(),
        ["A", "C", "E", "F"]
    );
    assert_eq!(store.orphaned_cases(2_000, 2).await.unwrap(), ["A", "C"]);
    assert_eq!(
        store.orphaned_cases(6_000, 10).await.unwrap(),
        ["A", "B", "C", "E", "F"]
    );
    // Claiming takes a case off the list.
    assert!(store.claim_case("C", "gw-2", 2_000, 8_000).await.unwrap());
    assert_eq!(
        store.orphaned_cases(2_000, 10).await.unwrap(),
        ["A", "E", "F"]
    );
}

async fn overdue_cases_have_an_unfinished_step_past_its_deadline(fx: Fixture) {
    let store = &fx.store;
    let done = StepUpdate {
        state: Some(StepState::Done),
        assign_done_seq: true,
        ..StepUpdate::default()
    };
    // X: `a` pending past 11 000.
    store
        .create_case(&new_case("X", "citizen-1", 1_000, None))
        .await
        .unwrap();
    // W: `a` done (deadline 10 500), `b` running past 20 500.
    create_claimed(&fx, &new_case("W", "citizen-1", 500, None), "gw-1", 99_000).await;
    store
        .update_step("W", "a", "gw-1", 600, &done)
        .await
        .unwrap();
    let running = StepUpdate {
        state: Some(StepState::Running),
        ..StepUpdate::default()
    };
    store
        .update_step("W", "b", "gw-1", 700, &running)
        .await
        .unwrap();
    // Y: `a` failed (11 200) and the case compensating: `b` (21 200) is
    // still pending and counts; `a` does not.
    create_claimed(
        &fx,
        &new_case("Y", "citizen-1", 1_200, None),
        "gw-1",
        99_000,
    )
    .await;
    let failed = StepUpdate {
        state: Some(StepState::Failed),
        ..StepUpdate::default()
    };
    store
        .update_step("Y", "a", "gw-1", 1_300, &failed)
        .await
        .unwrap();
    store
        .set_case_state("Y", "gw-1", 1_300, CaseState::Compensating, Some("a"))
        .await
        .unwrap();
    // Z: finished with pending steps: never overdue.
    create_claimed(&fx, &new_case("Z", "citizen-1", 100, None), "gw-1", 99_000).await;
    store
        .set_case_state("Z", "gw-1", 200, CaseState::Failed, Some("gone"))
        .await
        .unwrap();

    assert!(store.overdue_cases(10_000, 10).await.unwrap().is_empty());
    assert_eq!(ids(&store.overdue_cases(11_001, 10).await.unwrap()), ["X"]);
    // W's earliest unfinished deadline is b's 20 500: X (11 000) first.
    let overdue = store.overdue_cases(21_000, 10).await.unwrap();
    assert_eq!(ids(&overdue), ["X", "W"]);
    assert_eq!(overdue[1], store.case("W").await.unwrap().unwrap());
    assert_eq!(overdue[1].steps.len(), 3);
    assert_eq!(
        ids(&store.overdue_cases(21_201, 10).await.unwrap()),
        ["X", "W", "Y"]
    );
    assert_eq!(ids(&store.overdue_cases(21_201, 1).await.unwrap()), ["X"]);
    // X's first step done: its next deadline is 21 000.
    assert!(store.claim_case("X", "gw-2", 1_000, 99_000).await.unwrap());
    store
        .update_step("X", "a", "gw-2", 1_100, &done)
        .await
        .unwrap();
    assert_eq!(
        ids(&store.overdue_cases(21_201, 10).await.unwrap()),
        ["W", "X", "Y"]
    );
}

async fn ratings_open_followups(fx: Fixture) {
    let store = &fx.store;
    let bad = rating("citizen-1", "C-1", "health", 2, Some(50_000));
    let stored = store.add_rating(&bad).await.unwrap();
    let followup_id = stored.followup_id.unwrap();
    assert_eq!(
        (
            stored.citizen.as_str(),
            stored.subject_kind,
            stored.subject.as_str(),
            stored.dept.as_str(),
            stored.score,
            stored.tags.clone(),
            stored.comment.as_str(),
            stored.at
        ),
        (
            "citizen-1",
            SubjectKind::Case,
            "C-1",
            "health",
            2,
            vec!["slow".to_string(), "态度好".to_string()],
            "citizen-1 on C-1",
            7_002
        )
    );
    assert_eq!(
        store
            .rating_of("citizen-1", SubjectKind::Case, "C-1")
            .await
            .unwrap(),
        Some(stored.clone())
    );
    // The same subject as a matter is another subject.
    assert_eq!(
        store
            .rating_of("citizen-1", SubjectKind::Matter, "C-1")
            .await
            .unwrap(),
        None
    );

    let all = store.followups(&FollowupFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    let f = &all[0];
    assert_eq!(
        (
            f.id,
            f.rating_id,
            f.dept.as_str(),
            f.citizen.as_str(),
            f.subject_kind,
            f.subject.as_str(),
            f.score,
            f.created_at,
            f.due_at,
            f.closed_at,
            f.closed_by.clone(),
            f.note.clone()
        ),
        (
            followup_id,
            stored.id,
            "health",
            "citizen-1",
            SubjectKind::Case,
            "C-1",
            2,
            7_002,
            50_000,
            None,
            None,
            None
        )
    );
    let overdue_at = |t| FollowupFilter {
        overdue_at: Some(t),
        ..FollowupFilter::default()
    };
    assert!(
        store
            .followups(&overdue_at(50_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.followups(&overdue_at(50_001)).await.unwrap(), all);

    // A good rating opens nothing.
    let mut good = rating("citizen-1", "hpf/balance:req-1", "hpf", 5, None);
    good.subject_kind = SubjectKind::Matter;
    good.tags.clear();
    let stored_good = store.add_rating(&good).await.unwrap();
    assert_eq!(stored_good.followup_id, None);
    assert!(stored_good.id > stored.id);
    assert_eq!(
        store
            .rating_of("citizen-1", SubjectKind::Matter, "hpf/balance:req-1")
            .await
            .unwrap(),
        Some(stored_good)
    );

    // Rating the same subject again is a conflict and writes nothing.
    let again = store
        .add_rating(&rating("citizen-1", "C-1", "health", 1, Some(60_000)))
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("already rated")),
        "{again:?}"
    );
    assert_eq!(
        store
            .rating_of("citizen-1", SubjectKind::Case, "C-1")
            .await
            .unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        store.followups(&FollowupFilter::default()).await.unwrap(),
        all
    );
    let invalid = store
        .add_rating(&rating("citizen-1", "C-7", "health", 6, None))
        .await;
    assert!(invalid.is_err(), "{invalid:?}");

    // Another citizen may rate the same case; filters by department.
    let other = store
        .add_rating(&rating("citizen-2", "C-1", "police", 1, Some(40_000)))
        .await
        .unwrap();
    let listed = store.followups(&FollowupFilter::default()).await.unwrap();
    assert_eq!(
        listed.iter().map(|f| f.id).collect::<Vec<_>>(),
        [other.followup_id.unwrap(), followup_id]
    );
    let health = FollowupFilter {
        dept: Some("health".into()),
        ..FollowupFilter::default()
    };
    assert_eq!(store.followups(&health).await.unwrap(), all);
    let limited = FollowupFilter {
        limit: 1,
        ..FollowupFilter::default()
    };
    assert_eq!(store.followups(&limited).await.unwrap(), listed[..1]);
    let one = FollowupFilter {
        id: Some(followup_id),
        ..FollowupFilter::default()
    };
    let found = store.followups(&one).await.unwrap();
    assert_eq!(
        found.iter().map(|f| f.id).collect::<Vec<_>>(),
        [followup_id]
    );
}

async fn close_followup_once(fx: Fixture) {
    let store = &fx.store;
    let first = store
        .add_rating(&rating("citizen-1", "C-1", "health", 1, Some(10_000)))
        .await
        .unwrap();
    let second = store
        .add_rating(&rating("citizen-2", "C-2", "health", 2, Some(20_000)))
        .await
        .unwrap();
    let id = first.followup_id.unwrap();

    let closed = store
        .close_followup(id, "officer-wang", "called back, fixed", 9_000)
        .await
        .unwrap();
    assert_eq!(
        (
            closed.id,
            closed.rating_id,
            closed.due_at,
            closed.closed_at,
            closed.closed_by.as_deref(),
            closed.note.as_deref()
        ),
        (
            id,
            first.id,
            10_000,
            Some(9_000),
            Some("officer-wang"),
            Some("called back, fixed")
        )
    );
    let twice = store.close_followup(id, "officer-li", "again", 9_500).await;
    assert!(
        matches!(&twice, Err(StoreError::Conflict(m)) if m.contains("officer-wang")),
        "{twice:?}"
    );
    let unknown = store
        .close_followup(987_654, "officer-li", "?", 9_500)
        .await;
    assert!(
        matches!(&unknown, Err(StoreError::NotFound(m)) if m.contains("987654")),
        "{unknown:?}"
    );

    // All of them (the closed one as closed), or only the open ones.
    let all = store.followups(&FollowupFilter::default()).await.unwrap();
    assert_eq!(all[0], closed);
    assert_eq!(
        all.iter().map(|f| f.id).collect::<Vec<_>>(),
        [id, second.followup_id.unwrap()]
    );
    let open = FollowupFilter {
        open: true,
        ..FollowupFilter::default()
    };
    assert_eq!(
        store
            .followups(&open)
            .await
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect::<Vec<_>>(),
        [second.followup_id.unwrap()]
    );
    // A closed follow-up is never overdue.
    let overdue = FollowupFilter {
        overdue_at: Some(30_000),
        ..FollowupFilter::default()
    };
    assert_eq!(store.followups(&overdue).await.unwrap().len(), 1);
}

async fn rating_stats_per_department(fx: Fixture) {
    let store = &fx.store;
    assert!(store.rating_stats(0).await.unwrap().is_empty());
    // tax: 3, 4; one follow-up, closed.
    for (n, score) in [3, 4].into_iter().enumerate() {
        store
            .add_rating(&rating(&format!("t-{n}"), "T", "tax", score, None))
            .await
            .unwrap();
    }
    let tax_bad = store
        .add_rating(&rating("t-9", "T", "tax", 3, Some(500)))
        .await
        .unwrap();
    store
        .close_followup(tax_bad.followup_id.unwrap(), "officer", "done", 400)
        .await
        .unwrap();
    // hpf: 1 and 2 with follow-ups due at 1 000 and 3 000; 5, 5.
    store
        .add_rating(&rating("h-1", "H", "hpf", 1, Some(1_000)))
        .await
        .unwrap();
    store
        .add_rating(&rating("h-2", "H", "hpf", 2, Some(3_000)))
        .await
        .unwrap();
    for citizen in ["h-3", "h-4"] {
        store
            .add_rating(&rating(citizen, "H", "hpf", 5, None))
            .await
            .unwrap();
    }

    let stats = store.rating_stats(2_000).await.unwrap();
    assert_eq!(
        stats,
        vec![
            RatingStats {
                dept: "hpf".into(),
                count: 4,
                average: 3.25,
                by_score: [1, 1, 0, 0, 2],
                followups_open: 2,
                followups_overdue: 1,
            },
            RatingStats {
                dept: "tax".into(),
                count: 3,
                average: 10.0 / 3.0,
                by_score: [0, 0, 2, 1, 0],
                followups_open: 0,
                followups_overdue: 0,
            },
        ]
    );
    // Overdue is as of the call.
    let later = store.rating_stats(3_001).await.unwrap();
    assert_eq!(
        (later[0].followups_open, later[0].followups_overdue),
        (2, 2)
    );
    let earlier = store.rating_stats(1_000).await.unwrap();
    assert_eq!(earlier[0].followups_overdue, 0);
}

async fn corrupt_case_rows_are_errors_not_panics(fx: Fixture) {
    let store = &fx.store;
    create_claimed(
        &fx,
        &new_case("C-1", "citizen-1", 1_000, None),
        "gw-1",
        9_000,
    )
    .await;
    store
        .update_step(
            "C-1",
            "b",
            "gw-1",
            1_100,
            &StepUpdate {
                output: Some(json!({"ok": true})),
                ..StepUpdate::default()
            },
        )
        .await
        .unwrap();
    store
        .add_rating(&rating("citizen-1", "C-1", "health", 2, None))
        .await
        .unwrap();

    fx.raw_execute("UPDATE case_steps SET output = 'not json' WHERE step = 'b'")
        .await;
    let read = store.case("C-1").await;
    assert!(
        matches!(&read, Err(StoreError::Corrupt(m)) if m.contains("case_steps.output of C-1/b")),
        "{read:?}"
    );
    fx.raw_execute("UPDATE case_steps SET output = NULL").await;
    fx.raw_execute("UPDATE cases SET input = '{'").await;
    let listed = store.citizen_cases("citizen-1", 10, None).await;
    assert!(
        matches!(&listed, Err(StoreError::Corrupt(m)) if m.contains("cases.input of C-1")),
        "{listed:?}"
    );
    fx.raw_execute("UPDATE ratings SET tags = '{\"not\": \"a list\"}'")
        .await;
    let rated = store.rating_of("citizen-1", SubjectKind::Case, "C-1").await;
    assert!(
        matches!(&rated, Err(StoreError::Corrupt(m)) if m.starts_with("ratings.tags of ")),
        "{rated:?}"
    );
}
