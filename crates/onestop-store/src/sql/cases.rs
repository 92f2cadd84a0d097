//! [`CaseStore`] for [`SqlStore`]: cases and their steps, ratings and
//! follow-ups (tables of `0003_cases.sql`).
//!
//! Case writes announce no [`crate::Change`]: runners find their work by
//! sweeping ([`CaseStore::orphaned_cases`], [`CaseStore::overdue_cases`]).
//! A write under a case's lease starts with a guarded
//! `UPDATE cases … WHERE owner = … AND lease_until >= now`: the check and
//! the write are one step, and the row stays locked until the commit, so
//! on PostgreSQL (`READ COMMITTED`) a concurrent claim waits for the write
//! instead of slipping in between; SQLite's `BEGIN IMMEDIATE` serialises
//! writers anyway.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::SqlStore;
use super::error::{db, is_unique_violation};
use super::messages::CaseAddressee;
use super::rows::{get, json, to_json};
use crate::{
    CaseRecord, CaseState, CaseStore, FollowupFilter, FollowupRecord, Millis, NewCase, NewRating,
    RatingRecord, RatingStats, Result, StepRecord, StepState, StepUpdate, StoreError, SubjectKind,
};

/// Columns of `cases` a case's messages need, as [`addressee`] reads them.
macro_rules! addressee_columns {
    () => {
        "id, citizen, channel, matter_name, lead_dept"
    };
}

/// Columns of `cases`, as [`case`] reads them.
macro_rules! case_columns {
    () => {
        "id, citizen, channel, matter, matter_name, lead_dept, input, state, failure, \
         submit_key, created_at, updated_at, finished_at, owner, lease_until"
    };
}

/// Columns of `case_steps`, as [`step`] reads them.
macro_rules! step_columns {
    () => {
        "case_id, step, position, dept, name, state, attempts, output, error, deadline_at, \
         started_at, finished_at, done_seq, compensated_at"
    };
}

/// Columns of `ratings r` with the id of its follow-up `f` (left-joined),
/// as [`rating`] reads them.
macro_rules! rating_columns {
    () => {
        "r.id AS id, r.citizen AS citizen, r.subject_kind AS subject_kind, \
         r.subject AS subject, r.dept AS dept, r.score AS score, r.tags AS tags, \
         r.comment AS comment, r.at AS at, f.id AS followup_id"
    };
}

/// Columns of `followups`, as [`followup`] reads them.
macro_rules! followup_columns {
    () => {
        "id, rating_id, dept, citizen, subject_kind, subject, score, created_at, due_at, \
         closed_at, closed_by, note"
    };
}

/// The states of [`CaseState::active`] cases, for `state IN (…)`.
macro_rules! active_states {
    () => {
        "'running', 'compensating'"
    };
}

/// Case ids bound per `case_id IN (…)` when loading many cases' steps.
const STEPS_CHUNK: usize = 500;

/// How many follow-ups [`CaseStore::followups`] lists for a limit of 0.
const DEFAULT_FOLLOWUPS_LIMIT: u32 = 100;

