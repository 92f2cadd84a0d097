//! The immutable snapshot the request path reads, and the compiler that
//! builds it from a validated configuration off the request path.
//!
//! Long-lived objects — upstreams (with their health and ejection state) and
//! department runtimes (with their in-flight slots and retry budgets) — are
//! kept by the [`Compiler`] across reloads whenever their settings did not
//! change, so a reload never resets health or concurrency accounting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use onestop_config as config;
use prometheus::Histogram;

use crate::catalog::Matter;
pub use crate::compile_error::CompileError;
use crate::dept::{DeptLimits, DeptRuntime};
use crate::events;
use crate::outlier::OutlierPolicy;
use crate::router::{PathPattern, RouteMatch, RouteTable};
use crate::upstream::{Algorithm, HealthSpec, Instance, Probe, Protocol, Upstream, UpstreamSpec};

/// What the request path sees: one consistent, immutable view.
pub struct Snapshot {
    pub generation: u64,
    pub table: RouteTable<Arc<RouteEntry>>,
    /// Every upstream referenced by the snapshot (the health loop walks these).
    pub upstreams: Vec<Arc<Upstream>>,
    pub catalog: Vec<Matter>,
    /// HTTP hygiene limits of the public listener.
    pub limits: config::Limits,
    /// Channel keys, citizen identity, signing, operators, rate limits.
    pub access: crate::access::Access,
    /// Every department's citizen-overview item, by department id.
    pub overview: Vec<crate::overview::Item>,
    /// The HTTP bindings of the gRPC methods the gateway transcodes.
    pub transcode: Arc<onestop_transcode::Table>,
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot {
            generation: 0,
            table: RouteTable::new([]),
            upstreams: Vec::new(),
            catalog: Vec::new(),
            limits: config::Limits::default(),
            access: crate::access::Access::default(),
            overview: Vec::new(),
            transcode: Arc::default(),
        }
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct RouteEntry {
    /// `dept/route`.
    pub id: Arc<str>,
    pub route: Arc<str>,
    pub dept: Arc<DeptRuntime>,
    /// Weighted targets (canary split); weights sum to `total_weight` > 0.
    pub targets: Vec<(Arc<Upstream>, u32)>,
    pub total_weight: u32,
    /// Deadline for the whole upstream exchange; `None` for streams.
    pub timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub retries: u32,
    /// Index of the template parameter carrying a citizen id.
    pub citizen_param: Option<usize>,
    /// Its segment in the path (0 = first after `/`), to put the resolved
    /// id in place of `me`.
    pub citizen_segment: Option<usize>,
    pub histogram: Histogram,
    /// Who may call it.
    pub auth: config::AuthMode,
    /// Largest request body.
    pub max_body: u64,
    /// The route's own rate limit and what it is counted by.
    pub rate_limit: Option<(onestop_ratelimit::Rate, config::RateKey)>,
    /// The department's signing key (derived from the master key).
    pub signing_key: Option<[u8; 32]>,
    /// The route's cache policy (GET and HEAD only).
    pub cache: Option<Arc<onestop_cache::Policy>>,
    /// The data item the route answers: citizens' reads are audited.
    pub data_item: Option<Arc<DataRead>>,
    /// Client credentials passed through to the department.
    pub forward_credentials: crate::forward::Passed,
}

/// What a read through a route declaring `data_item` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRead {
    /// `<department>.<item>`.
    pub item: String,
    /// The item's declared fields, in order.
    pub fields: Vec<String>,
}

impl RouteEntry {
    /// What access control needs to know about the route.
    pub fn rule(&self) -> crate::access::RouteRule<'_> {
        crate::access::RouteRule {
            id: &self.id,
            dept: &self.dept.id,
            route: &self.route,
            auth: self.auth,
            rate_limit: self.rate_limit,
        }
    }

    /// A citizen route whose path names the citizen: object-level
    /// authorisation applies, and "not yours" must look like "not found".
    pub fn citizen_scoped(&self) -> bool {
        self.auth == config::AuthMode::Citizen && self.citizen_param.is_some()
    }
}

impl RouteEntry {
    /// Picks a target by weight; `roll` is uniform in `0..total_weight`.
    pub fn pick(&self, roll: u32) -> &Arc<Upstream> {
        let mut acc = 0;
        for (upstream, weight) in &self.targets {
            acc += weight;
            if roll < acc {
                return upstream;
            }
        }
        // Unreachable with a valid roll; the last target is the safe answer.
        &self.targets[self.targets.len() - 1].0
    }
}

/// Builds snapshots and keeps long-lived runtime objects between them.
#[derive(Default)]
pub struct Compiler {
    generation: u64,
    upstreams: HashMap<String, Arc<Upstream>>,
    depts: HashMap<String, Arc<DeptRuntime>>,
    identity: Option<Arc<crate::access::Identity>>,
    /// Each department's overview item latency, kept across reloads.
    overview_latency: HashMap<String, Arc<std::sync::atomic::AtomicU64>>,
}

