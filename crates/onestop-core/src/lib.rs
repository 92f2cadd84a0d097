//! Shared domain types of onestop. No I/O, no async, no framework types.
//!
//! - [`ErrorCode`]: every error the gateway itself produces, with its HTTP
//!   status, gRPC status and the one JSON body shape of the SPEC.
//! - [`request_id`]: accept or mint the `x-request-id` of a request.
//! - [`registry`]: what departments register over the control plane.
//! - [`digest`]: SHA-256 helpers for surfaces, versions and credentials.
//! - [`credential`]: bearer tokens and URL passwords, read and hidden.
//! - [`mask`]: masking of resident IDs, phones, names, bank cards and
//!   addresses; redaction of IDs and phones in free text (log lines).

pub mod credential;
pub mod digest;
pub mod error;
pub mod json;
pub mod mask;
pub mod problem;
pub mod registry;
pub mod request_id;
pub mod time;

pub use error::{ErrorCode, GrpcCode};
