//! `onestop`: the gateway (`serve`), the demo (`demo`), the simulated
//! department fleet (`sim`) and the configuration checker (`validate`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use onestop::fleet_config::{self, write_atomically};
use onestop::server::{self, RunOptions};
use onestop::telemetry::{self, LogFormat};
use onestop_admin::Readiness;
use onestop_sim::manifest::FleetManifest;
use onestop_sim::{Fleet, FleetOptions};

#[derive(Parser)]
#[command(
    name = "onestop",
    version,
    about = "A one-stop gateway for government service platforms"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// A configuration directory (onestop.toml + departments/) or a gateway file.
        #[arg(long, default_value = "config")]
        config: PathBuf,
        /// Where the pid file and the upgrade socket live.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Take over the listeners of a running onestop, then send it SIGQUIT.
        #[arg(long)]
        upgrade: bool,
    },
    /// Run the gateway with the simulated department fleet, all on loopback.
    Demo {
        #[arg(long, default_value_t = 32)]
        departments: usize,
        #[arg(long, default_value_t = 1000)]
        citizens: usize,
        #[arg(long, default_value = "data/demo")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        public: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:50051")]
        control: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin: SocketAddr,
    },
    /// Run the simulated department fleet alone.
    Sim {
        #[arg(long, default_value_t = 32)]
        departments: usize,
        #[arg(long, default_value_t = 1000)]
        citizens: usize,
        #[arg(long, default_value_t = FleetOptions::default().seed)]
        seed: u64,
        /// Address of the fleet's fault-control API.
        #[arg(long, default_value = "127.0.0.1:0")]
        control: SocketAddr,
        /// Write the manifest (addresses, matters, sample citizens) here once listening.
        #[arg(long)]
        manifest_out: Option<PathBuf>,
        /// Write department configuration for the gateway into DIR/departments/.
        #[arg(long)]
        config_out: Option<PathBuf>,
    },
    /// Check a configuration; print FILE:LINE:COL: message per problem.
    Validate { path: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Validate { .. }) {
        telemetry::init(cli.log_format);
    }
    let result = match cli.command {
        Command::Serve {
            config,
            data_dir,
            upgrade,
        } => serve(&config, data_dir, upgrade),
        Command::Demo {
            departments,
            citizens,
            data_dir,
            public,
            control,
            admin,
        } => demo(departments, citizens, data_dir, [public, control, admin]),
        Command::Sim {
            departments,
            citizens,
            seed,
            control,
            manifest_out,
            config_out,
        } => sim(
            FleetOptions {
                departments,
                citizens,
                seed,
                control_addr: control,
                ..FleetOptions::default()
            },
            manifest_out,
            config_out,
        ),
        Command::Validate { path } => return validate(&path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onestop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(path: &Path) -> ExitCode {
    match onestop_config::load_path(path) {
        Ok(config) => {
            let routes: usize = config.departments.iter().map(|d| d.file.routes.len()).sum();
            println!(
                "{}: valid ({} departments, {routes} routes)",
                path.display(),
                config.departments.len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems.0 {
                println!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> anyhow::Result<onestop_config::Config> {
    onestop_config::load_path(path).map_err(|problems| {
        anyhow::anyhow!(
            "invalid configuration ({} problems):\n{problems}",
            problems.0.len()
        )
    })
}

fn serve(config_path: &Path, data_dir: PathBuf, upgrade: bool) -> anyhow::Result<()> {
    let config = load(config_path)?;
    server::run(
        config,
        RunOptions {
            config_path: Some(config_path.to_path_buf()),
            data_dir,
            upgrade,
            readiness: Readiness::default(),
            on_ready: None,
        },
    )
}

/// Starts the fleet on its own runtime thread and returns its manifest.
fn start_fleet(opts: FleetOptions) -> anyhow::Result<FleetManifest> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("onestop-sim".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("onestop-sim")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::anyhow!("sim runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match Fleet::start(opts).await {
                    Ok(fleet) => {
                        let _ = tx.send(Ok(fleet.manifest().clone()));
                        // The fleet lives as long as the process.
                        std::future::pending::<()>().await;
                        drop(fleet);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::anyhow!("starting the fleet: {e}")));
                    }
                }
            });
        })
        .context("spawning the sim thread")?;
    rx.recv().context("the sim thread stopped")?
}

fn write_fleet_files(
    manifest: &FleetManifest,
    manifest_out: Option<&Path>,
    config_out: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(dir) = config_out {
        fleet_config::write_departments(dir, manifest, &fleet_config::Options::default())
            .with_context(|| format!("writing department config into {}", dir.display()))?;
    }
    if let Some(path) = manifest_out {
        let json = serde_json::to_string_pretty(manifest)?;
        write_atomically(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn sim(
    opts: FleetOptions,
    manifest_out: Option<PathBuf>,
    config_out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let fleet = Fleet::start(opts).await.context("starting the fleet")?;
        let manifest = fleet.manifest().clone();
        write_fleet_files(&manifest, manifest_out.as_deref(), config_out.as_deref())?;
        tracing::info!(
            control = %manifest.control,
            departments = manifest.departments.len(),
            "fleet listening"
        );
        tokio::signal::ctrl_c().await.ok();
        fleet.shutdown().await;
        Ok(())
    })
}

fn demo(
    departments: usize,
    citizens: usize,
    data_dir: PathBuf,
    listeners: [SocketAddr; 3],
) -> anyhow::Result<()> {
    let [public, control, admin] = listeners;
    let manifest = start_fleet(FleetOptions {
        departments,
        citizens,
        ..FleetOptions::default()
    })?;
    let config_dir = data_dir.join("config");
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    write_atomically(
        &config_dir.join("onestop.toml"),
        &fleet_config::gateway_toml(
            &public.to_string(),
            &control.to_string(),
            &admin.to_string(),
            0,
        ),
    )?;
    // Departments from an earlier run with more of them must not linger.
    let _ = std::fs::remove_dir_all(config_dir.join("departments"));
    write_fleet_files(
        &manifest,
        Some(&data_dir.join("fleet.json")),
        Some(&config_dir),
    )?;
    let config = load(&config_dir)?;

    let demo_json = data_dir.join("demo.json");
    let _ = std::fs::remove_file(&demo_json);
    let on_ready = move || {
        let doc = serde_json::json!({
            "public": public.to_string(),
            "control": control.to_string(),
            "admin": admin.to_string(),
            "fleet_control": manifest.control.to_string(),
            // Channel keys, operator tokens and citizen tokens arrive with the
            // identity and admin issues; until then they are null.
            "app_key": null,
            "operator_token": null,
            "citizens": manifest.citizens.iter().map(|c| serde_json::json!({
                "id": c.id, "name": c.name, "token": null,
            })).collect::<Vec<_>>(),
        });
        if let Err(e) = write_atomically(&demo_json, &doc.to_string()) {
            tracing::error!(error = %e, "could not write demo.json");
        }
        print_banner(&manifest, public, admin, &demo_json);
    };
    server::run(
        config,
        RunOptions {
            config_path: Some(config_dir),
            data_dir,
            upgrade: false,
            readiness: Readiness::default(),
            on_ready: Some(Box::new(on_ready)),
        },
    )
}

fn print_banner(manifest: &FleetManifest, public: SocketAddr, admin: SocketAddr, demo_json: &Path) {
    let citizen = manifest
        .citizens
        .first()
        .map_or("110105194912310029", |c| c.id.as_str());
    let http = manifest
        .departments
        .iter()
        .flat_map(|d| d.matters.iter())
        .find(|m| m.citizen_param.is_some() && m.method == "GET");
    let grpc = manifest
        .departments
        .iter()
        .find_map(|d| d.grpc_service.clone());
    println!(
        "\nonestop demo is ready: {} departments behind one entry\n",
        manifest.departments.len()
    );
    let fleet = format!("http://{}", manifest.control);
    println!(
        "  public   {:<28} HTTP/1.1, h2c and gRPC",
        format!("http://{public}")
    );
    println!(
        "  admin    {:<28} /metrics, /healthz, /readyz",
        format!("http://{admin}")
    );
    println!("  fleet    {fleet:<28} fault knobs: /fleet");
    println!("  details  {}\n", demo_json.display());
    println!("  curl -s http://{public}/api/v1/catalog | head -c 600");
    if let Some(m) = http {
        println!("  curl -s http://{public}{}", m.example.path);
    }
    if let Some(svc) = grpc {
        println!(
            "  grpcurl -plaintext -import-path proto -proto onestop/sim/v1/traffic.proto -d '{{\"citizen_id\":\"{citizen}\"}}' {public} {svc}/ListViolations"
        );
    }
    println!("  curl -s http://{admin}/metrics | grep onestop_requests_total\n");
    println!("Ctrl-C stops it.");
}
