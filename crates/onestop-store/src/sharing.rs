//! Governed data sharing between departments: data-sharing agreements
//! (共享协议) and citizens' consents (授权), the rows and the
//! [`SharingStore`] trait.
//!
//! A consumer department applies for an agreement to read a provider's
//! data item (some of its fields, some of them unmasked) for a purpose,
//! until a time. The agreement starts `Pending`; it becomes `Approved` once
//! an operator approved it and, when it needs the provider too, the
//! provider department approved it; it may be `Rejected` while pending and
//! `Revoked` while pending or approved. Every change is a compare-and-set
//! on the stored `revision`, so two gateways sharing one PostgreSQL never
//! both decide on one agreement.
//!
//! A citizen's consent is kept per (citizen, consumer, purpose): granting
//! again after a revocation reuses the row.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Millis, Result};

/// Where an agreement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementState {
    /// Applied for; waiting for the approvals it needs.
    Pending,
    /// Every approval it needs was given: the consumer may read the item
    /// (until `expires_at`).
    Approved,
    /// Refused while pending.
    Rejected,
    /// Withdrawn while pending or approved.
    Revoked,
}

impl AgreementState {
    pub const ALL: [AgreementState; 4] = [
        AgreementState::Pending,
        AgreementState::Approved,
        AgreementState::Rejected,
        AgreementState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgreementState::Pending => "pending",
            AgreementState::Approved => "approved",
            AgreementState::Rejected => "rejected",
            AgreementState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<AgreementState> {
        AgreementState::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// An agreement to apply for (stored `Pending`, at revision 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgreement {
    /// Chosen by the caller (e.g. `agr-<uuid>`), unique.
    pub id: String,
    /// The consumer department's id.
    pub consumer: String,
    /// The provider department's id.
    pub provider: String,
    /// The data item, qualified by its department: `provider.item`.
    pub item: String,
    /// The fields granted.
    pub fields: Vec<String>,
    /// The sensitive fields granted unmasked.
    pub clear_fields: Vec<String>,
    /// The purpose code, e.g. `housing-loan-review`.
    pub purpose: String,
    pub legal_basis: String,
    pub expires_at: Millis,
    /// Approval also needs the provider department, not only an operator.
    pub needs_provider: bool,
    /// Who applied (a department or an operator).
    pub applied_by: String,
    pub applied_at: Millis,
}

/// Who decided, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: Millis,
}

/// A stored agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementRecord {
    #[serde(flatten)]
    pub agreement: NewAgreement,
    pub state: AgreementState,
    /// An operator's approval.
    pub operator_approval: Option<Decision>,
    /// The provider department's approval.
    pub provider_approval: Option<Decision>,
    /// Who rejected or revoked it, and when (`None` while pending or
    /// approved).
    pub closed: Option<Decision>,
    /// Why it was rejected or revoked.
    pub reason: Option<String>,
    /// 1 when applied for, one more on every change.
    pub revision: i64,
}

/// Whose approval [`SharingStore::approve_agreement`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approver {
    /// An operator of the gateway.
    Operator,
    /// The provider department (a department-scoped approver).
    Provider,
}

impl Approver {
    pub fn as_str(self) -> &'static str {
        match self {
            Approver::Operator => "operator",
            Approver::Provider => "provider",
        }
    }
}

/// Which agreements [`SharingStore::agreements`] lists: those matching
/// every condition given, newest applied first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgreementFilter {
    pub consumer: Option<String>,
    pub provider: Option<String>,
    /// A qualified item id (`provider.item`).
    pub item: Option<String>,
    pub state: Option<AgreementState>,
    /// At most this many; 0 means 100.
    pub limit: u32,
}

/// A citizen's consent to grant (`granted`) or revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConsent {
    pub citizen: String,
    /// The consumer department the consent is for.
    pub consumer: String,
    /// The purpose code it is for.
    pub purpose: String,
    pub granted: bool,
    pub at: Millis,
}

/// A stored consent of a citizen to a consumer for a purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub citizen: String,
    pub consumer: String,
    pub purpose: String,
    /// Whether the consent stands now.
    pub granted: bool,
    /// When it was last granted (`None` if it never was).
    pub granted_at: Option<Millis>,
    /// When it was revoked (`None` while granted).
    pub revoked_at: Option<Millis>,
    pub updated_at: Millis,
}

/// Data-sharing agreements and citizens' consents.
#[async_trait]
pub trait SharingStore: Send + Sync + 'static {
    /// Stores a new agreement, `Pending` at revision 1 with no approvals.
    /// A duplicate id is [`crate::StoreError::Conflict`].
    async fn create_agreement(&self, a: &NewAgreement) -> Result<AgreementRecord>;

    /// One agreement; `None` when it does not exist.
    async fn agreement(&self, id: &str) -> Result<Option<AgreementRecord>>;

    /// Agreements matching `filter`, newest applied first (`applied_at`,
    /// then id).
    async fn agreements(&self, filter: &AgreementFilter) -> Result<Vec<AgreementRecord>>;

    /// Agreements of `consumer` for `item` in any state, newest applied
    /// first: the exchange's hot-path lookup (one indexed query).
    async fn agreements_for(&self, consumer: &str, item: &str) -> Result<Vec<AgreementRecord>>;

    /// Records the approval of `who` (given `by`, `at`) on a `Pending`
    /// agreement, which becomes `Approved` once an operator approved it
    /// and, if it `needs_provider`, the provider approved it too. One
    /// transaction, a compare-and-set on the stored state and revision, so
    /// two gateways on one PostgreSQL never both decide.
    /// [`crate::StoreError::NotFound`] for an unknown id;
    /// [`crate::StoreError::Conflict`] when it is not pending (naming its
    /// state), when `who` already approved it, or when a concurrent writer
    /// changed it first. Returns the agreement as stored afterwards.
    async fn approve_agreement(
        &self,
        id: &str,
        who: Approver,
        by: &str,
        at: Millis,
    ) -> Result<AgreementRecord>;

    /// Rejects a `Pending` agreement (`Rejected`, with `closed` and
    /// `reason`). Errors as [`SharingStore::approve_agreement`].
    async fn reject_agreement(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        at: Millis,
    ) -> Result<AgreementRecord>;

    /// Revokes a `Pending` or `Approved` agreement (`Revoked`, with
    /// `closed` and `reason`). Errors as
    /// [`SharingStore::approve_agreement`].
    async fn revoke_agreement(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        at: Millis,
    ) -> Result<AgreementRecord>;

    /// Grants (`granted`) or revokes the citizen's consent to `consumer`
    /// for `purpose`, creating it if needed. A grant sets `granted_at` to
    /// `at` and clears `revoked_at`; a revocation sets `revoked_at` and
    /// keeps `granted_at`. Returns the consent as stored afterwards.
    async fn set_consent(&self, c: &NewConsent) -> Result<ConsentRecord>;

    /// One consent; `None` when the citizen never granted nor revoked it.
    async fn consent(
        &self,
        citizen: &str,
        consumer: &str,
        purpose: &str,
    ) -> Result<Option<ConsentRecord>>;

    /// A citizen's consents, most recently updated first (then by
    /// consumer and purpose), at most 1,000.
    async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>>;
}
