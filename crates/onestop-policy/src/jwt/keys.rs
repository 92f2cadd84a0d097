//! Verification keys from a JWKS document (RFC 7517), by `kid` and key type.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::Alg;

/// Most keys a JWKS document may hold.
pub const MAX_KEYS: usize = 100;

/// The type of a verification key; each fits exactly one [`Alg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `kty: RSA`, 2048–4096 bits: RS256.
    Rsa,
    /// `kty: EC`, `crv: P-256`: ES256.
    P256,
    /// `kty: OKP`, `crv: Ed25519`: EdDSA.
    Ed25519,
}

impl KeyType {
    /// The algorithm a key of this type verifies.
    pub fn alg(self) -> Alg {
        match self {
            KeyType::Rsa => Alg::RS256,
            KeyType::P256 => Alg::ES256,
            KeyType::Ed25519 => Alg::EdDSA,
        }
    }

    fn index(self) -> usize {
        match self {
            KeyType::Rsa => 0,
            KeyType::P256 => 1,
            KeyType::Ed25519 => 2,
        }
    }
}

/// A key of the document that was left out, and why (for a log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the document's `keys` array.
    pub index: usize,
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// Why it was left out.
    pub reason: &'static str,
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON of the form `{"keys": [...]}`.
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    /// More than [`MAX_KEYS`] keys.
    #[error("the JWKS document holds more than {MAX_KEYS} keys")]
    TooManyKeys,
    /// A symmetric (`kty: oct`) key: HMAC keys are never accepted.
    #[error("key #{index}: symmetric (`oct`) keys are not accepted")]
    SymmetricKey {
        /// Position in `keys`.
        index: usize,
    },
    /// A private key (`d` present) published as a verification key.
    #[error("key #{index}: a private key (`d`) must not be published")]
    PrivateKey {
        /// Position in `keys`.
        index: usize,
    },
    /// The key's `alg` does not fit its type (an RSA key for `ES256`).
    #[error("key #{index}: `alg` {alg} does not fit key type {kty}")]
    AlgorithmMismatch {
        /// Position in `keys`.
        index: usize,
        /// The key's `alg`.
        alg: String,
        /// The key's `kty` (and `crv`).
        kty: String,
    },
    /// The key material is missing, mis-encoded or unusable.
    #[error("key #{index}: {reason}")]
    InvalidKey {
        /// Position in `keys`.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two usable keys with the same `kid` and type.
    #[error("two keys of the same type have kid `{kid}`")]
    DuplicateKey {
        /// The `kid`.
        kid: String,
    },
}

/// Verification keys of one issuer, by `kid` and type.
///
/// A `kid` may name one key of each type (during an algorithm change). A
/// token's `alg` picks the type, and its `kid` the key; no other key is
/// tried.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, [Option<DecodingKey>; 3]>,
    skipped: Vec<SkippedKey>,
}

