//! Privacy of appeals (issue 21 item 7), pure: who sees an appeal's
//! location, and the access-log record of a department's or an operator's
//! read that the citizen finds in `GET /api/v1/me/access-log`.
//!
//! - An `emergency` appeal's location is shown to its citizen and to the
//!   emergency department (`[appeals] emergency_dept`) only; every other
//!   department and every operator is told it is withheld
//!   (`location_withheld: true`), never given a silent null. Other kinds
//!   are shown to everybody who may read the appeal.
//! - Every read by a department or an operator is one access record:
//!   `dept:<id>` (purpose `appeal handling`) or `operator:<name>`
//!   (`appeal supervision`), item `appeal <id>`, the fields returned.
//!   Callers hand it to the exchange's audit log before the appeal leaves
//!   (as evidence fetches do) and withhold the appeal when it is refused.

use onestop_store::{AppealRecord, Millis, NewAccessRecord};
use serde_json::Value;

use crate::Who;

/// The purpose of a department's read.
pub const HANDLING: &str = "appeal handling";
/// The purpose of an operator's read.
pub const SUPERVISION: &str = "appeal supervision";

/// An appeal's location as one reader may see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Location<'a> {
    /// The appeal has none.
    None,
    /// Shown.
    Shown(&'a Value),
    /// The appeal has one, but not for this reader.
    Withheld,
}

impl<'a> Location<'a> {
    /// The value to show (`None` when there is none or it is withheld).
    pub fn shown(self) -> Option<&'a Value> {
        match self {
            Location::Shown(v) => Some(v),
            Location::None | Location::Withheld => None,
        }
    }

    pub fn withheld(self) -> bool {
        self == Location::Withheld
    }
}

/// The one rule: an `emergency` appeal's location goes to its citizen and
/// the emergency department only; other kinds' to every reader who may
/// read the appeal (the desk checked that already).
pub fn location<'a>(
    who: Who<'_>,
    appeal: &'a AppealRecord,
    emergency_dept: Option<&str>,
) -> Location<'a> {
    let Some(loc) = appeal.location.as_ref() else {
        return Location::None;
    };
    if appeal.kind != onestop_appeals::Kind::Emergency.as_str() {
        return Location::Shown(loc);
    }
    let allowed = match who {
        Who::Citizen(c) => c == appeal.citizen,
        Who::Department(d) => emergency_dept == Some(d),
        Who::Operator(_) | Who::System => false,
    };
    if allowed {
        Location::Shown(loc)
    } else {
        Location::Withheld
    }
}

/// How a reader appears in the citizen's access log (`None` for the
/// citizen and the gateway itself, whose reads are not recorded here).
pub fn accessor(who: Who<'_>) -> Option<String> {
    match who {
        Who::Department(d) => Some(format!("dept:{d}")),
        Who::Operator(o) => Some(format!("operator:{o}")),
        Who::Citizen(_) | Who::System => None,
    }
}

/// The access record of `who` reading `appeal` (`None` when `who` is the
/// citizen or the gateway). `fields` are those the reader got: the
/// location only when it was shown.
pub fn read_record(
    who: Who<'_>,
    appeal: &AppealRecord,
    emergency_dept: Option<&str>,
    request_id: &str,
    now: Millis,
) -> Option<NewAccessRecord> {
    let consumer = accessor(who)?;
    let purpose = match who {
        Who::Operator(_) => SUPERVISION,
        _ => HANDLING,
    };
    let mut fields: Vec<String> = ["title", "content"].map(String::from).to_vec();
    if location(who, appeal, emergency_dept).shown().is_some() {
        fields.push("location".into());
    }
    if appeal.reply.is_some() {
        fields.push("reply".into());
    }
    Some(NewAccessRecord {
        at: now,
        consumer,
        citizen: appeal.citizen.clone(),
        item: format!("appeal {}", appeal.id),
        fields,
        purpose: purpose.into(),
        agreement: None,
        request_id: request_id.to_owned(),
        outcome: "ok".into(),
    })
}

