//! Composite matters (一件事一次办) as durable cases, and 好差评 ratings.
//!
//! A citizen submits one form for a life event; [`Cases::submit`] writes a
//! case (办件) with every step pending to the store and starts driving it
//! ([`runner`]): steps run as soon as the steps they depend on are done,
//! each call carrying an idempotency key derived from the case and step, so
//! a retry — or a resumed case after a gateway restart — never makes a
//! department do the work twice. When a step fails for good, the done steps
//! are undone in reverse order of completion, each exactly once, and the
//! case says so. Citizens follow their cases and rate them ([`api`]); a
//! rating of 1 or 2 opens a follow-up the department owes by a deadline,
//! which operators see in the admin API.
//!
//! Pure parts (the form's check, templates, what runs next, compensation
//! order) are in [`plan`]; steps reach departments through a [`Transport`]
//! (the gateway's own requests through its public listener).

#![forbid(unsafe_code)]

pub mod api;
mod events;
pub mod evidence;
pub mod plan;
mod runner;
pub mod view;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use onestop_config::{CaseSettings, Config};
use onestop_store::{
    CaseRecord, CaseStore, FollowupFilter, FollowupRecord, NewCase, NewRating, NewStep,
    RatingRecord, RatingStats, StoreError, SubjectKind, now_ms,
};
use serde_json::Value;

pub use evidence::{EvidenceError, EvidenceRequest, EvidenceSource};
pub use plan::{Matter, Matters};
pub use runner::{Reply, StepCall, Transport};

/// Why a request about cases or ratings was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The request is malformed or the form does not fit the matter.
    #[error("{0}")]
    Invalid(String),
    /// No composite matter with this id.
    #[error("no composite matter `{0}`")]
    UnknownMatter(String),
    /// No such case — or another citizen's: both answer alike.
    #[error("no such case")]
    CaseNotFound,
    /// The case is not finished and cannot be rated yet.
    #[error("the case is not finished yet")]
    NotFinished,
    /// The subject was rated already.
    #[error("already rated")]
    AlreadyRated,
    /// A follow-up that does not exist.
    #[error("no follow-up {0}")]
    FollowupNotFound(i64),
    /// A follow-up that is closed already.
    #[error("follow-up {0} is closed already")]
    FollowupClosed(i64),
    /// The store cannot be reached; retry later.
    #[error("case store unavailable: {0}")]
    Unavailable(String),
    /// The path exists but not for this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CaseError {
    /// The SNAKE_CASE code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            CaseError::Invalid(_) => "INVALID_REQUEST",
            CaseError::UnknownMatter(_) => "MATTER_NOT_FOUND",
            CaseError::CaseNotFound => "CASE_NOT_FOUND",
            CaseError::NotFinished => "CASE_NOT_FINISHED",
            CaseError::AlreadyRated => "ALREADY_RATED",
            CaseError::FollowupNotFound(_) => "FOLLOWUP_NOT_FOUND",
            CaseError::FollowupClosed(_) => "FOLLOWUP_CLOSED",
            CaseError::Unavailable(_) => "STORE_UNAVAILABLE",
            CaseError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            CaseError::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            CaseError::Invalid(_) => 400,
            CaseError::UnknownMatter(_)
            | CaseError::CaseNotFound
            | CaseError::FollowupNotFound(_) => 404,
            CaseError::NotFinished | CaseError::AlreadyRated | CaseError::FollowupClosed(_) => 409,
            CaseError::MethodNotAllowed(_) => 405,
            CaseError::Unavailable(_) => 503,
            CaseError::Internal(_) => 500,
        }
    }
}

fn store_error(e: StoreError) -> CaseError {
    match e {
        StoreError::Unavailable(m) => CaseError::Unavailable(m),
        other => CaseError::Internal(other.to_string()),
    }
}

/// A rating as a citizen gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub score: i64,
    pub tags: Vec<String>,
    pub comment: String,
}

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
/// Most tags on one rating, and the longest tag.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 32;

impl Rating {
    /// Checks the score (1–5), tags and comment.
    pub fn check(&self) -> Result<(), CaseError> {
        if !(1..=5).contains(&self.score) {
            return Err(CaseError::Invalid(format!(
                "score must be 1 to 5, got {}",
                self.score
            )));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(CaseError::Invalid(format!("at most {MAX_TAGS} tags")));
        }
        if let Some(t) = self
            .tags
            .iter()
            .find(|t| t.trim().is_empty() || t.chars().count() > MAX_TAG_CHARS)
        {
            return Err(CaseError::Invalid(format!(
                "tag `{t}` must be 1 to {MAX_TAG_CHARS} characters"
            )));
        }
        if self.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(CaseError::Invalid(format!(
                "comment must be at most {MAX_COMMENT_CHARS} characters"
            )));
        }
        Ok(())
    }
}

