#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value as Json, json};

use super::*;

pub(crate) const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/rsa-private.pem");
pub(crate) const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/rsa-public.pem");
pub(crate) const EC_PRIVATE: &str = include_str!("../../tests/fixtures/ec-private.pem");
pub(crate) const ED_PRIVATE: &str = include_str!("../../tests/fixtures/ed25519-private.pem");
pub(crate) const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");

const NOW: u64 = 1_750_000_000;
const ISS: &str = "https://id.gov.example";
const CITIZEN: &str = "11010519491231002X";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn issuer() -> Issuer {
    Issuer {
        id: "gov-id".into(),
        issuer: ISS.into(),
        audiences: vec!["onestop".into(), "onestop-test".into()],
        algorithms: vec![Alg::RS256, Alg::ES256, Alg::EdDSA],
        leeway: Duration::from_secs(30),
        typ: vec!["JWT".into()],
        citizen_claim: "sub".into(),
    }
}

fn key_set() -> Arc<KeySet> {
    Arc::new(KeySet::from_jwks(JWKS.as_bytes()).unwrap())
}

fn verifier_with(issuer: Issuer) -> Verifier {
    Verifier::new(vec![(issuer, key_set())]).unwrap()
}

fn verifier() -> Verifier {
    verifier_with(issuer())
}

fn claims() -> Json {
    json!({
        "iss": ISS,
        "aud": "onestop",
        "sub": CITIZEN,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 600,
        "jti": "token-1",
    })
}

fn header(alg: &str, kid: &str) -> Json {
    json!({ "alg": alg, "typ": "JWT", "kid": kid })
}

fn encoding_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
        Algorithm::HS256 => EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        other => panic!("no test key for {other:?}"),
    }
}

fn unsigned(header: &Json, claims: &Json) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A token with any header and claims, signed by the test key of `with`.
fn signed(header: &Json, claims: &Json, with: Algorithm) -> String {
    let message = unsigned(header, claims);
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &encoding_key(with), with).unwrap();
    format!("{message}.{sig}")
}

fn good(alg: Algorithm) -> String {
    let (name, kid) = match alg {
        Algorithm::RS256 => ("RS256", "rsa-1"),
        Algorithm::ES256 => ("ES256", "ec-1"),
        _ => ("EdDSA", "ed-1"),
    };
    signed(&header(name, kid), &claims(), alg)
}

fn with_claim(key: &str, value: Json) -> Json {
    let mut c = claims();
    c[key] = value;
    c
}

fn without_claim(key: &str) -> Json {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

fn expected_citizen() -> Citizen {
    Citizen {
        id: CITIZEN.into(),
        issuer_id: "gov-id".into(),
        channel: None,
        expires_at: UNIX_EPOCH + Duration::from_secs(NOW + 600),
        token_id: Some("token-1".into()),
    }
}

// --- Accepted tokens --------------------------------------------------------

#[test]
fn accepts_rs256_es256_and_eddsa() {
    let v = verifier();
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        assert_eq!(
            v.verify(&good(alg), now()),
            Ok(expected_citizen()),
            "{alg:?}"
        );
    }
}

#[test]
fn accepts_channel_audience_list_and_decimal_dates() {
    let v = verifier();
    let mut c = claims();
    c["chn"] = json!("wechat");
    c["aud"] = json!(["other", "onestop-test"]);
    c["exp"] = json!(NOW as f64 + 600.5);
    c["nbf"] = json!(NOW as f64 - 0.5);
    let citizen = v
        .verify(
            &signed(&header("EdDSA", "ed-1"), &c, Algorithm::EdDSA),
            now(),
        )
        .unwrap();
    assert_eq!(citizen.channel.as_deref(), Some("wechat"));
    assert_eq!(
        citizen.expires_at,
        UNIX_EPOCH + Duration::from_secs(NOW + 600) + Duration::from_millis(500)
    );
}

