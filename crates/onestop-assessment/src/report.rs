//! The assessment report: per department and for the platform, built
//! (purely) from the store's period figures, summed traffic roll-ups,
//! appeals' figures when there are any, and the zombie report.

use std::collections::{BTreeMap, BTreeSet};

use onestop_store::{DeptPeriodFigures, Millis, TrafficCounts};
use serde::{Deserialize, Serialize};

use crate::formulas::{quantile_ms, ratio};

/// What appeals (诉求) report for one department over a period; the
/// appeals store provides them (see [`crate::AppealSource`]). Each rate
/// is a pair of counts, so that platform figures are sums, not averages
/// of rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppealFigures {
    /// Appeals dispatched to the department in the period.
    pub received: i64,
    /// Of those, how many reached acceptance or passed its time limit
    /// (the denominator of 响应率).
    pub acceptance_due: i64,
    /// Accepted within the acceptance time limit (响应率's numerator).
    pub accepted_in_time: i64,
    /// Closed in the period (the denominator of 解决率).
    pub closed: i64,
    /// Closed as resolved (解决率's numerator).
    pub resolved: i64,
    /// Replied appeals the citizen rated.
    pub rated: i64,
    /// Rated 4 or 5 (满意率's numerator; `rated` its denominator).
    pub satisfied: i64,
    /// Replied appeals the citizen did not rate (counted, never invented).
    pub unrated: i64,
    /// Replied, or past their reply deadline unreplied (the denominator
    /// of the on-time rate).
    pub reply_due: i64,
    /// Replied within the reply deadline.
    pub replied_in_time: i64,
    /// The rating distribution: how many rated 1 to 5 (`by_score[0]`
    /// counts 1s; 1-2 are bad ratings, 差评).
    #[serde(default)]
    pub by_score: [i64; 5],
}

impl AppealFigures {
    fn add(&mut self, o: &AppealFigures) {
        self.received += o.received;
        self.acceptance_due += o.acceptance_due;
        self.accepted_in_time += o.accepted_in_time;
        self.closed += o.closed;
        self.resolved += o.resolved;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.unrated += o.unrated;
        self.reply_due += o.reply_due;
        self.replied_in_time += o.replied_in_time;
        for (a, b) in self.by_score.iter_mut().zip(o.by_score) {
            *a += b;
        }
    }
}

/// Appeals' figures and rates of one department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppealRates {
    #[serde(flatten)]
    pub figures: AppealFigures,
    /// 响应率: accepted within the limit, of those due for acceptance.
    pub response_rate: Option<f64>,
    /// 解决率: closed as resolved, of those closed.
    pub resolution_rate: Option<f64>,
    /// 满意率: rated 4 or 5, of those rated.
    pub satisfaction_rate: Option<f64>,
    /// Replied within the deadline, of those due.
    pub on_time_rate: Option<f64>,
}

/// Case steps due in the period, and completed cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRates {
    /// Steps whose deadline fell in the period and whose outcome is known
    /// (answered, or past the deadline unanswered).
    pub steps_due: i64,
    pub on_time: i64,
    pub late: i64,
    /// Unanswered and past the deadline now.
    pub overdue_open: i64,
    /// Unanswered, deadline still ahead (not counted in the rate).
    pub not_due: i64,
    /// Answered by the deadline, of `steps_due`.
    pub on_time_rate: Option<f64>,
    /// Cases the department led that completed in the period.
    pub completed: i64,
    pub rated: i64,
    /// Completed and not rated (counted, never invented).
    pub unrated: i64,
}

/// Ratings (好差评) given in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingRates {
    pub count: i64,
    /// How many of each score, 1 to 5 (`by_score[0]` counts 1s).
    pub by_score: [i64; 5],
    /// Scores 4-5.
    pub satisfied: i64,
    /// Scores 1-2 (差评).
    pub bad: i64,
    /// 满意率: scores 4-5 of those rated.
    pub satisfaction_rate: Option<f64>,
    pub average: Option<f64>,
}

/// Follow-ups (回访整改) of bad ratings opened in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowupRates {
    pub opened: i64,
    pub in_time: i64,
    pub late: i64,
    pub overdue_open: i64,
    /// Open and not yet due (not counted in the rate).
    pub open: i64,
    /// Closed by the due time, of those closed or past due.
    pub in_time_rate: Option<f64>,
}

