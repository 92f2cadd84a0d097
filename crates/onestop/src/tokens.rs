//! Credentials: operator tokens and channel app keys (random, of which only
//! the SHA-256 is ever written down), the signing master key, citizen tokens
//! minted with the configuration's dev key, and departments' signing keys.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use onestop_policy::jwt::DevSigner;
use rand::RngCore as _;

/// A new operator token (`oso_` + 43 characters of base64url randomness)
/// and its lower-case hex SHA-256.
pub fn new_operator_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "oso_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = onestop_core::digest::sha256_hex(token.as_bytes());
    (token, hash)
}

/// A new channel app key (`osk_…`) and its SHA-256 (for `key_sha256`).
pub fn new_app_key() -> (String, String) {
    let key = format!("osk_{}", random_b64(24));
    let hash = onestop_core::digest::sha256_hex(key.as_bytes());
    (key, hash)
}

/// A new signing master key as hex (32 random bytes), for `[signing].key_file`.
pub fn new_signing_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The configuration at `path` and the directory its files are relative to.
fn load(path: &Path) -> anyhow::Result<(onestop_config::Config, PathBuf)> {
    let (_, config) = crate::server::load(path)?;
    Ok((config, crate::manage::config_dir(path)))
}

/// The dev signer of the configuration at `path` (`[identity.dev_key]`).
pub fn dev_signer(path: &Path) -> anyhow::Result<DevSigner> {
    let (config, dir) = load(path)?;
    let identity = &config.gateway.identity;
    let Some(key) = &identity.dev_key else {
        anyhow::bail!(
            "{} has no [identity.dev_key]: citizen tokens come from the identity provider",
            path.display()
        );
    };
    let issuer = identity
        .issuers
        .iter()
        .find(|i| i.id.get_ref() == key.issuer.get_ref())
        .context("the dev key's issuer is not configured")?;
    let file = dir.join(key.private_key_file.get_ref());
    let pem =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let audience = issuer.audiences.first().cloned().unwrap_or_default();
    DevSigner::from_pem(&pem, &key.kid, &issuer.issuer, &audience)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// Department `dept`'s signing key (hex) under the configuration's master key.
pub fn department_signing_key(path: &Path, dept: &str) -> anyhow::Result<String> {
    let (config, dir) = load(path)?;
    if !config
        .departments
        .iter()
        .any(|d| d.file.department.id.get_ref() == dept)
    {
        anyhow::bail!("unknown department `{dept}`");
    }
    let Some(file) = &config.gateway.signing.key_file else {
        anyhow::bail!("{} has no [signing].key_file", path.display());
    };
    let file = dir.join(file.get_ref());
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let master = onestop_proxy::access::signing_key(&bytes)
        .map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
    Ok(hex::encode(onestop_policy::signing::department_key(
        &master, dept,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_operator_token();
        let (b, hb) = new_operator_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(ha, onestop_core::digest::sha256_hex(a.as_bytes()));
        assert_ne!(ha, hb);
    }
}
