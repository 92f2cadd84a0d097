//! [`SharingStore`] for [`SqlStore`]: data-sharing agreements and
//! citizens' consents (tables of `0005_sharing.sql`).
//!
//! A decision on an agreement reads it, checks its state in Rust (so that
//! a refusal names the state it found), and writes with
//! `UPDATE … WHERE id = … AND state = … AND revision = …`: the check and
//! the write are one compare-and-set, so on PostgreSQL (`READ COMMITTED`)
//! a concurrent decision that committed in between makes this one match
//! nothing, and it is refused as [`StoreError::Conflict`] instead of
//! overwriting; SQLite's `BEGIN IMMEDIATE` serialises writers anyway.
//! Writes announce no [`crate::Change`].

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::SqlStore;
use super::error::{db, is_unique_violation};
use super::rows::{get, json, to_json};
use crate::{
    AgreementFilter, AgreementRecord, AgreementState, Approver, ConsentRecord, Decision, Millis,
    NewAgreement, NewConsent, Result, SharingStore, StoreError,
};

/// Columns of `sharing_agreements`, as [`agreement`] reads them.
macro_rules! agreement_columns {
    () => {
        "id, consumer, provider, item, fields, clear_fields, purpose, legal_basis, expires_at, \
         needs_provider, applied_by, applied_at, state, operator_by, operator_at, provider_by, \
         provider_at, closed_by, closed_at, reason, revision"
    };
}

/// Columns of `sharing_consents`, as [`consent`] reads them.
macro_rules! consent_columns {
    () => {
        "citizen, consumer, purpose, granted, granted_at, revoked_at, updated_at"
    };
}

/// How many agreements [`SharingStore::agreements`] lists for a limit of 0.
const DEFAULT_AGREEMENTS_LIMIT: u32 = 100;

/// The most consents [`SharingStore::consents`] lists.
const CONSENTS_LIMIT: i64 = 1_000;

