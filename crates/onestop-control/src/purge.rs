//! Purges of the response cache: recorded in the store, applied by every
//! gateway that shares it.
//!
//! A purge is appended to the store first ([`Store::append_purge`], which
//! announces [`Change::Purge`]) and then applied to this gateway's cache
//! before the caller hears back. Every gateway's [`PurgeApplier::run`]
//! applies what it has not applied yet — `purges_since(last applied id)` —
//! when the store announces a purge (PostgreSQL: `LISTEN/NOTIFY` from the
//! other gateways), when its change channel lags, and every 5 s anyway.
//! Ids become visible in increasing order, so remembering the last one
//! applied is enough never to skip one.
//!
//! A purge removes only entries of the department it was recorded for,
//! whatever its prefix or tag names: the department is part of the match
//! in [`onestop_cache::Purge`]'s semantics, and the control plane records
//! the caller's own department.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use onestop_cache::{Purge, ResponseCache};
use onestop_store::{Change, NewPurge, PurgeKind, PurgeRecord, Store, StoreError, now_ms};
use tokio::sync::{Mutex, broadcast};

use crate::error::Problem;
use crate::events;

/// Longest prefix, in bytes.
pub const MAX_PREFIX_BYTES: usize = 1024;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 256;
/// How many purges one read of the store returns.
const PAGE: u32 = 500;
/// The safety net when a notification is lost.
const POLL: Duration = Duration::from_secs(5);
/// How often old purges are deleted from the store.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long purges stay in the store (a gateway that is away longer starts
/// with an empty cache anyway).
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// Why a purge did not happen. Nothing was recorded or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurgeError {
    #[error("invalid purge: {}", crate::error::render(.0))]
    Invalid(Vec<Problem>),
    #[error("the store is unavailable ({0}); nothing was purged, retry later")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for PurgeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => PurgeError::Unavailable(m),
            other => PurgeError::Internal(other.to_string()),
        }
    }
}

impl From<PurgeError> for tonic::Status {
    fn from(e: PurgeError) -> Self {
        let message = e.to_string();
        match e {
            PurgeError::Invalid(_) => tonic::Status::invalid_argument(message),
            PurgeError::Unavailable(_) => tonic::Status::unavailable(message),
            PurgeError::Internal(_) => tonic::Status::internal(message),
        }
    }
}

/// A purge that was recorded and applied here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// The store's id of the purge.
    pub id: i64,
    /// Entries removed from this gateway's cache.
    pub removed: u64,
}

