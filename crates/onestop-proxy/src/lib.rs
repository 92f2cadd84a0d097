//! onestop's data plane.
//!
//! One pingora [`ProxyHttp`](pingora_proxy::ProxyHttp) implementation
//! ([`proxy::Gateway`]) whose phases call small modules: [`router`] (pure
//! route table), [`upstream`] (load balancing, active and passive health),
//! [`dept`] (concurrency limit, retry budget), [`catalog`], [`request`]
//! (pure request checks). The request path reads an immutable
//! [`snapshot::Snapshot`] through `ArcSwap`; the [`snapshot::Compiler`]
//! builds new ones off the request path.

pub mod access;
pub mod builtin;
pub mod cache;
pub mod catalog;
pub mod compile_error;
pub mod dept;
pub mod events;
pub mod forward;
mod grpc_health;
pub mod grpc_web;
pub mod hygiene;
pub mod internal;
pub mod listener;
pub mod outlier;
pub mod overview;
pub mod proxy;
pub mod request;
pub mod respond;
pub mod retry;
pub mod router;
pub mod snapshot;
pub mod transcode;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use onestop_config::Config;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::sync::Mutex;

pub use proxy::Gateway;
pub use snapshot::{CompileError, Compiler, Snapshot};

/// The live data plane: the current snapshot and the compiler that replaces it.
#[derive(Clone)]
pub struct DataPlane {
    snapshot: Arc<ArcSwap<Snapshot>>,
    compiler: Arc<Mutex<Compiler>>,
    limiter: Arc<onestop_ratelimit::Limiter>,
    departments: Arc<ArcSwap<HashMap<String, String>>>,
    cache: onestop_cache::ResponseCache,
}

impl Default for DataPlane {
    fn default() -> Self {
        DataPlane::new(onestop_ratelimit::Limiter::local())
    }
}

impl DataPlane {
    /// A data plane counting rate limits with `limiter` (local, or Redis
    /// with a local fallback).
    pub fn new(limiter: onestop_ratelimit::Limiter) -> DataPlane {
        DataPlane {
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            compiler: Arc::new(Mutex::new(Compiler::default())),
            limiter: Arc::new(limiter),
            departments: Arc::new(ArcSwap::from_pointee(HashMap::new())),
            cache: onestop_cache::ResponseCache::new(
                onestop_config::CacheSettings::default().max_bytes,
            ),
        }
    }

    /// Replaces the response cache (before serving: `[cache] max_bytes`).
    pub fn with_cache(mut self, cache: onestop_cache::ResponseCache) -> DataPlane {
        self.cache = cache;
        self
    }

    /// The response cache (purges and stats).
    pub fn cache(&self) -> onestop_cache::ResponseCache {
        self.cache.clone()
    }

    /// Department credentials (token SHA-256 → department) for routes with
    /// `auth = "department"`; the registry keeps them current.
    pub fn set_department_tokens(&self, tokens: HashMap<String, String>) {
        self.departments.store(Arc::new(tokens));
    }

    /// The identity of the current snapshot (the JWKS refresher uses it).
    pub fn identity(&self) -> Option<Arc<access::Identity>> {
        self.snapshot.load().access.identity.clone()
    }

    /// Compiles `config` and swaps it in atomically. In-flight requests keep
    /// the snapshot they started with. Returns the new generation.
    pub async fn apply(&self, config: &Config) -> Result<u64, CompileError> {
        let mut compiler = self.compiler.lock().await;
        let snapshot = compiler.compile(config).await?;
        let generation = snapshot.generation;
        self.snapshot.store(Arc::new(snapshot));
        Ok(generation)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Traffic figures of every upstream of the current snapshot.
    pub fn upstream_summaries(&self) -> Vec<UpstreamSummary> {
        let snapshot = self.snapshot.load();
        let mut out: Vec<UpstreamSummary> = snapshot
            .upstreams
            .iter()
            .map(|u| UpstreamSummary {
                dept: u.spec.dept.to_string(),
                service: u.spec.service.to_string(),
                instances: u.instances().len(),
                healthy: u.healthy_instances(),
                last_request_age: u.last_request_age(),
                requests: u.requests(),
            })
            .collect();
        out.sort_by(|a, b| (&a.dept, &a.service).cmp(&(&b.dept, &b.service)));
        out
    }

    /// The proxy for the public listener at `public` (its address is where
    /// background cache refreshes are sent).
    pub fn gateway(&self, upstream_idle: Duration, public: Option<SocketAddr>) -> Gateway {
        Gateway::new(
            self.snapshot.clone(),
            upstream_idle,
            self.limiter.clone(),
            self.departments.clone(),
            self.cache.clone(),
            public,
        )
    }

    /// The background service that runs active health checks and re-admits
    /// ejected instances.
    pub fn health_service(&self) -> HealthLoop {
        HealthLoop {
            snapshot: self.snapshot.clone(),
            tick: Duration::from_millis(100),
        }
    }
}

/// Traffic figures of one upstream (for the zombie report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSummary {
    pub dept: String,
    pub service: String,
    pub instances: usize,
    pub healthy: usize,
    /// How long ago a request was last routed to it (`None`: never).
    pub last_request_age: Option<Duration>,
    pub requests: u64,
}

/// Walks the current snapshot's upstreams every tick; each runs its active
/// check when due (its own interval) and re-admits lapsed ejections.
pub struct HealthLoop {
    snapshot: Arc<ArcSwap<Snapshot>>,
    tick: Duration,
}

impl HealthLoop {
    /// One tick: re-admit lapsed ejections and start every due active check,
    /// each on its own task so a slow probe never delays the others.
    pub fn tick(&self) {
        let snapshot = self.snapshot.load_full();
        for upstream in &snapshot.upstreams {
            upstream.readmit_lapsed();
            if upstream.claim_health_check() {
                let upstream = upstream.clone();
                tokio::spawn(async move { upstream.run_health_check().await });
            }
        }
    }

    /// Checks every upstream now and waits for the results (start-up readiness).
    pub async fn check_all_now(&self) {
        let snapshot = self.snapshot.load_full();
        let checks = snapshot
            .upstreams
            .iter()
            .filter(|u| u.claim_health_check())
            .map(|u| u.run_health_check());
        futures::future::join_all(checks).await;
    }
}

#[async_trait]
impl BackgroundService for HealthLoop {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut interval = tokio::time::interval(self.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = interval.tick() => self.tick(),
            }
        }
    }
}
