//! `/admin/v1/registry/…`: departments' registered services and their
//! approvals (备案). Viewers list services and decisions; approvers approve
//! or reject the pending revision of a service, naming the revision they
//! decide on so that a decision never applies to a revision the approver
//! has not seen (a stale revision is `409 CONFLICT`).
//!
//! Without a registry (`AdminState::registry` is `None`) every registry
//! route answers `503 REGISTRY_DISABLED` (after authentication).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use onestop_control::Registry;
use onestop_control::registry::ServiceState;
use onestop_core::registry::{ApprovalStatus, InstanceSpec, Verdict, surface_changes};
use onestop_store::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::audit::limit;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};

/// One instance of a registered service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InstanceView {
    /// `ip:port`.
    pub addr: String,
    pub weight: u32,
}

impl From<&InstanceSpec> for InstanceView {
    fn from(i: &InstanceSpec) -> Self {
        InstanceView {
            addr: i.addr.to_string(),
            weight: i.weight,
        }
    }
}

/// A registered service as operators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceView {
    pub dept: String,
    pub service: String,
    /// The latest submitted revision.
    pub revision: i64,
    /// `pending`, `approved` or `rejected` (of the latest revision).
    pub status: String,
    /// The revision that serves traffic (`null` until first approved).
    pub approved_revision: Option<i64>,
    /// The latest submitted spec.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// The spec that serves traffic (`null` until first approved).
    #[schema(value_type = Option<Object>)]
    pub approved_spec: Option<serde_json::Value>,
    /// How the latest revision's public surface differs from the approved one.
    pub changes: String,
    /// Instances with a live lease.
    pub instances: Vec<InstanceView>,
    /// Instances whose lease lapsed.
    pub lapsed: Vec<InstanceView>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&ServiceState> for ServiceView {
    fn from(s: &ServiceState) -> Self {
        let r = &s.record;
        ServiceView {
            dept: r.dept.clone(),
            service: r.service.clone(),
            revision: r.revision,
            status: r.status.as_str().to_string(),
            approved_revision: r.approved_revision,
            spec: serde_json::to_value(&r.spec).unwrap_or_default(),
            approved_spec: r
                .approved_spec
                .as_ref()
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            changes: surface_changes(r.approved_spec.as_ref(), &r.spec),
            instances: s.instances.iter().map(InstanceView::from).collect(),
            lapsed: s.lapsed.iter().map(InstanceView::from).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Registered services.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServicesPage {
    pub services: Vec<ServiceView>,
}

/// `?status=&dept=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ServicesQuery {
    /// `pending`, `approved` or `rejected`.
    status: Option<String>,
    /// Only this department's services.
    dept: Option<String>,
}

/// An approver's decision on a pending revision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The pending revision decided on (required: an approval names what it approves).
    pub revision: i64,
    /// Why (required to reject; shown to the department).
    #[serde(default)]
    pub reason: String,
}

/// A recorded decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionView {
    pub id: i64,
    pub dept: String,
    pub service: String,
    pub revision: i64,
    /// Fingerprint of the public surface decided on.
    pub surface_hash: String,
    /// `approve` or `reject`.
    pub verdict: String,
    /// Who decided.
    pub operator: String,
    pub reason: String,
    /// Epoch milliseconds.
    pub at: i64,
}

impl From<DecisionRecord> for DecisionView {
    fn from(d: DecisionRecord) -> Self {
        DecisionView {
            id: d.id,
            dept: d.dept,
            service: d.service,
            revision: d.revision,
            surface_hash: d.surface_hash,
            verdict: d.verdict.as_str().to_string(),
            operator: d.operator,
            reason: d.reason,
            at: d.at,
        }
    }
}

/// Decisions, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionsPage {
    pub decisions: Vec<DecisionView>,
}

/// `?dept=&limit=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DecisionsQuery {
    /// Only this department's decisions.
    dept: Option<String>,
    /// At most this many (1-1000, default 100).
    limit: Option<u32>,
}

/// The registry, or 503 `REGISTRY_DISABLED`.
pub(crate) fn registry(state: &AdminState) -> Result<&Arc<Registry>, ApiError> {
    state.registry.as_ref().ok_or(ApiError::RegistryDisabled)
}

