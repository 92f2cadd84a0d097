//! Process lifecycle under load: a graceful binary upgrade (`--upgrade` +
//! SIGQUIT) hands all three listeners to the new process without failing a
//! request, and SIGTERM lets in-flight requests complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use onestop_sim::pb::registry::ListRequest;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, paced_load_retrying, registry};
use serde_json::json;

fn get_paths(sim: &Sim) -> Arc<Vec<String>> {
    Arc::new(
        sim.manifest
            .departments
            .iter()
            .flat_map(|d| d.matters.iter())
            .filter(|m| m.method == "GET" && m.path.starts_with("/api/"))
            .map(|m| m.example.path.clone())
            .collect(),
    )
}

/// A gateway in front of `sim` whose graceful stop waits `grace`. The
/// last department's services come through the registry, not the files.
async fn gateway(sim: &Sim, grace: Duration) -> Gateway {
    let registered = sim.manifest.departments.last().unwrap().clone();
    Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions::default(),
        |config| {
            std::fs::write(
                config.join(format!("departments/{}.toml", registered.id)),
                onestop::fleet_config::department_header_toml(
                    &registered,
                    &ConfigOptions::default(),
                ),
            )
            .unwrap();
        },
        GatewaySetup {
            threads: 2,
            grace_period: Some(grace),
            ..GatewaySetup::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_upgrade_under_load_fails_no_request() {
    let sim = Sim::start(4, 50).await;
    let mut gw = gateway(&sim, Duration::from_secs(2)).await;
    // One department registered and approved before the upgrade.
    let registered = sim.manifest.departments.last().unwrap();
    let (_client, _renewer) = registry::onboard(
        &gw,
        registered,
        Duration::from_secs(10),
        Duration::from_secs(1),
    )
    .await;
    let paths = get_paths(&sim);
    fn h1() -> reqwest::Client {
        onestop_tests::client_builder()
            .http1_only()
            .build()
            .unwrap()
    }
    fn h2() -> reqwest::Client {
        onestop_tests::client_builder()
            .http2_prior_knowledge()
            .build()
            .unwrap()
    }
    let load_h1 = tokio::spawn(paced_load_retrying(
        h1(),
        h1,
        gw.url(""),
        paths.clone(),
        400,
        14,
    ));
    let load_h2 = tokio::spawn(paced_load_retrying(
        h2(),
        h2,
        gw.url(""),
        paths.clone(),
        400,
        14,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The new binary waits for the sockets; SIGQUIT makes the old one send them.
    let old_pid = gw.proc.pid();
    let mut new = Gateway::spawn_serve(gw.dir.path(), &["--upgrade"], "gateway-upgraded.log");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let upgrade_started = Instant::now();
    gw.proc.signal("QUIT");
    let mut old = std::mem::replace(&mut gw.proc, {
        new.assert_running();
        new
    });
    let exited = tokio::task::spawn_blocking(move || {
        let status = old.wait_exit(Duration::from_secs(20));
        (status, old)
    });
    let h1 = load_h1.await.unwrap();
    let h2 = load_h2.await.unwrap();
    let (status, old) = exited.await.unwrap();
    println!(
        "old process {old_pid} exited {:?} after SIGQUIT with {status:?}",
        upgrade_started.elapsed()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the old process did not exit cleanly:\n{}",
        old.log_text()
    );
    gw.proc.assert_running();

    let failed: Vec<_> = h1.iter().chain(&h2).filter(|r| r.0 != 200).collect();
    let retried = |load: &[(u16, bool)]| load.iter().filter(|r| r.1).count();
    println!(
        "graceful upgrade under load: {} requests (h1 {} + h2c {}), {} failed; resent once after the old process closed an idle kept-alive connection under them: h1 {}, h2c {}",
        h1.len() + h2.len(),
        h1.len(),
        h2.len(),
        failed.len(),
        retried(&h1),
        retried(&h2)
    );
    assert!(failed.is_empty(), "{:?}", &failed[..failed.len().min(5)]);
    // The old process closes idle kept-alive connections once, at the end of
    // the hand-over: only requests racing that close are resent.
    assert!(
        retried(&h1) + retried(&h2) <= (h1.len() + h2.len()) / 1000,
        "too many resent requests"
    );

    // All three listeners now belong to the new process, and the approved
    // registration carried over.
    let http = onestop_tests::client();
    assert_eq!(
        http.get(gw.url(&paths[0])).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        registry::status_of(&http, &gw.url(&registry::example_path(registered))).await,
        200,
        "the registered department is served by the new process"
    );
    let ready = http
        .get(format!("http://{}/readyz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let versions = gw.admin_get("/config/versions").await;
    assert!(!versions["versions"].as_array().unwrap().is_empty());
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gw.control))
        .unwrap()
        .connect()
        .await
        .expect("the control listener answers after the upgrade");
    let mut client = onestop_sim::pb::registry::registry_client::RegistryClient::new(channel);
    let err = client.list(ListRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_complete() {
    let sim = Sim::start(4, 50).await;
    let mut gw = gateway(&sim, Duration::from_secs(4)).await;
    let dept = sim
        .manifest
        .departments
        .iter()
        .find(|d| {
            d.matters
                .iter()
                .any(|m| m.method == "GET" && m.path.starts_with("/api/"))
        })
        .unwrap();
    for i in &dept.instances {
        sim.set_faults(&i.id, json!({"latency_ms": 1500})).await;
    }
    let path = dept
        .matters
        .iter()
        .find(|m| m.method == "GET")
        .unwrap()
        .example
        .path
        .clone();
    let http = onestop_tests::client();
    let inflight: Vec<_> = (0..20)
        .map(|_| {
            let (http, url) = (http.clone(), gw.url(&path));
            tokio::spawn(async move {
                let started = Instant::now();
                let status = http
                    .get(&url)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                (status, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = Instant::now();
    gw.proc.signal("TERM");
    let mut done = Vec::new();
    for t in inflight {
        done.push(t.await.unwrap());
    }
    let ok = done.iter().filter(|(s, _)| *s == 200).count();
    println!(
        "SIGTERM with 20 requests in flight (1.5 s each): {ok} completed with 200, slowest {:?}",
        done.iter().map(|(_, d)| *d).max().unwrap()
    );
    assert_eq!(ok, 20, "{done:?}");
    // The process then exits by itself after the grace period.
    let status = tokio::task::block_in_place(|| gw.proc.wait_exit(Duration::from_secs(15)));
    println!("exited {:?} after SIGTERM with {status:?}", term.elapsed());
    assert!(
        status.is_some_and(|s| s.success()),
        "the gateway did not exit cleanly after SIGTERM"
    );
}
