//! Department assessment (考核): traffic roll-ups every gateway writes, and
//! the period figures of cases, ratings and follow-ups, behind the
//! [`AssessmentStore`] trait.
//!
//! Traffic roll-ups are rows keyed by (span, start, department, gateway):
//! each gateway adds the deltas of its own counters to its own rows
//! ([`AssessmentStore::add_traffic`]), so the figures survive restarts and
//! add up across a cluster; readers sum the rows of any period
//! ([`AssessmentStore::traffic`], [`AssessmentStore::traffic_series`]).
//! Latency is kept as histogram bucket counts (not cumulative), so a
//! quantile over any period and any set of gateways comes from summed
//! buckets.
//!
//! The period figures count what was *due* in the period (a step by its
//! deadline, a follow-up by when it was opened) and what was rated in it;
//! every rate built from them is over items whose outcome is known at
//! `now`. Writes announce no [`crate::Change`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Millis, Result};

/// Latency buckets of a roll-up: 16 upper bounds (0.5 ms … 30 s, the data
/// plane's histogram) and one for everything slower.
pub const LATENCY_BUCKETS: usize = 17;

/// One hour, the span of the rows assessment reads.
pub const HOUR_MS: Millis = 3_600_000;

/// One minute, the span of the rows the console's last-hour charts read.
pub const MINUTE_MS: Millis = 60_000;

/// Request figures of one department over some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrafficCounts {
    pub requests: i64,
    /// Answers with status 500-599.
    pub errors: i64,
    /// Answers with status 400-499.
    pub client_errors: i64,
    /// Requests per latency bucket (not cumulative).
    pub buckets: [i64; LATENCY_BUCKETS],
}

impl TrafficCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &TrafficCounts) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.client_errors += other.client_errors;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.requests == 0
            && self.errors == 0
            && self.client_errors == 0
            && self.buckets.iter().all(|b| *b == 0)
    }
}

/// A delta one gateway adds to its row of a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficDelta {
    /// [`HOUR_MS`] or [`MINUTE_MS`].
    pub span_ms: Millis,
    /// The span's start (a multiple of `span_ms`).
    pub start_ms: Millis,
    pub dept: String,
    pub gateway: String,
    pub counts: TrafficCounts,
}

/// Summed figures of one department (over a period, or one span start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficRow {
    pub dept: String,
    /// The span's start (series), or the period's start (totals).
    pub start_ms: Millis,
    pub counts: TrafficCounts,
}

/// Case steps of one department whose deadline fell in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepFigures {
    /// Answered (done, failed, compensated) by the deadline.
    pub on_time: i64,
    /// Answered after the deadline.
    pub late: i64,
    /// Not answered and past the deadline at `now`.
    pub overdue_open: i64,
    /// Not answered, deadline not yet reached at `now`.
    pub not_due: i64,
}

/// Cases a department led that completed in a period, and how many of
/// them were rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompletedFigures {
    pub completed: i64,
    pub rated: i64,
}

/// Follow-ups of bad ratings opened in a period, by outcome at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FollowupFigures {
    /// Closed by the due time.
    pub in_time: i64,
    /// Closed after the due time.
    pub late: i64,
    /// Open and past due.
    pub overdue_open: i64,
    /// Open, not yet due.
    pub open: i64,
}

/// Everything the store knows of one department for an assessment period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeptPeriodFigures {
    pub steps: StepFigures,
    pub completed: CompletedFigures,
    /// Ratings given in the period, by score (`[0]` counts 1s).
    pub ratings: [i64; 5],
    pub followups: FollowupFigures,
}

/// Traffic roll-ups and assessment figures.
#[async_trait]
pub trait AssessmentStore: Send + Sync + 'static {
    /// Adds each delta to its row (creating it), in one transaction.
    async fn add_traffic(&self, deltas: &[TrafficDelta]) -> Result<()>;

    /// Per department, the sum of the rows of `span_ms` starting in
    /// `[from, to)` (of every gateway). `start_ms` of each row is `from`.
    async fn traffic(&self, span_ms: Millis, from: Millis, to: Millis) -> Result<Vec<TrafficRow>>;

    /// Per department and span start in `[from, to)`, the sum over
    /// gateways, ordered by department then start.
    async fn traffic_series(
        &self,
        span_ms: Millis,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<TrafficRow>>;

    /// Deletes rows of `span_ms` starting before `before`; returns how many.
    async fn prune_traffic(&self, span_ms: Millis, before: Millis) -> Result<u64>;

    /// Per department (by id): steps due, cases completed, ratings given
    /// and follow-ups opened in `[from, to)`, their outcome as of `now`.
    async fn period_figures(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<std::collections::BTreeMap<String, DeptPeriodFigures>>;
}