#[test]
fn typ_rules() {
    let v = verifier();
    for typ in ["JWT", "jwt", "Jwt", "application/jwt", "APPLICATION/JWT"] {
        let h = json!({ "alg": "EdDSA", "typ": typ, "kid": "ed-1" });
        assert!(
            v.verify(&signed(&h, &claims(), Algorithm::EdDSA), now())
                .is_ok(),
            "{typ}"
        );
    }
    for typ in ["at+jwt", "JWS", "", "application/", "jwt "] {
        let h = json!({ "alg": "EdDSA", "typ": typ, "kid": "ed-1" });
        assert_eq!(
            v.verify(&signed(&h, &claims(), Algorithm::EdDSA), now()),
            Err(JwtError::WrongType),
            "{typ:?}"
        );
    }
    let no_typ = json!({ "alg": "EdDSA", "kid": "ed-1" });
    let token = signed(&no_typ, &claims(), Algorithm::EdDSA);
    assert_eq!(v.verify(&token, now()), Err(JwtError::WrongType));
    // An issuer that lists no typ does not require one, and takes any.
    let lenient = verifier_with(Issuer {
        typ: vec![],
        ..issuer()
    });
    assert!(lenient.verify(&token, now()).is_ok());
    let h = json!({ "alg": "EdDSA", "typ": "whatever", "kid": "ed-1" });
    assert!(
        lenient
            .verify(&signed(&h, &claims(), Algorithm::EdDSA), now())
            .is_ok()
    );
}

#[test]
fn custom_citizen_claim() {
    let v = verifier_with(Issuer {
        citizen_claim: "idn".into(),
        ..issuer()
    });
    let mut c = claims();
    c["idn"] = json!("110105194912310010");
    let token = signed(&header("EdDSA", "ed-1"), &c, Algorithm::EdDSA);
    assert_eq!(v.verify(&token, now()).unwrap().id, "110105194912310010");
    let token = signed(&header("EdDSA", "ed-1"), &claims(), Algorithm::EdDSA);
    assert_eq!(
        v.verify(&token, now()),
        Err(JwtError::MissingClaim("citizen id"))
    );
}

// --- The attack matrix -------------------------------------------------------

#[test]
fn alg_none_is_refused() {
    let v = verifier();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({ "alg": alg, "typ": "JWT", "kid": "rsa-1" });
        let token = format!("{}.", unsigned(&h, &claims()));
        assert_eq!(
            v.verify(&token, now()),
            Err(JwtError::AlgorithmNotAllowed),
            "{alg}"
        );
        // With a signature from a real key pasted on.
        let sig = good(Algorithm::RS256)
            .rsplit('.')
            .next()
            .unwrap()
            .to_string();
        let token = format!("{}.{sig}", unsigned(&h, &claims()));
        assert_eq!(v.verify(&token, now()), Err(JwtError::AlgorithmNotAllowed));
    }
}

#[test]
fn rs256_to_hs256_key_confusion_is_refused() {
    let v = verifier();
    // HMAC over the token with the RSA public key's PEM as the secret.
    let token = signed(&header("HS256", "rsa-1"), &claims(), Algorithm::HS256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::AlgorithmNotAllowed));
    // Also with the JWK's modulus bytes as the secret.
    let jwks: Json = serde_json::from_str(JWKS).unwrap();
    let n = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["n"].as_str().unwrap())
        .unwrap();
    let message = unsigned(&header("HS256", "rsa-1"), &claims());
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(&n),
        Algorithm::HS256,
    )
    .unwrap();
    assert_eq!(
        v.verify(&format!("{message}.{sig}"), now()),
        Err(JwtError::AlgorithmNotAllowed)
    );
    for alg in [
        "HS384", "HS512", "RS384", "PS256", "ES384", "ES512", "rs256", "Ed25519",
    ] {
        let token = signed(&header(alg, "rsa-1"), &claims(), Algorithm::RS256);
        assert_eq!(
            v.verify(&token, now()),
            Err(JwtError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn algorithm_not_pinned_by_the_issuer() {
    let v = verifier_with(Issuer {
        algorithms: vec![Alg::EdDSA],
        ..issuer()
    });
    assert_eq!(
        v.verify(&good(Algorithm::RS256), now()),
        Err(JwtError::AlgorithmNotAllowed)
    );
    assert_eq!(
        v.verify(&good(Algorithm::ES256), now()),
        Err(JwtError::AlgorithmNotAllowed)
    );
    assert!(v.verify(&good(Algorithm::EdDSA), now()).is_ok());
}

#[test]
fn unknown_kid() {
    let token = signed(&header("RS256", "rsa-2"), &claims(), Algorithm::RS256);
    assert_eq!(
        verifier().verify(&token, now()),
        Err(JwtError::UnknownKey {
            issuer_id: "gov-id".into()
        })
    );
}

#[test]
fn missing_or_empty_kid() {
    let v = verifier();
    let h = json!({ "alg": "RS256", "typ": "JWT" });
    let token = signed(&h, &claims(), Algorithm::RS256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingKeyId));
    let h = json!({ "alg": "RS256", "typ": "JWT", "kid": "" });
    let token = signed(&h, &claims(), Algorithm::RS256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingKeyId));
    let h = json!({ "alg": "RS256", "typ": "JWT", "kid": null });
    let token = signed(&h, &claims(), Algorithm::RS256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingKeyId));
}

