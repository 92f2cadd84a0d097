//! `request_filter`'s steps, in order, and its one exit: each step returns
//! a [`Step`], and a [`Stop`] (refused, answered, closed) is turned into
//! the answer once, by [`Gateway::stop`].

use super::*;

/// Why `request_filter` stops before any department is asked: the phase
/// turns it into the answer once ([`Gateway::stop`]).
pub(super) enum Stop {
    /// The gateway answered (a built-in, a cache hit).
    Answered,
    /// Refused with the gateway's JSON (or gRPC) error.
    Refused(Refusal),
    /// A body refused by the one gate: the connection is closed and
    /// `fail_to_proxy` answers.
    Closed(hygiene::Refusal),
    /// Writing the answer failed.
    Failed(Box<Error>),
}

impl From<Box<Error>> for Stop {
    fn from(e: Box<Error>) -> Stop {
        Stop::Failed(e)
    }
}

impl Stop {
    pub(super) fn refused(code: ErrorCode, message: &str) -> Stop {
        Stop::Refused(Refusal {
            code,
            message: message.to_string(),
            retry_after: None,
        })
    }
}

/// A step of the request path: `Err` ends the request.
pub(super) type Step<T = ()> = std::result::Result<T, Stop>;

/// The path every rule sees and the department receives.
fn normalized_path(req: &RequestHeader) -> Step<String> {
    onestop_policy::path::normalize(req.uri.path())
        .map(|p| p.into_string())
        .map_err(|e| {
            events::auth_refused(e.code());
            Stop::refused(ErrorCode::MalformedRequest, e.message())
        })
}

/// The calling app, found where the request's origin says.
fn channel(
    snapshot: &Snapshot,
    req: &RequestHeader,
    origin: Origin,
) -> Step<Option<onestop_policy::channel::ChannelRule>> {
    let header = |name: &str| req.headers.get(name).map(http::HeaderValue::as_bytes);
    let found = match origin.channel_from() {
        ChannelFrom::Nothing => Ok(None),
        ChannelFrom::Case => access::channel_by_id(
            &snapshot.access,
            header(crate::internal::CASE_CHANNEL_HEADER),
        ),
        ChannelFrom::AppKey => access::channel(&snapshot.access, header(access::APP_KEY_HEADER)),
    };
    found.map(|c| c.cloned()).map_err(Stop::Refused)
}

/// The request's `Host` (or its URI's authority), without a port.
fn host(req: &RequestHeader) -> Option<&str> {
    req.uri
        .host()
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .map(request::host_without_port)
}

/// The `Authorization` header's bytes.
pub(super) fn authorization(req: &RequestHeader) -> Option<&[u8]> {
    req.headers
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes)
}

/// The citizen a case step or an exchange's read acts for.
fn acting_citizen(
    req: &RequestHeader,
    origin: Origin,
    channel: Option<&onestop_policy::channel::ChannelRule>,
) -> Step<Option<Arc<onestop_policy::jwt::Citizen>>> {
    if !origin.acts_for_citizen() {
        return Ok(None);
    }
    access::case_citizen(
        req.headers
            .get(crate::internal::CASE_CITIZEN_HEADER)
            .map(http::HeaderValue::as_bytes),
        channel.map(|c| c.id.as_str()),
    )
    .map(Some)
    .map_err(Stop::Refused)
}

/// Object-level authorisation: a citizen route's path must name the
/// token's citizen (or `me`); anybody else's id is "not found". Returns
/// the path with `me` resolved when it differs.
fn owner(
    route: &RouteEntry,
    path_citizen: Option<&str>,
    caller: &Caller,
    path: &str,
) -> Step<Option<String>> {
    let (true, Some(value), Some(citizen)) = (
        route.citizen_scoped(),
        path_citizen,
        caller.citizen.as_ref(),
    ) else {
        return Ok(None);
    };
    match onestop_policy::citizen::resolve(value, &citizen.id) {
        onestop_policy::citizen::Owner::Mine(id) => Ok(route
            .citizen_segment
            .filter(|_| value != id)
            .map(|segment| forward::with_segment(path, segment, id))),
        onestop_policy::citizen::Owner::NotMine => {
            events::auth_refused("not_mine");
            Err(Stop::refused(
                ErrorCode::CitizenNotFound,
                ErrorCode::CitizenNotFound.default_message(),
            ))
        }
    }
}

