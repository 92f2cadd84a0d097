//! Composite matters (一件事一次办) as durable cases, and ratings (好差评)
//! with their follow-ups: the rows and the [`CaseStore`] trait.
//!
//! A case is written before anything runs and every step's progress is
//! written before the runner acts on it, so a gateway that dies mid-case
//! leaves enough behind for another (or itself, restarted) to carry on.
//! Whoever drives a case holds its lease (`owner`, `lease_until`); every
//! write on a case is guarded by that lease, so two gateways never drive
//! one case at once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Millis, Result};

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Steps are running (or waiting for those they depend on).
    Running,
    /// Every step is done.
    Completed,
    /// A step failed for good; completed steps are being undone in reverse.
    Compensating,
    /// A step failed for good and every completed step was undone.
    Failed,
    /// A step failed for good and some completed step could not be undone:
    /// an operator must act.
    CompensationFailed,
}

impl CaseState {
    pub const ALL: [CaseState; 5] = [
        CaseState::Running,
        CaseState::Completed,
        CaseState::Compensating,
        CaseState::Failed,
        CaseState::CompensationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Running => "running",
            CaseState::Completed => "completed",
            CaseState::Compensating => "compensating",
            CaseState::Failed => "failed",
            CaseState::CompensationFailed => "compensation_failed",
        }
    }

    pub fn parse(s: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether a runner still has work on the case.
    pub fn active(self) -> bool {
        matches!(self, CaseState::Running | CaseState::Compensating)
    }
}

/// Where one step of a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not started (waiting for the steps it depends on).
    Pending,
    /// Sent to the department (at least once); the answer is not recorded.
    Running,
    /// The department accepted it; `output` holds its answer.
    Done,
    /// The department refused it, or it kept failing: the case fails.
    Failed,
    /// Never run because the case failed first.
    Skipped,
    /// Done, then undone by its compensation.
    Compensated,
    /// Done, and its compensation failed for good.
    CompensationFailed,
}

impl StepState {
    pub const ALL: [StepState; 7] = [
        StepState::Pending,
        StepState::Running,
        StepState::Done,
        StepState::Failed,
        StepState::Skipped,
        StepState::Compensated,
        StepState::CompensationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Compensated => "compensated",
            StepState::CompensationFailed => "compensation_failed",
        }
    }

    pub fn parse(s: &str) -> Option<StepState> {
        StepState::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A case to create: the case and all its steps (each `Pending`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCase {
    /// The case number (办件编号), unique.
    pub id: String,
    pub citizen: String,
    /// The channel the citizen submitted through.
    pub channel: Option<String>,
    /// The composite matter's id and name at submission.
    pub matter: String,
    pub matter_name: String,
    /// The department answerable for the case (ratings and follow-ups).
    pub lead_dept: String,
    /// The citizen's form, as submitted.
    pub input: serde_json::Value,
    /// The client's `Idempotency-Key`: a second submission with the same
    /// key by the same citizen returns the first case.
    pub submit_key: Option<String>,
    pub created_at: Millis,
    pub steps: Vec<NewStep>,
}

/// One step of a [`NewCase`], in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStep {
    pub step: String,
    pub dept: String,
    pub name: String,
    /// The statutory deadline (absolute).
    pub deadline_at: Millis,
}

/// A stored case with its steps (in declaration order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: String,
    pub citizen: String,
    pub channel: Option<String>,
    pub matter: String,
    pub matter_name: String,
    pub lead_dept: String,
    pub input: serde_json::Value,
    pub state: CaseState,
    /// Why the case failed (the failing step and the department's answer).
    pub failure: Option<String>,
    pub submit_key: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// When the case reached `Completed`, `Failed` or `CompensationFailed`.
    pub finished_at: Option<Millis>,
    /// The gateway driving the case, and until when it holds it.
    pub owner: Option<String>,
    pub lease_until: Millis,
    pub steps: Vec<StepRecord>,
}

/// One stored step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    /// Declaration order, from 0.
    pub position: i64,
    pub dept: String,
    pub name: String,
    pub state: StepState,
    /// Calls sent for the step's action (retries included).
    pub attempts: i64,
    /// The department's answer to the action (a JSON document).
    pub output: Option<serde_json::Value>,
    /// The last failure (action or compensation).
    pub error: Option<String>,
    pub deadline_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Order of completion within the case (1, 2, …): compensation runs in
    /// the reverse of this order.
    pub done_seq: Option<i64>,
    pub compensated_at: Option<Millis>,
}

/// A change to one step, written under the case's lease. `None` fields
/// are left as they are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepUpdate {
    pub state: Option<StepState>,
    /// Adds this many to `attempts`.
    pub add_attempts: i64,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Sets `started_at` only if it is not set yet.
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Sets `done_seq` to one more than the largest in the case.
    pub assign_done_seq: bool,
    pub compensated_at: Option<Millis>,
}

/// What a rating is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A case (its id).
    Case,
    /// One call of a department's matter (`dept/route:request-id`).
    Matter,
    /// A citizen's appeal (its id); rated through the appeal itself, the
    /// rating row only carries its follow-up.
    Appeal,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Case => "case",
            SubjectKind::Matter => "matter",
            SubjectKind::Appeal => "appeal",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectKind> {
        match s {
            "case" => Some(SubjectKind::Case),
            "matter" => Some(SubjectKind::Matter),
            "appeal" => Some(SubjectKind::Appeal),
            _ => None,
        }
    }
}

