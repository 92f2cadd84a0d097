//! The edge between protobuf and domain types. Everything past this module
//! works with `onestop_core::registry` types only.
//!
//! Conversions check what the wire format cannot express (enums set, an
//! address that parses, sizes) and report every problem with its field path;
//! rules that need the gateway's configuration live in [`crate::check`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use onestop_config as config;
use onestop_core::registry::{
    ApprovalStatus, HealthProbeSpec, HealthSpec, InstanceSpec, LbPolicy, PathMatchKind, RouteAuth,
    RoutePolicySpec, RouteSpec, ServiceProtocol, ServiceSpec,
};

use crate::error::Problem;
use crate::pb::registry as pb;

/// Highest instance weight a registration may ask for.
pub const MAX_WEIGHT: u32 = 10_000;
/// Most instances one call may name.
pub const MAX_INSTANCES: usize = 256;
/// Most routes one service may expose.
pub const MAX_ROUTES: usize = 1_000;
/// Largest descriptor set a registration may carry.
pub const MAX_DESCRIPTOR_SET_BYTES: usize = 4 * 1024 * 1024;

/// Lease TTL defaults and bounds the registry applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseBounds {
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

/// A service spec from the wire, with every problem found.
pub fn service_spec(
    spec: Option<pb::ServiceSpec>,
    bounds: LeaseBounds,
) -> Result<ServiceSpec, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(spec) = spec else {
        return Err(vec![Problem::new("service", "is required")]);
    };
    let protocol = match pb::Protocol::try_from(spec.protocol) {
        Ok(pb::Protocol::Http) => Some(ServiceProtocol::Http),
        Ok(pb::Protocol::Grpc) => Some(ServiceProtocol::Grpc),
        _ => {
            problems.push(Problem::new(
                "service.protocol",
                "must be PROTOCOL_HTTP or PROTOCOL_GRPC",
            ));
            None
        }
    };
    let lb = match pb::LbPolicy::try_from(spec.lb) {
        Ok(pb::LbPolicy::Unspecified | pb::LbPolicy::RoundRobin) => LbPolicy::RoundRobin,
        Ok(pb::LbPolicy::Random) => LbPolicy::Random,
        Ok(pb::LbPolicy::ConsistentHash) => LbPolicy::ConsistentHash,
        Err(_) => {
            problems.push(Problem::new("service.lb", "unknown load-balancing policy"));
            LbPolicy::RoundRobin
        }
    };
    let health = spec.health.and_then(|h| health(h, &mut problems));
    if spec.routes.len() > MAX_ROUTES {
        problems.push(Problem::new(
            "service.routes",
            format!("at most {MAX_ROUTES} routes, got {}", spec.routes.len()),
        ));
    }
    let routes = spec
        .routes
        .into_iter()
        .enumerate()
        .map(|(i, r)| route(i, r, &mut problems))
        .collect();
    let lease_ttl = if spec.lease_ttl_ms == 0 {
        bounds.default
    } else {
        Duration::from_millis(u64::from(spec.lease_ttl_ms))
    };
    if lease_ttl < bounds.min || lease_ttl > bounds.max {
        problems.push(Problem::new(
            "service.lease_ttl_ms",
            format!(
                "must be between {} and {} ms, got {}",
                bounds.min.as_millis(),
                bounds.max.as_millis(),
                lease_ttl.as_millis()
            ),
        ));
    }
    let descriptor_set = descriptor_set(spec.descriptor_set, protocol, &mut problems);
    match protocol {
        Some(protocol) if problems.is_empty() => Ok(ServiceSpec {
            dept: spec.dept,
            service: spec.service,
            protocol,
            lb,
            health,
            routes,
            metadata: spec.metadata.into_iter().collect(),
            lease_ttl_ms: u64::try_from(lease_ttl.as_millis()).unwrap_or(u64::MAX),
            descriptor_set,
        }),
        _ => Err(problems),
    }
}

/// The descriptor set from the wire: empty is none; only gRPC services
/// carry one, of at most [`MAX_DESCRIPTOR_SET_BYTES`]. Whether it decodes
/// and describes the routed services is checked with the configuration
/// ([`crate::check`]).
fn descriptor_set(
    bytes: Vec<u8>,
    protocol: Option<ServiceProtocol>,
    problems: &mut Vec<Problem>,
) -> Option<Arc<[u8]>> {
    if bytes.is_empty() {
        return None;
    }
    if protocol == Some(ServiceProtocol::Http) {
        problems.push(Problem::new(
            "service.descriptor_set",
            "is for gRPC services (PROTOCOL_GRPC) only",
        ));
    }
    if bytes.len() > MAX_DESCRIPTOR_SET_BYTES {
        problems.push(Problem::new(
            "service.descriptor_set",
            format!(
                "at most {MAX_DESCRIPTOR_SET_BYTES} bytes (4 MiB), got {}",
                bytes.len()
            ),
        ));
    }
    Some(Arc::from(bytes))
}

