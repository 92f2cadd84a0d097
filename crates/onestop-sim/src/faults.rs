//! Fault knobs and request counters of one instance, and the middleware that
//! applies them to every request — after checking the gateway's signature
//! when the fleet has a signing key ([`crate::signature`]).
//!
//! The knobs are atomics shared by the instance's handlers, the control API
//! and the registrar, so reading them costs a few relaxed loads per request.
//! `refuse` and `down` change the instance's sockets; [`crate::instance`]
//! acts on them and mirrors their value here for reporting. `lease` only
//! concerns the registrar ([`crate::registrar`]).

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tonic::{
    Code, Status,
    metadata::{MetadataMap, MetadataValue},
};
use tracing::warn;

use crate::{
    instance::InstanceState,
    signature::{SignatureError, Verified},
};

/// Header (and gRPC metadata) naming the instance that answered.
pub const INSTANCE_HEADER: &str = "x-sim-instance";
/// Header (and gRPC metadata) saying why a request was refused.
pub const REASON_HEADER: &str = "x-sim-reason";

/// Longest latency the control API accepts (ten minutes).
pub const MAX_LATENCY_MS: u64 = 600_000;

/// The current value of every knob, as the control API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Added before answering any request except health checks.
    pub latency_ms: u64,
    /// Share of requests (0.0–1.0) answered with HTTP 500 / gRPC UNAVAILABLE.
    pub error_rate: f64,
    /// The listening socket is closed; open connections keep working.
    pub refuse: bool,
    /// Crashed: no listener and every connection dropped. A crashed
    /// instance does not renew its registry lease either.
    pub down: bool,
    /// The instance renews its registry lease (default). `false` stops the
    /// renewals while the instance keeps serving, so that its lease lapses.
    #[serde(default = "yes")]
    pub lease: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            refuse: false,
            down: false,
            lease: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// A change to some knobs; `None` leaves a knob as it is. See [`Faults`]
/// for what each knob does.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub refuse: Option<bool>,
    pub down: Option<bool>,
    pub lease: Option<bool>,
}

impl FaultPatch {
    /// A patch that puts every knob back to its default.
    pub fn reset() -> FaultPatch {
        FaultPatch {
            latency_ms: Some(0),
            error_rate: Some(0.0),
            refuse: Some(false),
            down: Some(false),
            lease: Some(true),
        }
    }

    /// Every problem with the patch, one message each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(rate) = self.error_rate
            && !(0.0..=1.0).contains(&rate)
        {
            problems.push(format!(
                "error_rate must be between 0.0 and 1.0, got {rate}"
            ));
        }
        if let Some(ms) = self.latency_ms
            && ms > MAX_LATENCY_MS
        {
            problems.push(format!(
                "latency_ms must be at most {MAX_LATENCY_MS}, got {ms}"
            ));
        }
        problems
    }
}

/// The knobs themselves.
#[derive(Debug)]
pub(crate) struct Knobs {
    latency_ms: AtomicU64,
    /// `f64::to_bits` of the error rate.
    error_rate: AtomicU64,
    refuse: AtomicBool,
    down: AtomicBool,
    lease: AtomicBool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency_ms: AtomicU64::new(0),
            error_rate: AtomicU64::new(0.0_f64.to_bits()),
            refuse: AtomicBool::new(false),
            down: AtomicBool::new(false),
            lease: AtomicBool::new(true),
        }
    }
}

impl Knobs {
    pub fn snapshot(&self) -> Faults {
        Faults {
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
            error_rate: f64::from_bits(self.error_rate.load(Ordering::Relaxed)),
            refuse: self.refuse.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
            lease: self.lease.load(Ordering::Relaxed),
        }
    }

    /// Sets the knobs of a (validated) patch that are plain values: all but
    /// the sockets (`refuse`, `down`).
    pub fn apply_value_knobs(&self, patch: &FaultPatch) {
        if let Some(ms) = patch.latency_ms {
            self.latency_ms.store(ms, Ordering::Relaxed);
        }
        if let Some(rate) = patch.error_rate {
            self.error_rate.store(rate.to_bits(), Ordering::Relaxed);
        }
        if let Some(lease) = patch.lease {
            self.lease.store(lease, Ordering::Relaxed);
        }
    }

    pub fn mirror_sockets(&self, refuse: bool, down: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
        self.down.store(down, Ordering::Relaxed);
    }

    /// Whether the instance's registry lease should be renewed now: it is
    /// up and its `lease` knob is on.
    pub fn renews_lease(&self) -> bool {
        !self.down.load(Ordering::Relaxed) && self.lease.load(Ordering::Relaxed)
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Rolls the dice for an injected error.
    fn should_fail(&self) -> bool {
        let rate = f64::from_bits(self.error_rate.load(Ordering::Relaxed));
        rate > 0.0 && (rate >= 1.0 || rand::random::<f64>() < rate)
    }
}

/// Requests an instance has seen since start or the last reset.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    health_checks: AtomicU64,
    injected_errors: AtomicU64,
    rejected_signatures: AtomicU64,
}

/// A snapshot of an instance's request counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests other than health checks.
    pub requests: u64,
    /// `GET /healthz` and `grpc.health.v1.Health` calls.
    pub health_checks: u64,
    /// Requests answered with an injected error (counted in `requests` too).
    pub injected_errors: u64,
    /// Requests refused for a missing, wrong or stale gateway signature
    /// (401; not counted in `requests`: nothing else happened to them).
    #[serde(default)]
    pub rejected_signatures: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            health_checks: self.health_checks.load(Ordering::Relaxed),
            injected_errors: self.injected_errors.load(Ordering::Relaxed),
            rejected_signatures: self.rejected_signatures.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.health_checks.store(0, Ordering::Relaxed);
        self.injected_errors.store(0, Ordering::Relaxed);
        self.rejected_signatures.store(0, Ordering::Relaxed);
    }
}

