//! Looking bindings up by verb and path.

#![allow(clippy::unwrap_used)]

mod common;

use common::{echo, sim_set, test_set};
use http::Method as Verb;
use onestop_transcode::{CompileError, Lookup, Table, compile};

fn routes() -> onestop_transcode::ServiceBindings {
    compile(test_set(), "onestop.test.v1.Routes").unwrap()
}

fn table() -> Table {
    Table::new([echo(), routes()]).unwrap()
}

/// `(method name, [(param, value)])` of a found lookup, or "405"/"404".
fn find(table: &Table, verb: Verb, path: &str) -> (String, Vec<(String, String)>) {
    match table.find(&verb, path) {
        Lookup::Found { method, params, .. } => (
            method.name.clone(),
            params
                .into_iter()
                .map(|(f, v)| (f.to_string(), v))
                .collect(),
        ),
        Lookup::MethodNotAllowed => ("405".into(), vec![]),
        Lookup::NotFound => ("404".into(), vec![]),
    }
}

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn finds_annotated_and_default_bindings() {
    let t = table();
    let cases = [
        (
            Verb::GET,
            "/v1/shelves/s1/things/t1",
            "GetThing",
            p(&[("shelf", "s1"), ("ref.id", "t1")]),
        ),
        (
            Verb::GET,
            "/v1/things/t%201",
            "GetThing",
            p(&[("ref.id", "t 1")]),
        ),
        (
            Verb::POST,
            "/v1/shelves/s1/things/t1:get",
            "GetThing",
            p(&[("shelf", "s1"), ("ref.id", "t1")]),
        ),
        (
            Verb::GET,
            "/v1/resources/a/b",
            "GetResource",
            p(&[("name", "resources/a/b")]),
        ),
        (
            Verb::POST,
            "/v1/shelves/s1/things",
            "CreateThing",
            p(&[("shelf", "s1")]),
        ),
        (
            Verb::PATCH,
            "/v1/things/t1",
            "UpdateThing",
            p(&[("id", "t1")]),
        ),
        (
            Verb::DELETE,
            "/v1/things/t1",
            "DeleteThing",
            p(&[("id", "t1")]),
        ),
        (
            Verb::from_bytes(b"PURGE").unwrap(),
            "/v1/things/t1",
            "DeleteThing",
            p(&[("id", "t1")]),
        ),
        (
            Verb::GET,
            "/v1/shelves/s1/things:watch",
            "WatchThings",
            p(&[("shelf", "s1")]),
        ),
        (
            Verb::GET,
            "/v1/shelves/s1/things/t1/tags",
            "ListTags",
            p(&[("shelf", "s1"), ("ref.id", "t1")]),
        ),
        (
            Verb::PUT,
            "/v1/things/t1/parts",
            "AddParts",
            p(&[("id", "t1")]),
        ),
        (
            Verb::POST,
            "/api/v1/rpc/onestop.test.v1.Echo/Plain",
            "Plain",
            p(&[]),
        ),
        // An empty segment still matches (missing path parameter).
        (
            Verb::GET,
            "/v1/shelves//things/t1",
            "GetThing",
            p(&[("shelf", ""), ("ref.id", "t1")]),
        ),
        // A custom `*` kind matches every verb.
        (Verb::DELETE, "/any/7", "AnyVerb", p(&[("id", "7")])),
        (Verb::GET, "/any/7", "AnyVerb", p(&[("id", "7")])),
    ];
    for (verb, path, want, params) in cases {
        assert_eq!(
            find(&t, verb.clone(), path),
            (want.to_owned(), params),
            "{verb} {path}"
        );
    }
}

#[test]
fn precedence() {
    let t = table();
    let cases = [
        // Only the rest template fits.
        ("/p/x/y/z", "ByRest"),
        ("/p", "ByRest"),
        // Rest and two variables fit: no `**` wins.
        ("/p/x/7", "ByTwo"),
        // More literal segments win.
        ("/p/x/latest", "ByLatest"),
        ("/p/fixed/latest", "ByFixed"),
        // Same rank: declaration order.
        ("/o/a/a", "FirstOfTie"),
        ("/o/b/a", "FirstOfTie"),
        ("/o/a/b", "SecondOfTie"),
    ];
    for (path, want) in cases {
        assert_eq!(find(&t, Verb::GET, path).0, want, "{path}");
    }
    // Declaration order across services follows the order given to the table.
    let (name, params) = find(&t, Verb::GET, "/p/fixed/latest");
    assert_eq!((name.as_str(), params), ("ByFixed", vec![]));
}

