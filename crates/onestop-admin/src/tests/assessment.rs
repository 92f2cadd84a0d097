//! `GET /admin/v1/assessment` and `GET /admin/v1/traffic` over a real
//! store, against figures worked out by hand; the console's CSV export and
//! printable page of the same months, field by field against the API; the
//! `onestop_assessment_*` gauges after the current month is published.

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

/// December 2026: traffic of hpf (two gateways, two hours; an hour of
/// November that must not count) and tax; two cases of hpf, one step on
/// time and one late; ratings of 5 and 2 (the 2 opens a follow-up).
async fn december(h: &Harness) {
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
}

#[tokio::test]
async fn the_assessment_is_computed_from_the_stores_figures() {
    let h = Harness::start().await;
    december(&h).await;
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

/// Appeals with known timings in January 2026 (long past: every deadline
/// has passed, so no outcome depends on when the test runs), worked by
/// the desk at chosen instants; ratings' follow-ups beside them (a harness
/// with appeals).
async fn january_appeals(h: &Harness) {
    use onestop_appeals_desk::Submit;
    let desk = h.appeals.clone().unwrap();
    let (jan, _) = onestop_assessment::Month::parse("2026-01")
        .unwrap()
        .range(8);
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    // Every appeal is filed on day 2; accept limit 1 day, reply 5 days.
    let d = jan + 2 * DAY;
    let submit = |n: usize, title: &'static str| {
        let desk = desk.clone();
        async move {
            let body = json!({"kind": "help", "title": title, "content": "详情"});
            let citizen = format!("c{n}");
            let (a, _) = desk
                .submit(
                    Submit {
                        citizen: &citizen,
                        channel: Some("app"),
                        idempotency_key: None,
                        body: &body,
                    },
                    d,
                )
                .await
                .unwrap();
            a
        }
    };
    //        accepted      replied        ends
    // A1 hpf d+1h (in)     d+2d (in)      rated 5
    // A2 hpf d+2d (late)   d+3d (in)      rated 4
    // A3 hpf d+1h (in)     d+6d (late)    rated 2
    // A4 hpf d+1h (in)     d+1d (in)      open, unrated
    // A5 hpf d+1h (in)     d+1d (in)      closed by an operator, unrated
    // A6 tax returns it at d+20h; re-dispatched to hpf at d+30h (after
    //    the first accept limit); hpf accepts d+40h (in: the limit
    //    restarted at d+30h), replies d+3d (in), unrated
    // A7 hpf never accepted, never replied (both overdue)
    // T1 tax d+1h (in)     d+1d (in)      rated 1
    let mut ids = Vec::new();
    for n in 1..=7 {
        let title = if n == 6 {
            "个税申报"
        } else {
            "公积金提取"
        };
        ids.push(submit(n, title).await.id);
    }
    let t1 = submit(8, "个税退税").await.id;
    let a = |i: usize| ids[i - 1].as_str();
    for (i, accepted, replied) in [
        (1, d + HOUR, d + 2 * DAY),
        (2, d + 2 * DAY, d + 3 * DAY),
        (3, d + HOUR, d + 6 * DAY),
        (4, d + HOUR, d + DAY),
        (5, d + HOUR, d + DAY),
    ] {
        desk.accept("hpf", a(i), "", accepted).await.unwrap();
        desk.reply("hpf", a(i), "已办理", replied).await.unwrap();
    }
    desk.return_to_operators("tax", a(6), "不属本部门", d + 20 * HOUR)
        .await
        .unwrap();
    desk.dispatch("root", a(6), "hpf", "改派", d + 30 * HOUR)
        .await
        .unwrap();
    desk.accept("hpf", a(6), "", d + 40 * HOUR).await.unwrap();
    desk.reply("hpf", a(6), "已办理", d + 3 * DAY)
        .await
        .unwrap();
    desk.accept("tax", &t1, "", d + HOUR).await.unwrap();
    desk.reply("tax", &t1, "已退", d + DAY).await.unwrap();
    for (citizen, id, score) in [("c1", a(1), 5), ("c2", a(2), 4), ("c3", a(3), 2)] {
        desk.rate(citizen, id, score, "", d + 7 * DAY)
            .await
            .unwrap();
    }
    desk.rate("c8", &t1, 1, "", d + 2 * DAY).await.unwrap();
    desk.close("root", a(5), "已解决", d + 2 * DAY)
        .await
        .unwrap();
    // Bad ratings of matters' calls get follow-ups (回访整改) too, due 5
    // days after the rating: hpf's closed in 3 days (in time), tax's in 7
    // (late).
    let s = &h.store;
    for (dept, closed_after) in [("hpf", 3 * DAY), ("tax", 7 * DAY)] {
        let r = s
            .add_rating(&NewRating {
                citizen: format!("r-{dept}"),
                subject_kind: SubjectKind::Matter,
                subject: format!("{dept}/route:req-{dept}"),
                dept: dept.into(),
                score: 1,
                tags: vec![],
                comment: String::new(),
                at: d,
                followup_due_at: Some(d + 5 * DAY),
            })
            .await
            .unwrap();
        s.close_followup(r.followup_id.unwrap(), "root", "已回访", d + closed_after)
            .await
            .unwrap();
    }
}

