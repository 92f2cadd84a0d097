//! HTTP hygiene on the public listener, probed with raw sockets: malformed
//! and smuggling requests get 400/431 (413 for bodies, 404 for unknown
//! hosts), the connection is closed, and the backend counts no request.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use onestop_tests::raw::{self, RawResponse};
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, wait_for};

const ECHO: &str = "/api/v1/depts/hrss/echo";
const HOST: &str = "gw.test";
/// `[limits]` of the probed gateway: small, so that probes stay small.
const MAX_HEADER_BYTES: usize = 2048;
const MAX_HEADERS: usize = 20;
const MAX_BODY: usize = 1024;

/// What a probe must produce.
#[derive(Clone, Copy)]
struct Expect {
    status: u16,
    closed: bool,
    backend: u64,
}

const REFUSED_400: Expect = Expect {
    status: 400,
    closed: true,
    backend: 0,
};
const REFUSED_431: Expect = Expect {
    status: 431,
    closed: true,
    backend: 0,
};

struct Probe {
    name: &'static str,
    request: Vec<u8>,
    expect: Expect,
    /// Body bytes the department must report (echo's `body_len`).
    body_len: Option<u64>,
}

fn probe(name: &'static str, request: impl Into<Vec<u8>>, expect: Expect) -> Probe {
    Probe {
        name,
        request: request.into(),
        expect,
        body_len: None,
    }
}

impl Probe {
    /// The department must have received exactly `n` body bytes.
    fn body(mut self, n: u64) -> Probe {
        self.body_len = Some(n);
        self
    }
}

/// `POST` to the echo route with `headers` (each ending in CRLF) and `body`.
fn post(headers: &str, body: &str) -> String {
    format!("POST {ECHO} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n{body}")
}

/// A chunked body of `len` bytes in chunks of at most 100 bytes.
fn chunked(len: usize) -> String {
    let mut out = String::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(100);
        out.push_str(&format!("{n:x}\r\n{}\r\n", "a".repeat(n)));
        left -= n;
    }
    out.push_str("0\r\n\r\n");
    out
}

