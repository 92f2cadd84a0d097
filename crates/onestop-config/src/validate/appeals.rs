//! Checks of `[appeals]`.

use std::collections::HashSet;
use std::time::Duration;

use onestop_appeals::{Day, Kind, Limit};

use super::{GatewayDoc, Validator};
use crate::Config;

impl Validator {
    pub(super) fn appeal_settings(
        &mut self,
        doc: &GatewayDoc<'_>,
        config: &Config,
        departments: &HashSet<&str>,
    ) {
        let a = &config.gateway.appeals;
        for (kind, limits) in &a.limits {
            if kind.parse::<Kind>().is_err() {
                self.gw(
                    doc,
                    &[&format!("appeals.limits.{kind}")],
                    format!(
                        "appeals.limits.{kind}: unknown appeal kind (one of consult, help, complaint, report, suggestion, praise, emergency)"
                    ),
                );
                continue;
            }
            for (key, value) in [("accept", &limits.accept), ("reply", &limits.reply)] {
                if let Some(v) = value
                    && let Err(e) = v.parse::<Limit>()
                {
                    self.gw(
                        doc,
                        &[&format!("appeals.limits.{kind}.{key}")],
                        format!("appeals.limits.{kind}.{key}: {e}"),
                    );
                }
            }
        }
        if let Some(v) = &a.supervise_after
            && let Err(e) = v.parse::<Limit>()
        {
            self.gw(
                doc,
                &["appeals.supervise_after"],
                format!("appeals.supervise_after: {e}"),
            );
        }
        for (key, days) in [("holidays", &a.holidays), ("workdays", &a.workdays)] {
            let mut seen = HashSet::new();
            for (i, d) in days.iter().enumerate() {
                let path = format!("appeals.{key}.{i}");
                match d.parse::<Day>() {
                    Err(e) => self.gw(doc, &[&path], format!("appeals.{key}[{i}]: {e}")),
                    Ok(day) if !seen.insert(day) => {
                        self.gw(doc, &[&path], format!("appeals.{key}[{i}]: `{d}` is listed twice"))
                    }
                    Ok(day) if key == "workdays" && day.weekday() <= 5 => self.gw(
                        doc,
                        &[&path],
                        format!("appeals.workdays[{i}]: `{d}` is a weekday (make-up working days are weekend days)"),
                    ),
                    Ok(_) => {}
                }
            }
        }
        let holidays: HashSet<&String> = a.holidays.iter().collect();
        for (i, d) in a.workdays.iter().enumerate() {
            if holidays.contains(d) {
                self.gw(
                    doc,
                    &[&format!("appeals.workdays.{i}")],
                    format!("appeals.workdays[{i}]: `{d}` is also a holiday"),
                );
            }
        }
        if let Some(d) = &a.emergency_dept
            && !departments.contains(d.as_str())
        {
            self.gw(
                doc,
                &["appeals.emergency_dept"],
                format!("appeals.emergency_dept: unknown department `{d}`"),
            );
        }
        for (i, rule) in a.rules.iter().enumerate() {
            if !departments.contains(rule.dept.as_str()) {
                self.gw(
                    doc,
                    &[&format!("appeals.rules.{i}.dept")],
                    format!(
                        "appeals.rules[{i}].dept: unknown department `{}`",
                        rule.dept
                    ),
                );
            }
            for (j, k) in rule.kinds.iter().enumerate() {
                if k.parse::<Kind>().is_err() {
                    self.gw(
                        doc,
                        &[&format!("appeals.rules.{i}.kinds.{j}")],
                        format!("appeals.rules[{i}].kinds[{j}]: unknown appeal kind `{k}`"),
                    );
                }
            }
            for (j, w) in rule.keywords.iter().enumerate() {
                if w.trim().is_empty() {
                    self.gw(
                        doc,
                        &[&format!("appeals.rules.{i}.keywords.{j}")],
                        format!("appeals.rules[{i}].keywords[{j}] must not be empty"),
                    );
                }
            }
        }
        for (key, value, min, max) in [
            ("max_title_chars", a.max_title_chars, 1, 1_000),
            ("max_content_chars", a.max_content_chars, 1, 100_000),
        ] {
            if !(min..=max).contains(&value) {
                self.gw(
                    doc,
                    &[&format!("appeals.{key}")],
                    format!("appeals.{key} must be between {min} and {max}"),
                );
            }
        }
        for (i, t) in a.attachment_types.iter().enumerate() {
            let ok = t.split_once('/').is_some_and(|(top, sub)| {
                !top.is_empty()
                    && !sub.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/.+-".contains(c))
            });
            if !ok {
                self.gw(
                    doc,
                    &[&format!("appeals.attachment_types.{i}")],
                    format!("appeals.attachment_types[{i}]: `{t}` is not a media type"),
                );
            }
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&a.scan_interval) {
            self.gw(
                doc,
                &["appeals.scan_interval"],
                "appeals.scan_interval must be between 100ms and 1h".into(),
            );
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&a.scan_lease)
            || a.scan_lease < a.scan_interval * 2
        {
            self.gw(
                doc,
                &["appeals.scan_lease"],
                "appeals.scan_lease must be between 1s and 1h and at least twice appeals.scan_interval"
                    .into(),
            );
        }
    }
}
