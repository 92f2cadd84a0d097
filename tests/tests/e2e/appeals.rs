//! Citizens' appeals (12345) end to end over two gateways on one
//! PostgreSQL: a citizen files on gateway A, the department works it on
//! gateway B's control listener, the citizen follows every step on A and
//! rates it; a returned appeal goes to the operators' queue and is
//! re-dispatched; an appeal with a short accept limit becomes overdue and
//! is escalated exactly once with both gateways scanning; another citizen
//! gets 404 and another department PERMISSION_DENIED.

use std::time::Duration;

use onestop_tests::appeals::{Dept, events, get, post};
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use onestop_tests::{
    ConfigOptions, Gateway, GatewaySetup, Sim, pg_url, require_postgres, wait_for,
};
use serde_json::json;

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
    // once, with both gateways' scanners running.
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
    // Several more scan rounds on both gateways change nothing.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, seen) = get(&me, &format!("{appeals}/{lid}")).await;
    let n = events(&seen)
        .iter()
        .filter(|e| e.starts_with("escalated:"))
        .count();
    assert_eq!(n, 1, "{seen}");
    assert_eq!(seen["overdue"], true);
    let stats = b.admin_get("/appeals/stats").await;
    assert_eq!(stats["total"], 3, "{stats}");
    assert_eq!(stats["by_state"]["escalated"], 1, "{stats}");
    // The department still accepts the escalated appeal on A.
    let mut wa = Dept::connect(&a, &water_token).await;
    assert_eq!(wa.accept(&lid).await.unwrap().state, "accepted");
}

