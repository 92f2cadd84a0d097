//! JSON↔gRPC transcoding and gRPC-Web at the public entry, against the
//! fleet's four gRPC departments (traffic, tax, health, medins) behind a
//! secured gateway (citizen JWTs, channels, signed requests): every method
//! answers over HTTP/JSON exactly what a native gRPC call through the
//! gateway answers (compared field by field through the descriptor set);
//! server streams arrive as NDJSON or server-sent events, in order and
//! flushed message by message, a mid-stream failure as a last error
//! line/event; gRPC-Web round-trips in binary and text; bad input is
//! refused with the offending field path before the department is asked;
//! a department's gRPC status becomes the matching HTTP status with the
//! JSON error body.
//!
//! Note on the streams: the simulated departments number their messages
//! from 0 (`seq` 0 is a default value, so the first JSON message has no
//! `seq`); the streams are checked for `seq` 0..N in order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use onestop_sim::pb::health::{
    self, BookAppointmentRequest, ListHospitalsRequest, WatchQueueRequest,
    hospital_client::HospitalClient,
};
use onestop_sim::pb::medins::{
    self, GetAccountRequest, ListClaimsRequest, medical_insurance_client::MedicalInsuranceClient,
};
use onestop_sim::pb::tax::{
    self, Deduction, DeductionKind, FileReturnRequest, GetTaxSummaryRequest, ListTaxRecordsRequest,
    tax_bureau_client::TaxBureauClient,
};
use onestop_sim::pb::traffic::{
    self, BookDrivingTestRequest, ExamSubject, GetLicenceRequest, ListViolationsRequest,
    ViolationStatus, WatchExamQueueRequest, traffic_police_client::TrafficPoliceClient,
};
use onestop_tests::grpc::{Metadata, channel};
use onestop_tests::secure::Secure;
use onestop_tests::transcode::{
    Timed, assert_json_is, fields_set, from_json, grpc_web_call, grpc_web_channel, http_client,
    metadata, ndjson, origin, pool, same_keys, sse, to_json,
};
use onestop_tests::{Gateway, Sim, wait_for};
use serde_json::{Value, json};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Departments 0..9 of the fleet hold the four gRPC departments.
const DEPARTMENTS: usize = 9;
/// The first ten citizens are known to every department.
const KNOWN: usize = 10;

const TRAFFIC: &str = "onestop.sim.traffic.v1.TrafficPolice";
const TAX: &str = "onestop.sim.tax.v1.TaxBureau";
const HOSPITAL: &str = "onestop.sim.health.v1.Hospital";
const MEDINS: &str = "onestop.sim.medins.v1.MedicalInsurance";

type Traffic = TrafficPoliceClient<InterceptedService<Channel, Metadata>>;
type Tax = TaxBureauClient<InterceptedService<Channel, Metadata>>;
type Hospital = HospitalClient<InterceptedService<Channel, Metadata>>;
type Medins = MedicalInsuranceClient<InterceptedService<Channel, Metadata>>;

/// A fleet verifying the gateway's signatures and a secured gateway
/// (citizen auth on every gRPC method) in front of it.
async fn setup() -> (Sim, Gateway, Secure) {
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], "").await;
    (sim, gw, secure)
}

/// One citizen's credentials on both paths: the HTTP/JSON client and the
/// native gRPC clients through the gateway (same app key, same token).
struct Caller {
    id: String,
    http: reqwest::Client,
    md: Metadata,
    traffic: Traffic,
    tax: Tax,
    hospital: Hospital,
    medins: Medins,
}

async fn caller(gw: &Gateway, secure: &Secure, id: &str) -> Caller {
    let token = secure.token(id);
    let md = metadata(secure.app_key(), &token);
    let ch = channel(gw.public).await;
    Caller {
        id: id.to_string(),
        http: http_client(secure.app_key(), Some(&token)),
        traffic: TrafficPoliceClient::with_interceptor(ch.clone(), md.clone()),
        tax: TaxBureauClient::with_interceptor(ch.clone(), md.clone()),
        hospital: HospitalClient::with_interceptor(ch.clone(), md.clone()),
        medins: MedicalInsuranceClient::with_interceptor(ch, md.clone()),
        md,
    }
}

/// Requests the department's instances have served (all of them).
async fn served(sim: &Sim, dept: &str) -> u64 {
    let mut n = 0;
    for i in &sim.dept(dept).instances {
        n += sim.requests(&i.id).await;
    }
    n
}

async fn served_all(sim: &Sim) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for d in ["traffic", "tax", "health", "medins"] {
        out.insert(d, served(sim, d).await);
    }
    out
}

/// The default mapping of a method without `google.api.http`.
fn rpc(service: &str, method: &str) -> String {
    format!("/api/v1/rpc/{service}/{method}")
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Sends `req`; expects 200 with `application/json`; the body.
async fn ok_json(what: &str, req: reqwest::RequestBuilder) -> Vec<u8> {
    let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    let body = resp.bytes().await.unwrap().to_vec();
    assert_eq!(
        status,
        200,
        "{what}: {status} {ct} {}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct:?}"
    );
    body
}

/// Sends `req`; expects 200 with `want_ct`; the lines or events as they arrived.
async fn ok_stream(what: &str, req: reqwest::RequestBuilder, want_ct: &str) -> Vec<Timed> {
    let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        panic!("{what}: {status} {ct} {body}");
    }
    assert!(
        ct.starts_with(want_ct),
        "{what}: content-type {ct:?}, expected {want_ct}"
    );
    if want_ct == "text/event-stream" {
        sse(resp).await
    } else {
        ndjson(resp).await
    }
}

/// An error answer: status and the JSON body.
async fn error(req: reqwest::RequestBuilder) -> (u16, Value, String) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    let rid = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} {ct}: error body not JSON ({e}): {text}"));
    assert!(
        ct.starts_with("application/json"),
        "error content-type {ct:?}: {text}"
    );
    assert_eq!(
        body["error"]["request_id"].as_str(),
        Some(rid.as_str()),
        "error body's request_id against x-request-id: {text}"
    );
    assert!(!rid.is_empty(), "no x-request-id: {text}");
    (status, body, text)
}

