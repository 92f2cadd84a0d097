//! [`AssessmentStore`] for [`SqlStore`]: traffic roll-ups (table of
//! `0008_rollups.sql`) and period figures over cases, steps, ratings and
//! follow-ups (tables of `0003_cases.sql`).
//!
//! A roll-up is added with one `INSERT … ON CONFLICT … DO UPDATE SET x =
//! x + excluded.x` per row, which both SQLite and PostgreSQL run as one
//! atomic statement. Sums are cast to `BIGINT`: PostgreSQL's `SUM` of a
//! `BIGINT` is `NUMERIC`, which the `Any` driver cannot decode.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::error::db;
use super::rows::get;
use crate::{
    AssessmentStore, DeptPeriodFigures, LATENCY_BUCKETS, Millis, Result, StoreError, TrafficCounts,
    TrafficDelta, TrafficRow,
};

/// `b00`, `b01`, … `b16`.
fn bucket_columns() -> Vec<String> {
    (0..LATENCY_BUCKETS).map(|i| format!("b{i:02}")).collect()
}

/// The upsert that adds one delta to its row.
static ADD_SQL: LazyLock<String> = LazyLock::new(|| {
    let buckets = bucket_columns();
    let columns = format!(
        "span_ms, start_ms, dept, gateway, requests, errors, client_errors, {}",
        buckets.join(", ")
    );
    let params: Vec<String> = (1..=7 + LATENCY_BUCKETS).map(|i| format!("${i}")).collect();
    let sums: Vec<String> = ["requests", "errors", "client_errors"]
        .iter()
        .map(|c| (*c).to_string())
        .chain(buckets)
        .map(|c| format!("{c} = traffic_rollups.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO traffic_rollups ({columns}) VALUES ({}) \
         ON CONFLICT (span_ms, start_ms, dept, gateway) DO UPDATE SET {}",
        params.join(", "),
        sums.join(", ")
    )
});

/// `CAST(SUM(x) AS BIGINT) AS x` for every counted column.
static SUMS: LazyLock<String> = LazyLock::new(|| {
    ["requests", "errors", "client_errors"]
        .iter()
        .map(|c| (*c).to_string())
        .chain(bucket_columns())
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
});

static TOTALS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT dept, {} FROM traffic_rollups \
         WHERE span_ms = $1 AND start_ms >= $2 AND start_ms < $3 GROUP BY dept ORDER BY dept",
        *SUMS
    )
});

static SERIES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT dept, start_ms, {} FROM traffic_rollups \
         WHERE span_ms = $1 AND start_ms >= $2 AND start_ms < $3 \
         GROUP BY dept, start_ms ORDER BY dept, start_ms",
        *SUMS
    )
});

/// The counted columns of a summed row.
fn counts(row: &AnyRow) -> Result<TrafficCounts> {
    let mut c = TrafficCounts {
        requests: get(row, "requests")?,
        errors: get(row, "errors")?,
        client_errors: get(row, "client_errors")?,
        ..TrafficCounts::default()
    };
    for (i, slot) in c.buckets.iter_mut().enumerate() {
        *slot = get(row, &format!("b{i:02}"))?;
    }
    Ok(c)
}

/// A count that must not be negative (a delta or a stored sum).
fn non_negative(what: &str, dept: &str, n: i64) -> Result<i64> {
    if n < 0 {
        return Err(StoreError::Other(format!(
            "traffic delta of {dept}: {what} is negative ({n})"
        )));
    }
    Ok(n)
}

