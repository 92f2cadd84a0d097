//! The registrar: registers the fleet's departments with the gateway's
//! control plane (`onestop.registry.v1.Registry`, see
//! `proto/onestop/registry/v1/registry.proto`) and keeps their leases.
//!
//! A real deployment runs an agent beside each instance that registers it
//! and renews its lease. The registrar plays those agents for the whole
//! fleet with one task per department, batching the department's instances
//! into one call:
//!
//! - **Start**: one `Register` per department that has a token: the service
//!   spec ([`service_spec`], the same mapping as the gateway's static
//!   department files, gRPC departments with the fleet's descriptor set)
//!   with every instance that is up. [`Fleet::register`]
//!   returns once every department has been registered once.
//! - **Renewal**: every lease TTL / 3 (at least 100 ms apart), one `Renew`
//!   with the addresses of the instances that should renew. Addresses the
//!   registry answers as `unknown` (lease lapsed, registry restarted) are
//!   registered again at once, with a `Register` naming just them.
//! - **Faults**: an instance that is `down`, or whose `lease` knob is off, is
//!   left out of renewals, so its lease lapses at the gateway; once it
//!   should renew again it is registered first.
//! - **Errors**: transport errors and UNAVAILABLE-like statuses are retried
//!   with a short backoff (logged at debug; once at warn when they last a
//!   whole lease TTL). Rejections (UNAUTHENTICATED, PERMISSION_DENIED,
//!   INVALID_ARGUMENT, …) end [`Fleet::register`] with
//!   [`SimError::Rejected`]; later on they are logged once at warn and
//!   retried at the renewal pace. The loop never ends on its own.
//!
//! Every call carries `authorization: Bearer <department token>`. Stopping
//! the registrar does not deregister anything: the leases simply lapse, as
//! when the agents are killed.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::future::try_join_all;
use tokio::{task::JoinHandle, time::Instant};
use tonic::{
    Code, Request, Status,
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};
use tracing::{debug, info, warn};

use crate::{
    Fleet, SimError,
    instance::InstanceState,
    manifest::{DeptManifest, HealthProbe, MatterManifest, Protocol},
    pb::registry::{self as pb, registry_client::RegistryClient},
};

/// The service name registered for each department unless told otherwise.
pub const DEFAULT_SERVICE: &str = "main";
/// The lease TTL [`RegistrarOptions::new`] asks for.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// Renewals are never closer together than this.
pub const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(100);
/// The shortest lease TTL the registrar accepts: three renewal intervals.
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(300);

/// Active health checks the gateway is asked to run (as in the static
/// department files).
const HEALTH_INTERVAL_MS: u32 = 1_000;
const HEALTH_TIMEOUT_MS: u32 = 500;
/// Deadline of a unary matter; streaming matters get none (0).
const ROUTE_TIMEOUT_MS: u32 = 5_000;
/// Every instance weighs the same.
const INSTANCE_WEIGHT: u32 = 1;
/// Retries after transport errors start this soon and double up to
/// [`BACKOFF_MAX`] (never slower than the renewal interval).
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A call may take at most this long, or the lease TTL when that is longer
/// (a renewal slower than a lease cannot keep it anyway).
const MIN_CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// How to register the fleet with a gateway.
#[derive(Clone)]
pub struct RegistrarOptions {
    /// The gateway's control listener.
    pub control: SocketAddr,
    /// Department id → bearer token. Departments without a token are not
    /// registered; tokens of departments the fleet does not run are ignored.
    pub tokens: BTreeMap<String, String>,
    /// Lease TTL asked for (at least [`MIN_LEASE_TTL`]). Renewals follow
    /// the TTL the registry grants: every third of it.
    pub lease_ttl: Duration,
    /// Service name registered for each department (default `main`).
    pub service: String,
    /// Register each route's policy as its department file would declare
    /// it: `data_item` on data matters, a shared cache on public reference
    /// matters ([`route_policy`]). Off by default.
    pub policies: bool,
}

/// The policy TOML a matter registers with when [`RegistrarOptions::policies`]
/// is on: its data item, and a 60 s shared cache for a public reference
/// matter (a `GET` that concerns nobody in particular: prices, timetables,
/// weather, policy documents).
pub fn route_policy(m: &MatterManifest) -> String {
    let mut lines = Vec::new();
    if let Some(item) = &m.data_item {
        lines.push(format!("data_item = \"{item}\""));
    }
    if is_public_reference(m) {
        lines.push("cache = { ttl = \"60s\", scope = \"public\" }".to_owned());
    }
    lines.join("\n")
}

