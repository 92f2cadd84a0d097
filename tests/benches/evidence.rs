//! Evidence fetches of one case step run at once: a step that reads 3 data
//! items from 3 departments should cost about its slowest read, not their
//! sum (goal: at most the slowest fetch + 2 ms, at p50 and p99).
//!
//! Real processes on loopback: the simulated fleet (16 departments)
//! verifying the gateway's signatures, a secured gateway (citizen JWTs, a
//! channel, signing) built with `cargo build --release -p onestop`.
//! Providers answer after a delay (the fleet's `latency_ms` fault): police
//! 20 ms, civil affairs 35 ms, social security 50 ms. The step's own
//! department (power) has none.
//!
//! Measured, one after another (after `WARMUP` unmeasured ones each):
//! 1. each item alone through the exchange (`Exchange/Fetch` as power,
//!    the same agreement, consent, audit and masking): the slowest item's
//!    p50/p99;
//! 2. a one-step case whose step reads the 3 items (`bench-evidence`);
//! 3. the same case without evidence (`bench-plain`).
//!
//! A case's time is the store's own record (`finished_at - submitted_at`,
//! ms); the step's evidence cost is (2) − (3), compared with the slowest
//! single fetch (1) + 2 ms.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime};

use onestop_tests::registry::issue_token;
use onestop_tests::secure::Secure;
use onestop_tests::sharing::{Consumer, consent};
use onestop_tests::{Gateway, Sim, percentile};
use serde_json::{Value, json};

const WARMUP: usize = 10;
const RUNS: usize = 100;
const PURPOSE: &str = "single-matter";
/// Provider → its delay.
const DELAYS: [(&str, &str, u64); 3] = [
    ("police", "police.household", 20),
    ("civil", "civil.marital_status", 35),
    ("hrss", "hrss.social_insurance", 50),
];

const GATEWAY: &str = r#"
[cases]
retry_backoff = "50ms"
step_timeout = "5s"
scan_interval = "1s"

[[sharing.purposes]]
code = "single-matter"
name = "单项事项办理"

[[composite]]
id = "bench-evidence"
name = "证明材料基准"

[[composite.steps]]
id = "open"
dept = "power"
path = "/api/v1/depts/power/applications/bench"
body = { kind = "bench" }
deadline = "1d"
evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "single-matter" }, { name = "marriage", item = "civil.marital_status", fields = ["status"], purpose = "single-matter" }, { name = "insurance", item = "hrss.social_insurance", fields = ["employer"], purpose = "single-matter" }]

[[composite]]
id = "bench-plain"
name = "无证明材料基准"

[[composite.steps]]
id = "open"
dept = "power"
path = "/api/v1/depts/power/applications/bench"
body = { kind = "bench" }
deadline = "1d"
"#;

fn ms(v: &Value) -> SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap()).unwrap()
}

/// Submits a case and waits for it; its time as the store records it.
async fn case(http: &reqwest::Client, gw: &Gateway, matter: &str) -> Duration {
    let r = http
        .post(gw.url("/api/v1/me/cases"))
        .json(&json!({"matter": matter, "input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c: Value = http
            .get(gw.url(&format!("/api/v1/me/cases/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if c["state"] == "completed" {
            return ms(&c["finished_at"])
                .duration_since(ms(&c["submitted_at"]))
                .unwrap();
        }
        assert!(c["state"] == "running", "{c}");
        assert!(Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn runs(http: &reqwest::Client, gw: &Gateway, matter: &str) -> Vec<Duration> {
    let mut samples = Vec::new();
    for n in 0..WARMUP + RUNS {
        let t = case(http, gw, matter).await;
        if n >= WARMUP {
            samples.push(t);
        }
    }
    samples
}

fn show(what: &str, samples: &[Duration]) -> (f64, f64) {
    let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
    println!(
        "{what:<44} p50 {p50:7.2} ms  p99 {p99:7.2} ms  (n = {})",
        samples.len()
    );
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secure = Secure::new();
    let sim = Sim::start_signed(16, 50, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], GATEWAY).await;
    let me = sim.manifest.citizens[0].id.clone();
    let http = secure.client(Some(&me));
    let expires = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600))
        .to_string();
    for (_, item, _) in DELAYS {
        let fields = match item {
            "police.household" => vec!["name", "address"],
            "civil.marital_status" => vec!["status"],
            _ => vec!["employer"],
        };
        let (status, body) = gw
            .admin_post(
                "/agreements",
                json!({"consumer": "power", "item": item, "fields": fields, "clear_fields": [],
                       "purpose": PURPOSE, "legal_basis": "bench", "expires_at": expires}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap();
        let (status, body) = gw
            .admin_post(&format!("/agreements/{id}/approve"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    consent(&http, &gw, "power", PURPOSE).await;
    for (dept, _, delay) in DELAYS {
        for i in &sim.dept(dept).instances {
            sim.set_faults(&i.id, json!({ "latency_ms": delay })).await;
        }
    }
    let power = Consumer::connect(gw.control, &issue_token(&gw, "power").await).await;
    let mut slowest = (0.0, 0.0);
    for (_, item, delay) in DELAYS {
        let mut samples = Vec::new();
        for n in 0..WARMUP + RUNS {
            let t = Instant::now();
            power.fetch(item, &me, PURPOSE).await.unwrap();
            if n >= WARMUP {
                samples.push(t.elapsed());
            }
        }
        let (p50, p99) = show(&format!("fetch {item} alone (delay {delay} ms)"), &samples);
        if p50 > slowest.0 {
            slowest = (p50, p99);
        }
    }
    let with = runs(&http, &gw, "bench-evidence").await;
    let plain = runs(&http, &gw, "bench-plain").await;
    let (w50, w99) = show("case: step with 3 evidence reads", &with);
    let (p50, p99) = show("case: the same step without evidence", &plain);
    let (c50, c99) = (w50 - p50, w99 - p99);
    println!(
        "evidence cost of the step: p50 {c50:.2} ms, p99 {c99:.2} ms; slowest fetch p50 {:.2} ms, p99 {:.2} ms",
        slowest.0, slowest.1
    );
    println!(
        "beyond the slowest fetch: p50 {:+.2} ms, p99 {:+.2} ms (goal <= +2 ms); the sum of the three would be ~{} ms",
        c50 - slowest.0,
        c99 - slowest.1,
        DELAYS.iter().map(|d| d.2).sum::<u64>()
    );
}