#[test]
fn key_of_another_type() {
    let v = verifier();
    // An RS256 token naming the ES256 key.
    let token = signed(&header("RS256", "ec-1"), &claims(), Algorithm::RS256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::WrongKeyType));
    // An ES256 token naming the RSA key, an EdDSA token naming the EC key.
    let token = signed(&header("ES256", "rsa-1"), &claims(), Algorithm::ES256);
    assert_eq!(v.verify(&token, now()), Err(JwtError::WrongKeyType));
    let token = signed(&header("EdDSA", "ec-1"), &claims(), Algorithm::EdDSA);
    assert_eq!(v.verify(&token, now()), Err(JwtError::WrongKeyType));
}

#[test]
fn expiry_and_leeway() {
    let v = verifier();
    let at = |exp: u64| {
        let token = signed(
            &header("EdDSA", "ed-1"),
            &with_claim("exp", json!(exp)),
            Algorithm::EdDSA,
        );
        v.verify(&token, now()).map(|c| c.expires_at)
    };
    // Leeway is 30 s: valid while now < exp + 30.
    assert_eq!(at(NOW - 29), Ok(UNIX_EPOCH + Duration::from_secs(NOW - 29)));
    assert_eq!(at(NOW - 30), Err(JwtError::Expired));
    assert_eq!(at(NOW - 31), Err(JwtError::Expired));
    assert_eq!(at(NOW - 3600), Err(JwtError::Expired));
    assert_eq!(at(0), Err(JwtError::Expired));
    // The same token, judged at other times.
    let token = signed(
        &header("EdDSA", "ed-1"),
        &with_claim("exp", json!(NOW)),
        Algorithm::EdDSA,
    );
    assert!(v.verify(&token, now() + Duration::from_secs(29)).is_ok());
    assert_eq!(
        v.verify(&token, now() + Duration::from_secs(30)),
        Err(JwtError::Expired)
    );
    assert_eq!(
        v.verify(&token, now() + Duration::from_millis(30_001)),
        Err(JwtError::Expired)
    );
    // Without leeway, exp itself is already too late.
    let strict = verifier_with(Issuer {
        leeway: Duration::ZERO,
        ..issuer()
    });
    assert_eq!(strict.verify(&token, now()), Err(JwtError::Expired));
    assert!(
        strict
            .verify(&token, now() - Duration::from_millis(1))
            .is_ok()
    );
}

#[test]
fn not_before_and_leeway() {
    let v = verifier();
    let at = |nbf: Json| {
        let token = signed(
            &header("EdDSA", "ed-1"),
            &with_claim("nbf", nbf),
            Algorithm::EdDSA,
        );
        v.verify(&token, now()).map(|_| ())
    };
    assert_eq!(at(json!(NOW + 30)), Ok(()));
    assert_eq!(at(json!(NOW + 31)), Err(JwtError::NotYetValid));
    assert_eq!(at(json!(NOW + 86_400)), Err(JwtError::NotYetValid));
    assert_eq!(at(json!("soon")), Err(JwtError::InvalidClaim("nbf")));
    assert_eq!(at(json!(-1)), Err(JwtError::InvalidClaim("nbf")));
    // nbf is optional.
    let token = signed(
        &header("EdDSA", "ed-1"),
        &without_claim("nbf"),
        Algorithm::EdDSA,
    );
    assert!(v.verify(&token, now()).is_ok());
}