/// A `GET` that concerns no citizen and does not stream: the answer is the
/// same for everybody, so a platform caches it.
pub fn is_public_reference(m: &MatterManifest) -> bool {
    m.method == "GET" && !m.streaming && !concerns_citizen(m)
}

/// The last registration of a department, as the registry answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// Revision of the department's service spec.
    pub revision: i64,
    /// Whether that revision is approved for public traffic.
    pub status: pb::Status,
    /// The lease TTL the registry granted (the one asked for when it named none).
    pub lease_ttl: Duration,
}

/// Registers the fleet's departments and renews their leases in the
/// background until [`Registrar::stop`]ped or dropped.
#[derive(Debug)]
pub struct Registrar {
    status: StatusMap,
    tasks: Vec<JoinHandle<()>>,
}

/// The last [`Registration`] of every registered department.
type StatusMap = Arc<Mutex<BTreeMap<String, Registration>>>;

/// One department's agent: its spec, token and instances.
struct Agent {
    dept: String,
    spec: pb::ServiceSpec,
    /// `Bearer <token>`, marked sensitive.
    authorization: AsciiMetadataValue,
    members: Vec<Member>,
    client: RegistryClient<Channel>,
    /// The lease TTL in force: the granted one, else the one asked for.
    ttl: Duration,
    /// Whether the department has been registered at least once.
    registered: bool,
    trouble: Trouble,
    status: StatusMap,
}

/// One instance as its agent sees it.
struct Member {
    state: Arc<InstanceState>,
    /// `ip:port`, as registered.
    addr: String,
    /// The instance holds a lease, as far as the registrar knows.
    leased: bool,
}

/// A streak of failed rounds, for backoff and for logging each kind once.
#[derive(Debug, Default)]
struct Trouble {
    since: Option<Instant>,
    attempts: u32,
    warned_unreachable: bool,
    warned_rejected: bool,
}

impl RegistrarOptions {
    /// Options for the gateway whose control listener is `control`: the
    /// default lease TTL and service name.
    pub fn new(control: SocketAddr, tokens: BTreeMap<String, String>) -> RegistrarOptions {
        RegistrarOptions {
            control,
            tokens,
            lease_ttl: DEFAULT_LEASE_TTL,
            service: DEFAULT_SERVICE.to_owned(),
            policies: false,
        }
    }

    /// The TTL in milliseconds, or what is wrong with the options.
    fn validate(&self) -> Result<u32, SimError> {
        let ttl_ms = u32::try_from(self.lease_ttl.as_millis())
            .ok()
            .filter(|_| self.lease_ttl >= MIN_LEASE_TTL)
            .ok_or_else(|| {
                SimError::InvalidOptions(format!(
                    "lease_ttl must be between {MIN_LEASE_TTL:?} and {} ms, got {:?}",
                    u32::MAX,
                    self.lease_ttl
                ))
            })?;
        if self.service.is_empty() {
            return Err(SimError::InvalidOptions(
                "service must not be empty".to_owned(),
            ));
        }
        Ok(ttl_ms)
    }
}

impl fmt::Debug for RegistrarOptions {
    /// Names the departments with a token, never the tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrarOptions")
            .field("control", &self.control)
            .field("tokens", &self.tokens.keys().collect::<Vec<_>>())
            .field("lease_ttl", &self.lease_ttl)
            .field("service", &self.service)
            .finish()
    }
}

