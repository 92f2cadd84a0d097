//! `Limiter::check`: local GCRA, and Redis on loopback (127.0.0.1:6379 or
//! `ONESTOP_TEST_REDIS_URL`), one at a time and 64 in flight.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use onestop_ratelimit::{Limiter, Mode, Rate, RedisOptions};

/// Never reached: every check is admitted (and counted).
const OPEN: Rate = Rate {
    per_second: 1_000_000_000,
    burst: 1_000_000_000,
};
/// Exhausted after one request: every later check is refused.
const SHUT: Rate = Rate {
    per_second: 1,
    burst: 1,
};

fn local(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limiter = Limiter::local();
    let keys: Vec<String> = (0..10_000).map(|i| format!("citizen:{i:018}")).collect();
    let mut g = c.benchmark_group("check/local");
    g.bench_function("allowed", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(limiter.check("route", "route:hpf/balance", OPEN).await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("limited", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(limiter.check("citizen", "citizen:1", SHUT).await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("10k_keys", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let key = &keys[(i % 10_000) as usize];
                    black_box(limiter.check("citizen", key, OPEN).await);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn redis(c: &mut Criterion) {
    let url =
        std::env::var("ONESTOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = RedisOptions {
        prefix: format!("bench:rl:{}", std::process::id()),
        timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let limiter = Limiter::with_redis(&url, opts).unwrap();
    let start = Instant::now();
    while limiter.mode() != Mode::Redis {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "Redis at {url} is required for this bench"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut g = c.benchmark_group("check/redis");
    g.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(limiter.check("route", "route:hpf/balance", OPEN).await);
                }
                start.elapsed()
            })
        })
    });
    // Time per check with 64 checks in flight on the shared connection
    // (throughput, not latency).
    g.bench_function("64_in_flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..64u64)
                    .map(|t| {
                        let limiter = limiter.clone();
                        let n = iters / 64 + u64::from(t < iters % 64);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                black_box(limiter.check("route", "route:hpf/balance", OPEN).await);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    assert_eq!(limiter.mode(), Mode::Redis, "fell back during the bench");
}

criterion_group!(benches, local, redis);
criterion_main!(benches);
