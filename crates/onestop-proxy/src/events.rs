//! Every event the data plane reports, each in one place that emits both
//! the log line and the metric (Vector's `internal_events` style).
//!
//! Metrics live in the process-wide default Prometheus registry, so the
//! admin listener's `/metrics` sees them and pingora's own.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};
use tracing::{debug, info, warn};

/// The data plane's metrics.
pub struct Metrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub inflight: IntGaugeVec,
    pub shed: IntCounterVec,
    pub retries: IntCounterVec,
    pub instance_up: IntGaugeVec,
    pub ejections: IntCounterVec,
    pub config_generation: IntGauge,
    pub routes: IntGauge,
    pub config_rejected: IntCounter,
    pub auth_refused: IntCounterVec,
    pub overview_items: IntCounterVec,
    pub overview_item_duration: HistogramVec,
}

/// Latency buckets from 0.5 ms to 30 s.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
    30.0,
];

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // A name clash is a programming error caught by every test run.
    prometheus::default_registry()
        .register(Box::new(c.clone()))
        .expect("metric registered twice");
    c
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    requests: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_requests_total",
                "Requests answered, by department, route and status.",
            ),
            &["dept", "route", "status"],
        )
        .expect("valid metric"),
    ),
    duration: register(
        HistogramVec::new(
            HistogramOpts::new(
                "onestop_request_duration_seconds",
                "Time from request start to the end of logging, by department and route.",
            )
            .buckets(BUCKETS.to_vec()),
            &["dept", "route"],
        )
        .expect("valid metric"),
    ),
    inflight: register(
        IntGaugeVec::new(
            Opts::new(
                "onestop_inflight_requests",
                "Requests in flight to each department.",
            ),
            &["dept"],
        )
        .expect("valid metric"),
    ),
    shed: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_shed_total",
                "Requests refused because the department was at its concurrency limit.",
            ),
            &["dept"],
        )
        .expect("valid metric"),
    ),
    retries: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_retries_total",
                "Upstream retries, and retries the budget refused.",
            ),
            &["dept", "outcome"],
        )
        .expect("valid metric"),
    ),
    instance_up: register(
        IntGaugeVec::new(
            Opts::new(
                "onestop_upstream_instance_up",
                "1 when an instance receives traffic (healthy and not ejected).",
            ),
            &["dept", "service", "instance"],
        )
        .expect("valid metric"),
    ),
    ejections: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_upstream_ejections_total",
                "Passive-health ejections.",
            ),
            &["dept", "service", "instance"],
        )
        .expect("valid metric"),
    ),
    config_generation: register(
        IntGauge::new(
            "onestop_config_generation",
            "Generation of the applied snapshot.",
        )
        .expect("valid metric"),
    ),
    routes: register(
        IntGauge::new("onestop_routes", "Routes in the applied snapshot.").expect("valid metric"),
    ),
    config_rejected: register(
        IntCounter::new(
            "onestop_config_rejected_total",
            "Configurations rejected as invalid.",
        )
        .expect("valid metric"),
    ),
    auth_refused: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_auth_refused_total",
                "Requests refused by access control, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric"),
    ),
    overview_items: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_overview_items_total",
                "Citizen overview items, by department and outcome (ok, timeout, error, stale, no_data).",
            ),
            &["dept", "status"],
        )
        .expect("valid metric"),
    ),
    overview_item_duration: register(
        HistogramVec::new(
            HistogramOpts::new(
                "onestop_overview_item_duration_seconds",
                "Time until a citizen overview item answered or hit its deadline.",
            )
            .buckets(BUCKETS.to_vec()),
            &["dept"],
        )
        .expect("valid metric"),
    ),
}
});

/// The histogram of one route, resolved once when the route is compiled.
pub fn route_histogram(dept: &str, route: &str) -> Histogram {
    METRICS.duration.with_label_values(&[dept, route])
}

pub fn inflight_gauge(dept: &str) -> IntGauge {
    METRICS.inflight.with_label_values(&[dept])
}

/// The department service an instance belongs to (its metric labels).
#[derive(Clone, Copy)]
pub struct Service<'a> {
    pub dept: &'a str,
    pub service: &'a str,
}

