//! What the templates show: one struct per page (askama templates under
//! `templates/console/`, compiled into the binary, HTML-escaping every
//! value unless it is chart markup from [`super::svg`]), and the
//! formatting of times, rates and durations.

use askama::Template;
use serde_json::Value;

use onestop_assessment::formulas::civil_from_days;

use super::Operator;

/// The frame of every page: who is signed in, the CSRF token for its
/// forms, and which navigation entry is current.
pub struct Nav {
    pub name: String,
    pub roles: String,
    pub scope: String,
    pub csrf: String,
    pub here: &'static str,
}

impl Nav {
    pub fn new(op: &Operator, here: &'static str) -> Nav {
        Nav {
            name: op.name.clone(),
            roles: op
                .roles
                .iter()
                .map(|r| match r.as_str() {
                    "viewer" => "查看",
                    "editor" => "编辑",
                    "approver" => "审批",
                    other => other,
                })
                .collect::<Vec<_>>()
                .join("·"),
            scope: if op.departments.is_empty() {
                "全部部门".to_string()
            } else {
                op.departments.join(", ")
            },
            csrf: op.session.csrf.clone(),
            here,
        }
    }

    /// The navigation, the current page marked.
    pub fn entries(&self) -> Vec<NavEntry> {
        [
            ("/console/", "dashboard", "运行概览", "Dashboard"),
            (
                "/console/registrations",
                "registrations",
                "备案审批",
                "Registrations",
            ),
            ("/console/routing", "routing", "路由与实例", "Routing"),
            ("/console/versions", "versions", "配置版本", "Versions"),
            ("/console/zombies", "zombies", "僵尸服务", "Zombie services"),
            ("/console/sharing", "sharing", "数据共享", "Data sharing"),
            (
                "/console/cases",
                "cases",
                "办件与回访",
                "Cases & follow-ups",
            ),
            ("/console/appeals", "appeals", "诉求工单", "Appeals"),
            (
                "/console/assessment",
                "assessment",
                "部门考核",
                "Assessment",
            ),
            ("/console/audit", "audit", "审计", "Audit"),
            ("/console/cache", "cache", "缓存", "Cache"),
        ]
        .into_iter()
        .map(|(path, key, zh, en)| NavEntry {
            path,
            zh,
            en,
            here: key == self.here,
        })
        .collect()
    }
}

/// One entry of the navigation.
pub struct NavEntry {
    pub path: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub here: bool,
}

/// A message after an action (a fixed text chosen by code, never text
/// from the URL).
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// The message of a `?done=` code.
pub fn flash(done: Option<&str>) -> Option<Flash> {
    let text = match done? {
        "approved" => "已批准。",
        "rejected" => "已驳回。",
        "revoked" => "已撤销。",
        "saved" => "已保存并生效（新配置版本）。",
        "unchanged" => "内容未变化，未生成新版本。",
        "rolledback" => "已回滚并生效。",
        "closed" => "回访已办结。",
        "purged" => "缓存已清除（所有网关）。",
        "dispatched" => "已派单。",
        "escalated" => "已督办。",
        "appeal-closed" => "诉求已办结。",
        _ => return None,
    };
    Some(Flash {
        ok: true,
        text: text.to_string(),
    })
}

/// `value` as a string (`""` when absent), numbers and booleans written out.
pub fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `75.0%`, or `—` for no data.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// `12.3 ms`, or `—`.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "—".to_string(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) => format!("{v:.1} ms"),
    }
}

/// Epoch milliseconds as `2026-12-06 20:15` in the zone `offset` hours
/// east of UTC.
pub fn time(at: i64, offset: i32) -> String {
    let local = at + i64::from(offset) * 3_600_000;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400_000));
    let of_day = local.rem_euclid(86_400_000) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

/// An RFC 3339 UTC time as the API writes it (`2026-12-06T12:15:00.123Z`)
/// in the zone, as [`time`]; anything else as it is.
pub fn api_time(v: &Value, offset: i32) -> String {
    let text = s(v);
    parse_utc(&text).map_or(text, |ms| time(ms, offset))
}

fn parse_utc(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, clock) = t.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (c.next()??, c.next()??, c.next()??);
    let days = onestop_assessment::formulas::days_from_civil(
        y,
        u32::try_from(m).ok()?,
        u32::try_from(day).ok()?,
    );
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

/// `HH:MM` of an instant in the zone.
pub fn clock(at: i64, offset: i32) -> String {
    time(at, offset).split_off(11)
}

