//! Registration parity: a department that registers over the control plane
//! declares route policies as its file would (`policy`: the same TOML keys,
//! checked by the same code). The same service — from a file in one
//! gateway, registered in another — caches its public reference matter
//! (a repeat is a `HIT`) and audits its data route (the citizen's access
//! log) alike. A policy that widens exposure waits for an operator; one
//! that narrows it applies at once. Also: the catalog lists gRPC matters'
//! JSON bindings, and the control listener answers reflection v1alpha.

use std::time::Duration;

use onestop_control::pb::registry as pb;
use onestop_sim::manifest::{DeptManifest, MatterManifest};
use onestop_sim::registrar::{is_public_reference, service_spec_with};
use onestop_tests::registry::{DeptClient, addrs, approve, issue_token};
use onestop_tests::secure::Secure;
use onestop_tests::sharing::access_log;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, wait_for};
use serde_json::Value;

const DEPARTMENTS: usize = 16;

/// A department with a data item and a public reference matter.
fn subject(sim: &Sim) -> &DeptManifest {
    sim.manifest
        .departments
        .iter()
        .find(|d| {
            d.matters.iter().any(|m| m.data_item.is_some())
                && d.matters.iter().any(is_public_reference)
        })
        .expect("a department with a data item and a public reference matter")
}

async fn gateway(sim: &Sim, secure: &Secure, registered: Option<&DeptManifest>) -> Gateway {
    let opts = ConfigOptions {
        citizen_auth: true,
        reference_cache: true,
        ..ConfigOptions::default()
    };
    Gateway::start_setup(
        &sim.manifest,
        &opts,
        |config| {
            secure.write_keys(config);
            if let Some(d) = registered {
                std::fs::write(
                    config.join(format!("departments/{}.toml", d.id)),
                    onestop::fleet_config::department_header_toml(d, &opts),
                )
                .unwrap();
            }
        },
        GatewaySetup {
            threads: 2,
            extra: secure.gateway_toml(&[]),
            ..GatewaySetup::default()
        },
    )
    .await
}

