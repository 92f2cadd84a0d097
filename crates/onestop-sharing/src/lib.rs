//! Governed data sharing between departments (让数据多跑路，让百姓少跑腿).
//!
//! - [`catalog`]: the data items departments declare (`[[data_items]]`).
//! - [`apply`]: the checks of an application for an agreement, pure.
//! - [`decide`]: which agreement allows a read and whether the citizen's
//!   consent is needed and given, pure; every denial names its reason.
//! - [`filter`]: the fields an agreement names, sensitive ones masked
//!   unless granted in clear, pure.
//! - [`Sharing`]: the service over the store ([`onestop_store::SharingStore`]
//!   for agreements and consents, [`onestop_store::AccessAuditStore`] for the
//!   citizen's access log), the audit writer ([`onestop_audit::AuditLog`])
//!   and a [`Fetcher`] that reads the provider (the binary sends it through
//!   the gateway's public listener as the citizen).
//! - [`api`]: the citizens' HTTP API (`/api/v1/me/consents`,
//!   `/api/v1/me/access-log`), independent of the server; [`view`] the JSON
//!   documents shared with the admin API.
//!
//! # Guarantees
//!
//! - A read is decided before the provider is contacted: a denied read
//!   never reaches it.
//! - A field the agreement does not name, or the item does not declare,
//!   never leaves the gateway; a sensitive field leaves masked unless the
//!   agreement grants it in clear.
//! - Every exchange, allowed or denied, is recorded in the access audit
//!   log; data leaves only after its record was accepted (fail closed).

#![forbid(unsafe_code)]

pub mod api;
pub mod apply;
pub mod catalog;
pub mod decide;
mod events;
pub mod filter;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use onestop_audit::AuditLog;
use onestop_config::{Config, SharingSettings};
use onestop_core::problem::Problem;
use onestop_store::{
    AccessAuditStore, AccessRecord, AgreementFilter, AgreementRecord, Approver, ConsentRecord,
    Millis, NewAccessRecord, NewAgreement, NewConsent, SharingStore, StoreError, now_ms,
};

pub use apply::Application;
pub use catalog::{Catalog, Item};
pub use decide::Denial;

/// Why a sharing operation did not happen. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharingError {
    #[error("invalid request: {}", onestop_core::problem::render(.0))]
    Invalid(Vec<Problem>),
    #[error("{0}")]
    NotFound(String),
    #[error("permission denied: {}", .0.message())]
    Denied(Denial),
    #[error("{0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl SharingError {
    /// The HTTP status of the citizens' and the admin API.
    pub fn status(&self) -> u16 {
        match self {
            SharingError::Invalid(_) => 400,
            SharingError::NotFound(_) => 404,
            SharingError::Denied(_) | SharingError::Forbidden(_) => 403,
            SharingError::Conflict(_) => 409,
            SharingError::Unavailable(_) => 503,
            SharingError::Internal(_) => 500,
        }
    }

    /// The `SNAKE_CASE` code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            SharingError::Invalid(_) => "INVALID_REQUEST",
            SharingError::NotFound(_) => "NOT_FOUND",
            SharingError::Denied(_) => "SHARING_DENIED",
            SharingError::Forbidden(_) => "FORBIDDEN",
            SharingError::Conflict(_) => "CONFLICT",
            SharingError::Unavailable(_) => "UNAVAILABLE",
            SharingError::Internal(_) => "INTERNAL",
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> SharingError {
        SharingError::Invalid(vec![Problem::new(field, message)])
    }
}

impl From<StoreError> for SharingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => SharingError::Unavailable(format!("store: {m}")),
            StoreError::Conflict(m) => SharingError::Conflict(m),
            StoreError::NotFound(m) => SharingError::NotFound(m),
            StoreError::Corrupt(m) | StoreError::Other(m) => SharingError::Internal(m),
        }
    }
}