impl Fleet {
    /// Registers every department that has a token (one service each, with
    /// all its instances that are up), returns once each has been registered
    /// once, and keeps renewing in the background until the returned handle
    /// is stopped or dropped.
    ///
    /// An unreachable registry is retried until it answers (wrap the call in
    /// a timeout to bound the wait); a rejected registration ends the call
    /// with [`SimError::Rejected`] and registers nothing further.
    pub async fn register(&self, opts: RegistrarOptions) -> Result<Registrar, SimError> {
        let ttl_ms = opts.validate()?;
        let endpoint = Endpoint::from_shared(format!("http://{}", opts.control))
            .map_err(|e| SimError::InvalidOptions(format!("control {}: {e}", opts.control)))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(opts.lease_ttl.max(MIN_CALL_TIMEOUT))
            .tcp_nodelay(true);
        // One HTTP/2 connection for every department, (re)connected on use.
        let client = RegistryClient::new(endpoint.connect_lazy());
        let status = StatusMap::default();

        let departments = &self.manifest().departments;
        for id in opts.tokens.keys() {
            if !departments.iter().any(|d| &d.id == id) {
                debug!(dept = %id, "token for a department this fleet does not run; ignored");
            }
        }
        let mut agents = Vec::new();
        for dept in departments {
            let Some(token) = opts.tokens.get(&dept.id) else {
                debug!(dept = %dept.id, "no token; department not registered");
                continue;
            };
            let mut authorization = AsciiMetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| {
                    SimError::InvalidOptions(format!(
                        "the token of department {:?} is not a valid header value",
                        dept.id
                    ))
                })?;
            authorization.set_sensitive(true);
            let members = self
                .registry
                .instances
                .iter()
                .filter(|i| i.state.dept == dept.id)
                .map(|i| Member {
                    state: Arc::clone(&i.state),
                    addr: i.state.addr.to_string(),
                    leased: false,
                })
                .collect();
            agents.push(Agent {
                dept: dept.id.clone(),
                spec: service_spec_with(dept, &opts.service, opts.lease_ttl, opts.policies),
                authorization,
                members,
                client: client.clone(),
                ttl: Duration::from_millis(u64::from(ttl_ms)),
                registered: false,
                trouble: Trouble::default(),
                status: Arc::clone(&status),
            });
        }

        try_join_all(agents.iter_mut().map(Agent::first_registration)).await?;
        info!(
            control = %opts.control,
            departments = agents.len(),
            lease_ttl_ms = ttl_ms,
            "fleet registered"
        );
        let tasks = agents
            .into_iter()
            .map(|agent| tokio::spawn(agent.run()))
            .collect();
        Ok(Registrar { status, tasks })
    }
}

impl Registrar {
    /// Per registered department: the registry's answer to its last
    /// registration (the first one, or a later one for returning instances).
    pub fn status(&self) -> BTreeMap<String, Registration> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops renewing; returns once no call is in flight any more. Leases
    /// are not given back: they lapse at the gateway.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            // A cancelled task is the expected outcome; nothing to report.
            let _ = task.await;
        }
        debug!("registrar stopped");
    }
}

