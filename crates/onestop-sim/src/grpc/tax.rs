//! `onestop.sim.tax.v1.TaxBureau`: individual income tax.

use rand::Rng;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::{Ctx, GrpcMatter, StreamPlan};
use crate::{
    citizens::Citizen,
    data::{self, EMPLOYERS, TODAY},
    pb::tax::{
        Deduction, DeductionKind, FileReturnRequest, FileReturnResponse, FilingStatus,
        GetTaxSummaryRequest, IncomeKind, ListTaxRecordsRequest, TaxRecord, TaxSummary,
        tax_bureau_server::{TaxBureau, TaxBureauServer},
    },
};

pub(crate) type Server = TaxBureauServer<Service>;

/// The tax bureau of one instance.
pub(crate) struct Service(pub(crate) Ctx);

/// First tax year under the 2019 individual income tax law.
const FIRST_YEAR: i32 = 2019;
/// Basic annual allowance, 60,000 yuan.
const ALLOWANCE_FEN: i64 = 6_000_000;

fn last_complete_year() -> i32 {
    TODAY.year - 1
}

/// Annual comprehensive-income tax on `taxable_fen` (the 2019 brackets).
fn annual_tax(taxable_fen: i64) -> i64 {
    const BRACKETS: &[(i64, i64, i64)] = &[
        // (upper bound in yuan, rate %, quick deduction in yuan)
        (36_000, 3, 0),
        (144_000, 10, 2_520),
        (300_000, 20, 16_920),
        (420_000, 25, 31_920),
        (660_000, 30, 52_920),
        (960_000, 35, 85_920),
        (i64::MAX / 100, 45, 181_920),
    ];
    if taxable_fen <= 0 {
        return 0;
    }
    let &(_, rate, quick) = BRACKETS
        .iter()
        .find(|(upper, _, _)| taxable_fen <= upper * 100)
        .unwrap_or(&BRACKETS[BRACKETS.len() - 1]);
    taxable_fen * rate / 100 - quick * 100
}

/// A citizen's annual income in fen (0 for minors and most retirees).
fn annual_income(ctx: &Ctx, citizen: &Citizen, year: i32) -> i64 {
    let mut rng = ctx.rng(&format!("income-{year}"), citizen);
    match citizen.age() {
        ..18 => 0,
        18..63 => data::fen(&mut rng, 30_000, 600_000),
        _ => data::fen(&mut rng, 0, 20_000),
    }
}

fn deductions(ctx: &Ctx, citizen: &Citizen, year: i32) -> Vec<Deduction> {
    let mut rng = ctx.rng(&format!("deductions-{year}"), citizen);
    let mut out = Vec::new();
    if (30..=50).contains(&citizen.age()) && rng.random_bool(0.6) {
        out.push(Deduction {
            kind: DeductionKind::ChildEducation as i32,
            amount_fen: 2_400_000,
            description: "子女教育".into(),
        });
    }
    if citizen.age() >= 40 && rng.random_bool(0.5) {
        out.push(Deduction {
            kind: DeductionKind::ElderlySupport as i32,
            amount_fen: 3_600_000,
            description: "赡养老人".into(),
        });
    }
    if rng.random_bool(0.3) {
        out.push(Deduction {
            kind: DeductionKind::HousingLoanInterest as i32,
            amount_fen: 1_200_000,
            description: "住房贷款利息".into(),
        });
    } else if rng.random_bool(0.3) {
        out.push(Deduction {
            kind: DeductionKind::HousingRent as i32,
            amount_fen: 1_800_000,
            description: "住房租金".into(),
        });
    }
    out
}

fn year_of(requested: i32) -> Result<i32, Status> {
    let year = if requested == 0 {
        last_complete_year()
    } else {
        requested
    };
    if (FIRST_YEAR..=last_complete_year()).contains(&year) {
        Ok(year)
    } else {
        Err(Status::invalid_argument(format!(
            "year must be between {FIRST_YEAR} and {}",
            last_complete_year()
        )))
    }
}

#[tonic::async_trait]
impl TaxBureau for Service {
    async fn get_tax_summary(
        &self,
        request: Request<GetTaxSummaryRequest>,
    ) -> Result<Response<TaxSummary>, Status> {
        let citizen = self.0.citizen(&request, &request.get_ref().citizen_id)?;
        let year = year_of(request.get_ref().year)?;
        let income = annual_income(&self.0, &citizen, year);
        let deductions = deductions(&self.0, &citizen, year);
        let deducted: i64 = deductions.iter().map(|d| d.amount_fen).sum();
        let due = annual_tax(income - ALLOWANCE_FEN - deducted - income / 10);
        let mut rng = self.0.rng(&format!("summary-{year}"), &citizen);
        // Monthly withholding ignores some deductions, so most people over-pay.
        let paid = due + rng.random_range(0..=due / 5 + 1);
        let filed = year < last_complete_year() || rng.random_bool(0.5);
        let status = match (filed, paid > due) {
            (false, _) => FilingStatus::NotFiled,
            (true, true) => FilingStatus::Refunded,
            (true, false) => FilingStatus::Accepted,
        };
        Ok(Response::new(TaxSummary {
            citizen_id: citizen.id.clone(),
            year,
            income_fen: income,
            tax_paid_fen: paid,
            tax_due_fen: due,
            balance_fen: paid - due,
            deductions,
            status: status as i32,
            filed,
            withholder_count: if income > 0 {
                rng.random_range(1..=2)
            } else {
                0
            },
        }))
    }

