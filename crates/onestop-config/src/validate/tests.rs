//! One test per kind of problem, each asserting the exact file, line and
//! column and the gist of the message; then one with every kind at once.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Diagnostics, Source, parse_sources};

/// A valid department: the line numbers below are relied on.
const HPF: &str = r#"[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "accounts"
instances = [{ addr = "127.0.0.1:9001" }]

[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/accounts/{citizen}"
methods = ["GET"]
service = "accounts"
"#;

const HPF_PATH: &str = "departments/hpf.toml";
const GW_PATH: &str = "onestop.toml";

fn token(c: char) -> String {
    c.to_string().repeat(64)
}

/// Every problem of a configuration made of a gateway file and department files.
fn check(gateway: Option<&str>, departments: &[(&str, &str)]) -> Vec<Diagnostic> {
    match parse_sources(
        gateway.map(|t| Source::new(GW_PATH, t)),
        departments
            .iter()
            .map(|(path, text)| Source::new(*path, *text))
            .collect(),
    ) {
        Ok(_) => Vec::new(),
        Err(Diagnostics(problems)) => problems,
    }
}

fn dept(text: &str) -> Vec<Diagnostic> {
    check(None, &[(HPF_PATH, text)])
}

fn gateway(text: &str) -> Vec<Diagnostic> {
    check(Some(text), &[(HPF_PATH, HPF)])
}

/// Asserts there is exactly one problem, at `file:line:col`, whose message contains `gist`.
#[track_caller]
fn only(problems: &[Diagnostic], file: &str, line: usize, col: usize, gist: &str) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    at(&problems[0], file, line, col, gist);
}

#[track_caller]
fn at(d: &Diagnostic, file: &str, line: usize, col: usize, gist: &str) {
    assert_eq!(
        (d.file.to_str().unwrap(), d.line, d.col),
        (file, line, col),
        "{d}"
    );
    assert!(d.message.contains(gist), "`{gist}` not in: {d}");
}

#[test]
fn the_base_configuration_is_valid() {
    assert_eq!(dept(HPF), vec![]);
    assert_eq!(gateway(""), vec![]);
}

// ---- parse errors ----------------------------------------------------------

#[test]
fn unknown_key_in_a_department_file() {
    let text = HPF.replace("methods = [", "methds = [");
    only(&dept(&text), HPF_PATH, 12, 1, "unknown field `methds`");
}

#[test]
fn unknown_key_in_the_gateway_file() {
    let p = gateway("[proxy]\nthreads = 2\ngrace = \"1s\"\n");
    only(&p, GW_PATH, 3, 1, "unknown field `grace`");
    let p = gateway("[stor]\nurl = \"sqlite:x.db\"\n");
    only(&p, GW_PATH, 1, 2, "unknown field `stor`");
}

#[test]
fn wrong_type_points_at_the_value() {
    let text = HPF.replace(
        "name = \"住房公积金管理中心\"",
        "name = \"x\"\nmax_concurrency = \"lots\"",
    );
    only(
        &dept(&text),
        HPF_PATH,
        4,
        19,
        "invalid type: string \"lots\"",
    );
    let p = gateway("[proxy]\nthreads = \"four\"\n");
    only(&p, GW_PATH, 2, 11, "invalid type: string \"four\"");
}

#[test]
fn bad_duration_points_at_the_value() {
    let text = HPF.replace(
        "service = \"accounts\"",
        "service = \"accounts\"\ntimeout = \"3 parsecs\"",
    );
    only(
        &dept(&text),
        HPF_PATH,
        14,
        11,
        "invalid value: string \"3 parsecs\", expected a duration",
    );
    let p = gateway("[registry]\nsync_interval = \"soon\"\n");
    only(&p, GW_PATH, 2, 17, "string \"soon\", expected a duration");
}

#[test]
fn missing_field_points_at_its_table() {
    let p = gateway(
        "[store]\nurl = \"sqlite:x.db\"\n\n[[operators]]\nname = \"a\"\nroles = [\"viewer\"]\n",
    );
    only(&p, GW_PATH, 4, 1, "missing field `token_sha256`");
    let text = HPF.replace("{ addr = \"127.0.0.1:9001\" }", "{ weight = 2 }");
    only(&dept(&text), HPF_PATH, 7, 14, "missing field `addr`");
}

#[test]
fn a_parse_error_in_one_file_does_not_hide_the_others() {
    let other = HPF.replace("\"hpf\"", "\"water\"").replace("9001", "x");
    let p = check(
        Some("[proxy]\nthreads = -1\n"),
        &[
            (HPF_PATH, "[department\n"),
            ("departments/water.toml", &other),
        ],
    );
    assert_eq!(p.len(), 3, "{p:#?}");
    at(&p[0], GW_PATH, 2, 11, "invalid value");
    at(&p[1], HPF_PATH, 1, 12, "");
    at(
        &p[2],
        "departments/water.toml",
        7,
        23,
        "`127.0.0.1:x` is not ip:port",
    );
}

// ---- departments, services, routes -----------------------------------------

