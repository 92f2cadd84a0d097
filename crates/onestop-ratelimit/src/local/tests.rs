#![allow(clippy::unwrap_used)]

use std::thread::sleep;
use std::time::Instant;

use super::*;

const TEN_BURST_FIVE: Rate = Rate {
    per_second: 10,
    burst: 5,
};

fn retry_after(d: Decision) -> Duration {
    match d {
        Decision::Limited { retry_after } => retry_after,
        Decision::Allowed => panic!("expected Limited, got Allowed"),
    }
}

#[test]
fn burst_at_once_then_limited() {
    let limits = LocalLimits::default();
    for i in 0..5 {
        assert_eq!(
            limits.check("citizen:1", TEN_BURST_FIVE),
            Decision::Allowed,
            "request {i} of the burst"
        );
    }
    let wait = retry_after(limits.check("citizen:1", TEN_BURST_FIVE));
    // One emission interval (100 ms) minus the time the burst took.
    assert!(
        wait > Duration::from_millis(80) && wait <= Duration::from_millis(100),
        "retry_after {wait:?}"
    );
    // Refusals are not counted: asking again does not push the time out.
    let again = retry_after(limits.check("citizen:1", TEN_BURST_FIVE));
    assert!(again <= wait, "{again:?} > {wait:?}");
}

#[test]
fn retry_after_is_when_the_next_request_conforms() {
    let limits = LocalLimits::default();
    let rate = Rate {
        per_second: 20,
        burst: 1,
    };
    assert!(limits.check("k", rate).is_allowed());
    let wait = retry_after(limits.check("k", rate));
    assert!(wait <= Duration::from_millis(50), "{wait:?}");
    sleep(wait);
    assert!(limits.check("k", rate).is_allowed());
    assert!(!limits.check("k", rate).is_allowed());
}

#[test]
fn sustained_rate_after_the_burst() {
    // Polling every 2 ms for 1.05 s: the burst of 5 at once, then one every
    // 100 ms (at 100, 200, … 1000 ms): 15.
    let limits = LocalLimits::default();
    let start = Instant::now();
    let mut admitted = Vec::new();
    while start.elapsed() < Duration::from_millis(1050) {
        if limits
            .check("route:hpf/balance", TEN_BURST_FIVE)
            .is_allowed()
        {
            admitted.push(start.elapsed());
        }
        sleep(Duration::from_millis(2));
    }
    let n = admitted.len();
    println!("admitted {n} in 1.05 s at 10/s burst 5 (expected 15)");
    assert!((14..=16).contains(&n), "admitted {n}");
    assert!(
        admitted[4] < Duration::from_millis(50),
        "burst took {:?}",
        admitted[4]
    );
    // Never ahead of the schedule: the k-th request after the burst no
    // sooner than k × 100 ms after the first.
    for (k, at) in admitted[5..].iter().enumerate() {
        let due = admitted[0] + Duration::from_millis(100 * (k as u64 + 1));
        assert!(
            *at + Duration::from_millis(1) >= due,
            "request {} at {at:?}, due {due:?}",
            k + 5
        );
    }
}

#[test]
fn keys_and_rates_are_independent() {
    let limits = LocalLimits::default();
    let one = Rate {
        per_second: 1,
        burst: 1,
    };
    assert!(limits.check("a", one).is_allowed());
    assert!(!limits.check("a", one).is_allowed());
    assert!(limits.check("b", one).is_allowed());
    // Same key at another rate: another counter.
    let two = Rate {
        per_second: 1,
        burst: 2,
    };
    assert!(limits.check("a", two).is_allowed());
    assert!(limits.check("a", two).is_allowed());
    assert!(!limits.check("a", two).is_allowed());
    assert_eq!(limits.rates(), 2);
}

#[test]
fn zero_counts_as_one() {
    let limits = LocalLimits::default();
    let zero = Rate {
        per_second: 0,
        burst: 0,
    };
    assert!(limits.check("k", zero).is_allowed());
    let wait = retry_after(limits.check("k", zero));
    assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
    // Huge rates do not break the quota (interval clamps to 1 ns).
    let huge = Rate {
        per_second: u32::MAX,
        burst: 1,
    };
    assert!(limits.check("k", huge).is_allowed());
}

#[test]
fn one_burst_across_threads_racing_to_create_the_rate() {
    let limits = Arc::new(LocalLimits::default());
    let rate = Rate {
        per_second: 1,
        burst: 50,
    };
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let limits = Arc::clone(&limits);
            std::thread::spawn(move || {
                (0..100)
                    .filter(|_| limits.check("shared", rate).is_allowed())
                    .count()
            })
        })
        .collect();
    let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(admitted, 50);
    assert_eq!(limits.rates(), 1);
}

#[test]
fn retain_recent_forgets_fresh_keys_and_idle_rates() {
    let limits = LocalLimits::default();
    let fast = Rate {
        per_second: 1000,
        burst: 1,
    };
    let slow = Rate {
        per_second: 1,
        burst: 5,
    };
    for i in 0..100 {
        limits.check(&format!("citizen:{i}"), fast);
    }
    limits.check("route:slow", slow);
    assert_eq!(limits.keys(), 101);
    sleep(Duration::from_millis(10));
    limits.retain_recent();
    // The fast keys' state is fresh again; the slow key is within its window.
    assert_eq!(limits.keys(), 1);
    assert_eq!(limits.rates(), 1);
    // The slow key kept its count.
    for _ in 0..4 {
        assert!(limits.check("route:slow", slow).is_allowed());
    }
    assert!(!limits.check("route:slow", slow).is_allowed());
    // A removed rate comes back on use.
    assert!(limits.check("citizen:1", fast).is_allowed());
    assert_eq!(limits.rates(), 2);
}
