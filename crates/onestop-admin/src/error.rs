//! Errors of the admin API and their one JSON shape.
//!
//! Every error a handler, the guard or an extractor answers with is an
//! [`ApiError`]. Its `IntoResponse` only sets the status and leaves an
//! [`ErrorPayload`] in the response's extensions; the edge middleware
//! (`edge.rs`), which knows the request id, renders the body:
//! `{"error":{"code":"SNAKE_CASE","message":"…","request_id":"…","details":[…]}}`.
//! Errors from the registry ([`RegistryError`]), the configuration backend
//! ([`ChangeError`]) and the store ([`StoreError`]) are mapped here and
//! nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onestop_config::Diagnostic;
use onestop_control::{Problem, PurgeError, RegistryError};
use onestop_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::ChangeError;

/// An admin-API request that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No, a malformed or an unknown bearer token (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The operator lacks the role or the department scope (403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked about does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed; `details` name fields when known (400).
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Vec<ErrorDetail>,
    },
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is not of a content type the route accepts (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The configuration would be invalid; nothing changed (422).
    #[error("the configuration is invalid ({} problems); nothing changed", .0.len())]
    InvalidConfig(Vec<ErrorDetail>),
    /// The store cannot be reached; retry later (503).
    #[error("{0}")]
    StoreUnavailable(String),
    /// This gateway runs without a registry (503).
    #[error("the service registry is not enabled on this gateway")]
    RegistryDisabled,
    /// A bug or an unexpected state; the message is logged, not shown (500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// One located problem: a configuration file position, or a request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The configuration file (INVALID_CONFIG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<usize>,
    /// The request field (BAD_REQUEST from the registry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl From<&Diagnostic> for ErrorDetail {
    fn from(d: &Diagnostic) -> Self {
        ErrorDetail {
            file: Some(d.file.display().to_string()),
            line: Some(d.line),
            col: Some(d.col),
            field: None,
            message: d.message.clone(),
        }
    }
}

impl From<&Problem> for ErrorDetail {
    fn from(p: &Problem) -> Self {
        ErrorDetail {
            file: None,
            line: None,
            col: None,
            field: Some(p.field.clone()),
            message: p.message.clone(),
        }
    }
}

/// The SPEC's error body (`details` only when there are any).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

/// The inside of the error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorInner {
    /// SNAKE_CASE: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_REQUEST,
    /// CONFLICT, UNSUPPORTED_MEDIA_TYPE, INVALID_CONFIG, STORE_UNAVAILABLE,
    /// REGISTRY_DISABLED, METHOD_NOT_ALLOWED, INTERNAL.
    pub code: String,
    pub message: String,
    /// The request's `x-request-id`.
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// What the edge renders into an [`ErrorBody`] (left in response extensions).
#[derive(Debug, Clone)]
pub(crate) struct ErrorPayload {
    pub code: &'static str,
    pub message: String,
    pub details: Vec<ErrorDetail>,
}

impl ErrorPayload {
    /// The body for a request with id `request_id`.
    pub fn render(self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorInner {
                code: self.code.to_string(),
                message: self.message,
                request_id: request_id.to_string(),
                details: self.details,
            },
        }
    }

    /// For an error response produced outside the admin code (routing's
    /// 404/405, a body limit): the code that fits its status.
    pub fn for_status(status: StatusCode) -> ErrorPayload {
        let (code, message) = match status.as_u16() {
            400 => ("BAD_REQUEST", "the request is malformed"),
            401 => ("UNAUTHENTICATED", "missing or unknown bearer token"),
            403 => ("FORBIDDEN", "not allowed"),
            404 => ("NOT_FOUND", "no such resource"),
            405 => ("METHOD_NOT_ALLOWED", "method not allowed on this resource"),
            409 => ("CONFLICT", "conflict"),
            413 => ("PAYLOAD_TOO_LARGE", "the request body is too large"),
            415 => ("UNSUPPORTED_MEDIA_TYPE", "unsupported content type"),
            503 => ("UNAVAILABLE", "temporarily unavailable"),
            s if s < 500 => ("BAD_REQUEST", "the request cannot be served"),
            _ => ("INTERNAL", "internal error"),
        };
        ErrorPayload {
            code,
            message: message.to_string(),
            details: Vec::new(),
        }
    }
}

