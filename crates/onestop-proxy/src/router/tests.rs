#![allow(clippy::unwrap_used)]

use super::*;

fn exact(p: &str) -> RouteMatch {
    m(PathPattern::Exact(p.into()))
}
fn prefix(p: &str) -> RouteMatch {
    m(PathPattern::Prefix(p.into()))
}
fn template(p: &str) -> RouteMatch {
    m(PathPattern::Template(p.into()))
}
fn m(path: PathPattern) -> RouteMatch {
    RouteMatch {
        path,
        methods: vec![],
        host: None,
        headers: vec![],
    }
}

fn find<'a>(table: &'a RouteTable<&'static str>, method: &str, path: &str) -> Option<&'a str> {
    find_with(table, method, None, &HeaderMap::new(), path)
}

fn find_with<'a>(
    table: &'a RouteTable<&'static str>,
    method: &str,
    host: Option<&str>,
    headers: &HeaderMap,
    path: &str,
) -> Option<&'a str> {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let req = RequestView {
        method: &method,
        host,
        path,
        headers,
    };
    table.find(&req).map(|m| *m.value)
}

#[test]
fn exact_beats_template_beats_prefix() {
    let t = RouteTable::new([
        (prefix("/api/v1/depts/hpf"), "prefix"),
        (template("/api/v1/depts/hpf/accounts/{citizen}"), "template"),
        (exact("/api/v1/depts/hpf/accounts/me"), "exact"),
    ]);
    assert_eq!(
        find(&t, "GET", "/api/v1/depts/hpf/accounts/me"),
        Some("exact")
    );
    assert_eq!(
        find(&t, "GET", "/api/v1/depts/hpf/accounts/110"),
        Some("template")
    );
    assert_eq!(
        find(&t, "GET", "/api/v1/depts/hpf/loans/110"),
        Some("prefix")
    );
    assert_eq!(find(&t, "GET", "/api/v1/depts/hpf"), Some("prefix"));
    assert_eq!(find(&t, "GET", "/api/v1/depts/hpfx"), None);
    assert_eq!(find(&t, "GET", "/api/v1/depts"), None);
}

#[test]
fn template_binds_parameters_in_order() {
    let t = RouteTable::new([(template("/a/{x}/b/{y}"), "t")]);
    let method = Method::GET;
    let headers = HeaderMap::new();
    let req = RequestView {
        method: &method,
        host: None,
        path: "/a/1/b/2",
        headers: &headers,
    };
    let hit = t.find(&req).unwrap();
    assert_eq!(hit.params.get(0), Some("1"));
    assert_eq!(hit.params.get(1), Some("2"));
    assert_eq!(hit.params.len(), 2);
    // A parameter never binds an empty segment or several segments.
    assert_eq!(find(&t, "GET", "/a//b/2"), None);
    assert_eq!(find(&t, "GET", "/a/1/x/b/2"), None);
    assert_eq!(find(&t, "GET", "/a/1/b/2/"), None);
}

#[test]
fn literal_segment_beats_parameter_with_backtracking() {
    let t = RouteTable::new([
        (template("/a/{x}/c"), "param-c"),
        (template("/a/b/{y}"), "lit-b"),
    ]);
    assert_eq!(find(&t, "GET", "/a/b/z"), Some("lit-b"));
    // `/a/b/c` could be either; the literal `b` wins at the second segment.
    assert_eq!(find(&t, "GET", "/a/b/c"), Some("lit-b"));
    // Backtracks from the literal branch when it does not complete.
    let t2 = RouteTable::new([
        (template("/a/{x}/c"), "param-c"),
        (template("/a/b/{y}/d"), "lit-b"),
    ]);
    assert_eq!(find(&t2, "GET", "/a/b/c"), Some("param-c"));
}

