//! onestop's response cache.
//!
//! A [moka](https://docs.rs/moka) cache of whole answers, bounded by their
//! weight in bytes. The data plane asks it in this order:
//!
//! 1. [`Key::build`] from the route's [`Policy`] (citizen-scoped routes put
//!    the verified citizen in the key, so one citizen's answer can never
//!    be another's);
//! 2. [`ResponseCache::lookup`]: fresh → answer (HIT); stale within
//!    stale-while-revalidate → answer (STALE) and, if
//!    [`ResponseCache::try_refresh`] grants it, refresh in the background;
//! 3. otherwise [`ResponseCache::join`]: the first request for a key leads
//!    (asks the department, then [`Fill::store`]s or abandons), the others
//!    follow and [`Waiter::wait`] for its [`Outcome`];
//! 4. [`decide`] whether an answer may be stored.
//!
//! Purges ([`ResponseCache::purge`]) remove a department's entries by path
//! prefix or tag. Nothing here awaits I/O; [`Waiter::wait`] is the only
//! future.

mod entry;
mod events;
mod key;
mod metrics;
mod policy;
pub mod testing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use serde::Serialize;
use tokio::sync::watch;

pub use entry::{Entry, Freshness, Origin, TAG_HEADER};
pub use key::{Key, KeyError, KeyParts};
pub use metrics::{RouteCounters, RouteStats, Status};
pub use policy::{CacheControl, Decision, Policy, decide};

use metrics::Metrics;

/// The response header saying what the cache did.
pub const STATUS_HEADER: &str = "x-onestop-cache";

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Answer with it.
    Fresh(Arc<Entry>),
    /// Answer with it and refresh in the background.
    Revalidate(Arc<Entry>),
    /// Ask the department; answer with it if the department fails.
    IfError(Arc<Entry>),
    Miss,
}

/// How a leader's exchange ended, as its followers learn it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The answer was stored: answer with it.
    Stored(Arc<Entry>),
    /// The department failed (error status, timeout, unreachable).
    Failed,
    /// The answer may not be stored (or the leader gave up): ask yourself.
    NotStored,
}

/// What a purge removes, of one department's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Entries whose path is this one or lies below it (`/a/b` matches
    /// `/a/b` and `/a/b/c`, not `/a/bc`).
    Prefix(String),
    /// Entries the department tagged with this (`Cache-Tag`).
    Tag(String),
    /// All of the department's entries.
    All,
}

impl Purge {
    fn matches(&self, dept: &str, entry: &Entry) -> bool {
        if &*entry.origin.dept != dept {
            return false;
        }
        match self {
            Purge::All => true,
            Purge::Tag(tag) => entry.tags.iter().any(|t| **t == **tag),
            Purge::Prefix(prefix) => {
                let path = &*entry.origin.path;
                let prefix = prefix.trim_end_matches('/');
                prefix.is_empty()
                    || path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }
}

/// The cache's figures, for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub max_bytes: u64,
    /// Weight of every entry, as the budget counts it.
    pub bytes: u64,
    pub entries: u64,
    pub routes: Vec<RouteStats>,
}

type Slots = Mutex<HashMap<Key, watch::Receiver<Option<Outcome>>>>;

struct Shared {
    entries: moka::sync::Cache<Key, Arc<Entry>>,
    inflight: Slots,
    metrics: Arc<Metrics>,
    max_bytes: u64,
}

/// The gateway's response cache. Cheap to clone (shared).
#[derive(Clone)]
pub struct ResponseCache {
    shared: Arc<Shared>,
}

struct Expiry;

impl moka::Expiry<Key, Arc<Entry>> for Expiry {
    fn expire_after_create(&self, _: &Key, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.keep_for())
    }

    fn expire_after_update(
        &self,
        _: &Key,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.keep_for())
    }
}

fn weight(key: &Key, entry: &Arc<Entry>) -> u32 {
    u32::try_from(entry.weight() + key.len() as u64).unwrap_or(u32::MAX)
}

