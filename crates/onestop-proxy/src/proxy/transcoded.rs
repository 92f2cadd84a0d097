//! A request no route matched, tried as an HTTP/JSON call of a gRPC
//! method: the checks here, the call's shape in [`crate::transcode`].

use super::steps::{Step, Stop, authorization};
use super::*;

impl Gateway {
    /// An HTTP/JSON call of a gRPC method ([`transcode`]): the binding, the
    /// native method's route (channel grant, auth), the body and the
    /// request message (400 naming the field; nothing is sent), then the
    /// native call through the public listener.
    pub(super) async fn transcoded(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        channel: Option<&onestop_policy::channel::ChannelRule>,
        host: Option<String>,
        path: &str,
    ) -> Step {
        let req = session.req_header();
        let onestop_transcode::Lookup::Found {
            method,
            binding,
            params,
        } = snapshot.transcode.find(&req.method, path)
        else {
            let code = if path.starts_with(transcode::RPC_PREFIX) {
                ErrorCode::MethodNotFound
            } else {
                ErrorCode::RouteNotFound
            };
            return Err(Stop::refused(code, code.default_message()));
        };
        ctx.builtin = Some("transcode");
        let native = RequestView {
            method: &http::Method::POST,
            host: host.as_deref(),
            path: &method.grpc_path,
            headers: &req.headers,
        };
        let Some(hit) = snapshot.table.find(&native) else {
            return Err(Stop::refused(
                ErrorCode::MethodNotFound,
                "the method is not routed",
            ));
        };
        let route = hit.value.clone();
        // Logged as `onestop/transcode`: the native call it becomes is
        // logged (and measured) under the method's own route.
        ctx.caller = access::authenticate(
            &snapshot.access,
            &self.departments.load(),
            route.rule(),
            channel,
            authorization(req),
            None,
        )
        .map_err(Stop::Refused)?;
        let body = hygiene::read_whole_body(session, route.max_body, ctx.body.deadline)
            .await
            .map_err(Stop::Closed)?;
        let query = session.req_header().uri.query();
        let message = match transcode::unique_keys(&body)
            .and_then(|()| method.request(binding, &params, query, &body))
        {
            Ok(m) => m,
            Err(bad) => {
                ctx.failure = Some(ErrorCode::InvalidArgument);
                let body = transcode::bad_request_body(&bad, &ctx.request_id);
                ctx.responded = Some(
                    respond_error_body(session, ErrorCode::InvalidArgument, body, &ctx.request_id)
                        .await?,
                );
                return Err(Stop::Answered);
            }
        };
        let Some(grpc) = self.internal.as_ref().and_then(|i| i.grpc()) else {
            return Err(Stop::refused(
                ErrorCode::Internal,
                "transcoding needs the public listener's address",
            ));
        };
        let call = transcode::Call {
            method,
            binding,
            message,
            request_id: &ctx.request_id,
        };
        let outcome = transcode::send(grpc, session, call).await?;
        ctx.responded = Some(outcome.status);
        ctx.failure = outcome.failure;
        Err(Stop::Answered)
    }
}
