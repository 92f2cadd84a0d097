//! The gateway's signature on what it tells a department, checked the way a
//! department backend checks it — written from the contract, independently
//! of the gateway's code, so that the fleet tests the gateway.
//!
//! The gateway sends every department request with
//! - `x-onestop-citizen`: the verified citizen (absent for public calls),
//! - `x-onestop-channel`: the calling app's channel (absent without channels),
//! - `x-request-id`,
//! - `x-onestop-timestamp`: unix seconds,
//! - `x-onestop-signature`: `v1=<lower-hex HMAC-SHA256(dept_key, canonical)>`,
//!
//! where `dept_key = HMAC-SHA256(master_key, "onestop-dept-key-v1:" + dept)`
//! ([`department_key`]) and `canonical` is [`Signed::canonical`]:
//!
//! ```text
//! v1\nMETHOD\npath_and_query\ncitizen\nchannel\nrequest_id\ntimestamp
//! ```
//!
//! (absent values as empty strings; the method upper-case; `path_and_query`
//! exactly as on the request line, or the gRPC `:path`). A department
//! accepts a request whose signature matches and whose timestamp is within
//! the allowed skew of its own clock ([`verify`]).
//!
//! ```
//! use onestop_sim::signature::{self, Signed};
//!
//! let key = signature::department_key(b"master key of at least 32 bytes!", "hpf");
//! let request = Signed {
//!     method: "GET",
//!     path_and_query: "/api/v1/depts/hpf/accounts/me",
//!     citizen: Some("11010519491231002X"),
//!     channel: None,
//!     request_id: "req-1",
//!     timestamp: signature::unix_now(),
//! };
//! // Every header the gateway adds, signature included.
//! for (name, value) in request.headers(&key) {
//!     println!("{name}: {value}");
//! }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::http::CITIZEN_HEADER;

/// Header naming the calling app's channel.
pub const CHANNEL_HEADER: &str = "x-onestop-channel";
/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Header carrying the signing time, unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-onestop-timestamp";
/// Header carrying `v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-onestop-signature";
/// How far a timestamp may be from the department's clock, either way,
/// unless [`crate::FleetOptions::max_skew`] says otherwise.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(30);

/// Version tag: first line of the canonical string and prefix of the header.
const VERSION: &str = "v1";
/// Domain separation of department keys from other uses of the master key.
const KEY_CONTEXT: &str = "onestop-dept-key-v1:";
/// Length of a signature in hex digits.
const SIGNATURE_HEX_LEN: usize = 64;
/// Most digits a timestamp may have (`u64::MAX` has 20).
const MAX_TIMESTAMP_DIGITS: usize = 20;

type HmacSha256 = Hmac<Sha256>;

/// Why a department refuses a request's signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `x-onestop-signature` header.
    #[error("the request carries no {SIGNATURE_HEADER} header")]
    Unsigned,
    /// A signed header appears more than once: which value was signed is
    /// ambiguous.
    #[error("{0} appears more than once")]
    Repeated(&'static str),
    /// `x-onestop-timestamp` is missing or not decimal unix seconds.
    #[error("{TIMESTAMP_HEADER} is missing or not unix seconds")]
    BadTimestamp,
    /// The signature header is not `v1=` and 64 lower-case hex digits.
    #[error("{SIGNATURE_HEADER} is not v1=<64 lower-case hex digits>")]
    Malformed,
    /// The signature does not match the request (another key, or a field
    /// changed after signing).
    #[error("the signature does not match the request")]
    Mismatch,
    /// A valid signature, made too long ago or too far in the future.
    #[error(
        "signed at {timestamp}, {skew} s from the department's clock ({now}); at most {max_skew} s allowed"
    )]
    Stale {
        timestamp: u64,
        now: u64,
        skew: u64,
        max_skew: u64,
    },
}

impl SignatureError {
    /// The `x-sim-reason` a department answers with: `unsigned`,
    /// `stale-signature` or `bad-signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::Stale { .. } => "stale-signature",
            SignatureError::Repeated(_)
            | SignatureError::BadTimestamp
            | SignatureError::Malformed
            | SignatureError::Mismatch => "bad-signature",
        }
    }
}

/// What the gateway signs for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// HTTP method (upper-cased for signing); `POST` for gRPC.
    pub method: &'a str,
    /// Path plus `?query` exactly as on the request line; for gRPC the `:path`.
    pub path_and_query: &'a str,
    /// `x-onestop-citizen`, when sent.
    pub citizen: Option<&'a str>,
    /// `x-onestop-channel`, when sent.
    pub channel: Option<&'a str>,
    /// `x-request-id` (empty when none is sent).
    pub request_id: &'a str,
    /// `x-onestop-timestamp`, unix seconds.
    pub timestamp: u64,
}

