//! Which gRPC services the gateway transcodes, and their HTTP bindings: a
//! gRPC service with a descriptor set serves, as HTTP/JSON, every
//! `package.Service` its routes route to it. Validation and the data plane
//! compile the same table here, so a configuration that validates compiles.

use std::sync::Arc;

use onestop_transcode::{Descriptors, ServiceBindings, Table};

use crate::model::{Config, DepartmentSource, Protocol, Service};

/// Where methods without `google.api.http` are served.
pub use onestop_transcode::DEFAULT_RPC_PREFIX as RPC_PREFIX;

/// A problem with one service's transcoding, located in its department file.
#[derive(Debug, Clone)]
pub struct Problem<'a> {
    pub src: &'a DepartmentSource,
    /// The offset to report at: the service's `descriptor_set` (or id).
    pub offset: usize,
    pub message: String,
}

/// The `package.Service` a gRPC route's exact path or prefix names
/// (`/pkg.Svc/Method` or `/pkg.Svc/`).
pub fn grpc_service_of(pattern: &str) -> Option<&str> {
    let name = pattern.strip_prefix('/')?.split('/').next()?;
    (name.contains('.') && !name.starts_with('.') && !name.ends_with('.')).then_some(name)
}

/// The `package.Service`s the routes of `src` send to `service`, in order.
fn routed_services<'a>(src: &'a DepartmentSource, service: &Service) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for route in &src.file.routes {
        if !route
            .targets()
            .iter()
            .any(|(svc, _)| svc.get_ref() == service.id.get_ref())
        {
            continue;
        }
        let pattern = route.path.as_ref().or(route.prefix.as_ref());
        if let Some(name) = pattern.and_then(|p| grpc_service_of(p.get_ref()))
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

fn at<'a>(src: &'a DepartmentSource, service: &Service, message: String) -> Problem<'a> {
    let offset = service
        .descriptor_set
        .as_ref()
        .map_or(service.id.span().start, |d| d.span().start);
    Problem {
        src,
        offset,
        message,
    }
}

/// Every transcoded service's bindings, then the table over all of them;
/// every problem is reported (none: the table).
pub fn compile(config: &Config) -> Result<Table, Vec<Problem<'_>>> {
    let mut problems = Vec::new();
    let mut all: Vec<ServiceBindings> = Vec::new();
    // Departments often ship the same set (one build of all their protos):
    // each distinct set is decoded once per compile.
    let mut decoded: Vec<(&[u8], Descriptors)> = Vec::new();
    for src in &config.departments {
        let dept = src.file.department.id.get_ref();
        let allowed = format!("/api/v1/depts/{dept}/");
        for service in &src.file.services {
            let Some(bytes) = &service.descriptors else {
                continue;
            };
            if service.protocol != Protocol::Grpc {
                problems.push(at(
                    src,
                    service,
                    "descriptor_set is for gRPC services (protocol = \"grpc\")".into(),
                ));
                continue;
            }
            let bytes: &[u8] = bytes;
            let descriptors = if let Some((_, d)) = decoded.iter().find(|(b, _)| *b == bytes) {
                d.clone()
            } else {
                match Descriptors::decode(bytes) {
                    Ok(d) => {
                        decoded.push((bytes, d.clone()));
                        d
                    }
                    Err(e) => {
                        problems.push(at(
                            src,
                            service,
                            format!("descriptor_set is not a FileDescriptorSet: {e}"),
                        ));
                        continue;
                    }
                }
            };
            for name in routed_services(src, service) {
                let bindings = match onestop_transcode::compile(&descriptors, name) {
                    Ok(b) => b,
                    Err(e) => {
                        problems.push(at(src, service, format!("descriptor_set: {e}")));
                        continue;
                    }
                };
                for method in &bindings.methods {
                    for binding in &method.bindings {
                        let template = &binding.template;
                        let default = format!("{RPC_PREFIX}{name}/");
                        if !template.lies_under(&allowed) && !template.lies_under(&default) {
                            problems.push(at(
                                src,
                                service,
                                format!(
                                    "descriptor_set: {}: the HTTP path {} is not under {allowed}",
                                    method.grpc_path,
                                    template.as_str()
                                ),
                            ));
                        }
                    }
                }
                all.push(bindings);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Table::new(all).map_err(|e| {
        // Two services bound to one path: reported at the first transcoded
        // service (the message names both methods).
        let first = config.departments.iter().find_map(|src| {
            src.file
                .services
                .iter()
                .find(|s| s.descriptors.is_some())
                .map(|s| (src, s))
        });
        first
            .map(|(src, service)| vec![at(src, service, e.to_string())])
            .unwrap_or_default()
    })
}

/// The table as the data plane keeps it.
pub fn table(config: &Config) -> Result<Arc<Table>, String> {
    compile(config).map(Arc::new).map_err(|problems| {
        problems
            .iter()
            .map(|p| format!("{}: {}", p.src.path.display(), p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}