#[test]
fn bad_regex_is_reported_at_the_pattern_with_the_regex_message() {
    let text = HPF.replace(
        "service = \"accounts\"",
        "service = \"accounts\"\nheaders = [{ name = \"x-app\", regex = \"(gov|ent\" }]",
    );
    only(
        &dept(&text),
        HPF_PATH,
        14,
        38,
        "route `balance`: header `x-app`: bad regex `(gov|ent`: unclosed group",
    );
}

#[test]
fn a_pattern_that_is_only_valid_once_wrapped_is_rejected() {
    // `\A(?:a)|(b)\z` would compile; `a)|(b` alone does not.
    let text = HPF.replace(
        "service = \"accounts\"",
        "service = \"accounts\"\nheaders = [{ name = \"x-app\", regex = \"a)|(b\" }]",
    );
    only(&dept(&text), HPF_PATH, 14, 38, "unopened group");
}

#[test]
fn header_value_and_regex_are_exclusive() {
    let text = HPF.replace(
        "service = \"accounts\"",
        "service = \"accounts\"\nheaders = [{ name = \"x-app\", value = \"gov\", regex = \"gov\" }]",
    );
    only(
        &dept(&text),
        HPF_PATH,
        14,
        53,
        "set either `value` or `regex`, not both",
    );
}

#[test]
fn header_value_with_a_control_character() {
    let text = HPF.replace(
        "service = \"accounts\"",
        "service = \"accounts\"\nheaders = [{ name = \"x-app\", value = \"a\\u0001b\" }]",
    );
    only(
        &dept(&text),
        HPF_PATH,
        10,
        6,
        "contains a control character",
    );
}

#[test]
fn duplicate_department_id_across_files() {
    let p = check(
        None,
        &[("departments/a.toml", HPF), ("departments/b.toml", HPF)],
    );
    // The second file's route also has the same match as the first's.
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        "departments/b.toml",
        2,
        6,
        "duplicate department id `hpf` (also in departments/a.toml)",
    );
    at(&p[1], "departments/b.toml", 10, 6, "same match");
}

#[test]
fn duplicate_service_id() {
    let text = HPF.replace(
        "\n[[routes]]",
        "\n[[services]]\nid = \"accounts\"\ninstances = [{ addr = \"127.0.0.1:9002\" }]\n\n[[routes]]",
    );
    only(
        &dept(&text),
        HPF_PATH,
        10,
        6,
        "duplicate service id `accounts` in department `hpf`",
    );
}

#[test]
fn duplicate_route_id() {
    let text =
        format!("{HPF}\n[[routes]]\nid = \"balance\"\npath = \"/other\"\nservice = \"accounts\"\n");
    only(
        &dept(&text),
        HPF_PATH,
        16,
        6,
        "duplicate route id `balance` in department `hpf`",
    );
}

#[test]
fn two_routes_with_the_same_match_in_one_file() {
    let text = format!(
        "{HPF}\n[[routes]]\nid = \"again\"\ntemplate = \"/api/v1/depts/hpf/accounts/{{who}}\"\nmethods = [\"GET\"]\nservice = \"accounts\"\n"
    );
    only(
        &dept(&text),
        HPF_PATH,
        16,
        6,
        "route `again` has the same match as route `balance` in departments/hpf.toml",
    );
}

#[test]
fn two_routes_with_the_same_match_across_files() {
    let water = HPF.replace("id = \"hpf\"", "id = \"water\"");
    let p = check(None, &[(HPF_PATH, HPF), ("departments/water.toml", &water)]);
    only(
        &p,
        "departments/water.toml",
        10,
        6,
        "route `balance` has the same match as route `balance` in departments/hpf.toml",
    );
}

#[test]
fn routes_differing_only_by_header_regex_are_distinct() {
    let text = format!(
        "{HPF}\n[[routes]]\nid = \"canary\"\ntemplate = \"/api/v1/depts/hpf/accounts/{{c}}\"\nmethods = [\"GET\"]\nheaders = [{{ name = \"x-app\", regex = \"a.*\" }}]\nservice = \"accounts\"\n\n[[routes]]\nid = \"canary2\"\ntemplate = \"/api/v1/depts/hpf/accounts/{{c}}\"\nmethods = [\"GET\"]\nheaders = [{{ name = \"x-app\", regex = \"b.*\" }}]\nservice = \"accounts\"\n"
    );
    assert_eq!(dept(&text), vec![]);
}

#[test]
fn reference_to_an_unknown_service() {
    let text = HPF.replace("service = \"accounts\"", "service = \"acounts\"");
    only(
        &dept(&text),
        HPF_PATH,
        13,
        11,
        "route `balance` refers to unknown service `acounts`",
    );
}

#[test]
fn split_weights_summing_to_zero() {
    let text = HPF.replace(
        "service = \"accounts\"",
        "split = [{ service = \"accounts\", weight = 0 }]",
    );
    only(
        &dept(&text),
        HPF_PATH,
        10,
        6,
        "route `balance`: split weights sum to zero",
    );
}

#[test]
fn bad_address() {
    let text = HPF.replace("127.0.0.1:9001", "accounts.hpf.local:9001");
    only(
        &dept(&text),
        HPF_PATH,
        7,
        23,
        "instance address `accounts.hpf.local:9001` is not ip:port (host names are not resolved)",
    );
}

