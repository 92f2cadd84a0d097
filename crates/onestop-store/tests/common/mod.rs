//! The harness of the store suite: one fresh database per test, on SQLite
//! (a temp file) or PostgreSQL (a fresh schema of `test`, dropped after).
//!
//! PostgreSQL is required: when it cannot be reached the PostgreSQL half of
//! every test fails with a message saying so. `ONESTOP_TEST_PG_URL`
//! overrides the server (default `postgres://127.0.0.1:5432/test`, without
//! TLS: on loopback a TLS handshake per connection only slows the suite).

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onestop_core::registry::ApprovalStatus;
use onestop_core::registry::{
    HealthProbeSpec, HealthSpec, LbPolicy, PathMatchKind, RouteSpec, ServiceProtocol, ServiceSpec,
    Verdict,
};
use onestop_store::{
    Change, InstanceRecord, NewAdminAudit, NewConfigVersion, NewDecision, NewDeptToken,
    ServiceRecord, SqlStore, StoreOptions, VersionSource,
};
use sqlx::{Connection, Executor, PgConnection, Row, SqliteConnection};
use tokio::sync::broadcast;

/// Env var naming the PostgreSQL server the tests use.
pub const PG_URL_ENV: &str = "ONESTOP_TEST_PG_URL";
const DEFAULT_PG_URL: &str = "postgres://127.0.0.1:5432/test?sslmode=disable";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// What a test gets: a store on a fresh, empty database.
pub struct Fixture {
    pub store: SqlStore,
    pub kind: Kind,
    /// The URL `store` was opened with.
    pub url: String,
    db: Db,
}

enum Db {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        base: String,
        schema: String,
        /// Every schema this test created, dropped at the end.
        created: Arc<Mutex<Vec<String>>>,
    },
}

/// Options every test store uses.
pub fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        timeout: Duration::from_secs(5),
    }
}

/// Runs `test` on a fresh database of `kind`, cleaning up afterwards
/// (also when it panics).
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(Fixture) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            // A directory that does not exist yet: connect creates it.
            let path = dir.path().join("state").join("onestop.db");
            let url = format!("sqlite:{}", path.display());
            let store = SqlStore::connect(&url, opts()).await.unwrap();
            test(Fixture {
                store,
                kind,
                url,
                db: Db::Sqlite { path, _dir: dir },
            })
            .await;
        }
        Kind::Postgres => {
            let base = pg_base_url();
            let mut admin = pg_admin(&base).await;
            let schema = new_schema();
            let created = Arc::new(Mutex::new(vec![schema.clone()]));
            let url = pg_url(&base, &schema);
            let outcome = tokio::spawn({
                let created = created.clone();
                async move {
                    let store = SqlStore::connect(&url, opts()).await.unwrap();
                    test(Fixture {
                        store,
                        kind,
                        url,
                        db: Db::Postgres {
                            base,
                            schema,
                            created,
                        },
                    })
                    .await;
                }
            })
            .await;
            let schemas: Vec<String> = created.lock().unwrap().drain(..).collect();
            for schema in schemas {
                admin
                    .execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
                    .await
                    .unwrap();
            }
            if let Err(error) = outcome {
                match error.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(error) => panic!("test task failed: {error}"),
                }
            }
        }
    }
}

/// The PostgreSQL server's URL (without a schema).
pub fn pg_base_url() -> String {
    std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// A direct connection to the test server, or a failure saying that
/// PostgreSQL is required.
pub async fn pg_admin(base: &str) -> PgConnection {
    let connected =
        tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(base)).await;
    let error = match connected {
        Ok(Ok(conn)) => return conn,
        Ok(Err(error)) => error.to_string(),
        Err(_) => "no answer within 10 s".to_string(),
    };
    match std::env::var(PG_URL_ENV) {
        Ok(url) => panic!("PostgreSQL at {url} (from {PG_URL_ENV}) is required: {error}"),
        Err(_) => panic!(
            "PostgreSQL at 127.0.0.1:5432 (database test) is required: {error} \
             (start it, or point {PG_URL_ENV} at another server)"
        ),
    }
}

