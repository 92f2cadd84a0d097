//! Test harness: the admin router on a loopback port over a real SQLite
//! `SqlStore`, a real `Registry` and a real response cache with its
//! `PurgeApplier`, with an in-memory `ConfigBackend`, scripted
//! `TrafficStats` and a console clock the test moves on.

use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use onestop_cache::ResponseCache;
use onestop_config::{Bundle, Config};
use onestop_control::{PurgeApplier, Registry, RegistrySettings};
use onestop_core::digest::sha256_hex;
use onestop_core::registry::{
    InstanceSpec, LbPolicy, PathMatchKind, RouteSpec, ServiceProtocol, ServiceSpec,
};
use onestop_store::{
    AdminAuditRecord, ConfigVersion, ConfigVersionMeta, NewAdminAudit, PurgeKind, SqlStore, Store,
    StoreError, StoreOptions, VersionSource, now_ms,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::backend::{
    Applied, Author, ChangeError, ConfigBackend, ConfigChange, ConfigSnapshot, Rejection,
    ReloadStatus, TrafficStats, UpstreamStats,
};
use crate::console::Clock;
use crate::{AdminState, Readiness, router_with_clock};

pub const VIEWER: &str = "viewer-token";
pub const EDITOR: &str = "editor-token";
pub const HPF_EDITOR: &str = "hpf-editor-token";
pub const APPROVER: &str = "approver-token";

/// The gateway file: four operators.
pub fn gateway_file() -> String {
    let op = |name: &str, role: &str, token: &str, depts: &str| {
        format!(
            "[[operators]]\nname = \"{name}\"\nroles = [\"{role}\"]\ntoken_sha256 = \"{}\"\ndepartments = [{depts}]\n\n",
            sha256_hex(token.as_bytes())
        )
    };
    [
        op("viewer", "viewer", VIEWER, ""),
        op("editor", "editor", EDITOR, ""),
        op("hpf-editor", "editor", HPF_EDITOR, "\"hpf\""),
        op("approver", "approver", APPROVER, ""),
    ]
    .concat()
}

pub const HPF: &str = r#"[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "accounts"
instances = [{ addr = "127.0.0.1:9101" }]

[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/accounts/{citizen}"
methods = ["GET"]
service = "accounts"
citizen_param = "citizen"
"#;

pub const TAX: &str = r#"[department]
id = "tax"
name = "税务局"

[[services]]
id = "filing"
instances = [{ addr = "127.0.0.1:9102" }, { addr = "127.0.0.1:9103" }]

[[routes]]
id = "returns"
prefix = "/api/v1/depts/tax/returns"
service = "filing"
"#;

/// The initial files.
pub fn initial_files() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("onestop.toml".to_string(), gateway_file()),
        ("departments/hpf.toml".to_string(), HPF.to_string()),
        ("departments/tax.toml".to_string(), TAX.to_string()),
    ])
}

/// An approver limited to department tax (the data items' provider).
pub const TAX_APPROVER: &str = "tax-approver-token";
/// An approver limited to department hpf (a consumer, not the provider).
pub const HPF_APPROVER: &str = "hpf-approver-token";

/// Department tax's data catalog: one item operators approve alone, one
/// that also needs the provider's approval.
pub const TAX_DATA_ITEMS: &str = r#"
[[data_items]]
id = "income"
name = "个人所得税纳税记录"
sharing = "conditional"
fetch = "/api/v1/depts/tax/income/{citizen}"

[[data_items.fields]]
name = "resident_id"
type = "string"
sensitivity = "sensitive"
mask = "resident_id"

[[data_items.fields]]
name = "annual_income"
type = "number"
sensitivity = "personal"

[[data_items]]
id = "arrears"
name = "欠税记录"
sharing = "conditional"
provider_approval = true
fetch = "/api/v1/depts/tax/arrears/{citizen}"

[[data_items.fields]]
name = "owed"
type = "number"
sensitivity = "personal"
"#;

