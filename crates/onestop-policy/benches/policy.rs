//! The per-request decisions of onestop-policy: path normalisation, JWT
//! verification per algorithm, the gateway signature, channel lookup.
//!
//! `cargo bench -p onestop-policy`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey};
use onestop_policy::channel::{ChannelRule, ChannelSet};
use onestop_policy::jwt::{Alg, Issuer, KeySet, Verifier};
use onestop_policy::{citizen, path, signing};

const NOW: u64 = 1_750_000_000;
const JWKS: &str = include_str!("../tests/fixtures/jwks.json");

fn token(alg: Algorithm, name: &str, kid: &str, key: &EncodingKey) -> String {
    let header = serde_json::json!({ "alg": name, "typ": "JWT", "kid": kid });
    let claims = serde_json::json!({
        "iss": "https://id.gov.example", "aud": "onestop", "sub": "11010519491231002X",
        "iat": NOW, "nbf": NOW, "exp": NOW + 600, "jti": "0123456789abcdef0123456789abcdef",
        "chn": "wechat",
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{sig}")
}

fn paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("path");
    let clean = "/api/v1/depts/hpf/citizens/11010519491231002X/accounts";
    let messy = "//api/./v1//depts/%68%70%66/x/../citizens/%31%31010519491231002%58/%e4%b8%ad/";
    g.bench_function("normalize_clean", |b| {
        b.iter(|| path::normalize(black_box(clean)))
    });
    g.bench_function("normalize_messy", |b| {
        b.iter(|| path::normalize(black_box(messy)))
    });
    g.bench_function("normalize_refused", |b| {
        b.iter(|| path::normalize(black_box("/api/v1/depts/hpf/..;/water")))
    });
    g.finish();
}

fn jwts(c: &mut Criterion) {
    let issuer = Issuer {
        id: "gov-id".into(),
        issuer: "https://id.gov.example".into(),
        audiences: vec!["onestop".into()],
        algorithms: vec![Alg::RS256, Alg::ES256, Alg::EdDSA],
        leeway: Duration::from_secs(30),
        typ: vec!["JWT".into()],
        citizen_claim: "sub".into(),
    };
    let keys = Arc::new(KeySet::from_jwks(JWKS.as_bytes()).unwrap());
    let v = Verifier::new(vec![(issuer, keys)]).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(NOW + 1);
    let rsa =
        EncodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("../tests/fixtures/ec-private.pem")).unwrap();
    let ed =
        EncodingKey::from_ed_pem(include_bytes!("../tests/fixtures/ed25519-private.pem")).unwrap();
    let tokens = [
        (
            "verify_eddsa",
            token(Algorithm::EdDSA, "EdDSA", "ed-1", &ed),
        ),
        (
            "verify_es256",
            token(Algorithm::ES256, "ES256", "ec-1", &ec),
        ),
        (
            "verify_rs256",
            token(Algorithm::RS256, "RS256", "rsa-1", &rsa),
        ),
    ];
    let mut g = c.benchmark_group("jwt");
    for (name, t) in &tokens {
        assert!(v.verify(t, now).is_ok(), "{name}");
        g.bench_function(*name, |b| b.iter(|| v.verify(black_box(t), now)));
    }
    let mut bad = tokens[0].1.clone();
    bad.push('A');
    g.bench_function("refuse_malformed_signature", |b| {
        b.iter(|| v.verify(black_box(&bad), now))
    });
    let payload = tokens[0].1.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"ed-1"}"#)
    );
    g.bench_function("refuse_alg_none", |b| {
        b.iter(|| v.verify(black_box(&none), now))
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let key = signing::department_key(b"0123456789abcdef0123456789abcdef", "hpf");
    let s = signing::Signed {
        method: "GET",
        path_and_query: "/api/v1/depts/hpf/citizens/11010519491231002X/accounts?year=2024",
        citizen: Some("11010519491231002X"),
        channel: Some("wechat"),
        request_id: "01970f5e-6d0b-7c3a-9f3e-1b2c3d4e5f60",
        timestamp: NOW,
    };
    let sig = signing::sign(&key, &s);
    let mut g = c.benchmark_group("signing");
    g.bench_function("department_key", |b| {
        b.iter(|| signing::department_key(black_box(b"0123456789abcdef0123456789abcdef"), "hpf"))
    });
    g.bench_function("sign", |b| b.iter(|| signing::sign(&key, black_box(&s))));
    g.bench_function("verify", |b| {
        b.iter(|| signing::verify(&key, black_box(&s), Some(&sig), NOW, 300))
    });
    g.finish();
}

fn channels_and_bola(c: &mut Criterion) {
    let rules = (0..20)
        .map(|i| ChannelRule {
            id: format!("app-{i}"),
            key_sha256: onestop_core::digest::sha256_hex(format!("key-{i}").as_bytes()),
            routes: vec!["hpf/*".into(), "water/bill".into()],
        })
        .collect();
    let set = ChannelSet::new(rules).unwrap();
    let mut g = c.benchmark_group("channel");
    g.bench_function("identify_and_may_call", |b| {
        b.iter(|| {
            set.identify(black_box("key-7"))
                .is_some_and(|r| r.may_call("water", "bill"))
        })
    });
    g.bench_function("citizen_resolve", |b| {
        b.iter(|| {
            citizen::resolve(
                black_box("11010519491231002X"),
                black_box("11010519491231002X"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, paths, jwts, signatures, channels_and_bola);
criterion_main!(benches);
