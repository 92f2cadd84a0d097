//! The body of the `parse_validate` fuzz target (`fuzz/`), shared with the
//! unit test that runs the seed corpus, so both exercise the same code.
//!
//! Not part of the stable API.

use std::borrow::Cow;
use std::path::Path;

use crate::diag::Diagnostics;
use crate::load::{Source, parse_sources};
use crate::model::{Config, DepartmentFile, GatewayFile};

/// Separates the gateway part from the department part of a "pair" input.
pub const PAIR_SEPARATOR: &str = "\n#---\n";

const GATEWAY: &str = "onestop.toml";
const DEPARTMENT: &str = "departments/fuzz.toml";

/// Whether an input was a valid configuration when read three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// As the only department file (default gateway settings).
    pub as_department: bool,
    /// As the gateway file, with no departments.
    pub as_gateway: bool,
    /// Split at [`PAIR_SEPARATOR`] into a gateway file and a department
    /// file; `None` without a separator.
    pub as_pair: Option<bool>,
}

/// Parses and validates arbitrary bytes (UTF-8, else lossily converted) as a
/// department file, as a gateway file and, when split by
/// [`PAIR_SEPARATOR`], as both. Panics when an invariant breaks: a rejected
/// input must come with at least one problem located inside its file, and an
/// accepted one must serialize and parse back to the same model.
pub fn parse_validate(data: &[u8]) -> Outcome {
    let text = match std::str::from_utf8(data) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(data),
    };
    let text = text.as_ref();
    let as_department = run(None, Some(text));
    let as_gateway = run(Some(text), None);
    let as_pair = text
        .split_once(PAIR_SEPARATOR)
        .map(|(gateway, department)| run(Some(gateway), Some(department)));
    Outcome {
        as_department,
        as_gateway,
        as_pair,
    }
}

fn run(gateway: Option<&str>, department: Option<&str>) -> bool {
    let result = parse_sources(
        gateway.map(|t| Source::new(GATEWAY, t)),
        department
            .map(|t| Source::new(DEPARTMENT, t))
            .into_iter()
            .collect(),
    );
    match result {
        Ok(config) => {
            round_trip(&config);
            true
        }
        Err(Diagnostics(problems)) => {
            assert!(!problems.is_empty(), "rejected without a problem");
            for p in &problems {
                let text = if p.file == Path::new(GATEWAY) {
                    gateway
                } else {
                    department
                };
                let lines = text.map_or(1, |t| t.split('\n').count());
                assert!(
                    p.line >= 1 && p.line <= lines && p.col >= 1,
                    "{p} is outside its file ({lines} lines)"
                );
                assert!(!p.message.contains('\n'), "multi-line message: {p}");
            }
            false
        }
    }
}

fn round_trip(config: &Config) {
    let gateway = toml::to_string(&config.gateway).expect("a valid gateway file serializes");
    let back: GatewayFile = toml::from_str(&gateway).expect("a serialized gateway file parses");
    assert_eq!(back, config.gateway, "gateway round trip:\n{gateway}");
    for src in &config.departments {
        let text = toml::to_string(&src.file).expect("a valid department file serializes");
        let back: DepartmentFile = toml::from_str(&text).expect("a serialized department parses");
        assert_eq!(back, src.file, "department round trip:\n{text}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::*;

    /// Every seed of the fuzz corpus goes through the fuzz target's body; the
    /// file name says what to expect: `valid-dept-*`, `valid-gateway-*`,
    /// `valid-pair-*` are valid that way, `invalid-*` are valid no way; any
    /// other file (`crash-*`: an input the fuzzer once broke on, or a file
    /// libFuzzer added) need only not panic.
    #[test]
    fn seed_corpus() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_validate");
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 20, "only {} seeds", seeds.len());
        let mut kinds = [0usize; 4];
        for seed in &seeds {
            let name = seed.file_name().unwrap().to_str().unwrap();
            let outcome = parse_validate(&std::fs::read(seed).unwrap());
            let mut want_valid = |kind: usize, ok: bool| {
                assert!(ok, "{name} should be valid: {outcome:?}");
                kinds[kind] += 1;
            };
            if name.starts_with("valid-dept-") {
                want_valid(0, outcome.as_department);
            } else if name.starts_with("valid-gateway-") {
                want_valid(1, outcome.as_gateway);
            } else if name.starts_with("valid-pair-") {
                want_valid(2, outcome.as_pair == Some(true));
            } else if name.starts_with("invalid-") {
                let none = Outcome {
                    as_department: false,
                    as_gateway: false,
                    as_pair: outcome.as_pair.map(|_| false),
                };
                assert_eq!(outcome, none, "{name} should be invalid");
                kinds[3] += 1;
            }
        }
        assert!(
            kinds.iter().all(|&n| n > 0),
            "every kind of seed: {kinds:?}"
        );
    }
}
