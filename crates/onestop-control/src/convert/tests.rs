use std::time::Duration;

use super::*;

const BOUNDS: LeaseBounds = LeaseBounds {
    default: Duration::from_secs(10),
    min: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

fn wire_spec() -> pb::ServiceSpec {
    pb::ServiceSpec {
        dept: "hpf".into(),
        service: "main".into(),
        protocol: pb::Protocol::Http as i32,
        lb: pb::LbPolicy::ConsistentHash as i32,
        health: Some(pb::HealthCheck {
            probe: Some(pb::health_check::Probe::Http(pb::HttpProbe {
                path: "/healthz".into(),
            })),
            interval_ms: 0,
            timeout_ms: 0,
        }),
        routes: vec![pb::Route {
            id: "balance".into(),
            name: "公积金余额查询".into(),
            description: String::new(),
            kind: pb::PathKind::Template as i32,
            pattern: "/api/v1/depts/hpf/accounts/{citizen}".into(),
            methods: vec!["GET".into()],
            citizen_param: "citizen".into(),
            timeout_ms: Some(0),
            auth: pb::AuthMode::Citizen as i32,
            policy: String::new(),
        }],
        metadata: [("owner".to_string(), "ops".to_string())].into(),
        lease_ttl_ms: 0,
        descriptor_set: Vec::new(),
    }
}

fn grpc_wire_spec(descriptor_set: Vec<u8>) -> pb::ServiceSpec {
    pb::ServiceSpec {
        protocol: pb::Protocol::Grpc as i32,
        lb: pb::LbPolicy::RoundRobin as i32,
        health: None,
        routes: vec![pb::Route {
            id: "summary".into(),
            name: "个税汇总".into(),
            kind: pb::PathKind::Prefix as i32,
            pattern: "/onestop.sim.tax.v1.TaxBureau/".into(),
            ..pb::Route::default()
        }],
        descriptor_set,
        ..wire_spec()
    }
}

#[test]
fn a_wire_spec_converts_with_defaults() {
    let spec = service_spec(Some(wire_spec()), BOUNDS).expect("valid");
    assert_eq!(spec.protocol, ServiceProtocol::Http);
    assert_eq!(spec.lb, LbPolicy::ConsistentHash);
    assert_eq!(spec.lease_ttl_ms, 10_000, "0 asks for the default TTL");
    let h = spec.health.as_ref().expect("health");
    assert_eq!((h.interval_ms, h.timeout_ms), (1000, 500));
    assert_eq!(
        h.probe,
        HealthProbeSpec::Http {
            path: "/healthz".into()
        }
    );
    let r = &spec.routes[0];
    assert_eq!(r.kind, PathMatchKind::Template);
    assert_eq!(r.citizen_param.as_deref(), Some("citizen"));
    assert_eq!(
        r.timeout_ms,
        Some(0),
        "0 means no deadline, not the default"
    );
    assert_eq!(spec.metadata["owner"], "ops");
    // And back onto the wire unchanged in meaning.
    let back = spec_to_pb(&spec);
    assert_eq!(back.routes[0].timeout_ms, Some(0));
    assert_eq!(back.lease_ttl_ms, 10_000);
    assert_eq!(service_spec(Some(back), BOUNDS).expect("valid"), spec);
}

#[test]
fn a_descriptor_set_round_trips_and_empty_is_none() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let spec = service_spec(Some(grpc_wire_spec(bytes.clone())), BOUNDS).expect("valid");
    assert_eq!(spec.protocol, ServiceProtocol::Grpc);
    assert_eq!(spec.descriptor_set.as_deref(), Some(bytes.as_slice()));
    let back = spec_to_pb(&spec);
    assert_eq!(back.descriptor_set, bytes);
    assert_eq!(service_spec(Some(back), BOUNDS).expect("valid"), spec);

    let none = service_spec(Some(grpc_wire_spec(Vec::new())), BOUNDS).expect("valid");
    assert_eq!(
        none.descriptor_set, None,
        "empty bytes are no descriptor set"
    );
    assert!(spec_to_pb(&none).descriptor_set.is_empty());
    assert_ne!(none.surface_hash(), spec.surface_hash());
    // An HTTP service without one converts as before.
    let http = service_spec(Some(wire_spec()), BOUNDS).expect("valid");
    assert_eq!(http.descriptor_set, None);
}

