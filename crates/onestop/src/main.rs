//! `onestop`: the gateway (`serve`), the demo (`demo`), the simulated
//! department fleet (`sim`), the configuration checker (`validate`), the
//! admin-API client for configuration versions (`config`), credential
//! minting (`token`) and the access audit log's check (`audit verify`).

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

/// mimalloc rather than glibc's malloc: cheaper per request
/// (docs/PERFORMANCE.md, "The allocator"), and after a flood of 19,000
/// slow clients glibc kept all the ~500 MB their connections had used
/// (freed chunks stay in its arenas) where mimalloc gives it back once
/// traffic goes on (docs/hygiene.md, "Measured"). The bench's bare pingora
/// uses it too, and turns transparent huge pages off as [`main`] does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Where the pid file, the upgrade socket and the SQLite store live.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Take over the listeners of a running onestop, then send it SIGQUIT.
        #[arg(long)]
        upgrade: bool,
    },
    /// Run the gateway with the simulated department fleet, all on loopback.
    Demo(onestop::demo::DemoOptions),
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
        /// Register the departments with this control listener (needs --tokens-file).
        #[arg(long, requires = "tokens_file")]
        register: Option<SocketAddr>,
        /// JSON object: department id → department token.
        #[arg(long)]
        tokens_file: Option<PathBuf>,
        /// Lease TTL asked for when registering.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        lease_ttl: std::time::Duration,
        /// The gateway's signing master key (hex file, as `[signing].key_file`):
        /// departments then refuse unsigned or stale requests.
        #[arg(long)]
        signing_key_file: Option<PathBuf>,
    },
    /// Check a configuration; print FILE:LINE:COL: message per problem.
    Validate { path: PathBuf },
    /// Configuration versions of a running gateway (through its admin API).
    Config {
        /// The admin listener.
        #[arg(long, default_value = "http://127.0.0.1:9090", global = true)]
        admin: String,
        /// An operator token (or ONESTOP_TOKEN).
        #[arg(long, env = "ONESTOP_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Mint credentials.
    Token {
        #[command(subcommand)]
        kind: TokenKind,
    },
    /// The access audit log of personal data (in the store).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check the hash chain; name the first record edited, deleted or moved.
    /// Exit 0 when intact, 1 when broken or unreadable.
    Verify {
        /// A configuration directory or gateway file (for `[store]`).
        #[arg(long, default_value = "config")]
        config: PathBuf,
        /// The data directory (the SQLite store when `[store].url` is unset).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Versions, newest first (* marks the running one).
    Log {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// The files of a version (default: the running configuration).
    Show { version: Option<i64> },
    /// Unified diff from version FROM to TO (default: the running one).
    Diff { from: i64, to: Option<i64> },
    /// Go back to a version (default: the one before the running one).
    Rollback {
        #[arg(long)]
        to: Option<i64>,
        #[arg(long, short)]
        message: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenKind {
    /// A new operator token and the `[[operators]]` entry to paste into onestop.toml.
    Operator {
        name: String,
        /// viewer, editor, approver (repeatable).
        #[arg(long = "role", default_value = "viewer")]
        roles: Vec<String>,
    },
    /// A citizen JWT signed with the configuration's dev key (development only).
    Citizen {
        /// The citizen id (the token's `sub`).
        id: String,
        /// Bind the token to a channel (`chn` claim).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        #[arg(long, default_value = "config")]
        config: PathBuf,
    },
    /// A new channel app key and the `[[channels]]` entry for onestop.toml.
    Channel { id: String },
    /// A new signing master key (hex) for `[signing].key_file`.
    SigningMaster,
    /// Department DEPT's signing key (hex), derived from the master key.
    SigningKey {
        dept: String,
        #[arg(long, default_value = "config")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    // No transparent huge pages for this process: each first touch of a
    // 2 MiB region mimalloc asked huge pages for made the kernel zero all
    // of it in the faulting request's thread (31 % of the CPU in the second
    // 9,500 slow clients were cut off), and a region stays resident while
    // any of its 4 KiB pages is in use (start-up RSS 67 -> 46 MB without).
    // Measured in docs/PERFORMANCE.md and docs/hygiene.md.
    #[cfg(target_os = "linux")]
    let huge_pages = nix::sys::prctl::set_thp_disable(true);
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Validate { .. } | Command::Audit { .. }
    ) {
        telemetry::init(cli.log_format);
    }
    #[cfg(target_os = "linux")]
    if let Err(error) = huge_pages {
        tracing::warn!(%error, "cannot turn transparent huge pages off; memory is returned in 2 MiB steps");
    }
    let result = match cli.command {
        Command::Serve {
            config,
            data_dir,
            upgrade,
        } => serve(&config, data_dir, upgrade),
        Command::Demo(opts) => onestop::demo::run(opts),
        Command::Sim {
            departments,
            citizens,
            seed,
            control,
            manifest_out,
            config_out,
            register,
            tokens_file,
            lease_ttl,
            signing_key_file,
        } => match signing_key(signing_key_file.as_deref()) {
            Err(e) => Err(e),
            Ok(signing_key) => sim(
                FleetOptions {
                    departments,
                    citizens,
                    seed,
                    control_addr: control,
                    signing_key,
                    ..FleetOptions::default()
                },
                manifest_out,
                config_out,
                register
                    .zip(tokens_file)
                    .map(|(addr, file)| (addr, file, lease_ttl)),
            ),
        },
        Command::Validate { path } => return validate(&path),
        Command::Config {
            admin,
            token,
            action,
        } => config_cli(&admin, token, action),
        Command::Token { kind } => token(kind),
        Command::Audit {
            action: AuditAction::Verify { config, data_dir },
        } => return audit_verify(&config, &data_dir),
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

/// `onestop audit verify`: pages through the whole access audit log.
fn audit_verify(config_path: &Path, data_dir: &Path) -> ExitCode {
    use onestop_store::{SqlStore, StoreOptions, VerifyError, verify_store};
    /// Records read per query.
    const PAGE: u32 = 1_000;
    let run = || -> anyhow::Result<Result<onestop_store::VerifyReport, VerifyError>> {
        let (_, config) = server::load(config_path)?;
        let url = server::audit_store_url(&config, data_dir);
        let settings = &config.gateway.store;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let store = SqlStore::connect(
                &url,
                StoreOptions {
                    max_connections: settings.max_connections,
                    timeout: settings.timeout,
                },
            )
            .await
            .with_context(|| format!("opening the store {}", without_credentials(&url)))?;
            let verified = verify_store(&store, PAGE).await;
            store.close().await;
            Ok::<_, anyhow::Error>(verified)
        })
    };
    match run() {
        Ok(Ok(report)) => {
            println!(
                "audit chain ok: {} records, last seq {}, last hash {}",
                report.records, report.last_seq, report.last_hash
            );
            ExitCode::SUCCESS
        }
        Ok(Err(VerifyError::Broken(broken))) => {
            println!(
                "audit chain broken at record {}: {}",
                broken.seq, broken.reason
            );
            ExitCode::FAILURE
        }
        Ok(Err(VerifyError::Store(e))) => {
            println!("audit chain unreadable: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("onestop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `url` without the user and password of a `scheme://user:pw@host/…` URL.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn serve(config_path: &Path, data_dir: PathBuf, upgrade: bool) -> anyhow::Result<()> {
    server::run(RunOptions {
        config_path: config_path.to_path_buf(),
        data_dir,
        upgrade,
        readiness: Readiness::default(),
        before_ready: None,
        on_ready: None,
    })
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
    register: Option<(SocketAddr, PathBuf, std::time::Duration)>,
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
        let _registrar = match register {
            Some((addr, file, lease_ttl)) => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let tokens: std::collections::BTreeMap<String, String> =
                    serde_json::from_str(&text).with_context(|| {
                        format!("{}: expected {{\"dept\": \"token\"}}", file.display())
                    })?;
                let mut opts = onestop_sim::RegistrarOptions::new(addr, tokens);
                opts.lease_ttl = lease_ttl;
                let registrar = fleet
                    .register(opts)
                    .await
                    .context("registering the fleet")?;
                tracing::info!(control = %addr, "fleet registered");
                Some(registrar)
            }
            None => None,
        };
        tokio::signal::ctrl_c().await.ok();
        fleet.shutdown().await;
        Ok(())
    })
}

/// The signing master key from a `[signing].key_file`-style hex file.
fn signing_key(file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(file) = file else { return Ok(None) };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let key = onestop_proxy::access::signing_key(&bytes)
        .map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
    Ok(Some(key.to_vec()))
}

fn config_cli(admin: &str, token: Option<String>, action: ConfigAction) -> anyhow::Result<()> {
    let token = token.context("an operator token is needed: --token or ONESTOP_TOKEN")?;
    let client = onestop::admin_client::AdminClient::new(admin, &token);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = runtime.block_on(async {
        match action {
            ConfigAction::Log { limit } => client.log(limit).await,
            ConfigAction::Show { version } => client.show(version).await,
            ConfigAction::Diff { from, to } => client.diff(from, to).await,
            ConfigAction::Rollback { to, message } => client.rollback(to, message.as_deref()).await,
        }
    })?;
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn token(kind: TokenKind) -> anyhow::Result<()> {
    match kind {
        TokenKind::Operator { name, roles } => {
            for r in &roles {
                if !["viewer", "editor", "approver"].contains(&r.as_str()) {
                    anyhow::bail!("unknown role `{r}` (viewer, editor, approver)");
                }
            }
            let (token, hash) = onestop::tokens::new_operator_token();
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            println!("# token (shown once; give it to {name}):\n# {token}");
            print!(
                "{}",
                onestop::fleet_config::operator_toml(&name, &roles, &hash)
            );
            Ok(())
        }
        TokenKind::Citizen {
            id,
            channel,
            ttl,
            config,
        } => {
            let signer = onestop::tokens::dev_signer(&config)?;
            println!(
                "{}",
                signer.mint(&id, channel.as_deref(), ttl, std::time::SystemTime::now())
            );
            Ok(())
        }
        TokenKind::Channel { id } => {
            let (key, hash) = onestop::tokens::new_app_key();
            println!("# app key (shown once; configure it in the app):\n# {key}");
            print!("{}", onestop::fleet_config::channel_toml(&id, &id, &hash));
            Ok(())
        }
        TokenKind::SigningMaster => {
            println!("{}", onestop::tokens::new_signing_key());
            Ok(())
        }
        TokenKind::SigningKey { dept, config } => {
            println!(
                "{}",
                onestop::tokens::department_signing_key(&config, &dept)?
            );
            Ok(())
        }
    }
}
