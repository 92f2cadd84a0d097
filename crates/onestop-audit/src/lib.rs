//! The access audit writer: every exchange and every read of personal data
//! through the public routes becomes one record of the chained audit log
//! ([`onestop_store::AccessAuditStore`]), written in batches off the
//! request path.
//!
//! ```no_run
//! # async fn wire(store: std::sync::Arc<dyn onestop_store::AccessAuditStore>) {
//! use onestop_audit::{AuditLog, AuditOptions};
//! let (log, writer) = AuditLog::new(store, AuditOptions::default());
//! tokio::spawn(writer.run());
//! // On the request path, before personal data leaves the gateway:
//! # let record: onestop_store::NewAccessRecord = todo!();
//! if log.record(record).is_err() {
//!     // answer 503: the access could not be audited
//! }
//! # }
//! ```
//!
//! # Guarantees
//!
//! - [`AuditLog::record`] never blocks and never waits: it takes a place
//!   among at most [`AuditOptions::capacity`] unwritten records (one atomic
//!   update) and hands the record to the writer over a lock-free queue. The
//!   request path shares no lock with the writer.
//! - A record `record` accepted (returned `Ok`) is *acknowledged*: it is
//!   never dropped. The [`AuditWriter`] writes records in the order they
//!   were accepted, a batch of at most [`AuditOptions::batch`] per
//!   transaction, as soon as a batch is full or its oldest record has waited
//!   [`AuditOptions::flush_interval`]. A batch the store refuses is kept
//!   and retried, in order and before anything accepted after it, with
//!   backoff ([`AuditOptions::retry_backoff`] doubling up to
//!   [`AuditOptions::retry_backoff_max`]) until the store takes it. Only
//!   the process ending loses what is still queued.
//! - Delivery is at least once: when a write times out after the store
//!   committed it, the retry stores the batch a second time (the chain
//!   stays valid; the copies carry the same request ids).
//! - Fail closed within a bounded time: `record` refuses
//!   ([`AuditUnavailable`]) while `capacity` records are unwritten, or while
//!   the oldest unwritten record has waited longer than
//!   [`AuditOptions::max_lag`]. With the store stopped, refusals therefore
//!   start after at most `max_lag` (plus one flush interval), however
//!   little traffic there is, or sooner when the buffer fills. Routes that
//!   return personal data answer 503 on a refusal; other routes do not
//!   record and keep working. When the store returns, the backlog is
//!   written and records are accepted again.
//!
//! Metrics (default registry): `onestop_audit_pending`,
//! `onestop_audit_written_total`, `onestop_audit_write_errors_total`,
//! `onestop_audit_refused_total`. Log lines name no citizen.

#![forbid(unsafe_code)]

mod events;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use onestop_store::{AccessAuditStore, NewAccessRecord};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// How the audit writer queues and batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    /// Most records accepted but not yet written (at least 1); beyond it
    /// [`AuditLog::record`] refuses.
    pub capacity: usize,
    /// Most records per write (one transaction; at least 1).
    pub batch: usize,
    /// Longest a record waits for its batch to fill before it is written.
    pub flush_interval: Duration,
    /// The wait after a failed write; it doubles with each further failure
    /// of the same batch …
    pub retry_backoff: Duration,
    /// … up to this.
    pub retry_backoff_max: Duration,
    /// [`AuditLog::record`] refuses while the oldest unwritten record has
    /// waited longer than this: the bound on how long personal data keeps
    /// flowing while the store is stopped. Keep it above
    /// `retry_backoff_max` and above the store's own call timeout's usual
    /// latency.
    pub max_lag: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            capacity: 10_000,
            batch: 256,
            flush_interval: Duration::from_millis(200),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(2),
            max_lag: Duration::from_secs(5),
        }
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `capacity` records are waiting to be written.
    Full,
    /// The oldest unwritten record has waited longer than `max_lag`.
    Lagging,
    /// The writer has stopped.
    Closed,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::Lagging => "lagging",
            Refusal::Closed => "closed",
        }
    }
}

