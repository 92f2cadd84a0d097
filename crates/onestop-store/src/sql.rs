//! [`SqlStore`]: the [`Store`] over sqlx's `Any` driver (SQLite or
//! PostgreSQL, one set of SQL text for both).
//!
//! Writes run in one transaction each. On SQLite a write transaction starts
//! with `BEGIN IMMEDIATE`, so it holds the write lock from its first
//! statement and concurrent writers queue on the busy timeout instead of
//! failing on a stale snapshot. On PostgreSQL compare-and-set guards are
//! part of the `UPDATE`'s `WHERE`, so they hold under `READ COMMITTED`, and
//! a purge is appended under `LOCK TABLE purges IN EXCLUSIVE MODE` (the one
//! statement only PostgreSQL runs) so that purge ids become visible in
//! increasing order.

mod access_audit;
mod appeals;
mod assessment;
mod cases;
mod error;
mod listener;
mod messages;
mod pools;
#[macro_use]
mod rows;
mod sharing;
mod target;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use onestop_core::registry::Verdict;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::broadcast;

use self::error::db;
use self::listener::{ListenerGuard, Origin};
use self::pools::{create_schema, listener_pool, migrate, pg_pool, sqlite_pool};
use self::rows::{get, to_json};
use self::target::{Target, channel_for, redact};
use crate::{
    AdminAuditRecord, Backend, Change, ConfigVersion, ConfigVersionMeta, DecisionRecord,
    InstanceRecord, LeaseRenewal, Millis, NewAdminAudit, NewConfigVersion, NewDecision,
    NewDeptToken, NewPurge, PurgeRecord, RegistryRows, Result, ServiceRecord, Store, StoreError,
};

/// How many changes a slow subscriber may fall behind before it lags.
const CHANGES_CAPACITY: usize = 1024;

/// A whole call gives up after this many times [`StoreOptions::timeout`].
const CALL_TIMEOUT_FACTOR: u32 = 3;

/// How [`SqlStore::connect`] sizes and bounds its connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections open at once (at least 1; an in-memory SQLite
    /// database always uses exactly 1).
    pub max_connections: u32,
    /// How long a call waits for a connection (and, on SQLite, for the
    /// write lock) before it fails with [`StoreError::Unavailable`]. A
    /// whole call, queries included, gives up after three times this.
    pub timeout: Duration,
}

/// The [`Store`] over SQLite or PostgreSQL.
///
/// Cheap to clone: clones share one pool, one change channel and (on
/// PostgreSQL) one listener task, which stops when the last clone is
/// dropped. See the crate documentation for the URL forms.
#[derive(Debug, Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    backend: Backend,
    changes: broadcast::Sender<Change>,
    /// PostgreSQL only: where and as whom writers notify.
    notify: Option<Notify>,
    call_timeout: Duration,
    /// Dropping it stops the listener task.
    _listener: Option<ListenerGuard>,
    /// Channels whose events enter the webhook outbox.
    notify_channels: std::sync::RwLock<Vec<String>>,
}

