#![allow(clippy::unwrap_used)]

use super::*;
use crate::load_path;

const GATEWAY: &str = "[listeners]\npublic = \"127.0.0.1:18080\"\n";
const HPF: &str = r#"[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "accounts"
instances = [{ addr = "127.0.0.1:9001" }]

[[routes]]
id = "balance"
path = "/api/v1/depts/hpf/balance"
service = "accounts"
"#;

fn bundle(files: &[(&str, &str)]) -> Bundle {
    Bundle {
        files: files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    }
}

fn water() -> String {
    HPF.replace("hpf", "water")
}

fn sample() -> Bundle {
    bundle(&[
        ("onestop.toml", GATEWAY),
        ("departments/hpf.toml", HPF),
        ("departments/water.toml", &water()),
    ])
}

#[test]
fn hash_is_stable_and_matches_the_documented_encoding() {
    assert_eq!(
        Bundle::default().hash(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "no files: the SHA-256 of nothing"
    );
    let one = bundle(&[("a", "b")]);
    // [0,0,0,0,0,0,0,1] "a" [0,0,0,0,0,0,0,1] "b"
    let mut encoded = Vec::new();
    encoded.extend_from_slice(&1u64.to_be_bytes());
    encoded.push(b'a');
    encoded.extend_from_slice(&1u64.to_be_bytes());
    encoded.push(b'b');
    assert_eq!(one.hash(), hex::encode(Sha256::digest(&encoded)));
    assert_eq!(one.hash().len(), 64);
    assert!(
        one.hash()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // Insertion order does not matter: the map is sorted.
    let mut reversed = Bundle::default();
    for (p, t) in sample().files.into_iter().rev() {
        reversed.files.insert(p, t);
    }
    assert_eq!(reversed.hash(), sample().hash());
}

#[test]
fn hash_is_sensitive_to_every_byte_and_to_boundaries() {
    let base = sample().hash();
    let mut changed = sample();
    changed
        .files
        .insert("departments/hpf.toml".into(), HPF.replace("9001", "9002"));
    assert_ne!(changed.hash(), base);
    let mut renamed = sample();
    let text = renamed.files.remove("departments/water.toml").unwrap();
    renamed.files.insert("departments/water2.toml".into(), text);
    assert_ne!(renamed.hash(), base);
    // Moving bytes between a path and its text changes the hash.
    assert_ne!(bundle(&[("ab", "c")]).hash(), bundle(&[("a", "bc")]).hash());
    // So does moving bytes from one file to the next.
    assert_ne!(
        bundle(&[("a", "xy"), ("b", "z")]).hash(),
        bundle(&[("a", "x"), ("b", "yz")]).hash()
    );
}

#[test]
fn diff_is_empty_when_equal_and_unified_per_file() {
    assert_eq!(sample().diff(&sample()), "");
    let mut newer = sample();
    newer
        .files
        .insert("departments/hpf.toml".into(), HPF.replace("9001", "9002"));
    newer.files.remove("departments/water.toml");
    newer.files.insert(
        "departments/tax.toml".into(),
        "[department]\nid = \"tax\"\n".into(),
    );
    let diff = sample().diff(&newer);
    let want = "\
--- a/departments/hpf.toml
+++ b/departments/hpf.toml
@@ -4,7 +4,7 @@
 
 [[services]]
 id = \"accounts\"
-instances = [{ addr = \"127.0.0.1:9001\" }]
+instances = [{ addr = \"127.0.0.1:9002\" }]
 
 [[routes]]
 id = \"balance\"
--- a/departments/tax.toml
+++ b/departments/tax.toml
@@ -0,0 +1,2 @@
+[department]
+id = \"tax\"
--- a/departments/water.toml
+++ b/departments/water.toml
@@ -1,12 +0,0 @@
-[department]
-id = \"water\"
-name = \"住房公积金管理中心\"
-
-[[services]]
-id = \"accounts\"
-instances = [{ addr = \"127.0.0.1:9001\" }]
-
-[[routes]]
-id = \"balance\"
-path = \"/api/v1/depts/water/balance\"
-service = \"accounts\"
";
    assert_eq!(diff, want);
}

#[test]
fn diff_shows_added_empty_files_and_missing_newlines() {
    let diff = Bundle::default().diff(&bundle(&[("onestop.toml", "")]));
    assert_eq!(diff, "--- a/onestop.toml\n+++ b/onestop.toml\n");
    let diff = bundle(&[("onestop.toml", "a\n")]).diff(&bundle(&[("onestop.toml", "a")]));
    assert_eq!(
        diff,
        "--- a/onestop.toml\n+++ b/onestop.toml\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n"
    );
}

#[test]
fn read_of_a_directory_and_of_its_gateway_file() {
    let dir = tempfile::tempdir().unwrap();
    sample().write_to(dir.path()).unwrap();
    std::fs::write(dir.path().join("departments/README.md"), "not toml").unwrap();
    let from_dir = Bundle::read(dir.path()).unwrap();
    assert_eq!(from_dir, sample());
    let from_file = Bundle::read(&dir.path().join("onestop.toml")).unwrap();
    assert_eq!(from_file, sample());

    // parse(base) reports the same paths as load_path, and gives the same config.
    for path in [dir.path().to_path_buf(), dir.path().join("onestop.toml")] {
        let config = from_dir.parse(Bundle::base(&path)).unwrap();
        assert_eq!(config, load_path(&path).unwrap());
        assert_eq!(config.gateway_path, Some(dir.path().join("onestop.toml")));
        assert_eq!(
            config.departments[0].path,
            dir.path().join("departments").join("hpf.toml")
        );
    }

    // A gateway file with another name keeps its name.
    std::fs::rename(dir.path().join("onestop.toml"), dir.path().join("gw.toml")).unwrap();
    let renamed = Bundle::read(&dir.path().join("gw.toml")).unwrap();
    assert_eq!(
        renamed.files.get("gw.toml").map(String::as_str),
        Some(GATEWAY)
    );
    let config = renamed.parse(dir.path()).unwrap();
    assert_eq!(config.gateway_path, Some(dir.path().join("gw.toml")));
    assert_eq!(config.gateway.listeners.public.port(), 18080);
    // Without a gateway file the directory has defaults.
    let defaults = Bundle::read(dir.path()).unwrap();
    assert_eq!(defaults.files.len(), 2);
    assert_eq!(defaults.parse(dir.path()).unwrap().gateway_path, None);
}

#[test]
fn read_errors_are_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = Bundle::read(&missing).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].file, missing);
    assert!(err.0[0].message.starts_with("cannot read file:"), "{err}");
    assert_eq!(load_path(&missing).unwrap_err(), err);
    std::fs::create_dir(dir.path().join("departments")).unwrap();
    std::fs::write(dir.path().join("departments/bad.toml"), [0xff, 0xfe]).unwrap();
    let err = Bundle::read(dir.path()).unwrap_err();
    assert_eq!(err.0[0].file, dir.path().join("departments/bad.toml"));
    assert!(err.0[0].message.contains("valid UTF-8"), "{err}");
}

#[test]
fn parse_reports_paths_under_base_and_rejects_stray_paths() {
    let mut b = sample();
    b.files
        .insert("departments/hpf.toml".into(), HPF.replace("9001", "x"));
    let err = b.parse(Path::new("/etc/onestop")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/onestop/departments/hpf.toml:7:23: instance address `127.0.0.1:x` is not ip:port (host names are not resolved)"
    );
    let b = bundle(&[
        ("onestop.toml", GATEWAY),
        ("other.toml", GATEWAY),
        ("departments/notes.txt", ""),
        ("../escape.toml", ""),
        ("departments/.hidden.toml", ""),
    ]);
    let err = b.parse(Path::new("cfg")).unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("../escape.toml:1:1: `../escape.toml` is not a configuration file"),
        "{err}"
    );
    assert!(
        lines[1].starts_with(
            "departments/.hidden.toml:1:1: `departments/.hidden.toml` is not a plain file name"
        ),
        "{err}"
    );
    assert!(
        lines[2].starts_with(
            "departments/notes.txt:1:1: `departments/notes.txt` is not a configuration file"
        ),
        "{err}"
    );
    assert!(
        lines[3].starts_with(
            "cfg/other.toml:1:1: a second gateway file (the first is cfg/onestop.toml)"
        ),
        "{err}"
    );
}

#[test]
fn write_to_round_trips_and_removes_dropped_departments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    sample().write_to(&cfg).unwrap();
    assert_eq!(Bundle::read(&cfg).unwrap(), sample());

    // Drop `water`, change `hpf`: water.toml goes, other files stay.
    std::fs::write(cfg.join("departments/README.md"), "kept").unwrap();
    let mut newer = sample();
    newer.files.remove("departments/water.toml");
    newer
        .files
        .insert("departments/hpf.toml".into(), HPF.replace("9001", "9002"));
    newer.write_to(&cfg).unwrap();
    assert_eq!(Bundle::read(&cfg).unwrap(), newer);
    assert!(!cfg.join("departments/water.toml").exists());
    assert_eq!(
        std::fs::read_to_string(cfg.join("departments/README.md")).unwrap(),
        "kept"
    );
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(cfg.join("departments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["README.md", "hpf.toml"]);
    let names: Vec<String> = std::fs::read_dir(&cfg)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn write_to_checks_every_path_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(&[
        ("onestop.toml", GATEWAY),
        ("departments/../../evil.toml", "x"),
    ]);
    let err = b.write_to(dir.path()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_failed_rename_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    sample().write_to(dir.path()).unwrap();
    // A directory where a department file should go: its rename fails.
    let mut newer = sample();
    newer
        .files
        .insert("onestop.toml".into(), "[proxy]\nthreads = 4\n".into());
    newer.files.insert("departments/x.toml".into(), HPF.into());
    std::fs::create_dir(dir.path().join("departments/x.toml")).unwrap();
    std::fs::write(dir.path().join("departments/x.toml/keep"), "").unwrap();
    assert!(newer.write_to(dir.path()).is_err());
    // Renames are in path order: the department file comes first and fails,
    // so the gateway file keeps its old text, and no temporary file is left.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("onestop.toml")).unwrap(),
        GATEWAY
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("departments"))
        .unwrap()
        .chain(std::fs::read_dir(dir.path()).unwrap())
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}