#[test]
fn method_not_allowed_vs_not_found() {
    let t = table();
    let cases = [
        (Verb::POST, "/v1/things/t1", "405"),
        (Verb::GET, "/v1/things/t1/parts", "405"),
        (Verb::GET, "/api/v1/rpc/onestop.test.v1.Echo/Plain", "405"),
        (Verb::POST, "/v1/shelves/s1/things:watch", "405"),
        (Verb::GET, "/v1/nothing/here", "404"),
        (Verb::GET, "/v1/things", "404"),
        (Verb::GET, "/v1/things/t1/", "404"),
        (Verb::GET, "/v1/shelves/s1/things:unwatch", "404"),
        (Verb::POST, "/api/v1/rpc/onestop.test.v1.Echo/Upload", "404"),
        (Verb::GET, "no-leading-slash", "404"),
        (Verb::GET, "", "404"),
    ];
    for (verb, path, want) in cases {
        assert_eq!(find(&t, verb.clone(), path).0, want, "{verb} {path}");
    }
}

#[test]
fn found_binding_is_the_matching_one() {
    let t = table();
    let Lookup::Found {
        method, binding, ..
    } = t.find(&Verb::POST, "/v1/shelves/s/things/t:get")
    else {
        panic!("not found");
    };
    assert_eq!(method.grpc_path, "/onestop.test.v1.Echo/GetThing");
    assert_eq!(
        binding.template.as_str(),
        "/v1/shelves/{shelf}/things/{ref.id}:get"
    );
    assert_eq!(binding.verb, Verb::POST);
}

#[test]
fn grpc_path_lookup() {
    let t = table();
    assert_eq!(
        t.method("/onestop.test.v1.Echo/Upload")
            .map(|m| m.name.as_str()),
        Some("Upload")
    );
    assert_eq!(
        t.method("/onestop.test.v1.Routes/ByRest")
            .map(|m| m.name.as_str()),
        Some("ByRest")
    );
    assert!(t.method("/onestop.test.v1.Echo/Nope").is_none());
    assert!(t.method("onestop.test.v1.Echo/Upload").is_none());
    assert_eq!(t.services().len(), 2);
}

#[test]
fn duplicate_binding_names_both_methods() {
    let clash = compile(test_set(), "onestop.test.v1.Clash").unwrap();
    let e = Table::new([routes(), clash]).unwrap_err();
    match &e {
        CompileError::DuplicateBinding {
            verb,
            template,
            first,
            second,
        } => {
            assert_eq!(verb, Verb::GET);
            assert_eq!(template, "/p/{version}/{id}");
            assert_eq!(first, "onestop.test.v1.Routes/ByTwo");
            assert_eq!(second, "onestop.test.v1.Clash/Other");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "GET /p/{version}/{id} is bound twice: by onestop.test.v1.Routes/ByTwo and by onestop.test.v1.Clash/Other"
    );
    // The same service twice.
    let e = Table::new([echo(), echo()]).unwrap_err();
    assert!(
        matches!(&e, CompileError::DuplicateService { service } if service == "onestop.test.v1.Echo"),
        "{e}"
    );
}

#[test]
fn sim_fleet_table() {
    let set = sim_set();
    let services: Vec<_> = set.services().map(|s| compile(set, &s).unwrap()).collect();
    let t = Table::new(services).unwrap();
    // Every binding of every method finds its own method back.
    for service in t.services() {
        for m in &service.methods {
            assert!(std::ptr::eq(t.method(&m.grpc_path).unwrap(), m));
        }
    }
    assert!(matches!(
        t.find(&Verb::GET, "/api/v1/nothing"),
        Lookup::NotFound
    ));
}