/// Every figure below is counted by hand from [`january_appeals`]' table.
#[tokio::test]
async fn appeals_figures_match_the_hand_computed_values() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    january_appeals(&h).await;
    let r = h
        .get_json("/admin/v1/assessment?month=2026-01", VIEWER)
        .await;
    assert_eq!(r["appeals_available"], true, "{r}");
    let dept = |id: &str| {
        r["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["dept"] == id)
            .unwrap()
            .clone()
    };
    let hpf = dept("hpf");
    let ap = &hpf["appeals"];
    // hpf received A1-A7 (A6 counts for hpf, where it ended up).
    assert_eq!(ap["received"], 7, "{ap}");
    // 响应率: due for acceptance A1-A6 (accepted) + A7 (overdue) = 7; in
    // time all but A2 (A6 within its restarted limit) = 5 → 5/7.
    assert_eq!(ap["acceptance_due"], 7, "{ap}");
    assert_eq!(ap["accepted_in_time"], 5, "{ap}");
    assert!(close(&ap["response_rate"], 5.0 / 7.0), "{ap}");
    // 解决率: closed A1, A2, A3 (rated) and A5 (operator) = 4; resolved:
    // replied and not rated 1-2 = A1, A2, A5 → 3/4.
    assert_eq!(ap["closed"], 4, "{ap}");
    assert_eq!(ap["resolved"], 3, "{ap}");
    assert!(close(&ap["resolution_rate"], 0.75), "{ap}");
    // 满意率: rated A1 (5), A2 (4), A3 (2); satisfied 2 → 2/3; unrated
    // (replied, no score) A4, A5, A6 = 3, never counted as satisfied.
    assert_eq!(ap["rated"], 3, "{ap}");
    assert_eq!(ap["satisfied"], 2, "{ap}");
    assert_eq!(ap["unrated"], 3, "{ap}");
    assert!(close(&ap["satisfaction_rate"], 2.0 / 3.0), "{ap}");
    assert_eq!(ap["by_score"], json!([0, 1, 0, 1, 1]), "{ap}");
    // On time: due A1-A6 (replied) + A7 (overdue) = 7; in time all but
    // A3 → 5/7.
    assert_eq!(ap["reply_due"], 7, "{ap}");
    assert_eq!(ap["replied_in_time"], 5, "{ap}");
    assert!(close(&ap["on_time_rate"], 5.0 / 7.0), "{ap}");
    // hpf's bad ratings: the matter's follow-up closed in time; A3's
    // rating of 2 opened one through the desk (due 5 working days after
    // d+7d), never closed, so overdue now: 1/2.
    assert_eq!(hpf["followups"]["opened"], 2, "{hpf}");
    assert_eq!(hpf["followups"]["in_time"], 1, "{hpf}");
    assert_eq!(hpf["followups"]["overdue_open"], 1, "{hpf}");
    assert!(close(&hpf["followups"]["in_time_rate"], 0.5), "{hpf}");

    // tax: T1 only — A6's return counts against nobody.
    let tax = dept("tax");
    let at = &tax["appeals"];
    assert_eq!(at["received"], 1, "{at}");
    assert!(close(&at["response_rate"], 1.0), "{at}");
    // Closed by its rating of 1: not resolved → 0/1.
    assert!(close(&at["resolution_rate"], 0.0), "{at}");
    assert!(close(&at["satisfaction_rate"], 0.0), "{at}");
    assert!(close(&at["on_time_rate"], 1.0), "{at}");
    assert_eq!(at["by_score"], json!([1, 0, 0, 0, 0]), "{at}");
    // tax's follow-ups: the matter's closed late, T1's (rated 1) never
    // closed: 0/2.
    assert_eq!(tax["followups"]["opened"], 2, "{tax}");
    assert_eq!(tax["followups"]["late"], 1, "{tax}");
    assert_eq!(tax["followups"]["overdue_open"], 1, "{tax}");
    assert!(close(&tax["followups"]["in_time_rate"], 0.0), "{tax}");

    // The platform sums the counts (not the rates): 响应率 (5+1)/(7+1),
    // 解决率 (3+0)/(4+1), 满意率 (2+0)/(3+1), on time (5+1)/(7+1),
    // follow-ups in time 1 of 4.
    let p = &r["platform"];
    let pa = &p["appeals"];
    assert_eq!(pa["received"], 8, "{pa}");
    assert!(close(&pa["response_rate"], 6.0 / 8.0), "{pa}");
    assert!(close(&pa["resolution_rate"], 3.0 / 5.0), "{pa}");
    assert!(close(&pa["satisfaction_rate"], 2.0 / 4.0), "{pa}");
    assert!(close(&pa["on_time_rate"], 6.0 / 8.0), "{pa}");
    assert_eq!(pa["unrated"], 3, "{pa}");
    assert_eq!(pa["by_score"], json!([1, 1, 0, 1, 1]), "{pa}");
    assert!(close(&p["followups"]["in_time_rate"], 0.25), "{p}");
    // February holds none of them.
    let feb = h
        .get_json("/admin/v1/assessment?month=2026-02", VIEWER)
        .await;
    assert_eq!(feb["platform"]["appeals"]["received"], 0, "{feb}");
}

