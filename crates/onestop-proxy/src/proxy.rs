//! The one `ProxyHttp` implementation. Each phase reads the current snapshot
//! and calls the small modules beside it; per-request state lives in [`Ctx`].
//!
//! ```text
//! early_request_filter  request id; HTTP hygiene (framing, sizes, Host)
//! request_filter        path normalisation → channel (app key) → built-ins
//!                       (catalog; the citizen overview, whose items come
//!                       back through this listener as internal requests)
//!                       → route → channel grant → auth mode →
//!                       BOLA → rate limits → body limit (read ahead) →
//!                       cache (hit, stale, coalesce) → split →
//!                       department slot (shed) → retry budget deposit
//! upstream_peer         deadline → instance selection (health, ejection, tried)
//! request_body_filter   body limit while streaming
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
use crate::builtin::{AccessRecorder, ApiRequest, CitizenApi, MAX_BODY, PersonalRead};
use crate::cache::{self as response_cache, Plan, Refresher};
use crate::catalog;
use crate::dept::Admission;
use crate::events::{self, RequestDone};
use crate::forward;
use crate::grpc_web;
use crate::hygiene::{self, BodyGate};
use crate::internal::{Internal, Kind};
use crate::overview;
use crate::request;
use crate::respond::{
    GATEWAY_ERROR_HEADER, citizen_not_found_body, error_for, error_header, respond_error,
    respond_error_with, respond_json,
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

/// Per-request state.
pub struct Ctx {
    request_id: String,
    started: Instant,
    grpc: bool,
    route: Option<Arc<RouteEntry>>,
    upstream: Option<Arc<Upstream>>,
    hash_key: Vec<u8>,
    admission: Option<Admission>,
    deadline: Option<Instant>,
    tried: Vec<SocketAddr>,
    current: Option<SocketAddr>,
    attempts: u32,
    /// Set when the gateway itself decided the outcome.
    failure: Option<ErrorCode>,
    /// Status the gateway wrote itself.
    responded: Option<u16>,
    upstream_started: Option<Instant>,
    upstream_elapsed: Option<Duration>,
    /// Who is calling (channel, citizen, department, operator).
    caller: Caller,
    /// The request target to send upstream when it differs from the
    /// client's (normalised path, `me` resolved), with the query.
    upstream_target: Option<String>,
    /// A department's 404 on a citizen route is answered like the
    /// gateway's own "not found" (so "not yours" and "no such" look alike).
    citizen_not_found: bool,
    /// A request the gateway answered itself (`catalog`).
    builtin: Option<&'static str>,
    /// The request-body limit in force and bytes read ahead (`hygiene`).
    /// `request_filter` may lower or raise `body.limit` for the route.
    body: BodyGate,
    /// The request's use of the response cache.
    cache: Option<response_cache::Use>,
    /// What the cache did (the `x-onestop-cache` header).
    cache_status: Option<onestop_cache::Status>,
    /// A browser's gRPC-Web call, bridged to gRPC.
    grpc_web: Option<grpc_web::Bridge>,
}

impl Ctx {
    fn retries_left(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| self.attempts <= r.retries)
    }
}

/// A hygiene refusal: the downstream connection is not reused, and the
/// error leads pingora to `fail_to_proxy`, which answers with `ctx.failure`.
fn refuse(session: &mut Session, ctx: &mut Ctx, refusal: hygiene::Refusal) -> Box<Error> {
    session.set_keepalive(None);
    ctx.failure = Some(refusal.code());
    error_for(refusal.code(), refusal.message())
}

impl Gateway {
    /// Answers an access refusal (401/403/404/429).
    async fn refuse_access(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        refusal: Refusal,
    ) -> Result<bool> {
        ctx.failure = Some(refusal.code);
        let status = respond_error_with(
            session,
            refusal.code,
            &refusal.message,
            &ctx.request_id,
            ctx.grpc,
            refusal.retry_after,
        )
        .await?;
        ctx.responded = Some(status);
        Ok(true)
    }

    async fn reject(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        code: ErrorCode,
        message: &str,
    ) -> Result<bool> {
        ctx.failure = Some(code);
        let status = respond_error(session, code, message, &ctx.request_id, ctx.grpc).await?;
        ctx.responded = Some(status);
        Ok(true)
    }
}