/// The cases of one gateway: the composite matters in force, the store,
/// the transport steps use, and the cases this gateway drives now.
pub struct Cases {
    store: Arc<dyn CaseStore>,
    transport: Arc<dyn Transport>,
    matters: ArcSwap<Matters>,
    settings: ArcSwap<CaseSettings>,
    /// Declared departments (ratings of single matters name one).
    departments: ArcSwap<BTreeSet<String>>,
    /// Who holds leases: unique per process.
    owner: String,
    driving: Mutex<HashSet<String>>,
    /// Where steps' evidence is read (set once, by the binary).
    evidence: OnceLock<Arc<dyn EvidenceSource>>,
}

impl Cases {
    /// Cases over `store`, with steps sent through `transport`; `node`
    /// names this gateway in leases (a random suffix makes each process
    /// distinct).
    pub fn new(
        store: Arc<dyn CaseStore>,
        transport: Arc<dyn Transport>,
        node: &str,
        config: &Config,
    ) -> Arc<Cases> {
        let cases = Cases {
            store,
            transport,
            matters: ArcSwap::from_pointee(Matters::new()),
            settings: ArcSwap::from_pointee(CaseSettings::default()),
            departments: ArcSwap::from_pointee(BTreeSet::new()),
            owner: format!("{node}-{:016x}", fastrand::u64(..)),
            driving: Mutex::new(HashSet::new()),
            evidence: OnceLock::new(),
        };
        cases.apply(config);
        Arc::new(cases)
    }

    /// Takes the composite matters and settings of a (validated)
    /// configuration. Cases already submitted keep running with the steps
    /// of the matter as now configured.
    pub fn apply(&self, config: &Config) {
        self.matters
            .store(Arc::new(plan::compile(&config.gateway.composite)));
        self.settings.store(Arc::new(config.gateway.cases.clone()));
        self.departments.store(Arc::new(
            config
                .departments
                .iter()
                .map(|d| d.file.department.id.get_ref().clone())
                .collect(),
        ));
    }

    /// Reads steps' evidence through `source` from now on (once).
    pub fn set_evidence(&self, source: Arc<dyn EvidenceSource>) {
        let _ = self.evidence.set(source);
    }

    /// The matters in force.
    pub fn matters(&self) -> Arc<Matters> {
        self.matters.load_full()
    }

    pub fn settings(&self) -> Arc<CaseSettings> {
        self.settings.load_full()
    }

    /// Submits a form for `matter` on behalf of `citizen` and starts the
    /// case. With a `submit_key` the citizen used before, returns that case
    /// and `false` (nothing new runs).
    pub async fn submit(
        self: &Arc<Self>,
        citizen: &str,
        channel: Option<&str>,
        matter: &str,
        input: Value,
        submit_key: Option<&str>,
    ) -> Result<(CaseRecord, bool), CaseError> {
        let Some(m) = self.matters.load().get(matter).cloned() else {
            return Err(CaseError::UnknownMatter(matter.to_owned()));
        };
        plan::check_input(&m, &input).map_err(CaseError::Invalid)?;
        let now = now_ms();
        let case = NewCase {
            id: case_number(now),
            citizen: citizen.to_owned(),
            channel: channel.map(str::to_owned),
            matter: m.id.clone(),
            matter_name: m.name.clone(),
            lead_dept: m.lead.clone(),
            input,
            submit_key: submit_key.map(str::to_owned),
            created_at: now,
            steps: m
                .steps
                .iter()
                .map(|s| NewStep {
                    step: s.id.clone(),
                    dept: s.dept.clone(),
                    name: s.name.clone(),
                    deadline_at: now + runner::millis(s.deadline),
                })
                .collect(),
        };
        let (record, created) = self.store.create_case(&case).await.map_err(store_error)?;
        if created {
            events::case_submitted(&record.matter, &record.id);
            tokio::spawn(self.clone().drive(record.id.clone()));
        }
        Ok((record, created))
    }

    /// The citizen's case; another citizen's is [`CaseError::CaseNotFound`].
    pub async fn case_of(&self, citizen: &str, id: &str) -> Result<CaseRecord, CaseError> {
        match self.store.case(id).await.map_err(store_error)? {
            Some(case) if case.citizen == citizen => Ok(case),
            _ => Err(CaseError::CaseNotFound),
        }
    }

    /// Any case (operators).
    pub async fn case(&self, id: &str) -> Result<CaseRecord, CaseError> {
        self.store
            .case(id)
            .await
            .map_err(store_error)?
            .ok_or(CaseError::CaseNotFound)
    }

