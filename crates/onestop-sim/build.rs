//! Generates the department gRPC services from `proto/onestop/sim/v1/*.proto`
//! with the vendored `protoc` (the build machine has none installed).

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "onestop/sim/v1/traffic.proto",
    "onestop/sim/v1/tax.proto",
    "onestop/sim/v1/health.proto",
    "onestop/sim/v1/medins.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    // `env::set_var("PROTOC", ..)` is `unsafe` in edition 2024; hand prost-build the path instead.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("sim_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root, well_known])?;
    Ok(())
}
