//! Tidy tests: the repository's own rules, checked over its sources and
//! `cargo metadata` (in the manner of rust-analyzer's `xtask/src/tidy.rs`).
//! Each failure names `file:line` and the rule. The rules are the ones
//! ARCHITECTURE.md and docs/style state; they are written over whatever
//! crates and modules exist, not over a list of today's files.
//!
//! An exception is explicit and commented where it lives: a
//! `// tidy: allow(<rule>) <why>` comment on the line or the line above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted (build output and fuzz corpora
/// left out).
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(p);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// One workspace crate as `cargo metadata` describes it.
struct Krate {
    name: String,
    /// Its directory, relative to the root (`crates/onestop-proxy`).
    dir: String,
    manifest: PathBuf,
    /// Non-dev dependencies.
    deps: BTreeSet<String>,
    /// Whether it has a library target (else only binaries).
    lib: bool,
}

fn workspace() -> Vec<Krate> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut krates = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
        let dir = manifest.parent().expect("manifest dir");
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        let lib = p["targets"].as_array().expect("targets").iter().any(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib"))
        });
        krates.push(Krate {
            name: p["name"].as_str().expect("name").to_owned(),
            dir: rel(dir),
            manifest,
            deps,
            lib,
        });
    }
    krates.sort_by(|a, b| a.name.cmp(&b.name));
    krates
}

/// The line of `manifest` that names dependency `dep` (for the report).
fn dep_line(manifest: &Path, dep: &str) -> usize {
    read(manifest)
        .lines()
        .position(|l| {
            l.trim_start().starts_with(&format!("{dep} "))
                || l.trim_start().starts_with(&format!("{dep}="))
        })
        .map_or(1, |i| i + 1)
}

fn report(rule: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "tidy: {rule}: {} problem(s)\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The code before the first `#[cfg(test)]` (unit tests sit at the end of
/// a module, or in a `tests.rs` of their own).
fn non_test(src: &str) -> &str {
    src.find("#[cfg(test)]").map_or(src, |i| &src[..i])
}

fn is_test_file(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.ends_with("/tests.rs")
        || s.contains("/tests/")
        || s.contains("/benches/")
        || s.contains("/examples/")
        || s.contains("/fuzz/")
}

/// Whether line `i` (0-based) of `lines`, or the one above, carries
/// `// tidy: allow(rule)`.
fn allowed(lines: &[&str], i: usize, rule: &str) -> bool {
    let tag = format!("tidy: allow({rule})");
    lines[i].contains(&tag) || (i > 0 && lines[i - 1].contains(&tag))
}

// ---------------------------------------------------------------- crates

/// ARCHITECTURE.md, "Architecture invariants": which onestop crates each
/// crate may depend on (`None`: any), and which crates do no I/O.
const MAY_DEPEND_ON: &[(&str, &[&str])] = &[
    (
        "onestop-proxy",
        &[
            "onestop-core",
            "onestop-config",
            "onestop-policy",
            "onestop-ratelimit",
            "onestop-cache",
            "onestop-transcode",
        ],
    ),
    ("onestop-transcode", &[]),
    (
        "onestop-cases",
        &["onestop-core", "onestop-config", "onestop-store"],
    ),
    (
        "onestop-sharing",
        &[
            "onestop-core",
            "onestop-config",
            "onestop-store",
            "onestop-audit",
        ],
    ),
    ("onestop-assessment", &["onestop-store"]),
    ("onestop-sim", &[]),
];

/// ARCHITECTURE.md: crates that do no I/O (`onestop-core`,
/// `onestop-policy`, `onestop-appeals`). Dependencies that would give
/// them I/O.
const PURE_CRATES: &[&str] = &["onestop-core", "onestop-policy", "onestop-appeals"];
const IO_DEPS: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "axum",
    "tonic",
    "sqlx",
    "redis",
    "pingora",
    "pingora-core",
    "pingora-proxy",
    "mio",
    "socket2",
];

