#![allow(clippy::unwrap_used)]

use crate::*;

const HPF: &str = r#"
[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "accounts"
instances = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002", weight = 3 }]
health = { kind = "http", path = "/healthz", interval = "2s" }

[[services]]
id = "accounts-v2"
lb = "consistent_hash"
instances = [{ addr = "127.0.0.1:9003" }]

[[routes]]
id = "balance"
name = "公积金余额查询"
template = "/api/v1/depts/hpf/accounts/{citizen}"
methods = ["GET"]
citizen_param = "citizen"
split = [{ service = "accounts", weight = 90 }, { service = "accounts-v2", weight = 10 }]
timeout = "3s"

[[routes]]
id = "all"
prefix = "/api/v1/depts/hpf"
service = "accounts"
"#;

fn dept(text: &str) -> Result<Config, Diagnostics> {
    parse_sources(None, vec![Source::new("departments/hpf.toml", text)])
}

#[test]
fn a_valid_department_loads_with_defaults() {
    let config = dept(HPF).unwrap();
    let d = &config.departments[0].file;
    assert_eq!(d.department.id.get_ref(), "hpf");
    assert_eq!(d.department.max_concurrency, 512);
    assert_eq!(d.services[0].instances[1].weight, 3);
    assert_eq!(d.services[1].lb, LbAlgorithm::ConsistentHash);
    let hc = d.services[0].health.as_ref().unwrap();
    assert_eq!(hc.interval, std::time::Duration::from_secs(2));
    assert_eq!(hc.kind, ProbeKind::Http);
    assert_eq!(d.routes[0].timeout, Some(std::time::Duration::from_secs(3)));
    assert_eq!(d.routes[0].path_match().unwrap().0, PathKind::Template);
    assert_eq!(config.gateway.listeners.public.port(), 8080);
}

/// A gateway file with every key set, none to its default.
const GATEWAY_ALL: &str = r#"
[assessment]
rollup_interval = "5s"
gauge_interval = "30s"
gateway = "gw-east-1"
utc_offset_hours = 9

[console]
enabled = false
session_ttl = "4h"
idle_timeout = "15m"
secure_cookie = true

[listeners]
public = "0.0.0.0:80"
control = "0.0.0.0:50052"
admin = "127.0.0.1:9191"

[proxy]
threads = 4
grace_period = "45s"
upstream_idle_timeout = "90s 500ms"

[defaults]
connect_timeout = "250ms"
timeout = "0s"
retries = 1

[retry_budget]
ratio = 0.25
min_per_second = 5
ttl = "30s"

[store]
url = "postgres://onestop@db/onestop"
max_connections = 16
timeout = "3s"

[registry]
default_lease_ttl = "20s"
min_lease_ttl = "2s"
max_lease_ttl = "10m"
sync_interval = "250ms"
zombie_window = "1h"
max_metadata_bytes = 8192

[[operators]]
name = "alice"
roles = ["viewer", "editor", "approver"]
token_sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
departments = ["hpf"]
"#;

/// A department file with every key set, none to its default.
const DEPT_ALL: &str = r#"
[department]
id = "hpf"
name = "住房公积金管理中心"
name_en = "Housing Provident Fund"
max_concurrency = 64

[[services]]
id = "accounts"
protocol = "grpc"
lb = "random"
instances = [{ addr = "127.0.0.1:9001", weight = 2 }, { addr = "[::1]:9002", weight = 1 }]
health = { kind = "grpc", service = "hpf.Accounts", interval = "2s", timeout = "1s", healthy_threshold = 2, unhealthy_threshold = 3 }
outlier = { consecutive_failures = 5, base_ejection = "10s", max_ejection_percent = 30 }

[[services]]
id = "web"
lb = "consistent_hash"
instances = [{ addr = "127.0.0.1:9003" }]
health = { kind = "http", path = "/healthz" }

[[routes]]
id = "balance"
name = "公积金余额查询"
description = "Balance of a citizen's account"
catalog = false
template = "/api/v1/depts/hpf/accounts/{citizen}"
methods = ["GET", "HEAD"]
host = "gov.example"
headers = [{ name = "x-app", regex = "gov-[a-z]+" }, { name = "x-canary", value = "1" }]
split = [{ service = "accounts", weight = 90 }, { service = "web", weight = 10 }]
citizen_param = "citizen"
timeout = "3s"
connect_timeout = "500ms"
retries = 0

[[routes]]
id = "exact"
path = "/api/v1/depts/hpf/ping"
service = "web"

[[routes]]
id = "rest"
prefix = "/api/v1/depts/hpf"
service = "web"
"#;

fn every_field() -> Config {
    parse_sources(
        Some(Source::new("onestop.toml", GATEWAY_ALL)),
        vec![Source::new("departments/hpf.toml", DEPT_ALL)],
    )
    .unwrap()
}

#[test]
fn gateway_file_round_trips() {
    for gw in [GatewayFile::default(), every_field().gateway] {
        let text = toml::to_string(&gw).unwrap();
        let back: GatewayFile = toml::from_str(&text).unwrap();
        assert_eq!(back, gw, "{text}");
    }
    // Every key was read: nothing is left at its default.
    let gw = every_field().gateway;
    let d = GatewayFile::default();
    assert_ne!(gw.listeners.public, d.listeners.public);
    assert_ne!(gw.listeners.control, d.listeners.control);
    assert_ne!(gw.listeners.admin, d.listeners.admin);
    assert_ne!(gw.proxy, d.proxy);
    assert_eq!(
        gw.proxy.upstream_idle_timeout,
        std::time::Duration::from_millis(90_500)
    );
    assert_ne!(gw.defaults.connect_timeout, d.defaults.connect_timeout);
    assert_ne!(gw.defaults.timeout, d.defaults.timeout);
    assert_ne!(gw.defaults.retries, d.defaults.retries);
    assert_ne!(gw.retry_budget.ratio, d.retry_budget.ratio);
    assert_ne!(
        gw.retry_budget.min_per_second,
        d.retry_budget.min_per_second
    );
    assert_ne!(gw.retry_budget.ttl, d.retry_budget.ttl);
    assert_ne!(gw.store.url, d.store.url);
    assert_ne!(gw.store.max_connections, d.store.max_connections);
    assert_ne!(gw.store.timeout, d.store.timeout);
    let (r, rd) = (&gw.registry, &d.registry);
    assert_ne!(r.default_lease_ttl, rd.default_lease_ttl);
    assert_ne!(r.min_lease_ttl, rd.min_lease_ttl);
    assert_ne!(r.max_lease_ttl, rd.max_lease_ttl);
    assert_ne!(r.sync_interval, rd.sync_interval);
    assert_ne!(r.zombie_window, rd.zombie_window);
    assert_ne!(r.max_metadata_bytes, rd.max_metadata_bytes);
    let (a, ad) = (&gw.assessment, &d.assessment);
    assert_ne!(a.rollup_interval, ad.rollup_interval);
    assert_ne!(a.gauge_interval, ad.gauge_interval);
    assert_eq!(a.gateway.as_deref(), Some("gw-east-1"));
    assert_ne!(a.utc_offset_hours, ad.utc_offset_hours);
    let (c, cd) = (&gw.console, &d.console);
    assert_ne!(c.enabled, cd.enabled);
    assert_ne!(c.session_ttl, cd.session_ttl);
    assert_ne!(c.idle_timeout, cd.idle_timeout);
    assert_ne!(c.secure_cookie, cd.secure_cookie);
    assert_eq!(gw.operators.len(), 1);
    assert_eq!(gw.operators[0].roles.len(), 3);
    assert_eq!(gw.operators[0].departments.len(), 1);
}

#[test]
fn department_file_round_trips() {
    let config = every_field();
    let file = &config.departments[0].file;
    let text = toml::to_string(file).unwrap();
    let back: DepartmentFile = toml::from_str(&text).unwrap();
    assert_eq!(&back, file, "{text}");
    // The serialized form is itself a valid configuration.
    parse_sources(None, vec![Source::new("departments/hpf.toml", text)]).unwrap();
    // Every optional key was read.
    assert_eq!(
        file.department.name_en.as_deref(),
        Some("Housing Provident Fund")
    );
    assert_eq!(file.department.max_concurrency, 64);
    let svc = &file.services[0];
    assert_eq!(
        (svc.protocol, svc.lb),
        (Protocol::Grpc, LbAlgorithm::Random)
    );
    assert_eq!(svc.instances[0].weight, 2);
    let hc = svc.health.as_ref().unwrap();
    assert_eq!(hc.service.as_deref(), Some("hpf.Accounts"));
    assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (2, 3));
    assert_eq!(svc.outlier.max_ejection_percent, 30);
    let r = &file.routes[0];
    assert!(!r.catalog);
    assert_eq!(r.headers[0].regex.as_ref().unwrap().get_ref(), "gov-[a-z]+");
    assert_eq!(r.headers[1].value.as_deref(), Some("1"));
    assert_eq!(r.split.len(), 2);
    assert_eq!(r.retries, Some(0));
    assert_eq!(
        r.connect_timeout,
        Some(std::time::Duration::from_millis(500))
    );
    let kinds: Vec<PathKind> = file
        .routes
        .iter()
        .map(|r| r.path_match().unwrap().0)
        .collect();
    assert_eq!(
        kinds,
        [PathKind::Template, PathKind::Exact, PathKind::Prefix]
    );
}

