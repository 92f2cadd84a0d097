//! Roll-ups: turning a gateway's cumulative request counters into the
//! deltas it adds to the store's hourly and per-minute rows. Pure; the
//! binary samples the counters (from the data plane's Prometheus metrics)
//! and writes what [`Roller::tick`] returns.
//!
//! Deltas are attributed to the hour and minute in which they are taken,
//! so up to one roll-up interval of traffic can land in the next hour.
//! Deltas the store did not take are kept and sent again with the next
//! tick ([`Roller::failed`]), so a store outage loses nothing but
//! minute rows older than [`KEEP_MINUTES_MS`].

use std::collections::BTreeMap;

use onestop_store::{HOUR_MS, LATENCY_BUCKETS, MINUTE_MS, Millis, TrafficCounts, TrafficDelta};

use crate::formulas::LATENCY_BOUNDS;

/// Minute rows older than this are neither kept for a retry nor in the store.
pub const KEEP_MINUTES_MS: Millis = 3 * HOUR_MS;

/// Cumulative figures of one department, as sampled from the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub client_errors: u64,
    /// Cumulative count at each bound of [`LATENCY_BOUNDS`], then the
    /// total count (the `+Inf` bucket), as Prometheus keeps them.
    pub cumulative: [u64; LATENCY_BUCKETS],
}

impl Totals {
    /// Adds one sampled request counter of `status`.
    pub fn add_status(&mut self, status: u16, n: u64) {
        self.requests += n;
        match status {
            500..=599 => self.errors += n,
            400..=499 => self.client_errors += n,
            _ => {}
        }
    }