/// All messages of a native stream; panics on a non-OK status.
async fn all<T: prost::Message + Default + 'static>(
    what: &str,
    stream: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> Vec<T> {
    let mut stream = stream
        .unwrap_or_else(|s| panic!("native {what}: {s:?}"))
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream
        .message()
        .await
        .unwrap_or_else(|s| panic!("native {what}: {s:?}"))
    {
        out.push(m);
    }
    out
}

/// Transcoded stream lines against the native messages, one by one;
/// returns the fields compared.
fn same_stream<T>(what: &str, name: &str, got: &[Timed], want: &[T]) -> usize
where
    T: prost::Message + Default + PartialEq + std::fmt::Debug,
{
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} transcoded messages, {} native: {got:#?}",
        got.len(),
        want.len()
    );
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            assert!(
                g.event.as_deref().is_none_or(|e| e == "message"),
                "{what}: event {:?}",
                g.event
            );
            assert_json_is(name, g.data.as_bytes(), w)
        })
        .sum()
}

/// `seq` of each line (absent: 0, the proto3 JSON default).
fn seqs(lines: &[Timed]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let v = l.json();
            assert!(v.get("error").is_none(), "an error line: {}", l.data);
            v.get("seq").map_or(0, |s| {
                s.as_u64()
                    .unwrap_or_else(|| panic!("seq not a number: {}", l.data))
            })
        })
        .collect()
}

/// A proto3 JSON Timestamp: an RFC 3339 string for the native instant.
fn assert_timestamp(v: &Value, want: Option<&prost_types::Timestamp>, what: &str) {
    let want = want.unwrap_or_else(|| panic!("{what}: the native message has no timestamp"));
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: timestamp not a JSON string: {v}"));
    let t = humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{what}: {s:?}: {e}"));
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    assert_eq!(
        i64::try_from(secs).unwrap(),
        want.seconds,
        "{what}: {s} is not the native instant"
    );
    assert!(
        s.as_bytes().get(10) == Some(&b'T'),
        "{what}: {s:?} not RFC 3339"
    );
}

/// An int64 in proto3 JSON: a decimal string.
fn assert_int64(v: &Value, want: i64, what: &str) {
    assert_eq!(
        v.as_str(),
        Some(want.to_string().as_str()),
        "{what}: an int64 is a JSON string: {v}"
    );
}

/// What the sweep compared in one department.
#[derive(Default)]
struct Tally {
    methods: BTreeSet<&'static str>,
    calls: usize,
    fields: usize,
}

impl Tally {
    fn add(&mut self, method: &'static str, fields: usize) {
        self.methods.insert(method);
        self.calls += 1;
        self.fields += fields;
    }
}

