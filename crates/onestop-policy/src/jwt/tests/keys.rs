//! JWKS parsing.

use super::*;

fn fixture_key(i: usize) -> Json {
    serde_json::from_str::<Json>(JWKS).unwrap()["keys"][i].clone()
}

fn jwks(keys: Vec<Json>) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

fn with(mut key: Json, field: &str, value: Json) -> Json {
    if value.is_null() {
        key.as_object_mut().unwrap().remove(field);
    } else {
        key[field] = value;
    }
    key
}

fn refused(keys: Vec<Json>) -> JwksError {
    KeySet::from_jwks(&jwks(keys)).unwrap_err()
}

#[test]
fn reads_the_fixture() {
    let set = KeySet::from_jwks(JWKS.as_bytes()).unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(set.kids(), vec!["ec-1", "ed-1", "rsa-1"]);
    assert!(set.contains("rsa-1", KeyType::Rsa));
    assert!(set.contains("ec-1", KeyType::P256));
    assert!(set.contains("ed-1", KeyType::Ed25519));
    assert!(!set.contains("rsa-1", KeyType::P256));
    assert!(set.skipped().is_empty());
    assert!(KeySet::new().is_empty());
}

#[test]
fn keys_without_alg_or_use_are_usable() {
    let keys = (0..3)
        .map(|i| with(with(fixture_key(i), "alg", Json::Null), "use", Json::Null))
        .collect();
    let set = KeySet::from_jwks(&jwks(keys)).unwrap();
    assert_eq!(set.len(), 3);
    let v = Verifier::new(vec![(issuer(), Arc::new(set))]).unwrap();
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        assert!(v.verify(&good(alg), now()).is_ok());
    }
}

#[test]
fn skipped_keys() {
    let rsa = fixture_key(0);
    let ec = fixture_key(1);
    let ed = fixture_key(2);
    let keys = vec![
        with(rsa.clone(), "use", json!("enc")),
        with(rsa.clone(), "key_ops", json!(["sign"])),
        with(rsa.clone(), "kid", Json::Null),
        with(rsa.clone(), "kid", json!("")),
        with(
            with(rsa.clone(), "alg", json!("PS256")),
            "kid",
            json!("pss"),
        ),
        with(with(ec.clone(), "crv", json!("P-384")), "alg", Json::Null),
        with(with(ed.clone(), "crv", json!("X25519")), "alg", Json::Null),
        json!({ "kty": "foo", "kid": "x" }),
        with(rsa.clone(), "key_ops", json!(["verify"])),
        with(ec, "alg", json!("EC-unknown")),
    ];
    let set = KeySet::from_jwks(&jwks(keys)).unwrap();
    assert_eq!(
        set.kids(),
        vec!["rsa-1"],
        "only the key with key_ops [verify]"
    );
    let reasons: Vec<(usize, Option<&str>, &str)> = set
        .skipped()
        .iter()
        .map(|s| (s.index, s.kid.as_deref(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, Some("rsa-1"), "`use` is not `sig`"),
            (1, Some("rsa-1"), "`key_ops` lacks `verify`"),
            (2, None, "no `kid`"),
            (3, Some(""), "no `kid`"),
            (4, Some("pss"), "`alg` not supported"),
            (5, Some("ec-1"), "curve not supported"),
            (6, Some("ed-1"), "curve not supported"),
            (7, Some("x"), "key type not supported"),
            (9, Some("ec-1"), "`alg` not supported"),
        ]
    );
}

#[test]
fn symmetric_and_private_keys_refuse_the_document() {
    let oct = json!({ "kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256" });
    assert_eq!(
        refused(vec![fixture_key(0), oct]),
        JwksError::SymmetricKey { index: 1 }
    );
    let private = with(fixture_key(2), "d", json!("AAAA"));
    assert_eq!(refused(vec![private]), JwksError::PrivateKey { index: 0 });
}

