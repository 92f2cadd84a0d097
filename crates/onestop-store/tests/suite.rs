//! The store suite: every test runs on SQLite and on PostgreSQL (`name::sqlite`,
//! `name::postgres`), a few on PostgreSQL only. See `common` for the harness;
//! the tests of cases and ratings are in `cases`, those of the access audit
//! log in `access_audit`, those of sharing agreements and consents in
//! `sharing`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    Fixture, Kind, assert_quiet, audit, config, decision, instance, next_change, opts, service,
    spec, spec_v2, token,
};
use onestop_core::registry::{ApprovalStatus, Verdict};
use onestop_store::{
    Backend, Change, DeptTokenRecord, LeaseRenewal, NewPurge, PurgeKind, PurgeRecord, SqlStore,
    Store, StoreError, StoreOptions,
};

/// `name::sqlite` and `name::postgres` for each test function `name`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::common::run(crate::common::Kind::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::common::run(crate::common::Kind::Postgres, super::$name).await;
            }
        }
    )*};
}

/// `name::postgres` for tests of what only PostgreSQL does.
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::common::run(crate::common::Kind::Postgres, super::$name).await;
            }
        }
    )*};
}

// After the macros, which they use.
mod access_audit;
mod appeals;
mod assessment;
mod cases;
mod messages;
mod sharing;

on_both!(
    ping_backend_and_close,
    services_round_trip,
    put_service_is_compare_and_set,
    concurrent_compare_and_set_has_one_winner,
    instances_upsert_and_delete,
    put_instances_needs_the_service,
    renew_leases_keeps_the_later_expiry,
    purge_lapsed_instances_removes_only_lapsed,
    decide_approve_sets_the_approved_spec,
    decide_reject_keeps_the_approved_spec,
    decide_conflicts_leave_no_trace,
    decisions_newest_first_and_by_dept,
    dept_tokens_add_revoke,
    config_versions_number_and_page,
    admin_audit_pages_newest_first,
    changes_announce_local_writes,
    corrupt_rows_are_errors_not_panics,
    reopening_keeps_the_data,
    purges_append_in_order_and_page,
    purges_prune_by_time_and_never_reuse_ids,
    purges_announce_a_change,
);

on_postgres!(
    another_store_hears_changes_within_a_second,
    stores_on_other_schemas_neither_see_nor_hear,
    listener_and_pool_recover_from_killed_connections,
    dropping_the_store_stops_its_connections,
    concurrent_purges_become_visible_in_id_order,
    another_store_hears_a_purge,
);

/// The mutable part of an instance, for comparisons.
#[derive(Debug, PartialEq, Eq)]
struct InstanceLike {
    weight: u32,
    lease: i64,
    registered: i64,
}

impl InstanceLike {
    fn of(i: &onestop_store::InstanceRecord) -> InstanceLike {
        InstanceLike {
            weight: i.weight,
            lease: i.lease_expires_at,
            registered: i.registered_at,
        }
    }
}

async fn ping_backend_and_close(fx: Fixture) {
    fx.store.ping().await.unwrap();
    let want = match fx.kind {
        Kind::Sqlite => Backend::Sqlite,
        Kind::Postgres => Backend::Postgres,
    };
    assert_eq!(fx.store.backend(), want);
    let rows = fx.store.load_registry().await.unwrap();
    assert!(rows.services.is_empty() && rows.instances.is_empty() && rows.tokens.is_empty());

    let clone = fx.store.clone();
    clone.close().await;
    assert!(
        matches!(fx.store.ping().await, Err(StoreError::Unavailable(_))),
        "a closed store must be unavailable"
    );
}

async fn services_round_trip(fx: Fixture) {
    let store = &fx.store;
    let tax = service("tax", "main", 1);
    let mut hpf = service("hpf", "main", 3);
    hpf.status = ApprovalStatus::Approved;
    hpf.spec = spec_v2("hpf", "main");
    hpf.approved_spec = Some(spec("hpf", "main"));
    hpf.approved_revision = Some(2);
    store.put_service(&tax, None).await.unwrap();
    store.put_service(&hpf, None).await.unwrap();

    let rows = store.load_registry().await.unwrap();
    // Ordered by dept, service; every field as written.
    assert_eq!(rows.services, vec![hpf.clone(), tax.clone()]);

    assert!(store.delete_service("tax", "main").await.unwrap());
    assert!(!store.delete_service("tax", "main").await.unwrap());
    assert_eq!(store.load_registry().await.unwrap().services, vec![hpf]);
}