impl ResponseCache {
    /// A cache whose entries weigh at most `max_bytes` together.
    pub fn new(max_bytes: u64) -> ResponseCache {
        let metrics = Arc::new(Metrics::new());
        let listener = metrics.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(weight)
            .expire_after(Expiry)
            .support_invalidation_closures()
            .eviction_listener(move |key: Arc<Key>, entry: Arc<Entry>, cause| {
                let cause = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit => "purged",
                    RemovalCause::Replaced => "replaced",
                };
                listener.removed(
                    &entry.origin.dept,
                    &entry.origin.route,
                    u64::from(weight(&key, &entry)),
                    cause,
                );
            })
            .build();
        ResponseCache {
            shared: Arc::new(Shared {
                entries,
                inflight: Mutex::new(HashMap::new()),
                metrics,
                max_bytes,
            }),
        }
    }

    /// Registers the cache's metrics (once per process).
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        for c in self.shared.metrics.collectors() {
            registry.register(c)?;
        }
        Ok(())
    }

    /// A route's counters (cheap after the first call).
    pub fn route(&self, dept: &Arc<str>, route: &Arc<str>) -> Arc<RouteCounters> {
        self.shared.metrics.route(dept, route)
    }

    /// Records why an answer was not stored.
    pub fn not_stored(&self, dept: &str, route: &str, reason: &str) {
        self.shared.metrics.not_stored(dept, route, reason);
    }

    pub fn lookup(&self, key: &Key, now: Instant) -> Lookup {
        let Some(entry) = self.shared.entries.get(key) else {
            return Lookup::Miss;
        };
        match entry.freshness(now) {
            Freshness::Fresh => Lookup::Fresh(entry),
            Freshness::Revalidate => Lookup::Revalidate(entry),
            Freshness::IfError => Lookup::IfError(entry),
            Freshness::Expired => Lookup::Miss,
        }
    }

    /// Lead the fill of `key`, or follow the request already leading it.
    pub fn join(&self, key: &Key) -> Join {
        let mut slots = lock(&self.shared.inflight);
        if let Some(rx) = slots.get(key) {
            return Join::Follower(Waiter { rx: rx.clone() });
        }
        Join::Leader(self.lead(&mut slots, key))
    }

    /// Lead a background refresh of `key`, unless a request already is.
    pub fn try_refresh(&self, key: &Key) -> Option<Fill> {
        let mut slots = lock(&self.shared.inflight);
        if slots.contains_key(key) {
            return None;
        }
        Some(self.lead(&mut slots, key))
    }

    fn lead(&self, slots: &mut HashMap<Key, watch::Receiver<Option<Outcome>>>, key: &Key) -> Fill {
        let (tx, rx) = watch::channel(None);
        slots.insert(key.clone(), rx);
        Fill {
            cache: self.clone(),
            key: key.clone(),
            tx,
            done: false,
        }
    }

    /// Stores an answer outside any fill (a background refresh's own
    /// request).
    pub fn insert(&self, key: Key, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        self.shared.metrics.stored(
            &entry.origin.dept,
            &entry.origin.route,
            u64::from(weight(&key, &entry)),
        );
        self.shared.entries.insert(key, entry.clone());
        entry
    }

    /// Removes `dept`'s entries that `purge` matches; returns how many.
    pub fn purge(&self, dept: &str, purge: &Purge) -> u64 {
        let matching: Vec<Arc<Key>> = self
            .shared
            .entries
            .iter()
            .filter(|(_, entry)| purge.matches(dept, entry))
            .map(|(key, _)| key)
            .collect();
        for key in &matching {
            self.shared.entries.invalidate(&**key);
        }
        events::purged(dept, purge, matching.len());
        matching.len() as u64
    }

    /// Settles pending evictions (so [`Self::bytes`] is exact).
    pub fn sync(&self) {
        self.shared.entries.run_pending_tasks();
    }

    /// Weight of every entry.
    pub fn bytes(&self) -> u64 {
        self.shared.entries.weighted_size()
    }

    pub fn max_bytes(&self) -> u64 {
        self.shared.max_bytes
    }

    pub fn stats(&self) -> Stats {
        self.sync();
        Stats {
            max_bytes: self.shared.max_bytes,
            bytes: self.bytes(),
            entries: self.shared.entries.entry_count(),
            routes: self.shared.metrics.stats(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent even if a holder panicked mid-way: every
    // critical section is a single insert or remove.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`ResponseCache::join`]'s answer.
pub enum Join {
    Leader(Fill),
    Follower(Waiter),
}

/// The right (and duty) to fill one key. Dropping it unfinished tells the
/// followers [`Outcome::NotStored`].
pub struct Fill {
    cache: ResponseCache,
    key: Key,
    tx: watch::Sender<Option<Outcome>>,
    done: bool,
}

impl std::fmt::Debug for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fill").field("key", &self.key).finish()
    }
}

impl Fill {
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Stores the answer and hands it to the followers.
    pub fn store(mut self, entry: Entry) -> Arc<Entry> {
        let entry = self.cache.insert(self.key.clone(), entry);
        self.finish(Outcome::Stored(entry.clone()));
        entry
    }

    /// The answer was stored by another request (a refresh's own): hand it
    /// to the followers.
    pub fn stored(mut self, entry: Arc<Entry>) {
        self.finish(Outcome::Stored(entry));
    }

    /// The department failed.
    pub fn fail(mut self) {
        self.finish(Outcome::Failed);
    }

    /// The answer may not be stored.
    pub fn skip(mut self) {
        self.finish(Outcome::NotStored);
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        {
            let mut slots = lock(&self.cache.shared.inflight);
            if slots
                .get(&self.key)
                .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
            {
                slots.remove(&self.key);
            }
        }
        self.tx.send_replace(Some(outcome));
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        self.finish(Outcome::NotStored);
    }
}

/// A follower's wait for its leader.
pub struct Waiter {
    rx: watch::Receiver<Option<Outcome>>,
}

impl Waiter {
    /// The leader's outcome; [`Outcome::NotStored`] if it takes longer
    /// than `limit` (the follower then asks the department itself).
    pub async fn wait(mut self, limit: Duration) -> Outcome {
        let outcome = tokio::time::timeout(limit, async {
            loop {
                if let Some(outcome) = self.rx.borrow_and_update().clone() {
                    return outcome;
                }
                if self.rx.changed().await.is_err() {
                    // The leader vanished without a word (cannot happen:
                    // its drop sends one); ask the department.
                    return self.rx.borrow().clone().unwrap_or(Outcome::NotStored);
                }
            }
        })
        .await;
        outcome.unwrap_or(Outcome::NotStored)
    }
}

#[cfg(test)]
mod tests;
