//! Who is calling the control plane.
//!
//! Departments authenticate with operator-issued bearer tokens
//! (`authorization: Bearer ost_<dept>_…`), stored only as SHA-256 hashes and
//! revocable at once. Another scheme plugs in by implementing
//! [`Authenticate`]: for client certificates, serve the control listener
//! with TLS client auth and map the verified certificate's subject (tonic
//! exposes it through `Request::peer_certs()`) to a department id.

use std::sync::Arc;

use tonic::Request;

use crate::registry::Registry;

/// Maps a request to the department it authenticates as.
pub trait Authenticate: Send + Sync + 'static {
    /// The calling department, or `None` when the credentials are missing
    /// or unknown (answered with `UNAUTHENTICATED`). `extensions` carries
    /// the connection's TLS information when the listener terminates TLS.
    fn department(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        extensions: &tonic::Extensions,
    ) -> Option<String>;
}

/// The department a request authenticates as.
pub fn caller<T>(auth: &dyn Authenticate, request: &Request<T>) -> Option<String> {
    auth.department(request.metadata(), request.extensions())
}

/// Department tokens, checked against the registry's credential set.
pub struct TokenAuth {
    registry: Arc<Registry>,
}

impl TokenAuth {
    pub fn new(registry: Arc<Registry>) -> TokenAuth {
        TokenAuth { registry }
    }
}

/// The token of an `authorization: Bearer <token>` header.
pub fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    onestop_core::credential::bearer(metadata.get("authorization")?.to_str().ok()?)
}

impl Authenticate for TokenAuth {
    fn department(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        _extensions: &tonic::Extensions,
    ) -> Option<String> {
        self.registry.authenticate(bearer(metadata)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataMap;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        let mut m = MetadataMap::new();
        assert_eq!(bearer(&m), None);
        m.insert(
            "authorization",
            "Bearer ost_hpf_abc".parse().expect("ascii"),
        );
        assert_eq!(bearer(&m), Some("ost_hpf_abc"));
        m.insert(
            "authorization",
            "bearer  ost_hpf_abc ".parse().expect("ascii"),
        );
        assert_eq!(bearer(&m), Some("ost_hpf_abc"));
        m.insert(
            "authorization",
            "Basic dXNlcjpwdw==".parse().expect("ascii"),
        );
        assert_eq!(bearer(&m), None);
        m.insert("authorization", "Bearer ".parse().expect("ascii"));
        assert_eq!(bearer(&m), None);
    }
}
