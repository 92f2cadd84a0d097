//! Who may do what on the public listener: channel keys, citizen tokens,
//! department and operator tokens, object-level authorisation and rate
//! limits. The decisions themselves are `onestop_policy`'s pure functions;
//! this module holds their compiled inputs and asks them in order.
//!
//! The [`Identity`] (verifier keys and a cache of verified tokens) outlives
//! snapshots: a reload that does not change `[identity]` keeps it, so keys
//! fetched from a JWKS URL and cached verifications survive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use onestop_config as config;
use onestop_core::ErrorCode;
use onestop_policy::channel::{ChannelRule, ChannelSet};
use onestop_policy::jwt::{Alg, Citizen, DevSigner, Issuer, JwtError, KeySet, Verifier};
use onestop_ratelimit::{Decision, Limiter, Rate};
use sha2::{Digest, Sha256};

use crate::compile_error::CompileError;
use crate::events;

/// What access control needs of a route ([`crate::snapshot::RouteEntry::rule`]).
#[derive(Debug, Clone, Copy)]
pub struct RouteRule<'a> {
    /// `dept/route`.
    pub id: &'a str,
    pub dept: &'a str,
    pub route: &'a str,
    pub auth: config::AuthMode,
    pub rate_limit: Option<(Rate, config::RateKey)>,
}

/// The header carrying a channel's app key.
pub const APP_KEY_HEADER: &str = "x-onestop-app-key";

/// Verified tokens kept at most this long (and never past their `exp`).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);
/// Most verified tokens kept.
const TOKEN_CACHE_ENTRIES: u64 = 100_000;

/// Where an issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS file, read when the configuration is applied.
    File(PathBuf),
    /// A JWKS URL, fetched by the gateway's key refresher.
    Url { url: String, refresh: Duration },
    /// Only the dev key.
    DevKey,
}

/// Citizen token verification shared across snapshots.
pub struct Identity {
    verifier: ArcSwapOption<Verifier>,
    /// Verified tokens by SHA-256 of the token.
    cache: moka::sync::Cache<[u8; 32], Arc<Citizen>>,
    sources: Vec<(String, KeySource)>,
    /// Signals the key refresher that a token named an unknown key.
    unknown_key: tokio::sync::Notify,
    /// What the identity was built from (config and key files), to keep it
    /// across reloads that do not change it.
    fingerprint: u64,
    dev: Option<DevSigner>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("sources", &self.sources)
            .finish()
    }
}

impl Identity {
    /// Verifies a bearer token now; cached verifications are reused until
    /// the token expires.
    pub fn verify(&self, token: &str) -> Result<Arc<Citizen>, JwtError> {
        let now = SystemTime::now();
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(c) = self.cache.get(&key) {
            if c.expires_at > now {
                return Ok(c);
            }
            self.cache.invalidate(&key);
        }
        let Some(verifier) = self.verifier.load_full() else {
            return Err(JwtError::UnknownIssuer);
        };
        match verifier.verify(token, now) {
            Ok(citizen) => {
                let citizen = Arc::new(citizen);
                self.cache.insert(key, citizen.clone());
                Ok(citizen)
            }
            Err(e) => {
                if matches!(e, JwtError::UnknownKey { .. }) {
                    self.unknown_key.notify_one();
                }
                Err(e)
            }
        }
    }

    /// Replaces an issuer's keys (a refreshed JWKS); forgets cached
    /// verifications, since a key may have been withdrawn.
    pub fn set_keys(&self, issuer_id: &str, keys: KeySet) -> Result<(), String> {
        let Some(current) = self.verifier.load_full() else {
            return Err("no issuers configured".into());
        };
        let mut keys = keys;
        if let Some(dev) = &self.dev
            && dev_issuer_id(&current, dev) == Some(issuer_id)
        {
            keys.extend(dev.key_set()).map_err(|e| e.to_string())?;
        }
        let next = current
            .with_keys(issuer_id, Arc::new(keys))
            .map_err(|e| e.to_string())?;
        self.verifier.store(Some(Arc::new(next)));
        self.cache.invalidate_all();
        Ok(())
    }

