//! The citizen overview end to end: one department five seconds slow is
//! marked `timeout` at its deadline while the rest come back complete; no
//! token is a 401; a dead department whose overview route is cached with
//! `stale_if_error` comes back `stale`. Each item is a real request through
//! the gateway's public listener, signed and checked at the department.

use std::time::{Duration, Instant};

use onestop_tests::secure::Secure;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, wait_for};
use serde_json::{Value, json};

/// The department made slow, and the one whose overview route is cached.
const SLOW: &str = "power";
const CACHED: &str = "water";

/// Added to the cached department's `overview` route (a line after its id).
const CACHE_POLICY: &str = r#"cache = { ttl = "1s", stale_if_error = "60s", scope = "citizen" }"#;

async fn secured(departments: usize) -> (Sim, Gateway, Secure) {
    let secure = Secure::new();
    let sim = Sim::start_signed(departments, 50, Some(&secure.signing_key_hex)).await;
    let extra = secure.gateway_toml(&[]);
    let gw = Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions {
            citizen_auth: true,
            ..ConfigOptions::default()
        },
        |config| {
            secure.write_keys(config);
            let file = config.join(format!("departments/{CACHED}.toml"));
            let text = std::fs::read_to_string(&file).unwrap();
            let marker = "id = \"overview\"\n";
            assert!(text.contains(marker), "{text}");
            let text = text.replace(marker, &format!("{marker}{CACHE_POLICY}\n"));
            std::fs::write(file, text).unwrap();
        },
        GatewaySetup {
            threads: 2,
            extra,
            ..GatewaySetup::default()
        },
    )
    .await;
    (sim, gw, secure)
}

/// Departments of the fleet that serve an overview (the HTTP ones).
fn with_overview(sim: &Sim) -> Vec<String> {
    let mut ids: Vec<String> = sim
        .manifest
        .departments
        .iter()
        .filter(|d| d.matters.iter().any(|m| m.id == "overview"))
        .map(|d| d.id.clone())
        .collect();
    ids.sort();
    ids
}