impl SqlStore {
    async fn do_create_case(&self, case: &NewCase) -> Result<(CaseRecord, bool)> {
        let input = to_json(&case.input, "the case input")?;
        let mut tx = self.begin_write().await?;
        if let Some(key) = &case.submit_key
            && let Some(existing) = case_by_submit_key(&mut tx, &case.citizen, key).await?
        {
            return Ok((existing, false));
        }
        let inserted = sqlx::query(
            "INSERT INTO cases (id, citizen, channel, matter, matter_name, lead_dept, input, \
             state, failure, submit_key, created_at, updated_at, finished_at, owner, \
             lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, $10, NULL, NULL, 0)",
        )
        .bind(case.id.as_str())
        .bind(case.citizen.as_str())
        .bind(case.channel.as_deref())
        .bind(case.matter.as_str())
        .bind(case.matter_name.as_str())
        .bind(case.lead_dept.as_str())
        .bind(input)
        .bind(CaseState::Running.as_str())
        .bind(case.submit_key.as_deref())
        .bind(case.created_at)
        .execute(&mut *tx)
        .await;
        if let Err(error) = inserted {
            if !is_unique_violation(&error) {
                return Err(db(error));
            }
            // Either a concurrent submission with the same key committed
            // first (PostgreSQL; SQLite's writers are serialised) or the id
            // is taken. The failed transaction is useless: look again.
            drop(tx);
            return self.existing_submission(case).await;
        }
        let mut steps = Vec::with_capacity(case.steps.len());
        for (position, new) in (0_i64..).zip(&case.steps) {
            let inserted = sqlx::query(
                "INSERT INTO case_steps (case_id, step, position, dept, name, state, attempts, \
                 deadline_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            )
            .bind(case.id.as_str())
            .bind(new.step.as_str())
            .bind(position)
            .bind(new.dept.as_str())
            .bind(new.name.as_str())
            .bind(StepState::Pending.as_str())
            .bind(new.deadline_at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => {
                    return Err(StoreError::Conflict(format!(
                        "case {} lists step {} twice",
                        case.id, new.step
                    )));
                }
                Err(error) => return Err(db(error)),
            }
            steps.push(StepRecord {
                step: new.step.clone(),
                position,
                dept: new.dept.clone(),
                name: new.name.clone(),
                state: StepState::Pending,
                attempts: 0,
                output: None,
                error: None,
                deadline_at: new.deadline_at,
                started_at: None,
                finished_at: None,
                done_seq: None,
                compensated_at: None,
            });
        }
        self.commit(tx, None).await?;
        let record = CaseRecord {
            id: case.id.clone(),
            citizen: case.citizen.clone(),
            channel: case.channel.clone(),
            matter: case.matter.clone(),
            matter_name: case.matter_name.clone(),
            lead_dept: case.lead_dept.clone(),
            input: case.input.clone(),
            state: CaseState::Running,
            failure: None,
            submit_key: case.submit_key.clone(),
            created_at: case.created_at,
            updated_at: case.created_at,
            finished_at: None,
            owner: None,
            lease_until: 0,
            steps,
        };
        Ok((record, true))
    }

    /// After a unique violation inserting `case`: the case submitted first
    /// with the same key, or a conflict on the id.
    async fn existing_submission(&self, case: &NewCase) -> Result<(CaseRecord, bool)> {
        let mut tx = self.begin_read().await?;
        let existing = match &case.submit_key {
            Some(key) => case_by_submit_key(&mut tx, &case.citizen, key).await?,
            None => None,
        };
        tx.commit().await.map_err(db)?;
        match existing {
            Some(existing) => Ok((existing, false)),
            None => Err(StoreError::Conflict(format!(
                "case {} already exists",
                case.id
            ))),
        }
    }

    async fn do_case(&self, id: &str) -> Result<Option<CaseRecord>> {
        let mut tx = self.begin_read().await?;
        let found = load_case(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(found)
    }

    async fn do_citizen_cases(
        &self,
        citizen: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<CaseRecord>> {
        let mut tx = self.begin_read().await?;
        let found = match before {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    case_columns!(),
                    " FROM cases WHERE citizen = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(citizen)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
            }
            // Strictly after `before` in the listing's order; nothing when
            // `before` is not one of the citizen's cases.
            Some(before) => {
                sqlx::query(concat!(
                    "SELECT ",
                    case_columns!(),
                    " FROM cases WHERE citizen = $1 AND EXISTS (SELECT 1 FROM cases b \
                     WHERE b.id = $2 AND b.citizen = $1 AND (cases.created_at < b.created_at \
                     OR (cases.created_at = b.created_at AND cases.id < b.id))) \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(citizen)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
            }
        };
        let mut cases = found
            .map_err(db)?
            .iter()
            .map(case)
            .collect::<Result<Vec<_>>>()?;
        attach_steps(&mut tx, &mut cases).await?;
        tx.commit().await.map_err(db)?;
        Ok(cases)
    }

    async fn do_claim_case(
        &self,
        id: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(concat!(
            "UPDATE cases SET owner = $1, lease_until = $2, updated_at = $3 \
             WHERE id = $4 AND state IN (",
            active_states!(),
            ") AND (owner IS NULL OR owner = $1 OR lease_until < $3)"
        ))
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx, None).await?;
        Ok(claimed == 1)
    }

    async fn do_orphaned_cases(&self, now: Millis, limit: u32) -> Result<Vec<String>> {
        let found = sqlx::query(concat!(
            "SELECT id FROM cases WHERE state IN (",
            active_states!(),
            ") AND (owner IS NULL OR lease_until < $1) ORDER BY created_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        found.iter().map(|row| get(row, "id")).collect()
    }

    async fn do_update_step(
        &self,
        case_id: &str,
        step_id: &str,
        owner: &str,
        now: Millis,
        update: &StepUpdate,
    ) -> Result<StepRecord> {
        let output = update
            .output
            .as_ref()
            .map(|o| to_json(o, "the step output"))
            .transpose()?;
        let mut tx = self.begin_write().await?;
        let held = sqlx::query(concat!(
            "UPDATE cases SET updated_at = $3 WHERE id = $1 AND owner = $2 AND lease_until >= $3 \
             RETURNING ",
            addressee_columns!()
        ))
        .bind(case_id)
        .bind(owner)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(held) = held else {
            return Err(lease_refused(&mut tx, case_id, owner, now).await);
        };
        // The case's row is locked until the commit, so the steps' largest
        // done_seq cannot change under this statement.
        let row = sqlx::query(concat!(
            "UPDATE case_steps SET \
             state = COALESCE($3, state), \
             attempts = attempts + $4, \
             output = COALESCE($5, output), \
             error = COALESCE($6, error), \
             started_at = COALESCE(started_at, $7), \
             finished_at = COALESCE($8, finished_at), \
             done_seq = CASE WHEN $9 THEN (SELECT COALESCE(MAX(s.done_seq), 0) + 1 \
             FROM case_steps s WHERE s.case_id = $1) ELSE done_seq END, \
             compensated_at = COALESCE($10, compensated_at) \
             WHERE case_id = $1 AND step = $2 RETURNING ",
            step_columns!()
        ))
        .bind(case_id)
        .bind(step_id)
        .bind(update.state.map(StepState::as_str))
        .bind(update.add_attempts)
        .bind(output)
        .bind(update.error.as_deref())
        .bind(update.started_at)
        .bind(update.finished_at)
        .bind(update.assign_done_seq)
        .bind(update.compensated_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!(
                "step {step_id} of case {case_id}"
            )));
        };
        let (_, stored) = step(&row)?;
        if update.state == Some(StepState::Done) {
            let to = addressee(&held)?;
            self.case_messages(&mut tx, &to, Some((&stored.step, &stored.dept)), None, now)
                .await?;
        }
        self.commit(tx, None).await?;
        Ok(stored)
    }

    async fn do_set_case_state(
        &self,
        case_id: &str,
        owner: &str,
        now: Millis,
        state: CaseState,
        failure: Option<&str>,
    ) -> Result<()> {
        // Reaching an inactive state finishes the case and lets go of it.
        let sql = if state.active() {
            "UPDATE cases SET state = $1, failure = COALESCE($2, failure), updated_at = $3 \
             WHERE id = $4 AND owner = $5 AND lease_until >= $3"
        } else {
            "UPDATE cases SET state = $1, failure = COALESCE($2, failure), updated_at = $3, \
             finished_at = $3, owner = NULL, lease_until = 0 \
             WHERE id = $4 AND owner = $5 AND lease_until >= $3"
        };
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(&format!("{sql} RETURNING {}", addressee_columns!()))
            .bind(state.as_str())
            .bind(failure)
            .bind(now)
            .bind(case_id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(updated) = updated else {
            return Err(lease_refused(&mut tx, case_id, owner, now).await);
        };
        let to = addressee(&updated)?;
        self.case_messages(&mut tx, &to, None, Some(state.as_str()), now)
            .await?;
        self.commit(tx, None).await
    }

    async fn do_overdue_cases(&self, now: Millis, limit: u32) -> Result<Vec<CaseRecord>> {
        let mut tx = self.begin_read().await?;
        let found = sqlx::query(concat!(
            "SELECT ",
            case_columns!(),
            " FROM cases JOIN (SELECT case_id, MIN(deadline_at) AS due FROM case_steps \
             WHERE state IN ('pending', 'running') AND deadline_at < $1 GROUP BY case_id) \
             overdue ON overdue.case_id = cases.id \
             WHERE cases.state IN (",
            active_states!(),
            ") ORDER BY overdue.due, cases.id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut cases = found.iter().map(case).collect::<Result<Vec<_>>>()?;
        attach_steps(&mut tx, &mut cases).await?;
        tx.commit().await.map_err(db)?;
        Ok(cases)
    }

    async fn do_tell_overdue_steps(&self, now: Millis, limit: u32) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let due = sqlx::query(concat!(
            "SELECT s.case_id, s.step, s.dept, c.id, c.citizen, c.channel, c.matter_name, \
             c.lead_dept FROM case_steps s JOIN cases c ON c.id = s.case_id \
             WHERE s.state IN ('pending', 'running') AND s.overdue_told_at IS NULL \
             AND s.deadline_at < $1 AND c.state IN (",
            active_states!(),
            ") ORDER BY s.deadline_at, s.case_id, s.step LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut told = 0;
        for row in &due {
            let case_id: String = get(row, "case_id")?;
            let step: String = get(row, "step")?;
            let dept: String = get(row, "dept")?;
            // Marked and told together; a step another sweep marked first
            // is left alone.
            let marked = sqlx::query(
                "UPDATE case_steps SET overdue_told_at = $1 \
                 WHERE case_id = $2 AND step = $3 AND overdue_told_at IS NULL",
            )
            .bind(now)
            .bind(case_id.as_str())
            .bind(step.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if marked != 1 {
                continue;
            }
            let to = addressee(row)?;
            self.step_overdue_message(&mut tx, &to, &step, &dept, now)
                .await?;
            told += 1;
        }
        self.commit(tx, None).await?;
        Ok(told)
    }

    async fn do_add_rating(&self, rating: &NewRating) -> Result<RatingRecord> {
        if !(1..=5).contains(&rating.score) {
            return Err(StoreError::Other(format!(
                "a rating's score is 1 to 5, not {}",
                rating.score
            )));
        }
        let mut tx = self.begin_write().await?;
        let (id, followup_id) = insert_rating(&mut tx, rating).await?;
        self.commit(tx, None).await?;
        Ok(RatingRecord {
            id,
            citizen: rating.citizen.clone(),
            subject_kind: rating.subject_kind,
            subject: rating.subject.clone(),
            dept: rating.dept.clone(),
            score: rating.score,
            tags: rating.tags.clone(),
            comment: rating.comment.clone(),
            at: rating.at,
            followup_id,
        })
    }

    async fn do_rating_of(
        &self,
        citizen: &str,
        kind: SubjectKind,
        subject: &str,
    ) -> Result<Option<RatingRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            rating_columns!(),
            " FROM ratings r LEFT JOIN followups f ON f.rating_id = r.id \
             WHERE r.citizen = $1 AND r.subject_kind = $2 AND r.subject = $3"
        ))
        .bind(citizen)
        .bind(kind.as_str())
        .bind(subject)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rating)
        .transpose()
    }

    async fn do_followups(&self, filter: &FollowupFilter) -> Result<Vec<FollowupRecord>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            followup_columns!(),
            " FROM followups WHERE 1 = 1"
        ));
        let mut n = 0;
        if filter.id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND id = ${n}"));
        }
        if filter.dept.is_some() {
            n += 1;
            sql.push_str(&format!(" AND dept = ${n}"));
        }
        if filter.open || filter.overdue_at.is_some() {
            sql.push_str(" AND closed_at IS NULL");
        }
        if filter.overdue_at.is_some() {
            n += 1;
            sql.push_str(&format!(" AND due_at < ${n}"));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY due_at, id LIMIT ${n}"));
        let mut query = sqlx::query(&sql);
        if let Some(id) = filter.id {
            query = query.bind(id);
        }
        if let Some(dept) = &filter.dept {
            query = query.bind(dept.as_str());
        }
        if let Some(at) = filter.overdue_at {
            query = query.bind(at);
        }
        let limit = match filter.limit {
            0 => DEFAULT_FOLLOWUPS_LIMIT,
            limit => limit,
        };
        let found = query
            .bind(i64::from(limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db)?;
        found.iter().map(followup).collect()
    }

    async fn do_close_followup(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Millis,
    ) -> Result<FollowupRecord> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE followups SET closed_at = $2, closed_by = $3, note = $4 \
             WHERE id = $1 AND closed_at IS NULL RETURNING ",
            followup_columns!()
        ))
        .bind(id)
        .bind(at)
        .bind(by)
        .bind(note)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            let current = sqlx::query("SELECT closed_at, closed_by FROM followups WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            return Err(match current {
                None => StoreError::NotFound(format!("follow-up {id}")),
                Some(row) => {
                    let closed_at: Option<Millis> = get(&row, "closed_at")?;
                    let closed_by: Option<String> = get(&row, "closed_by")?;
                    StoreError::Conflict(format!(
                        "follow-up {id} is already closed (by {}, at {})",
                        closed_by.as_deref().unwrap_or("?"),
                        closed_at.map_or_else(|| "?".to_string(), |t| t.to_string())
                    ))
                }
            });
        };
        let record = followup(&row)?;
        self.commit(tx, None).await?;
        Ok(record)
    }

    async fn do_rating_stats(&self, now: Millis) -> Result<Vec<RatingStats>> {
        let mut tx = self.begin_read().await?;
        // Counts per score, summed up here: PostgreSQL's SUM and AVG of a
        // BIGINT are NUMERIC, which the Any driver cannot decode.
        let scores =
            // Not appeals' (their `ratings` rows carry bad ones' follow-ups only).
            sqlx::query(
                "SELECT dept, score, COUNT(*) AS n FROM ratings WHERE subject_kind <> 'appeal' \
                 GROUP BY dept, score",
            )
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let open = sqlx::query(
            "SELECT dept, COUNT(*) AS open, COUNT(CASE WHEN due_at < $1 THEN 1 END) AS overdue \
             FROM followups WHERE closed_at IS NULL GROUP BY dept",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;

        let mut stats: BTreeMap<String, RatingStats> = BTreeMap::new();
        for row in &scores {
            let dept: String = get(row, "dept")?;
            let score: i64 = get(row, "score")?;
            let n: i64 = get(row, "n")?;
            let slot = usize::try_from(score)
                .ok()
                .and_then(|s| s.checked_sub(1))
                .filter(|i| *i < 5)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "ratings.score of department {dept}: {score} is not 1 to 5"
                    ))
                })?;
            let dept_stats = stats
                .entry(dept.clone())
                .or_insert_with(|| empty_stats(dept));
            dept_stats.by_score[slot] += n;
            dept_stats.count += n;
        }
        for row in &open {
            let dept: String = get(row, "dept")?;
            let dept_stats = stats
                .entry(dept.clone())
                .or_insert_with(|| empty_stats(dept));
            dept_stats.followups_open = get(row, "open")?;
            dept_stats.followups_overdue = get(row, "overdue")?;
        }
        Ok(stats
            .into_values()
            .map(|mut s| {
                if s.count > 0 {
                    let total: i64 = (1..=5).zip(s.by_score).map(|(score, n)| score * n).sum();
                    // Counts stay far below 2^53: exact as f64.
                    s.average = total as f64 / s.count as f64;
                }
                s
            })
            .collect())
    }
}