/// The initial files with data sharing: two more approvers (limited to
/// tax and to hpf), an approval deadline of one minute, and tax's data
/// catalog.
pub fn sharing_files() -> BTreeMap<String, String> {
    let op = |name: &str, token: &str, dept: &str| {
        format!(
            "[[operators]]\nname = \"{name}\"\nroles = [\"approver\"]\ntoken_sha256 = \"{}\"\ndepartments = [\"{dept}\"]\n\n",
            sha256_hex(token.as_bytes())
        )
    };
    let gateway = [
        gateway_file(),
        op("tax-approver", TAX_APPROVER, "tax"),
        op("hpf-approver", HPF_APPROVER, "hpf"),
        "[sharing]\napproval_deadline = \"1m\"\n".to_string(),
    ]
    .concat();
    BTreeMap::from([
        ("onestop.toml".to_string(), gateway),
        ("departments/hpf.toml".to_string(), HPF.to_string()),
        (
            "departments/tax.toml".to_string(),
            format!("{TAX}{TAX_DATA_ITEMS}"),
        ),
    ])
}

/// The exchange's provider reader: the admin API never fetches.
struct NoFetch;

#[async_trait]
impl onestop_sharing::Fetcher for NoFetch {
    async fn fetch(
        &self,
        _path: &str,
        _citizen: &str,
        _request_id: &str,
        _timeout: std::time::Duration,
    ) -> Result<Vec<u8>, onestop_sharing::FetchError> {
        Err(onestop_sharing::FetchError::Failed(
            "the admin API never fetches".into(),
        ))
    }
}

/// Cases' steps go nowhere: the admin API never drives a case.
struct NoTransport;

#[async_trait]
impl onestop_cases::Transport for NoTransport {
    async fn call(&self, _call: onestop_cases::StepCall<'_>) -> onestop_cases::Reply {
        onestop_cases::Reply::Transient("the admin API drives no case".into())
    }
}

/// An in-memory `ConfigBackend`: validates with the real parser, keeps
/// versions in a vector and publishes each applied config on a watch.
pub struct FakeConfig {
    inner: Mutex<FakeInner>,
    files_tx: watch::Sender<Arc<Config>>,
}

struct FakeInner {
    current: ConfigSnapshot,
    versions: Vec<ConfigVersion>,
    status: ReloadStatus,
}

fn parse(files: &BTreeMap<String, String>) -> Result<Config, ChangeError> {
    Bundle {
        files: files.clone(),
    }
    .parse(FsPath::new(""))
    .map_err(|d| ChangeError::Invalid(d.0))
}

impl FakeConfig {
    pub fn new(files: BTreeMap<String, String>) -> Arc<FakeConfig> {
        let config = Arc::new(parse(&files).unwrap_or_else(|e| panic!("{e}")));
        let bundle = Bundle {
            files: files.clone(),
        };
        let first = ConfigVersion {
            meta: ConfigVersionMeta {
                version: 1,
                author: "-".into(),
                message: "start-up".into(),
                source: VersionSource::File,
                created_at: now_ms(),
                content_hash: bundle.hash(),
            },
            files: files.clone(),
            diff: String::new(),
        };
        Arc::new(FakeConfig {
            inner: Mutex::new(FakeInner {
                current: ConfigSnapshot {
                    version: Some(1),
                    content_hash: bundle.hash(),
                    files,
                    config: config.clone(),
                    generation: 1,
                },
                versions: vec![first],
                status: ReloadStatus {
                    generation: 1,
                    version: Some(1),
                    applied_total: 1,
                    rejected_total: 0,
                    last_rejection: None,
                },
            }),
            files_tx: watch::Sender::new(config),
        })
    }

    pub fn files_rx(&self) -> watch::Receiver<Arc<Config>> {
        self.files_tx.subscribe()
    }

    /// Replaces the running files (as a hot reload of edited files would).
    pub fn replace_files(&self, files: BTreeMap<String, String>) {
        let config = Arc::new(parse(&files).unwrap_or_else(|e| panic!("{e}")));
        let mut inner = self.inner.lock().unwrap();
        inner.current.content_hash = Bundle {
            files: files.clone(),
        }
        .hash();
        inner.current.files = files;
        inner.current.config = config;
    }

    pub fn version_count(&self) -> usize {
        self.inner.lock().unwrap().versions.len()
    }

