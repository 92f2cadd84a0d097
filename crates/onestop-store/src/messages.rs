//! Citizens' messages: the inbox and the webhook outbox — the rows and the
//! [`MessageStore`] trait.
//!
//! Messages are not written through this trait: the store writes them in
//! the same transaction as the change that causes them (an appeal's
//! timeline entry in [`crate::AppealStore::change_appeal`] and
//! [`crate::AppealStore::create_appeal`]), so an event is in the inbox and
//! the outbox if and only if its change committed. Each event's id is
//! derived from the change (`<appeal>.<seq>`, `<appeal>.<seq>.rate`), so
//! it is stable across retries and gateways. The texts are not stored:
//! `onestop-messages` renders them from the kind, title and department.

use async_trait::async_trait;
use serde::Serialize;

use crate::{Millis, Result};

/// Kinds of message, as stored.
pub mod kind {
    pub const APPEAL_DISPATCHED: &str = "appeal.dispatched";
    pub const APPEAL_ACCEPTED: &str = "appeal.accepted";
    pub const APPEAL_REPLIED: &str = "appeal.replied";
    pub const APPEAL_ESCALATED: &str = "appeal.escalated";
    pub const APPEAL_SUPERVISED: &str = "appeal.supervised";
    pub const RATING_INVITATION: &str = "rating.invitation";
    pub const CASE_PROGRESS: &str = "case.progress";
    pub const CASE_COMPLETED: &str = "case.completed";
    pub const CASE_FAILED: &str = "case.failed";
    pub const CASE_OVERDUE: &str = "case.overdue";
}

/// One message of a citizen's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    /// The event id (stable; the webhook's `event_id`).
    pub id: String,
    pub citizen: String,
    pub channel: Option<String>,
    /// One of [`kind`].
    pub kind: String,
    /// The appeal's or case's id.
    pub subject: String,
    /// The appeal's title or the matter's name (never the content).
    pub title: String,
    pub dept: Option<String>,
    pub at: Millis,
    pub read_at: Option<Millis>,
}

/// Which of a citizen's messages to list (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    pub citizen: String,
    /// Only those not yet read.
    pub unread: bool,
    /// Strictly older than this message (paging).
    pub before: Option<String>,
    /// At most this many (0: 50; at most 500).
    pub limit: u32,
}

/// A webhook delivery as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRecord {
    pub event_id: String,
    pub channel: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub created_at: Millis,
    /// When the next attempt is due (pending only).
    pub next_at: Millis,
    pub delivered_at: Option<Millis>,
    pub last_error: Option<String>,
    /// The event.
    pub message: MessageRecord,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed; try again at `next_at`.
    Retry { next_at: Millis, error: String },
    /// It failed and the event is too old to try again.
    Failed { error: String },
}

/// The inbox and the outbox.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// The channels whose events enter the outbox (those with a
    /// `notify_url`); set at start and on every reload. Events of other
    /// channels go to the inbox only.
    fn set_notify_channels(&self, channels: Vec<String>);

    /// A citizen's messages, newest first.
    async fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>>;

    /// Marks one of `citizen`'s messages read (once; later calls keep the
    /// first time). `None` when the citizen has no such message.
    async fn mark_read(
        &self,
        citizen: &str,
        id: &str,
        now: Millis,
    ) -> Result<Option<MessageRecord>>;

    /// Pending deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: Millis, limit: u32) -> Result<Vec<OutboxRecord>>;

    /// Records one attempt of a pending delivery (`attempts` + 1); `false`
    /// when it is no longer pending.
    async fn record_delivery(
        &self,
        event_id: &str,
        now: Millis,
        outcome: &DeliveryOutcome,
    ) -> Result<bool>;

    /// Deliveries in `state` (any when `None`), newest first.
    async fn outbox(&self, state: Option<&str>, limit: u32) -> Result<Vec<OutboxRecord>>;

    /// Makes a failed or pending delivery due at `now` again (an
    /// operator's retry); `false` for an unknown or delivered event.
    async fn retry_delivery(&self, event_id: &str, now: Millis) -> Result<bool>;

    /// Takes or renews the lease `name` for `owner` until `until`; `false`
    /// while another owner holds it (the delivery worker's).
    async fn claim_message_lease(
        &self,
        name: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool>;
}
