//! The bodies of the fuzz targets (`fuzz/`), shared with the unit tests
//! that run the seed corpora, so both exercise the same checks.
//!
//! Not part of the stable API.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::jwt::{Alg, Issuer, JwtError, KeySet, Verifier};
use crate::path::{MAX_PATH_LEN, PathError, normalize, variants};

/// The public test keys (`tests/fixtures/jwks.json`: kids `rsa-1`, `ec-1`,
/// `ed-1`).
pub const TEST_JWKS: &str = include_str!("../tests/fixtures/jwks.json");
/// The `iss` of [`test_verifier`]'s issuer.
pub const TEST_ISS: &str = "https://id.gov.example";
/// The audience of [`test_verifier`]'s issuer.
pub const TEST_AUD: &str = "onestop";
/// The time [`jwt_parse`] verifies at (Unix seconds).
pub const TEST_NOW: u64 = 1_750_000_000;

/// The outcome of [`normalize_path`] on one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOutcome {
    /// The input as sent (`None` when it is not UTF-8).
    pub as_sent: Option<Result<String, PathError>>,
    /// The input with a `/` in front (`None` when it is not UTF-8).
    pub rooted: Option<Result<String, PathError>>,
}

/// Normalises arbitrary bytes as a path, as sent and with a leading `/`,
/// and checks every accepted output with [`check_normalize`].
pub fn normalize_path(data: &[u8]) -> PathOutcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return PathOutcome {
            as_sent: None,
            rooted: None,
        };
    };
    let rooted = format!("/{text}");
    PathOutcome {
        as_sent: Some(check_normalize(text)),
        rooted: Some(check_normalize(&rooted)),
    }
}

/// Normalises `input` and, when it is accepted, panics unless the output
/// keeps every promise of [`crate::path`]: it starts with `/`, fits
/// [`MAX_PATH_LEN`], has no empty, `.` or `..` segment inside, no `\`, `;`,
/// `?`, `#`, control or non-ASCII character, only upper-case escapes of
/// characters that must stay escaped, no double encoding, decodes to valid
/// UTF-8, and normalises to itself (borrowed). Short outputs also check
/// that every spelling from [`variants`] normalises to them.
pub fn check_normalize(input: &str) -> Result<String, PathError> {
    let normalized = normalize(input)?;
    let unchanged = normalized.is_unchanged();
    let out = normalized.into_string();
    if unchanged {
        assert_eq!(out, input, "a borrowed result is the input");
    }
    assert!(out.starts_with('/'), "{out:?} does not start with /");
    assert!(out.len() <= MAX_PATH_LEN, "{input:?}: output too long");
    let inner = &out[1..];
    let segments: Vec<&str> = inner.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        assert!(
            !seg.is_empty() || last,
            "{input:?} → {out:?} has an empty segment"
        );
        assert!(
            *seg != "." && *seg != "..",
            "{input:?} → {out:?} has a dot segment"
        );
    }
    for bad in ["//", "/./", "/../", "\\", ";", "?", "#"] {
        assert!(!out.contains(bad), "{input:?} → {out:?} contains {bad:?}");
    }
    let bytes = out.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        assert!(
            b.is_ascii() && !b.is_ascii_control(),
            "{input:?} → {out:?}: raw byte {b:#x}"
        );
        if b == b'%' {
            let hex = out.get(i + 1..i + 3).unwrap_or("");
            assert!(
                hex.len() == 2
                    && hex
                        .bytes()
                        .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h)),
                "{input:?} → {out:?}: escape %{hex} is not upper-case hex"
            );
            let v = u8::from_str_radix(hex, 16).unwrap_or_default();
            assert!(
                !(v.is_ascii_alphanumeric() || b"-._~/\\;".contains(&v) || v < 0x20 || v == 0x7f),
                "{input:?} → {out:?}: %{hex} must not stay escaped"
            );
            if v == b'%' {
                let next = out.get(i + 3..i + 5).unwrap_or("");
                assert!(
                    !(next.len() == 2 && next.bytes().all(|h| h.is_ascii_hexdigit())),
                    "{input:?} → {out:?}: double encoding"
                );
            }
            decoded.push(v);
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    assert!(
        std::str::from_utf8(&decoded).is_ok(),
        "{input:?} → {out:?} does not decode to UTF-8"
    );
    let again = normalize(&out);
    assert_eq!(
        again.as_ref().map(|n| n.as_str()),
        Ok(out.as_str()),
        "{input:?} → {out:?} is not a fixed point"
    );
    assert!(again.is_ok_and(|n| n.is_unchanged()), "{out:?} was rebuilt");
    if out.len() <= 24 {
        for spelling in variants(&out) {
            assert_eq!(
                normalize(&spelling).map(|n| n.into_string()),
                Ok(out.clone()),
                "spelling {spelling:?} of {out:?}"
            );
        }
    }
    Ok(out)
}

/// The verifier of the `jwt_parse` target: one issuer ([`TEST_ISS`],
/// audience [`TEST_AUD`], `RS256`, `ES256`, `EdDSA`, leeway 30 s, `typ`
/// `JWT`, citizen claim `sub`) with the keys of [`TEST_JWKS`].
pub fn test_verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys = match KeySet::from_jwks(TEST_JWKS.as_bytes()) {
            Ok(keys) => keys,
            Err(e) => panic!("the test JWKS is valid: {e}"),
        };
        let issuer = Issuer {
            id: "test".into(),
            issuer: TEST_ISS.into(),
            audiences: vec![TEST_AUD.into()],
            algorithms: vec![Alg::RS256, Alg::ES256, Alg::EdDSA],
            leeway: Duration::from_secs(30),
            typ: vec!["JWT".into()],
            citizen_claim: "sub".into(),
        };
        match Verifier::new(vec![(issuer, Arc::new(keys))]) {
            Ok(v) => v,
            Err(e) => panic!("the test issuer is valid: {e}"),
        }
    })
}

/// Verifies arbitrary bytes as a token (lossily made UTF-8) and, when the
/// input has line feeds, also as `header\nclaims\nsignature` with each part
/// base64url-encoded — so the fuzzer reaches the JSON parsers. Panics if
/// either is accepted: no input without a real signature may pass. Returns
/// the error for the raw token.
pub fn jwt_parse(data: &[u8]) -> JwtError {
    let v = test_verifier();
    let now = UNIX_EPOCH + Duration::from_secs(TEST_NOW);
    let raw = String::from_utf8_lossy(data);
    let error = refuse(v, &raw, now);
    if data.contains(&b'\n') {
        let mut parts = data.splitn(3, |&b| b == b'\n');
        let header = parts.next().unwrap_or_default();
        let claims = parts.next().unwrap_or_default();
        let signature = parts.next().unwrap_or_default();
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(signature)
        );
        refuse(v, &token, now);
    }
    error
}

fn refuse(v: &Verifier, token: &str, now: SystemTime) -> JwtError {
    match v.verify(token, now) {
        Ok(citizen) => panic!("accepted {token:?} as {citizen:?}"),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty() && !message.contains('\n'));
            e
        }
    }
}

#[cfg(test)]
mod tests;
