//! End-to-end tests of the fleet: real sockets on loopback, called the way
//! the gateway and operators call them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::HashSet,
    net::SocketAddr,
    time::{Duration, Instant},
};

use onestop_sim::{
    CITIZEN_HEADER, Fleet, FleetOptions, SimError, citizens,
    manifest::{FleetManifest, HealthProbe, Protocol},
};
use serde_json::{Value, json};
use support::*;
use tokio::net::TcpStream;

#[tokio::test]
async fn manifest_describes_the_whole_fleet() {
    let fleet = start().await;
    let m = fleet.manifest();
    assert_eq!(m.departments.len(), 32);
    assert_eq!(m.departments[0].id, "hrss");
    assert_eq!(m.departments[31].id, "postal");
    let grpc: Vec<&str> = m
        .departments
        .iter()
        .filter(|d| d.protocol == Protocol::Grpc)
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(grpc, ["traffic", "tax", "health", "medins"]);

    let instances: Vec<_> = m.departments.iter().flat_map(|d| &d.instances).collect();
    assert_eq!(instances.len(), 44);
    let addrs: HashSet<SocketAddr> = instances.iter().map(|i| i.addr).collect();
    assert_eq!(
        addrs.len(),
        instances.len(),
        "every instance has its own socket"
    );
    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() != 0));
    assert_eq!(dept(m, "hpf").instances[2].id, "hpf-2");

    for d in &m.departments {
        match d.protocol {
            Protocol::Http => {
                assert_eq!(
                    d.health,
                    HealthProbe::Http {
                        path: "/healthz".into()
                    }
                );
                let ids: Vec<&str> = d.matters.iter().map(|x| x.id.as_str()).collect();
                assert!(
                    ["overview", "echo", "apply", "withdraw"]
                        .iter()
                        .all(|shared| ids.contains(shared)),
                    "{}",
                    d.id
                );
                // Data items' matters come on top.
                let own = d.matters.iter().filter(|x| x.data_item.is_none()).count();
                assert!((6..=8).contains(&own), "{}: {ids:?}", d.id);
                assert!(
                    d.matters
                        .iter()
                        .all(|x| x.path.starts_with(&format!("/api/v1/depts/{}/", d.id)))
                );
            }
            Protocol::Grpc => {
                let service = d.grpc_service.clone().unwrap();
                assert!(
                    service.starts_with(&format!("onestop.sim.{}.v1.", d.id)),
                    "{service}"
                );
                assert_eq!(
                    d.health,
                    HealthProbe::Grpc {
                        service: service.clone()
                    }
                );
                assert!(
                    d.matters
                        .iter()
                        .all(|x| x.method == "POST" && x.path.starts_with(&format!("/{service}/")))
                );
                assert!(d.matters.iter().any(|x| x.streaming), "{}", d.id);
            }
        }
    }
    assert_eq!(m.citizens.len(), 20);
    assert!(
        m.citizens
            .iter()
            .all(|c| citizens::is_valid_resident_id(&c.id))
    );

    // The control API serves the same manifest.
    let (status, body) = control(&fleet, reqwest::Method::GET, "/fleet", None).await;
    assert_eq!(status, 200);
    let served: FleetManifest = serde_json::from_value(body).unwrap();
    assert_eq!(&served, m);
    fleet.shutdown().await;
}

