//! [`SharingStore`]: data-sharing agreements and citizens' consents, on
//! both backends (declared from `suite.rs`, whose `on_both!` it uses).

use std::time::Duration;

use onestop_store::{
    AgreementFilter, AgreementRecord, AgreementState, Approver, ConsentRecord, Decision,
    NewAgreement, NewConsent, SharingStore, Store, StoreError,
};

use crate::common::{Fixture, assert_quiet};

on_both!(
    agreements_round_trip,
    duplicate_agreement_ids_conflict,
    agreements_filter_and_order,
    agreements_for_is_per_consumer_and_item,
    operator_approval_alone_approves,
    provider_approval_is_needed_when_asked_for,
    approvals_are_given_once,
    rejected_agreements_cannot_be_approved,
    revoke_approved_or_pending_once,
    unknown_agreements_are_not_found,
    concurrent_decisions_have_one_winner,
    consent_grant_revoke_regrant,
    consents_are_per_citizen_newest_first,
    sharing_writes_announce_nothing,
    corrupt_sharing_rows_are_errors_not_panics,
);

/// An agreement of `consumer` for `item` (of the department before its
/// dot), applied at `applied_at`, not needing the provider.
fn new_agreement(id: &str, consumer: &str, item: &str, applied_at: i64) -> NewAgreement {
    let provider = item.split('.').next().unwrap();
    NewAgreement {
        id: id.into(),
        consumer: consumer.into(),
        provider: provider.into(),
        item: item.into(),
        fields: vec!["姓名".into(), "id_number".into(), "monthly_base".into()],
        clear_fields: vec!["id_number".into()],
        purpose: "housing-loan-review".into(),
        legal_basis: "《住房公积金管理条例》第十三条".into(),
        expires_at: applied_at + 1_000_000,
        needs_provider: false,
        applied_by: format!("dept:{consumer}"),
        applied_at,
    }
}

fn pending(a: &NewAgreement) -> AgreementRecord {
    AgreementRecord {
        agreement: a.clone(),
        state: AgreementState::Pending,
        operator_approval: None,
        provider_approval: None,
        closed: None,
        reason: None,
        revision: 1,
    }
}

fn decision(by: &str, at: i64) -> Option<Decision> {
    Some(Decision { by: by.into(), at })
}

fn ids(records: &[AgreementRecord]) -> Vec<&str> {
    records.iter().map(|r| r.agreement.id.as_str()).collect()
}

fn consent(citizen: &str, consumer: &str, purpose: &str, granted: bool, at: i64) -> NewConsent {
    NewConsent {
        citizen: citizen.into(),
        consumer: consumer.into(),
        purpose: purpose.into(),
        granted,
        at,
    }
}

fn keys(records: &[ConsentRecord]) -> Vec<(&str, &str)> {
    records
        .iter()
        .map(|c| (c.consumer.as_str(), c.purpose.as_str()))
        .collect()
}

async fn agreements_round_trip(fx: Fixture) {
    let store = &fx.store;
    let new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    let created = store.create_agreement(&new).await.unwrap();
    assert_eq!(created, pending(&new));
    let stored = store.agreement("agr-1").await.unwrap().unwrap();
    assert_eq!(stored, created);
    // The arrays come back in order, element for element.
    assert_eq!(
        stored.agreement.fields,
        ["姓名", "id_number", "monthly_base"]
    );
    assert_eq!(stored.agreement.clear_fields, ["id_number"]);
    assert_eq!(stored.agreement.provider, "hrss");
    assert_eq!(
        stored.agreement.legal_basis,
        "《住房公积金管理条例》第十三条"
    );
    assert_eq!(stored.agreement.expires_at, 1_001_000);

    // Empty arrays, the provider's approval needed, other values.
    let mut other = new_agreement("agr-2", "tax", "hpf.balance", 2_000);
    other.fields = vec!["balance".into()];
    other.clear_fields = Vec::new();
    other.needs_provider = true;
    other.purpose = "tax-credit".into();
    other.applied_by = "operator:li".into();
    let created = store.create_agreement(&other).await.unwrap();
    let stored = store.agreement("agr-2").await.unwrap().unwrap();
    assert_eq!(stored, created);
    assert_eq!(stored, pending(&other));
    assert!(stored.agreement.needs_provider);
    assert!(stored.agreement.clear_fields.is_empty());
    assert_eq!(stored.agreement.applied_by, "operator:li");

    assert_eq!(store.agreement("agr-3").await.unwrap(), None);

    // Serialised flat, with the state in snake case.
    let value = serde_json::to_value(&stored).unwrap();
    assert_eq!(value["id"], "agr-2");
    assert_eq!(value["state"], "pending");
    assert_eq!(value["needs_provider"], true);
    let back: AgreementRecord = serde_json::from_value(value).unwrap();
    assert_eq!(back, stored);
}

