//! Wires a validated configuration into one pingora [`Server`]: the public
//! proxy (HTTP/1.1 + h2c on one port), the health loop, the admin listener,
//! and a start-up task that declares readiness.

use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;
use onestop_admin::{AdminService, Readiness};
use onestop_config::Config;
use onestop_proxy::{DataPlane, HealthLoop};
use pingora_core::apps::HttpServerOptions;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};

/// Called once the gateway is ready (after the first health pass).
pub type OnReady = Box<dyn Fn() + Send + Sync>;

pub struct RunOptions {
    /// The configuration path to watch for hot reload (`None`: no reload).
    pub config_path: Option<PathBuf>,
    /// pid file and upgrade socket live here.
    pub data_dir: PathBuf,
    /// Take over the listening sockets of a running onestop (`--upgrade`).
    pub upgrade: bool,
    pub readiness: Readiness,
    pub on_ready: Option<OnReady>,
}

/// Builds the server and runs it until SIGTERM/SIGINT (graceful) or SIGQUIT (upgrade).
pub fn run(config: Config, opts: RunOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating data dir {}", opts.data_dir.display()))?;
    let proxy = &config.gateway.proxy;
    let threads = if proxy.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        proxy.threads
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(proxy.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(proxy.grace_period.as_secs().max(1)),
        pid_file: opts.data_dir.join("onestop.pid").display().to_string(),
        upgrade_sock: opts.data_dir.join("upgrade.sock").display().to_string(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let dataplane = DataPlane::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the start-up runtime")?;
    let generation = runtime
        .block_on(dataplane.apply(&config))
        .context("compiling the configuration")?;
    drop(runtime);
    tracing::info!(generation, "initial configuration compiled");

    let listeners = &config.gateway.listeners;
    let mut public = pingora_proxy::http_proxy_service_with_name(
        &server.configuration,
        dataplane.gateway(proxy.upstream_idle_timeout),
        "onestop public",
    );
    public.add_tcp(&listeners.public.to_string());
    if let Some(app) = public.app_logic_mut() {
        let mut options = HttpServerOptions::default();
        options.h2c = true;
        app.server_options = Some(options);
    }
    public.threads = Some(threads);

    let health = background_service("onestop health", dataplane.health_service());
    let admin = background_service(
        "onestop admin",
        AdminService {
            addr: listeners.admin,
            readiness: opts.readiness.clone(),
        },
    );
    let startup = background_service(
        "onestop startup",
        Startup {
            health: dataplane.health_service(),
            readiness: opts.readiness.clone(),
            on_ready: opts.on_ready,
        },
    );
    if let Some(path) = opts.config_path {
        let reloader = crate::reload::Reloader::new(path, dataplane.clone(), &config);
        server.add_service(background_service("onestop reload", reloader));
    }
    server.add_service(public);
    server.add_service(health);
    server.add_service(admin);
    server.add_service(startup);
    tracing::info!(public = %listeners.public, admin = %listeners.admin, threads, "onestop serving");
    server.run_forever()
}

/// Runs the first health pass, then declares the gateway ready.
struct Startup {
    health: HealthLoop,
    readiness: Readiness,
    on_ready: Option<OnReady>,
}

#[async_trait]
impl BackgroundService for Startup {
    async fn start(&self, _shutdown: ShutdownWatch) {
        self.health.check_all_now().await;
        self.readiness.set_ready(true);
        tracing::info!("ready");
        if let Some(on_ready) = &self.on_ready {
            on_ready();
        }
    }
}
