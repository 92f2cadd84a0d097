//! Data sharing: the catalog, applications filed by operators, approvals
//! by the gateway's operator and by the provider, rejections,
//! revocations, and the overdue list, over a real `Sharing` on SQLite.

use std::collections::BTreeSet;

use onestop_sharing::{FetchRequest, SharingError};
use onestop_store::{NewAgreement, SharingStore as _, now_ms};
use serde_json::{Value, json};

use super::support::*;
use crate::sharing_api::parse_time;

const DAY: i64 = 86_400_000;
const CITIZEN: &str = "11010519491231002X";
const PURPOSE: &str = "housing-loan-review";

async fn harness() -> Harness {
    Harness::with(Options {
        sharing: true,
        ..Options::default()
    })
    .await
}

fn in_days(days: i64) -> String {
    onestop_core::time::rfc3339_ms(now_ms() + days * DAY).unwrap()
}

/// An application of hpf for `item` (`tax.income` or `tax.arrears`).
fn application(item: &str) -> Value {
    let fields = match item {
        "tax.income" => json!(["resident_id", "annual_income"]),
        _ => json!(["owed"]),
    };
    json!({
        "consumer": "hpf",
        "item": item,
        "fields": fields,
        "purpose": PURPOSE,
        "legal_basis": "《住房公积金管理条例》第十三条",
        "expires_at": in_days(30),
    })
}

async fn post(h: &Harness, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = h.req("POST", path, Some(token));
    if let Some(body) = body {
        rb = rb.json(&body);
    }
    answer(rb.send().await.unwrap()).await
}

