//! [`MessageStore`] for [`SqlStore`] (tables of `0011_messages.sql`), and
//! the hooks that write an appeal's and a case's messages inside the
//! transaction of the change that causes them (the transactional outbox).
//!
//! The delivery worker's lease shares `appeal_leases` with the overdue
//! scanner (under its own name).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::SqlStore;
use super::error::db;
use super::rows::get;
use crate::messages::kind;
use crate::{
    AppealRecord, DeliveryOutcome, MessageFilter, MessageRecord, MessageStore, Millis,
    OutboxRecord, Result,
};

/// Columns of `messages` (aliased `m`), as [`message`] reads them.
macro_rules! message_columns {
    () => {
        "m.id, m.citizen, m.channel, m.kind, m.subject, m.title, m.dept, m.at, m.read_at"
    };
}

/// Columns of `outbox` (aliased `o`), as [`outbox`] reads them.
macro_rules! outbox_columns {
    () => {
        "o.event_id, o.channel AS o_channel, o.state, o.attempts, o.created_at, o.next_at, \
         o.delivered_at, o.last_error"
    };
}

const PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// The messages an appeal's timeline entry `event` (number `seq`) gives
/// its citizen: `(event id, kind)`.
pub(super) fn appeal_message_kinds(id: &str, seq: i64, event: &str) -> Vec<(String, &'static str)> {
    let base = format!("{id}.{seq:04}");
    match event {
        "dispatched" => vec![(base, kind::APPEAL_DISPATCHED)],
        "accepted" => vec![(base, kind::APPEAL_ACCEPTED)],
        "escalated" => vec![(base, kind::APPEAL_ESCALATED)],
        "supervised" => vec![(base, kind::APPEAL_SUPERVISED)],
        "replied" => vec![
            (format!("{base}.rate"), kind::RATING_INVITATION),
            (base, kind::APPEAL_REPLIED),
        ],
        _ => Vec::new(),
    }
}

/// The messages a case's change gives its citizen: `(event id, kind)`.
/// `step` is the step that just finished (`case.progress`); `state` the
/// state the case just reached (completion comes with a rating
/// invitation, as an appeal's reply does).
pub(super) fn case_message_kinds(
    id: &str,
    step: Option<&str>,
    state: Option<&str>,
) -> Vec<(String, &'static str)> {
    match (step, state) {
        (Some(step), _) => vec![(format!("{id}.{step}.done"), kind::CASE_PROGRESS)],
        (None, Some("completed")) => vec![
            (format!("{id}.rate"), kind::RATING_INVITATION),
            (format!("{id}.completed"), kind::CASE_COMPLETED),
        ],
        (None, Some("failed" | "compensation_failed")) => {
            vec![(format!("{id}.failed"), kind::CASE_FAILED)]
        }
        _ => Vec::new(),
    }
}

/// Who a case's messages go to, read from its row inside the change's
/// transaction.
pub(super) struct CaseAddressee {
    pub id: String,
    pub citizen: String,
    pub channel: Option<String>,
    /// The matter's name (the message's title).
    pub matter_name: String,
    pub lead_dept: String,
}

impl SqlStore {
    /// Writes the messages (and outbox rows) of a case's change (see
    /// [`case_message_kinds`]); `dept` is the finished step's department.
    pub(super) async fn case_messages(
        &self,
        tx: &mut Transaction<'static, Any>,
        c: &CaseAddressee,
        step: Option<(&str, &str)>,
        state: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        let dept = step.map_or(c.lead_dept.as_str(), |(_, d)| d);
        for (id, kind) in case_message_kinds(&c.id, step.map(|(s, _)| s), state) {
            let m = MessageRecord {
                id,
                citizen: c.citizen.clone(),
                channel: c.channel.clone(),
                kind: kind.to_owned(),
                subject: c.id.clone(),
                title: c.matter_name.clone(),
                dept: Some(dept.to_owned()),
                at,
                read_at: None,
            };
            self.write_message(tx, &m).await?;
        }
        Ok(())
    }

    /// The message that a case's `step` (at `dept`) is past its deadline,
    /// inside the transaction that marks it told.
    pub(super) async fn step_overdue_message(
        &self,
        tx: &mut Transaction<'static, Any>,
        c: &CaseAddressee,
        step: &str,
        dept: &str,
        at: Millis,
    ) -> Result<()> {
        let m = MessageRecord {
            id: format!("{}.{step}.overdue", c.id),
            citizen: c.citizen.clone(),
            channel: c.channel.clone(),
            kind: kind::CASE_OVERDUE.to_owned(),
            subject: c.id.clone(),
            title: c.matter_name.clone(),
            dept: Some(dept.to_owned()),
            at,
            read_at: None,
        };
        self.write_message(tx, &m).await
    }

