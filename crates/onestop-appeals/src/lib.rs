//! Citizens' appeals (诉求): the 12345 closed loop, pure parts only.
//!
//! A citizen asks, complains or reports ([`Kind`]); the appeal is dispatched
//! (派单) to a department by [`dispatch::Rules`] or lands in the operators'
//! queue; the department accepts it (签收) and replies (答复); the citizen
//! rates the reply, which closes it (办结). A department may send an appeal
//! back (`returned`, 退单) with a reason, and the overdue scanner marks an
//! appeal past its time limit `escalated` (催办/督办).
//!
//! Nothing here does I/O and nothing reads a clock: time is passed in as
//! epoch milliseconds. [`machine::next_state`] decides every transition;
//! [`calendar::Calendar`] computes deadlines on working days; [`input`]
//! checks a submission and names the field at fault; [`attachment`] checks
//! an attachment's size and type (by its magic bytes) and names it by its
//! SHA-256.

#![forbid(unsafe_code)]

pub mod attachment;
pub mod calendar;
pub mod dispatch;
pub mod input;
pub mod machine;
mod model;

pub use attachment::{
    AttachmentError, CheckedAttachment, check_attachment, content_hash, is_content_hash, sniff,
};
pub use calendar::{Calendar, Day, Limit, LimitError};
pub use dispatch::{Destination, Rule, Rules};
pub use input::{FieldError, InputLimits, Location, Submission, parse_submission};
pub use machine::{Action, Actor, Refusal, next_state};
pub use model::{Kind, State, UnknownName};

/// Epoch milliseconds (UTC).
pub type Millis = i64;

/// A kind's time limits: to accept (签收) and to reply (办结).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindLimits {
    /// From dispatch to acceptance.
    pub accept: Limit,
    /// From submission to the reply.
    pub reply: Limit,
}

impl KindLimits {
    /// Guangdong's defaults: consult 2 working days, help and suggestion
    /// 10, complaint and report 15, praise 10; an emergency is accepted
    /// within 30 minutes and answered within 2 hours. Every other kind is
    /// accepted within 1 working day.
    pub fn default_for(kind: Kind) -> KindLimits {
        let days = |accept, reply| KindLimits {
            accept: Limit::WorkingDays(accept),
            reply: Limit::WorkingDays(reply),
        };
        match kind {
            Kind::Consult => days(1, 2),
            Kind::Help | Kind::Suggestion | Kind::Praise => days(1, 10),
            Kind::Complaint | Kind::Report => days(1, 15),
            Kind::Emergency => KindLimits {
                accept: Limit::Millis(30 * 60_000),
                reply: Limit::Millis(2 * 3_600_000),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guangdong_defaults() {
        let reply = |k| KindLimits::default_for(k).reply;
        assert_eq!(reply(Kind::Consult), Limit::WorkingDays(2));
        assert_eq!(reply(Kind::Help), Limit::WorkingDays(10));
        assert_eq!(reply(Kind::Suggestion), Limit::WorkingDays(10));
        assert_eq!(reply(Kind::Complaint), Limit::WorkingDays(15));
        assert_eq!(reply(Kind::Report), Limit::WorkingDays(15));
        assert_eq!(reply(Kind::Emergency), Limit::Millis(7_200_000));
    }
}

/// Everything the appeals desk needs from the configuration, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Weekends, holidays and make-up days in the platform's zone.
    pub calendar: Calendar,
    /// Limits for every kind.
    pub limits: std::collections::BTreeMap<Kind, KindLimits>,
    /// Dispatch rules and the known departments.
    pub rules: Rules,
    /// Submission limits.
    pub input: InputLimits,
    /// The emergency department (`[appeals] emergency_dept`): the only
    /// department that sees an `emergency` appeal's location.
    pub emergency_dept: Option<String>,
    /// From an overdue appeal's reminder (催办) to its supervision (督办)
    /// when still overdue (`[appeals] supervise_after`).
    pub supervise_after: Limit,
}

/// The 12345 rule: a reminder the day an appeal is overdue; still overdue
/// the next working day, the operators supervise it.
pub const SUPERVISE_AFTER: Limit = Limit::WorkingDays(1);

impl Settings {
    /// A kind's limits (Guangdong's defaults unless configured).
    pub fn limits_for(&self, kind: Kind) -> KindLimits {
        self.limits
            .get(&kind)
            .copied()
            .unwrap_or_else(|| KindLimits::default_for(kind))
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            calendar: Calendar::new(8),
            limits: Kind::ALL
                .into_iter()
                .map(|k| (k, KindLimits::default_for(k)))
                .collect(),
            rules: Rules::default(),
            input: InputLimits::default(),
            emergency_dept: None,
            supervise_after: SUPERVISE_AFTER,
        }
    }
}
