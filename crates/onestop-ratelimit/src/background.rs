//! The limiter's background thread: Redis connection and probe, and
//! the periodic cleanup of local keys.

use std::sync::Weak;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{CLEANUP_INTERVAL, Inner, events};

/// Starts the thread; it ends when `stop`'s sender (the limiter) is dropped.
pub(crate) fn spawn(
    inner: Weak<Inner>,
    stop: oneshot::Receiver<()>,
    tick: Duration,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("onestop-ratelimit".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    events::background_not_started(&error);
                    return;
                }
            };
            runtime.block_on(run(inner, stop, tick));
        })?;
    Ok(())
}

async fn run(inner: Weak<Inner>, mut stop: oneshot::Receiver<()>, tick: Duration) {
    // A zero interval must not spin.
    let tick = tick.max(Duration::from_millis(10));
    let mut timeouts = 0;
    let mut next_cleanup = Instant::now() + CLEANUP_INTERVAL;
    loop {
        {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if let Some(cluster) = &inner.cluster {
                cluster.probe(&mut timeouts).await;
            }
            if Instant::now() >= next_cleanup {
                inner.local.retain_recent();
                next_cleanup = Instant::now() + CLEANUP_INTERVAL;
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(tick) => {}
        }
    }
}