    fn next_files(
        inner: &FakeInner,
        change: &ConfigChange,
    ) -> Result<BTreeMap<String, String>, ChangeError> {
        let mut files = inner.current.files.clone();
        let path = |dept: &str| format!("departments/{dept}.toml");
        match change {
            ConfigChange::PutDepartmentFile { dept, text } => {
                files.insert(path(dept), text.clone());
            }
            ConfigChange::DeleteDepartmentFile { dept } => {
                files
                    .remove(&path(dept))
                    .ok_or_else(|| ChangeError::NotFound(format!("department {dept}")))?;
            }
            ConfigChange::PutRoute { dept, route, body } => {
                let text = files
                    .get(&path(dept))
                    .ok_or_else(|| ChangeError::NotFound(format!("department {dept}")))?;
                let (mut kept, _) = without_route(text, route);
                kept.push_str(&render_route(route, body)?);
                files.insert(path(dept), kept);
            }
            ConfigChange::DeleteRoute { dept, route } => {
                let text = files
                    .get(&path(dept))
                    .ok_or_else(|| ChangeError::NotFound(format!("department {dept}")))?;
                let (kept, found) = without_route(text, route);
                if !found {
                    return Err(ChangeError::NotFound(format!("route {dept}/{route}")));
                }
                files.insert(path(dept), kept);
            }
            ConfigChange::Rollback { to } => {
                let running = inner.current.version.unwrap_or(1);
                let to = to.unwrap_or(running - 1);
                files = inner
                    .versions
                    .iter()
                    .find(|v| v.meta.version == to)
                    .ok_or_else(|| ChangeError::NotFound(format!("version {to}")))?
                    .files
                    .clone();
            }
            ConfigChange::Reload => {}
        }
        Ok(files)
    }
}

/// The text without the `[[routes]]` table whose id is `route`.
fn without_route(text: &str, route: &str) -> (String, bool) {
    let mut tables: Vec<String> = vec![String::new()];
    for line in text.lines() {
        if line.starts_with('[') {
            tables.push(String::new());
        }
        if let Some(last) = tables.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    let id_line = format!("id = \"{route}\"");
    let mut found = false;
    let kept: Vec<String> = tables
        .into_iter()
        .filter(|t| {
            let hit = t.starts_with("[[routes]]") && t.lines().any(|l| l.trim() == id_line);
            found |= hit;
            !hit
        })
        .collect();
    let mut kept = kept.concat();
    if found {
        // Drop the blank line that separated the removed table.
        kept = format!("{}\n", kept.trim_end());
    }
    (kept, found)
}

/// A `[[routes]]` table from a JSON object of its keys.
fn render_route(route: &str, body: &Value) -> Result<String, ChangeError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ChangeError::BadRequest("not an object".into()))?;
    let mut out = format!("\n[[routes]]\nid = \"{route}\"\n");
    for (k, v) in obj {
        if k == "id" || v.is_null() {
            continue;
        }
        out.push_str(&format!("{k} = {}\n", inline(v)));
    }
    Ok(out)
}

fn inline(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // JSON strings, numbers and booleans are valid TOML as written.
        other => other.to_string(),
    }
}

#[async_trait]
impl ConfigBackend for FakeConfig {
    fn current(&self) -> ConfigSnapshot {
        self.inner.lock().unwrap().current.clone()
    }

