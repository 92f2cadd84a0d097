//! Test support: the Redis the tests need, a loopback relay to cut or slow
//! it, and metric readers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use onestop_ratelimit::{Limiter, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The Redis under test: `ONESTOP_TEST_REDIS_URL`, else 127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("ONESTOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `host:port` of a `redis://host:port/db` URL.
pub fn redis_addr(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:6379")
    }
}

/// The Redis URL, after checking Redis answers. Fails the test otherwise:
/// these tests are never skipped.
pub async fn require_redis() -> String {
    let url = redis_url();
    let ping = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => url,
        Ok(Err(e)) => panic!("Redis at {} is required: {e}", redis_addr(&url)),
        Err(_) => panic!(
            "Redis at {} is required: no answer within 2 s",
            redis_addr(&url)
        ),
    }
}

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("test:rl:{test}:{}:{nanos}", std::process::id())
}

/// Waits until `limiter` counts in `mode`; returns how long that took.
pub async fn wait_for_mode(limiter: &Limiter, mode: Mode, within: Duration) -> Duration {
    let start = Instant::now();
    while limiter.mode() != mode {
        assert!(
            start.elapsed() < within,
            "mode still {:?} after {within:?}, expected {mode:?}",
            limiter.mode()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// Sum of a counter (or gauge) family in the default registry, optionally
/// only the series carrying label value `label`.
pub fn metric(name: &str, label: Option<&str>) -> f64 {
    prometheus::gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .filter(|m| label.is_none_or(|l| m.get_label().iter().any(|p| p.value() == l)))
        // A counter has no gauge value and the reverse (both read 0 when absent).
        .map(|m| m.get_counter().value() + m.get_gauge().value())
        .sum()
}

/// A loopback TCP relay in front of Redis that the test can cut or slow.
pub struct Relay {
    addr: SocketAddr,
    state: Arc<RelayState>,
    accept: JoinHandle<()>,
}

struct RelayState {
    upstream: String,
    cut: AtomicBool,
    delay_ms: AtomicU64,
    /// Bumped by `cut()`: every open connection ends.
    generation: watch::Sender<u64>,
    open: AtomicUsize,
    accepted: AtomicUsize,
}

impl Relay {
    /// Listens on a port the OS picks and relays to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(RelayState {
            upstream,
            cut: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            generation: watch::channel(0).0,
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Relay {
            addr,
            state,
            accept,
        }
    }

    /// A `redis://` URL through the relay.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every open connection and refuses (accepts and closes) new
    /// ones; returns once no connection is open.
    pub async fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.generation.send_modify(|g| *g += 1);
        let start = Instant::now();
        while self.state.open.load(Ordering::SeqCst) > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "relay did not cut"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Holds every chunk for `delay` before passing it on (each direction).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Connections accepted so far (including refused ones).
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.generation.send_modify(|g| *g += 1);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<RelayState>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        state.accepted.fetch_add(1, Ordering::SeqCst);
        if state.cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(relay_one(client, Arc::clone(&state)));
    }
}

async fn relay_one(client: TcpStream, state: Arc<RelayState>) {
    // Counted as open before looking at `cut`, which `cut()` sets before
    // waiting for no connection to be open: one of the two sees the other.
    state.open.fetch_add(1, Ordering::SeqCst);
    let mut cut = state.generation.subscribe();
    if !state.cut.load(Ordering::SeqCst)
        && let Ok(upstream) = TcpStream::connect(&state.upstream).await
    {
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (ur, uw) = upstream.into_split();
        tokio::select! {
            () = pump(cr, uw, &state) => {}
            () = pump(ur, cw, &state) => {}
            _ = cut.changed() => {}
        }
        // Both sockets are dropped here: the connection is gone.
    }
    state.open.fetch_sub(1, Ordering::SeqCst);
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: &RelayState,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