// ---- the gateway file: positions of its settings ---------------------------

#[test]
fn listeners_sharing_an_address_point_at_the_second() {
    let p = gateway("[listeners]\npublic = \"127.0.0.1:7000\"\nadmin = \"127.0.0.1:7000\"\n");
    only(&p, GW_PATH, 3, 9, "`127.0.0.1:7000` is used twice");
    // The default it collides with is not in the file: the one that is.
    let p = gateway("[listeners]\npublic = \"127.0.0.1:9090\"\n");
    only(&p, GW_PATH, 2, 10, "`127.0.0.1:9090` is used twice");
}

#[test]
fn retry_budget_and_defaults_point_at_their_values() {
    let p = gateway(
        "[defaults]\nconnect_timeout = \"0s\"\n\n[retry_budget]\nttl = \"2m\"\nratio = 1.5\n",
    );
    assert_eq!(p.len(), 3, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        6,
        9,
        "retry_budget.ratio must be between 0 and 1, got 1.5",
    );
    at(
        &p[1],
        GW_PATH,
        5,
        7,
        "retry_budget.ttl must be between 1s and 60s",
    );
    at(
        &p[2],
        GW_PATH,
        2,
        19,
        "defaults.connect_timeout must be positive",
    );
}

#[test]
fn dotted_keys_and_inline_tables_are_located_too() {
    let p = gateway("store.max_connections = 0\nregistry = { zombie_window = \"0s\" }\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        1,
        25,
        "store.max_connections must be at least 1",
    );
    at(
        &p[1],
        GW_PATH,
        2,
        30,
        "registry.zombie_window must be positive",
    );
}

#[test]
fn a_problem_with_no_key_in_the_file_is_at_1_1() {
    let mut config = Config::default();
    config.gateway.store.max_connections = 0;
    let p = validate(&config);
    only(&p, GW_PATH, 1, 1, "store.max_connections");
}

#[test]
fn locate_falls_back_to_the_deepest_key_present() {
    let text = "# registry\n[registry]\nmin_lease_ttl = \"1s\"\n";
    let doc = GatewayDoc {
        file: GW_PATH.into(),
        text,
        tree: OnceCell::new(),
    };
    let pos = |paths: &[&str]| doc.locate(paths).map(|o| line_col(text, o));
    assert_eq!(pos(&["registry.min_lease_ttl"]), Some((3, 17)));
    assert_eq!(pos(&["registry.zombie_window"]), Some((2, 2)));
    assert_eq!(
        pos(&["registry.zombie_window", "registry.min_lease_ttl"]),
        Some((3, 17))
    );
    assert_eq!(pos(&["store.url"]), None);
    // A path through a value stops at that value's key.
    assert_eq!(pos(&["registry.min_lease_ttl.deeper"]), Some((3, 1)));
}

// ---- [store] -----------------------------------------------------------------

#[test]
fn store_url_schemes() {
    for url in [
        "sqlite:onestop.db",
        "sqlite:///var/lib/onestop/onestop.db",
        "postgres://onestop:secret@db:5432/onestop",
        "postgresql://db/onestop",
    ] {
        assert_eq!(
            gateway(&format!("[store]\nurl = \"{url}\"\n")),
            vec![],
            "{url}"
        );
    }
    let p = gateway("[store]\nurl = \"mysql://root:hunter2@db/onestop\"\n");
    only(
        &p,
        GW_PATH,
        2,
        7,
        "store.url must be `sqlite:PATH` or `postgres://…` (got scheme `mysql`)",
    );
    assert!(
        !p[0].message.contains("hunter2"),
        "the password leaked: {}",
        p[0]
    );
    only(
        &gateway("[store]\nurl = \"onestop.db\"\n"),
        GW_PATH,
        2,
        7,
        "(got no scheme)",
    );
    only(
        &gateway("[store]\nurl = \"sqlite:\"\n"),
        GW_PATH,
        2,
        7,
        "store.url names no database",
    );
}

#[test]
fn store_connections_and_timeout() {
    let p = gateway("[store]\nmax_connections = 0\ntimeout = \"0s\"\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        2,
        19,
        "store.max_connections must be at least 1",
    );
    at(&p[1], GW_PATH, 3, 11, "store.timeout must be positive");
}

#[test]
fn redis_timeout_is_bounded() {
    for bad in ["0s", "11s"] {
        only(
            &gateway(&format!("[rate_limits]\nredis_timeout = \"{bad}\"\n")),
            GW_PATH,
            2,
            17,
            &format!("rate_limits.redis_timeout ({bad}) must be positive and at most 10s"),
        );
    }
    assert!(gateway("[rate_limits]\nredis_timeout = \"250ms\"\n").is_empty());
}

// ---- [registry] ----------------------------------------------------------------

