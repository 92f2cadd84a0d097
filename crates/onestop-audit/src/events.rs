//! The one place the audit writer emits log lines and metrics. Citizen ids
//! never appear, nor any other field of a record.

use std::sync::LazyLock;
use std::time::Duration;

use onestop_store::StoreError;
use prometheus::{IntCounter, IntGauge, register_int_counter, register_int_gauge};

use crate::Refusal;

static PENDING: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    register_int_gauge!(
        "onestop_audit_pending",
        "Access audit records accepted but not yet written to the store."
    )
    .ok()
});

static WRITTEN: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "onestop_audit_written_total",
        "Access audit records written to the store."
    )
    .ok()
});

static WRITE_ERRORS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "onestop_audit_write_errors_total",
        "Failed attempts to write a batch of access audit records (each is retried)."
    )
    .ok()
});

static REFUSED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "onestop_audit_refused_total",
        "Access audit records refused because the writer fell behind (their requests fail closed)."
    )
    .ok()
});

/// A record was queued.
pub(crate) fn accepted() {
    if let Some(g) = PENDING.as_ref() {
        g.inc();
    }
}

/// A record was refused; `first` when the log was accepting until now
/// (only then is a line written: refusals come once per request).
pub(crate) fn refused(reason: Refusal, pending: usize, first: bool) {
    if let Some(c) = REFUSED.as_ref() {
        c.inc();
    }
    if first {
        tracing::warn!(
            event = "audit_refusing",
            reason = reason.as_str(),
            pending,
            "access audit log refuses records: personal-data routes fail closed"
        );
    }
}

/// The log accepts records again after refusing.
pub(crate) fn accepting_again(pending: usize) {
    tracing::info!(
        event = "audit_accepting",
        pending,
        "access audit log accepts records again"
    );
}

/// A batch was written; `last_seq` is the newest stored record's number.
pub(crate) fn written(records: usize, pending: usize, last_seq: Option<i64>, attempts: u32) {
    let n = i64::try_from(records).unwrap_or(i64::MAX);
    if let Some(g) = PENDING.as_ref() {
        g.sub(n);
    }
    if let Some(c) = WRITTEN.as_ref() {
        c.inc_by(u64::try_from(records).unwrap_or(u64::MAX));
    }
    if attempts > 1 {
        tracing::info!(
            event = "audit_store_recovered",
            records,
            pending,
            last_seq,
            attempts,
            "access audit batch written after retries"
        );
    } else {
        tracing::debug!(event = "audit_written", records, pending, last_seq);
    }
}

/// Writing a batch failed; it is kept and retried after `retry_in`.
pub(crate) fn write_failed(
    error: &StoreError,
    records: usize,
    pending: usize,
    attempt: u32,
    retry_in: Duration,
) {
    if let Some(c) = WRITE_ERRORS.as_ref() {
        c.inc();
    }
    tracing::warn!(
        event = "audit_write_failed",
        error = %error,
        records,
        pending,
        attempt,
        retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
        "access audit batch not written; kept and retried"
    );
}
