#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use super::*;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

/// Every seed of `fuzz/corpus/normalize_path` goes through the fuzz
/// target's body. The name says what to expect of the input as sent:
/// `ok-*` is accepted, `<code>-*` (a [`PathError::code`]) is refused with
/// that error; any other file (`crash-*`, or one libFuzzer added) need only
/// not panic.
#[test]
fn normalize_path_seed_corpus() {
    let seeds = corpus("normalize_path");
    assert!(seeds.len() >= 20, "only {} seeds", seeds.len());
    let mut seen = std::collections::HashSet::new();
    for (name, data) in &seeds {
        let outcome = normalize_path(data);
        if name.starts_with("ok-") {
            assert!(
                matches!(outcome.as_sent, Some(Ok(_))),
                "{name}: {outcome:?}"
            );
            seen.insert("ok");
        } else if let Some(kind) = PathError::ALL.iter().find(|k| {
            name.strip_prefix(k.code())
                .is_some_and(|rest| rest.starts_with('-'))
        }) {
            assert_eq!(outcome.as_sent, Some(Err(*kind)), "{name}");
            seen.insert(kind.code());
        }
    }
    assert!(seen.len() >= 10, "seed kinds: {seen:?}");
}

/// Every seed of `fuzz/corpus/jwt_parse` is refused (the body panics
/// otherwise); a seed named `<code>-*` (a [`JwtError::code`]) is refused
/// with that error.
#[test]
fn jwt_parse_seed_corpus() {
    let seeds = corpus("jwt_parse");
    assert!(seeds.len() >= 20, "only {} seeds", seeds.len());
    let codes = [
        "malformed",
        "algorithm_not_allowed",
        "unknown_issuer",
        "wrong_type",
        "missing_key_id",
        "unknown_key",
        "wrong_key_type",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "missing_claim",
        "invalid_claim",
    ];
    let mut seen = std::collections::HashSet::new();
    for (name, data) in &seeds {
        let error = jwt_parse(data);
        if let Some(code) = codes.iter().find(|c| {
            name.strip_prefix(**c)
                .is_some_and(|rest| rest.starts_with('-'))
        }) {
            assert_eq!(error.code(), *code, "{name}: {error:?}");
            seen.insert(*code);
        }
    }
    assert_eq!(seen.len(), codes.len(), "seed kinds: {seen:?}");
}

#[test]
fn verifier_of_the_fuzz_target_accepts_real_tokens() {
    let token = seed_tokens()
        .into_iter()
        .find(|(name, _)| name == "valid")
        .unwrap()
        .1;
    let now = UNIX_EPOCH + Duration::from_secs(TEST_NOW);
    assert_eq!(
        test_verifier().verify(&token, now).unwrap().id,
        "11010519491231002X"
    );
}

/// Writes the seed corpora from the tables below (run after changing them:
/// `cargo test -p onestop-policy -- --ignored regenerate_seed_corpora`).
#[test]
#[ignore]
fn regenerate_seed_corpora() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |dir: &Path, name: &str, data: &[u8]| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let dir = root.join("normalize_path");
    for (name, input) in PATH_SEEDS {
        write(&dir, name, input.as_bytes());
    }
    let dir = root.join("jwt_parse");
    for (name, token) in seed_tokens() {
        if name != "valid" {
            write(&dir, &format!("{name}.txt"), token.as_bytes());
        }
    }
    for (name, data) in STRUCTURED_SEEDS {
        write(&dir, name, data.as_bytes());
    }
}

