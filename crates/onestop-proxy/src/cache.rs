//! The response cache on the request path: which requests may use it, the
//! answer from an entry, capturing a department's answer, and background
//! refreshes (stale-while-revalidate).
//!
//! The decisions live in `onestop-cache`; this module adapts them to
//! pingora's headers and the gateway's own requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use onestop_cache::{
    Entry, Fill, Key, Lookup, Origin, Policy, ResponseCache, RouteCounters, Status,
};
use onestop_core::request_id;
use pingora_error::Result;
use pingora_http::{RequestHeader, ResponseHeader};

pub use crate::internal::REFRESH_HEADER;
use crate::internal::{Internal, Kind};

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

/// Removes the request's validators (`If-None-Match`, `If-Modified-Since`,
/// `If-Match`, `If-Unmodified-Since`, `If-Range`).
pub fn unconditional(req: &mut RequestHeader) {
    for name in [
        http::header::IF_NONE_MATCH,
        http::header::IF_MODIFIED_SINCE,
        http::header::IF_MATCH,
        http::header::IF_UNMODIFIED_SINCE,
        http::header::IF_RANGE,
    ] {
        req.remove_header(&name);
    }
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
/// public listener ([`Internal`]), so they take the same route, identity
/// checks, signature and retries as the citizen's.
pub struct Refresher {
    internal: Arc<Internal>,
}

/// Request fields not copied into a refresh.
const NOT_COPIED: [&str; 10] = [
    "connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "x-request-id",
    "range",
    REFRESH_HEADER,
    crate::internal::INTERNAL_HEADER,
];

impl Refresher {
    pub fn new(internal: Arc<Internal>) -> Refresher {
        Refresher { internal }
    }

    /// Repeats `req` in the background; `fill` keeps other refreshes of the
    /// key away until it ends, then tells any followers what it stored.
    pub fn spawn(&self, req: &RequestHeader, fill: Fill, cache: ResponseCache) {
        let path = req
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
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
        let request = self.internal.get(Kind::Refresh, path, headers);
        tokio::spawn(async move {
            let outcome = match request.send().await {
                Ok(response) => response.bytes().await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(error) = outcome {
                crate::events::cache_refresh_failed(&error);
            }
            // The refresh request stored the answer itself (if it could).
            match cache.lookup(fill.key(), Instant::now()) {
                Lookup::Fresh(entry) => fill.stored(entry),
                _ => fill.skip(),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use onestop_cache::{Join, KeyParts, Outcome};
    use onestop_config::{CacheScope, RouteCache};

    use super::*;

    fn policy(stale_if_error: u64) -> Arc<Policy> {
        Arc::new(Policy::from_config(&RouteCache {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Public,
            query: vec![],
            vary: vec![],
            max_body_bytes: 16,
            stale_while_revalidate: None,
            stale_if_error: Some(Duration::from_secs(stale_if_error)),
            override_upstream: false,
            negative_ttl: None,
        }))
    }

    fn using(cache: &ResponseCache, policy: Arc<Policy>, path: &str) -> Use {
        let key = Key::build(
            &policy,
            KeyParts {
                route: "hpf/r",
                path,
                query: None,
                headers: &HeaderMap::new(),
                citizen: None,
            },
        )
        .unwrap();
        let (dept, route): (Arc<str>, Arc<str>) = ("hpf".into(), "r".into());
        Use {
            key,
            policy,
            counters: cache.route(&dept, &route),
            origin: Origin {
                dept,
                route,
                path: path.into(),
            },
            store: false,
            fill: None,
            stale: None,
            capture: None,
            replacing: None,
        }
    }

    fn response(status: u16, pairs: &[(&str, &str)]) -> ResponseHeader {
        let mut h = ResponseHeader::build(status, None).unwrap();
        for (n, v) in pairs {
            h.append_header(n.to_string(), *v).unwrap();
        }
        h
    }

    /// Makes `u` the leader of its key (storing) and returns a follower.
    fn lead(cache: &ResponseCache, u: &mut Use) -> onestop_cache::Waiter {
        let Join::Leader(fill) = cache.join(&u.key) else {
            panic!("leads")
        };
        let Join::Follower(waiter) = cache.join(&u.key) else {
            panic!("follows")
        };
        u.fill = Some(fill);
        u.store = true;
        waiter
    }

    #[tokio::test]
    async fn a_leader_stores_the_whole_answer_and_hands_it_to_followers() {
        let cache = ResponseCache::new(1 << 20);
        let mut u = using(&cache, policy(0), "/p");
        let waiter = lead(&cache, &mut u);
        let stale = u.on_response(
            &cache,
            &response(200, &[("content-type", "text/plain")]),
            Instant::now(),
        );
        assert!(stale.is_none());
        u.on_body(&cache, Some(&Bytes::from_static(b"hello ")), false);
        u.on_body(&cache, Some(&Bytes::from_static(b"world")), false);
        u.on_body(&cache, None, true);
        match waiter.wait(Duration::from_secs(1)).await {
            Outcome::Stored(e) => assert_eq!(&e.body[..], b"hello world"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cache.lookup(&u.key, Instant::now()),
            Lookup::Fresh(_)
        ));
    }

    #[tokio::test]
    async fn an_answer_over_the_size_limit_is_passed_on_not_stored() {
        let cache = ResponseCache::new(1 << 20);
        let mut u = using(&cache, policy(0), "/big");
        let waiter = lead(&cache, &mut u);
        u.on_response(&cache, &response(200, &[]), Instant::now());
        u.on_body(&cache, Some(&Bytes::from(vec![b'x'; 10])), false);
        u.on_body(&cache, Some(&Bytes::from(vec![b'x'; 10])), true);
        assert!(matches!(
            waiter.wait(Duration::from_secs(1)).await,
            Outcome::NotStored
        ));
        assert!(matches!(cache.lookup(&u.key, Instant::now()), Lookup::Miss));
    }

    #[tokio::test]
    async fn a_department_error_is_replaced_by_a_stale_answer_within_the_window() {
        let cache = ResponseCache::new(1 << 20);
        let p = policy(30);
        let mut first = using(&cache, p.clone(), "/s");
        first.store = true;
        first.on_response(&cache, &response(200, &[]), Instant::now());
        first.on_body(&cache, Some(&Bytes::from_static(b"before")), true);
        let stored = match cache.lookup(&first.key, Instant::now()) {
            Lookup::Fresh(e) => e,
            _ => panic!("stored"),
        };
        // Later, past the TTL: the department fails.
        let later = Instant::now() + Duration::from_secs(70);
        let mut u = using(&cache, p.clone(), "/s");
        u.stale = Some(stored.clone());
        let waiter = lead(&cache, &mut u);
        let stale = u.on_response(&cache, &response(503, &[]), later).unwrap();
        assert_eq!(&stale.body[..], b"before");
        assert!(matches!(
            waiter.wait(Duration::from_secs(1)).await,
            Outcome::Failed
        ));
        // Past TTL + stale-if-error: the error stands.
        let mut u = using(&cache, p, "/s");
        u.stale = Some(stored);
        assert!(
            u.on_failure(Instant::now() + Duration::from_secs(100))
                .is_none()
        );
    }

    #[test]
    fn answers_from_entries_carry_the_cache_headers() {
        let p = policy(0);
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-request-id", "filler".parse().unwrap());
        let e = Entry::new(
            Origin {
                dept: "hpf".into(),
                route: "r".into(),
                path: "/p".into(),
            },
            200,
            &headers,
            Bytes::from_static(b"{}"),
            &p,
            p.ttl,
            Instant::now(),
        );
        let h = header_from(&e, Status::Hit, "mine", Instant::now()).unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.headers["content-length"], "2");
        assert_eq!(h.headers["x-onestop-cache"], "HIT");
        assert_eq!(h.headers["x-request-id"], "mine");
        assert_eq!(h.headers["age"], "0");
        assert_eq!(h.headers["content-type"], "application/json");
    }

    #[test]
    fn fills_are_unconditional_and_ranges_pass_by() {
        let mut req = RequestHeader::build("GET", b"/p", None).unwrap();
        req.insert_header("if-none-match", "\"v1\"").unwrap();
        req.insert_header("if-modified-since", "Sun, 22 Nov 2026 00:00:00 GMT")
            .unwrap();
        req.insert_header("accept", "*/*").unwrap();
        assert!(eligible(&req));
        unconditional(&mut req);
        assert!(req.headers.get("if-none-match").is_none());
        assert!(req.headers.get("if-modified-since").is_none());
        assert!(req.headers.get("accept").is_some());
        req.insert_header("range", "bytes=0-1").unwrap();
        assert!(!eligible(&req));
        let post = RequestHeader::build("POST", b"/p", None).unwrap();
        assert!(!eligible(&post));
    }
}
