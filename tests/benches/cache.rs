//! Cache-hit throughput against passthrough throughput, on the same run.
//!
//! A real fleet process (2 departments) and a real gateway process (2 worker
//! threads, built with `cargo build --release -p onestop`) on loopback; two
//! routes on `hpf`'s echo: `/cached` (`cache = { ttl = "1h" }`) and `/plain`
//! (no cache). The load is closed-loop: `CONNS` HTTP/1.1 keep-alive
//! connections, each sending GETs back to back; one criterion iteration is a
//! batch of `BATCH` requests spread over the connections.
//!
//! Benchmarks (group `cache_throughput`):
//! - `passthrough/dept_0ms`, `hit/dept_0ms`: the department answers at once;
//! - `passthrough/dept_5ms`, `hit/dept_5ms`: every department answer takes
//!   5 ms more (the fleet's `latency_ms` fault), as real departments are slow.
//!
//! After criterion, each mode runs `ROUNDS` more times for a fixed
//! `FIXED_RUN`, alternating passthrough and hit, with every latency and the
//! CPU time of the gateway and fleet processes recorded, and a table (req/s,
//! hit/passthrough ratio, p50/p99, CPU per request) is printed. Last, the department's request counters prove what
//! was measured: passthrough requests all reached the department, cache hits
//! did not (at most one fill per key).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use onestop_tests::{ConfigOptions, Gateway, Sim};
use serde_json::json;

/// Concurrent keep-alive connections of the closed-loop load.
const CONNS: usize = 32;
/// Requests per criterion iteration.
const BATCH: u64 = 2_000;
/// Distinct cached URLs (keys); the hit load cycles through them.
const KEYS: usize = 16;
/// Department answer delays the pair is measured at (the fleet's `latency_ms`).
const DEPT_LATENCIES_MS: [u64; 2] = [0, 5];
/// After criterion: alternating rounds per mode whose latencies are recorded.
const ROUNDS: usize = 3;
const FIXED_RUN: Duration = Duration::from_secs(3);

const ROUTES: &str = r#"
[[routes]]
id = "bench-cached"
prefix = "/api/v1/depts/hpf/echo/cached"
service = "main"
cache = { ttl = "1h" }

[[routes]]
id = "bench-plain"
prefix = "/api/v1/depts/hpf/echo/plain"
service = "main"
"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passthrough,
    Hit,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Passthrough => "passthrough",
            Mode::Hit => "hit",
        }
    }

    fn paths(self) -> Arc<Vec<String>> {
        let base = match self {
            Mode::Passthrough => "/api/v1/depts/hpf/echo/plain",
            Mode::Hit => "/api/v1/depts/hpf/echo/cached",
        };
        Arc::new((0..KEYS).map(|k| format!("{base}/item-{k}")).collect())
    }
}

/// One keep-alive HTTP/1.1 connection to the gateway.
struct Conn {
    addr: std::net::SocketAddr,
    send: SendRequest<Empty<Bytes>>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect to the gateway at {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { addr, send }
    }

    /// GET `path`; the status and whether `x-onestop-cache: HIT` came back.
    /// A connection the gateway closed is reopened and the request resent.
    async fn get(&mut self, path: &str) -> (u16, bool) {
        for _ in 0..3 {
            if self.send.ready().await.is_err() {
                *self = Conn::open(self.addr).await;
                continue;
            }
            let req = hyper::Request::get(path)
                .header(hyper::header::HOST, self.addr.to_string())
                .body(Empty::<Bytes>::new())
                .unwrap();
            match self.send.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let hit = resp
                        .headers()
                        .get("x-onestop-cache")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"HIT"));
                    if resp.into_body().collect().await.is_err() {
                        *self = Conn::open(self.addr).await;
                        continue;
                    }
                    return (status, hit);
                }
                Err(_) => *self = Conn::open(self.addr).await,
            }
        }
        (0, false)
    }
}

/// When a load stops.
#[derive(Clone, Copy)]
enum Stop {
    After(u64),
    At(Instant),
}

/// What one load did.
#[derive(Default)]
struct Outcome {
    requests: u64,
    /// Answers other than 200 (or transport errors).
    failed: u64,
    /// 200s without `x-onestop-cache: HIT`.
    not_hit: u64,
    elapsed: Duration,
    latency: Option<Histogram<u64>>,
}

