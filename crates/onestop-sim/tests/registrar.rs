//! The registrar against a fake gateway registry on loopback: what it
//! registers, how it renews, and how it reacts to faults, forgetful and
//! unreachable registries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use onestop_sim::{
    Fleet, FleetOptions, Registrar, RegistrarOptions, Registration, SimError,
    manifest::DeptManifest, pb::registry as pb,
};
use serde_json::json;
use support::{
    client, control, dept,
    registry::{FakeRegistry, wait_until},
    set_faults, url,
};
use tokio::net::TcpListener;

const TTL: Duration = Duration::from_millis(300);
const PATIENCE: Duration = Duration::from_secs(5);

/// hrss, hpf, water, power, gas (HTTP) and traffic (gRPC).
async fn fleet() -> Fleet {
    Fleet::start(FleetOptions {
        departments: 6,
        citizens: 20,
        ..FleetOptions::default()
    })
    .await
    .unwrap()
}

fn options(control: std::net::SocketAddr, depts: &[&str]) -> RegistrarOptions {
    RegistrarOptions {
        lease_ttl: TTL,
        ..RegistrarOptions::new(
            control,
            depts
                .iter()
                .map(|d| ((*d).to_owned(), format!("tok-{d}")))
                .collect(),
        )
    }
}

fn addrs(d: &DeptManifest) -> Vec<String> {
    d.instances.iter().map(|i| i.addr.to_string()).collect()
}

fn weighted(addrs: &[String]) -> Vec<pb::Instance> {
    addrs
        .iter()
        .map(|a| pb::Instance {
            addr: a.clone(),
            weight: 1,
        })
        .collect()
}

/// The routes of `d` with the expected (id, kind, pattern, method,
/// citizen_param, timeout_ms); name and description come from the manifest.
fn routes(
    d: &DeptManifest,
    expected: &[(&str, pb::PathKind, &str, &str, &str, u32)],
) -> Vec<pb::Route> {
    assert_eq!(d.matters.len(), expected.len(), "{}", d.id);
    d.matters
        .iter()
        .zip(expected)
        .map(
            |(m, &(id, kind, pattern, method, citizen, timeout))| pb::Route {
                id: id.into(),
                name: m.name.clone(),
                description: m.description.clone(),
                kind: kind.into(),
                pattern: pattern.into(),
                methods: vec![method.into()],
                citizen_param: citizen.into(),
                timeout_ms: Some(timeout),
                auth: if citizen.is_empty() && method == "GET" {
                    pb::AuthMode::Public
                } else {
                    pb::AuthMode::Citizen
                }
                .into(),
                policy: String::new(),
            },
        )
        .collect()
}

fn http_health() -> pb::HealthCheck {
    pb::HealthCheck {
        probe: Some(pb::health_check::Probe::Http(pb::HttpProbe {
            path: "/healthz".into(),
        })),
        interval_ms: 1000,
        timeout_ms: 500,
    }
}

fn metadata(name: &str, name_en: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("name".into(), name.into()),
        ("name_en".into(), name_en.into()),
        ("sim".into(), "true".into()),
    ])
}

/// The registered instances of every `Register` of `dept` after `since`.
fn registered_since(fake: &FakeRegistry, dept: &str, since: Instant) -> Vec<Vec<String>> {
    fake.registers(dept)
        .into_iter()
        .filter(|c| c.at > since)
        .map(|c| c.request.instances.into_iter().map(|i| i.addr).collect())
        .collect()
}

/// The addresses of every `Renew` of `dept` after `since`.
fn renewed_since(fake: &FakeRegistry, dept: &str, since: Instant) -> Vec<Vec<String>> {
    fake.renews(dept)
        .into_iter()
        .filter(|c| c.at > since)
        .map(|c| c.request.addrs)
        .collect()
}

