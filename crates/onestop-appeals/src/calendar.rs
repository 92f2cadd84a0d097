//! The working-day calendar and time limits (时限).
//!
//! Days are counted in the platform's zone (`utc_offset_hours` east of
//! UTC). A day is a working day when it is a configured make-up working day
//! (调休上班), or else when it is Monday to Friday and not a configured
//! holiday. A limit of N working days ends at the end (local midnight) of
//! the N-th working day after the day the clock started: the day of
//! submission itself does not count, as in Guangdong's rules. A limit in
//! hours (or any duration) is wall-clock time.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::Millis;

const DAY_MS: i64 = 86_400_000;

/// A calendar day: days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The day of `y-m-d` (proleptic Gregorian), `None` when it is no date.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Day> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Day(era * 146_097 + doe - 719_468))
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    /// 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
    pub fn weekday(self) -> u32 {
        ((self.0 + 3).rem_euclid(7) + 1) as u32
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl FromStr for Day {
    type Err = LimitError;
    /// `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Day, LimitError> {
        let bad = || LimitError(format!("`{s}` is not a date (YYYY-MM-DD)"));
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i64 = y.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        let d: u32 = d.parse().map_err(|_| bad())?;
        Day::from_ymd(y, m, d).ok_or_else(bad)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// N working days on the calendar.
    WorkingDays(u32),
    /// Wall-clock milliseconds (hours for emergencies; seconds in tests).
    Millis(i64),
}

/// A limit or date that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(pub String);

impl FromStr for Limit {
    type Err = LimitError;
    /// `"N working days"` (or `"1 working day"`), or a duration with a unit:
    /// `"2h"`, `"30m"`, `"5s"`, `"1500ms"`.
    fn from_str(s: &str) -> Result<Limit, LimitError> {
        let t = s.trim();
        let bad = || {
            LimitError(format!(
                "`{s}` is not a time limit (\"N working days\", or a number with h, m, s or ms)"
            ))
        };
        if let Some(n) = t
            .strip_suffix("working days")
            .or_else(|| t.strip_suffix("working day"))
        {
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(LimitError(format!("`{s}`: a limit must be above zero")));
            }
            return Ok(Limit::WorkingDays(n));
        }
        let (num, unit) = t
            .find(|c: char| !c.is_ascii_digit())
            .map(|i| t.split_at(i))
            .ok_or_else(bad)?;
        let n: i64 = num.parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "h" => 3_600_000,
            "m" | "min" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return Err(bad()),
        };
        if n == 0 {
            return Err(LimitError(format!("`{s}`: a limit must be above zero")));
        }
        n.checked_mul(per).map(Limit::Millis).ok_or_else(bad)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::WorkingDays(1) => f.write_str("1 working day"),
            Limit::WorkingDays(n) => write!(f, "{n} working days"),
            Limit::Millis(ms) if ms % 3_600_000 == 0 => write!(f, "{}h", ms / 3_600_000),
            Limit::Millis(ms) if ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000),
            Limit::Millis(ms) if ms % 1_000 == 0 => write!(f, "{}s", ms / 1_000),
            Limit::Millis(ms) => write!(f, "{ms}ms"),
        }
    }
}

/// Weekends, holidays and make-up working days in the platform's zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Hours east of UTC (8 for China).
    pub utc_offset_hours: i32,
    /// Days off that would be working days (法定节假日).
    pub holidays: BTreeSet<Day>,
    /// Weekend days that are working days (调休上班).
    pub workdays: BTreeSet<Day>,
}

impl Calendar {
    /// A calendar with weekends only.
    pub fn new(utc_offset_hours: i32) -> Calendar {
        Calendar {
            utc_offset_hours,
            ..Calendar::default()
        }
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.utc_offset_hours) * 3_600_000
    }

    /// The local day holding `at`.
    pub fn day_of(&self, at: Millis) -> Day {
        Day((at + self.offset_ms()).div_euclid(DAY_MS))
    }

    /// Local midnight starting `day`, in epoch milliseconds.
    pub fn start_of(&self, day: Day) -> Millis {
        day.0 * DAY_MS - self.offset_ms()
    }

    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: Day) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        day.weekday() <= 5 && !self.holidays.contains(&day)
    }

    /// When a limit that started at `from` runs out.
    pub fn deadline(&self, from: Millis, limit: Limit) -> Millis {
        match limit {
            Limit::Millis(ms) => from.saturating_add(ms),
            Limit::WorkingDays(n) => {
                let mut day = self.day_of(from);
                let mut left = n.max(1);
                // A limit in working days never needs more than a few weeks
                // of holidays in a row; the bound keeps a broken calendar
                // (every day a holiday) from looping forever.
                for _ in 0..3_660 {
                    day = Day(day.0 + 1);
                    if self.is_working_day(day) {
                        left -= 1;
                        if left == 0 {
                            break;
                        }
                    }
                }
                self.start_of(Day(day.0 + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests;
