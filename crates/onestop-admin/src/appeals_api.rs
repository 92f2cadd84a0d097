//! `/admin/v1/appeals…`: the operators' side of citizens' appeals (12345) —
//! the queue (appeals no department holds: new ones no rule dispatched,
//! and those a department returned), any appeal with its timeline,
//! dispatch (派单) and re-dispatch, close (办结), and counts per state,
//! kind and department with the overdue ones.
//!
//! Privacy: an emergency appeal's location is withheld from operators
//! (`location: null, location_withheld: true`,
//! [`onestop_appeals_desk::privacy::location`]), and every appeal an
//! answer carries — a list, one appeal, the appeal after a change — is
//! first recorded in its citizen's access log as `operator:<name>`, purpose
//! `appeal supervision`, through the exchange's audit log; when the log
//! refuses, the answer is 503 and carries no appeal.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use onestop_appeals_desk::{Desk, DeskError, Who, privacy, view};
use onestop_store::{AppealFilter, AppealRecord, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody, ErrorDetail};

fn desk(state: &AdminState) -> Result<&Arc<Desk>, ApiError> {
    state
        .appeals
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("appeals are not enabled on this gateway".into()))
}

/// `appeals` as `operator` may see them, once each read is in its
/// citizen's access log (no log on this gateway: nothing to record).
fn shown(
    state: &AdminState,
    desk: &Desk,
    operator: &str,
    request_id: &str,
    appeals: &[AppealRecord],
) -> Result<Vec<Value>, ApiError> {
    let settings = desk.settings();
    let emergency = settings.emergency_dept.as_deref();
    let now = now_ms();
    let who = Who::Operator(operator);
    for a in appeals {
        let record = privacy::read_record(who, a, emergency, request_id, now);
        record_read(state, operator, record)?;
    }
    Ok(appeals
        .iter()
        .map(|a| view::appeal_as(a, now, who, emergency))
        .collect())
}

/// Puts an operator's read in its citizen's access log (no log on this
/// gateway: nothing to record); a refusing log is 503.
fn record_read(
    state: &AdminState,
    operator: &str,
    record: Option<onestop_store::NewAccessRecord>,
) -> Result<(), ApiError> {
    let (Some(sharing), Some(record)) = (&state.sharing, record) else {
        return Ok(());
    };
    sharing.audit(record).map_err(|e| {
        crate::events::appeal_read_unrecorded(operator, &e.to_string());
        ApiError::StoreUnavailable(format!(
            "the access log is unavailable, so no appeal is shown ({e}); a change asked for was made"
        ))
    })
}

/// One appeal as [`shown`].
fn shown_one(
    state: &AdminState,
    desk: &Desk,
    ctx: &Ctx,
    appeal: &AppealRecord,
) -> Result<Json<Value>, ApiError> {
    shown(
        state,
        desk,
        &ctx.caller.name,
        &ctx.request_id,
        std::slice::from_ref(appeal),
    )?
    .pop()
    .map(Json)
    .ok_or_else(|| ApiError::Internal("no appeal to answer with".into()))
}

