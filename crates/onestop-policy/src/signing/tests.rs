#![allow(clippy::unwrap_used)]

use super::*;

const MASTER: &[u8] = b"0123456789abcdef0123456789abcdef";
const HPF_KEY: &str = "97efe9c22cdfd9da7451bcf5a8af373b747a87f1d3967db0fbbf765845be4f2f";
const VECTOR_SIG: &str = "v1=5145e6c78ce1f69019ed907b3d7bc1e8ffd1bdb164d582b159eeb95bfc240e1c";
const NOW: u64 = 1_750_000_000;

fn key() -> [u8; 32] {
    department_key(MASTER, "hpf")
}

fn request() -> Signed<'static> {
    Signed {
        method: "GET",
        path_and_query: "/api/v1/depts/hpf/accounts/me?year=2024",
        citizen: Some("11010519491231002X"),
        channel: Some("wechat"),
        request_id: "req-1",
        timestamp: NOW,
    }
}

/// The values in the module documentation, computed independently (Python
/// `hmac`), so a department in another language can check its code.
#[test]
fn documented_test_vector() {
    assert_eq!(hex::encode(key()), HPF_KEY);
    assert_eq!(
        request().canonical(),
        "v1\nGET\n/api/v1/depts/hpf/accounts/me?year=2024\n11010519491231002X\nwechat\nreq-1\n1750000000"
    );
    assert_eq!(sign(&key(), &request()), VECTOR_SIG);
    assert_eq!(
        hex::encode(department_key(MASTER, "water")),
        "4c74f66808b1fddb2fd0b8a7faffa9b0b3619ef93c5944d873fa3e2cbcf8273d"
    );
}

#[test]
fn absent_values_are_empty_fields() {
    let s = Signed {
        method: "POST",
        path_and_query: "/api/v1/catalog",
        citizen: None,
        channel: None,
        request_id: "req-2",
        timestamp: 0,
    };
    assert_eq!(s.canonical(), "v1\nPOST\n/api/v1/catalog\n\n\nreq-2\n0");
    assert_eq!(
        sign(&key(), &s),
        "v1=34ec8bacd4d011bac6d1c8b1c7e96b52bab94677d38c5c67ce322eea98c71ec3"
    );
    // `Some("")` signs the same as `None`: the header is absent either way.
    let empty = Signed {
        citizen: Some(""),
        channel: Some(""),
        ..s
    };
    assert_eq!(sign(&key(), &empty), sign(&key(), &s));
}

#[test]
fn streamed_mac_equals_mac_of_canonical_string() {
    for ts in [0, 1, 9, 10, 99, 1_750_000_000, u64::MAX] {
        let s = Signed {
            timestamp: ts,
            ..request()
        };
        let mut mac = hmac_sha256(&key());
        mac.update(s.canonical().as_bytes());
        let want = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign(&key(), &s), want, "timestamp {ts}");
    }
}

#[test]
fn verify_accepts_its_own_signature() {
    let sig = sign(&key(), &request());
    assert_eq!(verify(&key(), &request(), Some(&sig), NOW, 300), Ok(()));
    assert_eq!(
        verify(&key(), &request(), Some(&sig), NOW + 300, 300),
        Ok(())
    );
    assert_eq!(
        verify(&key(), &request(), Some(&sig), NOW - 300, 300),
        Ok(())
    );
    let upper = format!("v1={}", sig[3..].to_ascii_uppercase());
    assert_eq!(verify(&key(), &request(), Some(&upper), NOW, 300), Ok(()));
}

#[test]
fn verify_refusals() {
    let sig = sign(&key(), &request());
    let r = request();
    let k = key();
    assert_eq!(verify(&k, &r, None, NOW, 300), Err(SignatureError::Missing));
    assert_eq!(
        verify(&k, &r, Some(""), NOW, 300),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify(&k, &r, Some("  "), NOW, 300),
        Err(SignatureError::Missing)
    );
    for bad in [
        "v2=00",
        &sig[3..],
        &sig[..66],
        &format!("{sig}0"),
        &format!("v1={}", "g".repeat(64)),
        &format!("V1={}", &sig[3..]),
        &format!("v1={} ", &sig[3..65]),
    ] {
        assert_eq!(
            verify(&k, &r, Some(bad), NOW, 300),
            Err(SignatureError::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(
        verify(&k, &r, Some(&sig), NOW + 301, 300),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(&k, &r, Some(&sig), NOW - 301, 300),
        Err(SignatureError::Stale)
    );
    // Any changed field, or another department's key, is a mismatch.
    let other_dept = department_key(MASTER, "water");
    assert_eq!(
        verify(&other_dept, &r, Some(&sig), NOW, 300),
        Err(SignatureError::Mismatch)
    );
    let changed = [
        Signed {
            method: "POST",
            ..r
        },
        Signed {
            path_and_query: "/api/v1/depts/hpf/accounts/me?year=2023",
            ..r
        },
        Signed {
            citizen: Some("11010519491231003X"),
            ..r
        },
        Signed { citizen: None, ..r },
        Signed {
            channel: Some("alipay"),
            ..r
        },
        Signed { channel: None, ..r },
        Signed {
            request_id: "req-2",
            ..r
        },
        Signed {
            timestamp: NOW + 1,
            ..r
        },
        // Moving a value between fields changes the canonical string too.
        Signed {
            citizen: Some("wechat"),
            channel: Some("11010519491231002X"),
            ..r
        },
    ];
    for s in changed {
        assert_eq!(
            verify(&k, &s, Some(&sig), NOW, 300),
            Err(SignatureError::Mismatch),
            "{s:?}"
        );
    }
    let mut flipped = sig.clone().into_bytes();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        verify(&k, &r, Some(&flipped), NOW, 300),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("1750000000"), Ok(1_750_000_000));
    assert_eq!(parse_timestamp("0"), Ok(0));
    assert_eq!(parse_timestamp("18446744073709551615"), Ok(u64::MAX));
    for bad in [
        "",
        "01",
        "+1",
        "-1",
        "1.0",
        " 1",
        "18446744073709551616",
        "1e9",
    ] {
        assert_eq!(
            parse_timestamp(bad),
            Err(SignatureError::Malformed),
            "{bad:?}"
        );
    }
}

#[test]
fn header_names() {
    assert_eq!(SIGNATURE_HEADER, "x-onestop-signature");
    assert_eq!(TIMESTAMP_HEADER, "x-onestop-timestamp");
    assert_eq!(CITIZEN_HEADER, "x-onestop-citizen");
    assert_eq!(CHANNEL_HEADER, "x-onestop-channel");
}