impl ApiError {
    /// A 400 without field details.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::StoreUnavailable(_) | ApiError::RegistryDisabled => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The SNAKE_CASE code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::BadRequest { .. } => "BAD_REQUEST",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::InvalidConfig(_) => "INVALID_CONFIG",
            ApiError::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            ApiError::RegistryDisabled => "REGISTRY_DISABLED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    fn payload(self) -> ErrorPayload {
        let code = self.code();
        let message = match &self {
            // Internal details go to the log, not to the caller.
            ApiError::Internal(_) => "internal error; see the gateway log".to_string(),
            other => other.to_string(),
        };
        let details = match self {
            ApiError::BadRequest { details, .. } | ApiError::InvalidConfig(details) => details,
            _ => Vec::new(),
        };
        ErrorPayload {
            code,
            message,
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            crate::events::internal_error(message);
        }
        let status = self.status();
        let unauthenticated = matches!(self, ApiError::Unauthenticated(_));
        let mut response = status.into_response();
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"onestop-admin\""),
            );
        }
        response.extensions_mut().insert(self.payload());
        response
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(diagnostics) => {
                ApiError::InvalidConfig(diagnostics.iter().map(ErrorDetail::from).collect())
            }
            ChangeError::NotFound(m) => ApiError::NotFound(m),
            ChangeError::BadRequest(m) => ApiError::bad_request(m),
            ChangeError::Conflict(m) => ApiError::Conflict(m),
            ChangeError::Unavailable(m) => ApiError::StoreUnavailable(m),
            ChangeError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::InvalidArgument(problems) => ApiError::BadRequest {
                message,
                details: problems.iter().map(ErrorDetail::from).collect(),
            },
            RegistryError::Unauthenticated => ApiError::Unauthenticated(message),
            RegistryError::PermissionDenied(_) => ApiError::Forbidden(message),
            RegistryError::NotFound(_) => ApiError::NotFound(message),
            RegistryError::Conflict(_) => ApiError::Conflict(message),
            RegistryError::Unavailable(_) => ApiError::StoreUnavailable(message),
            RegistryError::Internal(_) => ApiError::Internal(message),
        }
    }
}

impl From<PurgeError> for ApiError {
    fn from(e: PurgeError) -> Self {
        let message = e.to_string();
        match e {
            PurgeError::Invalid(problems) => ApiError::BadRequest {
                message,
                details: problems.iter().map(ErrorDetail::from).collect(),
            },
            PurgeError::Unavailable(_) => ApiError::StoreUnavailable(message),
            PurgeError::Internal(_) => ApiError::Internal(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable(message),
            StoreError::NotFound(_) => ApiError::NotFound(message),
            StoreError::Conflict(_) => ApiError::Conflict(message),
            StoreError::Corrupt(_) | StoreError::Other(_) => ApiError::Internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn change_errors_map_to_status_and_code() {
        let invalid = ApiError::from(ChangeError::Invalid(vec![Diagnostic {
            file: PathBuf::from("departments/hpf.toml"),
            line: 3,
            col: 7,
            message: "unknown field `nmae`".into(),
        }]));
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.code(), "INVALID_CONFIG");
        let payload = invalid.payload();
        assert_eq!(
            payload.details,
            vec![ErrorDetail {
                file: Some("departments/hpf.toml".into()),
                line: Some(3),
                col: Some(7),
                field: None,
                message: "unknown field `nmae`".into(),
            }]
        );
        let cases = [
            (ChangeError::NotFound("x".into()), 404, "NOT_FOUND"),
            (ChangeError::BadRequest("x".into()), 400, "BAD_REQUEST"),
            (ChangeError::Conflict("x".into()), 409, "CONFLICT"),
            (
                ChangeError::Unavailable("x".into()),
                503,
                "STORE_UNAVAILABLE",
            ),
            (ChangeError::Internal("x".into()), 500, "INTERNAL"),
        ];
        for (e, status, code) in cases {
            let e = ApiError::from(e);
            assert_eq!((e.status().as_u16(), e.code()), (status, code));
        }
    }

    #[test]
    fn registry_errors_map_to_status_and_code() {
        let cases = [
            (
                RegistryError::InvalidArgument(vec![Problem::new("dept", "unknown")]),
                400,
                "BAD_REQUEST",
            ),
            (RegistryError::Unauthenticated, 401, "UNAUTHENTICATED"),
            (
                RegistryError::PermissionDenied("x".into()),
                403,
                "FORBIDDEN",
            ),
            (RegistryError::NotFound("x".into()), 404, "NOT_FOUND"),
            (RegistryError::Conflict("x".into()), 409, "CONFLICT"),
            (
                RegistryError::Unavailable("x".into()),
                503,
                "STORE_UNAVAILABLE",
            ),
            (RegistryError::Internal("x".into()), 500, "INTERNAL"),
        ];
        for (e, status, code) in cases {
            let e = ApiError::from(e);
            assert_eq!((e.status().as_u16(), e.code()), (status, code));
        }
        let e = ApiError::from(RegistryError::InvalidArgument(vec![Problem::new(
            "label", "empty",
        )]));
        assert_eq!(
            e.payload().details,
            vec![ErrorDetail {
                file: None,
                line: None,
                col: None,
                field: Some("label".into()),
                message: "empty".into(),
            }]
        );
    }

    #[test]
    fn internal_messages_are_not_shown() {
        let p = ApiError::Internal("db password wrong".into()).payload();
        assert_eq!(p.message, "internal error; see the gateway log");
    }
}