/// Requests the gateways answered for the department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficRates {
    pub requests: i64,
    /// Answers 500-599.
    pub errors: i64,
    /// Answers 400-499 (not held against availability).
    pub client_errors: i64,
    /// Answers other than 5xx, of all requests.
    pub availability: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl TrafficRates {
    /// Rates of summed counts.
    pub fn of(c: &TrafficCounts) -> TrafficRates {
        TrafficRates {
            requests: c.requests,
            errors: c.errors,
            client_errors: c.client_errors,
            availability: ratio(c.requests - c.errors, c.requests),
            p50_ms: quantile_ms(&c.buckets, 0.5),
            p99_ms: quantile_ms(&c.buckets, 0.99),
        }
    }
}

/// One department's (or the platform's) assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeptAssessment {
    /// The department id (`platform` for the whole).
    pub dept: String,
    pub name: String,
    /// `None` while appeals report nothing (no data, never invented).
    pub appeals: Option<AppealRates>,
    pub cases: CaseRates,
    pub ratings: RatingRates,
    pub followups: FollowupRates,
    pub traffic: TrafficRates,
    /// Services of the department listed as zombies now (no healthy
    /// instance or no traffic within the zombie window).
    pub zombie_services: Vec<String>,
}

/// The assessment of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `[from, to)`, epoch milliseconds.
    pub from: Millis,
    pub to: Millis,
    /// When it was computed: outcomes (overdue, not yet due) are as of then.
    pub generated_at: Millis,
    /// Whether appeals' figures are included (false until appeals report).
    pub appeals_available: bool,
    /// Every department's figures summed; traffic also counts requests no
    /// department's route matched and the gateway's own APIs.
    pub platform: DeptAssessment,
    /// By department id.
    pub departments: Vec<DeptAssessment>,
}

/// A department the configuration declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeptInfo {
    pub id: String,
    pub name: String,
}

/// Everything a report is made of.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub from: Millis,
    pub to: Millis,
    pub now: Millis,
    pub departments: Vec<DeptInfo>,
    pub figures: BTreeMap<String, DeptPeriodFigures>,
    /// Summed traffic per department label (`-`: requests no route matched).
    pub traffic: BTreeMap<String, TrafficCounts>,
    /// `None`: appeals report nothing.
    pub appeals: Option<BTreeMap<String, AppealFigures>>,
    /// Zombie services per department, now.
    pub zombies: BTreeMap<String, Vec<String>>,
}

/// The label of requests no department's route matched.
pub const UNROUTED: &str = "-";

/// The label of the gateway's own APIs (catalog, overview, cases,
/// consents): the platform's, no department's.
pub const BUILTIN: &str = "onestop";

/// Whether traffic of `label` counts for the platform only.
pub fn platform_only(label: &str) -> bool {
    label == UNROUTED || label == BUILTIN
}

