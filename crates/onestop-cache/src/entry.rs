//! A stored answer and how fresh it is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::policy::Policy;

/// The response header a department tags its answers with, for purges by
/// tag (comma-separated, as Cloudflare's `Cache-Tag`). Not stored.
pub const TAG_HEADER: &str = "cache-tag";

/// Fields never stored: hop-by-hop (RFC 9110 §7.6.1), framing (the cache
/// sets `content-length`), per-exchange (`x-request-id`, `age`), and tags.
const NOT_STORED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "x-request-id",
    "age",
    "set-cookie",
    TAG_HEADER,
];

/// Where an entry came from: what purges match on.
#[derive(Debug, Clone)]
pub struct Origin {
    pub dept: Arc<str>,
    /// The route's id within its department.
    pub route: Arc<str>,
    /// The normalised path the department received.
    pub path: Box<str>,
}

/// A stored answer.
#[derive(Debug)]
pub struct Entry {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub origin: Origin,
    pub tags: Vec<Box<str>>,
    stored: Instant,
    /// The department's `Age` when it answered.
    initial_age: Duration,
    fresh: Duration,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
}

/// How usable an entry is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Past its freshness, within stale-while-revalidate: serve it and
    /// refresh in the background.
    Revalidate,
    /// Past stale-while-revalidate, within stale-if-error: ask the
    /// department; serve it only if the department fails.
    IfError,
    /// Usable for nothing.
    Expired,
}

impl Entry {
    /// An entry of `origin`'s answer, fresh for `fresh` (see
    /// [`crate::policy::decide`]).
    pub fn new(
        origin: Origin,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
        policy: &Policy,
        fresh: Duration,
        now: Instant,
    ) -> Entry {
        let initial_age = headers
            .get(http::header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        let tags = headers
            .get_all(TAG_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Box::from)
            .collect();
        let headers = headers
            .iter()
            .filter(|(name, _)| !NOT_STORED.contains(&name.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Entry {
            status,
            headers,
            body,
            origin,
            tags,
            stored: now,
            initial_age,
            fresh: fresh.saturating_sub(initial_age),
            stale_while_revalidate: policy.stale_while_revalidate,
            stale_if_error: policy.stale_if_error,
        }
    }

    /// The `Age` to send (RFC 9111 §5.1), in seconds.
    pub fn age(&self, now: Instant) -> u64 {
        (self.initial_age + now.saturating_duration_since(self.stored)).as_secs()
    }

    pub fn freshness(&self, now: Instant) -> Freshness {
        let elapsed = now.saturating_duration_since(self.stored);
        if elapsed < self.fresh {
            return Freshness::Fresh;
        }
        let over = elapsed - self.fresh;
        if over < self.stale_while_revalidate {
            Freshness::Revalidate
        } else if over < self.stale_if_error {
            Freshness::IfError
        } else {
            Freshness::Expired
        }
    }

    /// Whether the department failing now may be answered with this entry.
    pub fn usable_on_error(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.stored);
        elapsed < self.fresh + self.stale_if_error.max(self.stale_while_revalidate)
    }

    /// How long the cache keeps it: fresh, then as long as either stale
    /// window lasts.
    pub fn keep_for(&self) -> Duration {
        self.fresh + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Bytes charged against the cache's budget (headers, body, bookkeeping;
    /// the key is added by the cache).
    pub fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16).sum();
        (self.body.len()
            + headers
            + tags
            + self.origin.path.len()
            + std::mem::size_of::<Entry>()
            + 64) as u64
    }
}
