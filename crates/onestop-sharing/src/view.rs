//! The JSON documents of data items, agreements, consents and access
//! records, shared by the citizens' API and the admin API. Times are
//! RFC 3339 (UTC, milliseconds).

use onestop_store::{
    AccessRecord, AgreementRecord, AgreementState, ConsentRecord, Decision, Millis,
};
use serde_json::{Value, json};

use crate::State;
use crate::catalog::Item;

fn time(ms: Millis) -> Value {
    onestop_core::time::rfc3339_ms(ms).map_or(Value::Null, Value::String)
}

fn decision(d: Option<&Decision>) -> Value {
    d.map_or(Value::Null, |d| json!({"by": d.by, "at": time(d.at)}))
}

/// A catalog item, as listed in the admin API.
pub fn item(item: &Item) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// An agreement; a pending one shows its age and whether it is past the
/// approval deadline (`approval_deadline_ms`); an approved one past its
/// term shows `state: "expired"`.
pub fn agreement(a: &AgreementRecord, now: Millis, approval_deadline_ms: Millis) -> Value {
    let n = &a.agreement;
    let pending = a.state == AgreementState::Pending;
    // An approved agreement past its term no longer allows anything: it
    // shows as `expired` (the store keeps it approved; `decide` refuses it
    // by its term).
    let expired = a.state == AgreementState::Approved && n.expires_at <= now;
    let due = n.applied_at.saturating_add(approval_deadline_ms);
    json!({
        "id": n.id,
        "consumer": n.consumer,
        "provider": n.provider,
        "item": n.item,
        "fields": n.fields,
        "clear_fields": n.clear_fields,
        "purpose": n.purpose,
        "legal_basis": n.legal_basis,
        "expires_at": time(n.expires_at),
        "expired": expired,
        "state": if expired { "expired" } else { a.state.as_str() },
        "needs_provider": n.needs_provider,
        "applied_by": n.applied_by,
        "applied_at": time(n.applied_at),
        "operator_approval": decision(a.operator_approval.as_ref()),
        "provider_approval": decision(a.provider_approval.as_ref()),
        "closed": decision(a.closed.as_ref()),
        "reason": a.reason,
        "pending_age_ms": pending.then(|| now.saturating_sub(n.applied_at).max(0)),
        "decision_due": pending.then(|| time(due)),
        "overdue": pending && now > due,
    })
}

/// A citizen's consent.
pub fn consent(c: &ConsentRecord, state: &State) -> Value {
    json!({
        "consumer": c.consumer,
        "consumer_name": state.departments.get(&c.consumer),
        "purpose": c.purpose,
        "granted": c.granted,
        "granted_at": c.granted_at.map_or(Value::Null, time),
        "revoked_at": c.revoked_at.map_or(Value::Null, time),
    })
}

/// One access to a citizen's data, as the citizen sees it: who (a
/// department, an operator, or the app the citizen used), what, which fields, why,
/// when, and how it ended.
pub fn access(r: &AccessRecord, state: &State) -> Value {
    let (kind, id) = match r.consumer.split_once(':') {
        Some(("dept", id)) => ("department", id),
        Some(("channel", id)) => ("channel", id),
        // An operator reading one of the citizen's appeals.
        Some(("operator", id)) => ("operator", id),
        _ => ("other", r.consumer.as_str()),
    };
    let name = match kind {
        "department" => state.departments.get(id).cloned(),
        _ => None,
    };
    let item_name = state.catalog.get(&r.item).map(|i| i.name.clone());
    let purpose_name = state
        .settings
        .purposes
        .iter()
        .find(|p| p.code == r.purpose)
        .map(|p| p.name.clone());
    json!({
        "seq": r.seq,
        "at": time(r.at),
        "accessor": {"kind": kind, "id": id, "name": name},
        "item": r.item,
        "item_name": item_name,
        "fields": r.fields,
        "purpose": r.purpose,
        "purpose_name": purpose_name,
        "agreement": r.agreement,
        "outcome": r.outcome,
        "request_id": r.request_id,
    })
}