impl Compiler {
    /// Compiles a validated configuration. Runs off the request path.
    pub async fn compile(&mut self, cfg: &config::Config) -> Result<Snapshot, CompileError> {
        let identity = crate::access::compile_identity(cfg, self.identity.as_ref())?;
        let access = crate::access::Access::compile(cfg, identity.clone())?;
        let transcode = onestop_config::transcode::table(cfg).map_err(CompileError::Transcode)?;
        let defaults = &cfg.gateway.defaults;
        let budget = &cfg.gateway.retry_budget;
        let mut upstreams = HashMap::new();
        let mut depts = HashMap::new();
        let mut entries = Vec::new();
        let mut catalog = Vec::new();
        let mut catalog_grpc = Vec::new();
        let mut overview = Vec::new();

        for src in &cfg.departments {
            let file = &src.file;
            let dept_id = file.department.id.get_ref().as_str();
            let limits = DeptLimits {
                max_concurrency: file.department.max_concurrency,
                retry_ratio: budget.ratio,
                retry_min_per_second: budget.min_per_second,
                retry_ttl: budget.ttl,
            };
            let dept = match self.depts.get(dept_id) {
                Some(d) if d.limits == limits => d.clone(),
                _ => Arc::new(DeptRuntime::new(dept_id, limits)),
            };
            depts.insert(dept_id.to_string(), dept.clone());
            if let Some(item) = &file.department.overview {
                overview.push(crate::overview::Item {
                    dept: dept_id.into(),
                    name: file.department.name.as_str().into(),
                    path: item.get_ref().path.as_str().into(),
                    timeout: item.get_ref().timeout,
                    latency: self
                        .overview_latency
                        .entry(dept_id.to_string())
                        .or_default()
                        .clone(),
                });
            }

            let mut services = HashMap::new();
            for svc in &file.services {
                let key = format!("{dept_id}/{}", svc.id.get_ref());
                let spec = upstream_spec(dept_id, svc);
                let instances = instances(svc).map_err(|message| CompileError::Service {
                    service: key.clone(),
                    message,
                })?;
                let upstream = match self.upstreams.get(&key) {
                    Some(u) if u.spec == spec => {
                        if u.instances() != instances {
                            u.set_instances(&instances).await;
                        }
                        u.clone()
                    }
                    _ => Arc::new(Upstream::new(spec, &instances).await),
                };
                services.insert(svc.id.get_ref().as_str(), upstream.clone());
                upstreams.insert(key, upstream);
            }

            for route in &file.routes {
                let route_id = route.id.get_ref().as_str();
                let id: Arc<str> = format!("{dept_id}/{route_id}").into();
                let err = |message: String| CompileError::Route {
                    route: id.to_string(),
                    message,
                };
                let mut targets = Vec::new();
                for (svc, weight) in route.targets() {
                    let upstream = services
                        .get(svc.get_ref().as_str())
                        .ok_or_else(|| err(format!("unknown service {}", svc.get_ref())))?;
                    if weight > 0 {
                        targets.push((upstream.clone(), weight));
                    }
                }
                let total_weight: u32 = targets.iter().map(|(_, w)| *w).sum();
                if total_weight == 0 {
                    return Err(err("no target with a positive weight".into()));
                }
                let (matcher, pattern, params) = route_match(route).map_err(err)?;
                let citizen_param = route
                    .citizen_param
                    .as_ref()
                    .and_then(|p| params.iter().position(|x| x == p));
                let timeout = route.timeout.unwrap_or(defaults.timeout);
                let grpc = targets
                    .iter()
                    .any(|(u, _)| u.spec.protocol == Protocol::H2c);
                if route.catalog {
                    catalog.push(Matter {
                        id: id.to_string(),
                        name: route.name.clone().unwrap_or_else(|| route_id.to_string()),
                        dept: dept_id.to_string(),
                        method: if grpc {
                            "POST".into()
                        } else if route.methods.is_empty() {
                            "ANY".into()
                        } else {
                            route.methods.join(",")
                        },
                        path: pattern,
                        auth: route.auth.as_str().into(),
                        description: route.description.clone().unwrap_or_default(),
                        forward_credentials: route.forward_credentials.clone(),
                        json_bindings: Vec::new(),
                    });
                    catalog_grpc.push(grpc);
                }
                let entry = RouteEntry {
                    histogram: events::route_histogram(dept_id, route_id),
                    id,
                    route: route_id.into(),
                    dept: dept.clone(),
                    targets,
                    total_weight,
                    timeout: (!timeout.is_zero()).then_some(timeout),
                    connect_timeout: route.connect_timeout.unwrap_or(defaults.connect_timeout),
                    retries: route.retries.unwrap_or(defaults.retries),
                    citizen_param,
                    citizen_segment: route.citizen_param.as_ref().and_then(|p| {
                        let name = format!("{{{p}}}");
                        route
                            .template
                            .as_ref()
                            .and_then(|t| t.get_ref().split('/').skip(1).position(|s| s == name))
                    }),
                    auth: route.auth,
                    max_body: route
                        .max_body_bytes
                        .unwrap_or(cfg.gateway.limits.max_body_bytes),
                    rate_limit: route
                        .rate_limit
                        .map(|r| (crate::access::rate(r.rate()), r.per)),
                    signing_key: access
                        .signing
                        .as_ref()
                        .map(|master| onestop_policy::signing::department_key(master, dept_id)),
                    cache: route
                        .cache
                        .as_ref()
                        .map(|c| Arc::new(onestop_cache::Policy::from_config(c))),
                    forward_credentials: crate::forward::Passed::from_names(
                        &route.forward_credentials,
                    ),
                    data_item: route.data_item.as_ref().and_then(|item| {
                        file.data_items
                            .iter()
                            .find(|i| i.id.get_ref() == item)
                            .map(|i| {
                                Arc::new(DataRead {
                                    item: format!("{dept_id}.{item}"),
                                    fields: i.fields.iter().map(|f| f.name.clone()).collect(),
                                })
                            })
                    }),
                };
                entries.push((matcher, Arc::new(entry)));
            }
        }

        crate::catalog::attach_bindings(&mut catalog, &catalog_grpc, &transcode);
        self.generation += 1;
        self.upstreams = upstreams;
        self.depts = depts;
        self.identity = identity;
        let snapshot = Snapshot {
            generation: self.generation,
            table: RouteTable::new(entries),
            upstreams: self.upstreams.values().cloned().collect(),
            catalog,
            limits: cfg.gateway.limits.clone(),
            access,
            overview: {
                overview.sort_by(|a, b| a.dept.cmp(&b.dept));
                overview
            },
            transcode,
        };
        events::config_applied(
            snapshot.generation,
            snapshot.table.len(),
            snapshot.upstreams.len(),
        );
        Ok(snapshot)
    }
}

