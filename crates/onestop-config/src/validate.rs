//! Semantic checks over a parsed configuration. Every problem is reported;
//! nothing stops at the first.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use toml::Spanned;

use crate::diag::{Diagnostic, line_col};
use crate::model::{Config, DepartmentSource, PathKind, ProbeKind, Route};

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Returns every problem in `config`; empty when it can be applied.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    let mut v = Validator::default();
    v.gateway(config);
    let mut dept_ids: HashMap<&str, &Path> = HashMap::new();
    // Match signature -> (file, route id) of the first route with it.
    let mut matches: HashMap<String, (String, String)> = HashMap::new();
    for src in &config.departments {
        let id = src.file.department.id.get_ref().as_str();
        if !is_ident(id) {
            v.at(
                src,
                &src.file.department.id,
                format!("department id `{id}` must be 1-32 characters of a-z, 0-9 and -"),
            );
        }
        if let Some(first) = dept_ids.insert(id, &src.path) {
            v.at(
                src,
                &src.file.department.id,
                format!(
                    "duplicate department id `{id}` (also in {})",
                    first.display()
                ),
            );
        }
        if src.file.department.max_concurrency == 0 {
            v.at(
                src,
                &src.file.department.id,
                "max_concurrency must be at least 1".into(),
            );
        }
        v.department(src, &mut matches);
    }
    v.0
}

#[derive(Default)]
struct Validator(Vec<Diagnostic>);

impl Validator {
    fn at<T>(&mut self, src: &DepartmentSource, spanned: &Spanned<T>, message: String) {
        let (line, col) = line_col(&src.text, spanned.span().start);
        self.0.push(Diagnostic {
            file: src.path.clone(),
            line,
            col,
            message,
        });
    }

    fn gateway(&mut self, config: &Config) {
        let file = config
            .gateway_path
            .clone()
            .unwrap_or_else(|| "onestop.toml".into());
        let mut push = |message: String| {
            self.0.push(Diagnostic {
                file: file.clone(),
                line: 1,
                col: 1,
                message,
            })
        };
        let l = &config.gateway.listeners;
        let addrs = [l.public, l.control, l.admin];
        let unique: BTreeSet<SocketAddr> = addrs.iter().copied().collect();
        if unique.len() != addrs.len() && addrs.iter().all(|a| a.port() != 0) {
            push("listeners public, control and admin must use distinct addresses".into());
        }
        let b = &config.gateway.retry_budget;
        if !(0.0..=1.0).contains(&b.ratio) {
            push(format!(
                "retry_budget.ratio must be between 0 and 1, got {}",
                b.ratio
            ));
        }
        if b.ttl < std::time::Duration::from_secs(1) || b.ttl > std::time::Duration::from_secs(60) {
            push("retry_budget.ttl must be between 1s and 60s".into());
        }
        if config.gateway.defaults.connect_timeout.is_zero() {
            push("defaults.connect_timeout must be positive".into());
        }
    }

    fn department(
        &mut self,
        src: &DepartmentSource,
        matches: &mut HashMap<String, (String, String)>,
    ) {
        let dept = src.file.department.id.get_ref();
        let mut services = HashMap::new();
        for svc in &src.file.services {
            let id = svc.id.get_ref();
            if !is_ident(id) {
                self.at(
                    src,
                    &svc.id,
                    format!("service id `{id}` must be 1-32 characters of a-z, 0-9 and -"),
                );
            }
            if services.insert(id.as_str(), svc).is_some() {
                self.at(
                    src,
                    &svc.id,
                    format!("duplicate service id `{id}` in department `{dept}`"),
                );
            }
            let mut seen = BTreeSet::new();
            for inst in &svc.instances {
                match inst.addr.get_ref().parse::<SocketAddr>() {
                    Ok(a) => {
                        if !seen.insert(a) {
                            self.at(
                                src,
                                &inst.addr,
                                format!("duplicate instance `{a}` in service `{id}`"),
                            );
                        }
                    }
                    Err(_) => self.at(
                        src,
                        &inst.addr,
                        format!(
                            "instance address `{}` is not ip:port (host names are not resolved)",
                            inst.addr.get_ref()
                        ),
                    ),
                }
                if inst.weight == 0 {
                    self.at(src, &inst.addr, "instance weight must be at least 1".into());
                }
            }
            if let Some(hc) = &svc.health {
                if hc.kind == ProbeKind::Http
                    && !hc.path.as_deref().is_some_and(|p| p.starts_with('/'))
                {
                    self.at(
                        src,
                        &svc.id,
                        format!(
                            "service `{id}`: an http health check needs a `path` starting with /"
                        ),
                    );
                }
                if hc.kind != ProbeKind::Http && hc.path.is_some() {
                    self.at(
                        src,
                        &svc.id,
                        format!("service `{id}`: `path` applies only to http health checks"),
                    );
                }
                if hc.kind != ProbeKind::Grpc && hc.service.is_some() {
                    self.at(
                        src,
                        &svc.id,
                        format!("service `{id}`: `service` applies only to grpc health checks"),
                    );
                }
                if hc.interval.is_zero() || hc.timeout.is_zero() {
                    self.at(
                        src,
                        &svc.id,
                        format!("service `{id}`: health interval and timeout must be positive"),
                    );
                }
                if hc.healthy_threshold == 0 || hc.unhealthy_threshold == 0 {
                    self.at(
                        src,
                        &svc.id,
                        format!("service `{id}`: health thresholds must be at least 1"),
                    );
                }
            }
            if svc.outlier.max_ejection_percent > 100 {
                self.at(
                    src,
                    &svc.id,
                    format!("service `{id}`: outlier.max_ejection_percent must be at most 100"),
                );
            }
        }
        let mut routes = HashMap::new();
        for route in &src.file.routes {
            let rid = route.id.get_ref();
            if !is_ident(rid) {
                self.at(
                    src,
                    &route.id,
                    format!("route id `{rid}` must be 1-32 characters of a-z, 0-9 and -"),
                );
            }
            if routes.insert(rid.as_str(), ()).is_some() {
                self.at(
                    src,
                    &route.id,
                    format!("duplicate route id `{rid}` in department `{dept}`"),
                );
            }
            self.route(src, route, &services, matches);
        }
    }

