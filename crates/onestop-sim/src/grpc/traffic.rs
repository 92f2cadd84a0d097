//! `onestop.sim.traffic.v1.TrafficPolice`: violations, licences, driving tests.

use rand::Rng;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::{Ctx, GrpcMatter, StreamPlan};
use crate::{
    data::{self, Date, TODAY},
    pb::traffic::{
        BookDrivingTestRequest, BookDrivingTestResponse, ExamQueueUpdate, ExamSubject,
        GetLicenceRequest, Licence, LicenceStatus, ListViolationsRequest, ListViolationsResponse,
        Violation, ViolationStatus, WatchExamQueueRequest,
        traffic_police_server::{TrafficPolice, TrafficPoliceServer},
    },
};

pub(crate) type Server = TrafficPoliceServer<Service>;

/// The traffic police of one instance.
pub(crate) struct Service(pub(crate) Ctx);

const CENTRES: &[(&str, &str)] = &[
    ("CQ-YB", "渝北区机动车驾驶人考试中心"),
    ("CQ-JB", "江北区机动车驾驶人考试中心"),
    ("CQ-BN", "巴南区机动车驾驶人考试中心"),
];

const PLATE_LETTERS: &[char] = &['A', 'B', 'C', 'D', 'F', 'G', 'H'];
const PLACES: &[&str] = &[
    "渝中区解放碑步行街路口",
    "江北区北滨一路",
    "内环快速路渝北段",
    "长江大桥南桥头",
    "G85渝昆高速K12",
];
const BEHAVIOURS: &[(&str, i32, i64)] = &[
    ("机动车违反禁令标志指示", 3, 20_000),
    ("机动车不按规定停放", 0, 20_000),
    (
        "驾驶中型以上载客载货汽车以外的机动车超过规定时速未达20%",
        1,
        20_000,
    ),
    (
        "机动车通过有灯控路口时不按所需行进方向驶入导向车道",
        2,
        10_000,
    ),
    ("驾驶机动车违反道路交通信号灯通行", 6, 20_000),
];

fn centre(id: &str) -> Result<(&'static str, &'static str), Status> {
    if id.is_empty() {
        return Ok(CENTRES[0]);
    }
    CENTRES
        .iter()
        .find(|(c, _)| *c == id)
        .copied()
        .ok_or_else(|| Status::invalid_argument(format!("unknown exam_centre_id {id:?}")))
}

#[tonic::async_trait]
impl TrafficPolice for Service {
    async fn list_violations(
        &self,
        request: Request<ListViolationsRequest>,
    ) -> Result<Response<ListViolationsResponse>, Status> {
        let citizen = self.0.citizen(&request, &request.get_ref().citizen_id)?;
        let mut rng = self.0.rng("violations", &citizen);
        let count = if citizen.age() < 18 {
            0
        } else {
            rng.random_range(0..=4)
        };
        let plate = format!(
            "渝{}{:05}",
            data::pick(&mut rng, PLATE_LETTERS),
            rng.random_range(0..100_000)
        );
        let violations: Vec<Violation> = (0..count)
            .map(|i| {
                let (behaviour, points, fine) = *data::pick(&mut rng, BEHAVIOURS);
                let day = TODAY.add_days(-rng.random_range(1..400));
                let status = match rng.random_range(0..10) {
                    0..4 => ViolationStatus::Unpaid,
                    4..9 => ViolationStatus::Paid,
                    _ => ViolationStatus::Appealed,
                };
                Violation {
                    id: format!("5001{}{:04}", day.compact(), i + 1),
                    plate: plate.clone(),
                    location: (*data::pick(&mut rng, PLACES)).to_owned(),
                    behaviour: behaviour.to_owned(),
                    points,
                    fine_fen: fine,
                    status: status as i32,
                    occurred_at: Some(
                        day.timestamp(rng.random_range(7..22), rng.random_range(0..60)),
                    ),
                }
            })
            .filter(|v| {
                !request.get_ref().unpaid_only || v.status == ViolationStatus::Unpaid as i32
            })
            .collect();
        let unpaid = violations
            .iter()
            .filter(|v| v.status == ViolationStatus::Unpaid as i32);
        Ok(Response::new(ListViolationsResponse {
            total_fine_fen: unpaid.clone().map(|v| v.fine_fen).sum(),
            total_points: unpaid.map(|v| v.points).sum(),
            violations,
        }))
    }

