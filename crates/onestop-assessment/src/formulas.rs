//! The assessment's formulas, pure: rates over items whose outcome is
//! known, latency quantiles from summed histogram buckets, and the
//! calendar arithmetic of assessment months. docs/assessment.md states
//! each formula in words; the tests here check them against values worked
//! out by hand.
//!
//! A rate whose denominator is 0 is `None` ("no data"), never 0 % or
//! 100 %: a department that had nothing due is not rated on it.

use onestop_store::{LATENCY_BUCKETS, Millis};

/// Upper bounds (seconds) of the latency buckets, as the data plane's
/// request-duration histogram has them (`onestop_proxy::events`); a
/// roll-up's last bucket counts everything slower than the last bound.
pub const LATENCY_BOUNDS: [f64; LATENCY_BUCKETS - 1] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
    30.0,
];

/// `numerator / denominator`, or `None` when nothing was counted.
pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    if denominator <= 0 {
        return None;
    }
    // Counts stay far below 2^53: exact as f64.
    Some(numerator as f64 / denominator as f64)
}

/// The `q`-quantile (0 < q ≤ 1) in milliseconds of the durations counted
/// in `buckets` (not cumulative; `buckets[i]` counts durations in
/// `(LATENCY_BOUNDS[i-1], LATENCY_BOUNDS[i]]`), interpolated linearly
/// within its bucket as Prometheus' `histogram_quantile` does. A quantile
/// in the last (unbounded) bucket is reported as the last bound. `None`
/// when nothing was counted.
pub fn quantile_ms(buckets: &[i64; LATENCY_BUCKETS], q: f64) -> Option<f64> {
    let total: i64 = buckets.iter().sum();
    if total <= 0 || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0_i64;
    for (i, &n) in buckets.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = LATENCY_BOUNDS.get(i) else {
                return LATENCY_BOUNDS.last().map(|b| b * 1000.0);
            };
            let lower = if i == 0 { 0.0 } else { LATENCY_BOUNDS[i - 1] };
            let within = (rank - below as f64) / n as f64;
            return Some((lower + (upper - lower) * within) * 1000.0);
        }
        below += n;
    }
    LATENCY_BOUNDS.last().map(|b| b * 1000.0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A calendar month in a time zone `utc_offset_hours` east of UTC
/// (China Standard Time: 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i64,
    /// 1-12.
    pub month: u32,
}

impl Month {
    /// `2026-12` → December 2026; `None` for anything else.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i64 = y.parse().ok()?;
        let month: u32 = m.parse().ok()?;
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// The month holding `at` in the zone.
    pub fn containing(at: Millis, utc_offset_hours: i32) -> Month {
        let local = at + i64::from(utc_offset_hours) * 3_600_000;
        let (year, month, _) = civil_from_days(local.div_euclid(86_400_000));
        Month { year, month }
    }

    /// The month before.
    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `[start, end)` in epoch milliseconds, midnight to midnight in the zone.
    pub fn range(self, utc_offset_hours: i32) -> (Millis, Millis) {
        let start = |m: Month| {
            days_from_civil(m.year, m.month, 1) * 86_400_000
                - i64::from(utc_offset_hours) * 3_600_000
        };
        (start(self), start(self.next()))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn ratios_have_no_data_without_a_denominator() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(3, 0), None);
        assert!(close(ratio(3, 4), 0.75));
        assert!(close(ratio(0, 4), 0.0));
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let mut b = [0_i64; LATENCY_BUCKETS];
        assert_eq!(quantile_ms(&b, 0.5), None);
        // 100 requests: 50 in (1 ms, 2.5 ms], 49 in (10 ms, 25 ms], 1 in (1 s, 2.5 s].
        b[2] = 50;
        b[5] = 49;
        b[11] = 1;
        // p50: rank 50, the 50th of bucket 2 → its upper bound, 2.5 ms.
        assert!(close(quantile_ms(&b, 0.5), 2.5));
        // p25: rank 25, half-way through (1, 2.5] → 1.75 ms.
        assert!(close(quantile_ms(&b, 0.25), 1.75));
        // p99: rank 99, the last of bucket 5 → 25 ms.
        assert!(close(quantile_ms(&b, 0.99), 25.0));
        // p99.5: rank 99.5, half-way through the one in (1 s, 2.5 s] → 1750 ms.
        assert!(close(quantile_ms(&b, 0.995), 1750.0));
        // In the unbounded bucket: the last bound.
        let mut slow = [0_i64; LATENCY_BUCKETS];
        slow[LATENCY_BUCKETS - 1] = 3;
        assert!(close(quantile_ms(&slow, 0.5), 30_000.0));
        // The first bucket starts at 0.
        let mut fast = [0_i64; LATENCY_BUCKETS];
        fast[0] = 4;
        assert!(close(quantile_ms(&fast, 0.5), 0.25));
        assert_eq!(quantile_ms(&fast, 0.0), None);
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        for d in [-800_000_i64, -1, 0, 59, 60, 10_957, 20_000, 30_000] {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }

    #[test]
    fn months_are_midnight_to_midnight_in_the_zone() {
        let dec = Month::parse("2026-12").unwrap();
        assert_eq!(dec.to_string(), "2026-12");
        assert_eq!(
            Month::parse("2026-1"),
            None,
            "two digits for the month, as the console sends it"
        );
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("x"), None);
        // 2026-12-01T00:00+08:00 is 2026-11-30T16:00Z = 1796054400000 ms.
        let (from, to) = dec.range(8);
        assert_eq!(from, 1_796_054_400_000);
        // 31 days later.
        assert_eq!(to - from, 31 * 86_400_000);
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(Month::parse("2027-01").unwrap().previous(), dec);
        // 2026-11-30T16:00Z is already December in Beijing, November in UTC.
        assert_eq!(Month::containing(from, 8), dec);
        assert_eq!(Month::containing(from, 0).to_string(), "2026-11");
        assert_eq!(Month::containing(from - 1, 8).to_string(), "2026-11");
        // February of a leap year.
        let (f, t) = Month::parse("2028-02").unwrap().range(0);
        assert_eq!(t - f, 29 * 86_400_000);
    }
}
