//! The registry: departments' services, their approvals and their leases.
//!
//! State lives in the store and is mirrored in memory. Writes (register,
//! deregister, decisions, credentials) go to the store first and fail with
//! `UNAVAILABLE` when it cannot be reached; the mirror is refreshed from the
//! store every `sync_interval` and whenever the store announces a change
//! (on PostgreSQL, changes made through other gateways too).
//!
//! Leases are soft state: a renewal updates the mirror at once and reaches
//! the store in batches (every 200 ms), so renewals keep working while the
//! store is away. While the store is unreachable no lease lapses — this
//! gateway cannot tell whether another one saw a renewal — and active and
//! passive health checks keep dead instances out of rotation meanwhile.
//!
//! The data plane never sees any of this: it gets a [`RegistryView`] (the
//! approved services with live instances) on a `watch` channel, published
//! only when that view changes.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use onestop_config as config;
use onestop_core::digest::sha256_hex;
use onestop_core::registry::{ApprovalStatus, InstanceSpec, ServiceSpec, Verdict};
use onestop_store::{
    Change, DecisionRecord, DeptTokenRecord, InstanceRecord, LeaseRenewal, Millis, NewDecision,
    NewDeptToken, ServiceRecord, Store, StoreError, now_ms,
};
use rand::RngCore as _;
use tokio::sync::{broadcast, watch};

use crate::check;
use crate::convert::LeaseBounds;
use crate::error::{Problem, RegistryError};
use crate::events;
use crate::view::{RegistryView, ServedService};

/// How the registry behaves (from the gateway file's `[registry]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrySettings {
    pub lease: LeaseBounds,
    pub sync_interval: Duration,
    pub max_metadata_bytes: usize,
}

impl RegistrySettings {
    pub fn from_config(r: &config::RegistrySettings) -> RegistrySettings {
        RegistrySettings {
            lease: LeaseBounds {
                default: r.default_lease_ttl,
                min: r.min_lease_ttl,
                max: r.max_lease_ttl,
            },
            sync_interval: r.sync_interval,
            max_metadata_bytes: r.max_metadata_bytes,
        }
    }
}

/// `(dept, service)`.
type ServiceKey = (String, String);

/// What `register` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    pub revision: i64,
    pub status: ApprovalStatus,
    /// This call changed the public surface: a new revision awaits approval.
    pub new_revision: bool,
    pub lease_ttl_ms: u64,
}

/// What `renew` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenewOutcome {
    pub lease_ttl_ms: u64,
    pub renewed: Vec<SocketAddr>,
    /// Not known (never registered, deregistered, or lapsed): register again.
    pub unknown: Vec<SocketAddr>,
}

/// A service as operators and its department see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub record: ServiceRecord,
    /// Instances with a live lease.
    pub instances: Vec<InstanceSpec>,
    /// Instances whose lease lapsed (kept a while for the zombie report).
    pub lapsed: Vec<InstanceSpec>,
}

/// A freshly issued department credential; the token is shown only once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub id: i64,
    pub dept: String,
    pub token: String,
}

#[derive(Debug, Clone)]
struct Lease {
    weight: u32,
    expires_at: Millis,
    registered_at: Millis,
    lapsed: bool,
}

#[derive(Default)]
struct State {
    services: BTreeMap<ServiceKey, ServiceRecord>,
    instances: BTreeMap<ServiceKey, BTreeMap<SocketAddr, Lease>>,
    /// Active tokens: SHA-256 → department.
    tokens: HashMap<String, String>,
    token_records: Vec<DeptTokenRecord>,
    last_sync_ok: Option<Instant>,
    /// The last read of the store succeeded (for logging transitions).
    store_up: bool,
    /// When this gateway last changed the mirror after a store write: a
    /// read that started before it is stale and is not applied.
    last_local_write: Option<Instant>,
}

