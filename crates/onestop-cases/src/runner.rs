//! Driving cases: run ready steps (in parallel), record each answer before
//! acting on it, retry transient failures with the same idempotency key,
//! and on a step's final failure undo the done steps in reverse order.
//!
//! Every write is made under the case's lease in the store; a runner that
//! loses its lease (another gateway took over after it stalled) stops at
//! its next write. Cases nobody drives — after a restart, or when their
//! gateway died — are found by the scanner and taken over.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use onestop_store::{CaseRecord, CaseState, StepState, StepUpdate, StoreError, now_ms};
use serde_json::Value;

use crate::plan::{self, Call, Matter, Next, Scope};
use crate::{Cases, events, evidence};

/// One call of a step's action or compensation, as the citizen.
#[derive(Debug, Clone)]
pub struct StepCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: Option<&'a Value>,
    pub citizen: &'a str,
    pub channel: Option<&'a str>,
    /// The same for every attempt of one action (or compensation): the
    /// department executes it at most once.
    pub idempotency_key: &'a str,
    pub request_id: &'a str,
    pub timeout: Duration,
}

/// What became of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 2xx, with the answer (`Null` when it was not JSON).
    Done(Value),
    /// A refusal that will not change on retry (4xx but 408 and 429).
    Refused { status: u16, message: String },
    /// Worth another attempt: 5xx, 408, 429, timeout, unreachable.
    Transient(String),
}

/// How steps reach departments. The gateway sends them through its own
/// public listener, so every rule applies to them as to the citizen's own
/// calls.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn call(&self, call: StepCall<'_>) -> Reply;
}

/// Why driving stopped early.
#[derive(Debug)]
enum Halt {
    /// The lease went to somebody else.
    Lost,
    /// The store failed; the case waits for the scanner.
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Halt {
        match e {
            StoreError::Conflict(_) => Halt::Lost,
            other => Halt::Store(other),
        }
    }
}

/// Removes a case from the local "being driven" set when driving ends.
struct Driving<'a> {
    cases: &'a Cases,
    id: String,
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.cases.driving.lock() {
            set.remove(&self.id);
        }
    }
}

impl Cases {
    /// Drives case `id` until it is finished, its lease is lost or the store
    /// fails. Does nothing when this gateway already drives it or another
    /// gateway holds it.
    pub async fn drive(self: Arc<Self>, id: String) {
        {
            let Ok(mut set) = self.driving.lock() else {
                return;
            };
            if !set.insert(id.clone()) {
                return;
            }
        }
        let _guard = Driving {
            cases: &self,
            id: id.clone(),
        };
        let lease = self.settings.load().lease;
        match self.claim(&id, lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                events::store_failed("claim", &id, &e);
                return;
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(self.clone(), id.clone(), lease, lost.clone()));
        let result = self.run(&id, &lost).await;
        renewal.abort();
        match result {
            Ok(()) => {}
            Err(Halt::Lost) => events::lease_lost(&id),
            Err(Halt::Store(e)) => events::store_failed("drive", &id, &e),
        }
    }

    async fn claim(&self, id: &str, lease: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        self.store
            .claim_case(id, &self.owner, now, now + millis(lease))
            .await
    }