fn probes() -> Vec<Probe> {
    let ok = |closed| Expect {
        status: 200,
        closed,
        backend: 1,
    };
    let te = "Transfer-Encoding: chunked\r\n";
    let body5 = "5\r\nhello\r\n0\r\n\r\n";
    let many_headers: String = (0..MAX_HEADERS + 5)
        .map(|i| format!("X-H{i}: v\r\n"))
        .collect();
    let very_many_headers: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    vec![
        // Controls: well-formed requests reach the backend.
        probe(
            "control: GET, Connection: close",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"),
            ok(true),
        ),
        probe(
            "control: POST Content-Length",
            post("Content-Length: 5\r\nConnection: close\r\n", "hello"),
            ok(true),
        )
        .body(5),
        probe(
            "control: POST chunked",
            post(&format!("{te}Connection: close\r\n"), body5),
            ok(true),
        )
        .body(5),
        probe(
            "control: POST chunked = max_body_bytes",
            post(&format!("{te}Connection: close\r\n"), &chunked(MAX_BODY)),
            ok(true),
        )
        .body(1024),
        probe(
            "control: POST chunked, empty body",
            post(&format!("{te}Connection: close\r\n"), "0\r\n\r\n"),
            ok(true),
        )
        .body(0),
        // Content-Length and Transfer-Encoding together.
        probe(
            "CL: 4 then TE: chunked",
            post(&format!("Content-Length: 4\r\n{te}"), body5),
            REFUSED_400,
        ),
        probe(
            "TE: chunked then CL: 4",
            post(&format!("{te}Content-Length: 4\r\n"), body5),
            REFUSED_400,
        ),
        probe(
            "te/CL other case, no space",
            post("transfer-encoding: chunked\r\ncontent-LENGTH:4\r\n", body5),
            REFUSED_400,
        ),
        probe(
            "TE/CL padded with spaces",
            post(
                "Transfer-Encoding:   chunked  \r\nContent-Length:    4 \r\n",
                body5,
            ),
            REFUSED_400,
        ),
        probe(
            "TE with space before colon",
            post(
                "Transfer-Encoding : chunked\r\nContent-Length: 4\r\n",
                body5,
            ),
            REFUSED_400,
        ),
        // Content-Length framing.
        probe(
            "duplicate CL, same value",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            REFUSED_400,
        ),
        probe(
            "duplicate CL, different values",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            REFUSED_400,
        ),
        probe(
            "CL: 4, 5",
            post("Content-Length: 4, 5\r\n", "hello"),
            REFUSED_400,
        ),
        probe(
            "CL: 5, 5",
            post("Content-Length: 5, 5\r\n", "hello"),
            REFUSED_400,
        ),
        probe("CL: -1", post("Content-Length: -1\r\n", ""), REFUSED_400),
        probe(
            "CL: +5",
            post("Content-Length: +5\r\n", "hello"),
            REFUSED_400,
        ),
        probe("CL: abc", post("Content-Length: abc\r\n", ""), REFUSED_400),
        probe(
            "CL: 2^64",
            post("Content-Length: 18446744073709551616\r\n", ""),
            REFUSED_400,
        ),
        // Header syntax.
        probe(
            "obs-fold",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-A: b\r\n c\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "bare LF line endings",
            format!("GET {ECHO} HTTP/1.1\nHost: {HOST}\nX-A: b\n\n"),
            REFUSED_400,
        ),
        probe(
            "one bare LF header line",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-A: b\nX-B: c\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "bare CR line ending",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\rX-A: b\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "bare CR inside a value",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-A: b\rc\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "NUL inside a value",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-A: b\0c\r\n\r\n"),
            REFUSED_400,
        ),
        // Chunked bodies.
        probe(
            "chunk size zz",
            post(te, "zz\r\nhello\r\n0\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "chunk size 2^72",
            post(te, "FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "chunk size -5",
            post(te, "-5\r\nhello\r\n0\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "chunk data without CRLF",
            post(te, "5\r\nhelloXX0\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "chunk data longer than its size",
            post(te, "3\r\nhello\r\n0\r\n\r\n"),
            REFUSED_400,
        ),
        // Chunk extensions: pingora parses and drops them (the department
        // gets the body re-framed, without extensions); only an extension
        // that outgrows pingora's 8 KiB partial chunk-head limit is refused.
        probe(
            "chunk-ext of 10 KB (dropped)",
            post(
                &format!("{te}Connection: close\r\n"),
                &format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(10_000)),
            ),
            ok(true),
        )
        .body(5),
        probe(
            "chunk-ext of 100 KB",
            post(
                te,
                &format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(100_000)),
            ),
            REFUSED_400,
        ),
        probe(
            "chunk-ext hiding a bare LF (dropped)",
            post(
                &format!("{te}Connection: close\r\n"),
                "5;a\nhello\r\nXXXXX\r\n0\r\n\r\n",
            ),
            ok(true),
        )
        .body(5),
        // Transfer codings.
        probe(
            "TE: gzip, chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", body5),
            REFUSED_400,
        ),
        probe(
            "TE: chunked, gzip",
            post("Transfer-Encoding: chunked, gzip\r\n", body5),
            REFUSED_400,
        ),
        probe(
            "TE: chunked twice",
            post(&format!("{te}{te}"), body5),
            REFUSED_400,
        ),
        probe(
            "TE: identity",
            post("Transfer-Encoding: identity\r\n", "hello"),
            REFUSED_400,
        ),
        probe(
            "TE in HTTP/1.0",
            format!("POST {ECHO} HTTP/1.0\r\nHost: {HOST}\r\n{te}\r\n{body5}"),
            REFUSED_400,
        ),
        // Sizes.
        probe(
            "header block over max_header_bytes",
            format!(
                "GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {}\r\n\r\n",
                "a".repeat(MAX_HEADER_BYTES)
            ),
            REFUSED_431,
        ),
        // Over pingora's own limits (1 MiB, 256 fields) pingora answers a
        // bare 400 before any filter runs.
        probe(
            "header block over 1 MiB",
            format!(
                "GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1 << 20)
            ),
            REFUSED_400,
        ),
        probe(
            "more than max_headers fields",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\n{many_headers}\r\n"),
            REFUSED_431,
        ),
        probe(
            "300 header fields",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\n{very_many_headers}\r\n"),
            REFUSED_400,
        ),
        probe(
            "CL = max_body_bytes + 1",
            post(
                &format!("Content-Length: {}\r\n", MAX_BODY + 1),
                &"a".repeat(MAX_BODY + 1),
            ),
            Expect {
                status: 413,
                closed: true,
                backend: 0,
            },
        ),
        probe(
            "CL over the limit, Expect: 100-continue",
            post(
                &format!(
                    "Content-Length: {}\r\nExpect: 100-continue\r\n",
                    MAX_BODY + 1
                ),
                "",
            ),
            Expect {
                status: 413,
                closed: true,
                backend: 0,
            },
        ),
        probe(
            "chunked body of max_body_bytes + 1",
            post(te, &chunked(MAX_BODY + 1)),
            Expect {
                status: 413,
                closed: true,
                backend: 0,
            },
        ),
        // Host and request target.
        probe(
            "HTTP/1.1 without Host",
            format!("GET {ECHO} HTTP/1.1\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "two Host fields",
            format!("GET {ECHO} HTTP/1.1\r\nHost: {HOST}\r\nHost: evil.test\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "unknown Host (unknown_host = reject)",
            format!("GET {ECHO} HTTP/1.1\r\nHost: evil.test\r\n\r\n"),
            Expect {
                status: 404,
                closed: true,
                backend: 0,
            },
        ),
        probe(
            "absolute-form, other host than Host",
            format!("GET http://evil.test{ECHO} HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "absolute-form, same host as Host",
            format!("GET http://{HOST}{ECHO} HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "absolute-form, no Host",
            format!("GET http://evil.test{ECHO} HTTP/1.1\r\n\r\n"),
            REFUSED_400,
        ),
        probe(
            "Host with userinfo",
            format!("GET {ECHO} HTTP/1.1\r\nHost: user@{HOST}\r\n\r\n"),
            REFUSED_400,
        ),
    ]
}

/// One probe's outcome.
struct Outcome {
    response: RawResponse,
    backend: u64,
}

async fn run(sim: &Sim, instance: &str, public: SocketAddr, p: &Probe) -> Outcome {
    let before = sim.requests(instance).await;
    let request = p.request.clone();
    let response = tokio::task::spawn_blocking(move || {
        raw::exchange(public, &request, Duration::from_secs(3))
    })
    .await
    .unwrap();
    let after = sim.requests(instance).await;
    Outcome {
        response,
        backend: after - before,
    }
}

fn table(rows: &[(&Probe, &Outcome)]) -> String {
    let mut out = format!(
        "{:<40} {:>6} {:>7} {:>5} {:>7}  {}\n",
        "probe", "status", "closed", "rst", "backend", "expected"
    );
    for (p, o) in rows {
        let r = &o.response;
        out.push_str(&format!(
            "{:<40} {:>6} {:>7} {:>5} {:>7}  {} {} {}\n",
            p.name,
            r.status.map_or("-".to_string(), |s| s.to_string()),
            r.closed,
            r.reset,
            o.backend,
            p.expect.status,
            if p.expect.closed { "closed" } else { "open" },
            p.expect.backend,
        ));
    }
    out
}

/// A gateway whose `hrss` department is one service on `instance`, one
/// route (the echo prefix, no retries, no passive ejection), with `limits`.
async fn gateway(sim: &Sim, instance: SocketAddr, limits: String) -> Gateway {
    let file = format!(
        "[department]\nid = \"hrss\"\nname = \"人力资源和社会保障局\"\n\n[[services]]\nid = \"main\"\ninstances = [{{ addr = \"{instance}\" }}]\nhealth = {{ kind = \"tcp\" }}\n# A probe must not eject the instance for the next one.\noutlier = {{ consecutive_failures = 0 }}\n\n[[routes]]\nid = \"echo\"\nprefix = \"{ECHO}\"\nservice = \"main\"\nretries = 0\n"
    );
    Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions::default(),
        |dir| std::fs::write(dir.join("departments/hrss.toml"), file).unwrap(),
        GatewaySetup {
            threads: 2,
            extra: limits,
            ..GatewaySetup::default()
        },
    )
    .await
}

/// Requests for which the gateway picked an upstream instance: access-log
/// lines that name one. A request refused by hygiene never gets that far
/// (pingora's own refusals leave no access-log line at all).
fn upstream_attempts(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("\"target\":\"onestop::access\"") && l.contains("\"upstream\":\""))
        .count()
}

/// Waits until the access log shows `want` upstream attempts (log lines are
/// written after the response), then reports a mismatch.
async fn check_attempts(gw: &Gateway, want: usize, failures: &mut Vec<String>) {
    let seen = wait_for(Duration::from_secs(3), || async {
        upstream_attempts(&gw.log()) >= want
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = upstream_attempts(&gw.log());
    println!("upstream attempts in the access log: {got} (expected {want})");
    if seen.is_none() || got != want {
        failures.push(format!(
            "the gateway contacted an upstream {got} times, not {want}"
        ));
    }
}

/// Runs every probe, prints the table, and lists the probes that missed.
async fn run_all(
    sim: &Sim,
    instance: &str,
    gw: &Gateway,
    probes: &[Probe],
) -> (Vec<Outcome>, Vec<String>) {
    let mut outcomes = Vec::new();
    for p in probes {
        outcomes.push(run(sim, instance, gw.public, p).await);
    }
    let rows: Vec<(&Probe, &Outcome)> = probes.iter().zip(&outcomes).collect();
    println!("{}", table(&rows));
    let mut failures = Vec::new();
    for (p, o) in &rows {
        // What the department received, for the probes it answered.
        let echoed = o.response.json()["body_len"].as_u64();
        if let (Some(want), Some(got)) = (p.body_len, echoed)
            && want != got
        {
            failures.push(format!(
                "{}: the department got {got} body bytes, not {want}",
                p.name
            ));
        }
        let r = &o.response;
        if r.status != Some(p.expect.status)
            || r.closed != p.expect.closed
            || o.backend != p.expect.backend
        {
            failures.push(format!(
                "{}: got {:?} closed={} backend={} ({:?})",
                p.name,
                r.status,
                r.closed,
                o.backend,
                String::from_utf8_lossy(&r.raw[..r.raw.len().min(300)])
            ));
        }
    }
    (outcomes, failures)
}

/// Every probe against a gateway with small `[limits]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_smuggling_requests_never_reach_a_backend() {
    let sim = Sim::start(4, 20).await;
    let instance = sim.dept("hrss").instances[0].clone();
    let limits = format!(
        "\n[limits]\nmax_header_bytes = {MAX_HEADER_BYTES}\nmax_headers = {MAX_HEADERS}\nmax_body_bytes = {MAX_BODY}\nhosts = [\"{HOST}\"]\nunknown_host = \"reject\"\n"
    );
    let gw = gateway(&sim, instance.addr, limits).await;
    let probes = probes();
    let (_, mut failures) = run_all(&sim, &instance.id, &gw, &probes).await;
    let mut reached = probes.iter().filter(|p| p.expect.backend > 0).count();

    // The same checks over h2c, where there is no raw header block and the
    // host comes from `:authority`.
    let h2 = onestop_tests::client_builder()
        .http2_prior_knowledge()
        .resolve(HOST, gw.public)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = |host: &str| format!("http://{host}:{}{ECHO}", gw.public.port());
    let cases = [
        ("h2c: served host", h2.get(url(HOST)), 200, 1),
        ("h2c: unknown host", h2.get(url("127.0.0.1")), 404, 0),
        (
            "h2c: header over max_header_bytes",
            h2.get(url(HOST))
                .header("x-big", "a".repeat(MAX_HEADER_BYTES)),
            431,
            0,
        ),
        (
            "h2c: body over max_body_bytes",
            h2.post(url(HOST)).body(vec![b'a'; MAX_BODY + 1]),
            413,
            0,
        ),
        (
            "h2c: body = max_body_bytes",
            h2.post(url(HOST)).body(vec![b'a'; MAX_BODY]),
            200,
            1,
        ),
    ];
    for (name, request, want, backend) in cases {
        let before = sim.requests(&instance.id).await;
        let status = request.send().await.map(|r| r.status().as_u16());
        let served = sim.requests(&instance.id).await - before;
        println!("{name:<40} {status:?} backend {served}");
        if status.as_ref().ok() != Some(&want) || served != backend {
            failures.push(format!("{name}: got {status:?}, backend {served}"));
        }
        reached += usize::from(backend > 0);
    }
    check_attempts(&gw, reached, &mut failures).await;
    assert!(
        failures.is_empty(),
        "{} probes failed:\n{}\ngateway log:\n{}",
        failures.len(),
        failures.join("\n"),
        gw.log()
    );
}

/// Bodies longer than the read-ahead (64 KiB) stream to the department; the
/// limit is enforced while they stream. What the department sees then is
/// asserted here (and documented in docs/hygiene.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_read_ahead() {
    const LIMIT: usize = 200_000;
    let sim = Sim::start(4, 20).await;
    let instance = sim.dept("hrss").instances[0].clone();
    let gw = gateway(
        &sim,
        instance.addr,
        format!("\n[limits]\nmax_body_bytes = {LIMIT}\n"),
    )
    .await;
    let te = "Transfer-Encoding: chunked\r\nConnection: close\r\n";
    let status = |status, backend| Expect {
        status,
        closed: true,
        backend,
    };
    let bad_tail = format!(
        "{}zz\r\nhello\r\n0\r\n\r\n",
        chunked(100_000).trim_end_matches("0\r\n\r\n")
    );
    let probes = vec![
        probe(
            "chunked 100 KB",
            post(te, &chunked(100_000)),
            status(200, 1),
        )
        .body(100_000),
        probe(
            "chunked 100 KB, then chunk size zz",
            post(te, &bad_tail),
            status(400, 1),
        ),
        probe(
            "chunked 250 KB over a 200 KB limit",
            post(te, &chunked(250_000)),
            status(413, 1),
        ),
        probe(
            "Expect: 100-continue, chunked 1 KB",
            post(&format!("{te}Expect: 100-continue\r\n"), &chunked(1000)),
            status(200, 1),
        )
        .body(1000),
        probe(
            "CL 150 KB",
            post(
                "Content-Length: 150000\r\nConnection: close\r\n",
                &"a".repeat(150_000),
            ),
            status(200, 1),
        )
        .body(150_000),
        probe(
            "CL 1 MB over a 200 KB limit",
            post("Content-Length: 1000000\r\n", &"a".repeat(1_000_000)),
            status(413, 0),
        ),
    ];
    let (_, mut failures) = run_all(&sim, &instance.id, &gw, &probes).await;
    let reached = probes.iter().filter(|p| p.expect.backend > 0).count();
    check_attempts(&gw, reached, &mut failures).await;
    assert!(
        failures.is_empty(),
        "{} probes failed:\n{}\ngateway log:\n{}",
        failures.len(),
        failures.join("\n"),
        gw.log()
    );
}