impl Gateway {
    /// Turns a [`Stop`] into the request's answer: the one exit of
    /// `request_filter` for refusals.
    pub(super) async fn stop(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        stop: Stop,
    ) -> Result<bool> {
        match stop {
            Stop::Answered => Ok(true),
            Stop::Refused(refusal) => {
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
            Stop::Closed(refusal) => Err(refuse(session, ctx, refusal)),
            Stop::Failed(e) => Err(e),
        }
    }

    /// `request_filter`'s steps, in order (see the module's table); `Ok`
    /// sends the request on to `ctx.upstream`.
    pub(super) async fn admit(&self, session: &mut Session, ctx: &mut Ctx) -> Step {
        let snapshot = self.snapshot.load_full();
        let req = session.req_header();
        let path = normalized_path(req)?;
        let origin = Origin::of(self.internal.as_deref(), req);
        let channel = channel(&snapshot, req, origin)?;
        ctx.caller.channel = channel.as_ref().map(|c| c.id.clone());
        self.builtins(session, ctx, &snapshot, channel.as_ref(), &path, origin)
            .await?;
        let req = session.req_header();
        let host = host(req);
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
        let acting = acting_citizen(req, origin, channel.as_ref())?;
        ctx.route = Some(route.clone());
        ctx.caller = access::authenticate(
            &snapshot.access,
            &self.departments.load(),
            route.rule(),
            channel.as_ref(),
            authorization(req),
            acting,
        )
        .map_err(Stop::Refused)?;
        let upstream_path = owner(&route, path_citizen, &ctx.caller, &path)?.unwrap_or(path);
        ctx.aim(req, &route, upstream_path.as_str());
        self.limit(&snapshot, &route, ctx, origin).await?;
        self.record_read(&route, ctx, origin)?;
        ctx.citizen_not_found = route.citizen_scoped();
        // The route's body limit: a declared length over it is refused at
        // once; a chunked body is read ahead (up to pingora's 64 KiB retry
        // buffer) before any department is contacted.
        ctx.body.limit = route.max_body;
        hygiene::admit_body(session, &mut ctx.body)
            .await
            .map_err(Stop::Closed)?;
        self.cache_step(session, ctx, &route, &upstream_path, origin)
            .await?;
        self.take_slot(session, ctx, &route, origin)
    }

    /// Rate limits per citizen, channel and route; only a client's request
    /// is counted (the one that caused the gateway's own was).
    async fn limit(
        &self,
        snapshot: &Snapshot,
        route: &RouteEntry,
        ctx: &Ctx,
        origin: Origin,
    ) -> Step {
        if !origin.rate_limited() {
            return Ok(());
        }
        access::limit(
            &self.limiter,
            &snapshot.access,
            Some(route.rule()),
            &ctx.caller,
        )
        .await
        .map_err(Stop::Refused)
    }

    /// A citizen's read of a data item is recorded before the department
    /// is asked (cache hits included); when the log cannot take it the
    /// read does not happen. The origin says which reads are recorded here.
    fn record_read(&self, route: &RouteEntry, ctx: &Ctx, origin: Origin) -> Step {
        let (Some(read), Some(recorder), Some(citizen), Some(purpose)) = (
            &route.data_item,
            &self.recorder,
            &ctx.caller.citizen,
            origin.audit_purpose(),
        ) else {
            return Ok(());
        };
        let recorded = recorder.record(&PersonalRead {
            citizen: &citizen.id,
            channel: ctx.caller.channel.as_deref(),
            item: &read.item,
            fields: &read.fields,
            purpose,
            request_id: &ctx.request_id,
        });
        if recorded {
            return Ok(());
        }
        Err(Stop::refused(
            ErrorCode::AuditUnavailable,
            ErrorCode::AuditUnavailable.default_message(),
        ))
    }

    /// The instance set (canary split), a department slot (or shed), the
    /// retry budget's deposit, the deadline, retry buffering.
    fn take_slot(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Arc<RouteEntry>,
        origin: Origin,
    ) -> Step {
        let upstream = if route.targets.len() == 1 {
            route.targets[0].0.clone()
        } else {
            route.pick(fastrand::u32(0..route.total_weight)).clone()
        };
        let Some(admission) = route.dept.try_admit() else {
            return Err(Stop::refused(
                ErrorCode::DepartmentOverloaded,
                ErrorCode::DepartmentOverloaded.default_message(),
            ));
        };
        route.dept.deposit();
        // An overview item also stops when the overview stops waiting.
        let item_deadline = origin.deadline(session.req_header());
        ctx.deadline =
            crate::internal::earliest(route.timeout, item_deadline).map(|t| ctx.started + t);
        if route.retries > 0 && session.req_header().method.is_idempotent() {
            session.enable_retry_buffering();
        }
        ctx.admission = Some(admission);
        ctx.upstream = Some(upstream);
        Ok(())
    }
}
