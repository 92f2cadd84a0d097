//! `GET /admin/v1/assessment` (department assessment, 考核), `GET
//! /admin/v1/traffic` (requests, errors and latency per department over a
//! recent window, for the console's dashboard), `GET /admin/v1/upstreams`
//! (every instance and its health) and `GET
//! /admin/v1/access-audit/verify` (the access-audit chain's state).
//!
//! Figures come from the store — every gateway's traffic roll-ups, cases,
//! ratings and follow-ups — so every gateway on one store answers the
//! same. A department-scoped operator gets their departments' rows (and
//! the platform's totals).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use onestop_assessment::report::{BUILTIN, TrafficRates, UNROUTED, platform_only};
use onestop_assessment::{Assessor, Context, DeptInfo, Month, Report};
use onestop_store::{HOUR_MS, MINUTE_MS, Millis, TrafficCounts, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;

/// The longest period one report covers.
const MAX_PERIOD: Millis = 400 * 24 * HOUR_MS;

/// `?from=&to=` or `?month=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssessmentQuery {
    /// Start (inclusive): epoch milliseconds or a date `YYYY-MM-DD`
    /// (midnight in the assessment zone).
    pub from: Option<String>,
    /// End (exclusive), as `from`. Default: now.
    pub to: Option<String>,
    /// A calendar month `YYYY-MM` in the assessment zone, instead of
    /// `from`/`to`. Default (neither given): the current month.
    pub month: Option<String>,
}

/// The assessment of a period: see docs/assessment.md for every formula.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentView {
    /// `YYYY-MM` when the period is a calendar month.
    pub month: Option<String>,
    /// Hours east of UTC of the assessment zone.
    pub utc_offset_hours: i32,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub report: Value,
}

fn assessor(state: &AdminState) -> Result<&Arc<Assessor>, ApiError> {
    state
        .assessment
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("assessment is not enabled on this gateway".into()))
}

/// A time given as epoch milliseconds or `YYYY-MM-DD`.
fn instant(field: &str, value: &str, offset: i32) -> Result<Millis, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "{field} `{value}` is neither epoch milliseconds nor a date YYYY-MM-DD"
        ))
    };
    if let Ok(ms) = value.parse::<i64>() {
        return if ms >= 0 { Ok(ms) } else { Err(bad()) };
    }
    let parts: Vec<&str> = value.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad());
    };
    let days = onestop_assessment::formulas::days_from_civil(y, m, d);
    // Reject 2026-02-31 and the like: the date must round-trip.
    if !(1..=12).contains(&m) || onestop_assessment::formulas::civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days * 86_400_000 - i64::from(offset) * 3_600_000)
}

/// The period a query names, and its month when it is one.
pub(crate) fn period(
    q: &AssessmentQuery,
    now: Millis,
    offset: i32,
) -> Result<(Millis, Millis, Option<Month>), ApiError> {
    if let Some(m) = q.month.as_deref().filter(|m| !m.is_empty()) {
        if q.from.is_some() || q.to.is_some() {
            return Err(ApiError::bad_request(
                "month cannot be combined with from or to",
            ));
        }
        let month = Month::parse(m)
            .ok_or_else(|| ApiError::bad_request(format!("month `{m}` is not a month YYYY-MM")))?;
        let (from, to) = month.range(offset);
        return Ok((from, to, Some(month)));
    }
    let (from, to) = match (q.from.as_deref(), q.to.as_deref()) {
        (None, None) => {
            let month = Month::containing(now, offset);
            let (from, to) = month.range(offset);
            return Ok((from, to, Some(month)));
        }
        (None, Some(_)) => return Err(ApiError::bad_request("to needs from")),
        (Some(f), t) => (
            instant("from", f, offset)?,
            match t {
                Some(t) => instant("to", t, offset)?,
                None => now,
            },
        ),
    };
    if to <= from {
        return Err(ApiError::bad_request("to must be after from"));
    }
    if to - from > MAX_PERIOD {
        return Err(ApiError::bad_request("the period must be at most 400 days"));
    }
    Ok((from, to, None))
}