#[test]
fn audience() {
    let v = verifier();
    let at = |aud: Json| {
        let token = signed(
            &header("ES256", "ec-1"),
            &with_claim("aud", aud),
            Algorithm::ES256,
        );
        v.verify(&token, now()).map(|_| ())
    };
    assert_eq!(at(json!("onestop")), Ok(()));
    assert_eq!(at(json!(["x", "onestop"])), Ok(()));
    assert_eq!(at(json!("other")), Err(JwtError::WrongAudience));
    assert_eq!(at(json!("ONESTOP")), Err(JwtError::WrongAudience));
    assert_eq!(at(json!(["x", "y"])), Err(JwtError::WrongAudience));
    assert_eq!(at(json!([])), Err(JwtError::WrongAudience));
    assert_eq!(at(json!(7)), Err(JwtError::InvalidClaim("aud")));
    assert_eq!(
        at(json!(["onestop", 7])),
        Err(JwtError::InvalidClaim("aud"))
    );
    assert_eq!(at(json!(null)), Err(JwtError::InvalidClaim("aud")));
    let token = signed(
        &header("ES256", "ec-1"),
        &without_claim("aud"),
        Algorithm::ES256,
    );
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingClaim("aud")));
}

#[test]
fn issuer_claim() {
    let v = verifier();
    for iss in [
        "https://evil.example",
        "https://id.gov.example/",
        "HTTPS://ID.GOV.EXAMPLE",
        "",
    ] {
        let token = signed(
            &header("RS256", "rsa-1"),
            &with_claim("iss", json!(iss)),
            Algorithm::RS256,
        );
        assert_eq!(
            v.verify(&token, now()),
            Err(JwtError::UnknownIssuer),
            "{iss:?}"
        );
    }
    let token = signed(
        &header("RS256", "rsa-1"),
        &with_claim("iss", json!([ISS])),
        Algorithm::RS256,
    );
    assert_eq!(v.verify(&token, now()), Err(JwtError::InvalidClaim("iss")));
    let token = signed(
        &header("RS256", "rsa-1"),
        &without_claim("iss"),
        Algorithm::RS256,
    );
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingClaim("iss")));
}

#[test]
fn missing_or_invalid_exp() {
    let v = verifier();
    let token = signed(
        &header("EdDSA", "ed-1"),
        &without_claim("exp"),
        Algorithm::EdDSA,
    );
    assert_eq!(v.verify(&token, now()), Err(JwtError::MissingClaim("exp")));
    for exp in [
        json!("1750000600"),
        json!(-1),
        json!(null),
        json!(true),
        json!(1e300),
    ] {
        let token = signed(
            &header("EdDSA", "ed-1"),
            &with_claim("exp", exp.clone()),
            Algorithm::EdDSA,
        );
        assert_eq!(
            v.verify(&token, now()),
            Err(JwtError::InvalidClaim("exp")),
            "{exp}"
        );
    }
}

#[test]
fn bad_signature() {
    let v = verifier();
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let token = good(alg);
        let (message, sig) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[5] ^= 0x01;
        let flipped = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(
            v.verify(&flipped, now()),
            Err(JwtError::BadSignature),
            "{alg:?}"
        );
        // A truncated signature.
        raw.truncate(raw.len() - 1);
        let short = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(
            v.verify(&short, now()),
            Err(JwtError::BadSignature),
            "{alg:?}"
        );
        // No signature at all.
        assert_eq!(
            v.verify(&format!("{message}."), now()),
            Err(JwtError::BadSignature)
        );
        // Another citizen under the original signature.
        let forged = format!(
            "{}.{}.{sig}",
            message.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(with_claim("sub", json!("11010519491231003X")).to_string())
        );
        assert_eq!(
            v.verify(&forged, now()),
            Err(JwtError::BadSignature),
            "{alg:?}"
        );
    }
}