    async fn versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ConfigVersionMeta>, ChangeError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .versions
            .iter()
            .rev()
            .filter(|v| before.is_none_or(|b| v.meta.version < b))
            .take(limit as usize)
            .map(|v| v.meta.clone())
            .collect())
    }

    async fn version(&self, version: i64) -> Result<Option<ConfigVersion>, ChangeError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .versions
            .iter()
            .find(|v| v.meta.version == version)
            .cloned())
    }

    async fn change(&self, change: ConfigChange, author: &Author) -> Result<Applied, ChangeError> {
        let mut inner = self.inner.lock().unwrap();
        let files = Self::next_files(&inner, &change)?;
        let config = match parse(&files) {
            Ok(c) => Arc::new(c),
            Err(ChangeError::Invalid(problems)) => {
                inner.status.rejected_total += 1;
                inner.status.last_rejection = Some(Rejection {
                    at_ms: now_ms(),
                    trigger: "api".into(),
                    problems: problems.iter().map(ToString::to_string).collect(),
                });
                return Err(ChangeError::Invalid(problems));
            }
            Err(e) => return Err(e),
        };
        let new = Bundle { files };
        let hash = new.hash();
        if hash == inner.current.content_hash {
            return Ok(Applied {
                version: inner.current.version.unwrap_or(0),
                content_hash: hash,
                generation: inner.current.generation,
                unchanged: true,
            });
        }
        let old = Bundle {
            files: inner.current.files.clone(),
        };
        let version = i64::try_from(inner.versions.len()).unwrap() + 1;
        let source = match change {
            ConfigChange::Rollback { .. } => VersionSource::Rollback,
            _ => VersionSource::Api,
        };
        inner.versions.push(ConfigVersion {
            meta: ConfigVersionMeta {
                version,
                author: author.operator.clone(),
                message: author.message.clone(),
                source,
                created_at: now_ms(),
                content_hash: hash.clone(),
            },
            files: new.files.clone(),
            diff: old.diff(&new),
        });
        let generation = inner.current.generation + 1;
        inner.current = ConfigSnapshot {
            version: Some(version),
            content_hash: hash.clone(),
            files: new.files,
            config: config.clone(),
            generation,
        };
        inner.status.generation = generation;
        inner.status.version = Some(version);
        inner.status.applied_total += 1;
        self.files_tx.send_replace(config);
        Ok(Applied {
            version,
            content_hash: hash,
            generation,
            unchanged: false,
        })
    }

    fn status(&self) -> ReloadStatus {
        self.inner.lock().unwrap().status.clone()
    }
}

/// Scripted traffic figures.
pub struct FakeStats {
    pub upstreams: Mutex<Vec<UpstreamStats>>,
    pub started_ms: i64,
}

impl TrafficStats for FakeStats {
    fn upstreams(&self) -> Vec<UpstreamStats> {
        self.upstreams.lock().unwrap().clone()
    }
    fn started_ms(&self) -> i64 {
        self.started_ms
    }
}

/// A store whose audit appends fail (everything else is the real store).
pub struct AuditFails(pub SqlStore);

#[async_trait]
impl Store for AuditFails {
    fn backend(&self) -> onestop_store::Backend {
        self.0.backend()
    }
    fn changes(&self) -> tokio::sync::broadcast::Receiver<onestop_store::Change> {
        self.0.changes()
    }
    async fn ping(&self) -> onestop_store::Result<()> {
        self.0.ping().await
    }
    async fn load_registry(&self) -> onestop_store::Result<onestop_store::RegistryRows> {
        self.0.load_registry().await
    }
    async fn put_service(
        &self,
        record: &onestop_store::ServiceRecord,
        expected_revision: Option<i64>,
    ) -> onestop_store::Result<()> {
        self.0.put_service(record, expected_revision).await
    }
    async fn put_instances(
        &self,
        instances: &[onestop_store::InstanceRecord],
    ) -> onestop_store::Result<()> {
        self.0.put_instances(instances).await
    }
    async fn delete_instances(
        &self,
        dept: &str,
        service: &str,
        addrs: &[String],
    ) -> onestop_store::Result<u64> {
        self.0.delete_instances(dept, service, addrs).await
    }
    async fn delete_service(&self, dept: &str, service: &str) -> onestop_store::Result<bool> {
        self.0.delete_service(dept, service).await
    }
    async fn renew_leases(
        &self,
        renewals: &[onestop_store::LeaseRenewal],
    ) -> onestop_store::Result<()> {
        self.0.renew_leases(renewals).await
    }
    async fn purge_lapsed_instances(&self, before: i64) -> onestop_store::Result<u64> {
        self.0.purge_lapsed_instances(before).await
    }
    async fn decide(
        &self,
        decision: &onestop_store::NewDecision,
    ) -> onestop_store::Result<onestop_store::ServiceRecord> {
        self.0.decide(decision).await
    }
    async fn decisions(
        &self,
        dept: Option<&str>,
        limit: u32,
    ) -> onestop_store::Result<Vec<onestop_store::DecisionRecord>> {
        self.0.decisions(dept, limit).await
    }
    async fn add_dept_token(
        &self,
        token: &onestop_store::NewDeptToken,
    ) -> onestop_store::Result<i64> {
        self.0.add_dept_token(token).await
    }
    async fn revoke_dept_token(&self, id: i64, at: i64) -> onestop_store::Result<()> {
        self.0.revoke_dept_token(id, at).await
    }
    async fn append_config_version(
        &self,
        version: &onestop_store::NewConfigVersion,
    ) -> onestop_store::Result<ConfigVersion> {
        self.0.append_config_version(version).await
    }
    async fn config_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> onestop_store::Result<Vec<ConfigVersionMeta>> {
        self.0.config_versions(limit, before).await
    }
    async fn config_version(&self, version: i64) -> onestop_store::Result<Option<ConfigVersion>> {
        self.0.config_version(version).await
    }
    async fn latest_config_version(&self) -> onestop_store::Result<Option<ConfigVersion>> {
        self.0.latest_config_version().await
    }
    async fn append_admin_audit(&self, _entry: &NewAdminAudit) -> onestop_store::Result<i64> {
        Err(StoreError::Unavailable("audit table is on fire".into()))
    }
    async fn admin_audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> onestop_store::Result<Vec<AdminAuditRecord>> {
        self.0.admin_audit(limit, before).await
    }
    async fn append_purge(
        &self,
        purge: &onestop_store::NewPurge,
    ) -> onestop_store::Result<onestop_store::PurgeRecord> {
        self.0.append_purge(purge).await
    }
    async fn purges_since(
        &self,
        after_id: i64,
        limit: u32,
    ) -> onestop_store::Result<Vec<onestop_store::PurgeRecord>> {
        self.0.purges_since(after_id, limit).await
    }
    async fn last_purge_id(&self) -> onestop_store::Result<i64> {
        self.0.last_purge_id().await
    }
    async fn prune_purges(&self, before: i64) -> onestop_store::Result<u64> {
        self.0.prune_purges(before).await
    }
}