fn health(h: pb::HealthCheck, problems: &mut Vec<Problem>) -> Option<HealthSpec> {
    let probe = match h.probe {
        Some(pb::health_check::Probe::Tcp(_)) => HealthProbeSpec::Tcp,
        Some(pb::health_check::Probe::Http(p)) => {
            if !p.path.starts_with('/') {
                problems.push(Problem::new(
                    "service.health.http.path",
                    format!("must start with /, got `{}`", p.path),
                ));
            }
            HealthProbeSpec::Http { path: p.path }
        }
        Some(pb::health_check::Probe::Grpc(p)) => HealthProbeSpec::Grpc { service: p.service },
        None => {
            problems.push(Problem::new(
                "service.health.probe",
                "set one of tcp, http or grpc",
            ));
            return None;
        }
    };
    let interval_ms = if h.interval_ms == 0 {
        1000
    } else {
        h.interval_ms
    };
    let timeout_ms = if h.timeout_ms == 0 { 500 } else { h.timeout_ms };
    if !(100..=60_000).contains(&interval_ms) {
        problems.push(Problem::new(
            "service.health.interval_ms",
            format!("must be between 100 and 60000, got {interval_ms}"),
        ));
    }
    if timeout_ms > interval_ms.max(100) {
        problems.push(Problem::new(
            "service.health.timeout_ms",
            format!("must not exceed the interval ({interval_ms} ms), got {timeout_ms}"),
        ));
    }
    Some(HealthSpec {
        probe,
        interval_ms: u64::from(interval_ms),
        timeout_ms: u64::from(timeout_ms),
    })
}

fn route(i: usize, r: pb::Route, problems: &mut Vec<Problem>) -> RouteSpec {
    let kind = match pb::PathKind::try_from(r.kind) {
        Ok(pb::PathKind::Exact) => PathMatchKind::Exact,
        Ok(pb::PathKind::Prefix) => PathMatchKind::Prefix,
        Ok(pb::PathKind::Template) => PathMatchKind::Template,
        _ => {
            problems.push(Problem::new(
                format!("service.routes[{i}].kind"),
                "must be PATH_KIND_EXACT, PATH_KIND_PREFIX or PATH_KIND_TEMPLATE",
            ));
            PathMatchKind::Exact
        }
    };
    let auth = match pb::AuthMode::try_from(r.auth) {
        Ok(pb::AuthMode::Unspecified | pb::AuthMode::Public) => RouteAuth::Public,
        Ok(pb::AuthMode::Citizen) => RouteAuth::Citizen,
        Ok(pb::AuthMode::Department) => RouteAuth::Department,
        Ok(pb::AuthMode::Operator) => RouteAuth::Operator,
        Err(_) => {
            problems.push(Problem::new(
                format!("service.routes[{i}].auth"),
                "unknown auth mode",
            ));
            RouteAuth::Public
        }
    };
    if let Some(t) = r.timeout_ms
        && t > 600_000
    {
        problems.push(Problem::new(
            format!("service.routes[{i}].timeout_ms"),
            format!("must be at most 600000 (10 min), got {t}"),
        ));
    }
    let policy = match config::RoutePolicy::parse(&r.policy) {
        Ok(p) => RoutePolicySpec {
            cache_public: p.cache_public(),
            data_item: p.data_item.clone(),
            forward_credentials: p.forward_credentials.clone(),
            toml: r.policy.clone(),
        },
        Err(message) => {
            problems.push(Problem::new(format!("service.routes[{i}].policy"), message));
            RoutePolicySpec::default()
        }
    };
    RouteSpec {
        policy,
        name: if r.name.is_empty() {
            r.id.clone()
        } else {
            r.name
        },
        id: r.id,
        description: r.description,
        kind,
        pattern: r.pattern,
        methods: r.methods,
        citizen_param: (!r.citizen_param.is_empty()).then_some(r.citizen_param),
        timeout_ms: r.timeout_ms.map(u64::from),
        retries: None,
        auth,
    }
}

