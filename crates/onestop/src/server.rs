//! Wires a configuration into one pingora [`Server`]: the public proxy
//! (HTTP/1.1 + h2c on one port), the control listener (tonic: registry,
//! health, reflection), the admin listener (axum), the health loop, the
//! registry's sync loop, the reload watcher, and a start-up task that
//! declares readiness.
//!
//! All three listeners are pingora listening services, so a graceful
//! upgrade hands every one of them to the new process.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use onestop_admin::backend::{TrafficStats, UpstreamStats};
use onestop_admin::{AdminState, Readiness};
use onestop_config::{Bundle, Config};
use onestop_control::auth::TokenAuth;
use onestop_control::{PurgeApplier, Registry, RegistrySettings};
use onestop_proxy::{DataPlane, HealthLoop};
use onestop_store::{CaseStore, SqlStore, Store, StoreOptions, now_ms};
use pingora_core::apps::HttpServerOptions;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};

use crate::listener::RouterApp;
use crate::manage::{ConfigManager, config_dir};

/// Bytes of the public listener's per-connection socket read buffer.
const PUBLIC_READ_BUFFER: usize = 4096;

/// Called once the gateway is ready.
pub type OnReady = Box<dyn Fn() + Send + Sync>;

/// Work that must finish before the gateway declares itself ready (the
/// demo registers and approves its fleet here).
pub type BeforeReady =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send>;

pub struct RunOptions {
    /// The configuration directory or gateway file; watched for hot reload.
    pub config_path: PathBuf,
    /// pid file, upgrade socket and (by default) the SQLite store live here.
    pub data_dir: PathBuf,
    /// Take over the listening sockets of a running onestop (`--upgrade`).
    pub upgrade: bool,
    pub readiness: Readiness,
    pub before_ready: Option<BeforeReady>,
    pub on_ready: Option<OnReady>,
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &std::path::Path) -> anyhow::Result<(Bundle, Config)> {
    let bundle = Bundle::read(path)
        .map_err(|p| anyhow::anyhow!("invalid configuration ({} problems):\n{p}", p.0.len()))?;
    let config = bundle
        .parse(&config_dir(path))
        .map_err(|p| anyhow::anyhow!("invalid configuration ({} problems):\n{p}", p.0.len()))?;
    Ok((bundle, config))
}

/// The store URL of a configuration: `[store].url`, or SQLite in the data dir.
pub fn store_url(config: &Config, data_dir: &std::path::Path) -> String {
    config
        .gateway
        .store
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("onestop.db").display()))
}

/// The access audit log's store URL: `[sharing.audit].store_url`, else a
/// SQLite file beside a SQLite store (`x.db` → `x.audit.db`), else the
/// store itself.
pub fn audit_store_url(config: &Config, data_dir: &std::path::Path) -> String {
    if let Some(url) = &config.gateway.sharing.audit.store_url {
        return url.clone();
    }
    let url = store_url(config, data_dir);
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|p| !p.starts_with(":memory:"));
    match path {
        Some(p) => {
            let p = std::path::Path::new(p);
            let stem = p
                .file_stem()
                .map_or("onestop".into(), |s| s.to_string_lossy());
            format!(
                "sqlite:{}",
                p.with_file_name(format!("{stem}.audit.db")).display()
            )
        }
        None => url,
    }
}

/// Keeps the cases' composite matters and settings in step with the files.
async fn follow_composites(
    cases: Arc<onestop_cases::Cases>,
    mut files: tokio::sync::watch::Receiver<Arc<Config>>,
) {
    while files.changed().await.is_ok() {
        let config = files.borrow_and_update().clone();
        cases.apply(&config);
    }
}

/// Keeps the data catalog and sharing settings in step with the files.
async fn follow_sharing(
    sharing: Arc<onestop_sharing::Sharing>,
    mut files: tokio::sync::watch::Receiver<Arc<Config>>,
) {
    while files.changed().await.is_ok() {
        let config = files.borrow_and_update().clone();
        sharing.reconfigure(&config);
    }
}

/// The stores data sharing reads and writes.
struct SharingStores {
    agreements: Arc<dyn onestop_store::SharingStore>,
    access: Arc<dyn onestop_store::AccessAuditStore>,
}

