//! The simulated department fleet: 32 government departments of a one-stop
//! super-app, each running 1–3 real server instances on loopback — HTTP/JSON
//! (axum) or gRPC (tonic, h2c) — with deterministic citizen data and fault
//! knobs (latency, error rate, refused connections, crashes, lease renewals)
//! that a control API changes at run time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), onestop_sim::SimError> {
//! let fleet = onestop_sim::Fleet::start(onestop_sim::FleetOptions::default()).await?;
//! for dept in &fleet.manifest().departments {
//!     println!("{} {:?}", dept.id, dept.instances);
//! }
//! fleet.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The [`manifest::FleetManifest`] is the whole contract with the gateway.
//!
//! Behaviour worth knowing:
//! - Every answer carries `x-sim-instance` (HTTP header / gRPC initial
//!   metadata). Unknown citizens: HTTP 404 `CITIZEN_NOT_FOUND`; gRPC
//!   NOT_FOUND with `x-sim-reason: citizen-unknown` — one fixed message,
//!   whoever was asked for.
//! - A citizen segment `me`, a submission without `citizen`, or a gRPC
//!   `citizen_id` of `me`/empty means the citizen in `x-onestop-citizen`.
//! - With [`FleetOptions::signing_key`] set, departments check the gateway's
//!   signature ([`signature`]) on every request but health checks: a
//!   missing, wrong or stale one (timestamp more than
//!   [`FleetOptions::max_skew`] from the clock) is answered 401
//!   `BAD_GATEWAY_SIGNATURE` (gRPC UNAUTHENTICATED), with `x-sim-reason:
//!   unsigned|bad-signature|stale-signature`, counted as
//!   `rejected_signatures` and nothing else (no latency, no injected error,
//!   not in `requests`). The signed `x-onestop-citizen` is then the only
//!   identity: a path, body or `citizen_id` naming anybody else is answered
//!   exactly as an unknown citizen, and a citizen's matter without the
//!   header is 401 `CITIZEN_REQUIRED` (gRPC UNAUTHENTICATED with
//!   `x-sim-reason: citizen-required`). Public matters need no citizen.
//!   Without a key nothing is checked and a named citizen is served as is.
//! - `/api/v1/depts/{dept}/echo[/{*rest}]` (any method) answers what the
//!   instance received: `{"instance","method","path","query","headers",
//!   "citizen","channel","signature_valid","body_len"}`, with `path` and
//!   `query` byte for byte as on the request line. Each request header
//!   `x-sim-respond-<name>` is sent back as `<name>` (e.g. `cache-control`,
//!   `cache-tag`, `set-cookie`), to exercise a cache.
//! - `latency_ms` and `error_rate` spare health checks (`/healthz`,
//!   `grpc.health.v1`), which count apart from requests: only `refuse` and
//!   `down` make probes fail, as with a real dead process.
//! - Streaming methods send `count` messages (0 → 5, at most 1000)
//!   `interval_ms` apart; with `0 < fail_after <= count` they send
//!   `fail_after` messages and end with FAILED_PRECONDITION carrying
//!   `x-sim-detail: stream-failed` in the trailers.
//! - Documents are a pure function of (seed, department, matter, citizen);
//!   submissions are validated against them but change nothing.
//! - Some HTTP departments hold **data items** they may share
//!   ([`catalog::data_items`]): hrss `social_insurance` and
//!   `insured_status`, hpf `account`, civil `marital_status`, police
//!   `household` and `criminal_record`. Each is a query matter
//!   `data-<item>` at `GET /api/v1/depts/{dept}/data/<item>/{citizen}`
//!   (`-` for `_`), listed in [`manifest::DeptManifest::data_items`] with
//!   its fields, and answers a JSON object with every declared field (of
//!   the declared type) plus undeclared members (`source_system`,
//!   `internal_note`, `citizen_id`, …) a gateway must not share. The
//!   `overview` leaves data items out.
//! - Applications, the steps of a composite matter (一件事一次办), are the
//!   exception: `POST /api/v1/depts/{dept}/applications/{kind}` and
//!   `…/applications/{kind}/{id}/withdraw` on every HTTP department record
//!   them in the department's ledger (shared by its instances), honour an
//!   `Idempotency-Key` (a repeated key gets the stored answer with
//!   `idempotent-replayed: true` and executes nothing) and number every
//!   event with one fleet-wide `seq`. The control API reads the ledgers and
//!   sets the kinds a department rejects (422 `APPLICATION_REJECTED`). The
//!   manifest's `withdraw` example names an application that does not
//!   exist: it answers 404 `APPLICATION_NOT_FOUND`, the one example that
//!   is not a 2xx.
//!
//! The fleet can also register itself with the gateway's control plane, as
//! real departments do: [`Fleet::register`] registers every department that
//! has a token and renews each instance's lease until the returned
//! [`Registrar`] stops. A `down` instance stops renewing (and registers
//! again once back up); the `lease` knob stops only the renewals, so a live
//! instance's lease lapses. See [`registrar`].
//!
//! ```no_run
//! # async fn demo(fleet: &onestop_sim::Fleet) -> Result<(), onestop_sim::SimError> {
//! use std::{collections::BTreeMap, time::Duration};
//!
//! use onestop_sim::RegistrarOptions;
//!
//! let tokens = BTreeMap::from([("hpf".to_owned(), "hpf-token".to_owned())]);
//! let mut opts = RegistrarOptions::new("127.0.0.1:7001".parse().unwrap(), tokens);
//! opts.lease_ttl = Duration::from_secs(9); // renewals every 3 s
//! let registrar = fleet.register(opts).await?;
//! println!("{:?}", registrar.status()["hpf"]);
//! registrar.stop().await;
//! # Ok(()) }
//! ```
//!
//! The fleet's departments also act as case officers for citizens'
//! appeals (诉求): [`CaseOfficers`] lists, accepts, replies to and returns
//! the appeals the gateway dispatched to them, over its control listener
//! with their tokens, after configurable delays; one can be made slow or
//! silent. See [`officers`].

