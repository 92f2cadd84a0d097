//! The appeals desk (12345): citizens' appeals over the store.
//!
//! [`Desk`] joins the pure rules of `onestop-appeals` (state machine,
//! dispatch, calendar, input check) to the store's [`AppealStore`]: a
//! submission is checked, dispatched by the rules (or left in the
//! operators' queue) and written with its first timeline entries in one
//! transaction; every later action — a department's accept, reply or
//! return, an operator's dispatch or close, the citizen's rating, the
//! scanner's escalation — reads the appeal, checks who may act on it and
//! asks [`onestop_appeals::next_state`], then writes the change and its
//! timeline entry as one compare-and-set transaction. A refusal writes
//! nothing.
//!
//! Who may see what: a citizen sees only their own appeals (anybody
//! else's answers exactly like one that does not exist); a department only
//! the appeals it leads (another's: [`DeskError::NotYours`]); operators
//! all. [`api`] is the citizens' HTTP API; [`scanner`] the overdue scan.

#![forbid(unsafe_code)]

pub mod api;
pub mod disclose;
mod events;
mod figures;
pub mod privacy;
pub mod scanner;
pub mod view;

pub use figures::{StoreAppeals, figures};

use std::sync::Arc;

use arc_swap::ArcSwap;
use onestop_appeals::{
    Action, Actor, AttachmentError, Destination, FieldError, Kind, Refusal, Settings, State,
    check_attachment, next_state, parse_submission,
};
use onestop_store::{
    AppealChange, AppealCount, AppealFilter, AppealRecord, AppealStore, AttachmentBlob, Millis,
    NewAppeal, NewAppealEvent, NewDispatch, StoreError,
};
use serde_json::Value;

/// Why a request about appeals was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeskError {
    /// A field is wrong (400, naming it).
    #[error("{0}")]
    Invalid(FieldError),
    /// No such appeal — or another citizen's: both answer alike (404).
    #[error("no such appeal")]
    NotFound,
    /// A department acting on an appeal it does not lead, or an actor
    /// that never takes this action (403 / PERMISSION_DENIED).
    #[error("{0}")]
    NotYours(String),
    /// The appeal is not in a state for this (409).
    #[error("{0}")]
    WrongState(String),
    /// Concurrent changes kept winning (409; try again).
    #[error("the appeal is changing; try again")]
    Busy,
    /// The store is unreachable (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The path does not take this method (405).
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// An attachment over `[appeals] max_attachment_bytes` (413).
    #[error("{0}")]
    TooLarge(String),
    /// An attachment of a type not taken, or not what the content is (415,
    /// naming `Content-Type`).
    #[error("{0}")]
    Unsupported(FieldError),
    /// Anything else (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl DeskError {
    /// The error code in the gateway's JSON error shape.
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::Invalid(_) => "INVALID_ARGUMENT",
            DeskError::NotFound => "APPEAL_NOT_FOUND",
            DeskError::NotYours(_) => "PERMISSION_DENIED",
            DeskError::WrongState(_) => "APPEAL_WRONG_STATE",
            DeskError::Busy => "APPEAL_BUSY",
            DeskError::Unavailable(_) => "STORE_UNAVAILABLE",
            DeskError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            DeskError::TooLarge(_) => "BODY_TOO_LARGE",
            DeskError::Unsupported(_) => "UNSUPPORTED_MEDIA_TYPE",
            DeskError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            DeskError::Invalid(_) => 400,
            DeskError::NotFound => 404,
            DeskError::NotYours(_) => 403,
            DeskError::WrongState(_) | DeskError::Busy => 409,
            DeskError::Unavailable(_) => 503,
            DeskError::MethodNotAllowed(_) => 405,
            DeskError::TooLarge(_) => 413,
            DeskError::Unsupported(_) => 415,
            DeskError::Internal(_) => 500,
        }
    }

    /// The field at fault, for 400s.
    pub fn field(&self) -> Option<&str> {
        match self {
            DeskError::Invalid(e) | DeskError::Unsupported(e) => Some(&e.field),
            _ => None,
        }
    }
}