fn instance_labels<'a>(spec: Service<'a>, addr: &'a str) -> [&'a str; 3] {
    [spec.dept, spec.service, addr]
}

pub fn instance_state(spec: Service<'_>, addr: SocketAddr, up: bool) {
    let addr = addr.to_string();
    METRICS
        .instance_up
        .with_label_values(&instance_labels(spec, &addr))
        .set(i64::from(up));
}

pub fn instance_ejected(spec: Service<'_>, addr: SocketAddr, duration: Duration) {
    warn!(dept = spec.dept, service = spec.service, instance = %addr,
        ejection_ms = duration.as_millis() as u64, "instance ejected after consecutive failures");
    let a = addr.to_string();
    METRICS
        .ejections
        .with_label_values(&instance_labels(spec, &a))
        .inc();
    METRICS
        .instance_up
        .with_label_values(&instance_labels(spec, &a))
        .set(0);
}

pub fn instance_readmitted(spec: Service<'_>, addr: SocketAddr, up: bool) {
    info!(dept = spec.dept, service = spec.service, instance = %addr, healthy = up,
        "instance re-admitted after ejection");
    instance_state(spec, addr, up);
}

pub fn instance_health_changed(spec: Service<'_>, addr: SocketAddr, healthy: bool) {
    if healthy {
        info!(dept = spec.dept, service = spec.service, instance = %addr, "instance healthy");
    } else {
        warn!(dept = spec.dept, service = spec.service, instance = %addr, "instance unhealthy");
    }
    instance_state(spec, addr, healthy);
}

pub fn shed(dept: &str, limit: usize) {
    warn!(
        dept,
        limit, "department at its concurrency limit; request shed"
    );
    METRICS.shed.with_label_values(&[dept]).inc();
}

pub fn retry(dept: &str, granted: bool) {
    let outcome = if granted {
        "retried"
    } else {
        "budget_exhausted"
    };
    METRICS.retries.with_label_values(&[dept, outcome]).inc();
}

pub fn config_applied(generation: u64, routes: usize, upstreams: usize) {
    info!(generation, routes, upstreams, "configuration applied");
    METRICS
        .config_generation
        .set(i64::try_from(generation).unwrap_or(i64::MAX));
    METRICS
        .routes
        .set(i64::try_from(routes).unwrap_or(i64::MAX));
}

/// A request refused by access control (the access log line carries the
/// request; this counts the reason).
pub fn auth_refused(reason: &str) {
    METRICS.auth_refused.with_label_values(&[reason]).inc();
}

/// One item of a citizen overview came out `status` after `elapsed`.
pub fn overview_item(
    dept: &str,
    status: &str,
    complete: bool,
    elapsed: Duration,
    error: Option<&str>,
) {
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    if complete {
        debug!(dept, status, elapsed_ms, "overview item");
    } else {
        warn!(dept, status, elapsed_ms, error, "overview item incomplete");
    }
    METRICS
        .overview_items
        .with_label_values(&[dept, status])
        .inc();
    METRICS
        .overview_item_duration
        .with_label_values(&[dept])
        .observe(elapsed.as_secs_f64());
}

pub fn config_rejected(problems: usize, first: &str) {
    warn!(
        problems,
        first, "configuration rejected; the running one keeps serving"
    );
    METRICS.config_rejected.inc();
}

/// One finished request: the JSON access-log line and the request metrics.
pub struct RequestDone<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub dept: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub upstream: Option<SocketAddr>,
    pub attempts: u32,
    pub duration: Duration,
    pub upstream_duration: Option<Duration>,
    pub error: Option<&'a str>,
    /// What the response cache did (HIT, MISS, STALE, BYPASS).
    pub cache: Option<&'a str>,
    pub histogram: Option<&'a Histogram>,
}

