//! Hot reload under load: ten reloads (file changes, SIGHUP and the admin API) while
//! HTTP/1.1 and h2c clients send ≥ 2,000 req/s, with an invalid
//! configuration in the middle: not one request fails, every valid change
//! takes effect, the invalid one is rejected and counted.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onestop_tests::{ConfigOptions, Gateway, Sim, paced_load_timed, wait_for};

fn extra_route(i: usize) -> String {
    format!(
        "\n[[routes]]\nid = \"extra-{i}\"\npath = \"/api/v1/depts/hpf/echo/v{i}\"\nmethods = [\"GET\"]\nservice = \"main\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_reloads_under_load_drop_nothing() {
    let sim = Sim::start(4, 50).await;
    let gw = Gateway::start(&sim.manifest, &ConfigOptions::default()).await;
    let hpf_file = gw.dir.path().join("config/departments/hpf.toml");
    let base = std::fs::read_to_string(&hpf_file).unwrap();
    let generation =
        || async { gw.metric("onestop_config_generation").await.unwrap_or(0.0) as u64 };
    let rejected = || async {
        gw.metric("onestop_config_rejected_total")
            .await
            .unwrap_or(0.0) as u64
    };
    let paths: Vec<String> = sim
        .manifest
        .departments
        .iter()
        .flat_map(|d| d.matters.iter())
        .filter(|m| m.method == "GET" && m.path.starts_with("/api/"))
        .map(|m| m.example.path.clone())
        .collect();
    let paths = Arc::new(paths);
    let h1 = onestop_tests::client_builder()
        .http1_only()
        .build()
        .unwrap();
    let h2 = onestop_tests::client_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let started = Instant::now();
    let load_h1 = tokio::spawn(paced_load_timed(h1, gw.url(""), paths.clone(), 1200, 14));
    let load_h2 = tokio::spawn(paced_load_timed(h2, gw.url(""), paths.clone(), 1200, 14));

    let http = onestop_tests::client();
    let mut content = base.clone();
    let mut applied = generation().await;
    let first = applied;
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if i == 5 {
            // An invalid configuration: rejected, the running one keeps serving.
            let before = rejected().await;
            std::fs::write(&hpf_file, format!("{content}\nbogus_key = 1\n")).unwrap();
            let seen = wait_for(Duration::from_secs(5), || async {
                rejected().await > before
            })
            .await;
            assert!(seen.is_some(), "the invalid configuration was not rejected");
            assert_eq!(
                generation().await,
                applied,
                "an invalid configuration was applied"
            );
        }
        let probe = gw.url(&format!("/api/v1/depts/hpf/echo/v{i}"));
        assert_eq!(http.get(&probe).send().await.unwrap().status(), 404);
        if i == 4 || i == 8 {
            // The other door: the admin API writes the file and applies it.
            let r = gw
                .admin_request(
                    reqwest::Method::PUT,
                    &format!("/config/departments/hpf/routes/extra-{i}"),
                )
                .header("x-onestop-change-message", format!("add echo v{i}"))
                .json(&serde_json::json!({
                    "path": format!("/api/v1/depts/hpf/echo/v{i}"),
                    "methods": ["GET"],
                    "service": "main",
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            content = std::fs::read_to_string(&hpf_file).unwrap();
        } else {
            content.push_str(&extra_route(i));
            std::fs::write(&hpf_file, &content).unwrap();
        }
        if i % 2 == 1 {
            let ok = Command::new("kill")
                .args(["-HUP", &gw.proc.pid().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let took = wait_for(Duration::from_secs(5), || async {
            generation().await > applied
        })
        .await;
        assert!(took.is_some(), "reload {i} was not applied");
        applied = generation().await;
        assert_eq!(
            http.get(&probe).send().await.unwrap().status(),
            200,
            "route of reload {i}"
        );
    }
    let results: Vec<_> = load_h1
        .await
        .unwrap()
        .into_iter()
        .chain(load_h2.await.unwrap())
        .collect();
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|(_, s, _)| *s != 200).count();
    // The offered load: requests sent over the span in which they were sent.
    let span = results
        .iter()
        .map(|(at, _, _)| *at)
        .max()
        .unwrap_or_default();
    let rate = results.len() as f64 / span.as_secs_f64();
    println!(
        "reload under load: {} requests (h1 + h2c) sent over {:.1} s = {rate:.0} req/s (whole test {:.1} s), {} reloads applied (generation {first} -> {applied}), 1 rejected, {failed} failed",
        results.len(),
        span.as_secs_f64(),
        elapsed.as_secs_f64(),
        applied - first
    );
    assert!(applied - first >= 10);
    assert_eq!(failed, 0, "requests failed during reloads");
    assert!(rate >= 2000.0, "load was only {rate:.0} req/s");
}