/// The sharing service, with its audit writer spawned on the current
/// runtime (unless `[sharing.audit] enabled = false`).
fn sharing_service(
    config: &Config,
    stores: &SharingStores,
    internal: Arc<onestop_proxy::internal::Internal>,
) -> Arc<onestop_sharing::Sharing> {
    let a = &config.gateway.sharing.audit;
    let audit = a.enabled.then(|| {
        let (log, writer) = onestop_audit::AuditLog::new(
            stores.access.clone(),
            onestop_audit::AuditOptions {
                capacity: a.capacity,
                batch: a.batch,
                flush_interval: a.flush_interval,
                max_lag: a.max_lag,
                ..onestop_audit::AuditOptions::default()
            },
        );
        tokio::spawn(writer.run());
        log
    });
    if audit.is_none() {
        tracing::warn!(
            event = "audit_disabled",
            "[sharing.audit] enabled = false: reads of personal data are not recorded"
        );
    }
    onestop_sharing::Sharing::new(
        stores.agreements.clone(),
        stores.access.clone(),
        audit,
        Arc::new(crate::sharing::InternalFetcher::new(internal)),
        config,
    )
}

/// Builds the server and runs it until SIGTERM/SIGINT (graceful) or SIGQUIT (upgrade).
pub fn run(opts: RunOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating data dir {}", opts.data_dir.display()))?;
    let (bundle, config) = load(&opts.config_path)?;
    let proxy = &config.gateway.proxy;
    let threads = if proxy.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        proxy.threads
    };
    let conf = ServerConf {
        threads,
        work_stealing: proxy.work_stealing,
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

    // The store's connections and listener task live on this runtime for the
    // life of the process (pingora runs each service on its own runtime).
    let control_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("onestop-store")
        .enable_all()
        .build()
        .context("building the store runtime")?;
    let store_settings = &config.gateway.store;
    let url = store_url(&config, &opts.data_dir);
    let sql = control_rt
        .block_on(SqlStore::connect(
            &url,
            StoreOptions {
                max_connections: store_settings.max_connections,
                timeout: store_settings.timeout,
            },
        ))
        .with_context(|| format!("opening the store {}", redact(&url)))?;
    let case_store: Arc<dyn CaseStore> = Arc::new(sql.clone());
    let audit_url = audit_store_url(&config, &opts.data_dir);
    let access: Arc<dyn onestop_store::AccessAuditStore> = if audit_url == url {
        Arc::new(sql.clone())
    } else {
        Arc::new(
            control_rt
                .block_on(SqlStore::connect(
                    &audit_url,
                    StoreOptions {
                        max_connections: store_settings.max_connections,
                        timeout: store_settings.timeout,
                    },
                ))
                .with_context(|| {
                    format!("opening the access audit store {}", redact(&audit_url))
                })?,
        )
    };
    let sharing_store = SharingStores {
        agreements: Arc::new(sql.clone()),
        access,
    };
    let assessment_store: Arc<dyn onestop_store::AssessmentStore> = Arc::new(sql.clone());
    let appeal_store: Arc<dyn onestop_store::AppealStore> = Arc::new(sql.clone());
    let message_store: Arc<dyn onestop_store::MessageStore> = Arc::new(sql.clone());
    let store: Arc<dyn Store> = Arc::new(sql);

    let limiter = {
        // The limiter's Redis connection and probe live on the store runtime.
        let _entered = control_rt.enter();
        match &config.gateway.rate_limits.redis_url {
            Some(url) => onestop_ratelimit::Limiter::with_redis(
                url,
                onestop_ratelimit::RedisOptions {
                    timeout: config.gateway.rate_limits.redis_timeout,
                    ..Default::default()
                },
            )
            .with_context(|| format!("rate_limits.redis_url {}", redact(url)))?,
            None => onestop_ratelimit::Limiter::local(),
        }
    };
    let cache = onestop_cache::ResponseCache::new(config.gateway.cache.max_bytes);
    if let Err(error) = cache.register(prometheus::default_registry()) {
        tracing::warn!(%error, "cache metrics not registered");
    }
    let dataplane = DataPlane::new(limiter).with_cache(cache);
    let (files_tx, files_rx) = tokio::sync::watch::channel(Arc::new(config.clone()));
    let cases_files = files_tx.subscribe();
    let sharing_files = files_tx.subscribe();
    let appeals_files = files_tx.subscribe();
    let feed_files = files_tx.subscribe();
    let messages_files = files_tx.subscribe();
    let registry = Registry::new(
        store.clone(),
        RegistrySettings::from_config(&config.gateway.registry),
        files_rx,
    );
    if let Err(error) = control_rt.block_on(registry.sync_now()) {
        tracing::error!(%error, "could not read the registry at start-up; serving the configuration files alone until the store answers");
    }
    let manager = ConfigManager::new(
        opts.config_path.clone(),
        bundle,
        files_tx,
        registry.view(),
        dataplane.clone(),
        store.clone(),
    );
    let applied = control_rt
        .block_on(manager.apply_initial())
        .map_err(|e| anyhow::anyhow!("applying the configuration: {e}"))?;
    tracing::info!(
        generation = applied.generation,
        version = applied.version,
        "initial configuration applied"
    );
    // Purges of the response cache: this gateway's and, through the store,
    // every other's. Starts after the newest stored purge (the cache is empty).
    let purges = control_rt.block_on(PurgeApplier::new(dataplane.cache(), store.clone()));
    let purges = Arc::new(purges);
    let listeners = &config.gateway.listeners;
    let gateway = dataplane.gateway(proxy.upstream_idle_timeout, Some(listeners.public));
    let mut citizen_apis: Vec<Arc<dyn onestop_proxy::builtin::CitizenApi>> = Vec::new();
    // Citizens' messages: the webhook delivery worker (before anything can
    // write an event: it tells the store which channels have webhooks) and
    // the inbox.
    {
        let _entered = control_rt.enter();
        crate::messages::start(
            &config,
            message_store.clone(),
            messages_files,
            format!("gw{}", std::process::id()),
        )?;
    }
    citizen_apis.push(Arc::new(crate::messages::MessagesApi::new(
        message_store.clone(),
    )));
    // Citizens' appeals (12345): the desk, its overdue scanner, the API.
    let appeals = {
        let _entered = control_rt.enter();
        crate::appeals::start(
            &config,
            appeal_store,
            appeals_files,
            format!("gw{}", std::process::id()),
        )
    };
    if let Some(desk) = &appeals {
        citizen_apis.push(Arc::new(crate::appeals::AppealsApi::new(
            desk.clone(),
            feed_files,
        )));
    }
    // Composite matters: steps go out as the gateway's own requests through
    // the public listener; cases nobody drives (after a restart) are taken
    // over by the scanner; the files' composites are followed on reload.
    // Data sharing: the exchange reads providers the same way; citizens'
    // reads of data items are audited by the proxy.
    let (gateway, cases, sharing) = match gateway.internal() {
        Some(internal) => {
            let _entered = control_rt.enter();
            let cases = onestop_cases::Cases::new(
                case_store,
                Arc::new(crate::cases::InternalTransport::new(internal.clone())),
                &format!("gw{}", std::process::id()),
                &config,
            );
            cases.start_scanner();
            tokio::spawn(follow_composites(cases.clone(), cases_files));
            citizen_apis.push(Arc::new(crate::cases::CasesApi::new(cases.clone())));
            let sharing = sharing_service(&config, &sharing_store, internal);
            cases.set_evidence(Arc::new(crate::evidence::ExchangeEvidence::new(
                sharing.clone(),
            )));
            tokio::spawn(follow_sharing(sharing.clone(), sharing_files));
            citizen_apis.push(Arc::new(crate::sharing::SharingApi::new(sharing.clone())));
            let gateway = gateway
                .with_citizen_api(Arc::new(crate::sharing::CitizenApis(citizen_apis)))
                .with_access_recorder(Arc::new(crate::sharing::AuditRecorder::new(
                    sharing.clone(),
                )));
            (gateway, Some(cases), Some(sharing))
        }
        None => (gateway, None, None),
    };
    let control_routes = control_rt.block_on(onestop_control::routes(
        registry.clone(),
        purges.clone(),
        Arc::new(TokenAuth::new(registry.clone())),
        sharing.clone(),
    ));
    let control_routes = match &appeals {
        Some(desk) => control_routes.add_service(onestop_control::appeals::server(
            desk.clone(),
            Arc::new(TokenAuth::new(registry.clone())),
            sharing.clone(),
        )),
        None => control_routes,
    };

    // The proxy app, wrapped in the listener's connection layer (limits,
    // header deadline, body-gap and keep-alive timeouts, pipelining).
    let listener_limits = onestop_proxy::listener::ListenerLimits::from(&config.gateway.limits);
    let mut proxy_app = pingora_proxy::http_proxy(&server.configuration, gateway);
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    options.h2_idle_timeout = Some(listener_limits.keepalive_timeout);
    proxy_app.server_options = Some(options);
    let mut public = pingora_core::services::listening::Service::new(
        "onestop public".to_string(),
        onestop_proxy::listener::PublicApp::new(proxy_app, listener_limits),
    );
    // pingora gives each accepted connection a 64 KiB read buffer, resident
    // for as long as the connection lives: ~450 MB for 10,000 idle
    // keep-alive connections. HTTP/1 and h2 framing read into their own
    // buffers, so a small one in front costs nothing on the request path.
    public.add_listener(
        ListenerConfig::tcp(listeners.public.to_string())
            .l4_buffer(L4BufferSettings::default().read(PUBLIC_READ_BUFFER)),
    );
    public.threads = Some(threads);

    let mut control = RouterApp::service(
        "onestop control",
        &listeners.control.to_string(),
        control_routes.into_axum_router(),
    );
    control.threads = Some(1);
    let admin_state = AdminState {
        readiness: opts.readiness.clone(),
        config: manager.clone(),
        registry: Some(registry.clone()),
        stats: Arc::new(DataPlaneStats {
            dataplane: dataplane.clone(),
            started_ms: now_ms(),
        }),
        store: store.clone(),
        cache: purges.clone(),
        cases,
        sharing: sharing.clone(),
        assessment: Some(Arc::new(onestop_assessment::Assessor::new(
            assessment_store.clone(),
            crate::appeals::source(&appeals),
        ))),
        appeals: appeals.clone(),
        messages: Some(message_store),
    };
    let assessment_loop = background_service(
        "onestop assessment",
        crate::rollup::AssessmentLoop {
            store: assessment_store,
            manager: manager.clone(),
            admin: admin_state.clone(),
            gateway: crate::rollup::gateway_name(&config),
        },
    );
    let mut admin = RouterApp::service(
        "onestop admin",
        &listeners.admin.to_string(),
        onestop_admin::router(admin_state),
    );
    admin.threads = Some(1);

    let health = background_service("onestop health", dataplane.health_service());
    let jwks = background_service(
        "onestop jwks",
        crate::jwks::JwksRefresher::new(dataplane.clone()),
    );
    let registry_loop = background_service(
        "onestop registry",
        RegistryLoop {
            registry: registry.clone(),
        },
    );
    let purge_loop = background_service(
        "onestop purges",
        PurgeLoop {
            purges: purges.clone(),
        },
    );
    let watcher = background_service(
        "onestop reload",
        crate::reload::Watcher::new(manager.clone(), registry.view()),
    );
    let startup = background_service(
        "onestop startup",
        Startup {
            listening: vec![listeners.public, listeners.control],
            health: dataplane.health_service(),
            readiness: opts.readiness.clone(),
            before_ready: Mutex::new(opts.before_ready),
            on_ready: opts.on_ready,
        },
    );
    server.add_service(public);
    server.add_service(control);
    server.add_service(admin);
    server.add_service(health);
    server.add_service(jwks);
    server.add_service(registry_loop);
    server.add_service(purge_loop);
    server.add_service(watcher);
    server.add_service(startup);
    server.add_service(assessment_loop);
    tracing::info!(public = %listeners.public, control = %listeners.control, admin = %listeners.admin, store = %redact(&url), threads, "onestop serving");
    // `run_forever` never returns; the store runtime must outlive it.
    let _keep = control_rt;
    server.run_forever()
}

