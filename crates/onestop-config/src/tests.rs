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

#[test]
fn gateway_file_round_trips() {
    let gw = GatewayFile::default();
    let text = toml::to_string(&gw).unwrap();
    let back: GatewayFile = toml::from_str(&text).unwrap();
    assert_eq!(gw, back);
}

#[test]
fn department_file_round_trips() {
    let config = dept(HPF).unwrap();
    let file = &config.departments[0].file;
    let text = toml::to_string(file).unwrap();
    let back: DepartmentFile = toml::from_str(&text).unwrap();
    assert_eq!(file.department.id.get_ref(), back.department.id.get_ref());
    assert_eq!(file.routes.len(), back.routes.len());
    assert_eq!(file.routes[0].split.len(), back.routes[0].split.len());
    assert_eq!(
        file.services[0].instances[1].weight,
        back.services[0].instances[1].weight
    );
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
