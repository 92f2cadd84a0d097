//! The one place assessment writes its log lines and updates its metrics:
//! the `onestop_assessment_*` gauges (the current month so far, per
//! department and for the platform) and the roll-up writer's events.

use std::sync::LazyLock;

use prometheus::{GaugeVec, IntCounter, IntGaugeVec, Opts};

use crate::report::{DeptAssessment, Report};

struct Metrics {
    ratio: GaugeVec,
    latency: GaugeVec,
    requests: IntGaugeVec,
    zombies: IntGaugeVec,
    rollup_failures: IntCounter,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // A name clash is a programming error caught by every test run.
    prometheus::default_registry()
        .register(Box::new(c.clone()))
        .expect("metric registered twice");
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    ratio: register(
        GaugeVec::new(
            Opts::new(
                "onestop_assessment_ratio",
                "Assessment rates of the current month so far (0-1), by department and measure; absent when there is no data.",
            ),
            &["dept", "measure"],
        )
        .expect("valid metric"),
    ),
    latency: register(
        GaugeVec::new(
            Opts::new(
                "onestop_assessment_latency_seconds",
                "Request latency quantiles of the current month so far, from every gateway's roll-ups.",
            ),
            &["dept", "quantile"],
        )
        .expect("valid metric"),
    ),
    requests: register(
        IntGaugeVec::new(
            Opts::new(
                "onestop_assessment_requests",
                "Requests of the current month so far, from every gateway's roll-ups.",
            ),
            &["dept"],
        )
        .expect("valid metric"),
    ),
    zombies: register(
        IntGaugeVec::new(
            Opts::new(
                "onestop_assessment_zombie_services",
                "Services listed as zombies now, by department.",
            ),
            &["dept"],
        )
        .expect("valid metric"),
    ),
    rollup_failures: register(
        IntCounter::new(
            "onestop_rollup_write_failures_total",
            "Traffic roll-ups the store did not take (kept and sent again).",
        )
        .expect("valid metric"),
    ),
}
});

fn set_or_remove(g: &GaugeVec, labels: &[&str], value: Option<f64>) {
    match value {
        Some(v) => g.with_label_values(labels).set(v),
        None => {
            let _ = g.remove_label_values(labels);
        }
    }
}

fn publish_dept(d: &DeptAssessment) {
    let m = &*METRICS;
    let id = d.dept.as_str();
    let appeals = d.appeals.as_ref();
    let rates = [
        ("case_on_time", d.cases.on_time_rate),
        ("satisfaction", d.ratings.satisfaction_rate),
        ("followup_in_time", d.followups.in_time_rate),
        ("availability", d.traffic.availability),
        ("appeal_response", appeals.and_then(|a| a.response_rate)),
        ("appeal_resolution", appeals.and_then(|a| a.resolution_rate)),
        (
            "appeal_satisfaction",
            appeals.and_then(|a| a.satisfaction_rate),
        ),
        ("appeal_on_time", appeals.and_then(|a| a.on_time_rate)),
    ];
    for (measure, value) in rates {
        set_or_remove(&m.ratio, &[id, measure], value);
    }
    set_or_remove(
        &m.latency,
        &[id, "0.5"],
        d.traffic.p50_ms.map(|ms| ms / 1000.0),
    );
    set_or_remove(
        &m.latency,
        &[id, "0.99"],
        d.traffic.p99_ms.map(|ms| ms / 1000.0),
    );
    m.requests.with_label_values(&[id]).set(d.traffic.requests);
    m.zombies
        .with_label_values(&[id])
        .set(i64::try_from(d.zombie_services.len()).unwrap_or(i64::MAX));
}

/// The current month's report was computed: the gauges show it.
pub fn published(report: &Report, took_ms: u64) {
    tracing::debug!(
        departments = report.departments.len(),
        took_ms,
        "assessment gauges updated"
    );
    publish_dept(&report.platform);
    for d in &report.departments {
        publish_dept(d);
    }
}

/// The current month's report could not be computed (the store).
pub fn publish_failed(error: &str) {
    tracing::warn!(%error, "assessment gauges not updated");
}

/// Roll-ups were written.
pub fn rollup_written(rows: usize) {
    tracing::debug!(rows, "traffic roll-ups written");
}

/// Roll-ups were not written; they are kept and sent again.
pub fn rollup_failed(rows: usize, error: &str) {
    METRICS.rollup_failures.inc();
    tracing::warn!(rows, %error, "traffic roll-ups not written; kept for the next attempt");
}
