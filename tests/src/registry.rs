//! A department's side of the control plane, for tests: registers a
//! service through the gateway's real gRPC registry and renews each
//! instance's lease in the background, one switch per instance so a test
//! can make a lease lapse while the instance keeps serving.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onestop_sim::manifest::DeptManifest;
use onestop_sim::pb::registry as pb;
use pb::registry_client::RegistryClient;
use tonic::Request;
use tonic::transport::Channel;

/// A registry client authenticated as one department.
#[derive(Clone)]
pub struct DeptClient {
    pub client: RegistryClient<Channel>,
    auth: String,
}

impl DeptClient {
    pub async fn connect(control: SocketAddr, token: &str) -> DeptClient {
        let channel = Channel::from_shared(format!("http://{control}"))
            .expect("uri")
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect to the control listener");
        DeptClient {
            client: RegistryClient::new(channel),
            auth: format!("Bearer {token}"),
        }
    }

    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", self.auth.parse().expect("ascii token"));
        r
    }

    pub async fn register(
        &self,
        spec: pb::ServiceSpec,
        addrs: &[SocketAddr],
    ) -> Result<pb::RegisterResponse, tonic::Status> {
        let instances = addrs
            .iter()
            .map(|a| pb::Instance {
                addr: a.to_string(),
                weight: 1,
            })
            .collect();
        self.register_instances(spec, instances).await
    }

    pub async fn register_instances(
        &self,
        spec: pb::ServiceSpec,
        instances: Vec<pb::Instance>,
    ) -> Result<pb::RegisterResponse, tonic::Status> {
        let req = pb::RegisterRequest {
            service: Some(spec),
            instances,
        };
        let mut c = self.client.clone();
        c.register(self.req(req)).await.map(|r| r.into_inner())
    }

    pub async fn renew(
        &self,
        dept: &str,
        service: &str,
        addrs: &[SocketAddr],
    ) -> Result<pb::RenewResponse, tonic::Status> {
        let req = pb::RenewRequest {
            dept: dept.into(),
            service: service.into(),
            addrs: addrs.iter().map(ToString::to_string).collect(),
        };
        let mut c = self.client.clone();
        c.renew(self.req(req)).await.map(|r| r.into_inner())
    }

    pub async fn deregister(
        &self,
        dept: &str,
        service: &str,
        addrs: &[SocketAddr],
    ) -> Result<pb::DeregisterResponse, tonic::Status> {
        let req = pb::DeregisterRequest {
            dept: dept.into(),
            service: service.into(),
            addrs: addrs.iter().map(ToString::to_string).collect(),
        };
        let mut c = self.client.clone();
        c.deregister(self.req(req)).await.map(|r| r.into_inner())
    }

    pub async fn list(&self) -> Result<pb::ListResponse, tonic::Status> {
        let mut c = self.client.clone();
        c.list(self.req(pb::ListRequest::default()))
            .await
            .map(|r| r.into_inner())
    }
}

/// The registration of one fleet department as the fleet's registrar sends it.
pub fn spec(dept: &DeptManifest, ttl: Duration) -> pb::ServiceSpec {
    onestop_sim::registrar::service_spec(dept, "main", ttl)
}

/// Renews the leases of a service's instances every `every`, each instance
/// switchable; records each instance's last successful renewal.
pub struct Renewer {
    switches: Arc<Mutex<BTreeMap<SocketAddr, bool>>>,
    last: Arc<Mutex<BTreeMap<SocketAddr, Instant>>>,
    failures: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Renewer {
    pub fn start(
        client: DeptClient,
        dept: &str,
        service: &str,
        addrs: &[SocketAddr],
        every: Duration,
    ) -> Renewer {
        let switches = Arc::new(Mutex::new(addrs.iter().map(|a| (*a, true)).collect()));
        let last = Arc::new(Mutex::new(BTreeMap::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (switches, last, failures) = (switches.clone(), last.clone(), failures.clone());
            let (dept, service) = (dept.to_string(), service.to_string());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let on: Vec<SocketAddr> = switches
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(_, on)| **on)
                        .map(|(a, _)| *a)
                        .collect();
                    if on.is_empty() {
                        continue;
                    }
                    match client.renew(&dept, &service, &on).await {
                        Ok(r) => {
                            let now = Instant::now();
                            let mut last = last.lock().unwrap();
                            for a in &r.renewed {
                                if let Ok(a) = a.parse() {
                                    last.insert(a, now);
                                }
                            }
                            if !r.unknown.is_empty() {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("unknown: {:?}", r.unknown));
                            }
                        }
                        Err(s) => failures.lock().unwrap().push(format!("{s:?}")),
                    }
                }
            })
        };
        Renewer {
            switches,
            last,
            failures,
            task,
        }
    }

    /// Stops renewing `addr`; returns its last successful renewal.
    pub fn stop(&self, addr: SocketAddr) -> Option<Instant> {
        self.switches.lock().unwrap().insert(addr, false);
        self.last.lock().unwrap().get(&addr).copied()
    }

    pub fn last_renewal(&self, addr: SocketAddr) -> Option<Instant> {
        self.last.lock().unwrap().get(&addr).copied()
    }

    /// Renewal calls that failed or named unknown instances.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