impl Gateway {
    /// The verified citizen of a built-in (the overview, cases), counted
    /// once against the citizen's and channel's limits; `None` when the
    /// request was refused (and answered).
    async fn builtin_citizen(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
    ) -> Result<Option<Arc<onestop_policy::jwt::Citizen>>> {
        let token = access::bearer(
            session
                .req_header()
                .headers
                .get(http::header::AUTHORIZATION)
                .map(http::HeaderValue::as_bytes),
        );
        let refusal = match access::citizen(&snapshot.access, channel.map(|c| c.id.as_str()), token)
        {
            Ok(citizen) => {
                ctx.caller.citizen = Some(citizen.clone());
                match access::limit(&self.limiter, &snapshot.access, None, &ctx.caller).await {
                    Ok(()) => return Ok(Some(citizen)),
                    Err(refusal) => refusal,
                }
            }
            Err(refusal) => refusal,
        };
        self.refuse_access(session, ctx, refusal).await?;
        Ok(None)
    }

    /// `GET /api/v1/me/overview`: a verified citizen (counted once against
    /// the citizen's and channel's limits), then every department's item at
    /// once through this listener, answered when all are in or past their
    /// deadlines.
    async fn overview(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
    ) -> Result<bool> {
        let Some(citizen) = self
            .builtin_citizen(session, ctx, snapshot, channel)
            .await?
        else {
            return Ok(true);
        };
        let Some(internal) = &self.internal else {
            return self
                .reject(
                    session,
                    ctx,
                    ErrorCode::Internal,
                    "the overview needs the public listener's address",
                )
                .await;
        };
        let headers = overview::item_headers(&session.req_header().headers, &ctx.request_id);
        let parts = overview::fan_out(internal, &snapshot.overview, &headers).await;
        let body = overview::document(&citizen.id, parts);
        ctx.responded =
            Some(respond_json(session, body, &ctx.request_id, "private, no-store").await?);
        Ok(true)
    }

    /// The whole request body of a request the gateway answers itself, at
    /// most `limit` bytes, through the one body gate
    /// ([`hygiene::read_whole_body`]): 413 / 400 / 408 end the request.
    async fn read_body(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        hygiene::read_whole_body(session, limit, ctx.body.deadline)
            .await
            .map(Some)
            .map_err(|refusal| refuse(session, ctx, refusal))
    }

    /// A built-in API for a verified citizen (cases and ratings): the
    /// citizen, the limits, the body (at most [`MAX_BODY`]), then the API.
    async fn citizen_api(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
        path: &str,
        api: Arc<dyn CitizenApi>,
    ) -> Result<bool> {
        let Some(citizen) = self
            .builtin_citizen(session, ctx, snapshot, channel)
            .await?
        else {
            return Ok(true);
        };
        let Some(body) = self.read_body(session, ctx, MAX_BODY as u64).await? else {
            return Ok(true);
        };
        let req = session.req_header();
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let reply = api
            .call(ApiRequest {
                method: req.method.as_str(),
                path,
                query: req.uri.query(),
                citizen: &citizen.id,
                channel: channel.map(|c| c.id.as_str()),
                idempotency_key: header("idempotency-key"),
                request_id: &ctx.request_id,
                body: &body,
            })
            .await;
        let mut h = ResponseHeader::build(reply.status, Some(4))?;
        h.insert_header("content-type", "application/json")?;
        h.insert_header("content-length", reply.body.len().to_string())?;
        h.insert_header(request_id::HEADER, &ctx.request_id)?;
        h.insert_header("cache-control", "private, no-store")?;
        session.write_response_header(Box::new(h), false).await?;
        session
            .write_response_body(Some(Bytes::from(reply.body)), true)
            .await?;
        ctx.responded = Some(reply.status);
        Ok(true)
    }

