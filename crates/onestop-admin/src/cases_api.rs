//! `/admin/v1/cases/…`, `/admin/v1/followups/…`, `/admin/v1/ratings/…`:
//! operators watch composite-matter cases past their statutory deadlines,
//! the follow-ups bad ratings (1–2) opened, and each department's rating
//! figures; editors close a follow-up of their departments.

use axum::Json;
use axum::extract::{Path, Query, State};
use onestop_cases::{CaseError, Cases, view};
use onestop_store::{FollowupFilter, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};

fn cases(state: &AdminState) -> Result<&Arc<Cases>, ApiError> {
    state
        .cases
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("cases are not enabled on this gateway".into()))
}

fn map(e: CaseError) -> ApiError {
    match e {
        CaseError::Unavailable(m) => ApiError::StoreUnavailable(m),
        CaseError::CaseNotFound | CaseError::FollowupNotFound(_) => {
            ApiError::NotFound(e.to_string())
        }
        CaseError::FollowupClosed(_) => ApiError::Conflict(e.to_string()),
        CaseError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::Internal(other.to_string()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// At most this many (1-500, default 100).
    pub limit: Option<u32>,
}

/// Cases, as the citizens' API shows them (steps, states, deadlines).
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<Value>,
}

/// Running cases with a step past its statutory deadline, the longest
/// overdue first.
#[utoipa::path(
    get,
    path = "/admin/v1/cases/overdue",
    tag = "cases",
    params(LimitQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CaseList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn overdue(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<LimitQuery>,
) -> Result<Json<CaseList>, ApiError> {
    let limit = crate::extract::limit(q.limit)?;
    let found = cases(&state)?.overdue(limit).await.map_err(map)?;
    let now = now_ms();
    Ok(Json(CaseList {
        cases: found.iter().map(|c| view::case(c, None, now)).collect(),
    }))
}

/// One case by its number.
#[utoipa::path(
    get,
    path = "/admin/v1/cases/{id}",
    tag = "cases",
    params(("id" = String, Path, description = "The case number")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub(crate) async fn get_case(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = cases(&state)?.case(&id).await.map_err(map)?;
    Ok(Json(view::case(&case, None, now_ms())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FollowupQuery {
    /// Only this department's.
    pub dept: Option<String>,
    /// `open` (default), `all`, or `overdue` (open and past due).
    pub state: Option<String>,
    pub limit: Option<u32>,
}

/// Follow-ups owed on bad ratings.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowupList {
    #[schema(value_type = Vec<Object>)]
    pub followups: Vec<Value>,
}

/// Follow-ups (回访整改) bad ratings opened, earliest due first.
#[utoipa::path(
    get,
    path = "/admin/v1/followups",
    tag = "cases",
    params(FollowupQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = FollowupList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub(crate) async fn list_followups(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<FollowupQuery>,
) -> Result<Json<FollowupList>, ApiError> {
    let now = now_ms();
    let (open, overdue_at) = match q.state.as_deref().unwrap_or("open") {
        "open" => (true, None),
        "all" => (false, None),
        "overdue" => (true, Some(now)),
        other => {
            return Err(ApiError::bad_request(format!(
                "state must be open, all or overdue, got `{other}`"
            )));
        }
    };
    let filter = FollowupFilter {
        id: None,
        dept: q.dept,
        open,
        overdue_at,
        limit: crate::extract::limit(q.limit)?,
    };
    let found = cases(&state)?.followups(&filter).await.map_err(map)?;
    Ok(Json(FollowupList {
        followups: found.iter().map(|f| view::followup(f, now)).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// What the department did (1-500 characters).
    pub note: String,
}

/// Closes a follow-up of one of the operator's departments.
#[utoipa::path(
    post,
    path = "/admin/v1/followups/{id}/close",
    tag = "cases",
    params(("id" = i64, Path, description = "The follow-up")),
    request_body = CloseRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or another department's follow-up", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Closed already", body = ErrorBody),
    )
)]
pub(crate) async fn close_followup(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    crate::extract::Json(body): crate::extract::Json<CloseRequest>,
) -> Result<Json<Value>, ApiError> {
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(ApiError::bad_request("note must be 1 to 500 characters"));
    }
    let cases = cases(&state)?;
    // A department-scoped operator closes only its departments' follow-ups.
    if !ctx.caller.departments.is_empty() {
        let filter = FollowupFilter {
            id: Some(id),
            ..FollowupFilter::default()
        };
        let found = cases.followups(&filter).await.map_err(map)?;
        let theirs = found.iter().any(|f| ctx.caller.may_change(&f.dept));
        if !theirs {
            let message = format!(
                "operator `{}` may close follow-ups of departments {} only",
                ctx.caller.name,
                ctx.caller.departments.join(", ")
            );
            return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
        }
    }
    let by = format!("operator:{}", ctx.caller.name);
    let closed = cases.close_followup(id, &by, note).await.map_err(map)?;
    let ctx = Ctx {
        target: closed.dept.clone(),
        ..ctx
    };
    ctx.audit_done(&state, json!({ "followup": id })).await;
    Ok(Json(view::followup(&closed, now_ms())))
}

/// Rating figures per department.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatingStatsList {
    #[schema(value_type = Vec<Object>)]
    pub departments: Vec<Value>,
}

/// Each department's ratings (好差评): count, mean, by score, open and
/// overdue follow-ups.
#[utoipa::path(
    get,
    path = "/admin/v1/ratings/stats",
    tag = "cases",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RatingStatsList),
        (status = 401, body = ErrorBody),
    )
)]
pub(crate) async fn rating_stats(
    State(state): State<AdminState>,
    _ctx: Ctx,
) -> Result<Json<RatingStatsList>, ApiError> {
    let stats = cases(&state)?.rating_stats().await.map_err(map)?;
    Ok(Json(RatingStatsList {
        departments: stats.iter().map(view::stats).collect(),
    }))
}
