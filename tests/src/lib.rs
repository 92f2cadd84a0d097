//! Shared harness for the cross-process tests: starts the real `onestop`
//! binary as a fleet (`onestop sim`) and as a gateway (`onestop serve`) on
//! loopback ports chosen at run time, and offers small clients for them.

#![allow(clippy::unwrap_used)]

pub mod appeals;
pub mod browser;
pub mod grpc;
pub mod raw;
pub mod registry;
pub mod relay;
pub mod secure;
pub mod sharing;
pub mod transcode;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use onestop::fleet_config::Options as ConfigOptions;
pub use onestop_sim::manifest::FleetManifest;

/// The `onestop` binary built next to this test executable, or the one
/// `ONESTOP_BIN` names (e.g. a release build, for a test run by hand to
/// measure: `ONESTOP_BIN=$PWD/target/release/onestop`, an absolute path:
/// tests run in `tests/`).
pub fn onestop_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ONESTOP_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.exists(), "ONESTOP_BIN={} is missing", bin.display());
        return bin.canonicalize().unwrap_or(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/onestop
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("onestop");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p onestop` (make test does)",
        bin.display()
    );
    bin
}

/// A loopback port that is free right now, for a process started later.
///
/// It is taken from below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), where no `bind(…:0)` lands: a port the OS
/// handed out could be handed out again before the process that is to
/// listen on it starts, e.g. to one of a fleet's instances, and a gateway
/// would then talk to someone else's server. Ports are drawn at random per
/// call and checked by binding; when the range below the ephemeral one is
/// too small, the OS picks.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_low > LOWEST + 1_000 {
        for _ in 0..200 {
            let Ok(port) = u16::try_from(fastrand::u32(LOWEST..ephemeral_low)) else {
                continue;
            };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ask the OS for a free port")
}

/// A child process killed when dropped; its stderr goes to a log file.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    fn spawn(args: &[&str], log: PathBuf) -> Proc {
        Proc::spawn_printing(args, log, None)
    }

    /// As [`Proc::spawn`], with what the process prints (stdout) in
    /// `printed` when given.
    fn spawn_printing(args: &[&str], log: PathBuf, printed: Option<&Path>) -> Proc {
        let file = std::fs::File::create(&log).expect("log file");
        let stdout = match printed {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("stdout file")),
            None => Stdio::null(),
        };
        let child = Command::new(onestop_bin())
            .args(args)
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .expect("spawn onestop");
        Proc { child, log }
    }

    /// Fails the test with the process log when it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("onestop exited with {status}; log:\n{log}");
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `kill -9`: SIGKILL (no graceful stop, nothing flushed), then waits
    /// until the process is gone; panics unless SIGKILL is what ended it.
    pub fn kill9(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.signal("KILL");
        let status = self
            .wait_exit(Duration::from_secs(10))
            .expect("the process is gone within 10 s of SIGKILL");
        assert_eq!(status.signal(), Some(9), "ended by {status}, not SIGKILL");
    }

    /// Sends a signal (`TERM`, `QUIT`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// The exit status once the process has exited, waiting at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log: what a failure message should show
    /// (a CI log shortens long messages in the middle).
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let skipped = lines.len().saturating_sub(n);
        let mut tail = if skipped > 0 {
            format!("[{skipped} earlier lines]\n")
        } else {
            String::new()
        };
        tail.push_str(&lines[skipped..].join("\n"));
        tail
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        scan_log(&self.log);
    }
}

/// Fails the test when the log file holds a resident ID or mobile number
/// unmasked (what `onestop_core::mask::redact_text` masks). The finding is
/// reported masked; a thread already panicking only prints it.
pub fn scan_log(log: &Path) {
    use onestop_core::mask;
    let Ok(bytes) = std::fs::read(log) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    let found = mask::find_unmasked(&text);
    let lines = text.lines().count();
    if found.is_empty() {
        println!("log scan: {}: {lines} lines, 0 unmasked", log.display());
        return;
    }
    let first: Vec<String> = found
        .iter()
        .take(3)
        .map(|(at, m)| {
            let masked = if m.len() >= 17 {
                mask::resident_id(m)
            } else {
                mask::phone(m)
            };
            format!("{masked} at byte {at}")
        })
        .collect();
    let message = format!(
        "log scan: {}: {lines} lines, {} unmasked resident ID or phone numbers; first: {}",
        log.display(),
        found.len(),
        first.join(", ")
    );
    if std::thread::panicking() {
        eprintln!("{message}");
    } else {
        panic!("{message}");
    }
}

/// The simulated department fleet in its own process.
pub struct Sim {
    pub proc: Proc,
    pub manifest: FleetManifest,
    pub dir: tempfile::TempDir,
}

impl Sim {
    pub async fn start(departments: usize, citizens: usize) -> Sim {
        Sim::start_signed(departments, citizens, None).await
    }

    /// A fleet whose departments verify the gateway's signature with this
    /// master key (hex, as in `[signing].key_file`).
    pub async fn start_signed(
        departments: usize,
        citizens: usize,
        signing_key_hex: Option<&str>,
    ) -> Sim {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest_path = dir.path().join("fleet.json");
        let key_file = dir.path().join("signing.key");
        let departments = departments.to_string();
        let citizens = citizens.to_string();
        let mut args = vec![
            "--log-format",
            "text",
            "sim",
            "--departments",
            &departments,
            "--citizens",
            &citizens,
            "--manifest-out",
            manifest_path.to_str().expect("utf-8 path"),
        ];
        if let Some(hex) = signing_key_hex {
            std::fs::write(&key_file, hex).expect("signing key file");
            args.push("--signing-key-file");
            args.push(key_file.to_str().expect("utf-8 path"));
        }
        let mut proc = Proc::spawn(&args, dir.path().join("sim.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&manifest_path) {
                let manifest: FleetManifest = serde_json::from_str(&text).expect("manifest json");
                return Sim {
                    proc,
                    manifest,
                    dir,
                };
            }
            proc.assert_running();
            assert!(
                Instant::now() < deadline,
                "the fleet did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn dept(&self, id: &str) -> &onestop_sim::manifest::DeptManifest {
        self.manifest
            .departments
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("no department {id} in the fleet"))
    }

    /// Sets fault knobs on one instance (`{"latency_ms":..,"down":..}`).
    pub async fn set_faults(&self, instance: &str, faults: serde_json::Value) {
        let url = format!(
            "http://{}/fleet/instances/{instance}/faults",
            self.manifest.control
        );
        let resp = crate::client()
            .put(url)
            .json(&faults)
            .send()
            .await
            .expect("fleet control");
        assert!(
            resp.status().is_success(),
            "set faults on {instance}: {}",
            resp.status()
        );
    }

    /// Requests an instance has served (health checks excluded).
    pub async fn requests(&self, instance: &str) -> u64 {
        let url = format!(
            "http://{}/fleet/instances/{instance}",
            self.manifest.control
        );
        let v: serde_json::Value = reqwest::get(url)
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        v["requests"].as_u64().expect("requests counter")
    }
}

/// A gateway process serving a configuration written into its own directory.
pub struct Gateway {
    pub proc: Proc,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub control: SocketAddr,
    /// An operator token with every role.
    pub operator_token: String,
    pub dir: tempfile::TempDir,
}

/// How [`Gateway::serve_with`] writes the gateway file.
#[derive(Debug, Clone, Default)]
pub struct GatewaySetup {
    /// Worker threads of the public listener (0: one per core).
    pub threads: usize,
    /// `[store].url`; `None`: SQLite in the data directory.
    pub store_url: Option<String>,
    /// More TOML appended to the gateway file.
    pub extra: String,
    /// Listener addresses to reuse (a restart or an upgrade); fresh when `None`.
    pub listeners: Option<[SocketAddr; 3]>,
    /// `[proxy].grace_period` (how long SIGTERM/SIGQUIT wait for in-flight requests).
    pub grace_period: Option<Duration>,
}

/// A unique PostgreSQL URL on a fresh schema of the local `test` database
/// (the store creates the schema). `ONESTOP_TEST_PG_URL` overrides the server.
pub fn pg_url(schema_hint: &str) -> String {
    let base = std::env::var("ONESTOP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}schema=e2e_{schema_hint}_{}_{}",
        std::process::id(),
        free_port()
    )
}

/// Fails the test with a clear message when PostgreSQL cannot be reached.
pub fn require_postgres() {
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("addr"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "PostgreSQL at 127.0.0.1:5432 (database test) is required by this test and cannot be reached"
        );
    }
}

impl Gateway {
    /// Starts a gateway in front of `fleet` with generated department config.
    pub async fn start(fleet: &FleetManifest, opts: &ConfigOptions) -> Gateway {
        Gateway::start_with(fleet, opts, |_| {}).await
    }

    /// Like [`Gateway::start`], letting the test add or change config files first.
    pub async fn start_with(
        fleet: &FleetManifest,
        opts: &ConfigOptions,
        edit: impl FnOnce(&Path),
    ) -> Gateway {
        Gateway::start_setup(
            fleet,
            opts,
            edit,
            GatewaySetup {
                threads: 2,
                ..GatewaySetup::default()
            },
        )
        .await
    }

    /// Static department files for `fleet`, then `serve_with(setup)`.
    pub async fn start_setup(
        fleet: &FleetManifest,
        opts: &ConfigOptions,
        edit: impl FnOnce(&Path),
        setup: GatewaySetup,
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).expect("config dir");
        onestop::fleet_config::write_departments(&config, fleet, opts).expect("department files");
        edit(&config);
        Gateway::serve_with(dir, setup).await
    }

    /// Starts `onestop serve` on `dir/config` with fresh listener ports.
    pub async fn serve(dir: tempfile::TempDir, threads: usize) -> Gateway {
        Gateway::serve_with(
            dir,
            GatewaySetup {
                threads,
                ..GatewaySetup::default()
            },
        )
        .await
    }

    /// Writes the gateway file as `setup` says and starts `onestop serve`.
    pub async fn serve_with(dir: tempfile::TempDir, setup: GatewaySetup) -> Gateway {
        let [public, control, admin] = setup
            .listeners
            .unwrap_or_else(|| [0; 3].map(|_| SocketAddr::from(([127, 0, 0, 1], free_port()))));
        let (operator_token, hash) = onestop::tokens::new_operator_token();
        let mut text = onestop::fleet_config::gateway_toml(
            &public.to_string(),
            &control.to_string(),
            &admin.to_string(),
            setup.threads,
        );
        if let Some(grace) = setup.grace_period {
            text = text.replace(
                "\n[proxy]\n",
                &format!("\n[proxy]\ngrace_period = \"{}ms\"\n", grace.as_millis()),
            );
        }
        if let Some(url) = &setup.store_url {
            text.push_str(&format!("\n[store]\nurl = \"{url}\"\n"));
        }
        text.push_str(&setup.extra);
        text.push_str(&onestop::fleet_config::operator_toml(
            "test-operator",
            &["viewer", "editor", "approver"],
            &hash,
        ));
        let config = dir.path().join("config");
        std::fs::write(config.join("onestop.toml"), text).expect("gateway file");
        let proc = Gateway::spawn_serve(dir.path(), &[], "gateway.log");
        let mut gw = Gateway {
            proc,
            public,
            admin,
            control,
            operator_token,
            dir,
        };
        gw.wait_ready(Duration::from_secs(30)).await;
        gw
    }

    /// `onestop serve` on this gateway's directory (`extra` args, e.g. `--upgrade`).
    pub fn spawn_serve(dir: &Path, extra: &[&str], log: &str) -> Proc {
        let config = dir.join("config");
        let data = dir.join("data");
        let mut args = vec![
            "serve",
            "--config",
            config.to_str().expect("utf-8 path"),
            "--data-dir",
            data.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        Proc::spawn(&args, dir.join(log))
    }

    /// Waits for `/readyz` to answer 200.
    pub async fn wait_ready(&mut self, within: Duration) {
        let client = crate::client();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = client
                .get(format!("http://{}/readyz", self.admin))
                .send()
                .await
                && r.status() == 200
            {
                break;
            }
            self.proc.assert_running();
            assert!(
                Instant::now() < deadline,
                "gateway not ready within {within:?}:\n{}",
                self.proc.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request to the admin API as the test operator.
    pub fn admin_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        crate::client()
            .request(method, format!("http://{}/admin/v1{path}", self.admin))
            .header("authorization", format!("Bearer {}", self.operator_token))
    }

    /// GET an admin path as the test operator; panics unless 2xx.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let r = self
            .admin_request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("admin API");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("admin json")
    }

    /// POST JSON to an admin path as the test operator; returns status and body.
    pub async fn admin_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .admin_request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("admin API");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample line, e.g.
    /// `onestop_upstream_instance_up{dept="hrss",instance="…",service="main"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        sample(&self.metrics().await, series)
    }

    /// The gateway's log (JSON lines).
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// Finds `series` (name plus labels in Prometheus' sorted order) in a scrape.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// GET `url` and parse the JSON answer (any status).
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// The `onestop_upstream_instance_up` series of one instance.
pub fn instance_up_series(dept: &str, service: &str, addr: SocketAddr) -> String {
    format!(
        "onestop_upstream_instance_up{{dept=\"{dept}\",instance=\"{addr}\",service=\"{service}\"}}"
    )
}

/// How long a test client keeps an idle connection: under the shortest
/// header timeout any test gives a gateway (2 s). The gateway closes a
/// connection that has not sent its first header within `header_timeout`
/// of the accept (nginx's `client_header_timeout`); a client that keeps
/// such a connection pooled longer (hyper opens a spare one when a request
/// starts before the last response's connection is back in the pool) can
/// write a request as the gateway closes it and get `IncompleteMessage`
/// (hyper does not resend a written request). A client must give idle
/// connections up before the server does.
pub const CLIENT_IDLE: Duration = Duration::from_secs(1);

/// A reqwest client builder for the tests: idle connections are dropped
/// after [`CLIENT_IDLE`]. Every test client starts here (tidy checks).
pub fn client_builder() -> reqwest::ClientBuilder {
    // tidy: allow(client) the one place test clients are built
    reqwest::Client::builder().pool_idle_timeout(CLIENT_IDLE)
}

/// A test client with [`client_builder`]'s settings.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("reqwest client")
}

