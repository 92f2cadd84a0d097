//! gRPC clients of the simulated departments, through the gateway.

use std::net::SocketAddr;

use onestop_sim::manifest::FleetManifest;
use onestop_sim::pb::{health, medins, tax, traffic};
use serde_json::Value;
use tonic::transport::Channel;

/// A plaintext (h2c) channel to the gateway's public port.
pub async fn channel(public: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{public}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the gateway over h2c")
}

fn example(manifest: &FleetManifest, dept: &str, matter: &str) -> Value {
    manifest
        .departments
        .iter()
        .find(|d| d.id == dept)
        .and_then(|d| {
            d.matters
                .iter()
                .find(|m| m.id == matter || m.path.ends_with(&format!("/{matter}")))
        })
        .and_then(|m| m.example.body.clone())
        .unwrap_or(Value::Null)
}

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_string()
}

/// Calls every unary method of a gRPC department through the gateway with
/// the manifest's example inputs; panics on any non-OK answer. Returns the
/// number of calls made.
pub async fn call_every_unary(public: SocketAddr, manifest: &FleetManifest, dept: &str) -> usize {
    call_every_unary_as(public, manifest, dept, Metadata::default()).await
}

/// Metadata every call carries (app key, bearer token).
#[derive(Clone, Default)]
pub struct Metadata(pub Vec<(&'static str, String)>);

impl tonic::service::Interceptor for Metadata {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        for (k, v) in &self.0 {
            let value = v
                .parse()
                .map_err(|_| tonic::Status::internal("metadata value"))?;
            req.metadata_mut().insert(*k, value);
        }
        Ok(req)
    }
}

/// Like [`call_every_unary`], with `metadata` on every call.
pub async fn call_every_unary_as(
    public: SocketAddr,
    manifest: &FleetManifest,
    dept: &str,
    metadata: Metadata,
) -> usize {
    let ch = channel(public).await;
    let citizen = manifest.citizens[0].id.clone();
    let ok = |what: &str, r: Result<(), tonic::Status>| {
        if let Err(status) = r {
            panic!("{dept} {what} through the gateway: {status:?}");
        }
    };
    match dept {
        "traffic" => {
            let mut c = traffic::traffic_police_client::TrafficPoliceClient::with_interceptor(
                ch,
                metadata.clone(),
            );
            let book = example(manifest, dept, "BookDrivingTest");
            ok(
                "ListViolations",
                c.list_violations(traffic::ListViolationsRequest {
                    citizen_id: citizen.clone(),
                    unpaid_only: false,
                })
                .await
                .map(drop),
            );
            ok(
                "GetLicence",
                c.get_licence(traffic::GetLicenceRequest {
                    citizen_id: citizen.clone(),
                })
                .await
                .map(drop),
            );
            ok(
                "BookDrivingTest",
                c.book_driving_test(traffic::BookDrivingTestRequest {
                    citizen_id: citizen.clone(),
                    subject: book["subject"].as_i64().map_or(1, |s| s as i32),
                    exam_centre_id: Some(field(&book, "exam_centre_id"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "CQ-YB".into()),
                    preferred_date: String::new(),
                })
                .await
                .map(drop),
            );
            3
        }
        "tax" => {
            let mut c =
                tax::tax_bureau_client::TaxBureauClient::with_interceptor(ch, metadata.clone());
            ok(
                "GetTaxSummary",
                c.get_tax_summary(tax::GetTaxSummaryRequest {
                    citizen_id: citizen.clone(),
                    year: 0,
                })
                .await
                .map(drop),
            );
            ok(
                "FileReturn",
                c.file_return(tax::FileReturnRequest {
                    citizen_id: citizen.clone(),
                    year: 2025,
                    declared_income_fen: 12_000_000,
                    deductions: vec![],
                    request_refund: false,
                })
                .await
                .map(drop),
            );
            2
        }
        "health" => {
            let mut c =
                health::hospital_client::HospitalClient::with_interceptor(ch, metadata.clone());
            let hospitals = c
                .list_hospitals(health::ListHospitalsRequest {
                    citizen_id: citizen.clone(),
                    department: String::new(),
                })
                .await
                .unwrap_or_else(|s| panic!("health ListHospitals: {s:?}"))
                .into_inner();
            let book = example(manifest, dept, "BookAppointment");
            let hospital_id = hospitals
                .hospitals
                .first()
                .map(|h| h.id.clone())
                .unwrap_or_else(|| field(&book, "hospital_id"));
            let department = Some(field(&book, "department"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "内科".into());
            ok(
                "BookAppointment",
                c.book_appointment(health::BookAppointmentRequest {
                    citizen_id: citizen.clone(),
                    hospital_id,
                    department,
                })
                .await
                .map(drop),
            );
            2
        }
        "medins" => {
            let mut c = medins::medical_insurance_client::MedicalInsuranceClient::with_interceptor(
                ch,
                metadata.clone(),
            );
            ok(
                "GetAccount",
                c.get_account(medins::GetAccountRequest {
                    citizen_id: citizen.clone(),
                })
                .await
                .map(drop),
            );
            1
        }
        other => panic!("no gRPC client for department {other}"),
    }
}