    /// Issuers whose keys come from a URL: `(issuer id, url, refresh)`.
    pub fn url_sources(&self) -> Vec<(String, String, Duration)> {
        self.sources
            .iter()
            .filter_map(|(id, s)| match s {
                KeySource::Url { url, refresh } => Some((id.clone(), url.clone(), *refresh)),
                _ => None,
            })
            .collect()
    }

    /// Resolves when a token named a key nobody knows (refresh now).
    pub async fn unknown_key_seen(&self) {
        self.unknown_key.notified().await;
    }

    /// The dev signer, when `[identity.dev_key]` is configured.
    pub fn dev_signer(&self) -> Option<&DevSigner> {
        self.dev.as_ref()
    }
}

fn dev_issuer_id<'v>(verifier: &'v Verifier, dev: &DevSigner) -> Option<&'v str> {
    verifier
        .issuers()
        .find(|i| i.issuer == dev.issuer())
        .map(|i| i.id.as_str())
}

/// Reads a file of the configuration (paths are relative to its directory).
fn read(dir: &Path, file: &str) -> Result<Vec<u8>, CompileError> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|e| CompileError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The directory relative file names of the configuration are resolved against.
pub fn config_dir(cfg: &config::Config) -> PathBuf {
    cfg.gateway_path
        .as_ref()
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Builds the identity of a configuration; `previous` is kept when nothing
/// it was built from changed (keys fetched from URLs carry over too).
pub fn compile_identity(
    cfg: &config::Config,
    previous: Option<&Arc<Identity>>,
) -> Result<Option<Arc<Identity>>, CompileError> {
    let identity = &cfg.gateway.identity;
    if identity.issuers.is_empty() {
        return Ok(None);
    }
    let dir = config_dir(cfg);
    let err = |m: String| CompileError::Identity(m);
    // The fingerprint covers the settings and every key file's bytes.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for issuer in &identity.issuers {
        if let Some(f) = &issuer.jwks_file {
            files.push((f.get_ref().clone(), read(&dir, f.get_ref())?));
        }
    }
    let dev_pem = match &identity.dev_key {
        Some(k) => Some(read(&dir, k.private_key_file.get_ref())?),
        None => None,
    };
    let fingerprint = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{identity:?}").hash(&mut h);
        files.hash(&mut h);
        dev_pem.hash(&mut h);
        h.finish()
    };
    if let Some(prev) = previous
        && prev.fingerprint == fingerprint
    {
        return Ok(Some(prev.clone()));
    }
    let dev = match (&identity.dev_key, &dev_pem) {
        (Some(k), Some(pem)) => {
            let issuer = identity
                .issuers
                .iter()
                .find(|i| i.id.get_ref() == k.issuer.get_ref())
                .ok_or_else(|| {
                    err(format!(
                        "dev key issuer `{}` is not configured",
                        k.issuer.get_ref()
                    ))
                })?;
            let pem = std::str::from_utf8(pem)
                .map_err(|_| err("the dev key file is not PEM text".into()))?;
            let audience = issuer.audiences.first().cloned().unwrap_or_default();
            Some(
                DevSigner::from_pem(pem, &k.kid, &issuer.issuer, &audience)
                    .map_err(|e| err(format!("dev key: {e}")))?,
            )
        }
        _ => None,
    };
    let mut issuers = Vec::new();
    let mut sources = Vec::new();
    for issuer in &identity.issuers {
        let id = issuer.id.get_ref().clone();
        let mut keys = KeySet::new();
        let source = if let Some(f) = &issuer.jwks_file {
            let bytes = files
                .iter()
                .find(|(name, _)| name == f.get_ref())
                .map(|(_, b)| b.as_slice())
                .unwrap_or_default();
            keys = KeySet::from_jwks(bytes)
                .map_err(|e| err(format!("issuer `{id}`: {}: {e}", f.get_ref())))?;
            KeySource::File(dir.join(f.get_ref()))
        } else if let Some(url) = &issuer.jwks_url {
            // Keep what was fetched before; the refresher fetches at once.
            if let Some(prev) = previous.and_then(|p| p.verifier.load_full())
                && let Some(prev_keys) = prev.keys(&id)
            {
                keys = (**prev_keys).clone();
            }
            KeySource::Url {
                url: url.get_ref().clone(),
                refresh: issuer.jwks_refresh,
            }
        } else {
            KeySource::DevKey
        };
        if let Some(d) = &dev
            && identity
                .dev_key
                .as_ref()
                .is_some_and(|k| k.issuer.get_ref() == &id)
        {
            keys.extend(d.key_set())
                .map_err(|e| err(format!("issuer `{id}`: dev key: {e}")))?;
        }
        issuers.push((
            Issuer {
                id: id.clone(),
                issuer: issuer.issuer.clone(),
                audiences: issuer.audiences.clone(),
                algorithms: issuer
                    .algorithms
                    .get_ref()
                    .iter()
                    .map(|a| match a {
                        config::JwtAlgorithm::RS256 => Alg::RS256,
                        config::JwtAlgorithm::ES256 => Alg::ES256,
                        config::JwtAlgorithm::EdDSA => Alg::EdDSA,
                    })
                    .collect(),
                leeway: issuer.leeway,
                typ: issuer.typ.clone(),
                citizen_claim: issuer.citizen_claim.clone(),
            },
            Arc::new(keys),
        ));
        sources.push((id, source));
    }
    let verifier = Verifier::new(issuers).map_err(|e| err(e.to_string()))?;
    Ok(Some(Arc::new(Identity {
        verifier: ArcSwapOption::from_pointee(verifier),
        cache: moka::sync::Cache::builder()
            .max_capacity(TOKEN_CACHE_ENTRIES)
            .time_to_live(TOKEN_CACHE_TTL)
            .build(),
        sources,
        unknown_key: tokio::sync::Notify::new(),
        fingerprint,
        dev,
    })))
}

