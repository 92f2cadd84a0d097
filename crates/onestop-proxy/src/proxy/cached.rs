//! The response cache on the request path: answer from an entry (hit,
//! stale, a leader's answer) or say what to do with the department's;
//! the entries' mechanics are in [`crate::cache`].

use super::steps::{Step, Stop};
use super::*;

impl Gateway {
    /// The cache step: on a cached route, a request that may use the cache
    /// (not gRPC; GET or HEAD without `Range`) asks it first.
    pub(super) async fn cache_step(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Arc<RouteEntry>,
        path: &str,
        origin: Origin,
    ) -> Step {
        let Some(policy) = route.cache.clone() else {
            return Ok(());
        };
        if ctx.grpc || !response_cache::eligible(session.req_header()) {
            return Ok(());
        }
        let refresh = origin.refreshes_cache();
        self.consult_cache(session, ctx, route, policy, path, refresh)
            .await
    }

    /// The response cache, before any department is contacted. Returns
    /// whether the request was answered (HIT, STALE, or a follower handed
    /// its leader's answer); otherwise `ctx.cache` says what to do with the
    /// department's answer.
    pub(super) async fn consult_cache(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Arc<RouteEntry>,
        policy: Arc<onestop_cache::Policy>,
        path: &str,
        refresh: bool,
    ) -> Step {
        use onestop_cache::{Join, Key, KeyParts, Outcome, Status};
        let counters = self.cache.route(&route.dept.id, &route.route);
        let req = session.req_header();
        let consumed = route.auth != onestop_config::AuthMode::Public;
        if policy.bypass(&req.headers, consumed) {
            counters.record(Status::Bypass);
            ctx.cache_status = Some(Status::Bypass);
            return Ok(());
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
                return Ok(());
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
            return Ok(());
        }
        let stale = match response_cache::plan(self.cache.lookup(&using.key, Instant::now())) {
            Plan::Answer(entry, status) => {
                counters.record(status);
                self.answer_from(session, ctx, &entry, status).await?;
                return Err(Stop::Answered);
            }
            Plan::AnswerAndRefresh(entry) => {
                counters.record(Status::Stale);
                if let (Some(refresher), Some(fill)) =
                    (&self.refresher, self.cache.try_refresh(&using.key))
                {
                    refresher.spawn(session.req_header(), fill, self.cache.clone());
                }
                self.answer_from(session, ctx, &entry, Status::Stale)
                    .await?;
                return Err(Stop::Answered);
            }
            Plan::Ask(stale) => stale,
        };
        using.stale = stale;
        counters.record(Status::Miss);
        ctx.cache_status = Some(Status::Miss);
        if head {
            // HEAD is answered from GET entries but never fills them.
            ctx.cache = Some(using);
            return Ok(());
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
                        self.answer_from(session, ctx, &entry, Status::Hit).await?;
                        return Err(Stop::Answered);
                    }
                    Outcome::Failed => {
                        if let Some(stale) = using.on_failure(Instant::now()) {
                            self.answer_from(session, ctx, &stale, Status::Stale)
                                .await?;
                            return Err(Stop::Answered);
                        }
                    }
                    Outcome::NotStored => {}
                }
                // Ask the department without filling: the leader's answer
                // could not be shared, so this one likely cannot either.
            }
        }
        ctx.cache = Some(using);
        Ok(())
    }

    /// Answers from a cache entry.
    pub(super) async fn answer_from(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        entry: &onestop_cache::Entry,
        status: onestop_cache::Status,
    ) -> Result<()> {
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
        Ok(())
    }
}