const PATH_SEEDS: &[(&str, &str)] = &[
    ("ok-root", "/"),
    ("ok-catalog", "/api/v1/catalog"),
    (
        "ok-citizen",
        "/api/v1/depts/hpf/citizens/11010519491231002X/accounts",
    ),
    ("ok-messy", "//api/./v1//depts/%68%70%66/../water/"),
    ("ok-dotdot-resolved", "/api/v1/depts/hpf/%2e%2e/water"),
    ("ok-chinese", "/api/v1/%e4%b8%ad/中文"),
    ("ok-emoji", "/%F0%9F%98%80/😀"),
    ("ok-kept-escapes", "/a%20b%3fc%40d%25zz"),
    ("ok-raw-encoded", "/a b\"c<d>{e}|f"),
    ("ok-sub-delims", "/a!$&'()*+,=:@b"),
    ("ok-grpc", "/hpf.v1.Accounts/Get"),
    ("not_absolute-relative", "api/v1"),
    ("bad_percent_encoding-short", "/a%2"),
    ("bad_percent_encoding-iis-unicode", "/%u002e%u002e/x"),
    ("encoded_slash-lower", "/api/v1/depts/hpf/..%2f..%2fwater"),
    ("encoded_slash-backslash", "/a%5Cb"),
    ("double_encoding-slash", "/a%252Fb"),
    ("double_encoding-mixed", "/a%25%32%66"),
    ("control_character-crlf", "/a%0d%0aSet-Cookie:x"),
    ("control_character-nul", "/a%00.json"),
    ("backslash-traversal", "/api/v1/depts/hpf/..\\water"),
    ("above_root-plain", "/../etc/passwd"),
    ("above_root-encoded", "/a/%2e%2e/%2E%2E/b"),
    ("path_parameter-tomcat", "/api/v1/depts/hpf/..;/water"),
    ("path_parameter-encoded", "/a/..%3B/b"),
    ("not_utf8-overlong", "/%C0%AF"),
    ("not_utf8-surrogate", "/%ED%A0%80"),
    ("not_utf8-truncated", "/%E4%B8/%AD"),
    ("invalid_character-query", "/a?b=1"),
];

const STRUCTURED_SEEDS: &[(&str, &str)] = &[
    (
        "structured-eddsa.txt",
        "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"ed-1\"}\n{\"iss\":\"https://id.gov.example\",\"aud\":\"onestop\",\"sub\":\"11010519491231002X\",\"exp\":1750000600}\n0123456789012345678901234567890123456789012345678901234567890123",
    ),
    (
        "structured-none.txt",
        "{\"alg\":\"none\"}\n{\"iss\":\"https://id.gov.example\"}\n",
    ),
    (
        "structured-aud-list.txt",
        "{\"alg\":\"ES256\",\"typ\":\"jwt\",\"kid\":\"ec-1\"}\n{\"iss\":\"https://id.gov.example\",\"aud\":[\"x\",\"onestop\"],\"sub\":\"a\",\"exp\":1.75e9,\"nbf\":1,\"chn\":\"wechat\",\"jti\":\"j\"}\nsig",
    ),
    (
        "structured-escapes.txt",
        "{\"al\\u0067\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"b64\"]}\n{\"i\\u0073s\":\"https:\\/\\/id.gov.example\",\"sub\":\"\\u4e2d\"}\n",
    ),
];

