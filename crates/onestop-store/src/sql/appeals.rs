//! [`AppealStore`] for [`SqlStore`]: appeals, their append-only timelines
//! the scanner's lease (tables of `0010_appeals.sql`) and attachments
//! (`0014_appeal_attachments.sql`: blobs by content hash).
//!
//! A change is one write transaction: `UPDATE appeals … WHERE id = … AND
//! version = <the version read>` (nothing when another change came first:
//! [`StoreError::Conflict`], rolled back) and the timeline entry with
//! `seq` = the new version. Appeal writes announce no [`crate::Change`]:
//! every read goes to the store.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::SqlStore;
use super::cases::insert_rating;
use super::error::{db, is_unique_violation};
use super::rows::{get, json, to_json};
use crate::{
    AppealAttachment, AppealChange, AppealCount, AppealEvent, AppealFilter, AppealRecord,
    AppealStore, AttachmentBlob, Millis, NewAppeal, NewAppealEvent, NewRating, Result, StoreError,
    SubjectKind,
};

/// Columns of `appeals`, as [`appeal`] reads them.
macro_rules! appeal_columns {
    () => {
        "id, citizen, channel, kind, title, content, matter, hint_dept, location, disclose, \
         state, dept, submit_key, version, created_at, updated_at, dispatched_at, accept_due, \
         accepted_at, reply_due, replied_at, closed_at, escalated_at, next_due, reply, score, \
         rating_comment, rated_at, redispatches, supervise_due, supervised_at"
    };
}

/// Columns of `appeal_events`, as [`event`] reads them.
macro_rules! event_columns {
    () => {
        "seq, at, event, actor, actor_id, dept, note"
    };
}

/// The listing's default and largest page.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 1_000;

impl SqlStore {
    async fn do_create_appeal(&self, a: &NewAppeal) -> Result<(AppealRecord, bool)> {
        let location = a
            .location
            .as_ref()
            .map(|l| to_json(l, "the appeal's location"))
            .transpose()?;
        let mut tx = self.begin_write().await?;
        if let Some(key) = &a.submit_key
            && let Some(existing) = by_submit_key(&mut tx, &a.citizen, key).await?
        {
            tx.commit().await.map_err(db)?;
            return Ok((existing, false));
        }
        let (state, version) = if a.dispatch.is_some() {
            ("dispatched", 2_i64)
        } else {
            ("submitted", 1)
        };
        let d = a.dispatch.as_ref();
        let next_due = d.map_or(a.next_due, |d| d.accept_due);
        let inserted = sqlx::query(
            "INSERT INTO appeals (id, citizen, channel, kind, title, content, matter, hint_dept, \
             location, disclose, state, dept, submit_key, version, created_at, updated_at, \
             dispatched_at, accept_due, reply_due, next_due) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, \
             $16, $17, $18, $19)",
        )
        .bind(a.id.as_str())
        .bind(a.citizen.as_str())
        .bind(a.channel.as_deref())
        .bind(a.kind.as_str())
        .bind(a.title.as_str())
        .bind(a.content.as_str())
        .bind(a.matter.as_deref())
        .bind(a.hint_dept.as_deref())
        .bind(location)
        .bind(i64::from(a.disclose))
        .bind(state)
        .bind(d.map(|d| d.dept.as_str()))
        .bind(a.submit_key.as_deref())
        .bind(version)
        .bind(a.created_at)
        .bind(d.map(|_| a.created_at))
        .bind(d.map(|d| d.accept_due))
        .bind(a.reply_due)
        .bind(next_due)
        .execute(&mut *tx)
        .await;
        if let Err(error) = inserted {
            if !is_unique_violation(&error) {
                return Err(db(error));
            }
            // A concurrent submission with the same key committed first
            // (PostgreSQL), or the id is taken: look again.
            drop(tx);
            return self.existing_appeal_submission(a).await;
        }
        let submitted = NewAppealEvent {
            event: "submitted".into(),
            actor: "citizen".into(),
            actor_id: None,
            dept: None,
            note: String::new(),
        };
        append(&mut tx, &a.id, 1, a.created_at, &submitted).await?;
        attach(&mut tx, &a.id, 1, a.created_at, &submitted, &a.attachments).await?;
        if let Some(d) = d {
            let dispatched = NewAppealEvent {
                event: "dispatched".into(),
                actor: "system".into(),
                actor_id: None,
                dept: Some(d.dept.clone()),
                note: d.note.clone(),
            };
            append(&mut tx, &a.id, 2, a.created_at, &dispatched).await?;
        }
        let record = load(&mut tx, &a.id)
            .await?
            .ok_or_else(|| StoreError::Other(format!("appeal {} vanished", a.id)))?;
        // The citizen's messages, in this transaction (the outbox).
        if let Some(d) = d {
            self.appeal_messages(
                &mut tx,
                &record,
                2,
                "dispatched",
                Some(&d.dept),
                a.created_at,
            )
            .await?;
        }
        self.commit(tx, None).await?;
        Ok((record, true))
    }

