//! Cross-process tests: real `onestop` gateway and fleet processes on
//! loopback ports chosen at run time. One test binary (one link) holding
//! every suite as a module.

#![allow(clippy::unwrap_used)]

mod appeals;
mod appeals_attachments;
mod appeals_feed;
mod appeals_privacy;
mod cache;
mod cases;
mod cli;
mod config_versions;
mod console;
mod data_plane;
mod evidence;
mod grpc;
mod health;
mod hygiene;
mod identity;
mod lifecycle;
mod listener;
mod masking;
mod messages;
mod overview;
mod parity;
mod ratelimit;
mod registry;
mod reload;
mod routing;
mod sharing;
mod transcode;