fn map(e: DeskError) -> ApiError {
    match e {
        DeskError::Invalid(f) => ApiError::BadRequest {
            message: format!("{}: {}", f.field, f.message),
            details: vec![ErrorDetail {
                file: None,
                line: None,
                col: None,
                field: Some(f.field),
                message: f.message,
            }],
        },
        DeskError::NotFound => ApiError::NotFound("no such appeal".into()),
        DeskError::NotYours(m) => ApiError::Forbidden(m),
        DeskError::WrongState(m) => ApiError::Conflict(m),
        DeskError::Busy => ApiError::Conflict(e.to_string()),
        DeskError::Unavailable(m) => ApiError::StoreUnavailable(m),
        DeskError::Unsupported(f) => ApiError::UnsupportedMediaType(f.message),
        other => ApiError::Internal(other.to_string()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AppealQuery {
    /// `queue` (default: no department holds them), `open`, `escalated`
    /// or `all`.
    pub view: Option<String>,
    /// Only this department's.
    pub dept: Option<String>,
    /// Strictly after this appeal (paging, oldest first).
    pub after: Option<String>,
    /// At most this many (1-500, default 100).
    pub limit: Option<u32>,
}

/// Appeals with their deadlines (no timelines).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppealList {
    #[schema(value_type = Vec<Object>)]
    pub appeals: Vec<Value>,
    /// The last appeal's id when the page is full.
    pub next: Option<String>,
}

/// The operators' queue and other views of appeals, oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/appeals",
    tag = "appeals",
    params(AppealQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AppealList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Appeals are not enabled", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    ctx: Ctx,
    Query(q): Query<AppealQuery>,
) -> Result<Json<AppealList>, ApiError> {
    let limit = crate::extract::limit(q.limit)?;
    let states: Vec<String> = match q.view.as_deref().unwrap_or("queue") {
        "queue" => vec!["submitted".into(), "returned".into(), "escalated".into()],
        "open" => [
            "submitted",
            "dispatched",
            "accepted",
            "returned",
            "escalated",
        ]
        .map(String::from)
        .to_vec(),
        "escalated" => vec!["escalated".into()],
        "all" => Vec::new(),
        other => {
            return Err(ApiError::bad_request(format!(
                "view `{other}` is not one of queue, open, escalated, all"
            )));
        }
    };
    let queue = q.view.as_deref().unwrap_or("queue") == "queue";
    let filter = AppealFilter {
        dept: q.dept,
        queue,
        states,
        after: q.after,
        limit,
        ..AppealFilter::default()
    };
    let desk = desk(&state)?;
    let found = desk
        .list(Who::Operator(&ctx.caller.name), filter)
        .await
        .map_err(map)?;
    let next = (found.len() >= limit as usize)
        .then(|| found.last().map(|a| a.id.clone()))
        .flatten();
    Ok(Json(AppealList {
        appeals: shown(&state, desk, &ctx.caller.name, &ctx.request_id, &found)?,
        next,
    }))
}

/// One appeal with its timeline.
#[utoipa::path(
    get,
    path = "/admin/v1/appeals/{id}",
    tag = "appeals",
    params(("id" = String, Path, description = "The appeal number")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub(crate) async fn get_appeal(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let desk = desk(&state)?;
    let a = desk
        .read(Who::Operator(&ctx.caller.name), &id)
        .await
        .map_err(map)?;
    shown_one(&state, desk, &ctx, &a)
}

/// One attachment of an appeal (a citizen's photo, a reply's document),
/// with its stored type, as a download (`content-disposition:
/// attachment`, `x-content-type-options: nosniff`). One the appeal does
/// not carry answers 404 like a missing appeal.
#[utoipa::path(
    get,
    path = "/admin/v1/appeals/{id}/attachments/{hash}",
    tag = "appeals",
    params(
        ("id" = String, Path, description = "The appeal number"),
        ("hash" = String, Path, description = "The attachment's id, `sha256:<hex>`, as the appeal lists it"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The attachment's bytes, with its stored content type", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn get_attachment(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((id, hash)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let who = Who::Operator(&ctx.caller.name);
    let (appeal, blob) = desk(&state)?
        .attachment(who, &id, &hash)
        .await
        .map_err(map)?;
    let record = privacy::attachment_record(who, &appeal, &blob.hash, &ctx.request_id, now_ms());
    record_read(&state, &ctx.caller.name, record)?;
    Ok((
        [
            (header::CONTENT_TYPE, blob.media_type),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        blob.content,
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// The department that leads it (首问负责).
    pub dept: String,
    /// Why (optional, up to 4,000 characters).
    #[serde(default)]
    pub note: String,
}

/// Dispatches an appeal (from the queue, or re-dispatches one) to a
/// department; a re-dispatch after a return is recorded and counted
/// against nobody's on-time figure.
#[utoipa::path(
    post,
    path = "/admin/v1/appeals/{id}/dispatch",
    tag = "appeals",
    params(("id" = String, Path, description = "The appeal number")),
    request_body = DispatchRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or a department outside the operator's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The appeal's state does not allow it", body = ErrorBody),
    )
)]
pub(crate) async fn dispatch(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<DispatchRequest>,
) -> Result<Json<Value>, ApiError> {
    let desk = desk(&state)?;
    if !ctx.caller.may_change(&body.dept) {
        let message = format!(
            "operator `{}` may dispatch to departments {} only",
            ctx.caller.name,
            ctx.caller.departments.join(", ")
        );
        return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
    }
    let a = desk
        .dispatch(&ctx.caller.name, &id, &body.dept, &body.note, now_ms())
        .await
        .map_err(map)?;
    let ctx = Ctx {
        target: body.dept.clone(),
        ..ctx
    };
    ctx.audit_done(&state, json!({ "appeal": id })).await;
    shown_one(&state, desk, &ctx, &a)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// Why (督办 note, 1-4,000 characters).
    pub note: String,
}

/// Escalates an open appeal (督办): it stays with its department, marked
/// escalated, once. A department-scoped editor escalates only appeals
/// their departments lead; the operators' queue needs an unscoped editor.
#[utoipa::path(
    post,
    path = "/admin/v1/appeals/{id}/escalate",
    tag = "appeals",
    params(("id" = String, Path, description = "The appeal number")),
    request_body = EscalateRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or an appeal outside the operator's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Escalated already, replied or closed", body = ErrorBody),
    )
)]
pub(crate) async fn escalate(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<EscalateRequest>,
) -> Result<Json<Value>, ApiError> {
    let desk = desk(&state)?;
    let current = desk
        .read(Who::Operator(&ctx.caller.name), &id)
        .await
        .map_err(map)?;
    let dept = current.dept.clone().unwrap_or_default();
    let ctx = Ctx {
        target: if dept.is_empty() {
            id.clone()
        } else {
            dept.clone()
        },
        ..ctx
    };
    let in_scope = if dept.is_empty() {
        ctx.caller.departments.is_empty()
    } else {
        ctx.caller.may_change(&dept)
    };
    if !in_scope {
        let message = format!(
            "operator `{}` may escalate appeals of departments {} only",
            ctx.caller.name,
            ctx.caller.departments.join(", ")
        );
        return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
    }
    let a = desk
        .escalate_by(&ctx.caller.name, &id, &body.note, now_ms())
        .await
        .map_err(map)?;
    ctx.audit_done(&state, json!({ "appeal": id })).await;
    shown_one(&state, desk, &ctx, &a)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAppealRequest {
    /// How it ended (1-4,000 characters).
    pub note: String,
}

/// Closes an appeal (办结; also spam and duplicates).
#[utoipa::path(
    post,
    path = "/admin/v1/appeals/{id}/close",
    tag = "appeals",
    params(("id" = String, Path, description = "The appeal number")),
    request_body = CloseAppealRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an unscoped editor", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Closed already", body = ErrorBody),
    )
)]
pub(crate) async fn close(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<CloseAppealRequest>,
) -> Result<Json<Value>, ApiError> {
    let desk = desk(&state)?;
    let a = desk
        .close(&ctx.caller.name, &id, &body.note, now_ms())
        .await
        .map_err(map)?;
    ctx.audit_done(&state, json!({ "appeal": id })).await;
    shown_one(&state, desk, &ctx, &a)
}

