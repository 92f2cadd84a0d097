//! Helpers for the fleet tests: starting a fleet, calling the control API,
//! raw HTTP/1.1 over one TCP connection, calling gRPC examples, and a fake
//! gateway registry ([`registry`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod registry;

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};

pub use onestop_sim::pb;
use onestop_sim::{
    Fleet, FleetOptions,
    manifest::{DeptManifest, FleetManifest, MatterManifest},
    signature,
};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::{
    codegen::{Service, http},
    metadata::MetadataMap,
    transport::Channel,
};

pub async fn start() -> Fleet {
    Fleet::start(FleetOptions {
        citizens: 100,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// A client that opens a fresh connection per request, so fault changes
/// are seen at once.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client builds")
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

pub fn dept<'m>(m: &'m FleetManifest, id: &str) -> &'m DeptManifest {
    m.departments
        .iter()
        .find(|d| d.id == id)
        .expect("department in fleet")
}

pub async fn get_json(http: &reqwest::Client, addr: SocketAddr, path: &str) -> Value {
    let res = http
        .get(url(addr, path))
        .send()
        .await
        .expect("request sent");
    assert!(res.status().is_success(), "GET {path}: {}", res.status());
    res.json().await.expect("JSON body")
}

/// Calls the control API; answers the status and the JSON body.
pub async fn control(
    fleet: &Fleet,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client().request(method, url(fleet.manifest().control, path));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("control API answers");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn set_faults(fleet: &Fleet, instance: &str, patch: Value) -> Value {
    let path = format!("/fleet/instances/{instance}/faults");
    let (status, body) = control(fleet, Method::PUT, &path, Some(patch)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Calls an HTTP matter's example.
pub async fn http_example(
    http: &reqwest::Client,
    addr: SocketAddr,
    matter: &MatterManifest,
) -> (StatusCode, HeaderMap, Value) {
    let method = Method::from_bytes(matter.method.as_bytes()).unwrap();
    let mut req = http.request(method, url(addr, &matter.example.path));
    if let Some(body) = &matter.example.body {
        req = req.json(body);
    }
    let res = req.send().await.expect("request sent");
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

/// One `GET` on an already open connection (keep-alive); the whole response
/// as text, or an error when the connection is gone.
pub async fn raw_get(stream: &mut TcpStream, path: &str) -> io::Result<String> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: sim\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(text.into_owned());
            }
        }
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects")
}

pub async fn traffic_client(
    addr: SocketAddr,
) -> pb::traffic::traffic_police_client::TrafficPoliceClient<Channel> {
    pb::traffic::traffic_police_client::TrafficPoliceClient::new(channel(addr).await)
}

pub async fn tax_client(addr: SocketAddr) -> pb::tax::tax_bureau_client::TaxBureauClient<Channel> {
    pb::tax::tax_bureau_client::TaxBureauClient::new(channel(addr).await)
}

pub async fn health_client(
    addr: SocketAddr,
) -> pb::health::hospital_client::HospitalClient<Channel> {
    pb::health::hospital_client::HospitalClient::new(channel(addr).await)
}

pub async fn medins_client(
    addr: SocketAddr,
) -> pb::medins::medical_insurance_client::MedicalInsuranceClient<Channel> {
    pb::medins::medical_insurance_client::MedicalInsuranceClient::new(channel(addr).await)
}

/// `grpc.health.v1.Health/Check` status (1 = SERVING).
pub async fn grpc_health(addr: SocketAddr, service: &str) -> i32 {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel(addr).await);
    let req = tonic_health::pb::HealthCheckRequest {
        service: service.to_owned(),
    };
    client
        .check(req)
        .await
        .expect("health check answers")
        .into_inner()
        .status
}

fn s(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

fn n(body: &Value, field: &str) -> u32 {
    body[field]
        .as_u64()
        .map_or(0, |v| u32::try_from(v).unwrap())
}

/// Drains a server stream; answers how many messages came.
async fn drain<T>(mut stream: tonic::Streaming<T>) -> Result<usize, tonic::Status> {
    let mut count = 0;
    while stream.message().await?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// A gRPC channel that, given a [`Signer`], adds the gateway's headers and
/// signature to every call (over the call's real `:path`), as the gateway
/// does.
#[derive(Clone)]
pub struct SigningChannel {
    inner: Channel,
    signer: Option<Arc<Signer>>,
}

/// What a [`SigningChannel`] signs with.
pub struct Signer {
    /// The department's key ([`signature::department_key`]).
    pub key: [u8; 32],
    pub citizen: Option<String>,
    pub channel: Option<String>,
}

impl SigningChannel {
    pub async fn connect(addr: SocketAddr, signer: Option<Signer>) -> SigningChannel {
        SigningChannel {
            inner: channel(addr).await,
            signer: signer.map(Arc::new),
        }
    }
}

impl Service<http::Request<tonic::body::Body>> for SigningChannel {
    type Response = <Channel as Service<http::Request<tonic::body::Body>>>::Response;
    type Error = <Channel as Service<http::Request<tonic::body::Body>>>::Error;
    type Future = <Channel as Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(signer) = &self.signer {
            let path = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap();
            let method = request.method().as_str().to_owned();
            let signed = signature::Signed {
                method: &method,
                path_and_query: &path,
                citizen: signer.citizen.as_deref(),
                channel: signer.channel.as_deref(),
                request_id: "grpc-test",
                timestamp: signature::unix_now(),
            };
            for (name, value) in signed.headers(&signer.key) {
                request.headers_mut().insert(name, value.parse().unwrap());
            }
        }
        Service::call(&mut self.inner, request)
    }
}

/// Calls a gRPC matter's example (the JSON request mapped onto the prost
/// message by hand); answers the response metadata and message count.
pub async fn grpc_example(
    addr: SocketAddr,
    matter: &MatterManifest,
) -> Result<(MetadataMap, usize), tonic::Status> {
    grpc_example_via(SigningChannel::connect(addr, None).await, matter).await
}

/// [`grpc_example`] over `channel` (signed or not).
pub async fn grpc_example_via(
    channel: SigningChannel,
    matter: &MatterManifest,
) -> Result<(MetadataMap, usize), tonic::Status> {
    use pb::{health as h, medins as m, tax as t, traffic as tr};
    use pb::{
        health::hospital_client::HospitalClient,
        medins::medical_insurance_client::MedicalInsuranceClient,
        tax::tax_bureau_client::TaxBureauClient,
        traffic::traffic_police_client::TrafficPoliceClient,
    };
    let body = matter
        .example
        .body
        .clone()
        .expect("gRPC examples have a body");
    let citizen_id = s(&body, "citizen_id");
    let method = matter.path.rsplit('/').next().unwrap();
    let service = matter.path.split('/').nth(1).unwrap();
    macro_rules! unary {
        ($call:expr) => {{
            let res = $call.await?;
            Ok((res.metadata().clone(), 1))
        }};
    }
    macro_rules! streaming {
        ($call:expr) => {{
            let res = $call.await?;
            let metadata = res.metadata().clone();
            Ok((metadata, drain(res.into_inner()).await?))
        }};
    }
    match (service, method) {
        ("onestop.sim.traffic.v1.TrafficPolice", "ListViolations") => {
            let req = tr::ListViolationsRequest {
                citizen_id,
                unpaid_only: body["unpaid_only"] == true,
            };
            unary!(TrafficPoliceClient::new(channel).list_violations(req))
        }
        ("onestop.sim.traffic.v1.TrafficPolice", "GetLicence") => {
            unary!(
                TrafficPoliceClient::new(channel).get_licence(tr::GetLicenceRequest { citizen_id })
            )
        }
        ("onestop.sim.traffic.v1.TrafficPolice", "BookDrivingTest") => {
            let subject = tr::ExamSubject::from_str_name(&s(&body, "subject"))
                .expect("example enum is a proto name");
            let req = tr::BookDrivingTestRequest {
                citizen_id,
                subject: subject as i32,
                exam_centre_id: s(&body, "exam_centre_id"),
                preferred_date: s(&body, "preferred_date"),
            };
            unary!(TrafficPoliceClient::new(channel).book_driving_test(req))
        }
        ("onestop.sim.traffic.v1.TrafficPolice", "WatchExamQueue") => {
            let req = tr::WatchExamQueueRequest {
                citizen_id,
                exam_centre_id: s(&body, "exam_centre_id"),
                count: n(&body, "count"),
                interval_ms: n(&body, "interval_ms"),
                fail_after: n(&body, "fail_after"),
            };
            streaming!(TrafficPoliceClient::new(channel).watch_exam_queue(req))
        }
        ("onestop.sim.tax.v1.TaxBureau", "GetTaxSummary") => {
            let year = i32::try_from(n(&body, "year")).unwrap();
            unary!(
                TaxBureauClient::new(channel)
                    .get_tax_summary(t::GetTaxSummaryRequest { citizen_id, year })
            )
        }
        ("onestop.sim.tax.v1.TaxBureau", "FileReturn") => {
            let deductions = body["deductions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| t::Deduction {
                    kind: t::DeductionKind::from_str_name(&s(d, "kind")).expect("proto enum name")
                        as i32,
                    amount_fen: d["amount_fen"].as_i64().unwrap(),
                    description: s(d, "description"),
                })
                .collect();
            let req = t::FileReturnRequest {
                citizen_id,
                year: i32::try_from(n(&body, "year")).unwrap(),
                declared_income_fen: body["declared_income_fen"].as_i64().unwrap(),
                deductions,
                request_refund: body["request_refund"] == true,
            };
            unary!(TaxBureauClient::new(channel).file_return(req))
        }
        ("onestop.sim.tax.v1.TaxBureau", "ListTaxRecords") => {
            let req = t::ListTaxRecordsRequest {
                citizen_id,
                count: n(&body, "count"),
                interval_ms: n(&body, "interval_ms"),
                fail_after: n(&body, "fail_after"),
            };
            streaming!(TaxBureauClient::new(channel).list_tax_records(req))
        }
        ("onestop.sim.health.v1.Hospital", "ListHospitals") => {
            let req = h::ListHospitalsRequest {
                citizen_id,
                department: s(&body, "department"),
            };
            unary!(HospitalClient::new(channel).list_hospitals(req))
        }
        ("onestop.sim.health.v1.Hospital", "BookAppointment") => {
            let req = h::BookAppointmentRequest {
                citizen_id,
                hospital_id: s(&body, "hospital_id"),
                department: s(&body, "department"),
            };
            unary!(HospitalClient::new(channel).book_appointment(req))
        }
        ("onestop.sim.health.v1.Hospital", "WatchQueue") => {
            let req = h::WatchQueueRequest {
                citizen_id,
                hospital_id: s(&body, "hospital_id"),
                count: n(&body, "count"),
                interval_ms: n(&body, "interval_ms"),
                fail_after: n(&body, "fail_after"),
            };
            streaming!(HospitalClient::new(channel).watch_queue(req))
        }
        ("onestop.sim.medins.v1.MedicalInsurance", "GetAccount") => {
            unary!(
                MedicalInsuranceClient::new(channel)
                    .get_account(m::GetAccountRequest { citizen_id })
            )
        }
        ("onestop.sim.medins.v1.MedicalInsurance", "ListClaims") => {
            let req = m::ListClaimsRequest {
                citizen_id,
                count: n(&body, "count"),
                interval_ms: n(&body, "interval_ms"),
                fail_after: n(&body, "fail_after"),
            };
            streaming!(MedicalInsuranceClient::new(channel).list_claims(req))
        }
        other => panic!("the test does not know gRPC matter {other:?}; add it to grpc_example"),
    }
}
