//! Active health checks on their own (passive ejection off, no traffic):
//! HTTP, TCP and gRPC probes each take a dead instance out and bring it back.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use onestop_tests::{ConfigOptions, Gateway, Sim, instance_up_series, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_http_tcp_and_grpc_checks_detect_and_readmit() {
    let sim = Sim::start(8, 20).await;
    let water = sim.dept("water").instances[0].clone();
    // A TCP-probed service over one water instance, beside the generated files.
    let tcp_file = format!(
        "[department]\nid = \"tcpcheck\"\nname = \"TCP probe\"\n\n[[services]]\nid = \"main\"\ninstances = [{{ addr = \"{}\" }}]\nhealth = {{ kind = \"tcp\", interval = \"1s\", timeout = \"500ms\" }}\noutlier = {{ consecutive_failures = 0 }}\n\n[[routes]]\nid = \"any\"\nprefix = \"/tcpcheck\"\nservice = \"main\"\n",
        water.addr
    );
    let opts = ConfigOptions {
        passive_health: false,
        ..ConfigOptions::default()
    };
    let gw = Gateway::start_with(&sim.manifest, &opts, |dir| {
        std::fs::write(dir.join("departments/tcpcheck.toml"), tcp_file).unwrap();
    })
    .await;

    let hpf = sim.dept("hpf").instances[1].clone();
    let traffic = sim.dept("traffic").instances[0].clone();
    let targets: [(&str, &str, SocketAddr, String); 3] = [
        ("http", "hpf", hpf.addr, hpf.id.clone()),
        ("grpc", "traffic", traffic.addr, traffic.id.clone()),
        ("tcp", "tcpcheck", water.addr, water.id.clone()),
    ];
    for (_, dept, addr, _) in &targets {
        assert_eq!(
            gw.metric(&instance_up_series(dept, "main", *addr)).await,
            Some(1.0)
        );
    }
    for (_, _, _, id) in &targets {
        sim.set_faults(id, json!({"down": true})).await;
    }
    let killed = Instant::now();
    for (kind, dept, addr, _) in &targets {
        let series = instance_up_series(dept, "main", *addr);
        wait_for(Duration::from_secs(5), || async {
            gw.metric(&series).await == Some(0.0)
        })
        .await
        .unwrap_or_else(|| panic!("{kind} probe never marked {addr} down"));
        let took = killed.elapsed();
        println!("{kind} probe: {addr} marked down after {took:?} (interval 1 s, timeout 500 ms)");
        // One interval (1 s) plus the probe timeout (0.5 s), with room for a stalled VM.
        assert!(took <= Duration::from_secs(4), "{kind}: {took:?}");
    }
    for (_, _, _, id) in &targets {
        sim.set_faults(id, json!({"down": false})).await;
    }
    let restored = Instant::now();
    for (kind, dept, addr, _) in &targets {
        let series = instance_up_series(dept, "main", *addr);
        wait_for(Duration::from_secs(8), || async {
            gw.metric(&series).await == Some(1.0)
        })
        .await
        .unwrap_or_else(|| panic!("{kind} probe never brought {addr} back"));
        let took = restored.elapsed();
        println!("{kind} probe: {addr} back after {took:?}");
    }
    // No request was sent: only the probes saw the instances.
    for (_, _, _, id) in &targets {
        assert_eq!(sim.requests(id).await, 0);
    }
}
