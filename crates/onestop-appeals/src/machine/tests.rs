//! Every (state, action, actor) triple against a table written by hand.

use super::*;
use Action as A;
use Actor as R;
use State as S;

/// The legal transitions: (from, action, actor) → to. Everything else is refused.
const LEGAL: &[(S, A, R, S)] = &[
    (S::Submitted, A::Dispatch, R::Operator, S::Dispatched),
    (S::Submitted, A::Dispatch, R::System, S::Dispatched),
    (S::Returned, A::Dispatch, R::Operator, S::Dispatched),
    (S::Returned, A::Dispatch, R::System, S::Dispatched),
    (S::Dispatched, A::Dispatch, R::Operator, S::Dispatched),
    (S::Escalated, A::Dispatch, R::Operator, S::Dispatched),
    (S::Dispatched, A::Accept, R::Department, S::Accepted),
    (S::Escalated, A::Accept, R::Department, S::Accepted),
    (S::Accepted, A::Reply, R::Department, S::Replied),
    (S::Escalated, A::Reply, R::Department, S::Replied),
    (S::Dispatched, A::Return, R::Department, S::Returned),
    (S::Accepted, A::Return, R::Department, S::Returned),
    (S::Escalated, A::Return, R::Department, S::Returned),
    (S::Submitted, A::Escalate, R::System, S::Escalated),
    (S::Dispatched, A::Escalate, R::System, S::Escalated),
    (S::Accepted, A::Escalate, R::System, S::Escalated),
    (S::Submitted, A::Escalate, R::Operator, S::Escalated),
    (S::Dispatched, A::Escalate, R::Operator, S::Escalated),
    (S::Accepted, A::Escalate, R::Operator, S::Escalated),
    (S::Dispatched, A::Supervise, R::System, S::Dispatched),
    (S::Accepted, A::Supervise, R::System, S::Accepted),
    (S::Escalated, A::Supervise, R::System, S::Escalated),
    (S::Dispatched, A::Supervise, R::Operator, S::Dispatched),
    (S::Accepted, A::Supervise, R::Operator, S::Accepted),
    (S::Escalated, A::Supervise, R::Operator, S::Escalated),
    (S::Dispatched, A::AddCoHandler, R::Department, S::Dispatched),
    (S::Accepted, A::AddCoHandler, R::Department, S::Accepted),
    (S::Escalated, A::AddCoHandler, R::Department, S::Escalated),
    (S::Dispatched, A::Assist, R::Department, S::Dispatched),
    (S::Accepted, A::Assist, R::Department, S::Accepted),
    (S::Escalated, A::Assist, R::Department, S::Escalated),
    (S::Replied, A::Rate, R::Citizen, S::Closed),
    (S::Submitted, A::Close, R::Operator, S::Closed),
    (S::Dispatched, A::Close, R::Operator, S::Closed),
    (S::Accepted, A::Close, R::Operator, S::Closed),
    (S::Replied, A::Close, R::Operator, S::Closed),
    (S::Returned, A::Close, R::Operator, S::Closed),
    (S::Escalated, A::Close, R::Operator, S::Closed),
];

/// Which actors may ever take an action.
fn may(action: A, actor: R) -> bool {
    LEGAL.iter().any(|&(_, a, r, _)| a == action && r == actor)
}

#[test]
fn every_triple_matches_the_table() {
    let mut legal = 0;
    for state in S::ALL {
        for action in A::ALL {
            for actor in R::ALL {
                let want = LEGAL
                    .iter()
                    .find(|&&(s, a, r, _)| s == state && a == action && r == actor)
                    .map(|&(_, _, _, to)| to);
                let got = next_state(state, action, actor);
                match want {
                    Some(to) => {
                        legal += 1;
                        assert_eq!(got, Ok(to), "{state:?} {action:?} by {actor:?}");
                    }
                    None if !may(action, actor) => assert_eq!(
                        got,
                        Err(Refusal::NotYours { actor, action }),
                        "{state:?} {action:?} by {actor:?}"
                    ),
                    None => assert_eq!(
                        got,
                        Err(Refusal::WrongState { state, action }),
                        "{state:?} {action:?} by {actor:?}"
                    ),
                }
            }
        }
    }
    assert_eq!(legal, LEGAL.len());
    assert_eq!(S::ALL.len() * A::ALL.len() * R::ALL.len(), 280);
}

#[test]
fn closed_is_final_and_the_happy_path_reaches_it() {
    for action in A::ALL {
        for actor in R::ALL {
            assert!(next_state(S::Closed, action, actor).is_err());
        }
    }
    let mut s = S::Submitted;
    for (a, r) in [
        (A::Dispatch, R::System),
        (A::Accept, R::Department),
        (A::Reply, R::Department),
        (A::Rate, R::Citizen),
    ] {
        s = next_state(s, a, r).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(s, S::Closed);
}

#[test]
fn rating_twice_or_before_the_reply_is_a_wrong_state() {
    for s in [
        S::Submitted,
        S::Dispatched,
        S::Accepted,
        S::Closed,
        S::Returned,
        S::Escalated,
    ] {
        assert_eq!(
            next_state(s, A::Rate, R::Citizen),
            Err(Refusal::WrongState {
                state: s,
                action: A::Rate
            })
        );
    }
}

#[test]
fn escalation_happens_once() {
    assert!(next_state(S::Escalated, A::Escalate, R::System).is_err());
}

#[test]
fn supervision_and_cohandling_never_touch_a_replied_or_queued_appeal() {
    for s in [S::Submitted, S::Returned, S::Replied, S::Closed] {
        for a in [A::Supervise, A::AddCoHandler, A::Assist] {
            for r in R::ALL {
                assert!(next_state(s, a, r).is_err(), "{s:?} {a:?} by {r:?}");
            }
        }
    }
}
