//! The overdue scanner (催办/督办): every `scan_interval`, the gateway
//! holding the store lease `appeals-overdue` marks open appeals past their
//! deadline `escalated` (催办; the lead department and the citizen are
//! told), each with a timeline entry; then supervises (督办) those
//! escalated a working day ago and still overdue: a `supervised` entry,
//! and the operators' `supervised` view and figures.
//!
//! Exactly once across gateways: the lease keeps a second gateway from
//! scanning at the same time, and each escalation is a compare-and-set on
//! the appeal's version that also sets `escalated_at` (which the scan
//! skips), so even two scanners racing (a lease that lapsed mid-round)
//! escalate an appeal once (and `supervised_at` does the same for the
//! 督办). Nothing is kept in memory: a restarted gateway finds what is
//! overdue in the store.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use onestop_store::{Millis, now_ms};

use crate::{Desk, DeskError, events};

/// The lease's name in the store.
pub const LEASE: &str = "appeals-overdue";
/// Appeals escalated per round at most (the next round takes the rest).
const BATCH: u32 = 500;
/// Escalations written at once (each its own transaction on its own
/// appeal, so they never conflict with each other; the store's pool
/// bounds them too).
const AT_ONCE: usize = 8;

/// One round at `now`: claim or renew the lease, then escalate what is
/// overdue and supervise what is still overdue after its reminder.
/// `Ok(None)`: another gateway holds the lease; otherwise the number of
/// changes made (escalations and supervisions).
pub async fn scan_once(
    desk: &Desk,
    owner: &str,
    now: Millis,
    lease: Duration,
) -> Result<Option<usize>, DeskError> {
    let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let held = desk
        .store()
        .claim_appeal_lease(LEASE, owner, now, until)
        .await
        .map_err(|e| DeskError::Unavailable(e.to_string()))?;
    if !held {
        return Ok(None);
    }
    let overdue = desk.overdue(now, BATCH).await?;
    // Owned appeals: a closure over borrowed ones would make the round's
    // future not `Send` for every lifetime (it is spawned).
    let escalated = count(
        stream::iter(
            overdue
                .into_iter()
                .map(|appeal| async move { desk.escalate(&appeal, now).await }),
        )
        .buffer_unordered(AT_ONCE),
    )
    .await?;
    let due = desk.supervision_due(now, BATCH).await?;
    let supervised = count(
        stream::iter(
            due.into_iter()
                .map(|appeal| async move { desk.supervise(&appeal, now).await }),
        )
        .buffer_unordered(AT_ONCE),
    )
    .await?;
    Ok(Some(escalated + supervised))
}

/// How many of the changes were made (a `None` is a change another
/// gateway or action made first).
async fn count<T>(
    mut done: impl futures::Stream<Item = Result<Option<T>, DeskError>> + Unpin,
) -> Result<usize, DeskError> {
    let mut n = 0;
    while let Some(outcome) = done.next().await {
        if outcome?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Scans every `interval` until the task is dropped.
pub async fn run(desk: Arc<Desk>, owner: String, interval: Duration, lease: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match scan_once(&desk, &owner, now_ms(), lease).await {
            Ok(Some(n)) => events::scanned(n),
            Ok(None) => {}
            Err(e) => events::scan_failed(&e),
        }
    }
}
