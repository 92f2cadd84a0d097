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

/// A fresh request id: a UUIDv7 in simple (32 hex digits) form, so ids sort
/// by time (to the millisecond). Its 74 random bits come from the thread's
/// CSPRNG (`rand`), not from a `getrandom` system call per request as
/// `Uuid::now_v7` makes them.
pub fn generate() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let random: [u8; 10] = rand::random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .simple()
        .to_string()
}

/// The id to use for a request that arrived with `incoming`.
pub fn accept_or_generate(incoming: Option<&[u8]>) -> String {
    match incoming {
        Some(id) if is_well_formed(id) => String::from_utf8_lossy(id).into_owned(),
        _ => generate(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn generated_ids_are_version_7_uuids_of_now() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let id = uuid::Uuid::parse_str(&generate()).unwrap();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        let millis = u128::from(secs) * 1000 + u128::from(nanos / 1_000_000);
        assert!(
            (before..=after).contains(&millis),
            "{millis} not in {before}..={after}"
        );
    }
}