#[test]
fn longest_prefix_wins_and_root_prefix_catches_all() {
    let t = RouteTable::new([
        (prefix("/"), "root"),
        (prefix("/api"), "api"),
        (prefix("/api/v1/depts/"), "depts"),
    ]);
    assert_eq!(find(&t, "GET", "/api/v1/depts/x"), Some("depts"));
    assert_eq!(find(&t, "GET", "/api/v1/other"), Some("api"));
    assert_eq!(find(&t, "GET", "/elsewhere"), Some("root"));
    assert_eq!(find(&t, "GET", "/"), Some("root"));
}

#[test]
fn grpc_service_prefix() {
    let t = RouteTable::new([(prefix("/onestop.sim.traffic.v1.TrafficPolice/"), "traffic")]);
    assert_eq!(
        find(
            &t,
            "POST",
            "/onestop.sim.traffic.v1.TrafficPolice/ListViolations"
        ),
        Some("traffic")
    );
    assert_eq!(
        find(&t, "POST", "/onestop.sim.tax.v1.TaxBureau/GetTaxSummary"),
        None
    );
}

#[test]
fn method_host_and_header_constraints_fall_through() {
    let mut canary = HeaderMap::new();
    canary.insert("x-canary", HeaderValue::from_static("1"));
    let with_header = RouteMatch {
        headers: vec![(
            HeaderName::from_static("x-canary"),
            HeaderValueMatch::Exact(HeaderValue::from_static("1")),
        )],
        ..exact("/p")
    };
    let with_host = RouteMatch {
        host: Some("gov.example".into()),
        ..exact("/p")
    };
    let post_only = RouteMatch {
        methods: vec![Method::POST],
        ..exact("/p")
    };
    let t = RouteTable::new([
        (exact("/p"), "plain"),
        (post_only, "post"),
        (with_header, "canary"),
        (with_host, "host"),
    ]);
    let none = HeaderMap::new();
    assert_eq!(find_with(&t, "GET", None, &none, "/p"), Some("plain"));
    assert_eq!(find_with(&t, "POST", None, &none, "/p"), Some("post"));
    assert_eq!(find_with(&t, "GET", None, &canary, "/p"), Some("canary"));
    assert_eq!(
        find_with(&t, "GET", Some("GOV.example"), &canary, "/p"),
        Some("host")
    );
    // A method-restricted template falls through to a prefix for other methods.
    let t2 = RouteTable::new([
        (
            RouteMatch {
                methods: vec![Method::GET],
                ..template("/x/{id}")
            },
            "get",
        ),
        (prefix("/x"), "fallback"),
    ]);
    assert_eq!(find(&t2, "GET", "/x/1"), Some("get"));
    assert_eq!(find(&t2, "DELETE", "/x/1"), Some("fallback"));
}

fn with_header(name: &'static str, want: HeaderValueMatch, path: &str) -> RouteMatch {
    RouteMatch {
        headers: vec![(HeaderName::from_static(name), want)],
        ..exact(path)
    }
}

fn regex(pattern: &str) -> HeaderValueMatch {
    HeaderValueMatch::Regex(onestop_config::header_regex(pattern).unwrap())
}

fn header(name: &'static str, value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_bytes(value).unwrap());
    headers
}

#[test]
fn header_regex_matches_the_whole_value() {
    let t = RouteTable::new([
        (with_header("x-app", regex("gov-[a-z]+"), "/p"), "gov"),
        (with_header("x-app", regex("ent|corp"), "/p"), "ent"),
        (exact("/p"), "plain"),
    ]);
    let find_h = |value: &[u8]| find_with(&t, "GET", None, &header("x-app", value), "/p");
    assert_eq!(find_h(b"gov-web"), Some("gov"));
    assert_eq!(find_h(b"ent"), Some("ent"));
    assert_eq!(find_h(b"corp"), Some("ent"));
    // Anchored: a match inside the value is not enough, and alternation
    // does not escape the anchors.
    assert_eq!(find_h(b"xgov-web"), Some("plain"));
    assert_eq!(find_h(b"gov-web1"), Some("plain"));
    assert_eq!(find_h(b"entcorp"), Some("plain"));
    assert_eq!(find_h(b"corporate"), Some("plain"));
    // Header values are bytes, not necessarily UTF-8.
    assert_eq!(find_h(&[b'g', b'o', b'v', b'-', 0xe4]), Some("plain"));
    // No header: the regex routes are skipped.
    assert_eq!(find(&t, "GET", "/p"), Some("plain"));
}