    /// Writes the messages (and outbox rows) of appeal `a`'s timeline
    /// entry `seq`, inside the change's transaction.
    pub(super) async fn appeal_messages(
        &self,
        tx: &mut Transaction<'static, Any>,
        a: &AppealRecord,
        seq: i64,
        event: &str,
        dept: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        for (id, kind) in appeal_message_kinds(&a.id, seq, event) {
            let m = MessageRecord {
                id,
                citizen: a.citizen.clone(),
                channel: a.channel.clone(),
                kind: kind.to_owned(),
                subject: a.id.clone(),
                title: a.title.clone(),
                dept: dept.map(str::to_owned).or_else(|| a.dept.clone()),
                at,
                read_at: None,
            };
            self.write_message(tx, &m).await?;
        }
        Ok(())
    }

    /// One message, and its outbox row when its channel has a webhook.
    pub(super) async fn write_message(
        &self,
        tx: &mut Transaction<'static, Any>,
        m: &MessageRecord,
    ) -> Result<()> {
        // An event is written once: a change that repeats (a step
        // recorded done twice) leaves the first message and its delivery.
        let written = sqlx::query(
            "INSERT INTO messages (id, citizen, channel, kind, subject, title, dept, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(m.id.as_str())
        .bind(m.citizen.as_str())
        .bind(m.channel.as_deref())
        .bind(m.kind.as_str())
        .bind(m.subject.as_str())
        .bind(m.title.as_str())
        .bind(m.dept.as_deref())
        .bind(m.at)
        .execute(&mut **tx)
        .await
        .map_err(db)?
        .rows_affected();
        if written == 0 {
            return Ok(());
        }
        let Some(channel) = m.channel.as_deref().filter(|c| self.notifies(c)) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO outbox (event_id, channel, state, attempts, created_at, next_at) \
             VALUES ($1, $2, 'pending', 0, $3, $3)",
        )
        .bind(m.id.as_str())
        .bind(channel)
        .bind(m.at)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    fn notifies(&self, channel: &str) -> bool {
        match self.inner.notify_channels.read() {
            Ok(set) => set.iter().any(|c| c == channel),
            Err(poisoned) => poisoned.get_ref().iter().any(|c| c == channel),
        }
    }

    async fn do_messages(&self, f: &MessageFilter) -> Result<Vec<MessageRecord>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.citizen = $1"
        ));
        if f.unread {
            sql.push_str(" AND m.read_at IS NULL");
        }
        if f.before.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM messages b WHERE b.id = $2 AND b.citizen = $1 \
                 AND (m.at < b.at OR (m.at = b.at AND m.id < b.id)))",
            );
        }
        let limit = match f.limit {
            0 => PAGE,
            n => n.min(MAX_PAGE),
        };
        sql.push_str(&format!(" ORDER BY m.at DESC, m.id DESC LIMIT {limit}"));
        let mut q = sqlx::query(&sql).bind(f.citizen.as_str());
        if let Some(before) = &f.before {
            q = q.bind(before.as_str());
        }
        let rows = q.fetch_all(&self.inner.pool).await.map_err(db)?;
        rows.iter().map(message).collect()
    }

    async fn do_mark_read(
        &self,
        citizen: &str,
        id: &str,
        now: Millis,
    ) -> Result<Option<MessageRecord>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE messages SET read_at = $1 WHERE id = $2 AND citizen = $3 AND read_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(citizen)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.id = $1 AND m.citizen = $2"
        ))
        .bind(id)
        .bind(citizen)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        self.commit(tx, None).await?;
        row.as_ref().map(message).transpose()
    }

    async fn do_due_deliveries(&self, now: Millis, limit: u32) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            outbox_columns!(),
            ", ",
            message_columns!(),
            " FROM outbox o JOIN messages m ON m.id = o.event_id \
             WHERE o.state = 'pending' AND o.next_at <= $1 ORDER BY o.next_at, o.event_id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit.clamp(1, MAX_PAGE)))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        rows.iter().map(outbox).collect()
    }

    async fn do_record_delivery(
        &self,
        event_id: &str,
        now: Millis,
        outcome: &DeliveryOutcome,
    ) -> Result<bool> {
        let (state, next_at, delivered_at, error) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", now, Some(now), None),
            DeliveryOutcome::Retry { next_at, error } => {
                ("pending", *next_at, None, Some(error.as_str()))
            }
            DeliveryOutcome::Failed { error } => ("failed", now, None, Some(error.as_str())),
        };
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE outbox SET state = $1, attempts = attempts + 1, next_at = $2, \
             delivered_at = $3, last_error = COALESCE($4, last_error) \
             WHERE event_id = $5 AND state = 'pending'",
        )
        .bind(state)
        .bind(next_at)
        .bind(delivered_at)
        .bind(error)
        .bind(event_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx, None).await?;
        Ok(changed == 1)
    }

    async fn do_outbox(&self, state: Option<&str>, limit: u32) -> Result<Vec<OutboxRecord>> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let rows = match state {
            Some(state) => sqlx::query(concat!(
                "SELECT ",
                outbox_columns!(),
                ", ",
                message_columns!(),
                " FROM outbox o JOIN messages m ON m.id = o.event_id WHERE o.state = $1 \
                 ORDER BY o.created_at DESC, o.event_id DESC LIMIT $2"
            ))
            .bind(state)
            .bind(limit)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?,
            None => sqlx::query(concat!(
                "SELECT ",
                outbox_columns!(),
                ", ",
                message_columns!(),
                " FROM outbox o JOIN messages m ON m.id = o.event_id \
                 ORDER BY o.created_at DESC, o.event_id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?,
        };
        rows.iter().map(outbox).collect()
    }

    async fn do_retry_delivery(&self, event_id: &str, now: Millis) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_at = $1 \
             WHERE event_id = $2 AND state IN ('pending', 'failed')",
        )
        .bind(now)
        .bind(event_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx, None).await?;
        Ok(changed == 1)
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    fn set_notify_channels(&self, channels: Vec<String>) {
        match self.inner.notify_channels.write() {
            Ok(mut set) => *set = channels,
            Err(poisoned) => *poisoned.into_inner() = channels,
        }
    }

    async fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>> {
        self.bounded("messages", self.do_messages(filter)).await
    }

    async fn mark_read(
        &self,
        citizen: &str,
        id: &str,
        now: Millis,
    ) -> Result<Option<MessageRecord>> {
        self.bounded("mark_read", self.do_mark_read(citizen, id, now))
            .await
    }

    async fn due_deliveries(&self, now: Millis, limit: u32) -> Result<Vec<OutboxRecord>> {
        self.bounded("due_deliveries", self.do_due_deliveries(now, limit))
            .await
    }

    async fn record_delivery(
        &self,
        event_id: &str,
        now: Millis,
        outcome: &DeliveryOutcome,
    ) -> Result<bool> {
        self.bounded(
            "record_delivery",
            self.do_record_delivery(event_id, now, outcome),
        )
        .await
    }

    async fn outbox(&self, state: Option<&str>, limit: u32) -> Result<Vec<OutboxRecord>> {
        self.bounded("outbox", self.do_outbox(state, limit)).await
    }

    async fn retry_delivery(&self, event_id: &str, now: Millis) -> Result<bool> {
        self.bounded("retry_delivery", self.do_retry_delivery(event_id, now))
            .await
    }

    async fn claim_message_lease(
        &self,
        name: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        crate::AppealStore::claim_appeal_lease(self, name, owner, now, until).await
    }
}