/// A record could not be accepted: the access must not happen (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("access audit log unavailable ({})", .reason.as_str())]
pub struct AuditUnavailable {
    pub reason: Refusal,
}

/// The request path's handle on the audit log. Cheap to clone; when the
/// last clone is dropped the writer writes what is queued and ends.
#[derive(Debug, Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Entry>,
}

/// The background task that writes what [`AuditLog::record`] accepted:
/// spawn [`AuditWriter::run`].
pub struct AuditWriter {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedReceiver<Entry>,
    store: Arc<dyn AccessAuditStore>,
    batch: usize,
    flush_interval: Duration,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
}

/// What the request path and the writer share: atomics and a `Notify`.
#[derive(Debug)]
struct Shared {
    capacity: usize,
    max_lag_ms: u64,
    /// Accepted and not yet written (queued, or in the writer's batch).
    pending: AtomicUsize,
    /// When the oldest unwritten record the writer holds was accepted
    /// ([`Shared::now`]); 0 when the writer holds none.
    oldest: AtomicU64,
    /// The zero of [`Shared::now`].
    epoch: Instant,
    /// Whether the last `record` refused (for one log line per episode).
    refusing: AtomicBool,
    /// Whether the last write failed.
    failing: AtomicBool,
    /// Signalled after every write.
    written: Notify,
    /// Records per batch: `record` signals `full` whenever the pending
    /// count reaches a multiple of it.
    batch: usize,
    /// Signalled when a batch's worth is pending, so the writer need not
    /// wake for every record while it waits for its batch to fill.
    full: Notify,
}

#[derive(Debug)]
struct Entry {
    accepted: u64,
    record: NewAccessRecord,
}

impl Shared {
    /// Milliseconds since `epoch`, plus 1 (so never 0).
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Whether the oldest unwritten record has waited longer than allowed.
    fn lagging(&self, now: u64) -> bool {
        let oldest = self.oldest.load(Ordering::Acquire);
        oldest != 0 && now.saturating_sub(oldest) > self.max_lag_ms
    }
}

impl AuditLog {
    /// The log and its writer, which must be spawned (`writer.run()`) on a
    /// runtime where `store` works.
    pub fn new(store: Arc<dyn AccessAuditStore>, opts: AuditOptions) -> (AuditLog, AuditWriter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            capacity: opts.capacity.max(1),
            max_lag_ms: u64::try_from(opts.max_lag.as_millis()).unwrap_or(u64::MAX),
            pending: AtomicUsize::new(0),
            oldest: AtomicU64::new(0),
            epoch: Instant::now(),
            refusing: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            written: Notify::new(),
            batch: opts.batch.max(1),
            full: Notify::new(),
        });
        let writer = AuditWriter {
            shared: shared.clone(),
            queue: rx,
            store,
            batch: opts.batch.max(1),
            flush_interval: opts.flush_interval,
            retry_backoff: opts.retry_backoff.max(Duration::from_millis(1)),
            retry_backoff_max: opts.retry_backoff_max.max(opts.retry_backoff),
        };
        (AuditLog { shared, queue: tx }, writer)
    }

    /// Accepts `record` for writing, or refuses it (the caller must then not
    /// hand out the personal data it describes). Never blocks or waits.
    pub fn record(&self, record: NewAccessRecord) -> Result<(), AuditUnavailable> {
        let shared = &self.shared;
        let now = shared.now();
        if shared.lagging(now) {
            return Err(self.refuse(Refusal::Lagging));
        }
        let reserved =
            shared
                .pending
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                    (pending < shared.capacity).then_some(pending + 1)
                });
        let Ok(before) = reserved else {
            return Err(self.refuse(Refusal::Full));
        };
        if self
            .queue
            .send(Entry {
                accepted: now,
                record,
            })
            .is_err()
        {
            shared.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refuse(Refusal::Closed));
        }
        if (before + 1) % shared.batch == 0 {
            shared.full.notify_one();
        }
        events::accepted();
        if shared.refusing.load(Ordering::Relaxed) && shared.refusing.swap(false, Ordering::AcqRel)
        {
            events::accepting_again(self.pending());
        }
        Ok(())
    }

    fn refuse(&self, reason: Refusal) -> AuditUnavailable {
        let first = !self.shared.refusing.swap(true, Ordering::AcqRel);
        events::refused(reason, self.pending(), first);
        AuditUnavailable { reason }
    }

    /// Whether [`AuditLog::record`] would accept a record now.
    pub fn accepting(&self) -> bool {
        !self.shared.lagging(self.shared.now()) && self.pending() < self.shared.capacity
    }

    /// Records accepted and not yet written.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }

    /// The most records that may be pending.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Whether the writer's last attempt to write failed (it is retrying).
    pub fn store_failing(&self) -> bool {
        self.shared.failing.load(Ordering::Acquire)
    }

    /// Waits until every record accepted so far is written, at most
    /// `within`; returns whether it was. (For shutdown and tests.)
    pub async fn flush(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let written = self.shared.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.pending() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                return self.pending() == 0;
            }
        }
    }
}