/// The access settings of one snapshot.
#[derive(Debug, Default)]
pub struct Access {
    pub identity: Option<Arc<Identity>>,
    /// `None`: no channels configured, no app key needed.
    pub channels: Option<ChannelSet>,
    /// Each channel's own quota.
    pub channel_rates: HashMap<String, Rate>,
    /// The signing master key.
    pub signing: Option<Arc<[u8]>>,
    /// Operator token SHA-256 → operator name.
    pub operators: HashMap<String, String>,
    pub per_citizen: Option<Rate>,
}

impl Access {
    /// Compiles a configuration's access settings.
    pub fn compile(
        cfg: &config::Config,
        identity: Option<Arc<Identity>>,
    ) -> Result<Access, CompileError> {
        let gw = &cfg.gateway;
        let channels = if gw.channels.is_empty() {
            None
        } else {
            let rules = gw
                .channels
                .iter()
                .map(|c| ChannelRule {
                    id: c.id.get_ref().clone(),
                    key_sha256: c.key_sha256.get_ref().clone(),
                    routes: c.routes.iter().map(|r| r.get_ref().clone()).collect(),
                })
                .collect();
            Some(ChannelSet::new(rules).map_err(|e| CompileError::Identity(e.to_string()))?)
        };
        let channel_rates = gw
            .channels
            .iter()
            .filter_map(|c| c.rate_limit.map(|r| (c.id.get_ref().clone(), rate(r))))
            .collect();
        let signing = match &gw.signing.key_file {
            Some(f) => {
                let bytes = read(&config_dir(cfg), f.get_ref())?;
                Some(signing_key(&bytes).map_err(|m| CompileError::File {
                    path: f.get_ref().clone(),
                    message: m,
                })?)
            }
            None => None,
        };
        Ok(Access {
            identity,
            channels,
            channel_rates,
            signing,
            operators: gw
                .operators
                .iter()
                .map(|o| (o.token_sha256.get_ref().clone(), o.name.get_ref().clone()))
                .collect(),
            per_citizen: gw.rate_limits.per_citizen.map(rate),
        })
    }
}

