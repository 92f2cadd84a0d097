//! Citizen identity: verifying bearer JWTs by the rules of RFC 8725.
//!
//! [`Verifier::verify`] checks a token in this order and stops at the first
//! failure (every failure is a 401 at the proxy):
//!
//! 1. **Shape**: at most [`MAX_TOKEN_LEN`] bytes, exactly three
//!    base64url parts (no padding), a JSON header and a JSON object of
//!    claims; a header with `crit` is refused ([`JwtError::Malformed`]).
//! 2. **Algorithm**: the header's `alg` must be `RS256`, `ES256` or `EdDSA`
//!    (so never `none` or an HMAC algorithm: [`JwtError::AlgorithmNotAllowed`]).
//! 3. **Issuer**: the issuer is found by the token's `iss`, compared exactly
//!    ([`JwtError::MissingClaim`]`("iss")`, [`JwtError::UnknownIssuer`]);
//!    nothing else in the token is trusted yet. The `alg` must be one the
//!    issuer pins ([`JwtError::AlgorithmNotAllowed`]).
//! 4. **Type**: when the issuer lists `typ` values, the header's `typ` must
//!    be one of them, compared case-insensitively and with an optional
//!    `application/` prefix ignored ([`JwtError::WrongType`]).
//! 5. **Key**: the header must name a `kid` ([`JwtError::MissingKeyId`]) the
//!    issuer's [`KeySet`] knows ([`JwtError::UnknownKey`]); the key's type
//!    must be the one of `alg` ([`JwtError::WrongKeyType`]). Only that key
//!    is tried: an RSA public key can never be used as an HMAC secret, and
//!    `alg` cannot choose a weaker key.
//! 6. **Signature** with that key ([`JwtError::BadSignature`]).
//! 7. **Time**, against the `now` passed in, with the issuer's leeway: `exp`
//!    is required and `now < exp + leeway` ([`JwtError::Expired`]); `nbf`, if
//!    present, must satisfy `nbf <= now + leeway` ([`JwtError::NotYetValid`]).
//!    Numeric dates may be integers or decimals.
//! 8. **Audience**: `aud` (a string or an array of strings) must hold one of
//!    the issuer's audiences ([`JwtError::WrongAudience`]).
//! 9. **Citizen**: the issuer's citizen claim (default `sub`) must be a
//!    non-empty string of at most 64 characters without control characters;
//!    so must `chn` (the channel), if present. `jti`, if present, is a string
//!    of at most 256 bytes.
//!
//! A claim onestop reads that appears twice makes the token malformed.
//! `iat` is not checked. Nothing here reads the clock: `now` is an argument.
//!
//! Key sets are reloaded by building a new [`Verifier`] with
//! [`Verifier::with_keys`], which shares everything else with the old one;
//! the proxy swaps it in (e.g. through its snapshot or an `ArcSwap`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;

mod claims;
mod dev;
mod keys;

use claims::{Header, Value, parse_claims};
pub use dev::{DevKeyError, DevSigner};
use keys::Lookup;
pub use keys::{JwksError, KeySet, KeyType, MAX_KEYS, SkippedKey};

/// The longest token accepted (bytes).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The longest citizen id or channel id accepted in a token (characters).
pub const MAX_ID_CHARS: usize = 64;
/// The longest `jti` accepted (bytes).
pub const MAX_TOKEN_ID_LEN: usize = 256;

/// A signature algorithm onestop accepts. HMAC algorithms and `none` are
/// deliberately absent (RFC 8725 §3.1–3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named by an `alg` header value (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            "EdDSA" => Some(Alg::EdDSA),
            _ => None,
        }
    }

    /// The type of key that verifies it.
    pub fn key_type(self) -> KeyType {
        match self {
            Alg::RS256 => KeyType::Rsa,
            Alg::ES256 => KeyType::P256,
            Alg::EdDSA => KeyType::Ed25519,
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// One identity provider's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Name in logs and configuration (`[[identity.issuers]] id`).
    pub id: String,
    /// The `iss` claim, compared exactly.
    pub issuer: String,
    /// `aud` must contain one of these.
    pub audiences: Vec<String>,
    /// Pinned algorithms.
    pub algorithms: Vec<Alg>,
    /// Clock skew tolerated for `exp` and `nbf`.
    pub leeway: Duration,
    /// Accepted `typ` values (case-insensitive); empty: `typ` not required.
    pub typ: Vec<String>,
    /// The claim holding the citizen id (usually `sub`).
    pub citizen_claim: String,
}

/// A verified citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    /// The citizen id (the issuer's citizen claim).
    pub id: String,
    /// The [`Issuer::id`] of the issuer that signed the token.
    pub issuer_id: String,
    /// The `chn` claim, if present: the channel the token was issued to.
    pub channel: Option<String>,
    /// When the token expires (`exp`, without leeway).
    pub expires_at: SystemTime,
    /// The `jti` claim, if present.
    pub token_id: Option<String>,
}

