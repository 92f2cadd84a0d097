//! Appeals as JSON documents: the citizen's view, a department's and the
//! operators'.

use onestop_store::{AppealAttachment, AppealEvent, AppealRecord, Millis};
use serde_json::{Value, json};

/// The timeline; an entry that attached files lists their ids.
fn timeline(events: &[AppealEvent], attachments: &[AppealAttachment]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut entry = json!({
                "at": e.at,
                "event": e.event,
                "actor": e.actor,
                "dept": e.dept,
                "note": e.note,
            });
            let carried: Vec<&str> = attachments
                .iter()
                .filter(|a| a.seq == e.seq)
                .map(|a| a.hash.as_str())
                .collect();
            if !carried.is_empty()
                && let Some(o) = entry.as_object_mut()
            {
                o.insert("attachments".into(), json!(carried));
            }
            entry
        })
        .collect()
}

/// An appeal's attachments: id (the content hash), type, size, who attached
/// it and when.
pub fn attachments(list: &[AppealAttachment]) -> Vec<Value> {
    list.iter()
        .map(|a| {
            json!({
                "id": a.hash,
                "type": a.media_type,
                "size": a.size,
                "by": a.actor,
                "by_id": a.actor_id,
                "at": a.at,
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
        o.insert(
            "timeline".into(),
            Value::Array(timeline(&a.timeline, &a.attachments)),
        );
        o.insert(
            "attachments".into(),
            Value::Array(attachments(&a.attachments)),
        );
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
