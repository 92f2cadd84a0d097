//! onestop's configuration: the gateway file (`onestop.toml`) and one file
//! per department (`departments/*.toml`).
//!
//! Loading never applies anything: it parses every file, then [`validate`]s
//! the whole set and reports *every* problem as `FILE:LINE:COL: message`.
//! The data plane compiles a validated [`Config`] into its own snapshot.
//! A [`Bundle`] is a configuration as files (hashed, diffed, written back);
//! [`json_schemas`] describes both kinds of file for editors.

pub mod access;
pub mod appeals;
mod bundle;
pub mod cache;
pub mod composite;
pub mod console;
mod diag;
#[doc(hidden)]
pub mod fuzzing;
mod load;
pub mod messages;
mod model;
pub mod policy;
mod schema;
pub mod sharing;
pub mod transcode;
mod validate;

pub use access::*;
pub use appeals::*;
pub use bundle::Bundle;
pub use cache::*;
pub use composite::*;
pub use console::*;
pub use diag::{Diagnostic, Diagnostics};
pub use load::{Source, department_files, load_dir, load_path, parse_sources};
pub use model::*;
pub use policy::RoutePolicy;
/// The `regex` crate, re-exported so that the data plane names the same
/// [`regex::bytes::Regex`] that [`header_regex`] returns.
pub use regex;
pub use schema::{department_schema, gateway_schema, json_schemas};
pub use sharing::*;
pub use validate::validate;

#[cfg(test)]
mod tests;