/// Tokens for the `jwt_parse` corpus, named by the error they get at
/// [`TEST_NOW`] (plus one `valid` token, which is not written as a seed).
fn seed_tokens() -> Vec<(String, String)> {
    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::{Value, json};

    let rsa =
        EncodingKey::from_rsa_pem(include_bytes!("../../tests/fixtures/rsa-private.pem")).unwrap();
    let ec =
        EncodingKey::from_ec_pem(include_bytes!("../../tests/fixtures/ec-private.pem")).unwrap();
    let ed = EncodingKey::from_ed_pem(include_bytes!("../../tests/fixtures/ed25519-private.pem"))
        .unwrap();
    let hs = EncodingKey::from_secret(include_bytes!("../../tests/fixtures/rsa-public.pem"));
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let sign = |h: &Value, c: &Value, alg: Algorithm| {
        let key = match alg {
            Algorithm::RS256 => &rsa,
            Algorithm::ES256 => &ec,
            Algorithm::EdDSA => &ed,
            _ => &hs,
        };
        let message = format!("{}.{}", b64(h), b64(c));
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
        format!("{message}.{sig}")
    };
    let head = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "JWT", "kid": kid });
    let claims = json!({
        "iss": TEST_ISS, "aud": TEST_AUD, "sub": "11010519491231002X",
        "iat": TEST_NOW - 10, "nbf": TEST_NOW - 10, "exp": TEST_NOW + 600, "jti": "seed",
    });
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let flip = |t: String| {
        let (m, s) = t.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(s).unwrap();
        raw[3] ^= 0x40;
        format!("{m}.{}", URL_SAFE_NO_PAD.encode(raw))
    };
    let valid = sign(&head("EdDSA", "ed-1"), &claims, Algorithm::EdDSA);
    let parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    let t = |s: &str| s.to_string();
    vec![
        (t("valid"), valid.clone()),
        (t("malformed-garbage"), t("not a token")),
        (
            t("malformed-two-parts"),
            format!("{}.{}", parts[0], parts[1]),
        ),
        (t("malformed-four-parts"), format!("{valid}.{}", parts[2])),
        (
            t("malformed-not-base64"),
            format!("{}.{}.%%%", parts[0], parts[1]),
        ),
        (
            t("malformed-crit"),
            sign(
                &json!({"alg":"EdDSA","typ":"JWT","kid":"ed-1","crit":["x"]}),
                &claims,
                Algorithm::EdDSA,
            ),
        ),
        (
            t("algorithm_not_allowed-none"),
            format!(
                "{}.{}.",
                b64(&json!({"alg":"none","typ":"JWT","kid":"rsa-1"})),
                parts[1]
            ),
        ),
        (
            t("algorithm_not_allowed-hs256-confusion"),
            sign(&head("HS256", "rsa-1"), &claims, Algorithm::HS256),
        ),
        (
            t("algorithm_not_allowed-ps256"),
            sign(&head("PS256", "rsa-1"), &claims, Algorithm::RS256),
        ),
        (
            t("unknown_issuer-evil"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("iss", json!("https://evil.example")),
                Algorithm::EdDSA,
            ),
        ),
        (
            t("wrong_type-at-jwt"),
            sign(
                &json!({"alg":"EdDSA","typ":"at+jwt","kid":"ed-1"}),
                &claims,
                Algorithm::EdDSA,
            ),
        ),
        (
            t("missing_key_id-none"),
            sign(
                &json!({"alg":"EdDSA","typ":"JWT"}),
                &claims,
                Algorithm::EdDSA,
            ),
        ),
        (
            t("unknown_key-rsa-2"),
            sign(&head("RS256", "rsa-2"), &claims, Algorithm::RS256),
        ),
        (
            t("wrong_key_type-rs256-with-ec-key"),
            sign(&head("RS256", "ec-1"), &claims, Algorithm::RS256),
        ),
        (
            t("bad_signature-rs256"),
            flip(sign(&head("RS256", "rsa-1"), &claims, Algorithm::RS256)),
        ),
        (
            t("bad_signature-es256"),
            flip(sign(&head("ES256", "ec-1"), &claims, Algorithm::ES256)),
        ),
        (t("bad_signature-eddsa"), flip(valid.clone())),
        (
            t("bad_signature-empty"),
            format!("{}.{}.", parts[0], parts[1]),
        ),
        (
            t("expired-rs256"),
            sign(
                &head("RS256", "rsa-1"),
                &with("exp", json!(TEST_NOW - 31)),
                Algorithm::RS256,
            ),
        ),
        (
            t("not_yet_valid-eddsa"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("nbf", json!(TEST_NOW + 31)),
                Algorithm::EdDSA,
            ),
        ),
        (
            t("wrong_audience-es256"),
            sign(
                &head("ES256", "ec-1"),
                &with("aud", json!(["x"])),
                Algorithm::ES256,
            ),
        ),
        (
            t("missing_claim-exp"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("exp", Value::Null),
                Algorithm::EdDSA,
            ),
        ),
        (
            t("missing_claim-sub"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("sub", Value::Null),
                Algorithm::EdDSA,
            ),
        ),
        (
            t("invalid_claim-long-citizen"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("sub", json!("1".repeat(65))),
                Algorithm::EdDSA,
            ),
        ),
        (
            t("invalid_claim-aud-number"),
            sign(
                &head("EdDSA", "ed-1"),
                &with("aud", json!(1)),
                Algorithm::EdDSA,
            ),
        ),
    ]
}
