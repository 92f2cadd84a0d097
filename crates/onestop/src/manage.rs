//! The configuration manager: the one path by which configuration reaches
//! the data plane, and the keeper of its versions.
//!
//! Two doors lead in — the files (changed by hand, noticed on SIGHUP or by
//! polling) and the admin API — and both end in [`ConfigManager::apply_bundle`]:
//! validate the whole bundle, publish it to the registry's checks, merge the
//! approved registrations in, compile a new snapshot off the request path,
//! swap it in, and record the content as a version in the store (unless the
//! store's newest version already has the same content hash).
//!
//! The admin API writes the files first (atomically), so the files on disk
//! always hold the running configuration and the file watcher sees nothing
//! new. A rollback writes an earlier version's files and records a new
//! version with that content hash.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use onestop_admin::backend::{
    Applied, Author, ChangeError, ConfigBackend, ConfigChange, ConfigSnapshot, Rejection,
    ReloadStatus,
};
use onestop_config::{Bundle, Config, Diagnostic};
use onestop_control::RegistryView;
use onestop_proxy::{DataPlane, events};
use onestop_store::{
    ConfigVersion, ConfigVersionMeta, NewConfigVersion, Store, StoreError, VersionSource, now_ms,
};
use tokio::sync::watch;

use crate::edit;

/// Configuration state shared by the reload watcher, the registry and the admin API.
pub struct ConfigManager {
    /// The path given to `serve` (a directory or a gateway file).
    path: PathBuf,
    /// The directory the admin API writes into.
    dir: PathBuf,
    dataplane: DataPlane,
    store: Arc<dyn Store>,
    files: watch::Sender<Arc<Config>>,
    view: watch::Receiver<Arc<RegistryView>>,
    /// Serialises applies; holds the running bundle.
    inner: tokio::sync::Mutex<Inner>,
    status: Mutex<Status>,
}

struct Inner {
    bundle: Bundle,
    /// `reload::fingerprint` of the files when last read or written.
    fingerprint: u64,
    /// A version that could not be recorded (store away): retried.
    unrecorded: Option<(Bundle, Author, VersionSource)>,
}

#[derive(Clone)]
struct Status {
    version: Option<i64>,
    content_hash: String,
    files: std::collections::BTreeMap<String, String>,
    config: Arc<Config>,
    generation: u64,
    applied_total: u64,
    rejected_total: u64,
    last_rejection: Option<Rejection>,
    /// Registered services left out of the last merge, and why.
    left_out: Vec<String>,
}

