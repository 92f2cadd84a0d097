//! onestop's durable state behind one trait, [`Store`].
//!
//! [`SqlStore`] implements it with sqlx over **SQLite** (the embedded
//! default: one file in the data directory, WAL) or **PostgreSQL** (several
//! gateways sharing state). Both run the same SQL through sqlx's `Any`
//! driver; each has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`). Only this crate knows SQL.
//!
//! Writers announce what changed on [`Store::changes`]: in-process for
//! SQLite, and through PostgreSQL `LISTEN/NOTIFY` so that every gateway on
//! one database hears every other's changes.
//!
//! Durable cases of composite matters, ratings and their follow-ups are
//! behind a second trait, [`CaseStore`] (module `cases`), which
//! [`SqlStore`] implements too. Its writes announce nothing: runners find
//! their work by sweeping ([`CaseStore::orphaned_cases`],
//! [`CaseStore::overdue_cases`]).
//!
//! The access audit log of personal data (who received which fields of
//! whose data, why, under which agreement), chained by SHA-256, is behind
//! a third trait, [`AccessAuditStore`] (module `access_audit`), also
//! implemented by [`SqlStore`]; [`verify_store`] checks the chain and names
//! the first record that breaks it.
//!
//! Data-sharing agreements between departments (applied for, approved by
//! an operator and, where the item asks for it, the provider department,
//! rejected or revoked) and citizens' consents are behind a fourth trait,
//! [`SharingStore`] (module `sharing`), also implemented by [`SqlStore`].
//! Every decision on an agreement is a compare-and-set on its revision, so
//! two gateways on one PostgreSQL never both decide; like [`CaseStore`]'s,
//! its writes announce nothing.
//!
//! Traffic roll-ups every gateway writes (hourly and per-minute rows per
//! department and gateway, with latency histogram buckets) and the period
//! figures of cases, ratings and follow-ups that department assessment
//! (考核) reads are behind a fifth trait, [`AssessmentStore`] (module
//! `assessment`), also implemented by [`SqlStore`].
//!
//! Times are Unix epoch milliseconds ([`Millis`]).
//!
//! # Opening a store
//!
//! ```no_run
//! # async fn open() -> Result<(), onestop_store::StoreError> {
//! use onestop_store::{SqlStore, Store, StoreOptions};
//! let store = SqlStore::connect("sqlite:data/onestop.db", StoreOptions::default()).await?;
//! store.ping().await?;
//! # Ok(()) }
//! ```
//!
//! [`SqlStore::connect`] takes
//!
//! - `sqlite:PATH` or `sqlite://PATH`: a file path as written (not
//!   percent-encoded). The file and its directory are created if missing;
//!   the database is switched to WAL and each connection waits up to
//!   [`StoreOptions::timeout`] for SQLite's write lock.
//! - `sqlite::memory:`: a private in-memory database on one connection,
//!   for tests.
//! - `postgres://…` or `postgresql://…`: any URL sqlx accepts, plus one
//!   parameter of onestop's own, **`schema=NAME`** (ASCII letters, digits
//!   and `_`, not starting with a digit, at most 63 characters). The store
//!   then keeps all its tables in that schema: it is created if missing,
//!   every pooled connection (and the listener's) runs
//!   `SET search_path TO "NAME"`, and changes are announced on the channel
//!   `onestop_changes_<name>` (`onestop_changes_<hash>` for names with
//!   capitals or longer than 47 characters), so stores on different schemas of one
//!   database neither see nor hear each other. The parameter is removed
//!   before the URL reaches sqlx. Without it the server's `search_path`
//!   decides (usually `public`). Example:
//!   `postgres://gw@db.internal:5432/onestop?schema=onestop_prod`.
//!
//! Migrations (`migrations/sqlite`, `migrations/postgres`) run on connect;
//! they are the only DDL besides that `CREATE SCHEMA IF NOT EXISTS`.
//!
//! # Failures and time limits
//!
//! A call waits at most [`StoreOptions::timeout`] for a connection and
//! gives up after three times that in all, with [`StoreError::Unavailable`]:
//! a database that is down or unreachable never makes a caller hang. The
//! pool checks a connection before handing it out and replaces dead ones,
//! so the store recovers by itself when the database comes back. The
//! PostgreSQL listener reconnects with backoff and then announces every
//! kind of [`Change`], since notifications sent meanwhile are lost.
//! A write that changes nothing (deleting what does not exist, a renewal
//! that extends no lease) announces nothing.

#![forbid(unsafe_code)]

mod access_audit;
mod appeals;
mod assessment;
mod cases;
mod messages;
mod records;
mod sharing;
mod sql;

pub use access_audit::*;
pub use appeals::*;
pub use assessment::*;
pub use cases::*;
pub use messages::*;
pub use records::*;
pub use sharing::*;
pub use sql::{SqlStore, StoreOptions};

use async_trait::async_trait;
use tokio::sync::broadcast;

/// Unix epoch milliseconds.
pub type Millis = i64;

/// The current time as [`Millis`].
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What can go wrong talking to the store.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The database cannot be reached (or timed out). Retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A compare-and-set lost against a concurrent writer, or a uniqueness
    /// rule was violated. The message says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data could not be decoded (a bug or a manual edit).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("store error: {0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A change another component (possibly on another gateway) should react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Services, instances, leases, approvals or department tokens changed.
    Registry,
    /// A configuration version was appended.
    ConfigVersion,
    /// A purge of the response cache was recorded: apply what
    /// [`Store::purges_since`] returns after the last one applied.
    Purge,
}

