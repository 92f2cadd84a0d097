//! The public listener against slow, idle and greedy clients (issue 18),
//! with raw sockets: a slow header is cut off at the header timeout, an
//! idle keep-alive connection at the keep-alive timeout, a stalled body
//! gets 408 `REQUEST_TIMEOUT`; connections over the per-address and total
//! limits are closed at once while established ones keep answering; ten
//! pipelined requests get ten answers in order; 1,500 slow-header clients
//! do not keep normal requests from answering. Also the body gate of the
//! built-in routes and the credentials a department never receives.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use onestop_tests::secure::Secure;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const ECHO: &str = "/api/v1/depts/hrss/echo";
const PASS: &str = "/api/v1/depts/hrss/echo/pass";
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
const KEEPALIVE: Duration = Duration::from_secs(3);

/// Short timeouts so that the tests stay short.
fn limits(max_connections: usize, per_addr: usize) -> String {
    limits_with_header_timeout(max_connections, per_addr, HEADER_TIMEOUT)
}

/// [`limits`] with another header timeout (whole seconds).
fn limits_with_header_timeout(
    max_connections: usize,
    per_addr: usize,
    header_timeout: Duration,
) -> String {
    format!(
        "\n[limits]\nheader_timeout = \"{}s\"\nbody_timeout = \"2s\"\nkeepalive_timeout = \"3s\"\nmax_connections = {max_connections}\nmax_connections_per_addr = {per_addr}\n",
        header_timeout.as_secs()
    )
}

/// `hrss` as one service on the fleet's first instance, with the echo
/// route and a route that passes the client's cookie and authorization.
async fn gateway(sim: &Sim, extra: String) -> Gateway {
    let instance = sim.dept("hrss").instances[0].addr;
    let file = format!(
        "[department]\nid = \"hrss\"\nname = \"人力资源和社会保障局\"\n\n[[services]]\nid = \"main\"\ninstances = [{{ addr = \"{instance}\" }}]\nhealth = {{ kind = \"tcp\" }}\noutlier = {{ consecutive_failures = 0 }}\n\n[[routes]]\nid = \"echo\"\nprefix = \"{ECHO}\"\nservice = \"main\"\nretries = 0\n\n[[routes]]\nid = \"pass\"\nprefix = \"{PASS}\"\nservice = \"main\"\nforward_credentials = [\"cookie\", \"authorization\"]\n"
    );
    Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions::default(),
        |dir| std::fs::write(dir.join("departments/hrss.toml"), file).unwrap(),
        GatewaySetup {
            threads: 2,
            extra,
            ..GatewaySetup::default()
        },
    )
    .await
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\n\r\n")
}