/// The configuration's departments and this gateway's zombie report.
pub(crate) fn context(state: &AdminState, now: Millis) -> Context {
    let snap = state.config.current();
    let departments = snap
        .config
        .departments
        .iter()
        .map(|d| DeptInfo {
            id: d.file.department.id.get_ref().clone(),
            name: d.file.department.name.clone(),
        })
        .collect();
    let window = snap.config.gateway.registry.zombie_window;
    let zombies = crate::zombies::current(state, window, now)
        .into_iter()
        .map(|d| (d.dept, d.services.into_iter().map(|s| s.service).collect()))
        .collect();
    Context {
        departments,
        zombies,
    }
}

/// Recomputes the current month's assessment into the
/// `onestop_assessment_*` gauges (the binary calls it periodically).
pub async fn publish_gauges(state: &AdminState) -> Result<(), ApiError> {
    let offset = state
        .config
        .current()
        .config
        .gateway
        .assessment
        .utc_offset_hours;
    let now = now_ms();
    assessor(state)?
        .publish_current_month(now, offset, &context(state, now))
        .await?;
    Ok(())
}

/// Only the departments a scoped operator may see.
fn scoped(mut report: Report, ctx: &Ctx) -> Report {
    if !ctx.caller.departments.is_empty() {
        report
            .departments
            .retain(|d| ctx.caller.may_change(&d.dept));
    }
    report
}

/// Per department and for the platform: appeals' 响应率/解决率/满意率
/// (no data until appeals report), case steps answered by their deadline,
/// ratings and bad ratings followed up in time, API availability and
/// p50/p99 latency, requests, zombie services.
#[utoipa::path(
    get,
    path = "/admin/v1/assessment",
    tag = "assessment",
    params(AssessmentQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AssessmentView),
        (status = 400, description = "A period that is not one", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn assessment(
    State(state): State<AdminState>,
    ctx: Ctx,
    Query(q): Query<AssessmentQuery>,
) -> Result<Json<AssessmentView>, ApiError> {
    let offset = state
        .config
        .current()
        .config
        .gateway
        .assessment
        .utc_offset_hours;
    let now = now_ms();
    let (from, to, month) = period(&q, now, offset)?;
    let report = assessor(&state)?
        .assess(from, to, now, &context(&state, now))
        .await?;
    let report = scoped(report, &ctx);
    Ok(Json(AssessmentView {
        month: month.map(|m| m.to_string()),
        utc_offset_hours: offset,
        report: serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.to_string()))?,
    }))
}

/// `?window=1h`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrafficQuery {
    /// How far back: a duration from 1m to 31d (default 1h). Up to 3h in
    /// minutes, longer in hours.
    pub window: Option<String>,
}

/// One point of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrafficPoint {
    pub start_ms: Millis,
    pub requests: i64,
    pub errors: i64,
    pub p99_ms: Option<f64>,
}

/// One department's traffic over the window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeptTraffic {
    /// The department id (`platform` for the whole, `-` for requests no
    /// route matched, `onestop` for the gateway's own APIs).
    pub dept: String,
    pub name: String,
    pub requests: i64,
    pub errors: i64,
    pub client_errors: i64,
    pub availability: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub series: Vec<TrafficPoint>,
}

/// Traffic per department over a recent window, from every gateway's roll-ups.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrafficView {
    pub window: String,
    /// 60000 (minutes) or 3600000 (hours).
    pub span_ms: Millis,
    pub from: Millis,
    pub to: Millis,
    pub platform: DeptTraffic,
    /// Departments with requests in the window, most requests first.
    pub departments: Vec<DeptTraffic>,
}