fn upstream_spec(dept: &str, svc: &config::Service) -> UpstreamSpec {
    UpstreamSpec {
        dept: dept.into(),
        service: svc.id.get_ref().as_str().into(),
        protocol: match svc.protocol {
            config::Protocol::Http => Protocol::Http1,
            config::Protocol::Grpc => Protocol::H2c,
        },
        algorithm: match svc.lb {
            config::LbAlgorithm::RoundRobin => Algorithm::RoundRobin,
            config::LbAlgorithm::Random => Algorithm::Random,
            config::LbAlgorithm::ConsistentHash => Algorithm::ConsistentHash,
        },
        health: svc.health.as_ref().map(|h| HealthSpec {
            probe: match h.kind {
                config::ProbeKind::Tcp => Probe::Tcp,
                config::ProbeKind::Http => Probe::Http {
                    path: h.path.clone().unwrap_or_else(|| "/".into()),
                },
                config::ProbeKind::Grpc => Probe::Grpc {
                    service: h.service.clone().unwrap_or_default(),
                },
            },
            interval: h.interval,
            timeout: h.timeout,
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
        }),
        outlier: OutlierPolicy {
            consecutive_failures: svc.outlier.consecutive_failures,
            base_ejection: svc.outlier.base_ejection,
            max_ejection_percent: svc.outlier.max_ejection_percent,
        },
    }
}

fn instances(svc: &config::Service) -> Result<Vec<Instance>, String> {
    let mut out = svc
        .instances
        .iter()
        .map(|i| {
            i.addr
                .get_ref()
                .parse::<SocketAddr>()
                .map(|addr| Instance {
                    addr,
                    weight: i.weight,
                })
                .map_err(|e| format!("instance {}: {e}", i.addr.get_ref()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    Ok(out)
}

/// The router's matcher, the pattern as written, and the template parameter names.
fn route_match(route: &config::Route) -> Result<(RouteMatch, String, Vec<String>), String> {
    let (kind, pattern) = route
        .path_match()
        .ok_or_else(|| "needs exactly one of path, prefix or template".to_string())?;
    let pattern = pattern.get_ref().clone();
    let params: Vec<String> = pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(String::from)
        .collect();
    let path = match kind {
        config::PathKind::Exact => PathPattern::Exact(pattern.clone()),
        config::PathKind::Prefix => PathPattern::Prefix(pattern.clone()),
        config::PathKind::Template => PathPattern::Template(pattern.clone()),
    };
    let methods = route
        .methods
        .iter()
        .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| format!("method {m}: {e}")))
        .collect::<Result<_, _>>()?;
    let headers = route
        .headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header {}: {e}", h.name))?;
            let value = match (&h.value, &h.regex) {
                (_, Some(re)) => crate::router::HeaderValueMatch::Regex(
                    config::header_regex(re.get_ref())
                        .map_err(|e| format!("header {} regex: {e}", h.name))?,
                ),
                (Some(v), None) => crate::router::HeaderValueMatch::Exact(
                    HeaderValue::from_str(v)
                        .map_err(|e| format!("header {} value: {e}", h.name))?,
                ),
                (None, None) => crate::router::HeaderValueMatch::Any,
            };
            Ok((name, value))
        })
        .collect::<Result<_, String>>()?;
    Ok((
        RouteMatch {
            path,
            methods,
            host: route.host.as_ref().map(|h| h.to_ascii_lowercase()),
            headers,
        },
        pattern,
        params,
    ))
}
