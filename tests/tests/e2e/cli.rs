//! The `onestop validate` command as operators run it.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use onestop_tests::onestop_bin;

fn validate(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(onestop_bin())
        .arg("validate")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_shipped_config_is_valid() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let (code, out) = validate(&config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (1 departments, 2 routes)"), "{out}");
}

#[test]
fn problems_are_reported_as_file_line_col_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("departments")).unwrap();
    std::fs::write(
        dir.path().join("departments/a.toml"),
        "[department]\nid = \"a\"\nname = \"A\"\n\n[[routes]]\nid = \"r\"\npath = \"/x\"\nservice = \"missing\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("departments/b.toml"),
        "[department]\nid = \"b\"\nname = \"B\"\nmax_concurency = 3\n",
    )
    .unwrap();
    let (code, out) = validate(dir.path());
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let a = dir.path().join("departments/a.toml");
    let b = dir.path().join("departments/b.toml");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:4:1: ", b.display()))
                && l.contains("max_concurency")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:8:11: ", a.display()))
                && l.contains("unknown service `missing`")),
        "{out}"
    );
}
