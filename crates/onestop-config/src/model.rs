//! The serde model of the configuration files. Every struct denies unknown
//! fields so that a typo is an error, not a silently ignored setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A whole configuration: the gateway file plus every department file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `onestop.toml` (defaults when there is none).
    pub gateway: GatewayFile,
    /// Where the gateway file came from (`None` when defaults were used).
    pub gateway_path: Option<PathBuf>,
    /// The gateway file's text, which validation uses to locate problems
    /// (`None` when defaults were used).
    pub gateway_text: Option<String>,
    /// Every department file, in file name order.
    pub departments: Vec<DepartmentSource>,
}

/// One department file and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentSource {
    /// The path problems are reported under.
    pub path: PathBuf,
    /// The file's text (spans in `file` index into it).
    pub text: String,
    /// The parsed file.
    pub file: DepartmentFile,
}

/// `onestop.toml`: listeners, proxy settings and route defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Addresses the gateway listens on.
    #[serde(default)]
    pub listeners: Listeners,
    /// The public listener's proxy settings.
    #[serde(default)]
    pub proxy: ProxySettings,
    /// Values a route inherits unless it sets its own.
    #[serde(default)]
    pub defaults: RouteDefaults,
    /// Bounds the extra load retries may add, per department.
    #[serde(default)]
    pub retry_budget: RetryBudget,
    /// Where durable state lives.
    #[serde(default)]
    pub store: StoreSettings,
    /// The control plane's registry of department services.
    #[serde(default)]
    pub registry: RegistrySettings,
    /// Who may use the admin API, with which roles.
    #[serde(default)]
    pub operators: Vec<Operator>,
    /// Citizen identity: JWT issuers and the dev key.
    #[serde(default)]
    pub identity: crate::access::IdentitySettings,
    /// The calling apps and their keys.
    #[serde(default)]
    pub channels: Vec<crate::access::Channel>,
    /// The gateway's signature on what it tells departments.
    #[serde(default)]
    pub signing: crate::access::SigningSettings,
    /// HTTP hygiene limits of the public listener.
    #[serde(default)]
    pub limits: crate::access::Limits,
    /// Rate-limit storage and the per-citizen default.
    #[serde(default)]
    pub rate_limits: crate::access::RateLimitSettings,
    /// The response cache's memory budget.
    #[serde(default)]
    pub cache: crate::cache::CacheSettings,
    /// How cases of composite matters run, and when bad ratings' follow-ups
    /// are due.
    #[serde(default)]
    pub cases: crate::composite::CaseSettings,
    /// Composite matters (一件事一次办): life events across departments.
    #[serde(default)]
    pub composite: Vec<crate::composite::Composite>,
    /// Data sharing between departments: agreements and the access audit.
    #[serde(default)]
    pub sharing: crate::sharing::SharingSettings,
    /// Department assessment: traffic roll-ups and the assessment month.
    #[serde(default)]
    pub assessment: crate::console::AssessmentSettings,
    /// The operators' web console on the admin listener.
    #[serde(default)]
    pub console: crate::console::ConsoleSettings,
    /// Citizens' appeals (诉求): time limits, calendar, dispatch rules.
    #[serde(default)]
    pub appeals: crate::appeals::AppealSettings,
    /// Citizens' messages: delivery of the webhook outbox.
    #[serde(default)]
    pub messages: crate::messages::MessageSettings,
}

/// Where durable state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite:PATH` or `postgres://…`. Unset: `sqlite:DATA_DIR/onestop.db`.
    #[serde(default)]
    pub url: Option<String>,
    /// Largest number of open store connections (at least 1).
    #[serde(default = "default_store_connections")]
    pub max_connections: u32,
    /// How long a store operation waits for a connection before failing
    /// with "unavailable" (the data plane never waits for it).
    #[serde(default = "default_store_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: None,
            max_connections: default_store_connections(),
            timeout: default_store_timeout(),
        }
    }
}