/// Of the citizens every department knows, one whose answers exercise the
/// mapping: a licence, taxable income with deductions, and both unpaid
/// and settled violations.
async fn pick_citizen(sim: &Sim, gw: &Gateway, secure: &Secure) -> Caller {
    let mut seen = Vec::new();
    for c in &sim.manifest.citizens[..KNOWN] {
        let mut k = caller(gw, secure, &c.id).await;
        let v = k
            .traffic
            .list_violations(ListViolationsRequest {
                citizen_id: "me".into(),
                unpaid_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        let l = k
            .traffic
            .get_licence(GetLicenceRequest {
                citizen_id: "me".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let s = k
            .tax
            .get_tax_summary(GetTaxSummaryRequest {
                citizen_id: "me".into(),
                year: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let unpaid = ViolationStatus::Unpaid as i32;
        let good = v.violations.iter().any(|x| x.status == unpaid)
            && v.violations.iter().any(|x| x.status != unpaid)
            && l.issued_at.is_some()
            && s.income_fen > 0
            && !s.deductions.is_empty();
        seen.push(format!(
            "{}: {} violations, licence {}, income {}, {} deductions",
            onestop_core::mask::resident_id(&c.id),
            v.violations.len(),
            l.status,
            s.income_fen,
            s.deductions.len()
        ));
        if good {
            println!(
                "citizen {} ({} violations, licence status {}, income {} fen)",
                onestop_core::mask::resident_id(&c.id),
                v.violations.len(),
                l.status,
                s.income_fen
            );
            return k;
        }
    }
    panic!("no known citizen exercises every mapping: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_of_four_grpc_departments_transcodes_to_the_native_answer() {
    let (sim, gw, secure) = setup().await;
    let mut c = pick_citizen(&sim, &gw, &secure).await;
    let mut tally: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let http = c.http.clone();
    let example = |dept: &str, matter: &str| -> Value {
        sim.dept(dept)
            .matters
            .iter()
            .find(|m| m.id == matter)
            .and_then(|m| m.example.body.clone())
            .unwrap_or_else(|| panic!("no example for {dept} {matter}"))
    };

    // ---- traffic (annotated) ----
    let t = tally.entry("traffic").or_default();
    let all_v = c
        .traffic
        .list_violations(ListViolationsRequest {
            citizen_id: "me".into(),
            unpaid_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    let unpaid_v = c
        .traffic
        .list_violations(ListViolationsRequest {
            citizen_id: "me".into(),
            unpaid_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unpaid_v.violations.len() < all_v.violations.len());
    let name = "onestop.sim.traffic.v1.ListViolationsResponse";
    let base = "/api/v1/depts/traffic/citizens";
    for (path, want) in [
        (format!("{base}/me/violations"), &all_v),
        (format!("{base}/{}/violations", c.id), &all_v),
        (format!("{base}/me/violations?unpaidOnly=true"), &unpaid_v),
        (format!("{base}/me/violations?unpaid_only=true"), &unpaid_v),
    ] {
        let body = ok_json(&path, http.get(gw.url(&path))).await;
        t.add("ListViolations", assert_json_is(name, &body, want));
        if want == &all_v {
            // Raw proto3 JSON facts: int64 as strings, enums by name,
            // timestamps in RFC 3339, lowerCamelCase names.
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_int64(&v["totalFineFen"], all_v.total_fine_fen, "totalFineFen");
            for (i, w) in all_v.violations.iter().enumerate() {
                let g = &v["violations"][i];
                assert_int64(&g["fineFen"], w.fine_fen, "fineFen");
                let status = ViolationStatus::try_from(w.status).unwrap().as_str_name();
                assert_eq!(g["status"], status, "violation status by name");
                assert_timestamp(&g["occurredAt"], w.occurred_at.as_ref(), "occurredAt");
            }
            assert!(
                v["violations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g["status"] == "VIOLATION_STATUS_UNPAID"),
                "{v}"
            );
        }
    }

    let want = c
        .traffic
        .get_licence(GetLicenceRequest {
            citizen_id: "me".into(),
        })
        .await
        .unwrap()
        .into_inner();
    for path in [
        format!("{base}/me/licence"),
        format!("{base}/{}/licence", c.id),
    ] {
        let body = ok_json(&path, http.get(gw.url(&path))).await;
        t.add(
            "GetLicence",
            assert_json_is("onestop.sim.traffic.v1.Licence", &body, &want),
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_timestamp(&v["issuedAt"], want.issued_at.as_ref(), "issuedAt");
        assert_timestamp(&v["expiresAt"], want.expires_at.as_ref(), "expiresAt");
        assert!(v["status"].as_str().unwrap().starts_with("LICENCE_STATUS_"));
        assert!(v.get("pointsRemaining").is_none() || v["pointsRemaining"].is_number());
    }

    // A booking: the booking id is a fresh receipt number per call; every
    // other field is the same for the same citizen and inputs.
    let preferred = example("traffic", "driving-test")["preferred_date"]
        .as_str()
        .unwrap()
        .to_string();
    let want = c
        .traffic
        .book_driving_test(BookDrivingTestRequest {
            citizen_id: "me".into(),
            subject: ExamSubject::Road as i32,
            exam_centre_id: "CQ-JB".into(),
            preferred_date: preferred.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let path = format!("{base}/me/driving-tests");
    let body = ok_json(
        &path,
        http.post(gw.url(&path)).json(&json!({
            "subject": "EXAM_SUBJECT_ROAD",
            "examCentreId": "CQ-JB",
            "preferredDate": preferred,
        })),
    )
    .await;
    let name = "onestop.sim.traffic.v1.BookDrivingTestResponse";
    let mut got: traffic::BookDrivingTestResponse = from_json(name, &body).unwrap();
    assert!(got.booking_id.starts_with("TRAFFIC"), "{got:?}");
    assert_ne!(got.booking_id, want.booking_id, "a booking id per call");
    got.booking_id.clone_from(&want.booking_id);
    assert_eq!(got, want);
    let v: Value = serde_json::from_slice(&body).unwrap();
    same_keys(&v, &to_json(name, &want), name).unwrap();
    assert_int64(&v["feeFen"], 30_000, "feeFen");
    assert_eq!(v["subject"], "EXAM_SUBJECT_ROAD");
    assert_eq!(v["confirmed"], true);
    assert_timestamp(&v["slotStart"], want.slot_start.as_ref(), "slotStart");
    t.add("BookDrivingTest", fields_set(name, &want));

    let want = all(
        "WatchExamQueue",
        c.traffic
            .watch_exam_queue(WatchExamQueueRequest {
                citizen_id: String::new(),
                exam_centre_id: "CQ-BN".into(),
                count: 4,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    // No Accept header: NDJSON.
    let path = "/api/v1/depts/traffic/exam-centres/CQ-BN/queue?count=4";
    let lines = ok_stream(path, http.get(gw.url(path)), "application/x-ndjson").await;
    t.add(
        "WatchExamQueue",
        same_stream(
            path,
            "onestop.sim.traffic.v1.ExamQueueUpdate",
            &lines,
            &want,
        ),
    );
    assert_eq!(seqs(&lines), [0, 1, 2, 3]);
    assert!(
        lines[1].json()["nowServing"]
            .as_str()
            .unwrap()
            .starts_with("CQ-BN-")
    );

    // ---- tax (annotated) ----
    let t = tally.entry("tax").or_default();
    let base = "/api/v1/depts/tax/citizens";
    let name = "onestop.sim.tax.v1.TaxSummary";
    for (path, year) in [
        (format!("{base}/me/summary/2024"), 2024),
        (format!("{base}/me/summary"), 0),
        (format!("{base}/{}/summary/2023", c.id), 2023),
    ] {
        let want = c
            .tax
            .get_tax_summary(GetTaxSummaryRequest {
                citizen_id: "me".into(),
                year,
            })
            .await
            .unwrap()
            .into_inner();
        let body = ok_json(&path, http.get(gw.url(&path))).await;
        t.add("GetTaxSummary", assert_json_is(name, &body, &want));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_int64(&v["incomeFen"], want.income_fen, "incomeFen");
        assert_eq!(v["year"], json!(want.year), "int32 is a JSON number");
        assert_eq!(v["citizenId"], c.id.as_str());
        assert!(v["status"].as_str().unwrap().starts_with("FILING_STATUS_"));
        assert!(
            v["deductions"][0]["kind"]
                .as_str()
                .unwrap()
                .starts_with("DEDUCTION_KIND_")
        );
        if year == 0 {
            assert!(want.year > 2024, "year 0 is the last complete year");
        }
    }

    // A return: a fresh receipt number and the time of acceptance per call;
    // status and refund are the same for the same inputs.
    let year = i32::try_from(example("tax", "file-return")["year"].as_i64().unwrap()).unwrap();
    let want = c
        .tax
        .file_return(FileReturnRequest {
            citizen_id: "me".into(),
            year,
            declared_income_fen: 12_000_000,
            deductions: vec![Deduction {
                kind: DeductionKind::HousingRent as i32,
                amount_fen: 1_800_000,
                description: "住房租金".into(),
            }],
            request_refund: true,
        })
        .await
        .unwrap()
        .into_inner();
    let path = format!("{base}/me/returns");
    let body = ok_json(
        &path,
        http.post(gw.url(&path)).json(&json!({
            "year": year,
            "declaredIncomeFen": "12000000",
            "deductions": [{"kind": "DEDUCTION_KIND_HOUSING_RENT", "amountFen": "1800000", "description": "住房租金"}],
            "requestRefund": true,
        })),
    )
    .await;
    let name = "onestop.sim.tax.v1.FileReturnResponse";
    let mut got: tax::FileReturnResponse = from_json(name, &body).unwrap();
    assert!(got.receipt_no.starts_with("TAX"), "{got:?}");
    assert_ne!(got.receipt_no, want.receipt_no, "a receipt per call");
    let (g, w) = (got.accepted_at.unwrap(), want.accepted_at.unwrap());
    assert!(
        (g.seconds - w.seconds).abs() <= 10,
        "accepted_at {g:?} vs {w:?}"
    );
    got.receipt_no.clone_from(&want.receipt_no);
    got.accepted_at = want.accepted_at;
    assert_eq!(got, want);
    let v: Value = serde_json::from_slice(&body).unwrap();
    same_keys(&v, &to_json(name, &want), name).unwrap();
    assert!(v["status"].as_str().unwrap().starts_with("FILING_STATUS_"));
    assert!(v["acceptedAt"].as_str().unwrap().ends_with('Z'), "{v}");
    t.add("FileReturn", fields_set(name, &want));

    let want = all(
        "ListTaxRecords",
        c.tax
            .list_tax_records(ListTaxRecordsRequest {
                citizen_id: "me".into(),
                count: 6,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = format!("{base}/me/records?count=6&intervalMs=0");
    let lines = ok_stream(
        &path,
        http.get(gw.url(&path))
            .header("accept", "application/x-ndjson"),
        "application/x-ndjson",
    )
    .await;
    t.add(
        "ListTaxRecords",
        same_stream(&path, "onestop.sim.tax.v1.TaxRecord", &lines, &want),
    );
    assert_eq!(seqs(&lines), [0, 1, 2, 3, 4, 5]);
    assert_int64(
        &lines[2].json()["incomeFen"],
        want[2].income_fen,
        "incomeFen",
    );

    // ---- health (default mapping) ----
    let t = tally.entry("health").or_default();
    let name = "onestop.sim.health.v1.ListHospitalsResponse";
    let path = rpc(HOSPITAL, "ListHospitals");
    for (body, citizen_id, department) in [
        (json!({"department": "儿科"}), "", "儿科"),
        (json!({"citizenId": "me"}), "me", ""),
        (
            json!({"citizen_id": c.id, "department": "内科"}),
            c.id.as_str(),
            "内科",
        ),
    ] {
        let want = c
            .hospital
            .list_hospitals(ListHospitalsRequest {
                citizen_id: citizen_id.into(),
                department: department.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!want.hospitals.is_empty());
        let got = ok_json(&path, http.post(gw.url(&path)).json(&body)).await;
        t.add("ListHospitals", assert_json_is(name, &got, &want));
        let v: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["hospitals"][0]["level"], "HOSPITAL_LEVEL_GRADE_3A");
        assert_eq!(v["hospitals"][0]["acceptsInsurance"], true);
    }

    // An appointment: a fresh appointment id per call, the rest the same.
    let want = c
        .hospital
        .book_appointment(BookAppointmentRequest {
            citizen_id: String::new(),
            hospital_id: "H003".into(),
            department: "儿科".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let path = rpc(HOSPITAL, "BookAppointment");
    let body = ok_json(
        &path,
        http.post(gw.url(&path))
            .json(&json!({"hospitalId": "H003", "department": "儿科"})),
    )
    .await;
    let name = "onestop.sim.health.v1.Appointment";
    let mut got: health::Appointment = from_json(name, &body).unwrap();
    assert!(got.appointment_id.starts_with("HEALTH"), "{got:?}");
    assert_ne!(got.appointment_id, want.appointment_id);
    got.appointment_id.clone_from(&want.appointment_id);
    assert_eq!(got, want);
    let v: Value = serde_json::from_slice(&body).unwrap();
    same_keys(&v, &to_json(name, &want), name).unwrap();
    assert_int64(&v["feeFen"], want.fee_fen, "feeFen");
    assert_timestamp(&v["slotStart"], want.slot_start.as_ref(), "slotStart");
    assert!(
        v["status"]
            .as_str()
            .unwrap()
            .starts_with("APPOINTMENT_STATUS_")
    );
    t.add("BookAppointment", fields_set(name, &want));

    let want = all(
        "WatchQueue",
        c.hospital
            .watch_queue(WatchQueueRequest {
                citizen_id: String::new(),
                hospital_id: "H002".into(),
                count: 4,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = rpc(HOSPITAL, "WatchQueue");
    let lines = ok_stream(
        &path,
        http.post(gw.url(&path))
            .header("accept", "application/x-ndjson")
            .json(&json!({"hospitalId": "H002", "count": 4})),
        "application/x-ndjson",
    )
    .await;
    t.add(
        "WatchQueue",
        same_stream(&path, "onestop.sim.health.v1.QueueUpdate", &lines, &want),
    );
    assert_eq!(seqs(&lines), [0, 1, 2, 3]);
    assert_timestamp(&lines[3].json()["at"], want[3].at.as_ref(), "at");

    // ---- medins (default mapping) ----
    let t = tally.entry("medins").or_default();
    let want = c
        .medins
        .get_account(GetAccountRequest {
            citizen_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let path = rpc(MEDINS, "GetAccount");
    let name = "onestop.sim.medins.v1.Account";
    for body in [json!({}), json!({"citizenId": "me"})] {
        let got = ok_json(&path, http.post(gw.url(&path)).json(&body)).await;
        t.add("GetAccount", assert_json_is(name, &got, &want));
        let v: Value = serde_json::from_slice(&got).unwrap();
        assert!(
            v["insuranceType"]
                .as_str()
                .unwrap()
                .starts_with("INSURANCE_TYPE_")
        );
        assert_timestamp(&v["enrolledAt"], want.enrolled_at.as_ref(), "enrolledAt");
        assert_int64(
            &v["recentContributions"][0]["amountFen"],
            want.recent_contributions[0].amount_fen,
            "amountFen",
        );
    }

    let want = all(
        "ListClaims",
        c.medins
            .list_claims(ListClaimsRequest {
                citizen_id: String::new(),
                count: 7,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = rpc(MEDINS, "ListClaims");
    let lines = ok_stream(
        &path,
        http.post(gw.url(&path)).json(&json!({"count": 7})),
        "application/x-ndjson",
    )
    .await;
    t.add(
        "ListClaims",
        same_stream(&path, "onestop.sim.medins.v1.Claim", &lines, &want),
    );
    assert_eq!(seqs(&lines), [0, 1, 2, 3, 4, 5, 6]);

    // Every method of every service, none left out.
    for (dept, service) in [
        ("traffic", TRAFFIC),
        ("tax", TAX),
        ("health", HOSPITAL),
        ("medins", MEDINS),
    ] {
        let methods: BTreeSet<String> = pool()
            .get_service_by_name(service)
            .unwrap()
            .methods()
            .map(|m| m.name().to_string())
            .collect();
        let t = &tally[dept];
        let done: BTreeSet<String> = t.methods.iter().map(|m| m.to_string()).collect();
        assert_eq!(done, methods, "{dept}: methods compared");
        println!(
            "transcode {dept:<8} {service}: {}/{} methods, {} calls, {} fields compared with the native answers",
            t.methods.len(),
            methods.len(),
            t.calls,
            t.fields
        );
        assert!(t.fields >= t.calls, "{dept}: too few fields compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_arrives_in_order_and_flushed_as_ndjson_and_sse() {
    let (sim, gw, secure) = setup().await;
    let mut c = caller(&gw, &secure, &sim.manifest.citizens[0].id).await;
    const INTERVAL: u64 = 200;
    const SLACK: u64 = 60;

    let flushed = |what: &str, items: &[Timed]| {
        let first = items[0].at;
        let offsets: Vec<u128> = items.iter().map(|i| (i.at - first).as_millis()).collect();
        println!("{what}: arrivals after the first (ms): {offsets:?}");
        for (i, item) in items.iter().enumerate() {
            let at = (item.at - first).as_millis();
            let floor = u128::from((i as u64 * INTERVAL).saturating_sub(SLACK));
            assert!(
                at >= floor,
                "{what}: message {i} arrived {at} ms after the first, before {floor} ms: not flushed one by one ({offsets:?})"
            );
        }
        let spread = (items[items.len() - 1].at - first).as_millis();
        assert!(
            spread >= 700,
            "{what}: first to last {spread} ms: buffered ({offsets:?})"
        );
    };

    // NDJSON, traffic WatchExamQueue: 5 messages 200 ms apart.
    let want = all(
        "WatchExamQueue",
        c.traffic
            .watch_exam_queue(WatchExamQueueRequest {
                citizen_id: String::new(),
                exam_centre_id: "CQ-YB".into(),
                count: 5,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = "/api/v1/depts/traffic/exam-centres/CQ-YB/queue?count=5&intervalMs=200";
    let lines = ok_stream(
        path,
        c.http
            .get(gw.url(path))
            .header("accept", "application/x-ndjson"),
        "application/x-ndjson",
    )
    .await;
    let fields = same_stream(
        path,
        "onestop.sim.traffic.v1.ExamQueueUpdate",
        &lines,
        &want,
    );
    assert_eq!(seqs(&lines), [0, 1, 2, 3, 4], "in order");
    flushed("NDJSON WatchExamQueue", &lines);
    println!(
        "NDJSON: {} messages, {fields} fields equal to native",
        lines.len()
    );

    // SSE, tax ListTaxRecords: 5 messages 200 ms apart.
    let want = all(
        "ListTaxRecords",
        c.tax
            .list_tax_records(ListTaxRecordsRequest {
                citizen_id: "me".into(),
                count: 5,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = "/api/v1/depts/tax/citizens/me/records?count=5&intervalMs=200";
    let events = ok_stream(
        path,
        c.http
            .get(gw.url(path))
            .header("accept", "text/event-stream"),
        "text/event-stream",
    )
    .await;
    let fields = same_stream(path, "onestop.sim.tax.v1.TaxRecord", &events, &want);
    assert_eq!(seqs(&events), [0, 1, 2, 3, 4], "in order");
    flushed("SSE ListTaxRecords", &events);
    println!(
        "SSE: {} events, {fields} fields equal to native",
        events.len()
    );

    // A stream failing after 3 messages: NDJSON ends with an error line.
    let path = "/api/v1/depts/traffic/exam-centres/CQ-YB/queue?count=5&failAfter=3";
    let lines = ok_stream(
        path,
        c.http
            .get(gw.url(path))
            .header("accept", "application/x-ndjson"),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(lines.len(), 4, "3 messages and the error: {lines:#?}");
    assert_eq!(seqs(&lines[..3]), [0, 1, 2]);
    same_stream(
        path,
        "onestop.sim.traffic.v1.ExamQueueUpdate",
        &lines[..3],
        &want_queue(&mut c, 3).await,
    );
    let last = lines[3].json();
    println!("NDJSON error line: {}", lines[3].data);
    assert_eq!(last["error"]["code"], "FAILED_PRECONDITION", "{last}");
    assert_eq!(last["error"]["grpc_status"], 9, "{last}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream failed after 3 messages"),
        "{last}"
    );

    // SSE, medins ListClaims (default mapping) failing after 2 messages:
    // the messages, then `event: error`.
    let want = all(
        "ListClaims",
        c.medins
            .list_claims(ListClaimsRequest {
                citizen_id: String::new(),
                count: 2,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let path = rpc(MEDINS, "ListClaims");
    let events = ok_stream(
        &path,
        c.http
            .post(gw.url(&path))
            .header("accept", "text/event-stream")
            .json(&json!({"count": 5, "intervalMs": 20, "failAfter": 2})),
        "text/event-stream",
    )
    .await;
    assert_eq!(events.len(), 3, "2 messages and the error: {events:#?}");
    same_stream(&path, "onestop.sim.medins.v1.Claim", &events[..2], &want);
    assert_eq!(events[2].event.as_deref(), Some("error"), "{events:#?}");
    let err = events[2].json();
    println!("SSE error event: {}", events[2].data);
    assert_eq!(err["error"]["code"], "FAILED_PRECONDITION", "{err}");
    assert_eq!(err["error"]["grpc_status"], 9, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream failed after 2 messages"),
        "{err}"
    );
}

/// The first `n` native WatchExamQueue messages at CQ-YB.
async fn want_queue(c: &mut Caller, n: u32) -> Vec<traffic::ExamQueueUpdate> {
    all(
        "WatchExamQueue",
        c.traffic
            .watch_exam_queue(WatchExamQueueRequest {
                citizen_id: String::new(),
                exam_centre_id: "CQ-YB".into(),
                count: n,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_round_trips_unary_and_streaming_in_binary_and_text() {
    let (sim, gw, secure) = setup().await;
    let mut c = caller(&gw, &secure, &sim.manifest.citizens[0].id).await;
    let other = sim.manifest.citizens[1].id.clone();

    // Binary, with the generated clients over tonic-web (HTTP/1.1).
    let web = grpc_web_channel(c.md.clone());
    let mut tax_web = TaxBureauClient::with_origin(web.clone(), origin(gw.public));
    let mut traffic_web = TrafficPoliceClient::with_origin(web, origin(gw.public));
    let req = GetTaxSummaryRequest {
        citizen_id: "me".into(),
        year: 0,
    };
    let want = c
        .tax
        .get_tax_summary(req.clone())
        .await
        .unwrap()
        .into_inner();
    let got = tax_web
        .get_tax_summary(req)
        .await
        .unwrap_or_else(|s| panic!("gRPC-Web GetTaxSummary: {s:?}"))
        .into_inner();
    assert_eq!(got, want);
    let req = WatchExamQueueRequest {
        citizen_id: String::new(),
        exam_centre_id: "CQ-JB".into(),
        count: 6,
        interval_ms: 5,
        fail_after: 0,
    };
    let want_stream = all(
        "WatchExamQueue",
        c.traffic.watch_exam_queue(req.clone()).await,
    )
    .await;
    let got_stream = all(
        "gRPC-Web WatchExamQueue",
        traffic_web.watch_exam_queue(req).await,
    )
    .await;
    assert_eq!(got_stream, want_stream);
    assert_eq!(
        got_stream.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    // A failing stream: the messages, then the status from the trailer frame.
    let mut failing = traffic_web
        .watch_exam_queue(WatchExamQueueRequest {
            citizen_id: String::new(),
            exam_centre_id: "CQ-JB".into(),
            count: 6,
            interval_ms: 0,
            fail_after: 2,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let status = loop {
        match failing.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("gRPC-Web stream ended OK, expected FAILED_PRECONDITION"),
            Err(s) => break s,
        }
    };
    assert_eq!(got, 2);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    // A department's NOT_FOUND (somebody else's licence) arrives as such.
    let err = traffic_web
        .get_licence(GetLicenceRequest {
            citizen_id: other.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    println!(
        "gRPC-Web binary (tonic-web): unary equal, {} streamed messages equal, failing stream 2 + {:?}, other citizen {:?}",
        got_stream.len(),
        status.code(),
        err.code()
    );

    // By hand over HTTP/1.1, with the same app key and token as headers.
    let web_http = c.http.clone();

    // Binary by hand, as `application/grpc-web+proto`.
    let want = c
        .medins
        .get_account(GetAccountRequest {
            citizen_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let a = grpc_web_call(
        &web_http,
        gw.public,
        &format!("/{MEDINS}/GetAccount"),
        "application/grpc-web+proto",
        &GetAccountRequest {
            citizen_id: String::new(),
        },
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.content_type.starts_with("application/grpc-web")
            && !a.content_type.starts_with("application/grpc-web-text"),
        "{a:?}"
    );
    assert_eq!(a.messages::<medins::Account>(), [want]);
    assert_eq!(a.trailer("grpc-status").as_deref(), Some("0"), "{a:?}");

    // Text: unary.
    let want = c
        .traffic
        .get_licence(GetLicenceRequest {
            citizen_id: "me".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let a = grpc_web_call(
        &web_http,
        gw.public,
        &format!("/{TRAFFIC}/GetLicence"),
        "application/grpc-web-text",
        &GetLicenceRequest {
            citizen_id: "me".into(),
        },
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.content_type.starts_with("application/grpc-web-text"),
        "{a:?}"
    );
    assert_eq!(a.messages::<traffic::Licence>(), [want]);
    assert_eq!(a.frames.len(), 2, "one message and the trailers: {a:?}");
    assert_eq!(a.frames[1].0, 0x80, "{a:?}");
    let trailer_text = String::from_utf8_lossy(&a.frames[1].1).to_string();
    assert!(
        trailer_text.contains("grpc-status:0") || trailer_text.contains("grpc-status: 0"),
        "{trailer_text:?}"
    );

    // Text: server streaming.
    let want = all(
        "ListClaims",
        c.medins
            .list_claims(ListClaimsRequest {
                citizen_id: String::new(),
                count: 3,
                interval_ms: 0,
                fail_after: 0,
            })
            .await,
    )
    .await;
    let a = grpc_web_call(
        &web_http,
        gw.public,
        &format!("/{MEDINS}/ListClaims"),
        "application/grpc-web-text",
        &ListClaimsRequest {
            citizen_id: String::new(),
            count: 3,
            interval_ms: 10,
            fail_after: 0,
        },
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.content_type.starts_with("application/grpc-web-text"),
        "{a:?}"
    );
    let claims = a.messages::<medins::Claim>();
    assert_eq!(claims, want);
    assert_eq!(a.trailer("grpc-status").as_deref(), Some("0"), "{a:?}");
    println!(
        "gRPC-Web by hand: +proto unary equal; text unary equal; text stream {} claims equal, {} frames, trailers {:?}",
        claims.len(),
        a.frames.len(),
        a.trailers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_path_and_the_backend_sees_nothing() {
    let (sim, gw, secure) = setup().await;
    let c = caller(&gw, &secure, &sim.manifest.citizens[0].id).await;
    let http = &c.http;
    let before = served_all(&sim).await;
    let returns = "/api/v1/depts/tax/citizens/me/returns";
    let json_post = |path: &str, body: &str| {
        http.post(gw.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
    };

    // (what, request, field path)
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        (
            "invalid JSON",
            json_post(returns, r#"{"year": 2025, "declaredIncomeFen": "#),
            "",
        ),
        (
            "a string for an int32",
            json_post(returns, r#"{"year": "abc"}"#),
            "year",
        ),
        (
            "a string for an int32 in the path",
            http.get(gw.url("/api/v1/depts/tax/citizens/me/summary/abc")),
            "year",
        ),
        (
            "a bool for a nested int64",
            json_post(
                returns,
                r#"{"year": 2025, "deductions": [{"amountFen": true}]}"#,
            ),
            "deductions[0].amountFen",
        ),
        (
            "an unknown field",
            json_post(returns, r#"{"nope": 1}"#),
            "nope",
        ),
        (
            "an unknown field (default mapping)",
            json_post(&rpc(HOSPITAL, "ListHospitals"), r#"{"nope": 1}"#),
            "nope",
        ),
        (
            "an enum name the enum does not have",
            json_post(
                "/api/v1/depts/traffic/citizens/me/driving-tests",
                r#"{"subject": "EXAM_SUBJECT_FLYING", "examCentreId": "CQ-YB"}"#,
            ),
            "subject",
        ),
        (
            "a number for a query parameter",
            http.get(gw.url("/api/v1/depts/traffic/exam-centres/CQ-YB/queue?count=many")),
            "count",
        ),
    ];
    for (what, req, field) in cases {
        let (status, body, text) = error(req).await;
        println!("{what}: {status} {text}");
        assert_eq!(status, 400, "{what}: {text}");
        assert_eq!(body["error"]["code"], "INVALID_ARGUMENT", "{what}: {text}");
        let got_field = body["error"]["field"].as_str().unwrap_or_else(|| {
            panic!("{what}: no field in {text}");
        });
        let camel_or_proto = |f: &str| f == field || f == snake(field);
        assert!(
            camel_or_proto(got_field),
            "{what}: field {got_field:?}, expected {field:?}: {text}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{what}: {text}");
        if !field.is_empty() {
            assert!(
                message.starts_with(&format!("{got_field}:")),
                "{what}: message should start with the field path: {text}"
            );
        }
    }

    // A required path parameter left empty: the trailing-empty-segment form
    // must reach the transcoder and name the field; `//` collapses in the
    // path normaliser (and then matches nothing).
    let (status, body, text) =
        error(http.get(gw.url("/api/v1/depts/tax/citizens/me/summary/"))).await;
    println!("empty path parameter (year): {status} {text}");
    assert_eq!(status, 400, "{text}");
    assert_eq!(body["error"]["code"], "INVALID_ARGUMENT", "{text}");
    assert!(
        matches!(body["error"]["field"].as_str(), Some("year")),
        "{text}"
    );
    let (status, body, text) =
        error(http.get(gw.url("/api/v1/depts/traffic/exam-centres//queue"))).await;
    println!("empty path parameter (exam_centre_id): {status} {text}");
    match status {
        400 if body["error"]["code"] == "INVALID_ARGUMENT" => assert!(
            matches!(
                body["error"]["field"].as_str(),
                Some("exam_centre_id" | "examCentreId")
            ),
            "{text}"
        ),
        400 => assert_eq!(body["error"]["code"], "MALFORMED_REQUEST", "{text}"),
        404 => assert_eq!(body["error"]["code"], "ROUTE_NOT_FOUND", "{text}"),
        _ => panic!("empty exam_centre_id: {status} {text}"),
    }

    // A method the service does not have.
    let (status, body, text) = error(json_post(&rpc(TAX, "NoSuchMethod"), "{}")).await;
    println!("no such method: {status} {text}");
    assert_eq!(status, 404, "{text}");
    assert_eq!(body["error"]["code"], "METHOD_NOT_FOUND", "{text}");

    let after = served_all(&sim).await;
    println!("requests served by the departments, before {before:?}, after {after:?}");
    assert_eq!(after, before, "a refused call reached a department");

    // The same calls done right do reach the department (the counters count).
    let ok = ok_json(
        "summary",
        http.get(gw.url("/api/v1/depts/tax/citizens/me/summary/2024")),
    )
    .await;
    assert!(!ok.is_empty());
    assert_eq!(served(&sim, "tax").await, before["tax"] + 1);
}

/// `lowerCamelCase` field path to proto names (`deductions[0].amountFen` →
/// `deductions[0].amount_fen`).
fn snake(path: &str) -> String {
    let mut out = String::new();
    for ch in path.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_grpc_status_maps_to_http_status_with_the_json_error_body() {
    let (sim, gw, secure) = setup().await;
    let c = caller(&gw, &secure, &sim.manifest.citizens[0].id).await;
    let other = sim.manifest.citizens[1].id.clone();
    let http = &c.http;

    // Somebody else's licence: NOT_FOUND at the department (or the gateway's
    // own "not yours" 404), never the data.
    let before = served(&sim, "traffic").await;
    let (status, body, text) =
        error(http.get(gw.url(&format!("/api/v1/depts/traffic/citizens/{other}/licence")))).await;
    println!(
        "other citizen's licence: {status} {text} (traffic served {})",
        served(&sim, "traffic").await - before
    );
    assert_eq!(status, 404, "{text}");
    not_found(&body, &text);
    assert!(
        !text.contains(&other),
        "the other citizen's id echoed: {text}"
    );

    // Somebody else's account through the default mapping: the department
    // is asked and answers NOT_FOUND.
    let before = served(&sim, "medins").await;
    let (status, body, text) = error(
        http.post(gw.url(&rpc(MEDINS, "GetAccount")))
            .json(&json!({"citizenId": other})),
    )
    .await;
    let asked = served(&sim, "medins").await - before;
    println!("other citizen's account: {status} {text} (medins served {asked})");
    assert_eq!(status, 404, "{text}");
    not_found(&body, &text);

    // INVALID_ARGUMENT from the department (a year before the 2019 law):
    // 400, the department's message, grpc_status 3.
    let before = served(&sim, "tax").await;
    let (status, body, text) =
        error(http.get(gw.url("/api/v1/depts/tax/citizens/me/summary/1990"))).await;
    println!("year 1990: {status} {text}");
    assert_eq!(status, 400, "{text}");
    assert_eq!(body["error"]["code"], "INVALID_ARGUMENT", "{text}");
    assert_eq!(body["error"]["grpc_status"], 3, "{text}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("year must be between 2019"),
        "{text}"
    );
    assert_eq!(
        served(&sim, "tax").await,
        before + 1,
        "the department answered"
    );

    // A booking without a subject: the department's INVALID_ARGUMENT.
    let (status, body, text) = error(
        http.post(gw.url("/api/v1/depts/traffic/citizens/me/driving-tests"))
            .json(&json!({"examCentreId": "CQ-YB"})),
    )
    .await;
    println!("booking without subject: {status} {text}");
    assert_eq!(status, 400, "{text}");
    assert_eq!(body["error"]["grpc_status"], 3, "{text}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subject must be"),
        "{text}"
    );

    // A stream refused before its first message (somebody else's records):
    // 404 with the JSON body, or an NDJSON stream holding only the error.
    let resp = http
        .get(gw.url(&format!(
            "/api/v1/depts/tax/citizens/{other}/records?count=3"
        )))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    let text = resp.text().await.unwrap();
    println!("other citizen's tax records (stream): {status} {ct} {text}");
    if status == 404 {
        let body: Value = serde_json::from_str(&text).unwrap();
        not_found(&body, &text);
    } else {
        assert_eq!(status, 200, "{text}");
        assert!(ct.starts_with("application/x-ndjson"), "{ct}");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let body: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(body["error"]["grpc_status"], 5, "{text}");
    }

    // The caller's credentials apply as to a native call: no token, 401
    // from the gateway, and the department is not asked.
    let before = served(&sim, "tax").await;
    let anonymous = http_client(secure.app_key(), None);
    let (status, body, text) =
        error(anonymous.get(gw.url("/api/v1/depts/tax/citizens/me/summary"))).await;
    println!("no token: {status} {text}");
    assert_eq!(status, 401, "{text}");
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{text}");
    let (status, _, text) = error(
        onestop_tests::client()
            .get(gw.url("/api/v1/depts/tax/citizens/me/summary"))
            .header("authorization", format!("Bearer {}", secure.token(&c.id))),
    )
    .await;
    println!("no app key: {status} {text}");
    assert_eq!(status, 401, "{text}");
    assert_eq!(
        served(&sim, "tax").await,
        before,
        "an unauthenticated call reached tax"
    );

    // Every medins instance down: 503 with the JSON body.
    for i in &sim.dept("medins").instances {
        sim.set_faults(&i.id, json!({"down": true})).await;
    }
    let path = rpc(MEDINS, "GetAccount");
    let down = wait_for(Duration::from_secs(10), || {
        let req = http.post(gw.url(&path)).json(&json!({}));
        async move { req.send().await.is_ok_and(|r| r.status() == 503) }
    })
    .await;
    assert!(down.is_some(), "no 503 with every medins instance down");
    let (status, body, text) = error(http.post(gw.url(&path)).json(&json!({}))).await;
    println!("medins down: {status} {text} (after {down:?})");
    assert_eq!(status, 503, "{text}");
    assert!(body["error"]["code"].is_string(), "{text}");
}

/// A 404 body: the department's NOT_FOUND (grpc_status 5) or the
/// gateway's CITIZEN_NOT_FOUND.
fn not_found(body: &Value, text: &str) {
    match body["error"]["code"].as_str() {
        Some("NOT_FOUND") => assert_eq!(body["error"]["grpc_status"], 5, "{text}"),
        Some("CITIZEN_NOT_FOUND") => {}
        other => panic!("404 code {other:?}: {text}"),
    }
}

/// A transcoded call is the native call it becomes: it is counted once
/// against the citizen's quota, not once as HTTP and again as gRPC, and a
/// refusal is the gateway's `RATE_LIMITED` (429) before the department is
/// asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoded_call_counts_once_against_the_citizens_rate_limit() {
    const BURST: u64 = 10;
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let gw = secure
        .gateway(
            &sim,
            &[],
            &[],
            &format!("\n[rate_limits]\nper_citizen = {{ per_second = 1, burst = {BURST} }}\n"),
        )
        .await;
    let mut c = caller(&gw, &secure, &sim.manifest.citizens[0].id).await;
    let path = "/api/v1/depts/tax/citizens/me/summary/2024";
    let before = served(&sim, "tax").await;
    let started = std::time::Instant::now();
    // Native and transcoded calls in turn until the quota refuses one.
    let mut ok = 0_u64;
    let mut refused = None;
    for i in 0..(BURST * 3) {
        if i % 2 == 0 {
            match c
                .tax
                .get_tax_summary(GetTaxSummaryRequest {
                    citizen_id: "me".into(),
                    year: 2024,
                })
                .await
            {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        tonic::Code::ResourceExhausted,
                        "native call {i}: {status:?}"
                    );
                    refused = Some(format!("native call {i}"));
                    break;
                }
            }
        } else {
            let resp = c.http.get(gw.url(path)).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            if status == 200 {
                ok += 1;
                continue;
            }
            let body: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(status, 429, "transcoded call {i}: {text}");
            assert_eq!(body["error"]["code"], "RATE_LIMITED", "{text}");
            refused = Some(format!("transcoded call {i}"));
            break;
        }
    }
    let elapsed = started.elapsed();
    let served_now = served(&sim, "tax").await - before;
    println!(
        "burst {BURST}, 1/s: {ok} calls answered, then {} refused, in {elapsed:?}; tax served {served_now}",
        refused.as_deref().unwrap_or("none")
    );
    let refused = refused.expect("the quota never refused a call");
    // Counted twice, the alternating calls would use the burst up after
    // 7 answers (1 + 2 + 1 + 2 + …), plus what refilled meanwhile.
    let refilled = elapsed.as_secs() + 1;
    assert!(
        ok >= BURST && ok <= BURST + refilled,
        "{ok} answered before {refused}, burst {BURST}, {elapsed:?}"
    );
    // Every answered call reached the department once; the refused one
    // never did.
    assert_eq!(served_now, ok, "the department served {served_now} of {ok}");
}
