//! Turning `AnyRow`s into records, and records into column values.
//!
//! Nothing read from the database is trusted: every column is decoded with
//! `try_get`, every enum and JSON text is parsed, and anything unexpected is
//! [`StoreError::Corrupt`] naming the table, column and row.

use std::collections::BTreeMap;

use onestop_core::registry::{ApprovalStatus, ServiceSpec, Verdict};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};

use super::error::{corrupt_json, db};
use crate::{
    AdminAuditRecord, ConfigVersion, ConfigVersionMeta, DecisionRecord, DeptTokenRecord,
    InstanceRecord, PurgeKind, PurgeRecord, Result, ServiceRecord, StoreError, VersionSource,
};

/// Columns of `services`, as [`service`] reads them (a macro, so that
/// `concat!` can build static SQL text).
macro_rules! service_columns {
    () => {
        "dept, service, revision, spec, status, approved_spec, approved_revision, \
         created_at, updated_at"
    };
}

/// Columns of `instances`, as [`instance`] reads them.
macro_rules! instance_columns {
    () => {
        "dept, service, addr, weight, lease_expires_at, registered_at"
    };
}

/// Columns of `dept_tokens`, as [`token`] reads them.
macro_rules! token_columns {
    () => {
        "id, dept, label, token_sha256, created_by, created_at, revoked_at"
    };
}

/// Columns of `decisions`, as [`decision`] reads them.
macro_rules! decision_columns {
    () => {
        "id, dept, service, revision, surface_hash, verdict, operator, reason, at"
    };
}

/// Columns of `config_versions` without the files, as [`version_meta`]
/// reads them ([`version`] also reads `files` and `diff`).
macro_rules! version_meta_columns {
    () => {
        "version, author, message, source, created_at, content_hash"
    };
}

/// Columns of `admin_audit`, as [`audit`] reads them.
macro_rules! audit_columns {
    () => {
        "id, operator, action, target, detail, at"
    };
}

/// Columns of `purges`, as [`purge`] reads them.
macro_rules! purge_columns {
    () => {
        "id, dept, kind, value, requested_by, at"
    };
}

/// One column, decoded.
pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(column).map_err(db)
}

/// A value as JSON text for a column.
pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("encoding {what}: {e}")))
}

pub(crate) fn service(row: &AnyRow) -> Result<ServiceRecord> {
    let dept: String = get(row, "dept")?;
    let service: String = get(row, "service")?;
    let key = format!("{dept}/{service}");
    let spec = json(&get::<String>(row, "spec")?, || {
        format!("services.spec of {key}")
    })?;
    let status: String = get(row, "status")?;
    let status = ApprovalStatus::parse(&status).ok_or_else(|| {
        StoreError::Corrupt(format!("services.status of {key}: unknown {status:?}"))
    })?;
    let approved_spec = match get::<Option<String>>(row, "approved_spec")? {
        Some(text) => Some(json::<ServiceSpec>(&text, || {
            format!("services.approved_spec of {key}")
        })?),
        None => None,
    };
    Ok(ServiceRecord {
        dept,
        service,
        revision: get(row, "revision")?,
        spec,
        status,
        approved_spec,
        approved_revision: get(row, "approved_revision")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn instance(row: &AnyRow) -> Result<InstanceRecord> {
    let dept: String = get(row, "dept")?;
    let service: String = get(row, "service")?;
    let addr: String = get(row, "addr")?;
    let weight: i64 = get(row, "weight")?;
    let weight = u32::try_from(weight).map_err(|_| {
        StoreError::Corrupt(format!(
            "instances.weight of {dept}/{service} {addr}: {weight} is out of range"
        ))
    })?;
    Ok(InstanceRecord {
        lease_expires_at: get(row, "lease_expires_at")?,
        registered_at: get(row, "registered_at")?,
        dept,
        service,
        addr,
        weight,
    })
}

pub(crate) fn token(row: &AnyRow) -> Result<DeptTokenRecord> {
    Ok(DeptTokenRecord {
        id: get(row, "id")?,
        dept: get(row, "dept")?,
        label: get(row, "label")?,
        token_sha256: get(row, "token_sha256")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn decision(row: &AnyRow) -> Result<DecisionRecord> {
    let id: i64 = get(row, "id")?;
    let verdict: String = get(row, "verdict")?;
    let verdict = Verdict::parse(&verdict).ok_or_else(|| {
        StoreError::Corrupt(format!("decisions.verdict of {id}: unknown {verdict:?}"))
    })?;
    Ok(DecisionRecord {
        id,
        dept: get(row, "dept")?,
        service: get(row, "service")?,
        revision: get(row, "revision")?,
        surface_hash: get(row, "surface_hash")?,
        verdict,
        operator: get(row, "operator")?,
        reason: get(row, "reason")?,
        at: get(row, "at")?,
    })
}

pub(crate) fn version_meta(row: &AnyRow) -> Result<ConfigVersionMeta> {
    let version: i64 = get(row, "version")?;
    let source: String = get(row, "source")?;
    let source = VersionSource::parse(&source).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "config_versions.source of {version}: unknown {source:?}"
        ))
    })?;
    Ok(ConfigVersionMeta {
        version,
        author: get(row, "author")?,
        message: get(row, "message")?,
        source,
        created_at: get(row, "created_at")?,
        content_hash: get(row, "content_hash")?,
    })
}

/// A version with `files` and `diff` (selected after the meta columns).
pub(crate) fn version(row: &AnyRow) -> Result<ConfigVersion> {
    let meta = version_meta(row)?;
    let files: BTreeMap<String, String> = json(&get::<String>(row, "files")?, || {
        format!("config_versions.files of {}", meta.version)
    })?;
    Ok(ConfigVersion {
        files,
        diff: get(row, "diff")?,
        meta,
    })
}

pub(crate) fn audit(row: &AnyRow) -> Result<AdminAuditRecord> {
    Ok(AdminAuditRecord {
        id: get(row, "id")?,
        operator: get(row, "operator")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        detail: get(row, "detail")?,
        at: get(row, "at")?,
    })
}

pub(crate) fn purge(row: &AnyRow) -> Result<PurgeRecord> {
    let id: i64 = get(row, "id")?;
    let kind: String = get(row, "kind")?;
    let kind = PurgeKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("purges.kind of {id}: unknown {kind:?}")))?;
    Ok(PurgeRecord {
        id,
        dept: get(row, "dept")?,
        kind,
        value: get(row, "value")?,
        requested_by: get(row, "requested_by")?,
        at: get(row, "at")?,
    })
}

pub(crate) fn json<T: DeserializeOwned>(text: &str, what: impl FnOnce() -> String) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt_json(&what(), &e))
}
