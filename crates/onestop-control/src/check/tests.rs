use std::collections::BTreeMap;

use onestop_core::registry::{LbPolicy, RouteSpec};

use super::*;
use crate::view::ServedService;

const HPF: &str = r#"
[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "static"
instances = [{ addr = "127.0.0.1:9001" }]

[[routes]]
id = "loans"
path = "/api/v1/depts/hpf/loans"
service = "static"
"#;

const TRAFFIC: &str = r#"
[department]
id = "traffic"
name = "公安交通管理局"

[[services]]
id = "grpc"
protocol = "grpc"
instances = [{ addr = "127.0.0.1:9002" }]

[[routes]]
id = "police"
prefix = "/onestop.sim.traffic.v1.TrafficPolice"
service = "grpc"
"#;

fn files() -> config::Config {
    config::parse_sources(
        None,
        vec![
            config::Source::new("departments/hpf.toml", HPF),
            config::Source::new("departments/traffic.toml", TRAFFIC),
        ],
    )
    .expect("valid config")
}

fn route(id: &str, kind: PathMatchKind, pattern: &str) -> RouteSpec {
    RouteSpec {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        kind,
        pattern: pattern.into(),
        methods: vec!["GET".into()],
        citizen_param: None,
        timeout_ms: None,
        retries: None,
        auth: Default::default(),
        policy: Default::default(),
    }
}

fn spec(dept: &str, service: &str, routes: Vec<RouteSpec>) -> ServiceSpec {
    ServiceSpec {
        dept: dept.into(),
        service: service.into(),
        protocol: ServiceProtocol::Http,
        lb: LbPolicy::RoundRobin,
        health: None,
        routes,
        metadata: BTreeMap::new(),
        lease_ttl_ms: 10_000,
        descriptor_set: None,
    }
}

fn fields(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| format!("{p}")).collect()
}

#[test]
fn a_valid_registration_passes() {
    let s = spec(
        "hpf",
        "main",
        vec![route(
            "balance",
            PathMatchKind::Template,
            "/api/v1/depts/hpf/accounts/{citizen}",
        )],
    );
    assert_eq!(
        registration(&files(), &RegistryView::default(), &s, &[], 4096),
        []
    );
}

#[test]
fn unknown_departments_and_static_service_names_are_refused() {
    let p = registration(
        &files(),
        &RegistryView::default(),
        &spec("zz", "main", vec![]),
        &[],
        4096,
    );
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].field, "service.dept");
    assert!(p[0].message.contains("unknown department `zz`"));

    let p = registration(
        &files(),
        &RegistryView::default(),
        &spec("hpf", "static", vec![]),
        &[],
        4096,
    );
    assert_eq!(p[0].field, "service.service");

    let p = registration(
        &files(),
        &RegistryView::default(),
        &spec("hpf", "Bad Name", vec![]),
        &[],
        4096,
    );
    assert_eq!(p[0].field, "service.service");
}

#[test]
fn routes_stay_in_their_department() {
    let s = spec(
        "hpf",
        "main",
        vec![
            route("a", PathMatchKind::Exact, "/api/v1/depts/water/bills"),
            route("b", PathMatchKind::Prefix, "/api/v1/depts/hpfx"),
            route("c", PathMatchKind::Prefix, "/api/v1/depts/hpf"),
        ],
    );
    let p = registration(&files(), &RegistryView::default(), &s, &[], 4096);
    assert_eq!(
        fields(&p),
        [
            "service.routes[0].pattern: `/api/v1/depts/water/bills` must be under /api/v1/depts/hpf/",
            "service.routes[1].pattern: `/api/v1/depts/hpfx` must be under /api/v1/depts/hpf/",
        ]
    );
}

