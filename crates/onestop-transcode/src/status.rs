//! gRPC status codes in HTTP terms.

use http::StatusCode;
use tonic::Code;

/// The HTTP status of a gRPC code, by Google's standard mapping
/// (`google.rpc.Code`): OK 200, CANCELLED 499, UNKNOWN 500,
/// INVALID_ARGUMENT 400, DEADLINE_EXCEEDED 504, NOT_FOUND 404,
/// ALREADY_EXISTS 409, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
/// FAILED_PRECONDITION 400, ABORTED 409, OUT_OF_RANGE 400,
/// UNIMPLEMENTED 501, INTERNAL 500, UNAVAILABLE 503, DATA_LOSS 500,
/// UNAUTHENTICATED 401.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" has no constant.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// The canonical name of a gRPC code, e.g. `NOT_FOUND`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let table = [
            (Code::Ok, 200, "OK"),
            (Code::Cancelled, 499, "CANCELLED"),
            (Code::Unknown, 500, "UNKNOWN"),
            (Code::InvalidArgument, 400, "INVALID_ARGUMENT"),
            (Code::DeadlineExceeded, 504, "DEADLINE_EXCEEDED"),
            (Code::NotFound, 404, "NOT_FOUND"),
            (Code::AlreadyExists, 409, "ALREADY_EXISTS"),
            (Code::PermissionDenied, 403, "PERMISSION_DENIED"),
            (Code::ResourceExhausted, 429, "RESOURCE_EXHAUSTED"),
            (Code::FailedPrecondition, 400, "FAILED_PRECONDITION"),
            (Code::Aborted, 409, "ABORTED"),
            (Code::OutOfRange, 400, "OUT_OF_RANGE"),
            (Code::Unimplemented, 501, "UNIMPLEMENTED"),
            (Code::Internal, 500, "INTERNAL"),
            (Code::Unavailable, 503, "UNAVAILABLE"),
            (Code::DataLoss, 500, "DATA_LOSS"),
            (Code::Unauthenticated, 401, "UNAUTHENTICATED"),
        ];
        for (code, status, name) in table {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
            assert_eq!(code_name(code), name);
        }
        // Every code, by number, is in the table.
        for n in 0..=16 {
            assert!(table.iter().any(|(c, _, _)| *c == Code::from_i32(n)));
        }
    }
}