#[test]
fn registry_lease_ttls_must_be_ordered() {
    let p = gateway("[registry]\nmin_lease_ttl = \"20s\"\n");
    only(
        &p,
        GW_PATH,
        2,
        17,
        "registry.default_lease_ttl (10s) must be at least min_lease_ttl (20s)",
    );
    let p = gateway("[registry]\nmax_lease_ttl = \"5s\"\n");
    only(
        &p,
        GW_PATH,
        2,
        17,
        "registry.default_lease_ttl (10s) must be at most max_lease_ttl (5s)",
    );
    let p = gateway("[registry]\ndefault_lease_ttl = \"1h\"\n");
    only(&p, GW_PATH, 2, 21, "must be at most max_lease_ttl (5m)");
}

#[test]
fn registry_durations_must_be_positive() {
    let p = gateway("[registry]\nmin_lease_ttl = \"0s\"\nzombie_window = \"0s\"\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        2,
        17,
        "registry.min_lease_ttl must be positive",
    );
    at(
        &p[1],
        GW_PATH,
        3,
        17,
        "registry.zombie_window must be positive",
    );
}

#[test]
fn registry_sync_interval_bounds_and_metadata() {
    for (interval, ok) in [
        ("49ms", false),
        ("50ms", true),
        ("60s", true),
        ("61s", false),
    ] {
        let p = gateway(&format!("[registry]\nsync_interval = \"{interval}\"\n"));
        if ok {
            assert_eq!(p, vec![], "{interval}");
        } else {
            only(
                &p,
                GW_PATH,
                2,
                17,
                "registry.sync_interval must be between 50ms and 60s",
            );
        }
    }
    let p = gateway("[registry]\nmax_metadata_bytes = 0\n");
    only(
        &p,
        GW_PATH,
        2,
        22,
        "registry.max_metadata_bytes must be at least 1",
    );
}

// ---- [[operators]] ---------------------------------------------------------------

fn operator(name: &str, roles: &str, token: &str, departments: &str) -> String {
    format!(
        "[[operators]]\nname = \"{name}\"\nroles = {roles}\ntoken_sha256 = \"{token}\"\ndepartments = {departments}\n"
    )
}

#[test]
fn valid_operators() {
    let text = [
        operator(
            "alice",
            "[\"viewer\", \"editor\"]",
            &token('a'),
            "[\"hpf\"]",
        ),
        operator("bob", "[\"approver\"]", &token('b'), "[]"),
    ]
    .join("\n");
    assert_eq!(gateway(&text), vec![]);
    let config = parse_sources(
        Some(Source::new(GW_PATH, text)),
        vec![Source::new(HPF_PATH, HPF)],
    )
    .unwrap();
    let alice = &config.gateway.operators[0];
    assert_eq!(alice.roles, vec![crate::Role::Viewer, crate::Role::Editor]);
    assert_eq!(alice.departments[0].get_ref(), "hpf");
    assert!(config.gateway.operators[1].departments.is_empty());
}

#[test]
fn duplicate_operator_names() {
    let text = [
        operator("alice", "[\"viewer\"]", &token('a'), "[]"),
        operator("alice", "[\"editor\"]", &token('b'), "[]"),
    ]
    .join("\n");
    only(&gateway(&text), GW_PATH, 8, 8, "duplicate operator `alice`");
}

#[test]
fn operator_name_follows_the_id_rules() {
    let text = operator("Alice Smith", "[\"viewer\"]", &token('a'), "[]");
    only(
        &gateway(&text),
        GW_PATH,
        2,
        8,
        "operator name `Alice Smith` must be 1-32 characters of a-z, 0-9 and -",
    );
}

#[test]
fn operator_roles_at_least_one_and_no_duplicates() {
    let p = gateway(&operator("alice", "[]", &token('a'), "[]"));
    only(
        &p,
        GW_PATH,
        3,
        9,
        "operator `alice` needs at least one role",
    );
    let p = gateway(&operator(
        "alice",
        "[\"editor\", \"viewer\", \"editor\"]",
        &token('a'),
        "[]",
    ));
    only(
        &p,
        GW_PATH,
        3,
        9,
        "operator `alice` lists role `editor` twice",
    );
    let p = gateway(&operator("alice", "[\"root\"]", &token('a'), "[]"));
    only(&p, GW_PATH, 3, 10, "unknown variant `root`");
}

#[test]
fn operator_token_must_be_a_sha256() {
    for bad in [
        token('a')[..63].to_string(),
        token('A'),
        format!("{}g", &token('a')[..63]),
        "s3cret-token".to_string(),
    ] {
        let p = gateway(&operator("alice", "[\"viewer\"]", &bad, "[]"));
        only(
            &p,
            GW_PATH,
            4,
            16,
            "operator `alice`: token_sha256 must be 64 lower-case hex characters",
        );
        assert!(!p[0].message.contains(&bad), "the token leaked: {}", p[0]);
    }
}

#[test]
fn two_operators_with_the_same_token_hash() {
    let text = [
        operator("alice", "[\"viewer\"]", &token('c'), "[]"),
        operator("bob", "[\"editor\"]", &token('d'), "[]"),
        operator("carol", "[\"editor\"]", &token('c'), "[]"),
    ]
    .join("\n");
    only(
        &gateway(&text),
        GW_PATH,
        16,
        16,
        "operator `carol` has the same token_sha256 as operator `alice`",
    );
}