#[tokio::test]
async fn registers_http_and_grpc_departments_with_their_exact_spec() {
    let fleet = fleet().await;
    let m = fleet.manifest();
    let fake = FakeRegistry::new(&["hpf", "gas", "traffic"]);
    let (control_addr, server) = fake.start().await;
    let registrar = fleet
        .register(options(control_addr, &["hpf", "gas", "traffic"]))
        .await
        .unwrap();

    let pending = Registration {
        revision: 1,
        status: pb::Status::Pending,
        lease_ttl: TTL,
    };
    assert_eq!(
        registrar.status(),
        BTreeMap::from([
            ("gas".to_owned(), pending),
            ("hpf".to_owned(), pending),
            ("traffic".to_owned(), pending),
        ])
    );

    use pb::PathKind::{Exact, Template};
    let hpf = dept(m, "hpf");
    let expected_hpf = pb::RegisterRequest {
        service: Some(pb::ServiceSpec {
            dept: "hpf".into(),
            service: "main".into(),
            protocol: pb::Protocol::Http.into(),
            lb: pb::LbPolicy::ConsistentHash.into(),
            health: Some(http_health()),
            routes: routes(
                hpf,
                &[
                    (
                        "account",
                        Template,
                        "/api/v1/depts/hpf/accounts/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    (
                        "loan",
                        Template,
                        "/api/v1/depts/hpf/loans/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    (
                        "withdrawal",
                        Exact,
                        "/api/v1/depts/hpf/withdrawals",
                        "POST",
                        "",
                        5000,
                    ),
                    (
                        "data-account",
                        Template,
                        "/api/v1/depts/hpf/data/account/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    (
                        "overview",
                        Template,
                        "/api/v1/depts/hpf/overview/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    ("echo", Exact, "/api/v1/depts/hpf/echo", "GET", "", 5000),
                    (
                        "apply",
                        Template,
                        "/api/v1/depts/hpf/applications/{kind}",
                        "POST",
                        "",
                        5000,
                    ),
                    (
                        "withdraw",
                        Template,
                        "/api/v1/depts/hpf/applications/{kind}/{application}/withdraw",
                        "POST",
                        "",
                        5000,
                    ),
                ],
            ),
            metadata: metadata(
                "住房公积金管理中心",
                "Housing Provident Fund Management Centre",
            ),
            lease_ttl_ms: 300,
            descriptor_set: Vec::new(),
        }),
        instances: weighted(&addrs(hpf)),
    };
    let gas = dept(m, "gas");
    let expected_gas = pb::RegisterRequest {
        service: Some(pb::ServiceSpec {
            dept: "gas".into(),
            service: "main".into(),
            protocol: pb::Protocol::Http.into(),
            // One instance: nothing to keep citizens on.
            lb: pb::LbPolicy::RoundRobin.into(),
            health: Some(http_health()),
            routes: routes(
                gas,
                &[
                    (
                        "bills",
                        Template,
                        "/api/v1/depts/gas/bills/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    (
                        "payment",
                        Exact,
                        "/api/v1/depts/gas/payments",
                        "POST",
                        "",
                        5000,
                    ),
                    (
                        "overview",
                        Template,
                        "/api/v1/depts/gas/overview/{citizen}",
                        "GET",
                        "citizen",
                        5000,
                    ),
                    ("echo", Exact, "/api/v1/depts/gas/echo", "GET", "", 5000),
                    (
                        "apply",
                        Template,
                        "/api/v1/depts/gas/applications/{kind}",
                        "POST",
                        "",
                        5000,
                    ),
                    (
                        "withdraw",
                        Template,
                        "/api/v1/depts/gas/applications/{kind}/{application}/withdraw",
                        "POST",
                        "",
                        5000,
                    ),
                ],
            ),
            metadata: metadata("燃气公司", "Gas Company"),
            lease_ttl_ms: 300,
            descriptor_set: Vec::new(),
        }),
        instances: weighted(&addrs(gas)),
    };
    let traffic = dept(m, "traffic");
    let service = "onestop.sim.traffic.v1.TrafficPolice";
    let method = |name: &str| format!("/{service}/{name}");
    let (violations, licence, test, queue) = (
        method("ListViolations"),
        method("GetLicence"),
        method("BookDrivingTest"),
        method("WatchExamQueue"),
    );
    let expected_traffic = pb::RegisterRequest {
        service: Some(pb::ServiceSpec {
            dept: "traffic".into(),
            service: "main".into(),
            protocol: pb::Protocol::Grpc.into(),
            // citizen_id in every message and three instances.
            lb: pb::LbPolicy::ConsistentHash.into(),
            health: Some(pb::HealthCheck {
                probe: Some(pb::health_check::Probe::Grpc(pb::GrpcProbe {
                    service: service.into(),
                })),
                interval_ms: 1000,
                timeout_ms: 500,
            }),
            // The citizen is in the message, not the path: no citizen_param;
            // the stream has no deadline.
            routes: routes(
                traffic,
                &[
                    ("violations", Exact, &violations, "POST", "", 5000),
                    ("licence", Exact, &licence, "POST", "", 5000),
                    ("driving-test", Exact, &test, "POST", "", 5000),
                    ("exam-queue", Exact, &queue, "POST", "", 0),
                ],
            ),
            metadata: metadata("公安交通管理局", "Traffic Police Bureau"),
            lease_ttl_ms: 300,
            // The fleet's protos, so the gateway can transcode it.
            descriptor_set: onestop_sim::pb::FILE_DESCRIPTOR_SET.to_vec(),
        }),
        instances: weighted(&addrs(traffic)),
    };
    for (id, expected) in [
        ("hpf", expected_hpf),
        ("gas", expected_gas),
        ("traffic", expected_traffic),
    ] {
        let registers = fake.registers(id);
        assert_eq!(registers.len(), 1, "{id}: registered once");
        assert_eq!(registers[0].request, expected, "{id}");
    }
    assert_eq!(m.departments.len(), 6);

    // Each department's token on each of its calls; nothing for departments
    // without one.
    wait_until(PATIENCE, "a renewal of every department", || {
        ["hpf", "gas", "traffic"]
            .iter()
            .all(|d| !fake.renews(d).is_empty())
    })
    .await;
    for id in ["hpf", "gas", "traffic"] {
        let bearer = format!("Bearer tok-{id}");
        assert!(
            fake.registers(id).iter().all(|c| c.authorization == bearer),
            "{id}"
        );
        assert!(
            fake.renews(id).iter().all(|c| c.authorization == bearer),
            "{id}"
        );
    }
    for id in ["hrss", "water", "power"] {
        assert!(
            fake.registers(id).is_empty() && fake.renews(id).is_empty(),
            "{id}"
        );
    }
    registrar.stop().await;
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn renews_every_instance_every_third_of_the_ttl_until_stopped() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["hpf", "traffic"]);
    let (control_addr, server) = fake.start().await;
    let registrar = fleet
        .register(options(control_addr, &["hpf", "traffic"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1050)).await;

    for id in ["hpf", "traffic"] {
        let all = addrs(dept(fleet.manifest(), id));
        let renews = fake.renews(id);
        // ~10 in a second at 100 ms apart (the first one 100 ms after registering).
        assert!(
            (7..=11).contains(&renews.len()),
            "{id}: {} renewals",
            renews.len()
        );
        assert!(
            renews
                .iter()
                .all(|c| c.request.addrs == all && c.request.service == "main")
        );
        let mut gaps: Vec<u128> = renews
            .windows(2)
            .map(|w| (w[1].at - w[0].at).as_millis())
            .collect();
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        assert!((90..=150).contains(&median), "{id}: gaps {gaps:?}");
        assert!(gaps[0] >= 60, "{id}: gaps {gaps:?}");
        assert_eq!(
            fake.registers(id).len(),
            1,
            "{id}: nothing registered again"
        );
    }

    registrar.stop().await;
    let calls = fake.call_count();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(fake.call_count(), calls, "no call after stop");
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn renewals_follow_the_granted_ttl() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["gas"]).granting(900);
    let (control_addr, server) = fake.start().await;
    let registrar = fleet
        .register(options(control_addr, &["gas"]))
        .await
        .unwrap();
    assert_eq!(
        registrar.status()["gas"].lease_ttl,
        Duration::from_millis(900)
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Every 300 ms instead of every 100 ms.
    let renews = fake.renews("gas");
    assert!((2..=4).contains(&renews.len()), "{} renewals", renews.len());
    drop(registrar);
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn down_or_lease_off_instances_stop_renewing_and_register_again_when_back() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["hpf"]);
    let (control_addr, server) = fake.start().await;
    let registrar = fleet
        .register(options(control_addr, &["hpf"]))
        .await
        .unwrap();
    let all = addrs(dept(fleet.manifest(), "hpf"));

    // hpf-1 crashes; hpf-2 keeps serving but stops renewing.
    set_faults(&fleet, "hpf-1", json!({"down": true})).await;
    let report = set_faults(&fleet, "hpf-2", json!({"lease": false})).await;
    assert_eq!(
        report["faults"],
        json!({"latency_ms": 0, "error_rate": 0.0, "refuse": false, "down": false, "lease": false})
    );
    let changed = Instant::now();
    let res = client()
        .get(url(
            dept(fleet.manifest(), "hpf").instances[2].addr,
            "/healthz",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "lease: false keeps the instance serving");
    tokio::time::sleep(Duration::from_millis(450)).await;
    // A round already under way may still carry them; every later one not.
    let renewed = renewed_since(&fake, "hpf", changed + Duration::from_millis(150));
    assert!(renewed.len() >= 2, "{renewed:?}");
    assert!(
        renewed.iter().all(|a| *a == [all[0].clone()]),
        "{renewed:?}"
    );
    assert!(registered_since(&fake, "hpf", changed).is_empty());

    // Both come back: each is registered again (alone or together), then
    // renewed with the rest.
    let back = Instant::now();
    set_faults(&fleet, "hpf-1", json!({"down": false})).await;
    set_faults(&fleet, "hpf-2", json!({"lease": true})).await;
    wait_until(PATIENCE, "hpf-1 and hpf-2 registered again", || {
        registered_since(&fake, "hpf", back)
            .concat()
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len()
            == 2
    })
    .await;
    let again = registered_since(&fake, "hpf", back);
    assert!(
        again == [vec![all[1].clone(), all[2].clone()]]
            || again == [vec![all[1].clone()], vec![all[2].clone()]],
        "{again:?}"
    );
    let spec = fake.registers("hpf")[0].request.service.clone();
    assert!(
        fake.registers("hpf")
            .iter()
            .all(|c| c.request.service == spec)
    );
    let registered = fake.registers("hpf").last().unwrap().at;
    wait_until(PATIENCE, "a renewal of all three", || {
        renewed_since(&fake, "hpf", registered).contains(&all)
    })
    .await;
    assert_eq!(
        registrar.status()["hpf"].revision,
        1,
        "same spec, same revision"
    );
    registrar.stop().await;
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn unknown_addresses_are_registered_again() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["traffic"]);
    let (control_addr, server) = fake.start().await;
    let registrar = fleet
        .register(options(control_addr, &["traffic"]))
        .await
        .unwrap();
    let all = addrs(dept(fleet.manifest(), "traffic"));

    // One lease lapsed at the registry: a Register with just that instance.
    let forgot = Instant::now();
    fake.forget("traffic", &all[1]);
    wait_until(PATIENCE, "traffic-1 registered again", || {
        !registered_since(&fake, "traffic", forgot).is_empty()
    })
    .await;
    assert_eq!(
        registered_since(&fake, "traffic", forgot),
        [vec![all[1].clone()]]
    );
    assert_eq!(fake.leased("traffic"), all.iter().cloned().collect());

    // The registry lost the service: everything is registered again.
    let lost = Instant::now();
    fake.forget_service("traffic");
    wait_until(PATIENCE, "traffic registered again", || {
        !registered_since(&fake, "traffic", lost).is_empty()
    })
    .await;
    assert_eq!(registered_since(&fake, "traffic", lost), vec![all.clone()]);
    assert_eq!(fake.leased("traffic"), all.iter().cloned().collect());
    let last = fake.registers("traffic").last().unwrap().at;
    wait_until(PATIENCE, "renewals again", || {
        renewed_since(&fake, "traffic", last).len() >= 2
    })
    .await;
    assert_eq!(
        registered_since(&fake, "traffic", lost).len(),
        1,
        "registered once"
    );
    registrar.stop().await;
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_registry_is_retried_until_it_answers() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["gas", "traffic"]);
    // A port nobody listens on, yet.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_addr = port.local_addr().unwrap();
    drop(port);

    let opts = options(control_addr, &["gas", "traffic"]);
    let started = Instant::now();
    let registering = tokio::spawn(async move {
        let result = fleet.register(opts).await;
        (fleet, result)
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !registering.is_finished(),
        "register waits for the registry"
    );

    let server = fake.serve(TcpListener::bind(control_addr).await.unwrap());
    let (fleet, result) = tokio::time::timeout(PATIENCE, registering)
        .await
        .expect("registered once the registry answers")
        .unwrap();
    let registrar: Registrar = result.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    for id in ["gas", "traffic"] {
        let registers = fake.registers(id);
        assert_eq!(registers.len(), 1, "{id}");
        assert_eq!(registers[0].authorization, format!("Bearer tok-{id}"));
        assert_eq!(
            registers[0].request.instances,
            weighted(&addrs(dept(fleet.manifest(), id)))
        );
    }
    wait_until(PATIENCE, "renewals", || !fake.renews("traffic").is_empty()).await;
    registrar.stop().await;
    server.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn rejections_and_bad_options_are_errors() {
    let fleet = fleet().await;
    let fake = FakeRegistry::new(&["hpf", "gas"]);
    let (control_addr, server) = fake.start().await;

    let mut opts = options(control_addr, &["hpf"]);
    opts.tokens.insert("hpf".into(), "guessed".into());
    match fleet.register(opts).await {
        Err(SimError::Rejected {
            dept,
            code,
            message,
        }) => {
            assert_eq!(dept, "hpf");
            assert_eq!(code, tonic::Code::Unauthenticated);
            assert_eq!(message, "unknown department token");
        }
        other => panic!("{other:?}"),
    }
    let mut opts = options(control_addr, &["gas"]);
    opts.tokens.insert("gas".into(), "tok-hpf".into());
    match fleet.register(opts).await {
        Err(SimError::Rejected {
            dept,
            code,
            message,
        }) => {
            assert_eq!(dept, "gas");
            assert_eq!(code, tonic::Code::PermissionDenied);
            assert_eq!(message, "the token of hpf cannot act for gas");
        }
        other => panic!("{other:?}"),
    }

    let mut opts = options(control_addr, &["hpf"]);
    opts.lease_ttl = Duration::from_millis(299);
    assert!(matches!(
        fleet.register(opts).await,
        Err(SimError::InvalidOptions(_))
    ));
    let mut opts = options(control_addr, &["hpf"]);
    opts.tokens.insert("hpf".into(), "line\nbreak".into());
    let err = fleet.register(opts).await.unwrap_err();
    assert!(matches!(err, SimError::InvalidOptions(_)), "{err}");
    assert!(
        !err.to_string().contains("line"),
        "never prints the token: {err}"
    );
    let opts = options(control_addr, &["hpf"]);
    assert!(!format!("{opts:?}").contains("tok-hpf"), "{opts:?}");
    assert_eq!(fake.call_count(), 0, "rejected calls are not recorded");

    // The lease knob is a fault knob like the others: validated, reset.
    let (status, _) = control(
        &fleet,
        reqwest::Method::PUT,
        "/fleet/instances/hpf-0/faults",
        Some(json!({"lease": "no"})),
    )
    .await;
    assert_eq!(status, 400);
    set_faults(&fleet, "hpf-0", json!({"lease": false})).await;
    let (status, body) = control(&fleet, reqwest::Method::DELETE, "/fleet/faults", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["instances"][3]["id"], "hpf-0");
    assert_eq!(body["instances"][3]["faults"]["lease"], true);
    server.abort();
    fleet.shutdown().await;
}
