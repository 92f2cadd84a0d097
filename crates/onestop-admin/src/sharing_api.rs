//! `/admin/v1/data-items`, `/admin/v1/agreements/…`: governed data
//! sharing between departments. Operators read the data catalog and the
//! agreements (a pending one shows its age and its approval deadline);
//! editors file an application on behalf of a consumer department (within
//! their departments); approvers approve, reject or revoke agreements.
//!
//! An approver not limited to departments approves as the gateway's
//! operator; an approver limited to departments that include the
//! agreement's provider approves as that provider (needed when the item
//! declares `provider_approval`). Rejections and revocations are for the
//! same two; a revocation takes effect at once (the exchange reads the
//! store on every call).
//!
//! Without sharing (`AdminState::sharing` is `None`) these routes answer
//! `404` (after authentication), like the cases routes.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use onestop_control::Problem;
use onestop_sharing::{Application, Sharing, SharingError, view};
use onestop_store::{AgreementFilter, AgreementRecord, AgreementState, Approver, Millis, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{Path, Query};

/// How many agreements (the newest) `state=overdue`, `approved` or `expired` examines.
const OVERDUE_SCAN: u32 = 10_000;

fn sharing(state: &AdminState) -> Result<&Arc<Sharing>, ApiError> {
    state
        .sharing
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("data sharing is not enabled on this gateway".into()))
}

/// The admin API's error for a sharing error.
pub(crate) fn map(e: SharingError) -> ApiError {
    let message = e.to_string();
    match e {
        SharingError::Invalid(problems) => invalid(message, &problems),
        SharingError::NotFound(m) => ApiError::NotFound(m),
        SharingError::Denied(_) | SharingError::Forbidden(_) => ApiError::Forbidden(message),
        SharingError::Conflict(_) => ApiError::Conflict(message),
        SharingError::Unavailable(_) => ApiError::StoreUnavailable(message),
        SharingError::Internal(_) => ApiError::Internal(message),
    }
}

/// A 400 naming each problem's field.
fn invalid(message: String, problems: &[Problem]) -> ApiError {
    ApiError::BadRequest {
        message,
        details: problems.iter().map(ErrorDetail::from).collect(),
    }
}

fn deadline_ms(sharing: &Sharing) -> Millis {
    onestop_sharing::millis(sharing.state().settings.approval_deadline)
}

/// An RFC 3339 time (`2027-01-31T00:00:00Z`, `…+08:00`, with or without
/// fractional seconds) as epoch milliseconds.
pub(crate) fn parse_time(s: &str) -> Option<Millis> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let (local, offset_s) = match s.strip_suffix(['Z', 'z']) {
        Some(local) => (local, 0),
        None => {
            let at = s.len().checked_sub(6)?;
            let (local, offset) = s.split_at(at);
            let b = offset.as_bytes();
            let sign = match b.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let digits = |r: std::ops::Range<usize>| -> Option<i64> {
                let part = offset.get(r)?;
                if part.bytes().all(|c| c.is_ascii_digit()) {
                    part.parse().ok()
                } else {
                    None
                }
            };
            let (hh, mm) = (digits(1..3)?, digits(4..6)?);
            if b.get(3) != Some(&b':') || hh > 23 || mm > 59 {
                return None;
            }
            (local, sign * (hh * 3600 + mm * 60))
        }
    };
    let t = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let ms = Millis::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    ms.checked_sub(offset_s * 1000)
}

/// `""` as absent.
fn given(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// `?dept=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ItemsQuery {
    /// Only this provider department's items.
    dept: Option<String>,
}

/// The data catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataItemList {
    /// Items by qualified id (`<department>.<item>`): name, sharing class,
    /// provider approval, fields with their sensitivity and masking.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