    /// An HTTP/JSON call of a gRPC method ([`transcode`]): the binding, the
    /// native method's route (channel grant, auth), the body and the
    /// request message (400 naming the field; nothing is sent), then the
    /// native call through the public listener.
    async fn transcoded(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
        host: Option<String>,
        path: &str,
    ) -> Result<bool> {
        let req = session.req_header();
        let found = snapshot.transcode.find(&req.method, path);
        let onestop_transcode::Lookup::Found {
            method,
            binding,
            params,
        } = found
        else {
            let code = if path.starts_with(transcode::RPC_PREFIX) {
                ErrorCode::MethodNotFound
            } else {
                ErrorCode::RouteNotFound
            };
            return self
                .reject(session, ctx, code, code.default_message())
                .await;
        };
        ctx.builtin = Some("transcode");
        let native = RequestView {
            method: &http::Method::POST,
            host: host.as_deref(),
            path: &method.grpc_path,
            headers: &req.headers,
        };
        let Some(hit) = snapshot.table.find(&native) else {
            return self
                .reject(
                    session,
                    ctx,
                    ErrorCode::MethodNotFound,
                    "the method is not routed",
                )
                .await;
        };
        let route = hit.value.clone();
        let authorization = req
            .headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        let caller = match access::authenticate(
            &snapshot.access,
            &self.departments.load(),
            route.rule(),
            channel,
            authorization,
            None,
        ) {
            Ok(c) => c,
            Err(refusal) => return self.refuse_access(session, ctx, refusal).await,
        };
        // Logged as `onestop/transcode`: the native call it becomes is
        // logged (and measured) under the method's own route.
        ctx.caller = caller;
        let Some(body) = self.read_body(session, ctx, route.max_body).await? else {
            return Ok(true);
        };
        let query = session.req_header().uri.query();
        let message = match transcode::unique_keys(&body)
            .and_then(|()| method.request(binding, &params, query, &body))
        {
            Ok(m) => m,
            Err(bad) => {
                ctx.failure = Some(ErrorCode::InvalidArgument);
                let body = transcode::bad_request_body(&bad, &ctx.request_id);
                let h = error_header(
                    ErrorCode::InvalidArgument,
                    body.len(),
                    &ctx.request_id,
                    None,
                )?;
                session.write_response_header(Box::new(h), false).await?;
                session
                    .write_response_body(Some(Bytes::from(body)), true)
                    .await?;
                ctx.responded = Some(ErrorCode::InvalidArgument.http_status());
                return Ok(true);
            }
        };
        let Some(grpc) = self.internal.as_ref().and_then(|i| i.grpc()) else {
            return self
                .reject(
                    session,
                    ctx,
                    ErrorCode::Internal,
                    "transcoding needs the public listener's address",
                )
                .await;
        };
        let outcome = transcode::send(
            grpc,
            session,
            transcode::Call {
                method,
                binding,
                message,
                request_id: &ctx.request_id,
            },
        )
        .await?;
        ctx.responded = Some(outcome.status);
        ctx.failure = outcome.failure;
        Ok(true)
    }

