//! Privacy of appeals on `/admin/v1/appeals…`: an emergency appeal's
//! location is withheld from operators (said so, not a silent null),
//! other kinds' shown; every appeal an operator reads is in its citizen's
//! access log (`operator:<name>`, `appeal <id>`, `appeal supervision`);
//! when the access log refuses, no appeal is shown (503).

use std::time::Duration;

use onestop_store::AccessAuditStore;
use serde_json::{Value, json};

use super::support::*;

async fn file(h: &Harness, citizen: &str, kind: &str) -> String {
    let body = json!({"kind": kind, "title": "公积金中心门口燃气泄漏", "content": "闻到燃气味",
        "location": {"address": "某区某路1号", "lat": 23.13, "lng": 113.26}});
    super::appeals::file_body(h.appeals.as_ref().unwrap(), citizen, &body).await
}

fn harness(log: AccessLog) -> Options {
    Options {
        sharing: true,
        appeals: true,
        access_log: Some(log),
        ..Options::default()
    }
}

/// The citizen's access-log entries for appeals, as (who, item, purpose,
/// fields), once `n` are written (at most 5 s).
async fn reads(h: &Harness, citizen: &str, n: usize) -> Vec<(String, String, String, Vec<String>)> {
    let store = h.sharing_store.clone().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got: Vec<_> = store
            .citizen_access(citizen, 100, None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.consumer, r.item, r.purpose, r.fields))
            .collect();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn operators_get_no_emergency_location_and_their_reads_are_in_the_citizens_access_log() {
    let h = Harness::with(harness(AccessLog::Working)).await;
    let sos = file(&h, "citizen-a", "emergency").await;
    let help = file(&h, "citizen-b", "help").await;

    let a = h
        .get_json(&format!("/admin/v1/appeals/{sos}"), VIEWER)
        .await;
    assert_eq!(a["kind"], "emergency", "{a}");
    assert_eq!(
        (&a["location"], &a["location_withheld"]),
        (&Value::Null, &json!(true)),
        "{a}"
    );
    assert!(!a.to_string().contains("某路"), "{a}");
    assert_eq!(a["title"], "公积金中心门口燃气泄漏");
    let b = h
        .get_json(&format!("/admin/v1/appeals/{help}"), VIEWER)
        .await;
    assert_eq!(b["location"]["address"], "某区某路1号", "{b}");
    assert_eq!(b["location_withheld"], json!(false), "{b}");

    // The list withholds the same way.
    let list = h.get_json("/admin/v1/appeals?view=all", VIEWER).await;
    let listed: Vec<&Value> = list["appeals"].as_array().unwrap().iter().collect();
    let sos_listed = listed.iter().find(|x| x["id"] == sos.as_str()).unwrap();
    assert_eq!(sos_listed["location_withheld"], json!(true));
    assert!(sos_listed["location"].is_null());

    // Each read is in its citizen's log: the GET, then the list.
    let got = reads(&h, "citizen-a", 2).await;
    let item = format!("appeal {sos}");
    let want = (
        "operator:viewer".to_string(),
        item,
        "appeal supervision".to_string(),
        vec!["title".to_string(), "content".to_string()],
    );
    assert_eq!(got, vec![want.clone(), want], "{got:?}");
    let got = reads(&h, "citizen-b", 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].3, ["title", "content", "location"]);
    // Nobody else's log has them (everything accepted is written by now).
    let store = h.sharing_store.clone().unwrap();
    assert!(
        store
            .citizen_access("citizen-c", 100, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_refusing_access_log_shows_operators_no_appeal() {
    let h = Harness::with(harness(AccessLog::Refusing)).await;
    let id = file(&h, "citizen-a", "help").await;
    for path in [
        format!("/admin/v1/appeals/{id}"),
        "/admin/v1/appeals?view=all".to_string(),
    ] {
        let (status, body) = answer(h.req("GET", &path, Some(VIEWER)).send().await.unwrap()).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "STORE_UNAVAILABLE", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("access log"),
            "{body}"
        );
        assert!(!body.to_string().contains("燃气"), "{body}");
    }
    // An empty answer reads nothing and needs no record.
    let (status, body) = answer(
        h.req("GET", "/admin/v1/appeals?view=escalated", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &body["appeals"]), (200, &json!([])), "{body}");
}