async fn put_service_is_compare_and_set(fx: Fixture) {
    let store = &fx.store;
    let v1 = service("hpf", "main", 1);
    store.put_service(&v1, None).await.unwrap();

    let again = store.put_service(&v1, None).await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("hpf/main already exists")),
        "{again:?}"
    );

    let mut v2 = service("hpf", "main", 2);
    v2.spec = spec_v2("hpf", "main");
    let wrong = store.put_service(&v2, Some(7)).await;
    assert!(
        matches!(&wrong, Err(StoreError::Conflict(m)) if m.contains("at revision 1, not 7")),
        "{wrong:?}"
    );
    assert_eq!(
        store.load_registry().await.unwrap().services,
        vec![v1.clone()]
    );

    store.put_service(&v2, Some(1)).await.unwrap();
    assert_eq!(
        store.load_registry().await.unwrap().services,
        vec![v2.clone()]
    );

    // The guard now wants 2: a writer still holding 1 loses.
    let stale = store.put_service(&v1, Some(1)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(store.load_registry().await.unwrap().services, vec![v2]);

    let missing = store.put_service(&service("tax", "main", 2), Some(1)).await;
    assert!(
        matches!(&missing, Err(StoreError::Conflict(m)) if m.contains("tax/main does not exist")),
        "{missing:?}"
    );
}

async fn concurrent_compare_and_set_has_one_winner(fx: Fixture) {
    fx.store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    let mut writers = Vec::new();
    for n in 0..8 {
        let store = fx.store.clone();
        writers.push(tokio::spawn(async move {
            let mut next = service("hpf", "main", 2);
            next.updated_at = 9_000 + n;
            store.put_service(&next, Some(1)).await.map(|()| n)
        }));
    }
    let mut won = Vec::new();
    let mut conflicts = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(n) => won.push(n),
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "winners: {won:?}");
    assert_eq!(conflicts, 7);
    let stored = &fx.store.load_registry().await.unwrap().services[0];
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.updated_at, 9_000 + won[0]);
}