/// Builds the report. Departments are the configuration's plus any the
/// figures name (a department removed since still has its history);
/// requests no route matched and the gateway's own APIs count for the
/// platform only.
pub fn build(inputs: &Inputs) -> Report {
    let mut ids: BTreeSet<&str> = inputs.departments.iter().map(|d| d.id.as_str()).collect();
    ids.extend(inputs.figures.keys().map(String::as_str));
    ids.extend(
        inputs
            .traffic
            .keys()
            .map(String::as_str)
            .filter(|d| !platform_only(d)),
    );
    if let Some(appeals) = &inputs.appeals {
        ids.extend(appeals.keys().map(String::as_str));
    }
    let names: BTreeMap<&str, &str> = inputs
        .departments
        .iter()
        .map(|d| (d.id.as_str(), d.name.as_str()))
        .collect();
    let empty_figures = DeptPeriodFigures::default();
    let no_traffic = TrafficCounts::default();
    let mut platform_figures = DeptPeriodFigures::default();
    let mut platform_traffic = TrafficCounts::default();
    let mut platform_appeals = AppealFigures::default();
    let mut platform_zombies = Vec::new();
    let mut departments = Vec::new();
    for id in ids {
        let figures = inputs.figures.get(id).unwrap_or(&empty_figures);
        let traffic = inputs.traffic.get(id).unwrap_or(&no_traffic);
        let appeals = inputs
            .appeals
            .as_ref()
            .map(|a| a.get(id).copied().unwrap_or_default());
        let zombies = inputs.zombies.get(id).cloned().unwrap_or_default();
        add_figures(&mut platform_figures, figures);
        platform_traffic.add(traffic);
        if let Some(a) = &appeals {
            platform_appeals.add(a);
        }
        platform_zombies.extend(zombies.iter().map(|s| format!("{id}/{s}")));
        departments.push(assess(
            id,
            names.get(id).copied().unwrap_or(id),
            figures,
            traffic,
            appeals.as_ref(),
            zombies,
        ));
    }
    for (label, counts) in &inputs.traffic {
        if platform_only(label) {
            platform_traffic.add(counts);
        }
    }
    let platform = assess(
        "platform",
        "全平台",
        &platform_figures,
        &platform_traffic,
        inputs.appeals.as_ref().map(|_| &platform_appeals),
        platform_zombies,
    );
    Report {
        from: inputs.from,
        to: inputs.to,
        generated_at: inputs.now,
        appeals_available: inputs.appeals.is_some(),
        platform,
        departments,
    }
}

fn add_figures(to: &mut DeptPeriodFigures, f: &DeptPeriodFigures) {
    to.steps.on_time += f.steps.on_time;
    to.steps.late += f.steps.late;
    to.steps.overdue_open += f.steps.overdue_open;
    to.steps.not_due += f.steps.not_due;
    to.completed.completed += f.completed.completed;
    to.completed.rated += f.completed.rated;
    for (a, b) in to.ratings.iter_mut().zip(f.ratings) {
        *a += b;
    }
    to.followups.in_time += f.followups.in_time;
    to.followups.late += f.followups.late;
    to.followups.overdue_open += f.followups.overdue_open;
    to.followups.open += f.followups.open;
}

/// One department's rates from its counts.
pub fn assess(
    id: &str,
    name: &str,
    f: &DeptPeriodFigures,
    traffic: &TrafficCounts,
    appeals: Option<&AppealFigures>,
    zombie_services: Vec<String>,
) -> DeptAssessment {
    let s = &f.steps;
    let steps_due = s.on_time + s.late + s.overdue_open;
    let count: i64 = f.ratings.iter().sum();
    let satisfied = f.ratings[3] + f.ratings[4];
    let weighted: i64 = (1..=5).zip(f.ratings).map(|(score, n)| score * n).sum();
    let fu = &f.followups;
    let followups_known = fu.in_time + fu.late + fu.overdue_open;
    DeptAssessment {
        dept: id.to_string(),
        name: name.to_string(),
        appeals: appeals.map(|a| AppealRates {
            figures: *a,
            response_rate: ratio(a.accepted_in_time, a.acceptance_due),
            resolution_rate: ratio(a.resolved, a.closed),
            satisfaction_rate: ratio(a.satisfied, a.rated),
            on_time_rate: ratio(a.replied_in_time, a.reply_due),
        }),
        cases: CaseRates {
            steps_due,
            on_time: s.on_time,
            late: s.late,
            overdue_open: s.overdue_open,
            not_due: s.not_due,
            on_time_rate: ratio(s.on_time, steps_due),
            completed: f.completed.completed,
            rated: f.completed.rated,
            unrated: f.completed.completed - f.completed.rated,
        },
        ratings: RatingRates {
            count,
            by_score: f.ratings,
            satisfied,
            bad: f.ratings[0] + f.ratings[1],
            satisfaction_rate: ratio(satisfied, count),
            average: ratio(weighted, count),
        },
        followups: FollowupRates {
            opened: fu.in_time + fu.late + fu.overdue_open + fu.open,
            in_time: fu.in_time,
            late: fu.late,
            overdue_open: fu.overdue_open,
            open: fu.open,
            in_time_rate: ratio(fu.in_time, followups_known),
        },
        traffic: TrafficRates::of(traffic),
        zombie_services,
    }
}

#[cfg(test)]
mod tests;