/// Files `body` as `token`; answers the agreement's id.
async fn apply(h: &Harness, token: &str, body: Value) -> String {
    let (status, created) = post(h, "/admin/v1/agreements", token, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn decide(
    h: &Harness,
    id: &str,
    verb: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    post(h, &format!("/admin/v1/agreements/{id}/{verb}"), token, body).await
}

/// The newest audit record's operator, action, target and detail.
async fn last_audit(h: &Harness) -> (String, String, String, Value) {
    let r = h.audit(1).await.into_iter().next().unwrap();
    let detail = serde_json::from_str(&r.detail).unwrap();
    (r.operator, r.action, r.target, detail)
}

#[tokio::test]
async fn the_catalog_is_listed_to_every_operator() {
    let h = harness().await;
    let all = h.get_json("/admin/v1/data-items", VIEWER).await;
    let items = all["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["tax.arrears", "tax.income"]);
    let income = &items[1];
    assert_eq!(income["dept"], "tax");
    assert_eq!(income["name"], "个人所得税纳税记录");
    assert_eq!(income["sharing"], "conditional");
    assert_eq!(income["provider_approval"], false);
    assert_eq!(income["fields"][0]["name"], "resident_id");
    assert_eq!(income["fields"][0]["mask"], "resident_id");
    assert_eq!(items[0]["provider_approval"], true);
    // An operator limited to hpf sees tax's items too: the catalog is
    // public to operators.
    assert_eq!(h.get_json("/admin/v1/data-items", HPF_EDITOR).await, all);
    assert_eq!(
        h.get_json("/admin/v1/data-items?dept=tax", VIEWER).await,
        all
    );
    assert_eq!(
        h.get_json("/admin/v1/data-items?dept=hpf", VIEWER).await,
        json!({"items": []})
    );
    let (status, body) = answer(
        h.req("GET", "/admin/v1/data-items?nope=1", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn without_sharing_the_routes_answer_404() {
    let h = Harness::start().await;
    for path in [
        "/admin/v1/data-items",
        "/admin/v1/agreements",
        "/admin/v1/agreements/x",
    ] {
        let (status, body) = answer(h.req("GET", path, Some(VIEWER)).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    let (status, _) = post(
        &h,
        "/admin/v1/agreements",
        EDITOR,
        Some(application("tax.income")),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = decide(&h, "x", "approve", APPROVER, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_application_waits_for_an_operator_and_is_then_approved() {
    let h = harness().await;
    let (status, pending) = post(
        &h,
        "/admin/v1/agreements",
        EDITOR,
        Some(application("tax.income")),
    )
    .await;
    assert_eq!(status, 201, "{pending}");
    let id = pending["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("agr-"), "{id}");
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["consumer"], "hpf");
    assert_eq!(pending["provider"], "tax");
    assert_eq!(pending["item"], "tax.income");
    assert_eq!(pending["fields"], json!(["resident_id", "annual_income"]));
    assert_eq!(pending["clear_fields"], json!([]));
    assert_eq!(pending["purpose"], PURPOSE);
    assert_eq!(pending["applied_by"], "operator:editor");
    assert_eq!(pending["needs_provider"], false);
    assert!(
        pending["pending_age_ms"].as_i64().unwrap() >= 0,
        "{pending}"
    );
    let due = parse_time(pending["decision_due"].as_str().unwrap()).unwrap();
    let applied = parse_time(pending["applied_at"].as_str().unwrap()).unwrap();
    assert_eq!(due - applied, 60_000, "sharing.approval_deadline = 1m");
    assert_eq!(pending["overdue"], false);
    assert_eq!(pending["operator_approval"], Value::Null);
    // Recorded in the admin audit trail, under the agreement's id.
    let (operator, action, target, detail) = last_audit(&h).await;
    assert_eq!(
        (operator.as_str(), action.as_str(), target.as_str()),
        ("editor", "agreement.apply", id.as_str())
    );
    assert_eq!(detail["outcome"], "done");
    assert_eq!(detail["consumer"], "hpf");
    assert_eq!(detail["item"], "tax.income");

    let listed = h
        .get_json("/admin/v1/agreements?state=pending", VIEWER)
        .await;
    assert_eq!(listed["agreements"].as_array().unwrap().len(), 1);
    assert_eq!(listed["agreements"][0]["id"], id.as_str());
    assert_eq!(
        h.get_json("/admin/v1/agreements?state=approved", VIEWER)
            .await,
        json!({"agreements": []})
    );

    // While pending, the consumer's exchange is denied.
    let sharing = h.sharing.clone().unwrap();
    sharing
        .set_consent(CITIZEN, "hpf", PURPOSE, true)
        .await
        .unwrap();
    let read = || FetchRequest {
        item: "tax.income".into(),
        citizen: CITIZEN.into(),
        purpose: PURPOSE.into(),
        request_id: None,
    };
    assert!(matches!(
        sharing.fetch("hpf", read()).await,
        Err(SharingError::Denied(_))
    ));

    let (status, approved) = decide(&h, &id, "approve", APPROVER, None).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["operator_approval"]["by"], "operator:approver");
    assert_eq!(approved["provider_approval"], Value::Null);
    assert_eq!(approved["pending_age_ms"], Value::Null);
    assert_eq!(approved["decision_due"], Value::Null);
    let (operator, action, target, detail) = last_audit(&h).await;
    assert_eq!(
        (operator.as_str(), action.as_str(), target.as_str()),
        ("approver", "agreement.approve", id.as_str())
    );
    assert_eq!(detail["as"], "operator");
    assert_eq!(detail["state"], "approved");
    assert_eq!(
        h.get_json(&format!("/admin/v1/agreements/{id}"), VIEWER)
            .await,
        approved
    );
    // Now the exchange gets as far as the provider (which this test's
    // fetcher never answers).
    assert!(matches!(
        sharing.fetch("hpf", read()).await,
        Err(SharingError::Unavailable(_))
    ));

    // Approving twice is a conflict.
    let (status, body) = decide(&h, &id, "approve", APPROVER, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );

    // Filters.
    for (query, n) in [
        ("consumer=hpf", 1),
        ("consumer=tax", 0),
        ("provider=tax", 1),
        ("item=tax.income", 1),
        ("item=tax.arrears", 0),
        ("state=approved&limit=1", 1),
    ] {
        let found = h
            .get_json(&format!("/admin/v1/agreements?{query}"), VIEWER)
            .await;
        assert_eq!(found["agreements"].as_array().unwrap().len(), n, "{query}");
    }
}

#[tokio::test]
async fn applications_stay_within_the_editors_departments() {
    let h = harness().await;
    let id = apply(&h, HPF_EDITOR, application("tax.income")).await;
    let got = h
        .get_json(&format!("/admin/v1/agreements/{id}"), VIEWER)
        .await;
    assert_eq!(got["applied_by"], "operator:hpf-editor");

    let mut for_tax = application("tax.income");
    for_tax["consumer"] = json!("tax");
    let (status, body) = post(&h, "/admin/v1/agreements", HPF_EDITOR, Some(for_tax)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "operator `hpf-editor` may apply only for departments hpf"
    );
    let (operator, action, target, detail) = last_audit(&h).await;
    assert_eq!(
        (operator.as_str(), action.as_str(), target.as_str()),
        ("hpf-editor", "agreement.apply", "tax")
    );
    assert_eq!(detail["outcome"], "refused");
    // Viewers and approvers file nothing.
    for token in [VIEWER, APPROVER] {
        let (status, body) = post(
            &h,
            "/admin/v1/agreements",
            token,
            Some(application("tax.income")),
        )
        .await;
        assert_eq!(status, 403, "{body}");
    }
    let all = h.get_json("/admin/v1/agreements", VIEWER).await;
    assert_eq!(all["agreements"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_provider_approves_where_the_item_asks_for_it() {
    let h = harness().await;
    let id = apply(&h, EDITOR, application("tax.arrears")).await;

    // The gateway's operator approves first: still pending.
    let (status, body) = decide(&h, &id, "approve", APPROVER, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "pending");
    assert_eq!(body["needs_provider"], true);
    assert_eq!(body["operator_approval"]["by"], "operator:approver");
    assert_eq!(body["provider_approval"], Value::Null);

    // An approver of another department (the consumer's) may not.
    let (status, body) = decide(&h, &id, "approve", HPF_APPROVER, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let (operator, action, target, detail) = last_audit(&h).await;
    assert_eq!(
        (operator.as_str(), action.as_str(), target.as_str()),
        ("hpf-approver", "agreement.approve", id.as_str())
    );
    assert_eq!(detail["outcome"], "refused");

    // The provider's approver does: approved.
    let (status, body) = decide(&h, &id, "approve", TAX_APPROVER, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["provider_approval"]["by"], "operator:tax-approver");
    let (_, _, _, detail) = last_audit(&h).await;
    assert_eq!(detail["as"], "provider");

    // The provider approving first leaves it pending until the operator.
    let other = apply(&h, EDITOR, application("tax.arrears")).await;
    let (_, body) = decide(&h, &other, "approve", TAX_APPROVER, None).await;
    assert_eq!(body["state"], "pending");
    let (_, body) = decide(&h, &other, "approve", APPROVER, None).await;
    assert_eq!(body["state"], "approved");

    // An item without provider approval: the provider's approver has no
    // approval to give.
    let income = apply(&h, EDITOR, application("tax.income")).await;
    let (status, body) = decide(&h, &income, "approve", TAX_APPROVER, None).await;
    assert_eq!(status, 403, "{body}");
    let got = h
        .get_json(&format!("/admin/v1/agreements/{income}"), VIEWER)
        .await;
    assert_eq!(got["state"], "pending");
    assert_eq!(got["provider_approval"], Value::Null);
}

#[tokio::test]
async fn rejections_and_revocations_give_a_reason_and_happen_once() {
    let h = harness().await;
    let rejected = apply(&h, EDITOR, application("tax.income")).await;
    let revoked = apply(&h, EDITOR, application("tax.income")).await;
    let reason = json!({"reason": "用途与法律依据不符"});

    // No reason: 400 naming the field.
    let (status, body) = decide(
        &h,
        &rejected,
        "reject",
        APPROVER,
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "reason");

    // An approver of the consumer's department may not reject or revoke.
    for verb in ["reject", "revoke"] {
        let (status, body) = decide(&h, &rejected, verb, HPF_APPROVER, Some(reason.clone())).await;
        assert_eq!(status, 403, "{verb}: {body}");
    }

    let (status, body) = decide(&h, &rejected, "reject", APPROVER, Some(reason.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "rejected");
    assert_eq!(body["reason"], "用途与法律依据不符");
    assert_eq!(body["closed"]["by"], "operator:approver");
    let (operator, action, target, detail) = last_audit(&h).await;
    assert_eq!(
        (operator.as_str(), action.as_str(), target.as_str()),
        ("approver", "agreement.reject", rejected.as_str())
    );
    assert_eq!(detail["reason"], "用途与法律依据不符");
    let (status, _) = decide(&h, &rejected, "reject", APPROVER, Some(reason.clone())).await;
    assert_eq!(status, 409);
    let (status, _) = decide(&h, &rejected, "approve", APPROVER, None).await;
    assert_eq!(status, 409);

    // Approved, then revoked by the provider's approver, at once.
    let (status, _) = decide(&h, &revoked, "approve", APPROVER, None).await;
    assert_eq!(status, 200);
    let sharing = h.sharing.clone().unwrap();
    sharing
        .set_consent(CITIZEN, "hpf", PURPOSE, true)
        .await
        .unwrap();
    let read = || FetchRequest {
        item: "tax.income".into(),
        citizen: CITIZEN.into(),
        purpose: PURPOSE.into(),
        request_id: None,
    };
    assert!(matches!(
        sharing.fetch("hpf", read()).await,
        Err(SharingError::Unavailable(_))
    ));
    let (status, body) = decide(&h, &revoked, "revoke", TAX_APPROVER, Some(reason.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "revoked");
    assert_eq!(body["closed"]["by"], "operator:tax-approver");
    assert!(matches!(
        sharing.fetch("hpf", read()).await,
        Err(SharingError::Denied(_))
    ));
    let (status, body) = decide(&h, &revoked, "revoke", APPROVER, Some(reason.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");

    let states: BTreeSet<String> = h.get_json("/admin/v1/agreements", VIEWER).await["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        states,
        BTreeSet::from(["rejected".to_string(), "revoked".to_string()])
    );
}

#[tokio::test]
async fn only_approvers_decide_and_unknown_agreements_are_404() {
    let h = harness().await;
    let id = apply(&h, EDITOR, application("tax.income")).await;
    for token in [VIEWER, EDITOR, HPF_EDITOR] {
        for verb in ["approve", "reject", "revoke"] {
            let (status, body) = decide(&h, &id, verb, token, Some(json!({"reason": "x"}))).await;
            assert_eq!(status, 403, "{verb}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("lacks the role this needs (approver)"),
                "{body}"
            );
        }
    }
    let got = h
        .get_json(&format!("/admin/v1/agreements/{id}"), VIEWER)
        .await;
    assert_eq!(got["state"], "pending");

    let (status, body) = answer(
        h.req("GET", "/admin/v1/agreements/agr-nope", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    for verb in ["approve", "reject", "revoke"] {
        let (status, body) =
            decide(&h, "agr-nope", verb, APPROVER, Some(json!({"reason": "x"}))).await;
        assert_eq!(status, 404, "{verb}: {body}");
    }
}

#[tokio::test]
async fn a_bad_application_names_every_problem() {
    let h = harness().await;
    let bad = json!({
        "consumer": "hpf",
        "item": "tax.nope",
        "fields": [],
        "clear_fields": ["owed"],
        "purpose": "Housing Loan",
        "legal_basis": " ",
        "expires_at": "next tuesday",
    });
    let (status, body) = post(&h, "/admin/v1/agreements", EDITOR, Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    let fields: BTreeSet<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "item",
            "fields",
            "clear_fields[0]",
            "purpose",
            "legal_basis",
            "expires_at"
        ])
    );
    for d in body["error"]["details"].as_array().unwrap() {
        assert!(!d["message"].as_str().unwrap().is_empty(), "{d}");
    }

    // An unknown consumer, a field the item lacks, a past expiry.
    let mut bad = application("tax.income");
    bad["consumer"] = json!("nobody");
    bad["fields"] = json!(["annual_income", "salary"]);
    bad["expires_at"] = json!(in_days(-1));
    let (status, body) = post(&h, "/admin/v1/agreements", EDITOR, Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    let details: Vec<(&str, &str)> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap(), d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        details,
        [
            ("consumer", "`nobody` is not a declared department"),
            ("fields[1]", "`salary` is not a field of `tax.income`"),
            ("expires_at", "must be in the future"),
        ]
    );
    // A department applying for its own data, an unknown body key.
    let mut own = application("tax.income");
    own["consumer"] = json!("tax");
    let (status, body) = post(&h, "/admin/v1/agreements", EDITOR, Some(own)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "item");
    let mut extra = application("tax.income");
    extra["approved"] = json!(true);
    let (status, _) = post(&h, "/admin/v1/agreements", EDITOR, Some(extra)).await;
    assert_eq!(status, 400);
    // Nothing was filed.
    assert_eq!(
        h.get_json("/admin/v1/agreements", VIEWER).await,
        json!({"agreements": []})
    );
    // An offset is accepted.
    let mut offset = application("tax.income");
    offset["expires_at"] = json!(in_days(30).replace('Z', "+00:00"));
    apply(&h, EDITOR, offset).await;
}

#[tokio::test]
async fn overdue_lists_pending_agreements_past_the_approval_deadline() {
    let h = harness().await;
    let store = h.sharing_store.clone().unwrap();
    let now = now_ms();
    // Applied two minutes ago; `sharing.approval_deadline` is one minute.
    store
        .create_agreement(&NewAgreement {
            id: "agr-old".into(),
            consumer: "hpf".into(),
            provider: "tax".into(),
            item: "tax.income".into(),
            fields: vec!["annual_income".into()],
            clear_fields: vec![],
            purpose: PURPOSE.into(),
            legal_basis: "《住房公积金管理条例》第十三条".into(),
            expires_at: now + 30 * DAY,
            needs_provider: false,
            applied_by: "operator:editor".into(),
            applied_at: now - 120_000,
        })
        .await
        .unwrap();
    let fresh = apply(&h, EDITOR, application("tax.income")).await;

    let overdue = h
        .get_json("/admin/v1/agreements?state=overdue", VIEWER)
        .await;
    let list = overdue["agreements"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{overdue}");
    assert_eq!(list[0]["id"], "agr-old");
    assert_eq!(list[0]["state"], "pending");
    assert_eq!(list[0]["overdue"], true);
    assert!(list[0]["pending_age_ms"].as_i64().unwrap() >= 120_000);
    let pending = h
        .get_json("/admin/v1/agreements?state=pending", VIEWER)
        .await;
    let ids: Vec<&str> = pending["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [fresh.as_str(), "agr-old"]);

    // Decided, it is no longer overdue.
    let (status, _) = decide(&h, "agr-old", "approve", APPROVER, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.get_json("/admin/v1/agreements?state=overdue", VIEWER)
            .await,
        json!({"agreements": []})
    );

    for query in ["state=late", "limit=0", "limit=501", "limit=x"] {
        let (status, body) = answer(
            h.req(
                "GET",
                &format!("/admin/v1/agreements?{query}"),
                Some(VIEWER),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "BAD_REQUEST");
    }
}

#[test]
fn times_parse_as_rfc3339_with_an_offset() {
    let utc = parse_time("2027-01-30T16:00:00Z").unwrap();
    assert_eq!(parse_time("2027-01-31T00:00:00+08:00"), Some(utc));
    assert_eq!(parse_time("2027-01-30T11:00:00-05:00"), Some(utc));
    assert_eq!(parse_time("2027-01-30T16:00:00.250Z"), Some(utc + 250));
    for bad in [
        "",
        "tomorrow",
        "2027-01-31",
        "2027-01-31T00:00:00",
        "2027-01-31T00:00:00+8:00",
        "2027-01-31T00:00:00+24:00",
        "2027-01-31T00:00:00+08-00",
        "２０２７-01-31T00:00:00Z",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn sharing_errors_map_to_status_and_code() {
    use crate::sharing_api::map;
    let invalid = map(SharingError::Invalid(vec![onestop_control::Problem::new(
        "purpose", "bad",
    )]));
    assert_eq!(
        (invalid.status().as_u16(), invalid.code()),
        (400, "BAD_REQUEST")
    );
    assert!(matches!(
        &invalid,
        crate::ApiError::BadRequest { details, .. } if details.len() == 1
            && details[0].field.as_deref() == Some("purpose")
    ));
    for (e, status, code) in [
        (SharingError::NotFound("x".into()), 404, "NOT_FOUND"),
        (SharingError::Forbidden("x".into()), 403, "FORBIDDEN"),
        (SharingError::Conflict("x".into()), 409, "CONFLICT"),
        (
            SharingError::Unavailable("x".into()),
            503,
            "STORE_UNAVAILABLE",
        ),
        (SharingError::Internal("x".into()), 500, "INTERNAL"),
    ] {
        let e = map(e);
        assert_eq!((e.status().as_u16(), e.code()), (status, code));
    }
}

#[tokio::test]
async fn an_approved_agreement_past_its_term_shows_and_lists_as_expired() {
    let h = harness().await;
    let store = h.sharing_store.clone().unwrap();
    let now = now_ms();
    let agreement = |id: &str, expires_at: i64| NewAgreement {
        id: id.into(),
        consumer: "hpf".into(),
        provider: "tax".into(),
        item: "tax.income".into(),
        fields: vec!["annual_income".into()],
        clear_fields: vec![],
        purpose: PURPOSE.into(),
        legal_basis: "《住房公积金管理条例》第十三条".into(),
        expires_at,
        needs_provider: false,
        applied_by: "operator:editor".into(),
        applied_at: now,
    };
    store
        .create_agreement(&agreement("agr-short", now + 1_500))
        .await
        .unwrap();
    store
        .create_agreement(&agreement("agr-long", now + 30 * DAY))
        .await
        .unwrap();
    for id in ["agr-short", "agr-long"] {
        let (status, body) = decide(&h, id, "approve", APPROVER, None).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("approved")),
            "{body}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;

    let ids = |page: Value| -> Vec<String> {
        page["agreements"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|a| a["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let one = h.get_json("/admin/v1/agreements/agr-short", VIEWER).await;
    assert_eq!(
        (one["state"].as_str(), one["expired"].as_bool()),
        (Some("expired"), Some(true)),
        "{one}"
    );
    assert_eq!(
        ids(h
            .get_json("/admin/v1/agreements?state=expired", VIEWER)
            .await),
        ["agr-short"]
    );
    assert_eq!(
        ids(h
            .get_json("/admin/v1/agreements?state=approved", VIEWER)
            .await),
        ["agr-long"],
        "`approved` lists only agreements in force"
    );
    let (status, body) = answer(
        h.req("GET", "/admin/v1/agreements?state=lapsed", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{body}"
    );
}