#[test]
fn header_regex_over_non_utf8_bytes() {
    let t = RouteTable::new([(with_header("x-raw", regex("(?-u:\\xff)+"), "/p"), "raw")]);
    assert_eq!(
        find_with(&t, "GET", None, &header("x-raw", &[0xff, 0xff]), "/p"),
        Some("raw")
    );
    assert_eq!(
        find_with(&t, "GET", None, &header("x-raw", b"ff"), "/p"),
        None
    );
}

#[test]
fn header_regex_on_templates_and_prefixes_falls_through() {
    let t = RouteTable::new([
        (
            RouteMatch {
                headers: vec![(HeaderName::from_static("x-canary"), regex("[1-9][0-9]*"))],
                ..template("/a/{id}")
            },
            "canary",
        ),
        (template("/a/{id}"), "stable"),
        (
            RouteMatch {
                headers: vec![(HeaderName::from_static("x-app"), regex("gov"))],
                ..prefix("/b")
            },
            "b-gov",
        ),
        (prefix("/"), "root"),
    ]);
    let canary = header("x-canary", b"10");
    let zero = header("x-canary", b"0");
    let gov = header("x-app", b"gov");
    assert_eq!(find_with(&t, "GET", None, &canary, "/a/1"), Some("canary"));
    assert_eq!(find_with(&t, "GET", None, &zero, "/a/1"), Some("stable"));
    assert_eq!(find_with(&t, "GET", None, &gov, "/b/c"), Some("b-gov"));
    assert_eq!(find_with(&t, "GET", None, &canary, "/b/c"), Some("root"));
}

#[test]
fn any_exact_and_regex_values() {
    let value = HeaderValue::from_static("abc");
    assert!(HeaderValueMatch::Any.matches(&value));
    assert!(HeaderValueMatch::Exact(HeaderValue::from_static("abc")).matches(&value));
    assert!(!HeaderValueMatch::Exact(HeaderValue::from_static("ab")).matches(&value));
    assert!(regex("a.c").matches(&value));
    assert!(!regex("a.").matches(&value));
}

#[test]
fn declaration_order_breaks_remaining_ties() {
    let t = RouteTable::new([(exact("/p"), "first"), (exact("/p"), "second")]);
    assert_eq!(find(&t, "GET", "/p"), Some("first"));
}

#[test]
fn ten_thousand_routes_match_correctly() {
    let mut routes = Vec::new();
    for i in 0..10_000 {
        let value: &'static str = Box::leak(format!("r{i}").into_boxed_str());
        let matcher = match i % 3 {
            0 => exact(&format!("/api/v1/depts/d{}/items/{i}", i % 97)),
            1 => template(&format!("/api/v1/depts/d{}/t{i}/{{id}}", i % 97)),
            _ => prefix(&format!("/api/v1/depts/d{}/p{i}", i % 97)),
        };
        routes.push((matcher, value));
    }
    let t = RouteTable::new(routes);
    assert_eq!(t.len(), 10_000);
    for i in (0..10_000).step_by(7) {
        let path = match i % 3 {
            0 => format!("/api/v1/depts/d{}/items/{i}", i % 97),
            1 => format!("/api/v1/depts/d{}/t{i}/xyz", i % 97),
            _ => format!("/api/v1/depts/d{}/p{i}/deeper/still", i % 97),
        };
        let want = format!("r{i}");
        assert_eq!(find(&t, "GET", &path), Some(want.as_str()), "{path}");
    }
    assert_eq!(find(&t, "GET", "/api/v1/depts/d1/nothing"), None);
}