/// Every problem with a purge's target, named by field (`prefix`, `tag`).
pub fn check(purge: &Purge) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    match purge {
        Purge::Prefix(prefix) => {
            let p = |m: &str| Problem::new("prefix", m);
            if !prefix.starts_with('/') {
                problems.push(p(
                    "must start with `/` (a path such as `/api/v1/depts/hpf/forms`)",
                ));
            }
            if prefix.len() > MAX_PREFIX_BYTES {
                problems.push(p(&format!("must be at most {MAX_PREFIX_BYTES} bytes")));
            }
            if prefix.chars().any(char::is_control) {
                problems.push(p("must not contain control characters"));
            }
            if prefix.contains('?') {
                problems.push(p("must be a path without a query (`?`)"));
            }
        }
        Purge::Tag(tag) => {
            let p = |m: &str| Problem::new("tag", m);
            if tag.is_empty() {
                problems.push(p("must not be empty"));
            }
            if tag.len() > MAX_TAG_BYTES {
                problems.push(p(&format!("must be at most {MAX_TAG_BYTES} bytes")));
            }
            if tag.chars().any(char::is_control) {
                problems.push(p("must not contain control characters"));
            }
            if tag.contains(',') {
                problems.push(p("must be one tag (no commas)"));
            }
        }
        Purge::All => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The store's form of a purge: its kind and value.
pub fn to_record(purge: &Purge) -> (PurgeKind, String) {
    match purge {
        Purge::Prefix(p) => (PurgeKind::Prefix, p.clone()),
        Purge::Tag(t) => (PurgeKind::Tag, t.clone()),
        Purge::All => (PurgeKind::All, String::new()),
    }
}

/// The cache's form of a stored purge.
pub fn from_record(record: &PurgeRecord) -> Purge {
    match record.kind {
        PurgeKind::Prefix => Purge::Prefix(record.value.clone()),
        PurgeKind::Tag => Purge::Tag(record.value.clone()),
        PurgeKind::All => Purge::All,
    }
}

/// Records purges and applies them — this gateway's and every other's —
/// to this gateway's cache.
pub struct PurgeApplier {
    cache: ResponseCache,
    store: Arc<dyn Store>,
    /// The id of the last purge applied here. Held while applying (and
    /// while recording one, see [`PurgeApplier::purge`]).
    last: Mutex<i64>,
}

impl PurgeApplier {
    /// An applier that starts after the newest stored purge: a gateway
    /// starts with an empty cache, so older purges have nothing to remove.
    /// When the store cannot be read it starts from the beginning (applying
    /// old purges again only costs a few refetches).
    pub async fn new(cache: ResponseCache, store: Arc<dyn Store>) -> PurgeApplier {
        let last = match store.last_purge_id().await {
            Ok(id) => id,
            Err(error) => {
                events::purge_store_error("last_purge_id", &error);
                0
            }
        };
        PurgeApplier {
            cache,
            store,
            last: Mutex::new(last),
        }
    }

    /// The cache purges are applied to.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The id of the last purge applied here.
    pub async fn last_applied(&self) -> i64 {
        *self.last.lock().await
    }

    /// Checks, records and applies a purge of `dept`'s entries; when this
    /// returns, this gateway's cache holds none of them. `requested_by` is
    /// `dept:<id>` or `operator:<name>`. The caller has checked that the
    /// requester may act on `dept`.
    pub async fn purge(
        &self,
        dept: &str,
        purge: &Purge,
        requested_by: &str,
    ) -> Result<Purged, PurgeError> {
        check(purge).map_err(PurgeError::Invalid)?;
        let (kind, value) = to_record(purge);
        // Held across the append, so that no catch-up applies this purge
        // before we do and we can tell what it removed.
        let mut last = self.last.lock().await;
        let record = self
            .store
            .append_purge(&NewPurge {
                dept: dept.to_string(),
                kind,
                value,
                requested_by: requested_by.to_string(),
                at: now_ms(),
            })
            .await
            .inspect_err(|e| events::purge_store_error("append_purge", e))?;
        events::purge_recorded(&record);
        let mut mine = None;
        if let Err(error) = self
            .apply_pending(&mut last, |r, removed| {
                if r.id == record.id {
                    mine = Some(removed);
                }
            })
            .await
        {
            events::purge_store_error("purges_since", &error);
        }
        // Not read back (the store failed right after the append): apply
        // it directly; the next catch-up applies it again, harmlessly.
        let removed = match mine {
            Some(n) => n,
            None => self.apply(&record),
        };
        Ok(Purged {
            id: record.id,
            removed,
        })
    }

    /// Applies every purge recorded since the last one applied here;
    /// returns how many entries they removed.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let mut last = self.last.lock().await;
        self.apply_pending(&mut last, |_, _| {}).await
    }

    async fn apply_pending(
        &self,
        last: &mut i64,
        mut applied: impl FnMut(&PurgeRecord, u64),
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let page = self.store.purges_since(*last, PAGE).await?;
            for record in &page {
                let removed = self.apply(record);
                total += removed;
                applied(record, removed);
                *last = record.id;
            }
            if page.len() < PAGE as usize {
                return Ok(total);
            }
        }
    }

    fn apply(&self, record: &PurgeRecord) -> u64 {
        let removed = self.cache.purge(&record.dept, &from_record(record));
        events::purge_applied(record, removed);
        removed
    }

    /// Applies purges as they are announced (and every 5 s), and deletes
    /// purges older than a day once an hour, until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut changes = Some(self.store.changes());
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let announced = async {
                match changes.as_mut() {
                    Some(rx) => Some(rx.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                heard = announced => match heard {
                    Some(Ok(Change::Purge) | Err(broadcast::error::RecvError::Lagged(_))) => {
                        self.catch_up_logged().await;
                    }
                    Some(Ok(_)) => {}
                    // The store is gone: the poll is all that is left.
                    Some(Err(broadcast::error::RecvError::Closed)) | None => changes = None,
                },
                _ = poll.tick() => self.catch_up_logged().await,
                _ = prune.tick() => {
                    match self.store.prune_purges(now_ms() - KEEP_MS).await {
                        Ok(pruned) => events::purges_pruned(pruned),
                        Err(error) => events::purge_store_error("prune_purges", &error),
                    }
                }
            }
        }
    }

    async fn catch_up_logged(&self) {
        if let Err(error) = self.catch_up().await {
            events::purge_store_error("purges_since", &error);
        }
    }
}

#[cfg(test)]
mod tests;