/// The department service registry of one gateway.
pub struct Registry {
    store: Arc<dyn Store>,
    settings: RegistrySettings,
    files: watch::Receiver<Arc<config::Config>>,
    state: Mutex<State>,
    pending_renewals: Mutex<HashMap<(ServiceKey, SocketAddr), Millis>>,
    view: watch::Sender<Arc<RegistryView>>,
    /// Bumped whenever any department-visible state changes (Watch streams).
    changed: watch::Sender<u64>,
    /// Serialises this gateway's writes (other gateways are fenced by the
    /// store's compare-and-set).
    writes: tokio::sync::Mutex<()>,
}

impl Registry {
    /// A registry over `store`, checking registrations against the
    /// configuration files published on `files`.
    pub fn new(
        store: Arc<dyn Store>,
        settings: RegistrySettings,
        files: watch::Receiver<Arc<config::Config>>,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            store,
            settings,
            files,
            state: Mutex::new(State::default()),
            pending_renewals: Mutex::new(HashMap::new()),
            view: watch::Sender::new(Arc::new(RegistryView::default())),
            changed: watch::Sender::new(0),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The approved services with live instances, as the data plane needs them.
    pub fn view(&self) -> watch::Receiver<Arc<RegistryView>> {
        self.view.subscribe()
    }

    /// Wakes whenever department-visible state changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn settings(&self) -> RegistrySettings {
        self.settings
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the mirror half-updated
        // in a way the next sync does not repair; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The department a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<String> {
        let hash = sha256_hex(token.as_bytes());
        self.lock().tokens.get(&hash).cloned()
    }

    /// Whether the last read of the store succeeded recently.
    pub fn store_fresh(&self) -> bool {
        let fresh_for = (self.settings.sync_interval * 3).max(Duration::from_secs(2));
        self.lock()
            .last_sync_ok
            .is_some_and(|t| t.elapsed() < fresh_for)
    }

    // ----- department operations ------------------------------------------