/// The data catalog: every department's declared data items. Operators
/// limited to departments see all of it too.
#[utoipa::path(
    get,
    path = "/admin/v1/data-items",
    tag = "sharing",
    params(ItemsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataItemList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Data sharing is not enabled", body = ErrorBody),
    )
)]
pub(crate) async fn list_items(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<DataItemList>, ApiError> {
    let shared = sharing(&state)?.state();
    let dept = given(q.dept);
    Ok(Json(DataItemList {
        items: shared
            .catalog
            .items(dept.as_deref())
            .map(|i| view::item(i))
            .collect(),
    }))
}

/// What `list_agreements` keeps of the stored state it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sift {
    None,
    Overdue,
    /// The shown state (`approved` in force, `expired`).
    State(&'static str),
}

/// `?state=&consumer=&provider=&item=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgreementsQuery {
    /// `pending`, `approved` (in force), `expired` (approved, past its
    /// term), `rejected`, `revoked`, or `overdue` (pending and past
    /// `sharing.approval_deadline`; listed longest overdue first).
    state: Option<String>,
    /// Only this consumer department's.
    consumer: Option<String>,
    /// Only this provider department's.
    provider: Option<String>,
    /// Only this data item's (`<department>.<item>`).
    item: Option<String>,
    /// At most this many (1-500, default 100).
    limit: Option<u32>,
}

/// Agreements.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementList {
    /// Each with its state, approvals and, while pending, `pending_age_ms`,
    /// `decision_due` and `overdue`.
    #[schema(value_type = Vec<Object>)]
    pub agreements: Vec<Value>,
}

/// Data-sharing agreements (共享协议), newest applied first.
#[utoipa::path(
    get,
    path = "/admin/v1/agreements",
    tag = "sharing",
    params(AgreementsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AgreementList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Data sharing is not enabled", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn list_agreements(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<AgreementsQuery>,
) -> Result<Json<AgreementList>, ApiError> {
    let limit = crate::extract::limit(q.limit)?;
    // `overdue` is pending and past the deadline; `expired` is approved and
    // past its term (`approved` then means in force): both are read as the
    // stored state and sifted here.
    let (wanted, sift) = match q.state.as_deref() {
        None | Some("") => (None, Sift::None),
        Some("overdue") => (Some(AgreementState::Pending), Sift::Overdue),
        Some("expired") => (Some(AgreementState::Approved), Sift::State("expired")),
        Some("approved") => (Some(AgreementState::Approved), Sift::State("approved")),
        Some(s) => match AgreementState::parse(s) {
            Some(st) => (Some(st), Sift::None),
            None => {
                return Err(ApiError::bad_request(format!(
                    "state must be pending, approved, expired, rejected, revoked or overdue, got `{s}`"
                )));
            }
        },
    };
    let sharing = sharing(&state)?;
    let filter = AgreementFilter {
        consumer: given(q.consumer),
        provider: given(q.provider),
        item: given(q.item),
        state: wanted,
        limit: if sift == Sift::None {
            limit
        } else {
            OVERDUE_SCAN
        },
    };
    let found = sharing.agreements(&filter).await.map_err(map)?;
    let now = now_ms();
    let deadline = deadline_ms(sharing);
    let mut docs: Vec<Value> = found
        .iter()
        .map(|a| view::agreement(a, now, deadline))
        .collect();
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match sift {
        Sift::None => {}
        Sift::Overdue => {
            docs.retain(|d| d["overdue"] == Value::Bool(true));
            // The store lists newest first: the longest overdue go first here.
            docs.reverse();
            docs.truncate(cap);
        }
        Sift::State(wanted) => {
            docs.retain(|d| d["state"] == wanted);
            docs.truncate(cap);
        }
    }
    Ok(Json(AgreementList { agreements: docs }))
}

/// One agreement.
#[utoipa::path(
    get,
    path = "/admin/v1/agreements/{id}",
    tag = "sharing",
    params(("id" = String, Path, description = "The agreement")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agreement", body = Object),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn get_agreement(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sharing = sharing(&state)?;
    let record = sharing.agreement(&id).await.map_err(map)?;
    Ok(Json(view::agreement(
        &record,
        now_ms(),
        deadline_ms(sharing),
    )))
}