/// The CSV export's columns after `month,dept,name`, each with where it
/// reads in the API's department object (a JSON pointer).
const CSV_COLUMNS: [(&str, &str); 27] = [
    ("appeals_received", "/appeals/received"),
    ("appeal_response_rate", "/appeals/response_rate"),
    ("appeal_resolution_rate", "/appeals/resolution_rate"),
    ("appeal_satisfaction_rate", "/appeals/satisfaction_rate"),
    ("appeal_on_time_rate", "/appeals/on_time_rate"),
    ("appeals_unrated", "/appeals/unrated"),
    ("case_steps_due", "/cases/steps_due"),
    ("case_steps_on_time", "/cases/on_time"),
    ("case_steps_late", "/cases/late"),
    ("case_steps_overdue_open", "/cases/overdue_open"),
    ("case_on_time_rate", "/cases/on_time_rate"),
    ("cases_completed", "/cases/completed"),
    ("cases_rated", "/cases/rated"),
    ("cases_unrated", "/cases/unrated"),
    ("ratings", "/ratings/count"),
    ("ratings_satisfied", "/ratings/satisfied"),
    ("ratings_bad", "/ratings/bad"),
    ("satisfaction_rate", "/ratings/satisfaction_rate"),
    ("followups_opened", "/followups/opened"),
    ("followups_in_time", "/followups/in_time"),
    ("followup_in_time_rate", "/followups/in_time_rate"),
    ("requests", "/traffic/requests"),
    ("errors_5xx", "/traffic/errors"),
    ("availability", "/traffic/availability"),
    ("p50_ms", "/traffic/p50_ms"),
    ("p99_ms", "/traffic/p99_ms"),
    ("zombie_services", "/zombie_services"),
];

/// RFC 4180 records (CRLF after each, `"` quoting); panics on a last
/// record without its CRLF.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (_, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty() && !quoted,
        "the last record ends with CRLF"
    );
    records
}

