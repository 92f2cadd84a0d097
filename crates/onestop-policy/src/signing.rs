//! The gateway's signature over what it tells a department.
//!
//! A department behind onestop learns who is calling from headers the
//! gateway sets (`x-onestop-citizen`, `x-onestop-channel`, `x-request-id`).
//! The gateway removes these headers from client requests and signs the
//! ones it sets, so a department can tell them from forgeries — also from
//! another department, because each department has its own key.
//!
//! # Contract (version 1)
//!
//! **Key.** The operator holds one master key (at least 32 bytes). Department
//! `DEPT` (its id as in the configuration, e.g. `hpf`) gets
//!
//! ```text
//! dept_key = HMAC-SHA256(key = master, message = "onestop-dept-key-v1:" || DEPT)
//! ```
//!
//! (32 bytes; [`department_key`]). The department is given only `dept_key`.
//!
//! **Headers** the gateway sets on every request it forwards:
//!
//! | header | value |
//! |---|---|
//! | `x-onestop-timestamp` | Unix time in seconds, decimal ASCII, no sign, no leading zeros |
//! | `x-onestop-citizen` | the verified citizen id; absent for anonymous requests |
//! | `x-onestop-channel` | the calling channel's id; absent when no channel was identified |
//! | `x-request-id` | the request id |
//! | `x-onestop-signature` | `v1=` followed by 64 lower-case hex digits |
//!
//! **Canonical string**: seven fields joined by a single line feed (`\n`,
//! 0x0A), no trailing line feed, UTF-8:
//!
//! ```text
//! v1
//! {METHOD}
//! {path_and_query}
//! {citizen}
//! {channel}
//! {request_id}
//! {timestamp}
//! ```
//!
//! - `METHOD`: the request method exactly as on the request line (`GET`).
//! - `path_and_query`: the request target the department receives, byte for
//!   byte: the normalised path ([`crate::path`]) and, when the request has
//!   one, `?` and the query as the client sent it.
//! - `citizen`, `channel`: the header values, or the empty string when the
//!   header is absent.
//! - `request_id`: the `x-request-id` value.
//! - `timestamp`: the `x-onestop-timestamp` value.
//!
//! None of the fields contains a line feed (header values cannot, the
//! gateway refuses control characters in citizen ids and paths).
//!
//! **Signature**: `"v1=" || lower_hex(HMAC-SHA256(key = dept_key, message =
//! canonical string))`.
//!
//! **Verification** (what [`verify`] does; a department in any language
//! does the same): take the headers; rebuild the canonical string from the
//! request as received; compute the HMAC with the department key; compare
//! with the header's 64 hex digits in constant time (hex case does not
//! matter); refuse when `|now − timestamp|` exceeds the skew the
//! department allows (tens of seconds to a few minutes, depending on how
//! well its clock is kept).
//!
//! # Test vector
//!
//! ```text
//! master     = "0123456789abcdef0123456789abcdef" (32 ASCII bytes)
//! DEPT       = "hpf"
//! dept_key   = 97efe9c22cdfd9da7451bcf5a8af373b747a87f1d3967db0fbbf765845be4f2f (hex)
//! canonical  = "v1\nGET\n/api/v1/depts/hpf/accounts/me?year=2024\n11010519491231002X\nwechat\nreq-1\n1750000000"
//! signature  = v1=5145e6c78ce1f69019ed907b3d7bc1e8ffd1bdb164d582b159eeb95bfc240e1c
//! ```
//!
//! In Python:
//!
//! ```text
//! import hmac, hashlib
//! dept_key = hmac.new(master, b"onestop-dept-key-v1:" + dept.encode(), hashlib.sha256).digest()
//! canonical = "\n".join(["v1", method, path_and_query, citizen or "", channel or "",
//!                        request_id, timestamp]).encode()
//! expected = "v1=" + hmac.new(dept_key, canonical, hashlib.sha256).hexdigest()
//! ok = hmac.compare_digest(expected, header.lower()) and abs(now - int(timestamp)) <= max_skew
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-onestop-signature";
/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-onestop-timestamp";
/// The verified citizen id header.
pub const CITIZEN_HEADER: &str = "x-onestop-citizen";
/// The channel id header.
pub const CHANNEL_HEADER: &str = "x-onestop-channel";
/// Prefix of the message a department key is derived from.
pub const DEPARTMENT_KEY_CONTEXT: &str = "onestop-dept-key-v1:";
/// Prefix of a version 1 signature header value.
pub const SIGNATURE_PREFIX: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SignatureError {
    /// No signature header, or an empty one.
    #[error("the request carries no gateway signature")]
    Missing,
    /// The header is not `v1=` and 64 hex digits.
    #[error("the gateway signature is malformed")]
    Malformed,
    /// The timestamp is further from now than the allowed skew.
    #[error("the gateway signature is too old or from the future")]
    Stale,
    /// The signature does not match the request.
    #[error("the gateway signature does not match the request")]
    Mismatch,
}