/// What a test talks to.
pub struct Harness {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Arc<FakeConfig>,
    pub registry: Arc<Registry>,
    pub store: SqlStore,
    pub stats: Arc<FakeStats>,
    pub readiness: Readiness,
    /// The response cache purges apply to.
    pub cache: ResponseCache,
    /// Data sharing (with `Options::sharing`) and its store.
    pub sharing: Option<Arc<onestop_sharing::Sharing>>,
    pub sharing_store: Option<SqlStore>,
    pub appeals: Option<Arc<onestop_appeals_desk::Desk>>,
    /// What the router serves from (for calls the binary makes, such as
    /// `assessment_api::publish_gauges`).
    pub state: AdminState,
    /// How far the console's clock is ahead of the system's (ms).
    skew: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

/// How to build a harness.
#[derive(Default)]
pub struct Options {
    pub without_registry: bool,
    pub failing_audit: bool,
    /// Serve data sharing over its own in-memory SQLite store, with
    /// [`sharing_files`].
    pub sharing: bool,
    /// Take appeals ([`appeal_settings`]) over the harness's store; the
    /// assessment then reports their figures.
    pub appeals: bool,
    /// With `sharing`: the access audit log (none when `None`).
    pub access_log: Option<AccessLog>,
    /// Serve cases, ratings and follow-ups over the harness's store.
    pub cases: bool,
    /// These files instead of [`initial_files`] (or [`sharing_files`]).
    pub files: Option<BTreeMap<String, String>>,
}

/// The access audit log of a harness with data sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// Written to the sharing store.
    Working,
    /// Its writer stopped: every record is refused.
    Refusing,
}

