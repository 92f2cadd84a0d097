//! `onestop demo`: the gateway and the simulated department fleet in one
//! process, all on loopback, going through the real paths.
//!
//! The demo writes a configuration that declares every department (and
//! gives the first few static services, as an operator's files would); the
//! other departments' services register over the control plane. At start-up
//! the demo acts as the operator through the admin API: it issues each
//! department a credential, lets the fleet register, approves every pending
//! registration, and waits until the data plane serves all of it. Only then
//! does `/readyz` answer 200 and `DATA_DIR/demo.json` appear.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use onestop_admin::Readiness;
use onestop_policy::jwt::DevSigner;
use onestop_sim::manifest::FleetManifest;
use onestop_sim::{Fleet, FleetOptions, RegistrarOptions};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::fleet_config::{self, write_atomically};

/// The demo identity provider's `iss`, audience and key id.
const DEV_ISSUER: &str = "https://idp.demo.onestop.invalid";
const DEV_AUDIENCE: &str = "onestop";
const DEV_KID: &str = "demo-dev-1";
/// Citizen tokens in demo.json last a day.
const CITIZEN_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// The demo's channels: id and name.
const CHANNELS: [(&str, &str); 3] = [
    ("super-app", "渝快办 App"),
    ("mini-program", "微信小程序"),
    ("web-portal", "网上办事大厅"),
];
use crate::server::{self, RunOptions};

/// How to run the demo (also its command-line arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    #[arg(long, default_value_t = 32)]
    pub departments: usize,
    #[arg(long, default_value_t = 1000)]
    pub citizens: usize,
    #[arg(long, default_value = "data/demo")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub public: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub control: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin: SocketAddr,
    /// Departments (in catalogue order) configured in files; the rest
    /// register through the control plane.
    #[arg(long, default_value_t = 2)]
    pub static_departments: usize,
}

/// A fleet running on its own thread and runtime, taking commands.
pub struct FleetThread {
    pub manifest: FleetManifest,
    commands: mpsc::Sender<FleetCommand>,
}

enum FleetCommand {
    Register(RegistrarOptions, oneshot::Sender<anyhow::Result<usize>>),
    Officers(
        onestop_sim::OfficerOptions,
        oneshot::Sender<anyhow::Result<()>>,
    ),
}

impl FleetThread {
    /// Starts the fleet and returns once every instance listens.
    pub fn start(opts: FleetOptions) -> anyhow::Result<FleetThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (commands, mut rx) = mpsc::channel::<FleetCommand>(4);
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
                        let _ = ready_tx.send(Err(anyhow::anyhow!("sim runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let fleet = match Fleet::start(opts).await {
                        Ok(fleet) => fleet,
                        Err(e) => {
                            let _ = ready_tx.send(Err(anyhow::anyhow!("starting the fleet: {e}")));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(fleet.manifest().clone()));
                    // Registrars renew for as long as the process lives.
                    let mut registrars = Vec::new();
                    let mut officers = Vec::new();
                    while let Some(command) = rx.recv().await {
                        match command {
                            FleetCommand::Register(opts, reply) => {
                                let departments = opts.tokens.len();
                                let result = fleet.register(opts).await;
                                let _ = reply.send(match result {
                                    Ok(r) => {
                                        registrars.push(r);
                                        Ok(departments)
                                    }
                                    Err(e) => Err(anyhow::anyhow!("registering the fleet: {e}")),
                                });
                            }
                            FleetCommand::Officers(opts, reply) => {
                                let _ = reply.send(match onestop_sim::CaseOfficers::start(opts) {
                                    Ok(o) => {
                                        officers.push(o);
                                        Ok(())
                                    }
                                    Err(e) => {
                                        Err(anyhow::anyhow!("starting the case officers: {e}"))
                                    }
                                });
                            }
                        }
                    }
                    std::future::pending::<()>().await;
                });
            })
            .context("spawning the sim thread")?;
        let manifest = ready_rx.recv().context("the sim thread stopped")??;
        Ok(FleetThread { manifest, commands })
    }

    /// Registers the departments that have a token, through the gateway's
    /// control plane; returns how many.
    pub async fn register(&self, opts: RegistrarOptions) -> anyhow::Result<usize> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(FleetCommand::Register(opts, tx))
            .await
            .context("the sim thread stopped")?;
        rx.await.context("the sim thread stopped")?
    }

    /// Starts the fleet's case officers (they work appeals for as long as
    /// the process lives).
    pub async fn officers(&self, opts: onestop_sim::OfficerOptions) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(FleetCommand::Officers(opts, tx))
            .await
            .context("the sim thread stopped")?;
        rx.await.context("the sim thread stopped")?
    }
}

