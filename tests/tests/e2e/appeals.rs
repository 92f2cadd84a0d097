//! Citizens' appeals (12345) end to end over two gateways on one
//! PostgreSQL: a citizen files on gateway A, the department works it on
//! gateway B's control listener, the citizen follows every step on A and
//! rates it; a returned appeal goes to the operators' queue and is
//! re-dispatched; an appeal with a short accept limit becomes overdue and
//! is escalated exactly once with both gateways scanning; another citizen
//! gets 404 and another department PERMISSION_DENIED. A gateway killed
//! with SIGKILL mid-way loses nothing: every appeal filed on it is on the
//! other with its whole timeline, the other takes over the overdue
//! scanner's lease once it runs out and escalates once, and the killed
//! gateway restarted sees everything. The fleet's case officers
//! (`onestop_sim::CaseOfficers`) work appeals on a real gateway: a quick
//! department replies after its delays, one returns what is outside its
//! remit to the operators' queue, a silent one's appeal is escalated once.

use std::time::Duration;

use onestop_sim::{CaseOfficers, Officer, OfficerOptions};
use onestop_tests::appeals::{Dept, events, get, post};
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use onestop_tests::{
    ConfigOptions, Gateway, GatewaySetup, Sim, pg_url, require_postgres, wait_for,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_run_the_appeal_loop_return_and_escalate_once() {
    require_postgres();
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let depts = http_depts(&sim);
    let (water, other) = (depts[0].id.clone(), depts[1].id.clone());
    let url = pg_url("appeals");
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        r#"
[appeals]
scan_interval = "200ms"
scan_lease = "1s"
supervise_after = "500ms"

[appeals.limits.consult]
accept = "2s"
reply = "1h"

[[appeals.rules]]
dept = "{water}"
keywords = ["停水"]
"#
    ));
    let opts = ConfigOptions {
        citizen_auth: true,
        ..ConfigOptions::default()
    };
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
    let me = secure.client(Some("citizen-1"));
    let stranger = secure.client(Some("citizen-2"));
    let appeals = a.url("/api/v1/me/appeals");

    // Bad input names the field; nothing is filed.
    let (status, body) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "rant", "title": "t", "content": "c"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("kind")),
        "{body}"
    );
    let (status, body) = post(&me, &appeals, None, json!({"kind": "help", "title": "t", "content": "c", "location": {"address": "x", "lat": 91, "lng": 0}})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("location.lat")),
        "{body}"
    );

    // Filed on A, dispatched by the keyword rule; the key makes it once.
    let filing =
        json!({"kind": "help", "title": "小区停水", "content": "三天没有水", "disclose": true});
    let (status, first) = post(&me, &appeals, Some("k-1"), filing.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (first["state"].as_str(), first["dept"].as_str()),
        (Some("dispatched"), Some(water.as_str()))
    );
    let id = first["id"].as_str().unwrap().to_string();
    let (status, again) = post(&me, &appeals, Some("k-1"), filing).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));

    // Privacy: another citizen gets exactly what an unknown id gets.
    let (s1, theirs) = get(&stranger, &format!("{appeals}/{id}")).await;
    let (s2, unknown) = get(&stranger, &format!("{appeals}/S000000000000000000")).await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(theirs["error"]["code"], unknown["error"]["code"]);
    assert_eq!(theirs["error"]["message"], unknown["error"]["message"]);
    let (_, list) = get(&stranger, &appeals).await;
    assert_eq!(list["appeals"], json!([]));
    // Rating before the reply: 409.
    let (status, _) = post(
        &me,
        &format!("{appeals}/{id}/rating"),
        None,
        json!({"score": 5}),
    )
    .await;
    assert_eq!(status, 409);

    // The departments work on B (their tokens were issued on A).
    let water_token = issue_token(&a, &water).await;
    let other_token = issue_token(&a, &other).await;
    let mut w = Dept::connect(&b, &water_token).await;
    let mut o = Dept::connect(&b, &other_token).await;
    let listed = wait_for(Duration::from_secs(5), || {
        let mut w = w.clone();
        let id = id.clone();
        async move { w.list().await.is_ok_and(|l| l.iter().any(|x| x.id == id)) }
    })
    .await;
    assert!(
        listed.is_some(),
        "the water department lists the appeal on B"
    );
    let denied = o.accept(&id).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert!(o.list().await.unwrap().iter().all(|x| x.id != id));
    let early = w.reply(&id, "先回复").await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    let accepted = w.accept(&id).await.unwrap();
    assert_eq!(accepted.state, "accepted");
    let empty = w.reply(&id, " ").await.unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    let replied = w.reply(&id, "已联系物业，今日恢复供水").await.unwrap();
    assert_eq!(replied.state, "replied");

    // The citizen sees every step on A and rates it, once.
    let (status, seen) = get(&me, &format!("{appeals}/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        events(&seen),
        [
            "submitted:citizen",
            "dispatched:system",
            "accepted:department",
            "replied:department"
        ]
    );
    assert_eq!(seen["reply"], "已联系物业，今日恢复供水");
    let (status, body) = post(
        &me,
        &format!("{appeals}/{id}/rating"),
        None,
        json!({"score": 9}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("score"))
    );
    let (status, rated) = post(
        &me,
        &format!("{appeals}/{id}/rating"),
        None,
        json!({"score": 5, "comment": "快"}),
    )
    .await;
    assert_eq!(
        (status, rated["state"].as_str()),
        (200, Some("closed")),
        "{rated}"
    );
    let (status, _) = post(
        &me,
        &format!("{appeals}/{id}/rating"),
        None,
        json!({"score": 4}),
    )
    .await;
    assert_eq!(status, 409);

    // A return goes to the operators' queue and is re-dispatched.
    let (_, disputed) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "complaint", "title": "停水投诉", "content": "物业不处理"}),
    )
    .await;
    let rid = disputed["id"].as_str().unwrap().to_string();
    let back = w.send_back(&rid, "物业纠纷，非本单位职责").await.unwrap();
    assert_eq!(back.state, "returned");
    let queue = a.admin_get("/appeals?view=queue").await;
    assert!(
        queue["appeals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == rid.as_str()),
        "{queue}"
    );
    let (status, body) = a
        .admin_post(
            &format!("/appeals/{rid}/dispatch"),
            json!({"dept": other, "note": "转住建"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(o.accept(&rid).await.unwrap().state, "accepted");
    let (_, seen) = get(&me, &format!("{appeals}/{rid}")).await;
    assert_eq!(
        events(&seen),
        [
            "submitted:citizen",
            "dispatched:system",
            "returned:department",
            "dispatched:operator",
            "accepted:department"
        ]
    );

    // A consultation with a 2 s accept limit nobody accepts: escalated
    // (催办) once and, half a second on, supervised (督办) once, with both
    // gateways' scanners running.
    let (_, late) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "consult", "title": "停水咨询", "content": "何时来水"}),
    )
    .await;
    let lid = late["id"].as_str().unwrap().to_string();
    let escalated = wait_for(Duration::from_secs(15), || {
        let me = me.clone();
        let u = format!("{appeals}/{lid}");
        async move { get(&me, &u).await.1["state"] == "escalated" }
    })
    .await;
    assert!(escalated.is_some(), "not escalated within 15 s");
    println!("appeals: escalated {escalated:?} after the 2 s accept limit");
    let supervised = wait_for(Duration::from_secs(15), || {
        let me = me.clone();
        let u = format!("{appeals}/{lid}");
        async move { get(&me, &u).await.1["supervised_at"].is_i64() }
    })
    .await;
    assert!(supervised.is_some(), "not supervised within 15 s");
    // Several more scan rounds on both gateways change nothing.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, seen) = get(&me, &format!("{appeals}/{lid}")).await;
    for stage in ["escalated:", "supervised:"] {
        let n = events(&seen)
            .iter()
            .filter(|e| e.starts_with(stage))
            .count();
        assert_eq!(n, 1, "{stage} {seen}");
    }
    assert_eq!(seen["overdue"], true);
    let stats = b.admin_get("/appeals/stats").await;
    assert_eq!(stats["total"], 3, "{stats}");
    assert_eq!(stats["by_state"]["escalated"], 1, "{stats}");
    assert_eq!(stats["supervised"], 1, "{stats}");
    // The department still accepts the escalated appeal on A.
    let mut wa = Dept::connect(&a, &water_token).await;
    assert_eq!(wa.accept(&lid).await.unwrap().state, "accepted");
}

