//! The operator console and department assessment end to end: two
//! gateways on one PostgreSQL report the same assessment from their
//! roll-ups; an operator works the console in headless Chromium over
//! WebDriver (sign in, approve a registration and see it serve, watch the
//! dashboard move, an invalid edit shown at its line, roll back, a viewer
//! without buttons whose forged form is refused, a `<script>` name shown
//! as text); the demo feeds every page.
//!
//! With `ONESTOP_CONSOLE_SCREENSHOTS=DIR` the browser tests save PNGs of
//! the pages into DIR (`make console-screenshots` writes `docs/console/`):
//! the sign-in page and an invalid edit from the operator's walk, every
//! other page from the demo.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use onestop_tests::browser::Browser;
use onestop_tests::registry::{
    DeptClient, Renewer, addrs, example_path, gateway, http_depts, issue_token, spec, status_of,
};
use onestop_tests::{
    ConfigOptions, Demo, Gateway, GatewaySetup, Sim, pg_url, require_postgres, wait_for,
};
use serde_json::Value;

/// Every gateway writes its roll-ups each second in these tests.
const FAST_ROLLUPS: &str = "\n[assessment]\nrollup_interval = \"1s\"\ngauge_interval = \"1s\"\n";

fn screenshots() -> Option<PathBuf> {
    std::env::var_os("ONESTOP_CONSOLE_SCREENSHOTS").map(PathBuf::from)
}

/// The assessment without the moment it was computed.
fn figures(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("generated_at");
    }
    v
}

fn dept<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dept"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_report_the_same_assessment() {
    require_postgres();
    let sim = Sim::start(4, 50).await;
    let url = pg_url("assess");
    let opts = ConfigOptions::default();
    let start = || {
        Gateway::start_setup(
            &sim.manifest,
            &opts,
            |_| {},
            GatewaySetup {
                threads: 2,
                store_url: Some(url.clone()),
                extra: FAST_ROLLUPS.into(),
                ..GatewaySetup::default()
            },
        )
    };
    let a = start().await;
    let b = start().await;
    let depts = http_depts(&sim);
    let (ok_dept, bad_dept) = (depts[0], depts[1]);
    // Known traffic: 30 answers of ok_dept through A and 20 through B; 10
    // requests to bad_dept through A while its instances answer 500.
    for i in &bad_dept.instances {
        sim.set_faults(&i.id, serde_json::json!({"error_rate": 1.0}))
            .await;
    }
    let http = reqwest::Client::new();
    for (gw, n) in [(&a, 30), (&b, 20)] {
        for _ in 0..n {
            assert_eq!(status_of(&http, &gw.url(&example_path(ok_dept))).await, 200);
        }
    }
    for _ in 0..10 {
        let status = status_of(&http, &a.url(&example_path(bad_dept))).await;
        assert!((500..600).contains(&status), "{status}");
    }
    // Both gateways' roll-ups reach the store within a few intervals.
    let reached = wait_for(Duration::from_secs(20), || async {
        let r = a.admin_get("/assessment").await;
        r["platform"]["traffic"]["requests"] == 60
    })
    .await;
    assert!(reached.is_some(), "{}", a.admin_get("/assessment").await);
    println!("assessment: both gateways' roll-ups in the store after {reached:?}");
    let from_a = figures(a.admin_get("/assessment").await);
    let from_b = figures(b.admin_get("/assessment").await);
    assert_eq!(
        from_a, from_b,
        "the two gateways report the same assessment"
    );
    let ok = dept(&from_a, &ok_dept.id);
    assert_eq!(ok["traffic"]["requests"], 50);
    assert_eq!(ok["traffic"]["errors"], 0);
    assert_eq!(ok["traffic"]["availability"], 1.0);
    assert!(ok["traffic"]["p99_ms"].as_f64().unwrap() > 0.0);
    let bad = dept(&from_a, &bad_dept.id);
    assert_eq!(bad["traffic"]["requests"], 10);
    assert_eq!(bad["traffic"]["errors"], 10);
    assert_eq!(bad["traffic"]["availability"], 0.0);
    // The gauges say the same on either gateway.
    let series = format!("onestop_assessment_requests{{dept=\"{}\"}}", ok_dept.id);
    let gauged = wait_for(Duration::from_secs(10), || async {
        b.metric(&series).await == Some(50.0)
    })
    .await;
    assert!(gauged.is_some(), "{series} on B");
    // The last hour, per minute, from B.
    let t = b.admin_get("/traffic?window=1h").await;
    assert_eq!(t["platform"]["requests"], 60);
}

