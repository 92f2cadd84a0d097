//! The one place cases emit log lines and metrics. Citizen ids never
//! appear: a case is named by its number.

use std::sync::LazyLock;

use onestop_store::{CaseState, StoreError};
use prometheus::{HistogramVec, IntCounterVec, register_histogram_vec, register_int_counter_vec};

static CASES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_cases_total",
        "Cases by composite matter and outcome (submitted, completed, failed, compensation_failed).",
        &["matter", "outcome"]
    )
    .ok()
});

static STEPS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_case_steps_total",
        "Step calls by department and outcome (done, retry, failed, compensated, compensation_failed).",
        &["dept", "outcome"]
    )
    .ok()
});

static DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "onestop_case_duration_seconds",
        "Submission to finish, by composite matter and final state.",
        &["matter", "state"],
        vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]
    )
    .ok()
});

static RATINGS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_ratings_total",
        "Ratings (好差评) by department and score.",
        &["dept", "score"]
    )
    .ok()
});

fn count(vec: &LazyLock<Option<IntCounterVec>>, labels: &[&str]) {
    if let Some(v) = vec.as_ref() {
        v.with_label_values(labels).inc();
    }
}

pub(crate) fn case_submitted(matter: &str, case: &str) {
    count(&CASES, &[matter, "submitted"]);
    tracing::info!(event = "case_submitted", matter, case);
}

pub(crate) fn case_resumed(case: &str) {
    tracing::info!(event = "case_resumed", case);
}

pub(crate) fn overdue_steps_told(count: usize) {
    tracing::info!(event = "case_overdue_steps_told", count);
}

pub(crate) fn case_finished(matter: &str, case: &str, state: CaseState, elapsed_ms: i64) {
    count(&CASES, &[matter, state.as_str()]);
    if let Some(h) = DURATION.as_ref() {
        h.with_label_values(&[matter, state.as_str()])
            .observe(elapsed_ms.max(0) as f64 / 1000.0);
    }
    tracing::info!(
        event = "case_finished",
        matter,
        case,
        state = state.as_str(),
        elapsed_ms
    );
}

pub(crate) fn step_done(matter: &str, case: &str, step: &str, dept: &str, attempts: i64) {
    count(&STEPS, &[dept, "done"]);
    tracing::info!(event = "case_step_done", matter, case, step, dept, attempts);
}

pub(crate) fn step_retry(case: &str, step: &str, dept: &str, attempt: i64, why: &str) {
    count(&STEPS, &[dept, "retry"]);
    tracing::warn!(
        event = "case_step_retry",
        case,
        step,
        dept,
        attempt,
        error = why
    );
}

pub(crate) fn step_failed(matter: &str, case: &str, step: &str, dept: &str, why: &str) {
    count(&STEPS, &[dept, "failed"]);
    tracing::warn!(
        event = "case_step_failed",
        matter,
        case,
        step,
        dept,
        error = why
    );
}

pub(crate) fn step_compensated(case: &str, step: &str, dept: &str) {
    count(&STEPS, &[dept, "compensated"]);
    tracing::info!(event = "case_step_compensated", case, step, dept);
}

pub(crate) fn compensation_failed(case: &str, step: &str, dept: &str, why: &str) {
    count(&STEPS, &[dept, "compensation_failed"]);
    tracing::error!(
        event = "case_compensation_failed",
        case,
        step,
        dept,
        error = why
    );
}

pub(crate) fn lease_lost(case: &str) {
    tracing::warn!(event = "case_lease_lost", case);
}

pub(crate) fn store_failed(op: &str, case: &str, e: &StoreError) {
    tracing::warn!(event = "case_store_failed", op, case, error = %e);
}

pub(crate) fn rated(dept: &str, subject: &str, score: i64, followup: Option<i64>) {
    count(&RATINGS, &[dept, &score.to_string()]);
    tracing::info!(event = "rated", dept, subject, score, followup);
}