    fn route(
        &mut self,
        src: &DepartmentSource,
        route: &Route,
        services: &HashMap<&str, &crate::model::Service>,
        matches: &mut HashMap<String, (String, String)>,
    ) {
        let rid = route.id.get_ref();
        let params = match route.path_match() {
            None => {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}` needs exactly one of `path`, `prefix` or `template`"),
                );
                Vec::new()
            }
            Some((kind, pattern)) => match check_pattern(kind, pattern.get_ref()) {
                Ok(params) => params,
                Err(msg) => {
                    self.at(src, pattern, format!("route `{rid}`: {msg}"));
                    Vec::new()
                }
            },
        };
        for m in &route.methods {
            if !METHODS.contains(&m.as_str()) {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: unknown method `{m}` (use upper case, e.g. GET)"),
                );
            }
        }
        for h in &route.headers {
            if h.name.is_empty()
                || !h
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: `{}` is not a valid header name", h.name),
                );
            }
        }
        match (&route.service, route.split.is_empty()) {
            (Some(_), false) => self.at(
                src,
                &route.id,
                format!("route `{rid}`: set either `service` or `split`, not both"),
            ),
            (None, true) => self.at(
                src,
                &route.id,
                format!("route `{rid}` needs a `service` or a `split`"),
            ),
            _ => {}
        }
        for (svc, _) in route.targets() {
            if !services.contains_key(svc.get_ref().as_str()) {
                self.at(
                    src,
                    svc,
                    format!(
                        "route `{rid}` refers to unknown service `{}`",
                        svc.get_ref()
                    ),
                );
            }
        }
        if !route.split.is_empty()
            && route.split.iter().map(|t| u64::from(t.weight)).sum::<u64>() == 0
        {
            self.at(
                src,
                &route.id,
                format!("route `{rid}`: split weights sum to zero"),
            );
        }
        if let Some(p) = &route.citizen_param
            && !params.iter().any(|x| x == p)
        {
            self.at(
                src,
                &route.id,
                format!("route `{rid}`: citizen_param `{p}` is not a parameter of its template"),
            );
        }
        if let Some((kind, pattern)) = route.path_match() {
            let mut methods: Vec<&str> = route.methods.iter().map(String::as_str).collect();
            methods.sort_unstable();
            let mut headers: Vec<String> = route
                .headers
                .iter()
                .map(|h| format!("{}={:?}", h.name.to_ascii_lowercase(), h.value))
                .collect();
            headers.sort();
            let signature = format!(
                "{kind:?} {} {methods:?} {:?} {headers:?}",
                normalise_template(pattern.get_ref()),
                route.host.as_deref().map(str::to_ascii_lowercase)
            );
            match matches.entry(signature) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    let (file, other) = first.get();
                    let message =
                        format!("route `{rid}` has the same match as route `{other}` in {file}");
                    self.at(src, &route.id, message);
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert((src.path.display().to_string(), rid.clone()));
                }
            }
        }
    }
}

/// Parameter names of a valid pattern, or what is wrong with it.
fn check_pattern(kind: PathKind, pattern: &str) -> Result<Vec<String>, String> {
    if !pattern.starts_with('/') {
        return Err(format!("path `{pattern}` must start with /"));
    }
    if pattern.contains("//") || pattern.split('/').any(|s| s == "." || s == "..") {
        return Err(format!(
            "path `{pattern}` must be normalised (no //, . or .. segments)"
        ));
    }
    if pattern
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
    {
        return Err(format!(
            "path `{pattern}` contains a character not allowed in a path"
        ));
    }
    let mut params = Vec::new();
    for seg in pattern.split('/').skip(1) {
        let opens = seg.matches('{').count();
        let closes = seg.matches('}').count();
        if opens == 0 && closes == 0 {
            continue;
        }
        if kind != PathKind::Template {
            return Err(format!(
                "`{{…}}` parameters are only allowed in a `template`, found in `{pattern}`"
            ));
        }
        let name = seg
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|n| opens == 1 && closes == 1 && is_param(n))
            .ok_or_else(|| {
                format!("segment `{seg}` must be a whole `{{name}}` parameter (letters, digits, _)")
            })?;
        if params.iter().any(|p| p == name) {
            return Err(format!("parameter `{name}` appears twice in `{pattern}`"));
        }
        params.push(name.to_string());
    }
    if kind == PathKind::Template && params.is_empty() {
        return Err(format!(
            "template `{pattern}` has no `{{name}}` parameter; use `path` for an exact match"
        ));
    }
    Ok(params)
}

/// Parameter names do not change what a template matches.
fn normalise_template(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_param(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
