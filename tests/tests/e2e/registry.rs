//! The control plane end to end: departments register over gRPC with
//! operator-issued tokens, an operator approves through the admin API, and
//! only then does the data plane route to them; leases lapse; registrations
//! survive restarts; two gateways on one PostgreSQL share them; a store
//! outage changes nothing on the request path.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use onestop_sim::pb::registry as pb;
use onestop_tests::registry::{
    DeptClient, Renewer, addrs, approve, example_path, gateway, get_paths, http_depts, issue_token,
    onboard, spec, status_of,
};
use onestop_tests::relay::Relay;
use onestop_tests::{
    Gateway, GatewaySetup, Sim, paced_load_timed, pg_url, require_postgres, wait_for,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_approve_route_and_departments_stay_apart() {
    let sim = Sim::start(6, 50).await;
    let gw = gateway(&sim, GatewaySetup::default()).await;
    let depts = http_depts(&sim);
    let (a, b) = (depts[0], depts[1]);
    let token_a = issue_token(&gw, &a.id).await;
    let token_b = issue_token(&gw, &b.id).await;
    let client_a = DeptClient::connect(gw.control, &token_a).await;
    let client_b = DeptClient::connect(gw.control, &token_b).await;
    let http = onestop_tests::client();
    let url = gw.url(&example_path(a));

    // Register: pending, and pending gets no traffic.
    let reg = client_a
        .register(spec(a, Duration::from_secs(10)), &addrs(a))
        .await
        .unwrap();
    assert_eq!(reg.status(), pb::Status::Pending);
    assert!(reg.new_revision);
    let _renew_a = Renewer::start(
        client_a.clone(),
        &a.id,
        "main",
        &addrs(a),
        Duration::from_secs(2),
    );
    assert_eq!(status_of(&http, &url).await, 404);
    for i in &a.instances {
        assert_eq!(
            sim.requests(&i.id).await,
            0,
            "a pending service got traffic"
        );
    }

    // Department A cannot touch B's services, nor B A's.
    let err = client_a
        .register(spec(b, Duration::from_secs(10)), &addrs(b))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    client_b
        .register(spec(b, Duration::from_secs(10)), &addrs(b))
        .await
        .unwrap();
    for err in [
        client_a.deregister(&b.id, "main", &[]).await.unwrap_err(),
        client_a.renew(&b.id, "main", &addrs(b)).await.unwrap_err(),
        client_b.deregister(&a.id, "main", &[]).await.unwrap_err(),
    ] {
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    }
    assert_eq!(client_a.list().await.unwrap().services.len(), 1);
    // Leases renew on the KeepAlive stream too: one answer per request.
    let renew = pb::RenewRequest {
        dept: a.id.clone(),
        service: "main".into(),
        addrs: addrs(a).iter().map(ToString::to_string).collect(),
    };
    let answers = client_a
        .keep_alive(vec![renew.clone(), renew])
        .await
        .unwrap();
    assert_eq!(answers.len(), 2);
    for answer in &answers {
        assert_eq!(answer.renewed.len(), a.instances.len(), "{answer:?}");
        assert!(answer.unknown.is_empty());
        assert_eq!(answer.lease_ttl_ms, 10_000);
    }
    // No token, a made-up token: unauthenticated.
    let nobody = DeptClient::connect(gw.control, "ost_x_madeup").await;
    assert_eq!(
        nobody.list().await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );

    // Malformed registrations are refused with the field named; nothing stored.
    let mut bad = spec(a, Duration::from_secs(10));
    bad.service = "other".into();
    let err = client_a
        .register_instances(
            bad.clone(),
            vec![pb::Instance {
                addr: "hpf.example.gov.cn:80".into(),
                weight: 1,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("instances[0].addr"), "{err:?}");
    bad.dept = a.id.clone();
    bad.routes[0].pattern = "/api/v1/depts/somebody-else/x".into();
    let err = client_a.register(bad, &addrs(a)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("service.routes[0].pattern"),
        "{err:?}"
    );
    assert_eq!(
        client_a.list().await.unwrap().services.len(),
        1,
        "nothing partial was stored"
    );

    // Watch: the current state first, then the approval.
    let mut watch = client_a.watch().await.unwrap();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.services.len(), 1);
    assert_eq!(first.services[0].status(), pb::Status::Pending);

    // Approve: a wrong revision is refused; the right one routes within 1 s.
    let (status, _) = approve(&gw, &a.id, reg.revision + 1).await;
    assert_eq!(status, 409);
    let (status, body) = approve(&gw, &a.id, reg.revision).await;
    assert_eq!(status, 200, "{body}");
    let took = wait_for(Duration::from_secs(1), || async {
        status_of(&http, &url).await == 200
    })
    .await;
    println!("approval → traffic in {took:?}");
    assert!(took.is_some(), "approved service not routed within 1 s");
    let next = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let event = watch.message().await.unwrap().unwrap();
            if event.services[0].status() == pb::Status::Approved {
                return event;
            }
        }
    })
    .await
    .expect("the watch stream reports the approval");
    assert_eq!(next.services[0].approved_revision, reg.revision);
    assert_eq!(next.services[0].instances.len(), a.instances.len());
    let served: u64 = futures::future::join_all(a.instances.iter().map(|i| sim.requests(&i.id)))
        .await
        .into_iter()
        .sum();
    assert!(served > 0);
    // B is still pending: no traffic.
    assert_eq!(status_of(&http, &gw.url(&example_path(b))).await, 404);

    // The decision is recorded with who and when.
    let decisions = gw
        .admin_get(&format!("/registry/decisions?dept={}", a.id))
        .await;
    let d = &decisions["decisions"][0];
    assert_eq!(d["operator"], "test-operator");
    assert_eq!(d["verdict"], "approve");
    assert!(d["at"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_leaves_the_balancer_in_time_under_load() {
    let sim = Sim::start(4, 50).await;
    let gw = gateway(&sim, GatewaySetup::default()).await;
    let d = http_depts(&sim)
        .into_iter()
        .max_by_key(|d| d.instances.len())
        .unwrap();
    assert!(
        d.instances.len() >= 2,
        "needs a department with 2+ instances"
    );
    let ttl = Duration::from_millis(1500);
    let (_client, renewer) = onboard(&gw, d, ttl, Duration::from_millis(400)).await;
    let load = tokio::spawn(paced_load_with_instance(
        onestop_tests::client(),
        gw.url(""),
        get_paths(d),
        300,
        8,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The instance serving the example citizen (consistent hashing keeps
    // them on one instance) stops renewing; it keeps answering.
    let probe = reqwest::get(gw.url(&example_path(d))).await.unwrap();
    let serving = probe.headers()["x-sim-instance"]
        .to_str()
        .unwrap()
        .to_string();
    let victim = d
        .instances
        .iter()
        .find(|i| i.id == serving)
        .unwrap()
        .clone();
    let stopped_at = Instant::now();
    let last_renewal = renewer.stop(victim.addr).unwrap();
    let results = load.await.unwrap();

    let failed = results.iter().filter(|r| r.1 >= 500 || r.1 == 0).count();
    let last_to_victim = results
        .iter()
        .filter(|r| r.2.as_deref() == Some(victim.id.as_str()))
        .map(|r| r.0)
        .max()
        .unwrap();
    let since_renewal = last_to_victim.saturating_duration_since(last_renewal);
    println!(
        "{} requests, {failed} failed; last request to {} {:?} after its last renewal (ttl {ttl:?}); stopped renewing {:?} after it",
        results.len(),
        victim.id,
        since_renewal,
        stopped_at - last_renewal
    );
    assert!(
        (failed as f64) < results.len() as f64 * 0.001,
        "{failed} of {} failed",
        results.len()
    );
    assert!(
        since_renewal <= ttl + Duration::from_secs(1),
        "the instance kept getting traffic {since_renewal:?} after its last renewal"
    );
    let others_served = results
        .iter()
        .filter(|r| r.0 > last_to_victim && r.1 == 200)
        .count();
    assert!(others_served > 100, "the other instances took over");
    let lapsed = gw
        .metric(&format!(
            "onestop_registry_leases_lapsed_total{{dept=\"{}\",service=\"main\"}}",
            d.id
        ))
        .await;
    assert_eq!(lapsed, Some(1.0));
}

/// Like `paced_load_timed`, also recording which instance answered, and
/// when each request ended.
async fn paced_load_with_instance(
    http: reqwest::Client,
    base: String,
    paths: Arc<Vec<String>>,
    rate: u32,
    secs: u64,
) -> Vec<(Instant, u16, Option<String>)> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut tasks = Vec::new();
    for n in 0..u64::from(rate) * secs {
        ticker.tick().await;
        let http = http.clone();
        let url = format!("{base}{}", paths[n as usize % paths.len()]);
        tasks.push(tokio::spawn(async move {
            match http.get(&url).send().await {
                Ok(r) => {
                    let instance = r
                        .headers()
                        .get("x-sim-instance")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    let status = r.status().as_u16();
                    let started = Instant::now();
                    let _ = r.bytes().await;
                    (started, status, instance)
                }
                Err(_) => (Instant::now(), 0, None),
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_restart_and_zombies_are_reported() {
    let sim = Sim::start(4, 50).await;
    let mut gw = gateway(&sim, GatewaySetup::default()).await;
    let depts = http_depts(&sim);
    let (live, dying) = (depts[0], depts[1]);
    let mut renewers = Vec::new();
    for d in [live, dying] {
        renewers.push(
            onboard(&gw, d, Duration::from_secs(2), Duration::from_millis(500))
                .await
                .1,
        );
    }
    let http = onestop_tests::client();

    // Crash the gateway and start it again on the same files and data
    // directory: the approved registrations and live leases come back from
    // the store (same listeners, same operator token).
    gw.proc.kill();
    gw.proc = Gateway::spawn_serve(gw.dir.path(), &[], "gateway-2.log");
    gw.wait_ready(Duration::from_secs(30)).await;
    for d in [live, dying] {
        assert_eq!(
            status_of(&http, &gw.url(&example_path(d))).await,
            200,
            "{} not served after the restart",
            d.id
        );
    }

    // Every instance of one department stops: it becomes a zombie.
    for i in &dying.instances {
        renewers[1].stop(i.addr);
        sim.set_faults(&i.id, json!({"down": true})).await;
    }
    let zombie = wait_for(Duration::from_secs(8), || async {
        let report = gw.admin_get("/registry/zombies?window=1h").await;
        report.to_string().contains(&format!("\"{}\"", dying.id))
    })
    .await;
    let report = gw.admin_get("/registry/zombies?window=1h").await;
    println!("zombie report after {zombie:?}: {report}");
    assert!(zombie.is_some(), "{report}");
    let text = report.to_string();
    assert!(text.contains("no_healthy_instance"), "{report}");
    assert!(
        !text.contains(&format!("\"{}\"", live.id)),
        "a live, busy department is not a zombie: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_share_registrations_within_a_second() {
    require_postgres();
    let sim = Sim::start(4, 50).await;
    let url = pg_url("two_gw");
    let gw1 = gateway(
        &sim,
        GatewaySetup {
            store_url: Some(url.clone()),
            ..GatewaySetup::default()
        },
    )
    .await;
    let gw2 = gateway(
        &sim,
        GatewaySetup {
            store_url: Some(url),
            ..GatewaySetup::default()
        },
    )
    .await;
    let d = http_depts(&sim)[0];
    // A token issued through gateway 1 authenticates at gateway 2.
    let token = issue_token(&gw1, &d.id).await;
    let issued = Instant::now();
    let client2 = DeptClient::connect(gw2.control, &token).await;
    let mut token_seen = None;
    while issued.elapsed() < Duration::from_secs(2) {
        if client2.list().await.is_ok() {
            token_seen = Some(issued.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("token issued on gw1 accepted by gw2 after {token_seen:?}");
    assert!(token_seen.is_some_and(|t| t <= Duration::from_secs(1)));

    // Registered through gateway 2, listed by gateway 1 within a second.
    let reg = client2
        .register(spec(d, Duration::from_secs(10)), &addrs(d))
        .await
        .unwrap();
    let registered = Instant::now();
    let _renew = Renewer::start(client2, &d.id, "main", &addrs(d), Duration::from_secs(2));
    let seen = wait_for(Duration::from_secs(2), || async {
        let list = gw1.admin_get("/registry/services?status=pending").await;
        list.to_string().contains(&format!("\"{}\"", d.id))
    })
    .await;
    println!(
        "registration on gw2 seen by gw1 after {:?}",
        registered.elapsed().min(seen.unwrap_or(Duration::MAX))
    );
    assert!(
        seen.is_some_and(|t| t <= Duration::from_secs(1)),
        "{seen:?}"
    );

    // Approved through gateway 1, routed by gateway 2 within a second.
    assert_eq!(approve(&gw1, &d.id, reg.revision).await.0, 200);
    let http = onestop_tests::client();
    let url2 = gw2.url(&example_path(d));
    let routed = wait_for(Duration::from_secs(2), || async {
        status_of(&http, &url2).await == 200
    })
    .await;
    println!("approval on gw1 routed by gw2 after {routed:?}");
    assert!(
        routed.is_some_and(|t| t <= Duration::from_secs(1)),
        "{routed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_fails_writes_cleanly_and_drops_no_request() {
    require_postgres();
    let sim = Sim::start(4, 50).await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    let url = pg_url("outage").replace("127.0.0.1:5432", &relay.addr.to_string());
    let gw = gateway(
        &sim,
        GatewaySetup {
            store_url: Some(url),
            extra: "\n[registry]\nsync_interval = \"500ms\"\n".into(),
            ..GatewaySetup::default()
        },
    )
    .await;
    let depts = http_depts(&sim);
    let d = depts[0];
    let (client, renewer) =
        onboard(&gw, d, Duration::from_secs(3), Duration::from_millis(500)).await;
    let load = tokio::spawn(paced_load_timed(
        onestop_tests::client(),
        gw.url(""),
        get_paths(d),
        200,
        40,
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    relay.cut();
    let cut_at = Instant::now();
    // Writes fail cleanly while the store is away.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = depts[1];
    let other_token_fails = gw
        .admin_post(
            &format!("/departments/{}/tokens", other.id),
            json!({"label": "during outage"}),
        )
        .await;
    assert_eq!(other_token_fails.0, 503, "{}", other_token_fails.1);
    let mut changed = spec(d, Duration::from_secs(3));
    changed.metadata.insert("during".into(), "outage".into());
    let started = Instant::now();
    let err = client
        .register(changed.clone(), &addrs(d))
        .await
        .unwrap_err();
    println!(
        "register during the outage: {:?} after {:?}",
        err.code(),
        started.elapsed()
    );
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("unavailable"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("onestop_registry_store_up 0"),
        "store_up gauge"
    );

    // 30 s after the cut, the store comes back; writes succeed by themselves.
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(cut_at.elapsed())).await;
    relay.restore();
    let restored = Instant::now();
    let mut recovered = None;
    while restored.elapsed() < Duration::from_secs(15) {
        if client.register(changed.clone(), &addrs(d)).await.is_ok() {
            recovered = Some(restored.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("registry writes succeed again {recovered:?} after the store returned");
    assert!(recovered.is_some(), "writes did not recover");
    let results = load.await.unwrap();
    let failed: Vec<_> = results.iter().filter(|r| r.1 != 200).collect();
    println!(
        "{} requests over the outage, {} not 200; renewal failures: {:?}",
        results.len(),
        failed.len(),
        renewer.failures()
    );
    assert!(
        failed.is_empty(),
        "failed during the store outage: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert!(
        renewer.failures().is_empty(),
        "renewals kept working in memory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_grpc_service_ships_its_descriptor_set_and_a_new_one_needs_approval() {
    use onestop_sim::pb::FILE_DESCRIPTOR_SET;
    use onestop_sim::pb::tax::{GetTaxSummaryRequest, tax_bureau_client::TaxBureauClient};
    use prost::Message as _;
    use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};

    let sim = Sim::start(7, 50).await;
    let gw = gateway(&sim, GatewaySetup::default()).await;
    let tax = sim.dept("tax");
    let citizen = sim.manifest.citizens[0].id.clone();
    let token = issue_token(&gw, &tax.id).await;
    let client = DeptClient::connect(gw.control, &token).await;
    let http = onestop_tests::client();
    // TaxBureau/GetTaxSummary's `google.api.http` binding.
    let url = gw.url(&format!("/api/v1/depts/tax/citizens/{citizen}/summary"));

    // A descriptor set that is not one is refused, with the field named.
    let mut bad = spec(tax, Duration::from_secs(10));
    bad.descriptor_set = b"garbage".to_vec();
    let err = client.register(bad, &addrs(tax)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("service.descriptor_set"), "{err:?}");

    // The registrar's spec for a gRPC department carries the fleet's set.
    let mut tax_spec = spec(tax, Duration::from_secs(10));
    assert_eq!(tax_spec.protocol(), pb::Protocol::Grpc);
    assert_eq!(tax_spec.descriptor_set, FILE_DESCRIPTOR_SET);
    let reg = client
        .register(tax_spec.clone(), &addrs(tax))
        .await
        .unwrap();
    assert_eq!(reg.status(), pb::Status::Pending);
    let _renew = Renewer::start(
        client.clone(),
        &tax.id,
        "main",
        &addrs(tax),
        Duration::from_secs(2),
    );
    let listed = client.list().await.unwrap();
    assert_eq!(
        listed.services[0].spec.as_ref().unwrap().descriptor_set,
        FILE_DESCRIPTOR_SET,
        "List gives the descriptor set back"
    );
    assert_eq!(status_of(&http, &url).await, 404, "pending: not transcoded");

    // Approved: the HTTP binding answers what a native call answers.
    let (status, body) = approve(&gw, &tax.id, reg.revision).await;
    assert_eq!(status, 200, "{body}");
    let took = wait_for(Duration::from_secs(5), || async {
        status_of(&http, &url).await == 200
    })
    .await;
    assert!(took.is_some(), "the approved service is not transcoded");
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let json = resp.bytes().await.unwrap();
    let mut native = TaxBureauClient::new(onestop_tests::grpc::channel(gw.public).await);
    let want = native
        .get_tax_summary(GetTaxSummaryRequest {
            citizen_id: citizen.clone(),
            year: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let compared =
        onestop_tests::transcode::assert_json_is("onestop.sim.tax.v1.TaxSummary", &json, &want);
    println!(
        "approval → transcoded in {took:?}; descriptor set {} bytes; {compared} fields equal to the native answer: {}",
        FILE_DESCRIPTOR_SET.len(),
        String::from_utf8_lossy(&json)
    );

    // A changed descriptor set (one more file) changes the public surface:
    // a new revision awaits approval while the approved one keeps serving.
    // The extra file is appended as encoded bytes (repeated fields of
    // concatenated messages concatenate): decoding the set with
    // `prost_types` and encoding it again would drop the `google.api.http`
    // options, which `prost_types` keeps no unknown fields for.
    let extra = FileDescriptorSet {
        file: vec![FileDescriptorProto {
            name: Some("onestop/e2e/v1/extra.proto".into()),
            package: Some("onestop.e2e.v1".into()),
            syntax: Some("proto3".into()),
            ..FileDescriptorProto::default()
        }],
    };
    tax_spec.descriptor_set = [FILE_DESCRIPTOR_SET, &extra.encode_to_vec()].concat();
    let files = |bytes: &[u8]| FileDescriptorSet::decode(bytes).unwrap().file.len();
    assert_eq!(
        files(&tax_spec.descriptor_set),
        files(FILE_DESCRIPTOR_SET) + 1
    );
    let changed = client
        .register(tax_spec.clone(), &addrs(tax))
        .await
        .unwrap();
    println!(
        "new descriptor set ({} bytes): revision {} → {}, {:?}, new_revision {}",
        tax_spec.descriptor_set.len(),
        reg.revision,
        changed.revision,
        changed.status(),
        changed.new_revision
    );
    assert_eq!(changed.status(), pb::Status::Pending);
    assert!(changed.new_revision);
    assert!(changed.revision > reg.revision);
    let services = gw.admin_get("/registry/services?dept=tax").await;
    let view = &services["services"][0];
    assert_eq!(view["status"], "pending", "{view}");
    assert!(
        view["changes"]
            .as_str()
            .unwrap()
            .contains("~descriptor set"),
        "{}",
        view["changes"]
    );
    assert_eq!(
        status_of(&http, &url).await,
        200,
        "the approved revision keeps serving"
    );
    // The same registration again changes nothing.
    let again = client
        .register(tax_spec.clone(), &addrs(tax))
        .await
        .unwrap();
    assert_eq!(again.revision, changed.revision);
    assert!(!again.new_revision);

    // Approved in turn, the new set serves: the same answer throughout.
    let (status, body) = approve(&gw, &tax.id, changed.revision).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved", "{body}");
    assert_eq!(body["approved_revision"], changed.revision, "{body}");
    let listed = client.list().await.unwrap();
    assert_eq!(
        listed.services[0].spec.as_ref().unwrap().descriptor_set,
        tax_spec.descriptor_set
    );
    for _ in 0..20 {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "after approving the new set");
        let again = resp.bytes().await.unwrap();
        onestop_tests::transcode::assert_json_is("onestop.sim.tax.v1.TaxSummary", &again, &want);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