/// Runs the demo until Ctrl-C / SIGTERM.
pub fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let config_dir = opts.data_dir.join("config");
    let keys = config_dir.join("keys");
    std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
    // Fresh credentials every run: the dev identity key, the signing master
    // key, and one app key per channel.
    let (signer, dev_pem) = DevSigner::generate(DEV_KID, DEV_ISSUER, DEV_AUDIENCE)
        .map_err(|e| anyhow::anyhow!("generating the dev key: {e}"))?;
    write_atomically(&keys.join("dev-ed25519.pem"), &dev_pem)?;
    let signing_hex = crate::tokens::new_signing_key();
    write_atomically(&keys.join("signing.key"), &signing_hex)?;
    let signing_key = hex::decode(&signing_hex).context("the signing key")?;
    let channels: Vec<(&str, &str, String, String)> = CHANNELS
        .iter()
        .map(|(id, name)| {
            let (key, hash) = crate::tokens::new_app_key();
            (*id, *name, key, hash)
        })
        .collect();
    let fleet = FleetThread::start(FleetOptions {
        departments: opts.departments,
        citizens: opts.citizens,
        signing_key: Some(signing_key),
        ..FleetOptions::default()
    })?;
    let manifest = fleet.manifest.clone();
    // Every run starts from scratch: no registrations of an earlier run.
    for name in ["onestop.db", "onestop.db-wal", "onestop.db-shm"] {
        let _ = std::fs::remove_file(opts.data_dir.join(name));
    }
    let (operator_token, operator_hash) = crate::tokens::new_operator_token();
    let mut gateway = fleet_config::gateway_toml(
        &opts.public.to_string(),
        &opts.control.to_string(),
        &opts.admin.to_string(),
        0,
    );
    gateway.push_str(&fleet_config::operator_toml(
        "demo-operator",
        &["viewer", "editor", "approver"],
        &operator_hash,
    ));
    gateway.push_str(&format!(
        "\n[[identity.issuers]]\nid = \"demo-idp\"\nissuer = \"{DEV_ISSUER}\"\naudiences = [\"{DEV_AUDIENCE}\"]\nalgorithms = [\"EdDSA\"]\n\n\
         [identity.dev_key]\nissuer = \"demo-idp\"\nprivate_key_file = \"keys/dev-ed25519.pem\"\nkid = \"{DEV_KID}\"\n\n\
         [signing]\nkey_file = \"keys/signing.key\"\n\n\
         [rate_limits]\n# Shared counters when Redis runs here; local counting otherwise.\nredis_url = \"redis://127.0.0.1:6379\"\nper_citizen = {{ per_second = 100, burst = 400 }}\n"
    ));
    for (id, name, _, hash) in &channels {
        gateway.push_str(&fleet_config::channel_toml(id, name, hash));
    }
    gateway.push_str(&fleet_config::life_events_with_evidence_toml(&manifest));
    // A department whose system hangs: an overdue case for the console.
    let hung = crate::demo_feed::HungDepartment::start()?;
    gateway.push_str(crate::demo_feed::HungDepartment::gateway_toml());
    // Appeals: keyword rules for two registered departments (one quick,
    // one silent) and a short accept limit for complaints.
    let appeal_roles = crate::demo_appeals::Roles::of(
        &manifest
            .departments
            .iter()
            .skip(opts.static_departments)
            .map(|d| d.id.clone())
            .collect::<Vec<_>>(),
    );
    if let Some(roles) = &appeal_roles {
        gateway.push_str(&roles.gateway_toml());
    }
    write_atomically(&config_dir.join("onestop.toml"), &gateway)?;
    let departments = config_dir.join("departments");
    // Departments from an earlier run with more of them must not linger.
    let _ = std::fs::remove_dir_all(&departments);
    std::fs::create_dir_all(&departments)?;
    fleet_config::write_descriptor_set(&departments)?;
    let file_opts = fleet_config::Options {
        citizen_auth: true,
        reference_cache: true,
        ..fleet_config::Options::default()
    };
    let mut registered = Vec::new();
    for (i, dept) in manifest.departments.iter().enumerate() {
        let text = if i < opts.static_departments {
            fleet_config::department_toml(dept, &file_opts)
        } else {
            registered.push(dept.id.clone());
            fleet_config::department_header_toml(dept, &file_opts)
        };
        write_atomically(&departments.join(format!("{}.toml", dept.id)), &text)?;
    }
    write_atomically(&departments.join("dossier.toml"), &hung.department_toml())?;
    write_atomically(
        &opts.data_dir.join("fleet.json"),
        &serde_json::to_string_pretty(&manifest)?,
    )?;

    let demo_json = opts.data_dir.join("demo.json");
    let _ = std::fs::remove_file(&demo_json);
    let expected_matters: usize = manifest.departments.iter().map(|d| d.matters.len()).sum();
    let app_key = channels[0].2.clone();
    let setup = Setup {
        admin: opts.admin,
        public: opts.public,
        control: opts.control,
        operator_token: operator_token.clone(),
        app_key: app_key.clone(),
        registered,
        expected_matters,
        citizens: Vec::new(),
        sharing_citizens: Vec::new(),
        appeal_roles,
    };
    let now = std::time::SystemTime::now();
    let citizen_tokens: Vec<String> = manifest
        .citizens
        .iter()
        .map(|c| signer.mint(&c.id, None, CITIZEN_TOKEN_TTL, now))
        .collect();
    // Citizens 1 and 2 rate their cases for the console (citizen 0 is the
    // example everyone else uses).
    let setup = Setup {
        citizens: citizen_tokens.iter().skip(1).take(3).cloned().collect(),
        sharing_citizens: citizen_tokens.iter().take(10).cloned().collect(),
        ..setup
    };
    let banner_manifest = manifest.clone();
    let (public, control, admin) = (opts.public, opts.control, opts.admin);
    let json_path = demo_json.clone();
    let on_ready = move || {
        let doc = json!({
            "public": public.to_string(),
            "control": control.to_string(),
            "admin": admin.to_string(),
            "fleet_control": banner_manifest.control.to_string(),
            "app_key": app_key,
            "channels": channels.iter().map(|(id, name, key, _)| json!({
                "id": id, "name": name, "app_key": key,
            })).collect::<Vec<_>>(),
            "operator_token": operator_token,
            "citizens": banner_manifest.citizens.iter().zip(&citizen_tokens).map(|(c, token)| json!({
                "id": c.id, "name": c.name, "token": token,
            })).collect::<Vec<_>>(),
        });
        if let Err(e) = write_atomically(&json_path, &doc.to_string()) {
            tracing::error!(error = %e, "could not write demo.json");
        }
        print_banner(
            &banner_manifest,
            Endpoints {
                public,
                control,
                admin,
            },
            Credentials {
                operator: &operator_token,
                app_key: &app_key,
                citizen: citizen_tokens.first().map_or("", String::as_str),
            },
            &json_path,
        );
    };
    server::run(RunOptions {
        config_path: config_dir,
        data_dir: opts.data_dir,
        upgrade: false,
        readiness: Readiness::default(),
        before_ready: Some(Box::new(move || {
            Box::pin(async move { setup.run(&fleet).await })
        })),
        on_ready: Some(Box::new(on_ready)),
    })
}