async fn duplicate_agreement_ids_conflict(fx: Fixture) {
    let store = &fx.store;
    let first = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    store.create_agreement(&first).await.unwrap();
    let again = store
        .create_agreement(&new_agreement("agr-1", "tax", "hpf.balance", 2_000))
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("agreement agr-1 already exists")),
        "{again:?}"
    );
    // The first is untouched, and nothing else was stored.
    assert_eq!(
        store.agreement("agr-1").await.unwrap(),
        Some(pending(&first))
    );
    let all = store.agreements(&AgreementFilter::default()).await.unwrap();
    assert_eq!(ids(&all), ["agr-1"]);
}

async fn agreements_filter_and_order(fx: Fixture) {
    let store = &fx.store;
    // agr-1 … agr-6, applied at 1 000 … 6 000; agr-7 applied at the same
    // time as agr-6.
    let plan = [
        ("agr-1", "housing", "hrss.social_insurance"),
        ("agr-2", "housing", "hpf.balance"),
        ("agr-3", "tax", "hrss.social_insurance"),
        ("agr-4", "tax", "hpf.balance"),
        ("agr-5", "housing", "hrss.social_insurance"),
        ("agr-6", "civil", "hrss.pension"),
    ];
    for (n, (id, consumer, item)) in (1_i64..).zip(plan) {
        store
            .create_agreement(&new_agreement(id, consumer, item, n * 1_000))
            .await
            .unwrap();
    }
    store
        .create_agreement(&new_agreement("agr-7", "civil", "hpf.balance", 6_000))
        .await
        .unwrap();
    store
        .approve_agreement("agr-1", Approver::Operator, "op", 10_000)
        .await
        .unwrap();
    store
        .approve_agreement("agr-4", Approver::Operator, "op", 10_000)
        .await
        .unwrap();
    store
        .reject_agreement("agr-3", "op", "no legal basis", 10_000)
        .await
        .unwrap();

    let list = |filter: AgreementFilter| async move { store.agreements(&filter).await.unwrap() };

    // Newest applied first; equal times by id, descending.
    let all = list(AgreementFilter::default()).await;
    assert_eq!(
        ids(&all),
        [
            "agr-7", "agr-6", "agr-5", "agr-4", "agr-3", "agr-2", "agr-1"
        ]
    );
    assert_eq!(all[3].state, AgreementState::Approved);
    assert_eq!(all[4].state, AgreementState::Rejected);

    let by_consumer = list(AgreementFilter {
        consumer: Some("housing".into()),
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&by_consumer), ["agr-5", "agr-2", "agr-1"]);

    let by_provider = list(AgreementFilter {
        provider: Some("hpf".into()),
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&by_provider), ["agr-7", "agr-4", "agr-2"]);

    let by_item = list(AgreementFilter {
        item: Some("hrss.social_insurance".into()),
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&by_item), ["agr-5", "agr-3", "agr-1"]);

    let by_state = list(AgreementFilter {
        state: Some(AgreementState::Pending),
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&by_state), ["agr-7", "agr-6", "agr-5", "agr-2"]);
    let approved = list(AgreementFilter {
        state: Some(AgreementState::Approved),
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&approved), ["agr-4", "agr-1"]);

    // Every condition at once.
    let combined = list(AgreementFilter {
        consumer: Some("housing".into()),
        provider: Some("hrss".into()),
        item: Some("hrss.social_insurance".into()),
        state: Some(AgreementState::Pending),
        limit: 10,
    })
    .await;
    assert_eq!(ids(&combined), ["agr-5"]);
    let none = list(AgreementFilter {
        consumer: Some("tax".into()),
        state: Some(AgreementState::Revoked),
        ..AgreementFilter::default()
    })
    .await;
    assert!(none.is_empty());

    // The limit keeps the newest.
    let newest = list(AgreementFilter {
        limit: 2,
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&newest), ["agr-7", "agr-6"]);
    let newest_housing = list(AgreementFilter {
        consumer: Some("housing".into()),
        limit: 1,
        ..AgreementFilter::default()
    })
    .await;
    assert_eq!(ids(&newest_housing), ["agr-5"]);
}