#[test]
fn alg_must_fit_the_key_type() {
    let cases = [
        (fixture_key(0), "ES256", "RSA"),
        (fixture_key(0), "HS256", "RSA"),
        (fixture_key(0), "EdDSA", "RSA"),
        (fixture_key(0), "none", "RSA"),
        (fixture_key(1), "RS256", "EC/P-256"),
        (fixture_key(1), "ES384", "EC/P-256"),
        (fixture_key(1), "EdDSA", "EC/P-256"),
        (fixture_key(2), "ES256", "OKP/Ed25519"),
        (fixture_key(2), "RS256", "OKP/Ed25519"),
    ];
    for (key, alg, kty) in cases {
        assert_eq!(
            refused(vec![with(key, "alg", json!(alg))]),
            JwksError::AlgorithmMismatch {
                index: 0,
                alg: alg.into(),
                kty: kty.into()
            }
        );
    }
    // RFC 9864's fully specified name for EdDSA on Ed25519 fits.
    let set =
        KeySet::from_jwks(&jwks(vec![with(fixture_key(2), "alg", json!("Ed25519"))])).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn unusable_key_material() {
    let b = |bytes: &[u8]| json!(URL_SAFE_NO_PAD.encode(bytes));
    let rsa = fixture_key(0);
    let ec = fixture_key(1);
    let ed = fixture_key(2);
    let mut small = vec![0xffu8; 128];
    small[127] = 0x01;
    let mut big = vec![0xffu8; 513];
    big[0] = 0x01;
    let cases = [
        (json!({ "kid": "k" }), "no `kty`"),
        (
            with(rsa.clone(), "n", Json::Null),
            "`n` missing or not base64url",
        ),
        (
            with(rsa.clone(), "n", json!("a+b/")),
            "`n` missing or not base64url",
        ),
        (
            with(rsa.clone(), "e", json!("AQAB==")),
            "`e` missing or not base64url",
        ),
        (
            with(rsa.clone(), "n", b(&small)),
            "an RSA modulus must have 2048 to 4096 bits",
        ),
        (
            with(rsa.clone(), "n", b(&big)),
            "an RSA modulus must have 2048 to 4096 bits",
        ),
        (
            with(rsa.clone(), "n", b(&[])),
            "an RSA modulus must have 2048 to 4096 bits",
        ),
        (
            with(rsa.clone(), "n", b(&[0xfe; 256])),
            "an RSA modulus must be odd",
        ),
        (
            with(rsa.clone(), "e", b(&[1])),
            "the RSA exponent must be odd, from 3 to 2^33 - 1",
        ),
        (
            with(rsa.clone(), "e", b(&[2])),
            "the RSA exponent must be odd, from 3 to 2^33 - 1",
        ),
        (
            with(rsa.clone(), "e", b(&[0x02, 0, 0, 0, 1])),
            "the RSA exponent must be odd, from 3 to 2^33 - 1",
        ),
        (
            with(rsa.clone(), "e", b(&[0xff; 9])),
            "the RSA exponent must be odd, from 3 to 2^33 - 1",
        ),
        (with(ec.clone(), "crv", Json::Null), "no `crv`"),
        (
            with(ec.clone(), "x", b(&[1; 31])),
            "P-256 coordinates must be 32 bytes",
        ),
        (
            with(ec.clone(), "y", Json::Null),
            "`y` missing or not base64url",
        ),
        (
            with(ec.clone(), "y", b(&[7; 32])),
            "the EC point is not on P-256",
        ),
        (
            with(ed.clone(), "x", b(&[1; 31])),
            "an Ed25519 key must be 32 bytes",
        ),
        (
            with(ed.clone(), "x", b(&[1; 33])),
            "an Ed25519 key must be 32 bytes",
        ),
        (
            with(ed.clone(), "x", b(&[])),
            "an Ed25519 key must be 32 bytes",
        ),
        (
            with(
                ed.clone(),
                "x",
                b(&{
                    let mut identity = [0u8; 32];
                    identity[0] = 1;
                    identity
                }),
            ),
            "weak Ed25519 key",
        ),
    ];
    for (key, reason) in cases {
        assert_eq!(
            refused(vec![key.clone()]),
            JwksError::InvalidKey { index: 0, reason },
            "{key}"
        );
    }
    // The exponent bounds themselves are fine.
    for e in [&[3u8][..], &[0x01, 0xff, 0xff, 0xff, 0xff]] {
        assert!(KeySet::from_jwks(&jwks(vec![with(rsa.clone(), "e", b(e))])).is_ok());
    }
}

#[test]
fn one_kid_per_type() {
    let dup = refused(vec![fixture_key(0), fixture_key(0)]);
    assert_eq!(
        dup,
        JwksError::DuplicateKey {
            kid: "rsa-1".into()
        }
    );
    // The same kid for keys of different types is fine: alg picks one.
    let keys = vec![
        with(fixture_key(0), "kid", json!("k")),
        with(fixture_key(1), "kid", json!("k")),
        with(fixture_key(2), "kid", json!("k")),
    ];
    let set = KeySet::from_jwks(&jwks(keys)).unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(set.kids(), vec!["k"]);
    let v = Verifier::new(vec![(issuer(), Arc::new(set))]).unwrap();
    for (alg, name) in [
        (Algorithm::RS256, "RS256"),
        (Algorithm::ES256, "ES256"),
        (Algorithm::EdDSA, "EdDSA"),
    ] {
        let token = signed(&header(name, "k"), &claims(), alg);
        assert!(v.verify(&token, now()).is_ok(), "{name}");
    }
}

#[test]
fn not_a_jwks_document() {
    for doc in [
        &b"not json"[..],
        b"[]",
        b"{}",
        br#"{"keys":{}}"#,
        br#"{"keys":[1]}"#,
        br#"{"keys":[{"kid":7}]}"#,
    ] {
        assert!(
            matches!(KeySet::from_jwks(doc), Err(JwksError::NotJwks(_))),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
    let many = vec![json!({ "kty": "foo" }); MAX_KEYS + 1];
    assert_eq!(refused(many), JwksError::TooManyKeys);
    let empty = KeySet::from_jwks(br#"{"keys":[]}"#).unwrap();
    assert!(empty.is_empty());
}