/// A master signing key file: hex text of at least 32 bytes.
pub fn signing_key(bytes: &[u8]) -> Result<Arc<[u8]>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the signing key file must hold hex text".to_string())?
        .trim();
    let key =
        hex::decode(text).map_err(|_| "the signing key file must hold hex text".to_string())?;
    if key.len() < 32 {
        return Err(format!(
            "the signing key must be at least 32 bytes, got {}",
            key.len()
        ));
    }
    Ok(key.into())
}

/// A configured rate as the limiter's.
pub fn rate(r: config::RateLimit) -> Rate {
    Rate {
        per_second: r.per_second.max(1),
        burst: r.burst(),
    }
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The channel id, when channels are configured.
    pub channel: Option<String>,
    pub citizen: Option<Arc<Citizen>>,
    /// A department calling a `department` route.
    pub department: Option<String>,
    /// An operator calling an `operator` route.
    pub operator: Option<String>,
}

/// A refusal: the error code and the message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(value: Option<&[u8]>) -> Option<&str> {
    onestop_core::credential::bearer(std::str::from_utf8(value?).ok()?)
}

/// Identifies the channel from its app key (when channels are configured).
pub fn channel<'a>(
    access: &'a Access,
    app_key: Option<&[u8]>,
) -> Result<Option<&'a ChannelRule>, Refusal> {
    let Some(channels) = &access.channels else {
        return Ok(None);
    };
    let key = app_key
        .and_then(|k| std::str::from_utf8(k).ok())
        .unwrap_or("");
    match channels.identify(key) {
        Some(rule) => Ok(Some(rule)),
        None => {
            events::auth_refused("app_key");
            Err(Refusal::new(
                ErrorCode::Unauthenticated,
                "a known x-onestop-app-key is required",
            ))
        }
    }
}

/// The channel a case step names (by id): the one its case was submitted
/// through. Only for the gateway's own case requests.
pub fn channel_by_id<'a>(
    access: &'a Access,
    id: Option<&[u8]>,
) -> Result<Option<&'a ChannelRule>, Refusal> {
    let Some(channels) = &access.channels else {
        return Ok(None);
    };
    let id = id.and_then(|k| std::str::from_utf8(k).ok()).unwrap_or("");
    channels
        .rules()
        .iter()
        .find(|r| r.id == id)
        .map(Some)
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::Unauthenticated,
                format!("the case's channel `{id}` is no longer configured"),
            )
        })
}

/// The citizen a case step acts for (the case's own), as the identity a
/// verified token would give: valid for this one request.
pub fn case_citizen(id: Option<&[u8]>, channel: Option<&str>) -> Result<Arc<Citizen>, Refusal> {
    let id = id
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::new(ErrorCode::Unauthenticated, "a case step names no citizen"))?;
    Ok(Arc::new(Citizen {
        id: id.to_owned(),
        issuer_id: "onestop-case".into(),
        channel: channel.map(str::to_owned),
        expires_at: SystemTime::now() + Duration::from_secs(60),
        token_id: None,
    }))
}

/// The citizen a bearer token names, verified (and bound to the calling
/// channel when the token says so), or why not.
pub fn citizen(
    access: &Access,
    channel: Option<&str>,
    token: Option<&str>,
) -> Result<Arc<Citizen>, Refusal> {
    let Some(identity) = &access.identity else {
        return Err(Refusal::new(
            ErrorCode::Unauthenticated,
            "citizen identity is not configured",
        ));
    };
    let Some(token) = token else {
        events::auth_refused("missing_token");
        return Err(Refusal::new(
            ErrorCode::Unauthenticated,
            "a citizen bearer token is required",
        ));
    };
    let citizen = identity.verify(token).map_err(|e| {
        events::auth_refused(e.code());
        Refusal::new(ErrorCode::Unauthenticated, e.to_string())
    })?;
    if let (Some(bound), Some(ch)) = (&citizen.channel, channel)
        && bound != ch
    {
        events::auth_refused("token_channel");
        return Err(Refusal::new(
            ErrorCode::Unauthenticated,
            "the token was issued to another channel",
        ));
    }
    Ok(citizen)
}