/// A citizen's rating (好差评) to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRating {
    pub citizen: String,
    pub subject_kind: SubjectKind,
    pub subject: String,
    /// The department rated (a case's lead department).
    pub dept: String,
    /// 1 (very bad) … 5 (very good).
    pub score: i64,
    pub tags: Vec<String>,
    pub comment: String,
    pub at: Millis,
    /// `Some(due)` opens a follow-up for the department, due then (for
    /// bad ratings, 1–2).
    pub followup_due_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRecord {
    pub id: i64,
    pub citizen: String,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub dept: String,
    pub score: i64,
    pub tags: Vec<String>,
    pub comment: String,
    pub at: Millis,
    /// The follow-up it opened, if any.
    pub followup_id: Option<i64>,
}

/// A follow-up (回访整改) the department owes on a bad rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowupRecord {
    pub id: i64,
    pub rating_id: i64,
    pub dept: String,
    pub citizen: String,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub score: i64,
    pub created_at: Millis,
    pub due_at: Millis,
    /// `None` while open.
    pub closed_at: Option<Millis>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// Which follow-ups to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowupFilter {
    /// Only this one.
    pub id: Option<i64>,
    pub dept: Option<String>,
    /// Only open ones.
    pub open: bool,
    /// Only open ones due before this time.
    pub overdue_at: Option<Millis>,
    pub limit: u32,
}

/// Rating statistics of one department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingStats {
    pub dept: String,
    pub count: i64,
    /// Mean score.
    pub average: f64,
    /// How many of each score, 1 to 5 (`by_score[0]` counts 1s).
    pub by_score: [i64; 5],
    pub followups_open: i64,
    /// Open follow-ups past their due time (as of the call).
    pub followups_overdue: i64,
}

/// Durable cases, ratings and follow-ups.
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    /// Creates a case and its steps (`Running`; steps `Pending`, no owner).
    /// With a `submit_key` that the same citizen already used, nothing is
    /// written and the existing case is returned with `false`.
    async fn create_case(&self, case: &NewCase) -> Result<(CaseRecord, bool)>;

    /// One case with its steps; `None` when it does not exist.
    async fn case(&self, id: &str) -> Result<Option<CaseRecord>>;

    /// A citizen's cases, newest first (`created_at`, then id), with their
    /// steps; `before` (a case id) pages back.
    async fn citizen_cases(
        &self,
        citizen: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<CaseRecord>>;

    /// Takes or extends the lease on an active case: succeeds when the case
    /// is active and unowned, owned by `owner`, or its lease ended before
    /// `now`. Returns whether `owner` now holds it until `until`.
    async fn claim_case(&self, id: &str, owner: &str, now: Millis, until: Millis) -> Result<bool>;

    /// Ids of active cases nobody holds at `now` (unowned or lease ended),
    /// oldest first.
    async fn orphaned_cases(&self, now: Millis, limit: u32) -> Result<Vec<String>>;

    /// Applies `update` to one step if `owner` holds the case's lease at
    /// `now`; [`crate::StoreError::Conflict`] when it does not (the case
    /// changed hands), [`crate::StoreError::NotFound`] for an unknown step.
    /// Returns the step as stored afterwards.
    async fn update_step(
        &self,
        case_id: &str,
        step: &str,
        owner: &str,
        now: Millis,
        update: &StepUpdate,
    ) -> Result<StepRecord>;

    /// Sets the case's state (and failure reason, when given) under its
    /// lease, like [`CaseStore::update_step`]. Reaching an inactive state
    /// sets `finished_at` and releases the lease.
    async fn set_case_state(
        &self,
        case_id: &str,
        owner: &str,
        now: Millis,
        state: CaseState,
        failure: Option<&str>,
    ) -> Result<()>;

    /// Tells the citizens of active cases about steps past their deadline
    /// and not yet done: for at most `limit` such steps never told, a
    /// `case.overdue` message (event `<case>.<step>.overdue`) and the step
    /// marked told, in one transaction. Returns how many were told; a step
    /// is told once, whatever the number of gateways sweeping.
    async fn tell_overdue_steps(&self, now: Millis, limit: u32) -> Result<usize>;

    /// Active cases with a step not yet done (pending or running) whose
    /// deadline passed before `now`, oldest deadline first.
    async fn overdue_cases(&self, now: Millis, limit: u32) -> Result<Vec<CaseRecord>>;

    /// Records a rating and, when `followup_due_at` is set, its follow-up,
    /// in one transaction. A second rating of the same subject by the same
    /// citizen is [`crate::StoreError::Conflict`].
    async fn add_rating(&self, rating: &NewRating) -> Result<RatingRecord>;

    /// The citizen's rating of a subject, if any.
    async fn rating_of(
        &self,
        citizen: &str,
        kind: SubjectKind,
        subject: &str,
    ) -> Result<Option<RatingRecord>>;

    /// Follow-ups, oldest due first.
    async fn followups(&self, filter: &FollowupFilter) -> Result<Vec<FollowupRecord>>;

    /// Closes an open follow-up; [`crate::StoreError::NotFound`] for an
    /// unknown id, [`crate::StoreError::Conflict`] when already closed.
    async fn close_followup(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Millis,
    ) -> Result<FollowupRecord>;

    /// Per-department statistics, by department id.
    async fn rating_stats(&self, now: Millis) -> Result<Vec<RatingStats>>;
}