/// The access record of `who` fetching the attachment `hash` of `appeal`
/// (a photo shows what the content says): item `appeal <id>`, field
/// `attachment <hash>`. `None` for the citizen and the gateway.
pub fn attachment_record(
    who: Who<'_>,
    appeal: &AppealRecord,
    hash: &str,
    request_id: &str,
    now: Millis,
) -> Option<NewAccessRecord> {
    let mut record = read_record(who, appeal, None, request_id, now)?;
    record.fields = vec![format!("attachment {hash}")];
    Some(record)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn appeal(kind: &str, location: Option<Value>) -> AppealRecord {
        AppealRecord {
            id: "S1".into(),
            citizen: "A".into(),
            channel: None,
            kind: kind.into(),
            title: "t".into(),
            content: "c".into(),
            matter: None,
            hint_dept: None,
            location,
            disclose: false,
            state: "dispatched".into(),
            dept: Some("police".into()),
            submit_key: None,
            version: 2,
            created_at: 1,
            updated_at: 1,
            dispatched_at: Some(1),
            accept_due: Some(2),
            accepted_at: None,
            reply_due: 3,
            replied_at: None,
            closed_at: None,
            escalated_at: None,
            next_due: Some(2),
            reply: None,
            score: None,
            rating_comment: None,
            rated_at: None,
            redispatches: 0,
            supervise_due: None,
            supervised_at: None,
            co_handlers: Vec::new(),
            timeline: Vec::new(),
            attachments: Vec::new(),
        }
    }

    const EMERGENCY: Option<&str> = Some("police");

    #[test]
    fn an_emergency_location_reaches_its_citizen_and_the_emergency_department_only() {
        let loc = json!({"address": "某路1号", "lat": 23.1, "lng": 113.2});
        let a = appeal("emergency", Some(loc.clone()));
        for (who, shown) in [
            (Who::Citizen("A"), true),
            (Who::Citizen("B"), false),
            (Who::Department("police"), true),
            (Who::Department("water"), false),
            (Who::Operator("alice"), false),
            (Who::System, false),
        ] {
            let got = location(who, &a, EMERGENCY);
            if shown {
                assert_eq!(got, Location::Shown(&loc), "{who:?}");
            } else {
                assert_eq!(got, Location::Withheld, "{who:?}");
                assert!(got.withheld() && got.shown().is_none());
            }
        }
        // No emergency department configured: only the citizen.
        assert_eq!(
            location(Who::Department("police"), &a, None),
            Location::Withheld
        );
        assert_eq!(location(Who::Citizen("A"), &a, None), Location::Shown(&loc));
    }

    #[test]
    fn other_kinds_and_appeals_without_a_location_are_unchanged() {
        let loc = json!({"address": "某路1号"});
        for kind in [
            "consult",
            "help",
            "complaint",
            "report",
            "suggestion",
            "praise",
        ] {
            let a = appeal(kind, Some(loc.clone()));
            for who in [
                Who::Citizen("A"),
                Who::Department("water"),
                Who::Operator("alice"),
            ] {
                assert_eq!(location(who, &a, EMERGENCY), Location::Shown(&loc));
            }
        }
        let none = appeal("emergency", None);
        assert_eq!(
            location(Who::Operator("alice"), &none, EMERGENCY),
            Location::None
        );
        assert!(!Location::None.withheld());
    }

    #[test]
    fn reads_are_recorded_with_who_what_and_why() {
        let a = appeal("emergency", Some(json!({"address": "x"})));
        let r = read_record(Who::Department("police"), &a, EMERGENCY, "rq", 7).unwrap();
        assert_eq!(r.consumer, "dept:police");
        assert_eq!(r.citizen, "A");
        assert_eq!(r.item, "appeal S1");
        assert_eq!(r.purpose, HANDLING);
        assert_eq!(r.fields, ["title", "content", "location"]);
        assert_eq!(
            (r.at, r.request_id.as_str(), r.outcome.as_str()),
            (7, "rq", "ok")
        );
        let r = read_record(Who::Department("water"), &a, EMERGENCY, "rq", 7).unwrap();
        assert_eq!(r.fields, ["title", "content"]);
        let r = read_record(Who::Operator("alice"), &a, EMERGENCY, "rq", 7).unwrap();
        assert_eq!(r.consumer, "operator:alice");
        assert_eq!(r.purpose, SUPERVISION);
        assert_eq!(r.fields, ["title", "content"]);
        assert!(read_record(Who::Citizen("A"), &a, EMERGENCY, "rq", 7).is_none());
        assert!(read_record(Who::System, &a, EMERGENCY, "rq", 7).is_none());
        let r = attachment_record(Who::Department("water"), &a, "sha256:ab", "rq", 7).unwrap();
        assert_eq!(r.consumer, "dept:water");
        assert_eq!(r.item, "appeal S1");
        assert_eq!(r.fields, ["attachment sha256:ab"]);
        assert!(attachment_record(Who::Citizen("A"), &a, "sha256:ab", "rq", 7).is_none());
    }
}
