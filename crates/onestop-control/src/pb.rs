//! Generated protobuf types of `proto/onestop/registry/v1/registry.proto`
//! `proto/onestop/cache/v1/cache.proto` and
//! `proto/onestop/exchange/v1/exchange.proto`. Only [`crate::convert`] and
//! the tonic services touch them.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod registry {
    tonic::include_proto!("onestop.registry.v1");
}

pub mod cache {
    tonic::include_proto!("onestop.cache.v1");
}

pub mod exchange {
    tonic::include_proto!("onestop.exchange.v1");
}

pub mod appeals {
    tonic::include_proto!("onestop.appeals.v1");
}

/// The encoded descriptor set, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("control_descriptor");