#![forbid(unsafe_code)]

pub mod catalog;
pub mod citizens;
pub mod manifest;
pub mod officers;
pub mod pb;
pub mod registrar;
pub mod signature;

mod control;
mod data;
mod faults;
mod grpc;
mod http;
mod instance;
mod server;

use std::{
    fmt,
    io::Write,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use futures::future::join_all;
use tracing::info;

pub use crate::faults::{FaultPatch, Faults, INSTANCE_HEADER, Stats};
pub use crate::http::CITIZEN_HEADER;
pub use crate::officers::{CaseOfficers, Officer, OfficerAction, OfficerOptions};
pub use crate::registrar::{Registrar, RegistrarOptions, Registration};
use crate::{
    catalog::DEPARTMENTS,
    citizens::Population,
    control::Registry,
    instance::Instance,
    manifest::{
        CitizenSample, DeptManifest, FleetManifest, HealthProbe, InstanceManifest, Protocol,
    },
    server::ServerHandle,
    signature::Guard,
};

/// How many citizens the manifest lists.
const MANIFEST_CITIZENS: usize = 20;
/// Most citizens a fleet generates.
const MAX_CITIZENS: usize = 1_000_000;

/// What can go wrong starting, reconfiguring or registering the fleet.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// [`FleetOptions`] or [`RegistrarOptions`] out of range.
    #[error("invalid fleet options: {0}")]
    InvalidOptions(String),
    /// The gateway's registry refused a department's registration (a bad
    /// token, a spec it finds invalid, …): anything but a transient failure.
    #[error("the registry rejected department {dept}: {code:?}: {message}")]
    Rejected {
        dept: String,
        code: tonic::Code,
        message: String,
    },
    /// A listening socket could not be bound (at start, or when an instance
    /// comes back up on its old port).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// How to start a fleet.
#[derive(Clone, PartialEq, Eq)]
pub struct FleetOptions {
    /// How many departments, taken in catalogue order (1–32).
    pub departments: usize,
    /// How many citizens to generate (at least 1).
    pub citizens: usize,
    /// Seed of every generated datum.
    pub seed: u64,
    /// Address every instance binds (on port 0).
    pub bind_ip: IpAddr,
    /// Address of the control API (port 0: any free port).
    pub control_addr: SocketAddr,
    /// The gateway's master signing key. When set, every department checks
    /// the gateway's signature ([`signature`]) on every request but health
    /// checks, takes the citizen from the signed `x-onestop-citizen` only,
    /// and refuses what fails (401). `None` (the default): nothing is
    /// checked. Must not be empty (the gateway itself wants 32 bytes or more).
    pub signing_key: Option<Vec<u8>>,
    /// How far (whole seconds) a signature's timestamp may be from the
    /// department's clock, either way (default 30 s).
    pub max_skew: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            departments: DEPARTMENTS.len(),
            citizens: 1000,
            seed: 20261122,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            control_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            signing_key: None,
            max_skew: signature::DEFAULT_MAX_SKEW,
        }
    }
}

