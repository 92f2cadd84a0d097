//! The one place the admin API writes its log lines and updates its metrics.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, Opts};

/// The admin API's metrics.
struct Metrics {
    requests: IntCounterVec,
    audit_failures: IntCounter,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // A name clash is a programming error caught by every test run.
    prometheus::default_registry()
        .register(Box::new(c.clone()))
        .expect("metric registered twice");
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    requests: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_admin_requests_total",
                "Admin listener requests, by matched route template and HTTP status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric"),
    ),
    audit_failures: register(
        IntCounter::new(
            "onestop_admin_audit_failures_total",
            "Admin-API audit records that could not be written to the store.",
        )
        .expect("valid metric"),
    ),
});

/// A request to the admin listener finished.
pub(crate) fn request_done(route: &str, status: u16) {
    METRICS
        .requests
        .with_label_values(&[route, &status.to_string()])
        .inc();
}

/// An operator (or someone without valid credentials) was refused.
pub(crate) fn refused(
    operator: &str,
    action: Option<&str>,
    target: &str,
    status: u16,
    reason: &str,
) {
    tracing::warn!(
        operator,
        action = action.unwrap_or("read"),
        target,
        status,
        reason,
        "admin API request refused"
    );
}

/// A change went through (configuration, decision, credential).
pub(crate) fn changed(operator: &str, action: &str, target: &str) {
    tracing::info!(operator, action, target, "admin API change");
}

/// An audit record could not be written; the change itself stands.
pub(crate) fn audit_failed(operator: &str, action: &str, target: &str, error: &str) {
    METRICS.audit_failures.inc();
    tracing::error!(operator, action, target, %error, "admin audit record not written");
}

/// The admin listener could not bind its address.
pub fn listener_bind_failed(addr: std::net::SocketAddr, error: &std::io::Error) {
    tracing::error!(%addr, %error, "admin listener could not bind");
}

/// The admin listener accepts connections.
pub fn listener_up(addr: std::net::SocketAddr) {
    tracing::info!(%addr, "admin listener up");
}

/// The admin listener stopped serving with an error.
pub fn listener_failed(error: &std::io::Error) {
    tracing::error!(%error, "admin listener failed");
}

/// A handler failed inside (the caller sees 500 `INTERNAL`).
pub fn internal_error(message: &str) {
    tracing::error!(%message, "admin API internal error");
}

/// How many audit records could not be written (for tests).
#[cfg(test)]
pub(crate) fn audit_failures() -> u64 {
    METRICS.audit_failures.get()
}

/// Appeals were withheld from an operator: the citizens' access log did
/// not take the read's record (the operator's name only; never the
/// appeal's content or citizen).
pub(crate) fn appeal_read_unrecorded(operator: &str, error: &str) {
    tracing::warn!(
        operator,
        %error,
        "appeals withheld from an operator: the access log refused the read's record"
    );
}
