//! The response cache end to end: coalescing counted at the department,
//! citizen privacy over thousands of random pairs, stale-if-error when the
//! department dies, stale-while-revalidate with one background refresh,
//! purges over the control plane and the admin API, and the byte budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use onestop_control::pb::cache as pb;
use onestop_tests::registry::issue_token;
use onestop_tests::secure::Secure;
use onestop_tests::{Gateway, Sim, percentile, wait_for};
use serde_json::{Value, json};

/// Routes added to `hpf` (all on the fleet's echo, which answers what the
/// department received, including the request id that reached it).
const CACHED_ROUTES: &str = r#"
[[routes]]
id = "catalog"
prefix = "/api/v1/depts/hpf/echo/pub"
service = "main"
retries = 0
cache = { ttl = "60s", query = ["year"] }

[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/echo/c/{citizen}/balance"
citizen_param = "citizen"
service = "main"
auth = "citizen"
cache = { ttl = "60s", scope = "citizen" }

[[routes]]
id = "profile"
prefix = "/api/v1/depts/hpf/echo/profile"
service = "main"
auth = "citizen"
cache = { ttl = "60s", scope = "citizen" }

[[routes]]
id = "bills"
prefix = "/api/v1/depts/hpf/echo/short"
service = "main"
retries = 0
timeout = "500ms"
cache = { ttl = "1s", stale_if_error = "3s" }

[[routes]]
id = "rates"
prefix = "/api/v1/depts/hpf/echo/swr"
service = "main"
cache = { ttl = "1s", stale_while_revalidate = "60s" }

[[routes]]
id = "uncached"
prefix = "/api/v1/depts/hpf/echo/plain"
service = "main"
"#;

/// A cached route of `hrss`, whose entries `hpf` must not be able to purge.
const HRSS_ROUTE: &str = r#"
[[routes]]
id = "catalog"
prefix = "/api/v1/depts/hrss/echo/pub"
service = "main"
cache = { ttl = "60s" }
"#;

struct Setup {
    sim: Sim,
    gw: Gateway,
    secure: Secure,
}

/// A secured gateway (identity, channel, signing) with the cached routes,
/// in front of a signature-verifying fleet; `gateway_extra` is appended to
/// the gateway file.
async fn setup(citizens: usize, gateway_extra: &str) -> Setup {
    let secure = Secure::new();
    let sim = Sim::start_signed(2, citizens, Some(&secure.signing_key_hex)).await;
    let gw = secure
        .gateway(
            &sim,
            &[],
            &[("hpf", CACHED_ROUTES), ("hrss", HRSS_ROUTE)],
            gateway_extra,
        )
        .await;
    Setup { sim, gw, secure }
}

impl Setup {
    /// Requests that reached any `hpf` instance.
    async fn department_requests(&self) -> u64 {
        let mut n = 0;
        for i in &self.sim.dept("hpf").instances {
            n += self.sim.requests(&i.id).await;
        }
        n
    }

    async fn hpf_faults(&self, faults: Value) {
        for i in &self.sim.dept("hpf").instances {
            self.sim.set_faults(&i.id, faults.clone()).await;
        }
    }
}

/// One answer: status, `x-onestop-cache`, `Age`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    cache: String,
    age: Option<u64>,
    body: Value,
    took: Duration,
}

impl Answer {
    /// The request id the department saw (which request filled the entry).
    fn filled_by(&self) -> &str {
        self.body["headers"]["x-request-id"].as_str().unwrap_or("")
    }
}

async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let started = Instant::now();
    let mut req = http.get(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp
        .headers()
        .get("x-onestop-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let age = resp
        .headers()
        .get("age")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        cache,
        age,
        body,
        took: started.elapsed(),
    }
}

