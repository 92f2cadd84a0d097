//! `/admin/v1/cache/…`: operators purge the response cache (editors,
//! within their departments) and read its figures (any role).
//!
//! A purge is recorded in the store, so it reaches every gateway that
//! shares it, and applied to this gateway's cache before the answer.

use axum::Json;
use axum::extract::State;
use onestop_cache::Purge;
use onestop_control::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::auth::{Ctx, is_ident};
use crate::error::{ApiError, ErrorBody, ErrorDetail};

/// What to purge: one department's entries under a path prefix, with a
/// tag, or all of them. Exactly one of `prefix`, `tag`, `all`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// The department whose entries are purged.
    pub department: String,
    /// A normalised path (starts with `/`, at most 1024 bytes, no `?`);
    /// matches whole segments: `/a/b` purges `/a/b` and `/a/b/c`, not `/a/bc`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// A tag the department sent in `Cache-Tag` (1-256 bytes, no commas).
    #[serde(default)]
    pub tag: Option<String>,
    /// `true`: every entry of the department.
    #[serde(default)]
    pub all: Option<bool>,
}

/// A recorded and applied purge.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurgeAnswer {
    /// The store's id of the purge.
    pub id: i64,
    /// Entries removed from this gateway's cache (the other gateways remove
    /// theirs as they apply the purge, within about a second).
    pub removed: u64,
}

/// One route's cache figures since the gateway started.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteCacheView {
    pub dept: String,
    pub route: String,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypass: u64,
    /// Requests that waited for another request's answer.
    pub coalesced: u64,
    pub evictions: u64,
    pub entries: i64,
    pub bytes: i64,
}

/// The response cache of this gateway.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CacheStatsView {
    /// The memory budget.
    pub max_bytes: u64,
    /// Weight of every entry, as the budget counts it.
    pub bytes: u64,
    pub entries: u64,
    pub routes: Vec<RouteCacheView>,
}

impl From<onestop_cache::Stats> for CacheStatsView {
    fn from(s: onestop_cache::Stats) -> Self {
        CacheStatsView {
            max_bytes: s.max_bytes,
            bytes: s.bytes,
            entries: s.entries,
            routes: s
                .routes
                .into_iter()
                .map(|r| RouteCacheView {
                    dept: r.dept,
                    route: r.route,
                    hits: r.hits,
                    misses: r.misses,
                    stale: r.stale,
                    bypass: r.bypass,
                    coalesced: r.coalesced,
                    evictions: r.evictions,
                    entries: r.entries,
                    bytes: r.bytes,
                })
                .collect(),
        }
    }
}

/// The purge a body asks for: exactly one target.
fn target(body: &PurgeRequest) -> Result<Purge, ApiError> {
    let purge = match (&body.prefix, &body.tag, body.all) {
        (Some(p), None, None) => Purge::Prefix(p.clone()),
        (None, Some(t), None) => Purge::Tag(t.clone()),
        (None, None, Some(true)) => Purge::All,
        (None, None, Some(false)) => {
            return Err(invalid(Problem::new(
                "all",
                "must be true when set (to purge everything of the department)",
            )));
        }
        _ => {
            return Err(invalid(Problem::new(
                "target",
                "exactly one of `prefix`, `tag` or `all` must be set",
            )));
        }
    };
    onestop_control::purge::check(&purge).map_err(|problems| ApiError::BadRequest {
        message: format!(
            "invalid purge: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        details: problems.iter().map(ErrorDetail::from).collect(),
    })?;
    Ok(purge)
}

fn invalid(problem: Problem) -> ApiError {
    ApiError::BadRequest {
        message: format!("invalid purge: {problem}"),
        details: vec![ErrorDetail::from(&problem)],
    }
}

/// Purges a department's cached answers on every gateway sharing the store.
#[utoipa::path(
    post,
    path = "/admin/v1/cache/purge",
    tag = "cache",
    request_body = PurgeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded, and applied on this gateway", body = PurgeAnswer),
        (status = 400, description = "Not exactly one target, or an invalid prefix or tag", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or the department is outside the operator's", body = ErrorBody),
        (status = 404, description = "No such department in the configuration", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE: nothing was purged", body = ErrorBody),
    )
)]
pub(crate) async fn purge(
    State(state): State<AdminState>,
    ctx: Ctx,
    crate::extract::Json(body): crate::extract::Json<PurgeRequest>,
) -> Result<Json<PurgeAnswer>, ApiError> {
    let dept = body.department.clone();
    if !is_ident(&dept) {
        return Err(ApiError::bad_request(format!(
            "department id `{dept}` must be 1-32 characters of a-z, 0-9 and -"
        )));
    }
    let ctx = Ctx {
        target: dept.clone(),
        ..ctx
    };
    if !ctx.caller.may_change(&dept) {
        let message = format!(
            "operator `{}` may change only departments {}",
            ctx.caller.name,
            ctx.caller.departments.join(", ")
        );
        return Err(ctx.refuse(&state, ApiError::Forbidden(message)).await);
    }
    state.require_department(&dept)?;
    let purge = target(&body)?;
    let requested_by = format!("operator:{}", ctx.caller.name);
    let done = state.cache.purge(&dept, &purge, &requested_by).await?;
    let (kind, value) = onestop_control::purge::to_record(&purge);
    ctx.audit_done(
        &state,
        json!({
            "kind": kind.as_str(),
            "value": value,
            "id": done.id,
            "removed": done.removed,
        }),
    )
    .await;
    Ok(Json(PurgeAnswer {
        id: done.id,
        removed: done.removed,
    }))
}

/// This gateway's response cache: size, budget and per-route figures.
#[utoipa::path(
    get,
    path = "/admin/v1/cache/stats",
    tag = "cache",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CacheStatsView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn stats(State(state): State<AdminState>, _ctx: Ctx) -> Json<CacheStatsView> {
    Json(CacheStatsView::from(state.cache.stats()))
}