    /// The response cache, before any department is contacted. Returns
    /// whether the request was answered (HIT, STALE, or a follower handed
    /// its leader's answer); otherwise `ctx.cache` says what to do with the
    /// department's answer.
    async fn consult_cache(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Arc<RouteEntry>,
        policy: Arc<onestop_cache::Policy>,
        path: &str,
        refresh: bool,
    ) -> Result<bool> {
        use onestop_cache::{Join, Key, KeyParts, Outcome, Status};
        let counters = self.cache.route(&route.dept.id, &route.route);
        let req = session.req_header();
        let consumed = route.auth != onestop_config::AuthMode::Public;
        if policy.bypass(&req.headers, consumed) {
            counters.record(Status::Bypass);
            ctx.cache_status = Some(Status::Bypass);
            return Ok(false);
        }
        let key = match Key::build(
            &policy,
            KeyParts {
                route: &route.id,
                path,
                query: req.uri.query(),
                headers: &req.headers,
                citizen: ctx.caller.citizen.as_ref().map(|c| c.id.as_str()),
            },
        ) {
            Ok(key) => key,
            Err(onestop_cache::KeyError::NoCitizen) => {
                counters.record(Status::Bypass);
                ctx.cache_status = Some(Status::Bypass);
                return Ok(false);
            }
        };
        let head = req.method == http::Method::HEAD;
        let mut using = response_cache::Use {
            key,
            policy,
            counters: counters.clone(),
            origin: onestop_cache::Origin {
                dept: route.dept.id.clone(),
                route: route.route.clone(),
                path: path.into(),
            },
            store: false,
            fill: None,
            stale: None,
            capture: None,
            replacing: None,
        };
        if refresh {
            // The gateway's own refresh: ask the department and store.
            using.store = true;
            ctx.cache = Some(using);
            ctx.cache_status = Some(Status::Miss);
            return Ok(false);
        }
        let stale = match response_cache::plan(self.cache.lookup(&using.key, Instant::now())) {
            Plan::Answer(entry, status) => {
                counters.record(status);
                return self.answer_from(session, ctx, &entry, status).await;
            }
            Plan::AnswerAndRefresh(entry) => {
                counters.record(Status::Stale);
                if let (Some(refresher), Some(fill)) =
                    (&self.refresher, self.cache.try_refresh(&using.key))
                {
                    refresher.spawn(session.req_header(), fill, self.cache.clone());
                }
                return self.answer_from(session, ctx, &entry, Status::Stale).await;
            }
            Plan::Ask(stale) => stale,
        };
        using.stale = stale;
        counters.record(Status::Miss);
        ctx.cache_status = Some(Status::Miss);
        if head {
            // HEAD is answered from GET entries but never fills them.
            ctx.cache = Some(using);
            return Ok(false);
        }
        match self.cache.join(&using.key) {
            Join::Leader(fill) => {
                using.store = true;
                using.fill = Some(fill);
            }
            Join::Follower(waiter) => {
                counters.coalesced();
                let limit = route.timeout.unwrap_or(Duration::from_secs(30));
                match waiter.wait(limit).await {
                    Outcome::Stored(entry) => {
                        return self.answer_from(session, ctx, &entry, Status::Hit).await;
                    }
                    Outcome::Failed => {
                        if let Some(stale) = using.on_failure(Instant::now()) {
                            return self.answer_from(session, ctx, &stale, Status::Stale).await;
                        }
                    }
                    Outcome::NotStored => {}
                }
                // Ask the department without filling: the leader's answer
                // could not be shared, so this one likely cannot either.
            }
        }
        ctx.cache = Some(using);
        Ok(false)
    }