impl Signed<'_> {
    /// The string the signature covers.
    pub fn canonical(&self) -> String {
        let timestamp = self.timestamp.to_string();
        let method = self.method.to_ascii_uppercase();
        let bytes = canonical([
            method.as_bytes(),
            self.path_and_query.as_bytes(),
            self.citizen.unwrap_or_default().as_bytes(),
            self.channel.unwrap_or_default().as_bytes(),
            self.request_id.as_bytes(),
            timestamp.as_bytes(),
        ]);
        // Built from `&str`s and ASCII separators only.
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The headers the gateway adds: citizen and channel (when present),
    /// request id, timestamp and signature, in that order.
    pub fn headers(&self, dept_key: &[u8; 32]) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(5);
        if let Some(citizen) = self.citizen {
            headers.push((CITIZEN_HEADER, citizen.to_owned()));
        }
        if let Some(channel) = self.channel {
            headers.push((CHANNEL_HEADER, channel.to_owned()));
        }
        headers.push((REQUEST_ID_HEADER, self.request_id.to_owned()));
        headers.push((TIMESTAMP_HEADER, self.timestamp.to_string()));
        headers.push((SIGNATURE_HEADER, sign(dept_key, self)));
        headers
    }
}

/// Department `dept`'s key: `HMAC-SHA256(master, "onestop-dept-key-v1:" + dept)`.
pub fn department_key(master: &[u8], dept: &str) -> [u8; 32] {
    let mut mac = hmac(master);
    mac.update(KEY_CONTEXT.as_bytes());
    mac.update(dept.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `x-onestop-signature` value for `request`: `v1=<lower-hex HMAC>`.
pub fn sign(dept_key: &[u8; 32], request: &Signed<'_>) -> String {
    let mut mac = hmac(dept_key);
    mac.update(request.canonical().as_bytes());
    format!("{VERSION}={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the signature of a request as a department receives it:
/// `method`, `path_and_query` from the request line (or `:path`) and the
/// headers. The MAC is compared in constant time first; only an authentic
/// request can then be [`SignatureError::Stale`] (more than `max_skew`
/// whole seconds from `now`, either way).
pub fn verify(
    dept_key: &[u8; 32],
    max_skew: Duration,
    now: u64,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Result<(), SignatureError> {
    let signature = single(headers, SIGNATURE_HEADER)?.ok_or(SignatureError::Unsigned)?;
    let citizen = single(headers, CITIZEN_HEADER)?;
    let channel = single(headers, CHANNEL_HEADER)?;
    let request_id = single(headers, REQUEST_ID_HEADER)?;
    let timestamp_raw = single(headers, TIMESTAMP_HEADER)?.ok_or(SignatureError::BadTimestamp)?;
    let timestamp = parse_timestamp(timestamp_raw.as_bytes())?;
    let expected = parse_signature(signature.as_bytes())?;

    let method = method.to_ascii_uppercase();
    let message = canonical([
        method.as_bytes(),
        path_and_query.as_bytes(),
        citizen.map_or(&[][..], HeaderValue::as_bytes),
        channel.map_or(&[][..], HeaderValue::as_bytes),
        request_id.map_or(&[][..], HeaderValue::as_bytes),
        timestamp_raw.as_bytes(),
    ]);
    let mut mac = hmac(dept_key);
    mac.update(&message);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)?;

    let skew = now.abs_diff(timestamp);
    let max_skew = max_skew.as_secs();
    if skew > max_skew {
        return Err(SignatureError::Stale {
            timestamp,
            now,
            skew,
            max_skew,
        });
    }
    Ok(())
}

/// Seconds since the unix epoch by the system clock (0 before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A department's key, never shown in logs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DeptKey(pub [u8; 32]);

impl std::fmt::Debug for DeptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeptKey(..)")
    }
}

/// What one instance checks on every request but health checks.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub key: DeptKey,
    pub max_skew: Duration,
}

/// Marks a request whose signature the instance verified (request
/// extension, read by `echo`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verified;

impl Guard {
    pub fn new(master: &[u8], dept: &str, max_skew: Duration) -> Guard {
        Guard {
            key: DeptKey(department_key(master, dept)),
            max_skew,
        }
    }

    /// [`verify`] against the department's key and the clock now.
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Result<(), SignatureError> {
        verify(
            &self.key.0,
            self.max_skew,
            unix_now(),
            method,
            path_and_query,
            headers,
        )
    }
}

/// `v1\n` and the six fields, newline-separated. Header values and request
/// targets cannot contain a newline, so the fields cannot run together.
fn canonical(fields: [&[u8]; 6]) -> Vec<u8> {
    let len = VERSION.len() + fields.iter().map(|f| f.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(VERSION.as_bytes());
    for field in fields {
        out.push(b'\n');
        out.extend_from_slice(field);
    }
    out
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first).
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The header's only value, if any; a repeated header is an error.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h HeaderValue>, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(SignatureError::Repeated(name));
    }
    Ok(first)
}

/// Decimal digits only (no sign, no spaces), fitting a `u64`.
fn parse_timestamp(raw: &[u8]) -> Result<u64, SignatureError> {
    if raw.is_empty() || raw.len() > MAX_TIMESTAMP_DIGITS || !raw.iter().all(u8::is_ascii_digit) {
        return Err(SignatureError::BadTimestamp);
    }
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(SignatureError::BadTimestamp)
}

/// `v1=` and exactly 64 lower-case hex digits, decoded.
fn parse_signature(raw: &[u8]) -> Result<[u8; 32], SignatureError> {
    let hex_digits = raw
        .strip_prefix(VERSION.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"="))
        .filter(|h| {
            h.len() == SIGNATURE_HEX_LEN && h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .ok_or(SignatureError::Malformed)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
