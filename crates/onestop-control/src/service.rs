//! The tonic `Registry` service: authenticate, convert at the edge, call
//! [`Registry`], convert back.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Authenticate;
use crate::convert;
use crate::error::RegistryError;
use crate::pb::registry as pb;
use crate::registry::{Registry, ServiceState};

/// The gRPC face of the registry.
pub struct RegistryService {
    registry: Arc<Registry>,
    auth: Arc<dyn Authenticate>,
}

impl RegistryService {
    pub fn new(registry: Arc<Registry>, auth: Arc<dyn Authenticate>) -> RegistryService {
        RegistryService { registry, auth }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<String, Status> {
        crate::auth::caller(self.auth.as_ref(), request)
            .ok_or_else(|| Status::from(RegistryError::Unauthenticated))
    }
}

fn invalid(problems: Vec<crate::error::Problem>) -> Status {
    Status::from(RegistryError::InvalidArgument(problems))
}

fn state_to_pb(s: &ServiceState) -> pb::ServiceState {
    pb::ServiceState {
        spec: Some(convert::spec_to_pb(&s.record.spec)),
        revision: s.record.revision,
        status: convert::status_to_pb(s.record.status) as i32,
        approved_revision: s.record.approved_revision.unwrap_or(0),
        instances: s
            .instances
            .iter()
            .map(|i| pb::Instance {
                addr: i.addr.to_string(),
                weight: i.weight,
            })
            .collect(),
    }
}

fn renew(
    registry: &Registry,
    caller: &str,
    req: pb::RenewRequest,
) -> Result<pb::RenewResponse, Status> {
    let addrs = convert::addrs(&req.addrs, "addrs").map_err(invalid)?;
    let out = registry.renew(caller, &req.dept, &req.service, &addrs)?;
    Ok(pb::RenewResponse {
        lease_ttl_ms: u32::try_from(out.lease_ttl_ms).unwrap_or(u32::MAX),
        renewed: out.renewed.iter().map(ToString::to_string).collect(),
        unknown: out.unknown.iter().map(ToString::to_string).collect(),
    })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::registry_server::Registry for RegistryService {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        // Who may act on the department comes before what is wrong with the request.
        if let Some(spec) = &req.service
            && spec.dept != caller
        {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot register services of department `{}`",
                spec.dept
            ))
            .into());
        }
        let settings = self.registry.settings();
        let spec = convert::service_spec(req.service, settings.lease);
        let instances = convert::instances(req.instances, "instances");
        let (spec, instances) = match (spec, instances) {
            (Ok(s), Ok(i)) => (s, i),
            (s, i) => {
                let mut problems = s.err().unwrap_or_default();
                problems.extend(i.err().unwrap_or_default());
                return Err(invalid(problems));
            }
        };
        let out = self.registry.register(&caller, spec, instances).await?;
        Ok(Response::new(pb::RegisterResponse {
            revision: out.revision,
            status: convert::status_to_pb(out.status) as i32,
            new_revision: out.new_revision,
            lease_ttl_ms: u32::try_from(out.lease_ttl_ms).unwrap_or(u32::MAX),
        }))
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::RenewResponse>, Status> {
        let caller = self.caller(&request)?;
        renew(&self.registry, &caller, request.into_inner()).map(Response::new)
    }

    type KeepAliveStream = BoxStream<pb::RenewResponse>;

    async fn keep_alive(
        &self,
        request: Request<Streaming<pb::RenewRequest>>,
    ) -> Result<Response<Self::KeepAliveStream>, Status> {
        let caller = self.caller(&request)?;
        let registry = self.registry.clone();
        let stream = request
            .into_inner()
            .map(move |req| req.and_then(|r| renew(&registry, &caller, r)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn deregister(
        &self,
        request: Request<pb::DeregisterRequest>,
    ) -> Result<Response<pb::DeregisterResponse>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        let addrs = convert::addrs(&req.addrs, "addrs").map_err(invalid)?;
        let (removed, service) = self
            .registry
            .deregister(&caller, &req.dept, &req.service, &addrs)
            .await?;
        Ok(Response::new(pb::DeregisterResponse {
            removed_instances: u32::try_from(removed).unwrap_or(u32::MAX),
            removed_service: service,
        }))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let caller = self.caller(&request)?;
        let dept = request.into_inner().dept;
        if !dept.is_empty() && dept != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot list services of department `{dept}`"
            ))
            .into());
        }
        let services = self.registry.services(Some(&caller));
        Ok(Response::new(pb::ListResponse {
            services: services.iter().map(state_to_pb).collect(),
        }))
    }

    type WatchStream = BoxStream<pb::WatchEvent>;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let caller = self.caller(&request)?;
        let dept = request.into_inner().dept;
        if !dept.is_empty() && dept != caller {
            return Err(RegistryError::PermissionDenied(format!(
                "department `{caller}` cannot watch services of department `{dept}`"
            ))
            .into());
        }
        let registry = self.registry.clone();
        let mut last: Option<Vec<pb::ServiceState>> = None;
        // The first item is the current state; then one per visible change.
        let stream = WatchStream::new(self.registry.subscribe()).filter_map(move |_| {
            let services: Vec<pb::ServiceState> = registry
                .services(Some(&caller))
                .iter()
                .map(state_to_pb)
                .collect();
            if last.as_ref() == Some(&services) {
                return None;
            }
            last = Some(services.clone());
            Some(Ok(pb::WatchEvent { services }))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
