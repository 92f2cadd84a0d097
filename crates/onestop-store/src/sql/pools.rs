//! Building the connection pools and running the migrations.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AnyPool, Executor};

use super::StoreOptions;
use super::error::db;
use crate::{Backend, Result, StoreError};

/// A pool on a SQLite file (or a private in-memory database).
pub(super) async fn sqlite_pool(url: &str, opts: &StoreOptions, memory: bool) -> Result<AnyPool> {
    let busy_ms = i64::try_from(opts.timeout.as_millis()).unwrap_or(i64::MAX);
    let options = AnyPoolOptions::new()
        .acquire_timeout(opts.timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // The Any driver cannot set it through the URL.
                conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
                    .await?;
                Ok(())
            })
        });
    let options = if memory {
        // Every connection to `:memory:` is a new database: keep exactly one, forever.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        options.max_connections(opts.max_connections.max(1))
    };
    options.connect(url).await.map_err(db)
}

/// A pool on PostgreSQL whose connections use `schema` (if any).
pub(super) async fn pg_pool(
    url: &str,
    opts: &StoreOptions,
    schema: Option<String>,
) -> Result<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.timeout)
        .after_connect(move |conn, _meta| {
            let set = schema.as_deref().map(set_search_path);
            Box::pin(async move {
                if let Some(set) = set {
                    conn.execute(set.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(db)
}

/// The listener's own small pool (its connection is held for long).
pub(super) fn listener_pool(
    url: &str,
    opts: &StoreOptions,
    schema: Option<String>,
) -> Result<PgPool> {
    let connect: PgConnectOptions = url.parse().map_err(db)?;
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(opts.timeout)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _meta| {
            let set = schema.as_deref().map(set_search_path);
            Box::pin(async move {
                if let Some(set) = set {
                    conn.execute(set.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect_lazy_with(connect))
}

/// `SET search_path` to a schema already checked by `validate_schema`.
pub(super) fn set_search_path(schema: &str) -> String {
    format!("SET search_path TO \"{schema}\"")
}

/// `CREATE SCHEMA IF NOT EXISTS`: the one statement of DDL outside the
/// migrations, because the migrations (and their bookkeeping table) live in
/// the schema.
pub(super) async fn create_schema(pool: &AnyPool, schema: &str) -> Result<()> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    match pool.execute(sql.as_str()).await.map_err(db) {
        Ok(_) => Ok(()),
        // Two gateways created it at the same moment: it exists.
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// `(version, description, SQL)` of each migration, embedded in the binary.
type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Embedded = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "purges",
        include_str!("../../migrations/sqlite/0002_purges.sql"),
    ),
    (
        3,
        "cases",
        include_str!("../../migrations/sqlite/0003_cases.sql"),
    ),
    (
        4,
        "access_audit",
        include_str!("../../migrations/sqlite/0004_access_audit.sql"),
    ),
    (
        5,
        "sharing",
        include_str!("../../migrations/sqlite/0005_sharing.sql"),
    ),
    (
        8,
        "rollups",
        include_str!("../../migrations/sqlite/0008_rollups.sql"),
    ),
    (
        10,
        "appeals",
        include_str!("../../migrations/sqlite/0010_appeals.sql"),
    ),
    (
        11,
        "messages",
        include_str!("../../migrations/sqlite/0011_messages.sql"),
    ),
    (
        13,
        "appeal_feed",
        include_str!("../../migrations/sqlite/0013_appeal_feed.sql"),
    ),
    (
        14,
        "appeal_attachments",
        include_str!("../../migrations/sqlite/0014_appeal_attachments.sql"),
    ),
    (
        15,
        "appeal_supervision",
        include_str!("../../migrations/sqlite/0015_appeal_supervision.sql"),
    ),
    (
        16,
        "case_overdue_told",
        include_str!("../../migrations/sqlite/0016_case_overdue_told.sql"),
    ),
];

const POSTGRES_MIGRATIONS: Embedded = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "purges",
        include_str!("../../migrations/postgres/0002_purges.sql"),
    ),
    (
        3,
        "cases",
        include_str!("../../migrations/postgres/0003_cases.sql"),
    ),
    (
        4,
        "access_audit",
        include_str!("../../migrations/postgres/0004_access_audit.sql"),
    ),
    (
        5,
        "sharing",
        include_str!("../../migrations/postgres/0005_sharing.sql"),
    ),
    (
        8,
        "rollups",
        include_str!("../../migrations/postgres/0008_rollups.sql"),
    ),
    (
        10,
        "appeals",
        include_str!("../../migrations/postgres/0010_appeals.sql"),
    ),
    (
        11,
        "messages",
        include_str!("../../migrations/postgres/0011_messages.sql"),
    ),
    (
        13,
        "appeal_feed",
        include_str!("../../migrations/postgres/0013_appeal_feed.sql"),
    ),
    (
        14,
        "appeal_attachments",
        include_str!("../../migrations/postgres/0014_appeal_attachments.sql"),
    ),
    (
        15,
        "appeal_supervision",
        include_str!("../../migrations/postgres/0015_appeal_supervision.sql"),
    ),
    (
        16,
        "case_overdue_told",
        include_str!("../../migrations/postgres/0016_case_overdue_told.sql"),
    ),
];

/// A backend's embedded migrations as a sqlx migration source (what
/// `sqlx::migrate!` generates, without sqlx's compile-time macros). The
/// checksums equal those of the files, as `migrate!` computes them.
#[derive(Debug)]
struct EmbeddedSource(Embedded);

impl<'s> MigrationSource<'s> for EmbeddedSource {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Applies the embedded migrations of `backend`.
pub(super) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let source = EmbeddedSource(match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    });
    let migrator = Migrator::new(source)
        .await
        .map_err(|e| db(sqlx::Error::Migrate(Box::new(e))))?;
    migrator
        .run(pool)
        .await
        .map_err(|e| db(sqlx::Error::Migrate(Box::new(e))))
}
