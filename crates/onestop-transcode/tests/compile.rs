//! Descriptor sets and compiling services into bindings.

#![allow(clippy::unwrap_used)]

mod common;

use common::{echo, method, protoc, sim_set, test_set};
use onestop_transcode::{BodyRule, CompileError, Descriptors, compile};

fn summary(m: &onestop_transcode::Method) -> Vec<String> {
    m.bindings
        .iter()
        .map(|b| {
            let body = match &b.body {
                BodyRule::None => String::new(),
                BodyRule::Whole => " body=*".to_owned(),
                BodyRule::Field(f) => format!(" body={f}"),
            };
            let response = b
                .response_body
                .as_ref()
                .map(|f| format!(" response_body={f}"))
                .unwrap_or_default();
            format!("{} {}{body}{response}", b.verb, b.template)
        })
        .collect()
}

#[test]
fn decode_lists_services() {
    let services: Vec<String> = test_set().services().collect();
    assert!(services.contains(&"onestop.test.v1.Echo".to_owned()));
    assert!(services.contains(&"onestop.test.v1.Routes".to_owned()));
    assert!(services.contains(&"onestop.test.bad.v1.NoPattern".to_owned()));
    let sim: Vec<String> = sim_set().services().collect();
    for name in [
        "onestop.sim.traffic.v1.TrafficPolice",
        "onestop.sim.tax.v1.TaxBureau",
        "onestop.sim.health.v1.Hospital",
        "onestop.sim.medins.v1.MedicalInsurance",
    ] {
        assert!(sim.contains(&name.to_owned()), "{name} in {sim:?}");
    }
}

#[test]
fn decode_rejects_bad_sets() {
    let garbage = Descriptors::decode(b"\x0a\x05hello-not-a-set").unwrap_err();
    assert!(
        garbage.to_string().starts_with("invalid descriptor set: "),
        "{garbage}"
    );
    // Without --include_imports the imports are missing.
    let bytes = protoc(&["onestop/test/v1/echo.proto"], false, "no-imports");
    let e = Descriptors::decode(&bytes).unwrap_err().to_string();
    assert!(e.contains("google/api/annotations.proto"), "{e}");
}

#[test]
fn annotated_methods() {
    let svc = echo();
    assert_eq!(svc.service, "onestop.test.v1.Echo");
    let get = method(&svc, "GetThing");
    assert_eq!(get.grpc_path, "/onestop.test.v1.Echo/GetThing");
    assert_eq!(get.input.full_name(), "onestop.test.v1.GetThingRequest");
    assert_eq!(get.output.full_name(), "onestop.test.v1.Thing");
    assert!(!get.server_streaming && !get.client_streaming);
    assert_eq!(
        summary(get),
        [
            "GET /v1/shelves/{shelf}/things/{ref.id}",
            "GET /v1/things/{ref.id}",
            "POST /v1/shelves/{shelf}/things/{ref.id}:get body=*",
        ]
    );
    assert_eq!(
        summary(method(&svc, "GetResource")),
        ["GET /v1/{name=resources/**}"]
    );
    assert_eq!(
        summary(method(&svc, "CreateThing")),
        ["POST /v1/shelves/{shelf}/things body=thing"]
    );
    assert_eq!(
        summary(method(&svc, "UpdateThing")),
        ["PATCH /v1/things/{id} body=*"]
    );
    assert_eq!(
        summary(method(&svc, "ListTags")),
        ["GET /v1/shelves/{shelf}/things/{ref.id}/tags response_body=tags"]
    );
    assert_eq!(
        summary(method(&svc, "AddParts")),
        ["PUT /v1/things/{id}/parts body=parts response_body=main_part"]
    );
    assert_eq!(
        summary(method(&svc, "DeleteThing")),
        ["DELETE /v1/things/{id}", "PURGE /v1/things/{id}"]
    );
    let watch = method(&svc, "WatchThings");
    assert!(watch.server_streaming);
    assert_eq!(summary(watch), ["GET /v1/shelves/{shelf}/things:watch"]);
    assert_eq!(
        get.bindings[0]
            .template
            .variables()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["shelf", "ref.id"]
    );
}