pub fn request_done(r: RequestDone<'_>) {
    let duration_ms = r.duration.as_secs_f64() * 1000.0;
    let upstream_ms = r.upstream_duration.map(|d| d.as_secs_f64() * 1000.0);
    info!(
        target: "onestop::access",
        request_id = r.request_id,
        method = r.method,
        path = r.path,
        dept = r.dept,
        route = r.route,
        status = r.status,
        upstream = r.upstream.map(tracing::field::display),
        attempts = r.attempts,
        duration_ms,
        upstream_ms,
        error = r.error,
        cache = r.cache,
    );
    let buf = itoa_status(r.status);
    let status = std::str::from_utf8(&buf[..]).unwrap_or("0");
    METRICS
        .requests
        .with_label_values(&[r.dept, r.route, status])
        .inc();
    match r.histogram {
        Some(h) => h.observe(r.duration.as_secs_f64()),
        None => route_histogram(r.dept, r.route).observe(r.duration.as_secs_f64()),
    }
}

fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + u8::try_from(s / 100).unwrap_or(0),
        b'0' + u8::try_from(s / 10 % 10).unwrap_or(0),
        b'0' + u8::try_from(s % 10).unwrap_or(0),
    ]
}

/// The public listener's connection metrics (`listener`).
pub struct ListenerMetrics {
    pub open: IntGauge,
    pub refused: IntCounterVec,
    pub timeouts: IntCounterVec,
    pub parser_refused: IntCounter,
}

pub static LISTENER: LazyLock<ListenerMetrics> = LazyLock::new(|| ListenerMetrics {
    open: register(
        IntGauge::new(
            "onestop_listener_connections",
            "Open connections on the public listener.",
        )
        .expect("valid metric"),
    ),
    refused: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_listener_refused_total",
                "Connections closed at accept, by limit (total, per_addr).",
            ),
            &["limit"],
        )
        .expect("valid metric"),
    ),
    timeouts: register(
        IntCounterVec::new(
            Opts::new(
                "onestop_listener_timeouts_total",
                "Connections or requests cut off by a listener timeout (header, body).",
            ),
            &["timeout"],
        )
        .expect("valid metric"),
    ),
    parser_refused: register(
        IntCounter::new(
            "onestop_listener_parser_refused_total",
            "Requests pingora's HTTP parser refused (answered 400/405 in the JSON shape).",
        )
        .expect("valid metric"),
    ),
});

/// A connection was closed at accept because a connection limit is reached.
pub fn connection_refused(limit: &'static str, max: usize) {
    debug!(
        limit,
        max, "connection limit reached; new connection closed"
    );
    LISTENER.refused.with_label_values(&[limit]).inc();
}

/// The number of open connections changed.
pub fn connections_open(open: usize) {
    LISTENER.open.set(i64::try_from(open).unwrap_or(i64::MAX));
}

/// A client did not send its request header (or the next body bytes) in time.
pub fn client_timed_out(timeout: &'static str) {
    debug!(timeout, "client too slow; cut off");
    LISTENER.timeouts.with_label_values(&[timeout]).inc();
}

/// A client's `x-request-id` was not in the accepted format (UUID or 32 hex
/// digits) and was replaced; its value is logged apart, escaped and cut to
/// 128 characters, so it can neither forge log lines nor pose as an id.
pub fn request_id_replaced(request_id: &str, client: &[u8]) {
    let shown: String = String::from_utf8_lossy(client)
        .escape_debug()
        .take(128)
        .collect();
    info!(
        target: "onestop::access",
        request_id,
        client_request_id = %shown,
        "client request id replaced"
    );
}

/// pingora's parser refused a request before any filter ran; the gateway
/// answered in its JSON shape under a fresh request id.
pub fn parser_refused(status: u16, request_id: &str) {
    info!(
        target: "onestop::access",
        request_id,
        status,
        "request refused by the HTTP parser"
    );
    LISTENER.parser_refused.inc();
}

/// A background cache refresh failed; the stale answer stays.
pub fn cache_refresh_failed(error: &dyn std::fmt::Display) {
    warn!(%error, "cache refresh failed; the stale answer stays");
}

/// An upstream's load balancer could not take its new instances.
pub fn balancer_update_failed(upstream: &str, error: &dyn std::fmt::Display) {
    warn!(upstream, %error, "load balancer update failed");
}
