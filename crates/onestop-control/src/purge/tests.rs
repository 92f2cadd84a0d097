#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use onestop_cache::Key;
use onestop_cache::testing::{cached, put};
use onestop_store::{SqlStore, StoreOptions};
use tokio::sync::watch;
use tonic::Code;

use super::*;
use crate::auth::TokenAuth;
use crate::cache::CacheService;
use crate::pb::cache::cache_server::Cache as _;
use crate::pb::cache::{PurgeRequest, purge_request::Target};
use crate::registry::{Registry, RegistrySettings};

// ----- fixtures ---------------------------------------------------------------

fn files() -> Arc<onestop_config::Config> {
    let dept = |id: &str| {
        onestop_config::Source::new(
            format!("departments/{id}.toml"),
            format!("[department]\nid = \"{id}\"\nname = \"{id}\"\n"),
        )
    };
    Arc::new(onestop_config::parse_sources(None, vec![dept("hpf"), dept("tax")]).unwrap())
}

/// A gateway's control plane over `store`: its cache, applier, and the
/// `Cache` service authenticating department tokens of its registry.
struct Gateway {
    cache: ResponseCache,
    purges: Arc<PurgeApplier>,
    service: CacheService,
    registry: Arc<Registry>,
}

async fn gateway(store: Arc<dyn Store>) -> Gateway {
    let (_, rx) = watch::channel(files());
    let registry = Registry::new(
        store.clone(),
        RegistrySettings::from_config(&files().gateway.registry),
        rx,
    );
    registry.sync_now().await.unwrap();
    let cache = ResponseCache::new(16 << 20);
    let purges = Arc::new(PurgeApplier::new(cache.clone(), store).await);
    let service = CacheService::new(purges.clone(), Arc::new(TokenAuth::new(registry.clone())));
    Gateway {
        cache,
        purges,
        service,
        registry,
    }
}

impl Gateway {
    /// A fresh department token of `dept`.
    async fn token(&self, dept: &str) -> String {
        self.registry
            .issue_token(dept, "ci", "test")
            .await
            .unwrap()
            .token
    }
}

struct Sqlite {
    store: Arc<dyn Store>,
    sql: SqlStore,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("purges.db").display());
    let sql = SqlStore::connect(&url, StoreOptions::default())
        .await
        .unwrap();
    Sqlite {
        store: Arc::new(sql.clone()),
        sql,
        _dir: dir,
    }
}