#[async_trait]
impl CaseStore for SqlStore {
    async fn create_case(&self, case: &NewCase) -> Result<(CaseRecord, bool)> {
        self.bounded("create_case", self.do_create_case(case)).await
    }

    async fn case(&self, id: &str) -> Result<Option<CaseRecord>> {
        self.bounded("case", self.do_case(id)).await
    }

    async fn citizen_cases(
        &self,
        citizen: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<CaseRecord>> {
        self.bounded(
            "citizen_cases",
            self.do_citizen_cases(citizen, limit, before),
        )
        .await
    }

    async fn claim_case(&self, id: &str, owner: &str, now: Millis, until: Millis) -> Result<bool> {
        self.bounded("claim_case", self.do_claim_case(id, owner, now, until))
            .await
    }

    async fn orphaned_cases(&self, now: Millis, limit: u32) -> Result<Vec<String>> {
        self.bounded("orphaned_cases", self.do_orphaned_cases(now, limit))
            .await
    }

    async fn update_step(
        &self,
        case_id: &str,
        step: &str,
        owner: &str,
        now: Millis,
        update: &StepUpdate,
    ) -> Result<StepRecord> {
        self.bounded(
            "update_step",
            self.do_update_step(case_id, step, owner, now, update),
        )
        .await
    }

    async fn set_case_state(
        &self,
        case_id: &str,
        owner: &str,
        now: Millis,
        state: CaseState,
        failure: Option<&str>,
    ) -> Result<()> {
        self.bounded(
            "set_case_state",
            self.do_set_case_state(case_id, owner, now, state, failure),
        )
        .await
    }

    async fn overdue_cases(&self, now: Millis, limit: u32) -> Result<Vec<CaseRecord>> {
        self.bounded("overdue_cases", self.do_overdue_cases(now, limit))
            .await
    }

    async fn tell_overdue_steps(&self, now: Millis, limit: u32) -> Result<usize> {
        self.bounded("tell_overdue_steps", self.do_tell_overdue_steps(now, limit))
            .await
    }

    async fn add_rating(&self, rating: &NewRating) -> Result<RatingRecord> {
        self.bounded("add_rating", self.do_add_rating(rating)).await
    }

    async fn rating_of(
        &self,
        citizen: &str,
        kind: SubjectKind,
        subject: &str,
    ) -> Result<Option<RatingRecord>> {
        self.bounded("rating_of", self.do_rating_of(citizen, kind, subject))
            .await
    }

    async fn followups(&self, filter: &FollowupFilter) -> Result<Vec<FollowupRecord>> {
        self.bounded("followups", self.do_followups(filter)).await
    }

    async fn close_followup(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Millis,
    ) -> Result<FollowupRecord> {
        self.bounded("close_followup", self.do_close_followup(id, by, note, at))
            .await
    }

    async fn rating_stats(&self, now: Millis) -> Result<Vec<RatingStats>> {
        self.bounded("rating_stats", self.do_rating_stats(now))
            .await
    }
}

/// Why a write under the lease of `case_id` was refused: the case does not
/// exist, or `owner` does not hold it at `now`.
/// A rating and, with `followup_due_at`, its follow-up, inside `tx` (the
/// rating API's own transaction, or an appeal's change): `(rating id,
/// follow-up id)`. Rating one subject twice is a conflict.
pub(super) async fn insert_rating(
    tx: &mut Transaction<'static, Any>,
    rating: &NewRating,
) -> Result<(i64, Option<i64>)> {
    let tags = to_json(&rating.tags, "the rating's tags")?;
    let kind = rating.subject_kind.as_str();
    let inserted = sqlx::query(
        "INSERT INTO ratings (citizen, subject_kind, subject, dept, score, tags, comment, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(rating.citizen.as_str())
    .bind(kind)
    .bind(rating.subject.as_str())
    .bind(rating.dept.as_str())
    .bind(rating.score)
    .bind(tags)
    .bind(rating.comment.as_str())
    .bind(rating.at)
    .fetch_one(&mut **tx)
    .await;
    let id: i64 = match inserted {
        Ok(row) => get(&row, "id")?,
        Err(error) if is_unique_violation(&error) => {
            return Err(StoreError::Conflict(format!(
                "{} already rated {kind} {}",
                rating.citizen, rating.subject
            )));
        }
        Err(error) => return Err(db(error)),
    };
    let followup_id = match rating.followup_due_at {
        Some(due_at) => {
            let row = sqlx::query(
                "INSERT INTO followups (rating_id, dept, citizen, subject_kind, subject, \
                     score, created_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING id",
            )
            .bind(id)
            .bind(rating.dept.as_str())
            .bind(rating.citizen.as_str())
            .bind(kind)
            .bind(rating.subject.as_str())
            .bind(rating.score)
            .bind(rating.at)
            .bind(due_at)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
            Some(get::<i64>(&row, "id")?)
        }
        None => None,
    };
    Ok((id, followup_id))
}

async fn lease_refused(
    tx: &mut Transaction<'static, Any>,
    case_id: &str,
    owner: &str,
    now: Millis,
) -> StoreError {
    let row = sqlx::query("SELECT owner, lease_until, state FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return StoreError::NotFound(format!("case {case_id}")),
        Err(error) => return db(error),
    };
    let held: Result<(Option<String>, Millis, String)> = (|| {
        Ok((
            get(&row, "owner")?,
            get(&row, "lease_until")?,
            get(&row, "state")?,
        ))
    })();
    match held {
        Ok((Some(holder), until, _)) if until >= now => StoreError::Conflict(format!(
            "case {case_id} is held by {holder} until {until}, not by {owner}"
        )),
        Ok((Some(holder), until, _)) => StoreError::Conflict(format!(
            "case {case_id} is held by nobody: the lease of {holder} ended at {until} \
             (now {now}); {owner} must claim it again"
        )),
        Ok((None, _, state)) => StoreError::Conflict(format!(
            "case {case_id} is held by nobody ({state}); {owner} must claim it first"
        )),
        Err(error) => error,
    }
}

/// The case `citizen` submitted with `key`, with its steps.
async fn case_by_submit_key(
    tx: &mut Transaction<'static, Any>,
    citizen: &str,
    key: &str,
) -> Result<Option<CaseRecord>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE citizen = $1 AND submit_key = $2"
    ))
    .bind(citizen)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    with_steps(tx, row).await
}

