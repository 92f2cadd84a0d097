//! The operator console and department assessment end to end: two
//! gateways on one PostgreSQL report the same assessment from their
//! roll-ups; an operator works the console in headless Chromium over
//! WebDriver (sign in, approve a registration and see it serve, watch the
//! dashboard move, an invalid edit shown at its line, roll back, work the
//! appeals queue — dispatch one through the form, escalate another — a
//! viewer without buttons or appeal forms whose forged form is refused, a
//! `<script>` name shown as text); the demo feeds every page.
//!
//! With `ONESTOP_CONSOLE_SCREENSHOTS=DIR` the browser tests save PNGs of
//! the pages into DIR (`make console-screenshots` writes `docs/console/`):
//! the sign-in page, an invalid edit and the appeals desk from the
//! operator's walk, every other page from the demo.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use onestop_tests::appeals::{Dept, post};
use onestop_tests::browser::Browser;
use onestop_tests::registry::{
    DeptClient, Renewer, addrs, example_path, gateway_with, http_depts, issue_token, spec,
    status_of,
};
use onestop_tests::secure::Secure;
use onestop_tests::{
    ConfigOptions, Demo, Gateway, GatewaySetup, Sim, pg_url, require_postgres, wait_for,
};
use serde_json::{Value, json};

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

/// The appeals settings of the assessment fixture: `help` with 1 h limits,
/// a consultation's 2 s accept limit, a suggestion's 4 s reply limit; 停水
/// goes to `ok`, 噪音 to `bad`, anything else to the operators' queue.
fn fixture_appeals(ok: &str, bad: &str) -> String {
    format!(
        r#"
[appeals]
scan_interval = "200ms"
scan_lease = "1s"

[appeals.limits.help]
accept = "1h"
reply = "1h"

[appeals.limits.consult]
accept = "2s"
reply = "1h"

[appeals.limits.suggestion]
accept = "1h"
reply = "4s"

[[appeals.rules]]
dept = "{ok}"
keywords = ["停水"]

[[appeals.rules]]
dept = "{bad}"
keywords = ["噪音"]
"#
    )
}

