//! The `onestop validate` command as operators run it.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use onestop_tests::onestop_bin;

fn validate(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(onestop_bin())
        .arg("validate")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_shipped_config_is_valid() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let (code, out) = validate(&config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (1 departments, 2 routes)"), "{out}");
}

#[test]
fn problems_are_reported_as_file_line_col_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("departments")).unwrap();
    std::fs::write(
        dir.path().join("departments/a.toml"),
        "[department]\nid = \"a\"\nname = \"A\"\n\n[[routes]]\nid = \"r\"\npath = \"/x\"\nservice = \"missing\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("departments/b.toml"),
        "[department]\nid = \"b\"\nname = \"B\"\nmax_concurency = 3\n",
    )
    .unwrap();
    let (code, out) = validate(dir.path());
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let a = dir.path().join("departments/a.toml");
    let b = dir.path().join("departments/b.toml");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:4:1: ", b.display()))
                && l.contains("max_concurency")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:8:11: ", a.display()))
                && l.contains("unknown service `missing`")),
        "{out}"
    );
}

/// `onestop audit verify` on the store named by a configuration: an intact
/// access audit log passes with its count; a record edited behind the
/// store's back is named, with exit 1.
#[test]
fn audit_verify_names_an_edited_reordered_or_deleted_record() {
    use onestop_store::{AccessAuditStore, NewAccessRecord, SqlStore, StoreOptions};
    use sqlx::{Connection, Executor};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("departments")).unwrap();
    let db = dir.path().join("store").join("onestop.db");
    let url = format!("sqlite:{}", db.display());
    std::fs::write(
        config.join("onestop.toml"),
        format!("[sharing.audit]\nstore_url = \"{url}\"\n"),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqlStore::connect(&url, StoreOptions::default())
            .await
            .unwrap();
        for batch in 0..3 {
            let records: Vec<NewAccessRecord> = (0..4)
                .map(|n| NewAccessRecord {
                    at: 1_700_000_000_000 + batch * 4 + n,
                    consumer: "channel:app".into(),
                    citizen: format!("c-{n}"),
                    item: "hpf/balance".into(),
                    fields: vec!["name".into(), "balance".into()],
                    purpose: "loan".into(),
                    agreement: None,
                    request_id: format!("req-{batch}-{n}"),
                    outcome: "ok".into(),
                })
                .collect();
            store.append_access(&records).await.unwrap();
        }
        store.close().await;
    });
    let verify = || {
        let out = Command::new(onestop_bin())
            .args(["audit", "verify", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    let (code, out) = verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("audit chain ok: 12 records, last seq 12, last hash "),
        "{out}"
    );

    let sql = |statements: &[&str]| {
        runtime.block_on(async {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for statement in statements {
                conn.execute(*statement).await.unwrap();
            }
            conn.close().await.unwrap();
        });
    };
    let broken_at = |seq: i64| {
        let (code, out) = verify();
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(&format!("audit chain broken at record {seq}: ")),
            "{out}"
        );
        println!("{}", out.trim());
    };
    let clean = || {
        let (code, out) = verify();
        assert_eq!(code, 0, "{out}");
    };

    // Edited: named; edited back: clean again.
    sql(&["UPDATE access_audit SET purpose = 'marketing' WHERE seq = 7"]);
    broken_at(7);
    sql(&["UPDATE access_audit SET purpose = 'loan' WHERE seq = 7"]);
    clean();
    // Reordered (records 2 and 3 trade places): the first out of place named.
    let swap = [
        "UPDATE access_audit SET seq = -1 WHERE seq = 2",
        "UPDATE access_audit SET seq = 2 WHERE seq = 3",
        "UPDATE access_audit SET seq = 3 WHERE seq = -1",
    ];
    sql(&swap);
    broken_at(2);
    sql(&swap);
    clean();
    // Deleted: the record after the gap named.
    sql(&["DELETE FROM access_audit WHERE seq = 10"]);
    broken_at(11);
}
