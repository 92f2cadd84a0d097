//! The report against figures worked out by hand.

#![allow(clippy::unwrap_used)]

use onestop_store::{CompletedFigures, FollowupFigures, LATENCY_BUCKETS, StepFigures};

use super::*;

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn traffic(requests: i64, errors: i64, fast: i64) -> TrafficCounts {
    // `fast` requests in (5 ms, 10 ms], the rest in (100 ms, 250 ms].
    let mut buckets = [0; LATENCY_BUCKETS];
    buckets[4] = fast;
    buckets[8] = requests - fast;
    TrafficCounts {
        requests,
        errors,
        client_errors: 1,
        buckets,
    }
}

fn inputs() -> Inputs {
    Inputs {
        from: 1_000,
        to: 2_000,
        now: 2_500,
        departments: vec![
            DeptInfo {
                id: "hpf".into(),
                name: "住房公积金中心".into(),
            },
            DeptInfo {
                id: "water".into(),
                name: "自来水公司".into(),
            },
        ],
        figures: BTreeMap::from([
            (
                "hpf".to_string(),
                DeptPeriodFigures {
                    steps: StepFigures {
                        on_time: 6,
                        late: 1,
                        overdue_open: 1,
                        not_due: 5,
                    },
                    completed: CompletedFigures {
                        completed: 4,
                        rated: 3,
                    },
                    // one 1, one 2, one 4, two 5s
                    ratings: [1, 1, 0, 1, 2],
                    followups: FollowupFigures {
                        in_time: 1,
                        late: 0,
                        overdue_open: 1,
                        open: 0,
                    },
                },
            ),
            // A department no longer configured still has its history.
            (
                "old".to_string(),
                DeptPeriodFigures {
                    ratings: [0, 0, 0, 0, 1],
                    ..DeptPeriodFigures::default()
                },
            ),
        ]),
        traffic: BTreeMap::from([
            ("hpf".to_string(), traffic(200, 2, 150)),
            ("water".to_string(), traffic(100, 0, 100)),
            (UNROUTED.to_string(), traffic(10, 0, 10)),
            (BUILTIN.to_string(), traffic(40, 0, 40)),
        ]),
        appeals: None,
        zombies: BTreeMap::from([("water".to_string(), vec!["meter".to_string()])]),
    }
}

#[test]
fn department_rates_are_the_hand_computed_ones() {
    let r = build(&inputs());
    assert_eq!(
        r.departments
            .iter()
            .map(|d| (d.dept.as_str(), d.name.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("hpf", "住房公积金中心"),
            ("old", "old"),
            ("water", "自来水公司")
        ]
    );
    let hpf = &r.departments[0];
    // Steps: 6 on time of 8 with a known outcome (6 + 1 late + 1 overdue);
    // the 5 not yet due are left out.
    assert_eq!(hpf.cases.steps_due, 8);
    assert!(close(hpf.cases.on_time_rate, 0.75));
    assert_eq!((hpf.cases.completed, hpf.cases.unrated), (4, 1));
    // Ratings: 5 given, 3 of them 4 or 5 → 60 %; mean (1+2+4+5+5)/5 = 3.4.
    assert_eq!(hpf.ratings.count, 5);
    assert_eq!((hpf.ratings.satisfied, hpf.ratings.bad), (3, 2));
    assert!(close(hpf.ratings.satisfaction_rate, 0.6));
    assert!(close(hpf.ratings.average, 3.4));
    // Follow-ups: 1 in time of 2 decided → 50 %.
    assert_eq!(hpf.followups.opened, 2);
    assert!(close(hpf.followups.in_time_rate, 0.5));
    // Traffic: 198 of 200 not 5xx → 99 %; p50 is the 100th of 150 in
    // (5, 10] ms → 5 + 5 × 100/150 ms; p99 the 198th: 48th of 50 in
    // (100, 250] → 100 + 150 × 48/50 = 244 ms.
    assert!(close(hpf.traffic.availability, 0.99));
    assert!(close(hpf.traffic.p50_ms, 5.0 + 5.0 * 100.0 / 150.0));
    assert!(close(hpf.traffic.p99_ms, 244.0));
    // No appeals yet: no data, not zeros.
    assert!(!r.appeals_available);
    assert_eq!(hpf.appeals, None);
    // Water: no steps, ratings or follow-ups → no rate at all.
    let water = &r.departments[2];
    assert_eq!(water.cases.on_time_rate, None);
    assert_eq!(water.ratings.satisfaction_rate, None);
    assert_eq!(water.ratings.average, None);
    assert_eq!(water.followups.in_time_rate, None);
    assert!(close(water.traffic.availability, 1.0));
    assert_eq!(water.zombie_services, vec!["meter".to_string()]);
}

#[test]
fn the_platform_sums_counts_not_rates() {
    let r = build(&inputs());
    let p = &r.platform;
    assert_eq!(p.dept, "platform");
    // Ratings of hpf (5) and old (1): 4 satisfied of 6.
    assert_eq!(p.ratings.count, 6);
    assert!(close(p.ratings.satisfaction_rate, 4.0 / 6.0));
    // Requests of every department plus those no route matched and the
    // gateway's own APIs (no department row of their own).
    assert_eq!(p.traffic.requests, 350);
    assert_eq!(p.traffic.errors, 2, "2 errors at hpf, none elsewhere");
    assert!(close(p.traffic.availability, 348.0 / 350.0));
    assert!(
        !r.departments
            .iter()
            .any(|d| d.dept == BUILTIN || d.dept == UNROUTED)
    );
    assert_eq!(p.zombie_services, vec!["water/meter".to_string()]);
}

#[test]
fn appeals_rates_come_from_their_counts_when_appeals_report() {
    let mut i = inputs();
    i.appeals = Some(BTreeMap::from([(
        "hpf".to_string(),
        AppealFigures {
            received: 10,
            acceptance_due: 8,
            accepted_in_time: 6,
            closed: 5,
            resolved: 4,
            rated: 4,
            satisfied: 3,
            unrated: 1,
            reply_due: 9,
            replied_in_time: 9,
            by_score: [1, 0, 0, 1, 2],
        },
    )]));
    let r = build(&i);
    assert!(r.appeals_available);
    let a = r.departments[0].appeals.as_ref().unwrap();
    assert!(close(a.response_rate, 0.75));
    assert!(close(a.resolution_rate, 0.8));
    assert!(close(a.satisfaction_rate, 0.75));
    assert!(close(a.on_time_rate, 1.0));
    // A department without appeals has zeros and no rates.
    let water = r.departments[2].appeals.as_ref().unwrap();
    assert_eq!(water.figures.received, 0);
    assert_eq!(water.response_rate, None);
    let p = r.platform.appeals.as_ref().unwrap();
    assert_eq!(p.figures.received, 10);
}
