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

/// Columns bound per inserted row.
const INSERT_COLUMNS: usize = 12;

/// Rows per `INSERT` statement: 64 × 12 = 768 parameters, well below
/// SQLite's and PostgreSQL's limits.
const INSERT_CHUNK: usize = 64;

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
        for (records, fields) in stored.chunks(INSERT_CHUNK).zip(fields.chunks(INSERT_CHUNK)) {
            let sql = insert_sql(records.len());
            let mut query = sqlx::query(&sql);
            for (record, fields) in records.iter().zip(fields) {
                query = query
                    .bind(record.seq)
                    .bind(record.at)
                    .bind(record.consumer.as_str())
                    .bind(record.citizen.as_str())
                    .bind(record.item.as_str())
                    .bind(fields.as_str())
                    .bind(record.purpose.as_str())
                    .bind(record.agreement.as_deref())
                    .bind(record.request_id.as_str())
                    .bind(record.outcome.as_str())
                    .bind(record.prev_hash.as_str())
                    .bind(record.hash.as_str());
            }
            query.execute(&mut *tx).await.map_err(db)?;
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

/// `INSERT INTO access_audit … VALUES (…), (…)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(concat!(
        "INSERT INTO access_audit (",
        access_columns!(),
        ") VALUES "
    ));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..INSERT_COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * INSERT_COLUMNS + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_every_parameter() {
        let sql = insert_sql(2);
        assert!(sql.ends_with(
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12), \
             ($13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        ));
        assert_eq!(
            access_columns!().split(',').count(),
            INSERT_COLUMNS,
            "one parameter per column"
        );
    }
}
