//! The retry schedule: the n-th failed attempt waits `first × 2ⁿ⁻¹`, at most
//! `max_interval`; an event older than `max_age` is not tried again
//! (`failed`). The defaults (10 s doubling to 1 h, 48 h) keep trying for
//! two days.

use std::time::Duration;

/// When to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max_interval: Duration,
    pub max_age: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(10),
            max_interval: Duration::from_secs(3600),
            max_age: Duration::from_secs(48 * 3600),
        }
    }
}

impl Backoff {
    /// The wait after `attempts` failed attempts (1 for the first).
    pub fn delay(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(30);
        self.first
            .saturating_mul(1_u32 << shift)
            .min(self.max_interval)
    }

    /// The next attempt's time (ms) after `attempts` failures at `now`, or
    /// `None` when an event created at `created` is past `max_age` by then.
    pub fn next(&self, created: i64, now: i64, attempts: u32) -> Option<i64> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
        let next = now.saturating_add(ms(self.delay(attempts)));
        (next <= created.saturating_add(ms(self.max_age))).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_secs(10));
        assert_eq!(b.delay(2), Duration::from_secs(20));
        assert_eq!(b.delay(5), Duration::from_secs(160));
        assert_eq!(b.delay(30), Duration::from_secs(3600));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn the_default_keeps_trying_for_a_day_and_then_stops() {
        let b = Backoff::default();
        let (mut now, mut attempts) = (0_i64, 0_u32);
        while let Some(next) = b.next(0, now, attempts + 1) {
            attempts += 1;
            now = next;
        }
        assert!(now >= 24 * 3_600_000, "gave up after {now} ms");
        assert!(now <= 48 * 3_600_000);
        assert!(attempts > 10);
    }
}
