//! Fixtures for tests of the crates around the cache (purges, admin).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use onestop_config::RouteCache;

use crate::{Entry, Key, KeyParts, Lookup, Origin, Policy, ResponseCache, TAG_HEADER};

/// Stores a fresh (5 min) JSON answer of `dept`'s route `route` for
/// `path`, tagged `tags` (as a department's `Cache-Tag`); returns its key.
pub fn put(cache: &ResponseCache, dept: &str, route: &str, path: &str, tags: &str) -> Key {
    let policy = Policy::from_config(&RouteCache::with_ttl(Duration::from_secs(300)));
    let route_id = format!("{dept}/{route}");
    let none = HeaderMap::new();
    let parts = KeyParts {
        route: &route_id,
        path,
        query: None,
        headers: &none,
        citizen: None,
    };
    // A public-scope key needs no citizen: this cannot fail.
    let Ok(key) = Key::build(&policy, parts) else {
        unreachable!("public keys always build")
    };
    let mut answer = HeaderMap::new();
    answer.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(tags)
        && !tags.is_empty()
    {
        answer.insert(TAG_HEADER, v);
    }
    let origin = Origin {
        dept: dept.into(),
        route: route.into(),
        path: path.into(),
    };
    let entry = Entry::new(
        origin,
        200,
        &answer,
        Bytes::from_static(b"{\"ok\":true}"),
        &policy,
        policy.ttl,
        Instant::now(),
    );
    cache.insert(key.clone(), entry);
    key
}

/// Whether `key` is cached and fresh.
pub fn cached(cache: &ResponseCache, key: &Key) -> bool {
    matches!(cache.lookup(key, Instant::now()), Lookup::Fresh(_))
}
