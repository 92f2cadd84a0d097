//! Department assessment (考核): how each department answered citizens
//! over a period — appeals' 响应率/解决率/满意率 and on-time rate (from
//! the appeals store, once it reports), case steps answered by their
//! statutory deadline, ratings (好差评) and bad ratings followed up in
//! time, API availability and latency from every gateway's traffic
//! roll-ups, and zombie services.
//!
//! - [`formulas`]: the pure formulas (rates, quantiles from summed
//!   histogram buckets, assessment months in the platform's time zone);
//! - [`report`]: the report, built purely from counts;
//! - [`rollup`]: the deltas each gateway adds to the store's roll-ups;
//! - [`Assessor`]: reads the store (and the appeals' [`AppealSource`]) and
//!   builds a report; `events` publishes the current month as gauges.
//!
//! docs/assessment.md states every formula.

#![forbid(unsafe_code)]

mod events;
pub mod formulas;
pub mod report;
pub mod rollup;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use onestop_store::{AssessmentStore, HOUR_MS, Millis, StoreError, TrafficCounts};

pub use crate::formulas::{LATENCY_BOUNDS, Month};
pub use crate::report::{AppealFigures, DeptAssessment, DeptInfo, Report};

/// Appeals' figures per department for a period, as of `now`.
///
/// `Ok(None)` means appeals report nothing (no appeals module on this
/// gateway): the report then shows "no data", never invented numbers.
#[async_trait]
pub trait AppealSource: Send + Sync + 'static {
    async fn figures(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<Option<BTreeMap<String, AppealFigures>>, StoreError>;
}

/// No appeals module: no appeal figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAppeals;

#[async_trait]
impl AppealSource for NoAppeals {
    async fn figures(
        &self,
        _from: Millis,
        _to: Millis,
        _now: Millis,
    ) -> Result<Option<BTreeMap<String, AppealFigures>>, StoreError> {
        Ok(None)
    }
}

/// What the caller knows that the store does not: the configuration's
/// departments and the zombie report.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub departments: Vec<DeptInfo>,
    /// Zombie services per department, now.
    pub zombies: BTreeMap<String, Vec<String>>,
}

/// Builds assessment reports from the store.
#[derive(Clone)]
pub struct Assessor {
    store: Arc<dyn AssessmentStore>,
    appeals: Arc<dyn AppealSource>,
}

impl Assessor {
    pub fn new(store: Arc<dyn AssessmentStore>, appeals: Arc<dyn AppealSource>) -> Assessor {
        Assessor { store, appeals }
    }

    /// The store it reads (roll-ups for charts).
    pub fn store(&self) -> &Arc<dyn AssessmentStore> {
        &self.store
    }

    /// The report of `[from, to)` as of `now`. Traffic counts the hourly
    /// roll-ups starting in the period (`from` and `to` are rounded down
    /// to the hour for them).
    pub async fn assess(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
        context: &Context,
    ) -> Result<Report, StoreError> {
        let figures = self.store.period_figures(from, to, now).await?;
        let hour = |t: Millis| t - t.rem_euclid(HOUR_MS);
        let rows = self.store.traffic(HOUR_MS, hour(from), hour(to)).await?;
        let traffic: BTreeMap<String, TrafficCounts> =
            rows.into_iter().map(|r| (r.dept, r.counts)).collect();
        let appeals = self.appeals.figures(from, to, now).await?;
        Ok(report::build(&report::Inputs {
            from,
            to,
            now,
            departments: context.departments.clone(),
            figures,
            traffic,
            appeals,
            zombies: context.zombies.clone(),
        }))
    }

    /// Computes the current month (in the zone `utc_offset_hours` east of
    /// UTC) and publishes it as the `onestop_assessment_*` gauges.
    pub async fn publish_current_month(
        &self,
        now: Millis,
        utc_offset_hours: i32,
        context: &Context,
    ) -> Result<Report, StoreError> {
        let started = std::time::Instant::now();
        let (from, to) = Month::containing(now, utc_offset_hours).range(utc_offset_hours);
        match self.assess(from, to, now, context).await {
            Ok(report) => {
                let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                events::published(&report, took);
                Ok(report)
            }
            Err(e) => {
                events::publish_failed(&e.to_string());
                Err(e)
            }
        }
    }
}

/// Reports a roll-up write (for the binary's writer task).
pub fn rollup_written(rows: usize) {
    events::rollup_written(rows);
}

/// Reports a roll-up write the store refused.
pub fn rollup_failed(rows: usize, error: &str) {
    events::rollup_failed(rows, error);
}
