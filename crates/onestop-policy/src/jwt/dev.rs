//! The development signer: mints citizen tokens for the demo and
//! `onestop token citizen` with an Ed25519 key. Never configure one in
//! production.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::KeySet;

/// The DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410): the 32-byte
/// seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why a development key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevKeyError {
    /// The PEM is not a PKCS#8 Ed25519 private key.
    #[error("the development key must be an Ed25519 private key in PKCS#8 PEM")]
    NotEd25519,
    /// `kid`, issuer or audience is empty.
    #[error("the development key needs a non-empty {0}")]
    Empty(&'static str),
}

/// Mints EdDSA citizen tokens (see [`DevSigner::mint`]).
pub struct DevSigner {
    key: SigningKey,
    kid: String,
    issuer: String,
    audience: String,
    minted: AtomicU64,
}

impl fmt::Debug for DevSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl DevSigner {
    /// A signer from an Ed25519 private key in PKCS#8 PEM (`-----BEGIN
    /// PRIVATE KEY-----`, as `openssl genpkey -algorithm ED25519` writes
    /// it). Tokens name `kid`, carry `iss: issuer` and `aud: audience`.
    pub fn from_pem(
        pem: &str,
        kid: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<DevSigner, DevKeyError> {
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|_| DevKeyError::NotEd25519)?;
        DevSigner::with_key(key, kid, issuer, audience)
    }

    /// A new random key (from the operating system's generator, through
    /// `rand`'s thread-local CSPRNG) and its PKCS#8 PEM, for the demo.
    pub fn generate(
        kid: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<(DevSigner, String), DevKeyError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        let key = SigningKey::from_bytes(&seed);
        let pem = pkcs8_pem(&seed);
        seed.fill(0);
        Ok((DevSigner::with_key(key, kid, issuer, audience)?, pem))
    }

    fn with_key(
        key: SigningKey,
        kid: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<DevSigner, DevKeyError> {
        for (value, name) in [(kid, "kid"), (issuer, "issuer"), (audience, "audience")] {
            if value.is_empty() {
                return Err(DevKeyError::Empty(name));
            }
        }
        Ok(DevSigner {
            key,
            kid: kid.to_string(),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            minted: AtomicU64::new(0),
        })
    }

    /// A token for `citizen` (and `channel`, as the `chn` claim), valid from
    /// `now` for `ttl`: header `{"alg":"EdDSA","kid":…,"typ":"JWT"}`, claims
    /// `aud`, `chn` (if given), `exp`, `iat`, `iss`, `jti`, `nbf`, `sub`.
    /// Times are whole seconds; `jti` is derived from the key, the citizen,
    /// `now` and a counter, so tokens are reproducible in tests.
    pub fn mint(
        &self,
        citizen: &str,
        channel: Option<&str>,
        ttl: Duration,
        now: SystemTime,
    ) -> String {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let iat = now.as_secs();
        let exp = iat.saturating_add(ttl.as_secs());
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.key.verifying_key().as_bytes());
        h.update((citizen.len() as u64).to_be_bytes());
        h.update(citizen.as_bytes());
        h.update(now.as_nanos().to_be_bytes());
        h.update(n.to_be_bytes());
        let jti = hex::encode(&h.finalize()[..16]);

        let header = serde_json::json!({ "alg": "EdDSA", "kid": self.kid, "typ": "JWT" });
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": citizen,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "jti": jti,
        });
        if let (Some(chn), Some(map)) = (channel, claims.as_object_mut()) {
            map.insert("chn".into(), chn.into());
        }
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        token
    }

    /// The `kid` of the tokens it mints.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `iss` of the tokens it mints.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key as a JWK (`kty: OKP`, `crv: Ed25519`, `use: sig`,
    /// `alg: EdDSA`, `kid`, `x`).
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        })
    }

    /// A JWKS document holding [`DevSigner::public_jwk`].
    pub fn jwks(&self) -> String {
        serde_json::json!({ "keys": [self.public_jwk()] }).to_string()
    }

    /// A key set holding the public key, to add to the issuer's keys
    /// ([`KeySet::extend`]).
    pub fn key_set(&self) -> KeySet {
        let mut set = KeySet::new();
        set.insert_ed25519(self.kid.clone(), self.key.verifying_key().as_bytes());
        set
    }
}

/// A PKCS#8 v1 PEM of an Ed25519 seed (what `openssl genpkey` writes).
fn pkcs8_pem(seed: &[u8; 32]) -> String {
    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PKCS8_ED25519_PREFIX);
    der.extend_from_slice(seed);
    let body = STANDARD.encode(&der);
    der.fill(0);
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}
