//! The public entry's access settings: citizen identity (JWT issuers and the
//! dev key), channels (app keys), the gateway's signature toward
//! departments, HTTP limits and rate limits. Part of the gateway file.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[identity]`: how citizens prove who they are (统一身份认证).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// Identity providers whose JWTs the gateway accepts.
    #[serde(default)]
    pub issuers: Vec<Issuer>,
    /// A development signing key: `onestop token citizen` and the demo mint
    /// tokens with it. Never set one in production.
    #[serde(default)]
    pub dev_key: Option<DevKey>,
}

/// A JWT algorithm the gateway may accept. HMAC algorithms and `none` are
/// deliberately absent (RFC 8725 §3.1–3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum JwtAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

/// One identity provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// Name used in logs and by `dev_key.issuer`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The `iss` claim, compared exactly.
    pub issuer: String,
    /// The `aud` claim must contain one of these.
    pub audiences: Vec<String>,
    /// Pinned algorithms; a token's `alg` must be one of them and fit its key.
    #[schemars(with = "Vec<JwtAlgorithm>")]
    pub algorithms: Spanned<Vec<JwtAlgorithm>>,
    /// A JWKS file (relative to the configuration directory). Exclusive with `jwks_url`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub jwks_file: Option<Spanned<String>>,
    /// A JWKS URL (`http://` or `https://`), fetched at start and every
    /// `jwks_refresh`, and at once (at most every 10 s) when a token names an
    /// unknown `kid`. Exclusive with `jwks_file`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub jwks_url: Option<Spanned<String>>,
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub jwks_refresh: Duration,
    /// Clock skew tolerated for `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub leeway: Duration,
    /// Accepted `typ` header values (case-insensitive); a token without `typ`
    /// is refused unless the list is empty.
    #[serde(default = "default_typ")]
    pub typ: Vec<String>,
    /// The claim that holds the citizen id.
    #[serde(default = "default_citizen_claim")]
    pub citizen_claim: String,
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}
fn default_typ() -> Vec<String> {
    vec!["JWT".into()]
}
fn default_citizen_claim() -> String {
    "sub".into()
}

/// A development key (Ed25519, PKCS#8 PEM) that signs tokens as `issuer`;
/// its public key is added to that issuer's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevKey {
    /// The `id` of an issuer above.
    #[schemars(with = "String")]
    pub issuer: Spanned<String>,
    /// PEM file, relative to the configuration directory.
    #[schemars(with = "String")]
    pub private_key_file: Spanned<String>,
    /// The `kid` of the tokens it mints.
    pub kid: String,
}

/// A channel: one calling app (super-app, mini-program, web portal),
/// identified by its app key in `x-onestop-app-key`. When any channel is
/// configured, every public request must carry a known key (401 otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Sent to departments as `x-onestop-channel`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    pub name: String,
    /// Lower-case hex SHA-256 of the app key (`onestop token channel` mints one).
    #[schemars(with = "String")]
    pub key_sha256: Spanned<String>,
    /// Routes the channel may call: `*`, `dept/*` or `dept/route`.
    #[serde(default = "all_routes")]
    #[schemars(with = "Vec<String>")]
    pub routes: Vec<Spanned<String>>,
    /// The channel's own quota (all its callers together).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Where the gateway POSTs the channel's citizens' messages (webhooks,
    /// `http://` or `https://`); unset: inbox only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub notify_url: Option<Spanned<String>>,
    /// File holding the secret that signs the webhooks
    /// (`x-onestop-signature`; at least 16 bytes), relative to the
    /// configuration directory. Required with `notify_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub notify_secret_file: Option<Spanned<String>>,
}

fn all_routes() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "*".to_string())]
}

/// `[signing]`: the gateway signs what it tells departments.
///
/// Each department gets its own key,
/// `HMAC-SHA256(master, "onestop-dept-key-v1:" + dept id)`
/// (`onestop token signing-key DEPT` prints it), so no department can forge
/// requests to another.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// File holding the master key (at least 32 bytes), relative to the
    /// configuration directory. Unset: requests are not signed.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub key_file: Option<Spanned<String>>,
}

/// What to do with a request for a host the gateway does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownHost {
    /// Serve it like any other (no `hosts` list, or a lenient one).
    #[default]
    Accept,
    /// Answer 404.
    Reject,
}