async fn instances_upsert_and_delete(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    let a = instance("hpf", "main", "127.0.0.1:9001", 1_000);
    let b = instance("hpf", "main", "127.0.0.1:9002", 2_000);
    store.put_instances(&[b.clone(), a.clone()]).await.unwrap();
    assert_eq!(
        store.load_registry().await.unwrap().instances,
        vec![a.clone(), b.clone()]
    );

    // An update changes weight and lease; the first registration time stays.
    let mut a2 = a.clone();
    a2.weight = 3;
    a2.lease_expires_at = 4_000;
    a2.registered_at = 3_500;
    store.put_instances(&[a2.clone()]).await.unwrap();
    let stored = store.load_registry().await.unwrap().instances;
    let want_a = InstanceLike {
        weight: 3,
        lease: 4_000,
        registered: 500,
    };
    assert_eq!(InstanceLike::of(&stored[0]), want_a);
    assert_eq!(stored[1], b);

    let gone = store
        .delete_instances(
            "hpf",
            "main",
            &["127.0.0.1:9001".to_string(), "127.0.0.1:7777".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(
        store
            .delete_instances("hpf", "main", &["127.0.0.1:9001".to_string()])
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.load_registry().await.unwrap().instances, vec![b]);

    // Deleting the service takes its instances with it.
    assert!(store.delete_service("hpf", "main").await.unwrap());
    assert!(store.load_registry().await.unwrap().instances.is_empty());
}

async fn put_instances_needs_the_service(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    let unknown = store
        .put_instances(&[instance("hpf", "ghost", "127.0.0.1:1", 1)])
        .await;
    assert!(
        matches!(&unknown, Err(StoreError::NotFound(m)) if m.contains("hpf/ghost")),
        "{unknown:?}"
    );
    // All or nothing: the known service's instance is not written either.
    let mixed = store
        .put_instances(&[
            instance("hpf", "main", "127.0.0.1:1", 1),
            instance("tax", "main", "127.0.0.1:2", 1),
        ])
        .await;
    assert!(matches!(mixed, Err(StoreError::NotFound(_))), "{mixed:?}");
    assert!(store.load_registry().await.unwrap().instances.is_empty());
}

async fn renew_leases_keeps_the_later_expiry(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    store
        .put_instances(&[
            instance("hpf", "main", "10.0.0.1:80", 1_000),
            instance("hpf", "main", "10.0.0.2:80", 5_000),
        ])
        .await
        .unwrap();
    let renew = |addr: &str, service: &str, expires_at| LeaseRenewal {
        dept: "hpf".into(),
        service: service.into(),
        addr: addr.into(),
        expires_at,
    };
    store
        .renew_leases(&[
            renew("10.0.0.1:80", "main", 3_000),
            renew("10.0.0.2:80", "main", 2_000),
            renew("10.0.0.9:80", "main", 9_999),
            renew("10.0.0.1:80", "ghost", 9_999),
        ])
        .await
        .unwrap();
    let leases: Vec<(String, i64)> = store
        .load_registry()
        .await
        .unwrap()
        .instances
        .into_iter()
        .map(|i| (i.addr, i.lease_expires_at))
        .collect();
    assert_eq!(
        leases,
        vec![
            ("10.0.0.1:80".to_string(), 3_000),
            ("10.0.0.2:80".to_string(), 5_000)
        ]
    );
}

async fn purge_lapsed_instances_removes_only_lapsed(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    store
        .put_service(&service("tax", "main", 1), None)
        .await
        .unwrap();
    store
        .put_instances(&[
            instance("hpf", "main", "10.0.0.1:80", 100),
            instance("hpf", "main", "10.0.0.2:80", 200),
            instance("tax", "main", "10.0.0.3:80", 300),
        ])
        .await
        .unwrap();
    assert_eq!(store.purge_lapsed_instances(200).await.unwrap(), 1);
    assert_eq!(store.purge_lapsed_instances(200).await.unwrap(), 0);
    let left: Vec<String> = store
        .load_registry()
        .await
        .unwrap()
        .instances
        .into_iter()
        .map(|i| i.addr)
        .collect();
    assert_eq!(left, vec!["10.0.0.2:80", "10.0.0.3:80"]);
    assert_eq!(store.purge_lapsed_instances(1_000).await.unwrap(), 2);
    assert!(store.load_registry().await.unwrap().instances.is_empty());
    // Services stay.
    assert_eq!(store.load_registry().await.unwrap().services.len(), 2);
}

async fn decide_approve_sets_the_approved_spec(fx: Fixture) {
    let store = &fx.store;
    let pending = service("hpf", "main", 1);
    store.put_service(&pending, None).await.unwrap();
    let approve = decision("hpf", "main", 1, Verdict::Approve);
    let decided = store.decide(&approve).await.unwrap();

    let want = onestop_store::ServiceRecord {
        status: ApprovalStatus::Approved,
        approved_spec: Some(pending.spec.clone()),
        approved_revision: Some(1),
        updated_at: approve.at,
        ..pending.clone()
    };
    assert_eq!(decided, want);
    assert_eq!(store.load_registry().await.unwrap().services, vec![want]);

    let decisions = store.decisions(None, 10).await.unwrap();
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!(
        (d.dept.as_str(), d.service.as_str(), d.revision, d.verdict),
        ("hpf", "main", 1, Verdict::Approve)
    );
    assert_eq!(d.surface_hash, pending.spec.surface_hash());
    assert_eq!(
        (d.operator.as_str(), d.reason.as_str(), d.at),
        ("operator-li", approve.reason.as_str(), approve.at)
    );
}

async fn decide_reject_keeps_the_approved_spec(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    let approved = store
        .decide(&decision("hpf", "main", 1, Verdict::Approve))
        .await
        .unwrap();

    // Revision 2 changes the surface and waits for approval again.
    let v2 = onestop_store::ServiceRecord {
        revision: 2,
        spec: spec_v2("hpf", "main"),
        status: ApprovalStatus::Pending,
        ..approved.clone()
    };
    store.put_service(&v2, Some(1)).await.unwrap();
    let rejected = store
        .decide(&decision("hpf", "main", 2, Verdict::Reject))
        .await
        .unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    assert_eq!(rejected.revision, 2);
    assert_eq!(rejected.spec, spec_v2("hpf", "main"));
    assert_eq!(rejected.approved_spec, Some(spec("hpf", "main")));
    assert_eq!(rejected.approved_revision, Some(1));
    assert_eq!(
        store.load_registry().await.unwrap().services,
        vec![rejected]
    );

    let decisions = store.decisions(Some("hpf"), 10).await.unwrap();
    let summary: Vec<(i64, Verdict, String)> = decisions
        .iter()
        .map(|d| (d.revision, d.verdict, d.surface_hash.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (2, Verdict::Reject, spec_v2("hpf", "main").surface_hash()),
            (1, Verdict::Approve, spec("hpf", "main").surface_hash()),
        ]
    );
    assert_ne!(summary[0].2, summary[1].2);
}

async fn decide_conflicts_leave_no_trace(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();

    let wrong = store
        .decide(&decision("hpf", "main", 2, Verdict::Approve))
        .await;
    assert!(
        matches!(&wrong, Err(StoreError::Conflict(m)) if m.contains("revision 1 (pending)")),
        "{wrong:?}"
    );
    store
        .decide(&decision("hpf", "main", 1, Verdict::Reject))
        .await
        .unwrap();
    let twice = store
        .decide(&decision("hpf", "main", 1, Verdict::Approve))
        .await;
    assert!(
        matches!(&twice, Err(StoreError::Conflict(m)) if m.contains("revision 1 (rejected)")),
        "{twice:?}"
    );
    let unknown = store
        .decide(&decision("hpf", "ghost", 1, Verdict::Approve))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );

    // Only the one decision that succeeded was recorded, and the service
    // is as it was left by it.
    let decisions = store.decisions(None, 10).await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].verdict, Verdict::Reject);
    let stored = &store.load_registry().await.unwrap().services[0];
    assert_eq!(stored.status, ApprovalStatus::Rejected);
    assert_eq!(stored.approved_spec, None);
}

