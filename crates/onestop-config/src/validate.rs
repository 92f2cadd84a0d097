//! Semantic checks over a parsed configuration. Every problem is reported;
//! nothing stops at the first.
//!
//! Department problems are located through the `Spanned` ids and patterns of
//! the model. Gateway-file settings are plain values (so the model stays
//! simple for the code that reads them); their problems are located by
//! looking the dotted key up in the file's span-carrying parse tree
//! ([`toml::de::DeTable`]), built only when there is something to report.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, line_col};
use crate::model::{
    Config, DepartmentSource, MAX_OVERVIEW_TIMEOUT, OverviewItem, PathKind, ProbeKind, Role, Route,
    header_regex,
};

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Returns every problem in `config`; empty when it can be applied.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    let mut v = Validator::default();
    let known: HashSet<&str> = config
        .departments
        .iter()
        .map(|d| d.file.department.id.get_ref().as_str())
        .collect();
    v.gateway(config, &known);
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
        if let Some(item) = &src.file.department.overview {
            v.overview(src, id, item);
        }
        v.department(src, &mut matches);
        for route in &src.file.routes {
            v.route_access(src, route, config);
        }
    }
    if let Err(problems) = crate::transcode::compile(config) {
        for p in problems {
            v.push(&p.src.path, &p.src.text, p.offset, p.message);
        }
    }
    v.0
}

#[derive(Default)]
struct Validator(Vec<Diagnostic>);

/// The gateway file, for locating its problems.
struct GatewayDoc<'a> {
    file: PathBuf,
    text: &'a str,
    /// The span-carrying parse tree, built on the first problem.
    tree: OnceCell<Option<Spanned<DeTable<'a>>>>,
}

impl<'a> GatewayDoc<'a> {
    /// Byte offset of the first of `paths` (dotted keys; numbers index
    /// arrays) that is present in the file: its value. When none is fully
    /// present: the deepest key of the first path that is (e.g. the
    /// `[registry]` header of a `registry.*` setting left at its default);
    /// `None` when not even that is.
    fn locate(&self, paths: &[&str]) -> Option<usize> {
        let tree = self
            .tree
            .get_or_init(|| DeTable::parse(self.text).ok())
            .as_ref()?;
        let mut fallback = None;
        for path in paths {
            let (found, deepest_key) = walk(tree.get_ref(), path);
            if let Some(offset) = found {
                return Some(offset);
            }
            fallback = fallback.or(deepest_key);
        }
        fallback
    }
}

/// Follows a dotted path: the value's offset when every step exists, and the
/// offset of the deepest key that does.
fn walk(root: &DeTable<'_>, path: &str) -> (Option<usize>, Option<usize>) {
    let mut deepest_key = None;
    let mut table = root;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    for step in path.split('.') {
        let next = match (current.map(Spanned::get_ref), step.parse::<usize>()) {
            (Some(DeValue::Array(items)), Ok(index)) => items.get(index),
            (Some(DeValue::Table(t)), _) => {
                table = t;
                lookup(table, step, &mut deepest_key)
            }
            (None, _) => lookup(table, step, &mut deepest_key),
            _ => None,
        };
        match next {
            Some(value) => current = Some(value),
            None => return (None, deepest_key),
        }
    }
    (current.map(|v| v.span().start), deepest_key)
}

fn lookup<'t, 'i>(
    table: &'t DeTable<'i>,
    key: &str,
    deepest_key: &mut Option<usize>,
) -> Option<&'t Spanned<DeValue<'i>>> {
    let (k, v) = table.get_key_value(key)?;
    *deepest_key = Some(k.span().start);
    Some(v)
}

impl Validator {
    fn at<T>(&mut self, src: &DepartmentSource, spanned: &Spanned<T>, message: String) {
        self.push(&src.path, &src.text, spanned.span().start, message);
    }