#[test]
fn grpc_services_belong_to_one_department() {
    let mut s = spec(
        "hpf",
        "rpc",
        vec![route(
            "steal",
            PathMatchKind::Prefix,
            "/onestop.sim.traffic.v1.TrafficPolice/",
        )],
    );
    s.protocol = ServiceProtocol::Grpc;
    let p = registration(&files(), &RegistryView::default(), &s, &[], 4096);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("belongs to department `traffic`"));

    s.routes = vec![route("x", PathMatchKind::Exact, "/not-a-service")];
    let p = registration(&files(), &RegistryView::default(), &s, &[], 4096);
    assert_eq!(p[0].field, "service.routes[0].pattern");

    s.routes = vec![route(
        "mine",
        PathMatchKind::Exact,
        "/onestop.hpf.v1.Accounts/GetBalance",
    )];
    assert_eq!(
        registration(&files(), &RegistryView::default(), &s, &[], 4096),
        []
    );
}

#[test]
fn collisions_with_files_and_other_registrations_are_refused() {
    // Same match as the static route `loans` (any method).
    let mut same = route("loans2", PathMatchKind::Exact, "/api/v1/depts/hpf/loans");
    same.methods.clear();
    let s = spec("hpf", "main", vec![same]);
    let p = registration(&files(), &RegistryView::default(), &s, &[], 4096);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("same match"), "{p:?}");

    // Same route id as a static route.
    let s = spec(
        "hpf",
        "main",
        vec![route(
            "loans",
            PathMatchKind::Exact,
            "/api/v1/depts/hpf/other",
        )],
    );
    let p = registration(&files(), &RegistryView::default(), &s, &[], 4096);
    assert!(p[0].message.contains("duplicate route id"), "{p:?}");

    // Same match as another approved registration; the service's own
    // approved version does not count.
    let other = spec(
        "hpf",
        "other",
        vec![route("x", PathMatchKind::Exact, "/api/v1/depts/hpf/x")],
    );
    let view = RegistryView {
        services: vec![ServedService {
            spec: other.clone(),
            approved_revision: 1,
            instances: vec![],
        }],
        department_tokens: BTreeMap::new(),
    };
    let s = spec(
        "hpf",
        "main",
        vec![route("y", PathMatchKind::Exact, "/api/v1/depts/hpf/x")],
    );
    assert_eq!(registration(&files(), &view, &s, &[], 4096).len(), 1);
    assert_eq!(registration(&files(), &view, &other, &[], 4096), []);
}

#[test]
fn metadata_size_is_bounded() {
    let mut s = spec("hpf", "main", vec![]);
    s.metadata.insert("k".into(), "v".repeat(100));
    let p = registration(&files(), &RegistryView::default(), &s, &[], 50);
    assert_eq!(fields(&p), ["service.metadata: 101 bytes, at most 50"]);
}

#[test]
fn grpc_service_names_parse() {
    assert_eq!(grpc_service_of("/a.B/"), Some("a.B"));
    assert_eq!(grpc_service_of("/a.b.C/Method"), Some("a.b.C"));
    assert_eq!(grpc_service_of("/a.B"), Some("a.B"));
    assert_eq!(grpc_service_of("/api/v1"), None);
    assert_eq!(grpc_service_of("/a.B/c/d"), None);
    assert_eq!(grpc_service_of("/a..B/"), None);
}

