//! The citizen overview's fan-out cost: an overview over 30 departments
//! whose slowest answers in `T` should itself answer in about `T`.
//!
//! Real processes on loopback: the simulated fleet (32 departments, of which
//! the 28 HTTP ones serve an overview; the 4 gRPC ones have none) verifying
//! the gateway's signatures, plus 2 HTTP departments served by this bench
//! (`stub-a`, `stub-b`: an overview route only), so that 30 departments
//! declare an overview item; a secured gateway (citizen JWTs, a channel,
//! signing; 2 worker threads) built with `cargo build --release -p onestop`.
//!
//! Department latencies: the slowest (`stub-a`, served here so that its own
//! answer time can be measured next to it: the fleet's departments refuse
//! unsigned calls) sleeps `T` per answer, every other department a random
//! time below `T - 10 ms` (seeded; the fleet's `latency_ms` fault; the
//! margin leaves room for the fleet departments' own work after the delay). Only citizens
//! that all 30 departments know are used (a department that does not know
//! a citizen is left out of the overview). The bench sends `REQUESTS`
//! overviews one after another (rotating citizens, after `WARMUP`
//! unmeasured ones), then as many calls of the slowest department's
//! overview route through the same gateway, then as many straight to the
//! department, and prints p50/p99 of each and `p50 - T`, against the
//! nominal `T` and against the department's measured answer time. The
//! goal: `p50 - T ≤ 2 ms`.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use onestop_sim::manifest::{
    DeptManifest, HealthProbe, InstanceManifest, MatterExample, MatterManifest, Protocol,
};
use onestop_tests::secure::Secure;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, percentile};
use serde_json::{Value, json};

/// The slowest department's answer time.
const T_MS: u64 = 50;
/// The slowest department: one served here, so that its own answer time
/// can be measured next to it (the fleet's departments refuse unsigned calls).
const SLOWEST: &str = "stub-a";
/// Departments served by this bench, on top of the fleet's.
const STUBS: [&str; 2] = ["stub-a", "stub-b"];
/// The fleet's departments work a few ms after their delay (they build the
/// citizen's documents): their delays stay this far below `T`, so that the
/// slowest really is the one that answers in `T`.
const OTHERS_MARGIN_MS: u64 = 10;
const WARMUP: usize = 20;
const REQUESTS: usize = 200;

