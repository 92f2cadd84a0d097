//! Unit tests that need a real (SQLite) pool; the backend-independent
//! suite is `tests/suite.rs`.

#![allow(clippy::unwrap_used)]

use sqlx::Row;

use super::*;

fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 2,
        timeout: Duration::from_millis(1500),
    }
}

#[tokio::test]
async fn sqlite_file_is_wal_with_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/store.db", dir.path().display());
    let store = SqlStore::connect(&url, opts()).await.unwrap();
    let mut conn = store.inner.pool.acquire().await.unwrap();
    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>(0).unwrap(), "wal");
    let row = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 1500);
    let row = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 1);
}

#[tokio::test]
async fn in_memory_store_keeps_its_data_on_its_one_connection() {
    let store = SqlStore::connect("sqlite::memory:", opts()).await.unwrap();
    let audit = NewAdminAudit {
        operator: "ops".into(),
        action: "config.route.put".into(),
        target: "hpf/balance".into(),
        detail: "{}".into(),
        at: 7,
    };
    let id = store.append_admin_audit(&audit).await.unwrap();
    let listed = store.admin_audit(10, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(store.inner.pool.size(), 1);
}

#[tokio::test]
async fn a_call_past_its_deadline_is_unavailable() {
    let opts = StoreOptions {
        timeout: Duration::from_millis(100),
        ..opts()
    };
    let store = SqlStore::connect("sqlite::memory:", opts).await.unwrap();
    let started = std::time::Instant::now();
    let slow = store
        .bounded("slow", async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await;
    assert!(
        matches!(&slow, Err(StoreError::Unavailable(m)) if m.starts_with("slow did not finish within 300ms")),
        "{slow:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_urls_are_rejected_before_connecting() {
    for url in ["mysql://db/x", "sqlite:", "postgres://db/x?schema=a-b"] {
        let error = SqlStore::connect(url, opts()).await.unwrap_err();
        assert!(matches!(error, StoreError::Other(_)), "{url}: {error:?}");
    }
}

#[test]
fn default_options_are_sensible() {
    let opts = StoreOptions::default();
    assert!(opts.max_connections >= 2);
    assert_eq!(opts.timeout, Duration::from_secs(5));
    assert_eq!(
        pools::set_search_path("onestop_x"),
        "SET search_path TO \"onestop_x\""
    );
}
