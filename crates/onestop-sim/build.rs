//! Generates, with the vendored `protoc` (the build machine has none
//! installed):
//! - the department gRPC services from `proto/onestop/sim/v1/*.proto`, with
//!   a descriptor set of those four files;
//! - the gateway's registry from `proto/onestop/registry/v1/registry.proto`:
//!   the client the registrar uses, and the server the tests fake the
//!   control plane with;
//! - the gateway's appeals service `proto/onestop/appeals/v1/appeals.proto`:
//!   the client the fleet's case officers use.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "onestop/sim/v1/traffic.proto",
    "onestop/sim/v1/tax.proto",
    "onestop/sim/v1/health.proto",
    "onestop/sim/v1/medins.proto",
];

const REGISTRY_PROTO: &str = "onestop/registry/v1/registry.proto";

const APPEALS_PROTO: &str = "onestop/appeals/v1/appeals.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    // `env::set_var("PROTOC", ..)` is `unsafe` in edition 2024; hand prost-build the path instead.
    let config = || {
        let mut config = tonic_prost_build::Config::new();
        config.protoc_executable(&protoc);
        config
    };

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    let registry = proto_root.join(REGISTRY_PROTO);
    let appeals = proto_root.join(APPEALS_PROTO);
    for file in files.iter().chain([&registry, &appeals]) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("sim_descriptor.bin"))
        .compile_with_config(config(), &files, &[proto_root.clone(), well_known])?;

    // Maps as `BTreeMap`, so that registered specs compare and print in order.
    let mut registry_config = config();
    registry_config.btree_map(["."]);
    tonic_prost_build::configure().compile_with_config(
        registry_config,
        &[registry],
        std::slice::from_ref(&proto_root),
    )?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config(), &[appeals], &[proto_root])?;
    Ok(())
}
