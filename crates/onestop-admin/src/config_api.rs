//! `/admin/v1/config…`: the running configuration, its versions and diffs
//! (viewers), and changes to it (editors). Every change goes through
//! [`ConfigBackend::change`](crate::backend::ConfigBackend::change), which
//! validates, writes, applies and records a version; an invalid change is
//! `422 INVALID_CONFIG` with every problem located by file, line and column,
//! and the running configuration stays as it was.

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use onestop_config::Bundle;
use onestop_store::{ConfigVersion, ConfigVersionMeta};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::audit::limit;
use crate::auth::Ctx;
use crate::backend::{Author, ConfigChange, ReloadStatus};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{OptionalJson, Path, Query, TomlText};

/// The header an editor explains a change with.
pub const CHANGE_MESSAGE_HEADER: &str = "x-onestop-change-message";

/// Longest change message accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 1000;

/// The running configuration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigView {
    /// The stored version it corresponds to (`null` until one is recorded).
    pub version: Option<i64>,
    /// Hex SHA-256 over the files.
    pub content_hash: String,
    /// The data plane's snapshot generation.
    pub generation: u64,
    /// Relative path (`onestop.toml`, `departments/hpf.toml`) → text.
    pub files: BTreeMap<String, String>,
}

/// The last configuration that was rejected.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectionView {
    /// Epoch milliseconds.
    pub at_ms: i64,
    /// `file change`, `sighup`, `api`, …
    pub trigger: String,
    /// One line per problem: `FILE:LINE:COL: message`.
    pub problems: Vec<String>,
}

/// Hot-reload bookkeeping: what runs, how many changes were applied and
/// rejected, and the last rejection with its problems.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusView {
    pub generation: u64,
    pub version: Option<i64>,
    pub applied_total: u64,
    pub rejected_total: u64,
    pub last_rejection: Option<RejectionView>,
}

impl From<ReloadStatus> for StatusView {
    fn from(s: ReloadStatus) -> Self {
        StatusView {
            generation: s.generation,
            version: s.version,
            applied_total: s.applied_total,
            rejected_total: s.rejected_total,
            last_rejection: s.last_rejection.map(|r| RejectionView {
                at_ms: r.at_ms,
                trigger: r.trigger,
                problems: r.problems,
            }),
        }
    }
}

/// A version without its files.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionMetaView {
    pub version: i64,
    pub author: String,
    pub message: String,
    /// `file`, `api` or `rollback`.
    pub source: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub content_hash: String,
}

impl From<ConfigVersionMeta> for VersionMetaView {
    fn from(m: ConfigVersionMeta) -> Self {
        VersionMetaView {
            version: m.version,
            author: m.author,
            message: m.message,
            source: m.source.as_str().to_string(),
            created_at: m.created_at,
            content_hash: m.content_hash,
        }
    }
}

/// Versions, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionsPage {
    pub versions: Vec<VersionMetaView>,
}

/// One version with its files and its diff against its predecessor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    #[serde(flatten)]
    pub meta: VersionMetaView,
    pub files: BTreeMap<String, String>,
    /// The version this one is compared with (`null` for the first: then
    /// `diff` shows every file as added).
    pub previous: Option<i64>,
    /// Unified diff from `previous` to this version.
    pub diff: String,
}

/// A unified diff between two versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiffView {
    /// The older side (`null`: the empty configuration).
    pub from: Option<i64>,
    pub to: i64,
    /// Unified diff, `--- a/PATH` / `+++ b/PATH` per changed file; "" when equal.
    pub diff: String,
}

/// What a change did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeAnswer {
    /// The version now running.
    pub version: i64,
    pub content_hash: String,
    /// The data plane's snapshot generation after the change.
    pub generation: u64,
    /// The content equals the running version: nothing was recorded.
    pub unchanged: bool,
}