    async fn existing_appeal_submission(&self, a: &NewAppeal) -> Result<(AppealRecord, bool)> {
        let mut tx = self.begin_read().await?;
        let existing = match &a.submit_key {
            Some(key) => by_submit_key(&mut tx, &a.citizen, key).await?,
            None => None,
        };
        tx.commit().await.map_err(db)?;
        existing
            .map(|e| (e, false))
            .ok_or_else(|| StoreError::Conflict(format!("appeal {} already exists", a.id)))
    }

    async fn do_appeal(&self, id: &str) -> Result<Option<AppealRecord>> {
        let mut tx = self.begin_read().await?;
        let found = load(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(found)
    }

    async fn do_change_appeal(&self, id: &str, c: &AppealChange) -> Result<AppealRecord> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE appeals SET version = version + 1, state = $1, dept = $2, updated_at = $3, \
             next_due = $4, dispatched_at = COALESCE($5, dispatched_at), \
             accept_due = COALESCE($6, accept_due), accepted_at = COALESCE($7, accepted_at), \
             replied_at = COALESCE($8, replied_at), closed_at = COALESCE($9, closed_at), \
             escalated_at = COALESCE($10, escalated_at), reply = COALESCE($11, reply), \
             score = COALESCE($12, score), rating_comment = COALESCE($13, rating_comment), \
             rated_at = COALESCE($14, rated_at), redispatches = redispatches + $15, \
             supervise_due = COALESCE($16, supervise_due), \
             supervised_at = COALESCE($17, supervised_at) \
             WHERE id = $18 AND version = $19",
        )
        .bind(c.state.as_str())
        .bind(c.dept.as_deref())
        .bind(c.at)
        .bind(c.next_due)
        .bind(c.dispatched_at)
        .bind(c.accept_due)
        .bind(c.accepted_at)
        .bind(c.replied_at)
        .bind(c.closed_at)
        .bind(c.escalated_at)
        .bind(c.reply.as_deref())
        .bind(c.score)
        .bind(c.rating_comment.as_deref())
        .bind(c.rated_at)
        .bind(i64::from(c.redispatch))
        .bind(c.supervise_due)
        .bind(c.supervised_at)
        .bind(id)
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if changed != 1 {
            drop(tx);
            return Err(match self.do_appeal(id).await? {
                None => StoreError::NotFound(format!("appeal {id}")),
                Some(now) => StoreError::Conflict(format!(
                    "appeal {id} changed (version {} → {})",
                    c.version, now.version
                )),
            });
        }
        if let Some(event) = &c.event {
            append(&mut tx, id, c.version + 1, c.at, event).await?;
            attach(&mut tx, id, c.version + 1, c.at, event, &c.attachments).await?;
        }
        if let Some(dept) = &c.co_handler {
            add_co_handler(&mut tx, id, dept, c.version + 1, c.at).await?;
        }
        if let (Some(due_at), Some(score), Some(dept)) = (c.followup_due_at, c.score, &c.dept) {
            self.appeal_followup(&mut tx, id, dept, score, c, due_at)
                .await?;
        }
        let record = load(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Other(format!("appeal {id} vanished")))?;
        // The citizen's messages, in this transaction (the outbox).
        if let Some(e) = &c.event {
            let dept = e.dept.as_deref();
            self.appeal_messages(&mut tx, &record, c.version + 1, &e.event, dept, c.at)
                .await?;
        }
        self.commit(tx, None).await?;
        Ok(record)
    }

    async fn do_list_appeals(&self, f: &AppealFilter) -> Result<Vec<AppealRecord>> {
        // The conditions every branch shares, then one branch per state:
        // each walks its own stretch of an index in the listing's order
        // (`appeals_by_dept`, `appeals_queue`), so a department's open
        // queue costs the page, not the department's whole history (with
        // `state IN (…)` the planner walks the table by `created_at` from
        // the oldest, closed end).
        let mut common = String::new();
        let mut binds: Vec<String> = Vec::new();
        let param = |binds: &mut Vec<String>, v: &str| {
            binds.push(v.to_owned());
            format!("${}", binds.len())
        };
        if let Some(c) = &f.citizen {
            let p = param(&mut binds, c);
            common.push_str(&format!(" AND citizen = {p}"));
        }
        if let Some(d) = &f.dept {
            let p = param(&mut binds, d);
            common.push_str(&format!(" AND dept = {p}"));
        }
        if let Some(d) = &f.cohandler {
            let p = param(&mut binds, d);
            common.push_str(&format!(
                " AND id IN (SELECT appeal_id FROM appeal_cohandlers WHERE dept = {p})"
            ));
        }
        if f.queue {
            common.push_str(" AND dept IS NULL");
        }
        // Citizens see their newest first; queues the longest waiting first.
        let newest_first = f.citizen.is_some();
        if let Some(after) = &f.after {
            // The cursor's time first (a primary-key lookup), then a bound
            // the index starts from; naming the cursor row inside the
            // page's query made it a filter over everything before it (the
            // public feed's lesson). An unknown cursor: nothing after it.
            let Some(at) = sqlx::query("SELECT created_at FROM appeals WHERE id = $1")
                .bind(after.as_str())
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(db)?
            else {
                return Ok(Vec::new());
            };
            let at: Millis = get(&at, "created_at")?;
            let p = param(&mut binds, after);
            let (bound, cmp) = if newest_first {
                ("<=", "<")
            } else {
                (">=", ">")
            };
            common.push_str(&format!(
                " AND created_at {bound} {at} AND (created_at {cmp} {at} OR id {cmp} {p})"
            ));
        }
        let order = if newest_first { "DESC" } else { "ASC" };
        let limit = match f.limit {
            0 => PAGE,
            n => n.min(MAX_PAGE),
        };
        let tail = format!(" ORDER BY created_at {order}, id {order} LIMIT {limit}");
        let branch = |cond: &str| {
            format!(
                "SELECT {} FROM appeals a WHERE 1 = 1{common}{cond}{tail}",
                appeal_columns!()
            )
        };
        let sql = match f.states.as_slice() {
            [] => branch(""),
            [one] => branch(&format!(" AND state = {}", param(&mut binds, one))),
            many => {
                let branches: Vec<String> = many
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let p = param(&mut binds, s);
                        let one = branch(&format!(" AND state = {p}"));
                        format!("SELECT * FROM ({one}) s{i}")
                    })
                    .collect();
                // Subqueries in FROM, not parenthesised selects: SQLite
                // takes no `( … ) UNION ALL ( … )`.
                format!("SELECT * FROM ({}) a{tail}", branches.join(" UNION ALL "))
            }
        };
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(&self.inner.pool).await.map_err(db)?;
        rows.iter().map(appeal).collect()
    }

    /// The rating row (subject kind `appeal`) and the follow-up of a bad
    /// rating, in the change's transaction.
    async fn appeal_followup(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        dept: &str,
        score: i64,
        c: &AppealChange,
        due_at: Millis,
    ) -> Result<()> {
        let citizen: String = get(
            &sqlx::query("SELECT citizen FROM appeals WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?,
            "citizen",
        )?;
        let rating = NewRating {
            citizen,
            subject_kind: SubjectKind::Appeal,
            subject: id.to_owned(),
            dept: dept.to_owned(),
            score,
            tags: Vec::new(),
            comment: c.rating_comment.clone().unwrap_or_default(),
            at: c.rated_at.unwrap_or(c.at),
            followup_due_at: Some(due_at),
        };
        insert_rating(tx, &rating).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("appeal {id} is already rated"))
            }
            other => other,
        })?;
        Ok(())
    }

    async fn do_disclosed_appeals(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppealRecord>> {
        // The partial index `appeals_disclosed` holds exactly these rows in
        // this order: a page costs the page.
        let limit = i64::from(match limit {
            0 => PAGE,
            n => n.min(MAX_PAGE),
        });
        let feed = "disclose = 1 AND state = 'closed' AND replied_at IS NOT NULL";
        let rows =
            match before {
                None => sqlx::query(&format!(
                    "SELECT {} FROM appeals WHERE {feed} ORDER BY closed_at DESC, id DESC LIMIT $1",
                    appeal_columns!()
                ))
                .bind(limit)
                .fetch_all(&self.inner.pool)
                .await,
                Some(before) => {
                    // The cursor's place first (a primary-key lookup), then a
                    // row-value range the index starts from: a condition that
                    // names the cursor row inside the page's query (`EXISTS`)
                    // is a filter, and the planner walks the index from the
                    // newest entry to the cursor — a deep page cost the whole
                    // feed before it.
                    let at = sqlx::query(&format!(
                        "SELECT closed_at FROM appeals WHERE id = $1 AND {feed}"
                    ))
                    .bind(before)
                    .fetch_optional(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    let Some(at) = at else {
                        // Not a disclosed, closed appeal: nothing before it.
                        return Ok(Vec::new());
                    };
                    let closed_at: Millis = get(&at, "closed_at")?;
                    sqlx::query(&format!(
                        "SELECT {} FROM appeals WHERE {feed} AND (closed_at, id) < ($1, $2) \
                     ORDER BY closed_at DESC, id DESC LIMIT $3",
                        appeal_columns!()
                    ))
                    .bind(closed_at)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.inner.pool)
                    .await
                }
            }
            .map_err(db)?;
        rows.iter().map(appeal).collect()
    }

    async fn do_overdue_appeals(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>> {
        self.due_appeals(
            concat!(
                "SELECT ",
                appeal_columns!(),
                " FROM appeals WHERE next_due IS NOT NULL AND escalated_at IS NULL \
                 AND next_due < $1 ORDER BY next_due, id LIMIT $2"
            ),
            now,
            limit,
        )
        .await
    }

    async fn do_supervision_due(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>> {
        // The partial index `appeals_supervise_due` holds the escalated
        // appeals not yet supervised and not replied.
        self.due_appeals(
            concat!(
                "SELECT ",
                appeal_columns!(),
                " FROM appeals WHERE supervise_due IS NOT NULL AND supervised_at IS NULL \
                 AND next_due IS NOT NULL AND supervise_due < $1 AND next_due < $1 \
                 ORDER BY supervise_due, id LIMIT $2"
            ),
            now,
            limit,
        )
        .await
    }

    /// The scanner's queries: `sql` selects appeals due before `$1`, at
    /// most `$2` of them.
    async fn due_appeals(
        &self,
        sql: &'static str,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<AppealRecord>> {
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?;
        rows.iter().map(appeal).collect()
    }

    async fn do_appeal_counts(&self, now: Millis) -> Result<Vec<AppealCount>> {
        let rows = sqlx::query(
            "SELECT state, kind, dept, COUNT(*) AS n, \
             SUM(CASE WHEN next_due IS NOT NULL AND next_due < $1 THEN 1 ELSE 0 END) AS overdue, \
             SUM(CASE WHEN supervised_at IS NOT NULL AND next_due IS NOT NULL THEN 1 ELSE 0 END) \
             AS supervised \
             FROM appeals GROUP BY state, kind, dept ORDER BY state, kind, dept",
        )
        .bind(now)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AppealCount {
                    state: get(r, "state")?,
                    kind: get(r, "kind")?,
                    dept: get(r, "dept")?,
                    count: get(r, "n")?,
                    overdue: get::<Option<i64>>(r, "overdue")?.unwrap_or(0),
                    supervised: get::<Option<i64>>(r, "supervised")?.unwrap_or(0),
                })
            })
            .collect()
    }

    async fn do_dispatched_appeals(&self, from: Millis, to: Millis) -> Result<Vec<AppealRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            appeal_columns!(),
            " FROM appeals WHERE created_at >= $1 AND created_at < $2 AND dept IS NOT NULL \
             ORDER BY created_at, id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        rows.iter().map(appeal).collect()
    }

    async fn do_put_appeal_blob(&self, b: &AttachmentBlob, now: Millis) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let added = sqlx::query(
            "INSERT INTO appeal_blobs (hash, media_type, size, content, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(b.hash.as_str())
        .bind(b.media_type.as_str())
        .bind(b.size)
        .bind(b.content.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx, None).await?;
        Ok(added == 1)
    }

    async fn do_appeal_blob(&self, hash: &str, content: bool) -> Result<Option<AttachmentBlob>> {
        let sql = if content {
            "SELECT hash, media_type, size, content FROM appeal_blobs WHERE hash = $1"
        } else {
            "SELECT hash, media_type, size FROM appeal_blobs WHERE hash = $1"
        };
        let row = sqlx::query(sql)
            .bind(hash)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(AttachmentBlob {
                hash: get(&r, "hash")?,
                media_type: get(&r, "media_type")?,
                size: get(&r, "size")?,
                content: if content {
                    get(&r, "content")?
                } else {
                    Vec::new()
                },
            })
        })
        .transpose()
    }

    async fn do_claim_appeal_lease(
        &self,
        name: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO appeal_leases (name, owner, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = $2, lease_until = $3 \
             WHERE appeal_leases.owner = $2 OR appeal_leases.lease_until < $4",
        )
        .bind(name)
        .bind(owner)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx, None).await?;
        Ok(claimed == 1)
    }
}