/// 1,000 concurrent requests for one cold key make exactly one request to
/// the department; the others wait for it (coalesced) or hit the entry it
/// stored, and all get its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_cold_requests_reach_the_department_once() {
    let s = setup(20, "").await;
    let http = s.secure.client(None);
    // Slow enough that the requests pile up behind the first.
    s.hpf_faults(json!({"latency_ms": 300})).await;
    let before = s.department_requests().await;
    let url =
        s.gw.url("/api/v1/depts/hpf/echo/pub/rates?year=2026&utm=ad");
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let http = http.clone();
            let url = url.clone();
            tokio::spawn(async move { get(&http, &url, &[]).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let upstream = s.department_requests().await - before;
    let misses = answers.iter().filter(|a| a.cache == "MISS").count();
    let hits = answers.iter().filter(|a| a.cache == "HIT").count();
    let filler = answers[0].filled_by().to_string();
    let coalesced =
        s.gw.metric("onestop_cache_coalesced_total{dept=\"hpf\",route=\"catalog\"}")
            .await
            .unwrap_or(0.0);
    println!(
        "1000 concurrent cold requests: {upstream} department request(s), {misses} MISS, {hits} HIT, {coalesced} coalesced waits"
    );
    assert_eq!(upstream, 1, "exactly one request reaches the department");
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(misses, 1);
    assert_eq!(hits, 999);
    assert!(
        answers.iter().all(|a| a.filled_by() == filler),
        "every answer is the one department answer"
    );
    assert!(coalesced > 0.0, "some requests waited for the leader");

    // The key: chosen query parameters in any order, the others ignored.
    s.hpf_faults(json!({"latency_ms": 0})).await;
    let same = get(
        &http,
        &s.gw.url("/api/v1/depts/hpf/echo/pub/rates?utm=x&year=2026"),
        &[],
    )
    .await;
    assert_eq!(
        (same.cache.as_str(), same.filled_by()),
        ("HIT", filler.as_str())
    );
    assert!(same.age.is_some());
    let other = get(
        &http,
        &s.gw.url("/api/v1/depts/hpf/echo/pub/rates?year=2025"),
        &[],
    )
    .await;
    assert_eq!(other.cache, "MISS");
    // HEAD is answered from the GET entry.
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.headers()["x-onestop-cache"], "HIT");
    // Never stored: Set-Cookie, no-store, private; a public entry is
    // neither given to nor filled by a request with credentials.
    for (name, value) in [
        ("x-sim-respond-set-cookie", "session=1"),
        ("x-sim-respond-cache-control", "no-store"),
        ("x-sim-respond-cache-control", "private, max-age=60"),
    ] {
        let path = format!("/api/v1/depts/hpf/echo/pub/never/{}", value.len());
        let first = get(&http, &s.gw.url(&path), &[(name, value)]).await;
        let second = get(&http, &s.gw.url(&path), &[(name, value)]).await;
        assert_eq!(
            (first.cache.as_str(), second.cache.as_str()),
            ("MISS", "MISS"),
            "{name}: {value}"
        );
        assert_ne!(first.filled_by(), second.filled_by());
    }
    let with_credentials = get(&http, &url, &[("cookie", "sid=1")]).await;
    assert_eq!(with_credentials.cache, "BYPASS");
    assert_ne!(with_credentials.filled_by(), filler);
    // An uncached route says nothing about the cache.
    let plain = get(&http, &s.gw.url("/api/v1/depts/hpf/echo/plain/x"), &[]).await;
    assert_eq!((plain.status, plain.cache.as_str()), (200, ""));
}

/// Over thousands of random citizen pairs on citizen-scoped routes, an
/// answer cached for A is never served to B: each answer names the citizen
/// who asked, as the department (which verifies the gateway's signature)
/// saw it — while the cache does answer each citizen's repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_never_see_each_others_cached_answers() {
    let s = setup(300, "").await;
    let citizens: Vec<String> = s
        .sim
        .manifest
        .citizens
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let clients: Arc<Vec<reqwest::Client>> =
        Arc::new(citizens.iter().map(|c| s.secure.client(Some(c))).collect());
    let citizens = Arc::new(citizens);
    let base = s.gw.url("");
    let pairs = 3000;
    let workers = 8;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (clients, citizens, base) = (clients.clone(), citizens.clone(), base.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(w);
                let (mut leaks, mut hits, mut checked) = (Vec::new(), 0, 0);
                for _ in 0..pairs / workers {
                    let a = rng.usize(..citizens.len());
                    let mut b = rng.usize(..citizens.len());
                    if b == a {
                        b = (a + 1) % citizens.len();
                    }
                    // Both ask the same URLs: `me` (the template route) and
                    // a path that names nobody (the key alone tells them apart).
                    for path in [
                        "/api/v1/depts/hpf/echo/c/me/balance",
                        "/api/v1/depts/hpf/echo/profile/summary",
                    ] {
                        for who in [a, b] {
                            let answer = get(&clients[who], &format!("{base}{path}"), &[]).await;
                            checked += 1;
                            hits += usize::from(answer.cache == "HIT");
                            let seen = answer.body["citizen"].as_str().unwrap_or("");
                            if answer.status != 200 || seen != citizens[who] {
                                leaks.push(format!(
                                    "{path} for {}: {} {} citizen={seen}",
                                    citizens[who], answer.status, answer.cache
                                ));
                            }
                        }
                    }
                }
                (leaks, hits, checked)
            })
        })
        .collect();
    let (mut leaks, mut hits, mut checked) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, h, c) = t.await.unwrap();
        leaks.extend(l);
        hits += h;
        checked += c;
    }
    println!(
        "privacy: {pairs} random citizen pairs, {checked} answers on 2 citizen-scoped routes, {hits} HIT, {} served to the wrong citizen",
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "{} leaks, e.g. {:?}",
        leaks.len(),
        &leaks[..leaks.len().min(5)]
    );
    assert!(
        hits > checked / 2,
        "the cache should answer most repeats ({hits} of {checked})"
    );
}