async fn decisions_newest_first_and_by_dept(fx: Fixture) {
    let store = &fx.store;
    for (dept, svc) in [("hpf", "a"), ("tax", "b"), ("hpf", "c")] {
        store
            .put_service(&service(dept, svc, 1), None)
            .await
            .unwrap();
        store
            .decide(&decision(dept, svc, 1, Verdict::Approve))
            .await
            .unwrap();
    }
    let keys = |list: Vec<onestop_store::DecisionRecord>| -> Vec<String> {
        list.into_iter()
            .map(|d| format!("{}/{}", d.dept, d.service))
            .collect()
    };
    let all = store.decisions(None, 10).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{all:?}");
    assert_eq!(keys(all), vec!["hpf/c", "tax/b", "hpf/a"]);
    assert_eq!(
        keys(store.decisions(Some("hpf"), 10).await.unwrap()),
        vec!["hpf/c", "hpf/a"]
    );
    assert_eq!(keys(store.decisions(None, 1).await.unwrap()), vec!["hpf/c"]);
    assert_eq!(
        keys(store.decisions(Some("tax"), 10).await.unwrap()),
        vec!["tax/b"]
    );
    assert!(store.decisions(Some("none"), 10).await.unwrap().is_empty());
}

async fn dept_tokens_add_revoke(fx: Fixture) {
    let store = &fx.store;
    let t1 = token("hpf", 'a');
    let t2 = token("tax", 'b');
    let id1 = store.add_dept_token(&t1).await.unwrap();
    let id2 = store.add_dept_token(&t2).await.unwrap();
    assert!(id2 > id1, "{id1} {id2}");

    let mut dup = token("tax", 'a');
    dup.label = "another label".into();
    let dup = store.add_dept_token(&dup).await;
    assert!(
        matches!(&dup, Err(StoreError::Conflict(m)) if m.contains("already stored")),
        "{dup:?}"
    );

    store.revoke_dept_token(id1, 50).await.unwrap();
    // Revoking again keeps the first time.
    store.revoke_dept_token(id1, 60).await.unwrap();
    let missing = store.revoke_dept_token(id2 + 100, 70).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    let record = |id, t: &onestop_store::NewDeptToken, revoked_at| DeptTokenRecord {
        id,
        dept: t.dept.clone(),
        label: t.label.clone(),
        token_sha256: t.token_sha256.clone(),
        created_by: t.created_by.clone(),
        created_at: t.created_at,
        revoked_at,
    };
    assert_eq!(
        store.load_registry().await.unwrap().tokens,
        vec![record(id1, &t1, Some(50)), record(id2, &t2, None)]
    );
}

