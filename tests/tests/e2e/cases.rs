//! Composite matters (一件事一次办) end to end, against the simulated fleet's
//! idempotent application endpoints: the three demo life events each run as
//! one case across four departments; a step refused for good undoes the
//! done steps in reverse order, once each; a gateway killed mid-case
//! resumes it after a restart without any step running twice; citizens
//! see and rate only their own cases; a rating of 1 opens a follow-up
//! operators see with its deadline. Every count is taken at the backends
//! (the fleet's ledgers), not from the gateway's own record.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use onestop_tests::secure::Secure;
use onestop_tests::{Gateway, Sim, wait_for};
use serde_json::{Value, json};

/// Short leases and scans so a killed gateway's cases are taken over fast.
const CASES: &str = r#"
[cases]
lease = "2s"
scan_interval = "200ms"
retry_backoff = "50ms"
step_timeout = "5s"
"#;

/// A one-step errand whose statutory deadline passes while its department
/// is slow: the operators' overdue list.
const ERRAND: &str = r#"
[[composite]]
id = "power-errand"
name = "用电报修"
input = []

[[composite.steps]]
id = "repair"
dept = "power"
path = "/api/v1/depts/power/applications/repair"
body = { fault = "停电" }
deadline = "300ms"
"#;

/// Departments 0..16 of the fleet hold every department the demo's life
/// events use (police, hrss, civil, hpf, water, power, gas, market).
const DEPARTMENTS: usize = 16;

async fn setup() -> (Sim, Gateway, Secure) {
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let mut extra = onestop::fleet_config::life_events_toml(&sim.manifest);
    assert_eq!(extra.matches("[[composite]]").count(), 3, "{extra}");
    extra.push_str(CASES);
    extra.push_str(ERRAND);
    let gw = secure.gateway(&sim, &[], &[], &extra).await;
    (sim, gw, secure)
}

