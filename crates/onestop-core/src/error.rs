//! Gateway errors on the wire.
//!
//! Every error the gateway itself answers with is an [`ErrorCode`]. The HTTP
//! status, the gRPC status and the JSON body are all derived here, so the
//! proxy, the admin API and (later) the transcoder answer the same way.

use serde::Serialize;

/// An error produced by the gateway (not by a department backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No route matches the request.
    RouteNotFound,
    /// The request is not well-formed (bad path, bad encoding, bad framing).
    MalformedRequest,
    /// Every instance of the service is unhealthy, ejected or absent.
    NoHealthyUpstream,
    /// The department is at its concurrency limit; shed at once.
    DepartmentOverloaded,
    /// The upstream did not answer within the route's timeout.
    UpstreamTimeout,
    /// The upstream could not be reached or broke the exchange.
    UpstreamUnavailable,
    /// A bug or an unexpected state inside the gateway.
    Internal,
    /// The request header block has too many fields or too many bytes.
    HeadersTooLarge,
    /// The request body is larger than the route allows.
    BodyTooLarge,
    /// Missing or invalid credentials (app key, citizen token, department
    /// or operator token).
    Unauthenticated,
    /// Valid credentials that do not allow this call (e.g. a channel
    /// calling a matter it is not granted).
    Forbidden,
    /// The citizen record does not exist — or is somebody else's: both
    /// answer exactly alike.
    CitizenNotFound,
    /// A rate limit was reached; retry after `Retry-After` seconds.
    RateLimited,
    /// The route returns personal data and the access audit log cannot
    /// record the read (its store is behind or down): fail closed.
    AuditUnavailable,
    /// A transcoded call's JSON, path or query does not fit the method's
    /// request message (the body names the field path).
    InvalidArgument,
    /// A transcoded call names a gRPC method the service does not have.
    MethodNotFound,
    /// The client sent its request body too slowly (a gap between two
    /// reads longer than `limits.body_timeout`).
    RequestTimeout,
    /// A method the gateway does not serve at all (`CONNECT`).
    MethodNotAllowed,
}

/// gRPC status codes the gateway emits (subset of `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GrpcCode {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unauthenticated = 16,
    Internal = 13,
    Unavailable = 14,
    Unimplemented = 12,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::RouteNotFound,
        ErrorCode::MalformedRequest,
        ErrorCode::NoHealthyUpstream,
        ErrorCode::DepartmentOverloaded,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Internal,
        ErrorCode::HeadersTooLarge,
        ErrorCode::BodyTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::CitizenNotFound,
        ErrorCode::RateLimited,
        ErrorCode::AuditUnavailable,
        ErrorCode::InvalidArgument,
        ErrorCode::MethodNotFound,
        ErrorCode::RequestTimeout,
        ErrorCode::MethodNotAllowed,
    ];

    /// The code named `name` (its [`ErrorCode::as_str`]).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The SNAKE_CASE name carried in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RouteNotFound => "ROUTE_NOT_FOUND",
            ErrorCode::MalformedRequest => "MALFORMED_REQUEST",
            ErrorCode::NoHealthyUpstream => "NO_HEALTHY_UPSTREAM",
            ErrorCode::DepartmentOverloaded => "DEPARTMENT_OVERLOADED",
            ErrorCode::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::HeadersTooLarge => "HEADERS_TOO_LARGE",
            ErrorCode::BodyTooLarge => "BODY_TOO_LARGE",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::CitizenNotFound => "CITIZEN_NOT_FOUND",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::MethodNotFound => "METHOD_NOT_FOUND",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::RouteNotFound => 404,
            ErrorCode::MalformedRequest => 400,
            ErrorCode::NoHealthyUpstream | ErrorCode::DepartmentOverloaded => 503,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::Internal => 500,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::CitizenNotFound => 404,
            ErrorCode::RateLimited => 429,
            ErrorCode::AuditUnavailable => 503,
            ErrorCode::InvalidArgument => 400,
            ErrorCode::MethodNotFound => 404,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::MethodNotAllowed => 405,
        }
    }

    /// The gRPC status a gRPC caller receives instead.
    pub fn grpc_code(self) -> GrpcCode {
        match self {
            ErrorCode::RouteNotFound | ErrorCode::MethodNotFound | ErrorCode::MethodNotAllowed => {
                GrpcCode::Unimplemented
            }
            ErrorCode::MalformedRequest | ErrorCode::InvalidArgument => GrpcCode::InvalidArgument,
            ErrorCode::NoHealthyUpstream
            | ErrorCode::DepartmentOverloaded
            | ErrorCode::UpstreamUnavailable
            | ErrorCode::AuditUnavailable => GrpcCode::Unavailable,
            ErrorCode::UpstreamTimeout | ErrorCode::RequestTimeout => GrpcCode::DeadlineExceeded,
            ErrorCode::Internal => GrpcCode::Internal,
            ErrorCode::HeadersTooLarge | ErrorCode::BodyTooLarge | ErrorCode::RateLimited => {
                GrpcCode::ResourceExhausted
            }
            ErrorCode::Unauthenticated => GrpcCode::Unauthenticated,
            ErrorCode::Forbidden => GrpcCode::PermissionDenied,
            ErrorCode::CitizenNotFound => GrpcCode::NotFound,
        }
    }

    /// A message fit for a citizen-facing app when no more specific one is given.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::RouteNotFound => "no route matches this request",
            ErrorCode::MalformedRequest => "the request is malformed",
            ErrorCode::NoHealthyUpstream => "no healthy instance of the department service",
            ErrorCode::DepartmentOverloaded => {
                "the department is at its concurrency limit; retry later"
            }
            ErrorCode::UpstreamTimeout => "the department did not answer in time",
            ErrorCode::UpstreamUnavailable => "the department could not be reached",
            ErrorCode::Internal => "internal gateway error",
            ErrorCode::HeadersTooLarge => "the request header fields are too many or too large",
            ErrorCode::BodyTooLarge => "the request body is too large",
            ErrorCode::Unauthenticated => "credentials are missing or invalid",
            ErrorCode::Forbidden => "this caller may not call this matter",
            ErrorCode::CitizenNotFound => "no record of this citizen",
            ErrorCode::RateLimited => "too many requests; retry later",
            ErrorCode::AuditUnavailable => {
                "this personal data cannot be served while its access cannot be recorded; retry later"
            }
            ErrorCode::InvalidArgument => "the request does not fit the method's message",
            ErrorCode::MethodNotFound => "the service has no such method",
            ErrorCode::RequestTimeout => "the request body arrived too slowly",
            ErrorCode::MethodNotAllowed => "this method is not served",
        }
    }

    /// Whether a client may retry the same request later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::NoHealthyUpstream
                | ErrorCode::DepartmentOverloaded
                | ErrorCode::UpstreamTimeout
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::RateLimited
                | ErrorCode::AuditUnavailable
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
    /// A transcoded call's offending field path.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// A department's gRPC status, when a transcoded call failed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_status: Option<i32>,
}