async fn config_versions_number_and_page(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.latest_config_version().await.unwrap(), None);
    assert_eq!(store.config_version(1).await.unwrap(), None);
    assert!(store.config_versions(10, None).await.unwrap().is_empty());

    let mut appended = Vec::new();
    for n in 1..=5 {
        let v = store.append_config_version(&config(n)).await.unwrap();
        assert_eq!(v.meta.version, n);
        assert_eq!(v.files, config(n).files);
        appended.push(v);
    }
    let numbers = |list: Vec<onestop_store::ConfigVersionMeta>| -> Vec<i64> {
        list.into_iter().map(|m| m.version).collect()
    };
    let all = store.config_versions(10, None).await.unwrap();
    assert_eq!(all[0], appended[4].meta);
    assert_eq!(numbers(all), vec![5, 4, 3, 2, 1]);
    assert_eq!(
        numbers(store.config_versions(2, None).await.unwrap()),
        vec![5, 4]
    );
    assert_eq!(
        numbers(store.config_versions(2, Some(4)).await.unwrap()),
        vec![3, 2]
    );
    assert_eq!(
        numbers(store.config_versions(10, Some(2)).await.unwrap()),
        vec![1]
    );
    assert!(store.config_versions(10, Some(1)).await.unwrap().is_empty());

    assert_eq!(
        store.config_version(3).await.unwrap().as_ref(),
        Some(&appended[2])
    );
    assert_eq!(
        store.latest_config_version().await.unwrap().as_ref(),
        Some(&appended[4])
    );
    assert_eq!(store.config_version(99).await.unwrap(), None);
    assert_eq!(store.config_version(0).await.unwrap(), None);
}

async fn admin_audit_pages_newest_first(fx: Fixture) {
    let store = &fx.store;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(store.append_admin_audit(&audit(n)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let page = store.admin_audit(2, None).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].id, ids[4]);
    assert_eq!(
        (
            page[0].operator.as_str(),
            page[0].action.as_str(),
            page[0].target.as_str(),
            page[0].detail.as_str(),
            page[0].at
        ),
        (
            "op-5",
            "config.route.put",
            "hpf/route-5",
            "{\"n\":5}",
            20_005
        )
    );
    assert_eq!(page[1].id, ids[3]);
    let older: Vec<i64> = store
        .admin_audit(10, Some(ids[2]))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(older, vec![ids[1], ids[0]]);
}

async fn changes_announce_local_writes(fx: Fixture) {
    let store = &fx.store;
    let mut rx = store.changes();
    let within = Duration::from_secs(1);
    assert_quiet(&mut rx, "subscribing");

    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    store
        .put_instances(&[instance("hpf", "main", "10.0.0.1:80", 1_000)])
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    let renewal = LeaseRenewal {
        dept: "hpf".into(),
        service: "main".into(),
        addr: "10.0.0.1:80".into(),
        expires_at: 2_000,
    };
    store
        .renew_leases(std::slice::from_ref(&renewal))
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    store
        .decide(&decision("hpf", "main", 1, Verdict::Approve))
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    let id = store.add_dept_token(&token("hpf", 'c')).await.unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    store.revoke_dept_token(id, 9).await.unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    store.append_config_version(&config(1)).await.unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::ConfigVersion);

    // Writes that change nothing, failed writes and the audit trail are quiet.
    store.renew_leases(&[renewal]).await.unwrap();
    assert_quiet(&mut rx, "a renewal that extends nothing");
    store
        .delete_instances("hpf", "main", &["10.9.9.9:1".to_string()])
        .await
        .unwrap();
    assert_quiet(&mut rx, "deleting an unknown instance");
    assert_eq!(store.purge_lapsed_instances(0).await.unwrap(), 0);
    assert_quiet(&mut rx, "a purge that removes nothing");
    assert!(
        store
            .put_service(&service("hpf", "main", 1), None)
            .await
            .is_err()
    );
    assert_quiet(&mut rx, "a lost compare-and-set");
    store.append_admin_audit(&audit(1)).await.unwrap();
    assert_quiet(&mut rx, "an audit entry");

    assert_eq!(store.purge_lapsed_instances(5_000).await.unwrap(), 1);
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);
    assert!(store.delete_service("hpf", "main").await.unwrap());
    assert_eq!(next_change(&mut rx, within).await, Change::Registry);

    // A store's own notifications come back from PostgreSQL; they must not
    // be announced twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_quiet(&mut rx, "all writes");
}

