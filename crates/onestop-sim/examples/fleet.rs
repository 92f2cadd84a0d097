//! Runs the simulated department fleet on its own until Ctrl-C:
//!
//! ```text
//! cargo run -p onestop-sim --example fleet -- [MANIFEST_PATH]
//! ```
//!
//! `RUST_LOG` filters the logs (default `info`).

use std::path::PathBuf;

use onestop_sim::FleetOptions;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let manifest_out = std::env::args_os().nth(1).map(PathBuf::from);
    onestop_sim::run(FleetOptions::default(), manifest_out).await
}