/// A department's ledger at the fleet: every application and the counts.
async fn ledger(sim: &Sim, dept: &str) -> Value {
    let url = format!(
        "http://{}/fleet/departments/{dept}/applications",
        sim.manifest.control
    );
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn submit(
    http: &reqwest::Client,
    gw: &Gateway,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = http.post(gw.url("/api/v1/me/cases")).json(&body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(http: &reqwest::Client, gw: &Gateway, path: &str) -> (u16, Value) {
    let r = http.get(gw.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Polls the case until it is no longer running or compensating.
async fn finished(http: &reqwest::Client, gw: &Gateway, id: &str, within: Duration) -> Value {
    let path = format!("/api/v1/me/cases/{id}");
    let deadline = Instant::now() + within;
    loop {
        let (status, case) = get(http, gw, &path).await;
        assert_eq!(status, 200, "{case}");
        if !matches!(case["state"].as_str(), Some("running" | "compensating")) {
            return case;
        }
        assert!(
            Instant::now() < deadline,
            "case {id} not finished within {within:?}: {case}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every instance of `dept` answers after `ms`.
async fn slow(sim: &Sim, dept: &str, ms: u64) {
    for i in &sim.dept(dept).instances {
        sim.set_faults(&i.id, json!({ "latency_ms": ms })).await;
    }
}

/// Submits the moving-house life event; the case number.
async fn move_house(http: &reqwest::Client, gw: &Gateway) -> String {
    let body = json!({"matter": "moving-house", "input": forms()[1].1});
    let (status, case) = submit(http, gw, body, None).await;
    assert_eq!(status, 201, "{case}");
    case["id"].as_str().unwrap().to_owned()
}

fn step<'a>(case: &'a Value, id: &str) -> &'a Value {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {case}"))
}

/// The application a step filed, as its department's ledger holds it.
fn application<'a>(ledger: &'a Value, id: &str) -> &'a Value {
    ledger["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no application {id} in {ledger}"))
}

/// A life event: its id, a form, and its steps with their departments.
type LifeEvent = (&'static str, Value, [(&'static str, &'static str); 4]);

fn forms() -> [LifeEvent; 3] {
    [
        (
            "newborn",
            json!({"child_name": "张小宝", "birth_date": "2026-11-20"}),
            [
                ("household", "police"),
                ("insurance", "hrss"),
                ("allowance", "civil"),
                ("withdrawal", "hpf"),
            ],
        ),
        (
            "moving-house",
            json!({"new_address": "渝中区解放碑街道 1 号", "move_date": "2026-12-01"}),
            [
                ("residence", "police"),
                ("water", "water"),
                ("power", "power"),
                ("gas", "gas"),
            ],
        ),
        (
            "opening-business",
            json!({"company_name": "重庆一站式科技有限公司", "capital": 1000000, "address": "两江新区 8 号"}),
            [
                ("licence", "market"),
                ("seal", "police"),
                ("social-security", "hrss"),
                ("provident-fund", "hpf"),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_events_run_as_one_case_each_and_only_their_citizen_sees_and_rates_them() {
    let (sim, gw, secure) = setup().await;
    let me = sim.manifest.citizens[0].id.clone();
    let other = sim.manifest.citizens[1].id.clone();
    let http = secure.client(Some(&me));
    let stranger = secure.client(Some(&other));

    // What one can submit.
    let (status, events) = get(&http, &gw, "/api/v1/me/life-events").await;
    assert_eq!(status, 200, "{events}");
    let ids: Vec<&str> = events["life_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "moving-house",
            "newborn",
            "opening-business",
            "power-errand"
        ]
    );

    // Each life event: one submission, one case, every step done once.
    let mut cases = BTreeMap::new();
    for (matter, input, steps) in forms() {
        let t0 = Instant::now();
        let (status, case) =
            submit(&http, &gw, json!({"matter": matter, "input": input}), None).await;
        assert_eq!(status, 201, "{case}");
        assert_eq!(case["matter"], matter);
        let id = case["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 20, "case number {id}");
        let case = finished(&http, &gw, &id, Duration::from_secs(20)).await;
        let took = t0.elapsed();
        assert_eq!(case["state"], "completed", "{case}");
        assert_eq!(case["progress"], json!({"done": 4, "total": 4}), "{case}");
        let mut depts: Vec<&str> = Vec::new();
        for (step_id, dept) in steps {
            let s = step(&case, step_id);
            assert_eq!(s["state"], "done", "{s}");
            assert_eq!(s["dept"], dept, "{s}");
            assert_eq!(s["attempts"], 1, "{s}");
            assert!(s["deadline"].as_str().is_some(), "{s}");
            let app = s["output"]["application_id"].as_str().unwrap();
            let l = ledger(&sim, dept).await;
            let filed = application(&l, app);
            assert_eq!(filed["citizen"], me.as_str(), "{filed}");
            assert_eq!(filed["status"], "accepted", "{filed}");
            depts.push(dept);
        }
        // The first step is done before the others start: its
        // application precedes theirs at the fleet.
        let first = step(&case, steps[0].0)["output"]["seq"].as_u64().unwrap();
        for (step_id, _) in &steps[1..] {
            assert!(step(&case, step_id)["output"]["seq"].as_u64().unwrap() > first);
        }
        println!(
            "{matter}: one case {id}, 4 steps across {depts:?} done in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
        cases.insert(matter, id);
    }
    // At the backends: every application executed exactly once.
    let mut applied = 0;
    for dept in [
        "police", "hrss", "civil", "hpf", "water", "power", "gas", "market",
    ] {
        let l = ledger(&sim, dept).await;
        assert_eq!(l["max_executions_per_key"], 1, "{dept}: {l}");
        assert_eq!(l["executions"]["withdraw"], 0, "{dept}: {l}");
        applied += l["executions"]["apply"].as_u64().unwrap();
    }
    assert_eq!(applied, 12, "3 cases x 4 steps");

    // Submitting again with one Idempotency-Key is one case.
    let body = json!({"matter": "moving-house", "input": forms()[1].1});
    let (s1, c1) = submit(&http, &gw, body.clone(), Some("form-42")).await;
    let (s2, c2) = submit(&http, &gw, body, Some("form-42")).await;
    assert_eq!((s1, s2), (201, 200), "{c1} {c2}");
    assert_eq!(c1["id"], c2["id"]);
    let keyed = c1["id"].as_str().unwrap().to_owned();
    finished(&http, &gw, &keyed, Duration::from_secs(20)).await;
    assert_eq!(ledger(&sim, "gas").await["executions"]["apply"], 2);

    // The citizen's list, newest first; nobody else's.
    let (status, list) = get(&http, &gw, "/api/v1/me/cases").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{list}");
    assert_eq!(listed[0], keyed);
    let (_, theirs) = get(&stranger, &gw, "/api/v1/me/cases").await;
    assert_eq!(theirs["cases"], json!([]), "{theirs}");

    // The inbox tells the citizen of each case's steps and its end (with a
    // rating invitation), once each; nobody else hears of them.
    let (status, inbox) = get(&http, &gw, "/api/v1/me/messages?limit=500").await;
    assert_eq!(status, 200, "{inbox}");
    for id in cases.values().chain([&keyed]) {
        let mut kinds: Vec<&str> = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["subject"] == id.as_str())
            .map(|m| m["kind"].as_str().unwrap())
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                "case.completed",
                "case.progress",
                "case.progress",
                "case.progress",
                "case.progress",
                "rating.invitation"
            ],
            "case {id}: {inbox}"
        );
    }
    let (_, theirs) = get(&stranger, &gw, "/api/v1/me/messages").await;
    assert_eq!(theirs["messages"], json!([]), "{theirs}");

    // Another citizen can neither see nor rate it: the same 404 as a case
    // that does not exist.
    let newborn = &cases["newborn"];
    let (status, body) = get(&stranger, &gw, &format!("/api/v1/me/cases/{newborn}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "CASE_NOT_FOUND");
    let (status, none) = get(&http, &gw, "/api/v1/me/cases/20260101000000000000").await;
    assert_eq!(status, 404);
    assert_eq!(none["error"]["code"], body["error"]["code"]);
    let r = stranger
        .post(gw.url(&format!("/api/v1/me/cases/{newborn}/rating")))
        .json(&json!({"score": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The citizen rates it 1: a follow-up for the lead department (police),
    // due in 5 days, that operators see.
    let rated_at = std::time::SystemTime::now();
    let r = http
        .post(gw.url(&format!("/api/v1/me/cases/{newborn}/rating")))
        .json(&json!({"score": 1, "tags": ["材料重复提交"], "comment": "等了很久"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rating: Value = r.json().await.unwrap();
    assert_eq!(rating["dept"], "police");
    let followup_id = rating["followup_id"].as_i64().expect("a follow-up");
    let again = http
        .post(gw.url(&format!("/api/v1/me/cases/{newborn}/rating")))
        .json(&json!({"score": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let r = gw
        .admin_request(reqwest::Method::GET, "/followups?dept=police")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let followups: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{followups}");
    let list = followups["followups"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{followups}");
    let f = &list[0];
    assert_eq!(f["id"], followup_id);
    assert_eq!(f["state"], "open");
    assert_eq!(f["subject"], json!({"kind": "case", "id": newborn}));
    let due = humantime::parse_rfc3339(f["due"].as_str().unwrap()).unwrap();
    let in_days = due.duration_since(rated_at).unwrap().as_secs_f64() / 86_400.0;
    assert!((4.99..5.01).contains(&in_days), "due in {in_days} days");
    let stats = gw.admin_get("/ratings/stats").await;
    let police = stats["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dept"] == "police")
        .unwrap()
        .clone();
    assert_eq!(police["count"], 1);
    assert_eq!(police["by_score"]["1"], 1);
    assert_eq!(police["followups_open"], 1);
    println!(
        "rating 1 on {newborn}: follow-up {followup_id} for police due {} ({in_days:.3} days)",
        f["due"]
    );
    // The department calls back and closes it, once.
    let close = format!("/followups/{followup_id}/close");
    let (status, closed) = gw
        .admin_post(&close, json!({"note": "已回访，材料共享已打通"}))
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["closed_by"], "operator:test-operator");
    let (status, again) = gw.admin_post(&close, json!({"note": "again"})).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    let open = gw.admin_get("/followups?dept=police").await;
    assert_eq!(open["followups"], json!([]), "{open}");

    // One matter call rated 2: a follow-up for that department.
    let rate = |body: Value| http.post(gw.url("/api/v1/me/ratings")).json(&body).send();
    let r = rate(json!({"dept": "water", "matter": "bills", "request_id": "req-abc-1", "score": 2, "tags": ["超时"]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rating: Value = r.json().await.unwrap();
    assert_eq!(rating["subject"]["kind"], "matter", "{rating}");
    assert!(rating["followup_id"].as_i64().is_some(), "{rating}");
    let water = gw.admin_get("/followups?dept=water").await;
    assert_eq!(water["followups"].as_array().unwrap().len(), 1, "{water}");
    for (body, gist) in [
        (
            json!({"dept": "nowhere", "matter": "m", "request_id": "r", "score": 3}),
            "unknown department",
        ),
        (
            json!({"dept": "water", "matter": "bills", "request_id": "req-abc-2", "score": 9}),
            "score must be 1 to 5",
        ),
    ] {
        let r = rate(body).await.unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(text.contains(gist), "{text}");
    }

    // Bad input is a clear 400/404 and starts nothing.
    for (body, status, gist) in [
        (
            json!({"matter": "nope", "input": {}}),
            404,
            "MATTER_NOT_FOUND",
        ),
        (
            json!({"matter": "newborn", "input": {"child_name": "x"}}),
            400,
            "input.birth_date is required",
        ),
        (
            json!({"matter": "newborn", "input": {"child_name": "x", "birth_date": "y", "eye": 1}}),
            400,
            "input.eye",
        ),
        (
            json!({"matter": "opening-business", "input": {"company_name": "x", "capital": "lots", "address": "y"}}),
            400,
            "input.capital must be a number",
        ),
        (json!({"input": {}}), 400, "matter"),
    ] {
        let (s, answer) = submit(&http, &gw, body.clone(), None).await;
        assert_eq!(s, status, "{body}: {answer}");
        assert!(answer.to_string().contains(gist), "{body}: {answer}");
    }
    let anonymous = onestop_tests::client()
        .post(gw.url("/api/v1/me/cases"))
        .header("x-onestop-app-key", secure.app_key())
        .json(&json!({"matter": "newborn", "input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        ledger(&sim, "police").await["executions"]["apply"],
        4,
        "3 + the keyed case's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_refused_for_good_undoes_the_done_steps_in_reverse_order_once_each() {
    let (sim, gw, secure) = setup().await;
    let me = sim.manifest.citizens[2].id.clone();
    let http = secure.client(Some(&me));
    // The gas company refuses account transfers (a permanent 422); it is
    // also slow, so water and power are done before it answers.
    let url = format!(
        "http://{}/fleet/departments/gas/applications",
        sim.manifest.control
    );
    let r = onestop_tests::client()
        .put(url)
        .json(&json!({"reject": ["account-transfer"]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    slow(&sim, "gas", 300).await;
    let id = move_house(&http, &gw).await;
    let case = finished(&http, &gw, &id, Duration::from_secs(30)).await;
    assert_eq!(case["state"], "failed", "{case}");
    let failure = case["failure"].as_str().unwrap();
    assert!(
        failure.contains("gas") && failure.contains("APPLICATION_REJECTED"),
        "{failure}"
    );
    assert_eq!(step(&case, "gas")["state"], "failed");
    assert_eq!(
        step(&case, "gas")["attempts"],
        1,
        "a refusal is not retried"
    );

    // Every done step compensated, latest done first: the gateway's order…
    let mut done: Vec<(u64, &str, &str)> = [
        ("residence", "police"),
        ("water", "water"),
        ("power", "power"),
    ]
    .iter()
    .map(|(s, d)| {
        let st = step(&case, s);
        assert_eq!(st["state"], "compensated", "{st}");
        (st["done_order"].as_u64().unwrap(), *s, *d)
    })
    .collect();
    done.sort();
    assert_eq!(done[0].1, "residence", "the first step is done first");
    // …and the backends': each application withdrawn exactly once, in
    // reverse of the order the steps were done.
    let mut withdrawn = Vec::new();
    for (_, s, dept) in &done {
        let l = ledger(&sim, dept).await;
        assert_eq!(l["executions"]["withdraw"], 1, "{dept}: {l}");
        assert_eq!(l["executions"]["apply"], 1, "{dept}: {l}");
        assert_eq!(l["max_executions_per_key"], 1, "{dept}: {l}");
        let app = application(
            &l,
            step(&case, s)["output"]["application_id"].as_str().unwrap(),
        );
        assert_eq!(app["status"], "withdrawn", "{app}");
        withdrawn.push((app["withdrawn_seq"].as_u64().unwrap(), *s));
    }
    let mut by_time = withdrawn.clone();
    by_time.sort();
    let order: Vec<&str> = by_time.iter().map(|(_, s)| *s).collect();
    let expected: Vec<&str> = done.iter().rev().map(|(_, s, _)| *s).collect();
    assert_eq!(order, expected, "withdrawn at the fleet in reverse order");
    let gas = ledger(&sim, "gas").await;
    assert_eq!(gas["executions"]["rejected"], 1, "{gas}");
    assert_eq!(gas["executions"]["withdraw"], 0, "{gas}");
    println!(
        "moving-house with gas refusing: failed; compensated {order:?} (reverse of done order), 1 withdrawal each at the backends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_case_resumes_it_after_restart_and_no_step_runs_twice() {
    let (sim, mut gw, secure) = setup().await;
    let me = sim.manifest.citizens[3].id.clone();
    let http = secure.client(Some(&me));
    // Power is slow: the case is mid-flight (police done, power on its
    // way) when the gateway is killed.
    slow(&sim, "power", 1500).await;
    let id = move_house(&http, &gw).await;
    let path = format!("/api/v1/me/cases/{id}");
    let mid = wait_for(Duration::from_secs(10), || async {
        let (_, c) = get(&http, &gw, &path).await;
        step(&c, "water")["state"] == "done" && step(&c, "power")["state"] == "running"
    })
    .await;
    assert!(mid.is_some(), "the case never reached mid-flight");
    let (_, before) = get(&http, &gw, &path).await;
    assert_eq!(before["state"], "running");
    // A one-step errand at the slow power company outlives its 300 ms
    // deadline: operators see it in the overdue list, the citizen sees it
    // marked overdue.
    let (status, errand) = submit(&http, &gw, json!({"matter": "power-errand"}), None).await;
    assert_eq!(status, 201, "{errand}");
    let errand = errand["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let overdue = gw.admin_get("/cases/overdue").await;
    let listed: Vec<&str> = overdue["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [errand.as_str()], "{overdue}");
    let (_, mine) = get(&http, &gw, &format!("/api/v1/me/cases/{errand}")).await;
    assert_eq!(mine["overdue"], true, "{mine}");
    assert_eq!(step(&mine, "repair")["overdue"], true, "{mine}");
    gw.proc.kill();
    let killed = Instant::now();
    // Power answers quickly from now on.
    slow(&sim, "power", 0).await;
    gw.proc = Gateway::spawn_serve(gw.dir.path(), &[], "gateway-2.log");
    gw.wait_ready(Duration::from_secs(30)).await;
    let case = finished(&http, &gw, &id, Duration::from_secs(30)).await;
    let resumed_in = killed.elapsed();
    let errand_case = finished(&http, &gw, &errand, Duration::from_secs(30)).await;
    assert_eq!(errand_case["state"], "completed", "{errand_case}");
    assert_eq!(gw.admin_get("/cases/overdue").await["cases"], json!([]));
    let repairs = ledger(&sim, "power").await["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "repair")
        .count();
    assert_eq!(repairs, 1, "the errand's step ran once too");
    assert_eq!(case["state"], "completed", "{case}");
    assert!(
        gw.log().contains("case_resumed"),
        "the restarted gateway took the case over"
    );
    let mut executions = BTreeMap::new();
    for (s, dept) in forms()[1].2 {
        assert_eq!(step(&case, s)["state"], "done");
        let l = ledger(&sim, dept).await;
        let own = l["applications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] != "repair")
            .count();
        assert_eq!(own, 1, "{dept} ran its step once: {l}");
        assert_eq!(l["max_executions_per_key"], 1, "{dept}: {l}");
        executions.insert(
            dept,
            (l["executions"]["apply"].clone(), l["replays"].clone()),
        );
    }
    println!(
        "killed mid-case (power in flight, {} attempts recorded): completed {:.2} s after the kill; executions/replays per department {executions:?}",
        step(&before, "power")["attempts"],
        resumed_in.as_secs_f64()
    );
}