/// Instances from the wire: `ip:port` only (the data plane never resolves
/// names), no duplicates, weights within bounds (0 means 1).
pub fn instances(list: Vec<pb::Instance>, field: &str) -> Result<Vec<InstanceSpec>, Vec<Problem>> {
    let mut problems = Vec::new();
    if list.len() > MAX_INSTANCES {
        problems.push(Problem::new(
            field,
            format!("at most {MAX_INSTANCES} per call, got {}", list.len()),
        ));
    }
    let mut out: Vec<InstanceSpec> = Vec::with_capacity(list.len());
    for (i, inst) in list.into_iter().enumerate() {
        let weight = if inst.weight == 0 { 1 } else { inst.weight };
        if weight > MAX_WEIGHT {
            problems.push(Problem::new(
                format!("{field}[{i}].weight"),
                format!("must be at most {MAX_WEIGHT}, got {weight}"),
            ));
        }
        match parse_addr(&inst.addr) {
            Ok(addr) => {
                if out.iter().any(|o| o.addr == addr) {
                    problems.push(Problem::new(
                        format!("{field}[{i}].addr"),
                        format!("duplicate instance `{addr}`"),
                    ));
                }
                out.push(InstanceSpec { addr, weight });
            }
            Err(message) => problems.push(Problem::new(format!("{field}[{i}].addr"), message)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// `ip:port` with a non-zero port.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 && !a.ip().is_unspecified() => Ok(a),
        Ok(a) => Err(format!(
            "`{a}` is not a reachable address (unspecified ip or port 0)"
        )),
        Err(_) => Err(format!(
            "`{s}` is not ip:port (host names are not resolved)"
        )),
    }
}

/// Addresses named in renew/deregister calls.
pub fn addrs(list: &[String], field: &str) -> Result<Vec<SocketAddr>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        match parse_addr(a) {
            Ok(addr) => out.push(addr),
            Err(m) => problems.push(Problem::new(format!("{field}[{i}]"), m)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A domain spec back onto the wire (List and Watch).
pub fn spec_to_pb(spec: &ServiceSpec) -> pb::ServiceSpec {
    pb::ServiceSpec {
        dept: spec.dept.clone(),
        service: spec.service.clone(),
        protocol: match spec.protocol {
            ServiceProtocol::Http => pb::Protocol::Http,
            ServiceProtocol::Grpc => pb::Protocol::Grpc,
        } as i32,
        lb: match spec.lb {
            LbPolicy::RoundRobin => pb::LbPolicy::RoundRobin,
            LbPolicy::Random => pb::LbPolicy::Random,
            LbPolicy::ConsistentHash => pb::LbPolicy::ConsistentHash,
        } as i32,
        health: spec.health.as_ref().map(|h| pb::HealthCheck {
            probe: Some(match &h.probe {
                HealthProbeSpec::Tcp => pb::health_check::Probe::Tcp(pb::TcpProbe {}),
                HealthProbeSpec::Http { path } => {
                    pb::health_check::Probe::Http(pb::HttpProbe { path: path.clone() })
                }
                HealthProbeSpec::Grpc { service } => pb::health_check::Probe::Grpc(pb::GrpcProbe {
                    service: service.clone(),
                }),
            }),
            interval_ms: u32::try_from(h.interval_ms).unwrap_or(u32::MAX),
            timeout_ms: u32::try_from(h.timeout_ms).unwrap_or(u32::MAX),
        }),
        routes: spec
            .routes
            .iter()
            .map(|r| pb::Route {
                id: r.id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                kind: match r.kind {
                    PathMatchKind::Exact => pb::PathKind::Exact,
                    PathMatchKind::Prefix => pb::PathKind::Prefix,
                    PathMatchKind::Template => pb::PathKind::Template,
                } as i32,
                pattern: r.pattern.clone(),
                methods: r.methods.clone(),
                citizen_param: r.citizen_param.clone().unwrap_or_default(),
                timeout_ms: r.timeout_ms.map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
                auth: match r.auth {
                    RouteAuth::Public => pb::AuthMode::Public,
                    RouteAuth::Citizen => pb::AuthMode::Citizen,
                    RouteAuth::Department => pb::AuthMode::Department,
                    RouteAuth::Operator => pb::AuthMode::Operator,
                } as i32,
                policy: r.policy.toml.clone(),
            })
            .collect(),
        metadata: spec.metadata.clone().into_iter().collect(),
        lease_ttl_ms: u32::try_from(spec.lease_ttl_ms).unwrap_or(u32::MAX),
        descriptor_set: spec
            .descriptor_set
            .as_deref()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
    }
}

pub fn status_to_pb(s: ApprovalStatus) -> pb::Status {
    match s {
        ApprovalStatus::Pending => pb::Status::Pending,
        ApprovalStatus::Approved => pb::Status::Approved,
        ApprovalStatus::Rejected => pb::Status::Rejected,
    }
}

#[cfg(test)]
mod tests;
