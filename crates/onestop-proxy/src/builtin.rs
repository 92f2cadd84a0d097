//! Gateway-local APIs for a verified citizen that live outside the data
//! plane (cases and ratings): the proxy verifies the citizen, counts the
//! request against the citizen's and channel's limits, reads the body and
//! hands it over; the implementation answers with a status and a JSON
//! document.

use async_trait::async_trait;

/// Largest request body a built-in API reads.
pub const MAX_BODY: usize = 256 * 1024;

/// A request for a verified citizen.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    /// The normalised path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The verified citizen; empty for an [`CitizenApi::anonymous`] path.
    pub citizen: &'a str,
    pub channel: Option<&'a str>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    pub request_id: &'a str,
    /// The request's `Content-Type` (an upload's declared type).
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The answer: a status and a JSON document (errors in the gateway's one
/// JSON error shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `None`: `body` is JSON. `Some(media type)`: `body` is a file, served
    /// with that type, `content-disposition: attachment` and
    /// `x-content-type-options: nosniff`.
    pub download: Option<String>,
}

/// An API the gateway serves itself for citizens.
#[async_trait]
pub trait CitizenApi: Send + Sync + 'static {
    /// Whether this API serves `path` (normalised).
    fn handles(&self, path: &str) -> bool;

    /// Whether `path` is served without a citizen (public documents such
    /// as the appeals feed): the channel's app key and limits still apply,
    /// and [`ApiRequest::citizen`] is empty.
    fn anonymous(&self, _path: &str) -> bool {
        false
    }

    /// The largest body read for `method path` (a larger declared one:
    /// 413 before it is read); [`MAX_BODY`] unless the API takes uploads.
    fn max_body(&self, method: &str, path: &str) -> u64 {
        let _ = (method, path);
        MAX_BODY as u64
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply;
}

/// A citizen's read of personal data through a route that declares a data
/// item (`data_item`): what the access audit log records.
#[derive(Debug, Clone, Copy)]
pub struct PersonalRead<'a> {
    pub citizen: &'a str,
    /// The app the citizen used, if channels are configured.
    pub channel: Option<&'a str>,
    /// `<department>.<item>`.
    pub item: &'a str,
    /// The item's fields (the route answers all of them).
    pub fields: &'a [String],
    /// `self-service`, `overview` (an item of the citizen overview) or
    /// `case` (a step of the citizen's case).
    pub purpose: &'a str,
    pub request_id: &'a str,
}

/// The access audit log as the proxy sees it. `record` must not block:
/// `false` means the read could not be recorded, and the route answers
/// 503 without contacting the department (fail closed).
pub trait AccessRecorder: Send + Sync + 'static {
    fn record(&self, read: &PersonalRead<'_>) -> bool;
}
