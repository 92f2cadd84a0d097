//! The audit writer against a real SQLite store (in a temp dir), wrapped
//! in a test double that counts appends and fails them while "stopped".

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use onestop_audit::{AuditLog, AuditOptions, Refusal};
use onestop_store::{
    AccessAuditStore, AccessRecord, NewAccessRecord, Result, SqlStore, StoreError, StoreOptions,
    verify_store,
};

/// A real store whose appends fail while `down` is set.
struct Switchable {
    inner: SqlStore,
    down: AtomicBool,
    appends: AtomicUsize,
    failures: AtomicUsize,
}

#[async_trait]
impl AccessAuditStore for Switchable {
    async fn append_access(&self, batch: &[NewAccessRecord]) -> Result<Vec<AccessRecord>> {
        if self.down.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("audit store stopped (test)".into()));
        }
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append_access(batch).await
    }

    async fn access_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AccessRecord>> {
        self.inner.access_records(after_seq, limit).await
    }

    async fn citizen_access(
        &self,
        citizen: &str,
        limit: u32,
        before_seq: Option<i64>,
    ) -> Result<Vec<AccessRecord>> {
        self.inner.citizen_access(citizen, limit, before_seq).await
    }

    async fn last_access_seq(&self) -> Result<i64> {
        self.inner.last_access_seq().await
    }
}

struct Harness {
    store: Arc<Switchable>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("audit.db").display());
    let inner = SqlStore::connect(&url, StoreOptions::default())
        .await
        .unwrap();
    Harness {
        store: Arc::new(Switchable {
            inner,
            down: AtomicBool::new(false),
            appends: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        }),
        _dir: dir,
    }
}

fn record(n: usize) -> NewAccessRecord {
    NewAccessRecord {
        at: 1_700_000_000_000 + i64::try_from(n).unwrap(),
        consumer: "channel:app".into(),
        citizen: format!("citizen-{}", n % 7),
        item: "hpf/balance".into(),
        fields: vec!["name".into(), "balance".into()],
        purpose: "loan".into(),
        agreement: Some("agr-1".into()),
        request_id: format!("req-{n:06}"),
        outcome: "ok".into(),
    }
}

/// Every stored record's request id, in `seq` order.
async fn stored_ids(store: &Switchable) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = store.access_records(after, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        ids.extend(page.into_iter().map(|r| r.request_id));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_records_are_written_in_few_batches_in_order() {
    let h = harness().await;
    let opts = AuditOptions::default();
    let batch = opts.batch;
    let (log, writer) = AuditLog::new(h.store.clone(), opts);
    let task = tokio::spawn(writer.run());

    let started = Instant::now();
    for n in 0..1_000 {
        log.record(record(n)).unwrap();
    }
    let recording = started.elapsed();
    assert!(log.flush(Duration::from_secs(10)).await, "not written");
    let written = started.elapsed();
    let appends = h.store.appends.load(Ordering::SeqCst);
    println!(
        "1000 records: recorded in {recording:?}, written in {written:?}, {appends} transactions"
    );
    assert!(
        appends <= 1_000_usize.div_ceil(batch) + 3,
        "{appends} transactions"
    );
    assert_eq!(log.pending(), 0);

    let want: Vec<String> = (0..1_000).map(|n| format!("req-{n:06}")).collect();
    assert_eq!(stored_ids(&h.store).await, want);
    let report = verify_store(h.store.as_ref(), 128).await.unwrap();
    assert_eq!((report.records, report.last_seq), (1_000, 1_000));

    // Dropping the last handle lets the writer finish what is queued and end.
    for n in 1_000..1_010 {
        log.record(record(n)).unwrap();
    }
    drop(log);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.store.last_access_seq().await.unwrap(), 1_010);
}

/// Records one every `every` until one is refused (or `limit` passes);
/// returns the accepted request ids, the time to the refusal and why.
async fn record_until_refused(
    log: &AuditLog,
    next: &mut usize,
    accepted: &mut Vec<String>,
    every: Duration,
    limit: Duration,
) -> (Duration, Refusal) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let r = record(*next);
        let id = r.request_id.clone();
        match log.record(r) {
            Ok(()) => {
                accepted.push(id);
                *next += 1;
            }
            Err(refused) => return (started.elapsed(), refused.reason),
        }
        assert!(started.elapsed() < limit, "no refusal within {limit:?}");
    }
}

/// Stops the store under steady traffic, checks that refusals start within
/// a bounded time, and that everything accepted is written, in order, once
/// it returns.
async fn outage(opts: AuditOptions, every: Duration, want: Refusal, bound: Duration) {
    let h = harness().await;
    let (log, writer) = AuditLog::new(h.store.clone(), opts.clone());
    tokio::spawn(writer.run());
    let mut next = 0;
    let mut accepted = Vec::new();

    // Healthy: everything is accepted and written.
    for _ in 0..100 {
        let r = record(next);
        accepted.push(r.request_id.clone());
        log.record(r).unwrap();
        next += 1;
    }
    assert!(log.flush(Duration::from_secs(5)).await);
    assert!(log.accepting() && !log.store_failing());

    // The store stops.
    h.store.down.store(true, Ordering::SeqCst);
    let (to_refusal, reason) =
        record_until_refused(&log, &mut next, &mut accepted, every, bound).await;
    let pending = log.pending();
    println!(
        "store stopped: first refusal ({reason:?}) after {to_refusal:?}, {pending} records \
         pending, {} failed writes",
        h.store.failures.load(Ordering::SeqCst)
    );
    assert_eq!(reason, want);
    assert!(to_refusal < bound, "{to_refusal:?}");
    assert!(!log.accepting());
    assert!(log.store_failing());
    assert!(h.store.failures.load(Ordering::SeqCst) >= 1);
    assert!(pending <= opts.capacity);
    // Still refusing; nothing accepted meanwhile.
    for _ in 0..10 {
        assert!(log.record(record(999_999)).is_err());
    }

    // The store returns: the backlog is written, in order, and the log
    // accepts again.
    let back = Instant::now();
    h.store.down.store(false, Ordering::SeqCst);
    assert!(
        log.flush(Duration::from_secs(10)).await,
        "backlog not written"
    );
    println!(
        "store back: {} records written in {:?}",
        pending,
        back.elapsed()
    );
    assert!(log.accepting());
    let r = record(next);
    accepted.push(r.request_id.clone());
    log.record(r).unwrap();
    assert!(log.flush(Duration::from_secs(5)).await);

    assert_eq!(stored_ids(&h.store).await, accepted, "lost or reordered");
    let report = verify_store(h.store.as_ref(), 256).await.unwrap();
    assert_eq!(report.records, accepted.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_fills_the_buffer_then_refuses_and_loses_nothing() {
    // 500 places at about one record per millisecond: full after ~0.5 s.
    let opts = AuditOptions {
        capacity: 500,
        batch: 64,
        flush_interval: Duration::from_millis(10),
        retry_backoff: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(200),
        max_lag: Duration::from_secs(60),
    };
    outage(
        opts,
        Duration::from_millis(1),
        Refusal::Full,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_under_light_traffic_refuses_after_max_lag() {
    // Light traffic never fills 10 000 places; the lag bound trips instead.
    let opts = AuditOptions {
        max_lag: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(100),
        ..AuditOptions::default()
    };
    outage(
        opts,
        Duration::from_millis(10),
        Refusal::Lagging,
        Duration::from_secs(2),
    )
    .await;
}
