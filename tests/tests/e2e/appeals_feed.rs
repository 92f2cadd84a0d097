//! The public feed of disclosed, closed appeals (`GET
//! /api/v1/appeals/public`) from the outside: a citizen files disclosed
//! appeals holding an ID number, a mobile, an e-mail and an address, the
//! department accepts and replies over its control listener, the citizen
//! rates (which closes them); the feed, read with the channel's app key
//! and no citizen, has the entries with department, reply and time taken,
//! and a scan of it for ID and phone patterns finds none. The bad rating
//! opens one follow-up that operators see under `/admin/v1/followups`.

use onestop_core::mask::find_unmasked;
use onestop_tests::Sim;
use onestop_tests::appeals::{Dept, get, post};
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use serde_json::{Value, json};

/// Every string in `v`, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_public_feed_shows_closed_disclosed_appeals_masked_with_reply_and_time_taken() {
    let secure = Secure::new();
    let sim = Sim::start_signed(2, 20, Some(&secure.signing_key_hex)).await;
    let water = http_depts(&sim)[0].id.clone();
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        "\n[[appeals.rules]]\ndept = \"{water}\"\nkeywords = [\"停水\"]\n"
    ));
    let gw = secure.citizens_gateway(&sim.manifest, extra).await;
    let me = secure.client(Some("citizen-feed"));
    let appeals = gw.url("/api/v1/me/appeals");
    let feed = gw.url("/api/v1/appeals/public");
    let id_number = "110101199003077774";
    let mobile = "13812345678";
    let filings = [
        json!({"kind": "help", "title": format!("停水，电话{mobile}"),
               "content": format!("我叫王小明，身份证{id_number}，住广州市天河区体育西路103号3栋501，邮箱wxm@example.com，停水三天"),
               "location": {"address": "广州市天河区体育西路103号", "lat": 23.13, "lng": 113.32},
               "disclose": true}),
        json!({"kind": "complaint", "title": "又停水", "content": format!("联系{mobile}"), "disclose": true}),
        json!({"kind": "help", "title": "停水（不公开）", "content": "私事", "disclose": false}),
    ];
    let mut ids = Vec::new();
    for f in filings {
        let (status, a) = post(&me, &appeals, None, f).await;
        assert_eq!(status, 201, "{a}");
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    // Before anything is closed the feed is empty.
    let anonymous = secure.client(None);
    let (status, page) = get(&anonymous, &feed).await;
    assert_eq!((status, &page["appeals"]), (200, &json!([])), "{page}");

    let token = issue_token(&gw, &water).await;
    let mut w = Dept::connect(&gw, &token).await;
    for id in &ids {
        w.accept(id).await.unwrap();
        w.reply(
            id,
            &format!("已修复。维修师傅电话13912345678，工单号{id_number}"),
        )
        .await
        .unwrap();
    }
    for (id, score) in ids.iter().zip([5, 2, 4]) {
        let (status, rated) = post(
            &me,
            &format!("{appeals}/{id}/rating"),
            None,
            json!({"score": score}),
        )
        .await;
        assert_eq!(
            (status, rated["state"].as_str()),
            (200, Some("closed")),
            "{rated}"
        );
    }

    let (status, page) = get(&anonymous, &format!("{feed}?limit=10")).await;
    assert_eq!(status, 200, "{page}");
    let entries = page["appeals"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "only the disclosed ones: {page}");
    // Newest closed first: the second appeal, then the first.
    let public: Vec<String> = ids[..2]
        .iter()
        .rev()
        .map(|id| format!("{}-{}", &id[..9], &id[9..]))
        .collect();
    assert_eq!(entries[0]["id"], public[0]);
    assert_eq!(entries[1]["id"], public[1]);
    let mut found = Vec::new();
    strings(&page, &mut found);
    for s in &found {
        assert!(
            find_unmasked(s).is_empty(),
            "an ID or phone in the feed: {s}"
        );
    }
    let text = page.to_string();
    for leaked in [
        id_number,
        mobile,
        "13912345678",
        "王小明",
        "体育西路",
        "wxm@",
        "citizen-feed",
        "113.32",
    ] {
        assert!(!text.contains(leaked), "{leaked} in the feed: {text}");
    }
    let e = &entries[1];
    assert_eq!(e["dept"]["id"], water.as_str(), "{e}");
    assert!(
        e["dept"]["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{e}"
    );
    assert_eq!(e["district"], "广州市天河区");
    assert_eq!(e["title"], "停水，电话138****5678");
    assert!(
        e["content"]
            .as_str()
            .unwrap()
            .contains("110***********7774"),
        "{e}"
    );
    assert_eq!(
        e["reply"],
        "已修复。维修师傅电话139****5678，工单号110***********7774"
    );
    let taken = e["time_taken_ms"].as_i64().unwrap();
    assert!(taken > 0, "{e}");
    assert_eq!(
        taken,
        e["closed_at"].as_i64().unwrap() - e["filed_at"].as_i64().unwrap()
    );
    assert!(e["reply_time_ms"].as_i64().unwrap() <= taken);

    // Paged with `before`; a bad parameter is 400 naming it.
    let (_, p1) = get(&anonymous, &format!("{feed}?limit=1")).await;
    let next = p1["next"].as_str().unwrap().to_owned();
    let (_, p2) = get(&anonymous, &format!("{feed}?limit=1&before={next}")).await;
    assert_eq!(p2["appeals"][0]["id"], public[1]);
    let (status, bad) = get(&anonymous, &format!("{feed}?limit=0")).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    // The channel's app key is needed, as on every public route.
    let (status, _) = get(&onestop_tests::client(), &feed).await;
    assert!(matches!(status, 401 | 403), "{status}");

    // The 2 opened one follow-up for the department; the 5 and 4 none.
    // (written with the rating, in its transaction: no waiting)
    let followups = gw.admin_get(&format!("/followups?dept={water}")).await;
    let list = followups["followups"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{followups}");
    assert_eq!(
        (
            list[0]["subject"]["kind"].as_str(),
            list[0]["subject"]["id"].as_str(),
            list[0]["score"].as_i64()
        ),
        (Some("appeal"), Some(ids[1].as_str()), Some(2)),
        "{followups}"
    );
}
