//! Hot reload triggers: SIGHUP, a change to the configuration files (polled
//! by content, not time), and a change of the registry's view. Each one
//! goes through the [`ConfigManager`], which validates, compiles off the
//! request path and swaps the snapshot in; an invalid configuration is
//! rejected (logged, counted in `onestop_config_rejected_total`, shown in
//! the admin API) and the running one keeps serving.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use onestop_control::RegistryView;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::manage::ConfigManager;

/// Watches the files, SIGHUP and the registry view.
pub struct Watcher {
    manager: Arc<ConfigManager>,
    view: watch::Receiver<Arc<RegistryView>>,
    poll: Duration,
}

impl Watcher {
    pub fn new(manager: Arc<ConfigManager>, view: watch::Receiver<Arc<RegistryView>>) -> Watcher {
        Watcher {
            manager,
            view,
            poll: Duration::from_millis(500),
        }
    }
}

#[async_trait]
impl BackgroundService for Watcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; file changes still reload");
                None
            }
        };
        let mut view = self.view.clone();
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                    let _ = self.manager.reload("sighup").await;
                }
                changed = view.changed() => {
                    if changed.is_err() {
                        // The registry is gone (shutting down): stop watching it.
                        view = watch::channel(Arc::new(RegistryView::default())).1;
                        continue;
                    }
                    view.borrow_and_update();
                    self.manager.apply_view().await;
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if self.manager.files_changed().await {
                        let _ = self.manager.reload("file change").await;
                    }
                    if ticks.is_multiple_of(4) {
                        self.manager.retry_unrecorded().await;
                    }
                }
            }
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
