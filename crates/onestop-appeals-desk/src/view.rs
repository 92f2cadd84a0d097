//! Appeals as JSON documents: the citizen's view, a department's and the
//! operators'.

use onestop_store::{AppealEvent, AppealRecord, Millis};
use serde_json::{Value, json};

use crate::{Who, privacy};

fn timeline(events: &[AppealEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            json!({
                "at": e.at,
                "event": e.event,
                "actor": e.actor,
                "dept": e.dept,
                "note": e.note,
            })
        })
        .collect()
}

/// Whether the deadline that applies now has passed. An operator's
/// escalation (督办) before the deadline does not make an appeal overdue.
pub fn overdue(a: &AppealRecord, now: Millis) -> bool {
    a.next_due.is_some_and(|d| d < now)
}

/// The document every reader gets; the citizen's id is never in it.
pub fn appeal(a: &AppealRecord, now: Millis) -> Value {
    let mut doc = json!({
        "id": a.id,
        "kind": a.kind,
        "title": a.title,
        "content": a.content,
        "state": a.state,
        "dept": a.dept,
        "matter": a.matter,
        "location": a.location,
        "disclose": a.disclose,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "deadline": a.reply_due,
        "accept_due": a.accept_due,
        "next_due": a.next_due,
        "accepted_at": a.accepted_at,
        "replied_at": a.replied_at,
        "closed_at": a.closed_at,
        "escalated_at": a.escalated_at,
        "overdue": overdue(a, now),
        "reply": a.reply,
        "rating": a.score.map(|s| json!({"score": s, "comment": a.rating_comment, "at": a.rated_at})),
    });
    if !a.timeline.is_empty()
        && let Some(o) = doc.as_object_mut()
    {
        o.insert("timeline".into(), Value::Array(timeline(&a.timeline)));
    }
    doc
}

/// The document a department or an operator gets (`who`): the citizen's
/// document with the location as [`privacy::location`] decides — withheld
/// ones are `null` with `location_withheld: true`.
pub fn appeal_as(
    a: &AppealRecord,
    now: Millis,
    who: Who<'_>,
    emergency_dept: Option<&str>,
) -> Value {
    let mut doc = appeal(a, now);
    let loc = privacy::location(who, a, emergency_dept);
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "location".into(),
            loc.shown().cloned().unwrap_or(Value::Null),
        );
        o.insert("location_withheld".into(), Value::Bool(loc.withheld()));
    }
    doc
}

/// A page of appeals and the cursor of the next one.
pub fn page(list: &[AppealRecord], limit: usize, now: Millis) -> Value {
    let next = (list.len() >= limit && limit > 0)
        .then(|| list.last().map(|a| a.id.clone()))
        .flatten();
    json!({
        "appeals": list.iter().map(|a| appeal(a, now)).collect::<Vec<_>>(),
        "next": next,
    })
}
