//! The one `ProxyHttp` implementation, as a phase driver: each phase is a
//! short function calling named steps, and per-request state lives in
//! [`Ctx`]. `request_filter`'s steps and its one exit for refusals (a
//! [`steps`] `Stop`, answered once) are in `steps`; the requests the
//! gateway answers itself in `builtins`, transcoded calls in
//! `transcoded`, the response cache in `cached`. The gateway's own
//! answers are written by [`crate::respond`], retries decided by
//! [`crate::retry`], and what the gateway's own requests may skip is
//! [`crate::internal::Origin`].
//!
//! ```text
//! early_request_filter  request id; HTTP hygiene (framing, sizes, Host,
//!                       declared body size); the request deadline
//! request_filter        path normalisation → channel (app key; a case's
//!                       channel; none for an exchange) → built-ins
//!                       (catalog; the citizen overview, whose items come
//!                       back through this listener as internal requests;
//!                       citizen APIs) → route (else transcoding) → channel
//!                       grant → auth mode → BOLA → rate limits → data-item
//!                       audit → body limit (read ahead) → cache (hit,
//!                       stale, coalesce) → split → department slot (shed)
//!                       → retry budget deposit → deadline
//! upstream_peer         deadline → instance selection (health, ejection, tried)
//! request_body_filter   body limit and deadline while streaming; gRPC-Web
//! upstream_request_filter  strip client x-onestop-*; normalised path;
//!                       identity headers + signature; x-request-id, x-forwarded-*
//! fail_to_connect / error_while_proxy   passive health + retry decision
//! upstream_response_filter  passive health on 5xx
//! response_filter       x-request-id; a department 404 on a citizen route
//!                       becomes the gateway's own "no such citizen"; cache:
//!                       store or answer stale instead of a 5xx
//! response_body_filter  cache: capture the answer, store it at the end
//! fail_to_proxy         stale answer (stale-if-error), else JSON or gRPC error
//! logging               access log + metrics; slot released
//! ```

mod builtins;
mod cached;
mod ctx;
mod steps;
mod transcoded;

pub use ctx::Ctx;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use onestop_core::{ErrorCode, request_id};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::tls::ALPN;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::access::{self, Caller, Refusal};
use crate::builtin::{AccessRecorder, ApiRequest, CitizenApi, PersonalRead};
use crate::cache::{self as response_cache, Plan, Refresher};
use crate::catalog;
use crate::dept::Admission;
use crate::events::{self, RequestDone};
use crate::forward;
use crate::grpc_web;
use crate::hygiene::{self, BodyGate};
use crate::internal::{ChannelFrom, Internal, Origin};
use crate::overview;
use crate::request;
use crate::respond::{
    GATEWAY_ERROR_HEADER, citizen_not_found_body, error_for, error_header, respond_download,
    respond_error, respond_error_body, respond_error_with, respond_json, respond_reply,
};
use crate::retry::{Attempt, Failure, classify, client_went_away, deadline_passed, may_retry};
use crate::router::RequestView;
use crate::snapshot::{RouteEntry, Snapshot};
use crate::transcode;
use crate::upstream::{Protocol, Upstream};

/// Paths the gateway answers itself.
pub const CATALOG_PATH: &str = "/api/v1/catalog";

/// The data plane: reads snapshots, never the store.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    upstream_idle: Duration,
    limiter: Arc<onestop_ratelimit::Limiter>,
    /// Department token SHA-256 → department (from the registry).
    departments: Arc<ArcSwap<HashMap<String, String>>>,
    cache: onestop_cache::ResponseCache,
    /// The gateway's own requests through its public listener (the
    /// overview's items, cache refreshes); none when the public address
    /// is unknown.
    internal: Option<Arc<Internal>>,
    /// Background refreshes (stale-while-revalidate), over `internal`.
    refresher: Option<Arc<Refresher>>,
    /// Cases and ratings (`/api/v1/me/cases`, …), when the gateway has them.
    citizen_api: Option<Arc<dyn CitizenApi>>,
    recorder: Option<Arc<dyn AccessRecorder>>,
}

impl Gateway {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        upstream_idle: Duration,
        limiter: Arc<onestop_ratelimit::Limiter>,
        departments: Arc<ArcSwap<HashMap<String, String>>>,
        cache: onestop_cache::ResponseCache,
        public: Option<SocketAddr>,
    ) -> Self {
        let internal = public.map(|addr| Arc::new(Internal::new(addr)));
        Gateway {
            snapshot,
            upstream_idle,
            limiter,
            departments,
            cache,
            refresher: internal.clone().map(|i| Arc::new(Refresher::new(i))),
            internal,
            citizen_api: None,
            recorder: None,
        }
    }

    /// The gateway's own requests through its public listener (case steps
    /// use them too); none when the public address is unknown.
    pub fn internal(&self) -> Option<Arc<Internal>> {
        self.internal.clone()
    }

    /// Audits citizens' reads through routes that declare a data item.
    pub fn with_access_recorder(mut self, recorder: Arc<dyn AccessRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Serves `api` for verified citizens (cases and ratings).
    pub fn with_citizen_api(mut self, api: Arc<dyn CitizenApi>) -> Self {
        self.citizen_api = Some(api);
        self
    }
}

