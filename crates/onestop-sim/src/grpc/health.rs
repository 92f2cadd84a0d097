//! `onestop.sim.health.v1.Hospital`: hospitals, appointments, clinic queues.

use rand::Rng;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::{Ctx, GrpcMatter, StreamPlan};
use crate::{
    data::{self, TODAY},
    pb::health::{
        Appointment, AppointmentStatus, BookAppointmentRequest, HospitalInfo, HospitalLevel,
        ListHospitalsRequest, ListHospitalsResponse, QueueUpdate, WatchQueueRequest,
        hospital_server::{Hospital, HospitalServer},
    },
};

pub(crate) type Server = HospitalServer<Service>;

/// The hospital service of one instance.
pub(crate) struct Service(pub(crate) Ctx);

struct HospitalRow {
    id: &'static str,
    name: &'static str,
    level: HospitalLevel,
    address: &'static str,
    departments: &'static [&'static str],
}

const HOSPITALS: &[HospitalRow] = &[
    HospitalRow {
        id: "H001",
        name: "重庆医科大学附属第一医院",
        level: HospitalLevel::Grade3a,
        address: "渝中区袁家岗友谊路1号",
        departments: &["内科", "外科", "儿科", "妇产科", "眼科", "心血管内科"],
    },
    HospitalRow {
        id: "H002",
        name: "陆军军医大学第一附属医院",
        level: HospitalLevel::Grade3a,
        address: "沙坪坝区高滩岩正街30号",
        departments: &["内科", "外科", "烧伤科", "皮肤科", "口腔科"],
    },
    HospitalRow {
        id: "H003",
        name: "重庆市人民医院",
        level: HospitalLevel::Grade3a,
        address: "渝北区春华大道118号",
        departments: &["内科", "外科", "儿科", "耳鼻喉科"],
    },
    HospitalRow {
        id: "H004",
        name: "重庆市中医院",
        level: HospitalLevel::Grade3a,
        address: "江北区盘溪七支路6号",
        departments: &["中医内科", "针灸科", "推拿科", "内科"],
    },
    HospitalRow {
        id: "H005",
        name: "渝中区人民医院",
        level: HospitalLevel::Grade2a,
        address: "渝中区解放西路88号",
        departments: &["内科", "外科", "妇产科"],
    },
    HospitalRow {
        id: "H006",
        name: "大坪街道社区卫生服务中心",
        level: HospitalLevel::Community,
        address: "渝中区大坪正街19号",
        departments: &["全科", "预防保健科"],
    },
];

const DOCTORS: &[&str] = &[
    "王建国 主任医师",
    "李秀英 副主任医师",
    "陈志强 主治医师",
    "刘芳 主治医师",
    "张伟 副主任医师",
];

fn hospital(id: &str) -> Result<&'static HospitalRow, Status> {
    if id.is_empty() {
        return Ok(&HOSPITALS[0]);
    }
    HOSPITALS
        .iter()
        .find(|h| h.id == id)
        .ok_or_else(|| Status::invalid_argument(format!("unknown hospital_id {id:?}")))
}

#[tonic::async_trait]
impl Hospital for Service {
    async fn list_hospitals(
        &self,
        request: Request<ListHospitalsRequest>,
    ) -> Result<Response<ListHospitalsResponse>, Status> {
        let citizen = self.0.citizen(&request, &request.get_ref().citizen_id)?;
        let wanted = request.get_ref().department.as_str();
        let mut rng = self.0.rng("hospitals", &citizen);
        let hospitals = HOSPITALS
            .iter()
            .filter(|h| wanted.is_empty() || h.departments.contains(&wanted))
            .map(|h| HospitalInfo {
                id: h.id.to_owned(),
                name: h.name.to_owned(),
                level: h.level as i32,
                address: h.address.to_owned(),
                departments: h.departments.iter().map(|d| (*d).to_owned()).collect(),
                accepts_insurance: true,
                available_slots: rng.random_range(0..200),
            })
            .collect();
        Ok(Response::new(ListHospitalsResponse { hospitals }))
    }

    async fn book_appointment(
        &self,
        request: Request<BookAppointmentRequest>,
    ) -> Result<Response<Appointment>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let hospital = hospital(&req.hospital_id)?;
        let department = match req.department.as_str() {
            "" => hospital.departments[0],
            d => hospital
                .departments
                .iter()
                .copied()
                .find(|h| *h == d)
                .ok_or_else(|| {
                    Status::invalid_argument(format!("{} has no department {d:?}", hospital.name))
                })?,
        };
        let mut rng = self.0.rng("book-appointment", &citizen);
        let queue_number: i32 = rng.random_range(1..80);
        Ok(Response::new(Appointment {
            appointment_id: self.0.receipt(),
            hospital_name: hospital.name.to_owned(),
            department: department.to_owned(),
            doctor: (*data::pick(&mut rng, DOCTORS)).to_owned(),
            slot_start: Some(
                TODAY
                    .add_days(rng.random_range(1..8))
                    .timestamp(8 + (queue_number / 10) as u32, 0),
            ),
            fee_fen: match hospital.level {
                HospitalLevel::Community => 500,
                HospitalLevel::Grade2a => 1_000,
                _ => *data::pick(&mut rng, &[1_500, 2_500, 5_000]),
            },
            queue_number,
            status: (if queue_number > 70 {
                AppointmentStatus::Waitlisted
            } else {
                AppointmentStatus::Confirmed
            }) as i32,
        }))
    }

    type WatchQueueStream = futures::stream::BoxStream<'static, Result<QueueUpdate, Status>>;

    async fn watch_queue(
        &self,
        request: Request<WatchQueueRequest>,
    ) -> Result<Response<Self::WatchQueueStream>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let hospital = hospital(&req.hospital_id)?;
        let mut rng = self.0.rng("watch-queue", &citizen);
        let queue_number: i32 = rng.random_range(10..60);
        let ahead: i32 = rng.random_range(3..30);
        let plan = StreamPlan::new(req.count, req.interval_ms, req.fail_after);
        let stream = plan.stream(move |i| {
            let step = i32::try_from(i).unwrap_or(i32::MAX);
            let left = ahead.saturating_sub(step).max(0);
            let mut at = TODAY.timestamp(8, 30);
            at.seconds += i64::from(i) * 90;
            QueueUpdate {
                seq: i,
                queue_number,
                ahead: left,
                calling: format!("{} {}号", hospital.departments[0], queue_number - left),
                at: Some(at),
            }
        });
        Ok(Response::new(stream))
    }
}

pub(super) fn matters(citizen: &str) -> Vec<GrpcMatter> {
    vec![
        GrpcMatter {
            method: "ListHospitals",
            id: "hospitals",
            name: "医院与科室查询",
            description: "可预约挂号的医院、科室与剩余号源",
            streaming: false,
            example: json!({ "citizen_id": citizen, "department": "内科" }),
        },
        GrpcMatter {
            method: "BookAppointment",
            id: "appointment",
            name: "预约挂号",
            description: "预约医院门诊号源",
            streaming: false,
            example: json!({ "citizen_id": citizen, "hospital_id": "H001", "department": "内科" }),
        },
        GrpcMatter {
            method: "WatchQueue",
            id: "queue",
            name: "候诊排队实时查询",
            description: "门诊候诊排队进度实时推送（服务端流）",
            streaming: true,
            example: json!({ "citizen_id": citizen, "hospital_id": "H001", "count": 3 }),
        },
    ]
}
