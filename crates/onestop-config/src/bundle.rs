//! A whole configuration as files: what the admin API edits, the store
//! versions and the gateway writes back to its configuration directory.
//!
//! Paths are relative and use `/`: the gateway file is one top-level file
//! (`onestop.toml`, or the name of the gateway file the configuration was
//! read from), department files are `departments/NAME.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use similar::TextDiff;

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::{Source, department_files, no_such_dir, parse_sources};
use crate::model::Config;

/// The gateway file of a configuration directory.
const GATEWAY_FILE: &str = "onestop.toml";
/// The directory of department files, relative to the configuration directory.
const DEPARTMENTS: &str = "departments";

/// A whole configuration as files: relative path ("onestop.toml", "departments/hpf.toml") → text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bundle {
    /// Relative path → text, in path order.
    pub files: BTreeMap<String, String>,
}

/// What a relative path in a bundle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Gateway,
    Department,
}

impl Bundle {
    /// Reads a config directory (onestop.toml + departments/*.toml) or a gateway file (+ its sibling departments/).
    ///
    /// Every file that cannot be read is reported, not only the first.
    pub fn read(path: &Path) -> Result<Bundle, Diagnostics> {
        let mut bundle = Bundle::default();
        let mut problems = Vec::new();
        let dir = if path.is_dir() {
            let gateway = path.join(GATEWAY_FILE);
            if gateway.exists() {
                bundle.read_file(GATEWAY_FILE.into(), &gateway, &mut problems);
            }
            path
        } else {
            match path.file_name().and_then(OsStr::to_str) {
                Some(name) => bundle.read_file(name.into(), path, &mut problems),
                None if path.file_name().is_none() => {
                    return Err(Diagnostics(vec![no_such_dir(path)]));
                }
                None => problems.push(whole_file(path, "file name is not valid UTF-8")),
            }
            Bundle::base(path)
        };
        for file in department_files(&dir.join(DEPARTMENTS)) {
            match file.file_name().and_then(OsStr::to_str) {
                Some(name) => {
                    bundle.read_file(format!("{DEPARTMENTS}/{name}"), &file, &mut problems)
                }
                None => problems.push(whole_file(&file, "file name is not valid UTF-8")),
            }
        }
        if problems.is_empty() {
            Ok(bundle)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// Lower-case hex SHA-256 over the files in a canonical, unambiguous encoding (length-prefixed path and text, sorted).
    ///
    /// For each file in path order: the path's length in bytes as a
    /// big-endian `u64`, the path, the text's length as a big-endian `u64`,
    /// the text (UTF-8).
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, text) in &self.files {
            for part in [path.as_bytes(), text.as_bytes()] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
        }
        hex::encode(hasher.finalize())
    }

