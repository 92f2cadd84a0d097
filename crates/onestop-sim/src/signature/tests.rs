//! Known answers (computed with Python's `hmac`, independently of this
//! code) and every way a signature is refused.

#![allow(clippy::unwrap_used)]

use axum::http::HeaderMap;

use super::*;

const MASTER: &[u8] = b"onestop test master key, 32 bytes+";
const NOW: u64 = 1_763_800_000;

fn request() -> Signed<'static> {
    Signed {
        method: "GET",
        path_and_query: "/api/v1/depts/hpf/accounts/me?x=1",
        citizen: Some("11010519491231002X"),
        channel: Some("wechat"),
        request_id: "req-1",
        timestamp: NOW,
    }
}

fn header_map(headers: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, value.parse().unwrap());
    }
    map
}

fn check(headers: &HeaderMap, method: &str, path: &str, now: u64) -> Result<(), SignatureError> {
    verify(
        &department_key(MASTER, "hpf"),
        DEFAULT_MAX_SKEW,
        now,
        method,
        path,
        headers,
    )
}

#[test]
fn known_answers() {
    assert_eq!(
        hex::encode(department_key(MASTER, "hpf")),
        "7c100f8838642510d9dcd4447034f0233e43d4420f5c9ccf0d62f4f9ff31aa38"
    );
    assert_eq!(
        hex::encode(department_key(MASTER, "traffic")),
        "4816d6f3a73edd975b83faffcff00f81a1e8fb4febee3357af7e3f9befe31eea"
    );
    assert_eq!(
        request().canonical(),
        "v1\nGET\n/api/v1/depts/hpf/accounts/me?x=1\n11010519491231002X\nwechat\nreq-1\n1763800000"
    );
    assert_eq!(
        sign(&department_key(MASTER, "hpf"), &request()),
        "v1=fc7bee1d2c8307a21adae7749c3222110caa430bfa102342d633475a6de4fb7a"
    );
    // Absent values are empty lines; the method is upper-cased.
    let grpc = Signed {
        method: "post",
        path_and_query: "/onestop.sim.traffic.v1.TrafficPolice/GetLicence",
        citizen: None,
        channel: None,
        request_id: "",
        timestamp: NOW,
    };
    assert_eq!(
        grpc.canonical(),
        "v1\nPOST\n/onestop.sim.traffic.v1.TrafficPolice/GetLicence\n\n\n\n1763800000"
    );
    assert_eq!(
        sign(&department_key(MASTER, "traffic"), &grpc),
        "v1=53678c2197f019386df769adf60a811af86ed4acdd12074f8d77a0ee5f886de9"
    );
}

#[test]
fn headers_carry_every_signed_field() {
    let key = department_key(MASTER, "hpf");
    let headers = request().headers(&key);
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            CITIZEN_HEADER,
            CHANNEL_HEADER,
            REQUEST_ID_HEADER,
            TIMESTAMP_HEADER,
            SIGNATURE_HEADER
        ]
    );
    assert_eq!(headers[3].1, "1763800000");
    let map = header_map(&headers);
    assert_eq!(
        check(&map, "GET", "/api/v1/depts/hpf/accounts/me?x=1", NOW),
        Ok(())
    );
    // The method's case does not matter (it is signed upper-case).
    assert_eq!(
        check(&map, "get", "/api/v1/depts/hpf/accounts/me?x=1", NOW),
        Ok(())
    );
}

#[test]
fn every_field_is_covered() {
    let key = department_key(MASTER, "hpf");
    let path = "/api/v1/depts/hpf/accounts/me?x=1";
    let good = request().headers(&key);
    let with = |name: &'static str, value: &str| {
        let mut headers = good.clone();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.to_owned()));
        header_map(&headers)
    };
    let without = |name: &'static str| {
        let mut headers = good.clone();
        headers.retain(|(n, _)| *n != name);
        header_map(&headers)
    };
    let mismatch = Err(SignatureError::Mismatch);
    assert_eq!(check(&header_map(&good), "POST", path, NOW), mismatch);
    for other in [
        "/api/v1/depts/hpf/accounts/me?x=2",
        "/api/v1/depts/hpf/accounts/me",
        "/api/v1/depts/hpf/accounts/ME?x=1",
        "/api/v1/depts/hpf/accounts/me/?x=1",
    ] {
        assert_eq!(
            check(&header_map(&good), "GET", other, NOW),
            mismatch,
            "{other}"
        );
    }
    for (name, value) in [
        (CITIZEN_HEADER, "11010519491231003X"),
        (CITIZEN_HEADER, ""),
        (CHANNEL_HEADER, "alipay"),
        (REQUEST_ID_HEADER, "req-2"),
        (TIMESTAMP_HEADER, "1763800001"),
    ] {
        assert_eq!(
            check(&with(name, value), "GET", path, NOW),
            mismatch,
            "{name}: {value}"
        );
    }
    for name in [CITIZEN_HEADER, CHANNEL_HEADER, REQUEST_ID_HEADER] {
        assert_eq!(
            check(&without(name), "GET", path, NOW),
            mismatch,
            "without {name}"
        );
    }
    // Another department's key, another master key.
    let other_dept = request().headers(&department_key(MASTER, "hrss"));
    assert_eq!(check(&header_map(&other_dept), "GET", path, NOW), mismatch);
    let other_master = request().headers(&department_key(b"another master key", "hpf"));
    assert_eq!(
        check(&header_map(&other_master), "GET", path, NOW),
        mismatch
    );
}