/// The outcome of looking a key up.
pub(crate) enum Lookup<'a> {
    Found(&'a DecodingKey),
    /// The `kid` is known, but not for this type.
    OtherType,
    Unknown,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// Reads a JWKS document.
    ///
    /// Keys are left out (see [`KeySet::skipped`]) when their `use` is not
    /// `sig`, their `key_ops` lack `verify`, they have no `kid`, or their
    /// type, curve or `alg` is one onestop does not verify (RSA-PSS, RS384,
    /// P-384, X25519, …). The document is refused when it holds a symmetric
    /// (`oct`) key, a private key, a key whose `alg` does not fit its type,
    /// unusable key material (RSA below 2048 or above 4096 bits, an EC point
    /// off the curve, a weak Ed25519 key), two keys with the same `kid` and
    /// type, or more than [`MAX_KEYS`] keys.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, JwksError> {
        let doc: JwksDoc =
            serde_json::from_slice(json).map_err(|e| JwksError::NotJwks(e.to_string()))?;
        if doc.keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys);
        }
        let mut set = KeySet::new();
        for (index, jwk) in doc.keys.iter().enumerate() {
            match parse_jwk(index, jwk)? {
                Parsed::Key(kid, kty, key) => set.insert(kid, kty, key)?,
                Parsed::Skip(reason) => set.skipped.push(SkippedKey {
                    index,
                    kid: jwk.kid.clone(),
                    reason,
                }),
            }
        }
        Ok(set)
    }

    /// Adds the keys of `other` (e.g. the development key to its issuer's
    /// keys). A `kid` and type present in both is an error.
    pub fn extend(&mut self, other: KeySet) -> Result<(), JwksError> {
        for (kid, slots) in other.keys {
            for (i, key) in slots.into_iter().enumerate() {
                if let Some(key) = key {
                    let kty = [KeyType::Rsa, KeyType::P256, KeyType::Ed25519][i];
                    self.insert(kid.clone(), kty, key)?;
                }
            }
        }
        self.skipped.extend(other.skipped);
        Ok(())
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.values().flatten().filter(|k| k.is_some()).count()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a key with this `kid` and type is present.
    pub fn contains(&self, kid: &str, kty: KeyType) -> bool {
        matches!(self.lookup(kid, kty), Lookup::Found(_))
    }

    /// The `kid`s of the usable keys, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// Keys of the document that were left out, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub(crate) fn insert_ed25519(&mut self, kid: String, public: &[u8; 32]) {
        let slots = self.keys.entry(kid).or_default();
        slots[KeyType::Ed25519.index()] = Some(DecodingKey::from_ed_der(public));
    }

    pub(crate) fn lookup(&self, kid: &str, kty: KeyType) -> Lookup<'_> {
        match self.keys.get(kid) {
            None => Lookup::Unknown,
            Some(slots) => match &slots[kty.index()] {
                Some(key) => Lookup::Found(key),
                None => Lookup::OtherType,
            },
        }
    }

    fn insert(&mut self, kid: String, kty: KeyType, key: DecodingKey) -> Result<(), JwksError> {
        if let Some(slots) = self.keys.get(&kid)
            && slots[kty.index()].is_some()
        {
            return Err(JwksError::DuplicateKey { kid });
        }
        self.keys.entry(kid).or_default()[kty.index()] = Some(key);
        Ok(())
    }
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<Jwk>,
}

/// The JWK members onestop reads; others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<serde::de::IgnoredAny>,
}

