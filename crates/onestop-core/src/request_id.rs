//! `x-request-id`: kept from the request when well-formed, minted otherwise.

/// The header every request and response carries.
pub const HEADER: &str = "x-request-id";

/// Longest request id other parts of the gateway accept in their own
/// inputs (e.g. a case step's recorded id).
pub const MAX_LEN: usize = 128;

/// Whether a client-supplied request id may be kept: a UUID in its
/// hyphenated form (`8-4-4-4-12` hex digits) or 32 hex digits (the form the
/// gateway mints), either case. Anything else (`attacker-id`, free text that
/// could forge log lines or collide with another request's id) is replaced;
/// the gateway logs the client's value as a separate field.
pub fn is_well_formed(id: &[u8]) -> bool {
    match id.len() {
        32 => id.iter().all(u8::is_ascii_hexdigit),
        36 => id.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        }),
        _ => false,
    }
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
    fn keeps_uuids_and_32_hex_digits() {
        for good in [
            "0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6",
            "0190F0A1-2B3C-7D4E-8F90-A1B2C3D4E5F6",
            "0190f0a12b3c7d4e8f90a1b2c3d4e5f6",
        ] {
            assert_eq!(accept_or_generate(Some(good.as_bytes())), good);
        }
    }

    #[test]
    fn replaces_bad_ids() {
        for bad in [
            &b""[..],
            b"attacker-id",
            b"abc-123_x.y:z",
            b"has space",
            b"new\nline",
            b"\xe4\xb8\xad",
            b"0190f0a12b3c7d4e8f90a1b2c3d4e5fg",
            b"0190f0a1-2b3c-7d4e-8f90a1b2-c3d4e5f6",
            b"0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6a",
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