fn request(token: Option<&str>, department: &str, target: Option<Target>) -> Request {
    let mut r = tonic::Request::new(PurgeRequest {
        department: department.into(),
        target,
    });
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

type Request = tonic::Request<PurgeRequest>;

async fn call(g: &Gateway, r: Request) -> Result<(i64, u64), tonic::Status> {
    g.service
        .purge(r)
        .await
        .map(|resp| (resp.get_ref().id, resp.get_ref().removed))
}

fn prefix(p: &str) -> Option<Target> {
    Some(Target::Prefix(p.into()))
}

// ----- pure checks --------------------------------------------------------------

#[test]
fn targets_are_checked() {
    let fields = |p: &Purge| {
        check(p)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert!(check(&Purge::Prefix("/api/v1/depts/hpf/forms".into())).is_ok());
    assert!(check(&Purge::Prefix("/".into())).is_ok());
    assert!(check(&Purge::Tag("forms-2025".into())).is_ok());
    assert!(check(&Purge::Tag("t".repeat(MAX_TAG_BYTES))).is_ok());
    assert!(check(&Purge::All).is_ok());
    assert_eq!(
        fields(&Purge::Prefix("api/v1".into())),
        vec!["prefix: must start with `/` (a path such as `/api/v1/depts/hpf/forms`)"]
    );
    assert_eq!(
        fields(&Purge::Prefix("/a?b=1".into())),
        vec!["prefix: must be a path without a query (`?`)"]
    );
    assert_eq!(
        fields(&Purge::Prefix("/a\nb".into())),
        vec!["prefix: must not contain control characters"]
    );
    assert_eq!(
        fields(&Purge::Prefix(format!("/{}", "a".repeat(MAX_PREFIX_BYTES)))),
        vec!["prefix: must be at most 1024 bytes"]
    );
    assert_eq!(
        fields(&Purge::Tag(String::new())),
        vec!["tag: must not be empty"]
    );
    assert_eq!(
        fields(&Purge::Tag("a,b".into())),
        vec!["tag: must be one tag (no commas)"]
    );
    assert_eq!(
        fields(&Purge::Tag("a\tb".into())),
        vec!["tag: must not contain control characters"]
    );
    assert_eq!(
        fields(&Purge::Tag("t".repeat(MAX_TAG_BYTES + 1))),
        vec!["tag: must be at most 256 bytes"]
    );
}

// ----- the Cache service on SQLite ------------------------------------------------

#[tokio::test]
async fn prefix_purges_whole_segments_of_the_callers_department_only() {
    let db = sqlite().await;
    let g = gateway(db.store.clone()).await;
    let hpf = g.token("hpf").await;
    let tax = g.token("tax").await;
    let base = "/api/v1/depts/hpf/forms";
    let exact = put(&g.cache, "hpf", "forms", base, "");
    let below = put(&g.cache, "hpf", "forms", &format!("{base}/2025/a"), "");
    let sibling = put(&g.cache, "hpf", "forms", &format!("{base}x"), "");
    let elsewhere = put(&g.cache, "hpf", "balance", "/api/v1/depts/hpf/balance", "");
    // Another department's entry under the very same path.
    let theirs = put(&g.cache, "tax", "mirror", base, "");

    // tax names a prefix under hpf's paths: it is recorded for tax, and
    // removes nothing of hpf's.
    let (id, removed) = call(&g, request(Some(&tax), "", prefix(base)))
        .await
        .unwrap();
    assert_eq!(removed, 1, "only tax's own entry at that path");
    assert!(!cached(&g.cache, &theirs));
    assert!(cached(&g.cache, &exact) && cached(&g.cache, &below));
    let recorded = db.store.purges_since(0, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].id,
            recorded[0].dept.as_str(),
            recorded[0].requested_by.as_str()
        ),
        (id, "tax", "dept:tax")
    );

    // A trailing slash is the same prefix; `/forms` is not `/formsx`.
    let (id2, removed) = call(&g, request(Some(&hpf), "hpf", prefix(&format!("{base}/"))))
        .await
        .unwrap();
    assert!(id2 > id);
    assert_eq!(removed, 2);
    assert!(!cached(&g.cache, &exact) && !cached(&g.cache, &below));
    assert!(cached(&g.cache, &sibling) && cached(&g.cache, &elsewhere));
    assert_eq!(g.purges.last_applied().await, id2);

    // Purging again finds nothing.
    let (_, removed) = call(&g, request(Some(&hpf), "", prefix(base)))
        .await
        .unwrap();
    assert_eq!(removed, 0);
}

#[tokio::test]
async fn tag_and_all_purge_the_callers_entries() {
    let db = sqlite().await;
    let g = gateway(db.store.clone()).await;
    let hpf = g.token("hpf").await;
    let a = put(
        &g.cache,
        "hpf",
        "forms",
        "/api/v1/depts/hpf/forms/1",
        "forms, y2025",
    );
    let b = put(
        &g.cache,
        "hpf",
        "forms",
        "/api/v1/depts/hpf/forms/2",
        "y2025",
    );
    let c = put(
        &g.cache,
        "hpf",
        "forms",
        "/api/v1/depts/hpf/forms/3",
        "y2024",
    );
    let theirs = put(
        &g.cache,
        "tax",
        "forms",
        "/api/v1/depts/tax/forms/1",
        "y2025",
    );

    let tag = Some(Target::Tag("y2025".into()));
    let (_, removed) = call(&g, request(Some(&hpf), "", tag)).await.unwrap();
    assert_eq!(removed, 2);
    assert!(!cached(&g.cache, &a) && !cached(&g.cache, &b));
    assert!(cached(&g.cache, &c) && cached(&g.cache, &theirs));

    let all = Some(Target::All(true));
    let (_, removed) = call(&g, request(Some(&hpf), "hpf", all)).await.unwrap();
    assert_eq!(removed, 1);
    assert!(!cached(&g.cache, &c));
    assert!(cached(&g.cache, &theirs), "all means all of the caller's");
    let kinds: Vec<(PurgeKind, String)> = db
        .store
        .purges_since(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.value))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (PurgeKind::Tag, "y2025".to_string()),
            (PurgeKind::All, String::new())
        ]
    );
}

