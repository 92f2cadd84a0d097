//! The response cache on the request path: which requests may use it, the
//! answer from an entry, capturing a department's answer, and background
//! refreshes (stale-while-revalidate).
//!
//! The decisions live in `onestop-cache`; this module adapts them to
//! pingora's headers and the gateway's own requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use onestop_cache::{Entry, Fill, Key, Lookup, Origin, Policy, ResponseCache, RouteCounters, Status};
use onestop_core::request_id;
use pingora_error::Result;
use pingora_http::{RequestHeader, ResponseHeader};

/// Marks the gateway's own refresh requests; its value is a per-process
/// secret, so a client cannot force refreshes. Stripped before the
/// department (every client `x-onestop-*` header is).
pub const REFRESH_HEADER: &str = "x-onestop-cache-refresh";

/// A request's use of the cache, from lookup to storing the answer.
pub struct Use {
    pub key: Key,
    pub policy: Arc<Policy>,
    pub counters: Arc<RouteCounters>,
    pub origin: Origin,
    /// Store the answer: a leader's fill, or a refresh request (no fill).
    pub store: bool,
    pub fill: Option<Fill>,
    /// A stale entry to answer with if the department fails.
    pub stale: Option<Arc<Entry>>,
    /// The answer being captured for storing.
    pub capture: Option<Capture>,
    /// A failed answer being replaced by this stale entry.
    pub replacing: Option<Arc<Entry>>,
}

/// A department's answer, collected while it streams to the client.
pub struct Capture {
    status: u16,
    headers: HeaderMap,
    fresh: Duration,
    body: BytesMut,
}

impl Use {
    /// The department's answer has arrived: decide whether to store it,
    /// or whether a stale entry answers instead of a failure. Returns the
    /// stale entry to answer with, if any.
    pub fn on_response(
        &mut self,
        cache: &ResponseCache,
        response: &ResponseHeader,
        now: Instant,
    ) -> Option<Arc<Entry>> {
        let status = response.status.as_u16();
        if status >= 500
            && let Some(stale) = self.stale.take().filter(|e| e.usable_on_error(now))
        {
            if let Some(fill) = self.fill.take() {
                fill.fail();
            }
            self.replacing = Some(stale.clone());
            return Some(stale);
        }
        if !self.store {
            return None;
        }
        match onestop_cache::decide(&self.policy, status, &response.headers) {
            onestop_cache::Decision::Store { fresh } => {
                self.capture = Some(Capture {
                    status,
                    headers: response.headers.clone(),
                    fresh,
                    body: BytesMut::new(),
                });
            }
            onestop_cache::Decision::Skip(reason) => {
                cache.not_stored(&self.origin.dept, &self.origin.route, reason);
                self.store = false;
                match self.fill.take() {
                    Some(fill) if status >= 500 => fill.fail(),
                    Some(fill) => fill.skip(),
                    None => {}
                }
            }
        }
        None
    }

    /// A chunk of the answer. At the end, the answer is stored (and handed
    /// to the followers).
    pub fn on_body(&mut self, cache: &ResponseCache, chunk: Option<&Bytes>, end: bool) {
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        if let Some(chunk) = chunk {
            if (capture.body.len() + chunk.len()) as u64 > self.policy.max_body {
                cache.not_stored(&self.origin.dept, &self.origin.route, "too_large");
                self.capture = None;
                self.fill = None;
                return;
            }
            capture.body.extend_from_slice(chunk);
        }
        if !end {
            return;
        }
        let Some(capture) = self.capture.take() else {
            return;
        };
        let entry = Entry::new(
            self.origin.clone(),
            capture.status,
            &capture.headers,
            capture.body.freeze(),
            &self.policy,
            capture.fresh,
            Instant::now(),
        );
        match self.fill.take() {
            Some(fill) => {
                fill.store(entry);
            }
            None => {
                cache.insert(self.key.clone(), entry);
            }
        }
    }

    /// The exchange with the department failed before an answer: the stale
    /// entry to answer with, if one may be.
    pub fn on_failure(&mut self, now: Instant) -> Option<Arc<Entry>> {
        if let Some(fill) = self.fill.take() {
            fill.fail();
        }
        self.capture = None;
        self.stale.take().filter(|e| e.usable_on_error(now))
    }
}

