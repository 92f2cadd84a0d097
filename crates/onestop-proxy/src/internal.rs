//! The gateway's own requests, sent through its public listener so that they
//! take exactly the path a client's request takes: routing, identity, BOLA
//! (`me` resolved), the department's signature, the response cache,
//! retries and health. Used by the cache's background refreshes and the
//! citizen overview's fan-out.
//!
//! An internal request carries a per-process secret in a marker header, so
//! a client cannot pass for one; marker headers are `x-onestop-*` and so
//! never reach a department. Internal requests are not counted against
//! rate limits: the client request that caused them was.

use std::net::SocketAddr;
use std::time::Duration;

use pingora_http::RequestHeader;

/// Marks a background cache refresh (stale-while-revalidate): the request
/// asks the department and stores its answer.
pub const REFRESH_HEADER: &str = "x-onestop-cache-refresh";

/// Marks any other internal request (the overview's items): an ordinary
/// request in every respect but rate limits.
pub const INTERNAL_HEADER: &str = "x-onestop-internal";

/// Marks a step of a case (a composite matter) sent on the citizen's
/// behalf: the request acts as the citizen named in [`CASE_CITIZEN_HEADER`]
/// through the channel named in [`CASE_CHANNEL_HEADER`] (the citizen's
/// token is long gone when a case resumes). Honoured only with the secret.
pub const CASE_HEADER: &str = "x-onestop-internal-case";

/// Marks a data exchange's read of a provider (the control plane's
/// `Exchange/Fetch`, already allowed by an agreement): the request acts as
/// the citizen named in [`CASE_CITIZEN_HEADER`], through no channel, and
/// is not audited again as a citizen's own read. Honoured only with the
/// secret.
pub const EXCHANGE_HEADER: &str = "x-onestop-internal-exchange";

/// On a case step or an exchange: the citizen it acts for.
pub const CASE_CITIZEN_HEADER: &str = "x-onestop-case-citizen";

/// On a case step: the channel the case was submitted through (its id).
pub const CASE_CHANNEL_HEADER: &str = "x-onestop-case-channel";

/// On an overview item: the item's deadline in milliseconds, which bounds
/// the item's exchange with the department inside the gateway too (so a
/// department slot is not held after the overview stopped waiting).
/// Honoured only on requests that carry the secret.
pub const DEADLINE_HEADER: &str = "x-onestop-internal-deadline-ms";

/// Which of the gateway's own requests a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A background cache refresh.
    Refresh,
    /// An overview item.
    Overview,
    /// A case step, acting as the case's citizen.
    Case,
    /// A data exchange's read of its provider, acting as the citizen.
    Exchange,
}

impl Kind {
    fn header(self) -> &'static str {
        match self {
            Kind::Refresh => REFRESH_HEADER,
            Kind::Overview => INTERNAL_HEADER,
            Kind::Case => CASE_HEADER,
            Kind::Exchange => EXCHANGE_HEADER,
        }
    }
}

/// Who sent a request, as the request path sees it: a client, or one of
/// the gateway's own kinds. The one place that says what each kind of the
/// gateway's own requests may skip; every phase asks it instead of
/// matching kinds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin(Option<Kind>);

/// Where a request's channel (the calling app) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelFrom {
    /// The app key ([`crate::access::APP_KEY_HEADER`]).
    AppKey,
    /// The case's channel ([`CASE_CHANNEL_HEADER`]).
    Case,
    /// None: an exchange's read (the agreement, not an app, allowed it).
    Nothing,
}

impl Origin {
    /// A client's request.
    pub const CLIENT: Origin = Origin(None);

    /// The origin of `req`: one of `internal`'s own requests when it
    /// carries the secret, else a client's.
    pub fn of(internal: Option<&Internal>, req: &RequestHeader) -> Origin {
        Origin(internal.and_then(|i| i.kind(req)))
    }

    /// The gateway's own kind, if it is one of its requests.
    pub fn kind(self) -> Option<Kind> {
        self.0
    }

    /// Where the channel comes from.
    pub fn channel_from(self) -> ChannelFrom {
        match self.0 {
            Some(Kind::Exchange) => ChannelFrom::Nothing,
            Some(Kind::Case) => ChannelFrom::Case,
            _ => ChannelFrom::AppKey,
        }
    }

    /// Whether the request acts for a citizen named in
    /// [`CASE_CITIZEN_HEADER`] (a case step, an exchange's read) instead of
    /// a token; such requests are never the gateway's citizen built-ins.
    pub fn acts_for_citizen(self) -> bool {
        matches!(self.0, Some(Kind::Case | Kind::Exchange))
    }

    /// Whether the request counts against rate limits: only a client's
    /// (the request that caused the gateway's own was counted).
    pub fn rate_limited(self) -> bool {
        self.0.is_none()
    }

    /// The purpose a citizen's read of a data item is recorded with, or
    /// `None` when it is not recorded here (an exchange records its own;
    /// a cache refresh returns nothing to anybody).
    pub fn audit_purpose(self) -> Option<&'static str> {
        match self.0 {
            None => Some("self-service"),
            Some(Kind::Overview) => Some("overview"),
            Some(Kind::Case) => Some("case"),
            Some(Kind::Exchange | Kind::Refresh) => None,
        }
    }

    /// Whether the request is a background cache refresh (it asks the
    /// department and stores the answer, whatever the cache holds).
    pub fn refreshes_cache(self) -> bool {
        self.0 == Some(Kind::Refresh)
    }

    /// The deadline the request carries ([`DEADLINE_HEADER`]): only an
    /// overview item's is honoured.
    pub fn deadline(self, req: &RequestHeader) -> Option<Duration> {
        (self.0 == Some(Kind::Overview))
            .then(|| deadline(req))
            .flatten()
    }
}

