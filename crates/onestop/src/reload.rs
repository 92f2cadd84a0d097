//! Hot reload: on SIGHUP or a change to the configuration files, load and
//! validate the whole configuration, compile a new snapshot off the request
//! path and swap it in. An invalid configuration is rejected (logged,
//! counted in `onestop_config_rejected_total`) and the running one keeps
//! serving. Requests in flight finish on the snapshot they started with.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use onestop_config::Config;
use onestop_proxy::{DataPlane, events};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;

/// Watches one configuration path and reloads it into the data plane.
pub struct Reloader {
    path: PathBuf,
    dataplane: DataPlane,
    poll: Duration,
    state: Mutex<State>,
}

struct State {
    fingerprint: u64,
    listeners: onestop_config::Listeners,
}

impl Reloader {
    /// `applied` is the configuration already running.
    pub fn new(path: PathBuf, dataplane: DataPlane, applied: &Config) -> Reloader {
        Reloader {
            state: Mutex::new(State {
                fingerprint: fingerprint(&path),
                listeners: applied.gateway.listeners.clone(),
            }),
            path,
            dataplane,
            poll: Duration::from_millis(500),
        }
    }

    /// Loads, validates and applies the configuration now.
    pub async fn reload(&self, trigger: &str) -> Result<u64, String> {
        let mut state = self.state.lock().await;
        state.fingerprint = fingerprint(&self.path);
        let config = match onestop_config::load_path(&self.path) {
            Ok(c) => c,
            Err(problems) => {
                for p in &problems.0 {
                    tracing::warn!(trigger, problem = %p, "configuration problem");
                }
                let first = problems
                    .0
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                events::config_rejected(problems.0.len(), &first);
                return Err(problems.to_string());
            }
        };
        if config.gateway.listeners != state.listeners {
            tracing::warn!(
                trigger,
                "listener addresses changed: they apply after a restart or graceful upgrade"
            );
        }
        match self.dataplane.apply(&config).await {
            Ok(generation) => {
                tracing::info!(trigger, generation, path = %self.path.display(), "configuration reloaded");
                Ok(generation)
            }
            Err(e) => {
                events::config_rejected(1, &e.to_string());
                Err(e.to_string())
            }
        }
    }

    async fn changed(&self) -> bool {
        self.state.lock().await.fingerprint != fingerprint(&self.path)
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; file changes still reload");
                None
            }
        };
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger = tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => "sighup",
                _ = tick.tick() => {
                    if !self.changed().await {
                        continue;
                    }
                    "file change"
                }
            };
            let _ = self.reload(trigger).await;
        }
    }
}

/// A hash of the names and contents of every configuration file under `path`.
pub fn fingerprint(path: &Path) -> u64 {
    let mut files = Vec::new();
    if path.is_dir() {
        files.push(path.join("onestop.toml"));
    } else {
        files.push(path.to_path_buf());
    }
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    files.extend(onestop_config::department_files(&dir.join("departments")));
    let mut h = DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).ok().hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_content_not_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("departments")).expect("mkdir");
        let a = fingerprint(dir.path());
        std::fs::write(dir.path().join("departments/x.toml"), "a").expect("write");
        let b = fingerprint(dir.path());
        assert_ne!(a, b);
        std::fs::write(dir.path().join("departments/x.toml"), "a").expect("write");
        assert_eq!(
            b,
            fingerprint(dir.path()),
            "rewriting the same bytes is no change"
        );
        std::fs::write(dir.path().join("departments/notes.md"), "ignored").expect("write");
        assert_eq!(b, fingerprint(dir.path()));
        std::fs::write(dir.path().join("onestop.toml"), "").expect("write");
        assert_ne!(b, fingerprint(dir.path()));
    }
}
