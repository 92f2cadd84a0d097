//! Dates, weekdays, limits and deadlines worked out by hand.

use super::*;

fn day(s: &str) -> Day {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// China's calendar with the 2026 National Day week: 10-01..10-07 off, the
/// Sunday 09-20 and the Saturday 10-10 worked (a made-up but typical 调休).
fn china() -> Calendar {
    let mut c = Calendar::new(8);
    for d in 1..=7 {
        c.holidays.insert(day(&format!("2026-10-0{d}")));
    }
    c.workdays.insert(day("2026-09-20"));
    c.workdays.insert(day("2026-10-10"));
    c
}

/// Epoch ms of a local (UTC+8) time.
fn local(date: &str, h: i64, m: i64) -> Millis {
    (day(date).0 * 86_400 + h * 3_600 + m * 60 - 8 * 3_600) * 1_000
}

#[test]
fn days_round_trip_and_know_their_weekday() {
    assert_eq!(day("1970-01-01"), Day(0));
    assert_eq!(Day(0).weekday(), 4);
    assert_eq!(day("2026-12-06").weekday(), 7);
    assert_eq!(day("2026-12-07").weekday(), 1);
    assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
    for n in -800_000..800_000 {
        if n % 97 == 0 {
            let (y, m, d) = Day(n).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Some(Day(n)));
        }
    }
    for bad in [
        "2025-02-29",
        "2026-13-01",
        "2026-1-01",
        "2026-01-00",
        "26-01-01",
        "x",
        "2026-01-01-1",
    ] {
        assert!(bad.parse::<Day>().is_err(), "{bad}");
    }
}

#[test]
fn limits_parse_and_print() {
    assert_eq!("2 working days".parse(), Ok(Limit::WorkingDays(2)));
    assert_eq!("1 working day".parse(), Ok(Limit::WorkingDays(1)));
    assert_eq!("2h".parse(), Ok(Limit::Millis(7_200_000)));
    assert_eq!("30m".parse(), Ok(Limit::Millis(1_800_000)));
    assert_eq!("3s".parse(), Ok(Limit::Millis(3_000)));
    assert_eq!("1500ms".parse(), Ok(Limit::Millis(1_500)));
    for bad in [
        "",
        "0 working days",
        "0s",
        "two days",
        "5 days",
        "3",
        "h",
        "-1h",
        "1.5h",
    ] {
        assert!(bad.parse::<Limit>().is_err(), "{bad}");
    }
    for s in [
        "2 working days",
        "1 working day",
        "2h",
        "30m",
        "3s",
        "1500ms",
    ] {
        let l: Limit = s.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.to_string(), s);
    }
}

#[test]
fn working_days_skip_weekends_and_holidays_and_count_make_up_days() {
    let c = china();
    assert!(c.is_working_day(day("2026-09-18"))); // Friday
    assert!(!c.is_working_day(day("2026-09-19"))); // Saturday
    assert!(c.is_working_day(day("2026-09-20"))); // Sunday, made up
    assert!(!c.is_working_day(day("2026-10-01"))); // holiday, Thursday
    assert!(c.is_working_day(day("2026-10-10"))); // Saturday, made up
}

#[test]
fn deadlines_in_working_days() {
    let c = china();
    // Submitted Monday 2026-12-07 10:00: 2 working days → end of Wednesday.
    assert_eq!(
        c.deadline(local("2026-12-07", 10, 0), Limit::WorkingDays(2)),
        local("2026-12-10", 0, 0)
    );
    // Submitted Friday 23:59 local: the submission day does not count → Tuesday.
    assert_eq!(
        c.deadline(local("2026-12-11", 23, 59), Limit::WorkingDays(2)),
        local("2026-12-16", 0, 0)
    );
    // Saturday 00:30 local (still Friday 16:30 UTC): counted from the local day.
    assert_eq!(
        c.deadline(local("2026-12-12", 0, 30), Limit::WorkingDays(1)),
        local("2026-12-15", 0, 0)
    );
    // Friday 09-18 before National Day: 09-20 (Sunday, worked) is day 1,
    // 09-21..09-25 are days 2–6, 09-28..09-30 are 7–9, the holiday week
    // 10-01..10-07 is skipped, 10-08 is 10 (Thursday).
    assert_eq!(
        c.deadline(local("2026-09-18", 15, 0), Limit::WorkingDays(10)),
        local("2026-10-09", 0, 0)
    );
    // 15 working days from 09-30: 10-08, 10-09, 10-10 (made up), 10-12…
    assert_eq!(
        c.deadline(local("2026-09-30", 9, 0), Limit::WorkingDays(3)),
        local("2026-10-11", 0, 0)
    );
}

#[test]
fn deadlines_in_hours_are_wall_clock() {
    let c = china();
    let at = local("2026-10-03", 22, 0);
    assert_eq!(c.deadline(at, Limit::Millis(7_200_000)), at + 7_200_000);
}

#[test]
fn a_calendar_without_working_days_still_ends() {
    let mut c = Calendar::new(0);
    for n in 0..40_000 {
        c.holidays.insert(Day(n));
    }
    let d = c.deadline(0, Limit::WorkingDays(1));
    assert!(d > 0);
}