/// Why a token was refused. Messages say which rule failed and never echo
/// the token or its claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed JWS compact JWT (or a `crit` header).
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// `alg` is not one onestop (or the token's issuer) accepts.
    #[error("the token's signing algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// No configured issuer has the token's `iss`.
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    /// `typ` is missing or not accepted.
    #[error("the token's type (typ) is not accepted")]
    WrongType,
    /// The header names no `kid`.
    #[error("the token does not name its signing key (kid)")]
    MissingKeyId,
    /// The issuer has no key with the token's `kid`. The proxy may refresh
    /// that issuer's JWKS (rate-limited) on this error.
    #[error("the token's signing key is not known")]
    UnknownKey {
        /// The issuer whose key set lacks the `kid`.
        issuer_id: Arc<str>,
    },
    /// The `kid` names a key of another type than `alg` needs.
    #[error("the token's algorithm does not fit its signing key")]
    WrongKeyType,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` holds none of the issuer's audiences.
    #[error("the token is not meant for this gateway (aud)")]
    WrongAudience,
    /// A required claim is absent: `iss`, `exp`, `aud` or `citizen id`.
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an unacceptable value.
    #[error("the token's {0} claim is invalid")]
    InvalidClaim(&'static str),
}

impl JwtError {
    /// A stable snake_case name (logs, metrics, tests).
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::AlgorithmNotAllowed => "algorithm_not_allowed",
            JwtError::UnknownIssuer => "unknown_issuer",
            JwtError::WrongType => "wrong_type",
            JwtError::MissingKeyId => "missing_key_id",
            JwtError::UnknownKey { .. } => "unknown_key",
            JwtError::WrongKeyType => "wrong_key_type",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::MissingClaim(_) => "missing_claim",
            JwtError::InvalidClaim(_) => "invalid_claim",
        }
    }
}

/// Why a [`Verifier`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// Two issuers share an id.
    #[error("issuer `{0}` is defined twice")]
    DuplicateId(String),
    /// Two issuers share an `iss`.
    #[error("issuer `{0}`: another issuer has the same iss")]
    DuplicateIss(String),
    /// An issuer pins no algorithm.
    #[error("issuer `{0}`: no algorithms")]
    NoAlgorithms(String),
    /// An issuer accepts no audience.
    #[error("issuer `{0}`: no audiences")]
    NoAudiences(String),
    /// The citizen claim is empty or a claim onestop reads for itself.
    #[error("issuer `{0}`: the citizen claim must be `sub` or a private claim name")]
    BadCitizenClaim(String),
    /// [`Verifier::with_keys`] named no configured issuer.
    #[error("no issuer `{0}`")]
    UnknownIssuerId(String),
}

/// Verifies citizen tokens against the configured issuers and their keys.
/// Cheap to clone; immutable (see [`Verifier::with_keys`]).
#[derive(Debug, Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
    keys: Arc<[Arc<KeySet>]>,
}

#[derive(Debug)]
struct Shared {
    issuers: Vec<Compiled>,
    by_iss: HashMap<String, usize>,
    /// Citizen claims other than `sub`, read from every token.
    extra_claims: Vec<String>,
}

#[derive(Debug)]
struct Compiled {
    policy: Issuer,
    id: Arc<str>,
    /// `None`: the citizen claim is `sub`; else an index into `extra_claims`.
    citizen_extra: Option<usize>,
}

/// Claims onestop reads for itself; not usable as the citizen claim.
const RESERVED_CLAIMS: [&str; 7] = ["iss", "exp", "nbf", "aud", "jti", "chn", "iat"];

impl Verifier {
    /// Checks the issuers (unique ids and `iss`, at least one algorithm and
    /// audience, a usable citizen claim) and pairs each with its keys.
    pub fn new(issuers: Vec<(Issuer, Arc<KeySet>)>) -> Result<Verifier, VerifierError> {
        let mut by_iss = HashMap::with_capacity(issuers.len());
        let mut ids = HashMap::with_capacity(issuers.len());
        let mut extra_claims: Vec<String> = Vec::new();
        let mut compiled = Vec::with_capacity(issuers.len());
        let mut keys = Vec::with_capacity(issuers.len());
        for (i, (policy, key_set)) in issuers.into_iter().enumerate() {
            let id = policy.id.clone();
            if ids.insert(id.clone(), i).is_some() {
                return Err(VerifierError::DuplicateId(id));
            }
            if by_iss.insert(policy.issuer.clone(), i).is_some() {
                return Err(VerifierError::DuplicateIss(id));
            }
            if policy.algorithms.is_empty() {
                return Err(VerifierError::NoAlgorithms(id));
            }
            if policy.audiences.is_empty() {
                return Err(VerifierError::NoAudiences(id));
            }
            let claim = policy.citizen_claim.as_str();
            if claim.is_empty() || RESERVED_CLAIMS.contains(&claim) {
                return Err(VerifierError::BadCitizenClaim(id));
            }
            let citizen_extra = (claim != "sub").then(|| {
                extra_claims
                    .iter()
                    .position(|c| c == claim)
                    .unwrap_or_else(|| {
                        extra_claims.push(claim.to_string());
                        extra_claims.len() - 1
                    })
            });
            compiled.push(Compiled {
                id: Arc::from(id.as_str()),
                policy,
                citizen_extra,
            });
            keys.push(key_set);
        }
        Ok(Verifier {
            shared: Arc::new(Shared {
                issuers: compiled,
                by_iss,
                extra_claims,
            }),
            keys: keys.into(),
        })
    }

    /// A verifier like this one with issuer `issuer_id`'s keys replaced
    /// (after its JWKS file or URL was reloaded). Shares the issuers.
    pub fn with_keys(&self, issuer_id: &str, keys: Arc<KeySet>) -> Result<Verifier, VerifierError> {
        let Some(i) = self.shared.issuers.iter().position(|c| &*c.id == issuer_id) else {
            return Err(VerifierError::UnknownIssuerId(issuer_id.to_string()));
        };
        let mut all: Vec<Arc<KeySet>> = self.keys.to_vec();
        all[i] = keys;
        Ok(Verifier {
            shared: Arc::clone(&self.shared),
            keys: all.into(),
        })
    }

    /// The keys in use for issuer `issuer_id`.
    pub fn keys(&self, issuer_id: &str) -> Option<&Arc<KeySet>> {
        let i = self
            .shared
            .issuers
            .iter()
            .position(|c| &*c.id == issuer_id)?;
        self.keys.get(i)
    }

    /// The issuers' policies, in configuration order.
    pub fn issuers(&self) -> impl Iterator<Item = &Issuer> {
        self.shared.issuers.iter().map(|c| &c.policy)
    }

    /// Verifies a bearer token at time `now` (see the
    /// [module documentation](self) for the order of checks).
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Citizen, JwtError> {
        // 1. Shape.
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header_json = b64(h64)?;
        let header: Header<'_> =
            serde_json::from_slice(&header_json).map_err(|_| JwtError::Malformed)?;
        if header.crit.is_some() {
            return Err(JwtError::Malformed);
        }
        // 2. Algorithm.
        let alg = Alg::from_name(&header.alg.0).ok_or(JwtError::AlgorithmNotAllowed)?;
        let payload_json = b64(p64)?;
        let claims = parse_claims(&payload_json, &self.shared.extra_claims)
            .map_err(|_| JwtError::Malformed)?;
        // 3. Issuer, by the unverified `iss`.
        let iss = match &claims.iss {
            None => return Err(JwtError::MissingClaim("iss")),
            Some(Value::Str(s)) => s,
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
        };
        let &index = self
            .shared
            .by_iss
            .get(iss.as_ref())
            .ok_or(JwtError::UnknownIssuer)?;
        let (Some(issuer), Some(key_set)) = (self.shared.issuers.get(index), self.keys.get(index))
        else {
            return Err(JwtError::UnknownIssuer);
        };
        let policy = &issuer.policy;
        if !policy.algorithms.contains(&alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        // 4. Type.
        if !policy.typ.is_empty() {
            let Some(typ) = &header.typ else {
                return Err(JwtError::WrongType);
            };
            let typ = media_type(&typ.0);
            if !policy
                .typ
                .iter()
                .any(|t| media_type(t).eq_ignore_ascii_case(typ))
            {
                return Err(JwtError::WrongType);
            }
        }
        // 5. Key.
        let kid = match &header.kid {
            Some(kid) if !kid.0.is_empty() => kid,
            _ => return Err(JwtError::MissingKeyId),
        };
        let key = match key_set.lookup(&kid.0, alg.key_type()) {
            Lookup::Found(key) => key,
            Lookup::OtherType => return Err(JwtError::WrongKeyType),
            Lookup::Unknown => {
                return Err(JwtError::UnknownKey {
                    issuer_id: Arc::clone(&issuer.id),
                });
            }
        };
        // 6. Signature.
        if s64.is_empty() {
            return Err(JwtError::BadSignature);
        }
        let message = &token.as_bytes()[..h64.len() + 1 + p64.len()];
        match jsonwebtoken::crypto::verify(s64, message, key, alg.jwt()) {
            Ok(true) => {}
            Ok(false) => return Err(JwtError::BadSignature),
            Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => return Err(JwtError::Malformed),
            Err(_) => return Err(JwtError::BadSignature),
        }
        // 7. Time.
        let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let exp = numeric_date(claims.exp.as_ref(), "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        let expires_at = UNIX_EPOCH
            .checked_add(exp)
            .ok_or(JwtError::InvalidClaim("exp"))?;
        if now >= exp.saturating_add(policy.leeway) {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = numeric_date(claims.nbf.as_ref(), "nbf")?
            && now.saturating_add(policy.leeway) < nbf
        {
            return Err(JwtError::NotYetValid);
        }
        // 8. Audience.
        let audience_ok = match &claims.aud {
            None => return Err(JwtError::MissingClaim("aud")),
            Some(Value::Str(a)) => policy.audiences.iter().any(|w| w == a),
            Some(Value::Strs(list)) => list.iter().any(|a| policy.audiences.iter().any(|w| w == a)),
            Some(_) => return Err(JwtError::InvalidClaim("aud")),
        };
        if !audience_ok {
            return Err(JwtError::WrongAudience);
        }
        // 9. Citizen, channel, token id.
        let citizen = match issuer.citizen_extra {
            None => claims.sub.as_ref(),
            Some(i) => claims.extra.get(i).and_then(Option::as_ref),
        };
        let id = match citizen {
            None => return Err(JwtError::MissingClaim("citizen id")),
            Some(Value::Str(s)) if is_id(s) => s.to_string(),
            Some(_) => return Err(JwtError::InvalidClaim("citizen id")),
        };
        let channel = match &claims.chn {
            None => None,
            Some(Value::Str(s)) if is_id(s) => Some(s.to_string()),
            Some(_) => return Err(JwtError::InvalidClaim("chn")),
        };
        let token_id = match &claims.jti {
            None => None,
            Some(Value::Str(s)) if s.len() <= MAX_TOKEN_ID_LEN && !has_control(s) => {
                Some(s.to_string())
            }
            Some(_) => return Err(JwtError::InvalidClaim("jti")),
        };
        Ok(Citizen {
            id,
            issuer_id: issuer.id.to_string(),
            channel,
            expires_at,
            token_id,
        })
    }
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    if part.is_empty() {
        return Err(JwtError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)
}

/// A `typ` value without an `application/` prefix (RFC 7515 §4.1.9).
fn media_type(typ: &str) -> &str {
    match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, integer or not.
fn numeric_date(
    value: Option<&Value<'_>>,
    name: &'static str,
) -> Result<Option<Duration>, JwtError> {
    match value {
        None => Ok(None),
        Some(Value::Uint(secs)) => Ok(Some(Duration::from_secs(*secs))),
        Some(Value::Float(secs)) => Duration::try_from_secs_f64(*secs)
            .map(Some)
            .map_err(|_| JwtError::InvalidClaim(name)),
        Some(_) => Err(JwtError::InvalidClaim(name)),
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_ID_CHARS && !has_control(s)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