/// A duration in milliseconds as `3 天 4 小时`, `5 小时 2 分`, `40 分`.
pub fn age(ms: i64) -> String {
    let m = ms.max(0) / 60_000;
    let (d, h, mi) = (m / 1440, m % 1440 / 60, m % 60);
    if d > 0 {
        format!("{d} 天 {h} 小时")
    } else if h > 0 {
        format!("{h} 小时 {mi} 分")
    } else {
        format!("{mi} 分")
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage {
    pub error: Option<String>,
    pub login_token: String,
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub nav: Nav,
    pub status: u16,
    pub message: String,
    pub back: String,
}

pub struct Kpi {
    pub id: String,
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub kpis: Vec<Kpi>,
    pub charts_hour: Vec<String>,
    pub charts_day: Vec<String>,
    pub rows: Vec<TrafficRow>,
}

pub struct TrafficRow {
    pub dept: String,
    pub name: String,
    pub requests_hour: String,
    pub errors_hour: String,
    pub p99_hour: String,
    pub requests_day: String,
    pub errors_day: String,
    pub p99_day: String,
}

pub struct DiffLine {
    /// `add`, `del`, `hunk` or ``.
    pub class: &'static str,
    pub text: String,
}

pub struct Registration {
    pub dept: String,
    pub service: String,
    pub revision: String,
    pub changes: String,
    pub updated: String,
    pub instances: String,
    pub diff: Vec<DiffLine>,
    pub may_decide: bool,
}

pub struct Decision {
    pub at: String,
    pub dept: String,
    pub service: String,
    pub revision: String,
    pub verdict: String,
    pub operator: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/registrations.html")]
pub struct RegistrationsPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub pending: Vec<Registration>,
    pub decisions: Vec<Decision>,
}

pub struct Instance {
    pub addr: String,
    pub up: bool,
}

pub struct ServiceRow {
    pub service: String,
    pub source: String,
    pub protocol: String,
    pub instances: Vec<Instance>,
}

pub struct RouteRow {
    pub id: String,
    pub matcher: String,
    pub methods: String,
    pub service: String,
    pub auth: String,
    pub source: String,
}

pub struct DeptRouting {
    pub id: String,
    pub name: String,
    pub services: Vec<ServiceRow>,
    pub routes: Vec<RouteRow>,
    pub may_edit: bool,
}

#[derive(Template)]
#[template(path = "console/routing.html")]
pub struct RoutingPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub version: String,
    pub departments: Vec<DeptRouting>,
}

pub struct EditLine {
    pub n: usize,
    pub text: String,
    pub problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/edit.html")]
pub struct EditPage {
    pub nav: Nav,
    pub dept: String,
    pub file: String,
    pub text: String,
    pub message: String,
    /// Problems the API reported (with the text as submitted).
    pub error: Option<String>,
    pub lines: Vec<EditLine>,
    /// Problems without a line in this file.
    pub other_problems: Vec<String>,
}

pub struct VersionRow {
    pub version: String,
    pub at: String,
    pub author: String,
    pub message: String,
    pub source: String,
    pub hash: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "console/versions.html")]
pub struct VersionsPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub versions: Vec<VersionRow>,
    pub may_rollback: bool,
}

#[derive(Template)]
#[template(path = "console/version.html")]
pub struct VersionPage {
    pub nav: Nav,
    pub version: VersionRow,
    pub previous: String,
    pub diff: Vec<DiffLine>,
    pub may_rollback: bool,
}

pub struct ZombieRow {
    pub dept: String,
    pub service: String,
    pub source: String,
    pub reasons: String,
    pub instances: String,
    pub last_request: String,
}

#[derive(Template)]
#[template(path = "console/zombies.html")]
pub struct ZombiesPage {
    pub nav: Nav,
    pub window: String,
    pub rows: Vec<ZombieRow>,
}

pub struct ItemRow {
    pub id: String,
    pub name: String,
    pub sharing: String,
    pub fields: String,
}

pub struct AgreementRow {
    pub id: String,
    pub consumer: String,
    pub provider: String,
    pub item: String,
    pub fields: String,
    pub purpose: String,
    pub state: String,
    pub applied: String,
    pub age: String,
    pub due: String,
    pub overdue: bool,
    pub approvals: String,
    pub may_decide: bool,
    pub may_revoke: bool,
}

#[derive(Template)]
#[template(path = "console/sharing.html")]
pub struct SharingPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    /// Why there is nothing to show (not enabled on this gateway).
    pub notice: Option<String>,
    pub deadline: String,
    pub items: Vec<ItemRow>,
    pub pending: Vec<AgreementRow>,
    pub others: Vec<AgreementRow>,
}

pub struct CaseRow {
    pub id: String,
    pub matter: String,
    pub lead: String,
    pub state: String,
    pub created: String,
    pub late_steps: String,
}

pub struct FollowupRow {
    pub id: String,
    pub dept: String,
    pub subject: String,
    pub score: String,
    pub created: String,
    pub due: String,
    pub overdue: bool,
    pub may_close: bool,
}