#[test]
fn malformed_headers_are_refused_with_a_reason() {
    let key = department_key(MASTER, "hpf");
    let path = "/api/v1/depts/hpf/accounts/me?x=1";
    let good = request().headers(&key);
    let signature = good[4].1.clone();
    let replaced = |name: &'static str, value: Option<&str>| {
        let mut headers = good.clone();
        headers.retain(|(n, _)| *n != name);
        if let Some(value) = value {
            headers.push((name, value.to_owned()));
        }
        header_map(&headers)
    };
    let cases: Vec<(HeaderMap, SignatureError)> = vec![
        (replaced(SIGNATURE_HEADER, None), SignatureError::Unsigned),
        (
            replaced(TIMESTAMP_HEADER, None),
            SignatureError::BadTimestamp,
        ),
        (
            replaced(TIMESTAMP_HEADER, Some("")),
            SignatureError::BadTimestamp,
        ),
        (
            replaced(TIMESTAMP_HEADER, Some("+1763800000")),
            SignatureError::BadTimestamp,
        ),
        (
            replaced(TIMESTAMP_HEADER, Some("1763800000.5")),
            SignatureError::BadTimestamp,
        ),
        (
            replaced(TIMESTAMP_HEADER, Some("99999999999999999999")),
            SignatureError::BadTimestamp,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&signature.to_uppercase())),
            SignatureError::Malformed,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&signature.replace("v1=", "v2="))),
            SignatureError::Malformed,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&signature[..66])),
            SignatureError::Malformed,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&format!("{signature}0"))),
            SignatureError::Malformed,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&signature[3..])),
            SignatureError::Malformed,
        ),
        (
            replaced(SIGNATURE_HEADER, Some(&format!("v1={}", "0".repeat(64)))),
            SignatureError::Mismatch,
        ),
    ];
    for (headers, expected) in cases {
        assert_eq!(
            check(&headers, "GET", path, NOW),
            Err(expected.clone()),
            "{headers:?}"
        );
    }
    // Two values of one signed header: which one was signed?
    for name in [CITIZEN_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER] {
        let mut headers = header_map(&good);
        let value = headers[name].clone();
        headers.append(name, value);
        assert_eq!(
            check(&headers, "GET", path, NOW),
            Err(SignatureError::Repeated(name))
        );
    }
    assert_eq!(SignatureError::Unsigned.reason(), "unsigned");
    assert_eq!(SignatureError::Mismatch.reason(), "bad-signature");
    assert_eq!(SignatureError::Malformed.reason(), "bad-signature");
}

#[test]
fn timestamps_are_allowed_the_skew_either_way() {
    let key = department_key(MASTER, "hpf");
    let path = "/api/v1/depts/hpf/accounts/me?x=1";
    let headers = header_map(&request().headers(&key));
    for now in [NOW - 30, NOW - 29, NOW, NOW + 29, NOW + 30] {
        assert_eq!(check(&headers, "GET", path, now), Ok(()), "now {now}");
    }
    assert_eq!(
        check(&headers, "GET", path, NOW + 31),
        Err(SignatureError::Stale {
            timestamp: NOW,
            now: NOW + 31,
            skew: 31,
            max_skew: 30
        })
    );
    let early = check(&headers, "GET", path, NOW - 31).unwrap_err();
    assert_eq!(early.reason(), "stale-signature");
    assert_eq!(
        early.to_string(),
        "signed at 1763800000, 31 s from the department's clock (1763799969); at most 30 s allowed"
    );
    // A forged timestamp is a mismatch, not stale.
    let mut forged = headers.clone();
    forged.insert(TIMESTAMP_HEADER, "1763700000".parse().unwrap());
    assert_eq!(
        check(&forged, "GET", path, NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn keys_never_reach_the_logs() {
    let guard = Guard::new(MASTER, "hpf", DEFAULT_MAX_SKEW);
    let shown = format!("{guard:?}");
    assert_eq!(shown, "Guard { key: DeptKey(..), max_skew: 30s }");
}