/// One case with its steps.
async fn load_case(tx: &mut Transaction<'static, Any>, id: &str) -> Result<Option<CaseRecord>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    with_steps(tx, row).await
}

async fn with_steps(
    tx: &mut Transaction<'static, Any>,
    row: Option<AnyRow>,
) -> Result<Option<CaseRecord>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let mut cases = vec![case(&row)?];
    attach_steps(tx, &mut cases).await?;
    Ok(cases.pop())
}

/// Loads the steps of `cases` (in declaration order) into them, with one
/// query per [`STEPS_CHUNK`] cases.
async fn attach_steps(tx: &mut Transaction<'static, Any>, cases: &mut [CaseRecord]) -> Result<()> {
    let mut by_case: HashMap<String, Vec<StepRecord>> = HashMap::new();
    for chunk in cases.chunks(STEPS_CHUNK) {
        let placeholders = (1..=chunk.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            concat!(
                "SELECT ",
                step_columns!(),
                " FROM case_steps WHERE case_id IN ({}) ORDER BY case_id, position"
            ),
            placeholders
        );
        let mut query = sqlx::query(&sql);
        for case in chunk {
            query = query.bind(case.id.as_str());
        }
        let found = query.fetch_all(&mut **tx).await.map_err(db)?;
        for row in &found {
            let (case_id, step) = step(row)?;
            by_case.entry(case_id).or_default().push(step);
        }
    }
    for case in cases.iter_mut() {
        case.steps = by_case.remove(&case.id).unwrap_or_default();
    }
    Ok(())
}