/// Polls `cond` every 20 ms until it holds or `within` passes; returns how long it took.
pub async fn wait_for<F, Fut>(within: Duration, mut cond: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if cond().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A paced load: `rate` requests per second for `secs`, each a GET of one of `paths`.
/// Returns `(status, latency)` per request; status 0 is a transport error.
pub async fn paced_load(
    http: reqwest::Client,
    base: String,
    paths: std::sync::Arc<Vec<String>>,
    rate: u32,
    secs: u64,
) -> Vec<(u16, Duration)> {
    paced_load_timed(http, base, paths, rate, secs)
        .await
        .into_iter()
        .map(|(_, status, took)| (status, took))
        .collect()
}

/// Like [`paced_load`], also returning when each request started (since the load began).
pub async fn paced_load_timed(
    http: reqwest::Client,
    base: String,
    paths: std::sync::Arc<Vec<String>>,
    rate: u32,
    secs: u64,
) -> Vec<(Duration, u16, Duration)> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let total = u64::from(rate) * secs;
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        ticker.tick().await;
        let http = http.clone();
        let url = format!(
            "{base}{}",
            paths[usize::try_from(n).unwrap_or(0) % paths.len()]
        );
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let status = match http.get(&url).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    s
                }
                Err(e) => {
                    eprintln!("request error: {e:?}");
                    0
                }
            };
            (started - began, status, started.elapsed())
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("load task"));
    }
    out
}

