//! `GET /admin/v1/assessment` and `GET /admin/v1/traffic` over a real
//! store, against figures worked out by hand; the console's CSV export of
//! the same.

use onestop_store::{
    AssessmentStore, CaseState, CaseStore, HOUR_MS, LATENCY_BUCKETS, MINUTE_MS, NewCase, NewRating,
    NewStep, StepState, StepUpdate, SubjectKind, TrafficCounts, TrafficDelta, now_ms,
};
use serde_json::{Value, json};

use super::support::*;

fn counts(requests: i64, errors: i64, fast: i64) -> TrafficCounts {
    // `fast` requests in (5 ms, 10 ms], the others in (100 ms, 250 ms].
    let mut buckets = [0; LATENCY_BUCKETS];
    buckets[4] = fast;
    buckets[8] = requests - fast;
    TrafficCounts {
        requests,
        errors,
        client_errors: 0,
        buckets,
    }
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

/// December 2026 in Beijing starts at this instant.
const DEC: i64 = 1_796_054_400_000;

#[tokio::test]
async fn the_assessment_is_computed_from_the_stores_figures() {
    let h = Harness::start().await;
    let s = &h.store;
    // Traffic of two gateways in two hours of December; one hour of
    // November that must not count.
    let delta = |start: i64, dept: &str, gw: &str, c: TrafficCounts| TrafficDelta {
        span_ms: HOUR_MS,
        start_ms: start,
        dept: dept.into(),
        gateway: gw.into(),
        counts: c,
    };
    s.add_traffic(&[
        delta(DEC, "hpf", "gw-a", counts(600, 3, 500)),
        delta(DEC, "hpf", "gw-b", counts(300, 1, 250)),
        delta(DEC + 5 * HOUR_MS, "hpf", "gw-a", counts(100, 0, 50)),
        delta(DEC - HOUR_MS, "hpf", "gw-a", counts(1_000, 1_000, 0)),
        delta(DEC, "tax", "gw-a", counts(50, 0, 50)),
    ])
    .await
    .unwrap();
    // A case of hpf due on Dec 2: its step done on time; another due
    // Dec 3, done late.
    let case = |id: &str, deadline: i64| NewCase {
        id: id.into(),
        citizen: format!("c-{id}"),
        channel: None,
        matter: "m".into(),
        matter_name: "事项".into(),
        lead_dept: "hpf".into(),
        input: json!({}),
        submit_key: None,
        created_at: DEC,
        steps: vec![NewStep {
            step: "s".into(),
            dept: "hpf".into(),
            name: "办理".into(),
            deadline_at: deadline,
        }],
    };
    for (id, deadline, done_at) in [
        ("K1", DEC + 86_400_000, DEC + 3_600_000),
        ("K2", DEC + 2 * 86_400_000, DEC + 3 * 86_400_000),
    ] {
        s.create_case(&case(id, deadline)).await.unwrap();
        assert!(s.claim_case(id, "gw", DEC, i64::MAX / 2).await.unwrap());
        s.update_step(
            id,
            "s",
            "gw",
            done_at,
            &StepUpdate {
                state: Some(StepState::Done),
                finished_at: Some(done_at),
                ..StepUpdate::default()
            },
        )
        .await
        .unwrap();
        s.set_case_state(id, "gw", done_at, CaseState::Completed, None)
            .await
            .unwrap();
    }
    // Ratings: K1 rated 5, K2 rated 2 (a follow-up due in 5 days, open).
    for (case, score, due) in [("K1", 5, None), ("K2", 2, Some(DEC + 9 * 86_400_000))] {
        s.add_rating(&NewRating {
            citizen: format!("c-{case}"),
            subject_kind: SubjectKind::Case,
            subject: case.into(),
            dept: "hpf".into(),
            score,
            tags: vec![],
            comment: String::new(),
            at: DEC + 4 * 86_400_000,
            followup_due_at: due,
        })
        .await
        .unwrap();
    }

    let r = h
        .get_json("/admin/v1/assessment?month=2026-12", VIEWER)
        .await;
    assert_eq!(r["month"], "2026-12");
    assert_eq!(r["from"], DEC);
    assert_eq!(r["appeals_available"], false);
    let hpf = r["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dept"] == "hpf")
        .unwrap()
        .clone();
    assert_eq!(hpf["name"], "住房公积金管理中心");
    // Traffic: 1 000 requests in December (600 + 300 + 100), 4 of them
    // 5xx → 99.6 %; 800 in (5, 10] ms, 200 in (100, 250] ms. p50: the
    // 500th of 800 → 5 + 5 × 500/800 = 8.125 ms; p99: the 990th, the
    // 190th of 200 → 100 + 150 × 190/200 = 242.5 ms.
    assert_eq!(hpf["traffic"]["requests"], 1_000);
    assert_eq!(hpf["traffic"]["errors"], 4);
    assert!(close(&hpf["traffic"]["availability"], 0.996), "{hpf}");
    assert!(close(&hpf["traffic"]["p50_ms"], 8.125), "{hpf}");
    assert!(close(&hpf["traffic"]["p99_ms"], 242.5), "{hpf}");
    // Steps: 1 on time of 2 → 50 %; both cases completed and rated.
    assert_eq!(hpf["cases"]["steps_due"], 2);
    assert!(close(&hpf["cases"]["on_time_rate"], 0.5), "{hpf}");
    assert_eq!(hpf["cases"]["completed"], 2);
    assert_eq!(hpf["cases"]["unrated"], 0);
    // Ratings: one 5 and one 2 → 50 % satisfied; the follow-up is open and
    // not yet due (as of now, in 2026-12 real time or later: due Dec 10).
    assert_eq!(hpf["ratings"]["by_score"], json!([0, 1, 0, 0, 1]));
    assert!(close(&hpf["ratings"]["satisfaction_rate"], 0.5), "{hpf}");
    assert_eq!(hpf["followups"]["opened"], 1);
    // No appeals module: no data, not zeros.
    assert_eq!(hpf["appeals"], Value::Null);
    // The platform adds tax's 50 requests.
    assert_eq!(r["platform"]["traffic"]["requests"], 1_050);
    // November holds the other hour.
    let nov = h
        .get_json("/admin/v1/assessment?month=2026-11", VIEWER)
        .await;
    assert_eq!(nov["platform"]["traffic"]["requests"], 1_000);
    assert!(close(&nov["platform"]["traffic"]["availability"], 0.0));
    // A scoped operator gets their department's row (and the platform's).
    let scoped = h
        .get_json("/admin/v1/assessment?month=2026-12", HPF_EDITOR)
        .await;
    let depts: Vec<&str> = scoped["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept"].as_str().unwrap())
        .collect();
    assert_eq!(depts, vec!["hpf"]);
    // Bad periods are refused naming the field.
    for (q, needle) in [
        ("month=2026-13", "month"),
        ("from=tomorrow", "from"),
        ("month=2026-12&from=1", "cannot be combined"),
    ] {
        let (status, body) = answer(
            h.req("GET", &format!("/admin/v1/assessment?{q}"), Some(VIEWER))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{q}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
}

#[tokio::test]
async fn traffic_sums_every_gateways_recent_minutes() {
    let h = Harness::start().await;
    let now = now_ms();
    let minute = now - now.rem_euclid(MINUTE_MS);
    let delta = |start: i64, gw: &str, c: TrafficCounts| TrafficDelta {
        span_ms: MINUTE_MS,
        start_ms: start,
        dept: "hpf".into(),
        gateway: gw.into(),
        counts: c,
    };
    h.store
        .add_traffic(&[
            delta(minute, "gw-a", counts(10, 1, 10)),
            delta(minute, "gw-b", counts(5, 0, 5)),
            delta(minute - 10 * MINUTE_MS, "gw-a", counts(7, 0, 7)),
            // Two hours ago: outside the last hour.
            delta(minute - 120 * MINUTE_MS, "gw-a", counts(100, 0, 100)),
        ])
        .await
        .unwrap();
    let t = h.get_json("/admin/v1/traffic?window=1h", VIEWER).await;
    assert_eq!(t["span_ms"], MINUTE_MS);
    assert_eq!(t["platform"]["requests"], 22);
    assert_eq!(t["platform"]["errors"], 1);
    assert_eq!(t["platform"]["series"].as_array().unwrap().len(), 60);
    let this_minute = t["platform"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["start_ms"] == minute)
        .unwrap()
        .clone();
    assert_eq!(this_minute["requests"], 15);
    assert_eq!(t["departments"][0]["dept"], "hpf");
    assert_eq!(t["departments"][0]["name"], "住房公积金管理中心");
    let (status, _) = answer(
        h.req("GET", "/admin/v1/traffic?window=0s", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
}