async fn agreements_for_is_per_consumer_and_item(fx: Fixture) {
    let store = &fx.store;
    for (id, consumer, item, at) in [
        ("agr-1", "housing", "hrss.social_insurance", 1_000),
        ("agr-2", "housing", "hrss.social_insurance", 3_000),
        ("agr-3", "housing", "hpf.balance", 4_000),
        ("agr-4", "tax", "hrss.social_insurance", 5_000),
        ("agr-5", "housing", "hrss.social_insurance", 2_000),
    ] {
        store
            .create_agreement(&new_agreement(id, consumer, item, at))
            .await
            .unwrap();
    }
    // Every state counts.
    store
        .approve_agreement("agr-1", Approver::Operator, "op", 9_000)
        .await
        .unwrap();
    store
        .revoke_agreement("agr-5", "op", "expired purpose", 9_000)
        .await
        .unwrap();

    let found = store
        .agreements_for("housing", "hrss.social_insurance")
        .await
        .unwrap();
    assert_eq!(ids(&found), ["agr-2", "agr-5", "agr-1"]);
    assert_eq!(
        found.iter().map(|a| a.state).collect::<Vec<_>>(),
        [
            AgreementState::Pending,
            AgreementState::Revoked,
            AgreementState::Approved
        ]
    );
    assert_eq!(found[2], store.agreement("agr-1").await.unwrap().unwrap());

    let tax = store
        .agreements_for("tax", "hrss.social_insurance")
        .await
        .unwrap();
    assert_eq!(ids(&tax), ["agr-4"]);
    assert!(
        store
            .agreements_for("tax", "hpf.balance")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn operator_approval_alone_approves(fx: Fixture) {
    let store = &fx.store;
    let new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    store.create_agreement(&new).await.unwrap();
    let approved = store
        .approve_agreement("agr-1", Approver::Operator, "operator:li", 5_000)
        .await
        .unwrap();
    let want = AgreementRecord {
        state: AgreementState::Approved,
        operator_approval: decision("operator:li", 5_000),
        revision: 2,
        ..pending(&new)
    };
    assert_eq!(approved, want);
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want));
}

async fn provider_approval_is_needed_when_asked_for(fx: Fixture) {
    let store = &fx.store;
    let mut new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    new.needs_provider = true;
    store.create_agreement(&new).await.unwrap();

    // The operator first: still pending.
    let half = store
        .approve_agreement("agr-1", Approver::Operator, "operator:li", 5_000)
        .await
        .unwrap();
    let want_half = AgreementRecord {
        operator_approval: decision("operator:li", 5_000),
        revision: 2,
        ..pending(&new)
    };
    assert_eq!(half, want_half);
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want_half));

    // Then the provider: approved, with both approvals.
    let whole = store
        .approve_agreement("agr-1", Approver::Provider, "dept:hrss", 6_000)
        .await
        .unwrap();
    let want = AgreementRecord {
        state: AgreementState::Approved,
        operator_approval: decision("operator:li", 5_000),
        provider_approval: decision("dept:hrss", 6_000),
        revision: 3,
        ..pending(&new)
    };
    assert_eq!(whole, want);
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want));

    // The other order: the provider alone keeps it pending too.
    let mut other = new_agreement("agr-2", "tax", "hrss.pension", 2_000);
    other.needs_provider = true;
    store.create_agreement(&other).await.unwrap();
    let half = store
        .approve_agreement("agr-2", Approver::Provider, "dept:hrss", 7_000)
        .await
        .unwrap();
    assert_eq!(
        (half.state, half.operator_approval, half.revision),
        (AgreementState::Pending, None, 2)
    );
    assert_eq!(half.provider_approval, decision("dept:hrss", 7_000));
    let whole = store
        .approve_agreement("agr-2", Approver::Operator, "operator:wang", 8_000)
        .await
        .unwrap();
    assert_eq!((whole.state, whole.revision), (AgreementState::Approved, 3));
    assert_eq!(whole.operator_approval, decision("operator:wang", 8_000));
    assert_eq!(whole.provider_approval, decision("dept:hrss", 7_000));
}