/// The harness's appeals: `公积金` goes to hpf, `税` to tax, anything
/// else to the operators' queue; every kind accepted within a day and
/// answered within five (plain milliseconds, no working days).
pub fn appeal_settings() -> onestop_appeals::Settings {
    use onestop_appeals::{Kind, KindLimits, Limit, Rule, Rules, Settings};
    let limits = Kind::ALL
        .iter()
        .map(|&k| {
            (
                k,
                KindLimits {
                    accept: Limit::Millis(86_400_000),
                    reply: Limit::Millis(5 * 86_400_000),
                },
            )
        })
        .collect();
    Settings {
        rules: Rules {
            rules: vec![
                Rule {
                    dept: "hpf".into(),
                    keywords: vec!["公积金".into()],
                    ..Rule::default()
                },
                Rule {
                    dept: "tax".into(),
                    keywords: vec!["税".into()],
                    ..Rule::default()
                },
            ],
            depts: ["hpf", "tax"].map(String::from).into(),
        },
        limits,
        ..Settings::default()
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(Options::default()).await
    }

    pub async fn with(opts: Options) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("admin.db").display());
        let store = SqlStore::connect(&url, StoreOptions::default())
            .await
            .unwrap();
        let config = FakeConfig::new(match opts.files.clone() {
            Some(files) => files,
            None if opts.sharing => sharing_files(),
            None => initial_files(),
        });
        let current = config.current();
        let registry = Registry::new(
            Arc::new(store.clone()),
            RegistrySettings::from_config(&current.config.gateway.registry),
            config.files_rx(),
        );
        registry.sync_now().await.unwrap();
        let stats = Arc::new(FakeStats {
            upstreams: Mutex::new(Vec::new()),
            started_ms: now_ms() - 3_600_000,
        });
        let readiness = Readiness::default();
        let audit_store: Arc<dyn Store> = if opts.failing_audit {
            Arc::new(AuditFails(store.clone()))
        } else {
            Arc::new(store.clone())
        };
        let cache = ResponseCache::new(16 << 20);
        let purges = PurgeApplier::new(cache.clone(), Arc::new(store.clone())).await;
        let sharing_store = if opts.sharing {
            Some(
                SqlStore::connect("sqlite::memory:", StoreOptions::default())
                    .await
                    .unwrap(),
            )
        } else {
            None
        };
        let sharing = sharing_store.as_ref().map(|s| {
            let audit = opts.access_log.map(|mode| {
                let (log, writer) = onestop_audit::AuditLog::new(
                    Arc::new(s.clone()),
                    onestop_audit::AuditOptions {
                        flush_interval: std::time::Duration::from_millis(10),
                        ..onestop_audit::AuditOptions::default()
                    },
                );
                match mode {
                    AccessLog::Working => drop(tokio::spawn(writer.run())),
                    AccessLog::Refusing => drop(writer),
                }
                log
            });
            onestop_sharing::Sharing::new(
                Arc::new(s.clone()),
                Arc::new(s.clone()),
                audit,
                Arc::new(NoFetch),
                &current.config,
            )
        });
        let appeals = opts.appeals.then(|| {
            Arc::new(onestop_appeals_desk::Desk::new(
                Arc::new(store.clone()),
                appeal_settings(),
            ))
        });
        let cases = opts.cases.then(|| {
            onestop_cases::Cases::new(
                Arc::new(store.clone()),
                Arc::new(NoTransport),
                "admin-test",
                &current.config,
            )
        });
        let state = AdminState {
            readiness: readiness.clone(),
            config: config.clone(),
            registry: (!opts.without_registry).then(|| registry.clone()),
            stats: stats.clone(),
            store: audit_store,
            cache: Arc::new(purges),
            cases,
            sharing: sharing.clone(),
            assessment: Some(Arc::new(onestop_assessment::Assessor::new(
                Arc::new(store.clone()),
                match &appeals {
                    Some(desk) => {
                        Arc::new(onestop_appeals_desk::StoreAppeals(desk.store().clone()))
                    }
                    None => Arc::new(onestop_assessment::NoAppeals),
                },
            ))),
            appeals: appeals.clone(),
            messages: Some(Arc::new(store.clone())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let skew = Arc::new(AtomicI64::new(0));
        let ahead = skew.clone();
        let clock = Clock::new(move || now_ms() + ahead.load(Ordering::Relaxed));
        let app = router_with_clock(state.clone(), clock);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Harness {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            config,
            registry,
            store,
            stats,
            readiness,
            cache,
            sharing,
            sharing_store,
            appeals,
            state,
            skew,
            _dir: dir,
        }
    }

    /// Moves the console's clock on by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap();
        self.skew.fetch_add(ms, Ordering::Relaxed);
    }

    /// A request with `token` (none when `None`).
    pub fn req(&self, method: &str, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let rb = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let resp = self.req("GET", path, Some(token)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// The newest audit records.
    pub async fn audit(&self, limit: u32) -> Vec<AdminAuditRecord> {
        self.store.admin_audit(limit, None).await.unwrap()
    }

    /// The purges recorded for every gateway (the first 10), as
    /// (department, kind, value, requested by).
    pub async fn purges(&self) -> Vec<(String, PurgeKind, String, String)> {
        self.store
            .purges_since(0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.dept, r.kind, r.value, r.requested_by))
            .collect()
    }
}