fn default_store_connections() -> u32 {
    8
}
fn default_store_timeout() -> Duration {
    Duration::from_secs(2)
}

/// The control plane's registry of department services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Lease TTL when a registration does not ask for one.
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub default_lease_ttl: Duration,
    /// Shortest and longest lease a registration may ask for.
    #[serde(default = "default_min_lease", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub min_lease_ttl: Duration,
    /// Longest lease a registration may ask for.
    #[serde(default = "default_max_lease", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_lease_ttl: Duration,
    /// How often every gateway re-reads the registry from the store (changes
    /// announced by the store arrive sooner).
    #[serde(default = "default_registry_sync", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub sync_interval: Duration,
    /// A service with no traffic for this long is reported as a zombie.
    #[serde(default = "default_zombie_window", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub zombie_window: Duration,
    /// Largest total size of a registration's metadata (keys + values).
    #[serde(default = "default_max_metadata")]
    pub max_metadata_bytes: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            default_lease_ttl: default_lease_ttl(),
            min_lease_ttl: default_min_lease(),
            max_lease_ttl: default_max_lease(),
            sync_interval: default_registry_sync(),
            zombie_window: default_zombie_window(),
            max_metadata_bytes: default_max_metadata(),
        }
    }
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}
fn default_min_lease() -> Duration {
    Duration::from_secs(1)
}
fn default_max_lease() -> Duration {
    Duration::from_secs(300)
}
fn default_registry_sync() -> Duration {
    Duration::from_millis(500)
}
fn default_zombie_window() -> Duration {
    Duration::from_secs(600)
}
fn default_max_metadata() -> usize {
    4096
}

/// An operator of the admin API. The bearer token itself is never stored:
/// only its SHA-256 (`onestop token operator` prints both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Unique name (a-z, 0-9, -; at most 32), shown in the audit trail.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// At least one of `viewer`, `editor`, `approver`.
    pub roles: Vec<Role>,
    /// Lower-case hex SHA-256 of the bearer token (64 characters).
    #[schemars(with = "String")]
    pub token_sha256: Spanned<String>,
    /// Department ids whose files this operator may change (empty = all).
    /// The admin API enforces the scope.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub departments: Vec<Spanned<String>>,
}

/// What an operator may do. `viewer` reads; `editor` changes configuration;
/// `approver` decides registrations and issues department credentials.
/// Editors and approvers may also read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads configuration, registry and audit.
    Viewer,
    /// Changes configuration (within the operator's departments).
    Editor,
    /// Decides registrations and issues department credentials.
    Approver,
}

/// Addresses the gateway listens on (`ip:port`; they must differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// HTTP/1.1 and h2c (gRPC) for super-apps.
    #[serde(default = "default_public")]
    pub public: SocketAddr,
    /// gRPC control plane for departments.
    #[serde(default = "default_control")]
    pub control: SocketAddr,
    /// Admin REST API, `/metrics`, `/healthz`, `/readyz`.
    #[serde(default = "default_admin")]
    pub admin: SocketAddr,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            public: default_public(),
            control: default_control(),
            admin: default_admin(),
        }
    }
}

fn default_public() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_control() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

/// The public listener's proxy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Worker threads of the public listener (0 = one per core).
    #[serde(default)]
    pub threads: usize,
    /// How long a graceful stop waits for in-flight requests.
    #[serde(default = "default_grace", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub grace_period: Duration,
    /// Upstream connections kept idle per peer are closed after this long.
    #[serde(default = "default_idle", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub upstream_idle_timeout: Duration,
    /// `true` (default): the listener's threads share one work-stealing
    /// tokio runtime; `false`: each thread runs its own single-threaded
    /// runtime and keeps the connections it accepted (pingora's NoSteal;
    /// see docs/PERFORMANCE.md for what it costs and saves).
    #[serde(default = "yes")]
    pub work_stealing: bool,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            threads: 0,
            grace_period: default_grace(),
            upstream_idle_timeout: default_idle(),
            work_stealing: true,
        }
    }
}

fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_idle() -> Duration {
    Duration::from_secs(60)
}

/// Values a route inherits unless it sets its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteDefaults {
    /// Time to connect to an instance, per attempt.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub connect_timeout: Duration,
    /// Deadline for the whole upstream exchange, retries included.
    /// `0s` means none (long-lived streams).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// Extra attempts for idempotent requests (never for POST, PATCH or gRPC).
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl Default for RouteDefaults {
    fn default() -> Self {
        RouteDefaults {
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
            retries: default_retries(),
        }
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_retries() -> u32 {
    2
}

/// Bounds the extra load retries may add, per department (Finagle/linkerd style):
/// each request deposits `ratio` of a retry; `min_per_second` retries are
/// always allowed so that low traffic can still retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    /// Share of a department's requests that may be retried (0 to 1).
    #[serde(default = "default_ratio")]
    pub ratio: f32,
    /// Retries per second always allowed.
    #[serde(default = "default_min_per_second")]
    pub min_per_second: u32,
    /// Window of the budget (1s to 60s).
    #[serde(default = "default_budget_ttl", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ttl: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            ratio: default_ratio(),
            min_per_second: default_min_per_second(),
            ttl: default_budget_ttl(),
        }
    }
}

fn default_ratio() -> f32 {
    0.2
}
fn default_min_per_second() -> u32 {
    10
}
fn default_budget_ttl() -> Duration {
    Duration::from_secs(10)
}

/// `departments/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentFile {
    /// Who the department is.
    pub department: Department,
    /// The department's backends.
    #[serde(default)]
    pub services: Vec<Service>,
    /// What the gateway exposes, and which service serves it.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The records this department holds on citizens and may share (the
    /// data catalog).
    #[serde(default)]
    pub data_items: Vec<crate::sharing::DataItem>,
}

/// A department: its id, names and load limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Short id used in paths and metrics: `hpf`, `water`, …
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Display name, e.g. `住房公积金管理中心`.
    pub name: String,
    /// English display name.
    #[serde(default)]
    pub name_en: Option<String>,
    /// Requests in flight to this department before new ones are shed with 503.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// The department's item in the citizen overview (`GET /api/v1/me/overview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<OverviewItem>")]
    pub overview: Option<Spanned<OverviewItem>>,
}

/// A department's item in the citizen overview: a `GET` of one of its own
/// citizen routes, sent through the gateway with the citizen's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverviewItem {
    /// Path under `/api/v1/depts/<this department>/`; `me` stands for the
    /// citizen, e.g. `/api/v1/depts/hpf/overview/me`.
    pub path: String,
    /// How long the overview waits for this item (more than 0, at most 10s).
    #[serde(default = "default_overview_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

/// An overview item's default deadline.
pub const DEFAULT_OVERVIEW_TIMEOUT: Duration = Duration::from_millis(800);

/// The longest an overview item may take.
pub const MAX_OVERVIEW_TIMEOUT: Duration = Duration::from_secs(10);

fn default_overview_timeout() -> Duration {
    DEFAULT_OVERVIEW_TIMEOUT
}

fn default_max_concurrency() -> usize {
    512
}

/// How a service's backends speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1 to the backend.
    #[default]
    Http,
    /// gRPC: HTTP/2 cleartext (prior knowledge) to the backend.
    Grpc,
}

/// Load-balancing algorithm over a service's instances (instance weights apply to all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LbAlgorithm {
    /// Weighted round robin.
    #[default]
    RoundRobin,
    /// Weighted random.
    Random,
    /// Ketama consistent hashing on the citizen id (the route's
    /// `citizen_param`), falling back to the path.
    ConsistentHash,
}