/// The department dies (errors, times out, then is unreachable): cached
/// entries are answered STALE within stale-if-error, then the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_department_is_answered_stale_then_errs() {
    let s = setup(20, "").await;
    let http = s.secure.client(None);
    let paths = [
        "/api/v1/depts/hpf/echo/short/a",
        "/api/v1/depts/hpf/echo/short/b",
        "/api/v1/depts/hpf/echo/short/c",
    ];
    let mut fillers = Vec::new();
    for p in paths {
        let a = get(&http, &s.gw.url(p), &[]).await;
        assert_eq!((a.status, a.cache.as_str()), (200, "MISS"));
        fillers.push(a.filled_by().to_string());
    }
    let filled = Instant::now();
    // Past the 1 s TTL.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // 1. The department answers 500.
    s.hpf_faults(json!({"error_rate": 1.0})).await;
    let errs = get(&http, &s.gw.url(paths[0]), &[]).await;
    // 2. The department does not answer within the route's 500 ms.
    s.hpf_faults(json!({"latency_ms": 2000})).await;
    let slow = get(&http, &s.gw.url(paths[1]), &[]).await;
    // 3. The department is gone.
    s.hpf_faults(json!({"down": true})).await;
    let gone = get(&http, &s.gw.url(paths[2]), &[]).await;
    for (what, a, filler) in [
        ("500", &errs, &fillers[0]),
        ("timeout", &slow, &fillers[1]),
        ("down", &gone, &fillers[2]),
    ] {
        println!(
            "department {what}: {} {} age={:?} after {:?}",
            a.status, a.cache, a.age, a.took
        );
        assert_eq!((a.status, a.cache.as_str()), (200, "STALE"), "{what}");
        assert_eq!(a.filled_by(), filler, "{what}: the answer stored before");
        assert!(
            a.age.unwrap() >= 1,
            "{what}: Age counts from the department's answer"
        );
    }
    // Past TTL + stale-if-error (1 s + 3 s): the error itself.
    let until = filled + Duration::from_millis(4300);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let after = get(&http, &s.gw.url(paths[0]), &[]).await;
    println!(
        "after max-stale: {} {:?}",
        after.status, after.body["error"]["code"]
    );
    assert!(after.status >= 500, "{after:?}");
    assert!(after.cache != "STALE" && after.cache != "HIT");
}

/// stale-while-revalidate: past the TTL, concurrent requests are answered
/// from the cache at hit speed while exactly one background request
/// refreshes the entry, which later requests then get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_answers_at_hit_speed_with_one_refresh() {
    let s = setup(20, "").await;
    let http = s.secure.client(None);
    let url = s.gw.url("/api/v1/depts/hpf/echo/swr/today");
    let first = get(&http, &url, &[]).await;
    assert_eq!(first.cache, "MISS");
    let mut hit_times = Vec::new();
    for _ in 0..50 {
        let a = get(&http, &url, &[]).await;
        assert_eq!(a.cache, "HIT");
        hit_times.push(a.took);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The department now takes 1 s: a request that waited for it would show.
    s.hpf_faults(json!({"latency_ms": 1000})).await;
    let before = s.department_requests().await;
    // One client after another, as the hits above were timed...
    let mut stale_times = Vec::new();
    for _ in 0..20 {
        let a = get(&http, &url, &[]).await;
        assert_eq!((a.status, a.cache.as_str()), (200, "STALE"));
        assert_eq!(a.filled_by(), first.filled_by());
        stale_times.push(a.took);
    }
    // ...then 50 at once.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { get(&http, &url, &[]).await })
        })
        .collect();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!((a.status, a.cache.as_str()), (200, "STALE"));
        assert_eq!(a.filled_by(), first.filled_by());
    }
    // The refresh lands in the cache.
    let refreshed = wait_for(Duration::from_secs(5), || async {
        let a = get(&http, &url, &[]).await;
        a.cache == "HIT" && a.filled_by() != first.filled_by()
    })
    .await;
    let refreshes = s.department_requests().await - before;
    let (hit_p50, stale_p50) = (percentile(&hit_times, 0.5), percentile(&stale_times, 0.5));
    let stale_max = percentile(&stale_times, 1.0);
    println!(
        "stale-while-revalidate: hit p50 {hit_p50:.2} ms, stale p50 {stale_p50:.2} ms (max {stale_max:.2} ms) with the department at 1 s; 70 stale answers, {refreshes} refresh, fresh again after {refreshed:?}"
    );
    assert!(
        refreshed.is_some(),
        "the background refresh replaced the entry"
    );
    assert_eq!(refreshes, 1, "exactly one background refresh");
    assert!(
        stale_max < 500.0,
        "stale answers must not wait for the 1 s department ({stale_max:.1} ms)"
    );
}

