//! Per-route cache metrics. Each [`crate::ResponseCache`] has its own
//! collectors (so tests with several caches do not mix figures); the
//! gateway registers them once with [`crate::ResponseCache::register`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};
use serde::Serialize;

/// What the cache did for a request (the `x-onestop-cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Answered from a fresh entry.
    Hit,
    /// Asked the department (and stored the answer if it could).
    Miss,
    /// Answered from a stale entry (stale-while-revalidate, or the
    /// department failed within stale-if-error).
    Stale,
    /// The request may not use the cache (credentials on a shared route).
    Bypass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Hit => "HIT",
            Status::Miss => "MISS",
            Status::Stale => "STALE",
            Status::Bypass => "BYPASS",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Status::Hit => "hit",
            Status::Miss => "miss",
            Status::Stale => "stale",
            Status::Bypass => "bypass",
        }
    }
}

pub(crate) struct Metrics {
    lookups: IntCounterVec,
    coalesced: IntCounterVec,
    evictions: IntCounterVec,
    not_stored: IntCounterVec,
    bytes: IntGaugeVec,
    entries: IntGaugeVec,
    routes: RwLock<HashMap<RouteId, Arc<RouteCounters>>>,
}

/// `(dept, route)`.
type RouteId = (Arc<str>, Arc<str>);

/// One route's counters.
pub struct RouteCounters {
    hit: IntCounter,
    miss: IntCounter,
    stale: IntCounter,
    bypass: IntCounter,
    coalesced: IntCounter,
    bytes: IntGauge,
    entries: IntGauge,
}

impl RouteCounters {
    pub fn record(&self, status: Status) {
        match status {
            Status::Hit => self.hit.inc(),
            Status::Miss => self.miss.inc(),
            Status::Stale => self.stale.inc(),
            Status::Bypass => self.bypass.inc(),
        }
    }

    /// A request waited for another's answer instead of asking the department.
    pub fn coalesced(&self) {
        self.coalesced.inc();
    }
}

/// One route's figures, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteStats {
    pub dept: String,
    pub route: String,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypass: u64,
    pub coalesced: u64,
    pub evictions: u64,
    pub entries: i64,
    pub bytes: i64,
}

fn labels(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        // The names and labels are constants: these cannot fail.
        #[allow(clippy::expect_used)]
        let m = Metrics {
            lookups: IntCounterVec::new(
                labels(
                    "onestop_cache_requests_total",
                    "Cacheable requests by department, route and result (hit, miss, stale, bypass).",
                ),
                &["dept", "route", "result"],
            )
            .expect("valid metric"),
            coalesced: IntCounterVec::new(
                labels(
                    "onestop_cache_coalesced_total",
                    "Requests that waited for another request's answer instead of asking the department.",
                ),
                &["dept", "route"],
            )
            .expect("valid metric"),
            evictions: IntCounterVec::new(
                labels(
                    "onestop_cache_evictions_total",
                    "Entries removed, by cause (size, expired, purged, replaced).",
                ),
                &["dept", "route", "cause"],
            )
            .expect("valid metric"),
            not_stored: IntCounterVec::new(
                labels(
                    "onestop_cache_not_stored_total",
                    "Answers that were not stored, by reason.",
                ),
                &["dept", "route", "reason"],
            )
            .expect("valid metric"),
            bytes: IntGaugeVec::new(
                labels("onestop_cache_bytes", "Bytes of cached answers."),
                &["dept", "route"],
            )
            .expect("valid metric"),
            entries: IntGaugeVec::new(
                labels("onestop_cache_entries", "Cached answers."),
                &["dept", "route"],
            )
            .expect("valid metric"),
            routes: RwLock::new(HashMap::new()),
        };
        m
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.lookups.clone()),
            Box::new(self.coalesced.clone()),
            Box::new(self.evictions.clone()),
            Box::new(self.not_stored.clone()),
            Box::new(self.bytes.clone()),
            Box::new(self.entries.clone()),
        ]
    }

    pub(crate) fn route(&self, dept: &Arc<str>, route: &Arc<str>) -> Arc<RouteCounters> {
        let key = (dept.clone(), route.clone());
        if let Ok(routes) = self.routes.read()
            && let Some(c) = routes.get(&key)
        {
            return c.clone();
        }
        let (d, r) = (&**dept, &**route);
        let counters = Arc::new(RouteCounters {
            hit: self.lookups.with_label_values(&[d, r, Status::Hit.label()]),
            miss: self
                .lookups
                .with_label_values(&[d, r, Status::Miss.label()]),
            stale: self
                .lookups
                .with_label_values(&[d, r, Status::Stale.label()]),
            bypass: self
                .lookups
                .with_label_values(&[d, r, Status::Bypass.label()]),
            coalesced: self.coalesced.with_label_values(&[d, r]),
            bytes: self.bytes.with_label_values(&[d, r]),
            entries: self.entries.with_label_values(&[d, r]),
        });
        match self.routes.write() {
            Ok(mut routes) => routes.entry(key).or_insert(counters).clone(),
            Err(_) => counters,
        }
    }

    pub(crate) fn stored(&self, dept: &Arc<str>, route: &Arc<str>, weight: u64) {
        let c = self.route(dept, route);
        c.bytes.add(i64::try_from(weight).unwrap_or(i64::MAX));
        c.entries.inc();
    }

    pub(crate) fn removed(&self, dept: &Arc<str>, route: &Arc<str>, weight: u64, cause: &str) {
        let c = self.route(dept, route);
        c.bytes.sub(i64::try_from(weight).unwrap_or(i64::MAX));
        c.entries.dec();
        self.evictions
            .with_label_values(&[&**dept, &**route, cause])
            .inc();
    }

    pub(crate) fn not_stored(&self, dept: &str, route: &str, reason: &str) {
        self.not_stored
            .with_label_values(&[dept, route, reason])
            .inc();
    }

    pub(crate) fn stats(&self) -> Vec<RouteStats> {
        let Ok(routes) = self.routes.read() else {
            return Vec::new();
        };
        let mut out: Vec<RouteStats> = routes
            .iter()
            .map(|((dept, route), c)| {
                let evictions = ["size", "expired", "purged"]
                    .iter()
                    .map(|cause| {
                        self.evictions
                            .with_label_values(&[&**dept, &**route, cause])
                            .get()
                    })
                    .sum();
                RouteStats {
                    dept: dept.to_string(),
                    route: route.to_string(),
                    hits: c.hit.get(),
                    misses: c.miss.get(),
                    stale: c.stale.get(),
                    bypass: c.bypass.get(),
                    coalesced: c.coalesced.get(),
                    evictions,
                    entries: c.entries.get(),
                    bytes: c.bytes.get(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.dept, &a.route).cmp(&(&b.dept, &b.route)));
        out
    }
}