impl Fixture {
    /// Another store on the same database (and schema).
    pub async fn open_again(&self) -> SqlStore {
        SqlStore::connect(&self.url, opts()).await.unwrap()
    }

    /// PostgreSQL: a store on a fresh schema of the same database, and the
    /// application name its connections use.
    pub async fn open_other_schema(&self) -> (SqlStore, String) {
        let Db::Postgres { base, created, .. } = &self.db else {
            panic!("open_other_schema is for PostgreSQL");
        };
        let schema = new_schema();
        created.lock().unwrap().push(schema.clone());
        let store = SqlStore::connect(&pg_url(base, &schema), opts())
            .await
            .unwrap();
        (store, schema)
    }

    /// The application name of this fixture's PostgreSQL connections.
    pub fn app_name(&self) -> &str {
        match &self.db {
            Db::Postgres { schema, .. } => schema,
            Db::Sqlite { .. } => panic!("app_name is for PostgreSQL"),
        }
    }

    /// Runs SQL directly on the database, behind the store's back.
    pub async fn raw_execute(&self, sql: &str) -> u64 {
        match &self.db {
            Db::Sqlite { path, .. } => {
                let mut conn = SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap().rows_affected()
            }
            Db::Postgres { base, schema, .. } => {
                let mut conn = pg_admin(base).await;
                conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap().rows_affected()
            }
        }
    }

    /// Like [`Fixture::raw_execute`], returning the database's refusal.
    pub async fn try_raw_execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.db {
            Db::Sqlite { path, .. } => {
                let mut conn =
                    SqliteConnection::connect(&format!("sqlite:{}", path.display())).await?;
                Ok(conn.execute(sql).await?.rows_affected())
            }
            Db::Postgres { base, schema, .. } => {
                let mut conn = pg_admin(base).await;
                conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                    .await?;
                Ok(conn.execute(sql).await?.rows_affected())
            }
        }
    }

    /// PostgreSQL: how many server connections carry `app` as their
    /// application name (and, if `listening`, are a listener's).
    pub async fn backends(&self, app: &str, listening: bool) -> i64 {
        let Db::Postgres { base, .. } = &self.db else {
            panic!("backends is for PostgreSQL");
        };
        let mut conn = pg_admin(base).await;
        let sql = if listening {
            "SELECT COUNT(*)::BIGINT AS n FROM pg_stat_activity \
             WHERE application_name = $1 AND query LIKE 'LISTEN%'"
        } else {
            "SELECT COUNT(*)::BIGINT AS n FROM pg_stat_activity WHERE application_name = $1"
        };
        let row = sqlx::query(sql)
            .bind(app)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        row.try_get("n").unwrap()
    }

    /// PostgreSQL: kills every server connection of `app`; returns how many.
    pub async fn terminate_backends(&self, app: &str) -> i64 {
        let Db::Postgres { base, .. } = &self.db else {
            panic!("terminate_backends is for PostgreSQL");
        };
        let mut conn = pg_admin(base).await;
        let row = sqlx::query(
            "SELECT COUNT(pg_terminate_backend(pid))::BIGINT AS n FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(app)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        row.try_get("n").unwrap()
    }
}

fn new_schema() -> String {
    format!("onestop_t_{}", uuid::Uuid::new_v4().simple())
}

/// The test URL for `schema`; connections are named after it so that a
/// test can find (and kill) them in `pg_stat_activity`.
fn pg_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}schema={schema}&application_name={schema}")
}

// ----- sample records --------------------------------------------------------

pub fn spec(dept: &str, service: &str) -> ServiceSpec {
    ServiceSpec {
        dept: dept.into(),
        service: service.into(),
        protocol: ServiceProtocol::Http,
        lb: LbPolicy::ConsistentHash,
        health: Some(HealthSpec {
            probe: HealthProbeSpec::Http {
                path: "/healthz".into(),
            },
            interval_ms: 2_000,
            timeout_ms: 500,
        }),
        routes: vec![RouteSpec {
            id: format!("{service}-balance"),
            name: "公积金余额查询".into(),
            description: "余额".into(),
            kind: PathMatchKind::Template,
            pattern: format!("/api/v1/depts/{dept}/accounts/{{citizen}}"),
            methods: vec!["GET".into()],
            citizen_param: Some("citizen".into()),
            timeout_ms: Some(800),
            retries: Some(1),
            auth: Default::default(),
            policy: Default::default(),
        }],
        metadata: BTreeMap::from([("owner".to_string(), "ops@example".to_string())]),
        lease_ttl_ms: 10_000,
        descriptor_set: None,
    }
}

