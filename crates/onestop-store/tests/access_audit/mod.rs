//! [`AccessAuditStore`]: the chained access audit log, on both backends
//! (declared from `suite.rs`, whose `on_both!` it uses), and
//! [`verify_store`] against records tampered with behind the store's back.

use std::collections::BTreeMap;

use onestop_store::{
    AccessAuditStore, AccessRecord, GENESIS, NewAccessRecord, StoreError, VerifyError, chain_hash,
    verify_store,
};

use crate::common::Fixture;

on_both!(
    access_batches_chain_and_read_back,
    concurrent_access_appenders_form_one_chain,
    citizen_access_is_per_citizen_newest_first,
    verify_names_the_first_tampered_record,
);

/// Record `n` of `citizen`.
fn access(n: i64, citizen: &str) -> NewAccessRecord {
    NewAccessRecord {
        at: 50_000 + n,
        consumer: if n % 2 == 0 {
            "channel:wechat".into()
        } else {
            "dept:tax".into()
        },
        citizen: citizen.into(),
        item: "hpf/balance".into(),
        fields: vec!["姓名".into(), "balance".into(), format!("f{n}")],
        purpose: "贷款审批".into(),
        agreement: (n % 3 != 0).then(|| format!("agr-{}", n % 3)),
        request_id: format!("req-{n}"),
        outcome: "ok".into(),
    }
}

/// Asserts that `records` are 1.., each chained to the one before.
fn assert_chain(records: &[AccessRecord]) {
    let mut prev = GENESIS.to_string();
    for (seq, record) in (1_i64..).zip(records) {
        assert_eq!(record.seq, seq);
        assert_eq!(record.prev_hash, prev, "record {seq}");
        let content = NewAccessRecord {
            at: record.at,
            consumer: record.consumer.clone(),
            citizen: record.citizen.clone(),
            item: record.item.clone(),
            fields: record.fields.clone(),
            purpose: record.purpose.clone(),
            agreement: record.agreement.clone(),
            request_id: record.request_id.clone(),
            outcome: record.outcome.clone(),
        };
        assert_eq!(
            record.hash,
            chain_hash(&prev, seq, &content),
            "record {seq}"
        );
        prev.clone_from(&record.hash);
    }
}

fn content_of(record: &AccessRecord) -> (i64, &str, &str, &[String], Option<&str>, &str) {
    (
        record.at,
        record.consumer.as_str(),
        record.citizen.as_str(),
        record.fields.as_slice(),
        record.agreement.as_deref(),
        record.request_id.as_str(),
    )
}

async fn access_batches_chain_and_read_back(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.last_access_seq().await.unwrap(), 0);
    assert!(store.append_access(&[]).await.unwrap().is_empty());
    assert!(store.access_records(0, 10).await.unwrap().is_empty());

    let first: Vec<NewAccessRecord> = (1..=3).map(|n| access(n, "c-1")).collect();
    let second: Vec<NewAccessRecord> = (4..=8).map(|n| access(n, "c-2")).collect();
    let a = store.append_access(&first).await.unwrap();
    let b = store.append_access(&second).await.unwrap();
    assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(b.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5, 6, 7, 8]);
    assert_eq!(b[0].prev_hash, a[2].hash);

    let stored = store.access_records(0, 100).await.unwrap();
    // Exactly what append returned: every field as written.
    assert_eq!(stored, [a, b].concat());
    assert_chain(&stored);
    for (record, new) in stored.iter().zip(first.iter().chain(&second)) {
        assert_eq!(
            content_of(record),
            (
                new.at,
                new.consumer.as_str(),
                new.citizen.as_str(),
                new.fields.as_slice(),
                new.agreement.as_deref(),
                new.request_id.as_str()
            )
        );
    }
    assert!(stored.iter().any(|r| r.agreement.is_none()));
    assert_eq!(store.last_access_seq().await.unwrap(), 8);

    // Paging forward.
    let page = store.access_records(3, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(store.access_records(8, 10).await.unwrap().is_empty());

    // A store opened again continues the chain.
    let again = fx.open_again().await;
    let c = again.append_access(&[access(9, "c-1")]).await.unwrap();
    assert_eq!(c[0].seq, 9);
    assert_eq!(c[0].prev_hash, stored[7].hash);
    let report = verify_store(store, 4).await.unwrap();
    assert_eq!(report.records, 9);
    assert_eq!(report.last_seq, 9);
    assert_eq!(report.last_hash, c[0].hash);
}