impl SqlStore {
    async fn do_create_agreement(&self, a: &NewAgreement) -> Result<AgreementRecord> {
        let fields = to_json(&a.fields, "the agreement's fields")?;
        let clear_fields = to_json(&a.clear_fields, "the agreement's clear fields")?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO sharing_agreements (id, consumer, provider, item, fields, clear_fields, \
             purpose, legal_basis, expires_at, needs_provider, applied_by, applied_at, state, \
             revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)",
        )
        .bind(a.id.as_str())
        .bind(a.consumer.as_str())
        .bind(a.provider.as_str())
        .bind(a.item.as_str())
        .bind(fields)
        .bind(clear_fields)
        .bind(a.purpose.as_str())
        .bind(a.legal_basis.as_str())
        .bind(a.expires_at)
        .bind(i64::from(a.needs_provider))
        .bind(a.applied_by.as_str())
        .bind(a.applied_at)
        .bind(AgreementState::Pending.as_str())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict(format!(
                    "agreement {} already exists",
                    a.id
                )));
            }
            Err(error) => return Err(db(error)),
        }
        self.commit(tx, None).await?;
        Ok(AgreementRecord {
            agreement: a.clone(),
            state: AgreementState::Pending,
            operator_approval: None,
            provider_approval: None,
            closed: None,
            reason: None,
            revision: 1,
        })
    }

    async fn do_agreement(&self, id: &str) -> Result<Option<AgreementRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            agreement_columns!(),
            " FROM sharing_agreements WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(agreement)
        .transpose()
    }

    async fn do_agreements(&self, filter: &AgreementFilter) -> Result<Vec<AgreementRecord>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            agreement_columns!(),
            " FROM sharing_agreements WHERE 1 = 1"
        ));
        let mut n = 0;
        for (value, column) in [
            (filter.consumer.is_some(), "consumer"),
            (filter.provider.is_some(), "provider"),
            (filter.item.is_some(), "item"),
            (filter.state.is_some(), "state"),
        ] {
            if value {
                n += 1;
                sql.push_str(&format!(" AND {column} = ${n}"));
            }
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY applied_at DESC, id DESC LIMIT ${n}"));
        let mut query = sqlx::query(&sql);
        for value in [
            filter.consumer.as_deref(),
            filter.provider.as_deref(),
            filter.item.as_deref(),
            filter.state.map(AgreementState::as_str),
        ]
        .into_iter()
        .flatten()
        {
            query = query.bind(value);
        }
        let limit = match filter.limit {
            0 => DEFAULT_AGREEMENTS_LIMIT,
            limit => limit,
        };
        let found = query
            .bind(i64::from(limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?;
        found.iter().map(agreement).collect()
    }

    async fn do_agreements_for(&self, consumer: &str, item: &str) -> Result<Vec<AgreementRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            agreement_columns!(),
            " FROM sharing_agreements WHERE consumer = $1 AND item = $2 \
             ORDER BY applied_at DESC, id DESC"
        ))
        .bind(consumer)
        .bind(item)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        found.iter().map(agreement).collect()
    }

    async fn do_approve_agreement(
        &self,
        id: &str,
        who: Approver,
        by: &str,
        at: Millis,
    ) -> Result<AgreementRecord> {
        let mut tx = self.begin_write().await?;
        let current = load_agreement(&mut tx, id).await?;
        if current.state != AgreementState::Pending {
            return Err(wrong_state(&current, "approved", "pending"));
        }
        let given = match who {
            Approver::Operator => &current.operator_approval,
            Approver::Provider => &current.provider_approval,
        };
        if let Some(given) = given {
            return Err(StoreError::Conflict(format!(
                "agreement {id} already has the {}'s approval (by {}, at {})",
                who.as_str(),
                given.by,
                given.at
            )));
        }
        let operator_approved = who == Approver::Operator || current.operator_approval.is_some();
        let provider_approved = who == Approver::Provider || current.provider_approval.is_some();
        let state = if operator_approved && (provider_approved || !current.agreement.needs_provider)
        {
            AgreementState::Approved
        } else {
            AgreementState::Pending
        };
        let sql = match who {
            Approver::Operator => concat!(
                "UPDATE sharing_agreements SET operator_by = $1, operator_at = $2, state = $3, \
                 revision = revision + 1 WHERE id = $4 AND state = $5 AND revision = $6 \
                 AND operator_at IS NULL RETURNING ",
                agreement_columns!()
            ),
            Approver::Provider => concat!(
                "UPDATE sharing_agreements SET provider_by = $1, provider_at = $2, state = $3, \
                 revision = revision + 1 WHERE id = $4 AND state = $5 AND revision = $6 \
                 AND provider_at IS NULL RETURNING ",
                agreement_columns!()
            ),
        };
        let row = sqlx::query(sql)
            .bind(by)
            .bind(at)
            .bind(state.as_str())
            .bind(id)
            .bind(current.state.as_str())
            .bind(current.revision)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        self.finish_decision(tx, &current, row).await
    }

    /// Rejects (`to` = `Rejected`) or revokes (`Revoked`) an agreement that
    /// is in one of the states `from`.
    async fn do_close_agreement(
        &self,
        id: &str,
        to: AgreementState,
        from: &[AgreementState],
        by: &str,
        reason: &str,
        at: Millis,
    ) -> Result<AgreementRecord> {
        let mut tx = self.begin_write().await?;
        let current = load_agreement(&mut tx, id).await?;
        if !from.contains(&current.state) {
            let allowed = from
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(wrong_state(&current, to.as_str(), &allowed));
        }
        let row = sqlx::query(concat!(
            "UPDATE sharing_agreements SET state = $1, closed_by = $2, closed_at = $3, \
             reason = $4, revision = revision + 1 \
             WHERE id = $5 AND state = $6 AND revision = $7 RETURNING ",
            agreement_columns!()
        ))
        .bind(to.as_str())
        .bind(by)
        .bind(at)
        .bind(reason)
        .bind(id)
        .bind(current.state.as_str())
        .bind(current.revision)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        self.finish_decision(tx, &current, row).await
    }

    /// Commits a decision whose compare-and-set returned `row` (`None`: it
    /// matched nothing, because a concurrent writer changed `current`
    /// after it was read).
    async fn finish_decision(
        &self,
        tx: Transaction<'static, Any>,
        current: &AgreementRecord,
        row: Option<AnyRow>,
    ) -> Result<AgreementRecord> {
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "agreement {} changed concurrently (it was {} at revision {})",
                current.agreement.id,
                current.state.as_str(),
                current.revision
            )));
        };
        let record = agreement(&row)?;
        self.commit(tx, None).await?;
        Ok(record)
    }

    async fn do_set_consent(&self, c: &NewConsent) -> Result<ConsentRecord> {
        // A grant (re)sets granted_at and clears revoked_at; a revocation
        // sets revoked_at and keeps granted_at (NULL if never granted).
        let sql = if c.granted {
            concat!(
                "INSERT INTO sharing_consents (citizen, consumer, purpose, granted, granted_at, \
                 revoked_at, updated_at) VALUES ($1, $2, $3, 1, $4, NULL, $4) \
                 ON CONFLICT (citizen, consumer, purpose) DO UPDATE SET granted = 1, \
                 granted_at = excluded.granted_at, revoked_at = NULL, \
                 updated_at = excluded.updated_at RETURNING ",
                consent_columns!()
            )
        } else {
            concat!(
                "INSERT INTO sharing_consents (citizen, consumer, purpose, granted, granted_at, \
                 revoked_at, updated_at) VALUES ($1, $2, $3, 0, NULL, $4, $4) \
                 ON CONFLICT (citizen, consumer, purpose) DO UPDATE SET granted = 0, \
                 revoked_at = excluded.revoked_at, updated_at = excluded.updated_at RETURNING ",
                consent_columns!()
            )
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sql)
            .bind(c.citizen.as_str())
            .bind(c.consumer.as_str())
            .bind(c.purpose.as_str())
            .bind(c.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let record = consent(&row)?;
        self.commit(tx, None).await?;
        Ok(record)
    }

    async fn do_consent(
        &self,
        citizen: &str,
        consumer: &str,
        purpose: &str,
    ) -> Result<Option<ConsentRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            consent_columns!(),
            " FROM sharing_consents WHERE citizen = $1 AND consumer = $2 AND purpose = $3"
        ))
        .bind(citizen)
        .bind(consumer)
        .bind(purpose)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(consent)
        .transpose()
    }

    async fn do_consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            consent_columns!(),
            " FROM sharing_consents WHERE citizen = $1 \
             ORDER BY updated_at DESC, consumer, purpose LIMIT $2"
        ))
        .bind(citizen)
        .bind(CONSENTS_LIMIT)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        found.iter().map(consent).collect()
    }
}

