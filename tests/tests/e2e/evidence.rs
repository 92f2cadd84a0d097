//! Evidence (一证通办) end to end: a citizen submits the newborn life event
//! with only what no department holds; the steps' departments receive the
//! household register, marital status and social insurance record as their
//! agreements allow (masked), read through the exchange; the citizen's
//! access log lists every read with its purpose. With an agreement revoked
//! the case names the missing evidence and why, the provider receives
//! nothing, and the citizen can supply just that evidence in the form.

use std::time::{Duration, Instant};

use onestop::fleet_config::{EVIDENCE_NEEDS, life_events_with_evidence_toml};
use onestop_tests::secure::Secure;
use onestop_tests::sharing::{access_log, consent, revoke};
use onestop_tests::{Gateway, Sim};
use serde_json::{Value, json};

const CASES: &str = r#"
[cases]
lease = "2s"
scan_interval = "200ms"
retry_backoff = "50ms"
step_timeout = "5s"
"#;

/// Departments 0..16 of the fleet hold police, hrss, civil, hpf, power.
const DEPARTMENTS: usize = 16;

/// Applies for and approves an agreement; its id.
async fn agree(gw: &Gateway, consumer: &str, item: &str, fields: &[&str], purpose: &str) -> String {
    let expires =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(3600))
            .to_string();
    let (status, body) = gw
        .admin_post(
            "/agreements",
            json!({
                "consumer": consumer, "item": item, "fields": fields, "clear_fields": [],
                "purpose": purpose, "legal_basis": "一件事一次办 (e2e)", "expires_at": expires,
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = gw
        .admin_post(&format!("/agreements/{id}/approve"), json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    id
}

/// Requests every instance of `dept` has served.
async fn served(sim: &Sim, dept: &str) -> u64 {
    let mut n = 0;
    for i in &sim.dept(dept).instances {
        n += sim.requests(&i.id).await;
    }
    n
}

async fn submit(http: &reqwest::Client, gw: &Gateway, matter: &str, input: Value) -> String {
    let r = http
        .post(gw.url("/api/v1/me/cases"))
        .json(&json!({"matter": matter, "input": input}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let case: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{case}");
    case["id"].as_str().unwrap().to_owned()
}

async fn finished(http: &reqwest::Client, gw: &Gateway, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let case: Value = http
            .get(gw.url(&format!("/api/v1/me/cases/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !matches!(case["state"].as_str(), Some("running" | "compensating")) {
            return case;
        }
        assert!(Instant::now() < deadline, "case {id} not finished: {case}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn step<'a>(case: &'a Value, id: &str) -> &'a Value {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {case}"))
}

#[tokio::test]
async fn steps_read_evidence_under_agreements_and_a_revoked_one_asks_the_citizen() {
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let mut extra = life_events_with_evidence_toml(&sim.manifest);
    extra.push_str(CASES);
    let gw = secure.gateway(&sim, &[], &[], &extra).await;
    let me = sim.manifest.citizens[0].id.clone();
    let http = secure.client(Some(&me));
    let mut power_household = String::new();
    for (consumer, item, fields, purpose) in EVIDENCE_NEEDS {
        let id = agree(&gw, consumer, item, fields, purpose).await;
        if consumer == "power" {
            power_household = id;
        }
        consent(&http, &gw, consumer, purpose).await;
    }

    // The form holds only what no department holds.
    let id = submit(
        &http,
        &gw,
        "newborn",
        json!({"child_name": "小明", "birth_date": "2026-11-30"}),
    )
    .await;
    let case = finished(&http, &gw, &id).await;
    assert_eq!(case["state"], "completed", "{case}");
    let household = &sim.manifest.citizens[0];
    for s in ["insurance", "allowance", "withdrawal"] {
        let got = &step(&case, s)["output"]["received"]["evidence"]["household"];
        assert_eq!(got["name"], json!(household.name), "{s}: {got}");
        let address = got["address"].as_str().unwrap();
        assert!(address.contains('*'), "{s}: address not masked: {got}");
        assert!(
            got.get("phone").is_none(),
            "{s}: a field not asked for: {got}"
        );
    }
    let withdrawal = &step(&case, "withdrawal")["output"]["received"]["evidence"];
    assert!(withdrawal["marriage"]["status"].is_string(), "{withdrawal}");
    assert!(
        withdrawal["insurance"]["contribution_months"].is_number(),
        "{withdrawal}"
    );
    assert!(
        withdrawal["insurance"].get("bank_card").is_none(),
        "{withdrawal}"
    );
    // Every read is in the citizen's access log with its purpose.
    // The audit log's writer stores records in batches, off the path.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = access_log(&http, &gw).await;
        let ok = log
            .iter()
            .filter(|r| r["purpose"] == "newborn" && r["outcome"] == "ok")
            .count();
        if ok >= 5 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reads: Vec<(String, String, String)> = log
        .iter()
        .filter(|r| r["purpose"] == "newborn" && r["outcome"] == "ok")
        .map(|r| {
            (
                r["accessor"]["id"].as_str().unwrap().to_owned(),
                r["item"].as_str().unwrap().to_owned(),
                r["purpose_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut want: Vec<(String, String, String)> = EVIDENCE_NEEDS
        .iter()
        .filter(|n| n.3 == "newborn")
        .map(|n| {
            (
                n.0.to_owned(),
                n.1.to_owned(),
                "新生儿出生一件事".to_owned(),
            )
        })
        .collect();
    let mut got = reads.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{log:#?}");
    let fields: Vec<&Value> = log.iter().map(|r| &r["fields"]).collect();
    assert!(
        fields
            .iter()
            .all(|f| f.as_array().is_some_and(|a| !a.is_empty())),
        "{fields:?}"
    );

    // Revoked: the single matter names the missing evidence; police
    // (the provider) receives nothing, power files nothing.
    revoke(&gw, &power_household).await;
    let police = served(&sim, "police").await;
    let power = served(&sim, "power").await;
    let id = submit(
        &http,
        &gw,
        "power-account",
        json!({"meter_address": "渝中区解放碑 1 号"}),
    )
    .await;
    let case = finished(&http, &gw, &id).await;
    assert_eq!(case["state"], "failed", "{case}");
    let why = step(&case, "open")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.contains("evidence `household` (police.household for purpose `single-matter`)"),
        "{why}"
    );
    assert!(why.contains("revoked"), "{why}");
    assert!(
        why.contains("form field `household` with name, address"),
        "{why}"
    );
    assert_eq!(
        served(&sim, "police").await,
        police,
        "the provider was asked"
    );
    assert_eq!(
        served(&sim, "power").await,
        power,
        "the step ran without its evidence"
    );
    let mut denied = access_log(&http, &gw).await;
    for _ in 0..100 {
        if denied.iter().any(|r| r["accessor"]["id"] == "power") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        denied = access_log(&http, &gw).await;
    }
    assert!(
        denied.iter().any(|r| r["accessor"]["id"] == "power"
            && r["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("denied"))),
        "{denied:#?}"
    );
    // The citizen supplies just that evidence: the step runs, nothing is read.
    let id = submit(
        &http,
        &gw,
        "power-account",
        json!({"meter_address": "渝中区解放碑 1 号", "household": {"name": household.name, "address": "渝中区解放碑 1 号"}}),
    )
    .await;
    let case = finished(&http, &gw, &id).await;
    assert_eq!(case["state"], "completed", "{case}");
    assert_eq!(
        served(&sim, "police").await,
        police,
        "supplied evidence was read anyway"
    );
    println!(
        "newborn: {} reads logged; revoked evidence refused with: {why}",
        want.len()
    );
}

/// `make demo`: agreements in every state, a demo citizen's access log
/// filled by one case, a public reference route cached, the catalog's
/// JSON bindings for gRPC matters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shares_evidence_caches_and_lists_bindings() {
    let demo = onestop_tests::Demo::start(32, 100).await;
    let admin = |path: &str| format!("http://{}/admin/v1{path}", demo.admin);
    let operator = demo.info["operator_token"].as_str().unwrap().to_owned();
    // The expired one ran out 2 s after the demo applied for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let states = loop {
        let agreements: Value = onestop_tests::client()
            .get(admin("/agreements"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let states: std::collections::BTreeSet<String> = agreements["agreements"]
            .as_array()
            .unwrap_or_else(|| panic!("{agreements}"))
            .iter()
            .filter_map(|a| a["state"].as_str().map(str::to_owned))
            .collect();
        if states.len() >= 4 || Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for state in ["approved", "pending", "rejected", "expired"] {
        assert!(states.contains(state), "no {state} agreement: {states:?}");
    }
    // The sample citizen's newborn case read evidence.
    let http = demo.citizen_client(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let page: Value = http
            .get(demo.url("/api/v1/me/access-log?limit=200"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let log = page["records"].as_array().cloned().unwrap_or_default();
        if log
            .iter()
            .any(|r| r["purpose"] == "newborn" && r["outcome"] == "ok")
        {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "no evidence read in the access log: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("demo citizen's access log: {} records", log.len());
    // A public reference route answers HIT on repeat.
    let public = demo
        .manifest
        .departments
        .iter()
        .flat_map(|d| d.matters.iter())
        .find(|m| onestop_sim::registrar::is_public_reference(m))
        .unwrap();
    // Without a citizen's token: a shared answer is never given to a
    // request carrying credentials the gateway did not consume.
    let app = onestop_tests::client();
    let mut last = None;
    for _ in 0..2 {
        let r = app
            .get(demo.url(&public.example.path))
            .header("x-onestop-app-key", demo.app_key())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", public.example.path);
        last = r
            .headers()
            .get("x-onestop-cache")
            .map(|v| v.to_str().unwrap().to_owned());
    }
    assert_eq!(last.as_deref(), Some("HIT"), "{}", public.example.path);
    let catalog: Value = http
        .get(demo.url("/api/v1/catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bound = catalog["matters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["json_bindings"].as_array().is_some_and(|b| !b.is_empty()))
        .count();
    assert!(bound > 0, "no JSON bindings in the demo catalog");
    // What `grpcurl -plaintext CONTROL list` asks: reflection v1alpha.
    let services = onestop_tests::reflection_v1alpha_services(demo.control).await;
    for wanted in [
        "onestop.registry.v1.Registry",
        "onestop.exchange.v1.Exchange",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == wanted),
            "{wanted} not listed: {services:?}"
        );
    }
}