/// An application for an agreement, filed by an operator on behalf of the
/// consumer department.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyRequest {
    /// The consumer department (within the operator's departments, when
    /// limited).
    pub consumer: String,
    /// The data item, `<provider>.<item>`.
    pub item: String,
    /// The item's fields to receive.
    pub fields: Vec<String>,
    /// Sensitive fields among `fields` to receive unmasked.
    pub clear_fields: Vec<String>,
    /// The purpose code: 1-64 of a-z, 0-9, `-`, `_` and `.`.
    pub purpose: String,
    /// The legal basis (1-512 characters).
    pub legal_basis: String,
    /// When the agreement ends: RFC 3339, within `sharing.max_term`.
    pub expires_at: String,
}

/// Every problem of an application, as the sharing service would find
/// them, plus those of the body itself (the expiry's format).
fn check_application(sharing: &Sharing, body: &ApplyRequest) -> Result<Application, ApiError> {
    let shared = sharing.state();
    let now = now_ms();
    let mut problems = Vec::new();
    if !shared.departments.contains_key(&body.consumer) {
        problems.push(Problem::new(
            "consumer",
            format!("`{}` is not a declared department", body.consumer),
        ));
    }
    let expires_at = parse_time(&body.expires_at);
    if expires_at.is_none() {
        problems.push(Problem::new(
            "expires_at",
            "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00+08:00",
        ));
    }
    let mut app = Application {
        item: body.item.clone(),
        fields: body.fields.clone(),
        clear_fields: body.clear_fields.clone(),
        purpose: body.purpose.clone(),
        legal_basis: body.legal_basis.clone(),
        // Checked against a valid expiry when it did not parse: its own
        // problem is named above.
        expires_at: expires_at.unwrap_or(now.saturating_add(1)),
    };
    let max_term = shared.settings.max_term;
    if let Err(found) =
        onestop_sharing::apply::check(&shared.catalog, &body.consumer, &app, now, max_term)
    {
        problems.extend(found);
    }
    if !problems.is_empty() {
        let message = format!(
            "invalid application: {}",
            onestop_core::problem::render(&problems)
        );
        return Err(invalid(message, &problems));
    }
    app.expires_at = expires_at.unwrap_or(app.expires_at);
    Ok(app)
}

/// Files an application on behalf of a consumer department: the agreement
/// starts pending.
#[utoipa::path(
    post,
    path = "/admin/v1/agreements",
    tag = "sharing",
    request_body = ApplyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The pending agreement", body = Object),
        (status = 400, description = "Each problem named by field in `details`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or the consumer is outside the operator's departments", body = ErrorBody),
        (status = 404, description = "Data sharing is not enabled", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn apply(
    State(state): State<AdminState>,
    ctx: Ctx,
    crate::extract::Json(body): crate::extract::Json<ApplyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sharing = sharing(&state)?;
    if !ctx.caller.may_change(&body.consumer) {
        let ctx = Ctx {
            target: body.consumer.clone(),
            ..ctx
        };
        let message = format!(
            "operator `{}` may apply only for departments {}",
            ctx.caller.name,
            ctx.caller.departments.join(", ")
        );
        return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
    }
    let app = check_application(sharing, &body)?;
    let applied_by = format!("operator:{}", ctx.caller.name);
    let record = sharing
        .apply(&body.consumer, &applied_by, &app)
        .await
        .map_err(map)?;
    let n = &record.agreement;
    let ctx = Ctx {
        target: n.id.clone(),
        ..ctx
    };
    ctx.audit_done(
        &state,
        json!({
            "agreement": n.id,
            "consumer": n.consumer,
            "provider": n.provider,
            "item": n.item,
            "fields": n.fields,
            "clear_fields": n.clear_fields,
            "purpose": n.purpose,
            "expires_at": n.expires_at,
        }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(view::agreement(&record, now_ms(), deadline_ms(sharing))),
    ))
}

/// Why an agreement is rejected or revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// 1-512 characters; the consumer department sees it.
    pub reason: String,
}