/// Whether a CSV field says what the API's value does: no data (absent or
/// `null`) is an empty field, numbers are equal, a list is its items
/// separated by spaces.
fn same(field: &str, v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => field.is_empty(),
        Some(Value::Number(n)) => field
            .parse::<f64>()
            .is_ok_and(|x| (x - n.as_f64().unwrap()).abs() < 1e-12),
        Some(Value::String(s)) => field == s,
        Some(Value::Array(a)) => {
            field
                == a.iter()
                    .map(|x| x.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
        }
        Some(_) => false,
    }
}

/// The console's CSV of `month` as `b`: checks the BOM, the headers and
/// the header row; the records after the header row.
async fn csv_export(b: &mut super::console::Browser, month: &str) -> Vec<Vec<String>> {
    let (status, bytes, headers) = b
        .get_bytes(&format!("/console/assessment.csv?month={month}"))
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"onestop-assessment-{month}.csv\"")
    );
    let text = bytes
        .strip_prefix("\u{feff}".as_bytes())
        .expect("UTF-8 with a BOM, for spreadsheets");
    let mut records = csv_records(std::str::from_utf8(text).unwrap());
    let header = records.remove(0);
    let expected: Vec<&str> = ["month", "dept", "name"]
        .into_iter()
        .chain(CSV_COLUMNS.iter().map(|(name, _)| *name))
        .collect();
    assert_eq!(header, expected);
    assert!(
        records.iter().all(|r| r.len() == header.len()),
        "{records:?}"
    );
    records
}

/// The field of `column` in `dept`'s record.
fn field<'a>(records: &'a [Vec<String>], dept: &str, column: &str) -> &'a str {
    let at = CSV_COLUMNS.iter().position(|(c, _)| *c == column).unwrap() + 3;
    let record = records.iter().find(|r| r[1] == dept).unwrap();
    &record[at]
}

/// How the console writes a rate and a latency (`—` for no data).
fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn ms(v: &Value) -> String {
    match v.as_f64() {
        None => "—".to_string(),
        Some(x) if x >= 1000.0 => format!("{:.2} s", x / 1000.0),
        Some(x) => format!("{x:.1} ms"),
    }
}

/// The cells of `dept`'s row of the assessment table (after its name).
fn table_cells(html: &str, row_start: &str) -> Vec<String> {
    let row = super::console::between(html, row_start, "</tr>");
    row.split("<td class=\"num\">")
        .skip(1)
        .map(|c| {
            let c = &c[..c.find("</td>").unwrap()];
            c.trim_start_matches("<b>")
                .trim_end_matches("</b>")
                .to_string()
        })
        .collect()
}

/// The table's cells of a department's (or the platform's) assessment.
fn expected_cells(d: &Value) -> Vec<(usize, String)> {
    let a = &d["appeals"];
    let appeal = |k: &str| {
        if a.is_null() {
            "无数据".to_string()
        } else {
            pct(&a[k])
        }
    };
    vec![
        (0, appeal("response_rate")),
        (1, appeal("resolution_rate")),
        (2, appeal("satisfaction_rate")),
        (3, appeal("on_time_rate")),
        (7, pct(&d["ratings"]["satisfaction_rate"])),
        (9, d["traffic"]["requests"].to_string()),
        (10, pct(&d["traffic"]["availability"])),
        (11, ms(&d["traffic"]["p50_ms"])),
        (12, ms(&d["traffic"]["p99_ms"])),
        (
            13,
            d["zombie_services"].as_array().unwrap().len().to_string(),
        ),
    ]
}