async fn approvals_are_given_once(fx: Fixture) {
    let store = &fx.store;
    let mut new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    new.needs_provider = true;
    store.create_agreement(&new).await.unwrap();
    let half = store
        .approve_agreement("agr-1", Approver::Operator, "operator:li", 5_000)
        .await
        .unwrap();

    // A second operator approval of a pending agreement: refused, naming
    // the first.
    let twice = store
        .approve_agreement("agr-1", Approver::Operator, "operator:wang", 5_500)
        .await;
    assert!(
        matches!(&twice, Err(StoreError::Conflict(m))
            if m.contains("already has the operator's approval") && m.contains("operator:li")),
        "{twice:?}"
    );
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(half));

    // Once approved, a second approval of either kind names the state.
    store
        .approve_agreement("agr-1", Approver::Provider, "dept:hrss", 6_000)
        .await
        .unwrap();
    for who in [Approver::Provider, Approver::Operator] {
        let again = store
            .approve_agreement("agr-1", who, "someone", 7_000)
            .await;
        assert!(
            matches!(&again, Err(StoreError::Conflict(m)) if m.contains("agr-1 is approved")),
            "{who:?}: {again:?}"
        );
    }
    let stored = store.agreement("agr-1").await.unwrap().unwrap();
    assert_eq!(stored.revision, 3);
    assert_eq!(stored.provider_approval, decision("dept:hrss", 6_000));
}

async fn rejected_agreements_cannot_be_approved(fx: Fixture) {
    let store = &fx.store;
    let mut new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    new.needs_provider = true;
    store.create_agreement(&new).await.unwrap();
    store
        .approve_agreement("agr-1", Approver::Operator, "operator:li", 2_000)
        .await
        .unwrap();

    let rejected = store
        .reject_agreement("agr-1", "dept:hrss", "purpose not covered", 3_000)
        .await
        .unwrap();
    let want = AgreementRecord {
        state: AgreementState::Rejected,
        operator_approval: decision("operator:li", 2_000),
        closed: decision("dept:hrss", 3_000),
        reason: Some("purpose not covered".into()),
        revision: 3,
        ..pending(&new)
    };
    assert_eq!(rejected, want);
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want.clone()));

    for who in [Approver::Provider, Approver::Operator] {
        let approve = store
            .approve_agreement("agr-1", who, "someone", 4_000)
            .await;
        assert!(
            matches!(&approve, Err(StoreError::Conflict(m))
                if m.contains("agr-1 is rejected") && m.contains("dept:hrss")),
            "{who:?}: {approve:?}"
        );
    }
    let again = store.reject_agreement("agr-1", "op", "again", 4_000).await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("is rejected")),
        "{again:?}"
    );
    let revoke = store.revoke_agreement("agr-1", "op", "late", 4_000).await;
    assert!(
        matches!(&revoke, Err(StoreError::Conflict(m)) if m.contains("is rejected")),
        "{revoke:?}"
    );
    // An approved agreement cannot be rejected (only revoked).
    store
        .create_agreement(&new_agreement("agr-2", "tax", "hpf.balance", 1_000))
        .await
        .unwrap();
    store
        .approve_agreement("agr-2", Approver::Operator, "operator:li", 2_000)
        .await
        .unwrap();
    let reject = store.reject_agreement("agr-2", "op", "no", 3_000).await;
    assert!(
        matches!(&reject, Err(StoreError::Conflict(m)) if m.contains("agr-2 is approved")),
        "{reject:?}"
    );
    // Nothing changed on refusal.
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want));
    assert_eq!(
        store.agreement("agr-2").await.unwrap().unwrap().state,
        AgreementState::Approved
    );
}