    fn push(&mut self, file: &Path, text: &str, offset: usize, message: String) {
        let (line, col) = line_col(text, offset);
        self.0.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            message,
        });
    }

    /// A gateway-file problem at the first present key of `paths`.
    fn gw(&mut self, doc: &GatewayDoc<'_>, paths: &[&str], message: String) {
        let offset = doc.locate(paths).unwrap_or(0);
        self.push(&doc.file, doc.text, offset, message);
    }

    /// A gateway-file problem at a spanned value.
    fn gw_at<T>(&mut self, doc: &GatewayDoc<'_>, spanned: &Spanned<T>, message: String) {
        self.push(&doc.file, doc.text, spanned.span().start, message);
    }

    fn gateway(&mut self, config: &Config, departments: &HashSet<&str>) {
        let doc = GatewayDoc {
            file: config
                .gateway_path
                .clone()
                .unwrap_or_else(|| "onestop.toml".into()),
            text: config.gateway_text.as_deref().unwrap_or(""),
            tree: OnceCell::new(),
        };
        let gw = &config.gateway;
        let l = &gw.listeners;
        let addrs = [
            ("listeners.public", l.public),
            ("listeners.control", l.control),
            ("listeners.admin", l.admin),
        ];
        let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
        if addrs.iter().all(|(_, a)| a.port() != 0) {
            for (key, addr) in addrs {
                if let Some(first) = seen.insert(addr, key) {
                    self.gw(
                        &doc,
                        &[key, first],
                        format!(
                            "listeners public, control and admin must use distinct addresses (`{addr}` is used twice)"
                        ),
                    );
                }
            }
        }
        let b = &gw.retry_budget;
        if !(0.0..=1.0).contains(&b.ratio) {
            self.gw(
                &doc,
                &["retry_budget.ratio"],
                format!(
                    "retry_budget.ratio must be between 0 and 1, got {}",
                    b.ratio
                ),
            );
        }
        if b.ttl < Duration::from_secs(1) || b.ttl > Duration::from_secs(60) {
            self.gw(
                &doc,
                &["retry_budget.ttl"],
                "retry_budget.ttl must be between 1s and 60s".into(),
            );
        }
        if gw.defaults.connect_timeout.is_zero() {
            self.gw(
                &doc,
                &["defaults.connect_timeout"],
                "defaults.connect_timeout must be positive".into(),
            );
        }
        self.store(&doc, config);
        self.rate_limit_settings(&doc, config);
        self.registry(&doc, config);
        self.operators(&doc, config, departments);
        self.access(&doc, config, departments);
        self.composites(&doc, config, departments);
        self.sharing_settings(&doc, config);
        self.console_settings(&doc, config);
        self.appeal_settings(&doc, config, departments);
        self.message_settings(&doc, config);
    }

    fn rate_limit_settings(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let timeout = config.gateway.rate_limits.redis_timeout;
        if timeout.is_zero() || timeout > std::time::Duration::from_secs(10) {
            self.gw(
                doc,
                &["rate_limits.redis_timeout"],
                format!(
                    "rate_limits.redis_timeout ({}) must be positive and at most 10s",
                    humantime::format_duration(timeout)
                ),
            );
        }
    }

    fn store(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let store = &config.gateway.store;
        if let Some(url) = &store.url
            && let Err(message) = check_store_url(url)
        {
            self.gw(doc, &["store.url"], message);
        }
        if store.max_connections == 0 {
            self.gw(
                doc,
                &["store.max_connections"],
                "store.max_connections must be at least 1".into(),
            );
        }
        if store.timeout.is_zero() {
            self.gw(
                doc,
                &["store.timeout"],
                "store.timeout must be positive".into(),
            );
        }
    }

    fn registry(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let r = &config.gateway.registry;
        for (key, value) in [
            ("min_lease_ttl", r.min_lease_ttl),
            ("default_lease_ttl", r.default_lease_ttl),
            ("max_lease_ttl", r.max_lease_ttl),
            ("zombie_window", r.zombie_window),
        ] {
            if value.is_zero() {
                let path = format!("registry.{key}");
                self.gw(doc, &[&path], format!("{path} must be positive"));
            }
        }
        if r.min_lease_ttl > r.default_lease_ttl {
            self.gw(
                doc,
                &["registry.default_lease_ttl", "registry.min_lease_ttl"],
                format!(
                    "registry.default_lease_ttl ({}) must be at least min_lease_ttl ({})",
                    humantime::format_duration(r.default_lease_ttl),
                    humantime::format_duration(r.min_lease_ttl)
                ),
            );
        }
        if r.default_lease_ttl > r.max_lease_ttl {
            self.gw(
                doc,
                &["registry.default_lease_ttl", "registry.max_lease_ttl"],
                format!(
                    "registry.default_lease_ttl ({}) must be at most max_lease_ttl ({})",
                    humantime::format_duration(r.default_lease_ttl),
                    humantime::format_duration(r.max_lease_ttl)
                ),
            );
        }
        if r.sync_interval < Duration::from_millis(50) || r.sync_interval > Duration::from_secs(60)
        {
            self.gw(
                doc,
                &["registry.sync_interval"],
                "registry.sync_interval must be between 50ms and 60s".into(),
            );
        }
        if r.max_metadata_bytes == 0 {
            self.gw(
                doc,
                &["registry.max_metadata_bytes"],
                "registry.max_metadata_bytes must be at least 1".into(),
            );
        }
    }

    fn operators(&mut self, doc: &GatewayDoc<'_>, config: &Config, departments: &HashSet<&str>) {
        let mut names: HashSet<&str> = HashSet::new();
        // Token hash -> the first operator with it.
        let mut tokens: HashMap<&str, &str> = HashMap::new();
        for (i, op) in config.gateway.operators.iter().enumerate() {
            let name = op.name.get_ref().as_str();
            if !is_ident(name) {
                self.gw_at(
                    doc,
                    &op.name,
                    format!("operator name `{name}` must be 1-32 characters of a-z, 0-9 and -"),
                );
            }
            if !names.insert(name) {
                self.gw_at(doc, &op.name, format!("duplicate operator `{name}`"));
            }
            let roles = format!("operators.{i}.roles");
            if op.roles.is_empty() {
                self.gw(
                    doc,
                    &[&roles],
                    format!("operator `{name}` needs at least one role"),
                );
            }
            let mut seen = BTreeSet::new();
            for role in &op.roles {
                if !seen.insert(role) {
                    self.gw(
                        doc,
                        &[&roles],
                        format!("operator `{name}` lists role `{}` twice", role_name(*role)),
                    );
                }
            }
            let token = op.token_sha256.get_ref().as_str();
            if !is_hex_sha256(token) {
                // Never echo the value: it may be the token itself, pasted by mistake.
                self.gw_at(
                    doc,
                    &op.token_sha256,
                    format!(
                        "operator `{name}`: token_sha256 must be 64 lower-case hex characters (the SHA-256 of the token)"
                    ),
                );
            } else if let Some(first) = tokens.insert(token, name) {
                tokens.insert(token, first);
                self.gw_at(
                    doc,
                    &op.token_sha256,
                    format!("operator `{name}` has the same token_sha256 as operator `{first}`"),
                );
            }
            let mut scoped = HashSet::new();
            for dept in &op.departments {
                let id = dept.get_ref().as_str();
                if !departments.contains(id) {
                    self.gw_at(
                        doc,
                        dept,
                        format!("operator `{name}` refers to unknown department `{id}`"),
                    );
                } else if !scoped.insert(id) {
                    self.gw_at(
                        doc,
                        dept,
                        format!("operator `{name}` lists department `{id}` twice"),
                    );
                }
            }
        }
    }

    /// A department's overview item: one of its own paths, a sane deadline.
    fn overview(&mut self, src: &DepartmentSource, dept: &str, item: &Spanned<OverviewItem>) {
        let path = &item.get_ref().path;
        let prefix = format!("/api/v1/depts/{dept}/");
        if !path.starts_with(&prefix) || path.len() == prefix.len() {
            self.at(
                src,
                item,
                format!("overview path `{path}` must be below `{prefix}`"),
            );
        } else if !is_plain_path(path) {
            self.at(
                src,
                item,
                format!(
                    "overview path `{path}` must be a plain path (no query, `..`, `//` or `%`)"
                ),
            );
        }
        let timeout = item.get_ref().timeout;
        if timeout.is_zero() || timeout > MAX_OVERVIEW_TIMEOUT {
            self.at(
                src,
                item,
                format!(
                    "overview timeout must be more than 0 and at most {}",
                    humantime::format_duration(MAX_OVERVIEW_TIMEOUT)
                ),
            );
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
        self.data_items(src);
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
            if let Some(value) = &h.value
                && value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                self.at(
                    src,
                    &route.id,
                    format!(
                        "route `{rid}`: the value of header `{}` contains a control character",
                        h.name
                    ),
                );
            }
            if let Some(regex) = &h.regex {
                if h.value.is_some() {
                    self.at(
                        src,
                        regex,
                        format!(
                            "route `{rid}`: header `{}`: set either `value` or `regex`, not both",
                            h.name
                        ),
                    );
                }
                if let Err(e) = header_regex(regex.get_ref()) {
                    self.at(
                        src,
                        regex,
                        format!(
                            "route `{rid}`: header `{}`: bad regex `{}`: {}",
                            h.name,
                            regex.get_ref(),
                            regex_message(&e)
                        ),
                    );
                }
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
                .map(|h| {
                    format!(
                        "{}={:?}~{:?}",
                        h.name.to_ascii_lowercase(),
                        h.value,
                        h.regex.as_ref().map(Spanned::get_ref)
                    )
                })
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

/// `Ok` for `sqlite:PATH`, `sqlite://PATH`, `postgres://…` and
/// `postgresql://…`. The message never repeats the URL: it may hold a password.
pub(super) fn check_store_url(url: &str) -> Result<(), String> {
    let rest = ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme));
    match rest {
        Some(rest) if !rest.trim_start_matches("//").is_empty() => Ok(()),
        Some(_) => Err("store.url names no database".into()),
        None => {
            let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
                !s.is_empty()
                    && s.len() <= 16
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            });
            let got = scheme.map_or_else(|| "no scheme".to_string(), |s| format!("scheme `{s}`"));
            Err(format!(
                "store.url must be `sqlite:PATH` or `postgres://…` (got {got})"
            ))
        }
    }
}

/// The one-line gist of a regex error (its `Display` draws a caret diagram).
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or_else(|| text.lines().last().unwrap_or(""))
            .trim()
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled regex exceeds the size limit of {limit} bytes")
        }
        other => other.to_string().replace('\n', " "),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Editor => "editor",
        Role::Approver => "approver",
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

/// 64 lower-case hex characters: a SHA-256 written as configuration expects it.
/// A path the gateway would route as written: printable ASCII without a
/// query, fragment, percent-encoding or backslash, and no empty, `.` or
/// `..` segment.
fn is_plain_path(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%' | b'\\'))
        && path
            .split('/')
            .skip(1)
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

mod access;
mod appeals;
mod composite;
mod console;
mod messages;
mod sharing;
#[cfg(test)]
mod tests;
