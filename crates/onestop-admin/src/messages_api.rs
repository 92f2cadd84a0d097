//! `/admin/v1/messages/outbox…`: the operators' view of citizens' webhook
//! deliveries — each event's channel, kind, subject, state, attempts, last
//! error and next attempt (never the citizen or the text) — and a retry
//! that makes a failed or pending delivery due now.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use onestop_store::{MessageStore, OutboxRecord, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorBody};

const STATES: [&str; 3] = ["pending", "delivered", "failed"];

fn store(state: &AdminState) -> Result<&Arc<dyn MessageStore>, ApiError> {
    state
        .messages
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("messages are not enabled on this gateway".into()))
}

fn unavailable(e: onestop_store::StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `pending`, `delivered` or `failed` (default: all).
    pub state: Option<String>,
    /// At most this many, newest first (1-500, default 100).
    pub limit: Option<u32>,
}

/// One webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub event_id: String,
    pub channel: String,
    /// `appeal.dispatched`, `appeal.accepted`, `appeal.replied`,
    /// `appeal.escalated`, `rating.invitation`, `case.*`.
    pub kind: String,
    /// The appeal's or case's id.
    pub subject: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    /// When the next attempt is due (ms since the epoch; pending only).
    pub next_attempt_at: Option<i64>,
    /// When the receiver took it (ms since the epoch).
    pub delivered_at: Option<i64>,
    /// When the event happened (ms since the epoch).
    pub created_at: i64,
}

impl From<&OutboxRecord> for Delivery {
    fn from(o: &OutboxRecord) -> Delivery {
        Delivery {
            event_id: o.event_id.clone(),
            channel: o.channel.clone(),
            kind: o.message.kind.clone(),
            subject: o.message.subject.clone(),
            state: o.state.clone(),
            attempts: o.attempts,
            last_error: o.last_error.clone(),
            next_attempt_at: (o.state == "pending").then_some(o.next_at),
            delivered_at: o.delivered_at,
            created_at: o.created_at,
        }
    }
}

/// Webhook deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxList {
    pub deliveries: Vec<Delivery>,
}

/// Citizens' webhook deliveries (the outbox), newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/messages/outbox",
    tag = "messages",
    params(OutboxQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OutboxList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Messages are not enabled", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn outbox(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<OutboxList>, ApiError> {
    let limit = crate::extract::limit(q.limit)?;
    if let Some(s) = q.state.as_deref()
        && !STATES.contains(&s)
    {
        return Err(ApiError::bad_request(format!(
            "state `{s}` is not one of pending, delivered, failed"
        )));
    }
    let found = store(&state)?
        .outbox(q.state.as_deref(), limit)
        .await
        .map_err(unavailable)?;
    Ok(Json(OutboxList {
        deliveries: found.iter().map(Delivery::from).collect(),
    }))
}

/// A delivery made due again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub event_id: String,
    /// `pending`.
    pub state: &'static str,
    /// Now: the worker takes it on its next round.
    pub next_attempt_at: i64,
}

/// Makes a failed or pending delivery due now; the worker sends it on its
/// next round (same `event_id`, same body).
#[utoipa::path(
    post,
    path = "/admin/v1/messages/outbox/{event_id}/retry",
    tag = "messages",
    params(("event_id" = String, Path, description = "The event's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Retried),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an editor, or one limited to departments", body = ErrorBody),
        (status = 404, description = "No such delivery, or delivered already", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn retry(
    State(state): State<AdminState>,
    ctx: Ctx,
    Path(event_id): Path<String>,
) -> Result<Json<Retried>, ApiError> {
    let now = now_ms();
    if !store(&state)?
        .retry_delivery(&event_id, now)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::NotFound(format!(
            "no pending or failed delivery `{event_id}`"
        )));
    }
    ctx.audit_done(&state, json!({ "event_id": event_id }))
        .await;
    Ok(Json(Retried {
        event_id,
        state: "pending",
        next_attempt_at: now,
    }))
}
