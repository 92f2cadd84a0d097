//! The development signer.

use super::*;

fn decode_part(part: &str) -> Json {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn dev() -> DevSigner {
    DevSigner::from_pem(ED_PRIVATE, "dev-1", ISS, "onestop").unwrap()
}

fn dev_verifier(dev: &DevSigner) -> Verifier {
    verifier()
        .with_keys("gov-id", Arc::new(dev.key_set()))
        .unwrap()
}

#[test]
fn minted_tokens_verify() {
    let dev = dev();
    let v = dev_verifier(&dev);
    let token = dev.mint(CITIZEN, Some("wechat"), Duration::from_secs(3600), now());
    let citizen = v.verify(&token, now()).unwrap();
    assert_eq!(citizen.id, CITIZEN);
    assert_eq!(citizen.issuer_id, "gov-id");
    assert_eq!(citizen.channel.as_deref(), Some("wechat"));
    assert_eq!(citizen.expires_at, now() + Duration::from_secs(3600));
    assert_eq!(citizen.token_id.as_ref().map(String::len), Some(32));
    // Valid from `now` until `now + ttl`, plus the leeway.
    assert!(v.verify(&token, now() + Duration::from_secs(3629)).is_ok());
    assert_eq!(
        v.verify(&token, now() + Duration::from_secs(3630)),
        Err(JwtError::Expired)
    );
    assert_eq!(
        v.verify(&token, now() - Duration::from_secs(31)),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn minted_header_and_claims() {
    let token = dev().mint(
        CITIZEN,
        None,
        Duration::from_secs(600),
        now() + Duration::from_millis(999),
    );
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        decode_part(parts[0]),
        json!({ "alg": "EdDSA", "kid": "dev-1", "typ": "JWT" })
    );
    let claims = decode_part(parts[1]);
    let jti = claims["jti"].as_str().unwrap().to_string();
    assert_eq!(
        claims,
        json!({
            "iss": ISS,
            "aud": "onestop",
            "sub": CITIZEN,
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 600,
            "jti": jti,
        })
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
}

#[test]
fn minting_is_deterministic_and_jti_unique() {
    let a = dev();
    let b = dev();
    let t1 = a.mint(CITIZEN, None, Duration::from_secs(60), now());
    assert_eq!(t1, b.mint(CITIZEN, None, Duration::from_secs(60), now()));
    let t2 = a.mint(CITIZEN, None, Duration::from_secs(60), now());
    assert_ne!(t1, t2, "the counter changes the jti");
    let jti = |t: &str| decode_part(t.split('.').nth(1).unwrap())["jti"].clone();
    assert_ne!(jti(&t1), jti(&t2));
}

#[test]
fn jsonwebtoken_accepts_minted_tokens() {
    let dev = dev();
    let token = dev.mint(CITIZEN, None, Duration::from_secs(60), now());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(dev.public_jwk()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&["onestop"]);
    validation.set_issuer(&[ISS]);
    let data = jsonwebtoken::decode::<Json>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], CITIZEN);
    assert_eq!(data.header.kid.as_deref(), Some("dev-1"));
}

#[test]
fn public_jwk_and_jwks() {
    let dev = dev();
    let fixture: Json = serde_json::from_str(JWKS).unwrap();
    assert_eq!(
        dev.public_jwk(),
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
            "kid": "dev-1",
            "x": fixture["keys"][2]["x"],
        })
    );
    let set = KeySet::from_jwks(dev.jwks().as_bytes()).unwrap();
    assert_eq!(set.kids(), vec!["dev-1"]);
    assert!(set.contains("dev-1", KeyType::Ed25519));
    assert!(dev.key_set().contains("dev-1", KeyType::Ed25519));
    assert_eq!(dev.kid(), "dev-1");
    assert_eq!(dev.issuer(), ISS);
}

#[test]
fn dev_key_added_to_the_issuer_keys() {
    let dev = dev();
    let mut keys = KeySet::from_jwks(JWKS.as_bytes()).unwrap();
    keys.extend(dev.key_set()).unwrap();
    assert_eq!(keys.kids(), vec!["dev-1", "ec-1", "ed-1", "rsa-1"]);
    let v = verifier().with_keys("gov-id", Arc::new(keys)).unwrap();
    let token = dev.mint(CITIZEN, None, Duration::from_secs(60), now());
    assert!(v.verify(&token, now()).is_ok());
    assert!(v.verify(&good(Algorithm::RS256), now()).is_ok());
    // The same kid twice is refused.
    let same_kid = DevSigner::from_pem(ED_PRIVATE, "ed-1", ISS, "onestop").unwrap();
    let mut keys = KeySet::from_jwks(JWKS.as_bytes()).unwrap();
    assert_eq!(
        keys.extend(same_kid.key_set()),
        Err(JwksError::DuplicateKey { kid: "ed-1".into() })
    );
}

#[test]
fn generated_keys_round_trip_through_pem() {
    let (signer, pem) = DevSigner::generate("demo", ISS, "onestop").unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
    let again = DevSigner::from_pem(&pem, "demo", ISS, "onestop").unwrap();
    assert_eq!(signer.public_jwk(), again.public_jwk());
    // jsonwebtoken (and so OpenSSL-style tooling) reads the PEM too.
    assert!(EncodingKey::from_ed_pem(pem.as_bytes()).is_ok());
    let token = signer.mint(CITIZEN, None, Duration::from_secs(60), now());
    let v = verifier()
        .with_keys("gov-id", Arc::new(again.key_set()))
        .unwrap();
    assert_eq!(v.verify(&token, now()).unwrap().id, CITIZEN);
    let (other, _) = DevSigner::generate("demo", ISS, "onestop").unwrap();
    assert_ne!(other.public_jwk(), signer.public_jwk());
}

#[test]
fn bad_dev_keys() {
    for pem in [
        RSA_PRIVATE,
        EC_PRIVATE,
        RSA_PUBLIC,
        "",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    ] {
        assert_eq!(
            DevSigner::from_pem(pem, "k", ISS, "onestop").unwrap_err(),
            DevKeyError::NotEd25519
        );
    }
    assert_eq!(
        DevSigner::from_pem(ED_PRIVATE, "", ISS, "onestop").unwrap_err(),
        DevKeyError::Empty("kid")
    );
    assert_eq!(
        DevSigner::from_pem(ED_PRIVATE, "k", "", "onestop").unwrap_err(),
        DevKeyError::Empty("issuer")
    );
    assert_eq!(
        DevSigner::from_pem(ED_PRIVATE, "k", ISS, "").unwrap_err(),
        DevKeyError::Empty("audience")
    );
    let debug = format!("{:?}", dev());
    assert!(
        debug.contains("dev-1") && !debug.contains("key:"),
        "{debug}"
    );
}
