//! The pieces of the `onestop` binary that tests reuse: turning a fleet
//! manifest into department configuration, wiring the pingora server, and
//! telemetry set-up.

pub mod fleet_config;
pub mod reload;
pub mod server;
pub mod telemetry;
