//! Shared domain types of onestop. No I/O, no async, no framework types.
//!
//! - [`ErrorCode`]: every error the gateway itself produces, with its HTTP
//!   status, gRPC status and the one JSON body shape of the SPEC.
//! - [`request_id`]: accept or mint the `x-request-id` of a request.

pub mod error;
pub mod request_id;

pub use error::{ErrorCode, GrpcCode};