    async fn run(&self, id: &str, lost: &AtomicBool) -> Result<(), Halt> {
        loop {
            if lost.load(Ordering::Relaxed) {
                return Err(Halt::Lost);
            }
            let Some(case) = self.store.case(id).await? else {
                return Ok(());
            };
            let Some(matter) = self.matters.load().get(&case.matter).cloned() else {
                let why = format!("composite matter `{}` is no longer configured", case.matter);
                let state = if case.steps.iter().any(|s| s.state == StepState::Done) {
                    CaseState::CompensationFailed
                } else {
                    CaseState::Failed
                };
                self.finish(&case, state, Some(&why)).await?;
                return Ok(());
            };
            match case.state {
                CaseState::Running => match plan::next(&matter, &case) {
                    Next::Run(ready) => self.run_steps(&matter, &case, &ready).await?,
                    Next::Complete => {
                        self.finish(&case, CaseState::Completed, None).await?;
                        return Ok(());
                    }
                    Next::Compensate => {
                        let failure = case
                            .steps
                            .iter()
                            .find(|s| s.state == StepState::Failed)
                            .map(|s| {
                                format!(
                                    "step `{}` ({}) failed: {}",
                                    s.step,
                                    s.dept,
                                    s.error.as_deref().unwrap_or("refused")
                                )
                            });
                        self.skip_pending(&case).await?;
                        self.set_state(&case, CaseState::Compensating, failure.as_deref())
                            .await?;
                    }
                    Next::Stuck => {
                        self.finish(
                            &case,
                            CaseState::Failed,
                            Some("no step can run (inconsistent record)"),
                        )
                        .await?;
                        return Ok(());
                    }
                },
                CaseState::Compensating => {
                    let clean = self.compensate(&matter, &case).await?;
                    let state = if clean {
                        CaseState::Failed
                    } else {
                        CaseState::CompensationFailed
                    };
                    self.finish(&case, state, None).await?;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Runs the ready steps at once; returns when each is done or failed.
    async fn run_steps(
        &self,
        matter: &Matter,
        case: &CaseRecord,
        ready: &[usize],
    ) -> Result<(), Halt> {
        let runs = ready.iter().map(|&i| self.run_step(matter, case, i));
        for result in futures::future::join_all(runs).await {
            result?;
        }
        Ok(())
    }

    async fn run_step(&self, matter: &Matter, case: &CaseRecord, index: usize) -> Result<(), Halt> {
        let step = &matter.steps[index];
        let settings = self.settings.load_full();
        let mut attempts = case
            .steps
            .iter()
            .find(|s| s.step == step.id)
            .map_or(0, |s| s.attempts);
        let key = format!("{}/{}", case.id, step.id);
        let scope = Scope::of(case);
        let rendered = plan::render_path(&step.call, &scope)
            .and_then(|p| Ok((p, plan::render_body(&step.call, &scope)?)));
        let (path, body) = match rendered {
            Ok(r) => r,
            Err(why) => {
                self.step_failed(case, &step.id, &format!("template: {why}"))
                    .await?;
                return Ok(());
            }
        };
        let body = if step.evidence.is_empty() {
            body
        } else {
            match self.evidence_of(case, step).await {
                Ok(evidence) => evidence::with_evidence(body, evidence),
                Err(why) => {
                    self.step_failed(case, &step.id, &why).await?;
                    events::step_failed(&case.matter, &case.id, &step.id, &step.dept, &why);
                    return Ok(());
                }
            }
        };
        loop {
            let now = now_ms();
            self.store
                .update_step(
                    &case.id,
                    &step.id,
                    &self.owner,
                    now,
                    &StepUpdate {
                        state: Some(StepState::Running),
                        add_attempts: 1,
                        started_at: Some(now),
                        ..StepUpdate::default()
                    },
                )
                .await?;
            attempts += 1;
            let request_id = format!("{}-{}-{attempts}", case.id, step.id);
            let reply = self
                .send(
                    case,
                    &step.call.method,
                    &path,
                    body.as_ref(),
                    &key,
                    &request_id,
                )
                .await;
            match reply {
                Reply::Done(output) => {
                    let now = now_ms();
                    self.store
                        .update_step(
                            &case.id,
                            &step.id,
                            &self.owner,
                            now,
                            &StepUpdate {
                                state: Some(StepState::Done),
                                output: Some(output),
                                finished_at: Some(now),
                                assign_done_seq: true,
                                ..StepUpdate::default()
                            },
                        )
                        .await?;
                    events::step_done(&case.matter, &case.id, &step.id, &step.dept, attempts);
                    return Ok(());
                }
                Reply::Refused { status, message } => {
                    let why = format!("{status}: {message}");
                    self.step_failed(case, &step.id, &why).await?;
                    events::step_failed(&case.matter, &case.id, &step.id, &step.dept, &why);
                    return Ok(());
                }
                Reply::Transient(why) => {
                    events::step_retry(&case.id, &step.id, &step.dept, attempts, &why);
                    if attempts >= i64::from(settings.max_attempts) {
                        let why = format!("gave up after {attempts} attempts: {why}");
                        self.step_failed(case, &step.id, &why).await?;
                        events::step_failed(&case.matter, &case.id, &step.id, &step.dept, &why);
                        return Ok(());
                    }
                    tokio::time::sleep(backoff(settings.retry_backoff, attempts)).await;
                }
            }
        }
    }

    /// The step's evidence, read at once (retried like a step while a
    /// provider does not answer); `Err` names what is missing and why.
    async fn evidence_of(
        &self,
        case: &CaseRecord,
        step: &plan::Step,
    ) -> Result<serde_json::Map<String, Value>, String> {
        let settings = self.settings.load_full();
        let source = self.evidence.get().map(|s| &**s);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request_id = format!("{}-{}-ev{attempt}", case.id, step.id);
            match evidence::gather(
                source,
                &step.dept,
                &case.citizen,
                &case.input,
                &step.evidence,
                &request_id,
            )
            .await
            {
                evidence::Gathered::Ready(map) => return Ok(map),
                evidence::Gathered::Missing(why) => return Err(why),
                evidence::Gathered::Unavailable(why) => {
                    if attempt >= i64::from(settings.max_attempts) {
                        return Err(format!(
                            "gave up reading evidence after {attempt} attempts: {why}"
                        ));
                    }
                    events::step_retry(&case.id, &step.id, &step.dept, attempt, &why);
                    tokio::time::sleep(backoff(settings.retry_backoff, attempt)).await;
                }
            }
        }
    }

    /// One call as the case's citizen, bounded by `step_timeout`.
    async fn send(
        &self,
        case: &CaseRecord,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: &str,
        request_id: &str,
    ) -> Reply {
        self.transport
            .call(StepCall {
                method,
                path,
                body,
                citizen: &case.citizen,
                channel: case.channel.as_deref(),
                idempotency_key,
                request_id,
                timeout: self.settings.load().step_timeout,
            })
            .await
    }

    async fn step_failed(&self, case: &CaseRecord, step: &str, why: &str) -> Result<(), Halt> {
        let now = now_ms();
        self.store
            .update_step(
                &case.id,
                step,
                &self.owner,
                now,
                &StepUpdate {
                    state: Some(StepState::Failed),
                    error: Some(why.to_owned()),
                    finished_at: Some(now),
                    ..StepUpdate::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Marks steps that never started as skipped (the case failed first).
    async fn skip_pending(&self, case: &CaseRecord) -> Result<(), Halt> {
        for step in case.steps.iter().filter(|s| s.state == StepState::Pending) {
            self.store
                .update_step(
                    &case.id,
                    &step.step,
                    &self.owner,
                    now_ms(),
                    &StepUpdate {
                        state: Some(StepState::Skipped),
                        ..StepUpdate::default()
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Undoes the done steps, latest first, one at a time. Returns whether
    /// every one was undone.
    async fn compensate(&self, matter: &Matter, case: &CaseRecord) -> Result<bool, Halt> {
        let mut clean = true;
        for id in plan::compensation_order(case) {
            let Some(step) = matter.steps.iter().find(|s| s.id == id) else {
                clean = false;
                continue;
            };
            let outcome = match &step.compensate {
                // Nothing to undo: the step declares no compensation.
                None => Ok(()),
                Some(undo) => self.undo(case, &step.id, &step.dept, undo).await,
            };
            let now = now_ms();
            let update = match outcome {
                Ok(()) => StepUpdate {
                    state: Some(StepState::Compensated),
                    compensated_at: Some(now),
                    ..StepUpdate::default()
                },
                Err(why) => {
                    clean = false;
                    events::compensation_failed(&case.id, &step.id, &step.dept, &why);
                    StepUpdate {
                        state: Some(StepState::CompensationFailed),
                        error: Some(why),
                        ..StepUpdate::default()
                    }
                }
            };
            self.store
                .update_step(&case.id, &step.id, &self.owner, now, &update)
                .await?;
        }
        Ok(clean)
    }

    /// One compensation call, retried on transient failures (twice the
    /// action's attempts) with one idempotency key.
    async fn undo(
        &self,
        case: &CaseRecord,
        step: &str,
        dept: &str,
        undo: &Call,
    ) -> Result<(), String> {
        let settings = self.settings.load_full();
        let scope = Scope::of(case);
        let path = plan::render_path(undo, &scope).map_err(|e| format!("template: {e}"))?;
        let body = plan::render_body(undo, &scope).map_err(|e| format!("template: {e}"))?;
        let key = format!("{}/{step}/undo", case.id);
        let limit = settings.max_attempts.saturating_mul(2).max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request_id = format!("{}-{step}-undo-{attempt}", case.id);
            let reply = self
                .send(case, &undo.method, &path, body.as_ref(), &key, &request_id)
                .await;
            match reply {
                Reply::Done(_) => {
                    events::step_compensated(&case.id, step, dept);
                    return Ok(());
                }
                Reply::Refused { status, message } => return Err(format!("{status}: {message}")),
                Reply::Transient(why) if attempt >= limit => {
                    return Err(format!("gave up after {attempt} attempts: {why}"));
                }
                Reply::Transient(why) => {
                    events::step_retry(&case.id, step, dept, i64::from(attempt), &why);
                    tokio::time::sleep(backoff(settings.retry_backoff, i64::from(attempt))).await;
                }
            }
        }
    }

    async fn set_state(
        &self,
        case: &CaseRecord,
        state: CaseState,
        failure: Option<&str>,
    ) -> Result<(), Halt> {
        self.store
            .set_case_state(&case.id, &self.owner, now_ms(), state, failure)
            .await?;
        Ok(())
    }

    async fn finish(
        &self,
        case: &CaseRecord,
        state: CaseState,
        failure: Option<&str>,
    ) -> Result<(), Halt> {
        self.set_state(case, state, failure).await?;
        events::case_finished(&case.matter, &case.id, state, now_ms() - case.created_at);
        Ok(())
    }

    /// Takes over the cases nobody drives, every `scan_interval`, for as
    /// long as the returned task runs.
    pub fn start_scanner(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cases = self.clone();
        tokio::spawn(async move {
            loop {
                cases.clone().scan().await;
                let interval = cases.settings.load().scan_interval;
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// One scan: every orphaned case this gateway does not drive yet, and
    /// the citizens told of steps past their deadline (once per step,
    /// whichever gateway's scan gets there first).
    pub async fn scan(self: Arc<Self>) {
        match self.store.tell_overdue_steps(now_ms(), 100).await {
            Ok(0) => {}
            Ok(n) => events::overdue_steps_told(n),
            Err(e) => events::store_failed("tell_overdue_steps", "", &e),
        }
        let orphans = match self.store.orphaned_cases(now_ms(), 100).await {
            Ok(ids) => ids,
            Err(e) => {
                events::store_failed("scan", "", &e);
                return;
            }
        };
        let busy: HashSet<String> = self.driving.lock().map(|s| s.clone()).unwrap_or_default();
        for id in orphans.into_iter().filter(|id| !busy.contains(id)) {
            events::case_resumed(&id);
            tokio::spawn(self.clone().drive(id));
        }
    }
}

/// Extends the lease every third of its length while the case is driven;
/// flags `lost` when it cannot.
async fn renew(cases: Arc<Cases>, id: String, lease: Duration, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match cases.claim(&id, lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // The store is away: keep the lease we have; writes will tell.
            Err(_) => {}
        }
    }
}

/// The wait before attempt `attempt + 1`: `base`, doubling, at most 30×.
fn backoff(base: Duration, attempt: i64) -> Duration {
    let factor = 1u32 << u32::try_from(attempt.clamp(1, 6) - 1).unwrap_or(0);
    (base * factor).min(base * 30)
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