    /// Adds one sampled histogram: `(upper bound in seconds, cumulative
    /// count)` pairs and its total count. A bound that is not one of
    /// [`LATENCY_BOUNDS`] counts at the next larger one (never faster
    /// than it was).
    pub fn add_histogram(&mut self, buckets: &[(f64, u64)], total: u64) {
        // Per slot, the largest cumulative count of the bounds it takes.
        let mut mine = [0_u64; LATENCY_BUCKETS];
        for &(bound, count) in buckets {
            if !bound.is_finite() {
                continue;
            }
            let slot = LATENCY_BOUNDS
                .iter()
                .position(|b| *b >= bound - bound * 1e-9)
                .unwrap_or(LATENCY_BUCKETS - 1);
            mine[slot] = mine[slot].max(count);
        }
        mine[LATENCY_BUCKETS - 1] = total;
        for (a, b) in self.cumulative.iter_mut().zip(mine) {
            *a += b;
        }
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `now - before` for each figure: what happened between two samples. A
/// figure that went down (a series that was reset) counts from 0.
fn difference(now: &Totals, before: &Totals) -> TrafficCounts {
    let d = |a: u64, b: u64| if a >= b { a - b } else { a };
    let mut per_bucket = [0_i64; LATENCY_BUCKETS];
    // Cumulative counts at each bound, then per bucket.
    let mut previous_now = 0;
    let mut previous_before = 0;
    for (i, slot) in per_bucket.iter_mut().enumerate() {
        // Cumulative arrays are filled per bound; make them monotone.
        let c_now = now.cumulative[i].max(previous_now);
        let c_before = before.cumulative[i].max(previous_before);
        let here_now = c_now - previous_now;
        let here_before = c_before - previous_before;
        *slot = to_i64(d(here_now, here_before));
        previous_now = c_now;
        previous_before = c_before;
    }
    TrafficCounts {
        requests: to_i64(d(now.requests, before.requests)),
        errors: to_i64(d(now.errors, before.errors)),
        client_errors: to_i64(d(now.client_errors, before.client_errors)),
        buckets: per_bucket,
    }
}

/// A gateway's roll-up state: the last sample and deltas not yet stored.
#[derive(Debug, Default)]
pub struct Roller {
    last: BTreeMap<String, Totals>,
    /// (span, start, dept) → counts not yet in the store.
    pending: BTreeMap<(Millis, Millis, String), TrafficCounts>,
}

impl Roller {
    pub fn new() -> Roller {
        Roller::default()
    }

    /// Takes a sample at `now` and returns every delta to write (this
    /// tick's and any the store did not take before) as `gateway`'s.
    pub fn tick(
        &mut self,
        sample: BTreeMap<String, Totals>,
        now: Millis,
        gateway: &str,
    ) -> Vec<TrafficDelta> {
        let zero = Totals::default();
        for (dept, totals) in &sample {
            let before = self.last.get(dept).unwrap_or(&zero);
            let delta = difference(totals, before);
            if delta.is_empty() {
                continue;
            }
            for span in [HOUR_MS, MINUTE_MS] {
                let start = now - now.rem_euclid(span);
                self.pending
                    .entry((span, start, dept.clone()))
                    .or_default()
                    .add(&delta);
            }
        }
        // Series that disappeared start again from 0 if they come back.
        self.last = sample;
        let oldest = now - KEEP_MINUTES_MS;
        self.pending
            .retain(|(span, start, _), _| *span != MINUTE_MS || *start >= oldest);
        self.pending
            .iter()
            .map(|((span, start, dept), counts)| TrafficDelta {
                span_ms: *span,
                start_ms: *start,
                dept: dept.clone(),
                gateway: gateway.to_string(),
                counts: *counts,
            })
            .collect()
    }

    /// The store took the deltas [`Roller::tick`] returned.
    pub fn stored(&mut self) {
        self.pending.clear();
    }

    /// The store did not take them: they go again with the next tick.
    pub fn failed(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn totals(requests: u64, errors: u64, at_10ms: u64) -> Totals {
        let mut t = Totals::default();
        t.add_status(200, requests - errors);
        t.add_status(503, errors);
        // Prometheus' cumulative buckets: 0 up to 5 ms, `at_10ms` from 10 ms on.
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .map(|b| (*b, if *b >= 0.01 { at_10ms } else { 0 }))
            .collect();
        t.add_histogram(&buckets, requests);
        t
    }

    #[test]
    fn status_classes_are_counted() {
        let mut t = Totals::default();
        t.add_status(200, 5);
        t.add_status(404, 2);
        t.add_status(502, 1);
        assert_eq!((t.requests, t.client_errors, t.errors), (8, 2, 1));
    }

    #[test]
    fn deltas_between_samples_go_to_the_hour_and_the_minute() {
        let mut r = Roller::new();
        let h = 10 * HOUR_MS;
        let first = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(10, 1, 9))]),
            h + 61_000,
            "gw-a",
        );
        assert_eq!(first.len(), 2);
        let hour = first.iter().find(|d| d.span_ms == HOUR_MS).unwrap();
        let minute = first.iter().find(|d| d.span_ms == MINUTE_MS).unwrap();
        assert_eq!((hour.start_ms, minute.start_ms), (h, h + 60_000));
        assert_eq!(hour.gateway, "gw-a");
        assert_eq!(hour.counts.requests, 10);
        assert_eq!(hour.counts.errors, 1);
        // 9 requests at ≤ 10 ms (bucket 4), 1 above the last bound.
        assert_eq!(hour.counts.buckets[4], 9);
        assert_eq!(hour.counts.buckets[LATENCY_BUCKETS - 1], 1);
        assert_eq!(hour.counts.buckets.iter().sum::<i64>(), 10);
        r.stored();
        // Nothing new: nothing to write.
        let idle = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(10, 1, 9))]),
            h + 62_000,
            "gw-a",
        );
        assert!(idle.is_empty());
        // 5 more, all fast.
        let next = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(15, 1, 14))]),
            h + 70_000,
            "gw-a",
        );
        let hour = next.iter().find(|d| d.span_ms == HOUR_MS).unwrap();
        assert_eq!(hour.counts.requests, 5);
        assert_eq!(hour.counts.errors, 0);
        assert_eq!(hour.counts.buckets[4], 5);
    }

    #[test]
    fn deltas_the_store_refused_go_again_and_add_up() {
        let mut r = Roller::new();
        let h = 10 * HOUR_MS;
        let one = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(3, 0, 3))]),
            h,
            "gw",
        );
        assert_eq!(one.len(), 2);
        assert_eq!(r.failed(), 2);
        let two = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(7, 0, 7))]),
            h + 1_000,
            "gw",
        );
        let hour = two.iter().find(|d| d.span_ms == HOUR_MS).unwrap();
        assert_eq!(hour.counts.requests, 7, "3 refused before plus 4 new");
        r.stored();
        // A minute row older than the retention is dropped, the hour kept.
        let three = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(8, 0, 8))]),
            h + 2_000,
            "gw",
        );
        assert_eq!(three.len(), 2);
        let later = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(8, 0, 8))]),
            h + KEEP_MINUTES_MS + 120_000,
            "gw",
        );
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].span_ms, HOUR_MS);
    }

    #[test]
    fn a_reset_series_counts_from_zero() {
        let mut r = Roller::new();
        r.tick(
            BTreeMap::from([("hpf".to_string(), totals(100, 0, 100))]),
            0,
            "gw",
        );
        r.stored();
        let after = r.tick(
            BTreeMap::from([("hpf".to_string(), totals(4, 0, 4))]),
            1_000,
            "gw",
        );
        assert_eq!(after[0].counts.requests, 4);
    }

    #[test]
    fn an_unknown_bound_counts_at_the_next_larger_one() {
        let mut t = Totals::default();
        // 0.007 s lies between 5 ms and 10 ms: counted at 10 ms.
        t.add_histogram(&[(0.007, 2), (f64::INFINITY, 3)], 3);
        assert_eq!(t.cumulative[4], 2);
        assert_eq!(t.cumulative[LATENCY_BUCKETS - 1], 3);
    }
}