/// One HTTP/1.1 response read off a connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one response (Content-Length or chunked body) from `conn`,
/// keeping bytes of the next one in `buf`. `None` when the connection
/// closes first.
async fn read_answer(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Answer> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(conn, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    buf.drain(..head_end);
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let body = if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        while buf.len() < len {
            if !fill(conn, buf).await {
                return None;
            }
        }
        buf.drain(..len).collect()
    } else if find("transfer-encoding").is_some() {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if !fill(conn, buf).await {
                    return None;
                }
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&buf[..line_end])
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            while buf.len() < line_end + 2 + size + 2 {
                if !fill(conn, buf).await {
                    return None;
                }
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break body;
            }
        }
    } else {
        Vec::new()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// Reads more bytes into `buf`; false at EOF or error.
async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout(Duration::from_secs(15), conn.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

/// Waits until the server closes `conn` (EOF or reset), discarding what
/// it sends; how long that took from `since`, or `None` within `within`.
async fn closed(conn: &mut TcpStream, since: Instant, within: Duration) -> Option<Duration> {
    let mut chunk = [0u8; 4096];
    let deadline = since + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, conn.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// A connection from the loopback address `from` (127.0.0.x).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// The probe's slow-header client (`GET / HTTP/1.1` then one byte a
/// second), a client that sends nothing, and an idle keep-alive
/// connection: each closed by its timeout, within a second of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, limits(1000, 1000)).await;
    let public = gw.public;
    let slow = tokio::spawn(async move {
        let start = Instant::now();
        let mut conn = TcpStream::connect(public).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (mut rd, mut wr) = conn.into_split();
        let trickle = tokio::spawn(async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if wr.write_all(b"a").await.is_err() {
                    break;
                }
            }
        });
        let mut chunk = [0u8; 1024];
        let took = loop {
            match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) => break Some(start.elapsed()),
                Ok(Ok(_)) => {}
                Err(_) => break None,
            }
        };
        trickle.abort();
        took
    });
    let silent = tokio::spawn(async move {
        let start = Instant::now();
        let mut conn = TcpStream::connect(public).await.unwrap();
        closed(&mut conn, start, Duration::from_secs(10)).await
    });
    let idle = tokio::spawn(async move {
        let mut conn = TcpStream::connect(public).await.unwrap();
        conn.write_all(get(ECHO).as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let answer = read_answer(&mut conn, &mut buf).await.unwrap();
        assert_eq!(answer.status, 200);
        let answered = Instant::now();
        closed(&mut conn, answered, Duration::from_secs(10)).await
    });
    let slow = slow
        .await
        .unwrap()
        .expect("slow-header client still open after 10 s");
    let silent = silent
        .await
        .unwrap()
        .expect("silent client still open after 10 s");
    let idle = idle
        .await
        .unwrap()
        .expect("idle keep-alive still open after 10 s");
    println!("closed after: slow header {slow:?}, silent {silent:?}, idle keep-alive {idle:?}");
    let second = Duration::from_secs(1);
    for (what, took, limit) in [
        ("slow header", slow, HEADER_TIMEOUT),
        ("silent", silent, HEADER_TIMEOUT),
        ("idle keep-alive", idle, KEEPALIVE),
    ] {
        assert!(
            took + Duration::from_millis(100) >= limit && took <= limit + second,
            "{what}: closed after {took:?}, timeout {limit:?}"
        );
    }
    let metrics = gw.metrics().await;
    let header_timeouts = onestop_tests::sample(
        &metrics,
        "onestop_listener_timeouts_total{timeout=\"header\"}",
    )
    .unwrap_or(0.0);
    assert!(header_timeouts >= 2.0, "{header_timeouts}");
}

/// A body that stops arriving: 408 `REQUEST_TIMEOUT` in the JSON shape at
/// the body timeout (the probe got 502 after 200 s), the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, limits(1000, 1000)).await;
    for head in [
        format!("POST {ECHO} HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789"),
        format!(
            "POST {ECHO} HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"
        ),
    ] {
        let mut conn = TcpStream::connect(gw.public).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        let sent = Instant::now();
        let mut buf = Vec::new();
        let answer = read_answer(&mut conn, &mut buf).await.expect("no answer");
        let took = sent.elapsed();
        assert_eq!(answer.status, 408, "{head}: {answer:?}");
        let body = answer.json();
        assert_eq!(body["error"]["code"], "REQUEST_TIMEOUT", "{body}");
        assert!(answer.header("x-request-id").is_some());
        assert!(
            took + Duration::from_millis(100) >= BODY_TIMEOUT
                && took <= BODY_TIMEOUT + Duration::from_secs(1),
            "{head}: answered after {took:?}"
        );
        assert!(
            closed(&mut conn, Instant::now(), Duration::from_secs(2))
                .await
                .is_some(),
            "{head}: connection kept open"
        );
    }
}

/// `request_timeout` 2 s, `body_timeout` 10 s: a body trickled at one byte
/// every 0.3 s (never a gap long enough for the body timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const TRICKLE_LIMITS: &str =
    "\n[limits]\nheader_timeout = \"2s\"\nbody_timeout = \"10s\"\nrequest_timeout = \"2s\"\n";