/// The byte budget holds under a key space ten times larger than it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_cap_holds_under_ten_times_the_key_space() {
    let cap: u64 = 1 << 20;
    let s = setup(20, &format!("\n[cache]\nmax_bytes = {cap}\n")).await;
    let http = s.secure.client(None);
    // Each answer carries an 8 KiB header echoed back: ~9 KiB entries.
    let pad = "x".repeat(8192);
    let keys = 1300;
    let base = s.gw.url("/api/v1/depts/hpf/echo/pub/page");
    let mut stored = 0u64;
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let (http, base, pad) = (http.clone(), base.clone(), pad.clone());
            tokio::spawn(async move {
                let mut bytes = 0u64;
                for i in (w..keys).step_by(4) {
                    let resp = http
                        .get(format!("{base}/{i}"))
                        .header("x-pad", &pad)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                    bytes += resp.bytes().await.unwrap().len() as u64;
                }
                bytes
            })
        })
        .collect();
    for t in tasks {
        stored += t.await.unwrap();
    }
    let stats = s.gw.admin_get("/cache/stats").await;
    let used = stats["bytes"].as_u64().unwrap();
    let entries = stats["entries"].as_u64().unwrap();
    let evictions: u64 = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["evictions"].as_u64().unwrap())
        .sum();
    println!(
        "memory cap {cap} B: {keys} keys, {stored} B of answers ({:.1}× the cap); cache holds {used} B in {entries} entries, {evictions} evicted",
        stored as f64 / cap as f64
    );
    assert!(stored >= 10 * cap, "the key space must be ≥ 10× the cap");
    assert!(used <= cap, "{used} B used over a {cap} B cap");
    assert!(entries > 0 && evictions > 0);
    // The gateway's per-route gauge agrees.
    let gauge =
        s.gw.metric("onestop_cache_bytes{dept=\"hpf\",route=\"catalog\"}")
            .await
            .unwrap();
    assert!(gauge as u64 <= cap, "gauge {gauge}");
}

/// Wraps purge requests in a department's credentials (or none).
fn purger(token: Option<&str>) -> impl Fn(pb::PurgeRequest) -> tonic::Request<pb::PurgeRequest> {
    let auth = token.map(|t| format!("Bearer {t}"));
    move |msg| {
        let mut r = tonic::Request::new(msg);
        if let Some(a) = &auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    }
}

fn purge(target: pb::purge_request::Target) -> pb::PurgeRequest {
    pb::PurgeRequest {
        department: String::new(),
        target: Some(target),
    }
}

