//! `/admin/v1/departments/{dept}/tokens…`: the credentials departments
//! register their services with (approvers). A token is shown once, in the
//! answer that issues it; afterwards only its id, label and dates are
//! visible — never the token or its hash.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use onestop_store::DeptTokenRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::registry_api::registry;

/// Longest token label, in characters.
const MAX_LABEL_CHARS: usize = 100;

/// A department credential without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub dept: String,
    pub label: String,
    /// The operator who issued it.
    pub created_by: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds; `null` while the token is valid.
    pub revoked_at: Option<i64>,
}

impl From<&DeptTokenRecord> for TokenView {
    fn from(t: &DeptTokenRecord) -> Self {
        TokenView {
            id: t.id,
            dept: t.dept.clone(),
            label: t.label.clone(),
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A department's credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokensPage {
    pub tokens: Vec<TokenView>,
}

/// What to issue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// What the credential is for, e.g. `fleet registrar`.
    pub label: String,
}

/// A freshly issued credential: the only time `token` is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedView {
    pub id: i64,
    pub dept: String,
    /// The bearer token for the control plane. Not stored; keep it.
    pub token: String,
}

/// A department's credentials (valid and revoked), without secrets.
#[utoipa::path(
    get,
    path = "/admin/v1/departments/{dept}/tokens",
    tag = "credentials",
    params(("dept" = String, Path, description = "Department id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = TokensPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an approver", body = ErrorBody),
        (status = 503, description = "REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path(dept): Path<String>,
) -> Result<Json<TokensPage>, ApiError> {
    let registry = registry(&state)?;
    let tokens = registry
        .tokens(Some(&dept))
        .iter()
        .map(TokenView::from)
        .collect();
    Ok(Json(TokensPage { tokens }))
}

/// Issues a credential for a department of the configuration.
#[utoipa::path(
    post,
    path = "/admin/v1/departments/{dept}/tokens",
    tag = "credentials",
    params(("dept" = String, Path, description = "Department id")),
    request_body = IssueRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Issued; the token is shown this once", body = IssuedView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such department in the configuration", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE or REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn issue_token(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(dept): Path<String>,
    crate::extract::Json(body): crate::extract::Json<IssueRequest>,
) -> Result<(StatusCode, Json<IssuedView>), ApiError> {
    let registry = registry(&state)?;
    let label = body.label.trim();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "`label` must be 1-{MAX_LABEL_CHARS} characters on one line"
        )));
    }
    state.require_department(&dept)?;
    let issued = registry.issue_token(&dept, label, &ctx.caller.name).await?;
    ctx.audit_done(&state, json!({ "id": issued.id, "label": label }))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(IssuedView {
            id: issued.id,
            dept: issued.dept,
            token: issued.token,
        }),
    ))
}

/// Revokes a credential at once. Revoking a revoked one changes nothing.
#[utoipa::path(
    delete,
    path = "/admin/v1/departments/{dept}/tokens/{id}",
    tag = "credentials",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("id" = i64, Path, description = "Credential id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked credential", body = TokenView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such credential of this department", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE or REGISTRY_DISABLED", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((dept, id)): Path<(String, i64)>,
) -> Result<Json<TokenView>, ApiError> {
    let registry = registry(&state)?;
    let find = || {
        registry
            .tokens(Some(&dept))
            .iter()
            .find(|t| t.id == id)
            .map(TokenView::from)
            .ok_or_else(|| ApiError::NotFound(format!("credential {id} of department `{dept}`")))
    };
    let before = find()?;
    if before.revoked_at.is_some() {
        return Ok(Json(before));
    }
    registry.revoke_token(id).await?;
    ctx.audit_done(&state, json!({ "id": id, "label": before.label }))
        .await;
    Ok(Json(find()?))
}