/// Sends `head` on a fresh connection, then one body byte every 0.3 s until
/// an answer comes; checks the answer is 408 `REQUEST_TIMEOUT` in the JSON
/// shape, given within `request_timeout` + 1 s of the connect, that the
/// connection is closed and that the access log records 408.
async fn trickle_is_cut_off(gw: &Gateway, head: &str) {
    let start = Instant::now();
    let mut conn = TcpStream::connect(gw.public).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let answer = loop {
        tokio::select! {
            a = read_answer(&mut conn, &mut buf) => break a,
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        // After the answer the gateway closes: a failed write is expected.
        let _ = conn.write_all(b"1").await;
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{head}: no answer"
        );
    };
    let took = start.elapsed();
    let answer = answer.expect("no answer");
    assert_eq!(answer.status, 408, "{head}: {answer:?}");
    let body = answer.json();
    assert_eq!(body["error"]["code"], "REQUEST_TIMEOUT", "{body}");
    assert!(
        took + Duration::from_millis(200) >= REQUEST_TIMEOUT
            && took <= REQUEST_TIMEOUT + Duration::from_secs(1),
        "{head}: answered after {took:?}"
    );
    assert!(
        closed(&mut conn, Instant::now(), Duration::from_secs(2))
            .await
            .is_some(),
        "{head}: connection kept open"
    );
    let rid = answer
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let log = gw.log();
        let line = log
            .lines()
            .find(|l| l.contains("\"target\":\"onestop::access\"") && l.contains(&rid));
        if let Some(line) = line {
            assert!(
                line.contains("\"status\":408") && line.contains("REQUEST_TIMEOUT"),
                "{line}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no access-log line for {rid}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("408 after {took:?}");
}

/// The probe's body at 1 byte/s ran until the route timeout and was logged
/// 502: now a proxied POST is cut off at `request_timeout` with 408
/// `REQUEST_TIMEOUT`, though no gap reaches `body_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_at_the_request_timeout_on_a_proxied_route() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, TRICKLE_LIMITS.to_string()).await;
    for head in [
        format!("POST {ECHO} HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0"),
        format!(
            "POST {ECHO} HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0"
        ),
    ] {
        trickle_is_cut_off(&gw, &head).await;
    }
}

/// The same on a built-in route (`POST /api/v1/me/cases`, the body gate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_at_the_request_timeout_on_a_built_in_route() {
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], TRICKLE_LIMITS).await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let head = format!(
        "POST /api/v1/me/cases HTTP/1.1\r\nHost: gw.test\r\nx-onestop-app-key: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        secure.app_key(),
        secure.token(&citizen)
    );
    trickle_is_cut_off(&gw, &head).await;
}

/// Ten requests in one write: ten answers, in order (the probe got one
/// answer marked keep-alive and a closed connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_pipelined_requests_get_ten_answers_in_order() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, limits(1000, 1000)).await;
    let mut conn = TcpStream::connect(gw.public).await.unwrap();
    let mut burst = String::new();
    for i in 0..10 {
        burst.push_str(&get(&format!("{ECHO}/p{i}")));
    }
    // A POST with a body among them, and the last one closes.
    burst.push_str(&format!(
        "POST {ECHO}/p10 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello"
    ));
    burst.push_str(&format!(
        "GET {ECHO}/p11 HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n"
    ));
    conn.write_all(burst.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..12 {
        let answer = read_answer(&mut conn, &mut buf)
            .await
            .unwrap_or_else(|| panic!("answer {i} missing"));
        assert_eq!(answer.status, 200, "answer {i}: {answer:?}");
        let echo = answer.json();
        assert_eq!(echo["path"], format!("{ECHO}/p{i}"), "answer {i}: {echo}");
        if i == 10 {
            assert_eq!(echo["body_len"], 5, "{echo}");
        }
    }
    assert!(
        closed(&mut conn, Instant::now(), Duration::from_secs(2))
            .await
            .is_some()
    );
}