/// Closed-loop load: every connection sends `paths` (cycling) back to back
/// until `stop`. Returns the connections for the next load.
async fn load(
    conns: Vec<Conn>,
    paths: Arc<Vec<String>>,
    stop: Stop,
    record: bool,
) -> (Vec<Conn>, Outcome) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let next = next.clone();
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome {
                latency: record.then(|| Histogram::new(3).unwrap()),
                ..Outcome::default()
            };
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match stop {
                    Stop::After(total) if n >= total => break,
                    Stop::At(deadline) if Instant::now() >= deadline => break,
                    _ => {}
                }
                let path = &paths[usize::try_from(n).unwrap() % paths.len()];
                let sent = Instant::now();
                let (status, hit) = conn.get(path).await;
                if let Some(h) = out.latency.as_mut() {
                    let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    h.record(us.max(1)).unwrap();
                }
                out.requests += 1;
                if status != 200 {
                    out.failed += 1;
                } else if !hit {
                    out.not_hit += 1;
                }
            }
            (conn, out)
        }));
    }
    let mut conns = Vec::with_capacity(tasks.len());
    let mut total = Outcome {
        latency: record.then(|| Histogram::new(3).unwrap()),
        ..Outcome::default()
    };
    for t in tasks {
        let (conn, out) = t.await.expect("load task");
        conns.push(conn);
        total.requests += out.requests;
        total.failed += out.failed;
        total.not_hit += out.not_hit;
        if let (Some(all), Some(h)) = (total.latency.as_mut(), out.latency.as_ref()) {
            all.add(h).unwrap();
        }
    }
    total.elapsed = started.elapsed();
    (conns, total)
}

/// Requests and time spent by one benchmark, over all its criterion
/// iterations (warm-up included), and the department's count meanwhile.
#[derive(Default)]
struct Tally {
    requests: u64,
    failed: u64,
    not_hit: u64,
    elapsed: Duration,
    dept_requests: u64,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.not_hit += o.not_hit;
        self.elapsed += o.elapsed;
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Bench {
    rt: tokio::runtime::Runtime,
    sim: Sim,
    gw: Gateway,
    conns: Option<Vec<Conn>>,
}

impl Bench {
    fn start() -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (sim, gw) = rt.block_on(async {
            let sim = Sim::start(2, 10).await;
            let gw = Gateway::start_with(&sim.manifest, &ConfigOptions::default(), |config| {
                let hpf = config.join("departments/hpf.toml");
                let mut text = std::fs::read_to_string(&hpf).unwrap();
                text.push_str(ROUTES);
                std::fs::write(hpf, text).unwrap();
            })
            .await;
            (sim, gw)
        });
        let conns = rt.block_on(async {
            let mut conns = Vec::with_capacity(CONNS);
            for _ in 0..CONNS {
                conns.push(Conn::open(gw.public).await);
            }
            conns
        });
        Bench {
            rt,
            sim,
            gw,
            conns: Some(conns),
        }
    }

    /// Requests all `hpf` instances have served.
    fn dept_requests(&self) -> u64 {
        self.rt.block_on(async {
            let mut n = 0;
            for i in &self.sim.dept("hpf").instances {
                n += self.sim.requests(&i.id).await;
            }
            n
        })
    }

    fn dept_latency(&self, ms: u64) {
        self.rt.block_on(async {
            for i in &self.sim.dept("hpf").instances {
                self.sim
                    .set_faults(&i.id, json!({ "latency_ms": ms }))
                    .await;
            }
        });
    }

    /// Fills every cached key (the first answer is a MISS) and checks that
    /// the next answer is a HIT; aborts with a clear message otherwise.
    fn warm(&mut self) {
        let paths = Mode::Hit.paths();
        let (rt, gw) = (&self.rt, &self.gw);
        let conn = &mut self.conns.as_mut().unwrap()[0];
        rt.block_on(async {
            for path in paths.iter() {
                let (status, hit) = conn.get(path).await;
                assert_eq!(status, 200, "GET {path}: status {status}");
                assert!(
                    !hit,
                    "GET {path}: the first answer of a fresh gateway is a HIT"
                );
                let (status, hit) = conn.get(path).await;
                if status != 200 || !hit {
                    eprintln!(
                        "\nThe gateway does not serve {path} from its cache (second GET: \
                         status {status}, x-onestop-cache HIT: {hit}); cache-hit throughput \
                         cannot be measured. Gateway log:\n{}",
                        gw.log()
                    );
                    std::process::exit(2);
                }
            }
        });
    }