#[tokio::test]
async fn refusals_record_and_remove_nothing() {
    let db = sqlite().await;
    let g = gateway(db.store.clone()).await;
    let hpf = g.token("hpf").await;
    let revoked = g.registry.issue_token("hpf", "old", "test").await.unwrap();
    g.registry.revoke_token(revoked.id).await.unwrap();
    let entry = put(&g.cache, "hpf", "forms", "/api/v1/depts/hpf/forms", "t");
    let tax_entry = put(&g.cache, "tax", "forms", "/api/v1/depts/tax/forms", "t");

    let refusals: Vec<(Request, Code, &str)> = vec![
        (
            request(None, "", Some(Target::All(true))),
            Code::Unauthenticated,
            "credentials",
        ),
        (
            request(Some("ost_hpf_nope"), "", Some(Target::All(true))),
            Code::Unauthenticated,
            "credentials",
        ),
        (
            request(Some(&revoked.token), "", Some(Target::All(true))),
            Code::Unauthenticated,
            "credentials",
        ),
        // Another department, named outright: refused before anything else.
        (
            request(Some(&hpf), "tax", Some(Target::All(true))),
            Code::PermissionDenied,
            "department `hpf` cannot purge cached answers of department `tax`",
        ),
        (
            request(Some(&hpf), "tax", None),
            Code::PermissionDenied,
            "cannot purge",
        ),
        (
            request(Some(&hpf), "", None),
            Code::InvalidArgument,
            "target: exactly one of `prefix`, `tag` or `all` must be set",
        ),
        (
            request(Some(&hpf), "", Some(Target::All(false))),
            Code::InvalidArgument,
            "all: must be true",
        ),
        (
            request(Some(&hpf), "", prefix("api/v1/depts/hpf")),
            Code::InvalidArgument,
            "prefix: must start with `/`",
        ),
        (
            request(Some(&hpf), "", prefix("/api/v1/depts/hpf?x=1")),
            Code::InvalidArgument,
            "prefix: must be a path without a query",
        ),
        (
            request(Some(&hpf), "", prefix("/api/\u{7}")),
            Code::InvalidArgument,
            "prefix: must not contain control characters",
        ),
        (
            request(Some(&hpf), "", prefix(&format!("/{}", "a".repeat(2000)))),
            Code::InvalidArgument,
            "prefix: must be at most 1024 bytes",
        ),
        (
            request(Some(&hpf), "", Some(Target::Tag(String::new()))),
            Code::InvalidArgument,
            "tag: must not be empty",
        ),
        (
            request(Some(&hpf), "", Some(Target::Tag("a,b".into()))),
            Code::InvalidArgument,
            "tag: must be one tag (no commas)",
        ),
        (
            request(Some(&hpf), "", Some(Target::Tag("x".repeat(300)))),
            Code::InvalidArgument,
            "tag: must be at most 256 bytes",
        ),
    ];
    for (n, (req, code, message)) in refusals.into_iter().enumerate() {
        let status = call(&g, req).await.unwrap_err();
        assert_eq!(status.code(), code, "#{n}: {status:?}");
        assert!(status.message().contains(message), "#{n}: {status:?}");
    }
    assert_eq!(
        db.store.last_purge_id().await.unwrap(),
        0,
        "nothing recorded"
    );
    assert!(cached(&g.cache, &entry) && cached(&g.cache, &tax_entry));

    // The store is gone: UNAVAILABLE, and nothing removed here either.
    db.sql.close().await;
    let status = call(&g, request(Some(&hpf), "", Some(Target::All(true))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("nothing was purged"),
        "{status:?}"
    );
    assert!(cached(&g.cache, &entry));
}

#[tokio::test]
async fn catch_up_applies_other_gateways_purges_once() {
    let db = sqlite().await;
    let a = gateway(db.store.clone()).await;
    // A purge recorded before B starts is not B's concern (its cache
    // started empty).
    a.purges
        .purge("hpf", &Purge::All, "operator:li")
        .await
        .unwrap();
    let b = gateway(db.store.clone()).await;
    let early = put(&b.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/1", "");
    assert_eq!(b.purges.catch_up().await.unwrap(), 0);
    assert!(cached(&b.cache, &early));

    let later = put(&b.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/2", "x");
    let kept = put(&b.cache, "hpf", "other", "/api/v1/depts/hpf/other", "");
    let p1 = a
        .purges
        .purge(
            "hpf",
            &Purge::Prefix("/api/v1/depts/hpf/forms".into()),
            "operator:li",
        )
        .await
        .unwrap();
    assert_eq!(p1.removed, 0, "A's own cache had nothing");
    let p2 = a
        .purges
        .purge("hpf", &Purge::Tag("x".into()), "operator:li")
        .await
        .unwrap();
    assert_eq!(b.purges.catch_up().await.unwrap(), 2);
    assert!(!cached(&b.cache, &early) && !cached(&b.cache, &later));
    assert!(cached(&b.cache, &kept));
    assert_eq!(b.purges.last_applied().await, p2.id);
    // Applied once: an entry stored after the catch-up stays.
    let again = put(&b.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/1", "");
    assert_eq!(b.purges.catch_up().await.unwrap(), 0);
    assert!(cached(&b.cache, &again));
}

#[tokio::test]
async fn catch_up_pages_through_many_purges() {
    let db = sqlite().await;
    let b = gateway(db.store.clone()).await;
    let keys: Vec<Key> = (0..PAGE + 20)
        .map(|n| {
            put(
                &b.cache,
                "hpf",
                "r",
                &format!("/api/v1/depts/hpf/r/{n}"),
                "",
            )
        })
        .collect();
    for n in 0..PAGE + 20 {
        db.store
            .append_purge(&NewPurge {
                dept: "hpf".into(),
                kind: PurgeKind::Prefix,
                value: format!("/api/v1/depts/hpf/r/{n}"),
                requested_by: "operator:li".into(),
                at: now_ms(),
            })
            .await
            .unwrap();
    }
    assert_eq!(b.purges.catch_up().await.unwrap(), u64::from(PAGE + 20));
    assert!(keys.iter().all(|k| !cached(&b.cache, k)));
    assert_eq!(
        b.purges.last_applied().await,
        db.store.last_purge_id().await.unwrap()
    );
}

// ----- two gateways on PostgreSQL -------------------------------------------------

const PG_URL_ENV: &str = "ONESTOP_TEST_PG_URL";
const DEFAULT_PG_URL: &str = "postgres://127.0.0.1:5432/test?sslmode=disable";

/// A fresh schema of the test database (as the store suite does), dropped
/// by [`Pg::drop`].
struct Pg {
    base: String,
    schema: String,
}

impl Pg {
    fn new() -> Pg {
        Pg {
            base: std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_string()),
            schema: format!("onestop_t_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.base, self.schema)
    }

    async fn open(&self) -> SqlStore {
        let opts = StoreOptions {
            max_connections: 4,
            timeout: Duration::from_secs(5),
        };
        match SqlStore::connect(&self.url(), opts).await {
            Ok(store) => store,
            Err(error) => panic!(
                "PostgreSQL at {} is required for this test: {error} (start it, or point {PG_URL_ENV} at another server)",
                self.base
            ),
        }
    }

    async fn drop(&self) {
        // tidy: allow(sql) clean-up: drops this test's own PostgreSQL schema
        use sqlx::{Connection as _, Executor as _};
        let conn = sqlx::PgConnection::connect(&self.base).await; // tidy: allow(sql) as above
        if let Ok(mut conn) = conn {
            let _ = conn
                .execute(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema).as_str())
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_through_one_gateway_reaches_another_within_a_second() {
    let pg = Pg::new();
    let outcome = tokio::spawn({
        let (a_store, b_store) = (pg.open().await, pg.open().await);
        async move {
            let a = gateway(Arc::new(a_store.clone())).await;
            let b = gateway(Arc::new(b_store.clone())).await;
            let hpf = a.token("hpf").await;
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let runner = tokio::spawn(b.purges.clone().run(async {
                let _ = stop_rx.await;
            }));
            // Let B's first poll pass, so that only the notification can be quick.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let on_b = put(&b.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/7", "");
            let kept = put(&b.cache, "tax", "forms", "/api/v1/depts/hpf/forms/7", "");
            let on_a = put(&a.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/7", "");

            let started = Instant::now();
            let (_, removed) = call(
                &a,
                request(Some(&hpf), "", prefix("/api/v1/depts/hpf/forms")),
            )
            .await
            .unwrap();
            assert_eq!(removed, 1);
            assert!(!cached(&a.cache, &on_a), "gone on A when the call returns");
            while cached(&b.cache, &on_b) {
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "gateway B still serves the purged entry after 1 s"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let latency = started.elapsed();
            println!("cross-gateway purge latency: {latency:?}");
            assert!(cached(&b.cache, &kept), "another department's entry stays");
            let _ = stop_tx.send(());
            runner.await.unwrap();
            a_store.close().await;
            b_store.close().await;
        }
    })
    .await;
    pg.drop().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