enum Parsed {
    Key(String, KeyType, DecodingKey),
    Skip(&'static str),
}

fn parse_jwk(index: usize, jwk: &Jwk) -> Result<Parsed, JwksError> {
    let invalid = |reason| JwksError::InvalidKey { index, reason };
    let Some(kty) = jwk.kty.as_deref() else {
        return Err(invalid("no `kty`"));
    };
    if kty == "oct" {
        return Err(JwksError::SymmetricKey { index });
    }
    if jwk.d.is_some() {
        return Err(JwksError::PrivateKey { index });
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Ok(Parsed::Skip("`use` is not `sig`"));
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
    {
        return Ok(Parsed::Skip("`key_ops` lacks `verify`"));
    }
    let kind = match (kty, jwk.crv.as_deref()) {
        ("RSA", _) => KeyType::Rsa,
        ("EC", Some("P-256")) => KeyType::P256,
        ("OKP", Some("Ed25519")) => KeyType::Ed25519,
        ("EC" | "OKP", None) => return Err(invalid("no `crv`")),
        ("EC" | "OKP", Some(_)) => return Ok(Parsed::Skip("curve not supported")),
        _ => return Ok(Parsed::Skip("key type not supported")),
    };
    if let Some(alg) = jwk.alg.as_deref() {
        match alg_fit(kind, alg) {
            Fit::Yes => {}
            Fit::Unsupported => return Ok(Parsed::Skip("`alg` not supported")),
            Fit::No => {
                return Err(JwksError::AlgorithmMismatch {
                    index,
                    alg: alg.to_string(),
                    kty: match &jwk.crv {
                        Some(crv) => format!("{kty}/{crv}"),
                        None => kty.to_string(),
                    },
                });
            }
        }
    }
    let Some(kid) = jwk.kid.as_deref().filter(|k| !k.is_empty()) else {
        return Ok(Parsed::Skip("no `kid`"));
    };
    let b64 = |field: &Option<String>, name: &'static str| -> Result<Vec<u8>, JwksError> {
        let text = field.as_deref().ok_or(invalid(name))?;
        URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid(name))
    };
    let key = match kind {
        KeyType::Rsa => {
            let n = b64(&jwk.n, "`n` missing or not base64url")?;
            let e = b64(&jwk.e, "`e` missing or not base64url")?;
            rsa_key(&n, &e).map_err(invalid)?
        }
        KeyType::P256 => {
            let x = b64(&jwk.x, "`x` missing or not base64url")?;
            let y = b64(&jwk.y, "`y` missing or not base64url")?;
            if x.len() != 32 || y.len() != 32 {
                return Err(invalid("P-256 coordinates must be 32 bytes"));
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = DecodingKey::from_ec_der(&point);
            // Building the verifier checks that the point is on the curve.
            if jsonwebtoken::crypto::verify(PROBE_SIGNATURE, b"probe", &key, Alg::ES256.jwt())
                .is_err()
            {
                return Err(invalid("the EC point is not on P-256"));
            }
            key
        }
        KeyType::Ed25519 => {
            let x = b64(&jwk.x, "`x` missing or not base64url")?;
            let Ok(x) = <[u8; 32]>::try_from(x.as_slice()) else {
                return Err(invalid("an Ed25519 key must be 32 bytes"));
            };
            match ed25519_dalek::VerifyingKey::from_bytes(&x) {
                Ok(vk) if !vk.is_weak() => DecodingKey::from_ed_der(&x),
                Ok(_) => return Err(invalid("weak Ed25519 key")),
                Err(_) => return Err(invalid("not an Ed25519 point")),
            }
        }
    };
    Ok(Parsed::Key(kid.to_string(), kind, key))
}

/// 64 zero bytes, base64url: a signature no key verifies.
const PROBE_SIGNATURE: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

enum Fit {
    Yes,
    Unsupported,
    No,
}

fn alg_fit(kind: KeyType, alg: &str) -> Fit {
    match (kind, alg) {
        (KeyType::Rsa, "RS256") | (KeyType::P256, "ES256") => Fit::Yes,
        (KeyType::Ed25519, "EdDSA" | "Ed25519") => Fit::Yes,
        (KeyType::Rsa, "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => Fit::Unsupported,
        (_, "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => Fit::No,
        (_, "ES256" | "ES384" | "ES512" | "ES256K" | "EdDSA" | "Ed25519" | "Ed448") => Fit::No,
        (_, a) if a.starts_with("HS") || a == "none" => Fit::No,
        _ => Fit::Unsupported,
    }
}

/// An RSA public key of 2048–4096 bits with an odd exponent of 3 to
/// 2^33 − 1 (what the verifier accepts).
fn rsa_key(n: &[u8], e: &[u8]) -> Result<DecodingKey, &'static str> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    let bits = match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    if !(2048..=4096).contains(&bits) {
        return Err("an RSA modulus must have 2048 to 4096 bits");
    }
    if n.last().is_none_or(|b| b % 2 == 0) {
        return Err("an RSA modulus must be odd");
    }
    let exponent = if e.len() <= 8 {
        e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    } else {
        u64::MAX
    };
    if !(3..=(1 << 33) - 1).contains(&exponent) || exponent % 2 == 0 {
        return Err("the RSA exponent must be odd, from 3 to 2^33 - 1");
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}