impl ConfigManager {
    /// Wraps the configuration already validated at start-up (`bundle`,
    /// `config`, published on `files`). Call [`Self::apply_initial`] next.
    pub fn new(
        path: PathBuf,
        bundle: Bundle,
        files: watch::Sender<Arc<Config>>,
        view: watch::Receiver<Arc<RegistryView>>,
        dataplane: DataPlane,
        store: Arc<dyn Store>,
    ) -> Arc<ConfigManager> {
        let dir = config_dir(&path);
        let config = files.borrow().clone();
        Arc::new(ConfigManager {
            status: Mutex::new(Status {
                version: None,
                content_hash: bundle.hash(),
                files: bundle.files.clone(),
                config,
                generation: 0,
                applied_total: 0,
                rejected_total: 0,
                last_rejection: None,
                left_out: Vec::new(),
            }),
            inner: tokio::sync::Mutex::new(Inner {
                fingerprint: crate::reload::fingerprint(&path),
                bundle,
                unrecorded: None,
            }),
            path,
            dir,
            dataplane,
            store,
            files,
            view,
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The path being served and watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compiles and applies the start-up configuration and records it.
    pub async fn apply_initial(&self) -> Result<Applied, ChangeError> {
        let mut inner = self.inner.lock().await;
        let bundle = inner.bundle.clone();
        let config = self.files.borrow().clone();
        let author = Author {
            operator: "onestop".into(),
            message: "loaded at start-up".into(),
        };
        self.apply_locked(
            &mut inner,
            bundle,
            (*config).clone(),
            author,
            VersionSource::File,
            "start-up",
        )
        .await
    }

    /// Whether the files changed since they were last read or written.
    pub async fn files_changed(&self) -> bool {
        self.inner.lock().await.fingerprint != crate::reload::fingerprint(&self.path)
    }

    /// Reads the files and applies them when they differ from the running
    /// configuration. An invalid configuration is rejected (logged, counted,
    /// shown in the admin API) and the running one keeps serving.
    pub async fn reload(&self, trigger: &str) -> Result<Applied, ChangeError> {
        let mut inner = self.inner.lock().await;
        inner.fingerprint = crate::reload::fingerprint(&self.path);
        let bundle = match Bundle::read(&self.path) {
            Ok(b) => b,
            Err(problems) => return Err(self.reject(trigger, problems.0)),
        };
        let config = match bundle.parse(&self.dir) {
            Ok(c) => c,
            Err(problems) => return Err(self.reject(trigger, problems.0)),
        };
        if bundle == inner.bundle {
            return Ok(self.unchanged());
        }
        let author = Author {
            operator: "files".into(),
            message: format!("reloaded from files ({trigger})"),
        };
        self.apply_locked(
            &mut inner,
            bundle,
            config,
            author,
            VersionSource::File,
            trigger,
        )
        .await
    }

    /// Re-merges the registry view with the running files (a registration,
    /// approval or lease change). Not a configuration version.
    pub async fn apply_view(&self) {
        let _inner = self.inner.lock().await;
        let files = self.files.borrow().clone();
        let view = self.view.borrow().clone();
        self.dataplane
            .set_department_tokens(view.department_tokens.clone().into_iter().collect());
        let (merged, left_out) = onestop_control::merge::merge(&files, &view);
        for why in &left_out {
            tracing::warn!(reason = %why, "registered service left out of the configuration");
        }
        match self.dataplane.apply(&merged).await {
            Ok(generation) => {
                let mut status = self.guard();
                status.generation = generation;
                status.left_out = left_out;
            }
            Err(e) => {
                tracing::error!(error = %e, "registry change could not be compiled; the running snapshot keeps serving");
                events::config_rejected(1, &e.to_string());
            }
        }
    }

    /// Records a version that could not be recorded earlier.
    pub async fn retry_unrecorded(&self) {
        let mut inner = self.inner.lock().await;
        let Some((bundle, author, source)) = inner.unrecorded.clone() else {
            return;
        };
        if let Ok((version, _)) = self.record(&bundle, &author, source).await {
            inner.unrecorded = None;
            self.guard().version = Some(version);
            tracing::info!(
                version,
                "configuration version recorded after the store returned"
            );
        }
    }

    /// The answer to a change that changes nothing.
    fn unchanged(&self) -> Applied {
        let status = self.guard();
        Applied {
            version: status.version.unwrap_or(0),
            content_hash: status.content_hash.clone(),
            generation: status.generation,
            unchanged: true,
        }
    }

    /// Listeners cannot move without a restart.
    fn warn_listeners(&self, new: &Config) {
        if new.gateway.listeners != self.files.borrow().gateway.listeners {
            tracing::warn!(
                "listener addresses changed: they apply after a restart or graceful upgrade"
            );
        }
    }

    async fn apply_locked(
        &self,
        inner: &mut Inner,
        bundle: Bundle,
        config: Config,
        author: Author,
        source: VersionSource,
        trigger: &str,
    ) -> Result<Applied, ChangeError> {
        self.warn_listeners(&config);
        let config = Arc::new(config);
        let previous = self.files.send_replace(config.clone());
        let view = self.view.borrow().clone();
        self.dataplane
            .set_department_tokens(view.department_tokens.clone().into_iter().collect());
        let (merged, left_out) = onestop_control::merge::merge(&config, &view);
        for why in &left_out {
            tracing::warn!(reason = %why, "registered service left out of the configuration");
        }
        let generation = match self.dataplane.apply(&merged).await {
            Ok(g) => g,
            Err(e) => {
                self.files.send_replace(previous);
                return Err(self.reject(
                    trigger,
                    vec![Diagnostic {
                        file: self.dir.clone(),
                        line: 1,
                        col: 1,
                        message: e.to_string(),
                    }],
                ));
            }
        };
        let hash = bundle.hash();
        inner.bundle = bundle.clone();
        let recorded = self.record(&bundle, &author, source).await;
        let (version, unchanged) = match recorded {
            Ok((v, unchanged)) => {
                inner.unrecorded = None;
                (Some(v), unchanged)
            }
            Err(error) => {
                tracing::warn!(%error, "configuration applied but its version could not be recorded; retrying");
                inner.unrecorded = Some((bundle.clone(), author.clone(), source));
                (None, false)
            }
        };
        {
            let mut status = self.guard();
            status.version = version;
            status.content_hash = hash.clone();
            status.files = bundle.files;
            status.config = config;
            status.generation = generation;
            status.applied_total += 1;
            status.left_out = left_out;
        }
        tracing::info!(trigger, generation, version, operator = %author.operator, message = %author.message, "configuration applied");
        Ok(Applied {
            version: version.unwrap_or(0),
            content_hash: hash,
            generation,
            unchanged,
        })
    }

    /// Appends a version unless the newest stored one has the same content.
    async fn record(
        &self,
        bundle: &Bundle,
        author: &Author,
        source: VersionSource,
    ) -> Result<(i64, bool), StoreError> {
        let hash = bundle.hash();
        let latest = self.store.latest_config_version().await?;
        if let Some(l) = &latest
            && l.meta.content_hash == hash
        {
            return Ok((l.meta.version, true));
        }
        let previous = Bundle {
            files: latest.map(|l| l.files).unwrap_or_default(),
        };
        let version = self
            .store
            .append_config_version(&NewConfigVersion {
                author: author.operator.clone(),
                message: author.message.clone(),
                source,
                created_at: now_ms(),
                content_hash: hash,
                diff: previous.diff(bundle),
                files: bundle.files.clone(),
            })
            .await?;
        Ok((version.meta.version, false))
    }

    fn reject(&self, trigger: &str, problems: Vec<Diagnostic>) -> ChangeError {
        let problems = relative_to(&config_dir(&self.path), problems);
        for p in &problems {
            tracing::warn!(trigger, problem = %p, "configuration problem");
        }
        let first = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        events::config_rejected(problems.len(), &first);
        let mut status = self.guard();
        status.rejected_total += 1;
        status.last_rejection = Some(Rejection {
            at_ms: now_ms(),
            trigger: trigger.into(),
            problems: problems.iter().map(ToString::to_string).collect(),
        });
        ChangeError::Invalid(problems)
    }

    /// The bundle an operator's change leads to.
    async fn changed_bundle(
        &self,
        current: &Bundle,
        change: &ConfigChange,
    ) -> Result<(Bundle, VersionSource), ChangeError> {
        let mut next = current.clone();
        let source = match change {
            ConfigChange::PutDepartmentFile { dept, text } => {
                edit::check_dept_id(dept)?;
                next.files.insert(edit::dept_file(dept), text.clone());
                VersionSource::Api
            }
            ConfigChange::DeleteDepartmentFile { dept } => {
                if next.files.remove(&edit::dept_file(dept)).is_none() {
                    return Err(ChangeError::NotFound(format!(
                        "department file of `{dept}`"
                    )));
                }
                VersionSource::Api
            }
            ConfigChange::PutRoute { dept, route, body } => {
                let file = edit::dept_file(dept);
                let text = next
                    .files
                    .get(&file)
                    .ok_or_else(|| ChangeError::NotFound(format!("department `{dept}`")))?;
                let updated = edit::put_route(text, route, body)?;
                next.files.insert(file, updated);
                VersionSource::Api
            }
            ConfigChange::DeleteRoute { dept, route } => {
                let file = edit::dept_file(dept);
                let text = next
                    .files
                    .get(&file)
                    .ok_or_else(|| ChangeError::NotFound(format!("department `{dept}`")))?;
                let updated = edit::delete_route(text, route)?;
                next.files.insert(file, updated);
                VersionSource::Api
            }
            ConfigChange::Rollback { to } => {
                let target = match to {
                    Some(v) => *v,
                    None => self.previous_version().await?,
                };
                let version = self
                    .store
                    .config_version(target)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| ChangeError::NotFound(format!("version {target}")))?;
                next = Bundle {
                    files: version.files,
                };
                VersionSource::Rollback
            }
            ConfigChange::Reload => {
                next = Bundle::read(&self.path)
                    .map_err(|d| ChangeError::Invalid(relative_to(&config_dir(&self.path), d.0)))?;
                VersionSource::File
            }
        };
        Ok((next, source))
    }

    /// The newest version older than the running one.
    async fn previous_version(&self) -> Result<i64, ChangeError> {
        let current = self.guard().version.ok_or_else(|| {
            ChangeError::Conflict("the running configuration has no recorded version".into())
        })?;
        self.store
            .config_versions(1, Some(current))
            .await
            .map_err(store_error)?
            .first()
            .map(|v| v.version)
            .ok_or_else(|| ChangeError::NotFound(format!("a version before {current}")))
    }
}

fn store_error(e: StoreError) -> ChangeError {
    match e {
        StoreError::Unavailable(m) => ChangeError::Unavailable(m),
        StoreError::NotFound(m) => ChangeError::NotFound(m),
        StoreError::Conflict(m) => ChangeError::Conflict(m),
        StoreError::Corrupt(m) | StoreError::Other(m) => ChangeError::Internal(m),
    }
}

/// The directory holding the configuration files of `path`.
/// `problems` with their files named relative to the configuration
/// directory `dir`: admin answers and the status page never show the
/// host's absolute paths.
pub fn relative_to(dir: &Path, mut problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    for p in &mut problems {
        if let Ok(rel) = p.file.strip_prefix(dir) {
            p.file = rel.to_path_buf();
        }
    }
    problems
}

pub fn config_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    }
}

