#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use onestop_config::{CacheScope, RouteCache};

use super::*;

fn config(ttl: u64) -> RouteCache {
    RouteCache::with_ttl(Duration::from_secs(ttl))
}

fn policy(ttl: u64) -> Policy {
    Policy::from_config(&config(ttl))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn key(policy: &Policy, path: &str, query: Option<&str>, citizen: Option<&str>) -> Key {
    Key::build(
        policy,
        KeyParts {
            route: "water/bills",
            path,
            query,
            headers: &HeaderMap::new(),
            citizen,
        },
    )
    .unwrap()
}

fn entry(dept: &str, path: &str, tags: &str, body: &str, policy: &Policy) -> Entry {
    let mut h = headers(&[("content-type", "application/json")]);
    if !tags.is_empty() {
        h.insert(TAG_HEADER, HeaderValue::from_str(tags).unwrap());
    }
    Entry::new(
        Origin {
            dept: dept.into(),
            route: "bills".into(),
            path: path.into(),
        },
        200,
        &h,
        Bytes::from(body.to_string()),
        policy,
        policy.ttl,
        Instant::now(),
    )
}

#[test]
fn query_parameters_are_canonical_and_chosen() {
    let p = Policy::from_config(&RouteCache {
        query: vec!["year".into(), "month".into()],
        ..config(10)
    });
    let a = key(&p, "/b", Some("year=2026&month=1&utm=x"), None);
    let b = key(&p, "/b", Some("month=1&year=2026"), None);
    let c = key(&p, "/b", Some("month=%31&year=2026&other=y"), None);
    assert_eq!(a, b, "order and unchosen parameters do not matter");
    assert_eq!(a, c, "percent-encoding does not matter");
    assert_ne!(a, key(&p, "/b", Some("year=2025&month=1"), None));
    assert_ne!(a, key(&p, "/c", Some("year=2026&month=1"), None));
}

#[test]
fn parts_cannot_run_into_each_other() {
    let p = policy(10);
    let k1 = Key::build(
        &p,
        KeyParts {
            route: "a/b",
            path: "/c",
            query: None,
            headers: &HeaderMap::new(),
            citizen: None,
        },
    )
    .unwrap();
    let k2 = Key::build(
        &p,
        KeyParts {
            route: "a",
            path: "b/c",
            query: None,
            headers: &HeaderMap::new(),
            citizen: None,
        },
    )
    .unwrap();
    assert_ne!(k1, k2);
}

#[test]
fn citizen_scope_keys_by_verified_citizen() {
    let p = Policy::from_config(&RouteCache {
        scope: CacheScope::Citizen,
        ..config(10)
    });
    assert_ne!(
        key(&p, "/me/fund", None, Some("A")),
        key(&p, "/me/fund", None, Some("B"))
    );
    let none = Key::build(
        &p,
        KeyParts {
            route: "r",
            path: "/p",
            query: None,
            headers: &HeaderMap::new(),
            citizen: None,
        },
    );
    assert_eq!(none, Err(KeyError::NoCitizen));
}

#[test]
fn vary_headers_are_part_of_the_key() {
    let p = Policy::from_config(&RouteCache {
        vary: vec!["Accept-Language".into()],
        ..config(10)
    });
    let with = |lang: &str| {
        Key::build(
            &p,
            KeyParts {
                route: "r",
                path: "/p",
                query: None,
                headers: &headers(&[("accept-language", lang)]),
                citizen: None,
            },
        )
        .unwrap()
    };
    assert_eq!(with("zh-CN"), with("zh-CN"));
    assert_ne!(with("zh-CN"), with("en"));
}

#[test]
fn upstream_cache_control_is_honoured() {
    let p = policy(60);
    let d = |pairs: &[(&str, &str)]| decide(&p, 200, &headers(pairs));
    assert_eq!(
        d(&[]),
        Decision::Store {
            fresh: Duration::from_secs(60)
        }
    );
    assert_eq!(
        d(&[("cache-control", "no-store")]),
        Decision::Skip("cache_control")
    );
    assert_eq!(
        d(&[("cache-control", "Private")]),
        Decision::Skip("cache_control")
    );
    assert_eq!(
        d(&[("cache-control", "no-cache")]),
        Decision::Skip("cache_control")
    );
    assert_eq!(
        d(&[("cache-control", "max-age=0")]),
        Decision::Skip("cache_control")
    );
    assert_eq!(
        d(&[("cache-control", "public, max-age=5")]),
        Decision::Store {
            fresh: Duration::from_secs(5)
        }
    );
    assert_eq!(
        d(&[("cache-control", "max-age=5, s-maxage=7")]),
        Decision::Store {
            fresh: Duration::from_secs(7)
        }
    );
    let forced = Policy {
        override_upstream: true,
        ..p.clone()
    };
    assert_eq!(
        decide(
            &forced,
            200,
            &headers(&[("cache-control", "no-store, max-age=1")])
        ),
        Decision::Store {
            fresh: Duration::from_secs(60)
        }
    );
}

#[test]
fn never_cached_whatever_the_route_says() {
    let forced = Policy {
        override_upstream: true,
        ..policy(60)
    };
    for (status, pairs, why) in [
        (500, vec![], "status"),
        (503, vec![], "status"),
        (404, vec![], "status"),
        (206, vec![], "status"),
        (200, vec![("set-cookie", "s=1")], "set_cookie"),
        (200, vec![("vary", "*")], "vary"),
        (200, vec![("vary", "accept-encoding")], "vary"),
        (200, vec![("content-length", "2000000")], "too_large"),
    ] {
        assert_eq!(
            decide(&forced, status, &headers(&pairs)),
            Decision::Skip(why),
            "{status} {pairs:?}"
        );
    }
}

#[test]
fn negative_caching_is_opt_in_and_short() {
    let p = Policy {
        negative_ttl: Some(Duration::from_secs(3)),
        ..policy(60)
    };
    assert_eq!(
        decide(&p, 404, &HeaderMap::new()),
        Decision::Store {
            fresh: Duration::from_secs(3)
        }
    );
    assert_eq!(
        decide(&p, 410, &HeaderMap::new()),
        Decision::Store {
            fresh: Duration::from_secs(3)
        }
    );
    assert_eq!(decide(&p, 500, &HeaderMap::new()), Decision::Skip("status"));
}

#[test]
fn credentials_bypass_shared_entries_only() {
    let p = policy(60);
    let auth = headers(&[("authorization", "Bearer x")]);
    assert!(p.bypass(&auth, false));
    assert!(p.bypass(&headers(&[("cookie", "a=b")]), false));
    assert!(!p.bypass(&auth, true), "the gateway consumed the token");
    assert!(!p.bypass(&HeaderMap::new(), false));
}

#[test]
fn freshness_windows_follow_the_policy() {
    let p = Policy {
        stale_while_revalidate: Duration::from_secs(10),
        stale_if_error: Duration::from_secs(30),
        ..policy(5)
    };
    let e = entry("water", "/p", "", "x", &p);
    let t0 = Instant::now();
    assert_eq!(e.freshness(t0), Freshness::Fresh);
    assert_eq!(
        e.freshness(t0 + Duration::from_secs(6)),
        Freshness::Revalidate
    );
    assert_eq!(
        e.freshness(t0 + Duration::from_secs(20)),
        Freshness::IfError
    );
    assert_eq!(
        e.freshness(t0 + Duration::from_secs(40)),
        Freshness::Expired
    );
    assert!(e.usable_on_error(t0 + Duration::from_secs(34)));
    assert!(!e.usable_on_error(t0 + Duration::from_secs(36)));
    assert_eq!(e.keep_for(), Duration::from_secs(35));
    assert_eq!(e.age(t0 + Duration::from_millis(7_500)), 7);
}

#[test]
fn stored_headers_drop_framing_and_per_exchange_fields() {
    let p = policy(60);
    let h = headers(&[
        ("content-type", "text/plain"),
        ("transfer-encoding", "chunked"),
        ("x-request-id", "r1"),
        ("cache-tag", "bills, water"),
        ("age", "4"),
    ]);
    let e = Entry::new(
        Origin {
            dept: "water".into(),
            route: "bills".into(),
            path: "/p".into(),
        },
        200,
        &h,
        Bytes::from_static(b"x"),
        &p,
        p.ttl,
        Instant::now(),
    );
    let names: Vec<&str> = e.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["content-type"]);
    assert_eq!(e.tags.len(), 2);
    assert_eq!(&*e.tags[1], "water");
    assert_eq!(e.age(Instant::now()), 4);
}