/// Per client address and in total: a connection over a limit is closed
/// at once, before anything is read; established ones keep answering; a
/// freed slot is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limits_are_closed_at_once() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, limits(6, 4)).await;
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(connect_from([127, 0, 0, 1], gw.public).await);
    }
    // Let the gateway accept them before the next one comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let mut over = connect_from([127, 0, 0, 1], gw.public).await;
    let took = closed(&mut over, start, Duration::from_secs(1)).await;
    assert!(took.is_some(), "a 5th connection from one address was kept");
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(connect_from([127, 0, 0, 2], gw.public).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let mut over = connect_from([127, 0, 0, 3], gw.public).await;
    let took_total = closed(&mut over, start, Duration::from_secs(1)).await;
    assert!(took_total.is_some(), "a 7th connection in all was kept");
    println!("refused connections closed after {took:?} (per address), {took_total:?} (total)");
    // Established connections are served.
    for conn in first.iter_mut().chain(others.iter_mut()) {
        conn.write_all(get(ECHO).as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_answer(conn, &mut buf).await.unwrap().status, 200);
    }
    // A freed slot is taken by the next connection.
    drop(first.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from([127, 0, 0, 1], gw.public).await;
    again.write_all(get(ECHO).as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_answer(&mut again, &mut buf).await.unwrap().status, 200);
    let metrics = gw.metrics().await;
    for limit in ["per_addr", "total"] {
        let n = onestop_tests::sample(
            &metrics,
            &format!("onestop_listener_refused_total{{limit=\"{limit}\"}}"),
        )
        .unwrap_or(0.0);
        assert!(n >= 1.0, "{limit}: {n}");
    }
}

/// Slow clients (the probe's, scaled to 1,500 in this process) next to
/// normal traffic: ≥ 99 % of the normal requests answer 2xx, with a p99
/// within 5× the same traffic's p99 before the slow clients came; every
/// slow connection is closed within the header timeout + 1 s. The large
/// variant is `many_slow_header_clients_large` (ignored; figures in
/// docs/hygiene.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_do_not_starve_normal_requests() {
    let figures = slow_header_flood(1_500, HEADER_TIMEOUT, Duration::ZERO).await;
    figures.assert_normal_traffic_kept_answering();
}

/// As above with 19,000 slow clients (this machine's descriptor limit is
/// 20,000 per process, for the gateway and for the slow clients alike) and
/// the default 10 s header timeout, so that the slow clients are all
/// connected for a while; and the gateway's resident memory is back within
/// 20 % of its start after 10 s of normal traffic once they are gone. Run
/// it by hand, against a release gateway:
/// `ONESTOP_BIN=$PWD/target/release/onestop cargo nextest run -p onestop-tests
/// --run-ignored only -E 'test(/large/)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "19,000 connections: run by hand, figures in docs/hygiene.md"]
async fn many_slow_header_clients_large() {
    let figures = slow_header_flood(19_000, Duration::from_secs(10), Duration::from_secs(10)).await;
    figures.assert_normal_traffic_kept_answering();
    assert!(
        figures.rss_after * 10 <= figures.rss_before * 12,
        "resident memory {} KiB after the slow clients, {} KiB before",
        figures.rss_after,
        figures.rss_before
    );
}

/// What [`slow_header_flood`] saw.
struct FloodFigures {
    clients: usize,
    header_timeout: Duration,
    quiet: Traffic,
    loaded: Traffic,
    /// Slow clients still open after 20 s (never closed by the gateway).
    late: usize,
    /// When the slow connections were closed, counted from their connect.
    close_times: Vec<Duration>,
    rss_before: u64,
    rss_after: u64,
}

impl FloodFigures {
    fn assert_normal_traffic_kept_answering(&self) {
        let (quiet, loaded) = (self.quiet.p99(), self.loaded.p99());
        assert!(
            self.loaded.ok * 100 >= self.loaded.total * 99,
            "only {} of {} normal requests answered 2xx",
            self.loaded.ok,
            self.loaded.total
        );
        assert!(
            loaded <= 5.0 * quiet,
            "p99 {loaded:.2} ms under {} slow clients, {quiet:.2} ms before",
            self.clients
        );
        assert_eq!(self.late, 0, "slow clients kept open");
        let worst = self.close_times.last().copied().unwrap_or_default();
        assert!(
            worst <= self.header_timeout + Duration::from_secs(1),
            "a slow connection was closed after {worst:?}"
        );
    }
}

/// Normal requests: batches of 10 concurrent GETs, 50 ms apart.
#[derive(Default)]
struct Traffic {
    ok: usize,
    total: usize,
    latencies: Vec<Duration>,
    /// When each request started, from the start of the traffic.
    started: Vec<Duration>,
}

impl Traffic {
    fn p99(&self) -> f64 {
        onestop_tests::percentile(&self.latencies, 0.99)
    }