#[tokio::test]
async fn the_csv_export_and_the_printable_page_show_the_apis_figures() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    december(&h).await;
    january_appeals(&h).await;
    // Not without a session.
    let mut anonymous = super::console::Browser::new(&h);
    let (status, _, headers) = anonymous.get("/console/assessment.csv?month=2026-01").await;
    assert_eq!(
        (status, &headers["location"]),
        (303, &"/console/login".parse().unwrap())
    );

    let mut b = super::console::Browser::new(&h);
    b.sign_in(VIEWER).await;
    for month in ["2026-01", "2026-12"] {
        let r = h
            .get_json(&format!("/admin/v1/assessment?month={month}"), VIEWER)
            .await;
        let records = csv_export(&mut b, month).await;
        // The platform first, then every department of the API's answer,
        // each field as the API's figure.
        let rows: Vec<&Value> = std::iter::once(&r["platform"])
            .chain(r["departments"].as_array().unwrap())
            .collect();
        assert_eq!(records.len(), rows.len(), "{records:?}");
        for (record, d) in records.iter().zip(&rows) {
            assert_eq!(record[0], month);
            assert_eq!(record[1], d["dept"].as_str().unwrap());
            assert_eq!(record[2], d["name"].as_str().unwrap());
            for (i, (column, pointer)) in CSV_COLUMNS.iter().enumerate() {
                assert!(
                    same(&record[i + 3], d.pointer(pointer)),
                    "{month} {}: {column} = `{}`, the API says {:?}",
                    record[1],
                    record[i + 3],
                    d.pointer(pointer)
                );
            }
        }

        // The printable page shows the same rows and figures.
        let (status, html, _) = b
            .get(&format!("/console/assessment/print?month={month}"))
            .await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(&format!("<small>{month}</small>")), "{html}");
        assert!(!html.contains("<nav"), "printable: no navigation");
        let platform = table_cells(&html, "<tr class=\"platform\">");
        for (i, text) in expected_cells(&r["platform"]) {
            assert_eq!(platform[i], text, "{month} platform, column {i}");
        }
        for d in r["departments"].as_array().unwrap() {
            let dept = d["dept"].as_str().unwrap();
            let start = format!("<tr data-dept=\"{dept}\">");
            let name = super::console::between(&html, &start, "</td>");
            assert_eq!(
                name,
                format!(
                    "<td>{} <span class=\"muted\">{dept}</span>",
                    d["name"].as_str().unwrap()
                )
            );
            let cells = table_cells(&html, &start);
            assert_eq!(cells.len(), 14, "{month} {dept}: {cells:?}");
            for (i, text) in expected_cells(d) {
                assert_eq!(cells[i], text, "{month} {dept}, column {i}");
            }
        }
    }

    // The figures worked out by hand in the tests above, as exported.
    let jan = csv_export(&mut b, "2026-01").await;
    let num = |records: &[Vec<String>], dept: &str, column: &str| -> f64 {
        field(records, dept, column).parse().unwrap()
    };
    assert_eq!(num(&jan, "hpf", "appeals_received"), 7.0);
    assert!((num(&jan, "hpf", "appeal_response_rate") - 5.0 / 7.0).abs() < 1e-12);
    assert!((num(&jan, "hpf", "appeal_resolution_rate") - 0.75).abs() < 1e-12);
    assert!((num(&jan, "hpf", "appeal_satisfaction_rate") - 2.0 / 3.0).abs() < 1e-12);
    assert!((num(&jan, "hpf", "appeal_on_time_rate") - 5.0 / 7.0).abs() < 1e-12);
    assert_eq!(num(&jan, "hpf", "appeals_unrated"), 3.0);
    assert!((num(&jan, "hpf", "followup_in_time_rate") - 0.5).abs() < 1e-12);
    assert!((num(&jan, "tax", "appeal_resolution_rate")).abs() < 1e-12);
    assert_eq!(num(&jan, "platform", "appeals_received"), 8.0);
    assert!((num(&jan, "platform", "appeal_response_rate") - 6.0 / 8.0).abs() < 1e-12);
    // No traffic in January: no availability, an empty field (never 0).
    assert_eq!(field(&jan, "hpf", "availability"), "");
    let dec = csv_export(&mut b, "2026-12").await;
    assert_eq!(num(&dec, "hpf", "requests"), 1_000.0);
    assert_eq!(num(&dec, "hpf", "errors_5xx"), 4.0);
    assert!((num(&dec, "hpf", "availability") - 0.996).abs() < 1e-12);
    assert!((num(&dec, "hpf", "p50_ms") - 8.125).abs() < 1e-12);
    assert!((num(&dec, "hpf", "p99_ms") - 242.5).abs() < 1e-12);
    assert!((num(&dec, "hpf", "case_on_time_rate") - 0.5).abs() < 1e-12);
    assert_eq!(num(&dec, "hpf", "cases_completed"), 2.0);
    assert!((num(&dec, "hpf", "satisfaction_rate") - 0.5).abs() < 1e-12);
    assert_eq!(num(&dec, "platform", "requests"), 1_050.0);

    // A scoped operator's export: the platform and their department only,
    // the platform's totals unchanged.
    let mut s = super::console::Browser::new(&h);
    s.sign_in(HPF_EDITOR).await;
    let scoped = csv_export(&mut s, "2026-12").await;
    let depts: Vec<&str> = scoped.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(depts, ["platform", "hpf"]);
    assert_eq!(scoped[0], dec[0]);
    let (_, html, _) = s.get("/console/assessment/print?month=2026-12").await;
    assert!(html.contains("<tr data-dept=\"hpf\">"), "{html}");
    assert!(!html.contains("<tr data-dept=\"tax\">"), "{html}");
    assert!(!html.contains("税务局"), "{html}");
}