fn store_error(e: StoreError) -> DeskError {
    match e {
        StoreError::Unavailable(m) => DeskError::Unavailable(m),
        StoreError::NotFound(_) => DeskError::NotFound,
        other => DeskError::Internal(other.to_string()),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> DeskError {
    DeskError::Invalid(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

fn refused(r: Refusal) -> DeskError {
    match r {
        Refusal::NotYours { .. } => DeskError::NotYours(r.to_string()),
        Refusal::WrongState { .. } => DeskError::WrongState(r.to_string()),
    }
}

/// Who acts, with the identity the desk checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    /// A verified citizen.
    Citizen(&'a str),
    /// A department, by its id (from its token).
    Department(&'a str),
    /// An operator, by name.
    Operator(&'a str),
    /// The gateway (dispatch rules, the scanner).
    System,
}

impl Who<'_> {
    fn actor(self) -> Actor {
        match self {
            Who::Citizen(_) => Actor::Citizen,
            Who::Department(_) => Actor::Department,
            Who::Operator(_) => Actor::Operator,
            Who::System => Actor::System,
        }
    }

    fn id(self) -> Option<String> {
        match self {
            Who::Department(d) | Who::Operator(d) => Some(d.to_owned()),
            Who::Citizen(_) | Who::System => None,
        }
    }
}

/// A citizen's submission as it arrives.
#[derive(Debug, Clone, Copy)]
pub struct Submit<'a> {
    pub citizen: &'a str,
    pub channel: Option<&'a str>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    pub body: &'a Value,
}

/// A stored upload (without its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub blob: AttachmentBlob,
    /// `false`: that content was stored already.
    pub fresh: bool,
}

/// A document a department sends with its reply.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    /// The declared media type (checked against the content).
    pub content_type: Option<&'a str>,
    pub content: &'a [u8],
}

/// An upload's refusal, naming the item of a list it concerns.
fn in_field(e: DeskError, field: &str) -> DeskError {
    match e {
        DeskError::Invalid(f) | DeskError::Unsupported(f) => invalid(field, f.message),
        DeskError::TooLarge(m) => invalid(field, m),
        other => other,
    }
}

/// Attempts of one action against concurrent changes.
const ATTEMPTS: usize = 4;
/// How long a department has to follow up a bad rating (回访整改; local
/// rules say 5–15 working days).
pub const FOLLOWUP_LIMIT: onestop_appeals::Limit = onestop_appeals::Limit::WorkingDays(5);
/// Co-handling departments of one appeal at most.
pub const MAX_CO_HANDLERS: usize = 8;
/// Longest note, reply or reason, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;

/// The appeals desk.
pub struct Desk {
    store: Arc<dyn AppealStore>,
    settings: ArcSwap<Settings>,
}

impl Desk {
    pub fn new(store: Arc<dyn AppealStore>, settings: Settings) -> Desk {
        Desk {
            store,
            settings: ArcSwap::from_pointee(settings),
        }
    }

    /// New settings (a reloaded configuration); appeals already filed keep
    /// their deadlines.
    pub fn update(&self, settings: Settings) {
        self.settings.store(Arc::new(settings));
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Files a citizen's appeal: checked, dispatched by the rules or left
    /// in the operators' queue, written with its timeline. With an
    /// `Idempotency-Key` the citizen used before: that appeal (`false`).
    pub async fn submit(
        &self,
        s: Submit<'_>,
        now: Millis,
    ) -> Result<(AppealRecord, bool), DeskError> {
        let settings = self.settings.load();
        let sub = parse_submission(s.body, &settings.input).map_err(DeskError::Invalid)?;
        if let Some(key) = s.idempotency_key
            && (key.is_empty() || key.len() > 128 || key.chars().any(|c| c.is_control()))
        {
            return Err(invalid(
                "Idempotency-Key",
                "1-128 characters without control characters",
            ));
        }
        self.known_attachments(&sub.attachments).await?;
        let limits = settings.limits_for(sub.kind);
        let cal = &settings.calendar;
        let dest = settings.rules.decide(
            sub.kind,
            sub.matter.as_deref(),
            sub.matter_dept(),
            &sub.title,
            &sub.content,
            sub.dept.as_deref(),
        );
        let dispatch = match dest {
            Destination::Dept { dept, by } => Some(NewDispatch {
                dept,
                accept_due: cal.deadline(now, limits.accept),
                note: by,
            }),
            Destination::Operators => None,
        };
        let location = sub
            .location
            .as_ref()
            .map(|l| serde_json::to_value(l).map_err(|e| DeskError::Internal(e.to_string())))
            .transpose()?;
        let mut new = NewAppeal {
            id: appeal_number(now, cal.utc_offset_hours),
            citizen: s.citizen.to_owned(),
            channel: s.channel.map(str::to_owned),
            kind: sub.kind.as_str().to_owned(),
            title: sub.title,
            content: sub.content,
            matter: sub.matter,
            hint_dept: sub.dept,
            location,
            disclose: sub.disclose,
            submit_key: s.idempotency_key.map(str::to_owned),
            created_at: now,
            reply_due: cal.deadline(now, limits.reply),
            // The operators owe a dispatch within the accept limit.
            next_due: cal.deadline(now, limits.accept),
            dispatch,
            attachments: sub.attachments,
        };
        for _ in 0..ATTEMPTS {
            match self.store.create_appeal(&new).await {
                Ok((record, fresh)) => {
                    if fresh {
                        events::submitted(&record);
                    }
                    return Ok((record, fresh));
                }
                // The random number was taken: draw another.
                Err(StoreError::Conflict(_)) => new.id = appeal_number(now, cal.utc_offset_hours),
                // An attachment vanished between the check and the write.
                Err(StoreError::NotFound(m)) => return Err(invalid("attachments", m)),
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(DeskError::Busy)
    }

    /// One appeal as `who` may see it, with its timeline.
    pub async fn read(&self, who: Who<'_>, id: &str) -> Result<AppealRecord, DeskError> {
        let appeal = self
            .store
            .appeal(id)
            .await
            .map_err(store_error)?
            .ok_or(DeskError::NotFound)?;
        may_see(who, &appeal)?;
        Ok(appeal)
    }

    /// Appeals `who` may list: a citizen their own (newest first), a
    /// department those it leads, an operator any (`filter` narrows).
    pub async fn list(
        &self,
        who: Who<'_>,
        mut filter: AppealFilter,
    ) -> Result<Vec<AppealRecord>, DeskError> {
        match who {
            Who::Citizen(c) => {
                filter.citizen = Some(c.to_owned());
                filter.dept = None;
            }
            // Those it leads, or with `cohandler` set those it co-handles.
            Who::Department(d) if filter.cohandler.is_some() => {
                filter.cohandler = Some(d.to_owned());
                filter.dept = None;
                filter.citizen = None;
                filter.queue = false;
            }
            Who::Department(d) => {
                filter.dept = Some(d.to_owned());
                filter.citizen = None;
                filter.queue = false;
            }
            Who::Operator(_) | Who::System => {}
        }
        self.store.list_appeals(&filter).await.map_err(store_error)
    }

    /// The public feed: disclosed appeals closed after a reply, the latest
    /// closed first; `before` (an appeal id) pages back. The records are
    /// unmasked: [`view::public_entry`] masks them.
    pub async fn disclosed(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppealRecord>, DeskError> {
        self.store
            .disclosed_appeals(before, limit)
            .await
            .map_err(store_error)
    }

    /// A department accepts (签收).
    pub async fn accept(
        &self,
        dept: &str,
        id: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, false)?;
        self.act(Who::Department(dept), id, Action::Accept, |a, state| {
            AppealChange {
                state: state.as_str().into(),
                dept: a.dept.clone(),
                next_due: Some(a.reply_due),
                accepted_at: Some(now),
                event: Some(entry(
                    Action::Accept,
                    Who::Department(dept),
                    a.dept.clone(),
                    &note,
                )),
                ..base(a, now)
            }
        })
        .await
    }

    /// A department replies (答复): the citizen may rate it.
    pub async fn reply(
        &self,
        dept: &str,
        id: &str,
        text: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        self.reply_with(dept, id, text, &[], now).await
    }

    /// A department replies with documents: each checked like a citizen's
    /// upload (`attachments[i]` named when refused), stored by hash, and
    /// attached with the reply's timeline entry — or, on any refusal, the
    /// reply is not written (a stored blob no appeal names stays unnamed).
    pub async fn reply_with(
        &self,
        dept: &str,
        id: &str,
        text: &str,
        files: &[NewFile<'_>],
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let text = checked_note("text", text, true)?;
        let max = self.settings.load().input.max_attachments;
        if files.len() > max {
            return Err(invalid(
                "attachments",
                format!("{} attachments, at most {max}", files.len()),
            ));
        }
        // The appeal must be the department's before anything is stored.
        self.read(Who::Department(dept), id).await?;
        let mut hashes: Vec<String> = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let blob = self
                .upload(f.content_type, f.content, now)
                .await
                .map_err(|e| in_field(e, &format!("attachments[{i}]")))?;
            if !hashes.contains(&blob.blob.hash) {
                hashes.push(blob.blob.hash);
            }
        }
        self.act(Who::Department(dept), id, Action::Reply, |a, state| {
            AppealChange {
                state: state.as_str().into(),
                dept: a.dept.clone(),
                next_due: None,
                // An escalated appeal answered without a separate accept is
                // accepted by the reply; an accepted one keeps its time.
                accepted_at: Some(a.accepted_at.unwrap_or(now)),
                replied_at: Some(now),
                reply: Some(text.clone()),
                event: Some(entry(
                    Action::Reply,
                    Who::Department(dept),
                    a.dept.clone(),
                    &text,
                )),
                attachments: hashes.clone(),
                ..base(a, now)
            }
        })
        .await
    }

    /// A department sends it back with a reason (退单): the operators' queue.
    pub async fn return_to_operators(
        &self,
        dept: &str,
        id: &str,
        reason: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let reason = checked_note("reason", reason, true)?;
        let settings = self.settings.load();
        self.act(Who::Department(dept), id, Action::Return, |a, state| {
            let accept = kind_of(a).map(|k| settings.limits_for(k).accept);
            AppealChange {
                state: state.as_str().into(),
                dept: None,
                next_due: accept.map(|l| settings.calendar.deadline(now, l)),
                event: Some(entry(
                    Action::Return,
                    Who::Department(dept),
                    a.dept.clone(),
                    &reason,
                )),
                ..base(a, now)
            }
        })
        .await
    }

    /// An operator dispatches (or re-dispatches) to `dept`. A re-dispatch
    /// after a return is counted against nobody's on-time figure: the new
    /// department's accept limit starts now.
    pub async fn dispatch(
        &self,
        operator: &str,
        id: &str,
        dept: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, false)?;
        let settings = self.settings.load();
        if !settings.rules.depts.contains(dept) {
            return Err(invalid("dept", format!("unknown department `{dept}`")));
        }
        self.act(Who::Operator(operator), id, Action::Dispatch, |a, state| {
            let accept = kind_of(a).map(|k| settings.limits_for(k).accept);
            let accept_due = accept.map(|l| settings.calendar.deadline(now, l));
            AppealChange {
                state: state.as_str().into(),
                dept: Some(dept.to_owned()),
                next_due: accept_due,
                dispatched_at: Some(now),
                accept_due,
                redispatch: a.state == State::Returned.as_str(),
                event: Some(entry(
                    Action::Dispatch,
                    Who::Operator(operator),
                    Some(dept.to_owned()),
                    &note,
                )),
                ..base(a, now)
            }
        })
        .await
    }

    /// An operator closes an appeal (办结; also spam and duplicates).
    pub async fn close(
        &self,
        operator: &str,
        id: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, true)?;
        self.act(Who::Operator(operator), id, Action::Close, |a, state| {
            AppealChange {
                state: state.as_str().into(),
                dept: a.dept.clone(),
                next_due: None,
                closed_at: Some(now),
                event: Some(entry(
                    Action::Close,
                    Who::Operator(operator),
                    a.dept.clone(),
                    &note,
                )),
                ..base(a, now)
            }
        })
        .await
    }

    /// The citizen rates the reply 1–5 (评价), which closes the appeal. A
    /// bad rating (1–2, 差评) opens a follow-up (回访整改) for the lead
    /// department in the same transaction, due [`FOLLOWUP_LIMIT`] later on
    /// the working-day calendar; operators see and close it under
    /// `/admin/v1/followups` like a case's.
    pub async fn rate(
        &self,
        citizen: &str,
        id: &str,
        score: i64,
        comment: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        if !(1..=5).contains(&score) {
            return Err(invalid("score", "must be 1 to 5"));
        }
        let comment = checked_note("comment", comment, false)?;
        let followup_due_at =
            (score <= 2).then(|| self.settings.load().calendar.deadline(now, FOLLOWUP_LIMIT));
        self.act(Who::Citizen(citizen), id, Action::Rate, |a, state| {
            AppealChange {
                followup_due_at: followup_due_at.filter(|_| a.dept.is_some()),
                state: state.as_str().into(),
                dept: a.dept.clone(),
                next_due: None,
                closed_at: Some(now),
                score: Some(score),
                rating_comment: Some(comment.clone()),
                rated_at: Some(now),
                event: Some(entry(
                    Action::Rate,
                    Who::Citizen(citizen),
                    a.dept.clone(),
                    &score.to_string(),
                )),
                ..base(a, now)
            }
        })
        .await
    }

    /// An operator escalates (督办) an open appeal with a note; it stays
    /// with its department (once: an escalated appeal is refused).
    pub async fn escalate_by(
        &self,
        operator: &str,
        id: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, true)?;
        let settings = self.settings.load();
        self.act(Who::Operator(operator), id, Action::Escalate, |a, state| {
            escalation(a, state, Who::Operator(operator), &note, now, &settings)
        })
        .await
    }

    /// Marks one overdue appeal `escalated` (once: a concurrent escalation
    /// or any other change in between makes this one a no-op, `Ok(None)`).
    pub async fn escalate(
        &self,
        appeal: &AppealRecord,
        now: Millis,
    ) -> Result<Option<AppealRecord>, DeskError> {
        let state = state_of(appeal)?;
        if appeal.escalated_at.is_some() {
            return Ok(None);
        }
        let next = match next_state(state, Action::Escalate, Actor::System) {
            Ok(next) => next,
            Err(_) => return Ok(None),
        };
        let which = if appeal.dept.is_none() {
            "dispatch overdue (督办: operators)"
        } else if appeal.accepted_at.is_none() {
            "accept overdue (催办)"
        } else {
            "reply overdue (催办)"
        };
        let settings = self.settings.load();
        let change = escalation(appeal, next, Who::System, which, now, &settings);
        self.change_once(appeal, &change, Action::Escalate).await
    }

    /// Supervises (督办) one appeal still overdue a working day after its
    /// 催办: a timeline entry for the operators and the citizen; it stays
    /// with its department. Once: `supervised_at` is set with it, and a
    /// concurrent change makes this a no-op (`Ok(None)`).
    pub async fn supervise(
        &self,
        appeal: &AppealRecord,
        now: Millis,
    ) -> Result<Option<AppealRecord>, DeskError> {
        let state = state_of(appeal)?;
        let still_overdue = appeal.next_due.is_some_and(|due| due < now);
        if appeal.supervised_at.is_some() || !still_overdue {
            return Ok(None);
        }
        let Ok(next) = next_state(state, Action::Supervise, Actor::System) else {
            return Ok(None);
        };
        let which = if appeal.accepted_at.is_none() {
            "still not accepted a working day after the reminder (督办: operators)"
        } else {
            "still not replied a working day after the reminder (督办: operators)"
        };
        let about = appeal.dept.clone();
        let change = AppealChange {
            supervised_at: Some(now),
            ..in_place(
                appeal,
                next,
                Action::Supervise,
                Who::System,
                about,
                which,
                now,
            )
        };
        self.change_once(appeal, &change, Action::Supervise).await
    }

    /// The lead department brings in `co_dept` to help (协办): it then
    /// sees the appeal, lists it (`List` with `cohandled`) and gives its
    /// part with [`Desk::assist`]; the lead still replies. A department
    /// added before, the lead itself or an unknown one is refused.
    pub async fn add_co_handler(
        &self,
        dept: &str,
        id: &str,
        co_dept: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, false)?;
        if !self.settings.load().rules.depts.contains(co_dept) {
            return Err(invalid("dept", format!("unknown department `{co_dept}`")));
        }
        let appeal = self.read(Who::Department(dept), id).await?;
        if appeal.dept.as_deref() == Some(co_dept) {
            return Err(invalid("dept", format!("`{co_dept}` leads appeal {id}")));
        }
        if appeal.co_handlers.iter().any(|c| c == co_dept) {
            // (Two adding it at once: the second's write conflicts until
            // its attempts run out, `Busy`.)
            return Err(DeskError::WrongState(format!(
                "`{co_dept}` co-handles appeal {id} already"
            )));
        }
        if appeal.co_handlers.len() >= MAX_CO_HANDLERS {
            return Err(invalid(
                "dept",
                format!("at most {MAX_CO_HANDLERS} co-handlers"),
            ));
        }
        let (who, about) = (Who::Department(dept), Some(co_dept.to_owned()));
        self.act(who, id, Action::AddCoHandler, |a, state| AppealChange {
            co_handler: about.clone(),
            ..in_place(
                a,
                state,
                Action::AddCoHandler,
                who,
                about.clone(),
                &note,
                now,
            )
        })
        .await
    }

    /// A co-handling department gives its part (协办意见): a timeline entry
    /// the lead reads before it replies.
    pub async fn assist(
        &self,
        dept: &str,
        id: &str,
        note: &str,
        now: Millis,
    ) -> Result<AppealRecord, DeskError> {
        let note = checked_note("note", note, true)?;
        let (who, about) = (Who::Department(dept), Some(dept.to_owned()));
        self.act(who, id, Action::Assist, |a, state| {
            in_place(a, state, Action::Assist, who, about.clone(), &note, now)
        })
        .await
    }

    /// Writes a change the gateway decided on its own (the scanner's):
    /// another change in between makes it a no-op.
    async fn change_once(
        &self,
        appeal: &AppealRecord,
        change: &AppealChange,
        action: Action,
    ) -> Result<Option<AppealRecord>, DeskError> {
        match self.store.change_appeal(&appeal.id, change).await {
            Ok(record) => {
                events::changed(&record, action);
                Ok(Some(record))
            }
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Counts per state, kind and department, with the overdue ones.
    pub async fn counts(&self, now: Millis) -> Result<Vec<AppealCount>, DeskError> {
        self.store.appeal_counts(now).await.map_err(store_error)
    }

    /// Escalated appeals due their 督办 (see [`Desk::supervise`]).
    pub async fn supervision_due(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<AppealRecord>, DeskError> {
        self.store
            .supervision_due(now, limit)
            .await
            .map_err(store_error)
    }

    /// Open appeals past their deadline that never escalated.
    pub async fn overdue(&self, now: Millis, limit: u32) -> Result<Vec<AppealRecord>, DeskError> {
        self.store
            .overdue_appeals(now, limit)
            .await
            .map_err(store_error)
    }

    /// Stores an attachment (a citizen's upload, a department's document):
    /// size and type checked against `[appeals]` (the type by the
    /// content's magic bytes), stored once per content hash. Returns it
    /// without content, and whether it was new.
    pub async fn upload(
        &self,
        content_type: Option<&str>,
        content: &[u8],
        now: Millis,
    ) -> Result<Uploaded, DeskError> {
        let settings = self.settings.load();
        let checked =
            check_attachment(content_type, content, &settings.input).map_err(|e| match e {
                AttachmentError::TooLarge { .. } => DeskError::TooLarge(e.to_string()),
                AttachmentError::Empty => invalid("body", e.to_string()),
                AttachmentError::Type(m) => DeskError::Unsupported(FieldError {
                    field: "Content-Type".into(),
                    message: m,
                }),
            })?;
        let blob = AttachmentBlob {
            hash: checked.hash,
            media_type: checked.media_type,
            size: content.len() as i64,
            content: content.to_vec(),
        };
        let fresh = self
            .store
            .put_appeal_blob(&blob, now)
            .await
            .map_err(store_error)?;
        events::uploaded(&blob, fresh);
        Ok(Uploaded {
            blob: AttachmentBlob {
                content: Vec::new(),
                ..blob
            },
            fresh,
        })
    }

    /// One attachment of an appeal `who` may see, with its content, and
    /// the appeal (whose citizen's access log records a department's or
    /// an operator's fetch: [`privacy::attachment_record`]). An attachment
    /// the appeal does not carry answers like a missing appeal.
    pub async fn attachment(
        &self,
        who: Who<'_>,
        id: &str,
        hash: &str,
    ) -> Result<(AppealRecord, AttachmentBlob), DeskError> {
        let appeal = self.read(who, id).await?;
        if !appeal.attachments.iter().any(|a| a.hash == hash) {
            return Err(DeskError::NotFound);
        }
        let blob = self
            .store
            .appeal_blob(hash, true)
            .await
            .map_err(store_error)?
            .ok_or(DeskError::NotFound)?;
        Ok((appeal, blob))
    }

    /// Every hash is a stored attachment (`attachments[i]` names one that
    /// is not).
    async fn known_attachments(&self, hashes: &[String]) -> Result<(), DeskError> {
        for (i, h) in hashes.iter().enumerate() {
            if self
                .store
                .appeal_blob(h, false)
                .await
                .map_err(store_error)?
                .is_none()
            {
                return Err(invalid(
                    &format!("attachments[{i}]"),
                    "no such attachment (upload it first)",
                ));
            }
        }
        Ok(())
    }

    /// The store (for the scanner's lease and assessment).
    pub fn store(&self) -> &Arc<dyn AppealStore> {
        &self.store
    }

    /// Read, check, decide, write — again when another change came first.
    async fn act(
        &self,
        who: Who<'_>,
        id: &str,
        action: Action,
        change: impl Fn(&AppealRecord, State) -> AppealChange,
    ) -> Result<AppealRecord, DeskError> {
        for _ in 0..ATTEMPTS {
            let appeal = self
                .store
                .appeal(id)
                .await
                .map_err(store_error)?
                .ok_or(DeskError::NotFound)?;
            may_see(who, &appeal)?;
            may_act(who, action, &appeal)?;
            let state = state_of(&appeal)?;
            let next = next_state(state, action, who.actor()).map_err(refused)?;
            match self.store.change_appeal(id, &change(&appeal, next)).await {
                Ok(record) => {
                    events::changed(&record, action);
                    return Ok(record);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(DeskError::Busy)
    }
}

/// Whether `who` may see `appeal`: its citizen, its lead department, its
/// co-handling departments (协办), operators. Another citizen's appeal
/// does not exist for a citizen; a department is told it is not its own.
fn may_see(who: Who<'_>, appeal: &AppealRecord) -> Result<(), DeskError> {
    match who {
        Who::Citizen(c) if c == appeal.citizen => Ok(()),
        Who::Citizen(_) => Err(DeskError::NotFound),
        Who::Department(d) if appeal.dept.as_deref() == Some(d) => Ok(()),
        Who::Department(d) if appeal.co_handlers.iter().any(|c| c == d) => Ok(()),
        Who::Department(d) => Err(DeskError::NotYours(format!(
            "appeal {} is not department {d}'s",
            appeal.id
        ))),
        Who::Operator(_) | Who::System => Ok(()),
    }
}

/// Whether a department that may see `appeal` may take `action` on it:
/// the lead accepts, replies, returns and brings in co-handlers (首问负责);
/// a co-handler gives its part (协办意见) and nothing else.
fn may_act(who: Who<'_>, action: Action, appeal: &AppealRecord) -> Result<(), DeskError> {
    let Who::Department(d) = who else {
        return Ok(());
    };
    let leads = appeal.dept.as_deref() == Some(d);
    match (action, leads) {
        (Action::Assist, false) | (Action::Accept | Action::Reply | Action::Return, true) => Ok(()),
        (Action::AddCoHandler, true) => Ok(()),
        (Action::Assist, true) => Err(DeskError::NotYours(format!(
            "department {d} leads appeal {}: it replies; co-handlers assist",
            appeal.id
        ))),
        _ => Err(DeskError::NotYours(format!(
            "department {d} co-handles appeal {}; its lead `{}` does that",
            appeal.id,
            appeal.dept.as_deref().unwrap_or("-")
        ))),
    }
}

/// The stored state, parsed (a name the tables' CHECK would refuse is a
/// corrupt row).
fn state_of(a: &AppealRecord) -> Result<State, DeskError> {
    a.state
        .parse()
        .map_err(|_| DeskError::Internal(format!("appeal {} has state `{}`", a.id, a.state)))
}

fn kind_of(a: &AppealRecord) -> Option<Kind> {
    a.kind.parse().ok()
}

/// The change that escalates `a` into `state` (by an operator or the
/// overdue scan): the deadline stays, the escalation is marked once, and
/// a department's appeal gets its second look (督办) `supervise_after`
/// later.
fn escalation(
    a: &AppealRecord,
    state: State,
    who: Who<'_>,
    note: &str,
    now: Millis,
    settings: &Settings,
) -> AppealChange {
    let cal = &settings.calendar;
    AppealChange {
        state: state.as_str().into(),
        dept: a.dept.clone(),
        next_due: a.next_due,
        escalated_at: Some(now),
        supervise_due: a
            .dept
            .as_ref()
            .map(|_| cal.deadline(now, settings.supervise_after)),
        event: Some(entry(Action::Escalate, who, a.dept.clone(), note)),
        ..base(a, now)
    }
}

/// A change that leaves `a` where it is (督办, 协办): its department and
/// deadline stay; the timeline entry of `action` by `who` about `about`.
fn in_place(
    a: &AppealRecord,
    state: State,
    action: Action,
    who: Who<'_>,
    about: Option<String>,
    note: &str,
    now: Millis,
) -> AppealChange {
    AppealChange {
        state: state.as_str().into(),
        dept: a.dept.clone(),
        next_due: a.next_due,
        event: Some(entry(action, who, about, note)),
        ..base(a, now)
    }
}

/// The fields every change carries.
fn base(a: &AppealRecord, now: Millis) -> AppealChange {
    AppealChange {
        version: a.version,
        at: now,
        ..AppealChange::default()
    }
}

fn entry(action: Action, who: Who<'_>, dept: Option<String>, note: &str) -> NewAppealEvent {
    NewAppealEvent {
        event: action.as_str().into(),
        actor: who.actor().as_str().into(),
        actor_id: who.id(),
        dept,
        note: note.to_owned(),
    }
}

fn checked_note(field: &str, text: &str, required: bool) -> Result<String, DeskError> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if t.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid(
            field,
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(field, "holds control characters"));
    }
    Ok(t.to_owned())
}

/// An appeal number: `S`, the local date of submission and 10 random
/// digits, e.g. `S202612070123456789`.
fn appeal_number(now: Millis, utc_offset_hours: i32) -> String {
    let cal = onestop_appeals::Calendar::new(utc_offset_hours);
    let (y, m, d) = cal.day_of(now).ymd();
    format!("S{y:04}{m:02}{d:02}{:010}", fastrand::u64(..10_000_000_000))
}

#[cfg(test)]
mod tests;