async fn corrupt_rows_are_errors_not_panics(fx: Fixture) {
    let store = &fx.store;
    store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    store.append_config_version(&config(1)).await.unwrap();

    let changed = fx
        .raw_execute("UPDATE services SET spec = '{\"not\": \"a spec\"}'")
        .await;
    assert_eq!(changed, 1);
    let load = store.load_registry().await;
    assert!(
        matches!(&load, Err(StoreError::Corrupt(m)) if m.contains("services.spec of hpf/main")),
        "{load:?}"
    );

    fx.raw_execute("UPDATE config_versions SET files = '[1, 2]'")
        .await;
    let version = store.config_version(1).await;
    assert!(
        matches!(&version, Err(StoreError::Corrupt(m)) if m.contains("config_versions.files of 1")),
        "{version:?}"
    );
    // The rest of the version table still reads.
    assert_eq!(store.config_versions(10, None).await.unwrap().len(), 1);
}

async fn reopening_keeps_the_data(fx: Fixture) {
    fx.store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    fx.store.append_config_version(&config(1)).await.unwrap();
    // A second store on the same database runs the migrations again (a
    // no-op) and sees what the first wrote.
    let again = fx.open_again().await;
    assert_eq!(
        again.load_registry().await.unwrap().services,
        vec![service("hpf", "main", 1)]
    );
    assert_eq!(
        again
            .append_config_version(&config(2))
            .await
            .unwrap()
            .meta
            .version,
        2
    );
    assert_eq!(
        fx.store
            .latest_config_version()
            .await
            .unwrap()
            .map(|v| v.meta.version),
        Some(2)
    );
}

/// A purge of `dept` recorded at `at`.
fn purge(dept: &str, kind: PurgeKind, value: &str, at: i64) -> NewPurge {
    NewPurge {
        dept: dept.into(),
        kind,
        value: value.into(),
        requested_by: format!("dept:{dept}"),
        at,
    }
}

fn ids(records: &[PurgeRecord]) -> Vec<i64> {
    records.iter().map(|r| r.id).collect()
}

async fn purges_append_in_order_and_page(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.last_purge_id().await.unwrap(), 0);
    assert_eq!(store.purges_since(0, 10).await.unwrap(), vec![]);

    let wanted = [
        purge("hpf", PurgeKind::Prefix, "/api/v1/depts/hpf/forms", 1_000),
        purge("tax", PurgeKind::Tag, "returns-2025", 1_001),
        purge("hpf", PurgeKind::All, "", 1_002),
        purge("hpf", PurgeKind::Tag, "标签", 1_003),
        purge("water", PurgeKind::Prefix, "/api/v1/depts/water", 1_004),
    ];
    let mut appended = Vec::new();
    for p in &wanted {
        let record = store.append_purge(p).await.unwrap();
        assert_eq!(
            (
                &record.dept,
                record.kind,
                &record.value,
                &record.requested_by,
                record.at
            ),
            (&p.dept, p.kind, &p.value, &p.requested_by, p.at)
        );
        appended.push(record);
    }
    // Ids strictly increase in the order of appending.
    assert!(
        appended.windows(2).all(|w| w[0].id < w[1].id),
        "{appended:?}"
    );
    let last = appended[4].id;
    assert_eq!(store.last_purge_id().await.unwrap(), last);

    // Every field reads back as written, oldest first.
    assert_eq!(store.purges_since(0, 100).await.unwrap(), appended);
    // `after_id` is exclusive.
    assert_eq!(
        store.purges_since(appended[1].id, 100).await.unwrap(),
        appended[2..].to_vec()
    );
    assert_eq!(store.purges_since(last, 100).await.unwrap(), vec![]);

    // Paging by `limit` visits each once, in order.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.purges_since(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(tail) = page.last() else { break };
        after = tail.id;
        seen.extend(page);
    }
    assert_eq!(seen, appended);
}

