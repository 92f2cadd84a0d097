//! Passive health (outlier detection): eject an instance after consecutive
//! failures seen on live traffic, re-admit it when its ejection lapses.
//!
//! Lock-free: each instance has atomics; the request path only does relaxed
//! loads and stores. Ejection time doubles with each ejection in a row and
//! resets after a success.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Outlier settings of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierPolicy {
    /// 0 disables ejection.
    pub consecutive_failures: u32,
    pub base_ejection: Duration,
    pub max_ejection_percent: u8,
}

/// The outlier state of one instance.
#[derive(Debug, Default)]
pub struct InstanceOutlier {
    consecutive: AtomicU32,
    /// Milliseconds since the detector's epoch until which the instance is ejected.
    ejected_until_ms: AtomicU64,
    /// Ejections in a row without an intervening success.
    streak: AtomicU32,
}

/// What recording a result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    /// The instance was just ejected for this long.
    Ejected(Duration),
}

/// Clock shared by the instances of one service.
#[derive(Debug, Clone, Copy)]
pub struct Epoch(Instant);

impl Default for Epoch {
    fn default() -> Self {
        Epoch(Instant::now())
    }
}

impl Epoch {
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl InstanceOutlier {
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Relaxed) > now_ms
    }

    /// Whether the instance was ejected and its ejection has lapsed (clears the mark).
    pub fn take_readmission(&self, now_ms: u64) -> bool {
        let until = self.ejected_until_ms.load(Relaxed);
        until != 0
            && until <= now_ms
            && self
                .ejected_until_ms
                .compare_exchange(until, 0, Relaxed, Relaxed)
                .is_ok()
    }

    pub fn record_success(&self) {
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
        if self.streak.load(Relaxed) != 0 && self.ejected_until_ms.load(Relaxed) == 0 {
            self.streak.store(0, Relaxed);
        }
    }

    /// Records a failure. `ejected_share` is the share (0–100) of the
    /// service's instances ejected right now, to honour `max_ejection_percent`.
    pub fn record_failure(
        &self,
        policy: &OutlierPolicy,
        now_ms: u64,
        ejected_share: impl FnOnce() -> u8,
    ) -> Verdict {
        if policy.consecutive_failures == 0 || self.is_ejected(now_ms) {
            return Verdict::Unchanged;
        }
        let n = self.consecutive.fetch_add(1, Relaxed) + 1;
        if n < policy.consecutive_failures || ejected_share() >= policy.max_ejection_percent {
            return Verdict::Unchanged;
        }
        self.consecutive.store(0, Relaxed);
        let streak = self.streak.fetch_add(1, Relaxed).min(6);
        let duration = policy.base_ejection * (1u32 << streak);
        let until = now_ms + u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2);
        self.ejected_until_ms.store(until, Relaxed);
        Verdict::Ejected(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutlierPolicy {
        OutlierPolicy {
            consecutive_failures: 3,
            base_ejection: Duration::from_millis(100),
            max_ejection_percent: 50,
        }
    }

    #[test]
    fn ejects_after_consecutive_failures_only() {
        let o = InstanceOutlier::default();
        let p = policy();
        assert_eq!(o.record_failure(&p, 0, || 0), Verdict::Unchanged);
        assert_eq!(o.record_failure(&p, 0, || 0), Verdict::Unchanged);
        o.record_success();
        assert_eq!(o.record_failure(&p, 0, || 0), Verdict::Unchanged);
        assert_eq!(o.record_failure(&p, 0, || 0), Verdict::Unchanged);
        assert_eq!(
            o.record_failure(&p, 0, || 0),
            Verdict::Ejected(Duration::from_millis(100))
        );
        assert!(o.is_ejected(50));
        assert!(!o.is_ejected(100));
    }

    #[test]
    fn readmits_once_and_doubles_the_next_ejection() {
        let o = InstanceOutlier::default();
        let p = policy();
        for _ in 0..3 {
            o.record_failure(&p, 0, || 0);
        }
        assert!(!o.take_readmission(99));
        assert!(o.take_readmission(100));
        assert!(!o.take_readmission(101), "readmission is reported once");
        for _ in 0..2 {
            assert_eq!(o.record_failure(&p, 200, || 0), Verdict::Unchanged);
        }
        assert_eq!(
            o.record_failure(&p, 200, || 0),
            Verdict::Ejected(Duration::from_millis(200))
        );
        // A success after readmission resets the doubling.
        assert!(o.take_readmission(400));
        o.record_success();
        for _ in 0..2 {
            o.record_failure(&p, 500, || 0);
        }
        assert_eq!(
            o.record_failure(&p, 500, || 0),
            Verdict::Ejected(Duration::from_millis(100))
        );
    }

    #[test]
    fn respects_max_ejection_percent_and_disable() {
        let o = InstanceOutlier::default();
        for _ in 0..10 {
            assert_eq!(o.record_failure(&policy(), 0, || 50), Verdict::Unchanged);
        }
        let off = OutlierPolicy {
            consecutive_failures: 0,
            ..policy()
        };
        for _ in 0..10 {
            assert_eq!(o.record_failure(&off, 0, || 0), Verdict::Unchanged);
        }
    }
}