#[test]
fn signature_is_checked_before_claims() {
    let v = verifier();
    let token = signed(
        &header("EdDSA", "ed-1"),
        &with_claim("exp", json!(1)),
        Algorithm::EdDSA,
    );
    let (message, _) = token.rsplit_once('.').unwrap();
    let other = good(Algorithm::EdDSA);
    let (_, sig) = other.rsplit_once('.').unwrap();
    assert_eq!(
        v.verify(&format!("{message}.{sig}"), now()),
        Err(JwtError::BadSignature)
    );
    // Expired and meant for someone else: the first failing rule is named.
    let mut c = with_claim("exp", json!(1));
    c["aud"] = json!("other");
    let token = signed(&header("EdDSA", "ed-1"), &c, Algorithm::EdDSA);
    assert_eq!(v.verify(&token, now()), Err(JwtError::Expired));
}

#[test]
fn malformed_tokens() {
    let v = verifier();
    let good = good(Algorithm::EdDSA);
    let parts: Vec<&str> = good.split('.').collect();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    let std_b64 = format!(
        "{}.{}.{}",
        base64::engine::general_purpose::STANDARD.encode(header("EdDSA", "ed-1").to_string()),
        parts[1],
        parts[2]
    );
    let cases: Vec<String> = vec![
        "".into(),
        "garbage".into(),
        "Bearer abc".into(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!("!!!.{}.{}", parts[1], parts[2]),
        format!("{}.{}.***", parts[0], parts[1]),
        format!("{}.{} .{}", parts[0], parts[1], parts[2]),
        format!("{} ", good),
        padded,
        std_b64,
        long,
        // Header or claims that are not JSON objects.
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode("not json"),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("[]"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode("\"x\""),
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode("{} trailing"),
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
            parts[2]
        ),
        // JWE (five parts) and a JSON-serialised JWS.
        "a.b.c.d.e".into(),
        r#"{"payload":"x","signatures":[]}"#.into(),
    ];
    for token in &cases {
        assert_eq!(
            v.verify(token, now()),
            Err(JwtError::Malformed),
            "{token:?}"
        );
    }
}

#[test]
fn header_edge_cases() {
    let v = verifier();
    let crit = json!({ "alg": "EdDSA", "typ": "JWT", "kid": "ed-1", "crit": ["exp"] });
    let token = signed(&crit, &claims(), Algorithm::EdDSA);
    assert_eq!(v.verify(&token, now()), Err(JwtError::Malformed));
    // Two `alg` members.
    let dup = r#"{"alg":"EdDSA","alg":"none","typ":"JWT","kid":"ed-1"}"#;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(dup),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &encoding_key(Algorithm::EdDSA),
        Algorithm::EdDSA,
    )
    .unwrap();
    assert_eq!(
        v.verify(&format!("{message}.{sig}"), now()),
        Err(JwtError::Malformed)
    );
    // Embedded keys and key URLs are ignored, never trusted.
    let jwk = json!({ "alg": "EdDSA", "typ": "JWT", "kid": "ed-1",
        "jwk": { "kty": "oct", "k": "AAAA" }, "jku": "https://evil.example/jwks", "x5u": "x" });
    assert!(
        v.verify(&signed(&jwk, &claims(), Algorithm::EdDSA), now())
            .is_ok()
    );
}

#[test]
fn duplicate_claims_are_malformed() {
    let v = verifier();
    let claims = format!(
        r#"{{"iss":"{ISS}","aud":"onestop","sub":"{CITIZEN}","sub":"11010519491231003X","exp":{}}}"#,
        NOW + 600
    );
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header("EdDSA", "ed-1").to_string()),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &encoding_key(Algorithm::EdDSA),
        Algorithm::EdDSA,
    )
    .unwrap();
    assert_eq!(
        v.verify(&format!("{message}.{sig}"), now()),
        Err(JwtError::Malformed)
    );
}

