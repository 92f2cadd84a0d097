//! The tonic `Appeals` service: departments work the appeals they lead
//! and help with those they co-handle (协办).
//! Authenticate (the token's department is the caller), convert at the
//! edge, hand to [`onestop_appeals_desk::Desk`], which checks that the
//! appeal is the caller's and that its state allows the action.
//!
//! Privacy: an emergency appeal's location goes to the emergency
//! department only ([`onestop_appeals_desk::privacy::location`]; others get
//! `location_withheld`), and every appeal an answer carries is first
//! recorded in its citizen's access log through the exchange's audit log
//! ([`onestop_sharing::Sharing::audit`], as evidence fetches are); when the
//! log refuses, the answer is UNAVAILABLE and carries no appeal.

use std::sync::Arc;

use onestop_appeals_desk::{Desk, DeskError, NewFile, Who, privacy, view};
use onestop_sharing::Sharing;
use onestop_store::{AppealFilter, AppealRecord, NewAccessRecord, now_ms};
use tonic::{Request, Response, Status};

use crate::auth::Authenticate;
use crate::pb::appeals as pb;

/// The states of a department's open queue.
const OPEN: [&str; 3] = ["dispatched", "accepted", "escalated"];

/// The gRPC face of the appeals desk for departments.
pub struct AppealsService {
    desk: Arc<Desk>,
    auth: Arc<dyn Authenticate>,
    /// Where reads are recorded (`None`: data sharing, and with it the
    /// access log, is off on this gateway).
    reads: Option<Arc<Sharing>>,
}

impl AppealsService {
    pub fn new(
        desk: Arc<Desk>,
        auth: Arc<dyn Authenticate>,
        reads: Option<Arc<Sharing>>,
    ) -> AppealsService {
        AppealsService { desk, auth, reads }
    }

    /// `dept`'s answer carrying `appeals`, as it may see them, once every
    /// read is in the citizens' access logs.
    fn answer(
        &self,
        dept: &str,
        appeals: &[AppealRecord],
        request_id: &str,
    ) -> Result<Vec<pb::Appeal>, Status> {
        let settings = self.desk.settings();
        let emergency = settings.emergency_dept.as_deref();
        let now = now_ms();
        for a in appeals {
            let record = privacy::read_record(Who::Department(dept), a, emergency, request_id, now);
            self.record(dept, record)?;
        }
        Ok(appeals
            .iter()
            .map(|a| appeal(a, dept, emergency, now))
            .collect())
    }

    /// Puts a read in its citizen's access log (none on this gateway:
    /// nothing to record); a refusing log is UNAVAILABLE.
    fn record(&self, dept: &str, record: Option<NewAccessRecord>) -> Result<(), Status> {
        let (Some(sharing), Some(record)) = (&self.reads, record) else {
            return Ok(());
        };
        sharing.audit(record).map_err(|e| {
            crate::events::appeal_read_unrecorded(dept, &e);
            Status::unavailable(format!(
                "the access log is unavailable, so no appeal is returned ({e}); \
                 an Accept, Reply or Return was done all the same"
            ))
        })
    }

    /// One action of the caller's on an appeal: authenticated, done by
    /// `act` on the desk, answered with the appeal as the caller may see
    /// it (the read recorded first).
    async fn acted<T, F, Fut>(
        &self,
        request: Request<T>,
        act: F,
    ) -> Result<Response<pb::Appeal>, Status>
    where
        F: FnOnce(Arc<Desk>, String, T) -> Fut,
        Fut: std::future::Future<Output = Result<AppealRecord, DeskError>>,
    {
        let dept = self.caller(&request)?;
        let rid = request_id(&request);
        let a = act(self.desk.clone(), dept.clone(), request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(self.one(&dept, &a, &rid)?))
    }

    fn one(&self, dept: &str, a: &AppealRecord, request_id: &str) -> Result<pb::Appeal, Status> {
        self.answer(dept, std::slice::from_ref(a), request_id)?
            .pop()
            .ok_or_else(|| Status::internal("no appeal to answer with"))
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<String, Status> {
        crate::auth::caller(self.auth.as_ref(), request).ok_or_else(|| {
            Status::unauthenticated("a department token is required (authorization: Bearer …)")
        })
    }
}

/// Largest `Reply` (with its documents) the server decodes: room for the
/// most attachments of the largest size `[appeals]` allows when the server
/// is built, and 1 MiB for the rest; never below tonic's 4 MiB default.
fn max_message(desk: &Desk) -> usize {
    let input = &desk.settings().input;
    let files = input
        .max_attachment_bytes
        .saturating_mul(input.max_attachments as u64);
    usize::try_from(files.saturating_add(1 << 20))
        .unwrap_or(usize::MAX)
        .max(4 << 20)
}

/// The server, ready for the control listener's routes.
pub fn server(
    desk: Arc<Desk>,
    auth: Arc<dyn Authenticate>,
    reads: Option<Arc<Sharing>>,
) -> pb::appeals_server::AppealsServer<AppealsService> {
    let max = max_message(&desk);
    pb::appeals_server::AppealsServer::new(AppealsService::new(desk, auth, reads))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max)
}

/// The request id a read is recorded with: the caller's `x-request-id`
/// when well formed, else a new one.
fn request_id<T>(request: &Request<T>) -> String {
    onestop_core::request_id::accept_or_generate(
        request.metadata().get("x-request-id").map(|v| v.as_bytes()),
    )
}