async fn revoke_approved_or_pending_once(fx: Fixture) {
    let store = &fx.store;
    let new = new_agreement("agr-1", "housing", "hrss.social_insurance", 1_000);
    store.create_agreement(&new).await.unwrap();
    store
        .approve_agreement("agr-1", Approver::Operator, "operator:li", 2_000)
        .await
        .unwrap();
    let revoked = store
        .revoke_agreement("agr-1", "operator:wang", "misuse reported", 3_000)
        .await
        .unwrap();
    let want = AgreementRecord {
        state: AgreementState::Revoked,
        operator_approval: decision("operator:li", 2_000),
        closed: decision("operator:wang", 3_000),
        reason: Some("misuse reported".into()),
        revision: 3,
        ..pending(&new)
    };
    assert_eq!(revoked, want);
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want.clone()));

    let again = store
        .revoke_agreement("agr-1", "operator:zhao", "again", 4_000)
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m))
            if m.contains("agr-1 is revoked") && m.contains("operator:wang")),
        "{again:?}"
    );
    let approve = store
        .approve_agreement("agr-1", Approver::Operator, "operator:zhao", 4_000)
        .await;
    assert!(
        matches!(&approve, Err(StoreError::Conflict(m)) if m.contains("is revoked")),
        "{approve:?}"
    );
    assert_eq!(store.agreement("agr-1").await.unwrap(), Some(want));

    // A pending one can be withdrawn too.
    let other = new_agreement("agr-2", "tax", "hpf.balance", 1_000);
    store.create_agreement(&other).await.unwrap();
    let withdrawn = store
        .revoke_agreement("agr-2", "dept:tax", "no longer needed", 5_000)
        .await
        .unwrap();
    assert_eq!(
        withdrawn,
        AgreementRecord {
            state: AgreementState::Revoked,
            closed: decision("dept:tax", 5_000),
            reason: Some("no longer needed".into()),
            revision: 2,
            ..pending(&other)
        }
    );
}

async fn unknown_agreements_are_not_found(fx: Fixture) {
    let store = &fx.store;
    store
        .create_agreement(&new_agreement("agr-1", "housing", "hpf.balance", 1_000))
        .await
        .unwrap();
    let approve = store
        .approve_agreement("agr-404", Approver::Operator, "op", 2_000)
        .await;
    assert!(
        matches!(&approve, Err(StoreError::NotFound(m)) if m.contains("agr-404")),
        "{approve:?}"
    );
    let approve = store
        .approve_agreement("agr-404", Approver::Provider, "op", 2_000)
        .await;
    assert!(
        matches!(&approve, Err(StoreError::NotFound(m)) if m.contains("agr-404")),
        "{approve:?}"
    );
    let reject = store.reject_agreement("agr-404", "op", "no", 2_000).await;
    assert!(
        matches!(&reject, Err(StoreError::NotFound(m)) if m.contains("agr-404")),
        "{reject:?}"
    );
    let revoke = store.revoke_agreement("agr-404", "op", "no", 2_000).await;
    assert!(
        matches!(&revoke, Err(StoreError::NotFound(m)) if m.contains("agr-404")),
        "{revoke:?}"
    );
    assert_eq!(store.agreement("agr-404").await.unwrap(), None);
    assert_eq!(store.agreement("agr-1").await.unwrap().unwrap().revision, 1);
}

