//! The one place the registry emits log lines and metrics, one function per
//! event.

use std::net::SocketAddr;
use std::sync::LazyLock;

use onestop_core::registry::{ApprovalStatus, ServiceSpec, Verdict};
use onestop_store::{ServiceRecord, StoreError};
use prometheus::{
    IntCounterVec, IntGauge, IntGaugeVec, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};

static REGISTRATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_registry_registrations_total",
        "Register calls that succeeded, by department and resulting status.",
        &["dept", "status"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static DECISIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_registry_decisions_total",
        "Operators' decisions on service revisions.",
        &["dept", "verdict"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static LAPSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_registry_leases_lapsed_total",
        "Instances whose lease lapsed without a renewal.",
        &["dept", "service"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static STORE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_registry_store_errors_total",
        "Registry store operations that failed, by operation.",
        &["op"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static STORE_UP: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "onestop_registry_store_up",
        "1 while the registry's last read of the store succeeded."
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static PURGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_cache_purges_recorded_total",
        "Purges of the response cache recorded through this gateway, by department and requester kind (dept, operator).",
        &["dept", "by"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static PURGED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "onestop_cache_purged_entries_total",
        "Cache entries removed by purges applied on this gateway (its own and other gateways'), by department.",
        &["dept"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

static SERVED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "onestop_registry_live_instances",
        "Live instances of approved registered services.",
        &["dept", "service"]
    )
    .unwrap_or_else(|e| unreachable_metric(&e))
});

/// Registering a metric fails only for a duplicate name or bad label set,
/// which is a bug caught by the first test that touches it.
fn unreachable_metric<T>(e: &prometheus::Error) -> T {
    panic!("registry metric registration failed: {e}")
}

pub fn registered(spec: &ServiceSpec, instances: usize, revision: i64, status: ApprovalStatus) {
    REGISTRATIONS
        .with_label_values(&[&spec.dept, status.as_str()])
        .inc();
    tracing::info!(dept = %spec.dept, service = %spec.service, instances, revision, status = status.as_str(), "service registered");
}

pub fn revision_pending(record: &ServiceRecord) {
    tracing::info!(
        dept = %record.dept,
        service = %record.service,
        revision = record.revision,
        changes = %onestop_core::registry::surface_changes(record.approved_spec.as_ref(), &record.spec),
        "revision awaits approval"
    );
}

pub fn deregistered(dept: &str, service: &str, instances: u64, whole_service: bool) {
    tracing::info!(dept, service, instances, whole_service, "deregistered");
}

pub fn decided(record: &ServiceRecord, verdict: Verdict, operator: &str) {
    DECISIONS
        .with_label_values(&[&record.dept, verdict.as_str()])
        .inc();
    tracing::info!(dept = %record.dept, service = %record.service, revision = record.revision, verdict = verdict.as_str(), operator, "registration decided");
}

pub fn lease_lapsed(dept: &str, service: &str, addr: SocketAddr) {
    LAPSED.with_label_values(&[dept, service]).inc();
    tracing::warn!(dept, service, instance = %addr, "lease lapsed; instance leaves the load balancer");
}

pub fn store_error(op: &str, error: &StoreError) {
    STORE_ERRORS.with_label_values(&[op]).inc();
    tracing::warn!(op, %error, "registry store operation failed");
}

pub fn store_reachable(up: bool, error: &str) {
    STORE_UP.set(i64::from(up));
    if up {
        tracing::info!("registry store reachable");
    } else {
        tracing::error!(
            error,
            "registry store unreachable: serving the last known registry, writes fail with UNAVAILABLE"
        );
    }
}

pub fn view_published(view: &crate::view::RegistryView) {
    SERVED.reset();
    for s in &view.services {
        SERVED
            .with_label_values(&[&s.spec.dept, &s.spec.service])
            .set(i64::try_from(s.instances.len()).unwrap_or(i64::MAX));
    }
    tracing::debug!(services = view.services.len(), "registry view published");
}

pub fn purge_recorded(record: &onestop_store::PurgeRecord) {
    let by = record
        .requested_by
        .split_once(':')
        .map_or("unknown", |(kind, _)| kind);
    PURGES.with_label_values(&[&record.dept, by]).inc();
    tracing::info!(
        id = record.id,
        dept = %record.dept,
        kind = record.kind.as_str(),
        value = %record.value,
        requested_by = %record.requested_by,
        "cache purge recorded"
    );
}

pub fn purge_applied(record: &onestop_store::PurgeRecord, removed: u64) {
    PURGED.with_label_values(&[&record.dept]).inc_by(removed);
    tracing::debug!(
        id = record.id,
        dept = %record.dept,
        kind = record.kind.as_str(),
        value = %record.value,
        removed,
        "cache purge applied"
    );
}

pub fn purges_pruned(pruned: u64) {
    tracing::debug!(pruned, "old cache purges deleted from the store");
}

pub fn purge_store_error(op: &str, error: &StoreError) {
    STORE_ERRORS.with_label_values(&[op]).inc();
    tracing::warn!(op, %error, "cache purge store operation failed; purges apply when the store answers");
}

/// Server reflection could not be built (the control listener serves
/// without it).
pub fn reflection_unavailable(error: &dyn std::fmt::Display) {
    tracing::warn!(%error, "server reflection unavailable");
}

/// A stored instance's address does not parse: the instance is ignored.
pub fn stored_address_invalid(dept: &str, service: &str, addr: &str) {
    tracing::warn!(
        dept,
        service,
        addr,
        "stored instance address does not parse; ignored"
    );
}

/// A department's read of appeals was not answered: the access log did
/// not take its record (the appeals stay with the gateway). Names the
/// department only, never the appeal's content or citizen.
pub fn appeal_read_unrecorded(dept: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(
        dept,
        %error,
        "appeals withheld from a department: the access log refused the read's record"
    );
}