    /// Answers from a cache entry.
    async fn answer_from(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        entry: &onestop_cache::Entry,
        status: onestop_cache::Status,
    ) -> Result<bool> {
        let header = response_cache::header_from(entry, status, &ctx.request_id, Instant::now())?;
        let head_only = session.req_header().method == http::Method::HEAD || entry.body.is_empty();
        session
            .write_response_header(Box::new(header), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(entry.body.clone()), true)
                .await?;
        }
        ctx.cache_status = Some(status);
        ctx.responded = Some(entry.status);
        Ok(true)
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            grpc: false,
            route: None,
            upstream: None,
            hash_key: Vec::new(),
            admission: None,
            deadline: None,
            tried: Vec::new(),
            current: None,
            attempts: 0,
            failure: None,
            responded: None,
            upstream_started: None,
            upstream_elapsed: None,
            caller: Caller::default(),
            upstream_target: None,
            citizen_not_found: false,
            builtin: None,
            body: BodyGate::default(),
            cache: None,
            cache_status: None,
            grpc_web: None,
        }
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
        let snapshot = self.snapshot.load_full();
        let req = session.req_header();
        // The path every rule sees and the department receives.
        let path = match onestop_policy::path::normalize(req.uri.path()) {
            Ok(p) => p.into_string(),
            Err(e) => {
                events::auth_refused(e.code());
                return self
                    .reject(session, ctx, ErrorCode::MalformedRequest, e.message())
                    .await;
            }
        };
        // The gateway's own requests (secret-marked); a case step acts for
        // its case's citizen through its case's channel.
        let internal = self.internal.as_ref().and_then(|i| i.kind(req));
        let case_step = internal == Some(Kind::Case);
        // An exchange's read acts for its citizen through no channel: the
        // agreement, not an app, allowed it.
        let exchange = internal == Some(Kind::Exchange);
        let acting = case_step || exchange;
        // The calling app (when channels are configured), before anything else.
        let channel = if exchange {
            Ok(None)
        } else if case_step {
            access::channel_by_id(
                &snapshot.access,
                req.headers
                    .get(crate::internal::CASE_CHANNEL_HEADER)
                    .map(http::HeaderValue::as_bytes),
            )
        } else {
            access::channel(
                &snapshot.access,
                req.headers
                    .get(access::APP_KEY_HEADER)
                    .map(http::HeaderValue::as_bytes),
            )
        };
        let channel = match channel {
            Ok(c) => c.cloned(),
            Err(refusal) => return self.refuse_access(session, ctx, refusal).await,
        };
        ctx.caller.channel = channel.as_ref().map(|c| c.id.clone());
        if path == CATALOG_PATH
            && (req.method == http::Method::GET || req.method == http::Method::HEAD)
        {
            let body = catalog::render(&snapshot.catalog, req.uri.query());
            ctx.builtin = Some("catalog");
            ctx.responded = Some(respond_json(session, body, &ctx.request_id, "no-cache").await?);
            return Ok(true);
        }
        if path == overview::PATH
            && (req.method == http::Method::GET || req.method == http::Method::HEAD)
        {
            ctx.builtin = Some("overview");
            return self
                .overview(session, ctx, &snapshot, channel.as_ref())
                .await;
        }
        if let Some(api) = self.citizen_api.clone()
            && !acting
            && api.handles(&path)
        {
            ctx.builtin = Some("cases");
            return self
                .citizen_api(session, ctx, &snapshot, channel.as_ref(), &path, api)
                .await;
        }
        let host = req
            .uri
            .host()
            .or_else(|| {
                req.headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .map(request::host_without_port);
        let view = RequestView {
            method: &req.method,
            host,
            path: &path,
            headers: &req.headers,
        };
        let Some(hit) = snapshot.table.find(&view) else {
            // Not a route: perhaps an HTTP binding of a gRPC method.
            let host = host.map(str::to_owned);
            return self
                .transcoded(session, ctx, &snapshot, channel.as_ref(), host, &path)
                .await;
        };
        let route = hit.value.clone();
        let path_citizen = route.citizen_param.and_then(|i| hit.params.get(i));
        // Who is calling, by the route's auth mode.
        let authorization = req
            .headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        let case_citizen = if acting {
            match access::case_citizen(
                req.headers
                    .get(crate::internal::CASE_CITIZEN_HEADER)
                    .map(http::HeaderValue::as_bytes),
                channel.as_ref().map(|c| c.id.as_str()),
            ) {
                Ok(c) => Some(c),
                Err(refusal) => return self.refuse_access(session, ctx, refusal).await,
            }
        } else {
            None
        };
        let caller = match access::authenticate(
            &snapshot.access,
            &self.departments.load(),
            route.rule(),
            channel.as_ref(),
            authorization,
            case_citizen,
        ) {
            Ok(c) => c,
            Err(refusal) => {
                ctx.route = Some(route);
                return self.refuse_access(session, ctx, refusal).await;
            }
        };
        // Object-level authorisation: a citizen route's path must name the
        // token's citizen (or `me`); anybody else's id is "not found".
        let mut upstream_path = None;
        if route.citizen_scoped()
            && let (Some(value), Some(citizen)) = (path_citizen, caller.citizen.as_ref())
        {
            match onestop_policy::citizen::resolve(value, &citizen.id) {
                onestop_policy::citizen::Owner::Mine(id) => {
                    if value != id
                        && let Some(segment) = route.citizen_segment
                    {
                        upstream_path = Some(forward::with_segment(&path, segment, id));
                    }
                }
                onestop_policy::citizen::Owner::NotMine => {
                    events::auth_refused("not_mine");
                    ctx.route = Some(route);
                    return self
                        .reject(
                            session,
                            ctx,
                            ErrorCode::CitizenNotFound,
                            ErrorCode::CitizenNotFound.default_message(),
                        )
                        .await;
                }
            }
        }
        let upstream_path = upstream_path.unwrap_or(path);
        if upstream_path != req.uri.path() {
            ctx.upstream_target = Some(match req.uri.query() {
                Some(q) => format!("{upstream_path}?{q}"),
                None => upstream_path.clone(),
            });
        }
        ctx.hash_key = caller
            .citizen
            .as_ref()
            .filter(|_| route.citizen_param.is_some())
            .map_or(upstream_path.as_str(), |c| c.id.as_str())
            .as_bytes()
            .to_vec();
        // Rate limits: per citizen, per channel, per route. The gateway's
        // own requests are not counted: the request that caused them was
        // (the overview; the stale answer a refresh replaces).
        let refresh = internal == Some(Kind::Refresh);
        if internal.is_none()
            && let Err(refusal) =
                access::limit(&self.limiter, &snapshot.access, Some(route.rule()), &caller).await
        {
            ctx.caller = caller;
            ctx.route = Some(route);
            return self.refuse_access(session, ctx, refusal).await;
        }
        // A citizen's read of a data item is recorded before the department
        // is asked (cache hits included); when the log cannot take it the
        // read does not happen. Exchanges record their own reads; a cache
        // refresh returns nothing to anybody.
        if let (Some(read), Some(recorder), Some(citizen)) =
            (&route.data_item, &self.recorder, &caller.citizen)
            && !matches!(internal, Some(Kind::Exchange | Kind::Refresh))
        {
            let purpose = match internal {
                Some(Kind::Overview) => "overview",
                Some(Kind::Case) => "case",
                _ => "self-service",
            };
            if !recorder.record(&PersonalRead {
                citizen: &citizen.id,
                channel: caller.channel.as_deref(),
                item: &read.item,
                fields: &read.fields,
                purpose,
                request_id: &ctx.request_id,
            }) {
                ctx.caller = caller;
                ctx.route = Some(route);
                return self
                    .reject(
                        session,
                        ctx,
                        ErrorCode::AuditUnavailable,
                        ErrorCode::AuditUnavailable.default_message(),
                    )
                    .await;
            }
        }
        ctx.caller = caller;
        ctx.citizen_not_found = route.citizen_scoped();
        // The route's body limit: a declared length over it is refused at
        // once; a chunked body is read ahead (up to pingora's 64 KiB retry
        // buffer) before any department is contacted.
        ctx.body.limit = route.max_body;
        if let Err(refusal) = hygiene::admit_body(session, &mut ctx.body).await {
            ctx.route = Some(route);
            return Err(refuse(session, ctx, refusal));
        }
        if let Some(policy) = route.cache.clone()
            && !ctx.grpc
            && response_cache::eligible(session.req_header())
            && self
                .consult_cache(session, ctx, &route, policy, &upstream_path, refresh)
                .await?
        {
            ctx.route = Some(route);
            return Ok(true);
        }
        let upstream = if route.targets.len() == 1 {
            route.targets[0].0.clone()
        } else {
            route.pick(fastrand::u32(0..route.total_weight)).clone()
        };
        let Some(admission) = route.dept.try_admit() else {
            ctx.route = Some(route);
            return self
                .reject(
                    session,
                    ctx,
                    ErrorCode::DepartmentOverloaded,
                    ErrorCode::DepartmentOverloaded.default_message(),
                )
                .await;
        };
        route.dept.deposit();
        // An overview item also stops when the overview stops waiting.
        let item_deadline = internal
            .filter(|k| *k == Kind::Overview)
            .and_then(|_| crate::internal::deadline(session.req_header()));
        ctx.deadline =
            crate::internal::earliest(route.timeout, item_deadline).map(|t| ctx.started + t);
        if route.retries > 0 && session.req_header().method.is_idempotent() {
            session.enable_retry_buffering();
        }
        ctx.admission = Some(admission);
        ctx.upstream = Some(upstream);
        ctx.route = Some(route);
        Ok(false)
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
        if let Some(client) = session.client_addr().and_then(|a| a.as_inet()) {
            let ip = client.ip().to_string();
            let xff = match upstream_request
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip,
            };
            upstream_request.insert_header("x-forwarded-for", xff)?;
        }
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
                .map_or(0, |_| stale.status);
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