impl AuditWriter {
    /// Writes accepted records until every [`AuditLog`] clone is dropped
    /// and everything accepted is written. A batch that fails is retried
    /// (in order, with backoff) until the store takes it.
    pub async fn run(mut self) {
        let mut entries: Vec<Entry> = Vec::with_capacity(self.batch);
        let mut batch: Vec<NewAccessRecord> = Vec::with_capacity(self.batch);
        let mut backoff = self.retry_backoff;
        let mut attempt: u32 = 0;
        loop {
            if batch.is_empty() {
                if !self.gather(&mut entries).await {
                    return;
                }
            } else {
                // A retry: top the kept batch up, in order, to a full one.
                while batch.len() + entries.len() < self.batch {
                    match self.queue.try_recv() {
                        Ok(entry) => entries.push(entry),
                        Err(_) => break,
                    }
                }
            }
            batch.extend(entries.drain(..).map(|e| e.record));
            attempt = attempt.saturating_add(1);
            match self.store.append_access(&batch).await {
                Ok(stored) => {
                    let n = batch.len();
                    batch.clear();
                    self.shared.oldest.store(0, Ordering::Release);
                    let pending = self
                        .shared
                        .pending
                        .fetch_sub(n, Ordering::AcqRel)
                        .saturating_sub(n);
                    self.shared.failing.store(false, Ordering::Release);
                    events::written(n, pending, stored.last().map(|r| r.seq), attempt);
                    self.shared.written.notify_waiters();
                    backoff = self.retry_backoff;
                    attempt = 0;
                }
                Err(error) => {
                    self.shared.failing.store(true, Ordering::Release);
                    let pending = self.shared.pending.load(Ordering::Acquire);
                    events::write_failed(&error, batch.len(), pending, attempt, backoff);
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(self.retry_backoff_max);
                }
            }
        }
    }

    /// Waits for the next record, then collects more until the batch is
    /// full or the first has waited `flush_interval`. False when the queue
    /// is closed and empty.
    async fn gather(&mut self, entries: &mut Vec<Entry>) -> bool {
        if self.queue.recv_many(entries, self.batch).await == 0 {
            return false;
        }
        if let Some(first) = entries.first() {
            self.shared.oldest.store(first.accepted, Ordering::Release);
        }
        // Then the rest of the batch: what has arrived by the flush
        // deadline, or sooner once a batch's worth is pending. The writer
        // sleeps meanwhile instead of waking for every record.
        let deadline = Instant::now() + self.flush_interval;
        loop {
            while entries.len() < self.batch {
                match self.queue.try_recv() {
                    Ok(entry) => entries.push(entry),
                    Err(_) => break,
                }
            }
            if entries.len() >= self.batch || Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.shared.full.notified() => {}
            }
        }
        true
    }
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("batch", &self.batch)
            .field("flush_interval", &self.flush_interval)
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