#[async_trait]
impl SharingStore for SqlStore {
    async fn create_agreement(&self, a: &NewAgreement) -> Result<AgreementRecord> {
        self.bounded("create_agreement", self.do_create_agreement(a))
            .await
    }

    async fn agreement(&self, id: &str) -> Result<Option<AgreementRecord>> {
        self.bounded("agreement", self.do_agreement(id)).await
    }

    async fn agreements(&self, filter: &AgreementFilter) -> Result<Vec<AgreementRecord>> {
        self.bounded("agreements", self.do_agreements(filter)).await
    }

    async fn agreements_for(&self, consumer: &str, item: &str) -> Result<Vec<AgreementRecord>> {
        self.bounded("agreements_for", self.do_agreements_for(consumer, item))
            .await
    }

    async fn approve_agreement(
        &self,
        id: &str,
        who: Approver,
        by: &str,
        at: Millis,
    ) -> Result<AgreementRecord> {
        self.bounded(
            "approve_agreement",
            self.do_approve_agreement(id, who, by, at),
        )
        .await
    }

    async fn reject_agreement(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        at: Millis,
    ) -> Result<AgreementRecord> {
        self.bounded(
            "reject_agreement",
            self.do_close_agreement(
                id,
                AgreementState::Rejected,
                &[AgreementState::Pending],
                by,
                reason,
                at,
            ),
        )
        .await
    }

    async fn revoke_agreement(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        at: Millis,
    ) -> Result<AgreementRecord> {
        self.bounded(
            "revoke_agreement",
            self.do_close_agreement(
                id,
                AgreementState::Revoked,
                &[AgreementState::Pending, AgreementState::Approved],
                by,
                reason,
                at,
            ),
        )
        .await
    }

    async fn set_consent(&self, c: &NewConsent) -> Result<ConsentRecord> {
        self.bounded("set_consent", self.do_set_consent(c)).await
    }