/// A department served here: its overview answers after `delay`.
async fn stub(id: &'static str, delay: Duration) -> DeptManifest {
    async fn overview(
        State((id, delay)): State<(&'static str, Duration)>,
        Path(citizen): Path<String>,
    ) -> Json<Value> {
        tokio::time::sleep(delay).await;
        Json(json!({"citizen_id": citizen, "dept": id, "status": "ok"}))
    }
    let app = axum::Router::new()
        .route(
            &format!("/api/v1/depts/{id}/overview/{{citizen}}"),
            get(overview),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state((id, delay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let path = format!("/api/v1/depts/{id}/overview/{{citizen}}");
    DeptManifest {
        id: id.into(),
        name: format!("{id} (bench stub)"),
        name_en: id.into(),
        protocol: Protocol::Http,
        grpc_service: None,
        health: HealthProbe::Http {
            path: "/healthz".into(),
        },
        instances: vec![InstanceManifest {
            id: format!("{id}-0"),
            addr,
        }],
        matters: vec![MatterManifest {
            id: "overview".into(),
            name: "概览".into(),
            description: "bench stub".into(),
            method: "GET".into(),
            example: MatterExample {
                path: path.replace("{citizen}", "x"),
                body: None,
            },
            path,
            citizen_param: Some("citizen".into()),
            streaming: false,
            data_item: None,
        }],
        data_items: Vec::new(),
    }
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    tokens: &[String],
    app_key: &str,
    mut check: impl FnMut(&Value),
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..WARMUP + REQUESTS {
        let t0 = Instant::now();
        let r = http
            .get(url)
            .header("x-onestop-app-key", app_key)
            .header(
                "authorization",
                format!("Bearer {}", tokens[i % tokens.len()]),
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        // The clock stops when the whole answer is in, before this client
        // parses it.
        let bytes = r.bytes().await.unwrap();
        let took = t0.elapsed();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(status.is_success(), "{status}: {body}");
        check(&body);
        if i >= WARMUP {
            samples.push(took);
        }
    }
    samples
}

fn report(what: &str, samples: &[Duration]) -> f64 {
    let p50 = percentile(samples, 0.5);
    let p99 = percentile(samples, 0.99);
    println!(
        "{what:<52} n={:<4} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms",
        samples.len(),
    );
    p50
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let secure = Secure::new();
    let sim = Sim::start_signed(32, 200, Some(&secure.signing_key_hex)).await;
    let mut rng = fastrand::Rng::with_seed(8);
    let mut latencies: Vec<(String, u64)> = Vec::new();
    let mut manifest = sim.manifest.clone();
    for dept in &sim.manifest.departments {
        if !dept.matters.iter().any(|m| m.id == "overview") {
            continue;
        }
        let ms = rng.u64(0..T_MS - OTHERS_MARGIN_MS);
        for i in &dept.instances {
            sim.set_faults(&i.id, json!({"latency_ms": ms})).await;
        }
        latencies.push((dept.id.clone(), ms));
    }
    for id in STUBS {
        let ms = if id == SLOWEST {
            T_MS
        } else {
            rng.u64(0..T_MS - OTHERS_MARGIN_MS)
        };
        manifest
            .departments
            .push(stub(id, Duration::from_millis(ms)).await);
        latencies.push((id.to_string(), ms));
    }
    let gw = Gateway::start_setup(
        &manifest,
        &ConfigOptions {
            citizen_auth: true,
            ..ConfigOptions::default()
        },
        |config| secure.write_keys(config),
        GatewaySetup {
            threads: 2,
            extra: secure.gateway_toml(&[]),
            ..GatewaySetup::default()
        },
    )
    .await;
    let items = latencies.len();
    latencies.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
    println!(
        "overview over {items} departments ({} of the simulated fleet, {} served by this bench); \
         department latencies (ms): {}",
        items - STUBS.len(),
        STUBS.len(),
        latencies
            .iter()
            .map(|(d, ms)| format!("{d} {ms}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let http = onestop_tests::client_builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    // Citizens every department knows (a department that does not know a
    // citizen is left out of the overview): the measured overviews always
    // span all of them.
    let mut tokens = Vec::new();
    let mut partial = 0;
    for c in &sim.manifest.citizens {
        let token = secure.token(&c.id);
        let doc: Value = http
            .get(gw.url("/api/v1/me/overview"))
            .header("x-onestop-app-key", secure.app_key())
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if doc["departments"].as_array().map(Vec::len) == Some(items) {
            tokens.push(token);
        } else {
            partial += 1;
        }
        if tokens.len() == 20 {
            break;
        }
    }
    assert!(
        !tokens.is_empty(),
        "no citizen is known to all {items} departments"
    );
    println!(
        "measuring with {} citizens known to all {items} departments ({partial} skipped: unknown to some)",
        tokens.len()
    );

    let mut slowest_item = Vec::new();
    let overview = measure(
        &http,
        &gw.url("/api/v1/me/overview"),
        &tokens,
        secure.app_key(),
        |doc| {
            assert_eq!(doc["complete"], true, "{doc}");
            let parts = doc["departments"].as_array().unwrap();
            assert_eq!(parts.len(), items, "{doc}");
            let max = parts
                .iter()
                .filter_map(|p| p["elapsed_ms"].as_f64())
                .fold(0.0, f64::max);
            slowest_item.push(Duration::from_secs_f64(max / 1000.0));
        },
    )
    .await;
    // The measured samples follow the warm-up ones.
    let slowest_item = slowest_item.split_off(WARMUP);
    let slowest_path = format!("/api/v1/depts/{SLOWEST}/overview/me");
    let through = measure(
        &http,
        &gw.url(&slowest_path),
        &tokens,
        secure.app_key(),
        |doc| assert!(doc["citizen_id"].is_string(), "{doc}"),
    )
    .await;
    // The slowest department's own answer time, asked right next to it.
    let addr = manifest
        .departments
        .iter()
        .find(|d| d.id == SLOWEST)
        .map(|d| d.instances[0].addr)
        .unwrap();
    let at_dept = measure(
        &http,
        &format!("http://{addr}/api/v1/depts/{SLOWEST}/overview/x"),
        &tokens,
        secure.app_key(),
        |doc| assert!(doc["citizen_id"].is_string(), "{doc}"),
    )
    .await;

    println!("T = {T_MS} ms: the slowest department ({SLOWEST}) sleeps {T_MS} ms per answer");
    let p50 = report(
        &format!("GET /api/v1/me/overview ({items} departments)"),
        &overview,
    );
    let through_p50 = report(&format!("GET {slowest_path} (slowest alone)"), &through);
    let item_p50 = report(
        "  its slowest item, as the gateway timed it (p50)",
        &slowest_item,
    );
    let t = report(
        &format!("{SLOWEST} asked directly (its real answer time)"),
        &at_dept,
    );
    println!(
        "overview p50 - T = {:+.2} ms against the nominal T, {:+.2} ms against the slowest \
         department's measured answer time ({t:.2} ms); a single call through the gateway \
         adds {:+.2} ms, the fan-out over {items} departments {:+.2} ms more",
        p50 - T_MS as f64,
        p50 - t,
        through_p50 - t,
        p50 - through_p50,
    );
    println!(
        "the overview answered {:+.2} ms after its slowest item (p50 against p50): \
         assembling and sending the document",
        p50 - item_p50
    );
    println!(
        "goal p50 <= T + 2 ms (T = the slowest department's answer time): {}",
        if p50 - t <= 2.0 { "met" } else { "NOT met" }
    );
    let not_ok = gw
        .metrics()
        .await
        .lines()
        .filter(|l| {
            l.starts_with("onestop_overview_items_total")
                && !l.contains("status=\"ok\"")
                && !l.contains("status=\"no_data\"")
        })
        .map(str::to_owned)
        .collect::<Vec<_>>();
    println!(
        "items timed out, failed or stale: {}",
        if not_ok.is_empty() {
            "none".into()
        } else {
            not_ok.join("; ")
        }
    );
}