#[test]
fn header_regex_is_anchored_and_matches_bytes() {
    let re = header_regex("gov-[a-z]+").unwrap();
    assert!(re.is_match(b"gov-app"));
    assert!(!re.is_match(b"xgov-app"));
    assert!(!re.is_match(b"gov-app2"));
    // Alternation stays inside the anchors.
    let re = header_regex("a|b").unwrap();
    assert!(re.is_match(b"a") && re.is_match(b"b"));
    assert!(!re.is_match(b"ab"));
    // Multi-line mode does not loosen the anchors.
    let re = header_regex("(?m)a").unwrap();
    assert!(!re.is_match(b"a\nb"));
    // Header values need not be UTF-8.
    let re = header_regex("(?-u:.)+").unwrap();
    assert!(re.is_match(&[0xff, 0xfe]));
    assert!(header_regex("a)|(b").is_err());
    assert!(header_regex("(").is_err());
}

fn problems(text: &str) -> Vec<String> {
    dept(text)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let text = HPF.replace("methods = [\"GET\"]", "methds = [\"GET\"]");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    let line = text.lines().position(|l| l.starts_with("methds")).unwrap() + 1;
    assert!(
        p[0].starts_with(&format!("departments/hpf.toml:{line}:1: ")),
        "{}",
        p[0]
    );
    assert!(p[0].contains("methds"), "{}", p[0]);
}