/// A department backend: a set of instances speaking one protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Unique within the department, e.g. `accounts` or `accounts-v2`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// How the instances speak.
    #[serde(default)]
    pub protocol: Protocol,
    /// Load-balancing algorithm.
    #[serde(default)]
    pub lb: LbAlgorithm,
    /// The backends.
    #[serde(default)]
    pub instances: Vec<Instance>,
    /// Active health checking (none: instances are assumed healthy).
    #[serde(default)]
    pub health: Option<HealthCheck>,
    /// Passive health checking.
    #[serde(default)]
    pub outlier: Outlier,
    /// gRPC services: a `FileDescriptorSet` of the service's protos
    /// (`protoc --include_imports --descriptor_set_out=…`), relative to this
    /// department file's directory. With it the gateway also serves the
    /// routed gRPC services as HTTP/JSON (by their `google.api.http`
    /// annotations, else `POST /api/v1/rpc/{package.Service}/{Method}`).
    /// The file is read when the configuration is loaded; it is not part of
    /// a configuration version, so give each version of it its own name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub descriptor_set: Option<Spanned<String>>,
    /// The descriptor set itself: read from `descriptor_set`, or shipped
    /// with a registration.
    #[serde(skip)]
    #[schemars(skip)]
    pub descriptors: Option<std::sync::Arc<[u8]>>,
}

/// One backend of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `ip:port`. Host names are not accepted: the data plane never resolves DNS.
    #[schemars(with = "String")]
    pub addr: Spanned<String>,
    /// Relative share of the service's traffic (at least 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// Active health checking of every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `tcp`, `http` (needs `path`) or `grpc` (optional `service`).
    pub kind: ProbeKind,
    /// HTTP probes: the path that must answer 200.
    #[serde(default)]
    pub path: Option<String>,
    /// gRPC probes: the service name asked about ("" = the whole server).
    #[serde(default)]
    pub service: Option<String>,
    /// Time between two probes of an instance.
    #[serde(default = "default_hc_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub interval: Duration,
    /// A probe that takes longer fails.
    #[serde(default = "default_hc_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// Consecutive successes that bring an unhealthy instance back.
    #[serde(default = "one")]
    pub healthy_threshold: usize,
    /// Consecutive failures that take a healthy instance out.
    #[serde(default = "one")]
    pub unhealthy_threshold: usize,
}

fn default_hc_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_hc_timeout() -> Duration {
    Duration::from_millis(500)
}
fn one() -> usize {
    1
}

/// What an active health check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// A TCP connect succeeds.
    Tcp,
    /// `GET path` answers 200.
    Http,
    /// `grpc.health.v1.Health/Check` answers SERVING.
    Grpc,
}

/// Passive health: eject an instance after consecutive failures seen on live traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outlier {
    /// Consecutive connect failures, resets or 5xx answers that eject an instance (0 = never).
    #[serde(default = "default_consecutive")]
    pub consecutive_failures: u32,
    /// First ejection lasts this long; each further ejection in a row doubles it.
    #[serde(default = "default_ejection", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub base_ejection: Duration,
    /// At most this share of a service's instances is ejected at once.
    #[serde(default = "default_max_ejection")]
    pub max_ejection_percent: u8,
}

impl Default for Outlier {
    fn default() -> Self {
        Outlier {
            consecutive_failures: default_consecutive(),
            base_ejection: default_ejection(),
            max_ejection_percent: default_max_ejection(),
        }
    }
}

fn default_consecutive() -> u32 {
    3
}
fn default_ejection() -> Duration {
    Duration::from_secs(5)
}
fn default_max_ejection() -> u8 {
    50
}