fn dept_traffic(dept: &str, name: &str, points: &[(Millis, TrafficCounts)]) -> DeptTraffic {
    let mut total = TrafficCounts::default();
    for (_, c) in points {
        total.add(c);
    }
    let rates = TrafficRates::of(&total);
    DeptTraffic {
        dept: dept.to_string(),
        name: name.to_string(),
        requests: rates.requests,
        errors: rates.errors,
        client_errors: rates.client_errors,
        availability: rates.availability,
        p50_ms: rates.p50_ms,
        p99_ms: rates.p99_ms,
        series: points
            .iter()
            .map(|(start, c)| TrafficPoint {
                start_ms: *start,
                requests: c.requests,
                errors: c.errors,
                p99_ms: TrafficRates::of(c).p99_ms,
            })
            .collect(),
    }
}

/// Requests, errors, availability and latency per department (and for the
/// platform) over the last `window`, with a series per minute or hour.
#[utoipa::path(
    get,
    path = "/admin/v1/traffic",
    tag = "assessment",
    params(TrafficQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = TrafficView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn traffic(
    State(state): State<AdminState>,
    ctx: Ctx,
    Query(q): Query<TrafficQuery>,
) -> Result<Json<TrafficView>, ApiError> {
    let window = match q.window.as_deref() {
        None | Some("") => Duration::from_secs(3600),
        Some(w) => humantime::parse_duration(w)
            .map_err(|e| ApiError::bad_request(format!("window `{w}` is not a duration: {e}")))?,
    };
    if window < Duration::from_secs(60) || window > Duration::from_secs(31 * 24 * 3600) {
        return Err(ApiError::bad_request("window must be between 1m and 31d"));
    }
    let span = if window <= Duration::from_secs(3 * 3600) {
        MINUTE_MS
    } else {
        HOUR_MS
    };
    let now = now_ms();
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    // Whole spans: the current one (still filling) is the last point.
    let to = now - now.rem_euclid(span) + span;
    let from = to - window_ms.div_euclid(span).max(1) * span;
    let rows = assessor(&state)?
        .store()
        .traffic_series(span, from, to)
        .await?;
    let names: BTreeMap<String, String> = state
        .config
        .current()
        .config
        .departments
        .iter()
        .map(|d| {
            (
                d.file.department.id.get_ref().clone(),
                d.file.department.name.clone(),
            )
        })
        .collect();
    let mut by_dept: BTreeMap<String, Vec<(Millis, TrafficCounts)>> = BTreeMap::new();
    let mut platform: BTreeMap<Millis, TrafficCounts> = BTreeMap::new();
    for r in rows {
        platform.entry(r.start_ms).or_default().add(&r.counts);
        by_dept
            .entry(r.dept)
            .or_default()
            .push((r.start_ms, r.counts));
    }
    let mut departments: Vec<DeptTraffic> = by_dept
        .iter()
        .filter(|(d, _)| {
            ctx.caller.departments.is_empty() || (!platform_only(d) && ctx.caller.may_change(d))
        })
        .map(|(d, points)| {
            let name = match d.as_str() {
                UNROUTED => "（未匹配路由）",
                BUILTIN => "平台内置接口",
                _ => names.get(d).map_or(d.as_str(), String::as_str),
            };
            dept_traffic(d, name, points)
        })
        .collect();
    departments.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.dept.cmp(&b.dept)));
    // Every span of the window, also the quiet ones.
    let platform_points: Vec<(Millis, TrafficCounts)> = (0..(to - from) / span)
        .map(|i| {
            let start = from + i * span;
            (start, platform.get(&start).copied().unwrap_or_default())
        })
        .collect();
    Ok(Json(TrafficView {
        window: humantime::format_duration(window).to_string(),
        span_ms: span,
        from,
        to,
        platform: dept_traffic("platform", "全平台", &platform_points),
        departments,
    }))
}

/// One instance and its health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceView {
    pub dept: String,
    pub service: String,
    pub addr: String,
    /// Healthy and not ejected: receives traffic.
    pub up: bool,
}

/// Every service the data plane routes to, with its instances.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpstreamsView {
    pub instances: Vec<InstanceView>,
}

