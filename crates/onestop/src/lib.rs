//! The pieces of the `onestop` binary that tests reuse: wiring the pingora
//! server, the configuration manager, the demo, the admin-API client, the
//! fleet's department configuration, and telemetry set-up.

pub mod admin_client;
pub mod appeals;
pub mod cases;
pub mod demo;
mod demo_appeals;
mod demo_feed;
mod demo_sharing;
pub mod edit;
pub mod evidence;
pub mod fleet_config;
pub mod jwks;
pub mod listener;
pub mod manage;
pub mod messages;
pub mod reload;
pub mod rollup;
pub mod server;
pub mod sharing;
pub mod telemetry;
pub mod tokens;
