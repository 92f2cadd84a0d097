//! Response cache settings: the gateway's memory budget (`[cache]`) and a
//! route's cache policy (`cache = { … }` on a route).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[cache]`: the response cache of this gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Memory the cached responses may use (headers, bodies and keys), in
    /// bytes. Least recently used entries are evicted beyond it.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_bytes: default_max_bytes(),
        }
    }
}

fn default_max_bytes() -> u64 {
    256 * 1024 * 1024
}

/// Whose answer a cached response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    /// One answer for everybody (a catalog, a price list).
    #[default]
    Public,
    /// One answer per citizen: the key includes the verified citizen id.
    /// Requires `auth = "citizen"`.
    Citizen,
}

/// A route's cache policy. GET and HEAD only (HEAD is answered from GET
/// entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCache {
    /// How long a response is fresh (unless the department's
    /// `Cache-Control` says otherwise and `override_upstream` is false).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ttl: Duration,
    #[serde(default)]
    pub scope: CacheScope,
    /// Query parameters that are part of the key (in canonical order); the
    /// others are ignored for caching.
    #[serde(default)]
    pub query: Vec<String>,
    /// Request headers that are part of the key (e.g. `accept-language`).
    #[serde(default)]
    pub vary: Vec<String>,
    /// Larger bodies are not cached.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// After `ttl`, serve the stale answer this long while one background
    /// request refreshes it.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub stale_while_revalidate: Option<Duration>,
    /// After `ttl`, serve the stale answer this long when the department
    /// times out, errs (5xx) or cannot be reached.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub stale_if_error: Option<Duration>,
    /// Use `ttl` whatever the department's `Cache-Control` says (no-store,
    /// private, max-age, s-maxage are honoured otherwise).
    #[serde(default)]
    pub override_upstream: bool,
    /// Cache 404 and 410 answers this long (negative caching); other error
    /// statuses are never cached.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub negative_ttl: Option<Duration>,
}

impl RouteCache {
    /// A policy caching answers for `ttl`, every other setting at its default.
    pub fn with_ttl(ttl: Duration) -> RouteCache {
        RouteCache {
            ttl,
            scope: CacheScope::Public,
            query: Vec::new(),
            vary: Vec::new(),
            max_body_bytes: default_max_body(),
            stale_while_revalidate: None,
            stale_if_error: None,
            override_upstream: false,
            negative_ttl: None,
        }
    }
}

fn default_max_body() -> u64 {
    1024 * 1024
}
