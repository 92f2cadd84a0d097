//! The tonic `Cache` service: a department purges its own cached answers.
//! Authenticate, convert at the edge, hand to [`PurgeApplier`].

use std::sync::Arc;

use onestop_cache::Purge;
use tonic::{Request, Response, Status};

use crate::auth::Authenticate;
use crate::error::{Problem, RegistryError};
use crate::pb::cache as pb;
use crate::purge::{PurgeApplier, PurgeError};

/// The gRPC face of cache purges.
pub struct CacheService {
    purges: Arc<PurgeApplier>,
    auth: Arc<dyn Authenticate>,
}

impl CacheService {
    pub fn new(purges: Arc<PurgeApplier>, auth: Arc<dyn Authenticate>) -> CacheService {
        CacheService { purges, auth }
    }
}

/// The purge a request asks for (checked by [`crate::purge::check`] later).
fn target(target: Option<pb::purge_request::Target>) -> Result<Purge, Vec<Problem>> {
    use pb::purge_request::Target;
    match target {
        Some(Target::Prefix(p)) => Ok(Purge::Prefix(p)),
        Some(Target::Tag(t)) => Ok(Purge::Tag(t)),
        Some(Target::All(true)) => Ok(Purge::All),
        Some(Target::All(false)) => Err(vec![Problem::new(
            "all",
            "must be true when set (to purge everything of the department)",
        )]),
        None => Err(vec![Problem::new(
            "target",
            "exactly one of `prefix`, `tag` or `all` must be set",
        )]),
    }
}

#[tonic::async_trait]
impl pb::cache_server::Cache for CacheService {
    async fn purge(
        &self,
        request: Request<pb::PurgeRequest>,
    ) -> Result<Response<pb::PurgeResponse>, Status> {
        let caller = crate::auth::caller(self.auth.as_ref(), &request)
            .ok_or_else(|| Status::from(RegistryError::Unauthenticated))?;
        let req = request.into_inner();
        // Who may act on the department comes before what is wrong with the request.
        if !req.department.is_empty() && req.department != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot purge cached answers of department `{}`",
                req.department
            ))
            .into());
        }
        let purge = target(req.target).map_err(PurgeError::Invalid)?;
        // Always the caller's own department: the cache removes nothing of
        // another department, whatever the prefix or tag names.
        let done = self
            .purges
            .purge(&caller, &purge, &format!("dept:{caller}"))
            .await?;
        Ok(Response::new(pb::PurgeResponse {
            id: done.id,
            removed: done.removed,
        }))
    }
}
