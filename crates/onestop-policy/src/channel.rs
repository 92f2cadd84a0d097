//! Channels: which app (super-app, mini-program, web portal) is calling,
//! from its app key (`x-onestop-app-key`), and which routes it may call.
//!
//! The gateway stores only the SHA-256 of each app key. [`ChannelSet::identify`]
//! hashes the presented key and looks the hash up (a hash map keyed by the
//! digest, then a constant-time comparison of the digest); an unknown key is
//! `None` (401 at the proxy). A channel's routes are patterns:
//!
//! - `*`: every route of every department;
//! - `dept/*`: every route of department `dept`;
//! - `dept/route`: the route with id `route` of department `dept`.
//!
//! Department and route ids are configuration ids: 1–32 characters of
//! `a`–`z`, `0`–`9` and `-`.

use std::collections::HashMap;

use onestop_core::digest::constant_time_eq;
use sha2::{Digest, Sha256};

/// One channel as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRule {
    /// Sent to departments as `x-onestop-channel`.
    pub id: String,
    /// Hex SHA-256 of the app key (64 digits).
    pub key_sha256: String,
    /// Route patterns the channel may call (see the module documentation).
    pub routes: Vec<String>,
}

impl ChannelRule {
    /// Whether the channel may call route `route` of department `dept`.
    pub fn may_call(&self, dept: &str, route: &str) -> bool {
        self.routes.iter().any(|p| pattern_matches(p, dept, route))
    }
}

/// Why a set of channels cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// `key_sha256` is not 64 hex digits.
    #[error("channel `{0}`: key_sha256 must be 64 hex digits")]
    BadKeyHash(String),
    /// Two channels have the same id.
    #[error("channel `{0}` is defined twice")]
    DuplicateId(String),
    /// Two channels have the same app key.
    #[error("channels `{0}` and `{1}` have the same app key")]
    DuplicateKey(String, String),
    /// A route pattern is not `*`, `dept/*` or `dept/route`.
    #[error("channel `{0}`: {1}")]
    BadPattern(String, String),
}

/// The configured channels, looked up by app key.
#[derive(Debug, Clone, Default)]
pub struct ChannelSet {
    rules: Vec<ChannelRule>,
    by_hash: HashMap<[u8; 32], usize>,
}

impl ChannelSet {
    /// Checks and indexes the channels: every `key_sha256` is 64 hex digits,
    /// ids and keys are unique, every route pattern passes [`check_pattern`].
    pub fn new(rules: Vec<ChannelRule>) -> Result<ChannelSet, ChannelError> {
        let mut by_hash = HashMap::with_capacity(rules.len());
        let mut ids = HashMap::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let mut hash = [0u8; 32];
            if rule.key_sha256.len() != 64
                || hex::decode_to_slice(&rule.key_sha256, &mut hash).is_err()
            {
                return Err(ChannelError::BadKeyHash(rule.id.clone()));
            }
            if ids.insert(rule.id.as_str(), i).is_some() {
                return Err(ChannelError::DuplicateId(rule.id.clone()));
            }
            if let Some(j) = by_hash.insert(hash, i) {
                return Err(ChannelError::DuplicateKey(
                    rules[j].id.clone(),
                    rule.id.clone(),
                ));
            }
            for p in &rule.routes {
                check_pattern(p).map_err(|e| ChannelError::BadPattern(rule.id.clone(), e))?;
            }
        }
        Ok(ChannelSet { rules, by_hash })
    }

    /// The channel whose app key this is, if any. An empty key is nobody's.
    pub fn identify(&self, app_key: &str) -> Option<&ChannelRule> {
        if app_key.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(app_key.as_bytes()).into();
        let &i = self.by_hash.get(&digest)?;
        let rule = self.rules.get(i)?;
        let mut stored = [0u8; 32];
        hex::decode_to_slice(&rule.key_sha256, &mut stored).ok()?;
        constant_time_eq(&stored, &digest).then_some(rule)
    }

    /// Whether any channel is configured (then every request needs a key).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The channels, in configuration order.
    pub fn rules(&self) -> &[ChannelRule] {
        &self.rules
    }
}

/// Checks a route pattern: `*`, `dept/*` or `dept/route`, where `dept` and
/// `route` are ids (1–32 characters of `a`–`z`, `0`–`9`, `-`). The error is
/// a one-line message naming the pattern.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if p == "*" {
        return Ok(());
    }
    let ok = match p.split_once('/') {
        Some((dept, route)) => is_id(dept) && (route == "*" || is_id(route)),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "route pattern `{p}` must be `*`, `dept/*` or `dept/route` (ids of a-z, 0-9 and -)"
        ))
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn pattern_matches(pattern: &str, dept: &str, route: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('/') {
        Some((d, "*")) => d == dept,
        Some((d, r)) => d == dept && r == route,
        None => false,
    }
}

#[cfg(test)]
mod tests;
