//! Per-department protection that outlives configuration reloads: the
//! concurrency limit that sheds load fast, and the retry budget.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::retry::budget::{Budget, TpsBudget};

use crate::events;

#[derive(Debug, Clone, PartialEq)]
pub struct DeptLimits {
    pub max_concurrency: usize,
    pub retry_ratio: f32,
    pub retry_min_per_second: u32,
    pub retry_ttl: Duration,
}

pub struct DeptRuntime {
    pub id: Arc<str>,
    pub limits: DeptLimits,
    slots: Arc<Semaphore>,
    budget: TpsBudget,
    inflight: IntGauge,
}

impl std::fmt::Debug for DeptRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeptRuntime")
            .field("id", &self.id)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A request's slot in its department; released on drop.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    inflight: IntGauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inflight.dec();
    }
}

impl DeptRuntime {
    pub fn new(id: &str, limits: DeptLimits) -> Self {
        let ttl = limits
            .retry_ttl
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        DeptRuntime {
            id: id.into(),
            slots: Arc::new(Semaphore::new(limits.max_concurrency)),
            budget: TpsBudget::new(
                ttl,
                limits.retry_min_per_second,
                limits.retry_ratio.clamp(0.0, 1000.0),
            ),
            inflight: events::inflight_gauge(id),
            limits,
        }
    }

    /// Takes a slot without waiting; `None` means shed the request now.
    pub fn try_admit(&self) -> Option<Admission> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.inflight.inc();
                Some(Admission {
                    _permit: permit,
                    inflight: self.inflight.clone(),
                })
            }
            Err(_) => {
                events::shed(&self.id, self.limits.max_concurrency);
                None
            }
        }
    }

    /// Every admitted request earns the budget a share of a retry.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Spends a retry if the budget allows one.
    pub fn withdraw_retry(&self) -> bool {
        let granted = self.budget.withdraw();
        events::retry(&self.id, granted);
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> DeptLimits {
        DeptLimits {
            max_concurrency: max,
            retry_ratio: 0.2,
            retry_min_per_second: 0,
            retry_ttl: Duration::from_secs(10),
        }
    }

    #[test]
    fn sheds_beyond_the_limit_and_frees_on_drop() {
        let d = DeptRuntime::new("t-shed", limits(2));
        let a = d.try_admit();
        let b = d.try_admit();
        assert!(a.is_some() && b.is_some());
        assert!(d.try_admit().is_none());
        drop(a);
        assert!(d.try_admit().is_some());
    }

    #[test]
    fn retry_budget_caps_extra_load_at_the_ratio() {
        let d = DeptRuntime::new("t-budget", limits(10));
        for _ in 0..1000 {
            d.deposit();
        }
        let granted = (0..1000).filter(|_| d.withdraw_retry()).count();
        // 20 % of 1,000 requests, with no minimum reserve.
        assert!((190..=210).contains(&granted), "granted {granted}");
    }
}
