//! The one place data sharing emits log lines and metrics. Citizen ids
//! never appear.

use std::sync::LazyLock;

use onestop_store::AgreementRecord;
use prometheus::{IntCounterVec, register_int_counter_vec};

static EXCHANGES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_exchanges_total",
        "Data exchanges by consumer, item and outcome (ok, a denial code, not_found, provider_error, audit_unavailable).",
        &["consumer", "item", "outcome"]
    )
    .ok()
});

pub(crate) fn exchange(consumer: &str, item: &str, outcome: &str) {
    if let Some(v) = EXCHANGES.as_ref() {
        v.with_label_values(&[consumer, item, outcome]).inc();
    }
    if outcome == "ok" {
        tracing::debug!(event = "exchange", consumer, item, outcome);
    } else {
        tracing::info!(event = "exchange", consumer, item, outcome);
    }
}

pub(crate) fn agreement(what: &str, a: &AgreementRecord) {
    tracing::info!(
        event = "agreement",
        what,
        agreement = a.agreement.id,
        consumer = a.agreement.consumer,
        item = a.agreement.item,
        purpose = a.agreement.purpose,
        state = a.state.as_str(),
    );
}
