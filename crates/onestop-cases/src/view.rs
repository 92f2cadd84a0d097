//! The JSON documents of cases, ratings and follow-ups, shared by the
//! citizens' API and the admin API. Times are RFC 3339 (UTC, milliseconds).

use onestop_store::{CaseRecord, FollowupRecord, RatingRecord, RatingStats, StepState};
use serde_json::{Value, json};

/// An epoch-milliseconds time as RFC 3339.
pub fn time(ms: i64) -> Value {
    onestop_core::time::rfc3339_ms(ms).map_or(Value::Null, Value::String)
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, time)
}

/// A case with per-step progress and deadlines. `output` (the
/// departments' answers) is included for the citizen's own view.
pub fn case(case: &CaseRecord, rating: Option<&RatingRecord>, now: i64) -> Value {
    // A step not done yet of a case still running, past its deadline.
    let overdue = |s: &onestop_store::StepRecord| {
        case.state.active()
            && matches!(s.state, StepState::Pending | StepState::Running)
            && s.deadline_at < now
    };
    let steps: Vec<Value> = case
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.step,
                "name": s.name,
                "dept": s.dept,
                "state": s.state.as_str(),
                "attempts": s.attempts,
                // 1, 2, … in the order steps were done; undone in reverse.
                "done_order": s.done_seq,
                "deadline": time(s.deadline_at),
                "overdue": overdue(s),
                "started_at": opt_time(s.started_at),
                "finished_at": opt_time(s.finished_at),
                "compensated_at": opt_time(s.compensated_at),
                "output": s.output.clone().unwrap_or(Value::Null),
                "error": s.error,
            })
        })
        .collect();
    let deadline = case.steps.iter().map(|s| s.deadline_at).max();
    let done = case
        .steps
        .iter()
        .filter(|s| s.state == StepState::Done)
        .count();
    json!({
        "id": case.id,
        "matter": case.matter,
        "matter_name": case.matter_name,
        "lead_dept": case.lead_dept,
        "state": case.state.as_str(),
        "failure": case.failure,
        "progress": { "done": done, "total": case.steps.len() },
        "submitted_at": time(case.created_at),
        "updated_at": time(case.updated_at),
        "finished_at": opt_time(case.finished_at),
        "deadline": opt_time(deadline),
        "overdue": case.steps.iter().any(overdue),
        "input": case.input,
        "steps": steps,
        "rating": rating.map(self::rating),
    })
}

pub fn rating(r: &RatingRecord) -> Value {
    json!({
        "id": r.id,
        "subject": { "kind": r.subject_kind.as_str(), "id": r.subject },
        "dept": r.dept,
        "score": r.score,
        "tags": r.tags,
        "comment": r.comment,
        "rated_at": time(r.at),
        "followup_id": r.followup_id,
    })
}

pub fn followup(f: &FollowupRecord, now: i64) -> Value {
    json!({
        "id": f.id,
        "rating_id": f.rating_id,
        "dept": f.dept,
        "subject": { "kind": f.subject_kind.as_str(), "id": f.subject },
        "score": f.score,
        "created_at": time(f.created_at),
        "due": time(f.due_at),
        "overdue": f.closed_at.is_none() && f.due_at < now,
        "state": if f.closed_at.is_some() { "closed" } else { "open" },
        "closed_at": opt_time(f.closed_at),
        "closed_by": f.closed_by,
        "note": f.note,
    })
}

pub fn stats(s: &RatingStats) -> Value {
    json!({
        "dept": s.dept,
        "count": s.count,
        "average": (s.average * 100.0).round() / 100.0,
        "by_score": { "1": s.by_score[0], "2": s.by_score[1], "3": s.by_score[2], "4": s.by_score[3], "5": s.by_score[4] },
        "followups_open": s.followups_open,
        "followups_overdue": s.followups_overdue,
    })
}