    async fn file_return(
        &self,
        request: Request<FileReturnRequest>,
    ) -> Result<Response<FileReturnResponse>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let year = year_of(req.year)?;
        if req.declared_income_fen < 0 || req.deductions.iter().any(|d| d.amount_fen < 0) {
            return Err(Status::invalid_argument("amounts must not be negative"));
        }
        let deducted: i64 = req.deductions.iter().map(|d| d.amount_fen).sum();
        let due = annual_tax(req.declared_income_fen - ALLOWANCE_FEN - deducted);
        let withheld = annual_tax(annual_income(&self.0, &citizen, year) - ALLOWANCE_FEN);
        let balance = withheld - due;
        let (status, refund) = match balance {
            b if b > 0 && req.request_refund => (FilingStatus::Refunded, b),
            b if b < 0 => (FilingStatus::NeedsPayment, 0),
            _ => (FilingStatus::Accepted, 0),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        Ok(Response::new(FileReturnResponse {
            receipt_no: self.0.receipt(),
            status: status as i32,
            refund_fen: refund,
            accepted_at: Some(prost_types::Timestamp {
                seconds: now,
                nanos: 0,
            }),
        }))
    }

    type ListTaxRecordsStream = futures::stream::BoxStream<'static, Result<TaxRecord, Status>>;

    async fn list_tax_records(
        &self,
        request: Request<ListTaxRecordsRequest>,
    ) -> Result<Response<Self::ListTaxRecordsStream>, Status> {
        let req = request.get_ref();
        let citizen = self.0.citizen(&request, &req.citizen_id)?;
        let plan = StreamPlan::new(req.count, req.interval_ms, req.fail_after);
        let mut rng = self.0.rng("records", &citizen);
        let withholder = *data::pick(&mut rng, EMPLOYERS);
        let monthly = annual_income(&self.0, &citizen, last_complete_year()) / 12;
        let id_tail = citizen.id[14..].to_owned();
        let stream = plan.stream(move |i| {
            let month = TODAY.months_back(i + 1);
            let income = monthly + rng.random_range(0..=monthly / 10 + 1);
            TaxRecord {
                seq: i,
                record_id: format!("GS{}{id_tail}{i:04}", month.compact()),
                period: month.period(),
                withholder: withholder.to_owned(),
                kind: (if i % 12 == 11 {
                    IncomeKind::ServiceFees
                } else {
                    IncomeKind::Wages
                }) as i32,
                income_fen: income,
                tax_fen: annual_tax(income * 12 - ALLOWANCE_FEN) / 12,
                declared_at: Some(month.add_days(40).timestamp(10, 0)),
            }
        });
        Ok(Response::new(stream))
    }
}

pub(super) fn matters(citizen: &str) -> Vec<GrpcMatter> {
    vec![
        GrpcMatter {
            method: "GetTaxSummary",
            id: "tax-summary",
            name: "个人所得税年度汇总查询",
            description: "收入、已缴税额、应纳税额与专项附加扣除",
            streaming: false,
            example: json!({ "citizen_id": citizen, "year": 0 }),
        },
        GrpcMatter {
            method: "FileReturn",
            id: "file-return",
            name: "个人所得税年度汇算申报",
            description: "提交综合所得年度汇算，申请退税或补税",
            streaming: false,
            example: json!({
                "citizen_id": citizen,
                "year": last_complete_year(),
                "declared_income_fen": 12_000_000,
                "deductions": [{ "kind": "DEDUCTION_KIND_HOUSING_RENT", "amount_fen": 1_800_000, "description": "住房租金" }],
                "request_refund": true,
            }),
        },
        GrpcMatter {
            method: "ListTaxRecords",
            id: "tax-records",
            name: "个人所得税扣缴记录查询",
            description: "逐月扣缴申报记录（服务端流）",
            streaming: true,
            example: json!({ "citizen_id": citizen, "count": 3 }),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::annual_tax;

    #[test]
    fn brackets_match_the_published_table() {
        assert_eq!(annual_tax(0), 0);
        assert_eq!(annual_tax(3_600_000), 108_000); // 36,000 × 3 %
        assert_eq!(annual_tax(10_000_000), 748_000); // 100,000 × 10 % − 2,520
        assert_eq!(annual_tax(100_000_000), 26_808_000); // 1,000,000 × 45 % − 181,920
    }
}