impl Change {
    /// Every kind, e.g. to announce after notifications may have been lost.
    pub const ALL: [Change; 3] = [Change::Registry, Change::ConfigVersion, Change::Purge];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Registry => "registry",
            Change::ConfigVersion => "config_version",
            Change::Purge => "purge",
        }
    }

    pub fn parse(s: &str) -> Option<Change> {
        match s {
            "registry" => Some(Change::Registry),
            "config_version" => Some(Change::ConfigVersion),
            "purge" => Some(Change::Purge),
            _ => None,
        }
    }
}

/// Everything onestop keeps durably.
///
/// Every write method commits atomically (all or nothing) and, once
/// committed, announces its [`Change`] to local subscribers and, on
/// PostgreSQL, to every other gateway (`pg_notify` inside the transaction).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Changes committed by this or (on PostgreSQL) any other gateway.
    /// Lagging receivers should treat a lag as "everything changed".
    fn changes(&self) -> broadcast::Receiver<Change>;

    /// A cheap round trip (`SELECT 1`).
    async fn ping(&self) -> Result<()>;

    // ----- registry -------------------------------------------------------

    /// Every service, instance and department token (including revoked
    /// tokens and lapsed instances; callers filter by time).
    async fn load_registry(&self) -> Result<RegistryRows>;

    /// Inserts or replaces one service registration (never its instances).
    /// `expected_revision` is a compare-and-set guard: `None` means the
    /// service must not exist yet; `Some(r)` means its stored revision must
    /// be `r`. A lost race is [`StoreError::Conflict`].
    async fn put_service(
        &self,
        record: &ServiceRecord,
        expected_revision: Option<i64>,
    ) -> Result<()>;

    /// Inserts or updates instances of an existing service (matched by
    /// dept, service, addr); instances not named are left alone.
    /// [`StoreError::NotFound`] when the service does not exist.
    async fn put_instances(&self, instances: &[InstanceRecord]) -> Result<()>;

    /// Removes the named instances; returns how many existed.
    async fn delete_instances(&self, dept: &str, service: &str, addrs: &[String]) -> Result<u64>;

    /// Removes a service and all its instances; false when it did not exist.
    async fn delete_service(&self, dept: &str, service: &str) -> Result<bool>;

    /// Extends leases: each `(dept, service, addr, expires_at)` sets that
    /// instance's `lease_expires_at` to the later of the stored and the given
    /// value. Unknown instances are skipped. One transaction for the batch.
    async fn renew_leases(&self, renewals: &[LeaseRenewal]) -> Result<()>;

    /// Deletes instances whose lease lapsed before `before`; returns how many.
    async fn purge_lapsed_instances(&self, before: Millis) -> Result<u64>;

    /// Records an operator's decision on a revision of a service, in one
    /// transaction: the stored revision must equal `decision.revision` and be
    /// pending ([`StoreError::Conflict`] otherwise, naming the current
    /// revision and status). Approve: `approved_spec := spec`,
    /// `approved_revision := revision`, status approved. Reject: status
    /// rejected (the approved spec, if any, is kept). Appends a
    /// [`DecisionRecord`] and returns the updated service.
    async fn decide(&self, decision: &NewDecision) -> Result<ServiceRecord>;

    /// Decisions, newest first, optionally of one department.
    async fn decisions(&self, dept: Option<&str>, limit: u32) -> Result<Vec<DecisionRecord>>;

    /// Stores a new department token (its SHA-256 only); returns its id.
    /// [`StoreError::Conflict`] if the hash is already stored.
    async fn add_dept_token(&self, token: &NewDeptToken) -> Result<i64>;

    /// Marks a token revoked; [`StoreError::NotFound`] for an unknown id.
    async fn revoke_dept_token(&self, id: i64, at: Millis) -> Result<()>;

    // ----- configuration versions ----------------------------------------

    /// Appends a version and returns it with its assigned number (1, 2, …,
    /// strictly increasing, no gaps in a single-writer store).
    async fn append_config_version(&self, version: &NewConfigVersion) -> Result<ConfigVersion>;

    /// Versions without file contents, newest first; `before` pages back.
    async fn config_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>>;

    /// One version with its files; `None` if it does not exist.
    async fn config_version(&self, version: i64) -> Result<Option<ConfigVersion>>;

    /// The newest version with its files.
    async fn latest_config_version(&self) -> Result<Option<ConfigVersion>>;

    // ----- operators' audit trail ----------------------------------------

    /// Appends who did what, when, through the admin API.
    async fn append_admin_audit(&self, entry: &NewAdminAudit) -> Result<i64>;

    /// Newest first; `before` (an id) pages back.
    async fn admin_audit(&self, limit: u32, before: Option<i64>) -> Result<Vec<AdminAuditRecord>>;

    // ----- response cache purges -----------------------------------------

    /// Records a purge and announces [`Change::Purge`], so that every
    /// gateway sharing the store applies it. Returns it with its id, which
    /// is larger than every id recorded (and visible) before it.
    async fn append_purge(&self, purge: &NewPurge) -> Result<PurgeRecord>;

    /// Purges with an id greater than `after_id`, oldest first, at most
    /// `limit`. A gateway remembers the last id it applied and asks for
    /// what came after it.
    async fn purges_since(&self, after_id: i64, limit: u32) -> Result<Vec<PurgeRecord>>;

    /// The newest purge's id, 0 when none is stored (a gateway that starts
    /// empty need not apply older purges).
    async fn last_purge_id(&self) -> Result<i64>;

    /// Deletes purges recorded before `before`; returns how many. Announces
    /// nothing: no gateway has anything to apply. Ids are never reused, so
    /// [`Store::last_purge_id`] may go down, but new purges still get
    /// larger ids.
    async fn prune_purges(&self, before: Millis) -> Result<u64>;
}