#[test]
fn reference_to_an_unknown_department() {
    let text = operator(
        "alice",
        "[\"editor\"]",
        &token('a'),
        "[\"hpf\", \"nope\", \"hpf\"]",
    );
    let p = gateway(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        5,
        23,
        "operator `alice` refers to unknown department `nope`",
    );
    at(
        &p[1],
        GW_PATH,
        5,
        31,
        "operator `alice` lists department `hpf` twice",
    );
}

// ---- everything at once ------------------------------------------------------------

#[test]
fn every_problem_in_every_file_is_reported_at_once() {
    let gw = format!(
        "[store]\nurl = \"redis://x\"\n\n[registry]\nsync_interval = \"1ms\"\n\n{}",
        operator("ops", "[]", &token('e'), "[\"hpf\", \"tax\"]")
    );
    let water = r#"[department]
id = "water"
name = "水务集团"

[[services]]
id = "billing"
instances = [{ addr = "10.0.0.1" }]

[[services]]
id = "billing"

[[routes]]
id = "bill"
path = "/api/v1/depts/water/bill"
split = [{ service = "billing", weight = 0 }]
headers = [{ name = "x-channel", regex = "[" }]

[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/accounts/{who}"
methods = ["GET"]
service = "meters"
"#;
    let broken = "[department]\nid = \"tax\"\nname = \"税务局\"\nmax_concurency = 1\n";
    let p = check(
        Some(&gw),
        &[
            (HPF_PATH, HPF),
            ("departments/tax.toml", broken),
            ("departments/water.toml", water),
        ],
    );
    let got: Vec<(String, usize, usize)> = p
        .iter()
        .map(|d| (d.file.display().to_string(), d.line, d.col))
        .collect();
    let want: Vec<(&str, usize, usize, &str)> = vec![
        (
            "departments/tax.toml",
            4,
            1,
            "unknown field `max_concurency`",
        ),
        (GW_PATH, 2, 7, "got scheme `redis`"),
        (GW_PATH, 5, 17, "sync_interval must be between"),
        (GW_PATH, 9, 9, "needs at least one role"),
        // `tax` did not parse, so it is not a known department.
        (GW_PATH, 11, 23, "unknown department `tax`"),
        ("departments/water.toml", 7, 23, "`10.0.0.1` is not ip:port"),
        (
            "departments/water.toml",
            10,
            6,
            "duplicate service id `billing`",
        ),
        (
            "departments/water.toml",
            16,
            42,
            "bad regex `[`: unclosed character class",
        ),
        ("departments/water.toml", 13, 6, "split weights sum to zero"),
        ("departments/water.toml", 22, 11, "unknown service `meters`"),
        (
            "departments/water.toml",
            19,
            6,
            "same match as route `balance` in departments/hpf.toml",
        ),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(f, l, c, _)| (f.to_string(), *l, *c))
            .collect::<Vec<_>>(),
        "{p:#?}"
    );
    for (d, (_, _, _, gist)) in p.iter().zip(&want) {
        assert!(d.message.contains(gist), "`{gist}` not in: {d}");
    }
    // The rendered form is one `FILE:LINE:COL: message` line per problem.
    let rendered = Diagnostics(p).to_string();
    assert_eq!(rendered.lines().count(), want.len());
    assert!(
        rendered
            .lines()
            .next()
            .unwrap()
            .starts_with("departments/tax.toml:4:1: unknown field `max_concurency`"),
        "{rendered}"
    );
}

// ---- access: identity, channels, limits ------------------------------------

const ISSUER: &str = r#"[[identity.issuers]]
id = "idp"
issuer = "https://idp.example"
audiences = ["onestop"]
algorithms = ["RS256"]
jwks_file = "keys/idp.json"
"#;

#[test]
fn a_complete_access_section_is_valid() {
    let text = format!(
        "{ISSUER}\n[identity.dev_key]\nissuer = \"dev\"\nprivate_key_file = \"keys/dev.pem\"\nkid = \"d1\"\n\n\
         [[identity.issuers]]\nid = \"dev\"\nissuer = \"onestop-dev\"\naudiences = [\"onestop\"]\nalgorithms = [\"EdDSA\"]\n\n\
         [[channels]]\nid = \"super-app\"\nname = \"App\"\nkey_sha256 = \"{}\"\nroutes = [\"hpf/*\", \"*\"]\nrate_limit = {{ per_second = 100 }}\n\n\
         [signing]\nkey_file = \"keys/signing.key\"\n\n[limits]\nhosts = [\"gov.example\"]\nunknown_host = \"reject\"\n\n\
         [rate_limits]\nredis_url = \"redis://127.0.0.1:6379\"\nper_citizen = {{ per_second = 20, burst = 40 }}\n",
        token('a')
    );
    assert_eq!(gateway(&text), vec![]);
}

