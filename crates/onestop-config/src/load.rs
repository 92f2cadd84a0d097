//! Reading configuration files from disk (or from strings, for tests and the admin API).

use std::path::{Path, PathBuf};

use crate::bundle::Bundle;
use crate::diag::{Diagnostic, Diagnostics, line_col};
use crate::model::{Config, DepartmentFile, DepartmentSource, GatewayFile};
use crate::validate::validate;

/// The text of one configuration file and the path it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    /// A source reported under `path`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// Loads a configuration from a directory (`onestop.toml` + `departments/*.toml`)
/// or from a gateway file (its sibling `departments/` directory is read too).
/// The same as [`Bundle::read`] then [`Bundle::parse`].
pub fn load_path(path: &Path) -> Result<Config, Diagnostics> {
    Bundle::read(path)?.parse(Bundle::base(path))
}

/// Loads `dir/onestop.toml` (defaults when absent) and `dir/departments/*.toml`.
pub fn load_dir(dir: &Path) -> Result<Config, Diagnostics> {
    if !dir.is_dir() {
        return Err(Diagnostics(vec![no_such_dir(dir)]));
    }
    load_path(dir)
}

pub(crate) fn no_such_dir(dir: &Path) -> Diagnostic {
    Diagnostic {
        file: dir.to_path_buf(),
        line: 1,
        col: 1,
        message: "no such configuration directory".into(),
    }
}

/// The department files in `dir` (`*.toml`), in name order; none when the
/// directory is missing. The loader and the reload watcher share this list.
pub fn department_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
}

/// Parses and validates a set of sources. Every file is parsed even when an
/// earlier one fails, so that all problems are reported together.
pub fn parse_sources(
    gateway: Option<Source>,
    departments: Vec<Source>,
) -> Result<Config, Diagnostics> {
    let mut problems = Vec::new();
    let mut config = Config::default();
    if let Some(src) = gateway {
        match toml::from_str::<GatewayFile>(&src.text) {
            Ok(file) => config.gateway = file,
            Err(e) => problems.push(parse_diagnostic(&src, &e)),
        }
        config.gateway_path = Some(src.path);
        config.gateway_text = Some(src.text);
    }
    for src in departments {
        match toml::from_str::<DepartmentFile>(&src.text) {
            Ok(mut file) => {
                problems.extend(read_descriptor_sets(&src, &mut file));
                config.departments.push(DepartmentSource {
                    path: src.path,
                    text: src.text,
                    file,
                });
            }
            Err(e) => problems.push(parse_diagnostic(&src, &e)),
        }
    }
    problems.extend(validate(&config));
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Reads the descriptor set each gRPC service names (relative to its
/// department file's directory); a file that cannot be read is a problem
/// located at its `descriptor_set`. (Whether it decodes, and what it
/// serves, is `validate`'s.)
fn read_descriptor_sets(src: &Source, file: &mut DepartmentFile) -> Vec<Diagnostic> {
    let dir = src.path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for service in &mut file.services {
        let Some(rel) = &service.descriptor_set else {
            continue;
        };
        let path = dir.join(rel.get_ref());
        match std::fs::read(&path) {
            Ok(bytes) => service.descriptors = Some(bytes.into()),
            Err(e) => {
                let (line, col) = line_col(&src.text, rel.span().start);
                problems.push(Diagnostic {
                    file: src.path.clone(),
                    line,
                    col,
                    message: format!("descriptor_set: cannot read {}: {e}", path.display()),
                });
            }
        }
    }
    problems
}

fn parse_diagnostic(src: &Source, e: &toml::de::Error) -> Diagnostic {
    let (line, col) = e
        .span()
        .map_or((1, 1), |span| line_col(&src.text, span.start));
    Diagnostic {
        file: src.path.clone(),
        line,
        col,
        message: e.message().trim().replace('\n', " "),
    }
}