#[tokio::test]
async fn options_are_validated_and_departments_taken_in_order() {
    let err = Fleet::start(FleetOptions {
        departments: 33,
        ..FleetOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::InvalidOptions(_)), "{err}");
    let fleet = Fleet::start(FleetOptions {
        departments: 6,
        citizens: 5,
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let ids: Vec<&str> = fleet
        .manifest()
        .departments
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(ids, ["hrss", "hpf", "water", "power", "gas", "traffic"]);
    assert_eq!(fleet.manifest().citizens.len(), 5);
    fleet.shutdown().await;
}

#[tokio::test]
async fn every_example_answers_on_every_instance() {
    let fleet = start().await;
    let http = client();
    let mut calls = 0;
    for d in &fleet.manifest().departments {
        for instance in &d.instances {
            for matter in &d.matters {
                let what = format!(
                    "{} {} on {}",
                    matter.method, matter.example.path, instance.id
                );
                match d.protocol {
                    Protocol::Http => {
                        let (status, headers, body) =
                            http_example(&http, instance.addr, matter).await;
                        if matter.id == "withdraw" {
                            // The one example naming nothing that exists.
                            assert_eq!(status, 404, "{what}: {body}");
                            assert_eq!(body["error"]["code"], "APPLICATION_NOT_FOUND", "{what}");
                        } else {
                            assert!(status.is_success(), "{what}: {status} {body}");
                        }
                        assert_eq!(headers["x-sim-instance"], instance.id.as_str(), "{what}");
                        if matter.citizen_param.is_some() {
                            assert_eq!(
                                body["citizen_id"],
                                fleet.manifest().citizens[0].id,
                                "{what}"
                            );
                        }
                    }
                    Protocol::Grpc => {
                        let answer = grpc_example(instance.addr, matter).await;
                        let (metadata, messages) =
                            answer.unwrap_or_else(|s| panic!("{what}: {s:?}"));
                        assert_eq!(
                            metadata.get("x-sim-instance").unwrap(),
                            instance.id.as_str(),
                            "{what}"
                        );
                        let expected = matter
                            .example
                            .body
                            .as_ref()
                            .and_then(|b| b["count"].as_u64())
                            .unwrap_or(1);
                        assert_eq!(messages as u64, expected, "{what}");
                    }
                }
                calls += 1;
            }
        }
    }
    assert!(calls > 150, "{calls}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn documents_are_deterministic_across_fleets_and_instances() {
    let a = start().await;
    let b = start().await;
    let http = client();
    let path = dept(a.manifest(), "hpf").matters[0].example.path.clone();
    let one = get_json(&http, dept(a.manifest(), "hpf").instances[0].addr, &path).await;
    let two = get_json(&http, dept(b.manifest(), "hpf").instances[2].addr, &path).await;
    assert_eq!(one, two);
    assert!(one["balance_fen"].as_i64().unwrap() > 0, "{one}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_citizens_are_not_found() {
    let fleet = start().await;
    let m = fleet.manifest();
    let http = client();
    let hpf = dept(m, "hpf").instances[0].addr;
    // Well-formed but never generated, malformed, and `me` without the header.
    for who in ["11010519491231002X", "not-an-id", "me"] {
        let res = http
            .get(url(hpf, &format!("/api/v1/depts/hpf/accounts/{who}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{who}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "CITIZEN_NOT_FOUND", "{who}");
    }
    // A generated citizen this department holds nothing on.
    let all = citizens::generate(m.seed, 100);
    let (i, stranger) = all
        .iter()
        .enumerate()
        .find(|(i, c)| !citizens::known_to(m.seed, "water", *i, &c.id))
        .expect("some citizen is unknown to water");
    assert!(i >= citizens::KNOWN_EVERYWHERE);
    let water = dept(m, "water").instances[0].addr;
    let res = http
        .get(url(
            water,
            &format!("/api/v1/depts/water/bills/{}", stranger.id),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .post(url(water, "/api/v1/depts/water/payments"))
        .json(&json!({"citizen": stranger.id, "bill_id": "x", "amount_fen": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // gRPC: NOT_FOUND with the reason in metadata.
    let traffic = dept(m, "traffic").instances[1].addr;
    let mut client = traffic_client(traffic).await;
    let status = client
        .get_licence(pb::traffic::GetLicenceRequest {
            citizen_id: "11010519491231002X".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.metadata().get("x-sim-reason").unwrap(),
        "citizen-unknown"
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn me_means_the_gateway_supplied_citizen() {
    let fleet = start().await;
    let m = fleet.manifest();
    let who = m.citizens[3].id.clone();
    let addr = dept(m, "hrss").instances[0].addr;
    let res = client()
        .get(url(addr, "/api/v1/depts/hrss/overview/me"))
        .header(CITIZEN_HEADER, &who)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["citizen_id"], who);
    assert_eq!(body["dept"], "hrss");
    assert!(body["summary"]["contributions"].is_object(), "{body}");

    let mut tax = tax_client(dept(m, "tax").instances[0].addr).await;
    let mut req = tonic::Request::new(pb::tax::GetTaxSummaryRequest {
        citizen_id: "me".into(),
        year: 0,
    });
    req.metadata_mut()
        .insert(CITIZEN_HEADER, who.parse().unwrap());
    assert_eq!(
        tax.get_tax_summary(req).await.unwrap().get_ref().citizen_id,
        who
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn echo_reflects_what_was_forwarded() {
    let fleet = start().await;
    let d = dept(fleet.manifest(), "court");
    let res = client()
        .put(url(
            d.instances[0].addr,
            "/api/v1/depts/court/echo/a/b%20c?x=1&y=%E4%B8%AD",
        ))
        .header("x-request-id", "req-1")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["instance"], "court-0");
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/api/v1/depts/court/echo/a/b%20c");
    assert_eq!(body["query"], "x=1&y=%E4%B8%AD");
    assert_eq!(body["headers"]["x-request-id"], "req-1");
    assert_eq!(body["headers"]["x-multi"], "one, two");
    assert_eq!(body["body_len"], 5);
    fleet.shutdown().await;
}

#[tokio::test]
async fn down_drops_every_connection_and_up_rebinds_the_same_port() {
    let fleet = start().await;
    let instance = &dept(fleet.manifest(), "gas").instances[0];
    let addr = instance.addr;

    let mut open = TcpStream::connect(addr).await.unwrap();
    assert!(
        raw_get(&mut open, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    let state = set_faults(&fleet, "gas-0", json!({"down": true})).await;
    assert_eq!(state["faults"]["down"], true);
    assert!(
        raw_get(&mut open, "/healthz").await.is_err(),
        "open connection must be dropped"
    );
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let state = set_faults(&fleet, "gas-0", json!({"down": false})).await;
    assert_eq!(state["faults"]["down"], false);
    let mut again = TcpStream::connect(addr)
        .await
        .expect("same address serves again");
    assert!(
        raw_get(&mut again, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    // gRPC too: a channel sees UNAVAILABLE while down and recovers after.
    let medins = dept(fleet.manifest(), "medins").instances[0].addr;
    let mut grpc = medins_client(medins).await;
    let account = || pb::medins::GetAccountRequest {
        citizen_id: fleet.manifest().citizens[0].id.clone(),
    };
    grpc.get_account(account()).await.unwrap();
    set_faults(&fleet, "medins-0", json!({"down": true})).await;
    assert_eq!(
        grpc.get_account(account()).await.unwrap_err().code(),
        tonic::Code::Unavailable
    );
    set_faults(&fleet, "medins-0", json!({"down": false})).await;
    let mut recovered = false;
    for _ in 0..20 {
        if grpc.get_account(account()).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "gRPC channel reconnects to the revived instance");
    fleet.shutdown().await;
}

#[tokio::test]
async fn refuse_closes_the_listener_but_keeps_open_connections() {
    let fleet = start().await;
    let addr = dept(fleet.manifest(), "edu").instances[0].addr;
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert!(
        raw_get(&mut open, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    set_faults(&fleet, "edu-0", json!({"refuse": true})).await;
    assert_eq!(
        TcpStream::connect(addr).await.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    assert!(
        raw_get(&mut open, "/api/v1/depts/edu/schools")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    set_faults(&fleet, "edu-0", json!({"refuse": false})).await;
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    assert!(
        raw_get(&mut fresh, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn latency_delays_requests_but_not_health_checks() {
    let fleet = start().await;
    let addr = dept(fleet.manifest(), "stats").instances[0].addr;
    set_faults(&fleet, "stats-0", json!({"latency_ms": 300})).await;
    let http = client();

    let started = Instant::now();
    get_json(&http, addr, "/api/v1/depts/stats/indicators").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let res = http.get(url(addr, "/healthz")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "ok");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    // gRPC instances are delayed the same way.
    set_faults(&fleet, "tax-1", json!({"latency_ms": 200})).await;
    let mut tax = tax_client(dept(fleet.manifest(), "tax").instances[1].addr).await;
    let started = Instant::now();
    let req = pb::tax::GetTaxSummaryRequest {
        citizen_id: fleet.manifest().citizens[0].id.clone(),
        year: 0,
    };
    tax.get_tax_summary(req).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn error_rate_and_the_control_api_contract() {
    let fleet = start().await;
    let m = fleet.manifest();
    let http = client();

    // error_rate 1.0: every request fails, health checks do not.
    set_faults(&fleet, "power-1", json!({"error_rate": 1.0})).await;
    let addr = dept(m, "power").instances[1].addr;
    let res = http
        .get(url(addr, "/api/v1/depts/power/outages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-sim-instance"], "power-1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SIM_INJECTED_FAULT");
    assert_eq!(
        http.get(url(addr, "/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The other instance is untouched.
    get_json(
        &http,
        dept(m, "power").instances[0].addr,
        "/api/v1/depts/power/outages",
    )
    .await;

    set_faults(&fleet, "health-0", json!({"error_rate": 1.0})).await;
    let mut hospital = health_client(dept(m, "health").instances[0].addr).await;
    let req = pb::health::ListHospitalsRequest {
        citizen_id: m.citizens[0].id.clone(),
        department: String::new(),
    };
    let status = hospital.list_hospitals(req).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    // Bad patches are refused with a reason, and change nothing.
    for bad in [
        json!({"error_rate": 1.5}),
        json!({"latency": 5}),
        json!({"down": "yes"}),
    ] {
        let (status, body) = control(
            &fleet,
            reqwest::Method::PUT,
            "/fleet/instances/power-0/faults",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{body}"
        );
    }
    let (_, state) = control(
        &fleet,
        reqwest::Method::GET,
        "/fleet/instances/power-0",
        None,
    )
    .await;
    assert_eq!(state["faults"]["error_rate"], 0.0);
    let (status, _) = control(
        &fleet,
        reqwest::Method::PUT,
        "/fleet/instances/nope-9/faults",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = control(
        &fleet,
        reqwest::Method::GET,
        "/fleet/instances/nope-9",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Department-wide knobs, then a global reset.
    let (status, body) = control(
        &fleet,
        reqwest::Method::PUT,
        "/fleet/departments/hrss/faults",
        Some(json!({"latency_ms": 5, "error_rate": 0.25})),
    )
    .await;
    assert_eq!(status, 200);
    let list = body["instances"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter()
            .all(|i| i["faults"]["latency_ms"] == 5 && i["faults"]["error_rate"] == 0.25)
    );
    let (status, _) = control(
        &fleet,
        reqwest::Method::PUT,
        "/fleet/departments/nope/faults",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, body) = control(&fleet, reqwest::Method::DELETE, "/fleet/faults", None).await;
    assert_eq!(status, 200);
    assert!(
        body["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["faults"]
                == json!({"latency_ms": 0, "error_rate": 0.0, "refuse": false, "down": false, "lease": true}))
    );
    assert_eq!(
        http.get(url(addr, "/api/v1/depts/power/outages"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn counters_separate_requests_from_health_checks() {
    let fleet = start().await;
    let m = fleet.manifest();
    let http = client();
    let addr = dept(m, "weather").instances[0].addr;
    for _ in 0..3 {
        get_json(&http, addr, "/api/v1/depts/weather/forecasts").await;
    }
    http.get(url(addr, "/api/v1/depts/weather/nothing-here"))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        http.get(url(addr, "/healthz")).send().await.unwrap();
    }
    let (_, state) = control(
        &fleet,
        reqwest::Method::GET,
        "/fleet/instances/weather-0",
        None,
    )
    .await;
    assert_eq!(state["requests"], 4, "{state}");
    assert_eq!(state["health_checks"], 2, "{state}");

    let traffic = dept(m, "traffic").instances[2].addr;
    let service = dept(m, "traffic").grpc_service.clone().unwrap();
    assert_eq!(grpc_health(traffic, &service).await, 1, "SERVING");
    let mut police = traffic_client(traffic).await;
    police
        .get_licence(pb::traffic::GetLicenceRequest {
            citizen_id: m.citizens[1].id.clone(),
        })
        .await
        .unwrap();
    let (_, state) = control(
        &fleet,
        reqwest::Method::GET,
        "/fleet/instances/traffic-2",
        None,
    )
    .await;
    assert_eq!(
        (state["requests"].as_u64(), state["health_checks"].as_u64()),
        (Some(1), Some(1)),
        "{state}"
    );

    let (status, _) = control(&fleet, reqwest::Method::POST, "/fleet/stats/reset", None).await;
    assert_eq!(status, 200);
    let (_, state) = control(
        &fleet,
        reqwest::Method::GET,
        "/fleet/instances/weather-0",
        None,
    )
    .await;
    assert_eq!(
        (state["requests"].as_u64(), state["health_checks"].as_u64()),
        (Some(0), Some(0))
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn streams_can_fail_after_sending_messages() {
    let fleet = start().await;
    let m = fleet.manifest();
    let mut medins = medins_client(dept(m, "medins").instances[1].addr).await;
    let req = pb::medins::ListClaimsRequest {
        citizen_id: m.citizens[0].id.clone(),
        count: 5,
        interval_ms: 20,
        fail_after: 2,
    };
    let started = Instant::now();
    let response = medins.list_claims(req).await.unwrap();
    assert_eq!(
        response.metadata().get("x-sim-instance").unwrap(),
        "medins-1"
    );
    let mut stream = response.into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let second = stream.message().await.unwrap().unwrap();
    assert_eq!((first.seq, second.seq), (0, 1));
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        status.metadata().get("x-sim-detail").unwrap(),
        "stream-failed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "interval between messages"
    );

    // A stream without fail_after ends cleanly after `count` messages.
    let req = pb::medins::ListClaimsRequest {
        citizen_id: m.citizens[0].id.clone(),
        count: 7,
        interval_ms: 0,
        fail_after: 0,
    };
    let mut stream = medins.list_claims(req).await.unwrap().into_inner();
    let mut n = 0;
    while stream.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 7);
    fleet.shutdown().await;
}

#[tokio::test]
async fn manifest_file_is_written_atomically() {
    let fleet = Fleet::start(FleetOptions {
        departments: 2,
        citizens: 12,
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("onestop-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.json");
    onestop_sim::write_manifest(&path, fleet.manifest()).unwrap();
    onestop_sim::write_manifest(&path, fleet.manifest()).unwrap();
    let read: FleetManifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(&read, fleet.manifest());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    std::fs::remove_dir_all(&dir).unwrap();
    fleet.shutdown().await;
}
