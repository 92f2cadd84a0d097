//! One department service: its instances, load balancing, active health
//! checks and passive ejection.
//!
//! Built on `pingora-load-balancing`: a [`LoadBalancer`] per service over a
//! discovery the gateway can change at run time ([`Discovery`]), with the
//! service's own health check. Passive ejection lives beside it in
//! lock-free [`InstanceOutlier`]s consulted by the selection's accept filter.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora_load_balancing::discovery::ServiceDiscovery;
use pingora_load_balancing::health_check::{
    HealthCheck, HealthObserve, HttpHealthCheck, TcpHealthCheck,
};
use pingora_load_balancing::selection::{Consistent, Random, RoundRobin};
use pingora_load_balancing::{Backend, Backends, LoadBalancer};

use crate::events;
use crate::outlier::{Epoch, InstanceOutlier, OutlierPolicy, Verdict};

/// Wire protocol towards the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// gRPC: HTTP/2 cleartext with prior knowledge.
    H2c,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    Random,
    ConsistentHash,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Tcp,
    Http { path: String },
    Grpc { service: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthSpec {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: usize,
    pub unhealthy_threshold: usize,
}

/// Everything about a service except its instances. Two upstreams with equal
/// specs are interchangeable, so a reload keeps the running one (and its
/// health state) and only updates instances.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSpec {
    pub dept: Arc<str>,
    pub service: Arc<str>,
    pub protocol: Protocol,
    pub algorithm: Algorithm,
    pub health: Option<HealthSpec>,
    pub outlier: OutlierPolicy,
}

impl UpstreamSpec {
    /// The labels its instances' events carry.
    pub fn labels(&self) -> events::Service<'_> {
        events::Service {
            dept: &self.dept,
            service: &self.service,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub addr: SocketAddr,
    pub weight: u32,
}

enum Lb {
    RoundRobin(LoadBalancer<RoundRobin>),
    Random(LoadBalancer<Random>),
    Consistent(LoadBalancer<Consistent>),
}

macro_rules! with_lb {
    ($lb:expr, $l:ident => $body:expr) => {
        match $lb {
            Lb::RoundRobin($l) => $body,
            Lb::Random($l) => $body,
            Lb::Consistent($l) => $body,
        }
    };
}

/// A service discovery whose backend set the gateway replaces at run time.
#[derive(Default)]
struct Discovery(ArcSwap<BTreeSet<Backend>>);

/// The handle the load balancer holds on a [`Discovery`].
struct SharedDiscovery(Arc<Discovery>);

#[async_trait]
impl ServiceDiscovery for SharedDiscovery {
    async fn discover(&self) -> pingora_error::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        Ok(((**self.0.0.load()).clone(), HashMap::new()))
    }
}

/// One department service at run time.
pub struct Upstream {
    pub spec: UpstreamSpec,
    lb: Lb,
    discovery: Arc<Discovery>,
    outliers: ArcSwap<HashMap<SocketAddr, Arc<InstanceOutlier>>>,
    epoch: Epoch,
    /// Milliseconds since `epoch` when the next active check is due.
    next_check_ms: AtomicU64,
    /// An active check is running.
    checking: AtomicBool,
    /// `lb.update()` must never run twice at once.
    update_lock: tokio::sync::Mutex<()>,
    /// Requests routed here (attempts, retries included).
    requests: AtomicU64,
    /// Milliseconds since `epoch` of the last request, plus one (0 = none).
    last_request: AtomicU64,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("spec", &self.spec)
            .finish()
    }
}

impl Upstream {
    /// Builds the upstream with its instances; selection works when this returns.
    pub async fn new(spec: UpstreamSpec, instances: &[Instance]) -> Upstream {
        let discovery = Arc::new(Discovery::default());
        let mut backends = Backends::new(Box::new(SharedDiscovery(discovery.clone())));
        if let Some(health) = &spec.health {
            backends.set_health_check(health_check(&spec, health));
        }
        let lb = match spec.algorithm {
            Algorithm::RoundRobin => Lb::RoundRobin(LoadBalancer::from_backends(backends)),
            Algorithm::Random => Lb::Random(LoadBalancer::from_backends(backends)),
            Algorithm::ConsistentHash => Lb::Consistent(LoadBalancer::from_backends(backends)),
        };
        let upstream = Upstream {
            spec,
            lb,
            discovery,
            outliers: ArcSwap::default(),
            epoch: Epoch::default(),
            next_check_ms: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            update_lock: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
        };
        upstream.set_instances(instances).await;
        upstream
    }