    /// The p99 (ms) of the requests started in each second of the traffic.
    fn p99_per_second(&self) -> Vec<f64> {
        let secs = self.started.last().map_or(0, |d| d.as_secs() as usize + 1);
        (0..secs)
            .map(|i| {
                let in_second: Vec<Duration> = self
                    .started
                    .iter()
                    .zip(&self.latencies)
                    .filter(|(s, _)| s.as_secs() as usize == i)
                    .map(|(_, l)| *l)
                    .collect();
                onestop_tests::percentile(&in_second, 0.99)
            })
            .collect()
    }

    /// Sends batches until `done` says stop (checked between batches).
    async fn run(http: &reqwest::Client, url: &str, mut done: impl FnMut() -> bool) -> Traffic {
        let mut t = Traffic::default();
        let begin = Instant::now();
        while !done() {
            let batch_start = begin.elapsed();
            let batch: Vec<_> = (0..10)
                .map(|_| {
                    let req = http.get(url);
                    tokio::spawn(async move {
                        let t = Instant::now();
                        let r = tokio::time::timeout(Duration::from_secs(5), req.send()).await;
                        (
                            matches!(&r, Ok(Ok(resp)) if resp.status().is_success()),
                            t.elapsed(),
                        )
                    })
                })
                .collect();
            for b in batch {
                let (good, took) = b.await.unwrap();
                t.total += 1;
                t.ok += usize::from(good);
                t.latencies.push(took);
                t.started.push(batch_start);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        t
    }
}

/// `clients` connections that send a request line and then one header byte
/// a second (the probe's), from a process of their own (`slow_clients`, as
/// an attacker's would be: their wake-ups and closes do not queue in front
/// of the normal traffic's in this process), against a gateway with
/// `header_timeout`; normal traffic runs from when they are all connected
/// until they are all closed, and for as long before they come (the quiet
/// baseline).
async fn slow_header_flood(
    clients: usize,
    header_timeout: Duration,
    after: Duration,
) -> FloodFigures {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(
        &sim,
        limits_with_header_timeout(19_500, 19_500, header_timeout),
    )
    .await;
    let http = onestop_tests::client();
    let url = gw.url(ECHO);
    let pid = gw.proc.pid();
    // The gateway turns transparent huge pages off for itself (main.rs).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    if let Some(thp) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert!(thp.ends_with('0'), "{thp}");
    }
    let baseline = header_timeout.min(Duration::from_secs(3));
    let until = Instant::now() + baseline;
    let quiet = Traffic::run(&http, &url, || Instant::now() >= until).await;
    let rss_before = rss_kib(pid);
    let mut slow = tokio::process::Command::new(env!("CARGO_BIN_EXE_slow_clients"))
        .args([gw.public.to_string(), clients.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start slow_clients");
    let mut said = tokio::io::BufReader::new(slow.stdout.take().expect("stdout")).lines();
    let line = said
        .next_line()
        .await
        .unwrap()
        .expect("slow_clients: connected line");
    let [connected, refused, connect_ms]: [usize; 3] = line
        .strip_prefix("connected ")
        .and_then(|rest| {
            let n: Vec<usize> = rest.split(' ').filter_map(|n| n.parse().ok()).collect();
            n.try_into().ok()
        })
        .unwrap_or_else(|| panic!("slow_clients said {line:?}"));
    // The last line comes once every slow connection is closed.
    let closing = tokio::spawn(async move { said.next_line().await });
    let mut rss_peak = rss_kib(pid);
    let loaded = Traffic::run(&http, &url, || {
        rss_peak = rss_peak.max(rss_kib(pid));
        closing.is_finished()
    })
    .await;
    let line = closing
        .await
        .unwrap()
        .unwrap()
        .expect("slow_clients: closed line");
    let mut numbers = line
        .strip_prefix("closed ")
        .unwrap_or_else(|| panic!("slow_clients said {line:?}"))
        .split(' ')
        .filter(|n| !n.is_empty())
        .map(|n| n.parse::<u64>().expect("a number"));
    let late = usize::try_from(numbers.next().expect("late count")).unwrap();
    let close_times: Vec<Duration> = numbers.map(Duration::from_millis).collect();
    assert!(slow.wait().await.unwrap().success(), "slow_clients failed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);
    // mimalloc hands freed pages back to the system when the thread that
    // owns them allocates again, so the memory comes back under traffic,
    // not while the gateway idles: normal traffic goes on for `after`.
    let mut rss_series = Vec::new();
    for _ in 0..after.as_secs() {
        let until = Instant::now() + Duration::from_secs(1);
        Traffic::run(&http, &url, || Instant::now() >= until).await;
        rss_series.push(rss_kib(pid) / 1024);
    }
    let rss_after = rss_kib(pid);
    let figures = FloodFigures {
        clients,
        header_timeout,
        quiet,
        loaded,
        late,
        close_times,
        rss_before,
        rss_after,
    };
    println!(
        "slow clients {clients} ({connected} connected, {refused} refused, in {connect_ms} ms); \
         normal requests {}/{} 2xx under them; p99 {:.2} ms before, {:.2} ms under them; slow \
         connections closed after {:?} (first) .. {:?} (last); RSS before {rss_before} KiB, \
         peak {rss_peak} KiB, 2 s after {rss_idle} KiB (idle), after {} KiB; RSS per second of \
         normal traffic after them (MB): {rss_series:?}; p99 per second under them (ms): {:.1?}",
        figures.loaded.ok,
        figures.loaded.total,
        figures.quiet.p99(),
        figures.loaded.p99(),
        figures.close_times.first().copied().unwrap_or_default(),
        figures.close_times.last().copied().unwrap_or_default(),
        figures.rss_after,
        figures.loaded.p99_per_second(),
    );
    assert_eq!(refused, 0, "slow clients refused at connect");
    figures
}

/// Resident memory of `pid` in KiB (0 when unreadable).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// What the gateway consumed or was not asked to pass never reaches a
/// department: `Authorization`, `Cookie`, `Proxy-Authorization` and the
/// app key are absent from the headers the fleet's echo recorded on a
/// public route; a route naming `forward_credentials` passes exactly the
/// named ones, and the catalog shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_a_department_unless_the_route_passes_them() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, String::new()).await;
    let http = onestop_tests::client();
    let send = |path: &str| {
        http.get(gw.url(path))
            .header("authorization", "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln")
            .header("cookie", "session=citizen-session")
            .header("proxy-authorization", "Basic dXNlcjpwdw==")
            .header("x-onestop-app-key", "app-key-secret")
    };
    // Also listed in `Connection` (a client asking a later hop to drop
    // them): removed all the same.
    let echo: Value = send(ECHO)
        .header("connection", "keep-alive, cookie, authorization")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen = echo["headers"].to_string().to_ascii_lowercase();
    for leaked in [
        "authorization",
        "cookie",
        "citizen-session",
        "app-key-secret",
        "x-onestop-app-key",
        "eyjhbgcioijfzerty",
    ] {
        assert!(
            !seen.contains(leaked),
            "`{leaked}` reached the department: {seen}"
        );
    }
    let echo: Value = send(PASS).send().await.unwrap().json().await.unwrap();
    let headers = &echo["headers"];
    assert_eq!(headers["cookie"], "session=citizen-session", "{echo}");
    assert_eq!(
        headers["authorization"], "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
        "{echo}"
    );
    let seen = headers.to_string();
    assert!(!seen.contains("app-key-secret"), "{seen}");
    assert!(!seen.contains("dXNlcjpwdw"), "{seen}");
    let catalog: Value = http
        .get(gw.url("/api/v1/catalog?dept=hrss"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let matters = catalog["matters"].as_array().unwrap();
    let pass = matters.iter().find(|m| m["id"] == "hrss/pass").unwrap();
    assert_eq!(
        pass["forward_credentials"],
        serde_json::json!(["cookie", "authorization"])
    );
    let echo_matter = matters.iter().find(|m| m["id"] == "hrss/echo").unwrap();
    assert!(
        echo_matter.get("forward_credentials").is_none(),
        "{echo_matter}"
    );
}

/// The built-in POST routes share the proxied routes' body gate: a
/// declared 10 GB body is 413 within 100 ms, a bad chunk size 400
/// `MALFORMED_REQUEST`, a repeated key inside `input` 400; a client's
/// `x-request-id` of another shape is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_routes_share_the_body_gate() {
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], "").await;
    let citizen = sim.manifest.citizens[0].id.clone();
    let creds = format!(
        "Host: gw.test\r\nx-onestop-app-key: {}\r\nAuthorization: Bearer {}\r\n",
        secure.app_key(),
        secure.token(&citizen)
    );
    let posts = [
        "/api/v1/me/cases",
        "/api/v1/me/ratings",
        "/api/v1/me/cases/20260101000000000000/rating",
        "/api/v1/me/consents",
        "/api/v1/me/appeals",
        "/api/v1/me/appeals/S1/rating",
    ];
    let mut worst = Duration::ZERO;
    for path in posts {
        let mut conn = TcpStream::connect(gw.public).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\n{creds}Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{{\"a\":"
        );
        let t = Instant::now();
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let answer = read_answer(&mut conn, &mut buf).await.expect("no answer");
        let took = t.elapsed();
        worst = worst.max(took);
        assert_eq!(answer.status, 413, "{path}: {answer:?}");
        assert_eq!(answer.json()["error"]["code"], "BODY_TOO_LARGE", "{path}");
        assert!(
            took < Duration::from_millis(100),
            "{path}: 413 after {took:?}"
        );

        let mut conn = TcpStream::connect(gw.public).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\n{creds}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let answer = read_answer(&mut conn, &mut buf).await.expect("no answer");
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
        assert_eq!(
            answer.json()["error"]["code"],
            "MALFORMED_REQUEST",
            "{path}"
        );
    }
    println!("413 on the built-in POST routes within {worst:?}");
    let http = secure.client(Some(&citizen));
    let resp = http
        .post(gw.url("/api/v1/me/cases"))
        .header("content-type", "application/json")
        .header("x-request-id", "attacker-id")
        .body(r#"{"matter":"x","input":{"name":"a","name":"b"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(rid, "attacker-id");
    assert_eq!(rid.len(), 32, "{rid}");
    let body: Value = resp.json().await.unwrap();
    assert!(body.to_string().contains("duplicate key `name`"), "{body}");
    let log = gw.log();
    assert!(
        log.contains("attacker-id") && log.contains(&rid),
        "the client's id is logged apart"
    );
}

/// Requests pingora's parser refuses before any filter runs (the probe's
/// list) get the gateway's JSON error with a request id instead of a bare
/// 400; `CONNECT` a JSON 405. The connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parser_refusals_answer_in_the_json_shape() {
    let sim = Sim::start(4, 20).await;
    let gw = gateway(&sim, limits(1000, 1000)).await;
    let many_headers: String = (0..10_000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let probes = [
        (
            "header without a colon",
            format!("GET {ECHO} HTTP/1.1\r\nHost: gw.test\r\nno-colon-here\r\n\r\n"),
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "Transfer-Encoding: xchunked",
            format!("POST {ECHO} HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: xchunked\r\n\r\n"),
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "HTTP/9.9",
            format!("GET {ECHO} HTTP/9.9\r\nHost: gw.test\r\n\r\n"),
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "10,000 headers",
            format!("GET {ECHO} HTTP/1.1\r\nHost: gw.test\r\n{many_headers}\r\n"),
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "CONNECT",
            "CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test:443\r\n\r\n".to_string(),
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (name, request, status, code) in probes {
        let mut conn = TcpStream::connect(gw.public).await.unwrap();
        let _ = conn.write_all(request.as_bytes()).await;
        let mut buf = Vec::new();
        let answer = read_answer(&mut conn, &mut buf)
            .await
            .unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(answer.status, status, "{name}: {answer:?}");
        let body = answer.json();
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        let rid = answer.header("x-request-id").unwrap_or_default().to_owned();
        assert_eq!(rid.len(), 32, "{name}: {answer:?}");
        assert_eq!(body["error"]["request_id"], rid.as_str(), "{name}");
        assert!(
            closed(&mut conn, Instant::now(), Duration::from_secs(2))
                .await
                .is_some(),
            "{name}: kept open"
        );
    }
}
