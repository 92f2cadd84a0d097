//! The operators' audit trail: who changed what, when, through the admin
//! API — and who was refused. Records go to the store
//! (`Store::append_admin_audit`); a record that cannot be written is logged
//! and counted (`onestop_admin_audit_failures_total`) but never undoes or
//! fails the change it describes.

use axum::extract::State;
use onestop_store::{AdminAuditRecord, NewAdminAudit, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};
use crate::events;
use crate::extract::Query;

/// Appends one record; failures are logged and counted, not returned.
pub(crate) async fn append(
    state: &AdminState,
    operator: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let entry = NewAdminAudit {
        operator: operator.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        detail: detail.to_string(),
        at: now_ms(),
    };
    if let Err(e) = state.store.append_admin_audit(&entry).await {
        events::audit_failed(operator, action, target, &e.to_string());
    }
}

/// `?limit=&before=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// At most this many records (1-1000, default 100).
    limit: Option<u32>,
    /// Only records with a smaller id (paging back).
    before: Option<i64>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// The operator's name, or `-` when the caller was not authenticated.
    pub operator: String,
    /// e.g. `config.route.put`, `registry.approve`, `dept_token.issue`.
    pub action: String,
    /// e.g. `hpf/balance`, `hpf`, `config`.
    pub target: String,
    /// `outcome` (`done` or `refused`), `request_id` and the action's
    /// details; never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Epoch milliseconds.
    pub at: i64,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
}

impl From<AdminAuditRecord> for AuditEntry {
    fn from(r: AdminAuditRecord) -> Self {
        let detail = serde_json::from_str(&r.detail)
            .unwrap_or_else(|_| serde_json::Value::String(r.detail.clone()));
        AuditEntry {
            id: r.id,
            operator: r.operator,
            action: r.action,
            target: r.target,
            detail,
            at: r.at,
        }
    }
}

/// A `limit` within `1..=max`, `default` when absent.
pub(crate) fn limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is out of range 1..={max}"
        ))),
    }
}

/// The audit trail, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "audit",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit records, newest first", body = AuditPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn list_audit(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let limit = limit(q.limit, 100, 1000)?;
    let records = state.store.admin_audit(limit, q.before).await?;
    Ok(axum::Json(AuditPage {
        entries: records.into_iter().map(AuditEntry::from).collect(),
    }))
}
