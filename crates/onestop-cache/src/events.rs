//! The one place the response cache writes its log lines (its metrics are
//! per route, in `metrics`).

/// `removed` entries of `dept` matched a purge.
pub(crate) fn purged(dept: &str, purge: &crate::Purge, removed: usize) {
    tracing::info!(dept, ?purge, removed, "cache purged");
}
