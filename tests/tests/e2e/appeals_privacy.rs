//! Privacy of citizens' appeals (issue 21 item 7) on one real gateway:
//! another citizen gets 404; another department PERMISSION_DENIED and no
//! sight of the appeal in its `List`; an emergency appeal's location
//! reaches the emergency department (`[appeals] emergency_dept`) and
//! neither another department nor an operator (both are told it is
//! withheld), while the citizen keeps it; the citizen's access log
//! (`GET /api/v1/me/access-log`) lists the departments' and the operator's
//! reads with who, `appeal <id>` and the purpose. The two-gateway loop in
//! `appeals.rs` checks 404 and PERMISSION_DENIED on a plain appeal.

use std::time::Duration;

use onestop_tests::Sim;
use onestop_tests::appeals::{Dept, get, post};
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appeals_privacy_emergency_location_goes_to_the_emergency_department_and_reads_are_in_the_access_log()
 {
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let depts = http_depts(&sim);
    let (sos, other) = (depts[0].id.clone(), depts[1].id.clone());
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        r#"
[appeals]
emergency_dept = "{sos}"

[[appeals.rules]]
dept = "{sos}"
kinds = ["emergency"]
keywords = ["燃气"]

[[appeals.rules]]
dept = "{other}"
kinds = ["emergency"]
"#
    ));
    let gw = secure.citizens_gateway(&sim.manifest, extra).await;
    let me = secure.client(Some("citizen-1"));
    let stranger = secure.client(Some("citizen-2"));
    let appeals = gw.url("/api/v1/me/appeals");
    let address = "某区某路1号3栋";
    let location = json!({"address": address, "lat": 23.13, "lng": 113.26});

    // Two emergencies: the gas leak goes to the emergency department, the
    // other (no keyword) to another department.
    let (status, gas) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "emergency", "title": "燃气泄漏",
        "content": "楼道里燃气味很重", "location": location}),
    )
    .await;
    assert_eq!(status, 201, "{gas}");
    assert_eq!(gas["dept"].as_str(), Some(sos.as_str()), "{gas}");
    let (status, fall) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "emergency", "title": "老人摔倒",
        "content": "邻居老人摔倒", "location": location}),
    )
    .await;
    assert_eq!(status, 201, "{fall}");
    assert_eq!(fall["dept"].as_str(), Some(other.as_str()), "{fall}");
    let gas_id = gas["id"].as_str().unwrap().to_string();
    let fall_id = fall["id"].as_str().unwrap().to_string();

    // The citizen keeps the location; another citizen gets 404.
    let (status, mine) = get(&me, &format!("{appeals}/{gas_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(mine["location"]["address"], address, "{mine}");
    let (status, theirs) = get(&stranger, &format!("{appeals}/{gas_id}")).await;
    assert_eq!(status, 404, "{theirs}");
    assert!(!theirs.to_string().contains("燃气"));

    // The emergency department sees the gas leak's location.
    let mut s = Dept::connect(&gw, &issue_token(&gw, &sos).await).await;
    let mut o = Dept::connect(&gw, &issue_token(&gw, &other).await).await;
    let listed = s.list().await.unwrap();
    let seen = listed.iter().find(|a| a.id == gas_id).expect("listed");
    let loc: Value = serde_json::from_str(&seen.location_json).unwrap();
    assert_eq!(loc["address"], address);
    assert!(!seen.location_withheld);
    assert!(listed.iter().all(|a| a.id != fall_id));

    // The other department: its own emergency without the location (said
    // so), and the gas leak neither listed nor workable.
    let listed = o.list().await.unwrap();
    assert!(listed.iter().all(|a| a.id != gas_id));
    let own = listed.iter().find(|a| a.id == fall_id).expect("listed");
    assert_eq!(
        (own.location_json.as_str(), own.location_withheld),
        ("", true)
    );
    let denied = o.accept(&gas_id).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert!(!denied.message().contains(address));
    let accepted = o.accept(&fall_id).await.unwrap();
    assert_eq!(accepted.state, "accepted");
    assert!(accepted.location_withheld && accepted.location_json.is_empty());

    // An operator: withheld, said so.
    let op = gw.admin_get(&format!("/appeals/{gas_id}")).await;
    assert_eq!(op["title"], "燃气泄漏");
    assert_eq!(
        (&op["location"], &op["location_withheld"]),
        (&Value::Null, &json!(true)),
        "{op}"
    );
    assert!(!op.to_string().contains(address));

    // The citizen's access log: the emergency department's and the other
    // department's reads (List, Accept) and the operator's, each with
    // who, what and why; the refused Accept read nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let reads = loop {
        let (status, page) = get(&me, &gw.url("/api/v1/me/access-log?limit=100")).await;
        assert_eq!(status, 200, "{page}");
        let reads: Vec<(String, String, String, String)> = page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["item"].as_str().is_some_and(|i| i.starts_with("appeal ")))
            .map(|r| {
                (
                    r["accessor"]["kind"].as_str().unwrap_or("").to_string(),
                    r["accessor"]["id"].as_str().unwrap_or("").to_string(),
                    r["item"].as_str().unwrap_or("").to_string(),
                    r["purpose"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if reads.len() >= 4 || std::time::Instant::now() > deadline {
            break reads;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let read = |kind: &str, id: &str, item: &str, purpose: &str| {
        (
            kind.to_string(),
            id.to_string(),
            format!("appeal {item}"),
            purpose.to_string(),
        )
    };
    let mut want = vec![
        read("department", &sos, &gas_id, "appeal handling"),
        read("department", &other, &fall_id, "appeal handling"),
        read("department", &other, &fall_id, "appeal handling"),
        read("operator", "test-operator", &gas_id, "appeal supervision"),
    ];
    let mut got = reads.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{reads:#?}");
    // Another citizen's log has none of them.
    let (_, theirs) = get(&stranger, &gw.url("/api/v1/me/access-log?limit=100")).await;
    assert!(!theirs.to_string().contains(&gas_id), "{theirs}");
}