/// Epoch milliseconds now (the gateways' clock: same machine).
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// When the (single) `escalated` step of an appeal happened.
fn escalated_at(appeal: &Value) -> i64 {
    let steps: Vec<&Value> = appeal["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "escalated")
        .collect();
    assert_eq!(steps.len(), 1, "escalated once: {appeal}");
    steps[0]["at"]
        .as_i64()
        .unwrap_or_else(|| panic!("`at` in epoch ms: {appeal}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_mid_way_loses_no_appeal_and_the_other_takes_over_the_scanner() {
    require_postgres();
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let water = http_depts(&sim)[0].id.clone();
    let url = pg_url("appeals_kill");
    // A 6 s scanner lease: after A dies, B may scan only once A's last
    // lease ran out; a consultation is overdue 1 s after filing, a
    // complaint 3 s after.
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        r#"
[appeals]
scan_interval = "200ms"
scan_lease = "6s"

[appeals.limits.help]
accept = "1h"
reply = "1h"

[appeals.limits.consult]
accept = "1s"
reply = "1h"

[appeals.limits.complaint]
accept = "3s"
reply = "1h"

[[appeals.rules]]
dept = "{water}"
keywords = ["停水"]
"#
    ));
    let opts = ConfigOptions {
        citizen_auth: true,
        ..ConfigOptions::default()
    };
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
    // A starts first: its scanner takes the lease and keeps renewing it.
    let mut a = start().await;
    let b = start().await;
    let me = secure.client(Some("citizen-1"));
    let on_a = a.url("/api/v1/me/appeals");
    let on_b = b.url("/api/v1/me/appeals");

    // A holds the lease: its scanner, not B's, escalates a consultation.
    let (status, first) = post(
        &me,
        &on_a,
        None,
        json!({"kind": "consult", "title": "停水咨询", "content": "何时来水"}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let e0 = first["id"].as_str().unwrap().to_string();
    let escalated = wait_for(Duration::from_secs(15), || async {
        b.admin_get(&format!("/appeals/{e0}")).await["state"] == "escalated"
    })
    .await;
    assert!(escalated.is_some(), "the consultation is not escalated");
    let scanned = "appeals overdue scan";
    assert!(
        a.log().contains(scanned),
        "A escalated it: {}",
        a.proc.log_tail(20)
    );
    assert!(!b.log().contains(scanned), "B did not scan");

    // Several appeals filed on A (with idempotency keys), a complaint
    // among them that is overdue 3 s after filing.
    let mut filed = Vec::new();
    for (key, kind, title) in [
        ("k-1", "help", "停水一"),
        ("k-2", "help", "停水二"),
        ("k-3", "help", "停水三"),
        ("k-4", "complaint", "停水投诉"),
    ] {
        let (status, a_) = post(
            &me,
            &on_a,
            Some(key),
            json!({"kind": kind, "title": title, "content": "三天没有水"}),
        )
        .await;
        assert_eq!(status, 201, "{a_}");
        assert_eq!(a_["dept"], water.as_str(), "{a_}");
        filed.push((key, kind, a_["id"].as_str().unwrap().to_string()));
    }
    let ids: Vec<String> = filed.iter().map(|(_, _, id)| id.clone()).collect();
    let (h1, h2, h3, late) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    // The department works on B (its token issued on A).
    let token = issue_token(&a, &water).await;
    let mut w = Dept::connect_known(&b, &token).await;
    assert_eq!(w.accept(h1).await.unwrap().state, "accepted");
    assert_eq!(w.reply(h1, "已恢复供水").await.unwrap().state, "replied");
    // While the department goes on working on B, A is killed.
    let work = tokio::spawn({
        let mut w = w.clone();
        let (h2, h3) = (h2.clone(), h3.clone());
        async move {
            let mut states = Vec::new();
            for step in 0..3 {
                let done = match step {
                    0 => w.accept(&h2).await,
                    1 => w.reply(&h2, "已恢复供水").await,
                    _ => w.accept(&h3).await,
                };
                states.push(done.map(|x| x.state).map_err(|e| e.to_string()));
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            states
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let not_yet = b.admin_get(&format!("/appeals/{late}")).await;
    assert_ne!(
        not_yet["state"], "escalated",
        "overdue before the kill: {not_yet}"
    );
    let killed_at = now_ms();
    a.proc.kill9();
    println!("appeals: gateway A killed (SIGKILL) at {killed_at}");
    let states = work.await.unwrap();
    assert_eq!(
        states,
        [
            Ok("accepted".to_string()),
            Ok("replied".to_string()),
            Ok("accepted".to_string())
        ]
    );
    // The citizen, sent to B, repeats a filing A may never have answered:
    // the same appeal, not a second one.
    let (status, again) = post(
        &me,
        &on_b,
        Some("k-3"),
        json!({"kind": "help", "title": "停水三", "content": "三天没有水"}),
    )
    .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(h3.as_str())),
        "{again}"
    );

    // The complaint's limit passes while A's lease still stands; B takes
    // the lease over once it ran out and escalates the complaint, once.
    let escalated = wait_for(Duration::from_secs(20), || async {
        b.admin_get(&format!("/appeals/{late}")).await["state"] == "escalated"
    })
    .await;
    assert!(escalated.is_some(), "B never escalated the complaint");
    let at = escalated_at(&b.admin_get(&format!("/appeals/{late}")).await);
    println!(
        "appeals: B escalated the complaint {} ms after the kill",
        at - killed_at
    );
    assert!(
        at >= killed_at + 4_500,
        "escalated {} ms after the kill: before A's 6 s lease ran out",
        at - killed_at
    );
    assert!(b.log().contains(scanned), "B scans now");
    // More scan rounds change nothing.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Everything filed before the kill is on B with its whole timeline:
    // no step lost, none twice.
    let expected: Vec<(&String, Vec<&str>)> = vec![
        (
            &e0,
            vec!["submitted:citizen", "dispatched:system", "escalated:system"],
        ),
        (
            h1,
            vec![
                "submitted:citizen",
                "dispatched:system",
                "accepted:department",
                "replied:department",
            ],
        ),
        (
            h2,
            vec![
                "submitted:citizen",
                "dispatched:system",
                "accepted:department",
                "replied:department",
            ],
        ),
        (
            h3,
            vec![
                "submitted:citizen",
                "dispatched:system",
                "accepted:department",
            ],
        ),
        (
            late,
            vec!["submitted:citizen", "dispatched:system", "escalated:system"],
        ),
    ];
    let check = async |gw: &str, base: &str| {
        let (status, list) = get(&me, base).await;
        assert_eq!(status, 200, "{gw}: {list}");
        let mut listed: Vec<&str> = list["appeals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        listed.sort_unstable();
        let mut want: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
        want.sort_unstable();
        assert_eq!(listed, want, "{gw}: every appeal once");
        for (id, steps) in &expected {
            let (status, seen) = get(&me, &format!("{base}/{id}")).await;
            assert_eq!(status, 200, "{gw}: {seen}");
            assert_eq!(events(&seen), *steps, "{gw}: {id}");
        }
    };
    check("B", &on_b).await;
    let stats = b.admin_get("/appeals/stats").await;
    assert_eq!(stats["total"], 5, "{stats}");
    assert_eq!(stats["by_state"]["escalated"], 2, "{stats}");

    // A restarted sees all of it, and takes part again.
    a.proc = Gateway::spawn_serve(a.dir.path(), &[], "gateway-restarted.log");
    a.wait_ready(Duration::from_secs(30)).await;
    check("A restarted", &on_a).await;
    assert_eq!(a.admin_get("/appeals/stats").await, stats);
    let mut wa = Dept::connect_known(&a, &token).await;
    assert_eq!(wa.accept(late).await.unwrap().state, "accepted");
    assert_eq!(
        b.admin_get(&format!("/appeals/{late}")).await["state"],
        "accepted"
    );
}

/// The `at` of an appeal's first `event` step.
fn step_at(appeal: &Value, event: &str) -> i64 {
    appeal["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["event"] == event)
        .and_then(|e| e["at"].as_i64())
        .unwrap_or_else(|| panic!("no `{event}` step with `at`: {appeal}"))
}

/// The fleet's case officers against a real gateway (SQLite): a quick
/// department accepts and replies after its delays, one returns what is
/// outside its remit to the operators' queue, a silent one lets its
/// appeal go overdue and the gateway escalates it exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fleets_case_officers_reply_return_and_a_silent_one_is_escalated() {
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let ids: Vec<String> = sim
        .manifest
        .departments
        .iter()
        .map(|d| d.id.clone())
        .collect();
    let (quick, picky, silent) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        r#"
[appeals]
scan_interval = "200ms"
scan_lease = "1s"
supervise_after = "1s"

[appeals.limits.help]
accept = "1h"
reply = "1h"

[appeals.limits.complaint]
accept = "1h"
reply = "1h"

[appeals.limits.consult]
accept = "2s"
reply = "1h"

[[appeals.rules]]
dept = "{quick}"
keywords = ["停水"]

[[appeals.rules]]
dept = "{picky}"
keywords = ["噪音"]

[[appeals.rules]]
dept = "{silent}"
keywords = ["路灯"]
"#
    ));
    let gw = secure.citizens_gateway(&sim.manifest, extra).await;

    // The officers, with real department tokens, on the control listener.
    let mut tokens = std::collections::BTreeMap::new();
    for d in [&quick, &picky, &silent] {
        tokens.insert(d.clone(), issue_token(&gw, d).await);
    }
    let accept_after = Duration::from_millis(200);
    // Room for the co-handler (polling every 100 ms) to give its part
    // before the lead replies.
    let reply_after = Duration::from_millis(1_000);
    let answer = "已安排抢修，今晚恢复供水";
    let mut officers = OfficerOptions::new(gw.control, tokens);
    officers.poll = Duration::from_millis(100);
    officers.officers.insert(
        quick.clone(),
        Officer {
            accept_after,
            reply_after,
            reply: answer.into(),
            // Water pipes in a housing estate: the picky department helps.
            co_handle: [("停水".to_owned(), picky.clone())].into(),
            ..Officer::default()
        },
    );
    officers.officers.insert(
        picky.clone(),
        Officer {
            outside_remit: vec!["物业".into()],
            ..Officer::default()
        },
    );
    officers.officers.insert(
        silent.clone(),
        Officer {
            silent: true,
            ..Officer::default()
        },
    );
    let fleet = CaseOfficers::start(officers).expect("officers start");

    // A citizen files one appeal to each department.
    let me = secure.client(Some("citizen-1"));
    let appeals = gw.url("/api/v1/me/appeals");
    let mut filed = Vec::new();
    for (kind, title, content, dept) in [
        ("help", "小区停水", "三天没有水", &quick),
        ("complaint", "装修噪音", "物业不管楼上装修", &picky),
        ("consult", "路灯不亮", "何时修好", &silent),
    ] {
        let (status, a) = post(
            &me,
            &appeals,
            None,
            json!({"kind": kind, "title": title, "content": content}),
        )
        .await;
        assert_eq!(status, 201, "{a}");
        assert_eq!(
            (a["state"].as_str(), a["dept"].as_str()),
            (Some("dispatched"), Some(dept.as_str())),
            "{a}"
        );
        filed.push(a["id"].as_str().unwrap().to_string());
    }
    let (answered, returned, ignored) = (&filed[0], &filed[1], &filed[2]);
    let state_is = |id: &String, state: &'static str| {
        let (me, u) = (me.clone(), format!("{appeals}/{id}"));
        move || {
            let (me, u) = (me.clone(), u.clone());
            async move { get(&me, &u).await.1["state"] == state }
        }
    };

    // The quick department accepts, brings the picky one in (协办), which
    // gives its part, then replies with its text.
    let replied = wait_for(Duration::from_secs(10), state_is(answered, "replied")).await;
    assert!(replied.is_some(), "not replied: {:?}", fleet.actions());
    let (_, seen) = get(&me, &format!("{appeals}/{answered}")).await;
    assert_eq!(seen["reply"], answer, "{seen}");
    assert_eq!(
        events(&seen),
        [
            "submitted:citizen",
            "dispatched:system",
            "accepted:department",
            "cohandler_added:department",
            "assisted:department",
            "replied:department"
        ]
    );
    assert_eq!(seen["co_handlers"], json!([picky]), "{seen}");
    for (i, step) in seen["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .skip(2)
    {
        let by = if (3..=4).contains(&i) { &picky } else { &quick };
        assert_eq!(step["dept"], by.as_str(), "{seen}");
    }
    let (dispatched, accepted, answered_at) = (
        step_at(&seen, "dispatched"),
        step_at(&seen, "accepted"),
        step_at(&seen, "replied"),
    );
    println!(
        "appeals: officer accepted {} ms after dispatch, replied {} ms after accepting",
        accepted - dispatched,
        answered_at - accepted
    );
    assert!(
        accepted - dispatched >= 200,
        "accepted {} ms after dispatch, before accept_after",
        accepted - dispatched
    );
    assert!(
        answered_at - accepted >= 300,
        "replied {} ms after accepting, before reply_after",
        answered_at - accepted
    );

    // Outside the picky department's remit: returned with the reason,
    // and in the operators' queue.
    let back = wait_for(Duration::from_secs(10), state_is(returned, "returned")).await;
    assert!(back.is_some(), "not returned: {:?}", fleet.actions());
    let (_, seen) = get(&me, &format!("{appeals}/{returned}")).await;
    assert_eq!(
        events(&seen),
        [
            "submitted:citizen",
            "dispatched:system",
            "returned:department"
        ]
    );
    let step = seen["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(step["note"], "不属本部门职责，请改派", "{seen}");
    assert_eq!(step["dept"], picky.as_str(), "{seen}");
    let queue = gw.admin_get("/appeals?view=queue").await;
    let in_queue: Vec<&str> = queue["appeals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert!(in_queue.contains(&returned.as_str()), "{queue}");
    assert!(!in_queue.contains(&answered.as_str()), "{queue}");

    // The silent department never accepts: after its 2 s limit the
    // gateway escalates the consultation (催办), and a second later, still
    // overdue, the operators supervise it (督办) — each exactly once.
    let escalated = wait_for(Duration::from_secs(15), state_is(ignored, "escalated")).await;
    assert!(escalated.is_some(), "not escalated within 15 s");
    let supervised = wait_for(Duration::from_secs(15), || async {
        gw.admin_get(&format!("/appeals/{ignored}")).await["supervised_at"].is_i64()
    })
    .await;
    assert!(supervised.is_some(), "not supervised within 15 s");
    // More scan rounds and officer polls change nothing.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let seen = gw.admin_get(&format!("/appeals/{ignored}")).await;
    assert_eq!(seen["state"], "escalated", "{seen}");
    assert_eq!(
        events(&seen),
        [
            "submitted:citizen",
            "dispatched:system",
            "escalated:system",
            "supervised:system"
        ]
    );
    assert!(
        step_at(&seen, "escalated") >= step_at(&seen, "dispatched") + 2_000,
        "escalated before the 2 s accept limit: {seen}"
    );
    assert!(
        step_at(&seen, "supervised") >= step_at(&seen, "escalated") + 1_000,
        "supervised before a second after the reminder: {seen}"
    );
    assert_eq!(seen["overdue"], true, "{seen}");
    let stats = gw.admin_get("/appeals/stats").await;
    assert_eq!(stats["by_state"]["escalated"], 1, "{stats}");
    assert_eq!(stats["supervised"], 1, "{stats}");
    // The citizen was told of both.
    let (_, inbox) = get(&me, &gw.url("/api/v1/me/messages")).await;
    let kinds: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subject"] == ignored.as_str())
        .filter_map(|m| m["kind"].as_str())
        .filter(|k| matches!(*k, "appeal.escalated" | "appeal.supervised"))
        .collect();
    assert_eq!(kinds, ["appeal.supervised", "appeal.escalated"], "{inbox}");

    // What the officers did: the quick one accepted and replied once, the
    // picky one returned once, the silent one nothing, and no call failed.
    let actions: Vec<(String, String, &str)> = fleet
        .actions()
        .into_iter()
        .map(|a| (a.dept, a.appeal, a.action))
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.0 == quick)
            .cloned()
            .collect::<Vec<_>>(),
        [
            (quick.clone(), answered.clone(), "accept"),
            (quick.clone(), answered.clone(), "cohandler"),
            (quick.clone(), answered.clone(), "reply")
        ]
    );
    let mut picky_did: Vec<(String, String, &str)> =
        actions.iter().filter(|a| a.0 == picky).cloned().collect();
    picky_did.sort();
    let mut want = vec![
        (picky.clone(), returned.clone(), "return"),
        (picky.clone(), answered.clone(), "assist"),
    ];
    want.sort();
    assert_eq!(picky_did, want);
    assert!(
        actions.iter().all(|a| a.0 != silent),
        "the silent department acted: {actions:?}"
    );
    fleet.stop().await;
}

/// `make demo`: the fleet's officers and the appeals filed at start put
/// something in every appeals view (the operators' queue, open,
/// escalated once the silent department's 30 s limit passed, closed and
/// rated), and the printed curl line, run as printed, files an appeal
/// (201) that the busy department's officer answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_fills_every_appeals_view_and_its_printed_appeal_curl_files_one() {
    let demo = onestop_tests::Demo::start(32, 100).await;
    let operator = demo.info["operator_token"].as_str().unwrap().to_owned();
    let http = onestop_tests::client();
    let admin = |path: String| {
        let (http, operator) = (http.clone(), operator.clone());
        let url = format!("http://{}/admin/v1{path}", demo.admin);
        async move {
            let r = http
                .get(url)
                .bearer_auth(operator)
                .send()
                .await
                .expect("admin listener");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("admin JSON")
        }
    };

    // The appeals the demo filed at start: two answered and rated.
    let rated = wait_for(Duration::from_secs(60), || async {
        admin("/appeals/stats".into()).await["by_state"]["closed"] == 2
    })
    .await;
    assert!(
        rated.is_some(),
        "the demo's appeals were not answered and rated: {}\n{}",
        admin("/appeals/stats".into()).await,
        demo.proc.log_tail(30)
    );
    let view = async |v: &str| -> Vec<Value> {
        admin(format!("/appeals?view={v}")).await["appeals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let queue = view("queue").await;
    let states: Vec<&str> = queue.iter().filter_map(|a| a["state"].as_str()).collect();
    assert!(
        states.contains(&"submitted") && states.contains(&"returned"),
        "the operators' queue holds an undispatched and a returned appeal: {states:?}"
    );
    assert!(!view("open").await.is_empty());
    // The street-light appeal carries the citizen's photo.
    let lamp = view("all")
        .await
        .into_iter()
        .find(|a| a["title"] == "小区路灯不亮")
        .expect("the demo's street-light appeal");
    let lamp = admin(format!("/appeals/{}", lamp["id"].as_str().unwrap())).await;
    let photos = lamp["attachments"].as_array().cloned().unwrap_or_default();
    assert_eq!(photos.len(), 1, "{lamp}");
    assert_eq!(photos[0]["type"], "image/png", "{lamp}");

    // The curl line the demo printed, run as printed.
    let printed = demo.printed();
    let line = |f: &dyn Fn(&str) -> bool| {
        printed
            .lines()
            .map(str::trim)
            .find(|l| f(l))
            .unwrap_or_else(|| panic!("not printed:\n{printed}"))
            .to_string()
    };
    let export = line(&|l| l.starts_with("export T="));
    let curl = line(&|l| l.starts_with("curl") && l.ends_with("/api/v1/me/appeals"));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{export}\n{curl} -w '\\n%{{http_code}}'"))
        .output()
        .expect("sh");
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = out.rsplit_once('\n').expect("body and status");
    assert_eq!(code, "201", "{curl}\n{out}");
    let filed: Value = serde_json::from_str(body).expect("JSON answer");
    assert_eq!(filed["state"], "dispatched", "{filed}");
    let id = filed["id"].as_str().unwrap().to_string();
    let replied = wait_for(Duration::from_secs(15), || async {
        admin(format!("/appeals/{id}")).await["state"] == "replied"
    })
    .await;
    assert!(replied.is_some(), "the busy department did not answer");
    let seen = admin(format!("/appeals/{id}")).await;
    // A water cut: the busy department brought a third one in (协办),
    // whose part (polled every 500 ms) normally comes before the reply
    // (2 s after accepting).
    let steps = events(&seen);
    println!("appeals: the demo's curl appeal went {steps:?}");
    assert_eq!(
        steps
            .iter()
            .filter(|e| *e != "assisted:department")
            .collect::<Vec<_>>(),
        [
            "submitted:citizen",
            "dispatched:system",
            "accepted:department",
            "cohandler_added:department",
            "replied:department"
        ]
    );
    assert_eq!(
        seen["co_handlers"].as_array().map(Vec::len),
        Some(1),
        "{seen}"
    );

    // The silent department's complaint: escalated once its 30 s accept
    // limit passed, never accepted.
    let escalated = wait_for(Duration::from_secs(60), || async {
        !view("escalated").await.is_empty()
    })
    .await;
    assert!(escalated.is_some(), "nothing escalated within 60 s");
    println!("appeals: the demo's silent department escalated after {escalated:?}");
    let esc = view("escalated").await;
    assert_eq!(esc.len(), 1, "{esc:?}");
    let seen = admin(format!("/appeals/{}", esc[0]["id"].as_str().unwrap())).await;
    assert_eq!(
        events(&seen),
        ["submitted:citizen", "dispatched:system", "escalated:system"]
    );
    assert_ne!(seen["dept"], filed["dept"], "{seen}");
}