async fn purges_prune_by_time_and_never_reuse_ids(fx: Fixture) {
    let store = &fx.store;
    let mut ids_before = Vec::new();
    for at in [1_000, 2_000, 3_000] {
        ids_before.push(
            store
                .append_purge(&purge("hpf", PurgeKind::All, "", at))
                .await
                .unwrap()
                .id,
        );
    }
    // Strictly before: the purge at 2 000 stays.
    assert_eq!(store.prune_purges(2_000).await.unwrap(), 1);
    assert_eq!(
        ids(&store.purges_since(0, 10).await.unwrap()),
        ids_before[1..].to_vec()
    );
    assert_eq!(store.prune_purges(2_000).await.unwrap(), 0);

    // Pruning the newest does not hand its id out again.
    assert_eq!(store.prune_purges(10_000).await.unwrap(), 2);
    assert_eq!(store.purges_since(0, 10).await.unwrap(), vec![]);
    let next = store
        .append_purge(&purge("hpf", PurgeKind::Tag, "t", 4_000))
        .await
        .unwrap();
    assert!(next.id > ids_before[2], "{} reused", next.id);
    assert_eq!(store.last_purge_id().await.unwrap(), next.id);
    assert_eq!(
        ids(&store.purges_since(ids_before[2], 10).await.unwrap()),
        vec![next.id]
    );
}

async fn purges_announce_a_change(fx: Fixture) {
    let store = &fx.store;
    let mut rx = store.changes();
    let within = Duration::from_secs(1);
    store
        .append_purge(&purge("hpf", PurgeKind::Prefix, "/a", 1_000))
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx, within).await, Change::Purge);
    // Pruning leaves nothing for any gateway to apply.
    assert_eq!(store.prune_purges(5_000).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_quiet(&mut rx, "a prune (and the purge's own notification)");
}

// ----- PostgreSQL only -------------------------------------------------------

async fn another_store_hears_changes_within_a_second(fx: Fixture) {
    let other = fx.open_again().await;
    let mut heard = other.changes();
    let mut own = fx.store.changes();
    let second = Duration::from_secs(1);

    fx.store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    assert_eq!(next_change(&mut heard, second).await, Change::Registry);
    fx.store.append_config_version(&config(1)).await.unwrap();
    assert_eq!(next_change(&mut heard, second).await, Change::ConfigVersion);

    // And the other way round.
    other.add_dept_token(&token("hpf", 'd')).await.unwrap();
    assert_eq!(next_change(&mut own, second).await, Change::Registry);
    assert_eq!(next_change(&mut own, second).await, Change::ConfigVersion);
    assert_eq!(next_change(&mut own, second).await, Change::Registry);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_quiet(&mut own, "one local and one remote change each");
    assert_eq!(next_change(&mut heard, second).await, Change::Registry);
    assert_quiet(&mut heard, "its own write");
}