/// Why the provider gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The provider holds no such record of the citizen (404).
    #[error("the provider holds no such record")]
    NotFound,
    /// Anything else: unreachable, timed out, refused, not JSON.
    #[error("{0}")]
    Failed(String),
}

/// Reads a data item from its provider: a `GET` of `path` as `citizen`.
#[async_trait]
pub trait Fetcher: Send + Sync + 'static {
    async fn fetch(
        &self,
        path: &str,
        citizen: &str,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError>;
}

/// A consumer's read: `item` of `citizen`, for `purpose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub item: String,
    pub citizen: String,
    pub purpose: String,
    /// The consumer's request id; kept when well-formed.
    pub request_id: Option<String>,
}

/// What a consumer receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The JSON object.
    pub data: Vec<u8>,
    pub fields: Vec<String>,
    pub masked: Vec<String>,
    pub agreement: String,
    pub request_id: String,
}

/// What the request path reads: the catalog, department names, settings.
#[derive(Debug, Default)]
pub struct State {
    pub catalog: Catalog,
    /// Department id → display name.
    pub departments: BTreeMap<String, String>,
    pub settings: SharingSettings,
}

impl State {
    pub fn from_config(config: &Config) -> State {
        State {
            catalog: Catalog::from_config(config),
            departments: config
                .departments
                .iter()
                .map(|d| {
                    (
                        d.file.department.id.get_ref().clone(),
                        d.file.department.name.clone(),
                    )
                })
                .collect(),
            settings: config.gateway.sharing.clone(),
        }
    }
}

/// How a consumer appears in the audit log: `dept:<id>` for departments,
/// `channel:<id>` for apps (a citizen reading their own data).
pub fn department_consumer(dept: &str) -> String {
    format!("dept:{dept}")
}

/// The sharing service.
pub struct Sharing {
    store: Arc<dyn SharingStore>,
    access: Arc<dyn AccessAuditStore>,
    audit: Option<AuditLog>,
    fetcher: Arc<dyn Fetcher>,
    state: ArcSwap<State>,
}

impl Sharing {
    /// `audit` is `None` only when `[sharing.audit] enabled = false`.
    pub fn new(
        store: Arc<dyn SharingStore>,
        access: Arc<dyn AccessAuditStore>,
        audit: Option<AuditLog>,
        fetcher: Arc<dyn Fetcher>,
        config: &Config,
    ) -> Arc<Sharing> {
        Arc::new(Sharing {
            store,
            access,
            audit,
            fetcher,
            state: ArcSwap::from_pointee(State::from_config(config)),
        })
    }

    /// Follows a new configuration (catalog, departments, settings).
    pub fn reconfigure(&self, config: &Config) {
        self.state.store(Arc::new(State::from_config(config)));
    }

    pub fn state(&self) -> Arc<State> {
        self.state.load_full()
    }

    /// Verifies the whole access-audit hash chain (the admin API's and the
    /// console's view of `onestop audit verify`).
    pub async fn verify_audit(
        &self,
    ) -> Result<onestop_store::VerifyReport, onestop_store::VerifyError> {
        onestop_store::verify_store(&*self.access, 1000).await
    }

    /// Records an access; `Err` when the audit log cannot take it (the
    /// data must then not be returned). Always `Ok` with auditing off.
    pub fn audit(&self, record: NewAccessRecord) -> Result<(), onestop_audit::AuditUnavailable> {
        match &self.audit {
            Some(log) => log.record(record),
            None => Ok(()),
        }
    }