/// Like [`paced_load`], with a client that does what RFC 9112 §9.3.1
/// expects of HTTP clients: an idempotent request whose kept-alive
/// connection was closed under it (a transport error, no response) is
/// sent once more, on a new connection (`fresh` makes a client without
/// pooled connections: the pool's other idle ones may be closing too).
/// Returns `(final status, whether it was retried)`.
pub async fn paced_load_retrying(
    http: reqwest::Client,
    fresh: fn() -> reqwest::Client,
    base: String,
    paths: std::sync::Arc<Vec<String>>,
    rate: u32,
    secs: u64,
) -> Vec<(u16, bool)> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let total = u64::from(rate) * secs;
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        ticker.tick().await;
        let http = http.clone();
        let url = format!(
            "{base}{}",
            paths[usize::try_from(n).unwrap_or(0) % paths.len()]
        );
        tasks.push(tokio::spawn(async move {
            let once = |http: reqwest::Client, url: String| async move {
                match http.get(&url).send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                }
            };
            match once(http.clone(), url.clone()).await {
                0 => (once(fresh(), url).await, true),
                status => (status, false),
            }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("load task"));
    }
    out
}

/// Latency percentiles in milliseconds.
/// The median of per-round figures (the upper one of an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for s in samples {
        h.record(u64::try_from(s.as_micros()).unwrap_or(u64::MAX).max(1))
            .expect("record");
    }
    h.value_at_quantile(p) as f64 / 1000.0
}