fn message(row: &AnyRow) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: get(row, "id")?,
        citizen: get(row, "citizen")?,
        channel: get(row, "channel")?,
        kind: get(row, "kind")?,
        subject: get(row, "subject")?,
        title: get(row, "title")?,
        dept: get(row, "dept")?,
        at: get(row, "at")?,
        read_at: get(row, "read_at")?,
    })
}

fn outbox(row: &AnyRow) -> Result<OutboxRecord> {
    Ok(OutboxRecord {
        event_id: get(row, "event_id")?,
        channel: get(row, "o_channel")?,
        state: get(row, "state")?,
        attempts: get(row, "attempts")?,
        created_at: get(row, "created_at")?,
        next_at: get(row, "next_at")?,
        delivered_at: get(row, "delivered_at")?,
        last_error: get(row, "last_error")?,
        message: message(row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_invites_a_rating_and_ids_sort_by_seq() {
        let got = appeal_message_kinds("A1", 4, "replied");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], ("A1.0004.rate".into(), kind::RATING_INVITATION));
        assert_eq!(got[1], ("A1.0004".into(), kind::APPEAL_REPLIED));
        assert!(appeal_message_kinds("A1", 1, "submitted").is_empty());
        assert!(appeal_message_kinds("A1", 6, "rated").is_empty());
        // Zero-padded: seq 10 sorts after seq 9.
        assert!(
            appeal_message_kinds("A1", 10, "accepted")[0].0
                > appeal_message_kinds("A1", 9, "dispatched")[0].0
        );
    }
}
