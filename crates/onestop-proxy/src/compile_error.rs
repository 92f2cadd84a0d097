//! Why a configuration could not become a snapshot (its own module so
//! that the compilers of each part, e.g. [`crate::access`], report without
//! depending on [`crate::snapshot`]).

/// A configuration the data plane cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("identity: {0}")]
    Identity(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("route {route}: {message}")]
    Route { route: String, message: String },
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("transcoding: {0}")]
    Transcode(String),
}