async fn stores_on_other_schemas_neither_see_nor_hear(fx: Fixture) {
    let (other, _) = fx.open_other_schema().await;
    let mut heard = other.changes();
    fx.store
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    fx.store.append_config_version(&config(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_quiet(&mut heard, "writes on another schema");

    assert!(other.load_registry().await.unwrap().services.is_empty());
    assert_eq!(other.latest_config_version().await.unwrap(), None);
    // Numbering is per schema.
    assert_eq!(
        other
            .append_config_version(&config(1))
            .await
            .unwrap()
            .meta
            .version,
        1
    );
    assert_eq!(fx.store.load_registry().await.unwrap().services.len(), 1);
}

async fn listener_and_pool_recover_from_killed_connections(fx: Fixture) {
    let other = fx.open_again().await;
    let mut rx = fx.store.changes();
    fx.store.ping().await.unwrap();
    other.ping().await.unwrap();
    assert_eq!(fx.backends(fx.app_name(), true).await, 2, "two listeners");

    let killed = fx.terminate_backends(fx.app_name()).await;
    assert!(killed >= 4, "killed {killed}");

    // The listener reconnects and says that anything may have changed.
    let mut after = vec![next_change(&mut rx, Duration::from_secs(10)).await];
    for _ in 1..Change::ALL.len() {
        after.push(next_change(&mut rx, Duration::from_secs(1)).await);
    }
    after.sort_by_key(|c| c.as_str());
    assert_eq!(
        after,
        vec![Change::ConfigVersion, Change::Purge, Change::Registry]
    );

    // The pools replace their dead connections without a restart.
    fx.store.ping().await.unwrap();
    other
        .put_service(&service("hpf", "main", 1), None)
        .await
        .unwrap();
    // And the new listener hears again (skipping the other store's own
    // catch-up announcements, which are local to it).
    let heard = next_change(&mut rx, Duration::from_secs(2)).await;
    assert_eq!(heard, Change::Registry);
    assert_eq!(fx.store.load_registry().await.unwrap().services.len(), 1);
}

async fn dropping_the_store_stops_its_connections(fx: Fixture) {
    let (other, app) = fx.open_other_schema().await;
    other.ping().await.unwrap();
    assert_eq!(fx.backends(&app, true).await, 1, "one listener");
    assert!(fx.backends(&app, false).await >= 2);

    let clone = other.clone();
    drop(other);
    // A clone keeps everything alive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fx.backends(&app, true).await, 1);
    drop(clone);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = fx.backends(&app, false).await;
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} connections still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- unreachable databases --------------------------------------------------

async fn concurrent_purges_become_visible_in_id_order(fx: Fixture) {
    // Writers on two stores (two gateways) append concurrently while a
    // reader pages with `purges_since` as a gateway does. A reader that saw
    // id N+1 before N would skip N for good; so every page must continue
    // exactly where the ids left off, and the reader ends with all of them.
    let other = std::sync::Arc::new(fx.open_again().await);
    let store = std::sync::Arc::new(fx.store.clone());
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let s: std::sync::Arc<SqlStore> = if w % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        writers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..EACH {
                let p = purge("hpf", PurgeKind::Tag, &format!("w{w}-{n}"), 1_000);
                got.push(s.append_purge(&p).await.unwrap().id);
            }
            got
        }));
    }
    let reader = {
        let reader_store = fx.open_again().await;
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(15);
            while seen.len() < WRITERS * EACH {
                assert!(Instant::now() < deadline, "reader saw only {}", seen.len());
                let after = seen.last().copied().unwrap_or(0);
                seen.extend(ids(&reader_store.purges_since(after, 7).await.unwrap()));
            }
            seen
        })
    };
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    written.sort_unstable();
    let seen = reader.await.unwrap();
    // Same set, so the incremental reader skipped nothing, and ascending.
    assert_eq!(seen, written);
    assert!(written.windows(2).all(|w| w[0] < w[1]));
}

async fn another_store_hears_a_purge(fx: Fixture) {
    let other = fx.open_again().await;
    let mut heard = other.changes();
    let started = Instant::now();
    let record = fx
        .store
        .append_purge(&purge("hpf", PurgeKind::Prefix, "/api/v1/depts/hpf", 1_000))
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut heard, Duration::from_secs(1)).await,
        Change::Purge
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(other.purges_since(0, 10).await.unwrap(), vec![record]);
}

#[tokio::test]
async fn postgres_on_a_closed_port_is_unavailable_within_the_timeout() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://127.0.0.1:{port}/test?schema=onestop_unreachable");
    let started = Instant::now();
    let result = SqlStore::connect(
        &url,
        StoreOptions {
            timeout: Duration::from_secs(1),
            ..opts()
        },
    )
    .await;
    let took = started.elapsed();
    assert!(
        matches!(&result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.map(|_| ())
    );
    assert!(took < Duration::from_millis(2_500), "took {took:?}");
}

#[tokio::test]
async fn sqlite_in_an_uncreatable_directory_is_unavailable() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A regular file cannot be a directory.
    let url = format!("sqlite:{}/sub/onestop.db", file.path().display());
    let result = SqlStore::connect(&url, opts()).await;
    assert!(
        matches!(&result, Err(StoreError::Unavailable(m)) if m.contains("creating")),
        "{:?}",
        result.map(|_| ())
    );
}