/// A route: what requests it matches and which service serves them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique within the department; metrics and logs use `dept/id`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Catalog name of the matter (事项), e.g. `公积金余额查询`.
    #[serde(default)]
    pub name: Option<String>,
    /// Catalog description of the matter.
    #[serde(default)]
    pub description: Option<String>,
    /// List the route in `GET /api/v1/catalog` (default true).
    #[serde(default = "yes")]
    pub catalog: bool,
    /// Exact path match.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Segment-aligned prefix match: `/a/b` matches `/a/b` and `/a/b/…`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
    /// Template match: whole segments `{name}` bind parameters.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub template: Option<Spanned<String>>,
    /// Methods matched; empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// `Host` (without port) matched exactly, case-insensitively.
    #[serde(default)]
    pub host: Option<String>,
    /// Headers that must be present (and equal `value`, or match `regex`, when given).
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// The department service that serves this route.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub service: Option<Spanned<String>>,
    /// Weighted split across service versions (canary). Exclusive with `service`.
    #[serde(default)]
    pub split: Vec<SplitTarget>,
    /// Template parameter carrying a citizen id: consistent hashing, and with
    /// `auth = "citizen"` the id must be the token's citizen (or `me`).
    #[serde(default)]
    pub citizen_param: Option<String>,
    /// Overrides `defaults.timeout`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Overrides `defaults.connect_timeout`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Duration>,
    /// Overrides `defaults.retries`.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Who may call it: `public`, `citizen`, `department` or `operator`.
    #[serde(default)]
    pub auth: crate::access::AuthMode,
    /// Largest request body; overrides `limits.max_body_bytes`.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// The route's rate limit.
    #[serde(default)]
    pub rate_limit: Option<crate::access::RouteRateLimit>,
    /// Cache the route's GET answers.
    #[serde(default)]
    pub cache: Option<crate::cache::RouteCache>,
    /// The route answers one of this department's data items (an id of its
    /// `[[data_items]]`): every citizen's read through it is recorded in the
    /// access audit log first, and refused with 503 when it cannot be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_item: Option<String>,
    /// Client credentials passed through to the department: `cookie`
    /// and, on `auth = "public"` routes only, `authorization`. Without it
    /// the gateway removes both (and always its app key) before a
    /// department: a citizen token is valid for every department.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_credentials: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A request header a route requires: present, and equal to `value` or
/// fully matching `regex` when one of them is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (letters, digits, `-`, `_`; any case).
    pub name: String,
    /// The exact value required. Exclusive with `regex`.
    #[serde(default)]
    pub value: Option<String>,
    /// A regular expression (Rust `regex` syntax) the whole value must match:
    /// it is anchored at both ends. Exclusive with `value`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub regex: Option<Spanned<String>>,
}

/// Compiles a header `regex` the way the gateway matches it: anchored at both
/// ends, over the raw bytes of the header value. Validation and the data
/// plane both call this, so they agree on what is valid.
pub fn header_regex(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    // The bare pattern first: `a)|(b` is not a regex, but wrapped it would be.
    let build = |p: &str| {
        regex::bytes::RegexBuilder::new(p)
            .size_limit(HEADER_REGEX_SIZE_LIMIT)
            .build()
    };
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}

/// Largest compiled size of a header regex, in bytes.
const HEADER_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One service of a weighted split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitTarget {
    /// A service of the same department.
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    /// Share of requests; the weights of a split must not sum to zero.
    pub weight: u32,
}

/// Which kind of path match a route declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `path`
    Exact,
    /// `prefix`
    Prefix,
    /// `template`
    Template,
}

impl Route {
    /// The route's path pattern and its kind, when exactly one is set.
    pub fn path_match(&self) -> Option<(PathKind, &Spanned<String>)> {
        match (&self.path, &self.prefix, &self.template) {
            (Some(p), None, None) => Some((PathKind::Exact, p)),
            (None, Some(p), None) => Some((PathKind::Prefix, p)),
            (None, None, Some(p)) => Some((PathKind::Template, p)),
            _ => None,
        }
    }

    /// The services this route sends to, with weights (a single service has weight 1).
    pub fn targets(&self) -> Vec<(&Spanned<String>, u32)> {
        match &self.service {
            Some(s) => vec![(s, 1)],
            None => self.split.iter().map(|t| (&t.service, t.weight)).collect(),
        }
    }
}
