#![allow(clippy::unwrap_used)]

use std::time::Instant;

use super::*;

fn counter(name: &str, label: Option<&str>) -> f64 {
    prometheus::gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .filter(|m| label.is_none_or(|l| m.get_label().iter().any(|p| p.value() == l)))
        .map(|m| m.get_counter().value())
        .sum()
}

#[tokio::test]
async fn local_limiter_counts_and_labels_refusals() {
    let limiter = Limiter::local();
    assert_eq!(limiter.mode(), Mode::Local);
    let rate = Rate {
        per_second: 1,
        burst: 2,
    };
    let before = counter("onestop_ratelimit_limited_total", Some("channel"));
    let decisions = [
        limiter.check("channel", "channel:app", rate).await,
        limiter.check("channel", "channel:app", rate).await,
        limiter.check("channel", "channel:app", rate).await,
    ];
    assert!(decisions[0].is_allowed() && decisions[1].is_allowed());
    assert!(
        matches!(decisions[2], Decision::Limited { retry_after } if retry_after > Duration::from_millis(900))
    );
    let after = counter("onestop_ratelimit_limited_total", Some("channel"));
    assert!(
        after >= before + 1.0,
        "limited_total{{scope=channel}} {before} → {after}"
    );
    // Clones share the counters.
    let clone = limiter.clone();
    assert!(
        !clone
            .check("channel", "channel:app", rate)
            .await
            .is_allowed()
    );
    assert_eq!(
        format!("{limiter:?}"),
        "Limiter { redis: false, mode: Local }"
    );
}

#[test]
fn bad_redis_url_is_an_error() {
    let err = Limiter::with_redis("not a url", RedisOptions::default()).unwrap_err();
    assert!(matches!(err, LimitError::InvalidRedisUrl(_)), "{err}");
    assert!(err.to_string().starts_with("invalid Redis URL"), "{err}");
}

/// Built outside any runtime, with Redis on a closed port: every check is
/// decided locally at once, and the first failed connection counts as a
/// fallback.
#[test]
fn unreachable_redis_counts_locally_without_waiting() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let fallbacks = counter("onestop_ratelimit_fallback_total", None);
    let limiter = Limiter::with_redis(
        &format!("redis://127.0.0.1:{port}"),
        RedisOptions {
            prefix: "test:unreachable".into(),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let rate = Rate {
            per_second: 1,
            burst: 3,
        };
        let start = Instant::now();
        let admitted = {
            let mut n = 0;
            for _ in 0..10 {
                n += usize::from(
                    limiter
                        .check("citizen", "citizen:1", rate)
                        .await
                        .is_allowed(),
                );
            }
            n
        };
        assert_eq!(admitted, 3);
        // Had each check waited for Redis (its 25 ms timeout), ten would
        // take 250 ms or more; the bound leaves a loaded machine's
        // scheduling hiccups room (one of 58 ms failed a 5 ms bound in CI).
        let waited_for_redis = RedisOptions::default().timeout * 10;
        assert!(start.elapsed() < waited_for_redis, "{:?}", start.elapsed());
        assert_eq!(limiter.mode(), Mode::Local);
        // The background connect is refused quickly; it is a fallback.
        let deadline = Instant::now() + Duration::from_secs(2);
        while counter("onestop_ratelimit_fallback_total", None) <= fallbacks {
            assert!(Instant::now() < deadline, "fallback_total did not move");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}