    /// Registers (or updates) a service and adds or refreshes `instances`.
    pub async fn register(
        &self,
        caller: &str,
        spec: ServiceSpec,
        instances: Vec<InstanceSpec>,
    ) -> Result<RegisterOutcome, RegistryError> {
        if spec.dept != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot register services of department `{}`",
                spec.dept
            )));
        }
        let key = (spec.dept.clone(), spec.service.clone());
        let _writes = self.writes.lock().await;
        let mut attempt = 0;
        let (record, new_revision) = loop {
            attempt += 1;
            let existing = self.lock().services.get(&key).cloned();
            let files = self.files.borrow().clone();
            let view = self.view.borrow().clone();
            let problems = check::registration(
                &files,
                &view,
                &spec,
                &instances,
                self.settings.max_metadata_bytes,
            );
            if !problems.is_empty() {
                return Err(RegistryError::InvalidArgument(problems));
            }
            let now = now_ms();
            let next = next_record(existing.as_ref(), &spec, now);
            if !next.changed {
                break (next.record, false);
            }
            match self
                .store
                .put_service(&next.record, existing.as_ref().map(|e| e.revision))
                .await
            {
                Ok(()) => {
                    if next.new_revision {
                        events::revision_pending(&next.record);
                    }
                    break (next.record, next.new_revision);
                }
                Err(StoreError::Conflict(_)) if attempt < 3 => {
                    // Another gateway wrote first: read its version and retry.
                    self.sync_now().await?;
                }
                Err(e) => return Err(self.store_failed("register", e)),
            }
        };
        let now = now_ms();
        let ttl = i64::try_from(spec.lease_ttl_ms).unwrap_or(i64::MAX);
        let rows: Vec<InstanceRecord> = instances
            .iter()
            .map(|i| InstanceRecord {
                dept: spec.dept.clone(),
                service: spec.service.clone(),
                addr: i.addr.to_string(),
                weight: i.weight,
                lease_expires_at: now.saturating_add(ttl),
                registered_at: now,
            })
            .collect();
        if !rows.is_empty()
            && let Err(e) = self.store.put_instances(&rows).await
        {
            return Err(self.store_failed("register instances", e));
        }
        {
            let mut state = self.lock();
            state.last_local_write = Some(Instant::now());
            state.services.insert(key.clone(), record.clone());
            let leases = state.instances.entry(key).or_default();
            for i in &instances {
                let registered_at = leases.get(&i.addr).map_or(now, |l| l.registered_at);
                leases.insert(
                    i.addr,
                    Lease {
                        weight: i.weight,
                        expires_at: now.saturating_add(ttl),
                        registered_at,
                        lapsed: false,
                    },
                );
            }
        }
        events::registered(&spec, instances.len(), record.revision, record.status);
        self.publish(true);
        Ok(RegisterOutcome {
            revision: record.revision,
            status: record.status,
            new_revision,
            lease_ttl_ms: spec.lease_ttl_ms,
        })
    }

    /// Renews the leases of `addrs`. Works from memory: no store round trip.
    pub fn renew(
        &self,
        caller: &str,
        dept: &str,
        service: &str,
        addrs: &[SocketAddr],
    ) -> Result<RenewOutcome, RegistryError> {
        if dept != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot renew leases of department `{dept}`"
            )));
        }
        let key = (dept.to_string(), service.to_string());
        let now = now_ms();
        let stale = !self.store_fresh();
        let mut out = RenewOutcome::default();
        let mut renewed = Vec::new();
        {
            let mut state = self.lock();
            let ttl = state.services.get(&key).map_or(0, |r| r.spec.lease_ttl_ms);
            out.lease_ttl_ms = ttl;
            let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
            let leases = state.instances.get_mut(&key);
            match leases {
                None => out.unknown = addrs.to_vec(),
                Some(leases) => {
                    for addr in addrs {
                        match leases.get_mut(addr) {
                            Some(l) if !l.lapsed || stale => {
                                l.expires_at = now.saturating_add(ttl);
                                l.lapsed = false;
                                out.renewed.push(*addr);
                                renewed.push((*addr, l.expires_at));
                            }
                            _ => out.unknown.push(*addr),
                        }
                    }
                }
            }
        }
        let mut pending = self
            .pending_renewals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (addr, expires) in renewed {
            let slot = pending.entry((key.clone(), addr)).or_insert(expires);
            *slot = (*slot).max(expires);
        }
        Ok(out)
    }

    /// Removes instances, or the whole service when `addrs` is empty.
    /// Returns `(instances removed, service removed)`.
    pub async fn deregister(
        &self,
        caller: &str,
        dept: &str,
        service: &str,
        addrs: &[SocketAddr],
    ) -> Result<(u64, bool), RegistryError> {
        if dept != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot deregister services of department `{dept}`"
            )));
        }
        let key = (dept.to_string(), service.to_string());
        let _writes = self.writes.lock().await;
        if !self.lock().services.contains_key(&key) {
            return Err(RegistryError::NotFound(format!("service {dept}/{service}")));
        }
        let out = if addrs.is_empty() {
            let instances = self.lock().instances.get(&key).map_or(0, BTreeMap::len);
            let removed = self
                .store
                .delete_service(dept, service)
                .await
                .map_err(|e| self.store_failed("deregister", e))?;
            let mut state = self.lock();
            state.last_local_write = Some(Instant::now());
            state.services.remove(&key);
            state.instances.remove(&key);
            (u64::try_from(instances).unwrap_or(0), removed)
        } else {
            let names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            let removed = self
                .store
                .delete_instances(dept, service, &names)
                .await
                .map_err(|e| self.store_failed("deregister", e))?;
            let mut state = self.lock();
            state.last_local_write = Some(Instant::now());
            if let Some(leases) = state.instances.get_mut(&key) {
                for a in addrs {
                    leases.remove(a);
                }
            }
            (removed, false)
        };
        events::deregistered(dept, service, out.0, out.1);
        self.publish(true);
        Ok(out)
    }

    /// The services of one department (all of them when `dept` is `None`).
    pub fn services(&self, dept: Option<&str>) -> Vec<ServiceState> {
        let state = self.lock();
        let now = now_ms();
        state
            .services
            .iter()
            .filter(|((d, _), _)| dept.is_none_or(|x| x == d))
            .map(|(key, record)| {
                let mut instances = Vec::new();
                let mut lapsed = Vec::new();
                for (addr, l) in state.instances.get(key).into_iter().flatten() {
                    let spec = InstanceSpec {
                        addr: *addr,
                        weight: l.weight,
                    };
                    if l.lapsed || l.expires_at <= now {
                        lapsed.push(spec);
                    } else {
                        instances.push(spec);
                    }
                }
                ServiceState {
                    record: record.clone(),
                    instances,
                    lapsed,
                }
            })
            .collect()
    }

    // ----- operator operations --------------------------------------------

    /// An operator approves or rejects the pending `revision` of a service.
    /// Approval is refused when the service would collide with the
    /// configuration or another approved service.
    pub async fn decide(
        &self,
        dept: &str,
        service: &str,
        revision: i64,
        verdict: Verdict,
        operator: &str,
        reason: &str,
    ) -> Result<ServiceRecord, RegistryError> {
        let key = (dept.to_string(), service.to_string());
        let _writes = self.writes.lock().await;
        let (record, instances) = {
            let state = self.lock();
            let record = state
                .services
                .get(&key)
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(format!("service {dept}/{service}")))?;
            let instances: Vec<InstanceSpec> = state
                .instances
                .get(&key)
                .into_iter()
                .flatten()
                .map(|(a, l)| InstanceSpec {
                    addr: *a,
                    weight: l.weight,
                })
                .collect();
            (record, instances)
        };
        if record.revision != revision || record.status != ApprovalStatus::Pending {
            return Err(RegistryError::Conflict(format!(
                "{dept}/{service} is at revision {} ({}); decide on the pending revision",
                record.revision,
                record.status.as_str()
            )));
        }
        if verdict == Verdict::Approve {
            let files = self.files.borrow().clone();
            let view = self.view.borrow().clone();
            let problems = check::registration(
                &files,
                &view,
                &record.spec,
                &instances,
                self.settings.max_metadata_bytes,
            );
            if !problems.is_empty() {
                return Err(RegistryError::Conflict(format!(
                    "cannot approve {dept}/{service}: {}",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
        }
        let updated = self
            .store
            .decide(&NewDecision {
                dept: dept.into(),
                service: service.into(),
                revision,
                verdict,
                operator: operator.into(),
                reason: reason.into(),
                at: now_ms(),
            })
            .await
            .map_err(|e| self.store_failed("decide", e))?;
        events::decided(&updated, verdict, operator);
        {
            let mut state = self.lock();
            state.last_local_write = Some(Instant::now());
            state.services.insert(key, updated.clone());
        }
        self.publish(true);
        Ok(updated)
    }

    /// Decisions, newest first.
    pub async fn decisions(
        &self,
        dept: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DecisionRecord>, RegistryError> {
        self.store
            .decisions(dept, limit)
            .await
            .map_err(|e| self.store_failed("decisions", e))
    }

    /// Issues a credential for a department declared in the configuration.
    pub async fn issue_token(
        &self,
        dept: &str,
        label: &str,
        by: &str,
    ) -> Result<IssuedToken, RegistryError> {
        let known = self
            .files
            .borrow()
            .departments
            .iter()
            .any(|d| d.file.department.id.get_ref() == dept);
        if !known {
            return Err(RegistryError::InvalidArgument(vec![Problem::new(
                "dept",
                format!("unknown department `{dept}`"),
            )]));
        }
        let token = new_token(dept);
        let hash = sha256_hex(token.as_bytes());
        let created_at = now_ms();
        let id = self
            .store
            .add_dept_token(&NewDeptToken {
                dept: dept.into(),
                label: label.into(),
                token_sha256: hash.clone(),
                created_by: by.into(),
                created_at,
            })
            .await
            .map_err(|e| self.store_failed("issue token", e))?;
        let mut state = self.lock();
        state.last_local_write = Some(Instant::now());
        state.tokens.insert(hash.clone(), dept.into());
        state.token_records.push(DeptTokenRecord {
            id,
            dept: dept.into(),
            label: label.into(),
            token_sha256: hash,
            created_by: by.into(),
            created_at,
            revoked_at: None,
        });
        drop(state);
        self.publish(true);
        Ok(IssuedToken {
            id,
            dept: dept.into(),
            token,
        })
    }

    /// Revokes a credential at once (on this gateway; others on their next sync).
    pub async fn revoke_token(&self, id: i64) -> Result<(), RegistryError> {
        let at = now_ms();
        self.store
            .revoke_dept_token(id, at)
            .await
            .map_err(|e| self.store_failed("revoke token", e))?;
        let mut state = self.lock();
        state.last_local_write = Some(Instant::now());
        let mut hash = None;
        for t in &mut state.token_records {
            if t.id == id {
                t.revoked_at = Some(at);
                hash = Some(t.token_sha256.clone());
            }
        }
        if let Some(h) = hash {
            state.tokens.remove(&h);
        }
        drop(state);
        self.publish(true);
        Ok(())
    }

    /// Every credential (hashes included; callers decide what to show).
    pub fn tokens(&self, dept: Option<&str>) -> Vec<DeptTokenRecord> {
        self.lock()
            .token_records
            .iter()
            .filter(|t| dept.is_none_or(|d| d == t.dept))
            .cloned()
            .collect()
    }

    // ----- background work -------------------------------------------------

    /// Reads the whole registry from the store into the mirror.
    pub async fn sync_now(&self) -> Result<(), RegistryError> {
        let started = Instant::now();
        let rows = match self.store.load_registry().await {
            Ok(rows) => rows,
            Err(e) => {
                let was_up = std::mem::replace(&mut self.lock().store_up, false);
                if was_up {
                    events::store_reachable(false, &e.to_string());
                }
                return Err(self.store_failed("sync", e));
            }
        };
        self.apply_rows(rows, started);
        Ok(())
    }

    /// Replaces the mirror with rows read from the store at `started`,
    /// unless a local write landed since (then the rows may be stale).
    fn apply_rows(&self, rows: onestop_store::RegistryRows, started: Instant) {
        let now = now_ms();
        {
            let mut state = self.lock();
            if state.last_local_write.is_some_and(|w| w > started) {
                // A local write landed while we read: this read may predate
                // it. The store answered, though; read again next time.
                state.last_sync_ok = Some(Instant::now());
                return;
            }
            let mut instances: BTreeMap<ServiceKey, BTreeMap<SocketAddr, Lease>> = BTreeMap::new();
            for row in &rows.instances {
                let Ok(addr) = row.addr.parse::<SocketAddr>() else {
                    events::stored_address_invalid(&row.dept, &row.service, &row.addr);
                    continue;
                };
                let key = (row.dept.clone(), row.service.clone());
                let mine = state.instances.get(&key).and_then(|m| m.get(&addr));
                let lease = Lease {
                    weight: row.weight,
                    expires_at: mine.map_or(row.lease_expires_at, |m| {
                        m.expires_at.max(row.lease_expires_at)
                    }),
                    registered_at: row.registered_at,
                    lapsed: match mine {
                        Some(m) => m.lapsed && m.expires_at >= row.lease_expires_at,
                        None => row.lease_expires_at <= now,
                    },
                };
                instances.entry(key).or_default().insert(addr, lease);
            }
            state.instances = instances;
            state.services = rows
                .services
                .into_iter()
                .map(|s| ((s.dept.clone(), s.service.clone()), s))
                .collect();
            state.tokens = rows
                .tokens
                .iter()
                .filter(|t| t.revoked_at.is_none())
                .map(|t| (t.token_sha256.clone(), t.dept.clone()))
                .collect();
            state.token_records = rows.tokens;
            state.last_sync_ok = Some(Instant::now());
            if !std::mem::replace(&mut state.store_up, true) {
                events::store_reachable(true, "");
            }
        }
        self.publish(true);
    }

    /// Writes pending lease renewals to the store (batched).
    pub async fn flush_renewals(&self) {
        let batch: Vec<((ServiceKey, SocketAddr), Millis)> = {
            let mut pending = self
                .pending_renewals
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        let renewals: Vec<LeaseRenewal> = batch
            .iter()
            .map(|(((dept, service), addr), expires)| LeaseRenewal {
                dept: dept.clone(),
                service: service.clone(),
                addr: addr.to_string(),
                expires_at: *expires,
            })
            .collect();
        if let Err(e) = self.store.renew_leases(&renewals).await {
            let _ = self.store_failed("renew leases", e);
            let mut pending = self
                .pending_renewals
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (k, expires) in batch {
                let slot = pending.entry(k).or_insert(expires);
                *slot = (*slot).max(expires);
            }
        }
    }

    /// Marks lapsed leases and republishes the view (only while the store
    /// is fresh: see the module docs).
    pub fn sweep(&self) {
        if !self.store_fresh() {
            return;
        }
        let now = now_ms();
        let mut lapsed = Vec::new();
        {
            let mut state = self.lock();
            for ((dept, service), leases) in &mut state.instances {
                for (addr, l) in leases.iter_mut() {
                    if !l.lapsed && l.expires_at <= now {
                        l.lapsed = true;
                        lapsed.push((dept.clone(), service.clone(), *addr));
                    }
                }
            }
            // Forget instances lapsed long ago (the store purges its rows).
            let forget_before = now - FORGET_AFTER_MS;
            for leases in state.instances.values_mut() {
                leases.retain(|_, l| !(l.lapsed && l.expires_at < forget_before));
            }
        }
        for (dept, service, addr) in &lapsed {
            events::lease_lapsed(dept, service, *addr);
        }
        self.publish(!lapsed.is_empty());
    }

    /// Runs sync, sweep and flush until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut changes = self.store.changes();
        let mut sync = tokio::time::interval(self.settings.sync_interval);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(Duration::from_millis(100));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(Duration::from_millis(200));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(Duration::from_secs(60));
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    self.flush_renewals().await;
                    return;
                }
                change = changes.recv() => match change {
                    Ok(Change::Registry) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Let a burst of changes settle into one read.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        while changes.try_recv().is_ok() {}
                        let _ = self.sync_now().await;
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        changes = self.store.changes();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = sync.tick() => { let _ = self.sync_now().await; }
                _ = sweep.tick() => self.sweep(),
                _ = flush.tick() => self.flush_renewals().await,
                _ = purge.tick() => {
                    if let Err(e) = self.store.purge_lapsed_instances(now_ms() - FORGET_AFTER_MS).await {
                        let _ = self.store_failed("purge lapsed instances", e);
                    }
                }
            }
        }
    }

    fn store_failed(&self, op: &str, e: StoreError) -> RegistryError {
        events::store_error(op, &e);
        RegistryError::from(e)
    }

    /// Recomputes the view and publishes it if it changed; `dirty` also
    /// wakes Watch streams.
    fn publish(&self, dirty: bool) {
        let view = Arc::new(self.compute_view());
        let changed = self.view.send_if_modified(|current| {
            if **current == *view {
                false
            } else {
                *current = view.clone();
                true
            }
        });
        if changed {
            events::view_published(&view);
        }
        if changed || dirty {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn compute_view(&self) -> RegistryView {
        let state = self.lock();
        let now = now_ms();
        let stale = state.last_sync_ok.is_none_or(|t| {
            t.elapsed() >= (self.settings.sync_interval * 3).max(Duration::from_secs(2))
        });
        let services = state
            .services
            .iter()
            .filter_map(|(key, record)| {
                let spec = record.approved_spec.clone()?;
                let instances = state
                    .instances
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter(|(_, l)| stale || (!l.lapsed && l.expires_at > now))
                    .map(|(addr, l)| InstanceSpec {
                        addr: *addr,
                        weight: l.weight,
                    })
                    .collect();
                Some(ServedService {
                    spec,
                    approved_revision: record.approved_revision.unwrap_or(record.revision),
                    instances,
                })
            })
            .collect();
        RegistryView {
            services,
            department_tokens: state
                .tokens
                .iter()
                .map(|(h, d)| (h.clone(), d.clone()))
                .collect(),
        }
    }
}

/// Lapsed instances are forgotten (and their rows purged) after this long.
const FORGET_AFTER_MS: Millis = 10 * 60 * 1000;

/// The next stored record for a submitted spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRecord {
    pub record: ServiceRecord,
    /// The stored record must be written.
    pub changed: bool,
    /// The public surface changed: the new revision is pending.
    pub new_revision: bool,
}

/// Decides what a registration does to the stored record. Pure.
///
/// - A new service starts at revision 1, pending.
/// - The same spec again changes nothing.
/// - Operational changes (lb, health, metadata, lease TTL) bump the revision
///   and apply at once, to the approved spec too.
/// - A public-surface change bumps the revision and makes it pending; the
///   approved spec keeps serving. A change that only makes routes' auth
///   stricter (`public` to an authenticated mode) narrows exposure and
///   applies at once, like a narrowing route policy. Going back to the approved surface makes
///   the service approved again without a new decision.
pub fn next_record(
    existing: Option<&ServiceRecord>,
    spec: &ServiceSpec,
    now: Millis,
) -> NextRecord {
    let Some(e) = existing else {
        return NextRecord {
            record: ServiceRecord {
                dept: spec.dept.clone(),
                service: spec.service.clone(),
                revision: 1,
                spec: spec.clone(),
                status: ApprovalStatus::Pending,
                approved_spec: None,
                approved_revision: None,
                created_at: now,
                updated_at: now,
            },
            changed: true,
            new_revision: true,
        };
    };
    if e.spec == *spec {
        return NextRecord {
            record: e.clone(),
            changed: false,
            new_revision: false,
        };
    }
    let surface = spec.surface_hash();
    // A policy that widens exposure (shared cache, data item) counts as a
    // surface change; one that narrows it applies at once.
    let surface_changed = e.spec.surface_hash() != surface || spec.policy_widens(&e.spec);
    let revision = e.revision + 1;
    // The approved surface again, or it with some routes' auth made
    // stricter: a narrowing, applied at once.
    let matches_approved = e.approved_spec.as_ref().is_some_and(|a| {
        (a.surface_hash() == surface || spec.surface_only_narrows(a)) && !spec.policy_widens(a)
    });
    let status = if matches_approved {
        ApprovalStatus::Approved
    } else if surface_changed {
        ApprovalStatus::Pending
    } else {
        e.status
    };
    let (approved_spec, approved_revision) = if matches_approved {
        (Some(spec.clone()), Some(revision))
    } else {
        (
            e.approved_spec.as_ref().map(|a| ServiceSpec {
                lb: spec.lb,
                health: spec.health.clone(),
                metadata: spec.metadata.clone(),
                lease_ttl_ms: spec.lease_ttl_ms,
                ..a.clone()
            }),
            e.approved_revision,
        )
    };
    NextRecord {
        record: ServiceRecord {
            revision,
            spec: spec.clone(),
            status,
            approved_spec,
            approved_revision,
            updated_at: now,
            ..e.clone()
        },
        changed: true,
        new_revision: surface_changed && status == ApprovalStatus::Pending,
    }
}

/// A new department token: `ost_<dept>_<43 chars of base64url randomness>`.
fn new_token(dept: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "ost_{dept}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests;
