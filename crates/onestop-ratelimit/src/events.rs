//! Every event the rate limiter reports, each in one place that emits both
//! the log line and the metric (Vector's `internal_events` style, as in
//! `onestop_proxy::events`).
//!
//! Metrics live in the process-wide default Prometheus registry, so the
//! admin listener's `/metrics` sees them.

use std::fmt::Display;
use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use tracing::{debug, error, info, warn};

/// The rate limiter's metrics.
pub(crate) struct Metrics {
    limited: IntCounterVec,
    fallback: IntCounter,
    redis_up: IntGauge,
    redis_errors: IntCounter,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    c: C,
) -> Result<C, prometheus::Error> {
    prometheus::default_registry().register(Box::new(c.clone()))?;
    Ok(c)
}

fn build() -> Result<Metrics, prometheus::Error> {
    Ok(Metrics {
        limited: register(IntCounterVec::new(
            Opts::new(
                "onestop_ratelimit_limited_total",
                "Requests refused by a rate limit, by scope (citizen, channel, route).",
            ),
            &["scope"],
        )?)?,
        fallback: register(IntCounter::new(
            "onestop_ratelimit_fallback_total",
            "Switches from counting in Redis to counting locally (Redis unreachable or slow).",
        )?)?,
        redis_up: register(IntGauge::new(
            "onestop_ratelimit_redis_up",
            "1 while rate limits are counted in Redis, 0 while they are counted locally.",
        )?)?,
        redis_errors: register(IntCounter::new(
            "onestop_ratelimit_redis_errors_total",
            "Rate-limit checks whose Redis call failed or timed out (decided locally instead).",
        )?)?,
    })
}

/// `None` only if registration failed (a name clash: a programming error
/// that the unit test `metrics_register` catches); events then only log.
static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(m) => Some(m),
    Err(error) => {
        error!(%error, "rate-limit metrics not registered");
        None
    }
});

fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

/// A request refused by a limit of `scope`. No log line: the access log
/// records the 429, and a log line per refusal would let one abusive
/// caller flood the logs.
pub(crate) fn limited(scope: &'static str) {
    if let Some(m) = metrics() {
        m.limited.with_label_values(&[scope]).inc();
    }
}

/// One check's Redis call failed or timed out; the request was decided locally.
pub(crate) fn redis_error(error: &dyn Display) {
    debug!(%error, "rate-limit check decided locally: Redis call failed");
    if let Some(m) = metrics() {
        m.redis_errors.inc();
    }
}

/// Counting moved from Redis (or from "not connected yet") to local.
/// Called once per switch, not per request.
pub(crate) fn fell_back(error: &dyn Display) {
    warn!(%error, "rate limits counted locally: Redis unreachable");
    if let Some(m) = metrics() {
        m.fallback.inc();
        m.redis_up.set(0);
    }
}

/// Counting moved to Redis: at the first connection, or when Redis answers
/// again after a fallback.
pub(crate) fn redis_available(first: bool) {
    if first {
        info!("rate limits counted in Redis");
    } else {
        info!("rate limits counted in Redis again");
    }
    if let Some(m) = metrics() {
        m.redis_up.set(1);
    }
}

/// A Redis-backed limiter was created; it counts locally until Redis answers.
pub(crate) fn redis_connecting() {
    if let Some(m) = metrics() {
        m.redis_up.set(0);
    }
}

/// The background thread could not be started (the limiter still works;
/// for a local limiter only the periodic memory cleanup is missing).
pub(crate) fn background_not_started(error: &dyn Display) {
    error!(%error, "rate-limit background thread not started");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register() {
        assert!(metrics().is_some(), "rate-limit metrics failed to register");
        limited("citizen");
        let families = prometheus::gather();
        for name in [
            "onestop_ratelimit_limited_total",
            "onestop_ratelimit_fallback_total",
            "onestop_ratelimit_redis_up",
            "onestop_ratelimit_redis_errors_total",
        ] {
            assert!(
                families.iter().any(|f| f.name() == name),
                "{name} not in the default registry"
            );
        }
    }
}