#[test]
fn issuers_need_keys_algorithms_and_unique_ids() {
    let p = gateway(
        "[[identity.issuers]]\nid = \"idp\"\nissuer = \"x\"\naudiences = [\"a\"]\nalgorithms = []\n",
    );
    assert_eq!(p.len(), 2, "{p:#?}");
    at(&p[0], GW_PATH, 5, 14, "at least one algorithm");
    at(&p[1], GW_PATH, 2, 6, "needs its keys");
    let p = gateway(&format!("{ISSUER}\n{ISSUER}"));
    only(&p, GW_PATH, 9, 6, "duplicate issuer `idp`");
    let p = gateway(&format!("{ISSUER}jwks_url = \"ftp://keys\"\n"));
    assert_eq!(p.len(), 2, "{p:#?}");
    at(&p[0], GW_PATH, 7, 12, "either jwks_file or jwks_url");
    at(&p[1], GW_PATH, 7, 12, "http:// or https://");
}

#[test]
fn algorithms_are_pinned_to_asymmetric_ones() {
    let p = gateway(&ISSUER.replace("[\"RS256\"]", "[\"HS256\"]"));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, 5, "{p:#?}");
    assert!(p[0].message.contains("HS256"), "{p:#?}");
}

#[test]
fn the_dev_key_names_an_eddsa_issuer() {
    let p = gateway(&format!(
        "{ISSUER}\n[identity.dev_key]\nissuer = \"nope\"\nprivate_key_file = \"k.pem\"\nkid = \"d\"\n"
    ));
    only(&p, GW_PATH, 9, 10, "unknown issuer `nope`");
    let p = gateway(&format!(
        "{ISSUER}\n[identity.dev_key]\nissuer = \"idp\"\nprivate_key_file = \"k.pem\"\nkid = \"d\"\n"
    ));
    only(&p, GW_PATH, 9, 10, "EdDSA");
}

#[test]
fn channels_have_unique_ids_and_keys_and_known_departments() {
    let ch = |id: &str, key: &str, routes: &str| {
        format!(
            "[[channels]]\nid = \"{id}\"\nname = \"n\"\nkey_sha256 = \"{key}\"\nroutes = [{routes}]\n"
        )
    };
    let p = gateway(&format!(
        "{}{}",
        ch("a", &token('a'), "\"hpf/*\""),
        ch("a", &token('a'), "\"water/bills\", \"hpf\"")
    ));
    assert_eq!(p.len(), 4, "{p:#?}");
    at(&p[0], GW_PATH, 7, 6, "duplicate channel `a`");
    at(&p[1], GW_PATH, 9, 14, "same key_sha256 as channel `a`");
    at(&p[2], GW_PATH, 10, 11, "unknown department `water`");
    at(
        &p[3],
        GW_PATH,
        10,
        26,
        "must be `*`, `dept/*` or `dept/route`",
    );
    let p = gateway(&ch("b", "not-a-hash", "\"*\""));
    only(&p, GW_PATH, 4, 14, "64 lower-case hex");
}