#[test]
fn a_descriptor_set_is_for_grpc_services_and_bounded() {
    let mut http = wire_spec();
    http.descriptor_set = vec![0x0a, 0x00];
    let problems = service_spec(Some(http), BOUNDS).expect_err("HTTP with a descriptor set");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "service.descriptor_set");
    assert!(problems[0].message.contains("gRPC"), "{problems:?}");

    let at_limit = vec![0u8; MAX_DESCRIPTOR_SET_BYTES];
    assert!(service_spec(Some(grpc_wire_spec(at_limit)), BOUNDS).is_ok());
    let too_big = vec![0u8; MAX_DESCRIPTOR_SET_BYTES + 1];
    let problems = service_spec(Some(grpc_wire_spec(too_big)), BOUNDS).expect_err("too big");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "service.descriptor_set");
    assert!(problems[0].message.contains("4194304"), "{problems:?}");
}

#[test]
fn every_wire_problem_is_reported_with_its_field() {
    let mut w = wire_spec();
    w.protocol = 0;
    w.lease_ttl_ms = 500;
    w.health = Some(pb::HealthCheck {
        probe: Some(pb::health_check::Probe::Http(pb::HttpProbe {
            path: "healthz".into(),
        })),
        interval_ms: 50,
        timeout_ms: 0,
    });
    w.routes[0].kind = 0;
    w.routes[0].timeout_ms = Some(700_000);
    let problems = service_spec(Some(w), BOUNDS).expect_err("invalid");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "service.protocol",
            "service.health.http.path",
            "service.health.interval_ms",
            "service.health.timeout_ms",
            "service.routes[0].kind",
            "service.routes[0].timeout_ms",
            "service.lease_ttl_ms",
        ]
    );
    assert_eq!(
        service_spec(None, BOUNDS).expect_err("missing")[0].field,
        "service"
    );
}

#[test]
fn instances_need_ip_port_without_duplicates() {
    let ok = instances(
        vec![
            pb::Instance {
                addr: "127.0.0.1:9001".into(),
                weight: 0,
            },
            pb::Instance {
                addr: "[::1]:9002".into(),
                weight: 5,
            },
        ],
        "instances",
    )
    .expect("valid");
    assert_eq!(ok[0].weight, 1);
    assert_eq!(ok[1].addr.port(), 9002);

    let problems = instances(
        vec![
            pb::Instance {
                addr: "hpf.gov.cn:80".into(),
                weight: 1,
            },
            pb::Instance {
                addr: "127.0.0.1:9001".into(),
                weight: 1,
            },
            pb::Instance {
                addr: "127.0.0.1:9001".into(),
                weight: MAX_WEIGHT + 1,
            },
            pb::Instance {
                addr: "0.0.0.0:80".into(),
                weight: 1,
            },
            pb::Instance {
                addr: "127.0.0.1:0".into(),
                weight: 1,
            },
        ],
        "instances",
    )
    .expect_err("invalid");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "instances[0].addr",
            "instances[2].weight",
            "instances[2].addr",
            "instances[3].addr",
            "instances[4].addr"
        ]
    );
    assert!(problems[0].message.contains("host names are not resolved"));
    assert!(problems[2].message.contains("duplicate"));
}

#[test]
fn renew_addresses_are_checked() {
    assert_eq!(
        addrs(&["127.0.0.1:1".into()], "addrs")
            .expect("valid")
            .len(),
        1
    );
    let p = addrs(&["x".into(), "127.0.0.1:1".into()], "addrs").expect_err("invalid");
    assert_eq!(p[0].field, "addrs[0]");
}
