//! PostgreSQL `LISTEN/NOTIFY`: hearing other gateways' changes.
//!
//! Writers run `pg_notify(channel, "<change> <origin>")` inside their
//! transaction; one background task per [`SqlStore`](super::SqlStore) holds a
//! [`PgListener`] on the channel and forwards what other stores (other
//! origins) wrote into the local broadcast. When its connection drops it
//! reconnects with backoff and then announces every kind of change, because
//! notifications sent meanwhile are lost.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{broadcast, oneshot};

use crate::Change;

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A listener that stayed up this long starts over at [`MIN_BACKOFF`].
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Who wrote a notification: one random id per store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin(String);

/// What a notification said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// This store's own write (already announced locally).
    Own,
    /// Another store's change.
    Remote(Change),
    /// A payload this version does not understand: assume everything.
    Unknown,
}

/// Stops the listener task when the last clone of the store is dropped.
#[derive(Debug)]
pub(crate) struct ListenerGuard {
    _stop: oneshot::Sender<()>,
}

impl Origin {
    /// A fresh random origin (64 random bits from std's hasher keys, plus
    /// the process id and the time, in hex).
    pub(crate) fn random() -> Origin {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_i64(crate::now_ms());
        Origin(format!("{:016x}", hasher.finish()))
    }

    /// The payload announcing `change` from this origin.
    pub(crate) fn payload(&self, change: Change) -> String {
        format!("{} {}", change.as_str(), self.0)
    }

    /// Reads a payload.
    pub(crate) fn hear(&self, payload: &str) -> Heard {
        let (kind, origin) = payload.split_once(' ').unwrap_or((payload, ""));
        match Change::parse(kind) {
            Some(_) if origin == self.0 => Heard::Own,
            Some(change) => Heard::Remote(change),
            None => Heard::Unknown,
        }
    }
}

/// Starts listening on `channel` (the first `LISTEN` happens before this
/// returns, so nothing committed afterwards is missed) and spawns the task
/// that forwards notifications into `changes`.
pub(crate) async fn spawn(
    pool: PgPool,
    channel: String,
    origin: Origin,
    changes: broadcast::Sender<Change>,
) -> Result<ListenerGuard, sqlx::Error> {
    let listener = open(&pool, &channel).await?;
    let (stop, stopped) = oneshot::channel();
    let task = Task {
        pool: pool.clone(),
        channel,
        origin,
        changes,
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = stopped => {}
            () = task.run(listener) => {}
        }
        // The store is gone: close the listener's connection politely.
        pool.close().await;
        tracing::debug!("store listener stopped");
    });
    Ok(ListenerGuard { _stop: stop })
}

async fn open(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnecting is ours to do (with backoff and the catch-up announcement).
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

struct Task {
    pool: PgPool,
    channel: String,
    origin: Origin,
    changes: broadcast::Sender<Change>,
}

impl Task {
    async fn run(self, mut listener: PgListener) {
        let mut backoff = MIN_BACKOFF;
        let mut up_since = Instant::now();
        loop {
            let lost = match listener.try_recv().await {
                Ok(Some(notification)) => {
                    self.forward(notification.payload());
                    continue;
                }
                Ok(None) => "connection closed".to_string(),
                Err(error) => error.to_string(),
            };
            tracing::warn!(error = %lost, channel = %self.channel, "store listener lost its connection");
            drop(listener);
            if up_since.elapsed() >= STABLE_AFTER {
                backoff = MIN_BACKOFF;
            }
            listener = loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                match open(&self.pool, &self.channel).await {
                    Ok(listener) => break listener,
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?backoff, "store listener reconnecting");
                    }
                }
            };
            up_since = Instant::now();
            tracing::info!(channel = %self.channel, "store listener reconnected");
            // Whatever was notified while we were away is lost.
            for change in Change::ALL {
                let _ = self.changes.send(change);
            }
        }
    }

    fn forward(&self, payload: &str) {
        match self.origin.hear(payload) {
            Heard::Own => {}
            Heard::Remote(change) => {
                let _ = self.changes.send(change);
            }
            Heard::Unknown => {
                tracing::warn!(%payload, "store listener heard an unknown change");
                for change in Change::ALL {
                    let _ = self.changes.send(change);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_own_changes_are_recognised() {
        let me = Origin::random();
        let other = Origin::random();
        assert_ne!(me, other);
        for change in Change::ALL {
            assert_eq!(me.hear(&me.payload(change)), Heard::Own);
            assert_eq!(me.hear(&other.payload(change)), Heard::Remote(change));
        }
        assert_eq!(
            me.payload(Change::Registry).split_once(' ').map(|p| p.0),
            Some("registry")
        );
        assert_eq!(
            me.payload(Change::Purge).split_once(' ').map(|p| p.0),
            Some("purge")
        );
    }

    #[test]
    fn odd_payloads_are_handled() {
        let me = Origin::random();
        assert_eq!(me.hear("registry"), Heard::Remote(Change::Registry));
        assert_eq!(me.hear("purge"), Heard::Remote(Change::Purge));
        assert_eq!(me.hear(""), Heard::Unknown);
        assert_eq!(me.hear("tokens abc"), Heard::Unknown);
    }
}
