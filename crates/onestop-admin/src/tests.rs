//! HTTP tests of the admin listener: the router on a loopback port over a
//! real SQLite store and a real registry (see `support`).
#![allow(clippy::unwrap_used)]

mod access;
mod appeals;
mod appeals_privacy;
mod assessment;
mod cache;
mod config;
mod console;
mod messages;
mod ops;
mod registry;
mod sharing;
mod support;
