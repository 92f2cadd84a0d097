//! [`AssessmentStore`]: traffic roll-ups and period figures, on both
//! backends (declared from `suite.rs`, whose `on_both!` it uses).

use std::collections::BTreeMap;

use onestop_store::{
    AssessmentStore, CaseState, CaseStore, CompletedFigures, DeptPeriodFigures, FollowupFigures,
    HOUR_MS, LATENCY_BUCKETS, MINUTE_MS, NewCase, NewRating, NewStep, StepFigures, StepState,
    StepUpdate, SubjectKind, TrafficCounts, TrafficDelta,
};
use serde_json::json;

use crate::common::Fixture;

on_both!(
    traffic_adds_up_across_gateways_and_restarts,
    traffic_series_and_pruning,
    bad_traffic_deltas_are_refused_and_write_nothing,
    period_figures_match_hand_computed_values,
);

fn counts(requests: i64, errors: i64, client_errors: i64, bucket: usize) -> TrafficCounts {
    let mut buckets = [0; LATENCY_BUCKETS];
    buckets[bucket] = requests;
    TrafficCounts {
        requests,
        errors,
        client_errors,
        buckets,
    }
}

fn delta(span: i64, start: i64, dept: &str, gateway: &str, c: TrafficCounts) -> TrafficDelta {
    TrafficDelta {
        span_ms: span,
        start_ms: start,
        dept: dept.into(),
        gateway: gateway.into(),
        counts: c,
    }
}