/// Waits (a form submitted by a click navigates after the click returns)
/// until the browser is at `path`; panics naming where it is.
async fn wait_path(browser: &Browser, path: &str) {
    let arrived = wait_for(Duration::from_secs(10), || async {
        browser.path().await == path
    })
    .await;
    assert!(
        arrived.is_some(),
        "at {} instead of {path}: {}",
        browser.path().await,
        browser.text("body").await
    );
}

/// Signs in through the login form.
async fn sign_in(browser: &Browser, admin: std::net::SocketAddr, token: &str) {
    browser.goto(&format!("http://{admin}/console/")).await;
    assert_eq!(browser.path().await, "/console/login");
    browser.type_into("#token", token).await;
    browser.click("#signin").await;
    wait_path(browser, "/console/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_console_in_a_real_browser() {
    let shots = screenshots();
    let sim = Sim::start(4, 50).await;
    let (viewer_token, viewer_hash) = onestop::tokens::new_operator_token();
    let extra = format!(
        "{FAST_ROLLUPS}{}",
        onestop::fleet_config::operator_toml("test-viewer", &["viewer"], &viewer_hash)
    );
    let gw = gateway(
        &sim,
        GatewaySetup {
            extra,
            ..GatewaySetup::default()
        },
    )
    .await;
    let depts = http_depts(&sim);
    let (d, other) = (depts[0], depts[1]);
    // Department d registers with a route name that is markup; another
    // department's registration stays pending for the viewer.
    let token = issue_token(&gw, &d.id).await;
    let client = DeptClient::connect(gw.control, &token).await;
    let mut s = spec(d, Duration::from_secs(10));
    s.routes[0].name = "<script>alert('x')</script>".into();
    let reg = client.register(s, &addrs(d)).await.unwrap();
    let _renew = Renewer::start(
        client.clone(),
        &d.id,
        "main",
        &addrs(d),
        Duration::from_secs(2),
    );
    let other_token = issue_token(&gw, &other.id).await;
    let other_client = DeptClient::connect(gw.control, &other_token).await;
    other_client
        .register(spec(other, Duration::from_secs(10)), &addrs(other))
        .await
        .unwrap();
    let _renew_other = Renewer::start(
        other_client.clone(),
        &other.id,
        "main",
        &addrs(other),
        Duration::from_secs(2),
    );
    let http = reqwest::Client::new();
    let route = gw.url(&example_path(d));
    assert_eq!(status_of(&http, &route).await, 404, "pending: no traffic");

    let browser = Browser::start(1366, 900).await;
    browser
        .goto(&format!("http://{}/console/login", gw.admin))
        .await;
    browser.screenshot(shots.as_ref(), "login").await;
    sign_in(&browser, gw.admin, &gw.operator_token).await;
    assert!(browser.text("#who").await.contains("test-operator"));
    // The session cookie is HttpOnly: the page's script cannot read it.
    let visible: Value = browser
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(
        !visible.as_str().unwrap_or("").contains("onestop_console="),
        "{visible}"
    );
    assert!(browser.cookie("onestop_console").await.is_some());

    // The registration, its `<script>` name as text.
    browser
        .goto(&format!("http://{}/console/registrations", gw.admin))
        .await;
    let card = format!("#reg-{}-main", d.id);
    let diff = browser.text(&format!("{card} .diff")).await;
    assert!(diff.contains("<script>alert('x')</script>"), "{diff}");
    let scripts: Value = browser
        .client
        .execute("return document.querySelectorAll('script').length", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, 1, "only the console's own script is on the page");
    assert!(browser.source().await.contains("&lt;script&gt;alert"));
    // Approve: the route serves traffic.
    browser.click(&format!("{card} button.approve")).await;
    wait_path(&browser, "/console/registrations?done=approved").await;
    let routed = wait_for(Duration::from_secs(5), || async {
        status_of(&http, &route).await == 200
    })
    .await;
    assert!(routed.is_some(), "the approved route does not serve");
    let svc = gw
        .admin_get(&format!("/registry/services/{}/main", d.id))
        .await;
    assert_eq!(svc["approved_revision"], reg.revision);

    // The dashboard's counts move after traffic.
    browser.goto(&format!("http://{}/console/", gw.admin)).await;
    let before: i64 = browser.text("#requests-hour").await.parse().unwrap();
    for _ in 0..25 {
        assert_eq!(status_of(&http, &route).await, 200);
    }
    let mut after = before;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while after < before + 25 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.client.refresh().await.unwrap();
        after = browser.text("#requests-hour").await.parse().unwrap_or(0);
    }
    assert!(
        after >= before + 25,
        "requests in the last hour: {before} → {after}"
    );
    println!("console dashboard: requests in the last hour {before} → {after}");

    // An invalid edit shows its problem at its line and changes nothing.
    let status = gw.admin_get("/config/status").await;
    let version = status["version"].as_i64().unwrap();
    browser
        .goto(&format!(
            "http://{}/console/routing/{}/edit",
            gw.admin, d.id
        ))
        .await;
    let original: Value = browser
        .client
        .execute("return document.getElementById('editor').value", vec![])
        .await
        .unwrap();
    let original = original.as_str().unwrap().to_string();
    let broken = format!(
        "{original}\n[[routes]]\nid = \"broken\"\npath = \"/api/v1/depts/{}/broken\"\nservice = \"nope\"\n",
        d.id
    );
    let line = broken.lines().position(|l| l.contains("\"nope\"")).unwrap() + 1;
    browser
        .client
        .execute(
            "document.getElementById('editor').value = arguments[0]",
            vec![Value::String(broken)],
        )
        .await
        .unwrap();
    browser.click("#save").await;
    let shown = wait_for(Duration::from_secs(10), || async {
        browser.has(&format!("#line-{line}")).await
    })
    .await;
    assert!(shown.is_some(), "{}", browser.text("body").await);
    let marked = browser.text(&format!("#line-{line}")).await;
    assert!(marked.contains("nope"), "line {line}: {marked}");
    assert!(marked.contains(&format!("line {line}:")), "{marked}");
    browser.screenshot(shots.as_ref(), "edit-error").await;
    let status = gw.admin_get("/config/status").await;
    assert_eq!(status["version"], version, "nothing changed");

    // A valid edit is a new version; roll it back from the versions page.
    let edited = format!("{original}\n# reviewed in the console\n");
    browser
        .client
        .execute(
            "document.getElementById('editor').value = arguments[0]",
            vec![Value::String(edited)],
        )
        .await
        .unwrap();
    browser.click("#save").await;
    wait_path(&browser, "/console/routing?done=saved").await;
    let edited_version = gw.admin_get("/config/status").await["version"]
        .as_i64()
        .unwrap();
    assert_eq!(edited_version, version + 1);
    browser
        .goto(&format!("http://{}/console/versions", gw.admin))
        .await;
    browser
        .click(&format!("#version-{version} button.rollback"))
        .await;
    // The confirmation the console's script asks for.
    let mut confirmed = false;
    for _ in 0..50 {
        if let Ok(question) = browser.client.get_alert_text().await {
            assert!(question.contains("回滚"), "{question}");
            browser.client.accept_alert().await.unwrap();
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(confirmed, "the rollback asks for confirmation first");
    wait_path(&browser, "/console/versions?done=rolledback").await;
    let now = gw.admin_get("/config").await;
    let old = gw.admin_get(&format!("/config/versions/{version}")).await;
    assert_eq!(now["content_hash"], old["content_hash"]);
    assert_eq!(now["version"], edited_version + 1);

    // The other pages render.
    for page in [
        "/console/assessment",
        "/console/zombies",
        "/console/cases",
        "/console/audit",
    ] {
        browser.goto(&format!("http://{}{page}", gw.admin)).await;
        assert!(browser.has("main h1").await, "{page}");
    }

    // Sign out; a viewer sees no buttons, and a forged form is refused.
    browser.click("#logout").await;
    wait_path(&browser, "/console/login").await;
    browser.goto(&format!("http://{}/console/", gw.admin)).await;
    assert_eq!(browser.path().await, "/console/login", "signed out");
    sign_in(&browser, gw.admin, &viewer_token).await;
    browser
        .goto(&format!("http://{}/console/registrations", gw.admin))
        .await;
    let other_card = format!("#reg-{}-main", other.id);
    assert!(browser.has(&other_card).await);
    assert!(!browser.has(&format!("{other_card} button.approve")).await);
    let csrf = browser
        .client
        .find(fantoccini::Locator::Css("input[name=_csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let session = browser.cookie("onestop_console").await.unwrap();
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "http://{}/console/registrations/{}/main/approve",
            gw.admin, other.id
        ))
        .header("cookie", format!("onestop_console={session}"))
        .form(&[("revision", "1"), ("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let pending = gw
        .admin_get(&format!("/registry/services/{}/main", other.id))
        .await;
    assert_eq!(pending["status"], "pending");
    browser.close().await;
}

/// `onestop demo` feeds every page of the console: a pending
/// registration and agreement, an overdue case, good and bad ratings,
/// traffic (screenshots for the docs come from here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_feeds_every_console_page() {
    let shots = screenshots();
    let demo = Demo::start(32, 200).await;
    let token = demo.info["operator_token"].as_str().unwrap().to_string();
    // Some traffic for the charts.
    let http = demo.citizen_client(0);
    for dept in demo.manifest.departments.iter().take(12) {
        if let Some(m) = dept.matters.iter().find(|m| m.method == "GET") {
            for _ in 0..5 {
                let _ = http.get(demo.url(&m.example.path)).send().await;
            }
        }
    }
    let browser = Browser::start(1440, 1000).await;
    sign_in(&browser, demo.admin, &token).await;
    let page = |p: &str| format!("http://{}{p}", demo.admin);
    // A pending registration with its diff.
    browser.goto(&page("/console/registrations")).await;
    assert!(
        browser.has(".registration .diff .add").await,
        "a pending registration"
    );
    browser.screenshot(shots.as_ref(), "registrations").await;
    // A pending agreement with its age against the deadline.
    browser.goto(&page("/console/sharing")).await;
    assert!(browser.has("#pending-agreements tr[id^=agreement-]").await);
    browser.screenshot(shots.as_ref(), "sharing").await;
    // Ratings good and bad; the bad one's follow-up is open; the case
    // stuck at the hung department is overdue once its 5 s deadline passed.
    let overdue = wait_for(Duration::from_secs(20), || async {
        browser.goto(&page("/console/cases")).await;
        browser.text("#overdue-cases").await.contains("档案转递")
    })
    .await;
    assert!(
        overdue.is_some(),
        "{}",
        browser.text("#overdue-cases").await
    );
    assert!(browser.text("#followups").await.contains("1★"));
    browser.screenshot(shots.as_ref(), "cases").await;
    browser.goto(&page("/console/assessment")).await;
    // 满意率 (the eighth figure): one 5 and one 1.
    let satisfaction = browser
        .text("#assessment tr.platform td:nth-child(9)")
        .await;
    assert_eq!(satisfaction, "50.0%");
    browser.screenshot(shots.as_ref(), "assessment").await;
    browser.goto(&page("/console/audit")).await;
    assert!(browser.text("#chain-state").await.contains("intact"));
    browser.screenshot(shots.as_ref(), "audit").await;
    for (p, shot) in [
        ("/console/routing", "routing"),
        ("/console/zombies", "zombies"),
        ("/console/versions", "versions"),
        ("/console/cache", "cache"),
    ] {
        browser.goto(&page(p)).await;
        assert!(browser.has("main h1").await, "{p}");
        browser.screenshot(shots.as_ref(), shot).await;
    }
    // The dashboard, once the traffic is rolled up (every 10 s by default).
    let counted = wait_for(Duration::from_secs(25), || async {
        browser.goto(&page("/console/")).await;
        browser
            .text("#requests-hour")
            .await
            .parse::<i64>()
            .unwrap_or(0)
            > 0
    })
    .await;
    assert!(counted.is_some(), "the dashboard counts the demo's traffic");
    browser.screenshot(shots.as_ref(), "dashboard").await;
    browser.close().await;
}