#[test]
fn bad_duration_is_reported_at_its_line() {
    let text = HPF.replace("timeout = \"3s\"", "timeout = \"three seconds\"");
    let p = problems(&text);
    let line = text.lines().position(|l| l.starts_with("timeout")).unwrap() + 1;
    assert!(
        p[0].starts_with(&format!("departments/hpf.toml:{line}:")),
        "{p:?}"
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
[department]
id = "hpf"
name = "x"

[[services]]
id = "accounts"
instances = [{ addr = "not-an-address" }, { addr = "127.0.0.1:1" }, { addr = "127.0.0.1:1" }]

[[routes]]
id = "a"
template = "/x/{id}/{id}"
service = "nope"

[[routes]]
id = "a"
path = "/y"
split = [{ service = "accounts", weight = 0 }]

[[routes]]
id = "c"
path = "/y"
service = "accounts"
methods = ["get"]
"#;
    let p = problems(text);
    let joined = p.join("\n");
    for needle in [
        "not ip:port",
        "duplicate instance",
        "appears twice",
        "unknown service `nope`",
        "duplicate route id `a`",
        "split weights sum to zero",
        "unknown method `get`",
    ] {
        assert!(joined.contains(needle), "missing `{needle}` in:\n{joined}");
    }
    // Each is located on its own line.
    let addr_line = text
        .lines()
        .position(|l| l.contains("not-an-address"))
        .unwrap()
        + 1;
    assert!(
        joined.contains(&format!("hpf.toml:{addr_line}:")),
        "{joined}"
    );
}

#[test]
fn identical_matches_are_rejected_across_files() {
    let other = HPF.replace("id = \"hpf\"", "id = \"hpf2\"");
    let err = parse_sources(
        None,
        vec![Source::new("a.toml", HPF), Source::new("b.toml", other)],
    )
    .unwrap_err();
    let joined = err.to_string();
    assert!(joined.contains("b.toml:"), "{joined}");
    assert!(
        joined.contains("same match as route `balance` in a.toml"),
        "{joined}"
    );
}

#[test]
fn template_parameter_names_do_not_make_matches_distinct() {
    let text = format!(
        "{HPF}\n[[routes]]\nid = \"b2\"\ntemplate = \"/api/v1/depts/hpf/accounts/{{who}}\"\nmethods = [\"GET\"]\nservice = \"accounts\"\n"
    );
    let p = problems(&text);
    assert!(p.iter().any(|l| l.contains("same match")), "{p:?}");
}

#[test]
fn patterns_are_checked() {
    for (pattern, kind, needle) in [
        ("x/y", "path", "must start with /"),
        ("/a//b", "prefix", "normalised"),
        ("/a/../b", "path", "normalised"),
        ("/a/{x}", "path", "only allowed in a `template`"),
        ("/a/x{y}", "template", "whole `{name}`"),
        ("/a/b", "template", "no `{name}` parameter"),
    ] {
        let text = HPF.replace(
            "prefix = \"/api/v1/depts/hpf\"",
            &format!("{kind} = \"{pattern}\""),
        );
        let p = problems(&text).join("\n");
        assert!(p.contains(needle), "{pattern}: {p}");
    }
}

#[test]
fn citizen_param_must_be_a_template_parameter() {
    let text = HPF.replace("citizen_param = \"citizen\"", "citizen_param = \"who\"");
    assert!(problems(&text)[0].contains("citizen_param `who`"));
}

#[test]
fn load_dir_reads_gateway_and_departments() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("onestop.toml"),
        "[listeners]\npublic = \"127.0.0.1:18080\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("departments")).unwrap();
    std::fs::write(dir.path().join("departments/hpf.toml"), HPF).unwrap();
    std::fs::write(dir.path().join("departments/README.md"), "not toml").unwrap();
    let config = load_path(dir.path()).unwrap();
    assert_eq!(config.gateway.listeners.public.port(), 18080);
    assert_eq!(config.departments.len(), 1);
    assert!(load_path(&dir.path().join("missing")).is_err());
}

