//! What can go wrong in the registry, and its gRPC status.

use onestop_store::StoreError;

pub use onestop_core::problem::Problem;

/// A registry operation that did not happen. Nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid request: {}", render(.0))]
    InvalidArgument(Vec<Problem>),
    #[error("missing or unknown credentials")]
    Unauthenticated,
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A decision on a revision that is not the pending one, or a conflict
    /// with the configuration or another service.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(
        "the registry store is unavailable ({0}); the gateway keeps serving what it knows, retry the write later"
    )]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub(crate) use onestop_core::problem::render;

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => RegistryError::Unavailable(m),
            StoreError::Conflict(m) => RegistryError::Conflict(m),
            StoreError::NotFound(m) => RegistryError::NotFound(m),
            StoreError::Corrupt(m) | StoreError::Other(m) => RegistryError::Internal(m),
        }
    }
}

impl From<RegistryError> for tonic::Status {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::InvalidArgument(_) => tonic::Status::invalid_argument(message),
            RegistryError::Unauthenticated => tonic::Status::unauthenticated(message),
            RegistryError::PermissionDenied(_) => tonic::Status::permission_denied(message),
            RegistryError::NotFound(_) => tonic::Status::not_found(message),
            RegistryError::Conflict(_) => tonic::Status::failed_precondition(message),
            RegistryError::Unavailable(_) => tonic::Status::unavailable(message),
            RegistryError::Internal(_) => tonic::Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_grpc_codes_and_names_fields() {
        let e = RegistryError::InvalidArgument(vec![
            Problem::new("instances[0].addr", "`x` is not ip:port"),
            Problem::new("service.dept", "unknown department `zz`"),
        ]);
        let status = tonic::Status::from(e);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid request: instances[0].addr: `x` is not ip:port; service.dept: unknown department `zz`"
        );
        let status = tonic::Status::from(RegistryError::from(StoreError::Unavailable(
            "connection refused".into(),
        )));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("connection refused"));
        assert_eq!(
            tonic::Status::from(RegistryError::PermissionDenied("x".into())).code(),
            tonic::Code::PermissionDenied
        );
    }
}
