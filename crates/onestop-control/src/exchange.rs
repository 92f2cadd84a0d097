//! The tonic `Exchange` service: departments read citizens' data items
//! from other departments under approved agreements, and apply for
//! agreements. Authenticate (the caller is the consumer), convert at the
//! edge, hand to [`onestop_sharing::Sharing`].

use std::sync::Arc;

use onestop_sharing::{Application, FetchRequest, Sharing, SharingError};
use onestop_store::{AgreementFilter, AgreementRecord};
use tonic::{Request, Response, Status};

use crate::auth::Authenticate;
use crate::pb::exchange as pb;

/// Most agreements `ListAgreements` returns per role (consumer, provider).
const LIST_LIMIT: u32 = 1_000;

/// The gRPC face of governed data sharing.
pub struct ExchangeService {
    sharing: Arc<Sharing>,
    auth: Arc<dyn Authenticate>,
}

impl ExchangeService {
    pub fn new(sharing: Arc<Sharing>, auth: Arc<dyn Authenticate>) -> ExchangeService {
        ExchangeService { sharing, auth }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<String, Status> {
        crate::auth::caller(self.auth.as_ref(), request).ok_or_else(|| {
            Status::unauthenticated("a department token is required (authorization: Bearer …)")
        })
    }
}

/// The gRPC status of a sharing error; a denial names its reason.
pub fn status(e: SharingError) -> Status {
    let message = e.to_string();
    match e {
        SharingError::Invalid(_) => Status::invalid_argument(message),
        SharingError::NotFound(_) => Status::not_found(message),
        SharingError::Denied(_) | SharingError::Forbidden(_) => Status::permission_denied(message),
        SharingError::Conflict(_) => Status::failed_precondition(message),
        SharingError::Unavailable(_) => Status::unavailable(message),
        SharingError::Internal(_) => Status::internal(message),
    }
}

fn agreement(a: &AgreementRecord) -> pb::Agreement {
    let n = &a.agreement;
    pb::Agreement {
        id: n.id.clone(),
        consumer: n.consumer.clone(),
        provider: n.provider.clone(),
        item: n.item.clone(),
        fields: n.fields.clone(),
        clear_fields: n.clear_fields.clone(),
        purpose: n.purpose.clone(),
        legal_basis: n.legal_basis.clone(),
        expires_at_ms: n.expires_at,
        state: a.state.as_str().to_string(),
        needs_provider: n.needs_provider,
        applied_at_ms: n.applied_at,
        reason: a.reason.clone().unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl pb::exchange_server::Exchange for ExchangeService {
    async fn fetch(
        &self,
        request: Request<pb::FetchRequest>,
    ) -> Result<Response<pb::FetchResponse>, Status> {
        let consumer = self.caller(&request)?;
        let req = request.into_inner();
        let fetched = self
            .sharing
            .fetch(
                &consumer,
                FetchRequest {
                    item: req.item,
                    citizen: req.citizen,
                    purpose: req.purpose,
                    request_id: (!req.request_id.is_empty()).then_some(req.request_id),
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::FetchResponse {
            data: fetched.data,
            fields: fetched.fields,
            masked: fetched.masked,
            agreement: fetched.agreement,
            request_id: fetched.request_id,
        }))
    }

    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::Agreement>, Status> {
        let consumer = self.caller(&request)?;
        let req = request.into_inner();
        let app = Application {
            item: req.item,
            fields: req.fields,
            clear_fields: req.clear_fields,
            purpose: req.purpose,
            legal_basis: req.legal_basis,
            expires_at: req.expires_at_ms,
        };
        let record = self
            .sharing
            .apply(&consumer, &format!("dept:{consumer}"), &app)
            .await
            .map_err(status)?;
        Ok(Response::new(agreement(&record)))
    }

    async fn list_agreements(
        &self,
        request: Request<pb::ListAgreementsRequest>,
    ) -> Result<Response<pb::ListAgreementsResponse>, Status> {
        let dept = self.caller(&request)?;
        let mut all = Vec::new();
        for filter in [
            AgreementFilter {
                consumer: Some(dept.clone()),
                limit: LIST_LIMIT,
                ..AgreementFilter::default()
            },
            AgreementFilter {
                provider: Some(dept.clone()),
                limit: LIST_LIMIT,
                ..AgreementFilter::default()
            },
        ] {
            all.extend(self.sharing.agreements(&filter).await.map_err(status)?);
        }
        all.sort_by_key(|a| std::cmp::Reverse(a.agreement.applied_at));
        Ok(Response::new(pb::ListAgreementsResponse {
            agreements: all.iter().map(agreement).collect(),
        }))
    }
}
