//! Code generated from `proto/onestop/sim/v1/*.proto` (messages, servers and
//! clients of the four gRPC departments) and from the gateway's registry
//! `proto/onestop/registry/v1/registry.proto`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// `onestop.sim.traffic.v1`: the traffic police.
pub mod traffic {
    tonic::include_proto!("onestop.sim.traffic.v1");
}

/// `onestop.sim.tax.v1`: the tax bureau.
pub mod tax {
    tonic::include_proto!("onestop.sim.tax.v1");
}

/// `onestop.sim.health.v1`: the health commission's hospital service.
pub mod health {
    tonic::include_proto!("onestop.sim.health.v1");
}

/// `onestop.sim.medins.v1`: the medical insurance bureau.
pub mod medins {
    tonic::include_proto!("onestop.sim.medins.v1");
}

/// Encoded `FileDescriptorSet` of all four files (for JSON transcoding or
/// server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sim_descriptor");

/// `onestop.registry.v1`: the gateway's service registry (control plane).
/// The fleet's registrar uses the client; the server side is generated too
/// so that tests can stand in for the gateway.
pub mod registry {
    tonic::include_proto!("onestop.registry.v1");
}

/// `onestop.appeals.v1`: the gateway's appeals service (control plane),
/// the client the fleet's case officers use.
pub mod appeals {
    tonic::include_proto!("onestop.appeals.v1");
}