#[test]
fn citizen_claim_values() {
    let v = verifier();
    let at = |sub: Json| {
        let token = signed(
            &header("EdDSA", "ed-1"),
            &with_claim("sub", sub),
            Algorithm::EdDSA,
        );
        v.verify(&token, now()).map(|c| c.id)
    };
    let sixty_four = "中".repeat(64);
    assert_eq!(at(json!(sixty_four)), Ok(sixty_four.clone()));
    assert_eq!(at(json!("a".repeat(64))), Ok("a".repeat(64)));
    for bad in [
        json!(""),
        json!("a".repeat(65)),
        json!("中".repeat(65)),
        json!("a\nb"),
        json!("a\u{0}"),
        json!("a\u{85}"),
        json!(110105),
        json!(null),
        json!(["a"]),
    ] {
        assert_eq!(
            at(bad.clone()),
            Err(JwtError::InvalidClaim("citizen id")),
            "{bad}"
        );
    }
    let token = signed(
        &header("EdDSA", "ed-1"),
        &without_claim("sub"),
        Algorithm::EdDSA,
    );
    assert_eq!(
        v.verify(&token, now()),
        Err(JwtError::MissingClaim("citizen id"))
    );
}

#[test]
fn channel_and_token_id_values() {
    let v = verifier();
    let at = |key: &str, value: Json| {
        let token = signed(
            &header("EdDSA", "ed-1"),
            &with_claim(key, value),
            Algorithm::EdDSA,
        );
        v.verify(&token, now())
    };
    assert_eq!(at("chn", json!("")), Err(JwtError::InvalidClaim("chn")));
    assert_eq!(
        at("chn", json!("a\r\n")),
        Err(JwtError::InvalidClaim("chn"))
    );
    assert_eq!(at("chn", json!(1)), Err(JwtError::InvalidClaim("chn")));
    assert_eq!(at("jti", json!(1)), Err(JwtError::InvalidClaim("jti")));
    assert_eq!(
        at("jti", json!("x".repeat(257))),
        Err(JwtError::InvalidClaim("jti"))
    );
    assert_eq!(
        at("jti", json!("x".repeat(256))).unwrap().token_id,
        Some("x".repeat(256))
    );
    let token = signed(
        &header("EdDSA", "ed-1"),
        &without_claim("jti"),
        Algorithm::EdDSA,
    );
    assert_eq!(v.verify(&token, now()).unwrap().token_id, None);
}

// --- Verifier construction and key rotation --------------------------------

#[test]
fn verifier_construction_errors() {
    let ks = key_set();
    let two =
        |a: Issuer, b: Issuer| Verifier::new(vec![(a, ks.clone()), (b, ks.clone())]).unwrap_err();
    let other = Issuer {
        id: "other".into(),
        issuer: "https://other.example".into(),
        ..issuer()
    };
    assert_eq!(
        two(
            issuer(),
            Issuer {
                issuer: "https://x".into(),
                ..issuer()
            }
        ),
        VerifierError::DuplicateId("gov-id".into())
    );
    assert_eq!(
        two(
            issuer(),
            Issuer {
                id: "other".into(),
                ..issuer()
            }
        ),
        VerifierError::DuplicateIss("other".into())
    );
    let one = |i: Issuer| Verifier::new(vec![(i, ks.clone())]).unwrap_err();
    assert_eq!(
        one(Issuer {
            algorithms: vec![],
            ..issuer()
        }),
        VerifierError::NoAlgorithms("gov-id".into())
    );
    assert_eq!(
        one(Issuer {
            audiences: vec![],
            ..issuer()
        }),
        VerifierError::NoAudiences("gov-id".into())
    );
    for claim in ["", "exp", "iss", "aud", "chn", "jti", "nbf", "iat"] {
        assert_eq!(
            one(Issuer {
                citizen_claim: claim.into(),
                ..issuer()
            }),
            VerifierError::BadCitizenClaim("gov-id".into())
        );
    }
    assert!(Verifier::new(vec![(issuer(), ks.clone()), (other, ks.clone())]).is_ok());
    assert!(Verifier::new(vec![]).is_ok());
}

