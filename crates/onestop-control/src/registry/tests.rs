#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use onestop_core::registry::{LbPolicy, PathMatchKind, RouteSpec, ServiceProtocol};
use onestop_store::{SqlStore, StoreOptions};

use super::*;

const HPF: &str = "[department]\nid = \"hpf\"\nname = \"住房公积金管理中心\"\n";

fn files() -> Arc<config::Config> {
    let text = HPF;
    let water = "[department]\nid = \"water\"\nname = \"自来水公司\"\n";
    Arc::new(
        config::parse_sources(
            None,
            vec![
                config::Source::new("departments/hpf.toml", text),
                config::Source::new("departments/water.toml", water),
            ],
        )
        .unwrap(),
    )
}

fn settings() -> RegistrySettings {
    RegistrySettings {
        lease: LeaseBounds {
            default: Duration::from_secs(10),
            min: Duration::from_millis(100),
            max: Duration::from_secs(300),
        },
        sync_interval: Duration::from_millis(200),
        max_metadata_bytes: 4096,
    }
}

struct Fixture {
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    url: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("registry.db").display());
    let store: Arc<dyn Store> = Arc::new(
        SqlStore::connect(&url, StoreOptions::default())
            .await
            .unwrap(),
    );
    // A receiver keeps the last value when its sender is gone.
    let (_, rx) = watch::channel(files());
    let registry = Registry::new(store.clone(), settings(), rx);
    registry.sync_now().await.unwrap();
    Fixture {
        registry,
        store,
        _dir: dir,
        url,
    }
}

fn spec(routes: &[&str]) -> ServiceSpec {
    ServiceSpec {
        dept: "hpf".into(),
        service: "main".into(),
        protocol: ServiceProtocol::Http,
        lb: LbPolicy::RoundRobin,
        health: None,
        routes: routes
            .iter()
            .map(|r| RouteSpec {
                id: (*r).into(),
                name: (*r).into(),
                description: String::new(),
                kind: PathMatchKind::Exact,
                pattern: format!("/api/v1/depts/hpf/{r}"),
                methods: vec!["GET".into()],
                citizen_param: None,
                timeout_ms: None,
                retries: None,
                auth: Default::default(),
                policy: Default::default(),
            })
            .collect(),
        metadata: BTreeMap::new(),
        lease_ttl_ms: 10_000,
        descriptor_set: None,
    }
}

fn inst(port: u16) -> InstanceSpec {
    InstanceSpec {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        weight: 1,
    }
}