#[async_trait]
impl AppealStore for SqlStore {
    async fn create_appeal(&self, appeal: &NewAppeal) -> Result<(AppealRecord, bool)> {
        self.bounded("create_appeal", self.do_create_appeal(appeal))
            .await
    }

    async fn appeal(&self, id: &str) -> Result<Option<AppealRecord>> {
        self.bounded("appeal", self.do_appeal(id)).await
    }

    async fn change_appeal(&self, id: &str, change: &AppealChange) -> Result<AppealRecord> {
        self.bounded("change_appeal", self.do_change_appeal(id, change))
            .await
    }

    async fn list_appeals(&self, filter: &AppealFilter) -> Result<Vec<AppealRecord>> {
        self.bounded("list_appeals", self.do_list_appeals(filter))
            .await
    }

    async fn overdue_appeals(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>> {
        self.bounded("overdue_appeals", self.do_overdue_appeals(now, limit))
            .await
    }

    async fn supervision_due(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>> {
        self.bounded("supervision_due", self.do_supervision_due(now, limit))
            .await
    }

    async fn appeal_counts(&self, now: Millis) -> Result<Vec<AppealCount>> {
        self.bounded("appeal_counts", self.do_appeal_counts(now))
            .await
    }

    async fn disclosed_appeals(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppealRecord>> {
        self.bounded(
            "disclosed_appeals",
            self.do_disclosed_appeals(before, limit),
        )
        .await
    }

    async fn dispatched_appeals(&self, from: Millis, to: Millis) -> Result<Vec<AppealRecord>> {
        self.bounded("dispatched_appeals", self.do_dispatched_appeals(from, to))
            .await
    }

    async fn put_appeal_blob(&self, blob: &AttachmentBlob, now: Millis) -> Result<bool> {
        self.bounded("put_appeal_blob", self.do_put_appeal_blob(blob, now))
            .await
    }

    async fn appeal_blob(&self, hash: &str, content: bool) -> Result<Option<AttachmentBlob>> {
        self.bounded("appeal_blob", self.do_appeal_blob(hash, content))
            .await
    }

    async fn claim_appeal_lease(
        &self,
        name: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        self.bounded(
            "claim_appeal_lease",
            self.do_claim_appeal_lease(name, owner, now, until),
        )
        .await
    }
}

async fn append(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    seq: i64,
    at: Millis,
    e: &NewAppealEvent,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO appeal_events (appeal_id, seq, at, event, actor, actor_id, dept, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(seq)
    .bind(at)
    .bind(e.event.as_str())
    .bind(e.actor.as_str())
    .bind(e.actor_id.as_deref())
    .bind(e.dept.as_deref())
    .bind(e.note.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Attaches stored blobs with the timeline entry `seq` (each hash once per
/// appeal: one attached before is left as it was). An unknown hash:
/// [`StoreError::NotFound`] (the caller's transaction rolls back).
async fn attach(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    seq: i64,
    at: Millis,
    e: &NewAppealEvent,
    hashes: &[String],
) -> Result<()> {
    for hash in hashes {
        let known = sqlx::query("SELECT 1 AS one FROM appeal_blobs WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("attachment {hash}")));
        }
        sqlx::query(
            "INSERT INTO appeal_attachments (appeal_id, hash, seq, actor, actor_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appeal_id, hash) DO NOTHING",
        )
        .bind(id)
        .bind(hash.as_str())
        .bind(seq)
        .bind(e.actor.as_str())
        .bind(e.actor_id.as_deref())
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Adds a co-handling department with the timeline entry `seq`; one
/// added before: [`StoreError::Conflict`] (the caller's transaction rolls
/// back and the desk reads the appeal again).
async fn add_co_handler(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    dept: &str,
    seq: i64,
    at: Millis,
) -> Result<()> {
    sqlx::query("INSERT INTO appeal_cohandlers (appeal_id, dept, seq, at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(dept)
        .bind(seq)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("{dept} co-handles appeal {id} already"))
            } else {
                db(e)
            }
        })?;
    Ok(())
}

async fn by_submit_key(
    tx: &mut Transaction<'static, Any>,
    citizen: &str,
    key: &str,
) -> Result<Option<AppealRecord>> {
    let row = sqlx::query("SELECT id FROM appeals WHERE citizen = $1 AND submit_key = $2")
        .bind(citizen)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    match row {
        Some(row) => load(tx, &get::<String>(&row, "id")?).await,
        None => Ok(None),
    }
}

/// One appeal with its timeline.
async fn load(tx: &mut Transaction<'static, Any>, id: &str) -> Result<Option<AppealRecord>> {
    let Some(row) = sqlx::query(concat!(
        "SELECT ",
        appeal_columns!(),
        " FROM appeals WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?
    else {
        return Ok(None);
    };
    let mut record = appeal(&row)?;
    let events = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM appeal_events WHERE appeal_id = $1 ORDER BY seq"
    ))
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    record.timeline = events.iter().map(event).collect::<Result<_>>()?;
    let attachments = sqlx::query(
        "SELECT t.hash, b.media_type, b.size, t.seq, t.actor, t.actor_id, t.at \
         FROM appeal_attachments t JOIN appeal_blobs b ON b.hash = t.hash \
         WHERE t.appeal_id = $1 ORDER BY t.seq, t.at, t.hash",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    record.attachments = attachments
        .iter()
        .map(|r| {
            Ok(AppealAttachment {
                hash: get(r, "hash")?,
                media_type: get(r, "media_type")?,
                size: get(r, "size")?,
                seq: get(r, "seq")?,
                actor: get(r, "actor")?,
                actor_id: get(r, "actor_id")?,
                at: get(r, "at")?,
            })
        })
        .collect::<Result<_>>()?;
    let co_handlers =
        sqlx::query("SELECT dept FROM appeal_cohandlers WHERE appeal_id = $1 ORDER BY seq, dept")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
    record.co_handlers = co_handlers
        .iter()
        .map(|r| get(r, "dept"))
        .collect::<Result<_>>()?;
    Ok(Some(record))
}

fn appeal(row: &AnyRow) -> Result<AppealRecord> {
    let id: String = get(row, "id")?;
    let location = get::<Option<String>>(row, "location")?
        .map(|t| json(&t, || format!("appeals.location of {id}")))
        .transpose()?;
    Ok(AppealRecord {
        citizen: get(row, "citizen")?,
        channel: get(row, "channel")?,
        kind: get(row, "kind")?,
        title: get(row, "title")?,
        content: get(row, "content")?,
        matter: get(row, "matter")?,
        hint_dept: get(row, "hint_dept")?,
        location,
        disclose: get::<i64>(row, "disclose")? != 0,
        state: get(row, "state")?,
        dept: get(row, "dept")?,
        submit_key: get(row, "submit_key")?,
        version: get(row, "version")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        dispatched_at: get(row, "dispatched_at")?,
        accept_due: get(row, "accept_due")?,
        accepted_at: get(row, "accepted_at")?,
        reply_due: get(row, "reply_due")?,
        replied_at: get(row, "replied_at")?,
        closed_at: get(row, "closed_at")?,
        escalated_at: get(row, "escalated_at")?,
        next_due: get(row, "next_due")?,
        reply: get(row, "reply")?,
        score: get(row, "score")?,
        rating_comment: get(row, "rating_comment")?,
        rated_at: get(row, "rated_at")?,
        redispatches: get(row, "redispatches")?,
        supervise_due: get(row, "supervise_due")?,
        supervised_at: get(row, "supervised_at")?,
        co_handlers: Vec::new(),
        timeline: Vec::new(),
        attachments: Vec::new(),
        id,
    })
}

fn event(row: &AnyRow) -> Result<AppealEvent> {
    Ok(AppealEvent {
        seq: get(row, "seq")?,
        at: get(row, "at")?,
        event: get(row, "event")?,
        actor: get(row, "actor")?,
        actor_id: get(row, "actor_id")?,
        dept: get(row, "dept")?,
        note: get(row, "note")?,
    })
}
