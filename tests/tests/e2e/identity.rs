//! The public entry made safe, end to end: citizen JWTs (the RFC 8725
//! attack matrix), JWKS rotation from a URL, channels and their routes and
//! quotas, route auth modes, object-level authorisation over thousands of
//! random citizen pairs, path normalisation, and identity headers that a
//! client can never forge — checked at the (signature-verifying) department.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use onestop_policy::jwt::DevSigner;
use onestop_tests::secure::{AUDIENCE, ISSUER, KID, Secure};
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Routes added to `hpf` for these tests: a public echo (any path below
/// it), a citizen echo, a department-only and an operator-only echo.
const EXTRA_ROUTES: &str = r#"
[[routes]]
id = "echo-any"
prefix = "/api/v1/depts/hpf/echo/any"
service = "main"

[[routes]]
id = "echo-citizen"
prefix = "/api/v1/depts/hpf/echo/citizen"
service = "main"
auth = "citizen"

[[routes]]
id = "echo-dept"
prefix = "/api/v1/depts/hpf/echo/dept"
service = "main"
auth = "department"

[[routes]]
id = "echo-ops"
prefix = "/api/v1/depts/hpf/echo/ops"
service = "main"
auth = "operator"
"#;

/// A secured gateway (identity, channels, signing) in front of a fleet
/// that verifies the gateway's signature.
async fn secured(
    departments: usize,
    citizens: usize,
    channel_extra: &[&str],
) -> (Sim, Gateway, Secure) {
    let secure = Secure::new();
    let sim = Sim::start_signed(departments, citizens, Some(&secure.signing_key_hex)).await;
    let gw = secure
        .gateway(&sim, channel_extra, &[("hpf", EXTRA_ROUTES)], "")
        .await;
    (sim, gw, secure)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with the dev key's Ed25519 key but with arbitrary claims.
fn signed_with_claims(pem: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(KID.into());
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_attack_matrix_is_refused_with_401() {
    let (sim, gw, secure) = secured(2, 50, &[]).await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let hrss = &sim.manifest.departments[0];
    let path = hrss
        .matters
        .iter()
        .find(|m| m.method == "GET" && m.citizen_param.is_some())
        .unwrap()
        .example
        .path
        .clone();
    let valid = secure.token(&citizen);
    let claims = |exp: Option<u64>, nbf: Option<u64>| {
        let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": citizen, "iat": now()});
        if let Some(e) = exp {
            c["exp"] = json!(e);
        }
        if let Some(n) = nbf {
            c["nbf"] = json!(n);
        }
        c
    };
    let (other_key, _) = DevSigner::generate("other-kid", ISSUER, AUDIENCE).unwrap();
    let wrong_aud = DevSigner::from_pem(secure.pem(), KID, ISSUER, "someone-else").unwrap();
    let wrong_iss =
        DevSigner::from_pem(secure.pem(), KID, "https://evil.example", AUDIENCE).unwrap();
    let t0 = SystemTime::now();
    let payload = b64(claims(Some(now() + 600), None).to_string().as_bytes());
    // RS256→HS256-style confusion: HMAC keyed with the issuer's public key.
    let public_jwk = secure.signer.public_jwk().to_string();
    let hs256 = jsonwebtoken::encode(
        &{
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some(KID.into());
            h
        },
        &claims(Some(now() + 600), None),
        &jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    let mut flipped = valid.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "unknown kid",
            other_key.mint(&citizen, None, Duration::from_secs(600), t0),
        ),
        (
            "expired beyond leeway",
            secure.signer.mint(
                &citizen,
                None,
                Duration::from_secs(60),
                t0 - Duration::from_secs(3600),
            ),
        ),
        (
            "nbf in the future",
            secure.signer.mint(
                &citizen,
                None,
                Duration::from_secs(600),
                t0 + Duration::from_secs(3600),
            ),
        ),
        (
            "wrong aud",
            wrong_aud.mint(&citizen, None, Duration::from_secs(600), t0),
        ),
        (
            "wrong iss",
            wrong_iss.mint(&citizen, None, Duration::from_secs(600), t0),
        ),
        (
            "missing exp",
            signed_with_claims(secure.pem(), &claims(None, None)),
        ),
        ("bad signature", String::from_utf8(flipped).unwrap()),
        ("garbage", "not-a-jwt".into()),
        ("two parts", "eyJhbGciOiJFZERTQSJ9.e30".into()),
        ("four parts", format!("{valid}.x")),
        ("empty", String::new()),
    ];
    let http = onestop_tests::client();
    let call = |token: String| {
        let http = http.clone();
        let url = gw.url(&path);
        let key = secure.app_key().to_string();
        async move {
            let r = http
                .get(url)
                .header("x-onestop-app-key", key)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, body) = call(valid.clone()).await;
    assert_eq!(status, 200, "the valid token: {body}");
    let within_leeway = secure.signer.mint(
        &citizen,
        None,
        Duration::from_secs(60),
        t0 - Duration::from_secs(75),
    );
    assert_eq!(
        call(within_leeway).await.0,
        200,
        "expired 15 s ago, within the 30 s leeway"
    );
    let before = sim.requests(&hrss.instances[0].id).await;
    println!("{:<34} status  error", "attack");
    for (name, token) in cases {
        let (status, body) = call(token).await;
        println!(
            "{name:<34} {status}     {} — {}",
            body["error"]["code"].as_str().unwrap_or("?"),
            body["error"]["message"].as_str().unwrap_or("?")
        );
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{name}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 10),
            "{name}: a clear message: {body}"
        );
        assert!(body["error"]["request_id"].is_string());
    }
    // No refused token reached the department.
    let after = sim.requests(&hrss.instances[0].id).await;
    assert_eq!(before, after, "a refused request reached the backend");
    let metrics = gw.metrics().await;
    assert!(metrics.contains("onestop_auth_refused_total{reason=\"algorithm_not_allowed\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_citizen_pairs_never_leak_and_not_mine_looks_like_not_found() {
    // The whole demo fleet: every citizen-scoped route of every department.
    let (sim, gw, secure) = secured(32, 200, &[]).await;
    let mut ids: Vec<String> =
        onestop_sim::citizens::generate(onestop_sim::FleetOptions::default().seed, 200)
            .into_iter()
            .map(|c| c.id)
            .collect();
    // Well-formed ids nobody holds.
    ids.extend(["110101199003070019", "440305198807157778"].map(String::from));
    let routes: Vec<String> = sim
        .manifest
        .departments
        .iter()
        .flat_map(|d| d.matters.iter())
        .filter(|m| m.method == "GET" && m.path.contains("{citizen}"))
        .map(|m| m.path.clone())
        .collect();
    assert!(routes.len() >= 40, "citizen routes: {routes:?}");
    let key = secure.app_key().to_string();
    let tokens: BTreeMap<String, String> = ids
        .iter()
        .map(|id| (id.clone(), secure.token(id)))
        .collect();
    let http = onestop_tests::client_builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let strip = |mut v: Value| {
        v["error"]["request_id"] = Value::Null;
        v
    };
    let headers_of = |r: &reqwest::Response| {
        r.headers()
            .keys()
            .map(|k| k.as_str().to_string())
            .collect::<BTreeSet<String>>()
    };
    // The reference "no such citizen": a well-formed id nobody holds, with its own token.
    let nobody = "110101199003070019";
    let reference = http
        .get(gw.url(&routes[0].replace("{citizen}", nobody)))
        .header("x-onestop-app-key", &key)
        .header("authorization", format!("Bearer {}", tokens[nobody]))
        .send()
        .await
        .unwrap();
    assert_eq!(reference.status(), 404);
    let reference_headers = headers_of(&reference);
    let reference_body = strip(reference.json().await.unwrap());

    let mut rng = fastrand::Rng::with_seed(20261122);
    let pairs = 3000;
    let mut tasks = Vec::new();
    // At most 256 in flight: one client address holds fewer connections
    // than the listener's `max_connections_per_addr` (1,000), which closes
    // the rest unread.
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    for n in 0..pairs {
        let a = ids[rng.usize(..ids.len())].clone();
        let b = if rng.u8(..4) == 0 {
            a.clone()
        } else {
            ids[rng.usize(..ids.len())].clone()
        };
        // Every route in turn, so each gets its share of pairs.
        let route = routes[n % routes.len()].clone();
        let url = gw.url(&route.replace("{citizen}", &b));
        let (http, key, token) = (http.clone(), key.clone(), tokens[&a].clone());
        let in_flight = in_flight.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = in_flight.acquire_owned().await.unwrap();
            let r = http
                .get(url)
                .header("x-onestop-app-key", key)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers: BTreeSet<String> =
                r.headers().keys().map(|k| k.as_str().to_string()).collect();
            let body = r.text().await.unwrap();
            (a, b, route, status, headers, body)
        }));
    }
    let (mut leaks, mut not_mine, mut mine_ok, mut mine_missing) = (0, 0, 0, 0);
    for t in tasks {
        let (a, b, route, status, headers, body) = t.await.unwrap();
        if a != b {
            not_mine += 1;
            if status == 200 || body.contains(&b) {
                leaks += 1;
                eprintln!("LEAK: {a} read {b} via {route}: {status} {body}");
                continue;
            }
            assert_eq!(status, 404, "{a} → {b} via {route}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(strip(v), reference_body, "not-mine differs from not-found");
            assert_eq!(headers, reference_headers, "not-mine headers differ");
        } else if status == 200 {
            mine_ok += 1;
        } else {
            // The department does not know this citizen: the same answer.
            mine_missing += 1;
            assert_eq!(status, 404, "{a} via {route}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(strip(v), reference_body);
            assert_eq!(headers, reference_headers);
        }
    }
    println!(
        "BOLA: {pairs} random pairs over {} citizen routes: {not_mine} not mine → 404 identical to not-found, {mine_ok} own records served, {mine_missing} own but unknown → 404; {leaks} leaks",
        routes.len()
    );
    assert_eq!(leaks, 0);
    assert!(not_mine > 1000 && mine_ok > 100);
}

/// Sends one raw HTTP/1.1 request (the target exactly as given) and
/// returns the status and body.
async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_spellings_get_the_decision_of_their_canonical_form() {
    let (_sim, gw, secure) = secured(2, 50, &["", "routes = [\"hrss/*\"]"]).await;
    let key = secure.app_key().to_string();
    let limited_key = secure.channels[1].1.clone();
    // Served: the backend receives exactly the canonical (matched) path.
    let canonical = "/api/v1/depts/hpf/echo/any/a/b";
    let variants = onestop_policy::path::variants(canonical);
    assert!(variants.len() >= 100, "{} variants", variants.len());
    for v in &variants {
        let (status, body) = raw_get(gw.public, v, &[("x-onestop-app-key", &key)]).await;
        assert_eq!(status, 200, "{v}: {body}");
        let echo: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(
            echo["path"], canonical,
            "{v} reached the backend as {}",
            echo["path"]
        );
    }
    // Refused: a channel limited to `hrss/*` cannot reach `hpf` by spelling
    // its path through hrss, and its canonical form is refused alike.
    let forbidden = "/api/v1/depts/hpf/echo/any/x";
    let (status, _) = raw_get(gw.public, forbidden, &[("x-onestop-app-key", &limited_key)]).await;
    assert_eq!(status, 403);
    let tricks = onestop_policy::path::variants(forbidden);
    for v in tricks.iter().chain(
        [
            "/api/v1/depts/hrss/../hpf/echo/any/x",
            "/api/v1/depts/hrss/%2e%2e/hpf/echo/any/x",
            "/api/v1/depts/hrss/./../hpf/echo/any/x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .iter(),
    ) {
        let (status, body) = raw_get(gw.public, v, &[("x-onestop-app-key", &limited_key)]).await;
        assert_eq!(status, 403, "{v}: {body}");
    }
    // Rejected outright: ambiguous encodings.
    for bad in [
        "/api/v1/depts/hpf%2Fecho/any/x",
        "/api/v1/depts/hpf/echo/any/%252e%252e/x",
        "/api/v1/depts/hpf/echo/any/..;/x",
        "/api/v1/depts/hpf\\echo/any/x",
        "/api/../../etc/passwd",
        "/api/v1/depts/hpf/echo/any/%ff",
    ] {
        let (status, body) = raw_get(gw.public, bad, &[("x-onestop-app-key", &key)]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    println!(
        "normalisation: {} spellings of {canonical} all reached the backend as it; {} spellings of a forbidden path all refused; 6 ambiguous ones 400",
        variants.len(),
        tricks.len() + 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_a_department() {
    let (sim, gw, secure) = secured(2, 50, &[]).await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let victim = sim.manifest.citizens[1].id.clone();
    let spoof = [
        ("x-onestop-citizen", victim.as_str()),
        ("X-Onestop-Channel", "spoofed-channel"),
        (
            "x-onestop-signature",
            "v1=0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("x-onestop-timestamp", "1"),
        ("connection", "x-onestop-citizen, x-onestop-channel"),
    ];
    let http = onestop_tests::client();
    let send = |path: &str, token: Option<String>| {
        let mut req = http
            .get(gw.url(path))
            .header("x-onestop-app-key", secure.app_key());
        for (k, v) in spoof {
            req = req.header(k, v);
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send()
    };
    // A public route: no citizen at all reaches the department.
    let echo: Value = send("/api/v1/depts/hpf/echo/any/x", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(echo["citizen"].is_null(), "{echo}");
    assert_eq!(echo["channel"], "super-app", "{echo}");
    assert_eq!(echo["signature_valid"], true, "{echo}");
    // A citizen route: the token's citizen, never the spoofed one.
    let echo: Value = send(
        "/api/v1/depts/hpf/echo/citizen/x",
        Some(secure.token(&citizen)),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(echo["citizen"], citizen.as_str(), "{echo}");
    assert_eq!(echo["channel"], "super-app");
    assert_eq!(echo["signature_valid"], true);
    let seen = echo["headers"].to_string();
    assert!(
        !seen.contains(&victim),
        "the victim's id reached the backend: {seen}"
    );
    assert!(!seen.contains("spoofed-channel"), "{seen}");
    assert!(
        !seen.contains("authorization"),
        "the token is not forwarded: {seen}"
    );
    // Unsigned requests straight to a department are refused.
    let hpf = sim.dept("hpf");
    let direct = http
        .get(format!(
            "http://{}{}",
            hpf.instances[0].addr, "/api/v1/depts/hpf/echo/any/x"
        ))
        .header("x-onestop-citizen", &citizen)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);
    let body: Value = direct.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_GATEWAY_SIGNATURE", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_auth_modes_and_quotas() {
    let (sim, gw, secure) = secured(
        2,
        50,
        &[
            "",
            "routes = [\"hpf/*\"]\nrate_limit = { per_second = 2, burst = 5 }",
        ],
    )
    .await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let http = onestop_tests::client();
    let (mini, mini_key) = &secure.channels[1];
    let get = |path: &str, key: Option<&str>, bearer: Option<&str>| {
        let mut req = http.get(gw.url(path));
        if let Some(k) = key {
            req = req.header("x-onestop-app-key", k);
        }
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Unknown or missing app keys: 401, the catalog included.
    assert_eq!(get("/api/v1/catalog", None, None).await, 401);
    assert_eq!(get("/api/v1/catalog", Some("osk_nope"), None).await, 401);
    assert_eq!(
        get("/api/v1/catalog", Some(secure.app_key()), None).await,
        200
    );
    // The mini-program may call hpf only.
    let hrss_path = sim.manifest.departments[0].matters[0].example.path.clone();
    let token = secure.token(&citizen);
    assert_eq!(
        get(&hrss_path, Some(mini_key), Some(&token)).await,
        403,
        "{mini}"
    );
    assert_eq!(
        get(&hrss_path, Some(secure.app_key()), Some(&token)).await,
        200
    );
    // Its quota: 5 at once, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(get("/api/v1/depts/hpf/echo/any/q", Some(mini_key), None).await);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    let limited = http
        .get(gw.url("/api/v1/depts/hpf/echo/any/q"))
        .header("x-onestop-app-key", mini_key)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // gRPC callers get RESOURCE_EXHAUSTED.
    let grpc = http
        .post(gw.url("/api/v1/depts/hpf/echo/any/q"))
        .header("x-onestop-app-key", mini_key)
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.headers()["grpc-status"], "8");

    // Route auth modes: department and operator routes.
    let key = Some(secure.app_key());
    assert_eq!(get("/api/v1/depts/hpf/echo/dept/x", key, None).await, 401);
    assert_eq!(
        get("/api/v1/depts/hpf/echo/dept/x", key, Some(&token)).await,
        401,
        "a citizen is not a department"
    );
    let (status, issued) = gw
        .admin_post("/departments/hpf/tokens", json!({"label": "e2e"}))
        .await;
    assert_eq!(status, 201);
    let dept_token = issued["token"].as_str().unwrap().to_string();
    let ok = wait_for(Duration::from_secs(2), || async {
        get("/api/v1/depts/hpf/echo/dept/x", key, Some(&dept_token)).await == 200
    })
    .await;
    assert!(ok.is_some(), "a department token opens department routes");
    assert_eq!(
        get("/api/v1/depts/hpf/echo/ops/x", key, Some(&dept_token)).await,
        401
    );
    assert_eq!(
        get(
            "/api/v1/depts/hpf/echo/ops/x",
            key,
            Some(&gw.operator_token)
        )
        .await,
        200
    );
    assert_eq!(
        get("/api/v1/depts/hpf/echo/citizen/x", key, None).await,
        401
    );
    assert_eq!(
        get("/api/v1/depts/hpf/echo/citizen/x", key, Some(&token)).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_a_jwks_url_and_rotate() {
    // A JWKS endpoint the test controls.
    let (first, _) = DevSigner::generate("k1", ISSUER, AUDIENCE).unwrap();
    let (second, _) = DevSigner::generate("k2", ISSUER, AUDIENCE).unwrap();
    let served = Arc::new(Mutex::new(first.jwks()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_addr = listener.local_addr().unwrap();
    {
        let served = served.clone();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let served = served.clone();
                async move { served.lock().unwrap().clone() }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let sim = Sim::start(2, 50).await;
    let gw = Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions {
            citizen_auth: true,
            ..ConfigOptions::default()
        },
        |_| {},
        GatewaySetup {
            threads: 2,
            extra: format!(
                "\n[[identity.issuers]]\nid = \"idp\"\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"EdDSA\"]\njwks_url = \"http://{jwks_addr}/jwks\"\njwks_refresh = \"1h\"\n"
            ),
            ..GatewaySetup::default()
        },
    )
    .await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let path = sim.manifest.departments[0]
        .matters
        .iter()
        .find(|m| m.method == "GET" && m.citizen_param.is_some())
        .unwrap()
        .example
        .path
        .clone();
    let http = onestop_tests::client();
    let status = |token: String| {
        let req = http
            .get(gw.url(&path))
            .header("authorization", format!("Bearer {token}"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let t1 = first.mint(&citizen, None, Duration::from_secs(600), SystemTime::now());
    let t2 = second.mint(&citizen, None, Duration::from_secs(600), SystemTime::now());
    let fetched = wait_for(Duration::from_secs(10), || async {
        status(t1.clone()).await == 200
    })
    .await;
    assert!(fetched.is_some(), "the JWKS URL was fetched at start");
    assert_eq!(status(t2.clone()).await, 401, "k2 is not published yet");
    // The identity provider rotates to k2: a token with the unknown kid
    // makes the gateway fetch again (at most every 10 s).
    *served.lock().unwrap() = second.jwks();
    let rotated = wait_for(Duration::from_secs(15), || async {
        status(t2.clone()).await == 200
    })
    .await;
    println!("JWKS rotation picked up after {rotated:?}");
    assert!(rotated.is_some(), "the rotated key was never fetched");
    assert_eq!(
        status(t1.clone()).await,
        401,
        "k1 was withdrawn: its cached verification too"
    );
}