    /// `dept/service`, as in metrics and logs.
    pub fn name(&self) -> String {
        format!("{}/{}", self.spec.dept, self.spec.service)
    }

    pub fn instances(&self) -> Vec<Instance> {
        self.discovery
            .0
            .load()
            .iter()
            .filter_map(|b| {
                b.addr.as_inet().map(|a| Instance {
                    addr: *a,
                    weight: u32::try_from(b.weight).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Replaces the instance set. Health and outlier state of instances that
    /// stay are kept.
    pub async fn set_instances(&self, instances: &[Instance]) {
        let _guard = self.update_lock.lock().await;
        let set: BTreeSet<Backend> = instances
            .iter()
            .map(|i| Backend {
                addr: pingora_core::protocols::l4::socket::SocketAddr::Inet(i.addr),
                weight: usize::try_from(i.weight.max(1)).unwrap_or(1),
                ext: http::Extensions::new(),
            })
            .collect();
        self.discovery.0.store(Arc::new(set));
        let old = self.outliers.load();
        let outliers = instances
            .iter()
            .map(|i| (i.addr, old.get(&i.addr).cloned().unwrap_or_default()))
            .collect();
        self.outliers.store(Arc::new(outliers));
        if let Err(error) = with_lb!(&self.lb, lb => lb.update().await) {
            events::balancer_update_failed(&self.name(), &error);
        }
        for i in instances {
            events::instance_state(self.spec.labels(), i.addr, self.is_up(i.addr));
        }
    }

    /// Picks an instance for a request. `key` feeds consistent hashing;
    /// `tried` instances are avoided while another is available.
    pub fn select(&self, key: &[u8], tried: &[SocketAddr]) -> Option<SocketAddr> {
        let now = self.epoch.now_ms();
        let outliers = self.outliers.load();
        let usable = |b: &Backend, healthy: bool| {
            healthy
                && b.addr
                    .as_inet()
                    .is_some_and(|a| !outliers.get(a).is_some_and(|o| o.is_ejected(now)))
        };
        let pick = |avoid: &[SocketAddr]| {
            with_lb!(&self.lb, lb => lb.select_with(key, 256, |b, healthy| {
                usable(b, healthy) && b.addr.as_inet().is_some_and(|a| !avoid.contains(a))
            }))
        };
        pick(tried)
            .or_else(|| if tried.is_empty() { None } else { pick(&[]) })
            .and_then(|b| b.addr.as_inet().copied())
    }

    /// Counts a request routed to this service (two relaxed atomic writes).
    pub fn record_request(&self) {
        self.requests.fetch_add(1, Relaxed);
        self.last_request.store(self.epoch.now_ms() + 1, Relaxed);
    }

    /// Requests routed here since the upstream was created.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// How long ago the last request was routed here (`None`: never).
    pub fn last_request_age(&self) -> Option<Duration> {
        match self.last_request.load(Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(
                self.epoch.now_ms().saturating_sub(at - 1),
            )),
        }
    }

    /// Instances that can receive traffic now.
    pub fn healthy_instances(&self) -> usize {
        self.instances()
            .iter()
            .filter(|i| self.is_up(i.addr))
            .count()
    }

    /// Whether an instance can receive traffic now (healthy and not ejected).
    pub fn is_up(&self, addr: SocketAddr) -> bool {
        let backend = Backend {
            addr: pingora_core::protocols::l4::socket::SocketAddr::Inet(addr),
            weight: self
                .discovery
                .0
                .load()
                .iter()
                .find(|b| b.addr.as_inet() == Some(&addr))
                .map_or(1, |b| b.weight),
            ext: http::Extensions::new(),
        };
        let healthy = with_lb!(&self.lb, lb => lb.backends().ready(&backend));
        healthy
            && !self
                .outliers
                .load()
                .get(&addr)
                .is_some_and(|o| o.is_ejected(self.epoch.now_ms()))
    }

    /// A request to `addr` completed without a transport error or 5xx.
    pub fn record_success(&self, addr: SocketAddr) {
        if let Some(o) = self.outliers.load().get(&addr) {
            o.record_success();
        }
    }

    /// A request to `addr` failed (connect error, reset, timeout or 5xx).
    pub fn record_failure(&self, addr: SocketAddr) {
        let outliers = self.outliers.load();
        let Some(o) = outliers.get(&addr) else { return };
        let now = self.epoch.now_ms();
        let share = || {
            let ejected = outliers.values().filter(|o| o.is_ejected(now)).count();
            u8::try_from(ejected * 100 / outliers.len().max(1)).unwrap_or(100)
        };
        if let Verdict::Ejected(duration) = o.record_failure(&self.spec.outlier, now, share) {
            events::instance_ejected(self.spec.labels(), addr, duration);
        }
    }

    /// Re-admits instances whose ejection has lapsed.
    pub fn readmit_lapsed(&self) {
        let now = self.epoch.now_ms();
        for (addr, o) in self.outliers.load().iter() {
            if o.take_readmission(now) {
                events::instance_readmitted(self.spec.labels(), *addr, self.is_up(*addr));
            }
        }
    }

    /// Claims the next active check when one is due and none is running.
    pub fn claim_health_check(&self) -> bool {
        let Some(health) = &self.spec.health else {
            return false;
        };
        let now = self.epoch.now_ms();
        if now < self.next_check_ms.load(Relaxed) || self.checking.swap(true, Relaxed) {
            return false;
        }
        let interval = u64::try_from(health.interval.as_millis()).unwrap_or(1000);
        self.next_check_ms.store(now + interval, Relaxed);
        true
    }

    /// Runs one active check of every instance (after [`Self::claim_health_check`]).
    pub async fn run_health_check(&self) {
        with_lb!(&self.lb, lb => lb.backends().run_health_check(true).await);
        for i in self.instances() {
            events::instance_state(self.spec.labels(), i.addr, self.is_up(i.addr));
        }
        self.checking.store(false, Relaxed);
    }
}

/// Logs health flips and keeps the instance gauge current.
struct Observer(UpstreamSpec);

#[async_trait]
impl HealthObserve for Observer {
    async fn observe(&self, target: &Backend, healthy: bool) {
        if let Some(addr) = target.addr.as_inet() {
            events::instance_health_changed(self.0.labels(), *addr, healthy);
        }
    }
}

fn health_check(spec: &UpstreamSpec, h: &HealthSpec) -> Box<dyn HealthCheck + Send + Sync> {
    let observer: Box<dyn HealthObserve + Send + Sync> = Box::new(Observer(spec.clone()));
    match &h.probe {
        Probe::Tcp => {
            let mut hc = TcpHealthCheck::new();
            hc.peer_template.options.connection_timeout = Some(h.timeout);
            hc.consecutive_success = h.healthy_threshold;
            hc.consecutive_failure = h.unhealthy_threshold;
            hc.health_changed_callback = Some(observer);
            hc
        }
        Probe::Http { path } => {
            let mut hc = HttpHealthCheck::new("onestop-health", false);
            if let Ok(req) = pingora_http::RequestHeader::build("GET", path.as_bytes(), None) {
                let mut req = req;
                // `Host` and a path the operator chose; both validated by config.
                let _ = req.insert_header("Host", "onestop-health");
                let _ = req.insert_header("User-Agent", "onestop-health-check");
                hc.req = req;
            }
            hc.peer_template.options.connection_timeout = Some(h.timeout);
            hc.peer_template.options.read_timeout = Some(h.timeout);
            hc.peer_template.options.write_timeout = Some(h.timeout);
            hc.reuse_connection = true;
            hc.consecutive_success = h.healthy_threshold;
            hc.consecutive_failure = h.unhealthy_threshold;
            hc.health_changed_callback = Some(observer);
            Box::new(hc)
        }
        Probe::Grpc { service } => Box::new(crate::grpc_health::GrpcHealthCheck::new(
            service.clone(),
            h.timeout,
            h.healthy_threshold,
            h.unhealthy_threshold,
            observer,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(algorithm: Algorithm) -> UpstreamSpec {
        UpstreamSpec {
            dept: "t-upstream".into(),
            service: format!("{algorithm:?}").to_lowercase().into(),
            protocol: Protocol::Http1,
            algorithm,
            health: None,
            outlier: OutlierPolicy {
                consecutive_failures: 3,
                base_ejection: Duration::from_secs(60),
                max_ejection_percent: 50,
            },
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn weighted_round_robin_follows_instance_weights() {
        let u = Upstream::new(
            spec(Algorithm::RoundRobin),
            &[
                Instance {
                    addr: addr(1),
                    weight: 1,
                },
                Instance {
                    addr: addr(2),
                    weight: 3,
                },
            ],
        )
        .await;
        let mut counts = HashMap::new();
        for _ in 0..400 {
            *counts
                .entry(u.select(b"", &[]).expect("an instance"))
                .or_insert(0) += 1;
        }
        assert_eq!(counts[&addr(1)], 100);
        assert_eq!(counts[&addr(2)], 300);
    }

    #[tokio::test]
    async fn tried_and_ejected_instances_are_avoided() {
        let u = Upstream::new(
            spec(Algorithm::Random),
            &[
                Instance {
                    addr: addr(1),
                    weight: 1,
                },
                Instance {
                    addr: addr(2),
                    weight: 1,
                },
                Instance {
                    addr: addr(3),
                    weight: 1,
                },
            ],
        )
        .await;
        for _ in 0..50 {
            let picked = u.select(b"", &[addr(1), addr(2)]);
            assert_eq!(picked, Some(addr(3)));
        }
        // With every instance tried, one is still returned rather than none.
        assert!(u.select(b"", &[addr(1), addr(2), addr(3)]).is_some());
        for _ in 0..3 {
            u.record_failure(addr(2));
        }
        assert!(!u.is_up(addr(2)));
        for _ in 0..100 {
            assert_ne!(u.select(b"", &[]), Some(addr(2)));
        }
        // At most half may be ejected: a third instance in trouble stays in.
        for _ in 0..3 {
            u.record_failure(addr(1));
        }
        for _ in 0..3 {
            u.record_failure(addr(3));
        }
        let up = [1, 2, 3].iter().filter(|p| u.is_up(addr(**p))).count();
        assert_eq!(
            up, 1,
            "two of three ejected (the cap is 50 % of the instances at the time)"
        );
    }

    #[tokio::test]
    async fn consistent_hashing_keeps_a_citizen_on_one_instance() {
        let all: Vec<Instance> = (1..=4)
            .map(|p| Instance {
                addr: addr(p),
                weight: 1,
            })
            .collect();
        let u = Upstream::new(spec(Algorithm::ConsistentHash), &all).await;
        let citizens: Vec<String> = (0..200).map(|i| format!("50010119900101{i:04}")).collect();
        let home: Vec<SocketAddr> = citizens
            .iter()
            .map(|c| u.select(c.as_bytes(), &[]).expect("an instance"))
            .collect();
        for (c, h) in citizens.iter().zip(&home) {
            assert_eq!(u.select(c.as_bytes(), &[]), Some(*h));
        }
        let spread: std::collections::HashSet<_> = home.iter().collect();
        assert_eq!(spread.len(), 4);
        // Removing one instance moves only the citizens it served.
        u.set_instances(&all[..3]).await;
        for (c, h) in citizens.iter().zip(&home) {
            let now = u.select(c.as_bytes(), &[]).expect("an instance");
            if *h != addr(4) {
                assert_eq!(now, *h, "citizen {c} moved although its instance stayed");
            }
        }
    }
}