#[test]
fn two_issuers_with_different_citizen_claims() {
    let ed_only = KeySet::from_jwks(
        serde_json::to_string(
            &json!({ "keys": [serde_json::from_str::<Json>(JWKS).unwrap()["keys"][2]] }),
        )
        .unwrap()
        .as_bytes(),
    )
    .unwrap();
    let v = Verifier::new(vec![
        (issuer(), key_set()),
        (
            Issuer {
                id: "city".into(),
                issuer: "https://city.example".into(),
                citizen_claim: "idn".into(),
                ..issuer()
            },
            Arc::new(ed_only),
        ),
    ])
    .unwrap();
    let mut c = with_claim("iss", json!("https://city.example"));
    c["idn"] = json!("C-42");
    let citizen = v
        .verify(
            &signed(&header("EdDSA", "ed-1"), &c, Algorithm::EdDSA),
            now(),
        )
        .unwrap();
    assert_eq!(
        (citizen.id.as_str(), citizen.issuer_id.as_str()),
        ("C-42", "city")
    );
    // The city's key set has no RSA key.
    let token = signed(&header("RS256", "rsa-1"), &c, Algorithm::RS256);
    assert_eq!(
        v.verify(&token, now()),
        Err(JwtError::UnknownKey {
            issuer_id: "city".into()
        })
    );
    assert_eq!(
        v.verify(&good(Algorithm::EdDSA), now()),
        Ok(expected_citizen())
    );
}

#[test]
fn with_keys_rotates_one_issuer() {
    let v = verifier();
    let dev = DevSigner::from_pem(ED_PRIVATE, "ed-2", ISS, "onestop").unwrap();
    let token = dev.mint(CITIZEN, None, Duration::from_secs(60), now());
    assert_eq!(
        v.verify(&token, now()),
        Err(JwtError::UnknownKey {
            issuer_id: "gov-id".into()
        })
    );
    let rotated = v.with_keys("gov-id", Arc::new(dev.key_set())).unwrap();
    assert_eq!(rotated.verify(&token, now()).unwrap().id, CITIZEN);
    // The old keys are gone from the new verifier, and the old verifier
    // still has them.
    assert_eq!(
        rotated.verify(&good(Algorithm::RS256), now()),
        Err(JwtError::UnknownKey {
            issuer_id: "gov-id".into()
        })
    );
    assert!(v.verify(&good(Algorithm::RS256), now()).is_ok());
    assert_eq!(rotated.keys("gov-id").unwrap().kids(), vec!["ed-2"]);
    assert_eq!(
        v.keys("gov-id").unwrap().kids(),
        vec!["ec-1", "ed-1", "rsa-1"]
    );
    assert!(v.keys("nope").is_none());
    assert_eq!(
        v.with_keys("nope", key_set()).unwrap_err(),
        VerifierError::UnknownIssuerId("nope".into())
    );
    assert_eq!(
        v.issuers().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["gov-id"]
    );
}

#[test]
fn errors_have_codes_and_plain_messages() {
    let all = [
        JwtError::Malformed,
        JwtError::AlgorithmNotAllowed,
        JwtError::UnknownIssuer,
        JwtError::WrongType,
        JwtError::MissingKeyId,
        JwtError::UnknownKey {
            issuer_id: "secret-issuer".into(),
        },
        JwtError::WrongKeyType,
        JwtError::BadSignature,
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::WrongAudience,
        JwtError::MissingClaim("exp"),
        JwtError::InvalidClaim("aud"),
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(JwtError::code).collect();
    assert_eq!(codes.len(), all.len());
    for e in &all {
        let m = e.to_string();
        assert!(!m.contains("secret-issuer") && !m.contains('\n'), "{m}");
    }
    assert_eq!(
        JwtError::MissingClaim("exp").to_string(),
        "the token lacks the exp claim"
    );
    assert_eq!(
        JwtError::UnknownKey {
            issuer_id: "x".into()
        }
        .to_string(),
        "the token's signing key is not known"
    );
}

mod dev;
mod keys;