/// The operator's start-up work, through the admin API and the control plane.
struct Setup {
    admin: SocketAddr,
    public: SocketAddr,
    control: SocketAddr,
    operator_token: String,
    app_key: String,
    registered: Vec<String>,
    expected_matters: usize,
    /// Citizens whose rated cases feed the console.
    citizens: Vec<String>,
    /// Citizens who consent to the evidence purposes (the sample first).
    sharing_citizens: Vec<String>,
    /// Which departments appeals go to (none with fewer than two
    /// registered departments).
    appeal_roles: Option<crate::demo_appeals::Roles>,
}

impl Setup {
    async fn run(self, fleet: &FleetThread) -> anyhow::Result<()> {
        let started = Instant::now();
        // Every step is bounded: a listener that accepts and never answers
        // (say, another program on the port) must fail the start-up with a
        // message, not hang it.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("the demo's HTTP client")?;
        let auth = format!("Bearer {}", self.operator_token);
        let admin = |path: &str| format!("http://{}/admin/v1{path}", self.admin);
        // The admin listener is a service of its own: on a busy machine it
        // may bind after this start-up work begins.
        let healthz = format!("http://{}/healthz", self.admin);
        let listening = Instant::now() + Duration::from_secs(15);
        while !http
            .get(&healthz)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if Instant::now() > listening {
                bail!(
                    "the admin listener {} does not answer after 15 s",
                    self.admin
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut tokens = BTreeMap::new();
        for dept in &self.registered {
            let answer: Value = http
                .post(admin(&format!("/departments/{dept}/tokens")))
                .header("authorization", &auth)
                .json(&json!({"label": "demo fleet"}))
                .send()
                .await
                .context("admin API")?
                .error_for_status()
                .with_context(|| format!("issuing a token for {dept}"))?
                .json()
                .await?;
            let token = answer["token"]
                .as_str()
                .with_context(|| format!("no token in {answer}"))?;
            tokens.insert(dept.clone(), token.to_string());
        }
        tracing::info!(
            departments = tokens.len(),
            "demo: tokens issued; registering the fleet"
        );
        let count = tokio::time::timeout(
            Duration::from_secs(60),
            fleet.register(RegistrarOptions {
                policies: true,
                ..RegistrarOptions::new(self.control, tokens.clone())
            }),
        )
        .await
        .with_context(|| {
            format!(
                "the fleet did not register within 60 s at the control listener {}",
                self.control
            )
        })??;
        let pending: Value = http
            .get(admin("/registry/services?status=pending"))
            .header("authorization", &auth)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let services = pending["services"].as_array().cloned().unwrap_or_default();
        tracing::info!(
            pending = services.len(),
            "demo: fleet registered; approving"
        );
        for s in &services {
            let (Some(dept), Some(service), Some(revision)) = (
                s["dept"].as_str(),
                s["service"].as_str(),
                s["revision"].as_i64(),
            ) else {
                bail!("unexpected service entry {s}");
            };
            http.post(admin(&format!(
                "/registry/services/{dept}/{service}/approve"
            )))
            .header("authorization", &auth)
            .header("x-onestop-change-message", "demo start-up")
            .json(&json!({"revision": revision, "reason": "demo: approved at start-up"}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("approving {dept}/{service}"))?;
        }
        // The data plane serves everything once every matter is in the catalog.
        let catalog = format!("http://{}/api/v1/catalog", self.public);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = match http
                .get(&catalog)
                .header("x-onestop-app-key", &self.app_key)
                .send()
                .await
            {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["matters"].as_array().map(Vec::len))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if listed >= self.expected_matters {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the catalog lists {listed} of {} matters after 60 s",
                    self.expected_matters
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Agreements in every state, the citizens' consents, one case
        // whose steps read evidence (before the console's cases, which
        // read evidence too).
        crate::demo_sharing::DemoSharing {
            http: &http,
            admin: self.admin,
            public: self.public,
            operator_token: &self.operator_token,
            app_key: &self.app_key,
            citizens: &self.sharing_citizens,
        }
        .run(&fleet.manifest)
        .await
        .context("setting up data sharing")?;
        // Something for every page of the operator console.
        crate::demo_feed::Feed {
            http: &http,
            public: self.public,
            admin: self.admin,
            control: self.control,
            operator_token: &self.operator_token,
            app_key: &self.app_key,
            dept_tokens: &tokens,
            citizens: &self.citizens,
        }
        .run(&fleet.manifest)
        .await
        .context("feeding the console")?;
        // The fleet works its appeals; citizens file a few.
        if let Some(roles) = &self.appeal_roles {
            fleet
                .officers(roles.officers(self.control, tokens.clone()))
                .await?;
            let filed = crate::demo_appeals::DemoAppeals {
                http: &http,
                public: self.public,
                app_key: &self.app_key,
                citizens: &self.citizens,
            }
            .run()
            .await;
            // Appeals decorate the console: a failure is reported, not fatal.
            match filed {
                Ok(n) => tracing::info!(appeals = n, "demo: appeals filed"),
                Err(e) => tracing::warn!(error = %e, "demo: filing the appeals failed"),
            }
        }
        tracing::info!(
            departments = count,
            approved = services.len(),
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "demo fleet registered and approved"
        );
        Ok(())
    }
}

/// Where the demo listens.
struct Endpoints {
    public: SocketAddr,
    control: SocketAddr,
    admin: SocketAddr,
}

/// What the banner shows to get started.
struct Credentials<'a> {
    operator: &'a str,
    app_key: &'a str,
    citizen: &'a str,
}

fn print_banner(manifest: &FleetManifest, at: Endpoints, creds: Credentials<'_>, demo_json: &Path) {
    let Endpoints {
        public,
        control,
        admin,
    } = at;
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
        "  control  {:<28} gRPC registry (department tokens)",
        format!("http://{control}")
    );
    println!(
        "  admin    {:<28} /admin/v1, /metrics, /healthz, /readyz",
        format!("http://{admin}")
    );
    println!("  fleet    {fleet:<28} fault knobs: /fleet");
    println!(
        "  console  {:<28} operator console: sign in with the operator token below",
        format!("http://{admin}/console/")
    );
    println!("  app key          {}", creds.app_key);
    println!("  operator token   {}", creds.operator);
    println!(
        "  citizen {citizen}'s token (24 h): in {}",
        demo_json.display()
    );
    println!();
    let key = format!("-H 'x-onestop-app-key: {}'", creds.app_key);
    println!("  export T={}", creds.citizen);
    println!("  curl -s {key} http://{public}/api/v1/catalog | head -c 600");
    println!(
        "  curl -s {key} -H \"authorization: Bearer $T\" -H 'content-type: application/json' -d '{{\"kind\":\"help\",\"title\":\"小区停水\",\"content\":\"三天没有水\"}}' http://{public}/api/v1/me/appeals"
    );
    // The public feed of disclosed, closed appeals (app key, no citizen).
    println!("  curl -s {key} http://{public}/api/v1/appeals/public");
    if let Some(m) = http {
        println!(
            "  curl -s {key} -H \"authorization: Bearer $T\" http://{public}{}",
            m.example.path
        );
    }
    if let Some(svc) = grpc {
        println!(
            "  grpcurl -plaintext -rpc-header 'x-onestop-app-key: {}' -rpc-header \"authorization: Bearer $T\" -import-path proto -proto onestop/sim/v1/traffic.proto -d '{{\"citizen_id\":\"me\"}}' {public} {svc}/ListViolations",
            creds.app_key
        );
        // The same department as HTTP/JSON (transcoded), and a stream as NDJSON.
        println!(
            "  curl -s {key} -H \"authorization: Bearer $T\" http://{public}/api/v1/depts/traffic/citizens/me/violations"
        );
        println!(
            "  curl -sN {key} -H \"authorization: Bearer $T\" 'http://{public}/api/v1/depts/tax/citizens/me/records?count=3&intervalMs=500'"
        );
    }
    println!(
        "  curl -s {key} -H \"authorization: Bearer $T\" -H 'content-type: application/json' -d '{{\"matter\":\"moving-house\",\"input\":{{\"new_address\":\"渝中区解放碑 1 号\",\"move_date\":\"2026-12-01\"}}}}' http://{public}/api/v1/me/cases"
    );
    println!("  curl -s {key} -H \"authorization: Bearer $T\" http://{public}/api/v1/me/cases");
    println!(
        "  curl -s -H 'authorization: Bearer {}' http://{admin}/admin/v1/registry/services | head -c 600",
        creds.operator
    );
    println!("  curl -s http://{admin}/metrics | grep onestop_requests_total\n");
    println!("Ctrl-C stops it.");
}