#[test]
fn limits_and_rate_limits_are_checked() {
    let p = gateway("[limits]\nmax_header_bytes = 10\nunknown_host = \"reject\"\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    at(&p[0], GW_PATH, 2, 20, "between 1024 and 1048575");
    at(&p[1], GW_PATH, 3, 16, "needs a list of limits.hosts");
    let p = gateway(
        "[limits]\nheader_timeout = \"10ms\"\nmax_connections = 10\nmax_connections_per_addr = 11\n",
    );
    assert_eq!(p.len(), 2, "{p:#?}");
    at(&p[0], GW_PATH, 2, 18, "at least 100ms");
    at(
        &p[1],
        GW_PATH,
        4,
        28,
        "between 1 and limits.max_connections (10)",
    );
    let p = gateway("[rate_limits]\nredis_url = \"http://x\"\nper_citizen = { per_second = 0 }\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    at(&p[0], GW_PATH, 2, 13, "redis://");
    at(&p[1], GW_PATH, 3, 15, "at least 1");
}

#[test]
fn citizen_routes_need_an_issuer() {
    let text = HPF.replace(
        "service = \"accounts\"\n",
        "service = \"accounts\"\nauth = \"citizen\"\ncitizen_param = \"citizen\"\n",
    );
    let p = dept(&text);
    only(
        &p,
        HPF_PATH,
        10,
        6,
        "auth = \"citizen\" but no [[identity.issuers]]",
    );
    let p = check(Some(ISSUER), &[(HPF_PATH, &text)]);
    assert_eq!(p, vec![]);
}

#[test]
fn forward_credentials_name_only_client_credentials() {
    let with = |extra: &str| {
        HPF.replace(
            "service = \"accounts\"\n",
            &format!("service = \"accounts\"\n{extra}"),
        )
    };
    let ok = with("forward_credentials = [\"authorization\", \"cookie\"]\n");
    assert_eq!(dept(&ok), vec![]);
    let p = dept(&with(
        "forward_credentials = [\"x-onestop-app-key\", \"cookie\", \"cookie\"]\n",
    ));
    assert_eq!(p.len(), 2, "{p:#?}");
    at(
        &p[0],
        HPF_PATH,
        10,
        6,
        "`x-onestop-app-key` cannot be passed through",
    );
    at(&p[1], HPF_PATH, 10, 6, "`cookie` is listed twice");
    let citizen = with(
        "auth = \"citizen\"\ncitizen_param = \"citizen\"\nforward_credentials = [\"authorization\"]\n",
    );
    let p = check(Some(ISSUER), &[(HPF_PATH, &citizen)]);
    assert_eq!(p.len(), 1, "{p:#?}");
    at(&p[0], HPF_PATH, 10, 6, "only an auth = \"public\" route");
}

#[test]
fn cache_policies_match_their_route() {
    let with = |extra: &str| {
        HPF.replace(
            "service = \"accounts\"\n",
            &format!("service = \"accounts\"\n{extra}"),
        )
    };
    let ok = with(
        "auth = \"citizen\"\ncache = { ttl = \"30s\", scope = \"citizen\", vary = [\"accept-language\"] }\n",
    );
    assert_eq!(check(Some(ISSUER), &[(HPF_PATH, &ok)]), vec![]);
    let shared = with("auth = \"citizen\"\ncache = { ttl = \"30s\" }\n");
    let p = check(Some(ISSUER), &[(HPF_PATH, &shared)]);
    only(&p, HPF_PATH, 10, 6, "use cache.scope = \"citizen\"");
    let anonymous = with("cache = { ttl = \"30s\", scope = \"citizen\" }\n");
    only(
        &dept(&anonymous),
        HPF_PATH,
        10,
        6,
        "needs auth = \"citizen\"",
    );
    let posted = with("cache = { ttl = \"0s\", vary = [\"bad header\"] }\n")
        .replace("methods = [\"GET\"]", "methods = [\"POST\"]");
    let p = dept(&posted);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(p[0].message.contains("cache.ttl must be positive"));
    assert!(p[1].message.contains("not a header name"));
    assert!(p[2].message.contains("only GET and HEAD"));
    let p = gateway("[cache]\nmax_bytes = 10\n");
    only(&p, GW_PATH, 2, 13, "at least 1 MiB");
}

// ---- the citizen overview ---------------------------------------------------

#[test]
fn an_overview_item_is_below_its_department_with_a_sane_deadline() {
    let with = |item: &str| {
        HPF.replace(
            "name = \"住房公积金管理中心\"",
            &format!("name = \"x\"\noverview = {item}"),
        )
    };
    let ok = with(r#"{ path = "/api/v1/depts/hpf/overview/me" }"#);
    assert_eq!(dept(&ok), vec![]);
    let parsed = parse_sources(None, vec![Source::new(HPF_PATH, ok)]).unwrap();
    let item = parsed.departments[0]
        .file
        .department
        .overview
        .clone()
        .unwrap();
    assert_eq!(item.get_ref().timeout, Duration::from_millis(800));

    let other = with(r#"{ path = "/api/v1/depts/water/overview/me" }"#);
    only(
        &dept(&other),
        HPF_PATH,
        4,
        12,
        "must be below `/api/v1/depts/hpf/`",
    );
    let dots = with(r#"{ path = "/api/v1/depts/hpf/../water/me" }"#);
    only(&dept(&dots), HPF_PATH, 4, 12, "plain path");
    let zero = with(r#"{ path = "/api/v1/depts/hpf/overview/me", timeout = "0s" }"#);
    only(&dept(&zero), HPF_PATH, 4, 12, "more than 0 and at most 10s");
    let long = with(r#"{ path = "/api/v1/depts/hpf/overview/me", timeout = "11s" }"#);
    only(&dept(&long), HPF_PATH, 4, 12, "at most 10s");
    let typo = with(r#"{ path = "/api/v1/depts/hpf/overview/me", timout = "1s" }"#);
    only(&dept(&typo), HPF_PATH, 4, 54, "unknown field `timout`");
}

/// A composite over hpf whose second step uses the first's answer.
const COMPOSITE: &str = r#"[[composite]]
id = "moving"
name = "迁居一件事"
input = [{ name = "address" }]

[[composite.steps]]
id = "first"
dept = "hpf"
path = "/api/v1/depts/hpf/applications/move"
body = { to = "{input.address}", who = "{citizen}" }
deadline = "5d"
compensate = { path = "/api/v1/depts/hpf/applications/move/{steps.first.application_id}/withdraw" }

[[composite.steps]]
id = "second"
dept = "hpf"
after = ["first"]
path = "/api/v1/depts/hpf/applications/notify/{steps.first.application_id}"
deadline = "1d"
"#;

#[test]
fn a_valid_composite_passes() {
    assert_eq!(gateway(COMPOSITE), Vec::new());
}

#[test]
fn composite_problems_are_located() {
    // An undeclared department (line 8, the value of `dept`).
    only(
        &gateway(&COMPOSITE.replacen("dept = \"hpf\"", "dept = \"nope\"", 1)),
        GW_PATH,
        8,
        8,
        "department `nope` is not declared",
    );
    // A path below another department's prefix.
    only(
        &gateway(&COMPOSITE.replacen(
            "path = \"/api/v1/depts/hpf/applications/move\"",
            "path = \"/api/v1/depts/tax/x\"",
            1,
        )),
        GW_PATH,
        9,
        8,
        "must be below `/api/v1/depts/hpf/`",
    );
    // A template naming an input that does not exist.
    only(
        &gateway(&COMPOSITE.replacen("{input.address}", "{input.adress}", 1)),
        GW_PATH,
        9,
        8,
        "`{input.adress}` names no input field",
    );
    // A step's answer used by a step that does not wait for it.
    only(
        &gateway(&COMPOSITE.replacen("after = [\"first\"]\n", "", 1)),
        GW_PATH,
        17,
        8,
        "not done before this one",
    );
    // A cycle.
    let cyclic = COMPOSITE.replacen(
        "deadline = \"5d\"",
        "deadline = \"5d\"\nafter = [\"second\"]",
        1,
    );
    let problems = gateway(&cyclic);
    assert!(
        problems.iter().any(|p| p.message.contains("form a cycle")),
        "{problems:#?}"
    );
    // Zero deadline and an unknown method.
    let problems = gateway(&COMPOSITE.replacen(
        "deadline = \"1d\"",
        "deadline = \"0s\"\nmethod = \"FETCH\"",
        1,
    ));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("deadline must be more than 0"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("unknown step method `FETCH`"))
    );
    // A zero lease.
    only(
        &gateway(&format!("[cases]\nlease = \"0s\"\n\n{COMPOSITE}")),
        GW_PATH,
        2,
        9,
        "cases.lease must be more than 0",
    );
}

#[test]
fn console_and_assessment_settings_are_bounded() {
    let p = gateway(
        "[assessment]\nrollup_interval = \"0s\"\ngauge_interval = \"2h\"\ngateway = \"a b\"\nutc_offset_hours = 15\n\n[console]\nsession_ttl = \"30s\"\nidle_timeout = \"2d\"\n",
    );
    assert_eq!(p.len(), 6, "{p:#?}");
    at(
        &p[0],
        GW_PATH,
        2,
        19,
        "assessment.rollup_interval must be between 1s and 5m",
    );
    at(
        &p[1],
        GW_PATH,
        3,
        18,
        "assessment.gauge_interval must be between 1s and 1h",
    );
    at(
        &p[2],
        GW_PATH,
        4,
        11,
        "assessment.gateway must be 1-64 characters",
    );
    at(
        &p[3],
        GW_PATH,
        5,
        20,
        "assessment.utc_offset_hours must be between -12 and 14",
    );
    at(
        &p[4],
        GW_PATH,
        8,
        15,
        "console.session_ttl must be between 1m and 24h",
    );
    at(
        &p[5],
        GW_PATH,
        9,
        16,
        "console.idle_timeout must be between 1m and 24h",
    );
    assert_eq!(
        gateway(
            "[assessment]\nrollup_interval = \"1s\"\nutc_offset_hours = -5\n\n[console]\nenabled = false\n"
        ),
        vec![]
    );
}

/// HPF with a data item (`hpf.account`: `balance`, `status`).
fn hpf_with_item() -> String {
    format!(
        "{HPF}\n[[data_items]]\nid = \"account\"\nname = \"公积金账户\"\nsharing = \"conditional\"\nfetch = \"/api/v1/depts/hpf/accounts/{{citizen}}\"\nfields = [{{ name = \"balance\", type = \"number\", sensitivity = \"personal\" }}, {{ name = \"status\", type = \"string\", sensitivity = \"internal\" }}]\n"
    )
}

/// A one-step composite whose step reads `hpf.account` as evidence.
const EVIDENCE: &str = r#"[[sharing.purposes]]
code = "loan-review"
name = "贷款审核"

[[composite]]
id = "loan"
name = "公积金贷款"

[[composite.steps]]
id = "apply"
dept = "hpf"
path = "/api/v1/depts/hpf/applications/loan"
deadline = "5d"
evidence = [{ name = "account", item = "hpf.account", fields = ["balance"], purpose = "loan-review" }]
"#;

#[test]
fn evidence_declarations_are_checked_at_their_line() {
    let hpf = hpf_with_item();
    let run = |gw: &str| check(Some(gw), &[(HPF_PATH, hpf.as_str())]);
    assert_eq!(run(EVIDENCE), Vec::new());
    // Unknown item, undeclared field, unknown purpose: line 14 each.
    let problems = run(&EVIDENCE.replacen("hpf.account", "hpf.nope", 1));
    only(&problems, GW_PATH, 14, 40, "unknown data item `hpf.nope`");
    let problems = run(&EVIDENCE.replacen("[\"balance\"]", "[\"balance\", \"pin\"]", 1));
    only(&problems, GW_PATH, 14, 76, "declares no field `pin`");
    let problems =
        run(&EVIDENCE.replacen("purpose = \"loan-review\"", "purpose = \"curiosity\"", 1));
    only(&problems, GW_PATH, 14, 87, "unknown purpose `curiosity`");
    // A bad purpose code in the list.
    let problems = run(&EVIDENCE.replacen("code = \"loan-review\"", "code = \"Loan Review\"", 1));
    assert!(
        problems
            .iter()
            .any(|p| p.line == 2 && p.message.contains("purpose code `Loan Review`")),
        "{problems:#?}"
    );
    // An evidence name that is also a form field.
    let problems = run(&EVIDENCE.replacen(
        "name = \"公积金贷款\"",
        "name = \"公积金贷款\"\ninput = [{ name = \"account\" }]",
        1,
    ));
    only(&problems, GW_PATH, 15, 22, "is also an input field");
}