/// Whether a request is a health probe (not counted as a request, never
/// delayed or failed by the knobs: a crashed or refusing instance is what
/// makes probes fail).
fn is_health_check(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/grpc.health.v1.Health/")
}

fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Middleware on every instance: checks the gateway's signature (when the
/// fleet has a key), counts, applies latency and error knobs and stamps
/// `x-sim-instance` on the answer. A refused signature is counted and
/// answered at once: no latency, no injected error.
pub(crate) async fn inject(
    State(instance): State<Arc<InstanceState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut response = if is_health_check(req.uri().path()) {
        instance
            .counters
            .health_checks
            .fetch_add(1, Ordering::Relaxed);
        next.run(req).await
    } else if let Err(error) = check_signature(&instance, &mut req) {
        instance
            .counters
            .rejected_signatures
            .fetch_add(1, Ordering::Relaxed);
        warn!(
            instance = %instance.id,
            method = %req.method(),
            path = %req.uri().path(),
            reason = error.reason(),
            %error,
            "request refused: gateway signature"
        );
        signature_refused(&error, is_grpc(&req))
    } else {
        instance.counters.requests.fetch_add(1, Ordering::Relaxed);
        let latency = instance.knobs.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if instance.knobs.should_fail() {
            instance
                .counters
                .injected_errors
                .fetch_add(1, Ordering::Relaxed);
            injected_error(&instance.id, is_grpc(&req))
        } else {
            next.run(req).await
        }
    };
    response
        .headers_mut()
        .insert(INSTANCE_HEADER, instance.header_value.clone());
    response
}

/// Verifies the request against the instance's guard, if it has one, and
/// marks it [`Verified`] for the handlers.
fn check_signature(instance: &InstanceState, req: &mut Request) -> Result<(), SignatureError> {
    let Some(guard) = &instance.guard else {
        return Ok(());
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |pq| pq.as_str());
    guard.check(req.method().as_str(), path_and_query, req.headers())?;
    req.extensions_mut().insert(Verified);
    Ok(())
}

/// 401 `BAD_GATEWAY_SIGNATURE` (HTTP) or UNAUTHENTICATED (gRPC), with
/// `x-sim-reason: unsigned|bad-signature|stale-signature` either way.
fn signature_refused(error: &SignatureError, grpc: bool) -> Response {
    let reason = HeaderValue::from_static(error.reason());
    let message = format!("gateway signature refused: {error}");
    if grpc {
        let mut metadata = MetadataMap::new();
        metadata.insert(REASON_HEADER, MetadataValue::from_static(error.reason()));
        Status::with_metadata(Code::Unauthenticated, message, metadata)
            .into_http::<axum::body::Body>()
    } else {
        let mut response =
            crate::http::error(StatusCode::UNAUTHORIZED, "BAD_GATEWAY_SIGNATURE", message);
        response.headers_mut().insert(REASON_HEADER, reason);
        response
    }
}

fn injected_error(instance: &str, grpc: bool) -> Response {
    let message = format!("injected fault on instance {instance}");
    if grpc {
        tonic::Status::unavailable(message).into_http::<axum::body::Body>()
    } else {
        crate::http::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SIM_INJECTED_FAULT",
            message,
        )
        .into_response()
    }
}

/// `x-sim-instance` value for an instance id (ids are ASCII by construction).
pub(crate) fn header_value(id: &str) -> HeaderValue {
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_validation_names_every_problem() {
        let patch = FaultPatch {
            error_rate: Some(1.5),
            latency_ms: Some(MAX_LATENCY_MS + 1),
            ..FaultPatch::default()
        };
        let problems = patch.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("error_rate"));
        let nan = FaultPatch {
            error_rate: Some(f64::NAN),
            ..FaultPatch::default()
        };
        assert_eq!(nan.problems().len(), 1);
        assert!(FaultPatch::reset().problems().is_empty());
    }

    #[test]
    fn knobs_apply_and_roll() {
        let knobs = Knobs::default();
        assert!(!knobs.should_fail());
        knobs.apply_value_knobs(&FaultPatch {
            error_rate: Some(1.0),
            latency_ms: Some(5),
            ..FaultPatch::default()
        });
        assert!(knobs.should_fail());
        assert_eq!(knobs.snapshot().latency_ms, 5);
        knobs.apply_value_knobs(&FaultPatch {
            error_rate: Some(0.5),
            ..FaultPatch::default()
        });
        let fails = (0..2000).filter(|_| knobs.should_fail()).count();
        assert!((800..1200).contains(&fails), "{fails}");
        assert_eq!(
            knobs.snapshot().latency_ms,
            5,
            "missing field leaves the knob alone"
        );
    }

    #[test]
    fn leases_renew_unless_down_or_switched_off() {
        let knobs = Knobs::default();
        assert_eq!(knobs.snapshot(), Faults::default());
        assert!(knobs.snapshot().lease);
        assert!(knobs.renews_lease());
        knobs.apply_value_knobs(&FaultPatch {
            lease: Some(false),
            ..FaultPatch::default()
        });
        assert!(!knobs.renews_lease());
        knobs.apply_value_knobs(&FaultPatch::reset());
        assert!(knobs.renews_lease());
        knobs.mirror_sockets(false, true);
        assert!(!knobs.renews_lease(), "a crashed instance renews nothing");
        knobs.mirror_sockets(false, false);
        assert!(knobs.renews_lease());
    }
}