/// The gRPC status of a desk error.
pub fn status(e: DeskError) -> Status {
    let message = e.to_string();
    match e {
        DeskError::Invalid(f) => Status::invalid_argument(format!("{}: {}", f.field, f.message)),
        DeskError::NotFound => Status::not_found(message),
        DeskError::NotYours(_) => Status::permission_denied(message),
        DeskError::WrongState(_) => Status::failed_precondition(message),
        DeskError::Busy => Status::aborted(message),
        DeskError::Unavailable(_) => Status::unavailable(message),
        DeskError::MethodNotAllowed(_) => Status::unimplemented(message),
        DeskError::Unsupported(f) => {
            Status::invalid_argument(format!("{}: {}", f.field, f.message))
        }
        DeskError::TooLarge(_) => Status::invalid_argument(message),
        DeskError::Internal(_) => Status::internal(message),
    }
}

fn appeal(a: &AppealRecord, dept: &str, emergency: Option<&str>, now: i64) -> pb::Appeal {
    let location = privacy::location(Who::Department(dept), a, emergency);
    pb::Appeal {
        id: a.id.clone(),
        kind: a.kind.clone(),
        title: a.title.clone(),
        content: a.content.clone(),
        state: a.state.clone(),
        dept: a.dept.clone().unwrap_or_default(),
        matter: a.matter.clone().unwrap_or_default(),
        location_json: location.shown().map(|l| l.to_string()).unwrap_or_default(),
        location_withheld: location.withheld(),
        created_at_ms: a.created_at,
        accept_due_ms: a.accept_due.unwrap_or_default(),
        reply_due_ms: a.reply_due,
        overdue: view::overdue(a, now),
        reply: a.reply.clone().unwrap_or_default(),
        timeline: a
            .timeline
            .iter()
            .map(|e| pb::Event {
                at_ms: e.at,
                event: e.event.clone(),
                actor: e.actor.clone(),
                dept: e.dept.clone().unwrap_or_default(),
                note: e.note.clone(),
                attachments: a
                    .attachments
                    .iter()
                    .filter(|t| t.seq == e.seq)
                    .map(|t| t.hash.clone())
                    .collect(),
            })
            .collect(),
        attachments: a
            .attachments
            .iter()
            .map(|t| pb::Attachment {
                id: t.hash.clone(),
                media_type: t.media_type.clone(),
                size: t.size,
                by: t.actor.clone(),
                by_id: t.actor_id.clone().unwrap_or_default(),
                at_ms: t.at,
            })
            .collect(),
        co_handlers: a.co_handlers.clone(),
        supervised: a.supervised_at.is_some(),
    }
}

#[tonic::async_trait]
impl pb::appeals_server::Appeals for AppealsService {
    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let dept = self.caller(&request)?;
        let rid = request_id(&request);
        let req = request.into_inner();
        let filter = AppealFilter {
            states: if req.all {
                Vec::new()
            } else {
                OPEN.map(String::from).to_vec()
            },
            limit: req.limit,
            after: (!req.after.is_empty()).then_some(req.after),
            // The desk puts the caller in.
            cohandler: req.cohandled.then(String::new),
            ..AppealFilter::default()
        };
        let list = self
            .desk
            .list(Who::Department(&dept), filter)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListResponse {
            appeals: self.answer(&dept, &list, &rid)?,
        }))
    }

    async fn accept(
        &self,
        request: Request<pb::AcceptRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        self.acted(request, |desk, dept, req| async move {
            desk.accept(&dept, &req.id, &req.note, now_ms()).await
        })
        .await
    }

    async fn reply(
        &self,
        request: Request<pb::ReplyRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        self.acted(request, |desk, dept, req| async move {
            let files: Vec<NewFile<'_>> = req
                .attachments
                .iter()
                .map(|f| NewFile {
                    content_type: (!f.content_type.is_empty()).then_some(f.content_type.as_str()),
                    content: &f.content,
                })
                .collect();
            desk.reply_with(&dept, &req.id, &req.text, &files, now_ms())
                .await
        })
        .await
    }

    async fn add_co_handler(
        &self,
        request: Request<pb::AddCoHandlerRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        self.acted(request, |desk, dept, req| async move {
            desk.add_co_handler(&dept, &req.id, &req.dept, &req.note, now_ms())
                .await
        })
        .await
    }

    async fn assist(
        &self,
        request: Request<pb::AssistRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        self.acted(request, |desk, dept, req| async move {
            desk.assist(&dept, &req.id, &req.note, now_ms()).await
        })
        .await
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::AttachmentContent>, Status> {
        let dept = self.caller(&request)?;
        let rid = request_id(&request);
        let req = request.into_inner();
        let (a, blob) = self
            .desk
            .attachment(Who::Department(&dept), &req.id, &req.attachment_id)
            .await
            .map_err(status)?;
        let record =
            privacy::attachment_record(Who::Department(&dept), &a, &blob.hash, &rid, now_ms());
        self.record(&dept, record)?;
        Ok(Response::new(pb::AttachmentContent {
            id: blob.hash,
            media_type: blob.media_type,
            size: blob.size,
            content: blob.content,
        }))
    }

    async fn r#return(
        &self,
        request: Request<pb::ReturnRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        self.acted(request, |desk, dept, req| async move {
            desk.return_to_operators(&dept, &req.id, &req.reason, now_ms())
                .await
        })
        .await
    }
}
