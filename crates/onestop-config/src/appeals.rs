//! `[appeals]`: citizens' appeals (诉求) — time limits per kind, the
//! working-day calendar, dispatch rules (派单), input and attachment limits,
//! and the overdue scanner.
//!
//! Kinds, limits and dates are kept as written (strings) so that the file
//! round-trips unchanged; [`validate`](crate::validate) parses them with
//! `onestop-appeals` and reports each bad one at its file, line and column.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[appeals]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AppealSettings {
    /// Take appeals on the public listener and run the overdue scanner.
    pub enabled: bool,
    /// Time limits per kind (`consult`, `help`, `complaint`, `report`,
    /// `suggestion`, `praise`, `emergency`); a kind not named keeps
    /// Guangdong's defaults.
    pub limits: BTreeMap<String, AppealLimits>,
    /// Public holidays (`YYYY-MM-DD`) that are not working days.
    pub holidays: Vec<String>,
    /// Weekend days (`YYYY-MM-DD`) that are working days (调休上班).
    pub workdays: Vec<String>,
    /// Dispatch rules, tried in order; the first that matches decides.
    pub rules: Vec<DispatchRule>,
    /// Longest title, in characters (1-1000).
    pub max_title_chars: usize,
    /// Longest content, in characters (1-100000).
    pub max_content_chars: usize,
    /// Largest attachment in bytes (a larger upload: 413 `BODY_TOO_LARGE`,
    /// before the body is read when `Content-Length` says so).
    pub max_attachment_bytes: u64,
    /// Most attachments per submission or reply.
    pub max_attachments: u32,
    /// Media types attachments may have; the content must be one (JPEG,
    /// PNG and PDF are recognised by their magic bytes; others never pass).
    pub attachment_types: Vec<String>,
    /// How often the overdue scanner looks (100ms-1h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub scan_interval: Duration,
    /// How long one gateway holds the scanner's lease in the store (1s-1h;
    /// at least twice the scan interval).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub scan_lease: Duration,
    /// How long after an overdue appeal's reminder (催办) it is supervised
    /// (督办) by the operators if still overdue: `"N working days"` or a
    /// duration (`"10m"`). Default: 1 working day (the next day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervise_after: Option<String>,
    /// The emergency department (a declared department): the only one
    /// that sees an `emergency` appeal's location. Unset: no department
    /// and no operator sees it (only the citizen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_dept: Option<String>,
}

impl Default for AppealSettings {
    fn default() -> Self {
        AppealSettings {
            enabled: true,
            limits: BTreeMap::new(),
            holidays: Vec::new(),
            workdays: Vec::new(),
            rules: Vec::new(),
            max_title_chars: 100,
            max_content_chars: 2_000,
            max_attachment_bytes: 5 * 1024 * 1024,
            max_attachments: 5,
            attachment_types: vec![
                "image/jpeg".into(),
                "image/png".into(),
                "application/pdf".into(),
            ],
            scan_interval: Duration::from_secs(10),
            scan_lease: Duration::from_secs(30),
            supervise_after: None,
            emergency_dept: None,
        }
    }
}

/// One kind's time limits: `"N working days"` or a duration (`"2h"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealLimits {
    /// From dispatch to acceptance (签收).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<String>,
    /// From submission to the reply (办结).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// `[[appeals.rules]]`: send matching appeals to `dept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRule {
    /// The department (declared in `departments/`).
    pub dept: String,
    /// Kinds it applies to (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Catalog matters it applies to (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matters: Vec<String>,
    /// One of these words must be in the title or content (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

impl AppealSettings {
    /// Compile a validated section (whatever does not parse is skipped:
    /// validation has refused it already). `utc_offset_hours` is the
    /// platform's zone (`[assessment]`); `depts` the declared departments.
    pub fn compile(
        &self,
        utc_offset_hours: i32,
        depts: impl IntoIterator<Item = String>,
    ) -> onestop_appeals::Settings {
        use onestop_appeals::{Calendar, Day, Kind, KindLimits, Limit, Rule, Rules};
        let mut calendar = Calendar::new(utc_offset_hours);
        calendar.holidays = self
            .holidays
            .iter()
            .filter_map(|d| d.parse::<Day>().ok())
            .collect();
        calendar.workdays = self
            .workdays
            .iter()
            .filter_map(|d| d.parse::<Day>().ok())
            .collect();
        let limits = Kind::ALL
            .into_iter()
            .map(|k| {
                let mut l = KindLimits::default_for(k);
                if let Some(c) = self.limits.get(k.as_str()) {
                    if let Some(a) = c.accept.as_deref().and_then(|s| s.parse::<Limit>().ok()) {
                        l.accept = a;
                    }
                    if let Some(r) = c.reply.as_deref().and_then(|s| s.parse::<Limit>().ok()) {
                        l.reply = r;
                    }
                }
                (k, l)
            })
            .collect();
        let rules = self
            .rules
            .iter()
            .map(|r| Rule {
                dept: r.dept.clone(),
                kinds: r.kinds.iter().filter_map(|k| k.parse().ok()).collect(),
                matters: r.matters.clone(),
                keywords: r.keywords.clone(),
            })
            .collect();
        onestop_appeals::Settings {
            calendar,
            limits,
            rules: Rules {
                rules,
                depts: depts.into_iter().collect(),
            },
            input: onestop_appeals::InputLimits {
                max_title_chars: self.max_title_chars,
                max_content_chars: self.max_content_chars,
                max_attachment_bytes: self.max_attachment_bytes,
                max_attachments: self.max_attachments as usize,
                attachment_types: self.attachment_types.clone(),
                ..onestop_appeals::InputLimits::default()
            },
            emergency_dept: self.emergency_dept.clone(),
            supervise_after: self
                .supervise_after
                .as_deref()
                .and_then(|s| s.parse::<Limit>().ok())
                .unwrap_or(onestop_appeals::SUPERVISE_AFTER),
        }
    }
}

#[cfg(test)]
mod tests;