#[test]
fn crate_dependencies_follow_architecture() {
    let krates = workspace();
    let ours: BTreeSet<&str> = krates.iter().map(|k| k.name.as_str()).collect();
    let binaries: BTreeSet<&str> = krates
        .iter()
        .filter(|k| !k.lib || k.name == "onestop")
        .map(|k| k.name.as_str())
        .collect();
    let rules: BTreeMap<&str, &[&str]> = MAY_DEPEND_ON.iter().copied().collect();
    let mut problems = Vec::new();
    for k in &krates {
        let at = |dep: &str| format!("{}:{}", rel(&k.manifest), dep_line(&k.manifest, dep));
        let is_test_crate = k.dir == "tests";
        for dep in &k.deps {
            // Library crates never depend on the binary (only the
            // cross-process tests do).
            if binaries.contains(dep.as_str()) && !is_test_crate {
                problems.push(format!(
                    "{}: `{}` depends on the binary `{dep}`",
                    at(dep),
                    k.name
                ));
            }
            if dep == "onestop-tests" {
                problems.push(format!("{}: `{}` depends on the tests", at(dep), k.name));
            }
            // Only onestop-store knows SQL.
            if dep == "sqlx" && k.name != "onestop-store" {
                problems.push(format!(
                    "{}: `{}` depends on sqlx; only onestop-store knows SQL",
                    at(dep),
                    k.name
                ));
            }
            if let Some(allowed) = rules.get(k.name.as_str())
                && ours.contains(dep.as_str())
                && !allowed.contains(&dep.as_str())
            {
                problems.push(format!(
                    "{}: `{}` may depend only on {allowed:?} among onestop crates, not `{dep}`",
                    at(dep),
                    k.name
                ));
            }
            if PURE_CRATES.contains(&k.name.as_str()) && IO_DEPS.contains(&dep.as_str()) {
                problems.push(format!(
                    "{}: `{}` does no I/O but depends on `{dep}`",
                    at(dep),
                    k.name
                ));
            }
        }
    }
    // The rules name crates that exist (a renamed crate must not silently
    // escape them).
    for name in rules.keys().chain(PURE_CRATES) {
        if !ours.contains(name) {
            problems.push(format!(
                "tests/tests/tidy.rs:1: rule names `{name}`, not a workspace crate"
            ));
        }
    }
    report("crate dependencies (ARCHITECTURE.md)", problems);
}

// ---------------------------------------------------------------- sources

/// `crates/*/src/**.rs`, with the crate's directory name.
fn crate_sources() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for k in workspace() {
        if !k.dir.starts_with("crates/") {
            continue;
        }
        let src = root().join(&k.dir).join("src");
        for f in rust_files(&src) {
            out.push((k.name.clone(), f));
        }
    }
    out
}

