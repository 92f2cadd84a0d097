//! gRPC through the gateway: tonic clients on the public port (h2c), unary
//! and server-streaming, statuses and trailers unchanged; HTTP/1.1 and h2c
//! on the same port.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use onestop_sim::pb::traffic::{
    self, GetLicenceRequest, ListViolationsRequest, WatchExamQueueRequest,
    traffic_police_client::TrafficPoliceClient,
};
use onestop_tests::{ConfigOptions, Gateway, Sim, grpc::channel, wait_for};
use serde_json::json;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_passthrough_unary_streaming_statuses_and_trailers() {
    let sim = Sim::start(8, 50).await;
    let gw = Gateway::start(&sim.manifest, &ConfigOptions::default()).await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let mut client = TrafficPoliceClient::new(channel(gw.public).await);

    // Unary, with response metadata from the backend.
    let resp = client
        .list_violations(ListViolationsRequest {
            citizen_id: citizen.clone(),
            unpaid_only: false,
        })
        .await
        .unwrap();
    assert!(
        resp.metadata().get("x-sim-instance").is_some(),
        "backend metadata lost"
    );
    assert!(
        resp.metadata().get("x-request-id").is_some(),
        "gateway request id missing"
    );
    // Same message as a direct call to the backend, field by field.
    let direct_addr = sim.dept("traffic").instances[0].addr;
    let mut direct = TrafficPoliceClient::new(channel(direct_addr).await);
    let want = direct
        .list_violations(ListViolationsRequest {
            citizen_id: citizen.clone(),
            unpaid_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!want.violations.is_empty() || want.total_fine_fen == 0);
    assert_eq!(resp.get_ref(), &want);

    // A non-OK status from the backend arrives unchanged, with its metadata.
    let err = client
        .get_licence(GetLicenceRequest {
            citizen_id: "110105194912310021".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(
        err.metadata().get("x-sim-reason").unwrap(),
        "citizen-unknown"
    );

    // Server streaming: every message, in order.
    let mut stream = client
        .watch_exam_queue(WatchExamQueueRequest {
            citizen_id: citizen.clone(),
            exam_centre_id: "CQ-YB".into(),
            count: 20,
            interval_ms: 5,
            fail_after: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seqs = Vec::new();
    while let Some(update) = stream.message().await.unwrap() {
        seqs.push(update.seq);
    }
    assert_eq!(seqs.len(), 20);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "out of order: {seqs:?}"
    );

    // A stream that fails after 3 messages: the messages, then the status and
    // metadata carried in real HTTP/2 trailers.
    let mut stream = client
        .watch_exam_queue(WatchExamQueueRequest {
            citizen_id: citizen.clone(),
            exam_centre_id: "CQ-YB".into(),
            count: 10,
            interval_ms: 1,
            fail_after: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("stream ended OK, expected FAILED_PRECONDITION"),
            Err(status) => break status,
        }
    };
    assert_eq!(got, 3);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.metadata().get("x-sim-detail").unwrap(),
        "stream-failed"
    );

    // A method the gateway has no route for: UNIMPLEMENTED from the gateway.
    let mut raw = tonic::client::Grpc::new(channel(gw.public).await);
    raw.ready().await.unwrap();
    let err = raw
        .unary::<_, traffic::Licence, _>(
            tonic::Request::new(GetLicenceRequest {
                citizen_id: citizen.clone(),
            }),
            http::uri::PathAndQuery::from_static(
                "/onestop.sim.traffic.v1.TrafficPolice/NoSuchMethod",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");

    // Every instance down: UNAVAILABLE from the gateway, not a transport error.
    for i in &sim.dept("traffic").instances {
        sim.set_faults(&i.id, json!({"down": true})).await;
    }
    let down = wait_for(Duration::from_secs(5), || {
        let mut client = client.clone();
        let citizen = citizen.clone();
        async move {
            let r = client
                .get_licence(GetLicenceRequest {
                    citizen_id: citizen,
                })
                .await;
            matches!(r, Err(ref s) if s.code() == Code::Unavailable)
        }
    })
    .await;
    assert!(down.is_some(), "gRPC callers did not get UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_h2c_share_the_public_port() {
    let sim = Sim::start(4, 20).await;
    let gw = Gateway::start(&sim.manifest, &ConfigOptions::default()).await;
    let path = sim
        .dept("hpf")
        .matters
        .iter()
        .find(|m| m.citizen_param.is_some())
        .unwrap()
        .example
        .path
        .clone();

    let h1 = onestop_tests::client_builder()
        .http1_only()
        .build()
        .unwrap();
    let r1 = h1.get(gw.url(&path)).send().await.unwrap();
    assert_eq!(r1.status(), 200);
    assert_eq!(r1.version(), reqwest::Version::HTTP_11);
    let b1: serde_json::Value = r1.json().await.unwrap();

    let h2 = onestop_tests::client_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r2 = h2.get(gw.url(&path)).send().await.unwrap();
    assert_eq!(r2.status(), 200);
    assert_eq!(r2.version(), reqwest::Version::HTTP_2);
    assert!(r2.headers().contains_key("x-request-id"));
    let b2: serde_json::Value = r2.json().await.unwrap();
    // Same deterministic department data either way.
    assert_eq!(b1, b2);
}
