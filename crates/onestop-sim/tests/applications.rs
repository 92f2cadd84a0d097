//! Applications, the steps of a composite matter (一件事一次办): idempotent
//! execution under `Idempotency-Key`, withdrawals, rejected kinds, the
//! fleet-wide event order and the control API's ledgers — on real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, time::Duration};

use futures::future::join_all;
use onestop_sim::{CITIZEN_HEADER, Fleet, FleetOptions, signature};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use support::*;

/// hrss, hpf, water, power, gas (HTTP) and traffic (gRPC).
async fn start_six() -> Fleet {
    Fleet::start(FleetOptions {
        departments: 6,
        citizens: 100,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

fn addr(fleet: &Fleet, dept_id: &str, ordinal: usize) -> SocketAddr {
    dept(fleet.manifest(), dept_id).instances[ordinal].addr
}

/// The example citizen `i` (the first ten are known to every department).
fn citizen(fleet: &Fleet, i: usize) -> String {
    fleet.manifest().citizens[i].id.clone()
}

/// One request to a department: the status, headers and body text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }
}

/// A POST as the gateway sends it (unsigned fleet): the citizen in
/// `x-onestop-citizen`, an optional key, a raw body.
async fn post(
    to: SocketAddr,
    path: &str,
    who: Option<&str>,
    key: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = client()
        .post(url(to, path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(who) = who {
        req = req.header(CITIZEN_HEADER, who);
    }
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let res = req.send().await.expect("request sent");
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
        text: res.text().await.unwrap(),
    }
}

fn apply_path(dept: &str, kind: &str) -> String {
    format!("/api/v1/depts/{dept}/applications/{kind}")
}

fn withdraw_path(dept: &str, kind: &str, id: &str) -> String {
    format!("/api/v1/depts/{dept}/applications/{kind}/{id}/withdraw")
}

async fn ledger(fleet: &Fleet, dept: &str) -> Value {
    let path = format!("/fleet/departments/{dept}/applications");
    let (status, body) = control(fleet, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn set_reject(fleet: &Fleet, dept: &str, kinds: &[&str]) -> Value {
    let path = format!("/fleet/departments/{dept}/applications");
    let (status, body) = control(fleet, Method::PUT, &path, Some(json!({ "reject": kinds }))).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn executions(ledger: &Value) -> (u64, u64, u64) {
    let e = &ledger["executions"];
    (
        e["apply"].as_u64().unwrap(),
        e["withdraw"].as_u64().unwrap(),
        e["rejected"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_key_executes_once_and_replays_its_answer_on_every_instance() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 0);
    let path = apply_path("hpf", "housing-permit");
    let body = json!({ "note": "首套", "amount_fen": 100, "citizen": a }).to_string();

    let first = post(
        addr(&fleet, "hpf", 0),
        &path,
        None,
        Some("case-1:step-1"),
        &body,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(!first.replayed());
    let doc = first.json();
    assert_eq!(doc["application_id"], "HPF-housing-permit-000001");
    assert_eq!(doc["kind"], "housing-permit");
    assert_eq!(doc["dept"], "hpf");
    assert_eq!(doc["citizen_id"], a.as_str());
    assert_eq!(doc["status"], "accepted");
    assert_eq!(
        doc["received"],
        json!({ "note": "首套", "amount_fen": 100 })
    );
    assert!(doc["seq"].as_u64().unwrap() >= 1);

    // The same request again, on the same instance and on another one (one
    // database per department): the stored answer, byte for byte.
    for ordinal in [0, 1, 2] {
        let again = post(
            addr(&fleet, "hpf", ordinal),
            &path,
            None,
            Some("case-1:step-1"),
            &body,
        )
        .await;
        assert_eq!(again.status, 201);
        assert_eq!(again.text, first.text, "hpf-{ordinal}");
        assert!(again.replayed(), "hpf-{ordinal}");
        assert_eq!(
            again.headers["x-sim-instance"],
            format!("hpf-{ordinal}").as_str()
        );
    }
    let l = ledger(&fleet, "hpf").await;
    assert_eq!(executions(&l), (1, 0, 0), "{l}");
    assert_eq!(
        (l["replays"].as_u64(), l["max_executions_per_key"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(l["keys"], 1);
    assert_eq!(l["applications"].as_array().unwrap().len(), 1);

    // The key on another request: another body, kind, department path or
    // citizen — refused, nothing executed.
    let other_body = json!({ "note": "二套", "amount_fen": 100, "citizen": a }).to_string();
    let answers = [
        post(
            addr(&fleet, "hpf", 1),
            &path,
            None,
            Some("case-1:step-1"),
            &other_body,
        )
        .await,
        post(
            addr(&fleet, "hpf", 2),
            &apply_path("hpf", "other"),
            None,
            Some("case-1:step-1"),
            &body,
        )
        .await,
        post(
            addr(&fleet, "hpf", 0),
            &path,
            Some(&a),
            Some("case-1:step-1"),
            &body,
        )
        .await,
    ];
    for answer in &answers {
        assert_eq!(answer.status, 422, "{}", answer.text);
        assert_eq!(answer.code(), "IDEMPOTENCY_KEY_REUSED");
        assert!(!answer.replayed());
    }
    // Keys belong to one department: hrss executes its own.
    let hrss = post(
        addr(&fleet, "hrss", 0),
        &apply_path("hrss", "housing-permit"),
        None,
        Some("case-1:step-1"),
        &body,
    )
    .await;
    assert_eq!(hrss.status, 201, "{}", hrss.text);
    assert!(!hrss.replayed());
    assert_eq!(hrss.json()["application_id"], "HRSS-housing-permit-000001");

    // Without a key, every request executes.
    for n in 2..=3 {
        let answer = post(addr(&fleet, "hpf", 1), &path, None, None, &body).await;
        assert_eq!(answer.status, 201);
        assert_eq!(
            answer.json()["application_id"],
            format!("HPF-housing-permit-{n:06}")
        );
    }
    let l = ledger(&fleet, "hpf").await;
    assert_eq!(executions(&l), (3, 0, 0), "{l}");
    assert_eq!(l["replays"], 3);
    assert_eq!(l["max_executions_per_key"], 1);
    fleet.shutdown().await;
}

// Several worker threads: the instances' handlers really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_execute_once() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 1);
    // Latency holds them all back, so that they arrive together.
    let (status, _) = control(
        &fleet,
        Method::PUT,
        "/fleet/departments/hpf/faults",
        Some(json!({ "latency_ms": 150 })),
    )
    .await;
    assert_eq!(status, 200);
    let path = apply_path("hpf", "loan");
    let body = json!({ "amount_fen": 5 }).to_string();
    let answers = join_all((0..20).map(|i| {
        let to = addr(&fleet, "hpf", i % 3);
        let (path, body, a) = (path.clone(), body.clone(), a.clone());
        async move { post(to, &path, Some(&a), Some("one-key"), &body).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 201, "{}", answer.text);
        assert_eq!(answer.text, answers[0].text, "20 identical answers");
    }
    let replayed = answers.iter().filter(|a| a.replayed()).count();
    assert_eq!(replayed, 19);
    let l = ledger(&fleet, "hpf").await;
    assert_eq!(executions(&l), (1, 0, 0), "{l}");
    assert_eq!(l["replays"], 19);
    assert_eq!(l["max_executions_per_key"], 1);
    assert_eq!(l["applications"][0]["citizen"], a.as_str());
    fleet.shutdown().await;
}

#[tokio::test]
async fn withdrawals_undo_once_and_only_for_their_citizen() {
    let fleet = start_six().await;
    let (a, b) = (citizen(&fleet, 2), citizen(&fleet, 3));
    let water = addr(&fleet, "water", 0);
    let applied = post(
        water,
        &apply_path("water", "connection"),
        Some(&a),
        None,
        "{}",
    )
    .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let applied = applied.json();
    let id = applied["application_id"].as_str().unwrap().to_owned();
    assert_eq!(id, "WATER-connection-000001");
    let withdraw = withdraw_path("water", "connection", &id);

    // Somebody else's: 404, stored under its key like any answer.
    let miss = post(water, &withdraw, Some(&b), Some("w-miss"), "").await;
    assert_eq!(miss.status, 404, "{}", miss.text);
    assert_eq!(miss.code(), "APPLICATION_NOT_FOUND");
    let again = post(water, &withdraw, Some(&b), Some("w-miss"), "").await;
    assert_eq!(
        (again.status, again.replayed()),
        (StatusCode::NOT_FOUND, true)
    );
    // Another kind, an unknown id: the same answer.
    for path in [
        withdraw_path("water", "other", &id),
        withdraw_path("water", "connection", "WATER-connection-000002"),
    ] {
        let answer = post(water, &path, Some(&a), None, "").await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        assert_eq!(answer.code(), "APPLICATION_NOT_FOUND");
    }

    let first = post(
        addr(&fleet, "water", 1),
        &withdraw,
        Some(&a),
        Some("w-1"),
        "",
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(!first.replayed());
    let doc = first.json();
    assert_eq!(doc["application_id"], id.as_str());
    assert_eq!(doc["status"], "withdrawn");
    assert!(doc["seq"].as_u64().unwrap() > applied["seq"].as_u64().unwrap());

    let again = post(water, &withdraw, Some(&a), None, "").await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.code(), "ALREADY_WITHDRAWN");
    let replay = post(
        addr(&fleet, "water", 2),
        &withdraw,
        Some(&a),
        Some("w-1"),
        "",
    )
    .await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.text, first.text);
    assert!(replay.replayed());
    // A body naming the citizen works as well as the header.
    let named = post(
        water,
        &withdraw,
        None,
        None,
        &json!({ "citizen": a }).to_string(),
    )
    .await;
    assert_eq!(named.code(), "ALREADY_WITHDRAWN");

    let l = ledger(&fleet, "water").await;
    assert_eq!(executions(&l), (1, 1, 0), "{l}");
    assert_eq!(l["replays"], 2);
    assert_eq!(
        l["applications"],
        json!([{
            "id": id,
            "kind": "connection",
            "citizen": a,
            "status": "withdrawn",
            "applied_seq": applied["seq"],
            "withdrawn_seq": doc["seq"],
        }])
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn rejected_kinds_are_refused_permanently_and_counted() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 0);
    let report = set_reject(&fleet, "power", &["meter-change", "forbidden"]).await;
    assert_eq!(report["reject"], json!(["forbidden", "meter-change"]));
    assert_eq!(report["dept"], "power");

    let path = apply_path("power", "forbidden");
    let refused = post(addr(&fleet, "power", 0), &path, Some(&a), Some("r-1"), "{}").await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.code(), "APPLICATION_REJECTED");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forbidden")
    );
    // Stored under its key like any answer, even once the kind is allowed.
    set_reject(&fleet, "power", &[]).await;
    let replay = post(addr(&fleet, "power", 1), &path, Some(&a), Some("r-1"), "{}").await;
    assert_eq!(
        (replay.status, replay.text.as_str()),
        (refused.status, refused.text.as_str())
    );
    assert!(replay.replayed());
    // Without the key the kind is now accepted.
    let accepted = post(addr(&fleet, "power", 1), &path, Some(&a), None, "{}").await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!(accepted.json()["application_id"], "POWER-forbidden-000001");

    let l = ledger(&fleet, "power").await;
    assert_eq!(executions(&l), (1, 0, 1), "{l}");
    assert_eq!(l["replays"], 1);
    assert_eq!(l["reject"], json!([]));
    fleet.shutdown().await;
}

#[tokio::test]
async fn seq_orders_events_across_departments() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 4);
    let mut seqs = Vec::new();
    let mut ids = Vec::new();
    for dept in ["hrss", "hpf", "gas", "hpf", "water", "hrss"] {
        let answer = post(
            addr(&fleet, dept, 0),
            &apply_path(dept, "step"),
            Some(&a),
            None,
            "{}",
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let doc = answer.json();
        seqs.push(doc["seq"].as_u64().unwrap());
        ids.push((dept, doc["application_id"].as_str().unwrap().to_owned()));
    }
    let (dept, id) = &ids[1];
    let withdrawn = post(
        addr(&fleet, dept, 2),
        &withdraw_path(dept, "step", id),
        Some(&a),
        None,
        "",
    )
    .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    seqs.push(withdrawn.json()["seq"].as_u64().unwrap());
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The ledgers agree, applications in applied order.
    let hpf = ledger(&fleet, "hpf").await;
    let hpf = hpf["applications"].as_array().unwrap();
    assert_eq!(hpf[0]["id"], "HPF-step-000001");
    assert_eq!(hpf[0]["applied_seq"], seqs[1]);
    assert_eq!(hpf[0]["withdrawn_seq"], seqs[6]);
    assert_eq!(hpf[1]["applied_seq"], seqs[3]);
    assert_eq!(hpf[1]["withdrawn_seq"], Value::Null);
    let hrss = ledger(&fleet, "hrss").await;
    let applied: Vec<&Value> = hrss["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["applied_seq"])
        .collect();
    assert_eq!(applied, [&json!(seqs[0]), &json!(seqs[5])]);
    fleet.shutdown().await;
}

#[tokio::test]
async fn refused_requests_execute_and_store_nothing() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 0);
    let to = addr(&fleet, "hrss", 0);
    let path = apply_path("hrss", "pension");
    let long_key = "k".repeat(201);
    let cases = [
        (
            post(to, &path, Some(&a), Some(&long_key), "{}").await,
            400,
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            post(to, &path, Some(&a), Some("a key"), "{}").await,
            400,
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            post(
                to,
                &apply_path("hrss", "Pension"),
                Some(&a),
                Some("k"),
                "{}",
            )
            .await,
            400,
            "INVALID_KIND",
        ),
        (
            post(
                to,
                &apply_path("hrss", &"p".repeat(65)),
                Some(&a),
                Some("k"),
                "{}",
            )
            .await,
            400,
            "INVALID_KIND",
        ),
        (
            post(to, &path, Some(&a), Some("k"), "[1]").await,
            400,
            "INVALID_BODY",
        ),
        (
            post(to, &path, Some(&a), Some("k"), "{").await,
            400,
            "INVALID_BODY",
        ),
        (
            post(to, &path, None, Some("k"), r#"{"citizen":7}"#).await,
            400,
            "INVALID_BODY",
        ),
        (
            post(to, &path, None, Some("k"), "{}").await,
            404,
            "CITIZEN_NOT_FOUND",
        ),
        (
            post(to, &path, Some("110101199001011234"), Some("k"), "{}").await,
            404,
            "CITIZEN_NOT_FOUND",
        ),
        (
            post(
                to,
                &withdraw_path("hrss", "pension", "X"),
                Some(&a),
                Some("k"),
                "nope",
            )
            .await,
            400,
            "INVALID_BODY",
        ),
    ];
    for (answer, status, code) in &cases {
        assert_eq!(
            (answer.status.as_u16(), answer.code().as_str()),
            (*status, *code),
            "{}",
            answer.text
        );
    }
    // `k` was never used: it executes now.
    let ok = post(to, &path, Some(&a), Some("k"), "{}").await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert!(!ok.replayed());
    let l = ledger(&fleet, "hrss").await;
    assert_eq!(executions(&l), (1, 0, 0), "{l}");
    assert_eq!(
        (l["replays"].as_u64(), l["keys"].as_u64()),
        (Some(0), Some(1))
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn fault_knobs_apply_and_a_hang_up_during_latency_executes_nothing() {
    let fleet = start_six().await;
    let a = citizen(&fleet, 0);
    let gas = addr(&fleet, "gas", 0);
    let path = apply_path("gas", "meter");

    // An injected error comes before the handler: nothing executes, and a
    // retry with the same key executes.
    set_faults(&fleet, "gas-0", json!({ "error_rate": 1.0 })).await;
    let failed = post(gas, &path, Some(&a), Some("g-1"), "{}").await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.code(), "SIM_INJECTED_FAULT");
    assert_eq!(executions(&ledger(&fleet, "gas").await), (0, 0, 0));

    // The client gives up while the instance sleeps: the request is dropped
    // before its handler runs.
    set_faults(
        &fleet,
        "gas-0",
        json!({ "error_rate": 0.0, "latency_ms": 400 }),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(url(gas, &path))
        .header(CITIZEN_HEADER, &a)
        .header("idempotency-key", "g-1")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await;
    assert!(gave_up.is_err(), "{gave_up:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let l = ledger(&fleet, "gas").await;
    assert_eq!(executions(&l), (0, 0, 0), "{l}");
    assert_eq!(l["keys"], 0);

    // Patient, it executes once.
    let ok = post(gas, &path, Some(&a), Some("g-1"), "{}").await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert!(!ok.replayed());
    let (status, report) = control(&fleet, Method::GET, "/fleet/instances/gas-0", None).await;
    assert_eq!(status, 200);
    assert_eq!(report["requests"], 3, "{report}");
    assert_eq!(report["injected_errors"], 1);
    assert_eq!(executions(&ledger(&fleet, "gas").await), (1, 0, 0));
    fleet.shutdown().await;
}

#[tokio::test]
async fn control_routes_read_and_set_ledgers() {
    let fleet = start_six().await;
    let empty = ledger(&fleet, "gas").await;
    assert_eq!(
        empty,
        json!({
            "dept": "gas",
            "applications": [],
            "executions": { "apply": 0, "withdraw": 0, "rejected": 0 },
            "replays": 0,
            "max_executions_per_key": 0,
            "keys": 0,
            "reject": [],
        })
    );
    for dept in ["nope", "traffic", "civil"] {
        let path = format!("/fleet/departments/{dept}/applications");
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({ "reject": [] }))),
        ] {
            let (status, body) = control(&fleet, method.clone(), &path, body).await;
            assert_eq!(status, 404, "{method} {dept}: {body}");
            assert_eq!(body["error"]["code"], "UNKNOWN_DEPARTMENT");
        }
    }
    let path = "/fleet/departments/gas/applications";
    for bad in [
        json!({ "reject": "x" }),
        json!({ "nope": [] }),
        json!({ "reject": ["ok", "Not Ok"] }),
        json!({ "reject": [""] }),
        json!([]),
    ] {
        let (status, body) = control(&fleet, Method::PUT, path, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_BODY", "{bad}");
    }
    assert_eq!(
        ledger(&fleet, "gas").await["reject"],
        json!([]),
        "a bad body changes nothing"
    );
    let set = set_reject(&fleet, "gas", &["b", "a"]).await;
    assert_eq!(set["reject"], json!(["a", "b"]));
    assert_eq!(ledger(&fleet, "gas").await, set);
    fleet.shutdown().await;
}

#[tokio::test]
async fn signed_fleets_take_the_citizen_from_the_gateway() {
    const MASTER: &[u8] = b"applications-test-master-key-32-bytes!";
    let fleet = Fleet::start(FleetOptions {
        departments: 2,
        citizens: 20,
        signing_key: Some(MASTER.to_vec()),
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let (a, b) = (citizen(&fleet, 0), citizen(&fleet, 1));
    let key = signature::department_key(MASTER, "hpf");
    let to = addr(&fleet, "hpf", 0);
    let signed_post = |path: String, who: Option<String>, body: Value| async move {
        let signed = signature::Signed {
            method: "POST",
            path_and_query: &path,
            citizen: who.as_deref(),
            channel: None,
            request_id: "apps",
            timestamp: signature::unix_now(),
        };
        let mut req = client().post(url(to, &path)).json(&body);
        for (name, value) in signed.headers(&key) {
            req = req.header(name, value);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json::<Value>().await.unwrap())
    };
    let path = apply_path("hpf", "permit");
    let (status, body) = signed_post(path.clone(), None, json!({})).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("CITIZEN_REQUIRED"))
    );
    let (status, body) = signed_post(path.clone(), Some(a.clone()), json!({ "citizen": b })).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (404, &json!("CITIZEN_NOT_FOUND"))
    );
    let (status, body) = signed_post(path.clone(), Some(a.clone()), json!({ "x": 1 })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["citizen_id"], a.as_str());
    let id = body["application_id"].as_str().unwrap().to_owned();
    // b cannot withdraw a's application, a can.
    let withdraw = withdraw_path("hpf", "permit", &id);
    let (status, body) = signed_post(withdraw.clone(), Some(b), json!({})).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (404, &json!("APPLICATION_NOT_FOUND"))
    );
    let (status, body) = signed_post(withdraw, Some(a), json!({})).await;
    assert_eq!(status, 200, "{body}");
    fleet.shutdown().await;
}
