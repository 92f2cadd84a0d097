//! Deterministic data helpers: stable hashing, per-document RNGs and a small
//! proleptic-Gregorian calendar (the sim needs dates but not a date crate).
//!
//! Everything a department returns is a pure function of the fleet seed, the
//! department, the matter and the citizen, so two runs with the same seed
//! serve byte-identical documents (receipts aside).

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The simulated "today": documents are dated relative to this day so that
/// they do not change from one run to the next.
pub const TODAY: Date = Date {
    year: 2026,
    month: 11,
    day: 20,
};

/// Seconds east of UTC for China Standard Time.
const CST_OFFSET_SECS: i64 = 8 * 3600;

/// A stable 64-bit hash of a seed and a list of strings (FNV-1a, then a
/// SplitMix64 finaliser). Unlike `std`'s `DefaultHasher`, the value is fixed
/// forever, which is what keeps the fleet's data stable across releases.
pub fn stable_hash(seed: u64, parts: &[&str]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    let mut eat = |byte: u8| {
        h ^= u64::from(byte);
        h = h.wrapping_mul(FNV_PRIME);
    };
    seed.to_le_bytes().into_iter().for_each(&mut eat);
    for part in parts {
        part.bytes().for_each(&mut eat);
        eat(0xff); // separator: ["ab","c"] and ["a","bc"] differ
    }
    splitmix64(h)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A ChaCha8 generator seeded from [`stable_hash`] of the parts.
pub fn rng_for(seed: u64, parts: &[&str]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stable_hash(seed, parts))
}

/// Picks one element of a non-empty slice.
pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// An amount of money in fen (1/100 yuan) between two whole-yuan bounds.
pub fn fen(rng: &mut impl Rng, min_yuan: i64, max_yuan: i64) -> i64 {
    rng.random_range(min_yuan * 100..=max_yuan * 100)
}

/// Streets that generated addresses lie on.
pub const STREETS: &[&str] = &[
    "解放碑街道民族路",
    "大坪街道长江二路",
    "观音桥街道建新北路",
    "南坪街道江南大道",
    "人民路",
    "中山东一路",
    "天河路",
    "科技园南区高新南七道",
    "春熙路",
    "文三路",
];

/// Employers, withholders and depositing units.
pub const EMPLOYERS: &[&str] = &[
    "重庆长安汽车股份有限公司",
    "重庆市轨道交通（集团）有限公司",
    "上海浦东发展银行股份有限公司",
    "广州地铁集团有限公司",
    "深圳市腾讯计算机系统有限公司",
    "中国移动通信集团重庆有限公司",
    "重庆市渝中区人民医院",
    "成都市锦江区教育局",
    "国网重庆市电力公司",
    "重庆小天鹅餐饮有限公司",
    "京东方科技集团股份有限公司",
    "灵活就业人员",
];

/// Banks that pay pensions and lend.
pub const BANKS: &[&str] = &[
    "中国工商银行",
    "中国建设银行",
    "中国农业银行",
    "中国银行",
    "重庆农村商业银行",
    "招商银行",
];

/// The current wall-clock time in China Standard Time, RFC 3339, e.g.
/// `2026-11-20T09:30:05+08:00` (for receipts, which are not deterministic).
pub fn now_cst() -> String {
    let utc = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    let local = utc + CST_OFFSET_SECS;
    let date = Date::from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    format!(
        "{date}T{:02}:{:02}:{:02}+08:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Builds a date when `year-month-day` exists in the calendar.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.splitn(3, '-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn to_days(self) -> i64 {
        // Howard Hinnant's `days_from_civil`.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        // Howard Hinnant's `civil_from_days`.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }

    pub fn add_days(self, days: i64) -> Date {
        Date::from_days(self.to_days() + days)
    }

    /// Whole years from `self` to `on` (an age, when `self` is a birthday).
    pub fn years_until(self, on: Date) -> i32 {
        let mut years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }

    /// `YYYYMMDD`.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM`.
    pub fn period(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The first day of the month `months` months before this one.
    pub fn months_back(self, months: u32) -> Date {
        let index = self.year * 12 + i32::try_from(self.month).unwrap_or(1)
            - 1
            - i32::try_from(months).unwrap_or(0);
        Date {
            year: index.div_euclid(12),
            month: u32::try_from(index.rem_euclid(12)).unwrap_or(0) + 1,
            day: 1,
        }
    }

    /// RFC 3339 local time in China Standard Time, e.g. `2026-11-20T09:30:00+08:00`.
    pub fn at(self, hour: u32, minute: u32) -> String {
        format!("{self}T{hour:02}:{minute:02}:00+08:00")
    }

    /// The instant `hour:minute` China Standard Time on this day.
    pub fn timestamp(self, hour: u32, minute: u32) -> prost_types::Timestamp {
        let local = self.to_days() * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60;
        prost_types::Timestamp {
            seconds: local - CST_OFFSET_SECS,
            nanos: 0,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        for days in [-7305, -1, 0, 1, 10_957, 20_412, 20_777] {
            assert_eq!(Date::from_days(days).to_days(), days);
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(TODAY.to_days(), 20_777);
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.add_days(1).to_string()),
            Some("2024-03-01".into())
        );
        assert_eq!(Date::parse("2023-02-29"), None);
    }

    #[test]
    fn months_back_wraps_years() {
        assert_eq!(TODAY.months_back(11).period(), "2025-12");
        assert_eq!(TODAY.months_back(0).period(), "2026-11");
    }

    #[test]
    fn timestamps_are_cst() {
        // 1970-01-01T08:00+08:00 is the epoch.
        assert_eq!(Date::from_days(0).timestamp(8, 0).seconds, 0);
    }

    #[test]
    fn stable_hash_is_stable_and_separates_parts() {
        assert_eq!(stable_hash(1, &["a", "b"]), stable_hash(1, &["a", "b"]));
        assert_ne!(stable_hash(1, &["ab", "c"]), stable_hash(1, &["a", "bc"]));
        assert_ne!(stable_hash(1, &["a"]), stable_hash(2, &["a"]));
    }
}