/// Appeals' figures as the report writes them, with their rates.
fn appeal_figures(
    [received, acceptance_due, accepted_in_time, closed, resolved]: [i64; 5],
    [rated, satisfied, unrated, reply_due, replied_in_time]: [i64; 5],
    by_score: [i64; 5],
) -> Value {
    let rate = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
    serde_json::json!({
        "received": received,
        "acceptance_due": acceptance_due,
        "accepted_in_time": accepted_in_time,
        "closed": closed,
        "resolved": resolved,
        "rated": rated,
        "satisfied": satisfied,
        "unrated": unrated,
        "reply_due": reply_due,
        "replied_in_time": replied_in_time,
        "by_score": by_score,
        "response_rate": rate(accepted_in_time, acceptance_due),
        "resolution_rate": rate(resolved, closed),
        "satisfaction_rate": rate(satisfied, rated),
        "on_time_rate": rate(replied_in_time, reply_due),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_report_the_same_assessment() {
    require_postgres();
    let sim = Sim::start(4, 50).await;
    let url = pg_url("assess");
    let opts = ConfigOptions::default();
    let depts = http_depts(&sim);
    let (ok_dept, bad_dept) = (depts[0], depts[1]);
    let secure = Secure::new();
    let extra = format!(
        "{FAST_ROLLUPS}{}{}",
        Secure::identity_toml(),
        fixture_appeals(&ok_dept.id, &bad_dept.id)
    );
    let start = || {
        Gateway::start_setup(
            &sim.manifest,
            &opts,
            |config| secure.write_keys(config),
            GatewaySetup {
                threads: 2,
                store_url: Some(url.clone()),
                extra: extra.clone(),
                ..GatewaySetup::default()
            },
        )
    };
    let a = start().await;
    let b = start().await;

    // Known appeals: filed on A (its public listener), worked by the
    // departments on B's control listener, rated on A.
    let citizen = secure.citizen_client("citizen-1");
    let mut own_api_calls = 0;
    let mut file = async |kind: &str, title: &str| {
        let (status, filed) = post(
            &citizen,
            &a.url("/api/v1/me/appeals"),
            None,
            serde_json::json!({"kind": kind, "title": title, "content": "详情"}),
        )
        .await;
        own_api_calls += 1;
        assert_eq!(status, 201, "{filed}");
        filed["id"].as_str().unwrap().to_string()
    };
    // ok: a1 rated 5, a2 rated 2, a3 replied unrated, a4 never accepted
    // (2 s limit: overdue), a5 replied after its 4 s reply limit.
    let a1 = file("help", "停水一").await;
    let a2 = file("help", "停水二").await;
    let a3 = file("help", "停水三").await;
    let a4 = file("consult", "停水咨询").await;
    let a5 = file("suggestion", "停水建议").await;
    // bad: b1 rated 4, b2 not yet accepted (within its 1 h limit).
    let b1 = file("help", "噪音一").await;
    let b2 = file("help", "噪音二").await;
    // No rule: the operators' queue, no department's figure.
    let q1 = file("help", "路灯").await;
    let ok_token = issue_token(&a, &ok_dept.id).await;
    let bad_token = issue_token(&a, &bad_dept.id).await;
    let mut ok_desk = Dept::connect_known(&b, &ok_token).await;
    let mut bad_desk = Dept::connect_known(&b, &bad_token).await;
    for id in [&a1, &a2, &a3, &a5] {
        assert_eq!(ok_desk.accept(id).await.unwrap().state, "accepted");
    }
    for id in [&a1, &a2, &a3] {
        assert_eq!(ok_desk.reply(id, "已处理").await.unwrap().state, "replied");
    }
    assert_eq!(bad_desk.accept(&b1).await.unwrap().state, "accepted");
    assert_eq!(
        bad_desk.reply(&b1, "已处理").await.unwrap().state,
        "replied"
    );
    let mut rate = async |id: &str, score: u8| {
        let (status, rated) = post(
            &citizen,
            &a.url(&format!("/api/v1/me/appeals/{id}/rating")),
            None,
            serde_json::json!({ "score": score }),
        )
        .await;
        own_api_calls += 1;
        assert_eq!(
            (status, rated["state"].as_str()),
            (200, Some("closed")),
            "{rated}"
        );
    };
    rate(&a1, 5).await;
    rate(&a2, 2).await;
    rate(&b1, 4).await;
    // a4 passes its accept limit and a5 its reply limit: the scanner
    // escalates both; then a5's reply comes late.
    let escalated = wait_for(Duration::from_secs(20), || async {
        let a4 = b.admin_get(&format!("/appeals/{a4}")).await;
        let a5 = b.admin_get(&format!("/appeals/{a5}")).await;
        a4["state"] == "escalated" && a5["state"] == "escalated"
    })
    .await;
    assert!(
        escalated.is_some(),
        "{}",
        b.admin_get(&format!("/appeals/{a5}")).await
    );
    assert_eq!(ok_desk.reply(&a5, "已采纳").await.unwrap().state, "replied");
    let queued = b.admin_get(&format!("/appeals/{q1}")).await;
    assert!(queued["dept"].is_null(), "{queued}");
    let untouched = b.admin_get(&format!("/appeals/{b2}")).await;
    assert_eq!(untouched["state"], "dispatched", "{untouched}");

    // Known traffic: 30 answers of ok_dept through A and 20 through B; 10
    // requests to bad_dept through A while its instances answer 500.
    for i in &bad_dept.instances {
        sim.set_faults(&i.id, serde_json::json!({"error_rate": 1.0}))
            .await;
    }
    let http = onestop_tests::client();
    for (gw, n) in [(&a, 30), (&b, 20)] {
        for _ in 0..n {
            assert_eq!(status_of(&http, &gw.url(&example_path(ok_dept))).await, 200);
        }
    }
    for _ in 0..10 {
        let status = status_of(&http, &a.url(&example_path(bad_dept))).await;
        assert!((500..600).contains(&status), "{status}");
    }
    // Both gateways' roll-ups reach the store within a few intervals: the
    // departments' 60 requests and the citizens' calls of the appeals API
    // (the gateway's own, counted for the platform only).
    let platform_requests = 60 + own_api_calls;
    let reached = wait_for(Duration::from_secs(20), || async {
        let r = a.admin_get("/assessment").await;
        r["platform"]["traffic"]["requests"] == platform_requests
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

    // Appeals, counted by hand (each gateway's report, not only equal):
    // ok: received 5; acceptance due 5 (a1 a2 a3 a5 accepted in time, a4
    // past its limit), 4 in time → 响应率 0.8; closed 2 (a1, a2), resolved
    // 1 (a2 rated 2 is not) → 解决率 0.5; rated 2, satisfied 1 → 满意率
    // 0.5, unrated 2 (a3, a5), scores one 2 and one 5; reply due 4 (a1 a2
    // a3 a5; a4's reply limit is ahead), 3 in time → on time 0.75.
    let ok_appeals = appeal_figures([5, 5, 4, 2, 1], [2, 1, 2, 4, 3], [0, 1, 0, 0, 1]);
    // bad: received 2; b1 accepted in time, b2 within its limit (not due);
    // b1 closed resolved, rated 4; replied in time.
    let bad_appeals = appeal_figures([2, 1, 1, 1, 1], [1, 1, 0, 1, 1], [0, 0, 0, 1, 0]);
    // The platform sums the counts (q1, in the queue, counts nowhere):
    // 响应率 5/6, 解决率 2/3, 满意率 2/3, on time 4/5.
    let platform_appeals = appeal_figures([7, 6, 5, 3, 2], [3, 2, 2, 5, 4], [0, 1, 0, 1, 1]);
    for (gw, report) in [("A", &from_a), ("B", &from_b)] {
        assert_eq!(report["appeals_available"], true, "{gw}");
        assert_eq!(
            dept(report, &ok_dept.id)["appeals"],
            ok_appeals,
            "{gw}: {}",
            ok_dept.id
        );
        assert_eq!(
            dept(report, &bad_dept.id)["appeals"],
            bad_appeals,
            "{gw}: {}",
            bad_dept.id
        );
        assert_eq!(
            report["platform"]["appeals"], platform_appeals,
            "{gw}: platform"
        );
        // a2's rating of 2 opened a follow-up (on the cases' mechanism),
        // open and not yet due; nothing else opened one.
        let fu = &dept(report, &ok_dept.id)["followups"];
        assert_eq!(
            (&fu["opened"], &fu["open"]),
            (&json!(1), &json!(1)),
            "{gw}: {fu}"
        );
        let fu = &dept(report, &bad_dept.id)["followups"];
        assert_eq!(fu["opened"], 0, "{gw}: {fu}");
    }
    // The gauges say the same on either gateway.
    let series = format!("onestop_assessment_requests{{dept=\"{}\"}}", ok_dept.id);
    let gauged = wait_for(Duration::from_secs(10), || async {
        b.metric(&series).await == Some(50.0)
    })
    .await;
    assert!(gauged.is_some(), "{series} on B");
    // The last hour, per minute, from B.
    let t = b.admin_get("/traffic?window=1h").await;
    assert_eq!(t["platform"]["requests"], platform_requests);
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
    // Citizens sign in with the test identity provider (for appeals); no
    // channels, so the routes take requests without an app key.
    let secure = Secure::new();
    let extra = format!(
        "{FAST_ROLLUPS}{}{}",
        onestop::fleet_config::operator_toml("test-viewer", &["viewer"], &viewer_hash),
        Secure::identity_toml()
    );
    let gw = gateway_with(
        &sim,
        GatewaySetup {
            extra,
            ..GatewaySetup::default()
        },
        |config| secure.write_keys(config),
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
    let http = onestop_tests::client();
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

    // The appeals desk: appeals no rule dispatches wait in the operators'
    // queue; one is dispatched through the form, another escalated.
    let citizen = secure.citizen_client("citizen-1");
    let lamp = file_appeal(&citizen, &gw, "help", "路灯不亮", "小区北门路灯坏了一周").await;
    let noise = file_appeal(
        &citizen,
        &gw,
        "complaint",
        "夜间施工噪音",
        "工地凌晨还在施工",
    )
    .await;
    let drain = file_appeal(
        &citizen,
        &gw,
        "consult",
        "井盖缺失",
        "<b>人行道</b>井盖不见了",
    )
    .await;
    browser
        .goto(&format!("http://{}/console/appeals", gw.admin))
        .await;
    for id in [&lamp, &noise, &drain] {
        let row = format!("#appeal-list tr[data-appeal='{id}']");
        assert!(
            browser.has(&row).await,
            "{id} not queued: {}",
            browser.text("#appeal-list").await
        );
        assert_eq!(
            browser.text(&format!("{row} .appeal-state")).await,
            "submitted"
        );
    }
    assert!(browser.text("#appeal-totals").await.contains("共 3 件"));
    browser
        .click(&format!("#appeal-list tr[data-appeal='{lamp}'] a"))
        .await;
    wait_path(&browser, &format!("/console/appeals/{lamp}")).await;
    assert_eq!(browser.text("#appeal-state").await, "submitted");
    assert_eq!(browser.text("#appeal-title").await, "路灯不亮");
    browser
        .client
        .find(fantoccini::Locator::Css("#dispatch select[name=dept]"))
        .await
        .unwrap()
        .select_by_value(&other.id)
        .await
        .unwrap();
    browser
        .type_into("#dispatch input[name=note]", "转城管")
        .await;
    browser.click("#dispatch button").await;
    wait_path(
        &browser,
        &format!("/console/appeals/{lamp}?done=dispatched"),
    )
    .await;
    assert_eq!(browser.text("#appeal-state").await, "dispatched");
    assert_eq!(browser.text("#appeal-dept").await, other.id);
    assert!(browser.text("#appeal-timeline").await.contains("转城管"));
    let a = gw.admin_get(&format!("/appeals/{lamp}")).await;
    assert_eq!(
        (a["state"].as_str(), a["dept"].as_str()),
        (Some("dispatched"), Some(other.id.as_str())),
        "{a}"
    );
    let last = a["timeline"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["actor"].as_str()),
        (Some("dispatched"), Some("operator")),
        "{a}"
    );
    // Escalate (督办) the complaint from its page.
    browser
        .goto(&format!("http://{}/console/appeals/{noise}", gw.admin))
        .await;
    browser
        .type_into("#escalate input[name=note]", "请尽快处理")
        .await;
    browser.click("#escalate button").await;
    wait_path(
        &browser,
        &format!("/console/appeals/{noise}?done=escalated"),
    )
    .await;
    assert_eq!(browser.text("#appeal-state").await, "escalated");
    let a = gw.admin_get(&format!("/appeals/{noise}")).await;
    assert_eq!(a["state"], "escalated", "{a}");
    let escalations = a["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "escalated" && e["actor"] == "operator")
        .count();
    assert_eq!(escalations, 1, "{a}");
    // The list follows: the dispatched one left the queue, the escalated
    // one is in the escalated view.
    browser
        .goto(&format!("http://{}/console/appeals", gw.admin))
        .await;
    assert!(
        !browser.has(&format!("tr[data-appeal='{lamp}']")).await,
        "dispatched: no longer queued"
    );
    assert!(browser.has(&format!("tr[data-appeal='{drain}']")).await);
    browser
        .goto(&format!(
            "http://{}/console/appeals?view=escalated",
            gw.admin
        ))
        .await;
    assert_eq!(
        browser
            .text(&format!("tr[data-appeal='{noise}'] .appeal-state"))
            .await,
        "escalated"
    );
    assert!(!browser.has(&format!("tr[data-appeal='{drain}']")).await);
    browser
        .goto(&format!("http://{}/console/appeals?view=open", gw.admin))
        .await;
    for id in [&lamp, &noise, &drain] {
        assert!(
            browser.has(&format!("tr[data-appeal='{id}']")).await,
            "{id} open"
        );
    }
    browser.screenshot(shots.as_ref(), "appeals").await;

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
    let forged = onestop_tests::client_builder()
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
    // The viewer sees the appeals and their timelines, and no action form.
    browser
        .goto(&format!("http://{}/console/appeals", gw.admin))
        .await;
    assert!(browser.has(&format!("tr[data-appeal='{drain}']")).await);
    for id in [&lamp, &noise, &drain] {
        browser
            .goto(&format!("http://{}/console/appeals/{id}", gw.admin))
            .await;
        assert!(browser.has("#appeal-timeline").await, "{id}");
        assert!(
            !browser.has("#appeal-actions").await,
            "{id}: the viewer has actions"
        );
        assert!(
            !browser
                .has("form#dispatch, form#escalate, form#close")
                .await,
            "{id}"
        );
    }
    // A citizen's markup is shown as text.
    browser
        .goto(&format!("http://{}/console/appeals/{drain}", gw.admin))
        .await;
    assert!(
        browser
            .text("#appeal")
            .await
            .contains("<b>人行道</b>井盖不见了")
    );
    let a = gw.admin_get(&format!("/appeals/{drain}")).await;
    assert_eq!(a["state"], "submitted", "{a}");
    browser.close().await;
}

/// Files an appeal as a citizen on `gw`'s public listener; no dispatch
/// rule matches it, so it waits in the operators' queue.
async fn file_appeal(
    citizen: &reqwest::Client,
    gw: &Gateway,
    kind: &str,
    title: &str,
    content: &str,
) -> String {
    let r = citizen
        .post(gw.url("/api/v1/me/appeals"))
        .json(&serde_json::json!({"kind": kind, "title": title, "content": content}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["state"], "submitted", "{a}");
    assert!(a["dept"].is_null(), "{a}");
    a["id"].as_str().unwrap().to_string()
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
