#![allow(clippy::unwrap_used)]

use onestop_config::{FieldType, Sensitivity, SharingClass};
use onestop_store::{AgreementRecord, AgreementState, ConsentRecord, Decision, NewAgreement};

use super::*;
use crate::catalog::{Field, Item};

const NOW: i64 = 1_000_000;

fn item(sharing: SharingClass, sensitivity: Sensitivity) -> Item {
    Item {
        id: "hrss.si".into(),
        dept: "hrss".into(),
        name: "si".into(),
        description: None,
        sharing,
        fetch: "/api/v1/depts/hrss/si/{citizen}".into(),
        provider_approval: false,
        personal: sensitivity.personal(),
        fields: vec![Field {
            name: "f".into(),
            kind: FieldType::String,
            sensitivity,
            mask: None,
        }],
    }
}

fn agreement(id: &str, purpose: &str, state: AgreementState, expires_at: i64) -> AgreementRecord {
    AgreementRecord {
        agreement: NewAgreement {
            id: id.into(),
            consumer: "hpf".into(),
            provider: "hrss".into(),
            item: "hrss.si".into(),
            fields: vec!["f".into()],
            clear_fields: vec![],
            purpose: purpose.into(),
            legal_basis: "law".into(),
            expires_at,
            needs_provider: false,
            applied_by: "hpf".into(),
            applied_at: 1,
        },
        state,
        operator_approval: (state == AgreementState::Approved).then(|| Decision {
            by: "op".into(),
            at: 2,
        }),
        provider_approval: None,
        closed: None,
        reason: None,
        revision: 1,
    }
}

fn personal() -> Item {
    item(SharingClass::Conditional, Sensitivity::Personal)
}

#[test]
fn an_approved_unexpired_agreement_for_the_purpose_allows() {
    let list = [
        agreement("a", "loan", AgreementState::Approved, NOW + 10),
        agreement("b", "loan", AgreementState::Approved, NOW + 20),
        agreement("c", "other", AgreementState::Approved, NOW + 30),
    ];
    assert_eq!(agreement_of(&list, "loan"), Ok("b"));
}

fn agreement_of<'a>(list: &'a [AgreementRecord], purpose: &str) -> Result<&'a str, Denial> {
    super::agreement(&personal(), list, purpose, NOW).map(|a| a.agreement.id.as_str())
}

#[test]
fn each_missing_condition_is_named() {
    use AgreementState::*;
    assert_eq!(agreement_of(&[], "loan"), Err(Denial::NoAgreement));
    assert_eq!(
        agreement_of(&[agreement("a", "other", Approved, NOW + 1)], "loan"),
        Err(Denial::WrongPurpose)
    );
    assert_eq!(
        agreement_of(&[agreement("a", "loan", Approved, NOW)], "loan"),
        Err(Denial::Expired),
        "expiry is exclusive"
    );
    assert_eq!(
        agreement_of(&[agreement("a", "loan", Pending, NOW + 1)], "loan"),
        Err(Denial::Pending)
    );
    assert_eq!(
        agreement_of(&[agreement("a", "loan", Revoked, NOW + 1)], "loan"),
        Err(Denial::Revoked)
    );
    assert_eq!(
        agreement_of(&[agreement("a", "loan", Rejected, NOW + 1)], "loan"),
        Err(Denial::Rejected)
    );
    // A revoked agreement does not hide a live one for the same purpose,
    // and an expired one outranks a pending one in the reason.
    assert_eq!(
        agreement_of(
            &[
                agreement("a", "loan", Revoked, NOW + 1),
                agreement("b", "loan", Approved, NOW + 1)
            ],
            "loan"
        ),
        Ok("b")
    );
    assert_eq!(
        agreement_of(
            &[
                agreement("a", "loan", Pending, NOW + 1),
                agreement("b", "loan", Approved, NOW - 1)
            ],
            "loan"
        ),
        Err(Denial::Expired)
    );
}

#[test]
fn not_shared_items_are_denied_whatever_the_agreements() {
    let list = [agreement("a", "loan", AgreementState::Approved, NOW + 10)];
    assert_eq!(
        super::agreement(
            &item(SharingClass::NotShared, Sensitivity::Internal),
            &list,
            "loan",
            NOW
        )
        .map(|_| ()),
        Err(Denial::NotShared)
    );
}

#[test]
fn consent_is_needed_only_for_conditional_personal_data() {
    let c = |granted| ConsentRecord {
        citizen: "c".into(),
        consumer: "hpf".into(),
        purpose: "loan".into(),
        granted,
        granted_at: Some(1),
        revoked_at: (!granted).then_some(2),
        updated_at: 2,
    };
    assert_eq!(consent(&personal(), None), Err(Denial::NoConsent));
    assert_eq!(
        consent(&personal(), Some(&c(false))),
        Err(Denial::ConsentRevoked)
    );
    assert_eq!(consent(&personal(), Some(&c(true))), Ok(()));
    let internal = item(SharingClass::Conditional, Sensitivity::Internal);
    assert!(!needs_consent(&internal));
    assert_eq!(consent(&internal, None), Ok(()));
    let open = item(SharingClass::Unconditional, Sensitivity::Public);
    assert_eq!(consent(&open, None), Ok(()));
}