impl Drop for Registrar {
    /// Stops renewing without waiting.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The service a department registers, mirroring the gateway's static
/// department files (`onestop::fleet_config::department_toml`):
/// - protocol from the manifest; lb consistent hashing when a matter takes a
///   citizen and the department runs more than two instances, else round
///   robin;
/// - health check `GET /healthz` or gRPC health of the department's service,
///   every 1 s with a 500 ms timeout;
/// - one route per matter: a template when the path has a `{`, else exact;
///   the citizen parameter only when it is a template parameter of the
///   path; auth `citizen` when the matter concerns a citizen
///   ([`concerns_citizen`]), else `public`; 5 s timeout, none for
///   streaming matters;
/// - metadata `name`, `name_en` and `sim = "true"`;
/// - gRPC departments ship the fleet's descriptor set
///   ([`crate::pb::FILE_DESCRIPTOR_SET`], built with its imports), so the
///   gateway also serves them as HTTP/JSON and gRPC-Web.
pub fn service_spec(dept: &DeptManifest, service: &str, lease_ttl: Duration) -> pb::ServiceSpec {
    service_spec_with(dept, service, lease_ttl, false)
}

/// [`service_spec`], with each route's policy when `policies` is on
/// ([`route_policy`]).
pub fn service_spec_with(
    dept: &DeptManifest,
    service: &str,
    lease_ttl: Duration,
    policies: bool,
) -> pb::ServiceSpec {
    let protocol = match dept.protocol {
        Protocol::Http => pb::Protocol::Http,
        Protocol::Grpc => pb::Protocol::Grpc,
    };
    let citizen_keyed = dept.matters.iter().any(|m| m.citizen_param.is_some());
    let lb = if citizen_keyed && dept.instances.len() > 2 {
        pb::LbPolicy::ConsistentHash
    } else {
        pb::LbPolicy::RoundRobin
    };
    let probe = match &dept.health {
        HealthProbe::Http { path } => {
            pb::health_check::Probe::Http(pb::HttpProbe { path: path.clone() })
        }
        HealthProbe::Grpc { service } => pb::health_check::Probe::Grpc(pb::GrpcProbe {
            service: service.clone(),
        }),
    };
    let routes = dept
        .matters
        .iter()
        .map(|m| {
            let kind = if m.path.contains('{') {
                pb::PathKind::Template
            } else {
                pb::PathKind::Exact
            };
            let citizen_param = m
                .citizen_param
                .clone()
                .filter(|p| m.path.contains(&format!("{{{p}}}")))
                .unwrap_or_default();
            // A matter that concerns a citizen needs the citizen's token.
            let auth = if concerns_citizen(m) {
                pb::AuthMode::Citizen
            } else {
                pb::AuthMode::Public
            };
            pb::Route {
                auth: auth.into(),
                id: m.id.clone(),
                name: m.name.clone(),
                description: m.description.clone(),
                kind: kind.into(),
                pattern: m.path.clone(),
                methods: vec![m.method.clone()],
                citizen_param,
                // Streams run as long as they last: 0 is no deadline (unset
                // would be the gateway's default).
                timeout_ms: Some(if m.streaming { 0 } else { ROUTE_TIMEOUT_MS }),
                policy: if policies {
                    route_policy(m)
                } else {
                    String::new()
                },
            }
        })
        .collect();
    pb::ServiceSpec {
        dept: dept.id.clone(),
        service: service.to_owned(),
        protocol: protocol.into(),
        lb: lb.into(),
        health: Some(pb::HealthCheck {
            probe: Some(probe),
            interval_ms: HEALTH_INTERVAL_MS,
            timeout_ms: HEALTH_TIMEOUT_MS,
        }),
        routes,
        metadata: BTreeMap::from([
            ("name".to_owned(), dept.name.clone()),
            ("name_en".to_owned(), dept.name_en.clone()),
            ("sim".to_owned(), "true".to_owned()),
        ]),
        lease_ttl_ms: u32::try_from(lease_ttl.as_millis()).unwrap_or(u32::MAX),
        descriptor_set: match dept.protocol {
            Protocol::Http => Vec::new(),
            Protocol::Grpc => crate::pb::FILE_DESCRIPTOR_SET.to_vec(),
        },
    }
}

/// Whether a matter concerns a citizen, so that the gateway must call it
/// with a citizen's token (and the department, when it checks signatures,
/// refuses it without `x-onestop-citizen`): a citizen parameter (in the
/// path, or a gRPC `citizen_id` field), a submission naming a citizen in
/// its body, or any method but `GET` (a write is somebody's).
pub fn concerns_citizen(matter: &MatterManifest) -> bool {
    let names_citizen = matter
        .example
        .body
        .as_ref()
        .and_then(|body| body.as_object())
        .is_some_and(|body| body.contains_key("citizen") || body.contains_key("citizen_id"));
    matter.citizen_param.is_some() || names_citizen || matter.method != "GET"
}

impl Agent {
    /// Rounds until the department is registered; retries what may pass.
    async fn first_registration(&mut self) -> Result<(), SimError> {
        loop {
            match self.round().await {
                Ok(()) => {
                    self.trouble.recovered(&self.dept);
                    return Ok(());
                }
                Err(status) if retryable(status.code()) => {
                    let wait = self.trouble.failed(&self.dept, &status, self.ttl);
                    tokio::time::sleep(wait.min(self.interval())).await;
                }
                Err(status) => {
                    warn!(
                        dept = %self.dept,
                        code = ?status.code(),
                        message = status.message(),
                        "registry rejected the department"
                    );
                    return Err(SimError::Rejected {
                        dept: self.dept.clone(),
                        code: status.code(),
                        message: status.message().to_owned(),
                    });
                }
            }
        }
    }

    /// Renews (and registers again what needs it) every interval, forever.
    async fn run(mut self) {
        let mut next = Instant::now() + self.interval();
        loop {
            tokio::time::sleep_until(next).await;
            let started = Instant::now();
            let wait = match self.round().await {
                Ok(()) => {
                    self.trouble.recovered(&self.dept);
                    self.interval()
                }
                Err(status) => self
                    .trouble
                    .failed(&self.dept, &status, self.ttl)
                    .min(self.interval()),
            };
            next = started + wait;
        }
    }

