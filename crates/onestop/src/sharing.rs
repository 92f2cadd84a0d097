//! Governed data sharing in the gateway: the exchange's reads of providers
//! sent as the gateway's own requests through its public listener (as the
//! citizen, with the per-process secret), the proxy's audit of citizens'
//! reads of data items, and the citizens' consent and access-log API.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use onestop_proxy::builtin::{AccessRecorder, ApiReply, ApiRequest, CitizenApi, PersonalRead};
use onestop_proxy::internal::{CASE_CITIZEN_HEADER, Internal, Kind};
use onestop_sharing::{FetchError, Fetcher, Sharing};
use onestop_store::{NewAccessRecord, now_ms};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Largest provider answer the exchange reads.
const MAX_ITEM_BYTES: usize = 1024 * 1024;

/// Provider reads over [`Internal`]: routing, health, retries and the
/// department's signature apply as to any request of the citizen.
pub struct InternalFetcher {
    internal: Arc<Internal>,
}

impl InternalFetcher {
    pub fn new(internal: Arc<Internal>) -> InternalFetcher {
        InternalFetcher { internal }
    }
}

#[async_trait]
impl Fetcher for InternalFetcher {
    async fn fetch(
        &self,
        path: &str,
        citizen: &str,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let mut headers = HeaderMap::new();
        for (name, value) in [(CASE_CITIZEN_HEADER, citizen), ("x-request-id", request_id)] {
            let value = HeaderValue::from_str(value)
                .map_err(|_| FetchError::Failed(format!("{name} is not a header value")))?;
            headers.insert(HeaderName::from_static(name), value);
        }
        let response = self
            .internal
            .get(Kind::Exchange, path, headers)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| FetchError::Failed(format!("no answer: {e}")))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(FetchError::NotFound);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Failed(format!("answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ITEM_BYTES as u64)
        {
            return Err(FetchError::Failed("answer too large".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| FetchError::Failed(format!("answer lost: {e}")))?;
        if body.len() > MAX_ITEM_BYTES {
            return Err(FetchError::Failed("answer too large".into()));
        }
        Ok(body.to_vec())
    }
}

/// Citizens' reads through routes that declare a data item, recorded in
/// the access audit log (the consumer is the app the citizen used).
pub struct AuditRecorder {
    sharing: Arc<Sharing>,
}

impl AuditRecorder {
    pub fn new(sharing: Arc<Sharing>) -> AuditRecorder {
        AuditRecorder { sharing }
    }
}

impl AccessRecorder for AuditRecorder {
    fn record(&self, read: &PersonalRead<'_>) -> bool {
        self.sharing
            .audit(NewAccessRecord {
                at: now_ms(),
                consumer: match read.channel {
                    Some(ch) => format!("channel:{ch}"),
                    None => "citizen".into(),
                },
                citizen: read.citizen.to_string(),
                item: read.item.to_string(),
                fields: read.fields.to_vec(),
                purpose: read.purpose.to_string(),
                agreement: None,
                request_id: read.request_id.to_string(),
                outcome: "ok".into(),
            })
            .is_ok()
    }
}

/// The citizens' consent and access-log API on the public listener.
pub struct SharingApi {
    sharing: Arc<Sharing>,
}

impl SharingApi {
    pub fn new(sharing: Arc<Sharing>) -> SharingApi {
        SharingApi { sharing }
    }
}

#[async_trait]
impl CitizenApi for SharingApi {
    fn handles(&self, path: &str) -> bool {
        onestop_sharing::api::handles(path)
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply {
        match onestop_sharing::api::handle(
            &self.sharing,
            req.method,
            req.path,
            req.query,
            req.citizen,
            req.body,
        )
        .await
        {
            Ok(answer) => reply(answer),
            Err(e) => error_reply(e.status(), e.code(), &e.to_string(), req.request_id),
        }
    }
}

/// A built-in API's answer: its status and JSON document.
pub fn reply((status, doc): (u16, serde_json::Value)) -> ApiReply {
    ApiReply {
        status,
        body: serde_json::to_vec(&doc).unwrap_or_default(),
        download: None,
    }
}

/// A built-in API's error, in the gateway's one JSON error shape.
pub fn error_reply(status: u16, code: &str, message: &str, request_id: &str) -> ApiReply {
    ApiReply {
        status,
        body: onestop_core::error::json_body(code, message, request_id),
        download: None,
    }
}

/// Several citizen APIs on one listener: the first that handles a path
/// answers it.
pub struct CitizenApis(pub Vec<Arc<dyn CitizenApi>>);

#[async_trait]
impl CitizenApi for CitizenApis {
    fn handles(&self, path: &str) -> bool {
        self.0.iter().any(|a| a.handles(path))
    }

    fn anonymous(&self, path: &str) -> bool {
        self.0
            .iter()
            .find(|a| a.handles(path))
            .is_some_and(|a| a.anonymous(path))
    }

    fn max_body(&self, method: &str, path: &str) -> u64 {
        match self.0.iter().find(|a| a.handles(path)) {
            Some(api) => api.max_body(method, path),
            None => onestop_proxy::builtin::MAX_BODY as u64,
        }
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply {
        match self.0.iter().find(|a| a.handles(req.path)) {
            Some(api) => api.call(req).await,
            None => error_reply(404, "NOT_FOUND", "no such API", req.request_id),
        }
    }
}