/// A length-delimited protobuf field.
fn ld(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A `FileDescriptorSet` of `onestop.hpf.v1.Accounts` with one method
/// `GetBalance(Req) returns (Req)`, without HTTP annotations.
fn accounts_descriptor_set() -> Vec<u8> {
    let method = [
        ld(1, b"GetBalance"),
        ld(2, b".onestop.hpf.v1.Req"),
        ld(3, b".onestop.hpf.v1.Req"),
    ]
    .concat();
    let service = [ld(1, b"Accounts"), ld(2, &method)].concat();
    let file = [
        ld(1, b"onestop/hpf/v1/accounts.proto"),
        ld(2, b"onestop.hpf.v1"),
        ld(4, &ld(1, b"Req")),
        ld(6, &service),
        ld(12, b"proto3"),
    ]
    .concat();
    ld(1, &file)
}

fn grpc_accounts(descriptor_set: Option<Vec<u8>>) -> ServiceSpec {
    let mut s = spec(
        "hpf",
        "rpc",
        vec![route(
            "accounts",
            PathMatchKind::Prefix,
            "/onestop.hpf.v1.Accounts/",
        )],
    );
    s.protocol = ServiceProtocol::Grpc;
    s.descriptor_set = descriptor_set.map(Into::into);
    s
}

#[test]
fn a_shipped_descriptor_set_is_checked_with_the_configuration() {
    let view = RegistryView::default();
    let ok = grpc_accounts(Some(accounts_descriptor_set()));
    assert_eq!(registration(&files(), &view, &ok, &[], 4096), []);
    // The merged service carries the set itself, not a file name.
    let (service, _) = merge::service_model(&ok, &[]);
    assert_eq!(service.descriptors, ok.descriptor_set);
    assert_eq!(service.descriptor_set, None);

    let garbage = grpc_accounts(Some(b"garbage".to_vec()));
    let p = registration(&files(), &view, &garbage, &[], 4096);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "service.descriptor_set", "{p:?}");
    assert!(p[0].message.contains("not a FileDescriptorSet"), "{p:?}");

    // A set that does not describe the routed service.
    let mut other = grpc_accounts(Some(accounts_descriptor_set()));
    other.routes[0].pattern = "/onestop.hpf.v1.Loans/".into();
    let p = registration(&files(), &view, &other, &[], 4096);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "service.descriptor_set", "{p:?}");
    assert!(p[0].message.contains("onestop.hpf.v1.Loans"), "{p:?}");

    // Without a set, nothing is transcoded and nothing checked.
    assert_eq!(
        registration(&files(), &view, &grpc_accounts(None), &[], 4096),
        []
    );
}

#[test]
fn route_policies_are_checked_with_the_files_messages() {
    let policy = "cache = { ttl = \"0s\" }";
    let file = format!(
        "{HPF}\n[[routes]]\nid = \"rates\"\npath = \"/api/v1/depts/hpf/rates\"\nservice = \"static\"\n{policy}\n"
    );
    let from_file = match config::parse_sources(
        None,
        vec![config::Source::new("departments/hpf.toml", file)],
    ) {
        Ok(_) => panic!("a zero TTL passed in a file"),
        Err(config::Diagnostics(problems)) => {
            problems.into_iter().map(|p| p.message).collect::<Vec<_>>()
        }
    };
    let mut r = route("rates", PathMatchKind::Exact, "/api/v1/depts/hpf/rates");
    r.policy = onestop_core::registry::RoutePolicySpec {
        toml: policy.into(),
        cache_public: true,
        data_item: None,
        forward_credentials: Vec::new(),
    };
    let problems = registration(
        &files(),
        &RegistryView::default(),
        &spec("hpf", "main", vec![r]),
        &[],
        4096,
    );
    let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    assert!(!from_file.is_empty());
    assert_eq!(messages, from_file, "{problems:?}");
    // Each problem names the route whose policy holds it.
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["service.routes[0].policy"; fields.len()]);
}

#[test]
fn a_policy_problem_names_its_route_and_a_clean_policy_is_not_blamed() {
    let mut clean = route("rates", PathMatchKind::Exact, "/api/v1/depts/hpf/rates");
    clean.policy = onestop_core::registry::RoutePolicySpec {
        toml: "max_body_bytes = 1024".into(),
        ..Default::default()
    };
    let mut bad = route("fees", PathMatchKind::Exact, "/api/v1/depts/hpf/fees");
    bad.policy = onestop_core::registry::RoutePolicySpec {
        toml: "data_item = \"no-such-item\"".into(),
        data_item: Some("no-such-item".into()),
        ..Default::default()
    };
    let problems = registration(
        &files(),
        &RegistryView::default(),
        &spec("hpf", "main", vec![clean, bad]),
        &[],
        4096,
    );
    assert!(!problems.is_empty());
    for p in &problems {
        assert_eq!(p.field, "service.routes[1].policy", "{problems:?}");
        assert!(p.message.contains("no-such-item"), "{problems:?}");
    }
}
