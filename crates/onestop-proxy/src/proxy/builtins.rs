//! The requests the gateway answers itself: the catalog, the citizen
//! overview (whose items come back through the public listener as the
//! gateway's own requests) and the citizen APIs behind [`CitizenApi`].

use super::steps::{Step, Stop, authorization};
use super::*;

impl Gateway {
    /// The gateway's own answers (catalog, citizen overview, citizen
    /// APIs); `Ok` when the request is for none of them.
    pub(super) async fn builtins(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
        path: &str,
        origin: Origin,
    ) -> Step {
        let req = session.req_header();
        let read = req.method == http::Method::GET || req.method == http::Method::HEAD;
        if read && path == CATALOG_PATH {
            let body = catalog::render(&snapshot.catalog, req.uri.query());
            ctx.builtin = Some("catalog");
            ctx.responded = Some(respond_json(session, body, &ctx.request_id, "no-cache").await?);
            return Err(Stop::Answered);
        }
        if read && path == overview::PATH {
            ctx.builtin = Some("overview");
            return self.overview(session, ctx, snapshot, channel).await;
        }
        if let Some(api) = self.citizen_api.clone()
            && !origin.acts_for_citizen()
            && api.handles(path)
        {
            ctx.builtin = Some("cases");
            return self
                .citizen_api(session, ctx, snapshot, channel, path, api)
                .await;
        }
        Ok(())
    }

    /// The verified citizen of a built-in (the overview, cases), counted
    /// once against the citizen's and channel's limits.
    async fn builtin_citizen(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
    ) -> Step<Arc<onestop_policy::jwt::Citizen>> {
        let token = access::bearer(authorization(session.req_header()));
        let citizen = access::citizen(&snapshot.access, channel.map(|c| c.id.as_str()), token)
            .map_err(Stop::Refused)?;
        ctx.caller.citizen = Some(citizen.clone());
        access::limit(&self.limiter, &snapshot.access, None, &ctx.caller)
            .await
            .map_err(Stop::Refused)?;
        Ok(citizen)
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
    ) -> Step {
        let citizen = self
            .builtin_citizen(session, ctx, snapshot, channel)
            .await?;
        let Some(internal) = &self.internal else {
            return Err(Stop::refused(
                ErrorCode::Internal,
                "the overview needs the public listener's address",
            ));
        };
        let headers = overview::item_headers(&session.req_header().headers, &ctx.request_id);
        let parts = overview::fan_out(internal, &snapshot.overview, &headers).await;
        let body = overview::document(&citizen.id, parts);
        ctx.responded =
            Some(respond_json(session, body, &ctx.request_id, "private, no-store").await?);
        Err(Stop::Answered)
    }

    /// A built-in API for a verified citizen (cases and ratings): the
    /// citizen (none for an anonymous path, e.g. the public appeals feed),
    /// the limits, the body (at most [`MAX_BODY`], or the API's own limit
    /// for uploads, through the one body gate [`hygiene::read_whole_body`]),
    /// then the API.
    async fn citizen_api(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
        path: &str,
        api: Arc<dyn CitizenApi>,
    ) -> Step {
        // A public document: the channel (checked before the built-ins)
        // and its limits, no citizen.
        let citizen = if api.anonymous(path) {
            access::limit(&self.limiter, &snapshot.access, None, &ctx.caller)
                .await
                .map_err(Stop::Refused)?;
            None
        } else {
            Some(
                self.builtin_citizen(session, ctx, snapshot, channel)
                    .await?,
            )
        };
        let limit = api.max_body(session.req_header().method.as_str(), path);
        let body = hygiene::read_whole_body(session, limit, ctx.body.deadline)
            .await
            .map_err(Stop::Closed)?;
        let req = session.req_header();
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let reply = api
            .call(ApiRequest {
                method: req.method.as_str(),
                path,
                query: req.uri.query(),
                citizen: citizen.as_ref().map_or("", |c| c.id.as_str()),
                channel: channel.map(|c| c.id.as_str()),
                idempotency_key: header("idempotency-key"),
                request_id: &ctx.request_id,
                content_type: header("content-type"),
                body: &body,
            })
            .await;
        ctx.responded = Some(match reply.download {
            Some(media_type) => {
                respond_download(session, &media_type, reply.body, &ctx.request_id).await?
            }
            None => respond_reply(session, reply.status, reply.body, &ctx.request_id).await?,
        });
        Err(Stop::Answered)
    }
}
