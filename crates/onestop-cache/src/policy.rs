//! A route's cache policy, compiled from config, and the pure decision of
//! whether (and for how long) a department's answer may be stored.

use std::time::Duration;

use http::{HeaderMap, HeaderName};
use onestop_config::{CacheScope, RouteCache};

/// A route's cache policy, ready for the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub ttl: Duration,
    pub scope: CacheScope,
    /// Query parameters that are part of the key, sorted and deduplicated.
    pub query: Vec<String>,
    /// Request headers that are part of the key, sorted and deduplicated.
    pub vary: Vec<HeaderName>,
    pub max_body: u64,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
    pub override_upstream: bool,
    pub negative_ttl: Option<Duration>,
}

impl Policy {
    pub fn from_config(c: &RouteCache) -> Policy {
        let mut query = c.query.clone();
        query.sort();
        query.dedup();
        // Validation rejects names that are not header names; skip any
        // that slipped through rather than fail on the request path.
        let mut vary: Vec<HeaderName> = c
            .vary
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        vary.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        vary.dedup();
        Policy {
            ttl: c.ttl,
            scope: c.scope,
            query,
            vary,
            max_body: c.max_body_bytes,
            stale_while_revalidate: c.stale_while_revalidate.unwrap_or_default(),
            stale_if_error: c.stale_if_error.unwrap_or_default(),
            override_upstream: c.override_upstream,
            negative_ttl: c.negative_ttl,
        }
    }

    /// Whether a request must neither be answered from nor fill the cache:
    /// a shared (`public`) entry is never built from, or given to, a
    /// request carrying credentials the gateway did not consume (RFC 9111
    /// §3.5), since the department may answer it for that caller only.
    pub fn bypass(&self, headers: &HeaderMap, credentials_consumed: bool) -> bool {
        self.scope == CacheScope::Public
            && !credentials_consumed
            && (headers.contains_key(http::header::AUTHORIZATION)
                || headers.contains_key(http::header::COOKIE))
    }
}

/// Whether an answer is stored, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store it, fresh this long.
    Store { fresh: Duration },
    /// Do not store it; the reason is a metric label.
    Skip(&'static str),
}

/// Statuses cacheable by default (RFC 9110 §15.1), less those onestop
/// never caches (206: ranges are passed through).
const CACHEABLE: [u16; 6] = [200, 203, 204, 300, 301, 308];

/// Decides whether a department's answer to a GET may be stored.
///
/// Never stored, whatever the route says: other error statuses, answers
/// with `Set-Cookie`, `Vary: *` or a `Vary` on a header that is not part of
/// the key, and bodies declared larger than the route's limit. Unless the
/// route sets `override_upstream`, `Cache-Control: no-store`, `private` and
/// `no-cache` are honoured, and `s-maxage` (else `max-age`) sets freshness.
pub fn decide(policy: &Policy, status: u16, headers: &HeaderMap) -> Decision {
    let base = if CACHEABLE.contains(&status) {
        policy.ttl
    } else if status == 404 || status == 410 {
        match policy.negative_ttl {
            Some(t) => t,
            None => return Decision::Skip("status"),
        }
    } else {
        return Decision::Skip("status");
    };
    if headers.contains_key(http::header::SET_COOKIE) {
        return Decision::Skip("set_cookie");
    }
    for value in headers.get_all(http::header::VARY) {
        let Ok(value) = value.to_str() else {
            return Decision::Skip("vary");
        };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*"
                || !policy
                    .vary
                    .iter()
                    .any(|v| v.as_str().eq_ignore_ascii_case(name))
            {
                return Decision::Skip("vary");
            }
        }
    }
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && len > policy.max_body
    {
        return Decision::Skip("too_large");
    }
    if policy.override_upstream {
        return Decision::Store { fresh: base };
    }
    let cc = CacheControl::parse(headers);
    if cc.no_store || cc.private || cc.no_cache {
        return Decision::Skip("cache_control");
    }
    let fresh = match cc.s_maxage.or(cc.max_age) {
        Some(secs) => Duration::from_secs(secs),
        None => base,
    };
    if fresh.is_zero() {
        return Decision::Skip("cache_control");
    }
    Decision::Store { fresh }
}

/// The `Cache-Control` directives a shared cache acts on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheControl {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field. Unknown directives are ignored;
    /// a malformed `max-age` counts as 0 (RFC 9111 §4.2.1: stale).
    pub fn parse(headers: &HeaderMap) -> CacheControl {
        let mut cc = CacheControl::default();
        for value in headers.get_all(http::header::CACHE_CONTROL) {
            let Ok(value) = value.to_str() else {
                cc.no_store = true;
                continue;
            };
            for directive in value.split(',') {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let seconds = || arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => cc.no_store = true,
                    // `no-cache="field"` and `private="field"` restrict
                    // fields; onestop does not store such answers at all.
                    "no-cache" => cc.no_cache = true,
                    "private" => cc.private = true,
                    "max-age" => {
                        cc.max_age = Some(cc.max_age.map_or(seconds(), |m| m.min(seconds())))
                    }
                    "s-maxage" => {
                        cc.s_maxage = Some(cc.s_maxage.map_or(seconds(), |m| m.min(seconds())))
                    }
                    _ => {}
                }
            }
        }
        cc
    }
}