/// Purges by prefix and by tag remove exactly the matching entries; a
/// department cannot purge another's; operators purge through the admin
/// API; every purge is in the admin stats' evictions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_remove_exactly_their_matches_and_only_the_callers() {
    use pb::purge_request::Target;
    let s = setup(20, "").await;
    let http = s.secure.client(None);
    // (path, tags the department sends)
    let entries: [(&str, &str); 5] = [
        ("/api/v1/depts/hpf/echo/pub/bills/1", "bills"),
        ("/api/v1/depts/hpf/echo/pub/bills/1/items", "c1"),
        ("/api/v1/depts/hpf/echo/pub/bills/10", "bills"),
        ("/api/v1/depts/hpf/echo/pub/meters/1", "c1, meters"),
        ("/api/v1/depts/hrss/echo/pub/bills/1", "bills, c1"),
    ];
    let fill = || async {
        for (path, tags) in entries {
            get(&http, &s.gw.url(path), &[("x-sim-respond-cache-tag", tags)]).await;
        }
    };
    // Which entries are still cached (a MISS refills it, so check once).
    let cached = || async {
        let mut out = Vec::new();
        for (path, tags) in entries {
            let a = get(&http, &s.gw.url(path), &[("x-sim-respond-cache-tag", tags)]).await;
            assert_eq!(a.status, 200);
            out.push(a.cache == "HIT");
        }
        out
    };
    fill().await;
    assert_eq!(cached().await, [true; 5]);

    let control = tonic::transport::Channel::from_shared(format!("http://{}", s.gw.control))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::cache_client::CacheClient::new(control);
    let hpf_token = issue_token(&s.gw, "hpf").await;
    let hrss_token = issue_token(&s.gw, "hrss").await;
    let hpf = purger(Some(&hpf_token));
    let hrss = purger(Some(&hrss_token));
    let anonymous = purger(None);

    // By prefix: whole segments, the caller's entries only.
    let r = client
        .purge(hpf(purge(Target::Prefix(
            "/api/v1/depts/hpf/echo/pub/bills/1".into(),
        ))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.removed, 2);
    assert_eq!(cached().await, [false, false, true, true, true]);

    // By tag.
    let r = client
        .purge(hpf(purge(Target::Tag("c1".into()))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.removed, 2,
        "bills/1/items and meters/1 carry c1 (hrss's c1 is not hpf's)"
    );
    assert_eq!(cached().await, [true, false, true, false, true]);

    // Another department's: refused when named, and a prefix under the
    // other department's paths removes nothing of theirs.
    let mut named = purge(Target::All(true));
    named.department = "hpf".into();
    let denied = client.purge(hrss(named)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let r = client
        .purge(hrss(purge(Target::Prefix("/api/v1/depts/hpf".into()))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.removed, 0);
    let r = client
        .purge(hrss(purge(Target::Tag("bills".into()))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.removed, 1, "hrss's own bills entry only");
    assert_eq!(cached().await, [true, true, true, true, false]);
    let unauthenticated = client
        .purge(anonymous(purge(Target::All(true))))
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);
    let invalid = client
        .purge(hpf(purge(Target::Prefix("no-slash".into()))))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);

    // Operators: everything of one department.
    let (status, body) =
        s.gw.admin_post("/cache/purge", json!({"department": "hpf", "all": true}))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], 4);
    assert_eq!(cached().await, [false, false, false, false, true]);
    let stats = s.gw.admin_get("/cache/stats").await;
    println!("after purges: {stats}");
}

/// A purge taken by one gateway reaches another that shares its
/// PostgreSQL store: the other's entry is gone within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_reaches_every_gateway_on_the_store() {
    use onestop_tests::{ConfigOptions, GatewaySetup, pg_url, require_postgres};
    use pb::purge_request::Target;
    require_postgres();
    let sim = Sim::start(2, 20).await;
    let url = pg_url("purge");
    let route = |config: &std::path::Path| {
        let file = config.join("departments/hpf.toml");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(
            "\n[[routes]]\nid = \"catalog\"\nprefix = \"/api/v1/depts/hpf/echo/pub\"\nservice = \"main\"\ncache = { ttl = \"60s\" }\n",
        );
        std::fs::write(file, text).unwrap();
    };
    let setup = || GatewaySetup {
        threads: 2,
        store_url: Some(url.clone()),
        ..GatewaySetup::default()
    };
    let a = Gateway::start_setup(&sim.manifest, &ConfigOptions::default(), route, setup()).await;
    let b = Gateway::start_setup(&sim.manifest, &ConfigOptions::default(), route, setup()).await;
    let http = onestop_tests::client();
    let path = "/api/v1/depts/hpf/echo/pub/notice";
    for gw in [&a, &b] {
        assert_eq!(get(&http, &gw.url(path), &[]).await.cache, "MISS");
        assert_eq!(get(&http, &gw.url(path), &[]).await.cache, "HIT");
    }
    let token = issue_token(&a, "hpf").await;
    let control = tonic::transport::Channel::from_shared(format!("http://{}", a.control))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::cache_client::CacheClient::new(control);
    let hpf = purger(Some(&token));
    let started = Instant::now();
    let r = client
        .purge(hpf(purge(Target::Prefix(
            "/api/v1/depts/hpf/echo/pub".into(),
        ))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.removed, 1,
        "gateway A's own entry, before the call returns"
    );
    // B applies it from the store; poll with HEAD, which never refills.
    let reached = wait_for(Duration::from_secs(3), || async {
        let head = http.head(b.url(path)).send().await.unwrap();
        head.headers()["x-onestop-cache"] == "MISS"
    })
    .await;
    println!(
        "purge on gateway A reached gateway B after {reached:?} (since the call started: {:?})",
        started.elapsed()
    );
    let reached = reached.expect("the purge reached the other gateway");
    assert!(reached < Duration::from_secs(1), "{reached:?}");
    assert_eq!(get(&http, &a.url(path), &[]).await.cache, "MISS");
}
