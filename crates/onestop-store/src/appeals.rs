//! Citizens' appeals (诉求) and their timelines: the rows and the
//! [`AppealStore`] trait.
//!
//! The store knows names, not rules: kinds and states are the strings of
//! `onestop-appeals` (the tables' `CHECK`s hold them to the list), and
//! which transition is allowed is decided before [`AppealStore::change`]
//! is called. What the store guarantees is the shape of a change: one
//! transaction, a compare-and-set on the version read, and exactly one
//! timeline entry appended — or nothing at all.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::{Millis, Result};

/// One entry of an appeal's timeline (never rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppealEvent {
    /// 1, 2, … in order; equal to the appeal's version after the change.
    pub seq: i64,
    pub at: Millis,
    /// `submitted`, `dispatched`, `accepted`, `replied`, `returned`,
    /// `escalated`, `supervised`, `cohandler_added`, `assisted`, `rated`,
    /// `closed`.
    pub event: String,
    /// `citizen`, `department`, `operator` or `system`.
    pub actor: String,
    /// The acting department's id or operator's name, when known.
    pub actor_id: Option<String>,
    /// The department the entry concerns.
    pub dept: Option<String>,
    pub note: String,
}

/// A timeline entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppealEvent {
    pub event: String,
    pub actor: String,
    pub actor_id: Option<String>,
    pub dept: Option<String>,
    pub note: String,
}

/// An appeal as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AppealRecord {
    pub id: String,
    pub citizen: String,
    pub channel: Option<String>,
    pub kind: String,
    pub title: String,
    pub content: String,
    pub matter: Option<String>,
    pub hint_dept: Option<String>,
    /// `{"address","lat"?,"lng"?}`.
    pub location: Option<Value>,
    pub disclose: bool,
    pub state: String,
    /// The lead department; `None` in the operators' queue.
    pub dept: Option<String>,
    pub submit_key: Option<String>,
    /// Changes so far (the last timeline entry's `seq`).
    pub version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub dispatched_at: Option<Millis>,
    pub accept_due: Option<Millis>,
    pub accepted_at: Option<Millis>,
    pub reply_due: Millis,
    pub replied_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    pub escalated_at: Option<Millis>,
    /// The deadline that applies now; `None` once replied or escalated.
    pub next_due: Option<Millis>,
    pub reply: Option<String>,
    pub score: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<Millis>,
    /// Re-dispatches after a department returned it.
    pub redispatches: i64,
    /// When a 催办 still overdue gets its 督办 (a working day after it).
    pub supervise_due: Option<Millis>,
    /// The 督办 (once).
    pub supervised_at: Option<Millis>,
    /// Departments that co-handle it (协办), in the order added; filled
    /// with the timeline.
    pub co_handlers: Vec<String>,
    /// Filled by [`AppealStore::appeal`]; empty in lists.
    pub timeline: Vec<AppealEvent>,
    /// What it carries, in the order attached; filled with the timeline.
    pub attachments: Vec<AppealAttachment>,
}

/// One attachment of an appeal (the content is in [`AttachmentBlob`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppealAttachment {
    /// `sha256:<64 lowercase hex>`.
    pub hash: String,
    pub media_type: String,
    pub size: i64,
    /// The timeline entry that attached it (1: the submission).
    pub seq: i64,
    /// `citizen`, `department` or `operator`.
    pub actor: String,
    pub actor_id: Option<String>,
    pub at: Millis,
}

/// An attachment's content, stored once per hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentBlob {
    /// `sha256:<64 lowercase hex>` of `content` (the caller computes it).
    pub hash: String,
    pub media_type: String,
    pub size: i64,
    /// Empty when read without content.
    pub content: Vec<u8>,
}

/// A new appeal: written with its first timeline entries (`submitted`,
/// and `dispatched` when the rules chose a department) in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAppeal {
    pub id: String,
    pub citizen: String,
    pub channel: Option<String>,
    pub kind: String,
    pub title: String,
    pub content: String,
    pub matter: Option<String>,
    pub hint_dept: Option<String>,
    pub location: Option<Value>,
    pub disclose: bool,
    /// The client's `Idempotency-Key`: one appeal per citizen and key.
    pub submit_key: Option<String>,
    pub created_at: Millis,
    pub reply_due: Millis,
    /// The deadline that applies first (to dispatch or to accept).
    pub next_due: Millis,
    /// The department the rules chose, if any.
    pub dispatch: Option<NewDispatch>,
    /// Hashes of stored blobs ([`AppealStore::put_appeal_blob`]) the
    /// citizen attaches; one unknown: [`crate::StoreError::NotFound`],
    /// nothing written.
    pub attachments: Vec<String>,
}

/// Dispatch at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispatch {
    pub dept: String,
    pub accept_due: Millis,
    /// Why (`rule 2`, `matter`, `hint`).
    pub note: String,
}