impl fmt::Debug for FleetOptions {
    /// Says whether there is a signing key, never what it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetOptions")
            .field("departments", &self.departments)
            .field("citizens", &self.citizens)
            .field("seed", &self.seed)
            .field("bind_ip", &self.bind_ip)
            .field("control_addr", &self.control_addr)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("max_skew", &self.max_skew)
            .finish()
    }
}

impl FleetOptions {
    fn validate(&self) -> Result<(), SimError> {
        if !(1..=DEPARTMENTS.len()).contains(&self.departments) {
            return Err(SimError::InvalidOptions(format!(
                "departments must be between 1 and {}, got {}",
                DEPARTMENTS.len(),
                self.departments
            )));
        }
        if !(1..=MAX_CITIZENS).contains(&self.citizens) {
            return Err(SimError::InvalidOptions(format!(
                "citizens must be between 1 and {MAX_CITIZENS}, got {}",
                self.citizens
            )));
        }
        if self.signing_key.as_ref().is_some_and(Vec::is_empty) {
            return Err(SimError::InvalidOptions(
                "signing_key must not be empty".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A running fleet. Dropping it stops every server too, without waiting.
#[derive(Debug)]
pub struct Fleet {
    registry: Arc<Registry>,
    control: ServerHandle,
}

impl Fleet {
    /// Generates the citizens, binds every instance and the control API, and
    /// returns once all of them accept connections.
    pub async fn start(opts: FleetOptions) -> Result<Fleet, SimError> {
        opts.validate()?;
        let pop = Arc::new(Population::new(opts.seed, opts.citizens));
        // Known to every department (index < KNOWN_EVERYWHERE).
        let example = pop.all()[0].clone();

        let mut instances = Vec::new();
        let mut departments = Vec::new();
        // One event counter for the whole fleet; one ledger per HTTP
        // department, shared by its instances (a department has one database).
        let events = Arc::new(http::Sequence::default());
        let mut ledgers = Vec::new();
        for dept in &DEPARTMENTS[..opts.departments] {
            let ledger = (dept.protocol == Protocol::Http)
                .then(|| Arc::new(http::Ledger::new(dept.id, Arc::clone(&events))));
            let guard = opts
                .signing_key
                .as_deref()
                .map(|master| Guard::new(master, dept.id, opts.max_skew));
            let mut listed = Vec::with_capacity(dept.instances);
            for ordinal in 0..dept.instances {
                let (state, listener) =
                    Instance::bind(dept.id, ordinal, opts.bind_ip, guard.clone()).await?;
                // HTTP departments are those with a ledger.
                let app = match &ledger {
                    Some(ledger) => http::router(
                        dept,
                        Arc::clone(&pop),
                        Arc::clone(&state),
                        Arc::clone(ledger),
                    ),
                    None => grpc::router(dept, Arc::clone(&pop), Arc::clone(&state)).await,
                };
                listed.push(InstanceManifest {
                    id: state.id.clone(),
                    addr: state.addr,
                });
                instances.push(Instance::serve(state, listener, app));
            }
            ledgers.extend(ledger);
            let grpc_service = grpc::service_name(dept.id).map(str::to_owned);
            let (health, matters) = match dept.protocol {
                Protocol::Http => (
                    HealthProbe::Http {
                        path: "/healthz".into(),
                    },
                    http::manifest_matters(dept, &pop, &example),
                ),
                Protocol::Grpc => (
                    HealthProbe::Grpc {
                        service: grpc_service.clone().unwrap_or_default(),
                    },
                    grpc::manifest_matters(dept.id, &example),
                ),
            };
            let data_items = match dept.protocol {
                Protocol::Http => http::data_items(dept.id),
                Protocol::Grpc => Vec::new(),
            };
            departments.push(DeptManifest {
                id: dept.id.into(),
                name: dept.name.into(),
                name_en: dept.name_en.into(),
                protocol: dept.protocol,
                grpc_service,
                health,
                instances: listed,
                matters,
                data_items,
            });
        }

        let control_listener = server::bind(opts.control_addr).await?;
        let control_addr = control_listener
            .local_addr()
            .map_err(|source| SimError::Bind {
                addr: opts.control_addr,
                source,
            })?;
        let manifest = FleetManifest {
            control: control_addr,
            seed: opts.seed,
            departments,
            citizens: pop
                .all()
                .iter()
                .take(MANIFEST_CITIZENS)
                .map(|c| CitizenSample {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    phone: c.phone.clone(),
                })
                .collect(),
        };
        let registry = Arc::new(Registry {
            manifest,
            instances,
            ledgers,
        });
        let control = ServerHandle::spawn(
            "control".into(),
            Some(control_listener),
            control::router(Arc::clone(&registry)),
        );
        info!(
            addr = %control_addr,
            departments = opts.departments,
            citizens = opts.citizens,
            signed = opts.signing_key.is_some(),
            max_skew_s = opts.max_skew.as_secs(),
            "fleet started"
        );
        Ok(Fleet { registry, control })
    }

    /// Where everything is.
    pub fn manifest(&self) -> &FleetManifest {
        &self.registry.manifest
    }

    /// Stops the control API and every instance, dropping open connections;
    /// returns once every socket is closed.
    pub async fn shutdown(self) {
        let Fleet { registry, control } = self;
        control.crash().await;
        join_all(registry.instances.iter().map(Instance::stop)).await;
        info!("fleet stopped");
    }
}

/// Runs a fleet until Ctrl-C: starts it, writes the manifest JSON to
/// `manifest_out` (atomically) when given, logs every address, and shuts
/// down on the signal.
pub async fn run(opts: FleetOptions, manifest_out: Option<PathBuf>) -> anyhow::Result<()> {
    let fleet = Fleet::start(opts)
        .await
        .context("starting the simulated department fleet")?;
    let manifest = fleet.manifest();
    // Every instance has logged its address as it started.
    let instances: usize = manifest.departments.iter().map(|d| d.instances.len()).sum();
    info!(
        departments = manifest.departments.len(),
        instances,
        citizens = manifest.citizens.len(),
        "fleet ready"
    );
    info!(addr = %manifest.control, "fleet control API ready");
    if let Some(path) = &manifest_out {
        write_manifest(path, manifest)
            .with_context(|| format!("writing the fleet manifest to {}", path.display()))?;
        info!(path = %path.display(), "fleet manifest written");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    info!("Ctrl-C received, stopping the fleet");
    fleet.shutdown().await;
    Ok(())
}

/// Writes `manifest` as pretty JSON to `path` atomically: readers see the
/// old file or the complete new one, never a partial write.
pub fn write_manifest(path: &Path, manifest: &FleetManifest) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(manifest)?;
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "manifest path has no file name",
        )
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