/// `?limit=&before=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionsQuery {
    /// At most this many versions (1-500, default 50).
    limit: Option<u32>,
    /// Only versions older than this one (paging back).
    before: Option<i64>,
}

/// `?against=N`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffQuery {
    /// The version to compare with (default: the predecessor).
    against: Option<i64>,
}

/// The body of a rollback (may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to go back to (default: the one before the running one).
    pub to: Option<i64>,
    /// Why (default: the `x-onestop-change-message` header, then
    /// `config.rollback via admin API`).
    pub message: Option<String>,
}

/// The running configuration with its files.
#[utoipa::path(
    get,
    path = "/admin/v1/config",
    tag = "config",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConfigView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn get_config(State(state): State<AdminState>, _ctx: Ctx) -> Json<ConfigView> {
    let snap = state.config.current();
    Json(ConfigView {
        version: snap.version,
        content_hash: snap.content_hash,
        generation: snap.generation,
        files: snap.files,
    })
}

/// Hot-reload status, including the last rejected configuration and its problems.
#[utoipa::path(
    get,
    path = "/admin/v1/config/status",
    tag = "config",
    security(("bearer" = [])),
    responses(
        (status = 200, body = StatusView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn get_status(State(state): State<AdminState>, _ctx: Ctx) -> Json<StatusView> {
    Json(state.config.status().into())
}

/// Stored configuration versions, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/config/versions",
    tag = "config",
    params(VersionsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = VersionsPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn list_versions(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<VersionsQuery>,
) -> Result<Json<VersionsPage>, ApiError> {
    let limit = limit(q.limit, 50, 500)?;
    let versions = state.config.versions(limit, q.before).await?;
    Ok(Json(VersionsPage {
        versions: versions.into_iter().map(VersionMetaView::from).collect(),
    }))
}

/// One version: its files and its diff against its predecessor.
#[utoipa::path(
    get,
    path = "/admin/v1/config/versions/{v}",
    tag = "config",
    params(("v" = i64, Path, description = "Version number")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = VersionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn get_version(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path(v): Path<i64>,
) -> Result<Json<VersionView>, ApiError> {
    let version = fetch(&state, v).await?;
    let previous = predecessor(&state, v).await?;
    let from = match previous {
        Some(p) => fetch(&state, p).await?.files,
        None => BTreeMap::new(),
    };
    let diff = Bundle { files: from }.diff(&Bundle {
        files: version.files.clone(),
    });
    Ok(Json(VersionView {
        meta: version.meta.into(),
        files: version.files,
        previous,
        diff,
    }))
}

/// A unified diff between version `v` and version `against` (default: its predecessor).
#[utoipa::path(
    get,
    path = "/admin/v1/config/versions/{v}/diff",
    tag = "config",
    params(("v" = i64, Path, description = "Version number (the newer side)"), DiffQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DiffView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn diff_version(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Path(v): Path<i64>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffView>, ApiError> {
    let to = fetch(&state, v).await?;
    let from = match q.against {
        Some(n) => Some(n),
        None => predecessor(&state, v).await?,
    };
    let old = match from {
        Some(n) => fetch(&state, n).await?.files,
        None => BTreeMap::new(),
    };
    let diff = Bundle { files: old }.diff(&Bundle { files: to.files });
    Ok(Json(DiffView { from, to: v, diff }))
}

/// Replaces (or creates) `departments/{dept}.toml`.
#[utoipa::path(
    put,
    path = "/admin/v1/config/departments/{dept}",
    tag = "config",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("x-onestop-change-message" = Option<String>, Header, description = "Why (recorded with the version)"),
    ),
    request_body(content = String, content_type = "application/toml", description = "The whole department file (`text/plain` is accepted too)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied (or unchanged)", body = ChangeAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or the department is outside the operator's scope", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG with every problem in `details`", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn put_department(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(dept): Path<String>,
    headers: HeaderMap,
    TomlText(text): TomlText,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, None, &ctx)?;
    check_department_id(&state, &dept, &text)?;
    let detail = json!({
        "dept": dept,
        "bytes": text.len(),
        "sha256": onestop_core::digest::sha256_hex(text.as_bytes()),
    });
    apply(
        &state,
        &ctx,
        ConfigChange::PutDepartmentFile { dept, text },
        message,
        detail,
    )
    .await
}

/// Removes `departments/{dept}.toml`.
#[utoipa::path(
    delete,
    path = "/admin/v1/config/departments/{dept}",
    tag = "config",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("x-onestop-change-message" = Option<String>, Header, description = "Why"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChangeAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG (e.g. an operator still refers to it)", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn delete_department(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(dept): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, None, &ctx)?;
    let detail = json!({ "dept": dept });
    apply(
        &state,
        &ctx,
        ConfigChange::DeleteDepartmentFile { dept },
        message,
        detail,
    )
    .await
}

/// Replaces (or adds) one route of a department, given as a JSON object of its TOML keys.
#[utoipa::path(
    put,
    path = "/admin/v1/config/departments/{dept}/routes/{route}",
    tag = "config",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("route" = String, Path, description = "Route id (an `id` in the body must equal it)"),
        ("x-onestop-change-message" = Option<String>, Header, description = "Why"),
    ),
    request_body(content = Object, description = "The route's keys, e.g. `{\"template\": \"/api/v1/depts/hpf/x/{id}\", \"service\": \"accounts\", \"methods\": [\"GET\"]}`"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChangeAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such department", body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn put_route(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((dept, route)): Path<(String, String)>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<serde_json::Value>,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, None, &ctx)?;
    let Some(keys) = body.as_object() else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the route's keys",
        ));
    };
    if let Some(id) = keys.get("id")
        && id.as_str() != Some(route.as_str())
    {
        return Err(ApiError::BadRequest {
            message: format!("the body's `id` must equal the route in the path (`{route}`)"),
            details: vec![ErrorDetail {
                file: None,
                line: None,
                col: None,
                field: Some("id".into()),
                message: format!("expected `{route}`"),
            }],
        });
    }
    let detail = json!({ "dept": dept, "route": route, "body": body });
    apply(
        &state,
        &ctx,
        ConfigChange::PutRoute { dept, route, body },
        message,
        detail,
    )
    .await
}

