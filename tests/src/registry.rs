//! A department's side of the control plane, for tests: registers a
#![allow(clippy::unwrap_used)]
//! service through the gateway's real gRPC registry and renews each
//! instance's lease in the background, one switch per instance so a test
//! can make a lease lapse while the instance keeps serving.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onestop_sim::manifest::{DeptManifest, Protocol};
use onestop_sim::pb::registry as pb;
use serde_json::{Value, json};

use crate::{Gateway, GatewaySetup, Sim, wait_for};
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

    /// Renews over the `KeepAlive` stream: one response per request, in order.
    pub async fn keep_alive(
        &self,
        requests: Vec<pb::RenewRequest>,
    ) -> Result<Vec<pb::RenewResponse>, tonic::Status> {
        let n = requests.len();
        let mut c = self.client.clone();
        let stream = c
            .keep_alive(self.req(tokio_stream::iter(requests)))
            .await?
            .into_inner();
        use tokio_stream::StreamExt as _;
        let out: Vec<_> = stream.take(n).collect().await;
        out.into_iter().collect()
    }

    /// The Watch stream: the current state first, then one event per change.
    pub async fn watch(&self) -> Result<tonic::Streaming<pb::WatchEvent>, tonic::Status> {
        let mut c = self.client.clone();
        c.watch(self.req(pb::WatchRequest::default()))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn list(&self) -> Result<pb::ListResponse, tonic::Status> {
        let mut c = self.client.clone();
        c.list(self.req(pb::ListRequest::default()))
            .await
            .map(|r| r.into_inner())
    }
}

/// The registration of one fleet department as the fleet's registrar sends
/// it, with every route public: these gateways test the registry, not
/// citizen identity (which the identity suite covers).
pub fn spec(dept: &DeptManifest, ttl: Duration) -> pb::ServiceSpec {
    let mut spec = onestop_sim::registrar::service_spec(dept, "main", ttl);
    for r in &mut spec.routes {
        r.auth = pb::AuthMode::Public.into();
    }
    spec
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
        let switches: Arc<Mutex<BTreeMap<SocketAddr, bool>>> =
            Arc::new(Mutex::new(addrs.iter().map(|a| (*a, true)).collect()));
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

/// A gateway whose department files only declare the departments: every
/// service arrives through the registry.
pub async fn gateway(sim: &Sim, setup: GatewaySetup) -> Gateway {
    gateway_with(sim, setup, |_| {}).await
}

/// Like [`gateway`], letting the test add files to the configuration
/// directory first (e.g. [`crate::secure::Secure::write_keys`]).
pub async fn gateway_with(
    sim: &Sim,
    setup: GatewaySetup,
    edit: impl FnOnce(&std::path::Path),
) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let departments = dir.path().join("config/departments");
    std::fs::create_dir_all(&departments).unwrap();
    let opts = crate::ConfigOptions::default();
    for d in &sim.manifest.departments {
        std::fs::write(
            departments.join(format!("{}.toml", d.id)),
            onestop::fleet_config::department_header_toml(d, &opts),
        )
        .unwrap();
    }
    edit(&dir.path().join("config"));
    Gateway::serve_with(
        dir,
        GatewaySetup {
            threads: 2,
            ..setup
        },
    )
    .await
}

pub fn http_depts(sim: &Sim) -> Vec<&DeptManifest> {
    sim.manifest
        .departments
        .iter()
        .filter(|d| d.protocol == Protocol::Http && d.matters.iter().any(|m| m.method == "GET"))
        .collect()
}

pub fn addrs(d: &DeptManifest) -> Vec<SocketAddr> {
    d.instances.iter().map(|i| i.addr).collect()
}

/// A GET path of the department that answers 200 for the example citizen.
pub fn example_path(d: &DeptManifest) -> String {
    d.matters
        .iter()
        .find(|m| m.method == "GET")
        .map(|m| m.example.path.clone())
        .unwrap()
}

pub async fn issue_token(gw: &Gateway, dept: &str) -> String {
    let (status, body) = gw
        .admin_post(
            &format!("/departments/{dept}/tokens"),
            json!({"label": "e2e"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

pub async fn approve(gw: &Gateway, dept: &str, revision: i64) -> (u16, Value) {
    gw.admin_post(
        &format!("/registry/services/{dept}/main/approve"),
        json!({"revision": revision, "reason": "备案 e2e"}),
    )
    .await
}

/// Issues a token, registers every instance of `d`, keeps renewing every
/// `every`, approves, and waits until the data plane routes to it.
pub async fn onboard(
    gw: &Gateway,
    d: &DeptManifest,
    ttl: Duration,
    every: Duration,
) -> (DeptClient, Renewer) {
    let token = issue_token(gw, &d.id).await;
    let client = DeptClient::connect(gw.control, &token).await;
    let reg = client.register(spec(d, ttl), &addrs(d)).await.unwrap();
    let renewer = Renewer::start(client.clone(), &d.id, "main", &addrs(d), every);
    assert_eq!(approve(gw, &d.id, reg.revision).await.0, 200);
    let http = crate::client();
    let url = gw.url(&example_path(d));
    let routed = wait_for(Duration::from_secs(2), || async {
        status_of(&http, &url).await == 200
    })
    .await;
    assert!(routed.is_some(), "{} not routed after approval", d.id);
    (client, renewer)
}

/// Every GET example path of a department.
pub fn get_paths(d: &DeptManifest) -> Arc<Vec<String>> {
    Arc::new(
        d.matters
            .iter()
            .filter(|m| m.method == "GET")
            .map(|m| m.example.path.clone())
            .collect(),
    )
}

pub async fn status_of(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}
