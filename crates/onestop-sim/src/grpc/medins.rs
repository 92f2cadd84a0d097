//! `onestop.sim.medins.v1.MedicalInsurance`: accounts and claims.

use rand::Rng;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::{Ctx, GrpcMatter, StreamPlan};
use crate::{
    data::{self, TODAY},
    pb::medins::{
        Account, Claim, ClaimStatus, Contribution, GetAccountRequest, InsuranceType,
        ListClaimsRequest,
        medical_insurance_server::{MedicalInsurance, MedicalInsuranceServer},
    },
};

pub(crate) type Server = MedicalInsuranceServer<Service>;

/// The medical insurance bureau of one instance.
pub(crate) struct Service(pub(crate) Ctx);

const HOSPITALS: &[&str] = &[
    "重庆医科大学附属第一医院",
    "陆军军医大学第一附属医院",
    "重庆市人民医院",
    "渝中区人民医院",
    "大坪街道社区卫生服务中心",
    "桐君阁大药房（解放碑店）",
];

#[tonic::async_trait]
impl MedicalInsurance for Service {
    async fn get_account(
        &self,
        request: Request<GetAccountRequest>,
    ) -> Result<Response<Account>, Status> {
        let citizen = self.0.citizen(&request, &request.get_ref().citizen_id)?;
        let mut rng = self.0.rng("account", &citizen);
        let employee = (18..60).contains(&citizen.age()) && rng.random_bool(0.7);
        let monthly = if employee {
            data::fen(&mut rng, 80, 600)
        } else {
            0
        };
        let recent_contributions = if employee {
            (0..3)
                .map(|i| Contribution {
                    period: TODAY.months_back(i).period(),
                    amount_fen: monthly,
                    employer_paid: true,
                })
                .collect()
        } else {
            vec![Contribution {
                period: format!("{}", TODAY.year),
                amount_fen: 38_000,
                employer_paid: false,
            }]
        };
        let enrolled = citizen
            .birth()
            .add_days(365 * if employee { 22 } else { 0 });
        Ok(Response::new(Account {
            citizen_id: citizen.id.clone(),
            account_no: format!(
                "YB{}{:08}",
                citizen.area_code,
                rng.random_range(0..100_000_000u32)
            ),
            insurance_type: (if employee {
                InsuranceType::Employee
            } else {
                InsuranceType::Resident
            }) as i32,
            balance_fen: if employee {
                data::fen(&mut rng, 200, 30_000)
            } else {
                0
            },
            year_to_date_spent_fen: data::fen(&mut rng, 0, 8_000),
            deductible_remaining_fen: data::fen(&mut rng, 0, 1_200),
            active: true,
            insured_city: citizen.area_name.chars().take(3).collect(),
            enrolled_at: Some(enrolled.max(TODAY.add_days(-365 * 30)).timestamp(0, 0)),
            recent_contributions,
        }))
    }

    type ListClaimsStream = futures::stream::BoxStream<'static, Result<Claim, Status>>;

    async fn list_claims(
        &self,
        request: Request<ListClaimsRequest>,
    ) -> Result<Response<Self::ListClaimsStream>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let plan = StreamPlan::new(req.count, req.interval_ms, req.fail_after);
        let mut rng = self.0.rng("claims", &citizen);
        let prefix = format!("JS{}", &citizen.id[..6]);
        let stream = plan.stream(move |i| {
            let total = data::fen(&mut rng, 20, 12_000);
            let status = match rng.random_range(0..20) {
                0 => ClaimStatus::Rejected,
                1 | 2 => ClaimStatus::Pending,
                _ => ClaimStatus::Settled,
            };
            let reimbursed = if status == ClaimStatus::Settled {
                total * rng.random_range(50..=90) / 100
            } else {
                0
            };
            let day = TODAY.add_days(-i64::from(i) * 17 - rng.random_range(0..15));
            Claim {
                seq: i,
                claim_id: format!("{prefix}{}{i:04}", day.compact()),
                hospital: (*data::pick(&mut rng, HOSPITALS)).to_owned(),
                total_fen: total,
                reimbursed_fen: reimbursed,
                self_paid_fen: total - reimbursed,
                status: status as i32,
                settled_at: Some(day.timestamp(rng.random_range(8..18), rng.random_range(0..60))),
            }
        });
        Ok(Response::new(stream))
    }
}

pub(super) fn matters(citizen: &str) -> Vec<GrpcMatter> {
    vec![
        GrpcMatter {
            method: "GetAccount",
            id: "account",
            name: "医保账户查询",
            description: "参保类型、个人账户余额与近期缴费",
            streaming: false,
            example: json!({ "citizen_id": citizen }),
        },
        GrpcMatter {
            method: "ListClaims",
            id: "claims",
            name: "医保结算记录查询",
            description: "门诊、住院与药店结算记录（服务端流）",
            streaming: true,
            example: json!({ "citizen_id": citizen, "count": 5 }),
        },
    ]
}