    async fn consent(
        &self,
        citizen: &str,
        consumer: &str,
        purpose: &str,
    ) -> Result<Option<ConsentRecord>> {
        self.bounded("consent", self.do_consent(citizen, consumer, purpose))
            .await
    }

    async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>> {
        self.bounded("consents", self.do_consents(citizen)).await
    }
}

/// The agreement to decide on; [`StoreError::NotFound`] when there is none.
async fn load_agreement(tx: &mut Transaction<'static, Any>, id: &str) -> Result<AgreementRecord> {
    let row = sqlx::query(concat!(
        "SELECT ",
        agreement_columns!(),
        " FROM sharing_agreements WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    match row {
        Some(row) => agreement(&row),
        None => Err(StoreError::NotFound(format!("agreement {id}"))),
    }
}

/// Why `current` cannot become `to`: it is not in a state it could be
/// `to` from (`allowed`).
fn wrong_state(current: &AgreementRecord, to: &str, allowed: &str) -> StoreError {
    let closed = current
        .closed
        .as_ref()
        .map_or_else(String::new, |c| format!(" (by {}, at {})", c.by, c.at));
    StoreError::Conflict(format!(
        "agreement {} is {}{closed}: only a {allowed} agreement can be {to}",
        current.agreement.id,
        current.state.as_str()
    ))
}

// ----- rows ----------------------------------------------------------------

/// A 0/1 column as a flag.
fn flag(row: &AnyRow, table: &str, column: &str, key: &str) -> Result<bool> {
    match get::<i64>(row, column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::Corrupt(format!(
            "{table}.{column} of {key}: {other} is not 0 or 1"
        ))),
    }
}

/// A decision from a `(…_by, …_at)` pair of columns, both set or neither.
fn decision(row: &AnyRow, prefix: &str, id: &str) -> Result<Option<Decision>> {
    let by_column = format!("{prefix}_by");
    let at_column = format!("{prefix}_at");
    let by: Option<String> = get(row, &by_column)?;
    let at: Option<Millis> = get(row, &at_column)?;
    match (by, at) {
        (Some(by), Some(at)) => Ok(Some(Decision { by, at })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(format!(
            "sharing_agreements.{by_column} and {at_column} of {id}: one is set without the other"
        ))),
    }
}

fn agreement(row: &AnyRow) -> Result<AgreementRecord> {
    let id: String = get(row, "id")?;
    let fields = json(&get::<String>(row, "fields")?, || {
        format!("sharing_agreements.fields of {id}")
    })?;
    let clear_fields = json(&get::<String>(row, "clear_fields")?, || {
        format!("sharing_agreements.clear_fields of {id}")
    })?;
    let state: String = get(row, "state")?;
    let state = AgreementState::parse(&state).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "sharing_agreements.state of {id}: unknown {state:?}"
        ))
    })?;
    Ok(AgreementRecord {
        state,
        operator_approval: decision(row, "operator", &id)?,
        provider_approval: decision(row, "provider", &id)?,
        closed: decision(row, "closed", &id)?,
        reason: get(row, "reason")?,
        revision: get(row, "revision")?,
        agreement: NewAgreement {
            consumer: get(row, "consumer")?,
            provider: get(row, "provider")?,
            item: get(row, "item")?,
            fields,
            clear_fields,
            purpose: get(row, "purpose")?,
            legal_basis: get(row, "legal_basis")?,
            expires_at: get(row, "expires_at")?,
            needs_provider: flag(row, "sharing_agreements", "needs_provider", &id)?,
            applied_by: get(row, "applied_by")?,
            applied_at: get(row, "applied_at")?,
            id,
        },
    })
}

fn consent(row: &AnyRow) -> Result<ConsentRecord> {
    let citizen: String = get(row, "citizen")?;
    let consumer: String = get(row, "consumer")?;
    let purpose: String = get(row, "purpose")?;
    let granted = flag(
        row,
        "sharing_consents",
        "granted",
        &format!("{citizen}/{consumer}/{purpose}"),
    )?;
    Ok(ConsentRecord {
        granted,
        granted_at: get(row, "granted_at")?,
        revoked_at: get(row, "revoked_at")?,
        updated_at: get(row, "updated_at")?,
        citizen,
        consumer,
        purpose,
    })
}