// A store URL without its password, for logs.
use onestop_core::credential::redact_url as redact;

/// The registry's sync, sweep and flush loop.
struct RegistryLoop {
    registry: Arc<Registry>,
}

#[async_trait]
impl BackgroundService for RegistryLoop {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        self.registry.clone().run(stop).await;
    }
}

/// Applies cache purges recorded through any gateway sharing the store.
struct PurgeLoop {
    purges: Arc<PurgeApplier>,
}

#[async_trait]
impl BackgroundService for PurgeLoop {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        self.purges.clone().run(stop).await;
    }
}

/// Traffic figures for the admin API's zombie report.
struct DataPlaneStats {
    dataplane: DataPlane,
    started_ms: i64,
}

impl TrafficStats for DataPlaneStats {
    fn upstreams(&self) -> Vec<UpstreamStats> {
        let now = now_ms();
        self.dataplane
            .upstream_summaries()
            .into_iter()
            .map(|u| UpstreamStats {
                dept: u.dept,
                service: u.service,
                instances: u.instances,
                healthy: u.healthy,
                last_request_ms: u
                    .last_request_age
                    .map(|age| now - i64::try_from(age.as_millis()).unwrap_or(i64::MAX)),
                requests: u.requests,
            })
            .collect()
    }

    fn started_ms(&self) -> i64 {
        self.started_ms
    }

