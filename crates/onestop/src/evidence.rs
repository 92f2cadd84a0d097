//! Evidence (一证通办) for case steps through the exchange: each read is
//! `Sharing::fetch` as the step's department — its approved agreement for
//! the purpose, the citizen's consent where the item's class needs it, the
//! agreement's fields with sensitive ones masked, and one access-log
//! record (department, item, fields, purpose) the citizen sees in
//! `GET /api/v1/me/access-log`.

use std::sync::Arc;

use async_trait::async_trait;
use onestop_cases::{EvidenceError, EvidenceRequest, EvidenceSource};
use onestop_sharing::{FetchRequest, Sharing, SharingError};
use serde_json::{Map, Value};

/// Evidence read through the exchange.
pub struct ExchangeEvidence {
    sharing: Arc<Sharing>,
}

impl ExchangeEvidence {
    pub fn new(sharing: Arc<Sharing>) -> ExchangeEvidence {
        ExchangeEvidence { sharing }
    }
}

#[async_trait]
impl EvidenceSource for ExchangeEvidence {
    async fn fetch(&self, req: EvidenceRequest<'_>) -> Result<Map<String, Value>, EvidenceError> {
        let fetched = self
            .sharing
            .fetch(
                req.consumer,
                FetchRequest {
                    item: req.item.to_owned(),
                    citizen: req.citizen.to_owned(),
                    purpose: req.purpose.to_owned(),
                    request_id: Some(req.request_id),
                },
            )
            .await
            .map_err(refusal)?;
        serde_json::from_slice(&fetched.data)
            .map_err(|e| EvidenceError::Unavailable(format!("exchange answer: {e}")))
    }
}

/// What a citizen is told: refusals that will not change by themselves
/// are final; a provider or audit log that did not answer is retried.
fn refusal(e: SharingError) -> EvidenceError {
    match e {
        SharingError::Denied(d) => {
            EvidenceError::Refused(format!("{} ({})", d.message(), d.code()))
        }
        SharingError::NotFound(m) | SharingError::Forbidden(m) => EvidenceError::Refused(m),
        SharingError::Invalid(_) => EvidenceError::Refused(e.to_string()),
        SharingError::Unavailable(m) | SharingError::Conflict(m) | SharingError::Internal(m) => {
            EvidenceError::Unavailable(m)
        }
    }
}