/// `onestop demo`: the gateway and the fleet in one process, as a new user runs it.
pub struct Demo {
    pub proc: Proc,
    pub public: SocketAddr,
    pub control: SocketAddr,
    pub admin: SocketAddr,
    /// `DATA_DIR/demo.json`.
    pub info: serde_json::Value,
    pub manifest: FleetManifest,
    pub dir: tempfile::TempDir,
}

/// The services a gRPC listener lists over server reflection v1alpha (the
/// version grpcurl, Postman and Python's grpcio-reflection ask first).
pub async fn reflection_v1alpha_services(addr: SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_request::MessageRequest,
        server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("control address")
        .connect()
        .await
        .expect("connect to the gRPC listener");
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflection call")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("reflection answer")
        .expect("one reflection answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    list.service.into_iter().map(|s| s.name).collect()
}

impl Demo {
    pub async fn start(departments: usize, citizens: usize) -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let [public, control, admin] =
            [0; 3].map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let mut proc = Proc::spawn_printing(
            &[
                "demo",
                "--departments",
                &departments.to_string(),
                "--citizens",
                &citizens.to_string(),
                "--data-dir",
                data.to_str().expect("utf-8 path"),
                "--public",
                &public.to_string(),
                "--control",
                &control.to_string(),
                "--admin",
                &admin.to_string(),
            ],
            dir.path().join("demo.log"),
            Some(&dir.path().join("demo.stdout")),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let info = loop {
            if let Ok(text) = std::fs::read_to_string(data.join("demo.json")) {
                break serde_json::from_str::<serde_json::Value>(&text).expect("demo.json");
            }
            proc.assert_running();
            assert!(
                Instant::now() < deadline,
                "demo not ready within 60 s:\n{}",
                proc.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let manifest = serde_json::from_str(
            &std::fs::read_to_string(data.join("fleet.json")).expect("fleet.json"),
        )
        .expect("fleet manifest");
        Demo {
            proc,
            public,
            control,
            admin,
            info,
            manifest,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    /// What the demo printed so far (stdout: addresses, tokens, curl lines).
    pub fn printed(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("demo.stdout")).unwrap_or_default()
    }

    /// The demo's first channel's app key.
    pub fn app_key(&self) -> String {
        self.info["app_key"]
            .as_str()
            .expect("app_key in demo.json")
            .to_string()
    }

    /// The token of the `i`-th citizen of demo.json (citizen 0 is the
    /// fleet's example citizen, known to every department).
    pub fn token(&self, i: usize) -> String {
        self.info["citizens"][i]["token"]
            .as_str()
            .expect("citizen token in demo.json")
            .to_string()
    }

    /// A client sending the app key and citizen `i`'s token on every request.
    pub fn citizen_client(&self, i: usize) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-onestop-app-key",
            self.app_key().parse().expect("app key"),
        );
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token(i)).parse().expect("token"),
        );
        crate::client_builder()
            .default_headers(headers)
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client")
    }

    /// gRPC metadata for citizen `i` (app key and token).
    pub fn grpc_metadata(&self, i: usize) -> grpc::Metadata {
        grpc::Metadata(vec![
            ("x-onestop-app-key", self.app_key()),
            ("authorization", format!("Bearer {}", self.token(i))),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_scan_passes_masked_logs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ok.log");
        std::fs::write(
            &log,
            "{\"path\":\"/citizens/110***********7774\"}\nphone 138****5678\n",
        )
        .unwrap();
        scan_log(&log);
        scan_log(&dir.path().join("missing.log"));
    }

    #[test]
    #[should_panic(
        expected = "2 unmasked resident ID or phone numbers; first: 110***********7774 at byte 19, 138****5678 at byte 46"
    )]
    fn the_log_scan_fails_on_an_unmasked_id_or_phone() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("leak.log");
        std::fs::write(
            &log,
            "{\"path\":\"/citizens/110101199003077774\"}\nphone 13812345678\n",
        )
        .unwrap();
        scan_log(&log);
    }
}
