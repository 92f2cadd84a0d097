//! Cluster-wide GCRA in Redis, and the state that decides whether the
//! request path asks Redis at all.
//!
//! The request path reads one atomic (`is_up`) and, when Redis is up, sends
//! one EVALSHA on the shared multiplexed connection, bounded by `timeout`.
//! Connecting, reconnecting and probing happen on the background thread
//! (`crate::background`), never on the request path.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisWrite, Script, ToRedisArgs};
use tokio::time::timeout;

use crate::{Decision, Rate, RedisOptions, events};

/// The GCRA script (see `gcra.lua`), sent by SHA (EVALSHA) and loaded on
/// `NOSCRIPT`.
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("gcra.lua")));

/// Not connected yet: counting locally, nothing logged yet.
const CONNECTING: u8 = 0;
/// Counting in Redis.
const UP: u8 = 1;
/// Counting locally after Redis failed (logged and counted once).
const DOWN: u8 = 2;

/// Why a Redis call did not produce a decision.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout(Duration),
    Redis(redis::RedisError),
    NotConnected,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(t) => write!(f, "no answer within {} ms", t.as_millis()),
            Failure::Redis(e) => write!(f, "{e}"),
            Failure::NotConnected => f.write_str("not connected"),
        }
    }
}

/// The Redis side of a limiter.
pub(crate) struct Cluster {
    client: redis::Client,
    /// Set by the background thread once connected; replaced when the
    /// connection looks dead (see `probe`).
    conn: ArcSwapOption<ConnectionManager>,
    state: AtomicU8,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Cluster {
    pub(crate) fn new(client: redis::Client, opts: &RedisOptions) -> Cluster {
        events::redis_connecting();
        Cluster {
            client,
            conn: ArcSwapOption::empty(),
            state: AtomicU8::new(CONNECTING),
            prefix: opts.prefix.clone(),
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
        }
    }

    /// Whether the request path should ask Redis.
    pub(crate) fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    /// Checks and counts one request in Redis, within `timeout`.
    pub(crate) async fn check(&self, key: &str, rate: Rate) -> Result<Decision, Failure> {
        let Some(mut conn) = self.conn.load().as_deref().cloned() else {
            return Err(Failure::NotConnected);
        };
        let rate = rate.normalized();
        let mut invocation = SCRIPT.key(PrefixedKey(&self.prefix, key));
        invocation
            .arg(1_000_000.0 / f64::from(rate.per_second))
            .arg(rate.burst);
        let (allowed, retry_after_ms): (i64, i64) =
            match timeout(self.timeout, invocation.invoke_async(&mut conn)).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => return Err(Failure::Redis(e)),
                Err(_) => return Err(Failure::Timeout(self.timeout)),
            };
        Ok(if allowed == 1 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: Duration::from_millis(u64::try_from(retry_after_ms).unwrap_or(0)),
            }
        })
    }

    /// A check's Redis call failed: the caller decides locally. The first
    /// failure after Redis was up switches to local counting.
    pub(crate) fn failed(&self, failure: &Failure) {
        events::redis_error(failure);
        self.fall_back(failure);
    }

    fn fall_back(&self, failure: &Failure) {
        if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
            events::fell_back(failure);
        }
    }

    fn come_back(&self) {
        let before = self.state.swap(UP, Ordering::Relaxed);
        if before != UP {
            events::redis_available(before == CONNECTING);
        }
    }

    /// One round of the background probe: connect if there is no
    /// connection, else PING; switch the mode accordingly. `timeouts` counts
    /// PINGs in a row that went unanswered: after `STALE_AFTER` the
    /// connection is dropped and the next round connects afresh (the
    /// connection manager reconnects on I/O errors, not on silence, e.g. a
    /// peer gone without a reset).
    pub(crate) async fn probe(&self, timeouts: &mut u32) {
        const STALE_AFTER: u32 = 3;
        let mut conn = match self.conn.load().as_deref().cloned() {
            Some(conn) => conn,
            None => match self.connect().await {
                Ok(conn) => {
                    self.conn.store(Some(Arc::new(conn.clone())));
                    *timeouts = 0;
                    conn
                }
                Err(failure) => {
                    self.fall_back(&failure);
                    return;
                }
            },
        };
        let mut result = self.ping(&mut conn).await;
        if let Err(Failure::Redis(_)) = result {
            // An I/O error made the manager start reconnecting; a second
            // PING waits (briefly) for that new connection.
            result = self.ping(&mut conn).await;
        }
        if result.is_ok() && !self.is_up() {
            // Redis may have restarted empty: load the script now rather
            // than on the first request (NOSCRIPT costs two round trips).
            result = self.load_script(&mut conn).await;
        }
        match result {
            Ok(()) => {
                *timeouts = 0;
                self.come_back();
            }
            Err(failure) => {
                if let Failure::Timeout(_) = failure {
                    *timeouts += 1;
                    if *timeouts >= STALE_AFTER {
                        *timeouts = 0;
                        self.conn.store(None);
                    }
                }
                self.fall_back(&failure);
            }
        }
    }

    async fn connect(&self) -> Result<ConnectionManager, Failure> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // Requests carry their own (much shorter) timeout.
            .set_response_timeout(None)
            // The probe is the retry loop; a reconnect is one attempt.
            .set_number_of_retries(0);
        let connecting = ConnectionManager::new_with_config(self.client.clone(), config);
        match timeout(self.connect_timeout, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout(self.connect_timeout)),
        }
    }

    async fn ping(&self, conn: &mut ConnectionManager) -> Result<(), Failure> {
        match timeout(self.timeout, redis::cmd("PING").query_async::<String>(conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout(self.timeout)),
        }
    }

    async fn load_script(&self, conn: &mut ConnectionManager) -> Result<(), Failure> {
        let invocation = SCRIPT.prepare_invoke();
        match timeout(self.connect_timeout, invocation.load_async(conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout(self.connect_timeout)),
        }
    }
}

/// `<prefix>:<key>` written straight into the command buffer.
struct PrefixedKey<'a>(&'a str, &'a str);

impl ToRedisArgs for PrefixedKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        let mut w = out.writer_for_next_arg();
        // Writing to an in-memory buffer cannot fail.
        let _ = w.write_all(self.0.as_bytes());
        let _ = w.write_all(b":");
        let _ = w.write_all(self.1.as_bytes());
    }
}
