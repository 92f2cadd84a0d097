//! What the admin API needs from the rest of the gateway, as traits the
//! binary implements. The admin crate is the HTTP edge only: operators'
//! authentication and roles, JSON shapes, the OpenAPI document; the work
//! (validating, writing, applying and versioning configuration; reading
//! traffic figures; purging the response cache) happens behind these
//! traits.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use onestop_cache::Purge;
use onestop_config::{Config, Diagnostic};
use onestop_control::{PurgeApplier, PurgeError, Purged};
use onestop_store::{ConfigVersion, ConfigVersionMeta};

/// The running configuration.
#[derive(Debug, Clone)]
pub struct ConfigSnapshot {
    /// The stored version it corresponds to (`None` until one is recorded,
    /// e.g. while the store is unreachable).
    pub version: Option<i64>,
    pub content_hash: String,
    /// Relative path (`onestop.toml`, `departments/hpf.toml`) → text.
    pub files: BTreeMap<String, String>,
    pub config: Arc<Config>,
    /// The data plane's snapshot generation.
    pub generation: u64,
}

/// A change an operator asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigChange {
    /// Replace (or create) `departments/{dept}.toml` with `text`.
    PutDepartmentFile { dept: String, text: String },
    /// Remove `departments/{dept}.toml`.
    DeleteDepartmentFile { dept: String },
    /// Replace (or add) the route `route` of `dept` with this JSON object
    /// (the route's TOML keys; `id` must equal `route` when present).
    PutRoute {
        dept: String,
        route: String,
        body: serde_json::Value,
    },
    /// Remove the route `route` of `dept`.
    DeleteRoute { dept: String, route: String },
    /// Go back to version `to` (the one before the current when `None`).
    Rollback { to: Option<i64> },
    /// Re-read the files (e.g. after editing them by hand).
    Reload,
}

impl ConfigChange {
    /// The department whose file the change touches, for scoped operators.
    /// `None` for changes that may touch any file.
    pub fn department(&self) -> Option<&str> {
        match self {
            ConfigChange::PutDepartmentFile { dept, .. }
            | ConfigChange::DeleteDepartmentFile { dept }
            | ConfigChange::PutRoute { dept, .. }
            | ConfigChange::DeleteRoute { dept, .. } => Some(dept),
            ConfigChange::Rollback { .. } | ConfigChange::Reload => None,
        }
    }
}

/// Who makes a change, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub operator: String,
    pub message: String,
}

/// A change that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The version now running.
    pub version: i64,
    pub content_hash: String,
    /// The data plane's snapshot generation after the change.
    pub generation: u64,
    /// The content equals the running version: nothing was recorded.
    pub unchanged: bool,
}

/// Why a change did not take effect. The running configuration is untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("the configuration is invalid ({} problems)", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The last configuration that was rejected, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub at_ms: i64,
    /// `file change`, `sighup`, `api`, …
    pub trigger: String,
    pub problems: Vec<String>,
}

/// Hot-reload bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    pub generation: u64,
    pub version: Option<i64>,
    pub applied_total: u64,
    pub rejected_total: u64,
    pub last_rejection: Option<Rejection>,
}

/// Configuration versions and changes, implemented by the binary.
#[async_trait]
pub trait ConfigBackend: Send + Sync + 'static {
    fn current(&self) -> ConfigSnapshot;
    async fn versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>, ChangeError>;
    async fn version(&self, version: i64) -> Result<Option<ConfigVersion>, ChangeError>;
    /// Validates, writes the files, applies and records a version.
    async fn change(&self, change: ConfigChange, author: &Author) -> Result<Applied, ChangeError>;
    fn status(&self) -> ReloadStatus;
}

/// Traffic figures of one upstream service, from the data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStats {
    pub dept: String,
    pub service: String,
    pub instances: usize,
    /// Instances that are healthy and not ejected.
    pub healthy: usize,
    /// Epoch ms of the last request routed to it (`None`: none since start).
    pub last_request_ms: Option<i64>,
    pub requests: u64,
}

/// Whether one instance of an upstream service receives traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceHealth {
    pub dept: String,
    pub service: String,
    pub addr: String,
    /// Healthy and not ejected.
    pub up: bool,
}

/// Read-only figures from the data plane.
pub trait TrafficStats: Send + Sync + 'static {
    fn upstreams(&self) -> Vec<UpstreamStats>;
    /// Epoch ms when this process started serving (for "no traffic since").
    fn started_ms(&self) -> i64;
    /// Every instance the data plane routes to, with its health (the
    /// console's routing page). None by default.
    fn instances(&self) -> Vec<InstanceHealth> {
        Vec::new()
    }
}

/// The response cache: purges and figures.
#[async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    /// Checks, records (for every gateway sharing the store) and applies a
    /// purge of `dept`'s entries; when it returns, this gateway's cache
    /// holds none of them. `requested_by` is `operator:<name>`.
    async fn purge(
        &self,
        dept: &str,
        purge: &Purge,
        requested_by: &str,
    ) -> Result<Purged, PurgeError>;
    /// The cache's size and per-route counters.
    fn stats(&self) -> onestop_cache::Stats;
}

/// The gateway's purge applier is the backend: it holds the cache.
#[async_trait]
impl CacheBackend for PurgeApplier {
    async fn purge(
        &self,
        dept: &str,
        purge: &Purge,
        requested_by: &str,
    ) -> Result<Purged, PurgeError> {
        PurgeApplier::purge(self, dept, purge, requested_by).await
    }

    fn stats(&self) -> onestop_cache::Stats {
        self.cache().stats()
    }
}