fn empty_stats(dept: String) -> RatingStats {
    RatingStats {
        dept,
        count: 0,
        average: 0.0,
        by_score: [0; 5],
        followups_open: 0,
        followups_overdue: 0,
    }
}

// ----- rows ----------------------------------------------------------------

/// A case without its steps.
fn addressee(row: &AnyRow) -> Result<CaseAddressee> {
    Ok(CaseAddressee {
        id: get(row, "id")?,
        citizen: get(row, "citizen")?,
        channel: get(row, "channel")?,
        matter_name: get(row, "matter_name")?,
        lead_dept: get(row, "lead_dept")?,
    })
}

fn case(row: &AnyRow) -> Result<CaseRecord> {
    let id: String = get(row, "id")?;
    let input = json(&get::<String>(row, "input")?, || {
        format!("cases.input of {id}")
    })?;
    let state: String = get(row, "state")?;
    let state = CaseState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("cases.state of {id}: unknown {state:?}")))?;
    Ok(CaseRecord {
        citizen: get(row, "citizen")?,
        channel: get(row, "channel")?,
        matter: get(row, "matter")?,
        matter_name: get(row, "matter_name")?,
        lead_dept: get(row, "lead_dept")?,
        input,
        state,
        failure: get(row, "failure")?,
        submit_key: get(row, "submit_key")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        finished_at: get(row, "finished_at")?,
        owner: get(row, "owner")?,
        lease_until: get(row, "lease_until")?,
        steps: Vec::new(),
        id,
    })
}