#[test]
fn only_the_store_knows_sql() {
    let keywords = [
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "CREATE TABLE",
        "ALTER TABLE",
        "DROP TABLE",
        "ON CONFLICT",
    ];
    let mut problems = Vec::new();
    for (krate, f) in crate_sources() {
        if krate == "onestop-store" {
            continue;
        }
        let src = read(&f);
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let in_literal = code.contains('"')
                && keywords.iter().any(|k| {
                    code.find(k)
                        .is_some_and(|at| code[..at].matches('"').count() % 2 == 1)
                });
            if (code.contains("sqlx::") || in_literal) && !allowed(&lines, i, "sql") {
                problems.push(format!(
                    "{}:{}: SQL outside onestop-store: {}",
                    rel(&f),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    report("only onestop-store knows SQL", problems);
}

/// Whether a module file is an events module (`events.rs`, `events/…`).
fn is_events_module(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "events.rs")
        || p.components().any(|c| c.as_os_str() == "events")
}

/// Crates that log without an events module yet. Each is a known debt,
/// named here so that no other crate starts: the binary's start-up and
/// wiring (`main`, `server`, `demo`, … log what the operator started),
/// the simulated fleet (a test tool that logs its own life), and the
/// store's connection life.
const LOG_OUTSIDE_EVENTS: &[&str] = &["onestop", "onestop-sim", "onestop-store"];

#[test]
fn only_events_modules_log() {
    let macros = [
        "info!",
        "warn!",
        "error!",
        "debug!",
        "trace!",
        "event!",
        "span!",
        "info_span!",
        "warn_span!",
        "error_span!",
        "debug_span!",
        "trace_span!",
    ];
    let mut problems = Vec::new();
    for (krate, f) in crate_sources() {
        if is_events_module(&f) || is_test_file(&f) || LOG_OUTSIDE_EVENTS.contains(&krate.as_str())
        {
            continue;
        }
        let src = read(&f);
        let lines: Vec<&str> = non_test(&src).lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let logs = macros.iter().any(|m| {
                code.match_indices(m).any(|(at, _)| {
                    let before = &code[..at];
                    let prefixed_ok = before.is_empty()
                        || before.ends_with("tracing::")
                        || !before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
                    prefixed_ok && code[at + m.len()..].trim_start().starts_with(['(', '{'])
                })
            });
            if logs && !allowed(&lines, i, "log") {
                problems.push(format!(
                    "{}:{}: a log line outside an `events` module: {}",
                    rel(&f),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    report("only events modules log", problems);
}

/// Crates on the request path: a panic there drops a citizen's request.
const REQUEST_PATH: &[&str] = &[
    "onestop-proxy",
    "onestop-policy",
    "onestop-core",
    "onestop-cache",
    "onestop-ratelimit",
    "onestop-transcode",
];

/// Panics the request path may keep, by what they say, and why they
/// cannot happen on anything a user or department sends.
const ALLOWED_PANICS: &[(&str, &str)] = &[
    (
        r#".expect("valid metric")"#,
        "metric definitions are constants: a bad one fails at start-up in every test, never on a request",
    ),
    (
        r#".expect("metric registered twice")"#,
        "the metric set is registered once per process, at start-up",
    ),
];

#[test]
fn no_unwrap_on_the_request_path() {
    let mut problems = Vec::new();
    for (krate, f) in crate_sources() {
        if !REQUEST_PATH.contains(&krate.as_str()) || is_test_file(&f) {
            continue;
        }
        let src = read(&f);
        let lines: Vec<&str> = non_test(&src).lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let panics = code.contains(".unwrap()") || code.contains(".expect(");
            let listed = ALLOWED_PANICS
                .iter()
                .any(|(what, _why)| code.contains(what));
            if panics && !listed && !allowed(&lines, i, "unwrap") {
                problems.push(format!(
                    "{}:{}: unwrap/expect on the request path (handle it, or `// tidy: allow(unwrap) <why it cannot fail>`): {}",
                    rel(&f),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    report("no unwrap on the request path", problems);
}

/// The e2e suites build their HTTP clients through
/// `onestop_tests::client()` / `client_builder()`, which give idle
/// connections up before a gateway closes them (`CLIENT_IDLE`); a bare
/// `reqwest::Client` keeps them 90 s and races the gateway's header
/// timeout (a request written as the gateway closes fails).
#[test]
fn test_clients_give_idle_connections_up_first() {
    let mut problems = Vec::new();
    for f in rust_files(&root().join("tests")) {
        if f.ends_with("tests/tidy.rs") {
            continue;
        }
        let src = read(&f);
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let bare = [
                "reqwest::Client::new()",
                "reqwest::Client::builder()",
                "ClientBuilder::new()",
            ]
            .iter()
            .any(|c| code.contains(c));
            if bare && !allowed(&lines, i, "client") {
                problems.push(format!(
                    "{}:{}: a test client not built by onestop_tests::client()/client_builder(): {}",
                    rel(&f),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    report("test clients give idle connections up first", problems);
}

#[test]
fn every_module_opens_with_docs() {
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = crate_sources()
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| !is_test_file(f))
        .collect();
    files.extend(rust_files(&root().join("tests/src")));
    for f in files {
        if !read(&f).trim_start().starts_with("//!") {
            problems.push(format!(
                "{}:1: the module does not open with `//!` docs",
                rel(&f)
            ));
        }
    }
    report("every module opens with //!", problems);
}

// ---------------------------------------------------------------- docs

/// ARCHITECTURE.md's code map: `crate dir` → (line, paragraph).
fn code_map() -> BTreeMap<String, (usize, String)> {
    let doc = read(&root().join("ARCHITECTURE.md"));
    let mut map = BTreeMap::new();
    let mut in_map = false;
    for (i, line) in doc.lines().enumerate() {
        if line.starts_with("## ") {
            in_map = line.trim() == "## Code map";
            continue;
        }
        if in_map
            && let Some(rest) = line.strip_prefix("- **`")
            && let Some(end) = rest.find('`')
        {
            let dir = rest[..end].trim_end_matches('/').to_owned();
            map.insert(dir, (i + 1, line.to_owned()));
        }
    }
    map
}

#[test]
fn every_crate_has_a_code_map_paragraph() {
    let map = code_map();
    let mut problems = Vec::new();
    for k in workspace() {
        if !map.contains_key(&k.dir) {
            problems.push(format!(
                "ARCHITECTURE.md:1: the code map has no paragraph for `{}` ({})",
                k.dir, k.name
            ));
        }
    }
    report("every crate in the code map", problems);
}

/// The modules a crate root declares (`mod x;` / `pub mod x;`), test and
/// private helper modules left out.
fn declared_modules(root_file: &Path) -> Vec<String> {
    non_test(&read(root_file))
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            (name != "tests").then(|| name.to_owned())
        })
        .collect()
}

/// Crates whose code-map paragraph describes their modules in words
/// rather than by name, yet: a known debt, named so that no other crate
/// joins it. Remove a crate once its paragraph names its public modules.
const CODE_MAP_BY_TOPIC: &[&str] = &[
    "onestop",
    "onestop-admin",
    "onestop-config",
    "onestop-sim",
    "onestop-tests",
];

#[test]
fn code_map_names_every_public_module() {
    let map = code_map();
    let mut problems = Vec::new();
    for k in workspace() {
        let Some((line, paragraph)) = map.get(&k.dir) else {
            continue;
        };
        if CODE_MAP_BY_TOPIC.contains(&k.name.as_str()) {
            continue;
        }
        let lib = root().join(&k.dir).join("src/lib.rs");
        if !lib.exists() {
            continue;
        }
        for m in declared_modules(&lib) {
            let file = read(&lib);
            let public = file.lines().any(|l| l.trim() == format!("pub mod {m};"));
            if !public {
                continue;
            }
            let named = paragraph.contains(&format!("`{m}`"))
                || paragraph.contains(&format!("`{m}::"))
                || paragraph.contains(&format!("::{m}`"))
                || paragraph.contains(&format!("`{}::{m}", k.name.replace('-', "_")));
            if !named {
                problems.push(format!(
                    "ARCHITECTURE.md:{line}: the code map paragraph of `{}` does not name its module `{m}` ({}/src/lib.rs)",
                    k.dir, k.dir
                ));
            }
        }
    }
    report("module lists in docs match src/", problems);
}