    /// The exchange: `consumer` (a department) reads `req.item` of
    /// `req.citizen` for `req.purpose`. See the crate documentation.
    pub async fn fetch(&self, consumer: &str, req: FetchRequest) -> Result<Fetched, SharingError> {
        let state = self.state();
        let request_id = onestop_core::request_id::accept_or_generate(
            req.request_id.as_deref().map(str::as_bytes),
        );
        apply::check_purpose(&req.purpose).map_err(|m| SharingError::invalid("purpose", m))?;
        if !onestop_core::mask::is_resident_id(&req.citizen) {
            return Err(SharingError::invalid(
                "citizen",
                "must be an 18-character resident ID number with a valid check digit",
            ));
        }
        let item = state
            .catalog
            .get(&req.item)
            .cloned()
            .ok_or_else(|| SharingError::NotFound(format!("no data item `{}`", req.item)))?;
        let record =
            |outcome: String, fields: Vec<String>, agreement: Option<String>| NewAccessRecord {
                at: now_ms(),
                consumer: department_consumer(consumer),
                citizen: req.citizen.clone(),
                item: item.id.clone(),
                fields,
                purpose: req.purpose.clone(),
                agreement,
                request_id: request_id.clone(),
                outcome,
            };
        let agreements = self.store.agreements_for(consumer, &item.id).await?;
        let now = now_ms();
        let decision = match decide::agreement(&item, &agreements, &req.purpose, now) {
            Ok(a) => {
                let consent = if decide::needs_consent(&item) {
                    self.store
                        .consent(&req.citizen, consumer, &req.purpose)
                        .await?
                } else {
                    None
                };
                decide::consent(&item, consent.as_ref()).map(|()| a)
            }
            Err(d) => Err(d),
        };
        let agreement = match decision {
            Ok(a) => a,
            Err(denial) => {
                // The denial is recorded too (best effort: it returns
                // nothing, so a full log does not change the answer).
                let _ = self.audit(record(
                    format!("denied:{}", denial.code()),
                    Vec::new(),
                    None,
                ));
                events::exchange(consumer, &item.id, denial.code());
                return Err(SharingError::Denied(denial));
            }
        };
        let agreement_id = agreement.agreement.id.clone();
        let fetched = self
            .fetcher
            .fetch(
                &item.fetch_path(&req.citizen),
                &req.citizen,
                &request_id,
                state.settings.fetch_timeout,
            )
            .await;
        let body = match fetched {
            Ok(body) => body,
            Err(e) => {
                let outcome = match e {
                    FetchError::NotFound => "not_found",
                    FetchError::Failed(_) => "provider_error",
                };
                let _ = self.audit(record(outcome.into(), Vec::new(), Some(agreement_id)));
                events::exchange(consumer, &item.id, outcome);
                return Err(match e {
                    FetchError::NotFound => SharingError::NotFound(format!(
                        "department `{}` holds no `{}` record of this citizen",
                        item.dept, item.id
                    )),
                    FetchError::Failed(m) => {
                        SharingError::Unavailable(format!("provider `{}`: {m}", item.dept))
                    }
                });
            }
        };
        let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
            .map_err(|_| {
                events::exchange(consumer, &item.id, "provider_error");
                SharingError::Unavailable(format!(
                    "provider `{}` did not answer with a JSON object",
                    item.dept
                ))
            })?;
        let out = filter::filter(
            &item,
            &agreement.agreement.fields,
            &agreement.agreement.clear_fields,
            &doc,
        );
        if let Err(e) = self.audit(record(
            "ok".into(),
            out.fields.clone(),
            Some(agreement_id.clone()),
        )) {
            events::exchange(consumer, &item.id, "audit_unavailable");
            return Err(SharingError::Unavailable(e.to_string()));
        }
        events::exchange(consumer, &item.id, "ok");
        Ok(Fetched {
            data: serde_json::to_vec(&out.data)
                .map_err(|e| SharingError::Internal(e.to_string()))?,
            fields: out.fields,
            masked: out.masked,
            agreement: agreement_id,
            request_id,
        })
    }

