//! The rows the store keeps, as plain Rust types.

use std::collections::BTreeMap;

use onestop_core::registry::{ApprovalStatus, ServiceSpec, Verdict};
use serde::{Deserialize, Serialize};

use crate::Millis;

/// One registered service (all its revisions collapse into one row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub dept: String,
    pub service: String,
    /// Increments whenever the submitted spec changes (1 for a new service).
    pub revision: i64,
    /// The latest submitted spec.
    pub spec: ServiceSpec,
    /// Status of the latest revision.
    pub status: ApprovalStatus,
    /// What serves traffic: the last approved spec, with later operational
    /// changes (instances aside) applied. `None` until first approved.
    pub approved_spec: Option<ServiceSpec>,
    pub approved_revision: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One instance of a registered service and its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub dept: String,
    pub service: String,
    /// `ip:port`.
    pub addr: String,
    pub weight: u32,
    pub lease_expires_at: Millis,
    pub registered_at: Millis,
}

/// Extend one instance's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRenewal {
    pub dept: String,
    pub service: String,
    pub addr: String,
    pub expires_at: Millis,
}

/// An operator's decision on a revision (append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub dept: String,
    pub service: String,
    pub revision: i64,
    pub surface_hash: String,
    pub verdict: Verdict,
    pub operator: String,
    pub reason: String,
    pub at: Millis,
}

/// An operator's decision to record (see `Store::decide`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    pub dept: String,
    pub service: String,
    pub revision: i64,
    pub verdict: Verdict,
    pub operator: String,
    pub reason: String,
    pub at: Millis,
}

/// A department credential to store: only the SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeptToken {
    pub dept: String,
    pub label: String,
    /// Lower-case hex SHA-256 of the bearer token.
    pub token_sha256: String,
    pub created_by: String,
    pub created_at: Millis,
}

/// A stored department credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptTokenRecord {
    pub id: i64,
    pub dept: String,
    pub label: String,
    pub token_sha256: String,
    pub created_by: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// Everything the registry keeps, as loaded in one consistent read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryRows {
    pub services: Vec<ServiceRecord>,
    pub instances: Vec<InstanceRecord>,
    pub tokens: Vec<DeptTokenRecord>,
}

/// How a configuration version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// Loaded from the files at start-up or on a reload (file change, SIGHUP).
    File,
    /// Changed through the admin API.
    Api,
    /// A rollback to an earlier version.
    Rollback,
}

impl VersionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionSource::File => "file",
            VersionSource::Api => "api",
            VersionSource::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<VersionSource> {
        match s {
            "file" => Some(VersionSource::File),
            "api" => Some(VersionSource::Api),
            "rollback" => Some(VersionSource::Rollback),
            _ => None,
        }
    }
}

/// A configuration version to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfigVersion {
    pub author: String,
    pub message: String,
    pub source: VersionSource,
    pub created_at: Millis,
    /// Hex SHA-256 over the files (see `onestop_config::bundle`).
    pub content_hash: String,
    /// Relative path (`onestop.toml`, `departments/hpf.toml`) → text.
    pub files: BTreeMap<String, String>,
    /// Unified diff against the previous version ("" for the first).
    pub diff: String,
}

/// A version without its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersionMeta {
    pub version: i64,
    pub author: String,
    pub message: String,
    pub source: VersionSource,
    pub created_at: Millis,
    pub content_hash: String,
}

/// A stored configuration version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    #[serde(flatten)]
    pub meta: ConfigVersionMeta,
    pub files: BTreeMap<String, String>,
    pub diff: String,
}

/// An admin-API action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdminAudit {
    pub operator: String,
    /// e.g. `config.route.put`, `registry.approve`, `dept_token.issue`.
    pub action: String,
    /// What it acted on, e.g. `hpf/balance` or `config@12`.
    pub target: String,
    /// A JSON document with the details.
    pub detail: String,
    pub at: Millis,
}

/// A recorded admin-API action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAuditRecord {
    pub id: i64,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: Millis,
}

/// What a purge of the response cache removes (of one department's entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeKind {
    /// Entries whose path is the value or lies under it.
    Prefix,
    /// Entries tagged with the value.
    Tag,
    /// Every entry of the department (the value is empty).
    All,
}

impl PurgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeKind::Prefix => "prefix",
            PurgeKind::Tag => "tag",
            PurgeKind::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<PurgeKind> {
        match s {
            "prefix" => Some(PurgeKind::Prefix),
            "tag" => Some(PurgeKind::Tag),
            "all" => Some(PurgeKind::All),
            _ => None,
        }
    }
}

/// A purge of the response cache to record (see `Store::append_purge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPurge {
    pub dept: String,
    pub kind: PurgeKind,
    /// The path prefix or the tag; empty for [`PurgeKind::All`].
    pub value: String,
    /// Who asked: `dept:<id>` (control plane) or `operator:<name>` (admin API).
    pub requested_by: String,
    pub at: Millis,
}

/// A recorded purge. Ids increase in the order purges were recorded (and
/// became visible), and are never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRecord {
    pub id: i64,
    pub dept: String,
    pub kind: PurgeKind,
    pub value: String,
    pub requested_by: String,
    pub at: Millis,
}