/// One change of an appeal. Fields left `None` keep their value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppealChange {
    /// The version the change was decided on; another change in between
    /// makes it a [`crate::StoreError::Conflict`] with nothing written.
    pub version: i64,
    pub state: String,
    /// The lead department after the change (written as is).
    pub dept: Option<String>,
    pub at: Millis,
    /// The deadline that applies after the change (written as is).
    pub next_due: Option<Millis>,
    pub dispatched_at: Option<Millis>,
    pub accept_due: Option<Millis>,
    pub accepted_at: Option<Millis>,
    pub replied_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    pub escalated_at: Option<Millis>,
    pub supervise_due: Option<Millis>,
    pub supervised_at: Option<Millis>,
    pub reply: Option<String>,
    pub score: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<Millis>,
    /// A department to add as co-handler (协办) with `event`; one already
    /// added: [`crate::StoreError::Conflict`], nothing written.
    pub co_handler: Option<String>,
    /// Count a re-dispatch after a return.
    pub redispatch: bool,
    pub event: Option<NewAppealEvent>,
    /// Opens a follow-up (回访整改) for the lead department, due then, in
    /// the same transaction: a `ratings` row of subject kind `appeal` with
    /// the change's `score` and `rating_comment`, and its `followups` row
    /// (what `/admin/v1/followups` lists). Only with `score` and a
    /// department.
    pub followup_due_at: Option<Millis>,
    /// Hashes of stored blobs attached with `event` (by its actor); one
    /// unknown: [`crate::StoreError::NotFound`], nothing written.
    pub attachments: Vec<String>,
}

/// Which appeals to list (newest first for citizens; oldest first in
/// queues, so the longest-waiting comes first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppealFilter {
    /// One citizen's (newest first).
    pub citizen: Option<String>,
    /// One department's (as lead).
    pub dept: Option<String>,
    /// Those this department co-handles (协办).
    pub cohandler: Option<String>,
    /// Only the operators' queue (no department).
    pub queue: bool,
    /// Only these states (empty: any).
    pub states: Vec<String>,
    /// Strictly after this appeal in the listing's order.
    pub after: Option<String>,
    /// At most this many (0: 50).
    pub limit: u32,
}

/// Counts of appeals per state, kind and department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppealCount {
    pub state: String,
    pub kind: String,
    pub dept: Option<String>,
    pub count: i64,
    /// Of those, past the deadline that applies now.
    pub overdue: i64,
    /// Of those, supervised (督办) and still not replied.
    pub supervised: i64,
}

/// Durable appeals.
#[async_trait]
pub trait AppealStore: Send + Sync + 'static {
    /// Writes a new appeal; with a `submit_key` the citizen already used,
    /// returns that appeal instead (`false`: not created now).
    async fn create_appeal(&self, appeal: &NewAppeal) -> Result<(AppealRecord, bool)>;

    /// One appeal with its timeline.
    async fn appeal(&self, id: &str) -> Result<Option<AppealRecord>>;

    /// Applies one change (compare-and-set on `change.version`) and appends
    /// its timeline entry; returns the appeal after it, with its timeline.
    async fn change_appeal(&self, id: &str, change: &AppealChange) -> Result<AppealRecord>;

    /// Appeals by `filter`, without timelines.
    async fn list_appeals(&self, filter: &AppealFilter) -> Result<Vec<AppealRecord>>;

    /// Open appeals past their `next_due` that never escalated, most
    /// overdue first.
    async fn overdue_appeals(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>>;

    /// Escalated appeals whose `supervise_due` passed, still overdue
    /// (`next_due` passed) and never supervised, the longest waiting
    /// first: the 督办 round.
    async fn supervision_due(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>>;

    /// Counts per state, kind and department, and how many are overdue.
    async fn appeal_counts(&self, now: Millis) -> Result<Vec<AppealCount>>;

    /// The public feed: disclosed appeals closed after a department's
    /// reply, the latest closed first (`closed_at`, then id, descending);
    /// `before` (an appeal id) pages back. Without timelines.
    async fn disclosed_appeals(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppealRecord>>;

    /// Appeals created in `[from, to)` that reached a department, without
    /// timelines (for assessment).
    async fn dispatched_appeals(&self, from: Millis, to: Millis) -> Result<Vec<AppealRecord>>;

    /// Stores an attachment's content under its hash (once: `false` when
    /// that hash is stored already, which is left as it was).
    async fn put_appeal_blob(&self, blob: &AttachmentBlob, now: Millis) -> Result<bool>;

    /// A stored attachment by hash, with its content when `content`.
    async fn appeal_blob(&self, hash: &str, content: bool) -> Result<Option<AttachmentBlob>>;

    /// Takes or renews the lease `name` for `owner` until `until`; `false`
    /// while another owner holds it.
    async fn claim_appeal_lease(
        &self,
        name: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool>;
}