async fn overview(
    http: &reqwest::Client,
    gw: &Gateway,
) -> (u16, reqwest::header::HeaderMap, Value, Duration) {
    let t0 = Instant::now();
    let r = http
        .get(gw.url("/api/v1/me/overview"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    (status, headers, body, t0.elapsed())
}

fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["dept"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn print_parts(label: &str, took: Duration, doc: &Value) {
    println!(
        "{label}: answered in {:.1} ms, complete = {}",
        took.as_secs_f64() * 1000.0,
        doc["complete"]
    );
    for d in doc["departments"].as_array().unwrap() {
        println!(
            "  {:<8} {:<8} http {:<4} {:>7.1} ms {}",
            d["dept"].as_str().unwrap_or(""),
            d["status"].as_str().unwrap_or(""),
            d["http_status"]
                .as_u64()
                .map_or("-".into(), |s| s.to_string()),
            d["elapsed_ms"].as_f64().unwrap_or(f64::NAN),
            d["error"].as_str().unwrap_or(""),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_department_times_out_at_its_deadline_and_the_rest_are_complete() {
    let (sim, gw, secure) = secured(12).await;
    let depts = with_overview(&sim);
    assert!(depts.len() >= 8, "{depts:?}");
    assert!(depts.contains(&SLOW.to_string()) && depts.contains(&CACHED.to_string()));
    let citizen = sim.manifest.citizens[3].id.clone();
    let http = secure.client(Some(&citizen));

    // Everyone answers.
    let (status, headers, doc, took) = overview(&http, &gw).await;
    print_parts("all departments well", took, &doc);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(headers["cache-control"], "private, no-store");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(doc["citizen"], citizen.as_str());
    assert_eq!(doc["complete"], true, "{doc}");
    let all_ok: Vec<(String, String)> = depts.iter().map(|d| (d.clone(), "ok".into())).collect();
    assert_eq!(statuses(&doc), all_ok);
    for d in doc["departments"].as_array().unwrap() {
        assert_eq!(d["http_status"], 200, "{d}");
        assert_eq!(d["data"]["citizen_id"], citizen.as_str(), "{d}");
        assert_eq!(d["data"]["dept"], d["dept"], "{d}");
        assert!(d["name"].as_str().is_some_and(|n| !n.is_empty()), "{d}");
    }

    // One department five seconds slow: the overview answers at its
    // 800 ms deadline with that department `timeout`, the rest `ok`.
    for i in &sim.dept(SLOW).instances {
        sim.set_faults(&i.id, json!({"latency_ms": 5000})).await;
    }
    let mut took_slow = Vec::new();
    for round in 0..3 {
        let (status, _, doc, took) = overview(&http, &gw).await;
        print_parts(&format!("{SLOW} 5 s slow, round {round}"), took, &doc);
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["complete"], false);
        for (dept, s) in statuses(&doc) {
            let want = if dept == SLOW { "timeout" } else { "ok" };
            assert_eq!(s, want, "{dept}: {doc}");
        }
        let slow = doc["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["dept"] == SLOW)
            .unwrap();
        assert!(slow.get("data").is_none(), "{slow}");
        let elapsed = slow["elapsed_ms"].as_f64().unwrap();
        assert!((800.0..1000.0).contains(&elapsed), "{slow}");
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_millis(1500),
            "the overview took {took:?}"
        );
        took_slow.push(took);
        // The item's deadline bounds its exchange inside the gateway too:
        // the slow department's slot is free again at once, not after the
        // route's 5 s timeout.
        let inflight = format!("onestop_inflight_requests{{dept=\"{SLOW}\"}}");
        let freed = wait_for(Duration::from_millis(500), || async {
            gw.metric(&inflight).await == Some(0.0)
        })
        .await;
        assert!(freed.is_some(), "{SLOW} still has requests in flight");
    }
    println!(
        "overview with {SLOW} 5 s slow: {:?} (deadline 800 ms)",
        took_slow
    );
    for i in &sim.dept(SLOW).instances {
        sim.set_faults(&i.id, json!({"latency_ms": 0})).await;
    }
    let timeouts = gw
        .metric(&format!(
            "onestop_overview_items_total{{dept=\"{SLOW}\",status=\"timeout\"}}"
        ))
        .await;
    assert_eq!(timeouts, Some(3.0));
    let oks = gw
        .metric(&format!(
            "onestop_overview_items_total{{dept=\"{CACHED}\",status=\"ok\"}}"
        ))
        .await;
    assert_eq!(oks, Some(4.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_needs_a_citizen_and_a_known_app() {
    let (sim, gw, secure) = secured(3).await;
    let citizen = sim.manifest.citizens[0].id.clone();
    for (what, http) in [
        ("no token", secure.client(None)),
        ("no app key", {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(
                "authorization",
                format!("Bearer {}", secure.token(&citizen))
                    .parse()
                    .unwrap(),
            );
            onestop_tests::client_builder()
                .default_headers(h)
                .build()
                .unwrap()
        }),
        ("a bad token", {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("x-onestop-app-key", secure.app_key().parse().unwrap());
            h.insert("authorization", "Bearer not-a-jwt".parse().unwrap());
            onestop_tests::client_builder()
                .default_headers(h)
                .build()
                .unwrap()
        }),
    ] {
        let (status, headers, doc, _) = overview(&http, &gw).await;
        println!("{what}: {status} {doc}");
        assert_eq!(status, 401, "{what}: {doc}");
        assert_eq!(doc["error"]["code"], "UNAUTHENTICATED", "{what}: {doc}");
        assert_eq!(
            doc["error"]["request_id"].as_str(),
            headers["x-request-id"].to_str().ok(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_department_with_a_cached_overview_comes_back_stale() {
    let (sim, gw, secure) = secured(3).await;
    let citizen = sim.manifest.citizens[1].id.clone();
    let http = secure.client(Some(&citizen));
    let (status, _, doc, took) = overview(&http, &gw).await;
    print_parts("all well (fills the cache)", took, &doc);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["complete"], true, "{doc}");

    // Past the 1 s ttl, the department dies.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for i in &sim.dept(CACHED).instances {
        sim.set_faults(&i.id, json!({"down": true})).await;
    }
    let (status, _, doc, took) = overview(&http, &gw).await;
    print_parts(&format!("{CACHED} down"), took, &doc);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["complete"], false);
    for (dept, s) in statuses(&doc) {
        let want = if dept == CACHED { "stale" } else { "ok" };
        assert_eq!(s, want, "{dept}: {doc}");
    }
    let water = doc["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dept"] == CACHED)
        .unwrap();
    assert_eq!(water["data"]["citizen_id"], citizen.as_str(), "{water}");

    // Another citizen has nothing cached: an error, not somebody's data.
    let other = sim.manifest.citizens[2].id.clone();
    let (status, _, doc, took) = overview(&secure.client(Some(&other)), &gw).await;
    print_parts(&format!("{CACHED} down, another citizen"), took, &doc);
    assert_eq!(status, 200, "{doc}");
    for (dept, s) in statuses(&doc) {
        let want = if dept == CACHED { "error" } else { "ok" };
        assert_eq!(s, want, "{dept}: {doc}");
    }
}