/// Applies a route's auth mode: who the caller is, or why not.
pub fn authenticate(
    access: &Access,
    departments: &HashMap<String, String>,
    route: RouteRule<'_>,
    channel: Option<&ChannelRule>,
    authorization: Option<&[u8]>,
    case_citizen: Option<Arc<Citizen>>,
) -> Result<Caller, Refusal> {
    let mut caller = Caller {
        channel: channel.map(|c| c.id.clone()),
        ..Caller::default()
    };
    if let Some(ch) = channel
        && !ch.may_call(route.dept, route.route)
    {
        events::auth_refused("channel_route");
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            format!("channel `{}` may not call this matter", ch.id),
        ));
    }
    let token = bearer(authorization);
    match route.auth {
        config::AuthMode::Public => {}
        config::AuthMode::Citizen => {
            caller.citizen = Some(match case_citizen {
                Some(c) => c,
                None => citizen(access, caller.channel.as_deref(), token)?,
            });
        }
        config::AuthMode::Department => {
            let dept = token
                .map(|t| onestop_core::digest::sha256_hex(t.as_bytes()))
                .and_then(|h| departments.get(&h).cloned());
            match dept {
                Some(d) => caller.department = Some(d),
                None => {
                    events::auth_refused("department_token");
                    return Err(Refusal::new(
                        ErrorCode::Unauthenticated,
                        "a department bearer token is required",
                    ));
                }
            }
        }
        config::AuthMode::Operator => {
            let op = token
                .map(|t| onestop_core::digest::sha256_hex(t.as_bytes()))
                .and_then(|h| access.operators.get(&h).cloned());
            match op {
                Some(o) => caller.operator = Some(o),
                None => {
                    events::auth_refused("operator_token");
                    return Err(Refusal::new(
                        ErrorCode::Unauthenticated,
                        "an operator bearer token is required",
                    ));
                }
            }
        }
    }
    Ok(caller)
}

/// Counts the request against every limit that applies (the route's only
/// when there is one: the gateway's built-ins have none); the first one
/// exceeded refuses it.
pub async fn limit(
    limiter: &Limiter,
    access: &Access,
    route: Option<RouteRule<'_>>,
    caller: &Caller,
) -> Result<(), Refusal> {
    let citizen = caller.citizen.as_ref().map(|c| c.id.as_str());
    let mut checks: Vec<(&'static str, String, Rate)> = Vec::new();
    if let (Some(rate), Some(c)) = (access.per_citizen, citizen) {
        checks.push(("citizen", format!("citizen:{c}"), rate));
    }
    if let Some(ch) = &caller.channel
        && let Some(rate) = access.channel_rates.get(ch)
    {
        checks.push(("channel", format!("channel:{ch}"), *rate));
    }
    if let Some(route) = route
        && let Some((rate, key)) = route.rate_limit
    {
        let who = match key {
            config::RateKey::Route => String::new(),
            config::RateKey::Citizen => citizen
                .map(|c| format!(":c:{c}"))
                .or_else(|| caller.channel.as_ref().map(|ch| format!(":ch:{ch}")))
                .unwrap_or_default(),
            config::RateKey::Channel => caller
                .channel
                .as_ref()
                .map(|ch| format!(":ch:{ch}"))
                .unwrap_or_default(),
        };
        checks.push(("route", format!("route:{}{who}", route.id), rate));
    }
    for (scope, key, rate) in checks {
        if let Decision::Limited { retry_after } = limiter.check(scope, &key, rate).await {
            return Err(Refusal {
                code: ErrorCode::RateLimited,
                message: format!("too many requests ({scope} limit)"),
                retry_after: Some(retry_after.as_secs().max(1)),
            });
        }
    }
    Ok(())
}