impl SqlStore {
    async fn do_add_traffic(&self, deltas: &[TrafficDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        for d in deltas {
            non_negative("requests", &d.dept, d.counts.requests)?;
            non_negative("errors", &d.dept, d.counts.errors)?;
            non_negative("client_errors", &d.dept, d.counts.client_errors)?;
            for b in d.counts.buckets {
                non_negative("a latency bucket", &d.dept, b)?;
            }
            if d.span_ms <= 0 || d.start_ms % d.span_ms != 0 {
                return Err(StoreError::Other(format!(
                    "traffic delta of {}: start {} is not a multiple of the span {}",
                    d.dept, d.start_ms, d.span_ms
                )));
            }
        }
        let mut tx = self.begin_write().await?;
        for d in deltas {
            let mut q = sqlx::query(ADD_SQL.as_str())
                .bind(d.span_ms)
                .bind(d.start_ms)
                .bind(d.dept.as_str())
                .bind(d.gateway.as_str())
                .bind(d.counts.requests)
                .bind(d.counts.errors)
                .bind(d.counts.client_errors);
            for b in d.counts.buckets {
                q = q.bind(b);
            }
            q.execute(&mut *tx).await.map_err(db)?;
        }
        self.commit(tx, None).await
    }

    async fn do_traffic(&self, span: Millis, from: Millis, to: Millis) -> Result<Vec<TrafficRow>> {
        let rows = sqlx::query(TOTALS_SQL.as_str())
            .bind(span)
            .bind(from)
            .bind(to)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(TrafficRow {
                    dept: get(row, "dept")?,
                    start_ms: from,
                    counts: counts(row)?,
                })
            })
            .collect()
    }

    async fn do_traffic_series(
        &self,
        span: Millis,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<TrafficRow>> {
        let rows = sqlx::query(SERIES_SQL.as_str())
            .bind(span)
            .bind(from)
            .bind(to)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(TrafficRow {
                    dept: get(row, "dept")?,
                    start_ms: get(row, "start_ms")?,
                    counts: counts(row)?,
                })
            })
            .collect()
    }

    async fn do_prune_traffic(&self, span: Millis, before: Millis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM traffic_rollups WHERE span_ms = $1 AND start_ms < $2")
            .bind(span)
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        self.commit(tx, None).await?;
        Ok(n)
    }

    async fn do_period_figures(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<BTreeMap<String, DeptPeriodFigures>> {
        let mut tx = self.begin_read().await?;
        // Steps by deadline: answered (finished, not skipped) on time or
        // late; unanswered past the deadline at `now`, or not yet due.
        let steps = sqlx::query(
            "SELECT dept, \
             COUNT(CASE WHEN finished_at IS NOT NULL AND state <> 'skipped' \
                        AND finished_at <= deadline_at THEN 1 END) AS on_time, \
             COUNT(CASE WHEN finished_at IS NOT NULL AND state <> 'skipped' \
                        AND finished_at > deadline_at THEN 1 END) AS late, \
             COUNT(CASE WHEN finished_at IS NULL AND state IN ('pending', 'running') \
                        AND deadline_at < $3 THEN 1 END) AS overdue_open, \
             COUNT(CASE WHEN finished_at IS NULL AND state IN ('pending', 'running') \
                        AND deadline_at >= $3 THEN 1 END) AS not_due \
             FROM case_steps WHERE deadline_at >= $1 AND deadline_at < $2 GROUP BY dept",
        )
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let completed = sqlx::query(
            "SELECT c.lead_dept AS dept, COUNT(*) AS completed, COUNT(r.id) AS rated \
             FROM cases c LEFT JOIN ratings r ON r.subject_kind = 'case' AND r.subject = c.id \
             WHERE c.state = 'completed' AND c.finished_at >= $1 AND c.finished_at < $2 \
             GROUP BY c.lead_dept",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let ratings = sqlx::query(
            // Appeals' ratings live on the appeals (满意率); a `ratings` row
            // of kind `appeal` exists only to carry a bad one's follow-up.
            "SELECT dept, score, COUNT(*) AS n FROM ratings \
             WHERE at >= $1 AND at < $2 AND subject_kind <> 'appeal' GROUP BY dept, score",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let followups = sqlx::query(
            "SELECT dept, \
             COUNT(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 END) AS in_time, \
             COUNT(CASE WHEN closed_at IS NOT NULL AND closed_at > due_at THEN 1 END) AS late, \
             COUNT(CASE WHEN closed_at IS NULL AND due_at < $3 THEN 1 END) AS overdue_open, \
             COUNT(CASE WHEN closed_at IS NULL AND due_at >= $3 THEN 1 END) AS open \
             FROM followups WHERE created_at >= $1 AND created_at < $2 GROUP BY dept",
        )
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;

        let mut out: BTreeMap<String, DeptPeriodFigures> = BTreeMap::new();
        for row in &steps {
            let f = out.entry(get(row, "dept")?).or_default();
            f.steps.on_time = get(row, "on_time")?;
            f.steps.late = get(row, "late")?;
            f.steps.overdue_open = get(row, "overdue_open")?;
            f.steps.not_due = get(row, "not_due")?;
        }
        for row in &completed {
            let f = out.entry(get(row, "dept")?).or_default();
            f.completed.completed = get(row, "completed")?;
            f.completed.rated = get(row, "rated")?;
        }
        for row in &ratings {
            let dept: String = get(row, "dept")?;
            let score: i64 = get(row, "score")?;
            let slot = usize::try_from(score)
                .ok()
                .and_then(|s| s.checked_sub(1))
                .filter(|i| *i < 5)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "ratings.score of department {dept}: {score} is not 1 to 5"
                    ))
                })?;
            let n: i64 = get(row, "n")?;
            out.entry(dept).or_default().ratings[slot] += n;
        }
        for row in &followups {
            let f = out.entry(get(row, "dept")?).or_default();
            f.followups.in_time = get(row, "in_time")?;
            f.followups.late = get(row, "late")?;
            f.followups.overdue_open = get(row, "overdue_open")?;
            f.followups.open = get(row, "open")?;
        }
        Ok(out)
    }
}

#[async_trait]
impl AssessmentStore for SqlStore {
    async fn add_traffic(&self, deltas: &[TrafficDelta]) -> Result<()> {
        self.bounded("add_traffic", self.do_add_traffic(deltas))
            .await
    }

    async fn traffic(&self, span_ms: Millis, from: Millis, to: Millis) -> Result<Vec<TrafficRow>> {
        self.bounded("traffic", self.do_traffic(span_ms, from, to))
            .await
    }

    async fn traffic_series(
        &self,
        span_ms: Millis,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<TrafficRow>> {
        self.bounded("traffic_series", self.do_traffic_series(span_ms, from, to))
            .await
    }

    async fn prune_traffic(&self, span_ms: Millis, before: Millis) -> Result<u64> {
        self.bounded("prune_traffic", self.do_prune_traffic(span_ms, before))
            .await
    }

    async fn period_figures(
        &self,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<BTreeMap<String, DeptPeriodFigures>> {
        self.bounded("period_figures", self.do_period_figures(from, to, now))
            .await
    }
}