#[test]
fn lookup_reports_each_window() {
    let cache = ResponseCache::new(1 << 20);
    let p = Policy {
        stale_while_revalidate: Duration::from_secs(10),
        stale_if_error: Duration::from_secs(30),
        ..policy(5)
    };
    let k = key(&p, "/p", None, None);
    let now = Instant::now();
    assert!(matches!(cache.lookup(&k, now), Lookup::Miss));
    cache.insert(k.clone(), entry("water", "/p", "", "x", &p));
    assert!(matches!(cache.lookup(&k, now), Lookup::Fresh(_)));
    assert!(matches!(
        cache.lookup(&k, now + Duration::from_secs(6)),
        Lookup::Revalidate(_)
    ));
    assert!(matches!(
        cache.lookup(&k, now + Duration::from_secs(20)),
        Lookup::IfError(_)
    ));
    assert!(matches!(
        cache.lookup(&k, now + Duration::from_secs(40)),
        Lookup::Miss
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_leader() {
    let cache = ResponseCache::new(1 << 20);
    let p = policy(60);
    let k = key(&p, "/p", None, None);
    let Join::Leader(fill) = cache.join(&k) else {
        panic!("the first request leads");
    };
    let mut followers = Vec::new();
    for _ in 0..1000 {
        let Join::Follower(w) = cache.join(&k) else {
            panic!("a second leader while the first is in flight");
        };
        followers.push(tokio::spawn(w.wait(Duration::from_secs(10))));
    }
    assert!(
        cache.try_refresh(&k).is_none(),
        "no refresh while a fill is in flight"
    );
    fill.store(entry("water", "/p", "", "answer", &p));
    for f in followers {
        match f.await.unwrap() {
            Outcome::Stored(e) => assert_eq!(&e.body[..], b"answer"),
            other => panic!("follower got {other:?}"),
        }
    }
    // The slot is free again: the next miss leads.
    assert!(matches!(cache.join(&k), Join::Leader(_)));
}

#[tokio::test]
async fn an_abandoned_fill_releases_its_followers() {
    let cache = ResponseCache::new(1 << 20);
    let k = key(&policy(60), "/p", None, None);
    let Join::Leader(fill) = cache.join(&k) else {
        panic!("leads");
    };
    let Join::Follower(w) = cache.join(&k) else {
        panic!("follows");
    };
    drop(fill);
    assert!(matches!(
        w.wait(Duration::from_secs(5)).await,
        Outcome::NotStored
    ));
    let Join::Leader(fill) = cache.join(&k) else {
        panic!("leads again");
    };
    let Join::Follower(w) = cache.join(&k) else {
        panic!("follows");
    };
    fill.fail();
    assert!(matches!(
        w.wait(Duration::from_secs(5)).await,
        Outcome::Failed
    ));
}

#[tokio::test]
async fn a_slow_leader_does_not_hold_followers_forever() {
    let cache = ResponseCache::new(1 << 20);
    let k = key(&policy(60), "/p", None, None);
    let _fill = cache.join(&k);
    let Join::Follower(w) = cache.join(&k) else {
        panic!("follows");
    };
    let t = Instant::now();
    assert!(matches!(
        w.wait(Duration::from_millis(50)).await,
        Outcome::NotStored
    ));
    assert!(t.elapsed() >= Duration::from_millis(50));
}

#[test]
fn purges_remove_exactly_the_matching_entries_of_one_department() {
    let cache = ResponseCache::new(1 << 20);
    let p = policy(60);
    let paths = [
        ("water", "/api/v1/depts/water/bills/1", "bills,c1"),
        ("water", "/api/v1/depts/water/bills/10", "bills"),
        ("water", "/api/v1/depts/water/bills", ""),
        ("water", "/api/v1/depts/water/meters/1", "c1"),
        ("power", "/api/v1/depts/water/bills/1", "bills,c1"),
    ];
    let fill = |cache: &ResponseCache| {
        for (i, (dept, path, tags)) in paths.iter().enumerate() {
            let k = Key::build(
                &p,
                KeyParts {
                    route: &format!("{dept}/r{i}"),
                    path,
                    query: None,
                    headers: &HeaderMap::new(),
                    citizen: None,
                },
            )
            .unwrap();
            cache.insert(k, entry(dept, path, tags, "x", &p));
        }
        cache.sync();
    };
    let left = |cache: &ResponseCache| {
        let mut v: Vec<(String, String)> = cache
            .shared
            .entries
            .iter()
            .map(|(_, e)| (e.origin.dept.to_string(), e.origin.path.to_string()))
            .collect();
        v.sort();
        v
    };
    fill(&cache);
    assert_eq!(
        cache.purge(
            "water",
            &Purge::Prefix("/api/v1/depts/water/bills/1".into())
        ),
        1
    );
    assert_eq!(left(&cache).len(), 4);
    assert!(left(&cache).contains(&("water".into(), "/api/v1/depts/water/bills/10".into())));
    assert!(left(&cache).contains(&("power".into(), "/api/v1/depts/water/bills/1".into())));
    fill(&cache);
    assert_eq!(
        cache.purge("water", &Purge::Prefix("/api/v1/depts/water/bills/".into())),
        3
    );
    fill(&cache);
    assert_eq!(cache.purge("water", &Purge::Tag("c1".into())), 2);
    assert_eq!(
        left(&cache),
        [
            (
                "power".to_string(),
                "/api/v1/depts/water/bills/1".to_string()
            ),
            ("water".into(), "/api/v1/depts/water/bills".into()),
            ("water".into(), "/api/v1/depts/water/bills/10".into()),
        ]
    );
    assert_eq!(cache.purge("power", &Purge::All), 1);
    assert_eq!(cache.purge("health", &Purge::All), 0);
    assert_eq!(left(&cache).len(), 2);
}

#[test]
fn the_byte_budget_holds_under_ten_times_the_key_space() {
    let max = 1 << 20;
    let cache = ResponseCache::new(max);
    let p = policy(60);
    let body = "x".repeat(1000);
    // Each entry weighs a little over 1 KB: 10,000 of them are ~10× the cap.
    for i in 0..10_000 {
        let path = format!("/p/{i}");
        cache.insert(
            key(&p, &path, None, None),
            entry("water", &path, "", &body, &p),
        );
    }
    let stats = cache.stats();
    assert!(stats.bytes <= max, "{} bytes over a {max} cap", stats.bytes);
    assert!(
        stats.bytes > max / 2,
        "the cache should be near its cap, is {}",
        stats.bytes
    );
    assert!(stats.entries < 1000, "{} entries kept", stats.entries);
    let route = &stats.routes[0];
    assert!(route.evictions > 9000, "{route:?}");
    assert_eq!(
        route.bytes as u64, stats.bytes,
        "per-route bytes track the total"
    );
    assert_eq!(route.entries as u64, stats.entries);
}