    /// Unified diff from `self` (older) to `newer`, per file (added/removed files included), with `--- a/PATH`/`+++ b/PATH` headers; "" when equal. Use the `similar` crate (already a workspace dependency).
    ///
    /// Files come in path order with three lines of context. An added or
    /// removed file diffs against the empty text; an added or removed empty
    /// file shows as its two header lines.
    pub fn diff(&self, newer: &Bundle) -> String {
        let paths: BTreeSet<&String> = self.files.keys().chain(newer.files.keys()).collect();
        let mut out = String::new();
        for path in paths {
            let old = self.files.get(path);
            let new = newer.files.get(path);
            if old == new {
                continue;
            }
            let (old, new) = (
                old.map_or("", String::as_str),
                new.map_or("", String::as_str),
            );
            let (a, b) = (format!("a/{path}"), format!("b/{path}"));
            if old == new {
                // An empty file added or removed: no hunk, but the change shows.
                out.push_str(&format!("--- {a}\n+++ {b}\n"));
                continue;
            }
            let diff = TextDiff::from_lines(old, new);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
                    .to_string(),
            );
        }
        out
    }

    /// Parses and validates, reporting paths as `base.join(relative path)`.
    ///
    /// A path that is neither a top-level gateway file nor
    /// `departments/NAME.toml`, or a second top-level file, is a problem too.
    pub fn parse(&self, base: &Path) -> Result<Config, Diagnostics> {
        let mut gateway: Option<Source> = None;
        let mut departments = Vec::new();
        let mut problems = Vec::new();
        for (rel, text) in &self.files {
            match classify(rel) {
                Ok(FileKind::Gateway) => match &gateway {
                    Some(first) => problems.push(whole_file(
                        &join(base, rel),
                        &format!(
                            "a second gateway file (the first is {}); department files belong in {DEPARTMENTS}/",
                            first.path.display()
                        ),
                    )),
                    None => gateway = Some(Source::new(join(base, rel), text.clone())),
                },
                Ok(FileKind::Department) => {
                    departments.push(Source::new(join(base, rel), text.clone()));
                }
                Err(message) => problems.push(whole_file(Path::new(rel), &message)),
            }
        }
        match parse_sources(gateway, departments) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(Diagnostics(problems)),
            Err(Diagnostics(more)) => {
                problems.extend(more);
                Err(Diagnostics(problems))
            }
        }
    }

    /// Writes the files into `dir` (a config directory): each file atomically (temp file + rename), then removes `departments/*.toml` files that are not in the bundle. Never leaves a half-written file.
    ///
    /// Every path is checked before anything is written (a bad one is
    /// `InvalidInput`), and every file is staged in a temporary file before
    /// the first rename, so a failure while staging changes nothing. A file
    /// whose text is already on disk is left alone.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        let mut targets = Vec::with_capacity(self.files.len());
        for (rel, text) in &self.files {
            classify(rel).map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
            let target = join(dir, rel);
            if fs::read(&target).is_ok_and(|old| old == text.as_bytes()) {
                continue;
            }
            targets.push((target, text));
        }
        let departments = dir.join(DEPARTMENTS);
        fs::create_dir_all(&departments)?;

        let mut staged = Vec::with_capacity(targets.len());
        for (target, text) in targets {
            match stage(&target, text) {
                Ok(tmp) => staged.push((tmp, target)),
                Err(e) => {
                    discard(&staged);
                    return Err(e);
                }
            }
        }
        for (i, (tmp, target)) in staged.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, target) {
                discard(&staged[i..]);
                return Err(e);
            }
        }

        for file in department_files(&departments) {
            let listed = file
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|name| self.files.contains_key(&format!("{DEPARTMENTS}/{name}")));
            if !listed {
                fs::remove_file(&file)?;
            }
        }
        sync_dir(&departments)?;
        sync_dir(dir)
    }

    /// The directory a path read by [`Bundle::read`] is relative to: the
    /// directory itself, or a gateway file's parent.
    pub(crate) fn base(path: &Path) -> &Path {
        if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        }
    }

    fn read_file(&mut self, rel: String, path: &Path, problems: &mut Vec<Diagnostic>) {
        match fs::read_to_string(path) {
            Ok(text) => {
                self.files.insert(rel, text);
            }
            Err(e) => problems.push(whole_file(path, &format!("cannot read file: {e}"))),
        }
    }
}

/// Whether `rel` names the gateway file or a department file, or why it is neither.
fn classify(rel: &str) -> Result<FileKind, String> {
    let (kind, name) = match rel.split_once('/') {
        None => (FileKind::Gateway, rel),
        Some((DEPARTMENTS, name)) if name.ends_with(".toml") => (FileKind::Department, name),
        Some(_) => {
            return Err(format!(
                "`{rel}` is not a configuration file: use a top-level gateway file or {DEPARTMENTS}/NAME.toml"
            ));
        }
    };
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !Path::new(name).is_absolute();
    if plain {
        Ok(kind)
    } else {
        Err(format!(
            "`{rel}` is not a plain file name (no leading dot, separators or NUL)"
        ))
    }
}

/// `base` joined with a relative `/`-separated path, one component at a time.
fn join(base: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(base.to_path_buf(), |p, c| p.join(c))
}

fn whole_file(file: &Path, message: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: 1,
        col: 1,
        message: message.to_string(),
    }
}

/// Writes `text` to a new temporary file beside `target` (its name does not
/// end in `.toml`, so no loader picks it up) and flushes it to disk.
fn stage(target: &Path, text: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().and_then(OsStr::to_str).unwrap_or("file");
    let tmp = target.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Best-effort removal of staged temporary files after a failure.
fn discard(staged: &[(PathBuf, PathBuf)]) {
    for (tmp, _) in staged {
        let _ = fs::remove_file(tmp);
    }
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