/// Whether a request may use the cache at all (before any key is built).
pub fn eligible(req: &RequestHeader) -> bool {
    (req.method == http::Method::GET || req.method == http::Method::HEAD)
        && !req.headers.contains_key(http::header::RANGE)
}

/// The response header of an answer from `entry`.
pub fn header_from(
    entry: &Entry,
    status: Status,
    request_id: &str,
    now: Instant,
) -> Result<ResponseHeader> {
    let mut h = ResponseHeader::build(entry.status, Some(entry.headers.len() + 4))?;
    for (name, value) in &entry.headers {
        h.append_header(name.clone(), value.clone())?;
    }
    h.insert_header(http::header::CONTENT_LENGTH, entry.body.len().to_string())?;
    h.insert_header(http::header::AGE, entry.age(now).to_string())?;
    h.insert_header(onestop_cache::STATUS_HEADER, status.as_str())?;
    h.insert_header(request_id::HEADER, request_id)?;
    Ok(h)
}

/// What a lookup means for the request.
pub enum Plan {
    /// Answer from this entry with this status.
    Answer(Arc<Entry>, Status),
    /// Answer stale and refresh in the background.
    AnswerAndRefresh(Arc<Entry>),
    /// Ask the department (possibly with a stale entry for errors).
    Ask(Option<Arc<Entry>>),
}

pub fn plan(lookup: Lookup) -> Plan {
    match lookup {
        Lookup::Fresh(e) => Plan::Answer(e, Status::Hit),
        Lookup::Revalidate(e) => Plan::AnswerAndRefresh(e),
        Lookup::IfError(e) => Plan::Ask(Some(e)),
        Lookup::Miss => Plan::Ask(None),
    }
}

/// Sends background refreshes as the gateway's own requests, through its
/// public listener, so they take the same route, identity checks,
/// signature and retries as the citizen's.
pub struct Refresher {
    client: reqwest::Client,
    target: SocketAddr,
    secret: String,
}

/// Request fields not copied into a refresh.
const NOT_COPIED: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "x-request-id",
    "range",
    REFRESH_HEADER,
];

impl Refresher {
    /// Refreshes through `public` (the public listener; an unspecified
    /// address means loopback).
    pub fn new(public: SocketAddr) -> Refresher {
        let mut target = public;
        if target.ip().is_unspecified() {
            target.set_ip(match target {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut secret = [0u8; 32];
        for b in &mut secret {
            *b = fastrand::u8(..);
        }
        Refresher {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            target,
            secret: hex::encode(secret),
        }
    }

    /// Whether a request is one of this gateway's refreshes (constant time).
    pub fn is_refresh(&self, req: &RequestHeader) -> bool {
        let Some(value) = req.headers.get(REFRESH_HEADER) else {
            return false;
        };
        let (a, b) = (value.as_bytes(), self.secret.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Repeats `req` in the background; `fill` keeps other refreshes of the
    /// key away until it ends, then tells any followers what it stored.
    pub fn spawn(&self, req: &RequestHeader, fill: Fill, cache: ResponseCache) {
        let path = req
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let url = format!("http://{}{path}", self.target);
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &req.headers {
            if !NOT_COPIED.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(host) = req.uri.host().filter(|_| !headers.contains_key("host"))
            && let Ok(v) = http::HeaderValue::from_str(host)
        {
            headers.insert(http::header::HOST, v);
        }
        if let Ok(v) = http::HeaderValue::from_str(&self.secret) {
            headers.insert(REFRESH_HEADER, v);
        }
        let request = self.client.get(url).headers(headers);
        tokio::spawn(async move {
            let outcome = match request.send().await {
                Ok(response) => response.bytes().await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "cache refresh failed; the stale answer stays");
            }
            // The refresh request stored the answer itself (if it could).
            match cache.lookup(fill.key(), Instant::now()) {
                Lookup::Fresh(entry) => fill.stored(entry),
                _ => fill.skip(),
            }
        });
    }
}
