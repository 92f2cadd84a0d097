//! `[appeals]`: a full section round-trips and compiles; every bad value is
//! reported at its file, line and column.

#![allow(clippy::unwrap_used)]

use onestop_appeals::{Day, Kind, Limit};

use crate::{Config, Diagnostic, Diagnostics, Source, parse_sources};

const HPF: &str = r#"[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "accounts"
instances = [{ addr = "127.0.0.1:9001" }]

[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/accounts/{citizen}"
methods = ["GET"]
service = "accounts"
"#;

fn load(gateway: &str) -> Result<Config, Vec<Diagnostic>> {
    parse_sources(
        Some(Source::new("onestop.toml", gateway)),
        vec![Source::new("departments/hpf.toml", HPF)],
    )
    .map_err(|Diagnostics(p)| p)
}

const FULL: &str = r#"[appeals]
enabled = false
holidays = ["2026-10-01", "2026-10-02"]
workdays = ["2026-09-20"]
max_title_chars = 80
max_content_chars = 500
max_attachment_bytes = 1048576
max_attachments = 3
attachment_types = ["image/png"]
scan_interval = "1s"
scan_lease = "5s"
emergency_dept = "hpf"

[appeals.limits.consult]
accept = "4h"
reply = "3 working days"

[appeals.limits.emergency]
reply = "90m"

[[appeals.rules]]
dept = "hpf"
kinds = ["consult", "help"]
matters = ["hpf.balance"]
keywords = ["公积金"]
"#;

#[test]
fn a_full_section_round_trips_and_compiles() {
    let config = load(FULL).unwrap();
    let a = &config.gateway.appeals;
    let d = super::AppealSettings::default();
    assert_ne!(a.enabled, d.enabled);
    assert_ne!(a.max_title_chars, d.max_title_chars);
    assert_ne!(a.max_content_chars, d.max_content_chars);
    assert_ne!(a.max_attachment_bytes, d.max_attachment_bytes);
    assert_ne!(a.max_attachments, d.max_attachments);
    assert_ne!(a.attachment_types, d.attachment_types);
    assert_ne!(a.scan_interval, d.scan_interval);
    assert_ne!(a.scan_lease, d.scan_lease);
    assert_ne!(a.emergency_dept, d.emergency_dept);
    let text = toml::to_string(&config.gateway).unwrap();
    let back: crate::GatewayFile = toml::from_str(&text).unwrap();
    assert_eq!(&back.appeals, a);

    let c = a.compile(8, ["hpf".to_string()]);
    assert_eq!(
        c.limits[&Kind::Consult].accept,
        Limit::Millis(4 * 3_600_000)
    );
    assert_eq!(c.limits[&Kind::Consult].reply, Limit::WorkingDays(3));
    assert_eq!(
        c.limits[&Kind::Emergency].accept,
        Limit::Millis(30 * 60_000)
    );
    assert_eq!(c.limits[&Kind::Emergency].reply, Limit::Millis(90 * 60_000));
    assert_eq!(c.limits[&Kind::Complaint].reply, Limit::WorkingDays(15));
    assert!(
        c.calendar
            .holidays
            .contains(&"2026-10-02".parse::<Day>().unwrap())
    );
    assert!(
        c.calendar
            .is_working_day("2026-09-20".parse::<Day>().unwrap())
    );
    assert!(c.rules.depts.contains("hpf"));
    assert_eq!(c.rules.rules[0].kinds, vec![Kind::Consult, Kind::Help]);
    assert_eq!(c.input.max_content_chars, 500);
    assert_eq!(c.emergency_dept.as_deref(), Some("hpf"));
}

#[test]
fn every_bad_value_is_located() {
    let text = r#"[appeals]
holidays = ["2026-02-30", "2026-10-01", "2026-10-01"]
workdays = ["2026-09-21", "2026-10-01"]
max_content_chars = 0
attachment_types = ["png"]
scan_interval = "1s"
scan_lease = "1s"
emergency_dept = "nobody"

[appeals.limits.rant]
reply = "1 working day"

[appeals.limits.help]
accept = "soon"

[[appeals.rules]]
dept = "nobody"
kinds = ["help", "moan"]
keywords = [" "]
"#;
    let p = load(text).unwrap_err();
    let got: Vec<(usize, usize, &str)> = p
        .iter()
        .map(|d| (d.line, d.col, d.message.as_str()))
        .collect();
    let want: &[(usize, usize, &str)] = &[
        (
            14,
            10,
            "appeals.limits.help.accept: `soon` is not a time limit",
        ),
        (10, 1, "appeals.limits.rant: unknown appeal kind"),
        (2, 13, "appeals.holidays[0]: `2026-02-30` is not a date"),
        (2, 41, "appeals.holidays[2]: `2026-10-01` is listed twice"),
        (3, 13, "appeals.workdays[0]: `2026-09-21` is a weekday"),
        (3, 27, "appeals.workdays[1]: `2026-10-01` is a weekday"),
        (3, 27, "appeals.workdays[1]: `2026-10-01` is also a holiday"),
        (8, 18, "appeals.emergency_dept: unknown department `nobody`"),
        (17, 8, "appeals.rules[0].dept: unknown department `nobody`"),
        (
            18,
            18,
            "appeals.rules[0].kinds[1]: unknown appeal kind `moan`",
        ),
        (19, 13, "appeals.rules[0].keywords[0] must not be empty"),
        (
            4,
            21,
            "appeals.max_content_chars must be between 1 and 100000",
        ),
        (
            5,
            21,
            "appeals.attachment_types[0]: `png` is not a media type",
        ),
        (
            7,
            14,
            "appeals.scan_lease must be between 1s and 1h and at least twice",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1), (w.0, w.1), "{g:?}");
        assert!(g.2.contains(w.2), "`{}` not in `{}`", w.2, g.2);
    }
    assert!(load("[appeals]\nsurprise = 1\n").is_err());
    assert!(load("[[appeals.rules]]\ndept = \"hpf\"\nwords = [\"x\"]\n").is_err());
    assert_eq!(load("").map(|c| c.gateway.appeals.enabled).ok(), Some(true));
}

#[test]
fn supervise_after_compiles_and_a_bad_one_is_located() {
    let c = load("[appeals]\nsupervise_after = \"90s\"\n").unwrap();
    let settings = c.gateway.appeals.compile(8, ["hpf".to_string()]);
    assert_eq!(settings.supervise_after, Limit::Millis(90_000));
    let default = load("").unwrap().gateway.appeals.compile(8, Vec::new());
    assert_eq!(default.supervise_after, Limit::WorkingDays(1));
    let p = load("[appeals]\nscan_interval = \"10s\"\nsupervise_after = \"later\"\n").unwrap_err();
    let got: Vec<(usize, usize, &str)> = p
        .iter()
        .map(|d| (d.line, d.col, d.message.as_str()))
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (3, 19), "{got:?}");
    assert!(
        got[0]
            .2
            .contains("appeals.supervise_after: `later` is not a time limit"),
        "{got:?}"
    );
}