async fn concurrent_access_appenders_form_one_chain(fx: Fixture) {
    const TASKS: i64 = 4;
    const RECORDS: i64 = 50;
    const BATCH: usize = 5;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        // Separate stores for half the tasks: separate pools, as separate
        // gateways would have.
        let store = if task % 2 == 0 {
            fx.store.clone()
        } else {
            fx.open_again().await
        };
        handles.push(tokio::spawn(async move {
            let records: Vec<NewAccessRecord> = (0..RECORDS)
                .map(|n| access(task * 1_000 + n, &format!("task-{task}")))
                .collect();
            for batch in records.chunks(BATCH) {
                let stored = store.append_access(batch).await.unwrap();
                // A batch is contiguous.
                assert_eq!(stored.len(), batch.len());
                for pair in stored.windows(2) {
                    assert_eq!(pair[1].seq, pair[0].seq + 1);
                }
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let all = fx.store.access_records(0, 1_000).await.unwrap();
    assert_eq!(all.len(), (TASKS * RECORDS) as usize);
    assert_chain(&all);
    // Each task's records in the order it appended them.
    let mut by_task: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for record in &all {
        by_task
            .entry(record.citizen.as_str())
            .or_default()
            .push(record.request_id.as_str());
    }
    for task in 0..TASKS {
        let want: Vec<String> = (0..RECORDS)
            .map(|n| format!("req-{}", task * 1_000 + n))
            .collect();
        assert_eq!(by_task[format!("task-{task}").as_str()], want);
    }
    let report = verify_store(&fx.store, 64).await.unwrap();
    assert_eq!(report.records, (TASKS * RECORDS) as u64);
}

async fn citizen_access_is_per_citizen_newest_first(fx: Fixture) {
    let store = &fx.store;
    // a: 1, 3, 5, 7, 9, 11; b: 2, 4, …
    let batch: Vec<NewAccessRecord> = (1..=12)
        .map(|n| access(n, if n % 2 == 1 { "a" } else { "b" }))
        .collect();
    store.append_access(&batch).await.unwrap();

    let seqs = |records: Vec<AccessRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
    let page = store.citizen_access("a", 4, None).await.unwrap();
    assert!(page.iter().all(|r| r.citizen == "a"));
    assert_eq!(seqs(page), [11, 9, 7, 5]);
    let rest = store.citizen_access("a", 4, Some(5)).await.unwrap();
    assert_eq!(seqs(rest), [3, 1]);
    assert!(
        store
            .citizen_access("a", 4, Some(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        seqs(store.citizen_access("b", 2, None).await.unwrap()),
        [12, 10]
    );
    assert!(
        store
            .citizen_access("nobody", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    // A prefix is another citizen.
    store.append_access(&[access(13, "ab")]).await.unwrap();
    assert_eq!(
        seqs(store.citizen_access("a", 1, None).await.unwrap()),
        [11]
    );
}

/// Empties the log and appends records 1..=10 again.
async fn fresh_ten(fx: &Fixture) -> Vec<AccessRecord> {
    fx.raw_execute("DELETE FROM access_audit").await;
    let batch: Vec<NewAccessRecord> = (1..=10).map(|n| access(n, "c-9")).collect();
    let stored = fx.store.append_access(&batch).await.unwrap();
    assert_eq!(stored[0].seq, 1);
    stored
}

/// The record [`verify_store`] names, and why.
async fn broken_at(fx: &Fixture) -> (i64, String) {
    // Pages of 4, so that some breaks are found on a later page.
    match verify_store(&fx.store, 4).await {
        Err(VerifyError::Broken(broken)) => (broken.seq, broken.reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

async fn verify_names_the_first_tampered_record(fx: Fixture) {
    // Untouched.
    let stored = fresh_ten(&fx).await;
    let report = verify_store(&fx.store, 4).await.unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.last_hash.as_str()),
        (10, 10, stored[9].hash.as_str())
    );
    let empty = {
        fx.raw_execute("DELETE FROM access_audit").await;
        verify_store(&fx.store, 4).await.unwrap()
    };
    assert_eq!((empty.records, empty.last_seq), (0, 0));
    assert_eq!(empty.last_hash, GENESIS);

    // One field of record 5 edited.
    fresh_ten(&fx).await;
    fx.raw_execute("UPDATE access_audit SET purpose = 'marketing' WHERE seq = 5")
        .await;
    let (seq, reason) = broken_at(&fx).await;
    assert_eq!(seq, 5, "{reason}");
    assert!(reason.contains("edited"), "{reason}");

    // A field list edited (record 8, on the second page).
    fresh_ten(&fx).await;
    fx.raw_execute(r#"UPDATE access_audit SET fields = '["姓名"]' WHERE seq = 8"#)
        .await;
    assert_eq!(broken_at(&fx).await.0, 8);

    // Record 5 deleted: the gap is at 6.
    fresh_ten(&fx).await;
    fx.raw_execute("DELETE FROM access_audit WHERE seq = 5")
        .await;
    let (seq, reason) = broken_at(&fx).await;
    assert_eq!(seq, 6, "{reason}");
    assert!(reason.contains("record 5 is missing"), "{reason}");

    // Records 3 and 7 swapped: the first of them is named.
    fresh_ten(&fx).await;
    fx.raw_execute("UPDATE access_audit SET seq = -3 WHERE seq = 3")
        .await;
    fx.raw_execute("UPDATE access_audit SET seq = 3 WHERE seq = 7")
        .await;
    fx.raw_execute("UPDATE access_audit SET seq = 7 WHERE seq = -3")
        .await;
    let (seq, reason) = broken_at(&fx).await;
    assert_eq!(seq, 3, "{reason}");
    assert!(reason.contains("prev_hash"), "{reason}");

    // Record 5 edited and its hash recomputed: the next record names it.
    let stored = fresh_ten(&fx).await;
    let five = &stored[4];
    let forged = NewAccessRecord {
        at: five.at,
        consumer: five.consumer.clone(),
        citizen: "someone-else".into(),
        item: five.item.clone(),
        fields: five.fields.clone(),
        purpose: five.purpose.clone(),
        agreement: five.agreement.clone(),
        request_id: five.request_id.clone(),
        outcome: five.outcome.clone(),
    };
    let hash = chain_hash(&five.prev_hash, 5, &forged);
    fx.raw_execute(&format!(
        "UPDATE access_audit SET citizen = 'someone-else', hash = '{hash}' WHERE seq = 5"
    ))
    .await;
    let (seq, reason) = broken_at(&fx).await;
    assert_eq!(seq, 6, "{reason}");
    assert!(reason.contains("hash of record 5"), "{reason}");

    // An undecodable row is an error naming it, not a panic.
    fresh_ten(&fx).await;
    fx.raw_execute("UPDATE access_audit SET fields = 'not json' WHERE seq = 2")
        .await;
    match verify_store(&fx.store, 4).await {
        Err(VerifyError::Store(StoreError::Corrupt(m))) => {
            assert!(m.contains("access_audit.fields of record 2"), "{m}");
        }
        other => panic!("expected a corrupt record, got {other:?}"),
    }
}