#[derive(Debug)]
struct Notify {
    channel: String,
    origin: Origin,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

impl SqlStore {
    /// Opens the database at `url`, runs the migrations and (on
    /// PostgreSQL) starts listening for other gateways' changes.
    ///
    /// URL forms: `sqlite:PATH`, `sqlite://PATH` (a plain file path, not
    /// percent-encoded; the file and its directory are created if missing),
    /// `sqlite::memory:` (a private database, for tests), and
    /// `postgres://…` / `postgresql://…` with an optional `schema=NAME`
    /// query parameter (created if missing; every connection's
    /// `search_path`).
    ///
    /// [`StoreError::Unavailable`] when the database cannot be reached
    /// within about `opts.timeout`; [`StoreError::Other`] for a bad URL.
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        let call_timeout = opts.timeout.saturating_mul(CALL_TIMEOUT_FACTOR);
        let inner = match target {
            Target::SqliteFile { path, url } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        StoreError::Unavailable(format!("creating {}: {e}", dir.display()))
                    })?;
                }
                let pool = sqlite_pool(&url, &opts, false).await?;
                // WAL is a property of the file: set once, kept by every
                // later connection.
                pool.execute("PRAGMA journal_mode = WAL")
                    .await
                    .map_err(db)?;
                migrate(&pool, Backend::Sqlite).await?;
                tracing::info!(path = %path.display(), "store opened (sqlite)");
                Inner {
                    pool,
                    backend: Backend::Sqlite,
                    changes,
                    notify: None,
                    call_timeout,
                    _listener: None,
                    notify_channels: Default::default(),
                }
            }
            Target::SqliteMemory { url } => {
                let pool = sqlite_pool(&url, &opts, true).await?;
                migrate(&pool, Backend::Sqlite).await?;
                Inner {
                    pool,
                    backend: Backend::Sqlite,
                    changes,
                    notify: None,
                    call_timeout,
                    _listener: None,
                    notify_channels: Default::default(),
                }
            }
            Target::Postgres { url, schema } => {
                let pool = pg_pool(&url, &opts, schema.clone()).await?;
                if let Some(schema) = &schema {
                    create_schema(&pool, schema).await?;
                }
                migrate(&pool, Backend::Postgres).await?;
                let current: Option<String> = {
                    let row = sqlx::query("SELECT CAST(current_schema() AS TEXT) AS name")
                        .fetch_one(&pool)
                        .await
                        .map_err(db)?;
                    get(&row, "name")?
                };
                let current = current.unwrap_or_else(|| "public".to_string());
                let channel = channel_for(&current);
                let origin = Origin::random();
                let listener_pool = listener_pool(&url, &opts, schema)?;
                let guard = listener::spawn(
                    listener_pool,
                    channel.clone(),
                    origin.clone(),
                    changes.clone(),
                )
                .await
                .map_err(db)?;
                tracing::info!(url = %redact(&url), schema = %current, %channel, "store opened (postgres)");
                Inner {
                    pool,
                    backend: Backend::Postgres,
                    changes,
                    notify: Some(Notify { channel, origin }),
                    call_timeout,
                    _listener: Some(guard),
                    notify_channels: Default::default(),
                }
            }
        };
        Ok(SqlStore {
            inner: Arc::new(inner),
        })
    }

    /// Closes the pool and waits for its connections to close. Later calls
    /// fail with [`StoreError::Unavailable`]. The listener stops when the
    /// last clone is dropped.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// Runs one call under the whole-call deadline.
    async fn bounded<T>(&self, call: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.inner.call_timeout, fut).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "{call} did not finish within {:?} (a write may or may not have committed)",
                self.inner.call_timeout
            ))),
        }
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.inner.pool.begin().await,
        }
        .map_err(db)
    }

    /// Starts a read transaction that sees one snapshot throughout.
    async fn begin_read(&self) -> Result<Transaction<'static, Any>> {
        match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin().await,
            Backend::Postgres => {
                self.inner
                    .pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
        }
        .map_err(db)
    }

    /// Commits; announces `change` (if any) to other gateways inside the
    /// transaction and to local subscribers after it.
    async fn commit(
        &self,
        mut tx: Transaction<'static, Any>,
        change: Option<Change>,
    ) -> Result<()> {
        if let (Some(change), Some(notify)) = (change, &self.inner.notify) {
            sqlx::query("SELECT 1 AS sent FROM pg_notify($1, $2)")
                .bind(notify.channel.as_str())
                .bind(notify.origin.payload(change))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        if let Some(change) = change {
            // No subscribers is fine.
            let _ = self.inner.changes.send(change);
        }
        Ok(())
    }

    async fn do_load_registry(&self) -> Result<RegistryRows> {
        let mut tx = self.begin_read().await?;
        let services = fetch_all(
            &mut tx,
            concat!(
                "SELECT ",
                service_columns!(),
                " FROM services ORDER BY dept, service"
            ),
            rows::service,
        )
        .await?;
        let instances = fetch_all(
            &mut tx,
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances ORDER BY dept, service, addr"
            ),
            rows::instance,
        )
        .await?;
        let tokens = fetch_all(
            &mut tx,
            concat!("SELECT ", token_columns!(), " FROM dept_tokens ORDER BY id"),
            rows::token,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(RegistryRows {
            services,
            instances,
            tokens,
        })
    }

    async fn do_put_service(&self, record: &ServiceRecord, expected: Option<i64>) -> Result<()> {
        let key = format!("{}/{}", record.dept, record.service);
        let spec = to_json(&record.spec, "the service spec")?;
        let approved_spec = record
            .approved_spec
            .as_ref()
            .map(|s| to_json(s, "the approved spec"))
            .transpose()?;
        let mut tx = self.begin_write().await?;
        match expected {
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO services (dept, service, revision, spec, status, approved_spec, \
                     approved_revision, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(record.dept.as_str())
                .bind(record.service.as_str())
                .bind(record.revision)
                .bind(spec)
                .bind(record.status.as_str())
                .bind(approved_spec)
                .bind(record.approved_revision)
                .bind(record.created_at)
                .bind(record.updated_at)
                .execute(&mut *tx)
                .await;
                match inserted.map_err(db) {
                    Ok(_) => {}
                    Err(StoreError::Conflict(_)) => {
                        return Err(StoreError::Conflict(format!(
                            "service {key} already exists"
                        )));
                    }
                    Err(other) => return Err(other),
                }
            }
            Some(expected) => {
                let updated = sqlx::query(
                    "UPDATE services SET revision = $3, spec = $4, status = $5, \
                     approved_spec = $6, approved_revision = $7, created_at = $8, \
                     updated_at = $9 \
                     WHERE dept = $1 AND service = $2 AND revision = $10",
                )
                .bind(record.dept.as_str())
                .bind(record.service.as_str())
                .bind(record.revision)
                .bind(spec)
                .bind(record.status.as_str())
                .bind(approved_spec)
                .bind(record.approved_revision)
                .bind(record.created_at)
                .bind(record.updated_at)
                .bind(expected)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
                if updated == 0 {
                    let current = current_state(&mut tx, &record.dept, &record.service).await?;
                    return Err(StoreError::Conflict(match current {
                        Some((revision, _)) => {
                            format!("service {key} is at revision {revision}, not {expected}")
                        }
                        None => {
                            format!("service {key} does not exist (expected revision {expected})")
                        }
                    }));
                }
            }
        }
        self.commit(tx, Some(Change::Registry)).await
    }

    async fn do_put_instances(&self, instances: &[InstanceRecord]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut checked: Vec<(&str, &str)> = Vec::new();
        for instance in instances {
            let (dept, service) = (instance.dept.as_str(), instance.service.as_str());
            if !checked.contains(&(dept, service)) {
                if current_state(&mut tx, dept, service).await?.is_none() {
                    return Err(service_not_found(dept, service));
                }
                checked.push((dept, service));
            }
            // A re-registration keeps the instance's first registered_at.
            let upserted = sqlx::query(
                "INSERT INTO instances (dept, service, addr, weight, lease_expires_at, \
                 registered_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (dept, service, addr) DO UPDATE \
                 SET weight = excluded.weight, lease_expires_at = excluded.lease_expires_at",
            )
            .bind(dept)
            .bind(service)
            .bind(instance.addr.as_str())
            .bind(i64::from(instance.weight))
            .bind(instance.lease_expires_at)
            .bind(instance.registered_at)
            .execute(&mut *tx)
            .await;
            if let Err(error) = upserted {
                // The service was deleted by a concurrent writer.
                let gone =
                    matches!(&error, sqlx::Error::Database(e) if e.is_foreign_key_violation());
                return Err(if gone {
                    service_not_found(dept, service)
                } else {
                    db(error)
                });
            }
        }
        self.commit(tx, Some(Change::Registry)).await
    }

    async fn do_delete_instances(
        &self,
        dept: &str,
        service: &str,
        addrs: &[String],
    ) -> Result<u64> {
        if addrs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut deleted = 0;
        for addr in addrs {
            deleted +=
                sqlx::query("DELETE FROM instances WHERE dept = $1 AND service = $2 AND addr = $3")
                    .bind(dept)
                    .bind(service)
                    .bind(addr.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
        }
        self.commit(tx, (deleted > 0).then_some(Change::Registry))
            .await?;
        Ok(deleted)
    }

    async fn do_delete_service(&self, dept: &str, service: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM instances WHERE dept = $1 AND service = $2")
            .bind(dept)
            .bind(service)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let deleted = sqlx::query("DELETE FROM services WHERE dept = $1 AND service = $2")
            .bind(dept)
            .bind(service)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        self.commit(tx, deleted.then_some(Change::Registry)).await?;
        Ok(deleted)
    }

    async fn do_renew_leases(&self, renewals: &[LeaseRenewal]) -> Result<()> {
        if renewals.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut extended = 0;
        for renewal in renewals {
            extended += sqlx::query(
                "UPDATE instances SET lease_expires_at = $4 \
                 WHERE dept = $1 AND service = $2 AND addr = $3 AND lease_expires_at < $4",
            )
            .bind(renewal.dept.as_str())
            .bind(renewal.service.as_str())
            .bind(renewal.addr.as_str())
            .bind(renewal.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        self.commit(tx, (extended > 0).then_some(Change::Registry))
            .await
    }

    async fn do_purge_lapsed_instances(&self, before: Millis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let purged = sqlx::query("DELETE FROM instances WHERE lease_expires_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        self.commit(tx, (purged > 0).then_some(Change::Registry))
            .await?;
        Ok(purged)
    }

    async fn do_decide(&self, decision: &NewDecision) -> Result<ServiceRecord> {
        let (dept, service) = (decision.dept.as_str(), decision.service.as_str());
        let mut tx = self.begin_write().await?;
        let sql = match decision.verdict {
            Verdict::Approve => {
                "UPDATE services SET status = 'approved', approved_spec = spec, \
                 approved_revision = revision, updated_at = $4 \
                 WHERE dept = $1 AND service = $2 AND revision = $3 AND status = 'pending'"
            }
            Verdict::Reject => {
                "UPDATE services SET status = 'rejected', updated_at = $4 \
                 WHERE dept = $1 AND service = $2 AND revision = $3 AND status = 'pending'"
            }
        };
        let updated = sqlx::query(sql)
            .bind(dept)
            .bind(service)
            .bind(decision.revision)
            .bind(decision.at)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if updated == 0 {
            return Err(match current_state(&mut tx, dept, service).await? {
                Some((revision, status)) => StoreError::Conflict(format!(
                    "service {dept}/{service} is at revision {revision} ({status}); \
                     the decision needs revision {} to be pending",
                    decision.revision
                )),
                None => service_not_found(dept, service),
            });
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services WHERE dept = $1 AND service = $2"
        ))
        .bind(dept)
        .bind(service)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let record = rows::service(&row)?;
        sqlx::query(
            "INSERT INTO decisions (dept, service, revision, surface_hash, verdict, operator, \
             reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(dept)
        .bind(service)
        .bind(decision.revision)
        .bind(record.spec.surface_hash())
        .bind(decision.verdict.as_str())
        .bind(decision.operator.as_str())
        .bind(decision.reason.as_str())
        .bind(decision.at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        self.commit(tx, Some(Change::Registry)).await?;
        Ok(record)
    }

    async fn do_decisions(&self, dept: Option<&str>, limit: u32) -> Result<Vec<DecisionRecord>> {
        let found = match dept {
            Some(dept) => {
                sqlx::query(concat!(
                    "SELECT ",
                    decision_columns!(),
                    " FROM decisions WHERE dept = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(dept)
                .bind(i64::from(limit))
                .fetch_all(&self.inner.pool)
                .await
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    decision_columns!(),
                    " FROM decisions ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.inner.pool)
                .await
            }
        };
        found.map_err(db)?.iter().map(rows::decision).collect()
    }

    async fn do_add_dept_token(&self, token: &NewDeptToken) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO dept_tokens (dept, label, token_sha256, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(token.dept.as_str())
        .bind(token.label.as_str())
        .bind(token.token_sha256.as_str())
        .bind(token.created_by.as_str())
        .bind(token.created_at)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted.map_err(db) {
            Ok(row) => get(&row, "id")?,
            Err(StoreError::Conflict(_)) => {
                return Err(StoreError::Conflict(
                    "a department token with this hash is already stored".to_string(),
                ));
            }
            Err(other) => return Err(other),
        };
        self.commit(tx, Some(Change::Registry)).await?;
        Ok(id)
    }

    async fn do_revoke_dept_token(&self, id: i64, at: Millis) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // A token revoked twice keeps its first revocation time.
        let updated = sqlx::query(
            "UPDATE dept_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound(format!("department token {id}")));
        }
        self.commit(tx, Some(Change::Registry)).await
    }

    async fn do_append_config_version(&self, version: &NewConfigVersion) -> Result<ConfigVersion> {
        let files = to_json(&version.files, "the configuration files")?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO config_versions (author, message, source, created_at, content_hash, \
             files, diff) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version",
        )
        .bind(version.author.as_str())
        .bind(version.message.as_str())
        .bind(version.source.as_str())
        .bind(version.created_at)
        .bind(version.content_hash.as_str())
        .bind(files)
        .bind(version.diff.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let number: i64 = get(&row, "version")?;
        self.commit(tx, Some(Change::ConfigVersion)).await?;
        Ok(ConfigVersion {
            meta: ConfigVersionMeta {
                version: number,
                author: version.author.clone(),
                message: version.message.clone(),
                source: version.source,
                created_at: version.created_at,
                content_hash: version.content_hash.clone(),
            },
            files: version.files.clone(),
            diff: version.diff.clone(),
        })
    }

    async fn do_config_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>> {
        // Paging back from `before` (exclusive); from the newest without it.
        let found = sqlx::query(concat!(
            "SELECT ",
            version_meta_columns!(),
            " FROM config_versions WHERE version < $1 ORDER BY version DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await;
        found.map_err(db)?.iter().map(rows::version_meta).collect()
    }

    async fn do_config_version(&self, version: i64) -> Result<Option<ConfigVersion>> {
        sqlx::query(concat!(
            "SELECT ",
            version_meta_columns!(),
            ", files, diff FROM config_versions WHERE version = $1"
        ))
        .bind(version)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::version)
        .transpose()
    }

    async fn do_latest_config_version(&self) -> Result<Option<ConfigVersion>> {
        sqlx::query(concat!(
            "SELECT ",
            version_meta_columns!(),
            ", files, diff FROM config_versions ORDER BY version DESC LIMIT 1"
        ))
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::version)
        .transpose()
    }

    async fn do_append_admin_audit(&self, entry: &NewAdminAudit) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO admin_audit (operator, action, target, detail, at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(entry.operator.as_str())
        .bind(entry.action.as_str())
        .bind(entry.target.as_str())
        .bind(entry.detail.as_str())
        .bind(entry.at)
        .fetch_one(&self.inner.pool)
        .await
        .map_err(db)?;
        get(&row, "id")
    }

    async fn do_admin_audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AdminAuditRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM admin_audit WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await;
        found.map_err(db)?.iter().map(rows::audit).collect()
    }

    async fn do_append_purge(&self, purge: &NewPurge) -> Result<PurgeRecord> {
        let mut tx = self.begin_write().await?;
        if self.inner.backend == Backend::Postgres {
            // Sequence numbers are handed out at INSERT but become visible
            // at COMMIT, so two concurrent writers could make id 7 visible
            // before id 6, and a gateway that already read 7 would skip 6.
            // Appending one at a time makes ids visible in order. EXCLUSIVE
            // does not block readers. (SQLite's BEGIN IMMEDIATE already
            // serialises writers.)
            sqlx::query("LOCK TABLE purges IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let row = sqlx::query(
            "INSERT INTO purges (dept, kind, value, requested_by, at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(purge.dept.as_str())
        .bind(purge.kind.as_str())
        .bind(purge.value.as_str())
        .bind(purge.requested_by.as_str())
        .bind(purge.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let id: i64 = get(&row, "id")?;
        self.commit(tx, Some(Change::Purge)).await?;
        Ok(PurgeRecord {
            id,
            dept: purge.dept.clone(),
            kind: purge.kind,
            value: purge.value.clone(),
            requested_by: purge.requested_by.clone(),
            at: purge.at,
        })
    }

    async fn do_purges_since(&self, after_id: i64, limit: u32) -> Result<Vec<PurgeRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            purge_columns!(),
            " FROM purges WHERE id > $1 ORDER BY id ASC LIMIT $2"
        ))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await;
        found.map_err(db)?.iter().map(rows::purge).collect()
    }

    async fn do_last_purge_id(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM purges")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db)?;
        get(&row, "id")
    }

    async fn do_prune_purges(&self, before: Millis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let pruned = sqlx::query("DELETE FROM purges WHERE at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        self.commit(tx, None).await?;
        Ok(pruned)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.inner.backend
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        self.bounded("ping", async {
            self.inner.pool.execute("SELECT 1").await.map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn load_registry(&self) -> Result<RegistryRows> {
        self.bounded("load_registry", self.do_load_registry()).await
    }

    async fn put_service(
        &self,
        record: &ServiceRecord,
        expected_revision: Option<i64>,
    ) -> Result<()> {
        self.bounded(
            "put_service",
            self.do_put_service(record, expected_revision),
        )
        .await
    }

    async fn put_instances(&self, instances: &[InstanceRecord]) -> Result<()> {
        self.bounded("put_instances", self.do_put_instances(instances))
            .await
    }

    async fn delete_instances(&self, dept: &str, service: &str, addrs: &[String]) -> Result<u64> {
        self.bounded(
            "delete_instances",
            self.do_delete_instances(dept, service, addrs),
        )
        .await
    }

    async fn delete_service(&self, dept: &str, service: &str) -> Result<bool> {
        self.bounded("delete_service", self.do_delete_service(dept, service))
            .await
    }

    async fn renew_leases(&self, renewals: &[LeaseRenewal]) -> Result<()> {
        self.bounded("renew_leases", self.do_renew_leases(renewals))
            .await
    }

    async fn purge_lapsed_instances(&self, before: Millis) -> Result<u64> {
        self.bounded(
            "purge_lapsed_instances",
            self.do_purge_lapsed_instances(before),
        )
        .await
    }

    async fn decide(&self, decision: &NewDecision) -> Result<ServiceRecord> {
        self.bounded("decide", self.do_decide(decision)).await
    }

    async fn decisions(&self, dept: Option<&str>, limit: u32) -> Result<Vec<DecisionRecord>> {
        self.bounded("decisions", self.do_decisions(dept, limit))
            .await
    }

    async fn add_dept_token(&self, token: &NewDeptToken) -> Result<i64> {
        self.bounded("add_dept_token", self.do_add_dept_token(token))
            .await
    }

    async fn revoke_dept_token(&self, id: i64, at: Millis) -> Result<()> {
        self.bounded("revoke_dept_token", self.do_revoke_dept_token(id, at))
            .await
    }

    async fn append_config_version(&self, version: &NewConfigVersion) -> Result<ConfigVersion> {
        self.bounded(
            "append_config_version",
            self.do_append_config_version(version),
        )
        .await
    }

    async fn config_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>> {
        self.bounded("config_versions", self.do_config_versions(limit, before))
            .await
    }

    async fn config_version(&self, version: i64) -> Result<Option<ConfigVersion>> {
        self.bounded("config_version", self.do_config_version(version))
            .await
    }

    async fn latest_config_version(&self) -> Result<Option<ConfigVersion>> {
        self.bounded("latest_config_version", self.do_latest_config_version())
            .await
    }

    async fn append_admin_audit(&self, entry: &NewAdminAudit) -> Result<i64> {
        self.bounded("append_admin_audit", self.do_append_admin_audit(entry))
            .await
    }

    async fn admin_audit(&self, limit: u32, before: Option<i64>) -> Result<Vec<AdminAuditRecord>> {
        self.bounded("admin_audit", self.do_admin_audit(limit, before))
            .await
    }

    async fn append_purge(&self, purge: &NewPurge) -> Result<PurgeRecord> {
        self.bounded("append_purge", self.do_append_purge(purge))
            .await
    }

    async fn purges_since(&self, after_id: i64, limit: u32) -> Result<Vec<PurgeRecord>> {
        self.bounded("purges_since", self.do_purges_since(after_id, limit))
            .await
    }

    async fn last_purge_id(&self) -> Result<i64> {
        self.bounded("last_purge_id", self.do_last_purge_id()).await
    }

    async fn prune_purges(&self, before: Millis) -> Result<u64> {
        self.bounded("prune_purges", self.do_prune_purges(before))
            .await
    }
}

/// A service's stored revision and status, if it exists.
async fn current_state(
    tx: &mut Transaction<'static, Any>,
    dept: &str,
    service: &str,
) -> Result<Option<(i64, String)>> {
    let row = sqlx::query("SELECT revision, status FROM services WHERE dept = $1 AND service = $2")
        .bind(dept)
        .bind(service)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    match row {
        Some(row) => Ok(Some((get(&row, "revision")?, get(&row, "status")?))),
        None => Ok(None),
    }
}

async fn fetch_all<T>(
    tx: &mut Transaction<'static, Any>,
    sql: &'static str,
    decode: fn(&AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    let found = sqlx::query(sql).fetch_all(&mut **tx).await.map_err(db)?;
    found.iter().map(decode).collect()
}

fn service_not_found(dept: &str, service: &str) -> StoreError {
    StoreError::NotFound(format!("service {dept}/{service}"))
}

#[cfg(test)]
mod tests;
