//! The one place the appeals desk emits log lines and metrics. Nothing a
//! citizen wrote and no citizen id appears: an appeal is named by its
//! number, with its kind, state and department.

use std::sync::LazyLock;

use onestop_appeals::Action;
use onestop_store::{AppealRecord, AttachmentBlob};
use prometheus::{IntCounterVec, register_int_counter_vec};

static EVENTS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_appeals_events_total",
        "Appeal timeline entries by kind and event (submitted, dispatched, accepted, replied, returned, escalated, rated, closed).",
        &["kind", "event"]
    )
    .ok()
});

fn count(kind: &str, event: &str) {
    if let Some(c) = EVENTS.as_ref() {
        c.with_label_values(&[kind, event]).inc();
    }
}

/// A new appeal was filed (and perhaps dispatched by the rules).
pub(crate) fn submitted(a: &AppealRecord) {
    count(&a.kind, "submitted");
    if a.dept.is_some() {
        count(&a.kind, "dispatched");
    }
    tracing::info!(
        appeal = %a.id,
        kind = %a.kind,
        state = %a.state,
        dept = a.dept.as_deref().unwrap_or("-"),
        "appeal submitted"
    );
}

/// An appeal changed.
pub(crate) fn changed(a: &AppealRecord, action: Action) {
    count(&a.kind, action.as_str());
    let dept = a.dept.as_deref().unwrap_or("-");
    if action == Action::Escalate {
        tracing::warn!(appeal = %a.id, kind = %a.kind, dept, "appeal overdue: escalated");
    } else {
        tracing::info!(appeal = %a.id, kind = %a.kind, state = %a.state, dept, event = action.as_str(), "appeal changed");
    }
}

/// An attachment was stored (`fresh`) or found stored already. Its type
/// and size only: the hash would tell whoever holds the file that it was
/// uploaded.
pub(crate) fn uploaded(b: &AttachmentBlob, fresh: bool) {
    tracing::info!(media_type = %b.media_type, size = b.size, fresh, "appeal attachment stored");
}

/// The scanner could not do its round.
pub(crate) fn scan_failed(error: &dyn std::fmt::Display) {
    tracing::warn!(%error, "appeals overdue scan failed");
}

/// The scanner escalated appeals in one round.
pub(crate) fn scanned(escalated: usize) {
    if escalated > 0 {
        tracing::info!(escalated, "appeals overdue scan");
    }
}
