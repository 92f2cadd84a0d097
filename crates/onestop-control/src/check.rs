//! Rules a registration must meet given the gateway's configuration and
//! the other registered services. Pure: no I/O.
//!
//! - The department is declared in the configuration (operators create
//!   departments; departments create services).
//! - The service id is an identifier and not a service of the files.
//! - HTTP routes live under `/api/v1/depts/{dept}/`; gRPC routes under
//!   `/{package.Service}/`, and a gRPC service name belongs to one department.
//! - Metadata stays within its size limit.
//! - The configuration with the service added still validates: route
//!   patterns, ids, methods and citizen parameters, no route with the same
//!   match as another (in the files or another registration), and a gRPC
//!   service's descriptor set decodes, describes its routed services and
//!   binds HTTP paths under `/api/v1/depts/{dept}/` or `/api/v1/rpc/` that
//!   no other transcoded service binds.

use std::collections::BTreeMap;

use onestop_config as config;
use onestop_core::registry::{InstanceSpec, PathMatchKind, ServiceProtocol, ServiceSpec};

use crate::error::Problem;
use crate::merge;
use crate::view::RegistryView;

/// Every problem with registering `spec` (with `instances`) on top of
/// `files` and the `others` already approved (the same service's own
/// approved version is ignored).
pub fn registration(
    files: &config::Config,
    view: &RegistryView,
    spec: &ServiceSpec,
    instances: &[InstanceSpec],
    max_metadata_bytes: usize,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !is_ident(&spec.service) {
        problems.push(Problem::new(
            "service.service",
            format!(
                "`{}` must be 1-32 characters of a-z, 0-9 and -",
                spec.service
            ),
        ));
    }
    let Some(dept) = files
        .departments
        .iter()
        .find(|d| d.file.department.id.get_ref() == &spec.dept)
    else {
        problems.push(Problem::new(
            "service.dept",
            format!(
                "unknown department `{}` (departments are declared by operators in the configuration)",
                spec.dept
            ),
        ));
        return problems;
    };
    if dept
        .file
        .services
        .iter()
        .any(|s| s.id.get_ref() == &spec.service)
    {
        problems.push(Problem::new(
            "service.service",
            format!(
                "`{}` is a service of the configuration files of department `{}`; register under another name",
                spec.service, spec.dept
            ),
        ));
    }
    let metadata: usize = spec.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata > max_metadata_bytes {
        problems.push(Problem::new(
            "service.metadata",
            format!("{metadata} bytes, at most {max_metadata_bytes}"),
        ));
    }
    let grpc_owners = grpc_service_owners(files, view, spec);
    for (i, r) in spec.routes.iter().enumerate() {
        let field = format!("service.routes[{i}].pattern");
        match spec.protocol {
            ServiceProtocol::Http => {
                let base = format!("/api/v1/depts/{}", spec.dept);
                if r.pattern != base && !r.pattern.starts_with(&format!("{base}/")) {
                    problems.push(Problem::new(
                        field,
                        format!("`{}` must be under {base}/", r.pattern),
                    ));
                }
            }
            ServiceProtocol::Grpc => match grpc_service_of(&r.pattern) {
                None => problems.push(Problem::new(
                    field,
                    format!(
                        "`{}` must be /package.Service/ (prefix) or /package.Service/Method (exact)",
                        r.pattern
                    ),
                )),
                Some(name) => {
                    if r.kind == PathMatchKind::Template {
                        problems.push(Problem::new(
                            format!("service.routes[{i}].kind"),
                            "gRPC routes are exact or prefix matches",
                        ));
                    }
                    if let Some(owner) = grpc_owners.get(name)
                        && owner != &spec.dept
                    {
                        problems.push(Problem::new(
                            field,
                            format!("gRPC service `{name}` belongs to department `{owner}`"),
                        ));
                    }
                }
            },
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    // The configuration with every other approved service and this one.
    let mut candidate = files.clone();
    for served in &view.services {
        if served.spec.dept == spec.dept && served.spec.service == spec.service {
            continue;
        }
        merge::add_service(&mut candidate, &served.spec, &served.instances);
    }
    let others = candidate.clone();
    merge::add_service(&mut candidate, spec, instances);
    let found = config::validate(&candidate);
    let blamed = policy_blame(&others, spec, instances, &found);
    for (d, route) in found.into_iter().zip(blamed) {
        // A route policy's problem names that route's `policy`; transcoding
        // problems name the descriptor set.
        let field = match route {
            Some(i) => format!("service.routes[{i}].policy"),
            None if d.message.starts_with("descriptor_set") => "service.descriptor_set".into(),
            None => "service".into(),
        };
        problems.push(Problem::new(field, d.message));
    }
    problems
}

/// For each of `found` (the problems of `others` plus `spec`), the index
/// of the route whose policy causes it: the problem is gone when that one
/// route's policy is left out. Registration is rare and a service has few
/// routes with a policy, so this validates once per such route.
fn policy_blame(
    others: &config::Config,
    spec: &ServiceSpec,
    instances: &[InstanceSpec],
    found: &[config::Diagnostic],
) -> Vec<Option<usize>> {
    let mut blame = vec![None; found.len()];
    if found.is_empty() {
        return blame;
    }
    for (i, r) in spec.routes.iter().enumerate() {
        if r.policy.toml.is_empty() {
            continue;
        }
        let mut without = spec.clone();
        without.routes[i].policy = Default::default();
        let mut candidate = others.clone();
        merge::add_service(&mut candidate, &without, instances);
        let left: Vec<String> = config::validate(&candidate)
            .into_iter()
            .map(|d| d.message)
            .collect();
        for (b, d) in blame.iter_mut().zip(found) {
            if b.is_none() && !left.contains(&d.message) {
                *b = Some(i);
            }
        }
    }
    blame
}

/// Which department serves each gRPC service name (from route patterns),
/// leaving out the service being registered.
fn grpc_service_owners(
    files: &config::Config,
    view: &RegistryView,
    spec: &ServiceSpec,
) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for d in &files.departments {
        for r in &d.file.routes {
            if let Some((_, p)) = r.path_match()
                && let Some(name) = grpc_service_of(p.get_ref())
            {
                owners.insert(name.to_string(), d.file.department.id.get_ref().clone());
            }
        }
    }
    for s in &view.services {
        if s.spec.dept == spec.dept && s.spec.service == spec.service {
            continue;
        }
        for r in &s.spec.routes {
            if let Some(name) = grpc_service_of(&r.pattern) {
                owners.insert(name.to_string(), s.spec.dept.clone());
            }
        }
    }
    owners
}

/// `package.Service` of `/package.Service`, `/package.Service/` or
/// `/package.Service/Method`.
pub fn grpc_service_of(pattern: &str) -> Option<&str> {
    let rest = pattern.strip_prefix('/')?;
    let (name, method) = rest.split_once('/').unwrap_or((rest, ""));
    let dotted = name.contains('.')
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let method_ok = method.is_empty()
        || (!method.contains('/')
            && method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    (dotted && method_ok).then_some(name)
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests;