async fn traffic_adds_up_across_gateways_and_restarts(fx: Fixture) {
    let h = 100 * HOUR_MS;
    fx.store
        .add_traffic(&[
            delta(HOUR_MS, h, "hpf", "gw-a", counts(10, 1, 2, 3)),
            delta(HOUR_MS, h, "hpf", "gw-b", counts(5, 0, 0, 5)),
            delta(HOUR_MS, h, "tax", "gw-a", counts(7, 7, 0, 16)),
        ])
        .await
        .unwrap();
    // The same row again (a later flush of gw-a): added, not replaced.
    fx.store
        .add_traffic(&[delta(HOUR_MS, h, "hpf", "gw-a", counts(4, 1, 0, 3))])
        .await
        .unwrap();
    // The next hour counts in a wider period only.
    fx.store
        .add_traffic(&[delta(
            HOUR_MS,
            h + HOUR_MS,
            "hpf",
            "gw-a",
            counts(1, 0, 0, 0),
        )])
        .await
        .unwrap();
    // What another connection (a restarted gateway) reads.
    let again = fx.open_again().await;
    let rows = again.traffic(HOUR_MS, h, h + HOUR_MS).await.unwrap();
    let mut hpf = counts(14, 2, 2, 3);
    hpf.buckets[5] = 5;
    hpf.requests += 5;
    assert_eq!(
        rows.iter()
            .map(|r| (r.dept.as_str(), r.counts))
            .collect::<Vec<_>>(),
        vec![("hpf", hpf), ("tax", counts(7, 7, 0, 16))]
    );
    let wider = again.traffic(HOUR_MS, h, h + 2 * HOUR_MS).await.unwrap();
    assert_eq!(wider[0].counts.requests, 20);
    assert_eq!(wider[0].counts.buckets[0], 1);
    // Minute rows are another span.
    assert!(
        again
            .traffic(MINUTE_MS, h, h + HOUR_MS)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn traffic_series_and_pruning(fx: Fixture) {
    let m = 1_000 * MINUTE_MS;
    fx.store
        .add_traffic(&[
            delta(MINUTE_MS, m, "hpf", "gw-a", counts(1, 0, 0, 1)),
            delta(MINUTE_MS, m, "hpf", "gw-b", counts(2, 1, 0, 1)),
            delta(MINUTE_MS, m + MINUTE_MS, "hpf", "gw-a", counts(3, 0, 0, 1)),
            delta(
                MINUTE_MS,
                m + MINUTE_MS,
                "water",
                "gw-a",
                counts(4, 0, 1, 2),
            ),
        ])
        .await
        .unwrap();
    let series = fx
        .store
        .traffic_series(MINUTE_MS, m, m + 10 * MINUTE_MS)
        .await
        .unwrap();
    assert_eq!(
        series
            .iter()
            .map(|r| (
                r.dept.as_str(),
                r.start_ms,
                r.counts.requests,
                r.counts.errors
            ))
            .collect::<Vec<_>>(),
        vec![
            ("hpf", m, 3, 1),
            ("hpf", m + MINUTE_MS, 3, 0),
            ("water", m + MINUTE_MS, 4, 0),
        ]
    );
    assert_eq!(
        fx.store
            .prune_traffic(MINUTE_MS, m + MINUTE_MS)
            .await
            .unwrap(),
        2
    );
    let left = fx
        .store
        .traffic_series(MINUTE_MS, 0, m + 10 * MINUTE_MS)
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(fx.store.prune_traffic(HOUR_MS, i64::MAX).await.unwrap(), 0);
}

async fn bad_traffic_deltas_are_refused_and_write_nothing(fx: Fixture) {
    let good = delta(HOUR_MS, HOUR_MS, "hpf", "gw-a", counts(1, 0, 0, 0));
    let negative = delta(HOUR_MS, HOUR_MS, "tax", "gw-a", counts(-1, 0, 0, 0));
    let misaligned = delta(HOUR_MS, HOUR_MS + 5, "tax", "gw-a", counts(1, 0, 0, 0));
    for bad in [negative, misaligned] {
        let r = fx.store.add_traffic(&[good.clone(), bad]).await;
        assert!(r.is_err(), "{r:?}");
    }
    assert!(
        fx.store
            .traffic(HOUR_MS, 0, 10 * HOUR_MS)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A case led by `lead` with one step per `(dept, deadline)`.
fn case(id: &str, lead: &str, created_at: i64, steps: &[(&str, i64)]) -> NewCase {
    NewCase {
        id: id.into(),
        citizen: format!("citizen-{id}"),
        channel: None,
        matter: "newborn".into(),
        matter_name: "出生一件事".into(),
        lead_dept: lead.into(),
        input: json!({}),
        submit_key: None,
        created_at,
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, (dept, deadline))| NewStep {
                step: format!("s{i}"),
                dept: (*dept).into(),
                name: format!("step {i}"),
                deadline_at: *deadline,
            })
            .collect(),
    }
}

/// Finishes step `step` of case `id` in `state` at `at`.
async fn finish(fx: &Fixture, id: &str, step: &str, state: StepState, at: i64) {
    let update = StepUpdate {
        state: Some(state),
        started_at: Some(at - 1),
        finished_at: Some(at),
        ..StepUpdate::default()
    };
    fx.store
        .update_step(id, step, "gw", at, &update)
        .await
        .unwrap();
}

fn rating(
    citizen: &str,
    subject: &str,
    dept: &str,
    score: i64,
    at: i64,
    due: Option<i64>,
) -> NewRating {
    NewRating {
        citizen: citizen.into(),
        subject_kind: SubjectKind::Case,
        subject: subject.into(),
        dept: dept.into(),
        score,
        tags: vec![],
        comment: String::new(),
        at,
        followup_due_at: due,
    }
}

/// A fixture with known timings; the expected figures are worked out by
/// hand in the comments.
async fn period_figures_match_hand_computed_values(fx: Fixture) {
    let s = &fx.store;
    // The period is [1 000 000, 2 000 000); `now` is 2 500 000.
    let (from, to, now) = (1_000_000, 2_000_000, 2_500_000);
    // C1, led by hpf: hpf's step due 1 100 000, done at 1 050 000 (on
    // time); tax's step due 1 200 000, done at 1 300 000 (late).
    s.create_case(&case(
        "C1",
        "hpf",
        900_000,
        &[("hpf", 1_100_000), ("tax", 1_200_000)],
    ))
    .await
    .unwrap();
    assert!(
        s.claim_case("C1", "gw", 900_000, i64::MAX / 2)
            .await
            .unwrap()
    );
    finish(&fx, "C1", "s0", StepState::Done, 1_050_000).await;
    finish(&fx, "C1", "s1", StepState::Done, 1_300_000).await;
    s.set_case_state("C1", "gw", 1_300_000, CaseState::Completed, None)
        .await
        .unwrap();
    // C2, led by hpf: hpf's step due 1 500 000, failed (the department
    // refused) at 1 400 000: answered on time; tax's step due 1 600 000
    // never ran (skipped): not counted. The case failed: not completed.
    s.create_case(&case(
        "C2",
        "hpf",
        1_000_000,
        &[("hpf", 1_500_000), ("tax", 1_600_000)],
    ))
    .await
    .unwrap();
    assert!(
        s.claim_case("C2", "gw", 1_000_000, i64::MAX / 2)
            .await
            .unwrap()
    );
    finish(&fx, "C2", "s0", StepState::Failed, 1_400_000).await;
    finish(&fx, "C2", "s1", StepState::Skipped, 1_400_000).await;
    s.set_case_state("C2", "gw", 1_400_000, CaseState::Failed, Some("refused"))
        .await
        .unwrap();
    // C3, led by tax, running: tax's step due 1 800 000 still running at
    // now (overdue open); hpf's step due 2 400 000 is outside the period.
    s.create_case(&case(
        "C3",
        "tax",
        1_700_000,
        &[("tax", 1_800_000), ("hpf", 2_400_000)],
    ))
    .await
    .unwrap();
    // C4, led by tax: its step due 1 900 000 finished late at 2 100 000
    // (after the period: late all the same, counted by deadline); the case
    // completed at 2 100 000, outside the period.
    s.create_case(&case("C4", "tax", 1_700_000, &[("tax", 1_900_000)]))
        .await
        .unwrap();
    assert!(
        s.claim_case("C4", "gw", 1_700_000, i64::MAX / 2)
            .await
            .unwrap()
    );
    finish(&fx, "C4", "s0", StepState::Done, 2_100_000).await;
    s.set_case_state("C4", "gw", 2_100_000, CaseState::Completed, None)
        .await
        .unwrap();
    // C5, led by water, completed in the period, never rated.
    s.create_case(&case("C5", "water", 1_000_000, &[("water", 3_000_000)]))
        .await
        .unwrap();
    assert!(
        s.claim_case("C5", "gw", 1_000_000, i64::MAX / 2)
            .await
            .unwrap()
    );
    finish(&fx, "C5", "s0", StepState::Done, 1_200_000).await;
    s.set_case_state("C5", "gw", 1_200_000, CaseState::Completed, None)
        .await
        .unwrap();
    // Ratings: C1 rated 5 by its citizen in the period; hpf also gets a 2
    // (follow-up due 1 600 000, closed at 1 500 000: in time) and a 1
    // (follow-up due 1 700 000, closed at 1 900 000: late); tax gets a 1
    // (follow-up due 2 200 000, open at now: overdue) and a 2 (due
    // 3 000 000, open: not yet due); a rating before the period is out.
    s.add_rating(&rating("citizen-C1", "C1", "hpf", 5, 1_350_000, None))
        .await
        .unwrap();
    let in_time = s
        .add_rating(&rating("x1", "M1", "hpf", 2, 1_400_000, Some(1_600_000)))
        .await
        .unwrap();
    let late = s
        .add_rating(&rating("x2", "M2", "hpf", 1, 1_450_000, Some(1_700_000)))
        .await
        .unwrap();
    s.add_rating(&rating("x3", "M3", "tax", 1, 1_500_000, Some(2_200_000)))
        .await
        .unwrap();
    s.add_rating(&rating("x4", "M4", "tax", 2, 1_900_000, Some(3_000_000)))
        .await
        .unwrap();
    s.add_rating(&rating("x5", "M5", "tax", 5, 999_999, None))
        .await
        .unwrap();
    s.close_followup(in_time.followup_id.unwrap(), "op", "called back", 1_500_000)
        .await
        .unwrap();
    s.close_followup(late.followup_id.unwrap(), "op", "called back", 1_900_000)
        .await
        .unwrap();

    let got = s.period_figures(from, to, now).await.unwrap();
    let expected = BTreeMap::from([
        (
            "hpf".to_string(),
            DeptPeriodFigures {
                steps: StepFigures {
                    on_time: 2,
                    late: 0,
                    overdue_open: 0,
                    not_due: 0,
                },
                completed: CompletedFigures {
                    completed: 1,
                    rated: 1,
                },
                ratings: [1, 1, 0, 0, 1],
                followups: FollowupFigures {
                    in_time: 1,
                    late: 1,
                    overdue_open: 0,
                    open: 0,
                },
            },
        ),
        (
            "tax".to_string(),
            DeptPeriodFigures {
                steps: StepFigures {
                    on_time: 0,
                    late: 2,
                    overdue_open: 1,
                    not_due: 0,
                },
                completed: CompletedFigures::default(),
                ratings: [1, 1, 0, 0, 0],
                followups: FollowupFigures {
                    in_time: 0,
                    late: 0,
                    overdue_open: 1,
                    open: 1,
                },
            },
        ),
        (
            "water".to_string(),
            DeptPeriodFigures {
                completed: CompletedFigures {
                    completed: 1,
                    rated: 0,
                },
                ..DeptPeriodFigures::default()
            },
        ),
    ]);
    assert_eq!(got, expected);
    // Seen from before the deadlines passed, tax's open step is not yet due.
    let early = s.period_figures(from, to, 1_750_000).await.unwrap();
    assert_eq!(early["tax"].steps.not_due, 1);
    assert_eq!(early["tax"].steps.overdue_open, 0);
}