/// The same spec with a different public surface (one more route).
pub fn spec_v2(dept: &str, service: &str) -> ServiceSpec {
    let mut spec = spec(dept, service);
    spec.routes.push(RouteSpec {
        id: format!("{service}-loans"),
        name: "贷款进度".into(),
        description: String::new(),
        kind: PathMatchKind::Exact,
        pattern: format!("/api/v1/depts/{dept}/loans"),
        methods: vec![],
        citizen_param: None,
        timeout_ms: None,
        retries: None,
        auth: Default::default(),
        policy: Default::default(),
    });
    spec
}

/// A new, pending service at `revision`.
pub fn service(dept: &str, service: &str, revision: i64) -> ServiceRecord {
    ServiceRecord {
        dept: dept.into(),
        service: service.into(),
        revision,
        spec: spec(dept, service),
        status: ApprovalStatus::Pending,
        approved_spec: None,
        approved_revision: None,
        created_at: 1_000,
        updated_at: 1_000 + revision,
    }
}

pub fn instance(dept: &str, service: &str, addr: &str, lease: i64) -> InstanceRecord {
    InstanceRecord {
        dept: dept.into(),
        service: service.into(),
        addr: addr.into(),
        weight: 10,
        lease_expires_at: lease,
        registered_at: 500,
    }
}

pub fn decision(dept: &str, service: &str, revision: i64, verdict: Verdict) -> NewDecision {
    NewDecision {
        dept: dept.into(),
        service: service.into(),
        revision,
        verdict,
        operator: "operator-li".into(),
        reason: format!("{verdict:?} {dept}/{service}@{revision}"),
        at: 5_000 + revision,
    }
}

pub fn token(dept: &str, hash_byte: char) -> NewDeptToken {
    NewDeptToken {
        dept: dept.into(),
        label: format!("{dept} ci"),
        token_sha256: hash_byte.to_string().repeat(64),
        created_by: "operator-li".into(),
        created_at: 2_000,
    }
}

pub fn config(n: i64) -> NewConfigVersion {
    NewConfigVersion {
        author: format!("author-{n}"),
        message: format!("change {n}"),
        source: if n % 2 == 0 {
            VersionSource::Api
        } else {
            VersionSource::File
        },
        created_at: 10_000 + n,
        content_hash: format!("{n:064x}"),
        files: BTreeMap::from([
            ("onestop.toml".to_string(), format!("# v{n}\n[listen]\n")),
            (
                "departments/hpf.toml".to_string(),
                format!("name = \"住房公积金 {n}\"\n"),
            ),
        ]),
        diff: if n == 1 {
            String::new()
        } else {
            format!("-# v{}\n+# v{n}\n", n - 1)
        },
    }
}

pub fn audit(n: i64) -> NewAdminAudit {
    NewAdminAudit {
        operator: format!("op-{n}"),
        action: "config.route.put".into(),
        target: format!("hpf/route-{n}"),
        detail: format!("{{\"n\":{n}}}"),
        at: 20_000 + n,
    }
}

// ----- change assertions -----------------------------------------------------

/// The next change, within `within`.
pub async fn next_change(rx: &mut broadcast::Receiver<Change>, within: Duration) -> Change {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Ok(change)) => change,
        Ok(Err(error)) => panic!("change channel: {error}"),
        Err(_) => panic!("no change within {within:?}"),
    }
}

/// Nothing is waiting on `rx`.
pub fn assert_quiet(rx: &mut broadcast::Receiver<Change>, after: &str) {
    match rx.try_recv() {
        Err(broadcast::error::TryRecvError::Empty) => {}
        other => panic!("after {after}: expected no change, got {other:?}"),
    }
}