/// The SPEC's one JSON error shape:
/// `{"error":{"code":"SNAKE_CASE","message":"…","request_id":"…"}}`.
pub fn json_body(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    let body = Body {
        error: Inner {
            code,
            message,
            request_id,
            field: None,
            grpc_status: None,
        },
    };
    // Serialising three strings into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// [`json_body`] with what a transcoded call adds: the offending field
/// path, or the department's gRPC status.
pub fn json_body_with(
    code: &str,
    message: &str,
    request_id: &str,
    field: Option<&str>,
    grpc_status: Option<i32>,
) -> Vec<u8> {
    let body = Body {
        error: Inner {
            code,
            message,
            request_id,
            field,
            grpc_status,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Percent-encodes a `grpc-message` value as the gRPC HTTP/2 spec requires
/// (everything outside printable ASCII, and `%` itself).
pub fn grpc_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_has_the_spec_shape_and_escapes() {
        let body = json_body("ROUTE_NOT_FOUND", "no \"route\"", "req-1");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid json");
        assert_eq!(v["error"]["code"], "ROUTE_NOT_FOUND");
        assert_eq!(v["error"]["message"], "no \"route\"");
        assert_eq!(v["error"]["request_id"], "req-1");
        assert_eq!(v.as_object().map(|o| o.len()), Some(1));
    }

    #[test]
    fn statuses_follow_the_spec() {
        assert_eq!(ErrorCode::RouteNotFound.http_status(), 404);
        assert_eq!(ErrorCode::NoHealthyUpstream.http_status(), 503);
        assert_eq!(ErrorCode::UpstreamTimeout.http_status(), 504);
        assert_eq!(ErrorCode::MalformedRequest.http_status(), 400);
        assert_eq!(ErrorCode::UpstreamTimeout.grpc_code() as u8, 4);
        assert_eq!(ErrorCode::NoHealthyUpstream.grpc_code() as u8, 14);
        assert_eq!(ErrorCode::HeadersTooLarge.http_status(), 431);
        assert_eq!(ErrorCode::BodyTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::HeadersTooLarge.grpc_code() as u8, 8);
        assert_eq!(ErrorCode::BodyTooLarge.grpc_code() as u8, 8);
        assert!(!ErrorCode::HeadersTooLarge.retryable());
        assert!(!ErrorCode::BodyTooLarge.retryable());
    }

    #[test]
    fn statuses_are_unique() {
        // `proxy::classify` maps an `HTTPStatus` error back to its code by status.
        let mut seen = std::collections::HashMap::new();
        for c in ErrorCode::ALL {
            if let Some(other) = seen.insert(c.http_status(), c) {
                // 503 and 404 are shared on purpose (a citizen that is not
                // yours must look like a missing one), and 400 (the
                // transcoder's INVALID_ARGUMENT names a field, a malformed
                // request does not); classify picks the first, and the
                // gateway names the code itself when it decides.
                assert!(
                    [503, 404, 400].contains(&c.http_status()),
                    "{c} and {other} share a status"
                );
            }
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch == '_')
            );
        }
    }

    #[test]
    fn grpc_message_percent_encodes() {
        assert_eq!(grpc_message("plain text"), "plain text");
        assert_eq!(grpc_message("100%"), "100%25");
        assert_eq!(grpc_message("超时"), "%E8%B6%85%E6%97%B6");
    }
}
