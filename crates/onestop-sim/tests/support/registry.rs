//! A stand-in for the gateway's registry: a tonic server that records every
//! `Register` and `Renew`, checks department tokens, keeps the instances it
//! was given (leases never lapse on their own) and can forget instances or
//! whole services, as a real registry does when leases lapse or it restarts.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use onestop_sim::pb::registry::{
    self as pb,
    registry_server::{Registry, RegistryServer},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call<T> {
    pub at: Instant,
    /// The `authorization` metadata, as sent.
    pub authorization: String,
    pub request: T,
}

#[derive(Debug, Default)]
struct Known {
    spec: Option<pb::ServiceSpec>,
    revision: i64,
    addrs: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct State {
    registers: Vec<Call<pb::RegisterRequest>>,
    renews: Vec<Call<pb::RenewRequest>>,
    services: BTreeMap<(String, String), Known>,
}

/// The fake registry; clones share state.
#[derive(Debug, Clone)]
pub struct FakeRegistry {
    /// Token → the department it belongs to.
    tokens: Arc<BTreeMap<String, String>>,
    /// Lease TTL granted instead of the one asked for, when set.
    grant_ttl_ms: Option<u32>,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    /// A registry that knows the token `tok-{dept}` of each department.
    pub fn new(depts: &[&str]) -> FakeRegistry {
        FakeRegistry {
            tokens: Arc::new(
                depts
                    .iter()
                    .map(|d| (format!("tok-{d}"), (*d).to_owned()))
                    .collect(),
            ),
            grant_ttl_ms: None,
            state: Arc::default(),
        }
    }

    /// Grants `ms` whatever lease TTL is asked for.
    pub fn granting(mut self, ms: u32) -> FakeRegistry {
        self.grant_ttl_ms = Some(ms);
        self
    }

    /// Serves on `listener` until the handle is aborted.
    pub fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let service = RegistryServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        })
    }

    /// Serves on a fresh loopback port; answers the port.
    pub async fn start(&self) -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (addr, self.serve(listener))
    }

    /// Every `Register` of `dept`, in arrival order.
    pub fn registers(&self, dept: &str) -> Vec<Call<pb::RegisterRequest>> {
        let state = self.state.lock().unwrap();
        state
            .registers
            .iter()
            .filter(|c| c.request.service.as_ref().is_some_and(|s| s.dept == dept))
            .cloned()
            .collect()
    }

    /// Every `Renew` of `dept`, in arrival order.
    pub fn renews(&self, dept: &str) -> Vec<Call<pb::RenewRequest>> {
        let state = self.state.lock().unwrap();
        state
            .renews
            .iter()
            .filter(|c| c.request.dept == dept)
            .cloned()
            .collect()
    }

    /// How many calls arrived in all.
    pub fn call_count(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.registers.len() + state.renews.len()
    }

    /// The addresses holding a lease in `dept`'s service `main`.
    pub fn leased(&self, dept: &str) -> BTreeSet<String> {
        let state = self.state.lock().unwrap();
        state
            .services
            .get(&(dept.to_owned(), "main".to_owned()))
            .map(|k| k.addrs.clone())
            .unwrap_or_default()
    }

    /// Drops `addr`'s lease, as if it had lapsed.
    pub fn forget(&self, dept: &str, addr: &str) {
        let mut state = self.state.lock().unwrap();
        if let Some(known) = state
            .services
            .get_mut(&(dept.to_owned(), "main".to_owned()))
        {
            known.addrs.remove(addr);
        }
    }

    /// Drops the whole service, as a registry that lost its state.
    pub fn forget_service(&self, dept: &str) {
        let mut state = self.state.lock().unwrap();
        state.services.remove(&(dept.to_owned(), "main".to_owned()));
    }

    /// The caller's department, or why not.
    fn authorize<T>(&self, request: &Request<T>, dept: &str) -> Result<String, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let owner = authorization
            .strip_prefix("Bearer ")
            .and_then(|token| self.tokens.get(token))
            .ok_or_else(|| Status::unauthenticated("unknown department token"))?;
        if owner != dept {
            return Err(Status::permission_denied(format!(
                "the token of {owner} cannot act for {dept}"
            )));
        }
        Ok(authorization)
    }
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type BoxStream<T> = futures::stream::BoxStream<'static, Result<T, Status>>;

#[tonic::async_trait]
impl Registry for FakeRegistry {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let Some(spec) = request.get_ref().service.clone() else {
            return Err(Status::invalid_argument("service is required"));
        };
        let authorization = self.authorize(&request, &spec.dept)?;
        let ttl = self.grant_ttl_ms.unwrap_or(spec.lease_ttl_ms);
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let known = state
            .services
            .entry((spec.dept.clone(), spec.service.clone()))
            .or_default();
        let new_revision = known.spec.as_ref() != Some(&spec);
        if new_revision {
            known.revision += 1;
            known.spec = Some(spec);
        }
        known
            .addrs
            .extend(request.get_ref().instances.iter().map(|i| i.addr.clone()));
        let answer = pb::RegisterResponse {
            revision: known.revision,
            status: pb::Status::Pending.into(),
            new_revision,
            lease_ttl_ms: ttl,
        };
        state.registers.push(Call {
            at: Instant::now(),
            authorization,
            request: request.into_inner(),
        });
        Ok(Response::new(answer))
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::RenewResponse>, Status> {
        let authorization = self.authorize(&request, &request.get_ref().dept)?;
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let req = request.into_inner();
        let known = state.services.get(&(req.dept.clone(), req.service.clone()));
        let ttl = self
            .grant_ttl_ms
            .or(known.and_then(|k| k.spec.as_ref()).map(|s| s.lease_ttl_ms))
            .unwrap_or(0);
        let (renewed, unknown) = req
            .addrs
            .iter()
            .cloned()
            .partition(|a| known.is_some_and(|k| k.addrs.contains(a)));
        state.renews.push(Call {
            at: Instant::now(),
            authorization,
            request: req,
        });
        Ok(Response::new(pb::RenewResponse {
            lease_ttl_ms: ttl,
            renewed,
            unknown,
        }))
    }

    type KeepAliveStream = BoxStream<pb::RenewResponse>;

    async fn keep_alive(
        &self,
        _request: Request<Streaming<pb::RenewRequest>>,
    ) -> Result<Response<Self::KeepAliveStream>, Status> {
        Err(Status::unimplemented(
            "the fake registry only renews by Renew",
        ))
    }

    async fn deregister(
        &self,
        _request: Request<pb::DeregisterRequest>,
    ) -> Result<Response<pb::DeregisterResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn list(
        &self,
        _request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    type WatchStream = BoxStream<pb::WatchEvent>;

    async fn watch(
        &self,
        _request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not faked"))
    }
}
