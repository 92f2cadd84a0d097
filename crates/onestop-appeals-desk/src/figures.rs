//! Appeals' figures for department assessment (响应率, 解决率, 满意率,
//! on-time replies), counted from the store — the
//! [`onestop_assessment::AppealSource`] of a gateway that takes appeals.
//!
//! Over the appeals filed in the period that reached a department (the
//! one leading them now):
//! - `acceptance_due`: accepted, or past the accept deadline unaccepted;
//!   `accepted_in_time`: accepted by the accept deadline;
//! - `closed`: closed; `resolved`: closed after the department's reply and
//!   not rated 1–2;
//! - `rated` / `satisfied` (4–5) / `unrated` (replied, not rated), and
//!   `by_score`, the distribution of the scores 1–5;
//! - `reply_due`: replied, or past the reply deadline unreplied;
//!   `replied_in_time`: replied by the reply deadline.
//!
//! A re-dispatch restarts the accept deadline for the new department, so
//! a disputed dispatch is counted against nobody.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use onestop_assessment::{AppealFigures, AppealSource};
use onestop_store::{AppealRecord, AppealStore, Millis, StoreError};

/// The figures of appeals, per department.
pub fn figures(appeals: &[AppealRecord], now: Millis) -> BTreeMap<String, AppealFigures> {
    let mut out: BTreeMap<String, AppealFigures> = BTreeMap::new();
    for a in appeals {
        let Some(dept) = &a.dept else { continue };
        let f = out.entry(dept.clone()).or_default();
        f.received += 1;
        if let Some(due) = a.accept_due {
            match a.accepted_at {
                Some(at) => {
                    f.acceptance_due += 1;
                    if at <= due {
                        f.accepted_in_time += 1;
                    }
                }
                None if due < now => f.acceptance_due += 1,
                None => {}
            }
        }
        if a.closed_at.is_some() {
            f.closed += 1;
            if a.replied_at.is_some() && a.score.is_none_or(|s| s >= 3) {
                f.resolved += 1;
            }
        }
        match (a.replied_at, a.score) {
            (_, Some(s)) => {
                f.rated += 1;
                if let Some(n) = usize::try_from(s - 1)
                    .ok()
                    .and_then(|i| f.by_score.get_mut(i))
                {
                    *n += 1;
                }
                if s >= 4 {
                    f.satisfied += 1;
                }
            }
            (Some(_), None) => f.unrated += 1,
            (None, None) => {}
        }
        match a.replied_at {
            Some(at) => {
                f.reply_due += 1;
                if at <= a.reply_due {
                    f.replied_in_time += 1;
                }
            }
            None if a.reply_due < now => f.reply_due += 1,
            None => {}
        }
    }
    out
}

/// [`AppealSource`] over the appeals store.
pub struct StoreAppeals(pub Arc<dyn AppealStore>);

#[async_trait]
impl AppealSource for StoreAppeals {
    async fn figures(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<Option<BTreeMap<String, AppealFigures>>, StoreError> {
        let appeals = self.0.dispatched_appeals(from, to).await?;
        Ok(Some(figures(&appeals, now)))
    }
}