/// The value of the sample of `name` with exactly `labels` in a
/// Prometheus text exposition.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: std::collections::BTreeSet<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{')?;
        let got: std::collections::BTreeSet<(String, String)> = rest
            .trim_end_matches('}')
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.trim_matches('"').to_string()))
            })
            .collect();
        (n == name && got == want).then(|| value.parse().unwrap())
    })
}

#[tokio::test]
async fn publishing_the_current_month_sets_the_assessment_gauges_to_its_figures() {
    let h = Harness::start().await;
    // 200 requests of hpf in this hour, 2 of them 5xx.
    let now = now_ms();
    h.store
        .add_traffic(&[TrafficDelta {
            span_ms: HOUR_MS,
            start_ms: now - now.rem_euclid(HOUR_MS),
            dept: "hpf".into(),
            gateway: "gw-a".into(),
            counts: counts(200, 2, 150),
        }])
        .await
        .unwrap();
    crate::assessment_api::publish_gauges(&h.state)
        .await
        .unwrap();
    let r = h.get_json("/admin/v1/assessment", VIEWER).await;
    let metrics = h
        .req("GET", "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hpf = r["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dept"] == "hpf")
        .unwrap();
    // By hand: 198 of 200 answered → 99 %.
    assert!(close(&hpf["traffic"]["availability"], 0.99), "{hpf}");
    assert_eq!(
        sample(
            &metrics,
            "onestop_assessment_ratio",
            &[("dept", "hpf"), ("measure", "availability")]
        ),
        Some(0.99)
    );
    let rows = std::iter::once(&r["platform"]).chain(r["departments"].as_array().unwrap());
    for d in rows {
        let id = d["dept"].as_str().unwrap();
        assert_eq!(
            sample(&metrics, "onestop_assessment_requests", &[("dept", id)]),
            d["traffic"]["requests"].as_f64(),
            "{id}"
        );
        // A rate without data has no sample (never a 0).
        for (measure, pointer) in [
            ("availability", "/traffic/availability"),
            ("case_on_time", "/cases/on_time_rate"),
            ("satisfaction", "/ratings/satisfaction_rate"),
            ("followup_in_time", "/followups/in_time_rate"),
            ("appeal_response", "/appeals/response_rate"),
            ("appeal_resolution", "/appeals/resolution_rate"),
            ("appeal_satisfaction", "/appeals/satisfaction_rate"),
            ("appeal_on_time", "/appeals/on_time_rate"),
        ] {
            assert_eq!(
                sample(
                    &metrics,
                    "onestop_assessment_ratio",
                    &[("dept", id), ("measure", measure)]
                ),
                d.pointer(pointer).and_then(Value::as_f64),
                "{id} {measure}"
            );
        }
        for (quantile, key) in [("0.5", "p50_ms"), ("0.99", "p99_ms")] {
            assert_eq!(
                sample(
                    &metrics,
                    "onestop_assessment_latency_seconds",
                    &[("dept", id), ("quantile", quantile)]
                ),
                d["traffic"][key].as_f64().map(|ms| ms / 1000.0),
                "{id} {quantile}"
            );
        }
        assert_eq!(
            sample(
                &metrics,
                "onestop_assessment_zombie_services",
                &[("dept", id)]
            ),
            Some(d["zombie_services"].as_array().unwrap().len() as f64),
            "{id}"
        );
    }
}