    /// The citizen's cases, newest first.
    pub async fn cases_of(
        &self,
        citizen: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<CaseRecord>, CaseError> {
        self.store
            .citizen_cases(citizen, limit, before)
            .await
            .map_err(store_error)
    }

    /// The citizen's rating of a subject, if any.
    pub async fn rating_of(
        &self,
        citizen: &str,
        kind: SubjectKind,
        subject: &str,
    ) -> Result<Option<RatingRecord>, CaseError> {
        self.store
            .rating_of(citizen, kind, subject)
            .await
            .map_err(store_error)
    }

    /// Rates the citizen's finished case (its lead department).
    pub async fn rate_case(
        &self,
        citizen: &str,
        id: &str,
        rating: Rating,
    ) -> Result<RatingRecord, CaseError> {
        rating.check()?;
        let case = self.case_of(citizen, id).await?;
        if case.state.active() {
            return Err(CaseError::NotFinished);
        }
        self.rate(
            citizen,
            SubjectKind::Case,
            &case.id,
            &case.lead_dept,
            rating,
        )
        .await
    }

    /// Rates one call of a department's matter (`request_id` names the call).
    pub async fn rate_matter(
        &self,
        citizen: &str,
        dept: &str,
        matter: &str,
        request_id: &str,
        rating: Rating,
    ) -> Result<RatingRecord, CaseError> {
        rating.check()?;
        if !self.departments.load().contains(dept) {
            return Err(CaseError::Invalid(format!("unknown department `{dept}`")));
        }
        let simple = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !simple(matter, 64) {
            return Err(CaseError::Invalid(
                "matter must be 1-64 characters of letters, digits, -, _ and .".into(),
            ));
        }
        if !simple(request_id, onestop_core::request_id::MAX_LEN) {
            return Err(CaseError::Invalid("request_id is not a request id".into()));
        }
        let subject = format!("{dept}/{matter}:{request_id}");
        self.rate(citizen, SubjectKind::Matter, &subject, dept, rating)
            .await
    }

    async fn rate(
        &self,
        citizen: &str,
        kind: SubjectKind,
        subject: &str,
        dept: &str,
        rating: Rating,
    ) -> Result<RatingRecord, CaseError> {
        let at = now_ms();
        let due = (rating.score <= 2)
            .then(|| at + runner::millis(self.settings.load().followup_deadline));
        let record = NewRating {
            citizen: citizen.to_owned(),
            subject_kind: kind,
            subject: subject.to_owned(),
            dept: dept.to_owned(),
            score: rating.score,
            tags: rating.tags,
            comment: rating.comment,
            at,
            followup_due_at: due,
        };
        match self.store.add_rating(&record).await {
            Ok(r) => {
                events::rated(dept, kind.as_str(), r.score, r.followup_id);
                Ok(r)
            }
            Err(StoreError::Conflict(_)) => Err(CaseError::AlreadyRated),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Active cases with a step past its deadline (operators).
    pub async fn overdue(&self, limit: u32) -> Result<Vec<CaseRecord>, CaseError> {
        self.store
            .overdue_cases(now_ms(), limit)
            .await
            .map_err(store_error)
    }

    pub async fn followups(
        &self,
        filter: &FollowupFilter,
    ) -> Result<Vec<FollowupRecord>, CaseError> {
        self.store.followups(filter).await.map_err(store_error)
    }

    pub async fn close_followup(
        &self,
        id: i64,
        by: &str,
        note: &str,
    ) -> Result<FollowupRecord, CaseError> {
        match self.store.close_followup(id, by, note, now_ms()).await {
            Ok(f) => Ok(f),
            Err(StoreError::NotFound(_)) => Err(CaseError::FollowupNotFound(id)),
            Err(StoreError::Conflict(_)) => Err(CaseError::FollowupClosed(id)),
            Err(e) => Err(store_error(e)),
        }
    }

    pub async fn rating_stats(&self) -> Result<Vec<RatingStats>, CaseError> {
        self.store.rating_stats(now_ms()).await.map_err(store_error)
    }
}

/// A case number (办件编号): the submission's UTC date and 12 random
/// digits, e.g. `20261122048213377129`.
fn case_number(now: i64) -> String {
    let (y, m, d) = civil_date(now.div_euclid(86_400_000));
    format!(
        "{y:04}{m:02}{d:02}{:012}",
        fastrand::u64(..1_000_000_000_000)
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(20_414), (2025, 11, 22));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        let n = case_number(1_795_305_600_000);
        assert_eq!(n.len(), 20);
        assert!(n.starts_with("20261122"), "{n}");
    }

    #[test]
    fn ratings_are_checked() {
        let ok = Rating {
            score: 3,
            tags: vec!["慢".into()],
            comment: String::new(),
        };
        assert_eq!(ok.check(), Ok(()));
        for bad in [
            Rating {
                score: 0,
                ..ok.clone()
            },
            Rating {
                score: 6,
                ..ok.clone()
            },
            Rating {
                tags: vec![" ".into()],
                ..ok.clone()
            },
            Rating {
                tags: vec!["x".into(); 11],
                ..ok.clone()
            },
            Rating {
                comment: "长".repeat(501),
                ..ok.clone()
            },
        ] {
            assert!(matches!(bad.check(), Err(CaseError::Invalid(_))), "{bad:?}");
        }
    }
}