/// Counts of appeals.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppealStats {
    /// Every appeal.
    pub total: i64,
    /// Past the deadline that applies now.
    pub overdue: i64,
    /// Supervised (督办: still overdue a working day after the reminder)
    /// and not yet replied.
    pub supervised: i64,
    pub by_state: BTreeMap<String, i64>,
    pub by_kind: BTreeMap<String, i64>,
    /// Per department (`-`: the operators' queue): total, open, overdue.
    #[schema(value_type = Object)]
    pub by_dept: BTreeMap<String, Value>,
}

/// Counts per state, kind and department, with the overdue ones.
#[utoipa::path(
    get,
    path = "/admin/v1/appeals/stats",
    tag = "appeals",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AppealStats),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Appeals are not enabled", body = ErrorBody),
    )
)]
pub(crate) async fn stats(
    State(state): State<AdminState>,
    ctx: Ctx,
) -> Result<Json<AppealStats>, ApiError> {
    let counts = desk(&state)?.counts(now_ms()).await.map_err(map)?;
    let mut s = AppealStats {
        total: 0,
        overdue: 0,
        supervised: 0,
        by_state: BTreeMap::new(),
        by_kind: BTreeMap::new(),
        by_dept: BTreeMap::new(),
    };
    let mut per_dept: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for c in &counts {
        s.total += c.count;
        s.overdue += c.overdue;
        s.supervised += c.supervised;
        *s.by_state.entry(c.state.clone()).or_default() += c.count;
        *s.by_kind.entry(c.kind.clone()).or_default() += c.count;
        let d = per_dept
            .entry(c.dept.clone().unwrap_or_else(|| "-".into()))
            .or_default();
        d.0 += c.count;
        if !matches!(c.state.as_str(), "replied" | "closed") {
            d.1 += c.count;
        }
        d.2 += c.overdue;
    }
    // A scoped operator sees the rows of their departments and of the
    // operators' queue (`-`); the totals stay the platform's, as in the
    // assessment.
    s.by_dept = per_dept
        .into_iter()
        .filter(|(d, _)| d == "-" || ctx.caller.may_change(d))
        .map(|(k, (total, open, overdue))| {
            (k, json!({"total": total, "open": open, "overdue": overdue}))
        })
        .collect();
    Ok(Json(s))
}