/// What a decision on `record` is: the approval of the gateway's operator
/// (an approver not limited to departments) or of the provider (an
/// approver limited to departments that include it); anyone else is
/// refused (and the refusal audited).
async fn decider(
    state: &AdminState,
    ctx: &Ctx,
    record: &AgreementRecord,
) -> Result<Approver, ApiError> {
    let provider = &record.agreement.provider;
    if ctx.caller.departments.is_empty() {
        return Ok(Approver::Operator);
    }
    if ctx.caller.departments.iter().any(|d| d == provider) {
        return Ok(Approver::Provider);
    }
    let message = format!(
        "operator `{}` may decide only on agreements whose provider is one of {} (this one's is `{provider}`)",
        ctx.caller.name,
        ctx.caller.departments.join(", ")
    );
    Err(ctx.refuse(state, ApiError::Forbidden(message)).await)
}

/// Approves a pending agreement: an approver not limited to departments
/// approves as the gateway's operator; an approver limited to departments
/// that include the provider approves as the provider (where the item asks
/// for the provider's approval). It becomes approved once every approval
/// it needs was given.
#[utoipa::path(
    post,
    path = "/admin/v1/agreements/{id}/approve",
    tag = "sharing",
    params(("id" = String, Path, description = "The agreement")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agreement after the approval", body = Object),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an approver, or limited to departments that do not include the provider, or the provider's approval is not asked for", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending, or approved by the same side already", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn approve(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sharing = sharing(&state)?;
    let current = sharing.agreement(&id).await.map_err(map)?;
    let who = decider(&state, &ctx, &current).await?;
    if who == Approver::Provider && !current.agreement.needs_provider {
        let message = format!(
            "agreement {id} needs no approval of its provider; an approver not limited to departments approves it"
        );
        return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
    }
    let by = format!("operator:{}", ctx.caller.name);
    let record = sharing.approve(&id, who, &by).await.map_err(map)?;
    ctx.audit_done(
        &state,
        json!({
            "agreement": id,
            "as": who.as_str(),
            "state": record.state.as_str(),
        }),
    )
    .await;
    Ok(Json(view::agreement(
        &record,
        now_ms(),
        deadline_ms(sharing),
    )))
}

/// Rejects a pending agreement.
#[utoipa::path(
    post,
    path = "/admin/v1/agreements/{id}/reject",
    tag = "sharing",
    params(("id" = String, Path, description = "The agreement")),
    request_body = ReasonRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rejected agreement", body = Object),
        (status = 400, description = "No reason", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an approver, or limited to departments that do not include the provider", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn reject(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<ReasonRequest>,
) -> Result<Json<Value>, ApiError> {
    close(&state, &ctx, &id, &body.reason, AgreementState::Rejected).await
}

/// Revokes a pending or approved agreement, at once: the next exchange
/// under it is denied.
#[utoipa::path(
    post,
    path = "/admin/v1/agreements/{id}/revoke",
    tag = "sharing",
    params(("id" = String, Path, description = "The agreement")),
    request_body = ReasonRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked agreement", body = Object),
        (status = 400, description = "No reason", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an approver, or limited to departments that do not include the provider", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Rejected or revoked already", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<ReasonRequest>,
) -> Result<Json<Value>, ApiError> {
    close(&state, &ctx, &id, &body.reason, AgreementState::Revoked).await
}

/// Rejects (`to` = `Rejected`) or revokes an agreement.
async fn close(
    state: &AdminState,
    ctx: &Ctx,
    id: &str,
    reason: &str,
    to: AgreementState,
) -> Result<Json<Value>, ApiError> {
    let sharing = sharing(state)?;
    let current = sharing.agreement(id).await.map_err(map)?;
    decider(state, ctx, &current).await?;
    let reason = reason.trim();
    let by = format!("operator:{}", ctx.caller.name);
    let record = match to {
        AgreementState::Rejected => sharing.reject(id, &by, reason).await,
        _ => sharing.revoke(id, &by, reason).await,
    }
    .map_err(map)?;
    ctx.audit_done(
        state,
        json!({
            "agreement": id,
            "reason": reason,
            "state": record.state.as_str(),
        }),
    )
    .await;
    Ok(Json(view::agreement(
        &record,
        now_ms(),
        deadline_ms(sharing),
    )))
}