/// The cache header of two GETs of `path` in a row.
async fn twice(
    http: &reqwest::Client,
    gw: &Gateway,
    path: &str,
) -> (u16, Option<String>, Option<String>) {
    let mut seen = Vec::new();
    let mut status = 0;
    for _ in 0..2 {
        let r = http.get(gw.url(path)).send().await.unwrap();
        status = r.status().as_u16();
        seen.push(
            r.headers()
                .get("x-onestop-cache")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
    }
    (status, seen[0].clone(), seen[1].clone())
}

fn data_path(m: &MatterManifest, citizen: &str) -> String {
    m.path.replace("{citizen}", citizen)
}

/// What one gateway does with the subject's routes: the public matter's
/// cache headers, and the access-log records of one data read.
async fn behaviour(
    sim: &Sim,
    secure: &Secure,
    gw: &Gateway,
    d: &DeptManifest,
) -> (Value, Vec<String>) {
    let me = sim.manifest.citizens[0].id.clone();
    let http = secure.client(Some(&me));
    let anonymous = secure.client(None);
    let public = d.matters.iter().find(|m| is_public_reference(m)).unwrap();
    let cached = twice(&anonymous, gw, &public.example.path).await;
    let data = d.matters.iter().find(|m| m.data_item.is_some()).unwrap();
    let r = http
        .get(gw.url(&data_path(data, &me)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", data.path);
    let mut log = Vec::new();
    for _ in 0..60 {
        log = access_log(&http, gw).await;
        if !log.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items: Vec<String> = log
        .iter()
        .map(|r| format!("{} {} {}", r["accessor"]["kind"], r["item"], r["outcome"]))
        .collect();
    (serde_json::json!([cached.0, cached.1, cached.2]), items)
}

#[tokio::test]
async fn a_registered_service_caches_and_audits_like_a_file_and_widening_waits() {
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let d = subject(&sim).clone();
    let from_file = gateway(&sim, &secure, None).await;
    let registering = gateway(&sim, &secure, Some(&d)).await;

    let client =
        DeptClient::connect(registering.control, &issue_token(&registering, &d.id).await).await;
    let spec = service_spec_with(&d, "main", Duration::from_secs(30), true);
    assert!(
        spec.routes.iter().any(|r| r.policy.contains("data_item")),
        "{spec:?}"
    );
    let reg = client.register(spec.clone(), &addrs(&d)).await.unwrap();
    assert_eq!(approve(&registering, &d.id, reg.revision).await.0, 200);
    let http = secure.client(None);
    let public = d.matters.iter().find(|m| is_public_reference(m)).unwrap();
    let url = registering.url(&public.example.path);
    let routed = wait_for(Duration::from_secs(5), || async {
        http.get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    })
    .await;
    assert!(routed.is_some(), "the registered service was not routed");

    let file = behaviour(&sim, &secure, &from_file, &d).await;
    // A fresh cache in the second gateway: the first answer above was
    // its MISS; read the figures the same way.
    let registered = behaviour(&sim, &secure, &registering, &d).await;
    println!("file: {file:?}\nregistered: {registered:?}");
    assert_eq!(file.0[2], "HIT", "file route: {file:?}");
    assert_eq!(registered.0[2], "HIT", "registered route: {registered:?}");
    assert_eq!(file.1, registered.1, "audit differs");
    assert!(!file.1.is_empty(), "the data read was not audited");

    // A policy problem is named by field with the file's message.
    let mut bad = spec.clone();
    bad.routes[0].policy = "cahce = { ttl = \"1s\" }".into();
    let err = client.register(bad, &addrs(&d)).await.unwrap_err();
    assert!(
        err.message().contains("routes[0].policy")
            && err.message().contains("unknown field `cahce`"),
        "{err:?}"
    );

    // Narrowing (the public matter's cache removed) applies at once.
    let mut narrow = spec.clone();
    for r in &mut narrow.routes {
        if r.policy.contains("cache") {
            r.policy = r
                .policy
                .lines()
                .filter(|l| !l.starts_with("cache"))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    let reg = client.register(narrow, &addrs(&d)).await.unwrap();
    assert_eq!(reg.status, pb::Status::Approved as i32, "{reg:?}");
    let uncached = wait_for(Duration::from_secs(5), || async {
        let (_, _, second) = twice(&http, &registering, &public.example.path).await;
        second.as_deref() != Some("HIT")
    })
    .await;
    assert!(uncached.is_some(), "the narrowed policy did not apply");
    // Widening (the shared cache back) waits for an operator; meanwhile
    // the approved, uncached form serves.
    let reg = client.register(spec.clone(), &addrs(&d)).await.unwrap();
    assert_eq!(reg.status, pb::Status::Pending as i32, "{reg:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, second) = twice(&http, &registering, &public.example.path).await;
    assert_ne!(
        second.as_deref(),
        Some("HIT"),
        "a widening applied before approval"
    );
    assert_eq!(approve(&registering, &d.id, reg.revision).await.0, 200);
    let cached = wait_for(Duration::from_secs(5), || async {
        let (_, _, second) = twice(&http, &registering, &public.example.path).await;
        second.as_deref() == Some("HIT")
    })
    .await;
    assert!(cached.is_some(), "the approved widening did not apply");
}

#[tokio::test]
async fn the_catalog_shows_json_bindings_and_reflection_answers_v1alpha() {
    let sim = Sim::start(DEPARTMENTS, 50).await;
    let gw = Gateway::start(&sim.manifest, &ConfigOptions::default()).await;
    let catalog: Value = reqwest::get(gw.url("/api/v1/catalog"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let matters = catalog["matters"].as_array().unwrap();
    let grpc_depts: Vec<&str> = sim
        .manifest
        .departments
        .iter()
        .filter(|d| d.grpc_service.is_some())
        .map(|d| d.id.as_str())
        .collect();
    assert!(!grpc_depts.is_empty());
    let grpc: Vec<&Value> = matters
        .iter()
        .filter(|m| grpc_depts.contains(&m["dept"].as_str().unwrap_or_default()))
        .collect();
    assert!(!grpc.is_empty(), "{catalog}");
    for m in &grpc {
        let bindings = m["json_bindings"]
            .as_array()
            .unwrap_or_else(|| panic!("no bindings: {m}"));
        assert!(!bindings.is_empty(), "{m}");
        for b in bindings {
            assert!(
                b["grpc_path"].as_str().is_some_and(|p| p.starts_with('/')),
                "{b}"
            );
            assert!(
                b["method"].is_string()
                    && b["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/api/v1/")),
                "{b}"
            );
        }
    }
    println!(
        "{} gRPC matters with JSON bindings, e.g. {}",
        grpc.len(),
        grpc[0]
    );
    // Reflection v1alpha on the control listener.
    let names = onestop_tests::reflection_v1alpha_services(gw.control).await;
    assert!(names.iter().any(|n| n.contains("Registry")), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n == "grpc.reflection.v1alpha.ServerReflection"),
        "{names:?}"
    );
}
