//! Registered services in the configuration model: approved registrations
//! become services and routes of their (statically declared) department, so
//! the data plane compiles one model whatever door a service came through.
//!
//! Static configuration wins: a registered service or route that collides
//! with the files (or with an earlier registered one) is left out, and the
//! reason is returned for logs and the admin API. Approval and registration
//! refuse such collisions up front ([`crate::check`]), so this only happens
//! when an operator later adds a colliding route to the files.

use std::time::Duration;

use onestop_config as config;
use onestop_core::registry::{
    HealthProbeSpec, InstanceSpec, LbPolicy, PathMatchKind, RouteAuth, ServiceProtocol, ServiceSpec,
};
use toml::Spanned;

use crate::view::RegistryView;

/// Marks values that came from the registry rather than a file.
fn synthetic<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// The configuration model of one registered service: the service (with
/// its live instances) and its routes.
pub fn service_model(
    spec: &ServiceSpec,
    instances: &[InstanceSpec],
) -> (config::Service, Vec<config::Route>) {
    let service = config::Service {
        id: synthetic(spec.service.clone()),
        protocol: match spec.protocol {
            ServiceProtocol::Http => config::Protocol::Http,
            ServiceProtocol::Grpc => config::Protocol::Grpc,
        },
        lb: match spec.lb {
            LbPolicy::RoundRobin => config::LbAlgorithm::RoundRobin,
            LbPolicy::Random => config::LbAlgorithm::Random,
            LbPolicy::ConsistentHash => config::LbAlgorithm::ConsistentHash,
        },
        instances: instances
            .iter()
            .map(|i| config::Instance {
                addr: synthetic(i.addr.to_string()),
                weight: i.weight,
            })
            .collect(),
        health: spec.health.as_ref().map(|h| {
            let (kind, path, service) = match &h.probe {
                HealthProbeSpec::Tcp => (config::ProbeKind::Tcp, None, None),
                HealthProbeSpec::Http { path } => {
                    (config::ProbeKind::Http, Some(path.clone()), None)
                }
                HealthProbeSpec::Grpc { service } => {
                    (config::ProbeKind::Grpc, None, Some(service.clone()))
                }
            };
            config::HealthCheck {
                kind,
                path,
                service,
                interval: Duration::from_millis(h.interval_ms),
                timeout: Duration::from_millis(h.timeout_ms),
                healthy_threshold: 1,
                unhealthy_threshold: 1,
            }
        }),
        outlier: config::Outlier::default(),
        // `descriptor_set` names a file of the configuration; a registered
        // service ships the set itself.
        descriptor_set: None,
        descriptors: spec.descriptor_set.clone(),
    };
    let routes = spec
        .routes
        .iter()
        .map(|r| {
            let pattern = Some(synthetic(r.pattern.clone()));
            let (path, prefix, template) = match r.kind {
                PathMatchKind::Exact => (pattern, None, None),
                PathMatchKind::Prefix => (None, pattern, None),
                PathMatchKind::Template => (None, None, pattern),
            };
            let mut route = config::Route {
                id: synthetic(r.id.clone()),
                name: Some(r.name.clone()),
                description: (!r.description.is_empty()).then(|| r.description.clone()),
                catalog: true,
                path,
                prefix,
                template,
                methods: r.methods.clone(),
                host: None,
                headers: Vec::new(),
                service: Some(synthetic(spec.service.clone())),
                split: Vec::new(),
                citizen_param: r.citizen_param.clone(),
                timeout: r.timeout_ms.map(Duration::from_millis),
                connect_timeout: None,
                retries: r.retries,
                auth: match r.auth {
                    RouteAuth::Public => config::AuthMode::Public,
                    RouteAuth::Citizen => config::AuthMode::Citizen,
                    RouteAuth::Department => config::AuthMode::Department,
                    RouteAuth::Operator => config::AuthMode::Operator,
                },
                max_body_bytes: None,
                rate_limit: None,
                cache: None,
                data_item: None,
                forward_credentials: Vec::new(),
            };
            // Parsed (and refused when it does not parse) at conversion.
            if let Ok(policy) = config::RoutePolicy::parse(&r.policy.toml) {
                policy.apply(&mut route);
            }
            route
        })
        .collect();
    (service, routes)
}

/// Adds one registered service to `cfg` (its department must be declared).
/// Returns false, leaving `cfg` unchanged, when the department is unknown.
pub fn add_service(
    cfg: &mut config::Config,
    spec: &ServiceSpec,
    instances: &[InstanceSpec],
) -> bool {
    let Some(dept) = cfg
        .departments
        .iter_mut()
        .find(|d| d.file.department.id.get_ref() == &spec.dept)
    else {
        return false;
    };
    let (service, routes) = service_model(spec, instances);
    dept.file.services.push(service);
    dept.file.routes.extend(routes);
    // An overview item declared at registration, unless the file has one.
    if dept.file.department.overview.is_none() {
        dept.file.department.overview = spec
            .routes
            .iter()
            .filter_map(|r| config::RoutePolicy::parse(&r.policy.toml).ok()?.overview)
            .next()
            .map(synthetic);
    }
    true
}

/// The configuration the data plane compiles: the files plus every approved
/// registration with its live instances. Also returns why any registered
/// service was left out.
pub fn merge(files: &config::Config, view: &RegistryView) -> (config::Config, Vec<String>) {
    let mut merged = files.clone();
    let mut left_out = Vec::new();
    let mut pending = Vec::new();
    for served in &view.services {
        if add_service(&mut merged, &served.spec, &served.instances) {
            pending.push(served);
        } else {
            left_out.push(format!(
                "{}: department `{}` is not declared in the configuration",
                served.spec.key(),
                served.spec.dept
            ));
        }
    }
    if config::validate(&merged).is_empty() {
        return (merged, left_out);
    }
    // Something collides: add the services one at a time, keeping each only
    // if the result still validates (files first, then registry order).
    let mut merged = files.clone();
    for served in pending {
        let mut candidate = merged.clone();
        add_service(&mut candidate, &served.spec, &served.instances);
        let problems = config::validate(&candidate);
        if problems.is_empty() {
            merged = candidate;
        } else {
            left_out.push(format!(
                "{}: {}",
                served.spec.key(),
                problems
                    .iter()
                    .map(|d| d.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    (merged, left_out)
}