async fn concurrent_decisions_have_one_winner(fx: Fixture) {
    // Two gateways on one database (on SQLite, two pools on one file).
    let other = fx.open_again().await;
    const ROUNDS: i64 = 6;
    for n in 0..ROUNDS {
        let id = format!("agr-{n}");
        fx.store
            .create_agreement(&new_agreement(&id, "housing", "hpf.balance", n))
            .await
            .unwrap();
    }
    for n in 0..ROUNDS {
        let id = format!("agr-{n}");
        // Odd rounds: approve against reject; even: two approvals.
        let a = {
            let store = fx.store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .approve_agreement(&id, Approver::Operator, "gw-a", 10)
                    .await
            })
        };
        let b = {
            let store = other.clone();
            let id = id.clone();
            tokio::spawn(async move {
                if n % 2 == 1 {
                    store.reject_agreement(&id, "gw-b", "no", 20).await
                } else {
                    store
                        .approve_agreement(&id, Approver::Operator, "gw-b", 20)
                        .await
                }
            })
        };
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let winner = match (&a, &b) {
            (Ok(won), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(won)) => {
                won.clone()
            }
            other => panic!("round {n}: expected one winner, got {other:?}"),
        };
        assert_eq!(winner.revision, 2, "round {n}");
        let stored = fx.store.agreement(&id).await.unwrap().unwrap();
        assert_eq!(stored, winner, "round {n}");
        let by = match (&stored.operator_approval, &stored.closed) {
            (Some(d), None) => d.by.as_str(),
            (None, Some(d)) => d.by.as_str(),
            other => panic!("round {n}: {other:?}"),
        };
        assert_eq!(by, if a.is_ok() { "gw-a" } else { "gw-b" }, "round {n}");
    }
}

async fn consent_grant_revoke_regrant(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(
        store
            .consent("citizen-1", "housing", "housing-loan-review")
            .await
            .unwrap(),
        None
    );

    let granted = store
        .set_consent(&consent(
            "citizen-1",
            "housing",
            "housing-loan-review",
            true,
            1_000,
        ))
        .await
        .unwrap();
    let want = ConsentRecord {
        citizen: "citizen-1".into(),
        consumer: "housing".into(),
        purpose: "housing-loan-review".into(),
        granted: true,
        granted_at: Some(1_000),
        revoked_at: None,
        updated_at: 1_000,
    };
    assert_eq!(granted, want);
    assert_eq!(
        store
            .consent("citizen-1", "housing", "housing-loan-review")
            .await
            .unwrap(),
        Some(want)
    );

    // Revoking keeps when it was granted.
    let revoked = store
        .set_consent(&consent(
            "citizen-1",
            "housing",
            "housing-loan-review",
            false,
            2_000,
        ))
        .await
        .unwrap();
    let want = ConsentRecord {
        granted: false,
        granted_at: Some(1_000),
        revoked_at: Some(2_000),
        updated_at: 2_000,
        ..granted.clone()
    };
    assert_eq!(revoked, want);
    assert_eq!(
        store
            .consent("citizen-1", "housing", "housing-loan-review")
            .await
            .unwrap(),
        Some(want)
    );

    // Granting again: a new granted_at, no revocation.
    let regranted = store
        .set_consent(&consent(
            "citizen-1",
            "housing",
            "housing-loan-review",
            true,
            3_000,
        ))
        .await
        .unwrap();
    let want = ConsentRecord {
        granted: true,
        granted_at: Some(3_000),
        revoked_at: None,
        updated_at: 3_000,
        ..granted
    };
    assert_eq!(regranted, want);
    assert_eq!(
        store
            .consent("citizen-1", "housing", "housing-loan-review")
            .await
            .unwrap(),
        Some(want)
    );
    // Still one row.
    assert_eq!(store.consents("citizen-1").await.unwrap().len(), 1);

    // A revocation of what was never granted is stored as such.
    let never = store
        .set_consent(&consent("citizen-1", "tax", "tax-credit", false, 4_000))
        .await
        .unwrap();
    assert_eq!(
        (
            never.granted,
            never.granted_at,
            never.revoked_at,
            never.updated_at
        ),
        (false, None, Some(4_000), 4_000)
    );
    // Other keys are other consents.
    assert_eq!(
        store
            .consent("citizen-1", "housing", "tax-credit")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consent("citizen-2", "housing", "housing-loan-review")
            .await
            .unwrap(),
        None
    );
}

