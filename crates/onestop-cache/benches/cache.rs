//! Cost of the cache on the request path: building a key, a hit, and
//! deciding whether an answer is storable.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use onestop_cache::{Entry, Key, KeyParts, Lookup, Origin, Policy, ResponseCache, decide};
use onestop_config::{CacheScope, RouteCache};

fn policy() -> Policy {
    Policy::from_config(&RouteCache {
        ttl: Duration::from_secs(60),
        scope: CacheScope::Citizen,
        query: vec!["year".into(), "month".into()],
        vary: vec!["accept-language".into()],
        max_body_bytes: 1 << 20,
        stale_while_revalidate: Some(Duration::from_secs(30)),
        stale_if_error: Some(Duration::from_secs(300)),
        override_upstream: false,
        negative_ttl: None,
    })
}

fn bench(c: &mut Criterion) {
    let p = policy();
    let mut headers = HeaderMap::new();
    headers.insert("accept-language", HeaderValue::from_static("zh-CN"));
    let parts = || KeyParts {
        route: "hpf/balance",
        path: "/api/v1/depts/hpf/citizens/110101199003070000/balance",
        query: Some("month=3&year=2026&utm_source=app"),
        headers: &headers,
        citizen: Some("110101199003070000"),
    };
    c.bench_function("cache/key_build", |b| {
        b.iter(|| Key::build(black_box(&p), black_box(parts())).unwrap())
    });

    let cache = ResponseCache::new(256 << 20);
    let mut response = HeaderMap::new();
    response.insert("content-type", HeaderValue::from_static("application/json"));
    response.insert("cache-control", HeaderValue::from_static("max-age=30"));
    let keys: Vec<Key> = (0..10_000)
        .map(|i| {
            let path = format!("/api/v1/depts/hpf/citizens/{i}/balance");
            Key::build(
                &p,
                KeyParts {
                    path: &path,
                    ..parts()
                },
            )
            .unwrap()
        })
        .collect();
    for (i, k) in keys.iter().enumerate() {
        let e = Entry::new(
            Origin {
                dept: "hpf".into(),
                route: "balance".into(),
                path: format!("/api/v1/depts/hpf/citizens/{i}/balance").into(),
            },
            200,
            &response,
            Bytes::from(vec![b'x'; 512]),
            &p,
            Duration::from_secs(60),
            Instant::now(),
        );
        cache.insert(k.clone(), e);
    }
    let mut i = 0;
    c.bench_function("cache/lookup_hit_10k_entries", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            match cache.lookup(&keys[i], Instant::now()) {
                Lookup::Fresh(e) => black_box(e),
                _ => panic!("expected a hit"),
            }
        })
    });
    c.bench_function("cache/decide", |b| {
        b.iter(|| decide(black_box(&p), 200, black_box(&response)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