#[async_trait]
impl ConfigBackend for ConfigManager {
    fn current(&self) -> ConfigSnapshot {
        let s = self.guard().clone();
        ConfigSnapshot {
            version: s.version,
            content_hash: s.content_hash,
            files: s.files,
            config: s.config,
            generation: s.generation,
        }
    }

    async fn versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>, ChangeError> {
        self.store
            .config_versions(limit, before)
            .await
            .map_err(store_error)
    }

    async fn version(&self, version: i64) -> Result<Option<ConfigVersion>, ChangeError> {
        self.store
            .config_version(version)
            .await
            .map_err(store_error)
    }

    async fn change(&self, change: ConfigChange, author: &Author) -> Result<Applied, ChangeError> {
        // A change through the API must be recorded: refuse it while the
        // store is away rather than apply something unattributed.
        self.store.ping().await.map_err(store_error)?;
        let mut inner = self.inner.lock().await;
        let (bundle, source) = self.changed_bundle(&inner.bundle, &change).await?;
        let config = bundle
            .parse(&self.dir)
            .map_err(|d| self.reject("api", d.0))?;
        if let ConfigChange::PutDepartmentFile { dept, .. } = &change {
            edit::check_file_declares(&config, &self.dir, dept)?;
        }
        if bundle == inner.bundle {
            return Ok(self.unchanged());
        }
        bundle
            .write_to(&self.dir)
            .map_err(|e| ChangeError::Internal(format!("writing {}: {e}", self.dir.display())))?;
        inner.fingerprint = crate::reload::fingerprint(&self.path);
        let applied = self
            .apply_locked(&mut inner, bundle, config, author.clone(), source, "api")
            .await?;
        Ok(applied)
    }

    fn status(&self) -> ReloadStatus {
        let s = self.guard().clone();
        ReloadStatus {
            generation: s.generation,
            version: s.version,
            applied_total: s.applied_total,
            rejected_total: s.rejected_total,
            last_rejection: s.last_rejection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_files_relative_to_the_config_directory() {
        let at = |file: &str| Diagnostic {
            file: PathBuf::from(file),
            line: 1,
            col: 2,
            message: "m".into(),
        };
        let out = relative_to(
            Path::new("/srv/onestop/config"),
            vec![
                at("/srv/onestop/config/departments/hpf.toml"),
                at("departments/water.toml"),
                at("/elsewhere/x.toml"),
            ],
        );
        let files: Vec<String> = out.iter().map(|d| d.file.display().to_string()).collect();
        assert_eq!(
            files,
            [
                "departments/hpf.toml",
                "departments/water.toml",
                "/elsewhere/x.toml"
            ]
        );
    }
}
