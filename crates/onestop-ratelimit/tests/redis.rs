//! The Redis-backed limiter against a real Redis (127.0.0.1:6379, or
//! `ONESTOP_TEST_REDIS_URL`). Without Redis these tests fail; they are
//! never skipped.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use onestop_ratelimit::{Decision, Limiter, Mode, Rate, RedisOptions};
use support::{Relay, metric, redis_addr, require_redis, unique_prefix, wait_for_mode};

fn opts(prefix: &str) -> RedisOptions {
    RedisOptions {
        prefix: prefix.to_string(),
        ..RedisOptions::default()
    }
}

async fn connected(url: &str, opts: RedisOptions) -> Limiter {
    let limiter = Limiter::with_redis(url, opts).unwrap();
    wait_for_mode(&limiter, Mode::Redis, Duration::from_secs(2)).await;
    limiter
}

fn retry_after(d: Decision) -> Duration {
    match d {
        Decision::Limited { retry_after } => retry_after,
        Decision::Allowed => panic!("expected Limited, got Allowed"),
    }
}

/// `a` takes 3 of a fresh key's burst of 5; `b` gets the other 2 only if
/// both count in the same place.
async fn assert_shared(a: &Limiter, b: &Limiter, key: &str) {
    let rate = Rate {
        per_second: 1,
        burst: 5,
    };
    for _ in 0..3 {
        assert!(a.check("route", key, rate).await.is_allowed());
    }
    assert!(b.check("route", key, rate).await.is_allowed());
    assert!(b.check("route", key, rate).await.is_allowed());
    assert!(
        !b.check("route", key, rate).await.is_allowed(),
        "{key}: b not limited"
    );
    assert!(
        !a.check("route", key, rate).await.is_allowed(),
        "{key}: a not limited"
    );
}

#[tokio::test]
async fn redis_gcra_burst_then_rate() {
    let url = require_redis().await;
    let limiter = connected(&url, opts(&unique_prefix("gcra"))).await;
    let rate = Rate {
        per_second: 10,
        burst: 5,
    };
    for i in 0..5 {
        assert!(
            limiter
                .check("citizen", "citizen:1", rate)
                .await
                .is_allowed(),
            "request {i}"
        );
    }
    let wait = retry_after(limiter.check("citizen", "citizen:1", rate).await);
    assert!(
        wait > Duration::from_millis(80) && wait <= Duration::from_millis(100),
        "retry_after {wait:?}"
    );
    tokio::time::sleep(wait).await;
    assert!(
        limiter
            .check("citizen", "citizen:1", rate)
            .await
            .is_allowed()
    );
    assert!(
        !limiter
            .check("citizen", "citizen:1", rate)
            .await
            .is_allowed()
    );
    // Extreme rates stay valid in the script (no fallback).
    for rate in [
        Rate {
            per_second: u32::MAX,
            burst: u32::MAX,
        },
        Rate {
            per_second: 0,
            burst: 0,
        },
    ] {
        let d = limiter.check("citizen", "citizen:extreme", rate).await;
        assert!(d.is_allowed());
    }
    assert_eq!(limiter.mode(), Mode::Redis);
}

/// Two gateways, one Redis, one key, both hammering: together they admit
/// `per_second × seconds + burst`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_limit() {
    let url = require_redis().await;
    let prefix = unique_prefix("shared");
    // A generous timeout: this test is about shared counting, not fallback.
    let o = RedisOptions {
        timeout: Duration::from_millis(500),
        ..opts(&prefix)
    };
    let gateways = [
        connected(&url, o.clone()).await,
        connected(&url, o.clone()).await,
    ];
    let rate = Rate {
        per_second: 100,
        burst: 100,
    };
    const RUN: Duration = Duration::from_secs(3);
    const TASKS: usize = 4;
    let checked = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (g, limiter) in gateways.iter().enumerate() {
        for _ in 0..TASKS {
            let limiter = limiter.clone();
            let checked = Arc::clone(&checked);
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0usize;
                let mut last = Duration::ZERO;
                while start.elapsed() < RUN {
                    if limiter
                        .check("route", "route:hpf/balance", rate)
                        .await
                        .is_allowed()
                    {
                        admitted += 1;
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                    last = start.elapsed();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (g, admitted, last)
            }));
        }
    }
    let mut per_gateway = [0usize; 2];
    let mut end = Duration::ZERO;
    for t in tasks {
        let (g, admitted, last) = t.await.unwrap();
        per_gateway[g] += admitted;
        end = end.max(last);
    }
    let total = per_gateway[0] + per_gateway[1];
    let secs = end.as_secs_f64();
    let expected = f64::from(rate.per_second) * secs + f64::from(rate.burst);
    let error = (total as f64 - expected) / expected;
    let checked = checked.load(Ordering::Relaxed);
    println!(
        "two gateways: {checked} checks ({:.0}/s) over {secs:.3} s at 100/s burst 100: \
         admitted {total} (gateway A {}, B {}), expected {expected:.1}, error {:+.2} %",
        checked as f64 / secs,
        per_gateway[0],
        per_gateway[1],
        error * 100.0
    );
    assert!(
        checked as f64 / secs > 10.0 * f64::from(rate.per_second),
        "not hammering"
    );
    assert!(
        error.abs() <= 0.05,
        "admitted {total}, expected {expected:.1}"
    );
    assert!(per_gateway[0] > 0 && per_gateway[1] > 0, "{per_gateway:?}");
    for g in &gateways {
        assert_eq!(g.mode(), Mode::Redis, "a gateway fell back during the run");
    }
}

