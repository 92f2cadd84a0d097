//! [`AccessAuditStore`] for [`SqlStore`]: the chained access audit log
//! (table of `0004_access_audit.sql`).
//!
//! An append reads the newest `(seq, hash)` and inserts the batch after it
//! in one transaction. Appenders are serialised: on SQLite by
//! `BEGIN IMMEDIATE`, on PostgreSQL by `LOCK TABLE access_audit IN
//! EXCLUSIVE MODE` (readers are not blocked), so two appenders never read
//! the same predecessor and the chain never forks; the primary key on
//! `seq` would refuse a fork anyway. Appends announce no [`crate::Change`].

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};

use super::SqlStore;
use super::error::db;
use super::rows::to_json;
use crate::{
    AccessAuditStore, AccessRecord, Backend, GENESIS, NewAccessRecord, Result, StoreError,
};

/// Columns of `access_audit`, as [`record`] reads them.
macro_rules! access_columns {
    () => {
        "seq, at, consumer, citizen, item, fields, purpose, agreement, request_id, outcome, \
         prev_hash, hash"
    };
}

/// The batch arrives as one JSON parameter, an array of rows (each an
/// array in the order of [`access_columns`]), unpacked by the database:
/// one statement and one bound value per batch, whatever its size (binding
/// hundreds of numbered parameters costs SQLite time quadratic in their
/// number).
const INSERT_SQLITE: &str = concat!(
    "INSERT INTO access_audit (",
    access_columns!(),
    ") SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
     json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
     json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
     json_extract(value, '$[6]'), json_extract(value, '$[7]'), \
     json_extract(value, '$[8]'), json_extract(value, '$[9]'), \
     json_extract(value, '$[10]'), json_extract(value, '$[11]') \
     FROM json_each($1) ORDER BY key"
);

/// [`INSERT_SQLITE`] for PostgreSQL.
const INSERT_POSTGRES: &str = concat!(
    "INSERT INTO access_audit (",
    access_columns!(),
    ") SELECT (r->>0)::bigint, (r->>1)::bigint, r->>2, r->>3, r->>4, r->>5, r->>6, \
     r->>7, r->>8, r->>9, r->>10, r->>11 \
     FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n"
);

impl SqlStore {
    async fn do_append_access(&self, batch: &[NewAccessRecord]) -> Result<Vec<AccessRecord>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let fields = batch
            .iter()
            .map(|r| to_json(&r.fields, "the audited fields"))
            .collect::<Result<Vec<String>>>()?;
        let mut tx = self.begin_write().await?;
        if self.inner.backend == Backend::Postgres {
            // Serialise appenders (SQLite's BEGIN IMMEDIATE already does):
            // each must read the predecessor the previous one wrote.
            // EXCLUSIVE does not block readers.
            sqlx::query("LOCK TABLE access_audit IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let last = sqlx::query("SELECT seq, hash FROM access_audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let (mut seq, mut prev) = match &last {
            Some(row) => {
                let seq: i64 = column(row, "seq", None)?;
                (seq, column::<String>(row, "hash", Some(seq))?)
            }
            None => (0, GENESIS.to_string()),
        };
        let mut stored = Vec::with_capacity(batch.len());
        for new in batch {
            seq += 1;
            let record = AccessRecord::chained(&prev, seq, new);
            prev.clone_from(&record.hash);
            stored.push(record);
        }
        // Tuples serialise as JSON arrays, without building `Value`s.
        let rows: Vec<_> = stored
            .iter()
            .zip(&fields)
            .map(|(r, fields)| {
                (
                    r.seq,
                    r.at,
                    &r.consumer,
                    &r.citizen,
                    &r.item,
                    fields,
                    &r.purpose,
                    &r.agreement,
                    &r.request_id,
                    &r.outcome,
                    &r.prev_hash,
                    &r.hash,
                )
            })
            .collect();
        let sql = match self.inner.backend {
            Backend::Sqlite => INSERT_SQLITE,
            Backend::Postgres => INSERT_POSTGRES,
        };
        let inserted = sqlx::query(sql)
            .bind(to_json(&rows, "the audit batch")?)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if inserted.rows_affected() != stored.len() as u64 {
            return Err(StoreError::Other(format!(
                "appended {} of {} audit records",
                inserted.rows_affected(),
                stored.len()
            )));
        }
        self.commit(tx, None).await?;
        Ok(stored)
    }

    async fn do_access_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AccessRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            access_columns!(),
            " FROM access_audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2"
        ))
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await;
        found.map_err(db)?.iter().map(record).collect()
    }

    async fn do_citizen_access(
        &self,
        citizen: &str,
        limit: u32,
        before_seq: Option<i64>,
    ) -> Result<Vec<AccessRecord>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            access_columns!(),
            " FROM access_audit WHERE citizen = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(citizen)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await;
        found.map_err(db)?.iter().map(record).collect()
    }

    async fn do_last_access_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM access_audit")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db)?;
        column(&row, "seq", None)
    }
}

#[async_trait]
impl AccessAuditStore for SqlStore {
    async fn append_access(&self, batch: &[NewAccessRecord]) -> Result<Vec<AccessRecord>> {
        self.bounded("append_access", self.do_append_access(batch))
            .await
    }

    async fn access_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AccessRecord>> {
        self.bounded("access_records", self.do_access_records(after_seq, limit))
            .await
    }

    async fn citizen_access(
        &self,
        citizen: &str,
        limit: u32,
        before_seq: Option<i64>,
    ) -> Result<Vec<AccessRecord>> {
        self.bounded(
            "citizen_access",
            self.do_citizen_access(citizen, limit, before_seq),
        )
        .await
    }

    async fn last_access_seq(&self) -> Result<i64> {
        self.bounded("last_access_seq", self.do_last_access_seq())
            .await
    }
}

/// One column of `access_audit`; anything undecodable is
/// [`StoreError::Corrupt`] naming the column and (when known) the record.
fn column<'r, T>(row: &'r AnyRow, name: &str, seq: Option<i64>) -> Result<T>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(name).map_err(|e| {
        let at = seq.map_or_else(String::new, |seq| format!(" of record {seq}"));
        StoreError::Corrupt(format!("access_audit.{name}{at}: {e}"))
    })
}

fn record(row: &AnyRow) -> Result<AccessRecord> {
    let seq: i64 = column(row, "seq", None)?;
    let get_text = |name: &str| column::<String>(row, name, Some(seq));
    let fields: Vec<String> = serde_json::from_str(&get_text("fields")?).map_err(|e| {
        StoreError::Corrupt(format!(
            "access_audit.fields of record {seq}: not a JSON array of strings: {e}"
        ))
    })?;
    Ok(AccessRecord {
        seq,
        prev_hash: get_text("prev_hash")?,
        hash: get_text("hash")?,
        at: column(row, "at", Some(seq))?,
        consumer: get_text("consumer")?,
        citizen: get_text("citizen")?,
        item: get_text("item")?,
        fields,
        purpose: get_text("purpose")?,
        agreement: column(row, "agreement", Some(seq))?,
        request_id: get_text("request_id")?,
        outcome: get_text("outcome")?,
    })
}