async fn consents_are_per_citizen_newest_first(fx: Fixture) {
    let store = &fx.store;
    for c in [
        consent("citizen-1", "housing", "housing-loan-review", true, 1_000),
        consent("citizen-1", "tax", "tax-credit", true, 3_000),
        consent("citizen-2", "housing", "housing-loan-review", true, 5_000),
        consent("citizen-1", "civil", "marriage", true, 2_000),
        consent("citizen-1", "civil", "adoption", true, 2_000),
        // Updating moves it to the front.
        consent("citizen-1", "housing", "housing-loan-review", false, 4_000),
    ] {
        store.set_consent(&c).await.unwrap();
    }
    let first = store.consents("citizen-1").await.unwrap();
    assert_eq!(
        keys(&first),
        [
            ("housing", "housing-loan-review"),
            ("tax", "tax-credit"),
            // Equal times: by consumer, then purpose.
            ("civil", "adoption"),
            ("civil", "marriage"),
        ]
    );
    assert_eq!(
        first.iter().map(|c| c.updated_at).collect::<Vec<_>>(),
        [4_000, 3_000, 2_000, 2_000]
    );
    assert!(first.iter().all(|c| c.citizen == "citizen-1"));
    assert!(!first[0].granted);

    let second = store.consents("citizen-2").await.unwrap();
    assert_eq!(keys(&second), [("housing", "housing-loan-review")]);
    assert_eq!(
        (second[0].granted, second[0].granted_at),
        (true, Some(5_000))
    );
    // citizen-1's revocation did not touch citizen-2's consent.
    assert_eq!(
        store
            .consent("citizen-2", "housing", "housing-loan-review")
            .await
            .unwrap(),
        Some(second[0].clone())
    );
    assert!(store.consents("citizen-3").await.unwrap().is_empty());
}

async fn sharing_writes_announce_nothing(fx: Fixture) {
    let store = &fx.store;
    let mut changes = store.changes();
    store
        .create_agreement(&new_agreement("agr-1", "housing", "hpf.balance", 1_000))
        .await
        .unwrap();
    store
        .create_agreement(&new_agreement("agr-2", "housing", "hpf.balance", 1_000))
        .await
        .unwrap();
    store
        .approve_agreement("agr-1", Approver::Operator, "op", 2_000)
        .await
        .unwrap();
    store
        .revoke_agreement("agr-1", "op", "done", 3_000)
        .await
        .unwrap();
    store
        .reject_agreement("agr-2", "op", "no", 3_000)
        .await
        .unwrap();
    store
        .set_consent(&consent("citizen-1", "housing", "p", true, 1_000))
        .await
        .unwrap();
    // On PostgreSQL a notification would come back through the listener.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_quiet(&mut changes, "sharing writes");
}

async fn corrupt_sharing_rows_are_errors_not_panics(fx: Fixture) {
    let store = &fx.store;
    store
        .create_agreement(&new_agreement("agr-1", "housing", "hpf.balance", 1_000))
        .await
        .unwrap();
    store
        .create_agreement(&new_agreement("agr-2", "tax", "hpf.balance", 2_000))
        .await
        .unwrap();
    let changed = fx
        .raw_execute("UPDATE sharing_agreements SET clear_fields = '{\"a\": 1}' WHERE id = 'agr-1'")
        .await;
    assert_eq!(changed, 1);
    let read = store.agreement("agr-1").await;
    assert!(
        matches!(&read, Err(StoreError::Corrupt(m)) if m.contains("sharing_agreements.clear_fields of agr-1")),
        "{read:?}"
    );
    let listed = store.agreements_for("housing", "hpf.balance").await;
    assert!(matches!(&listed, Err(StoreError::Corrupt(_))), "{listed:?}");
    let approve = store
        .approve_agreement("agr-1", Approver::Operator, "op", 3_000)
        .await;
    assert!(
        matches!(&approve, Err(StoreError::Corrupt(_))),
        "{approve:?}"
    );
    // The other row still reads.
    assert_eq!(store.agreement("agr-2").await.unwrap().unwrap().revision, 1);
}