pub struct RatingRow {
    pub dept: String,
    pub count: String,
    pub average: String,
    pub by_score: String,
    pub open: String,
    pub overdue: String,
}

#[derive(Template)]
#[template(path = "console/cases.html")]
pub struct CasesPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    /// Why there is nothing to show (not enabled on this gateway).
    pub notice: Option<String>,
    pub overdue: Vec<CaseRow>,
    pub followups: Vec<FollowupRow>,
    pub ratings: Vec<RatingRow>,
}

#[derive(Template)]
#[template(path = "console/appeals.html")]
pub struct AppealsPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    /// Why there is nothing to show (not enabled on this gateway).
    pub notice: Option<String>,
    pub views: Vec<AppealView>,
    pub rows: Vec<AppealRow>,
    pub depts: Vec<AppealDeptRow>,
    pub total: String,
    pub overdue: String,
    /// Supervised (督办) and not yet replied.
    pub supervised: String,
    pub states: String,
}

/// One tab of the appeals list.
pub struct AppealView {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub here: bool,
}

#[derive(Template)]
#[template(path = "console/appeal.html")]
pub struct AppealPage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub id: String,
    pub kind: String,
    pub title: String,
    pub content: String,
    pub state: String,
    pub dept: String,
    pub created: String,
    pub due: String,
    pub deadline: String,
    pub overdue: bool,
    /// The address, or why it is withheld; empty when there is none.
    pub location: String,
    pub reply: String,
    pub rating: String,
    /// Co-handling departments (协办), comma-separated; empty when none.
    pub co_handlers: String,
    /// When it was supervised (督办); empty when it was not.
    pub supervised: String,
    pub timeline: Vec<AppealEventRow>,
    /// Departments this operator may dispatch to.
    pub targets: Vec<DeptOption>,
    pub may_dispatch: bool,
    pub may_escalate: bool,
    pub may_close: bool,
}

pub struct AppealEventRow {
    pub at: String,
    pub event: String,
    pub actor: String,
    pub dept: String,
    pub note: String,
}

pub struct DeptOption {
    pub id: String,
    pub name: String,
}

pub struct AppealRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub state: String,
    pub dept: String,
    pub created: String,
    pub due: String,
    pub overdue: bool,
}

pub struct AppealDeptRow {
    pub dept: String,
    pub total: String,
    pub open: String,
    pub overdue: String,
}

pub struct AssessRow {
    pub dept: String,
    pub name: String,
    pub cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/assessment.html")]
pub struct AssessmentPage {
    pub nav: Nav,
    pub month: String,
    pub previous: String,
    pub next: String,
    pub period: String,
    pub generated: String,
    pub appeals_available: bool,
    pub headers: Vec<&'static str>,
    pub platform: AssessRow,
    pub rows: Vec<AssessRow>,
    pub charts: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/assessment_print.html")]
pub struct AssessmentPrint {
    pub month: String,
    pub period: String,
    pub generated: String,
    pub appeals_available: bool,
    pub headers: Vec<&'static str>,
    pub platform: AssessRow,
    pub rows: Vec<AssessRow>,
    pub charts: Vec<String>,
}

pub struct AuditRow {
    pub id: String,
    pub at: String,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

pub struct Chain {
    pub state: String,
    pub ok: bool,
    pub records: String,
    pub problem: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    pub nav: Nav,
    pub chain: Chain,
    pub rows: Vec<AuditRow>,
}

pub struct CacheRoute {
    pub dept: String,
    pub route: String,
    pub entries: String,
    pub hits: String,
    pub misses: String,
}

#[derive(Template)]
#[template(path = "console/cache.html")]
pub struct CachePage {
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub summary: String,
    pub routes: Vec<CacheRoute>,
    pub departments: Vec<String>,
    pub may_purge: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_rates_and_ages_read_as_operators_write_them() {
        // 2026-11-30T16:00Z is midnight in Beijing.
        assert_eq!(time(1_796_054_400_000, 8), "2026-12-01 00:00");
        assert_eq!(time(1_796_054_400_000, 0), "2026-11-30 16:00");
        assert_eq!(clock(1_796_054_400_000 + 61_000, 8), "00:01");
        assert_eq!(pct(Some(0.75)), "75.0%");
        assert_eq!(pct(None), "—");
        assert_eq!(ms(Some(2500.0)), "2.50 s");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000), "3 天 4 小时");
        assert_eq!(age(5 * 3_600_000 + 120_000), "5 小时 2 分");
        assert_eq!(age(40 * 60_000), "40 分");
        assert!(flash(Some("approved")).is_some());
        assert!(flash(Some("<script>")).is_none());
        assert_eq!(
            api_time(&Value::String("2026-11-30T16:00:59.123Z".into()), 8),
            "2026-12-01 00:00"
        );
        assert_eq!(api_time(&Value::String("soon".into()), 8), "soon");
    }
}
