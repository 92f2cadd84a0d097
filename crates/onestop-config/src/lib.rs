//! onestop's configuration: the gateway file (`onestop.toml`) and one file
//! per department (`departments/*.toml`).
//!
//! Loading never applies anything: it parses every file, then [`validate`]s
//! the whole set and reports *every* problem as `FILE:LINE:COL: message`.
//! The data plane compiles a validated [`Config`] into its own snapshot.

mod diag;
mod load;
mod model;
mod validate;

pub use diag::{Diagnostic, Diagnostics};
pub use load::{Source, department_files, load_dir, load_path, parse_sources};
pub use model::*;
pub use validate::validate;

#[cfg(test)]
mod tests;