/// Registered services, optionally of one status or department.
#[utoipa::path(
    get,
    path = "/admin/v1/registry/services",
    tag = "registry",
    params(ServicesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ServicesPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn list_services(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<ServicesQuery>,
) -> Result<Json<ServicesPage>, ApiError> {
    let registry = registry(&state)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status `{s}` is not one of pending, approved, rejected"
            ))
        })?),
    };
    let services = registry
        .services(q.dept.as_deref().filter(|d| !d.is_empty()))
        .iter()
        .filter(|s| status.is_none_or(|st| s.record.status == st))
        .map(ServiceView::from)
        .collect();
    Ok(Json(ServicesPage { services }))
}

/// One registered service.
#[utoipa::path(
    get,
    path = "/admin/v1/registry/services/{dept}/{service}",
    tag = "registry",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("service" = String, Path, description = "Service id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ServiceView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn get_service(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path((dept, service)): Path<(String, String)>,
) -> Result<Json<ServiceView>, ApiError> {
    let registry = registry(&state)?;
    find(registry, &dept, &service).map(Json)
}

/// Approves the pending revision of a service.
#[utoipa::path(
    post,
    path = "/admin/v1/registry/services/{dept}/{service}/approve",
    tag = "registry",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("service" = String, Path, description = "Service id"),
    ),
    request_body = DecisionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The service after the decision", body = ServiceView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not the pending revision, or it collides with the configuration", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE or REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn approve(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((dept, service)): Path<(String, String)>,
    crate::extract::Json(body): crate::extract::Json<DecisionRequest>,
) -> Result<Json<ServiceView>, ApiError> {
    decide(&state, &ctx, &dept, &service, Verdict::Approve, body).await
}

/// Rejects the pending revision of a service (an earlier approved revision keeps serving).
#[utoipa::path(
    post,
    path = "/admin/v1/registry/services/{dept}/{service}/reject",
    tag = "registry",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("service" = String, Path, description = "Service id"),
    ),
    request_body = DecisionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The service after the decision", body = ServiceView),
        (status = 400, description = "No reason given", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not the pending revision", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE or REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn reject(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((dept, service)): Path<(String, String)>,
    crate::extract::Json(body): crate::extract::Json<DecisionRequest>,
) -> Result<Json<ServiceView>, ApiError> {
    decide(&state, &ctx, &dept, &service, Verdict::Reject, body).await
}

/// Who decided what, when: newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/registry/decisions",
    tag = "registry",
    params(DecisionsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DecisionsPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE or REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn list_decisions(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<DecisionsQuery>,
) -> Result<Json<DecisionsPage>, ApiError> {
    let registry = registry(&state)?;
    let limit = limit(q.limit, 100, 1000)?;
    let decisions = registry
        .decisions(q.dept.as_deref().filter(|d| !d.is_empty()), limit)
        .await?;
    Ok(Json(DecisionsPage {
        decisions: decisions.into_iter().map(DecisionView::from).collect(),
    }))
}

async fn decide(
    state: &AdminState,
    ctx: &Ctx,
    dept: &str,
    service: &str,
    verdict: Verdict,
    body: DecisionRequest,
) -> Result<Json<ServiceView>, ApiError> {
    let registry = registry(state)?;
    let reason = body.reason.trim();
    if verdict == Verdict::Reject && reason.is_empty() {
        return Err(ApiError::bad_request(
            "a rejection needs a `reason` (the department sees it)",
        ));
    }
    let record = registry
        .decide(
            dept,
            service,
            body.revision,
            verdict,
            &ctx.caller.name,
            reason,
        )
        .await?;
    ctx.audit_done(
        state,
        json!({
            "revision": body.revision,
            "reason": reason,
            "status": record.status.as_str(),
            "surface_hash": record.spec.surface_hash(),
        }),
    )
    .await;
    find(registry, dept, service).map(Json)
}

fn find(registry: &Registry, dept: &str, service: &str) -> Result<ServiceView, ApiError> {
    registry
        .services(Some(dept))
        .iter()
        .find(|s| s.record.service == service)
        .map(ServiceView::from)
        .ok_or_else(|| ApiError::NotFound(format!("service {dept}/{service}")))
}
