//! `x-request-id`: kept from the request when well-formed, minted otherwise.

/// The header every request and response carries.
pub const HEADER: &str = "x-request-id";

/// Longest request id accepted from a client.
pub const MAX_LEN: usize = 128;

/// Whether a client-supplied request id may be kept: 1–128 characters of
/// `[A-Za-z0-9._:-]`. Anything else could inject into logs or headers.
pub fn is_well_formed(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: a UUIDv7 in simple (32 hex digits) form, so ids sort by time.
pub fn generate() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The id to use for a request that arrived with `incoming`.
pub fn accept_or_generate(incoming: Option<&[u8]>) -> String {
    match incoming {
        Some(id) if is_well_formed(id) => String::from_utf8_lossy(id).into_owned(),
        _ => generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_well_formed_ids() {
        assert_eq!(accept_or_generate(Some(b"abc-123_x.y:z")), "abc-123_x.y:z");
    }

    #[test]
    fn replaces_bad_ids() {
        for bad in [
            &b""[..],
            b"has space",
            b"new\nline",
            b"\xe4\xb8\xad",
            &[b'a'; 129][..],
        ] {
            let id = accept_or_generate(Some(bad));
            assert_ne!(id.as_bytes(), bad);
            assert!(is_well_formed(id.as_bytes()));
            assert_eq!(id.len(), 32);
        }
    }

    #[test]
    fn generated_ids_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
    }
}
