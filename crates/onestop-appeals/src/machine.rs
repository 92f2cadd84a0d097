//! The state machine: which action moves an appeal where, and who may take it.
//!
//! [`next_state`] is the only place that decides a transition. It knows
//! roles, not identities: whether a department is the appeal's own is
//! checked by whoever holds the appeal (the store's transaction), before
//! this function is asked.

use crate::model::State;

/// Something done to an appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Assign to a department (派单): by the rules at submission, or by an
    /// operator from the queue.
    Dispatch,
    /// The department accepts it (签收).
    Accept,
    /// The department answers (答复).
    Reply,
    /// The department sends it back with a reason (退单).
    Return,
    /// Past a time limit (催办; for an appeal in the operators' queue, 督办).
    Escalate,
    /// Still overdue a working day after the 催办 (督办): the operators
    /// supervise it; the appeal stays where it is.
    Supervise,
    /// The lead department brings in another department (协办); the lead
    /// still accepts, replies and answers for the appeal (首问负责).
    AddCoHandler,
    /// A co-handling department gives its part (协办意见) to the lead.
    Assist,
    /// The citizen rates the reply (评价), which closes the appeal.
    Rate,
    /// An operator closes it (办结; also spam and duplicates).
    Close,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 10] = [
        Action::Dispatch,
        Action::Accept,
        Action::Reply,
        Action::Return,
        Action::Escalate,
        Action::Supervise,
        Action::AddCoHandler,
        Action::Assist,
        Action::Rate,
        Action::Close,
    ];

    /// The timeline's event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Dispatch => "dispatched",
            Action::Accept => "accepted",
            Action::Reply => "replied",
            Action::Return => "returned",
            Action::Escalate => "escalated",
            Action::Supervise => "supervised",
            Action::AddCoHandler => "cohandler_added",
            Action::Assist => "assisted",
            Action::Rate => "rated",
            Action::Close => "closed",
        }
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The citizen who filed the appeal.
    Citizen,
    /// The department the appeal is assigned to.
    Department,
    /// A platform operator (12345 desk).
    Operator,
    /// The gateway itself: dispatch rules at submission, the overdue scanner.
    System,
}

impl Actor {
    /// Every actor.
    pub const ALL: [Actor; 4] = [
        Actor::Citizen,
        Actor::Department,
        Actor::Operator,
        Actor::System,
    ];

    /// The timeline's actor name.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Citizen => "citizen",
            Actor::Department => "department",
            Actor::Operator => "operator",
            Actor::System => "system",
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// This actor never takes this action (PERMISSION_DENIED / 403).
    #[error("a {} cannot do `{}`", actor.as_str(), action.as_str())]
    NotYours {
        /// Who tried.
        actor: Actor,
        /// What.
        action: Action,
    },
    /// The action does not apply in this state (FAILED_PRECONDITION / 409).
    #[error("cannot be {} while {}", action.as_str(), state.as_str())]
    WrongState {
        /// Where the appeal is.
        state: State,
        /// What was tried.
        action: Action,
    },
}

/// The actors allowed to take an action, whatever the state.
fn allowed(action: Action, actor: Actor) -> bool {
    use Action::*;
    use Actor::*;
    match action {
        Dispatch => matches!(actor, Operator | System),
        Accept | Reply | Return | AddCoHandler | Assist => actor == Department,
        Escalate | Supervise => matches!(actor, Operator | System),
        Rate => actor == Citizen,
        Close => actor == Operator,
    }
}

/// The state after `action` by `actor` on an appeal in `state`.
///
/// - `submitted`/`returned` → `dispatched` (Dispatch; also re-dispatch of
///   an `escalated` or `dispatched` appeal by an operator);
/// - `dispatched`/`escalated` → `accepted` (Accept);
/// - `accepted`/`escalated` → `replied` (Reply);
/// - `dispatched`/`accepted`/`escalated` → `returned` (Return);
/// - `submitted`/`dispatched`/`accepted` → `escalated` (Escalate, once);
/// - Supervise, AddCoHandler and Assist leave a department's open appeal
///   (`dispatched`/`accepted`/`escalated`) where it is: they are timeline
///   entries, not moves;
/// - `replied` → `closed` (Rate by the citizen);
/// - anything not closed → `closed` (Close by an operator).
pub fn next_state(state: State, action: Action, actor: Actor) -> Result<State, Refusal> {
    use Action as A;
    use State as S;
    if !allowed(action, actor) {
        return Err(Refusal::NotYours { actor, action });
    }
    let next = match (state, action) {
        (S::Submitted | S::Returned, A::Dispatch) => Some(S::Dispatched),
        (S::Dispatched | S::Escalated, A::Dispatch) if actor == Actor::Operator => {
            Some(S::Dispatched)
        }
        (S::Dispatched | S::Escalated, A::Accept) => Some(S::Accepted),
        (S::Accepted | S::Escalated, A::Reply) => Some(S::Replied),
        (S::Dispatched | S::Accepted | S::Escalated, A::Return) => Some(S::Returned),
        (S::Submitted | S::Dispatched | S::Accepted, A::Escalate) => Some(S::Escalated),
        (
            s @ (S::Dispatched | S::Accepted | S::Escalated),
            A::Supervise | A::AddCoHandler | A::Assist,
        ) => Some(s),
        (S::Replied, A::Rate) => Some(S::Closed),
        (s, A::Close) if s != S::Closed => Some(S::Closed),
        _ => None,
    };
    next.ok_or(Refusal::WrongState { state, action })
}

#[cfg(test)]
mod tests;