/// Removes one route of a department.
#[utoipa::path(
    delete,
    path = "/admin/v1/config/departments/{dept}/routes/{route}",
    tag = "config",
    params(
        ("dept" = String, Path, description = "Department id"),
        ("route" = String, Path, description = "Route id"),
        ("x-onestop-change-message" = Option<String>, Header, description = "Why"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChangeAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn delete_route(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path((dept, route)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, None, &ctx)?;
    let detail = json!({ "dept": dept, "route": route });
    apply(
        &state,
        &ctx,
        ConfigChange::DeleteRoute { dept, route },
        message,
        detail,
    )
    .await
}

/// Goes back to an earlier version (recorded as a new version). Not for
/// operators limited to departments.
#[utoipa::path(
    post,
    path = "/admin/v1/config/rollback",
    tag = "config",
    params(("x-onestop-change-message" = Option<String>, Header, description = "Why (the body's `message` wins)")),
    request_body(content = Option<RollbackRequest>, description = "Optional; `{}` or empty = the previous version"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChangeAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn rollback(
    State(state): State<AdminState>,
    ctx: Ctx,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RollbackRequest>,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, body.message.as_deref(), &ctx)?;
    let detail = json!({ "to": body.to });
    apply(
        &state,
        &ctx,
        ConfigChange::Rollback { to: body.to },
        message,
        detail,
    )
    .await
}

/// Re-reads the configuration files (e.g. after editing them by hand). Not
/// for operators limited to departments.
#[utoipa::path(
    post,
    path = "/admin/v1/config/reload",
    tag = "config",
    params(("x-onestop-change-message" = Option<String>, Header, description = "Why")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChangeAnswer),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "INVALID_CONFIG", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn reload(
    State(state): State<AdminState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let message = message(&headers, None, &ctx)?;
    apply(&state, &ctx, ConfigChange::Reload, message, json!({})).await
}

/// Applies a change and audits it.
async fn apply(
    state: &AdminState,
    ctx: &Ctx,
    change: ConfigChange,
    message: String,
    detail: serde_json::Value,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let author = Author {
        operator: ctx.caller.name.clone(),
        message: message.clone(),
    };
    let applied = state.config.change(change, &author).await?;
    let mut detail = detail;
    if let Some(map) = detail.as_object_mut() {
        map.insert("message".into(), json!(message));
        map.insert("version".into(), json!(applied.version));
        map.insert("content_hash".into(), json!(applied.content_hash));
        map.insert("unchanged".into(), json!(applied.unchanged));
    }
    ctx.audit_done(state, detail).await;
    Ok(Json(ChangeAnswer {
        version: applied.version,
        content_hash: applied.content_hash,
        generation: applied.generation,
        unchanged: applied.unchanged,
    }))
}

/// The change message: `explicit`, else the header, else `<action> via admin API`.
fn message(headers: &HeaderMap, explicit: Option<&str>, ctx: &Ctx) -> Result<String, ApiError> {
    let from_header =
        match headers.get(CHANGE_MESSAGE_HEADER) {
            None => None,
            Some(v) => Some(std::str::from_utf8(v.as_bytes()).map_err(|_| {
                ApiError::bad_request(format!("{CHANGE_MESSAGE_HEADER} is not UTF-8"))
            })?),
        };
    let given = explicit
        .or(from_header)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    match given {
        Some(m) if m.chars().count() > MAX_MESSAGE_CHARS => Err(ApiError::bad_request(format!(
            "the change message is longer than {MAX_MESSAGE_CHARS} characters"
        ))),
        Some(m) if m.chars().any(char::is_control) => Err(ApiError::bad_request(
            "the change message must be one line without control characters",
        )),
        Some(m) => Ok(m.to_string()),
        None => Ok(format!("{} via admin API", ctx.action.unwrap_or("change"))),
    }
}

/// A department file must declare the department it is stored under, so
/// that `departments/hpf.toml` cannot create or shadow department `tax`
/// (which would also step around an operator's department scope). Checked
/// on the file alone, then on the configuration as it would be; when
/// neither parses, the backend reports every problem instead.
fn check_department_id(state: &AdminState, dept: &str, text: &str) -> Result<(), ApiError> {
    let rel = format!("departments/{dept}.toml");
    let alone = BTreeMap::from([(rel.clone(), text.to_string())]);
    let mut whole = state.config.current().files;
    whole.insert(rel.clone(), text.to_string());
    for files in [alone, whole] {
        let Ok(config) = (Bundle { files }).parse(FsPath::new("")) else {
            continue;
        };
        let Some(src) = config
            .departments
            .iter()
            .find(|d| d.path == FsPath::new(&rel))
        else {
            continue;
        };
        let id = src.file.department.id.get_ref();
        if id == dept {
            return Ok(());
        }
        let (line, col) = line_col(text, src.file.department.id.span().start);
        return Err(ApiError::InvalidConfig(vec![ErrorDetail {
            file: Some(rel),
            line: Some(line),
            col: Some(col),
            field: None,
            message: format!(
                "department id `{id}` does not match the file it is stored as (`{dept}`)"
            ),
        }]));
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

async fn fetch(state: &AdminState, v: i64) -> Result<ConfigVersion, ApiError> {
    state
        .config
        .version(v)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("configuration version {v}")))
}

/// The newest version older than `v`.
async fn predecessor(state: &AdminState, v: i64) -> Result<Option<i64>, ApiError> {
    Ok(state
        .config
        .versions(1, Some(v))
        .await?
        .first()
        .map(|m| m.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("公积金\nx", 9), (1, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