/// What the gateway signs (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The request method (`GET`).
    pub method: &'a str,
    /// The request target the department receives: normalised path and query.
    pub path_and_query: &'a str,
    /// The verified citizen id, if any.
    pub citizen: Option<&'a str>,
    /// The calling channel's id, if any.
    pub channel: Option<&'a str>,
    /// The request id (`x-request-id`).
    pub request_id: &'a str,
    /// Unix time in seconds (`x-onestop-timestamp`).
    pub timestamp: u64,
}

impl Signed<'_> {
    /// The canonical string (for documentation, debugging and tests; [`sign`]
    /// feeds the same bytes to the MAC without building it).
    pub fn canonical(&self) -> String {
        format!(
            "v1\n{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path_and_query,
            self.citizen.unwrap_or(""),
            self.channel.unwrap_or(""),
            self.request_id,
            self.timestamp
        )
    }

    fn mac(&self, key: &[u8; 32]) -> HmacSha256 {
        let mut ts = itoa_buf();
        let ts = format_u64(self.timestamp, &mut ts);
        let mut mac = hmac_sha256(key);
        for part in [
            b"v1\n".as_slice(),
            self.method.as_bytes(),
            b"\n",
            self.path_and_query.as_bytes(),
            b"\n",
            self.citizen.unwrap_or("").as_bytes(),
            b"\n",
            self.channel.unwrap_or("").as_bytes(),
            b"\n",
            self.request_id.as_bytes(),
            b"\n",
            ts,
        ] {
            mac.update(part);
        }
        mac
    }
}

/// The key of department `dept`: HMAC-SHA256 keyed with the master key over
/// `"onestop-dept-key-v1:" + dept`.
pub fn department_key(master: &[u8], dept: &str) -> [u8; 32] {
    let mut mac = hmac_sha256(master);
    mac.update(DEPARTMENT_KEY_CONTEXT.as_bytes());
    mac.update(dept.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `x-onestop-signature` value for `s`: `v1=` and the lower-case hex
/// HMAC-SHA256 of the canonical string under the department key.
pub fn sign(key: &[u8; 32], s: &Signed<'_>) -> String {
    let tag = s.mac(key).finalize().into_bytes();
    let mut out = String::with_capacity(SIGNATURE_PREFIX.len() + 64);
    out.push_str(SIGNATURE_PREFIX);
    out.push_str(&hex::encode(tag));
    out
}

/// Checks an `x-onestop-signature` value against `s` (what a department
/// does; the gateway's own tests and the simulated fleet use it).
///
/// `Missing` when there is no (or an empty) header; `Malformed` when it is
/// not `v1=` and 64 hex digits; `Stale` when `|now_unix − s.timestamp| >
/// max_skew_secs`; `Mismatch` when the MAC differs (compared in constant
/// time).
pub fn verify(
    key: &[u8; 32],
    s: &Signed<'_>,
    header_value: Option<&str>,
    now_unix: u64,
    max_skew_secs: u64,
) -> Result<(), SignatureError> {
    let value = match header_value {
        None => return Err(SignatureError::Missing),
        Some(v) if v.trim().is_empty() => return Err(SignatureError::Missing),
        Some(v) => v.trim(),
    };
    let Some(digits) = value.strip_prefix(SIGNATURE_PREFIX) else {
        return Err(SignatureError::Malformed);
    };
    let mut tag = [0u8; 32];
    if digits.len() != 64 || hex::decode_to_slice(digits, &mut tag).is_err() {
        return Err(SignatureError::Malformed);
    }
    if now_unix.abs_diff(s.timestamp) > max_skew_secs {
        return Err(SignatureError::Stale);
    }
    s.mac(key)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

/// Parses an `x-onestop-timestamp` value: decimal digits only, no leading
/// zeros (what the gateway sends). Anything else is `Malformed`.
pub fn parse_timestamp(value: &str) -> Result<u64, SignatureError> {
    let canonical = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    if !canonical {
        return Err(SignatureError::Malformed);
    }
    value.parse().map_err(|_| SignatureError::Malformed)
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first), so
    // `new_from_slice` cannot fail for it.
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Writes `n` in decimal into the end of `buf` and returns those bytes.
fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests;