    /// Renewals are a third of the lease TTL apart, at least
    /// [`MIN_RENEW_INTERVAL`].
    fn interval(&self) -> Duration {
        renew_interval(self.ttl)
    }

    /// One round: instances that stopped renewing are dropped, instances
    /// without a lease are registered (the whole department the first time),
    /// the others renewed; whatever the registry does not know is registered
    /// again.
    async fn round(&mut self) -> Result<(), Status> {
        let mut fresh = Vec::new();
        let mut renew = Vec::new();
        for (i, member) in self.members.iter_mut().enumerate() {
            if !member.state.knobs.renews_lease() {
                if member.leased {
                    member.leased = false;
                    let reason = if member.state.knobs.snapshot().down {
                        "down"
                    } else {
                        "lease knob off"
                    };
                    info!(dept = %self.dept, instance = %member.state.id, reason, "lease no longer renewed");
                }
            } else if member.leased {
                renew.push(i);
            } else {
                fresh.push(i);
            }
        }
        if !self.registered || !fresh.is_empty() {
            self.register(&fresh).await?;
        }
        if renew.is_empty() {
            return Ok(());
        }
        let unknown = self.renew(&renew).await?;
        if !unknown.is_empty() {
            self.register(&unknown).await?;
        }
        Ok(())
    }

    /// Registers the spec with the given members; they hold a lease after.
    async fn register(&mut self, which: &[usize]) -> Result<(), Status> {
        let instances = which
            .iter()
            .map(|&i| pb::Instance {
                addr: self.members[i].addr.clone(),
                weight: INSTANCE_WEIGHT,
            })
            .collect();
        let request = self.request(pb::RegisterRequest {
            service: Some(self.spec.clone()),
            instances,
        });
        let answer = self.client.register(request).await?.into_inner();
        self.adopt_ttl(answer.lease_ttl_ms);
        let registration = Registration {
            revision: answer.revision,
            status: pb::Status::try_from(answer.status).unwrap_or(pb::Status::Unspecified),
            lease_ttl: self.ttl,
        };
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.dept.clone(), registration);
        let ids: Vec<&str> = which
            .iter()
            .map(|&i| self.members[i].state.id.as_str())
            .collect();
        if self.registered {
            info!(dept = %self.dept, instances = ?ids, revision = answer.revision, "instances registered again");
        } else {
            info!(
                dept = %self.dept,
                service = %self.spec.service,
                instances = ?ids,
                revision = answer.revision,
                status = ?registration.status,
                new_revision = answer.new_revision,
                "department registered"
            );
            self.registered = true;
        }
        for &i in which {
            self.members[i].leased = true;
        }
        Ok(())
    }

    /// Renews the given members' leases; answers those the registry does
    /// not know (no longer leased).
    async fn renew(&mut self, which: &[usize]) -> Result<Vec<usize>, Status> {
        let request = self.request(pb::RenewRequest {
            dept: self.spec.dept.clone(),
            service: self.spec.service.clone(),
            addrs: which
                .iter()
                .map(|&i| self.members[i].addr.clone())
                .collect(),
        });
        let unknown: Vec<usize> = match self.client.renew(request).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                self.adopt_ttl(answer.lease_ttl_ms);
                debug!(dept = %self.dept, renewed = answer.renewed.len(), unknown = answer.unknown.len(), "leases renewed");
                which
                    .iter()
                    .copied()
                    .filter(|&i| answer.unknown.contains(&self.members[i].addr))
                    .collect()
            }
            // The registry lost the whole service: every instance is unknown.
            Err(status) if status.code() == Code::NotFound => which.to_vec(),
            Err(status) => return Err(status),
        };
        if !unknown.is_empty() {
            let ids: Vec<&str> = unknown
                .iter()
                .map(|&i| self.members[i].state.id.as_str())
                .collect();
            info!(dept = %self.dept, instances = ?ids, "registry does not know the instances; registering them again");
            for &i in &unknown {
                self.members[i].leased = false;
            }
        }
        Ok(unknown)
    }

    /// A request carrying the department's token.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    /// Follows the TTL the registry granted, when it names one.
    fn adopt_ttl(&mut self, granted_ms: u32) {
        if granted_ms > 0 {
            self.ttl = Duration::from_millis(u64::from(granted_ms));
        }
    }
}