/// A step and the id of its case.
fn step(row: &AnyRow) -> Result<(String, StepRecord)> {
    let case_id: String = get(row, "case_id")?;
    let step: String = get(row, "step")?;
    let state: String = get(row, "state")?;
    let state = StepState::parse(&state).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "case_steps.state of {case_id}/{step}: unknown {state:?}"
        ))
    })?;
    let output = match get::<Option<String>>(row, "output")? {
        Some(text) => Some(json(&text, || {
            format!("case_steps.output of {case_id}/{step}")
        })?),
        None => None,
    };
    let record = StepRecord {
        position: get(row, "position")?,
        dept: get(row, "dept")?,
        name: get(row, "name")?,
        state,
        attempts: get(row, "attempts")?,
        output,
        error: get(row, "error")?,
        deadline_at: get(row, "deadline_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        done_seq: get(row, "done_seq")?,
        compensated_at: get(row, "compensated_at")?,
        step,
    };
    Ok((case_id, record))
}

fn subject_kind(row: &AnyRow, table: &str, id: i64) -> Result<SubjectKind> {
    let kind: String = get(row, "subject_kind")?;
    SubjectKind::parse(&kind).ok_or_else(|| {
        StoreError::Corrupt(format!("{table}.subject_kind of {id}: unknown {kind:?}"))
    })
}

fn rating(row: &AnyRow) -> Result<RatingRecord> {
    let id: i64 = get(row, "id")?;
    let tags = json(&get::<String>(row, "tags")?, || {
        format!("ratings.tags of {id}")
    })?;
    Ok(RatingRecord {
        id,
        citizen: get(row, "citizen")?,
        subject_kind: subject_kind(row, "ratings", id)?,
        subject: get(row, "subject")?,
        dept: get(row, "dept")?,
        score: get(row, "score")?,
        tags,
        comment: get(row, "comment")?,
        at: get(row, "at")?,
        followup_id: get(row, "followup_id")?,
    })
}

fn followup(row: &AnyRow) -> Result<FollowupRecord> {
    let id: i64 = get(row, "id")?;
    Ok(FollowupRecord {
        id,
        rating_id: get(row, "rating_id")?,
        dept: get(row, "dept")?,
        citizen: get(row, "citizen")?,
        subject_kind: subject_kind(row, "followups", id)?,
        subject: get(row, "subject")?,
        score: get(row, "score")?,
        created_at: get(row, "created_at")?,
        due_at: get(row, "due_at")?,
        closed_at: get(row, "closed_at")?,
        closed_by: get(row, "closed_by")?,
        note: get(row, "note")?,
    })
}
