//! The names of kinds and states, as on the wire and in the store.

use std::fmt;
use std::str::FromStr;

/// What a citizen files (国办发〔2020〕53号's kinds, plus 表扬 and urgent reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 咨询: a question.
    Consult,
    /// 求助: asking for help.
    Help,
    /// 投诉: a complaint about a service or an office.
    Complaint,
    /// 举报: reporting a violation.
    Report,
    /// 建议: a suggestion.
    Suggestion,
    /// 表扬: praise.
    Praise,
    /// 紧急: an urgent report (hours, not days).
    Emergency,
}

impl Kind {
    /// Every kind, in the order of the specification.
    pub const ALL: [Kind; 7] = [
        Kind::Consult,
        Kind::Help,
        Kind::Complaint,
        Kind::Report,
        Kind::Suggestion,
        Kind::Praise,
        Kind::Emergency,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Consult => "consult",
            Kind::Help => "help",
            Kind::Complaint => "complaint",
            Kind::Report => "report",
            Kind::Suggestion => "suggestion",
            Kind::Praise => "praise",
            Kind::Emergency => "emergency",
        }
    }

    /// The Chinese name operators and citizens know.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Consult => "咨询",
            Kind::Help => "求助",
            Kind::Complaint => "投诉",
            Kind::Report => "举报",
            Kind::Suggestion => "建议",
            Kind::Praise => "表扬",
            Kind::Emergency => "紧急",
        }
    }
}

/// Where an appeal is in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Filed; no department yet (the operators' queue).
    Submitted,
    /// Assigned to a department, not yet accepted (签收).
    Dispatched,
    /// The department accepted it and works on it.
    Accepted,
    /// The department replied (答复); the citizen may rate it.
    Replied,
    /// Finished (办结): rated, or closed by an operator.
    Closed,
    /// Sent back by a department with a reason (退单): the operators' queue.
    Returned,
    /// Past a time limit (催办/督办): the operators watch it; the
    /// department still accepts or replies.
    Escalated,
}

impl State {
    /// Every state.
    pub const ALL: [State; 7] = [
        State::Submitted,
        State::Dispatched,
        State::Accepted,
        State::Replied,
        State::Closed,
        State::Returned,
        State::Escalated,
    ];

    /// The wire and store name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Dispatched => "dispatched",
            State::Accepted => "accepted",
            State::Replied => "replied",
            State::Closed => "closed",
            State::Returned => "returned",
            State::Escalated => "escalated",
        }
    }

    /// Still waiting for someone (everything but replied and closed).
    pub fn is_open(self) -> bool {
        !matches!(self, State::Replied | State::Closed)
    }

    /// In the operators' queue: nobody's department holds it.
    pub fn in_operators_queue(self) -> bool {
        matches!(self, State::Submitted | State::Returned)
    }
}

/// A name that is not a kind or state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name `{0}`")]
pub struct UnknownName(pub String);

impl FromStr for Kind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Kind, UnknownName> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

impl FromStr for State {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<State, UnknownName> {
        State::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown appeal kind `{s}` (one of consult, help, complaint, report, suggestion, praise, emergency)"
            ))
        })
    }
}

impl serde::Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert!("Consult".parse::<Kind>().is_err());
        assert!("open".parse::<State>().is_err());
    }
}
