//! Generates the registry service from `proto/onestop/registry/v1/registry.proto`
//! the cache service from `proto/onestop/cache/v1/cache.proto` and the
//! exchange service from `proto/onestop/exchange/v1/exchange.proto` with the
//! vendored `protoc`, and one descriptor set of both for server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let files = [
        proto_root.join("onestop/registry/v1/registry.proto"),
        proto_root.join("onestop/cache/v1/cache.proto"),
        proto_root.join("onestop/exchange/v1/exchange.proto"),
        proto_root.join("onestop/appeals/v1/appeals.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("control_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root])?;
    Ok(())
}