    fn instances(&self) -> Vec<onestop_admin::backend::InstanceHealth> {
        crate::rollup::instances(prometheus::default_registry())
    }
}

/// Runs the first health pass and any start-up work, waits until the
/// public and control listeners accept connections, then declares the
/// gateway ready.
///
/// pingora binds each listening service on that service's own thread,
/// in no order relative to this task: without the wait, `/readyz` could
/// answer 200 (the admin listener is up) while a connection to the public
/// port is still refused.
struct Startup {
    listening: Vec<std::net::SocketAddr>,
    health: HealthLoop,
    readiness: Readiness,
    before_ready: Mutex<Option<BeforeReady>>,
    on_ready: Option<OnReady>,
}

#[async_trait]
impl BackgroundService for Startup {
    async fn start(&self, _shutdown: ShutdownWatch) {
        self.health.check_all_now().await;
        let before = self
            .before_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(before) = before
            && let Err(error) = before().await
        {
            tracing::error!(error = %format!("{error:#}"), "start-up work failed; the gateway stays not ready");
            return;
        }
        for addr in &self.listening {
            accepting(*addr).await;
        }
        self.readiness.set_ready(true);
        tracing::info!("ready");
        if let Some(on_ready) = &self.on_ready {
            on_ready();
        }
    }
}

