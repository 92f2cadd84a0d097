//! Routing end to end: weighted canary split, header-matched routes,
//! consistent hashing on the citizen id, and what the backend receives.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use onestop_tests::{ConfigOptions, Gateway, Sim};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_split_header_match_and_consistent_hash() {
    let sim = Sim::start(4, 100).await;
    let hrss = sim.dept("hrss").clone();
    let [a, b, c] = [&hrss.instances[0], &hrss.instances[1], &hrss.instances[2]];
    let file = format!(
        r#"
[department]
id = "hrss"
name = "人力资源和社会保障局"

[[services]]
id = "v1"
instances = [{{ addr = "{a}" }}, {{ addr = "{b}" }}]
health = {{ kind = "http", path = "/healthz" }}

[[services]]
id = "v2"
instances = [{{ addr = "{c}" }}]
health = {{ kind = "tcp" }}

[[services]]
id = "hashed"
lb = "consistent_hash"
instances = [{{ addr = "{a}" }}, {{ addr = "{b}" }}, {{ addr = "{c}" }}]

[[routes]]
id = "canary"
path = "/api/v1/depts/hrss/echo"
split = [{{ service = "v1", weight = 80 }}, {{ service = "v2", weight = 20 }}]

[[routes]]
id = "canary-forced"
path = "/api/v1/depts/hrss/echo"
headers = [{{ name = "x-canary", value = "always" }}]
service = "v2"

[[routes]]
id = "by-citizen"
template = "/api/v1/depts/hrss/echo/{{citizen}}"
citizen_param = "citizen"
methods = ["GET"]
service = "hashed"
"#,
        a = a.addr,
        b = b.addr,
        c = c.addr
    );
    let gw = Gateway::start_with(&sim.manifest, &ConfigOptions::default(), |dir| {
        std::fs::write(dir.join("departments/hrss.toml"), file).unwrap();
    })
    .await;
    let http = onestop_tests::client();

    // Weighted split: ~20 % to v2 over 1,000 requests.
    let mut by_instance: HashMap<String, usize> = HashMap::new();
    for _ in 0..1000 {
        let r = http
            .get(gw.url("/api/v1/depts/hrss/echo?x=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let inst = r.headers()["x-sim-instance"].to_str().unwrap().to_string();
        *by_instance.entry(inst).or_default() += 1;
    }
    let to_v2 = by_instance.get(&c.id).copied().unwrap_or(0);
    println!("canary split 80/20 over 1000 requests: {by_instance:?}");
    assert!((150..=250).contains(&to_v2), "v2 got {to_v2} of 1000");
    // Round robin inside v1 spreads evenly.
    let (va, vb) = (by_instance[&a.id], by_instance[&b.id]);
    assert!(va.abs_diff(vb) <= 40, "v1 instances {va} vs {vb}");

    // The header-matched route wins over the split.
    for _ in 0..20 {
        let r = http
            .get(gw.url("/api/v1/depts/hrss/echo"))
            .header("x-canary", "always")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-sim-instance"], c.id.as_str());
    }

    // Consistent hashing: a citizen always lands on one instance, citizens spread.
    let mut homes = HashSet::new();
    for citizen in sim.manifest.citizens.iter().take(20) {
        let mut seen = HashSet::new();
        for _ in 0..5 {
            let r = http
                .get(gw.url(&format!("/api/v1/depts/hrss/echo/{}", citizen.id)))
                .send()
                .await
                .unwrap();
            seen.insert(r.headers()["x-sim-instance"].to_str().unwrap().to_string());
        }
        assert_eq!(
            seen.len(),
            1,
            "citizen {} moved between {seen:?}",
            citizen.id
        );
        homes.extend(seen);
    }
    assert!(homes.len() >= 2, "20 citizens all hashed to {homes:?}");

    // The backend receives the path and query exactly as requested, plus the request id.
    let r = http
        .get(gw.url("/api/v1/depts/hrss/echo/abc?b=2&a=1"))
        .header("x-request-id", "0190f0a12b3c7d4e8f90a1b2c3d4e5f6")
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["path"], "/api/v1/depts/hrss/echo/abc");
    assert_eq!(echo["query"], "b=2&a=1");
    assert_eq!(
        echo["headers"]["x-request-id"],
        "0190f0a12b3c7d4e8f90a1b2c3d4e5f6"
    );
    assert!(
        echo["headers"]["x-forwarded-for"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );

    // A method the template does not declare falls through to 404.
    let r = http
        .delete(gw.url("/api/v1/depts/hrss/echo/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