/// Every instance the data plane routes to, with its health.
#[utoipa::path(
    get,
    path = "/admin/v1/upstreams",
    tag = "registry",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UpstreamsView),
        (status = 401, body = ErrorBody),
    )
)]
pub(crate) async fn upstreams(State(state): State<AdminState>, _ctx: Ctx) -> Json<UpstreamsView> {
    let mut instances: Vec<InstanceView> = state
        .stats
        .instances()
        .into_iter()
        .map(|i| InstanceView {
            dept: i.dept,
            service: i.service,
            addr: i.addr,
            up: i.up,
        })
        .collect();
    instances.sort_by(|a, b| (&a.dept, &a.service, &a.addr).cmp(&(&b.dept, &b.service, &b.addr)));
    Json(UpstreamsView { instances })
}

/// The access-audit chain's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChainView {
    /// `intact`, `broken`, or `unreadable` (the store could not be read).
    pub state: String,
    /// Records checked.
    pub records: u64,
    pub last_seq: i64,
    /// What is wrong, naming the first record that breaks the chain.
    pub problem: Option<String>,
    pub checked_at: Millis,
}

/// Verifies the whole access-audit hash chain (as `onestop audit verify`).
#[utoipa::path(
    get,
    path = "/admin/v1/access-audit/verify",
    tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChainView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Data sharing is not enabled", body = ErrorBody),
    )
)]
pub(crate) async fn verify_chain(
    State(state): State<AdminState>,
    _ctx: Ctx,
) -> Result<Json<ChainView>, ApiError> {
    let sharing = state
        .sharing
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("data sharing is not enabled on this gateway".into()))?;
    let checked_at = now_ms();
    let view = match sharing.verify_audit().await {
        Ok(r) => ChainView {
            state: "intact".into(),
            records: r.records,
            last_seq: r.last_seq,
            problem: None,
            checked_at,
        },
        Err(onestop_store::VerifyError::Broken(b)) => ChainView {
            state: "broken".into(),
            records: 0,
            last_seq: 0,
            problem: Some(format!("audit chain broken at {b}")),
            checked_at,
        },
        Err(onestop_store::VerifyError::Store(e)) => ChainView {
            state: "unreadable".into(),
            records: 0,
            last_seq: 0,
            problem: Some(e.to_string()),
            checked_at,
        },
    };
    Ok(Json(view))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_months_dates_or_milliseconds() {
        let q = |from: Option<&str>, to: Option<&str>, month: Option<&str>| AssessmentQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            month: month.map(str::to_string),
        };
        let now = 1_796_054_400_000 + 5 * 86_400_000; // 2026-12-06 Beijing
        let (from, to, m) = period(&q(None, None, None), now, 8).unwrap();
        assert_eq!(m.unwrap().to_string(), "2026-12");
        assert_eq!((from, to - from), (1_796_054_400_000, 31 * 86_400_000));
        let (from, _, m) = period(&q(None, None, Some("2026-11")), now, 8).unwrap();
        assert_eq!(m.unwrap().to_string(), "2026-11");
        assert_eq!(from, 1_796_054_400_000 - 30 * 86_400_000);
        let (from, to, m) =
            period(&q(Some("2026-12-01"), Some("2026-12-02"), None), now, 8).unwrap();
        assert_eq!((from, to - from, m), (1_796_054_400_000, 86_400_000, None));
        let hour_ago = (now - 3_600_000).to_string();
        let (from, to, _) = period(&q(Some(&hour_ago), None, None), now, 8).unwrap();
        assert_eq!((from, to), (now - 3_600_000, now));
        for (bad, needle) in [
            (q(Some("2026-02-31"), None, None), "from `2026-02-31`"),
            (q(Some("yesterday"), None, None), "from `yesterday`"),
            (q(None, Some("5"), None), "to needs from"),
            (q(Some("5"), Some("5"), None), "after from"),
            (q(None, None, Some("2026-1")), "month `2026-1`"),
            (q(Some("5"), None, Some("2026-11")), "cannot be combined"),
            (
                q(Some("0"), Some("99999999999999"), None),
                "at most 400 days",
            ),
        ] {
            let e = period(&bad, now, 8).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