/// The answer's status and JSON body.
pub async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A registered HTTP service of department hpf.
pub fn forms_spec(service: &str, pattern: &str) -> ServiceSpec {
    ServiceSpec {
        dept: "hpf".into(),
        service: service.into(),
        protocol: ServiceProtocol::Http,
        lb: LbPolicy::RoundRobin,
        health: None,
        routes: vec![RouteSpec {
            id: service.into(),
            name: "表格下载".into(),
            description: String::new(),
            kind: PathMatchKind::Prefix,
            pattern: pattern.into(),
            methods: vec!["GET".into()],
            citizen_param: None,
            timeout_ms: None,
            retries: None,
            auth: Default::default(),
            policy: Default::default(),
        }],
        metadata: BTreeMap::new(),
        lease_ttl_ms: 10_000,
        descriptor_set: None,
    }
}

/// One instance at `127.0.0.1:port`.
pub fn instance(port: u16) -> Vec<InstanceSpec> {
    vec![InstanceSpec {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        weight: 1,
    }]
}

/// Every operation of the OpenAPI document: `(METHOD, path template)`.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

/// A template with its parameters filled in.
pub fn fill(template: &str) -> String {
    template
        .replace("{dept}", "hpf")
        .replace("{route}", "balance")
        .replace("{service}", "forms")
        .replace("{v}", "1")
        .replace("{id}", "1")
        .replace("{event_id}", "evt-1")
        .replace("{hash}", "sha256:00")
}

/// A plausible body for a mutating operation (the guard answers first anyway).
pub fn body_for(method: &str, path: &str) -> Option<(&'static str, String)> {
    match (method, path) {
        ("PUT", "/admin/v1/config/departments/{dept}") => Some(("application/toml", HPF.into())),
        ("PUT", "/admin/v1/config/departments/{dept}/routes/{route}") => Some((
            "application/json",
            r#"{"template":"/api/v1/depts/hpf/x/{citizen}","service":"accounts"}"#.into(),
        )),
        ("POST", "/admin/v1/agreements") => Some((
            "application/json",
            r#"{"consumer":"hpf","item":"tax.income","fields":["annual_income"],"purpose":"loan","legal_basis":"x","expires_at":"2030-01-01T00:00:00Z"}"#.into(),
        )),
        ("POST", p) if p.starts_with("/admin/v1/agreements/") => {
            Some(("application/json", r#"{"reason":"ok"}"#.into()))
        }
        ("POST", p) if p.ends_with("/approve") || p.ends_with("/reject") => {
            Some(("application/json", r#"{"revision":1,"reason":"ok"}"#.into()))
        }
        ("POST", "/admin/v1/departments/{dept}/tokens") => {
            Some(("application/json", r#"{"label":"x"}"#.into()))
        }
        ("POST", "/admin/v1/config/rollback") => Some(("application/json", r#"{"to":1}"#.into())),
        ("POST", "/admin/v1/cache/purge") => Some((
            "application/json",
            r#"{"department":"hpf","all":true}"#.into(),
        )),
        ("POST", "/admin/v1/followups/{id}/close") => {
            Some(("application/json", r#"{"note":"called back"}"#.into()))
        }
        ("POST", "/admin/v1/appeals/{id}/dispatch") => {
            Some(("application/json", r#"{"dept":"hpf"}"#.into()))
        }
        ("POST", "/admin/v1/appeals/{id}/close") => {
            Some(("application/json", r#"{"note":"answered"}"#.into()))
        }
        ("POST", "/admin/v1/appeals/{id}/escalate") => {
            Some(("application/json", r#"{"note":"overdue"}"#.into()))
        }
        _ => None,
    }
}
