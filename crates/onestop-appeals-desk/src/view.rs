//! Appeals as JSON documents: the citizen's view, a department's and the
//! operators', and the public feed's masked entry.

use onestop_store::{AppealAttachment, AppealEvent, AppealRecord, Millis};
use serde_json::{Value, json};

use crate::disclose::{district, public_text};
use crate::{Who, privacy};

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
        "supervised_at": a.supervised_at,
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
        o.insert("co_handlers".into(), json!(a.co_handlers));
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

/// An appeal's public id: its number with a dash after the date
/// (`S20261207-0123456789`), so that no run of digits in the feed looks
/// like an ID number. [`appeal_id`] undoes it.
pub fn public_id(id: &str) -> String {
    match id.get(..9) {
        Some(head) if id.len() > 9 && id.is_ascii() => format!("{head}-{}", &id[9..]),
        _ => id.to_owned(),
    }
}

/// The appeal number of a public id (or of an appeal number).
pub fn appeal_id(public: &str) -> String {
    public.replacen('-', "", 1)
}

/// One entry of the public feed: what anybody may read of a disclosed,
/// closed appeal. Title, content and reply masked by
/// [`crate::disclose::public_text`]; of the location only the district;
/// nothing of the citizen, the channel, the timeline's actors or the
/// rating. `dept_name` is the department's display name, if known.
pub fn public_entry(a: &AppealRecord, dept_name: Option<&str>) -> Value {
    let address = a
        .location
        .as_ref()
        .and_then(|l| l.get("address"))
        .and_then(Value::as_str);
    let mask = |t: &str| public_text(t, address);
    let closed = a.closed_at.unwrap_or(a.updated_at);
    json!({
        "id": public_id(&a.id),
        "kind": a.kind,
        "dept": a.dept.as_ref().map(|d| json!({"id": d, "name": dept_name.unwrap_or(d)})),
        "title": mask(&a.title),
        "content": mask(&a.content),
        "reply": a.reply.as_deref().map(mask),
        "district": address.and_then(district),
        "filed_at": a.created_at,
        "replied_at": a.replied_at,
        "closed_at": closed,
        "time_taken_ms": closed - a.created_at,
        "reply_time_ms": a.replied_at.map(|r| r - a.created_at),
    })
}
