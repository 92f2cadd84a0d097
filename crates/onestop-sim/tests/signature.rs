//! A fleet with a signing key: departments check the gateway's signature,
//! take the citizen from the signed header only, and echo what they got.
//! Requests are signed here with the sim's own `signature` helpers, the way
//! the gateway's contract says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use onestop_sim::{
    CITIZEN_HEADER, Fleet, FleetOptions, SimError,
    manifest::{MatterManifest, Protocol},
    registrar::service_spec,
    signature::{self, SIGNATURE_HEADER, Signed, TIMESTAMP_HEADER},
};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use support::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const MASTER: &[u8] = b"onestop sim tests: master signing key";
/// Well-formed, never generated.
const UNKNOWN: &str = "11010519491231002X";
const NOT_FOUND_BODY: &str = r#"{"error":{"code":"CITIZEN_NOT_FOUND","message":"no records for this citizen in this department"}}"#;
const CITIZEN_REQUIRED_BODY: &str = r#"{"error":{"code":"CITIZEN_REQUIRED","message":"this matter concerns a citizen: x-onestop-citizen is required"}}"#;
const LICENCE: &str = "/onestop.sim.traffic.v1.TrafficPolice/GetLicence";

/// hrss, hpf, water, power, gas, traffic.
async fn start_signed(departments: usize) -> Fleet {
    Fleet::start(FleetOptions {
        departments,
        citizens: 100,
        signing_key: Some(MASTER.to_vec()),
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// Header names and values, in order.
type Headers = Vec<(&'static str, String)>;

/// One request as the gateway would send it.
#[derive(Clone)]
struct Call {
    method: Method,
    path: String,
    citizen: Option<String>,
    channel: Option<String>,
    request_id: String,
    /// Seconds added to the clock for the timestamp.
    offset: i64,
    /// Whose key signs: (master, department).
    key: (Vec<u8>, String),
    body: Option<Value>,
}

impl Call {
    fn new(dept: &str, method: Method, path: &str) -> Call {
        Call {
            method,
            path: path.to_owned(),
            citizen: None,
            channel: Some("wechat".into()),
            request_id: "req-1".into(),
            offset: 0,
            key: (MASTER.to_vec(), dept.to_owned()),
            body: None,
        }
    }

    fn citizen(mut self, id: &str) -> Call {
        self.citizen = Some(id.to_owned());
        self
    }

    fn body(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }

    fn timestamp(&self) -> u64 {
        signature::unix_now()
            .checked_add_signed(self.offset)
            .unwrap()
    }

    /// The headers the gateway sends, signed.
    fn headers(&self) -> Headers {
        let key = signature::department_key(&self.key.0, &self.key.1);
        Signed {
            method: self.method.as_str(),
            path_and_query: &self.path,
            citizen: self.citizen.as_deref(),
            channel: self.channel.as_deref(),
            request_id: &self.request_id,
            timestamp: self.timestamp(),
        }
        .headers(&key)
    }
}

/// Sends `call` to `addr` with `headers` (signed ones, or altered); answers
/// status, headers and the body's bytes as text.
async fn send_with(
    addr: SocketAddr,
    call: &Call,
    headers: &[(&'static str, String)],
) -> (StatusCode, HeaderMap, String) {
    let mut req = client().request(call.method.clone(), url(addr, &call.path));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    if let Some(body) = &call.body {
        req = req.json(body);
    }
    let res = req.send().await.expect("request sent");
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.text().await.unwrap())
}

async fn send(addr: SocketAddr, call: &Call) -> (StatusCode, HeaderMap, String) {
    send_with(addr, call, &call.headers()).await
}

/// `headers` with `name` set to `value` (or removed).
fn altered(headers: &[(&'static str, String)], name: &'static str, value: Option<&str>) -> Headers {
    let mut out: Headers = headers
        .iter()
        .filter(|(n, _)| *n != name)
        .cloned()
        .collect();
    if let Some(value) = value {
        out.push((name, value.to_owned()));
    }
    out
}

/// Asserts the 401 of a refused signature.
fn assert_refused(answer: &(StatusCode, HeaderMap, String), reason: &str, what: &str) {
    let (status, headers, body) = answer;
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(headers["x-sim-reason"], reason, "{what}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "BAD_GATEWAY_SIGNATURE", "{what}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("gateway signature refused: "),
        "{what}: {body}"
    );
}

async fn stats(fleet: &Fleet, instance: &str) -> (u64, u64, u64) {
    let (_, state) = control(
        fleet,
        reqwest::Method::GET,
        &format!("/fleet/instances/{instance}"),
        None,
    )
    .await;
    (
        state["requests"].as_u64().unwrap(),
        state["health_checks"].as_u64().unwrap(),
        state["rejected_signatures"].as_u64().unwrap(),
    )
}

/// Waits until the clock is just past a whole second, so that a test
/// signing "31 s in the future" is still 31 s ahead when checked.
async fn start_of_a_second() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    if into > 100 {
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 20)).await;
    }
}

/// A signed gRPC request with `citizen_id` as the field.
fn licence_request(
    citizen_id: &str,
    header_citizen: Option<&str>,
    offset: i64,
) -> tonic::Request<pb::traffic::GetLicenceRequest> {
    let mut call = Call::new("traffic", Method::POST, LICENCE);
    call.citizen = header_citizen.map(str::to_owned);
    call.offset = offset;
    let mut req = tonic::Request::new(pb::traffic::GetLicenceRequest {
        citizen_id: citizen_id.to_owned(),
    });
    for (name, value) in call.headers() {
        req.metadata_mut().insert(name, value.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn signed_requests_are_served_and_others_refused() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let who = m.citizens[0].id.clone();
    let hpf = dept(m, "hpf").instances[0].addr;
    let path = format!("/api/v1/depts/hpf/accounts/{who}");
    let call = Call::new("hpf", Method::GET, &path).citizen(&who);

    let (status, headers, body) = send(hpf, &call).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-sim-instance"], "hpf-0");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["citizen_id"], who.as_str());

    // Unsigned: every header but the signature, or nothing at all.
    let unsigned = altered(&call.headers(), SIGNATURE_HEADER, None);
    assert_refused(
        &send_with(hpf, &call, &unsigned).await,
        "unsigned",
        "no signature",
    );
    let (status, _, body) = send_with(hpf, &call, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        r#"{"error":{"code":"BAD_GATEWAY_SIGNATURE","message":"gateway signature refused: the request carries no x-onestop-signature header"}}"#
    );
    // Another master key; the right master key but another department's key.
    let mut wrong = call.clone();
    wrong.key.0 = b"not the gateway's master key".to_vec();
    assert_refused(
        &send(hpf, &wrong).await,
        "bad-signature",
        "wrong master key",
    );
    let mut other_dept = call.clone();
    other_dept.key.1 = "hrss".into();
    assert_refused(
        &send(hpf, &other_dept).await,
        "bad-signature",
        "hrss's key at hpf",
    );
    // Unknown routes are refused before routing, too.
    let nowhere = Call::new("hpf", Method::GET, "/nowhere");
    assert_refused(
        &send_with(hpf, &nowhere, &[]).await,
        "unsigned",
        "unknown route",
    );

    // Counted apart from requests; health checks need no signature.
    let res = client().get(url(hpf, "/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(stats(&fleet, "hpf-0").await, (1, 1, 5));
    fleet.shutdown().await;
}

#[tokio::test]
async fn every_signed_field_is_checked() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let (a, b) = (m.citizens[0].id.clone(), m.citizens[1].id.clone());
    let hpf = dept(m, "hpf").instances[1].addr;
    let call = Call::new("hpf", Method::GET, "/api/v1/depts/hpf/overview/me?detail=1").citizen(&a);
    assert_eq!(send(hpf, &call).await.0, 200);
    let signed = call.headers();

    let cases: Vec<(&str, Call, Headers)> = vec![
        (
            "another path",
            Call {
                path: "/api/v1/depts/hpf/overview/me".into(),
                ..call.clone()
            },
            signed.clone(),
        ),
        (
            "another query",
            Call {
                path: "/api/v1/depts/hpf/overview/me?detail=2".into(),
                ..call.clone()
            },
            signed.clone(),
        ),
        (
            "another method",
            Call {
                method: Method::POST,
                ..call.clone()
            },
            signed.clone(),
        ),
        (
            "another citizen",
            call.clone(),
            altered(&signed, CITIZEN_HEADER, Some(&b)),
        ),
        (
            "no citizen",
            call.clone(),
            altered(&signed, CITIZEN_HEADER, None),
        ),
        (
            "another channel",
            call.clone(),
            altered(&signed, "x-onestop-channel", Some("alipay")),
        ),
        (
            "no channel",
            call.clone(),
            altered(&signed, "x-onestop-channel", None),
        ),
        (
            "another request id",
            call.clone(),
            altered(&signed, "x-request-id", Some("req-2")),
        ),
        (
            "no request id",
            call.clone(),
            altered(&signed, "x-request-id", None),
        ),
        (
            "another timestamp",
            call.clone(),
            altered(
                &signed,
                TIMESTAMP_HEADER,
                Some(&(call.timestamp() - 1).to_string()),
            ),
        ),
        (
            "no timestamp",
            call.clone(),
            altered(&signed, TIMESTAMP_HEADER, None),
        ),
        (
            "upper-case hex",
            call.clone(),
            altered(
                &signed,
                SIGNATURE_HEADER,
                Some(&signed[4].1.to_uppercase().replacen("V1=", "v1=", 1)),
            ),
        ),
    ];
    for (what, call, headers) in &cases {
        assert_refused(&send_with(hpf, call, headers).await, "bad-signature", what);
    }
    assert_eq!(
        stats(&fleet, "hpf-1").await,
        (1, 0, u64::try_from(cases.len()).unwrap())
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn timestamps_must_be_within_thirty_seconds() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let power = dept(m, "power").instances[0].addr;
    let call = Call::new("power", Method::GET, "/api/v1/depts/power/outages");
    start_of_a_second().await;
    for offset in [-31, 31, -3600, 3600] {
        let stale = Call {
            offset,
            ..call.clone()
        };
        assert_refused(
            &send(power, &stale).await,
            "stale-signature",
            &format!("{offset} s"),
        );
    }
    for offset in [-29, 29, 0] {
        let fresh = Call {
            offset,
            ..call.clone()
        };
        let (status, _, body) = send(power, &fresh).await;
        assert_eq!(status, 200, "{offset} s: {body}");
    }
    // A stale request whose timestamp was changed is a forgery, not stale.
    let signed = Call {
        offset: -60,
        ..call.clone()
    };
    let forged = altered(
        &signed.headers(),
        TIMESTAMP_HEADER,
        Some(&signature::unix_now().to_string()),
    );
    assert_refused(
        &send_with(power, &call, &forged).await,
        "bad-signature",
        "forged time",
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn max_skew_is_an_option_and_keys_are_validated() {
    let fleet = Fleet::start(FleetOptions {
        departments: 4,
        citizens: 10,
        signing_key: Some(MASTER.to_vec()),
        max_skew: Duration::from_secs(5),
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let power = dept(fleet.manifest(), "power").instances[1].addr;
    let call = Call::new("power", Method::GET, "/api/v1/depts/power/outages");
    assert_eq!(
        send(
            power,
            &Call {
                offset: -3,
                ..call.clone()
            }
        )
        .await
        .0,
        200
    );
    assert_refused(
        &send(
            power,
            &Call {
                offset: -10,
                ..call.clone()
            },
        )
        .await,
        "stale-signature",
        "10 s with a 5 s skew",
    );
    fleet.shutdown().await;

    let err = Fleet::start(FleetOptions {
        signing_key: Some(Vec::new()),
        ..FleetOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::InvalidOptions(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "invalid fleet options: signing_key must not be empty"
    );
    let shown = format!(
        "{:?}",
        FleetOptions {
            signing_key: Some(MASTER.to_vec()),
            ..FleetOptions::default()
        }
    );
    assert!(
        shown.contains("signing_key: Some(\"<redacted>\")"),
        "{shown}"
    );
    assert!(!shown.contains("master"), "{shown}");
}

#[tokio::test]
async fn grpc_calls_are_checked_too() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let who = m.citizens[2].id.clone();
    let traffic = dept(m, "traffic").instances[0].addr;
    let mut police = traffic_client(traffic).await;

    let licence = police
        .get_licence(licence_request(&who, Some(&who), 0))
        .await
        .unwrap();
    assert_eq!(
        licence.metadata().get("x-sim-instance").unwrap(),
        "traffic-0"
    );

    let status = police
        .get_licence(pb::traffic::GetLicenceRequest {
            citizen_id: who.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.metadata().get("x-sim-reason").unwrap(), "unsigned");
    assert_eq!(
        status.message(),
        "gateway signature refused: the request carries no x-onestop-signature header"
    );

    start_of_a_second().await;
    for (offset, reason) in [(-31, "stale-signature"), (31, "stale-signature")] {
        let status = police
            .get_licence(licence_request(&who, Some(&who), offset))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{offset}");
        assert_eq!(status.metadata().get("x-sim-reason").unwrap(), reason);
    }
    // Signed for another citizen header than the one sent.
    let mut tampered = licence_request(&who, Some(&who), 0);
    tampered
        .metadata_mut()
        .insert(CITIZEN_HEADER, m.citizens[3].id.parse().unwrap());
    let status = police.get_licence(tampered).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        status.metadata().get("x-sim-reason").unwrap(),
        "bad-signature"
    );

    // Health checks need no signature.
    let service = dept(m, "traffic").grpc_service.clone().unwrap();
    assert_eq!(grpc_health(traffic, &service).await, 1, "SERVING");
    assert_eq!(stats(&fleet, "traffic-0").await, (1, 1, 4));
    fleet.shutdown().await;
}

#[tokio::test]
async fn another_citizen_is_answered_as_an_unknown_one() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let (a, b) = (m.citizens[0].id.clone(), m.citizens[1].id.clone());
    let hpf = dept(m, "hpf").instances[2].addr;
    let accounts = |id: &str| format!("/api/v1/depts/hpf/accounts/{id}");

    // B's data exists (B asks for it) …
    let (status, _, _) = send(
        hpf,
        &Call::new("hpf", Method::GET, &accounts(&b)).citizen(&b),
    )
    .await;
    assert_eq!(status, 200);
    // … but A asking for B gets what anybody gets for nobody.
    let answers = [
        send(
            hpf,
            &Call::new("hpf", Method::GET, &accounts(&b)).citizen(&a),
        )
        .await,
        send(
            hpf,
            &Call::new("hpf", Method::GET, &accounts(UNKNOWN)).citizen(&a),
        )
        .await,
        send(
            hpf,
            &Call::new("hpf", Method::GET, &accounts(UNKNOWN)).citizen(UNKNOWN),
        )
        .await,
        send(
            hpf,
            &Call::new("hpf", Method::GET, &accounts("me")).citizen(UNKNOWN),
        )
        .await,
    ];
    for (status, headers, body) in &answers {
        assert_eq!(*status, 404);
        assert_eq!(body, NOT_FOUND_BODY);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["content-length"],
            NOT_FOUND_BODY.len().to_string().as_str()
        );
        assert_eq!(headers.get("x-sim-reason"), None);
    }

    // A submission naming somebody else.
    let water = dept(m, "water");
    let payment = water.matters.iter().find(|x| x.id == "payment").unwrap();
    let example = payment.example.body.clone().unwrap();
    assert_eq!(example["citizen"], a.as_str());
    let pay = Call::new("water", Method::POST, &payment.example.path).body(example.clone());
    let (status, _, body) = send(water.instances[0].addr, &pay.clone().citizen(&a)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send(water.instances[0].addr, &pay.clone().citizen(&b)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, NOT_FOUND_BODY)
    );

    // gRPC: NOT_FOUND, same message and reason as an unknown citizen.
    let mut police = traffic_client(dept(m, "traffic").instances[1].addr).await;
    let other = police
        .get_licence(licence_request(&b, Some(&a), 0))
        .await
        .unwrap_err();
    let unknown = police
        .get_licence(licence_request(UNKNOWN, Some(UNKNOWN), 0))
        .await
        .unwrap_err();
    for status in [&other, &unknown] {
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(
            status.message(),
            "no records for this citizen in this department"
        );
        assert_eq!(
            status.metadata().get("x-sim-reason").unwrap(),
            "citizen-unknown"
        );
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn me_is_the_signed_citizen_and_citizen_matters_need_one() {
    let fleet = start_signed(6).await;
    let m = fleet.manifest();
    let who = m.citizens[4].id.clone();
    let hrss = dept(m, "hrss").instances[0].addr;

    let (status, _, body) = send(
        hrss,
        &Call::new("hrss", Method::GET, "/api/v1/depts/hrss/overview/me").citizen(&who),
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["citizen_id"], who.as_str());

    // A citizen's matter without x-onestop-citizen: a path naming one, `me`,
    // a submission naming one or none.
    let water = dept(m, "water").instances[0].addr;
    let without = [
        (
            hrss,
            Call::new(
                "hrss",
                Method::GET,
                &format!("/api/v1/depts/hrss/overview/{who}"),
            ),
        ),
        (
            hrss,
            Call::new("hrss", Method::GET, "/api/v1/depts/hrss/overview/me"),
        ),
        (
            water,
            Call::new("water", Method::POST, "/api/v1/depts/water/payments")
                .body(json!({"citizen": who, "bill_id": "x", "amount_fen": 1})),
        ),
        (
            water,
            Call::new("water", Method::POST, "/api/v1/depts/water/payments")
                .body(json!({"bill_id": "x", "amount_fen": 1})),
        ),
    ];
    for (addr, call) in &without {
        let (status, _, body) = send(*addr, call).await;
        assert_eq!(status, 401, "{}", call.path);
        assert_eq!(body, CITIZEN_REQUIRED_BODY, "{}", call.path);
    }
    // Public matters need no citizen.
    let power = dept(m, "power").instances[0].addr;
    let (status, _, _) = send(
        power,
        &Call::new("power", Method::GET, "/api/v1/depts/power/outages"),
    )
    .await;
    assert_eq!(status, 200);

    // gRPC: `me` and empty mean the signed citizen; none is UNAUTHENTICATED.
    let mut police = traffic_client(dept(m, "traffic").instances[2].addr).await;
    for field in ["me", ""] {
        let licence = police
            .get_licence(licence_request(field, Some(&who), 0))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(licence.holder_name, m.citizens[4].name, "{field:?}");
    }
    let status = police
        .get_licence(licence_request(&who, None, 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "this method concerns a citizen: x-onestop-citizen is required"
    );
    assert_eq!(
        status.metadata().get("x-sim-reason").unwrap(),
        "citizen-required"
    );
    fleet.shutdown().await;
}

/// Sends one raw HTTP/1.1 request (`connection: close`); answers the status
/// code and the body.
async fn raw_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: sim\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn echo_reports_the_raw_request_line() {
    let fleet = start_signed(2).await;
    let m = fleet.manifest();
    let who = m.citizens[0].id.clone();
    let hpf = dept(m, "hpf").instances[0].addr;
    for (path, query) in [
        (
            "/api/v1/depts/hpf/echo/a%2Fb/..;x",
            Some("q=%20&r=%E4%B8%AD&r=2"),
        ),
        ("/api/v1/depts/hpf/echo/a%2Fb/..;x", None),
        ("/api/v1/depts/hpf/echo//double//slash/", None),
        ("/api/v1/depts/hpf/echo/./%2e%2E/%2f/x;a=b,c", Some("")),
        ("/api/v1/depts/hpf/echo/v1", Some("a=1?b=2")),
    ] {
        let target = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        for method in ["GET", "POST"] {
            let mut call = Call::new(
                "hpf",
                Method::from_bytes(method.as_bytes()).unwrap(),
                &target,
            )
            .citizen(&who);
            call.request_id = format!("echo-{method}");
            let (status, body) = raw_request(hpf, method, &target, &call.headers()).await;
            assert_eq!(status, 200, "{method} {target}: {body}");
            let echo: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(echo["method"], method);
            assert_eq!(echo["path"], path, "{target}");
            assert_eq!(echo["query"], json!(query), "{target}");
            assert_eq!(echo["citizen"], who.as_str());
            assert_eq!(echo["channel"], "wechat");
            assert_eq!(echo["signature_valid"], true);
            assert_eq!(echo["instance"], "hpf-0");
            assert_eq!(echo["body_len"], 0);
            let headers = echo["headers"].as_object().unwrap();
            assert_eq!(headers["x-request-id"], format!("echo-{method}").as_str());
            assert_eq!(headers["x-onestop-channel"], "wechat");
            assert!(headers.contains_key("x-onestop-signature"), "{headers:?}");
            assert!(
                headers.keys().all(|k| *k == k.to_lowercase()),
                "{headers:?}"
            );
        }
    }
    // Signed for the decoded path, received encoded: refused.
    let call = Call::new("hpf", Method::GET, "/api/v1/depts/hpf/echo/a/b").citizen(&who);
    let (status, body) =
        raw_request(hpf, "GET", "/api/v1/depts/hpf/echo/a%2Fb", &call.headers()).await;
    assert_eq!(status, 401, "{body}");
    fleet.shutdown().await;

    // Without a key nothing is checked, and echo says so.
    let fleet = Fleet::start(FleetOptions {
        departments: 2,
        citizens: 10,
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let hpf = dept(fleet.manifest(), "hpf").instances[1].addr;
    let (status, body) = raw_request(hpf, "POST", "/api/v1/depts/hpf/echo/a%2Fb/..;x?y", &[]).await;
    assert_eq!(status, 200);
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            &echo["path"],
            &echo["query"],
            &echo["citizen"],
            &echo["channel"],
            &echo["signature_valid"]
        ),
        (
            &json!("/api/v1/depts/hpf/echo/a%2Fb/..;x"),
            &json!("y"),
            &Value::Null,
            &Value::Null,
            &json!(false)
        )
    );
    fleet.shutdown().await;
}

/// Every matter of every department: registered `citizen` exactly when the
/// department refuses it without a citizen, and every example answers when
/// signed for its citizen.
#[tokio::test]
async fn registered_auth_matches_what_departments_enforce() {
    let fleet = start_signed(32).await;
    let m = fleet.manifest();
    let who = m.citizens[0].id.clone();
    let (mut citizen_routes, mut public_routes) = (0, 0);
    for d in &m.departments {
        let spec = service_spec(d, "main", Duration::from_secs(30));
        let addr = d.instances[0].addr;
        for (matter, route) in d.matters.iter().zip(&spec.routes) {
            let citizen = route.auth == i32::from(pb::registry::AuthMode::Citizen);
            assert!(
                citizen || route.auth == i32::from(pb::registry::AuthMode::Public),
                "{} {}",
                d.id,
                matter.id
            );
            citizen_routes += usize::from(citizen);
            public_routes += usize::from(!citizen);
            let what = format!(
                "{} {} ({})",
                d.id,
                matter.id,
                if citizen { "citizen" } else { "public" }
            );
            match d.protocol {
                Protocol::Http => {
                    let (status, _, body) = send(addr, &http_call(&d.id, matter, None)).await;
                    if citizen {
                        assert_eq!(
                            (status.as_u16(), body.as_str()),
                            (401, CITIZEN_REQUIRED_BODY),
                            "{what}"
                        );
                    } else {
                        assert!(status.is_success(), "{what}: {status} {body}");
                    }
                    let (status, _, body) = send(addr, &http_call(&d.id, matter, Some(&who))).await;
                    if matter.id == "withdraw" {
                        // Its example names an application that does not exist.
                        assert_eq!(status, 404, "{what} with a citizen: {body}");
                        assert!(body.contains("APPLICATION_NOT_FOUND"), "{what}: {body}");
                    } else {
                        assert!(
                            status.is_success(),
                            "{what} with a citizen: {status} {body}"
                        );
                    }
                }
                Protocol::Grpc => {
                    assert!(citizen, "{what}: every gRPC method takes a citizen_id");
                    let key = signature::department_key(MASTER, &d.id);
                    let anonymous = SigningChannel::connect(
                        addr,
                        Some(Signer {
                            key,
                            citizen: None,
                            channel: None,
                        }),
                    )
                    .await;
                    let status = grpc_example_via(anonymous, matter).await.unwrap_err();
                    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{what}");
                    assert_eq!(
                        status.metadata().get("x-sim-reason").unwrap(),
                        "citizen-required",
                        "{what}"
                    );
                    let signed = SigningChannel::connect(
                        addr,
                        Some(Signer {
                            key,
                            citizen: Some(who.clone()),
                            channel: Some("wechat".into()),
                        }),
                    )
                    .await;
                    grpc_example_via(signed, matter)
                        .await
                        .unwrap_or_else(|s| panic!("{what} with a citizen: {s:?}"));
                }
            }
        }
    }
    // 199 matters: 152 for a citizen (12 of them gRPC, 56 applications and
    // withdrawals, 6 data items), 47 public (28 echoes).
    assert_eq!((citizen_routes, public_routes), (152, 47));
    fleet.shutdown().await;
}

/// A matter's example as the gateway would forward it, with or without the
/// citizen header.
fn http_call(dept: &str, matter: &MatterManifest, citizen: Option<&str>) -> Call {
    let method = Method::from_bytes(matter.method.as_bytes()).unwrap();
    let mut call = Call::new(dept, method, &matter.example.path);
    call.citizen = citizen.map(str::to_owned);
    call.body = matter.example.body.clone();
    call
}