/// `[limits]`: HTTP hygiene on the public listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request header block (names + values); larger → 431.
    #[serde(default = "default_header_bytes")]
    pub max_header_bytes: usize,
    /// Most request header fields; more → 431.
    #[serde(default = "default_headers")]
    pub max_headers: usize,
    /// Largest request body of a route that sets no `max_body_bytes`; a
    /// larger declared body → 413 before the department is contacted.
    #[serde(default = "default_body_bytes")]
    pub max_body_bytes: u64,
    /// Host names (without port) the gateway serves; empty = any.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Requests for another host: `accept` or `reject` (404).
    #[serde(default)]
    pub unknown_host: UnknownHost,
    /// Time to receive a request's whole header block, counted from the
    /// accept (first request) or from the next request's first byte; the
    /// connection is closed at the limit, without an answer.
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_timeout: Duration,
    /// Longest gap between two reads of a request body; at the limit the
    /// request is answered 408 `REQUEST_TIMEOUT` and the connection closed.
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub body_timeout: Duration,
    /// Time to receive a whole request (header and body), counted like
    /// `header_timeout` (Envoy's `request_timeout`); at the limit the
    /// request is answered 408 `REQUEST_TIMEOUT` and the connection closed,
    /// however steadily the body trickles in.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// How long an HTTP/1.1 connection may wait for its next request, and an
    /// h2 connection without open streams; then it is closed.
    #[serde(default = "default_keepalive_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub keepalive_timeout: Duration,
    /// Open connections on the public listener; a connection beyond it is
    /// closed at once, before anything is read.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Open connections from one client IP address; beyond it, the same.
    #[serde(default = "default_max_connections_per_addr")]
    pub max_connections_per_addr: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: default_header_bytes(),
            max_headers: default_headers(),
            max_body_bytes: default_body_bytes(),
            hosts: Vec::new(),
            unknown_host: UnknownHost::Accept,
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            request_timeout: default_request_timeout(),
            keepalive_timeout: default_keepalive_timeout(),
            max_connections: default_max_connections(),
            max_connections_per_addr: default_max_connections_per_addr(),
        }
    }
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_keepalive_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_connections() -> usize {
    16_000
}
fn default_max_connections_per_addr() -> usize {
    1_000
}

fn default_header_bytes() -> usize {
    32 * 1024
}
fn default_headers() -> usize {
    100
}
fn default_body_bytes() -> u64 {
    1024 * 1024
}

/// A GCRA rate: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: u32,
    /// Requests allowed at once (at least 1; default: `per_second`).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimit {
    /// The burst size in force.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.per_second).max(1)
    }
}

/// `[rate_limits]`: where counters live and the per-citizen default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// `redis://host:port/db`: counters shared by every gateway. Unset, or
    /// unreachable: each gateway counts locally (logged and counted).
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Longest wait for Redis on a request (default 25 ms, at most 10 s):
    /// past it the request is counted locally and the gateway counts
    /// locally until a background ping answers within this time again.
    #[serde(default = "default_redis_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub redis_timeout: Duration,
    /// Every citizen's quota across all routes.
    #[serde(default)]
    pub per_citizen: Option<RateLimit>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            redis_url: None,
            redis_timeout: default_redis_timeout(),
            per_citizen: None,
        }
    }
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(25)
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Anyone with a channel key (when channels are configured).
    #[default]
    Public,
    /// A citizen with a valid JWT. With `citizen_param`, the path must name
    /// that citizen (or `me`): anybody else's id answers 404.
    Citizen,
    /// A department with its registry token (`Authorization: Bearer ost_…`).
    Department,
    /// An operator with an admin token.
    Operator,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Public => "public",
            AuthMode::Citizen => "citizen",
            AuthMode::Department => "department",
            AuthMode::Operator => "operator",
        }
    }
}

/// Whose requests a route's rate limit counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateKey {
    /// Everybody's requests to the route together.
    #[default]
    Route,
    /// Each citizen's requests to the route (anonymous callers: by channel).
    Citizen,
    /// Each channel's requests to the route.
    Channel,
}

/// A route's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRateLimit {
    pub per_second: u32,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub per: RateKey,
}

impl RouteRateLimit {
    pub fn rate(&self) -> RateLimit {
        RateLimit {
            per_second: self.per_second,
            burst: self.burst,
        }
    }
}
