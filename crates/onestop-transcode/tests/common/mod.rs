//! Descriptor sets for the tests and benches, built at test time with the
//! vendored `protoc` (`--include_imports`, as departments must).

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use onestop_transcode::{Descriptors, Method, ServiceBindings, compile};

/// The crate's test protos (`onestop/test/v1/*.proto`).
pub fn test_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proto")
}

/// The repository's protos (`onestop/sim/v1/*.proto`, `google/api/*.proto`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

/// Runs protoc on `files` and returns the encoded `FileDescriptorSet`.
pub fn protoc(files: &[&str], include_imports: bool, name: &str) -> Vec<u8> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "onestop-transcode-{name}-{}.bin",
        std::process::id()
    ));
    let mut cmd = Command::new(protoc_bin_vendored::protoc_bin_path().unwrap());
    if include_imports {
        cmd.arg("--include_imports");
    }
    cmd.arg(format!("--descriptor_set_out={}", out.display()))
        .arg(format!("-I{}", test_root().display()))
        .arg(format!("-I{}", repo_root().display()))
        .arg(format!(
            "-I{}",
            protoc_bin_vendored::include_path().unwrap().display()
        ))
        .args(files);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}

/// `echo.proto`, `routes.proto` and `bad.proto`.
pub fn test_set() -> &'static Descriptors {
    static SET: OnceLock<Descriptors> = OnceLock::new();
    SET.get_or_init(|| {
        let bytes = protoc(
            &[
                "onestop/test/v1/echo.proto",
                "onestop/test/v1/routes.proto",
                "onestop/test/v1/bad.proto",
            ],
            true,
            "test",
        );
        Descriptors::decode(&bytes).unwrap()
    })
}

/// The four simulated departments.
pub fn sim_set() -> &'static Descriptors {
    static SET: OnceLock<Descriptors> = OnceLock::new();
    SET.get_or_init(|| {
        let bytes = protoc(
            &[
                "onestop/sim/v1/traffic.proto",
                "onestop/sim/v1/tax.proto",
                "onestop/sim/v1/health.proto",
                "onestop/sim/v1/medins.proto",
            ],
            true,
            "sim",
        );
        Descriptors::decode(&bytes).unwrap()
    })
}

/// The compiled `onestop.test.v1.Echo` service.
pub fn echo() -> ServiceBindings {
    compile(test_set(), "onestop.test.v1.Echo").unwrap()
}

/// A method of `bindings` by simple name.
pub fn method<'a>(bindings: &'a ServiceBindings, name: &str) -> &'a Method {
    bindings
        .methods
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no method {name}"))
}
