//! The one place the messages crate emits log lines and metrics. An event
//! is named by its id and channel; no citizen id, title or text appears.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, register_int_counter_vec};

static DELIVERIES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_webhook_deliveries_total",
        "Webhook delivery attempts by channel and outcome (delivered, retry, failed).",
        &["channel", "outcome"]
    )
    .ok()
});

fn count(channel: &str, outcome: &str) {
    if let Some(c) = DELIVERIES.as_ref() {
        c.with_label_values(&[channel, outcome]).inc();
    }
}

/// A receiver took an event.
pub(crate) fn delivered(channel: &str, event_id: &str, attempts: i64) {
    count(channel, "delivered");
    tracing::info!(channel, event_id, attempts, "webhook delivered");
}

/// An attempt failed; the event waits for the next.
pub(crate) fn retrying(channel: &str, event_id: &str, attempts: i64, error: &str) {
    count(channel, "retry");
    tracing::warn!(
        channel,
        event_id,
        attempts,
        error,
        "webhook attempt failed; will retry"
    );
}

/// An attempt failed and the event is too old to try again.
pub(crate) fn failed(channel: &str, event_id: &str, attempts: i64, error: &str) {
    count(channel, "failed");
    tracing::error!(
        channel,
        event_id,
        attempts,
        error,
        "webhook delivery failed for good"
    );
}

/// A round of the worker could not run.
pub(crate) fn round_failed(error: &dyn std::fmt::Display) {
    tracing::warn!(%error, "webhook delivery round failed");
}