/// Idle keep-alive connections kept to the public listener: enough for an
/// overview over every department without a new connection per item.
const IDLE_PER_HOST: usize = 64;

/// One per gateway: the client, the public listener's address and the secret.
pub struct Internal {
    client: reqwest::Client,
    target: SocketAddr,
    secret: String,
    /// gRPC (h2c) to the public listener, for transcoded calls; made on
    /// first use (it needs the runtime it will run on).
    grpc: std::sync::OnceLock<tonic::transport::Channel>,
}

impl Internal {
    /// Requests to `public` (the public listener; an unspecified address
    /// means loopback), with a fresh random secret.
    pub fn new(public: SocketAddr) -> Internal {
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
        Internal {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(IDLE_PER_HOST)
                .pool_idle_timeout(Duration::from_secs(30))
                .tcp_nodelay(true)
                .http1_only()
                .build()
                .unwrap_or_default(),
            target,
            secret: hex::encode(secret),
            grpc: std::sync::OnceLock::new(),
        }
    }

    /// One h2c channel to the public listener (calls multiplex on it).
    pub fn grpc(&self) -> Option<tonic::transport::Channel> {
        if let Some(channel) = self.grpc.get() {
            return Some(channel.clone());
        }
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.target))
            .ok()?
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30));
        Some(self.grpc.get_or_init(|| endpoint.connect_lazy()).clone())
    }

    /// Whether `req` is one of this gateway's own requests, and which
    /// (the secret is compared in constant time).
    pub fn kind(&self, req: &RequestHeader) -> Option<Kind> {
        [Kind::Refresh, Kind::Overview, Kind::Case, Kind::Exchange]
            .into_iter()
            .find(|kind| {
                req.headers.get(kind.header()).is_some_and(|v| {
                    onestop_core::digest::constant_time_eq(v.as_bytes(), self.secret.as_bytes())
                })
            })
    }

    /// A `GET` of `path_and_query` through the public listener, marked as
    /// `kind`, with `headers` (which must not carry marker headers).
    pub fn get(
        &self,
        kind: Kind,
        path_and_query: &str,
        headers: reqwest::header::HeaderMap,
    ) -> reqwest::RequestBuilder {
        self.request(kind, http::Method::GET, path_and_query, headers)
    }

    /// A request through the public listener, marked as `kind`, with
    /// `headers` (marker headers in it are dropped; the marker is set here).
    pub fn request(
        &self,
        kind: Kind,
        method: http::Method,
        path_and_query: &str,
        mut headers: reqwest::header::HeaderMap,
    ) -> reqwest::RequestBuilder {
        headers.remove(REFRESH_HEADER);
        headers.remove(INTERNAL_HEADER);
        headers.remove(CASE_HEADER);
        headers.remove(EXCHANGE_HEADER);
        if let Ok(v) = http::HeaderValue::from_str(&self.secret) {
            headers.insert(kind.header(), v);
        }
        let url = format!("http://{}{path_and_query}", self.target);
        self.client.request(method, url).headers(headers)
    }
}

/// The deadline an internal request carries ([`DEADLINE_HEADER`]); ask only
/// once [`Internal::kind`] said the request is the gateway's own.
pub fn deadline(req: &RequestHeader) -> Option<Duration> {
    let ms: u64 = req
        .headers
        .get(DEADLINE_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// The earlier of two optional time limits.
pub fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&'static str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (name, value) in headers {
            req.insert_header(*name, *value).expect("header");
        }
        req
    }

    #[test]
    fn only_the_secret_marks_an_internal_request() {
        let internal = Internal::new("0.0.0.0:8080".parse().expect("addr"));
        assert_eq!(internal.target, "127.0.0.1:8080".parse().expect("addr"));
        let secret = internal.secret.clone();
        assert_eq!(
            internal.kind(&request(&[(REFRESH_HEADER, &secret)])),
            Some(Kind::Refresh)
        );
        assert_eq!(
            internal.kind(&request(&[(INTERNAL_HEADER, &secret)])),
            Some(Kind::Overview)
        );
        assert_eq!(
            internal.kind(&request(&[(CASE_HEADER, &secret)])),
            Some(Kind::Case)
        );
        assert_eq!(internal.kind(&request(&[(CASE_HEADER, "guess")])), None);
        assert_eq!(
            internal.kind(&request(&[(EXCHANGE_HEADER, &secret)])),
            Some(Kind::Exchange)
        );
        assert_eq!(internal.kind(&request(&[(EXCHANGE_HEADER, "guess")])), None);
        assert_eq!(internal.kind(&request(&[])), None);
        assert_eq!(internal.kind(&request(&[(INTERNAL_HEADER, "guess")])), None);
        let other = Internal::new("127.0.0.1:1".parse().expect("addr"));
        assert_ne!(other.secret, secret);
    }

    #[test]
    fn an_item_deadline_bounds_the_route_timeout() {
        let ms = Duration::from_millis;
        assert_eq!(
            deadline(&request(&[(DEADLINE_HEADER, "800")])),
            Some(ms(800))
        );
        for bad in ["0", "-1", "soon", ""] {
            assert_eq!(deadline(&request(&[(DEADLINE_HEADER, bad)])), None, "{bad}");
        }
        assert_eq!(deadline(&request(&[])), None);
        assert_eq!(earliest(Some(ms(5000)), Some(ms(800))), Some(ms(800)));
        assert_eq!(earliest(None, Some(ms(800))), Some(ms(800)));
        assert_eq!(earliest(Some(ms(300)), None), Some(ms(300)));
        assert_eq!(earliest(None, None), None);
    }
}