impl Trouble {
    /// Notes a failed round and logs it (each kind at warn once per
    /// streak); answers how long to wait before the next try.
    fn failed(&mut self, dept: &str, status: &Status, ttl: Duration) -> Duration {
        let since = *self.since.get_or_insert_with(Instant::now);
        self.attempts = self.attempts.saturating_add(1);
        let code = status.code();
        if !retryable(code) {
            if self.warned_rejected {
                debug!(
                    dept,
                    ?code,
                    message = status.message(),
                    "registry still rejects the department"
                );
            } else {
                warn!(
                    dept,
                    ?code,
                    message = status.message(),
                    "registry rejected the department; retrying at the renewal pace"
                );
                self.warned_rejected = true;
            }
            return renew_interval(ttl);
        }
        let failing_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !self.warned_unreachable && since.elapsed() >= ttl {
            warn!(
                dept,
                ?code,
                message = status.message(),
                failing_ms,
                "registry unreachable for a whole lease TTL; leases lapse"
            );
            self.warned_unreachable = true;
        } else {
            debug!(
                dept,
                ?code,
                message = status.message(),
                attempt = self.attempts,
                "registry unreachable; retrying"
            );
        }
        backoff(self.attempts)
    }

    /// Ends a streak.
    fn recovered(&mut self, dept: &str) {
        if self.warned_unreachable || self.warned_rejected {
            info!(
                dept,
                attempts = self.attempts,
                "registry accepts the department again"
            );
        }
        *self = Trouble::default();
    }
}

/// A third of the lease TTL, at least [`MIN_RENEW_INTERVAL`].
fn renew_interval(ttl: Duration) -> Duration {
    (ttl / 3).max(MIN_RENEW_INTERVAL)
}

/// The wait before retry `attempt` (1, 2, …): doubling from [`BACKOFF_MIN`]
/// up to [`BACKOFF_MAX`].
fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(10);
    (BACKOFF_MIN * 2_u32.pow(doublings)).min(BACKOFF_MAX)
}

/// Whether a failed call may pass when tried again: the registry (or the
/// way to it) is down, overloaded or slow. Anything else is a rejection of
/// the request itself.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_are_a_third_of_the_ttl_but_not_too_close() {
        assert_eq!(
            renew_interval(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        assert_eq!(
            renew_interval(Duration::from_millis(600)),
            Duration::from_millis(200)
        );
        assert_eq!(
            renew_interval(Duration::from_millis(120)),
            MIN_RENEW_INTERVAL
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let waits: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn matters_that_concern_a_citizen_need_a_citizen() {
        use serde_json::json;
        let matter =
            |method: &str, citizen_param: Option<&str>, body: Option<serde_json::Value>| {
                MatterManifest {
                    id: "m".into(),
                    name: "m".into(),
                    description: String::new(),
                    method: method.into(),
                    path: "/api/v1/depts/x/m".into(),
                    citizen_param: citizen_param.map(str::to_owned),
                    streaming: false,
                    example: crate::manifest::MatterExample {
                        path: "/api/v1/depts/x/m".into(),
                        body,
                    },
                    data_item: None,
                }
            };
        assert!(concerns_citizen(&matter("GET", Some("citizen"), None)));
        // gRPC: the citizen is a message field, the path has no parameter.
        assert!(concerns_citizen(&matter(
            "POST",
            Some("citizen_id"),
            Some(json!({"citizen_id": "me"}))
        )));
        assert!(concerns_citizen(&matter(
            "POST",
            None,
            Some(json!({"citizen": "me", "amount_fen": 1}))
        )));
        assert!(concerns_citizen(&matter(
            "GET",
            None,
            Some(json!({"citizen_id": "x"}))
        )));
        assert!(concerns_citizen(&matter("DELETE", None, None)));
        assert!(!concerns_citizen(&matter("GET", None, None)));
        assert!(!concerns_citizen(&matter(
            "GET",
            None,
            Some(json!({"q": "x"}))
        )));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(retryable(Code::Unavailable));
        assert!(retryable(Code::DeadlineExceeded));
        assert!(!retryable(Code::Unauthenticated));
        assert!(!retryable(Code::PermissionDenied));
        assert!(!retryable(Code::InvalidArgument));
    }
}
