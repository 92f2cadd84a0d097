//! Local GCRA: governor keyed limiters, one per distinct [`Rate`], keyed by
//! the caller's key string.
//!
//! The rate → limiter map is copy-on-write behind an `ArcSwap`: the request
//! path only `load()`s it (no lock); a new rate (rare: rates come from the
//! configuration) is added with `rcu`. Each limiter's keys live in governor's
//! sharded `DashMap`, whose per-shard locks are held only for one key's
//! compare-and-swap.

use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::{Decision, Rate};

type Keyed = DefaultKeyedRateLimiter<String>;

thread_local! {
    /// governor looks keys up by `&String`; reusing one buffer per thread
    /// spares the request path an allocation per check (only a key seen for
    /// the first time is copied into the map).
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Local counters for every rate in use.
#[derive(Default)]
pub(crate) struct LocalLimits {
    limiters: ArcSwap<HashMap<Rate, Arc<Keyed>>>,
}

impl LocalLimits {
    /// Checks and counts one request against `key` at `rate`.
    pub(crate) fn check(&self, key: &str, rate: Rate) -> Decision {
        let rate = rate.normalized();
        {
            let map = self.limiters.load();
            if let Some(limiter) = map.get(&rate) {
                return check_key(limiter, key);
            }
        }
        let limiter = self.add(rate);
        check_key(&limiter, key)
    }

    /// The limiter of `rate`, created unless another thread was first.
    fn add(&self, rate: Rate) -> Arc<Keyed> {
        let created = Arc::new(Keyed::dashmap(quota(rate)));
        let map = self.limiters.rcu(|map| {
            if map.contains_key(&rate) {
                Arc::clone(map)
            } else {
                let mut next = HashMap::clone(map);
                next.insert(rate, Arc::clone(&created));
                Arc::new(next)
            }
        });
        // `rcu` returns the map it replaced: if that one had the rate,
        // another thread won and its limiter is the one in force.
        match map.get(&rate) {
            Some(existing) => Arc::clone(existing),
            None => created,
        }
    }

    /// Forgets keys whose state equals a fresh one (their theoretical
    /// arrival time has passed), and rates with no keys left. Runs on the
    /// background thread; bounds memory to the keys active within one burst
    /// window.
    ///
    /// A check racing the removal of an idle rate may count into the
    /// removed limiter: one request of a key that had no state anyway.
    pub(crate) fn retain_recent(&self) {
        let mut idle = Vec::new();
        for (rate, limiter) in self.limiters.load().iter() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            if limiter.is_empty() {
                idle.push(*rate);
            }
        }
        if idle.is_empty() {
            return;
        }
        self.limiters.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.retain(|rate, limiter| !(idle.contains(rate) && limiter.is_empty()));
            next
        });
    }

    /// Keys held, over all rates (for tests).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.limiters.load().values().map(|l| l.len()).sum()
    }

    /// Rates held (for tests).
    #[cfg(test)]
    pub(crate) fn rates(&self) -> usize {
        self.limiters.load().len()
    }
}

fn check_key(limiter: &Keyed, key: &str) -> Decision {
    let result = KEY.with_borrow_mut(|buf| {
        buf.clear();
        buf.push_str(key);
        limiter.check_key(buf)
    });
    match result {
        Ok(()) => Decision::Allowed,
        Err(not_until) => Decision::Limited {
            retry_after: not_until.wait_time_from(limiter.clock().now()),
        },
    }
}

/// governor's quota for a (normalized) rate: one cell every
/// `1 s / per_second`, `burst` at once.
fn quota(rate: Rate) -> Quota {
    let interval = Duration::from_nanos((1_000_000_000 / u64::from(rate.per_second)).max(1));
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

#[cfg(test)]
mod tests;