/// Redis cut: requests are decided locally, at once; Redis back: counting
/// is shared again within ~2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_local_and_returns() {
    let url = require_redis().await;
    let relay = Relay::start(redis_addr(&url)).await;
    let prefix = unique_prefix("fallback");
    let gateway = connected(&relay.url(), opts(&prefix)).await;
    let direct = connected(
        &url,
        RedisOptions {
            timeout: Duration::from_millis(500),
            ..opts(&prefix)
        },
    )
    .await;
    assert_shared(&gateway, &direct, "route:before").await;

    let fallbacks = metric("onestop_ratelimit_fallback_total", None);
    let errors = metric("onestop_ratelimit_redis_errors_total", None);
    relay.cut().await;
    let rate = Rate {
        per_second: 1,
        burst: 10,
    };
    let mut took = Vec::new();
    let mut admitted = 0;
    for _ in 0..200 {
        let t = Instant::now();
        admitted += usize::from(gateway.check("route", "route:cut", rate).await.is_allowed());
        took.push(t.elapsed());
    }
    let first = took[0];
    let mut rest = took[1..].to_vec();
    rest.sort();
    println!(
        "cut: first check {first:?}, then median {:?}, max {:?}; admitted {admitted} of 200",
        rest[rest.len() / 2],
        rest[rest.len() - 1]
    );
    assert!(
        first <= Duration::from_millis(50),
        "first check after the cut took {first:?}"
    );
    assert!(
        rest[rest.len() - 1] < Duration::from_millis(10),
        "{:?}",
        rest[rest.len() - 1]
    );
    // Local counting: exactly the burst (the loop takes well under a second).
    assert_eq!(admitted, 10);
    assert_eq!(gateway.mode(), Mode::Local);
    assert!(metric("onestop_ratelimit_fallback_total", None) > fallbacks);
    assert!(metric("onestop_ratelimit_redis_errors_total", None) > errors);
    // Redis itself is fine for the direct gateway.
    assert_eq!(direct.mode(), Mode::Redis);

    relay.restore();
    let back = wait_for_mode(&gateway, Mode::Redis, Duration::from_secs(3)).await;
    println!("restored: counting in Redis again after {back:?}");
    assert!(back <= Duration::from_millis(2200), "{back:?}");
    assert_shared(&gateway, &direct, "route:after").await;
}

/// Redis slower than the timeout: the request is decided locally within
/// about the timeout, and the next ones at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_is_decided_locally_within_the_timeout() {
    let url = require_redis().await;
    let relay = Relay::start(redis_addr(&url)).await;
    let o = RedisOptions {
        probe_interval: Duration::from_millis(200),
        ..opts(&unique_prefix("slow"))
    };
    let timeout = o.timeout;
    let gateway = connected(&relay.url(), o).await;
    let rate = Rate {
        per_second: 1,
        burst: 3,
    };
    relay.set_delay(Duration::from_millis(100));
    let t = Instant::now();
    let decision = gateway.check("citizen", "citizen:slow", rate).await;
    let first = t.elapsed();
    let t = Instant::now();
    let next: Vec<Decision> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(gateway.check("citizen", "citizen:slow", rate).await);
        }
        v
    };
    let rest = t.elapsed();
    println!("slow Redis (RTT ≥ 200 ms): first check {first:?}, next three {rest:?}");
    assert!(decision.is_allowed());
    assert!(
        first >= timeout && first < timeout + Duration::from_millis(30),
        "{first:?}"
    );
    assert!(rest < Duration::from_millis(5), "{rest:?}");
    // Local burst of 3: two more admitted, then limited.
    assert!(next[0].is_allowed() && next[1].is_allowed() && !next[2].is_allowed());
    assert_eq!(gateway.mode(), Mode::Local);
    // Probes (every 200 ms) time out too: still local.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gateway.mode(), Mode::Local);

    relay.set_delay(Duration::ZERO);
    let back = wait_for_mode(&gateway, Mode::Redis, Duration::from_secs(2)).await;
    println!("fast again: counting in Redis after {back:?}");
}

/// Keys are `<prefix>:<key>`: limiters with different prefixes never see
/// each other's counts; the key expires with its burst window.
#[tokio::test]
async fn prefixes_isolate_keys() {
    let url = require_redis().await;
    let p1 = unique_prefix("iso1");
    let p2 = unique_prefix("iso2");
    let a = connected(&url, opts(&p1)).await;
    let b = connected(&url, opts(&p2)).await;
    let a_again = connected(&url, opts(&p1)).await;
    let rate = Rate {
        per_second: 1,
        burst: 2,
    };
    for l in [&a, &b] {
        assert!(l.check("citizen", "citizen:x", rate).await.is_allowed());
        assert!(l.check("citizen", "citizen:x", rate).await.is_allowed());
    }
    assert!(!a.check("citizen", "citizen:x", rate).await.is_allowed());
    assert!(!b.check("citizen", "citizen:x", rate).await.is_allowed());
    assert!(
        !a_again
            .check("citizen", "citizen:x", rate)
            .await
            .is_allowed()
    );

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for p in [&p1, &p2] {
        let key = format!("{p}:citizen:x");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        // TAT = first use + burst × interval (2 s): the key lives ≤ 2 s.
        assert!(ttl > 1000 && ttl <= 2000, "{key}: PTTL {ttl}");
        let tat: String = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let tat: f64 = tat.parse().unwrap();
        let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        let now = (s * 1_000_000 + us) as f64;
        assert!(
            tat > now && tat <= now + 2_000_000.0,
            "{key}: TAT {tat}, now {now}"
        );
    }
}