    fn run(&mut self, mode: Mode, stop: Stop, record: bool) -> Outcome {
        let conns = self.conns.take().unwrap();
        let (conns, out) = self.rt.block_on(load(conns, mode.paths(), stop, record));
        self.conns = Some(conns);
        out
    }
}

/// Utime + stime of a process, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is the first,
    // utime and stime the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One printed row: a mode at one department latency.
struct Row {
    mode: Mode,
    dept_ms: u64,
    /// All criterion iterations of the benchmark.
    criterion: Tally,
    /// The fixed rounds: req/s of each, latencies of all.
    rates: Vec<f64>,
    latency: Histogram<u64>,
    fixed_requests: u64,
    fixed_failed: u64,
    fixed_not_hit: u64,
    fixed_dept_requests: u64,
    /// CPU ticks of the gateway and of the fleet during the fixed rounds.
    gateway_ticks: u64,
    fleet_ticks: u64,
}

impl Row {
    fn fixed_rate(&self) -> f64 {
        let mut r = self.rates.clone();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(0.0)
    }

    fn label(&self) -> String {
        format!("{}/dept_{}ms", self.mode.name(), self.dept_ms)
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();

    let mut bench = Bench::start();
    bench.warm();
    let warm_dept = bench.dept_requests();

    let mut rows: Vec<Row> = Vec::new();
    {
        let mut g = c.benchmark_group("cache_throughput");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(BATCH));
        for dept_ms in DEPT_LATENCIES_MS {
            bench.dept_latency(dept_ms);
            for mode in [Mode::Passthrough, Mode::Hit] {
                let mut tally = Tally::default();
                let before = bench.dept_requests();
                g.bench_function(format!("{}/dept_{dept_ms}ms", mode.name()), |b| {
                    b.iter_custom(|iters| {
                        let out = bench.run(mode, Stop::After(iters * BATCH), false);
                        tally.add(&out);
                        out.elapsed
                    })
                });
                tally.dept_requests = bench.dept_requests() - before;
                rows.push(Row {
                    mode,
                    dept_ms,
                    criterion: tally,
                    rates: Vec::new(),
                    latency: Histogram::new(3).unwrap(),
                    fixed_requests: 0,
                    fixed_failed: 0,
                    fixed_not_hit: 0,
                    fixed_dept_requests: 0,
                    gateway_ticks: 0,
                    fleet_ticks: 0,
                });
            }
        }
        g.finish();
    }

    // The same modes again for a fixed time, alternating (P H P H …) so
    // that the machine's drift touches both alike, every latency recorded.
    let gw_pid = bench.gw.proc.pid();
    let fleet_pid = bench.sim.proc.pid();
    for dept_ms in DEPT_LATENCIES_MS {
        bench.dept_latency(dept_ms);
        for _ in 0..ROUNDS {
            for row in rows.iter_mut().filter(|r| r.dept_ms == dept_ms) {
                let before = bench.dept_requests();
                let (gw0, fleet0) = (cpu_ticks(gw_pid), cpu_ticks(fleet_pid));
                let out = bench.run(row.mode, Stop::At(Instant::now() + FIXED_RUN), true);
                row.gateway_ticks += cpu_ticks(gw_pid) - gw0;
                row.fleet_ticks += cpu_ticks(fleet_pid) - fleet0;
                row.fixed_dept_requests += bench.dept_requests() - before;
                row.rates
                    .push(out.requests as f64 / out.elapsed.as_secs_f64());
                row.fixed_requests += out.requests;
                row.fixed_failed += out.failed;
                row.fixed_not_hit += out.not_hit;
                row.latency.add(out.latency.as_ref().unwrap()).unwrap();
            }
        }
    }
    bench.dept_latency(0);

