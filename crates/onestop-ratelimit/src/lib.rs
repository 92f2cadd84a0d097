//! Rate limits of onestop: per citizen, per channel and per route.
//!
//! A [`Limiter`] checks and counts one request against a key (e.g.
//! `citizen:110…`, `route:hpf/balance`, `channel:super-app/hpf/balance`) at
//! a [`Rate`], with GCRA (the generic cell rate algorithm: `per_second`
//! sustained, `burst` at once; no counters to reset, one timestamp per key).
//!
//! - **Local** ([`Limiter::local`]): governor keyed limiters in this process.
//! - **Cluster-wide** ([`Limiter::with_redis`]): one Lua script in Redis
//!   (`gcra.lua`) keeps each key's theoretical arrival time on the Redis
//!   server's clock, so every gateway sharing the Redis counts together.
//!
//! ```text
//!  check(scope, key, rate)
//!    ├─ Redis up? ──yes──► EVALSHA gcra.lua  (≤ timeout, 25 ms)
//!    │                       ├─ answer ─────────────► decision
//!    │                       └─ error / timeout ─┐    (redis_errors_total;
//!    │                                           │     first one: warn,
//!    └─ no ────────────────────────────────────► local GCRA ─► decision
//!                                                     fallback_total, mode Local)
//!  background thread: connect; PING every probe_interval ─► mode Redis again (info)
//! ```
//!
//! **Never stalled by Redis.** The request path reads one atomic to know
//! where to count. Only while Redis is up does it call Redis, bounded by
//! `RedisOptions::timeout`; a failure or timeout decides that request
//! locally and switches to local counting. From then on no request touches
//! Redis: a background probe (PING every `probe_interval`) switches back
//! when Redis answers within the timeout. No check ever returns an error.
//!
//! **Threads.** Each limiter owns one background thread
//! (`onestop-ratelimit`) running a small current-thread Tokio runtime: it
//! connects to Redis, probes it, and every few seconds drops local keys whose
//! state equals a fresh one (`retain_recent`), so local memory is bounded by
//! the keys active within one burst window. So a limiter can be built
//! outside any runtime (e.g. while the pingora server is being assembled);
//! `check` must run on a Tokio runtime with the time driver enabled (every
//! pingora runtime is one).
//!
//! Events (log line + metric in one place) are in `events`:
//! `onestop_ratelimit_limited_total{scope}`,
//! `onestop_ratelimit_fallback_total`, `onestop_ratelimit_redis_up`,
//! `onestop_ratelimit_redis_errors_total`.

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

mod background;
mod cluster;
mod events;
mod local;

use cluster::Cluster;
use local::LocalLimits;

/// A GCRA rate: `per_second` sustained, `burst` at once.
///
/// Values below 1 count as 1. From the configuration:
/// `Rate { per_second: limit.per_second, burst: limit.burst() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests admitted at once (after a quiet spell).
    pub burst: u32,
}

impl Rate {
    fn normalized(self) -> Rate {
        Rate {
            per_second: self.per_second.max(1),
            burst: self.burst.max(1),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted, and counted.
    Allowed,
    /// Refused (not counted): the same key conforms again after `retry_after`.
    Limited {
        /// Time until a request on the same key would be admitted
        /// (rounded up to whole milliseconds when Redis decided).
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request was admitted.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// Where requests are counted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In Redis, together with every gateway sharing it.
    Redis,
    /// In this process only: a local limiter, or Redis not (yet) reachable.
    Local,
}

/// Settings of a Redis-backed limiter.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Keys are `<prefix>:<key>`. Default `onestop:rl`; tests sharing one
    /// Redis use their own.
    pub prefix: String,
    /// Longest wait for Redis on the request path; on expiry the request is
    /// decided locally and counting switches to local. Default 25 ms.
    pub timeout: Duration,
    /// How often the background thread pings Redis (and, while counting
    /// locally, how soon it notices Redis is back). Default 1 s; at least 10 ms.
    pub probe_interval: Duration,
    /// Longest wait to establish a connection (background only). Default 1 s.
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "onestop:rl".to_string(),
            timeout: Duration::from_millis(25),
            probe_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// What can go wrong building a limiter. Checking never fails.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The Redis URL does not parse (`redis://host:port/db`).
    #[error("invalid Redis URL: {0}")]
    InvalidRedisUrl(#[source] redis::RedisError),
    /// The background thread (connection, probe) could not be started.
    #[error("cannot start the rate-limit background thread: {0}")]
    Background(#[source] std::io::Error),
}

/// Rate limits, counted locally or in Redis. Cheap to clone (one `Arc`);
/// the background thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    local: LocalLimits,
    cluster: Option<Cluster>,
    /// Dropped with the limiter, which stops the background thread.
    _stop: oneshot::Sender<()>,
}

/// How often local keys with a fresh state are dropped.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(10);

impl Limiter {
    /// A limiter that counts in this process only.
    pub fn local() -> Limiter {
        let (stop, stopped) = oneshot::channel();
        let inner = Arc::new(Inner {
            local: LocalLimits::default(),
            cluster: None,
            _stop: stop,
        });
        if let Err(error) = background::spawn(Arc::downgrade(&inner), stopped, CLEANUP_INTERVAL) {
            // Still a working limiter; only the memory cleanup is missing.
            events::background_not_started(&error);
        }
        Limiter { inner }
    }

    /// A limiter that counts in Redis (cluster-wide), falling back to local
    /// counting while Redis is unreachable or slower than `opts.timeout`.
    ///
    /// Connecting happens in the background: the limiter counts locally
    /// until Redis answers. Fails only on a URL that does not parse, or if
    /// the background thread cannot be started.
    pub fn with_redis(url: &str, opts: RedisOptions) -> Result<Limiter, LimitError> {
        let client = redis::Client::open(url).map_err(LimitError::InvalidRedisUrl)?;
        let (stop, stopped) = oneshot::channel();
        let inner = Arc::new(Inner {
            local: LocalLimits::default(),
            cluster: Some(Cluster::new(client, &opts)),
            _stop: stop,
        });
        background::spawn(Arc::downgrade(&inner), stopped, opts.probe_interval)
            .map_err(LimitError::Background)?;
        Ok(Limiter { inner })
    }

    /// Checks and counts one request against `key` at `rate`. `scope`
    /// labels `onestop_ratelimit_limited_total` (`"citizen"`, `"channel"`,
    /// `"route"`); keys of different scopes should differ (prefix them).
    ///
    /// Never fails and never waits longer than `RedisOptions::timeout`
    /// (local limiters do not wait at all).
    pub async fn check(&self, scope: &'static str, key: &str, rate: Rate) -> Decision {
        let inner = &*self.inner;
        let decision = match &inner.cluster {
            Some(cluster) if cluster.is_up() => match cluster.check(key, rate).await {
                Ok(decision) => decision,
                Err(failure) => {
                    cluster.failed(&failure);
                    inner.local.check(key, rate)
                }
            },
            _ => inner.local.check(key, rate),
        };
        if !decision.is_allowed() {
            events::limited(scope);
        }
        decision
    }

    /// Where counting happens now.
    pub fn mode(&self) -> Mode {
        match &self.inner.cluster {
            Some(cluster) if cluster.is_up() => Mode::Redis,
            _ => Mode::Local,
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("redis", &self.inner.cluster.is_some())
            .field("mode", &self.mode())
            .finish()
    }
}

#[cfg(test)]
mod tests;
