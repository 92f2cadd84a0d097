//! Retry policy and error classification: whether a failed upstream
//! attempt may be repeated on another instance, whether an error is the
//! client hanging up, and which [`ErrorCode`] a pingora error becomes.

use std::time::Instant;

use onestop_core::ErrorCode;
use pingora_error::{Error, ErrorSource, ErrorType};

/// How an upstream attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect: nothing reached the backend.
    Connect,
    /// Reset, refused or broken after the request was (partly) sent.
    Exchange,
    /// The backend did not answer in time.
    Timeout,
}

/// Everything the retry decision depends on, besides the budget.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub failure: Failure,
    pub idempotent: bool,
    pub grpc: bool,
    pub response_started: bool,
    pub body_truncated: bool,
    pub attempts_left: bool,
    pub deadline_passed: bool,
}

/// Whether a failed attempt may be repeated on another instance (the
/// department's retry budget is asked only when this says yes).
///
/// A connect failure may be retried for any method: nothing was sent. After
/// that, only idempotent, non-gRPC requests whose response has not started
/// and whose body is still buffered are retried, and never after a timeout.
pub fn may_retry(a: &Attempt) -> bool {
    if !a.attempts_left || a.deadline_passed || a.response_started {
        return false;
    }
    match a.failure {
        Failure::Connect => true,
        Failure::Timeout => false,
        Failure::Exchange => a.idempotent && !a.grpc && !a.body_truncated,
    }
}

/// Whether an error is the client's connection failing (closed, reset,
/// timed out) rather than anything about the department.
pub fn client_went_away(e: &Error) -> bool {
    e.esource() == &ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::ConnectionClosed
                | ErrorType::ReadError
                | ErrorType::WriteError
                | ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::H2Error
        )
}

/// Whether `deadline` (if any) has passed.
pub fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Maps a pingora error the gateway did not decide itself to an [`ErrorCode`].
pub fn classify(e: &Error) -> ErrorCode {
    match e.etype() {
        ErrorType::ConnectTimedout
        | ErrorType::ReadTimedout
        | ErrorType::WriteTimedout
        | ErrorType::TLSHandshakeTimedout => ErrorCode::UpstreamTimeout,
        ErrorType::HTTPStatus(s) => ErrorCode::ALL
            .into_iter()
            .find(|c| c.http_status() == *s)
            .unwrap_or(ErrorCode::Internal),
        ErrorType::InvalidHTTPHeader => ErrorCode::MalformedRequest,
        _ => match e.esource() {
            ErrorSource::Upstream => ErrorCode::UpstreamUnavailable,
            ErrorSource::Downstream => ErrorCode::MalformedRequest,
            ErrorSource::Internal | ErrorSource::Unset => ErrorCode::UpstreamUnavailable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(failure: Failure) -> Attempt {
        Attempt {
            failure,
            idempotent: true,
            grpc: false,
            response_started: false,
            body_truncated: false,
            attempts_left: true,
            deadline_passed: false,
        }
    }

    #[test]
    fn connect_failures_retry_for_any_method() {
        let post = Attempt {
            idempotent: false,
            grpc: true,
            ..attempt(Failure::Connect)
        };
        assert!(may_retry(&post));
    }

    #[test]
    fn exchange_failures_retry_only_safe_requests() {
        assert!(may_retry(&attempt(Failure::Exchange)));
        for unsafe_one in [
            Attempt {
                idempotent: false,
                ..attempt(Failure::Exchange)
            },
            Attempt {
                grpc: true,
                ..attempt(Failure::Exchange)
            },
            Attempt {
                response_started: true,
                ..attempt(Failure::Exchange)
            },
            Attempt {
                body_truncated: true,
                ..attempt(Failure::Exchange)
            },
        ] {
            assert!(!may_retry(&unsafe_one), "{unsafe_one:?}");
        }
    }

    #[test]
    fn timeouts_spent_attempts_and_deadlines_never_retry() {
        assert!(!may_retry(&attempt(Failure::Timeout)));
        for f in [Failure::Connect, Failure::Exchange] {
            assert!(!may_retry(&Attempt {
                attempts_left: false,
                ..attempt(f)
            }));
            assert!(!may_retry(&Attempt {
                deadline_passed: true,
                ..attempt(f)
            }));
        }
    }

    #[test]
    fn a_client_hanging_up_is_not_the_departments_failure() {
        for etype in [
            ErrorType::ConnectionClosed,
            ErrorType::ReadError,
            ErrorType::WriteError,
        ] {
            let mut e = Error::new(etype.clone());
            e.as_down();
            assert!(client_went_away(&e), "{etype:?}");
            let mut up = Error::new(etype);
            up.as_up();
            assert!(!client_went_away(&up));
        }
        let mut bad = Error::new(ErrorType::InvalidHTTPHeader);
        bad.as_down();
        assert!(
            !client_went_away(&bad),
            "a malformed request is answered 400"
        );
    }

    #[test]
    fn classifies_upstream_errors() {
        let timeout = Error::new(ErrorType::ReadTimedout);
        assert_eq!(classify(&timeout), ErrorCode::UpstreamTimeout);
        let mut refused = Error::new(ErrorType::ConnectRefused);
        refused.as_up();
        assert_eq!(classify(&refused), ErrorCode::UpstreamUnavailable);
        let mut bad = Error::new(ErrorType::InvalidHTTPHeader);
        bad.as_down();
        assert_eq!(classify(&bad), ErrorCode::MalformedRequest);
        assert_eq!(
            classify(&Error::new(ErrorType::HTTPStatus(503))),
            ErrorCode::NoHealthyUpstream
        );
    }
}