    print_table(&rows);
    verify(&rows, warm_dept);
    c.final_summary();
}

fn print_table(rows: &[Row]) {
    let tick_us = 1e6 / clock_ticks_per_second();
    println!();
    println!(
        "cache_throughput: {CONNS} keep-alive HTTP/1.1 connections, closed loop, {KEYS} URLs \
         per mode, gateway with 2 worker threads"
    );
    println!(
        "req/s (criterion): all criterion iterations of the benchmark (warm-up included); \
         req/s (fixed): median of {ROUNDS} alternating {} s rounds; p50/p99 and CPU over those rounds",
        FIXED_RUN.as_secs()
    );
    println!();
    println!(
        "| benchmark            | req/s (criterion) | req/s (fixed) | p50 ms | p99 ms | gateway CPU µs/req | fleet CPU µs/req | requests at dept / sent |"
    );
    println!(
        "|----------------------|------------------:|--------------:|-------:|-------:|-------------------:|-----------------:|------------------------:|"
    );
    for r in rows {
        let n = r.fixed_requests.max(1) as f64;
        println!(
            "| {:<20} | {:>17.0} | {:>13.0} | {:>6.2} | {:>6.2} | {:>18.1} | {:>16.1} | {:>23} |",
            r.label(),
            r.criterion.rate(),
            r.fixed_rate(),
            r.latency.value_at_quantile(0.50) as f64 / 1000.0,
            r.latency.value_at_quantile(0.99) as f64 / 1000.0,
            r.gateway_ticks as f64 * tick_us / n,
            r.fleet_ticks as f64 * tick_us / n,
            format!(
                "{} / {}",
                r.criterion.dept_requests + r.fixed_dept_requests,
                r.criterion.requests + r.fixed_requests
            ),
        );
    }
    println!();
    for dept_ms in DEPT_LATENCIES_MS {
        let find = |mode| rows.iter().find(|r| r.mode == mode && r.dept_ms == dept_ms);
        if let (Some(p), Some(h)) = (find(Mode::Passthrough), find(Mode::Hit)) {
            let crit = if p.criterion.requests > 0 && h.criterion.requests > 0 {
                format!("{:.2}x", h.criterion.rate() / p.criterion.rate())
            } else {
                "n/a (filtered out)".into()
            };
            println!(
                "ratio hit/passthrough, department {dept_ms} ms: {crit} (criterion), {:.2}x (fixed rounds)",
                h.fixed_rate() / p.fixed_rate().max(1e-9)
            );
        }
    }
    println!();
}

/// The department's counters prove what was measured: every passthrough
/// request reached it; cache hits did not.
fn verify(rows: &[Row], warm_dept: u64) {
    let mut ok = true;
    for r in rows {
        let sent = r.criterion.requests + r.fixed_requests;
        let failed = r.criterion.failed + r.fixed_failed;
        let at_dept = r.criterion.dept_requests + r.fixed_dept_requests;
        let label = r.label();
        if failed > 0 {
            println!("FAIL {label}: {failed} of {sent} requests did not answer 200");
            ok = false;
        }
        match r.mode {
            Mode::Passthrough => {
                // Retries could add a few; none may be missing.
                let close = at_dept >= sent && at_dept <= sent + sent / 100;
                println!(
                    "{} {label}: {sent} requests sent, {at_dept} reached the department",
                    if close { "ok  " } else { "FAIL" }
                );
                ok &= close;
            }
            Mode::Hit => {
                let not_hit = r.criterion.not_hit + r.fixed_not_hit;
                // Every key was filled before; a refill is at most one per key.
                let fine = not_hit == 0 && at_dept <= KEYS as u64;
                println!(
                    "{} {label}: {sent} requests sent, {not_hit} without HIT, {at_dept} reached \
                     the department (allowed: at most 1 per key, {KEYS} keys)",
                    if fine { "ok  " } else { "FAIL" }
                );
                ok &= fine;
            }
        }
    }
    println!(
        "(the cache fill before the benchmarks: {warm_dept} department requests for {KEYS} keys)"
    );
    assert!(
        ok,
        "the department's counters disagree with what the benchmark says it measured"
    );
}