    async fn get_licence(
        &self,
        request: Request<GetLicenceRequest>,
    ) -> Result<Response<Licence>, Status> {
        let citizen = self.0.citizen(&request, &request.get_ref().citizen_id)?;
        let mut rng = self.0.rng("licence", &citizen);
        if citizen.age() < 18 || rng.random_bool(0.25) {
            return Ok(Response::new(Licence {
                holder_name: citizen.name,
                status: LicenceStatus::None as i32,
                ..Licence::default()
            }));
        }
        let first = citizen
            .birth()
            .add_days(365 * 18 + rng.random_range(0..365 * 20));
        let issued = Date::from_days(
            first
                .to_days()
                .max(TODAY.add_days(-365 * 6).to_days() + rng.random_range(0..800)),
        );
        let expires = issued.add_days(365 * 10);
        let status = match rng.random_range(0..20) {
            0 => LicenceStatus::Suspended,
            _ if expires < TODAY => LicenceStatus::Expired,
            _ => LicenceStatus::Valid,
        };
        Ok(Response::new(Licence {
            licence_no: citizen.id.clone(),
            holder_name: citizen.name,
            vehicle_class: (*data::pick(&mut rng, &["C1", "C1", "C2", "B2", "A1"])).to_owned(),
            points_remaining: rng.random_range(0..=12),
            status: status as i32,
            issued_at: Some(issued.timestamp(9, 0)),
            expires_at: Some(expires.timestamp(0, 0)),
        }))
    }

    async fn book_driving_test(
        &self,
        request: Request<BookDrivingTestRequest>,
    ) -> Result<Response<BookDrivingTestResponse>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let subject = match ExamSubject::try_from(req.subject) {
            Ok(ExamSubject::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(
                    "subject must be one of the four exam subjects",
                ));
            }
            Ok(subject) => subject,
        };
        let (_, centre_name) = centre(&req.exam_centre_id)?;
        let day = match req.preferred_date.as_str() {
            "" => TODAY.add_days(7),
            s => Date::parse(s).filter(|d| *d > TODAY).ok_or_else(|| {
                Status::invalid_argument("preferred_date must be a future YYYY-MM-DD")
            })?,
        };
        let mut rng = self.0.rng("book-driving-test", &citizen);
        Ok(Response::new(BookDrivingTestResponse {
            booking_id: self.0.receipt(),
            exam_centre: centre_name.to_owned(),
            subject: subject as i32,
            slot_start: Some(day.timestamp(*data::pick(&mut rng, &[8, 10, 14, 16]), 0)),
            queue_position: rng.random_range(1..120),
            confirmed: true,
            fee_fen: match subject {
                ExamSubject::Site => 26_000,
                ExamSubject::Road => 30_000,
                _ => 5_000,
            },
        }))
    }

    type WatchExamQueueStream =
        futures::stream::BoxStream<'static, Result<ExamQueueUpdate, Status>>;

    async fn watch_exam_queue(
        &self,
        request: Request<WatchExamQueueRequest>,
    ) -> Result<Response<Self::WatchExamQueueStream>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let (centre_id, _) = centre(&req.exam_centre_id)?;
        let mut rng = self.0.rng("watch-exam-queue", &citizen);
        let start: i32 = rng.random_range(5..60);
        let plan = StreamPlan::new(req.count, req.interval_ms, req.fail_after);
        let day = TODAY;
        let stream = plan.stream(move |i| {
            let step = i32::try_from(i).unwrap_or(i32::MAX);
            let position = start.saturating_sub(step).max(0);
            ExamQueueUpdate {
                seq: i,
                position,
                waiting: position + 12,
                now_serving: format!("{centre_id}-{:03}", 100 + step),
                at: Some(day.timestamp(9, 0)).map(|mut t| {
                    t.seconds += i64::from(i) * 60;
                    t
                }),
            }
        });
        Ok(Response::new(stream))
    }
}

pub(super) fn matters(citizen: &str) -> Vec<GrpcMatter> {
    vec![
        GrpcMatter {
            method: "ListViolations",
            id: "violations",
            name: "交通违法查询",
            description: "本人名下机动车的交通违法记录、罚款与记分",
            streaming: false,
            example: json!({ "citizen_id": citizen, "unpaid_only": false }),
        },
        GrpcMatter {
            method: "GetLicence",
            id: "licence",
            name: "驾驶证信息查询",
            description: "驾驶证准驾车型、有效期与剩余记分",
            streaming: false,
            example: json!({ "citizen_id": citizen }),
        },
        GrpcMatter {
            method: "BookDrivingTest",
            id: "driving-test",
            name: "驾驶人考试预约",
            description: "预约科目一至科目四考试场次",
            streaming: false,
            example: json!({
                "citizen_id": citizen,
                "subject": "EXAM_SUBJECT_THEORY",
                "exam_centre_id": "CQ-YB",
                "preferred_date": TODAY.add_days(7).to_string(),
            }),
        },
        GrpcMatter {
            method: "WatchExamQueue",
            id: "exam-queue",
            name: "考场排队实时查询",
            description: "考场候考排队位置实时推送（服务端流）",
            streaming: true,
            example: json!({ "citizen_id": citizen, "exam_centre_id": "CQ-YB", "count": 3 }),
        },
    ]
}