/// Returns once a TCP connection to the listener at `addr` is accepted
/// (an unspecified address is reached through loopback). The probe
/// connection is closed unused: the listener sees a client that sent
/// nothing.
async fn accepting(addr: std::net::SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let mut last_said = std::time::Instant::now();
    loop {
        match tokio::net::TcpStream::connect(target).await {
            // A connect from the port itself (TCP's simultaneous open,
            // possible when nothing listens yet) is not the listener.
            Ok(probe) if probe.local_addr().ok() != probe.peer_addr().ok() => return,
            Ok(_) => {}
            // Said once a second, not on every attempt.
            Err(error) if last_said.elapsed() >= std::time::Duration::from_secs(1) => {
                tracing::warn!(listener = %addr, %error, "listener not accepting yet; not ready");
                last_said = std::time::Instant::now();
            }
            Err(_) => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readiness waits for a listener that is not bound yet, and returns
    /// once it is.
    #[tokio::test]
    async fn readiness_waits_until_the_listener_accepts() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let wait = tokio::spawn(accepting(addr));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!wait.is_finished(), "ready while nothing listens on {addr}");
        let _listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        tokio::time::timeout(std::time::Duration::from_secs(2), wait)
            .await
            .expect("ready within 2 s of the listener")
            .expect("join");
    }

    fn config(gateway: &str) -> Config {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("onestop.toml"), gateway).expect("write");
        onestop_config::load_dir(dir.path()).expect("valid")
    }

    #[test]
    fn the_audit_log_has_a_sqlite_file_of_its_own_unless_told_otherwise() {
        let data = std::path::Path::new("/var/lib/onestop");
        assert_eq!(
            audit_store_url(&config(""), data),
            "sqlite:/var/lib/onestop/onestop.audit.db"
        );
        assert_eq!(
            audit_store_url(&config("[store]\nurl = \"sqlite:/srv/gw.db\"\n"), data),
            "sqlite:/srv/gw.audit.db"
        );
        let pg = "postgres://gw@db/onestop?schema=prod";
        assert_eq!(
            audit_store_url(&config(&format!("[store]\nurl = \"{pg}\"\n")), data),
            pg
        );
        assert_eq!(
            audit_store_url(
                &config("[sharing.audit]\nstore_url = \"sqlite:/logs/a.db\"\n"),
                data
            ),
            "sqlite:/logs/a.db"
        );
    }
}