/// A gRPC department whose service names `descriptor_set`.
fn grpc_dept(protocol: &str, descriptor: &str) -> String {
    format!(
        r#"
[department]
id = "tax"
name = "税务局"

[[services]]
id = "main"
protocol = "{protocol}"
instances = [{{ addr = "127.0.0.1:9001" }}]
descriptor_set = "{descriptor}"

[[routes]]
id = "summary"
path = "/onestop.sim.tax.v1.TaxBureau/GetTaxSummary"
service = "main"
"#
    )
}

fn dept_in(dir: &std::path::Path, text: &str) -> Result<Config, Diagnostics> {
    parse_sources(None, vec![Source::new(dir.join("tax.toml"), text)])
}

#[test]
fn descriptor_set_problems_are_reported_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("garbage.binpb"),
        b"\xff\xff\xff not protobuf",
    )
    .unwrap();
    // An empty set decodes, but serves no service.
    std::fs::write(dir.path().join("empty.binpb"), b"").unwrap();
    let line = grpc_dept("grpc", "x")
        .lines()
        .position(|l| l.starts_with("descriptor_set"))
        .unwrap()
        + 1;
    for (protocol, file, want) in [
        ("grpc", "missing.binpb", "descriptor_set: cannot read"),
        ("grpc", "garbage.binpb", "is not a FileDescriptorSet"),
        ("grpc", "empty.binpb", "onestop.sim.tax.v1.TaxBureau"),
        ("http", "empty.binpb", "descriptor_set is for gRPC services"),
    ] {
        let err = dept_in(dir.path(), &grpc_dept(protocol, file)).unwrap_err();
        let found = err
            .0
            .iter()
            .find(|d| d.message.contains(want))
            .unwrap_or_else(|| panic!("{file}: no problem with {want:?} in {err}"));
        assert_eq!(found.line, line, "{found}");
        assert_eq!(found.col, 18, "{found}");
    }
}