fn served(r: &Registry) -> Vec<(String, Vec<u16>, Vec<String>)> {
    r.view()
        .borrow()
        .services
        .iter()
        .map(|s| {
            (
                s.spec.key(),
                s.instances.iter().map(|i| i.addr.port()).collect(),
                s.spec.routes.iter().map(|r| r.id.clone()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pending_until_approved_then_served() {
    let f = fixture().await;
    let r = &f.registry;
    let out = r
        .register("hpf", spec(&["balance"]), vec![inst(9001), inst(9002)])
        .await
        .unwrap();
    assert_eq!(
        (out.revision, out.status, out.new_revision),
        (1, ApprovalStatus::Pending, true)
    );
    assert!(served(r).is_empty(), "a pending service gets no traffic");
    // Registering the same spec again changes nothing.
    let again = r
        .register("hpf", spec(&["balance"]), vec![inst(9001)])
        .await
        .unwrap();
    assert_eq!((again.revision, again.new_revision), (1, false));

    let wrong = r
        .decide("hpf", "main", 2, Verdict::Approve, "alice", "ok")
        .await;
    assert!(
        matches!(wrong, Err(RegistryError::Conflict(_))),
        "{wrong:?}"
    );
    let record = r
        .decide("hpf", "main", 1, Verdict::Approve, "alice", "备案通过")
        .await
        .unwrap();
    assert_eq!(record.status, ApprovalStatus::Approved);
    assert_eq!(
        served(r),
        [(
            "hpf/main".to_string(),
            vec![9001, 9002],
            vec!["balance".to_string()]
        )]
    );
    let decisions = r.decisions(Some("hpf"), 10).await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        (decisions[0].operator.as_str(), decisions[0].reason.as_str()),
        ("alice", "备案通过")
    );
    // Durable: a fresh registry on the same store serves the same.
    let (_tx, rx) = watch::channel(files());
    let second = Registry::new(f.store.clone(), settings(), rx);
    second.sync_now().await.unwrap();
    assert_eq!(served(&second), served(r));
}

#[tokio::test]
async fn surface_changes_wait_for_approval_while_the_old_surface_serves() {
    let f = fixture().await;
    let r = &f.registry;
    r.register("hpf", spec(&["balance"]), vec![inst(9001)])
        .await
        .unwrap();
    r.decide("hpf", "main", 1, Verdict::Approve, "alice", "")
        .await
        .unwrap();

    // Operational change: applies at once, stays approved.
    let mut ops = spec(&["balance"]);
    ops.lb = LbPolicy::Random;
    let out = r.register("hpf", ops, vec![]).await.unwrap();
    assert_eq!(
        (out.revision, out.status, out.new_revision),
        (2, ApprovalStatus::Approved, false)
    );
    assert_eq!(r.view().borrow().services[0].spec.lb, LbPolicy::Random);

    // A new route: pending, the approved surface keeps serving.
    let out = r
        .register("hpf", spec(&["balance", "loans"]), vec![])
        .await
        .unwrap();
    assert_eq!(
        (out.revision, out.status, out.new_revision),
        (3, ApprovalStatus::Pending, true)
    );
    assert_eq!(served(r)[0].2, ["balance"]);
    let rejected = r
        .decide(
            "hpf",
            "main",
            3,
            Verdict::Reject,
            "bob",
            "missing 备案 form",
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    assert_eq!(
        served(r)[0].2,
        ["balance"],
        "rejection keeps the approved surface"
    );

    // Back to the approved surface: approved again without a decision.
    let out = r.register("hpf", spec(&["balance"]), vec![]).await.unwrap();
    assert_eq!(out.status, ApprovalStatus::Approved);
}

#[tokio::test]
async fn departments_touch_only_their_own_services() {
    let f = fixture().await;
    let r = &f.registry;
    let denied = r
        .register("water", spec(&["balance"]), vec![inst(9001)])
        .await;
    assert!(matches!(denied, Err(RegistryError::PermissionDenied(_))));
    assert!(f.store.load_registry().await.unwrap().services.is_empty());

    r.register("hpf", spec(&["balance"]), vec![inst(9001)])
        .await
        .unwrap();
    assert!(matches!(
        r.renew("water", "hpf", "main", &[inst(9001).addr]),
        Err(RegistryError::PermissionDenied(_))
    ));
    assert!(matches!(
        r.deregister("water", "hpf", "main", &[]).await,
        Err(RegistryError::PermissionDenied(_))
    ));
    assert_eq!(r.services(Some("hpf")).len(), 1);
}

#[tokio::test]
async fn invalid_registrations_store_nothing() {
    let f = fixture().await;
    let mut bad = spec(&["balance"]);
    bad.routes[0].pattern = "/api/v1/depts/water/x".into();
    let err = f
        .registry
        .register("hpf", bad, vec![inst(9001)])
        .await
        .unwrap_err();
    let RegistryError::InvalidArgument(problems) = err else {
        panic!("{err:?}")
    };
    assert_eq!(problems[0].field, "service.routes[0].pattern");
    let rows = f.store.load_registry().await.unwrap();
    assert!(rows.services.is_empty() && rows.instances.is_empty());
}

#[tokio::test]
async fn leases_renew_and_lapse() {
    let f = fixture().await;
    let r = &f.registry;
    let mut s = spec(&["balance"]);
    s.lease_ttl_ms = 300;
    r.register("hpf", s, vec![inst(9001), inst(9002)])
        .await
        .unwrap();
    r.decide("hpf", "main", 1, Verdict::Approve, "alice", "")
        .await
        .unwrap();
    let unknown = SocketAddr::from(([127, 0, 0, 1], 9999));
    let started = Instant::now();
    // Renew only 9001 for a while; 9002 lapses.
    while started.elapsed() < Duration::from_millis(700) {
        let out = r
            .renew("hpf", "hpf", "main", &[inst(9001).addr, unknown])
            .unwrap();
        assert_eq!(out.renewed, [inst(9001).addr]);
        assert_eq!(out.unknown, [unknown]);
        r.sweep();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served(r)[0].1, [9001]);
    let states = r.services(Some("hpf"));
    assert_eq!(states[0].lapsed, [inst(9002)]);
    // A lapsed instance must register again.
    let out = r.renew("hpf", "hpf", "main", &[inst(9002).addr]).unwrap();
    assert_eq!(out.unknown, [inst(9002).addr]);
    // Renewals reach the store in batches.
    r.flush_renewals().await;
    let rows = f.store.load_registry().await.unwrap();
    let stored = rows
        .instances
        .iter()
        .find(|i| i.addr == "127.0.0.1:9001")
        .unwrap();
    assert!(
        stored.lease_expires_at > now_ms(),
        "the renewal was written"
    );
}

#[tokio::test]
async fn deregistering_removes_instances_then_the_service() {
    let f = fixture().await;
    let r = &f.registry;
    r.register("hpf", spec(&["balance"]), vec![inst(9001), inst(9002)])
        .await
        .unwrap();
    r.decide("hpf", "main", 1, Verdict::Approve, "alice", "")
        .await
        .unwrap();
    let (n, whole) = r
        .deregister("hpf", "hpf", "main", &[inst(9002).addr])
        .await
        .unwrap();
    assert_eq!((n, whole), (1, false));
    assert_eq!(served(r)[0].1, [9001]);
    let (_, whole) = r.deregister("hpf", "hpf", "main", &[]).await.unwrap();
    assert!(whole);
    assert!(served(r).is_empty());
    assert!(f.store.load_registry().await.unwrap().services.is_empty());
    assert!(matches!(
        r.deregister("hpf", "hpf", "main", &[]).await,
        Err(RegistryError::NotFound(_))
    ));
}

#[tokio::test]
async fn tokens_authenticate_until_revoked() {
    let f = fixture().await;
    let r = &f.registry;
    let issued = r.issue_token("hpf", "agent", "alice").await.unwrap();
    assert!(issued.token.starts_with("ost_hpf_"));
    assert_eq!(r.authenticate(&issued.token).as_deref(), Some("hpf"));
    assert_eq!(r.authenticate("ost_hpf_guess"), None);
    let listed = r.tokens(Some("hpf"));
    assert_eq!(listed.len(), 1);
    assert_ne!(
        listed[0].token_sha256, issued.token,
        "only the hash is kept"
    );
    // Another gateway on the same store learns it on sync.
    let (_tx, rx) = watch::channel(files());
    let other = Registry::new(
        Arc::new(
            SqlStore::connect(&f.url, StoreOptions::default())
                .await
                .unwrap(),
        ),
        settings(),
        rx,
    );
    other.sync_now().await.unwrap();
    assert_eq!(other.authenticate(&issued.token).as_deref(), Some("hpf"));
    r.revoke_token(issued.id).await.unwrap();
    assert_eq!(r.authenticate(&issued.token), None);
    other.sync_now().await.unwrap();
    assert_eq!(other.authenticate(&issued.token), None);
    assert!(matches!(
        r.issue_token("zz", "x", "alice").await,
        Err(RegistryError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn watchers_wake_on_changes() {
    let f = fixture().await;
    let r = &f.registry;
    let mut changes = r.subscribe();
    changes.borrow_and_update();
    r.register("hpf", spec(&["balance"]), vec![inst(9001)])
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
}

#[test]
fn next_record_rules() {
    let a = spec(&["balance"]);
    let first = next_record(None, &a, 5);
    assert_eq!(
        (
            first.record.revision,
            first.record.status,
            first.new_revision
        ),
        (1, ApprovalStatus::Pending, true)
    );
    let mut approved = first.record.clone();
    approved.status = ApprovalStatus::Approved;
    approved.approved_spec = Some(a.clone());
    approved.approved_revision = Some(1);
    assert!(!next_record(Some(&approved), &a, 6).changed);

    let mut ops = a.clone();
    ops.metadata.insert("k".into(), "v".into());
    let n = next_record(Some(&approved), &ops, 7);
    assert_eq!(n.record.status, ApprovalStatus::Approved);
    assert_eq!(n.record.approved_spec.as_ref(), Some(&ops));
    assert_eq!(n.record.updated_at, 7);

    let b = spec(&["balance", "loans"]);
    let n = next_record(Some(&approved), &b, 8);
    assert_eq!(
        (n.record.revision, n.record.status, n.new_revision),
        (2, ApprovalStatus::Pending, true)
    );
    assert_eq!(n.record.approved_spec.as_ref(), Some(&a));
    assert_eq!(n.record.approved_revision, Some(1));
}

#[test]
fn widening_policies_wait_and_narrowing_ones_apply() {
    let shared = |public: bool| {
        let mut s = spec(&["balance"]);
        s.routes[0].policy = onestop_core::registry::RoutePolicySpec {
            toml: "cache = { ttl = \"60s\" }".into(),
            cache_public: public,
            data_item: None,
            forward_credentials: Vec::new(),
        };
        s
    };
    let plain = spec(&["balance"]);
    let mut approved = next_record(None, &plain, 5).record;
    approved.status = ApprovalStatus::Approved;
    approved.approved_spec = Some(plain.clone());
    approved.approved_revision = Some(1);
    // A shared cache widens: pending; the approved form keeps serving.
    let wide = shared(true);
    let n = next_record(Some(&approved), &wide, 6);
    assert_eq!(
        (n.record.status, n.new_revision),
        (ApprovalStatus::Pending, true)
    );
    assert_eq!(n.record.approved_spec.as_ref(), Some(&plain));
    // Once approved, dropping back to no cache narrows: applied at once.
    let mut cached = n.record.clone();
    cached.status = ApprovalStatus::Approved;
    cached.approved_spec = Some(wide.clone());
    cached.approved_revision = Some(2);
    let n = next_record(Some(&cached), &plain, 7);
    assert_eq!(n.record.status, ApprovalStatus::Approved);
    assert_eq!(n.record.approved_spec.as_ref(), Some(&plain));
    // A citizen-scoped cache widens nothing either.
    let n = next_record(Some(&approved), &shared(false), 8);
    assert_eq!(n.record.status, ApprovalStatus::Approved);
    assert!(!n.new_revision);
}

#[test]
fn a_stricter_auth_applies_at_once_and_a_weaker_one_waits() {
    use onestop_core::registry::RouteAuth;
    let with_auth = |auths: &[RouteAuth]| {
        let mut s = spec(&["balance", "notices"]);
        for (r, a) in s.routes.iter_mut().zip(auths) {
            r.auth = *a;
        }
        s
    };
    let open = with_auth(&[RouteAuth::Public, RouteAuth::Public]);
    let mut approved = next_record(None, &open, 5).record;
    approved.status = ApprovalStatus::Approved;
    approved.approved_spec = Some(open.clone());
    approved.approved_revision = Some(1);
    // public -> citizen narrows: approved at once, and it is what serves.
    let strict = with_auth(&[RouteAuth::Citizen, RouteAuth::Public]);
    let n = next_record(Some(&approved), &strict, 6);
    assert_eq!(
        (n.record.status, n.new_revision),
        (ApprovalStatus::Approved, false)
    );
    assert_eq!(n.record.approved_spec.as_ref(), Some(&strict));
    assert_eq!(n.record.approved_revision, Some(n.record.revision));
    // citizen -> public widens: pending, the stricter form keeps serving.
    let n2 = next_record(Some(&n.record), &open, 7);
    assert_eq!(
        (n2.record.status, n2.new_revision),
        (ApprovalStatus::Pending, true)
    );
    assert_eq!(n2.record.approved_spec.as_ref(), Some(&strict));
    // Stricter auth together with another change of the surface: the
    // whole change waits.
    let mut strict_and_new = with_auth(&[RouteAuth::Citizen, RouteAuth::Citizen]);
    strict_and_new.routes[1].pattern = "/api/v1/depts/hpf/notices/all".into();
    let n3 = next_record(Some(&approved), &strict_and_new, 8);
    assert_eq!(n3.record.status, ApprovalStatus::Pending);
    assert_eq!(n3.record.approved_spec.as_ref(), Some(&open));
    // Between two authenticated modes neither is narrower: it waits.
    let mut dept_only = approved.clone();
    dept_only.approved_spec = Some(strict.clone());
    dept_only.spec = strict.clone();
    let n4 = next_record(
        Some(&dept_only),
        &with_auth(&[RouteAuth::Department, RouteAuth::Public]),
        9,
    );
    assert_eq!(n4.record.status, ApprovalStatus::Pending);
}

#[tokio::test]
async fn local_writes_are_not_undone_by_a_concurrent_sync() {
    let f = fixture().await;
    let r = &f.registry;
    // A sync reads the store, then a local write lands, then the sync applies.
    let started = Instant::now();
    let rows = f.store.load_registry().await.unwrap();
    let issued = r.issue_token("hpf", "agent", "alice").await.unwrap();
    r.register("hpf", spec(&["balance"]), vec![inst(9001)])
        .await
        .unwrap();
    r.apply_rows(rows, started);
    assert_eq!(
        r.authenticate(&issued.token).as_deref(),
        Some("hpf"),
        "the token was lost to a read that predates it"
    );
    assert_eq!(r.services(Some("hpf")).len(), 1);
    // The next read sees both.
    r.sync_now().await.unwrap();
    assert_eq!(r.authenticate(&issued.token).as_deref(), Some("hpf"));
    assert_eq!(r.services(Some("hpf"))[0].instances.len(), 1);
}