/// A hygiene refusal: the downstream connection is not reused, and the
/// error leads pingora to `fail_to_proxy`, which answers with `ctx.failure`.
fn refuse(session: &mut Session, ctx: &mut Ctx, refusal: hygiene::Refusal) -> Box<Error> {
    session.set_keepalive(None);
    ctx.failure = Some(refusal.code());
    error_for(refusal.code(), refusal.message())
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new()
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let started = crate::listener::request_header_received(session.as_downstream_mut());
        let req = session.req_header();
        let incoming = req.headers.get(request_id::HEADER).map(|v| v.as_bytes());
        ctx.request_id = request_id::accept_or_generate(incoming);
        if let Some(client) = incoming.filter(|v| *v != ctx.request_id.as_bytes()) {
            events::request_id_replaced(&ctx.request_id, client);
        }
        let content_type = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes());
        ctx.grpc = request::is_grpc(content_type);
        ctx.grpc_web = grpc_web::Mode::of(content_type).map(grpc_web::Bridge::new);
        // HTTP hygiene: framing, sizes, Host. (The body is checked once the
        // route, and so its limit, is known.) A refusal ends in
        // `fail_to_proxy`, which answers with `respond_error` and closes
        // the connection.
        let raw = match session.as_downstream() {
            ServerSession::H1(h1) => Some(h1.get_headers_raw_bytes()),
            _ => None,
        };
        let limits = &self.snapshot.load().limits;
        // gRPC streams may last: `request_timeout` bounds the rest.
        let deadline = (!ctx.grpc).then(|| started + limits.request_timeout);
        ctx.body = BodyGate::new(limits.max_body_bytes, deadline);
        if let Some(deadline) = deadline {
            crate::listener::bound_body_read(session.as_downstream_mut(), deadline);
        }
        hygiene::check_request(session.req_header(), raw.as_deref(), limits)
            .map_err(|refusal| refuse(session, ctx, refusal))
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let read = session.as_downstream().body_bytes_read() as u64;
        ctx.body
            .on_chunk(body, read)
            .map_err(|refusal| refuse(session, ctx, refusal))?;
        if let Some(deadline) = ctx.body.deadline {
            crate::listener::bound_body_read(session.as_downstream_mut(), deadline);
        }
        if let Some(bridge) = ctx.grpc_web.as_mut()
            && let Err(e) = bridge.request_body(body, end_of_stream)
        {
            ctx.failure = Some(ErrorCode::MalformedRequest);
            return Err(error_for(ErrorCode::MalformedRequest, e.to_string()));
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        match self.admit(session, ctx).await {
            Ok(()) => Ok(false),
            Err(stop) => self.stop(session, ctx, stop).await,
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let (Some(route), Some(upstream)) = (ctx.route.clone(), ctx.upstream.clone()) else {
            ctx.failure = Some(ErrorCode::Internal);
            return Err(error_for(ErrorCode::Internal, "no route in context"));
        };
        let remaining = match ctx.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    ctx.failure = Some(ErrorCode::UpstreamTimeout);
                    return Err(error_for(
                        ErrorCode::UpstreamTimeout,
                        "deadline passed before an attempt",
                    ));
                }
                Some(left)
            }
            None => None,
        };
        upstream.record_request();
        let Some(addr) = upstream.select(&ctx.hash_key, &ctx.tried) else {
            ctx.failure = Some(ErrorCode::NoHealthyUpstream);
            return Err(error_for(
                ErrorCode::NoHealthyUpstream,
                format!("no healthy instance of {}", upstream.name()),
            ));
        };
        ctx.attempts += 1;
        ctx.current = Some(addr);
        ctx.tried.push(addr);
        ctx.upstream_started.get_or_insert_with(Instant::now);
        let mut peer = HttpPeer::new(addr, false, String::new());
        let connect = remaining.map_or(route.connect_timeout, |r| r.min(route.connect_timeout));
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect);
        peer.options.read_timeout = remaining;
        peer.options.write_timeout = remaining;
        peer.options.idle_timeout = Some(self.upstream_idle);
        if upstream.spec.protocol == Protocol::H2c {
            peer.options.alpn = ALPN::H2;
            peer.options.max_h2_streams = 100;
            if remaining.is_none() {
                peer.options.h2_ping_interval = Some(Duration::from_secs(30));
            }
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let passed = ctx
            .route
            .as_ref()
            .map(|r| r.forward_credentials)
            .unwrap_or_default();
        forward::sanitize(upstream_request, passed);
        if ctx.cache.as_ref().is_some_and(|using| using.store) {
            // An answer to share must be whole: a 304 or 412 for this
            // client's validators could serve nobody else.
            response_cache::unconditional(upstream_request);
        }
        if let Some(target) = &ctx.upstream_target
            && let Ok(uri) = target.parse::<http::Uri>()
        {
            upstream_request.set_uri(uri);
        }
        upstream_request.insert_header(request_id::HEADER, &ctx.request_id)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        forward::vouch(
            upstream_request,
            forward::Identity {
                citizen: ctx.caller.citizen.as_ref().map(|c| c.id.as_str()),
                channel: ctx.caller.channel.as_deref(),
                request_id: &ctx.request_id,
            },
            ctx.route.as_ref().and_then(|r| r.signing_key.as_ref()),
            now,
        )?;
        let client = session.client_addr().and_then(|a| a.as_inet());
        forward::forwarded_for(upstream_request, client.map(|c| c.ip()))?;
        upstream_request.insert_header("x-forwarded-proto", "http")?;
        if let Some(bridge) = ctx.grpc_web.as_mut() {
            bridge.request_header(upstream_request)?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.upstream_elapsed = ctx.upstream_started.map(|t| t.elapsed());
        if let (Some(upstream), Some(addr)) = (&ctx.upstream, ctx.current) {
            if upstream_response.status.is_server_error() {
                upstream.record_failure(addr);
            } else {
                upstream.record_success(addr);
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.citizen_not_found &= upstream_response.status == http::StatusCode::NOT_FOUND;
        if ctx.citizen_not_found {
            // The department does not know this citizen: answer exactly as
            // the gateway answers for somebody else's id.
            let body = citizen_not_found_body(&ctx.request_id);
            *upstream_response = error_header(
                ErrorCode::CitizenNotFound,
                body.len(),
                &ctx.request_id,
                None,
            )?;
            // Not the department's answer to store (and never shared).
            if let Some(using) = ctx.cache.as_mut() {
                using.store = false;
                using.fill = None;
            }
            return Ok(());
        }
        if let Some(using) = ctx.cache.as_mut() {
            let now = Instant::now();
            if let Some(stale) = using.on_response(&self.cache, upstream_response, now) {
                // The department failed; answer with what it said before.
                using.counters.record(onestop_cache::Status::Stale);
                ctx.cache_status = Some(onestop_cache::Status::Stale);
                *upstream_response = response_cache::header_from(
                    &stale,
                    onestop_cache::Status::Stale,
                    &ctx.request_id,
                    now,
                )?;
                return Ok(());
            }
            upstream_response.remove_header(onestop_cache::TAG_HEADER);
        }
        if let Some(status) = ctx.cache_status {
            upstream_response.insert_header(onestop_cache::STATUS_HEADER, status.as_str())?;
        }
        upstream_response.insert_header(request_id::HEADER, &ctx.request_id)?;
        // Only the gateway names its own errors (a transcoded call reads it).
        upstream_response.remove_header(GATEWAY_ERROR_HEADER);
        if let Some(bridge) = ctx.grpc_web.as_mut() {
            bridge.response_header(upstream_response)?;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if ctx.citizen_not_found {
            *body = end_of_stream.then(|| citizen_not_found_body(&ctx.request_id));
        } else if let Some(using) = ctx.cache.as_mut() {
            if let Some(stale) = &using.replacing {
                *body = end_of_stream.then(|| stale.body.clone());
            } else {
                using.on_body(&self.cache, body.as_ref(), end_of_stream);
            }
        } else if let Some(bridge) = &ctx.grpc_web {
            bridge.response_body(body);
        }
        Ok(None)
    }

    async fn response_trailer_filter(
        &self,
        _session: &mut Session,
        trailers: &mut http::HeaderMap,
        ctx: &mut Ctx,
    ) -> Result<Option<Bytes>> {
        match ctx.grpc_web.as_mut() {
            Some(bridge) => bridge.response_trailers(trailers),
            None => Ok(None),
        }
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let (Some(upstream), Some(addr)) = (&ctx.upstream, ctx.current) {
            upstream.record_failure(addr);
        }
        let attempt = Attempt {
            failure: Failure::Connect,
            idempotent: true,
            grpc: ctx.grpc,
            response_started: false,
            body_truncated: false,
            attempts_left: ctx.retries_left(),
            deadline_passed: deadline_passed(ctx.deadline),
        };
        let retry =
            may_retry(&attempt) && ctx.route.as_ref().is_some_and(|r| r.dept.withdraw_retry());
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("peer: {peer}"));
        if client_went_away(&e) {
            // The client hung up (or broke the exchange) mid-way: not the
            // department's failure, so no ejection, and nobody to retry for.
            e.set_retry(false);
            return e;
        }
        if ctx.failure.is_some() {
            // The gateway ended the exchange itself (e.g. a body over the
            // limit): not the department's failure, and not to be retried.
            e.set_retry(false);
            return e;
        }
        if let (Some(upstream), Some(addr)) = (&ctx.upstream, ctx.current) {
            upstream.record_failure(addr);
        }
        let timed_out = matches!(
            e.etype(),
            ErrorType::ReadTimedout | ErrorType::WriteTimedout
        );
        let attempt = Attempt {
            failure: if timed_out {
                Failure::Timeout
            } else {
                Failure::Exchange
            },
            idempotent: session.req_header().method.is_idempotent(),
            grpc: ctx.grpc,
            response_started: session.as_ref().response_written().is_some(),
            body_truncated: session.as_ref().retry_buffer_truncated(),
            attempts_left: ctx.retries_left(),
            deadline_passed: deadline_passed(ctx.deadline),
        };
        let retry =
            may_retry(&attempt) && ctx.route.as_ref().is_some_and(|r| r.dept.withdraw_retry());
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        if ctx.failure.is_none() && crate::listener::body_timed_out(e) {
            ctx.failure = Some(ErrorCode::RequestTimeout);
        }
        if ctx.failure.is_none() && client_went_away(e) {
            // Nobody to answer; the access log records the error type.
            ctx.responded = Some(0);
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let code = ctx.failure.unwrap_or_else(|| classify(e));
        ctx.failure = Some(code);
        let message = match code {
            ErrorCode::UpstreamTimeout => match ctx.route.as_ref().and_then(|r| r.timeout) {
                Some(t) => format!("the department did not answer within {} ms", t.as_millis()),
                None => code.default_message().to_string(),
            },
            _ => code.default_message().to_string(),
        };
        let written = session.as_ref().response_written().is_some();
        let stale = ctx
            .cache
            .as_mut()
            .and_then(|using| using.on_failure(Instant::now()));
        if !written && let Some(stale) = stale {
            // stale-if-error: the department failed; answer with what it
            // said before, within the route's window.
            if let Some(using) = &ctx.cache {
                using.counters.record(onestop_cache::Status::Stale);
            }
            let status = self
                .answer_from(session, ctx, &stale, onestop_cache::Status::Stale)
                .await
                .map_or(0, |()| stale.status);
            ctx.responded = Some(status);
            return FailToProxy {
                error_code: status,
                can_reuse_downstream: false,
            };
        }
        let status = if written {
            0
        } else {
            // pingora does not reuse a downstream connection after a failed
            // upstream exchange; say so, so that clients do not reuse it either.
            session.set_keepalive(None);
            respond_error(session, code, &message, &ctx.request_id, ctx.grpc)
                .await
                .unwrap_or_default()
        };
        ctx.responded = Some(status);
        FailToProxy {
            error_code: status,
            can_reuse_downstream: status != 0 && code != ErrorCode::MalformedRequest,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        // The access log records every failure with its request id.
        ctx.failure.is_some()
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        crate::listener::request_finished(session.as_downstream());
        let status = ctx
            .responded
            .or_else(|| {
                session
                    .as_ref()
                    .response_written()
                    .map(|r| r.status.as_u16())
            })
            .unwrap_or(0);
        let req = session.req_header();
        let (dept, route) = match (&ctx.route, ctx.builtin) {
            (Some(r), _) => (&*r.dept.id, &*r.route),
            (None, Some(builtin)) => ("onestop", builtin),
            (None, None) => ("-", "-"),
        };
        let error = ctx
            .failure
            .map(ErrorCode::as_str)
            .or(e.map(|e| e.etype().as_str()));
        events::request_done(RequestDone {
            request_id: &ctx.request_id,
            method: req.method.as_str(),
            path: req.uri.path(),
            dept,
            route,
            status,
            upstream: ctx.current,
            attempts: ctx.attempts,
            duration: ctx.started.elapsed(),
            upstream_duration: ctx.upstream_elapsed,
            error,
            cache: ctx.cache_status.map(onestop_cache::Status::as_str),
            histogram: ctx.route.as_ref().map(|r| &r.histogram),
        });
        ctx.admission = None;
        // An unfinished fill tells its followers to ask for themselves.
        ctx.cache = None;
    }
}