#[test]
fn default_binding_without_annotation() {
    let svc = echo();
    let plain = method(&svc, "Plain");
    assert_eq!(
        summary(plain),
        ["POST /api/v1/rpc/onestop.test.v1.Echo/Plain body=*"]
    );
    assert_eq!(
        plain.bindings[0].template.literal_prefix(),
        "/api/v1/rpc/onestop.test.v1.Echo/Plain"
    );
    // Client streaming: reachable over gRPC only.
    let upload = method(&svc, "Upload");
    assert!(upload.client_streaming);
    assert!(upload.bindings.is_empty());
    assert_eq!(upload.grpc_path, "/onestop.test.v1.Echo/Upload");
}

#[test]
fn sim_services_compile() {
    let set = sim_set();
    for service in set.services() {
        let compiled = compile(set, &service).unwrap();
        assert_eq!(compiled.service, service);
        assert!(!compiled.methods.is_empty());
        for m in &compiled.methods {
            assert_eq!(m.grpc_path, format!("/{service}/{}", m.name));
            // No sim method streams from the client, so each has a binding.
            assert!(!m.bindings.is_empty(), "{}", m.grpc_path);
        }
    }
    let medins = compile(set, "onestop.sim.medins.v1.MedicalInsurance").unwrap();
    let claims = method(&medins, "ListClaims");
    assert!(claims.server_streaming);
    assert_eq!(claims.output.full_name(), "onestop.sim.medins.v1.Claim");
    // A leading dot is accepted, as in protobuf type references.
    assert!(compile(set, ".onestop.sim.medins.v1.MedicalInsurance").is_ok());
}

#[test]
fn unknown_service() {
    let e = compile(test_set(), "onestop.test.v1.Nope").unwrap_err();
    assert!(
        matches!(e, CompileError::UnknownService { ref service } if service == "onestop.test.v1.Nope")
    );
    assert_eq!(
        e.to_string(),
        "unknown service \"onestop.test.v1.Nope\": not in the descriptor set"
    );
}

#[test]
fn bad_annotations_name_the_method_and_problem() {
    let cases = [
        (
            "UnknownPathField",
            "Get",
            "no field \"nope\" in onestop.test.v1.GetThingRequest",
        ),
        (
            "UnknownNestedPathField",
            "Get",
            "no field \"nope\" in onestop.test.v1.Ref",
        ),
        (
            "MessagePathField",
            "Get",
            "field \"ref\" is a message onestop.test.v1.Ref, not a singular scalar field",
        ),
        (
            "RepeatedPathField",
            "Get",
            "field \"tags\" is a repeated string, not a singular scalar field",
        ),
        (
            "ThroughRepeatedPathField",
            "Get",
            "field \"parts\" of onestop.test.v1.Thing is not a singular message",
        ),
        (
            "UnknownBodyField",
            "Create",
            "body \"nope\": no field \"nope\" in onestop.test.v1.CreateThingRequest",
        ),
        (
            "UnknownResponseBody",
            "Create",
            "response_body \"nope\": no field \"nope\" in onestop.test.v1.Thing",
        ),
        (
            "TemplateSyntax",
            "Get",
            "path template \"/v1/{shelf\": unclosed '{' at offset 4",
        ),
        ("GetWithBody", "Get", "GET /v1/things must not have a body"),
        ("NoPattern", "Get", "google.api.http rule has no pattern"),
        (
            "NestedAdditional",
            "Get",
            "additional_bindings must not contain additional_bindings",
        ),
        (
            "BadAdditional",
            "Get",
            "path template \"/b/{missing}\": {missing}: no field \"missing\"",
        ),
    ];
    for (service, method, problem) in cases {
        let full = format!("onestop.test.bad.v1.{service}");
        let e = compile(test_set(), &full).unwrap_err();
        let text = e.to_string();
        let prefix = format!("{full}/{method}: ");
        assert!(text.starts_with(&prefix), "{service}: {text}");
        assert!(
            text.contains(problem),
            "{service}: {text} should contain {problem}"
        );
        match e {
            CompileError::Binding { method: m, .. } | CompileError::Template { method: m, .. } => {
                assert_eq!(m, format!("{full}/{method}"));
            }
            other => panic!("{service}: unexpected {other:?}"),
        }
    }
}