    /// Files an application of `consumer` (by `applied_by`): pending.
    pub async fn apply(
        &self,
        consumer: &str,
        applied_by: &str,
        app: &Application,
    ) -> Result<AgreementRecord, SharingError> {
        let state = self.state();
        let now = now_ms();
        if !state.departments.contains_key(consumer) {
            return Err(SharingError::invalid(
                "consumer",
                format!("`{consumer}` is not a declared department"),
            ));
        }
        let item = apply::check(&state.catalog, consumer, app, now, state.settings.max_term)
            .map_err(SharingError::Invalid)?;
        let record = self
            .store
            .create_agreement(&NewAgreement {
                id: format!("agr-{}", uuid::Uuid::now_v7().simple()),
                consumer: consumer.to_string(),
                provider: item.dept.clone(),
                item: item.id.clone(),
                fields: app.fields.clone(),
                clear_fields: app.clear_fields.clone(),
                purpose: app.purpose.clone(),
                legal_basis: app.legal_basis.clone(),
                expires_at: app.expires_at,
                needs_provider: item.provider_approval,
                applied_by: applied_by.to_string(),
                applied_at: now,
            })
            .await?;
        events::agreement("applied", &record);
        Ok(record)
    }

    pub async fn agreements(
        &self,
        filter: &AgreementFilter,
    ) -> Result<Vec<AgreementRecord>, SharingError> {
        Ok(self.store.agreements(filter).await?)
    }

    pub async fn agreement(&self, id: &str) -> Result<AgreementRecord, SharingError> {
        self.store
            .agreement(id)
            .await?
            .ok_or_else(|| SharingError::NotFound(format!("no agreement `{id}`")))
    }

    /// Approves as an operator, or as the provider department (`who`).
    pub async fn approve(
        &self,
        id: &str,
        who: Approver,
        by: &str,
    ) -> Result<AgreementRecord, SharingError> {
        let record = self.store.approve_agreement(id, who, by, now_ms()).await?;
        events::agreement("approval", &record);
        Ok(record)
    }

    pub async fn reject(
        &self,
        id: &str,
        by: &str,
        reason: &str,
    ) -> Result<AgreementRecord, SharingError> {
        check_reason(reason)?;
        let record = self
            .store
            .reject_agreement(id, by, reason, now_ms())
            .await?;
        events::agreement("rejected", &record);
        Ok(record)
    }

    /// Revokes at once: the next exchange under it is denied.
    pub async fn revoke(
        &self,
        id: &str,
        by: &str,
        reason: &str,
    ) -> Result<AgreementRecord, SharingError> {
        check_reason(reason)?;
        let record = self
            .store
            .revoke_agreement(id, by, reason, now_ms())
            .await?;
        events::agreement("revoked", &record);
        Ok(record)
    }

    /// Grants or revokes a citizen's consent for a consumer and purpose.
    pub async fn set_consent(
        &self,
        citizen: &str,
        consumer: &str,
        purpose: &str,
        granted: bool,
    ) -> Result<ConsentRecord, SharingError> {
        if !self.state().departments.contains_key(consumer) {
            return Err(SharingError::invalid(
                "consumer",
                format!("`{consumer}` is not a department"),
            ));
        }
        apply::check_purpose(purpose).map_err(|m| SharingError::invalid("purpose", m))?;
        if !granted
            && self
                .store
                .consent(citizen, consumer, purpose)
                .await?
                .is_none()
        {
            return Err(SharingError::NotFound(format!(
                "no consent for `{consumer}` and purpose `{purpose}`"
            )));
        }
        Ok(self
            .store
            .set_consent(&NewConsent {
                citizen: citizen.to_string(),
                consumer: consumer.to_string(),
                purpose: purpose.to_string(),
                granted,
                at: now_ms(),
            })
            .await?)
    }

    pub async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, SharingError> {
        Ok(self.store.consents(citizen).await?)
    }

    /// The citizen's access log, newest first.
    pub async fn access_log(
        &self,
        citizen: &str,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AccessRecord>, SharingError> {
        Ok(self.access.citizen_access(citizen, limit, before).await?)
    }
}

fn check_reason(reason: &str) -> Result<(), SharingError> {
    if reason.trim().is_empty() || reason.chars().count() > 512 {
        return Err(SharingError::invalid("reason", "must be 1-512 characters"));
    }
    Ok(())
}

/// Milliseconds of a duration, saturating.
pub fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}
