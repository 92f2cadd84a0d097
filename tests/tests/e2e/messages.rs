//! Citizens' messages end to end: a channel with a `notify_url` pointing at
//! a receiver run here that fails its first three deliveries. A citizen
//! files an appeal, the department accepts and replies over gRPC; every
//! event (dispatched, accepted, replied, rating invitation) reaches the
//! receiver signed, retries carry the same `event_id` and body, the inbox
//! lists the same events newest first with `read`, another citizen gets
//! 404, and the operators' outbox shows the first event delivered after
//! four attempts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use onestop_control::pb::appeals as pb;
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, wait_for};
use pb::appeals_client::AppealsClient;
use serde_json::{Value, json};
use sha2::Sha256;
use tonic::transport::Channel;

const SECRET: &[u8] = b"e2e-webhook-secret-0123456789";
/// The receiver answers 500 to this many POSTs, then 200.
const FAILURES: usize = 3;

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Post {
    event_id: String,
    signature: String,
    content_type: String,
    body: Bytes,
    answered: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Receiver {
    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut posts = r.posts.lock().unwrap();
    let answered = if posts.len() < FAILURES { 500 } else { 200 };
    posts.push(Post {
        event_id: header("x-onestop-event-id"),
        signature: header("x-onestop-signature"),
        content_type: header("content-type"),
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

/// A webhook receiver on a loopback port: `(its URL, what it got)`.
async fn receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), r)
}

/// `sha256=<hex HMAC-SHA256 of body>`, computed here independently.
fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct Dept {
    client: AppealsClient<Channel>,
    auth: String,
}

impl Dept {
    async fn connect(gw: &Gateway, token: &str) -> Dept {
        let channel = Channel::from_shared(format!("http://{}", gw.control))
            .unwrap()
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .unwrap();
        Dept {
            client: AppealsClient::new(channel),
            auth: format!("Bearer {token}"),
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert("authorization", self.auth.parse().unwrap());
        r
    }
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_reach_the_inbox_and_a_failing_webhook_signed_once_per_id() {
    let (url, received) = receiver().await;
    let secure = Secure::new();
    let sim = Sim::start_signed(4, 20, Some(&secure.signing_key_hex)).await;
    let water = http_depts(&sim)[0].id.clone();
    let hook_toml =
        format!("notify_url = \"{url}\"\nnotify_secret_file = \"keys/super-app.webhook\"\n");
    let mut extra = secure.gateway_toml(&[&hook_toml]);
    extra.push_str(&format!(
        r#"
[messages]
first_retry = "1s"
max_retry_interval = "2s"
interval = "100ms"
timeout = "1s"
lease = "5s"

[[appeals.rules]]
dept = "{water}"
keywords = ["停水"]
"#
    ));
    let gw = Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions {
            citizen_auth: true,
            ..ConfigOptions::default()
        },
        |config| {
            secure.write_keys(config);
            // Trailing whitespace is not part of the secret.
            let mut secret = SECRET.to_vec();
            secret.extend_from_slice(b"\n");
            std::fs::write(config.join("keys/super-app.webhook"), secret).unwrap();
        },
        GatewaySetup {
            threads: 2,
            extra,
            ..GatewaySetup::default()
        },
    )
    .await;
    let me = secure.client(Some("citizen-1"));
    let stranger = secure.client(Some("citizen-2"));

    // Filed and dispatched by the rule: the first event, which the
    // receiver refuses three times.
    let (status, appeal) = call(
        &me,
        "POST",
        &gw.url("/api/v1/me/appeals"),
        Some(json!({"kind": "help", "title": "小区停水 13800138000", "content": "三天没有水，电话 13900139000"})),
    )
    .await;
    assert_eq!(status, 201, "{appeal}");
    assert_eq!(appeal["state"], "dispatched", "{appeal}");
    let id = appeal["id"].as_str().unwrap().to_string();
    let refused = wait_for(Duration::from_secs(15), || {
        let r = received.clone();
        async move { r.posts().len() >= FAILURES }
    })
    .await;
    assert!(
        refused.is_some(),
        "three attempts within 15 s: {:?}",
        received.posts()
    );
    println!("messages: three refused attempts after {refused:?}");

    // The department accepts and replies over gRPC.
    let token = issue_token(&gw, &water).await;
    let mut dept = Dept::connect(&gw, &token).await;
    let r = dept.req(pb::AcceptRequest {
        id: id.clone(),
        note: "已签收".into(),
    });
    assert_eq!(
        dept.client.accept(r).await.unwrap().into_inner().state,
        "accepted"
    );
    let r = dept.req(pb::ReplyRequest {
        id: id.clone(),
        text: "已联系物业，今日恢复供水".into(),
        attachments: Vec::new(),
    });
    assert_eq!(
        dept.client.reply(r).await.unwrap().into_inner().state,
        "replied"
    );

    // Every event arrives (a 2xx for each of the four).
    let kinds = [
        "appeal.dispatched",
        "appeal.accepted",
        "appeal.replied",
        "rating.invitation",
    ];
    let all = wait_for(Duration::from_secs(20), || {
        let r = received.clone();
        async move {
            r.posts()
                .iter()
                .filter(|p| p.answered == 200)
                .map(|p| p.event_id.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                >= kinds.len()
        }
    })
    .await;
    let posts = received.posts();
    assert!(all.is_some(), "not every event delivered: {posts:?}");

    // Signed, the header's id is the body's, the same body on every retry.
    let mut by_event: BTreeMap<String, Vec<&Post>> = BTreeMap::new();
    for p in &posts {
        assert_eq!(p.signature, signature(SECRET, &p.body), "{p:?}");
        assert_ne!(p.signature, signature(b"another-secret-0123", &p.body));
        assert!(p.content_type.starts_with("application/json"), "{p:?}");
        let body: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(body["event_id"], p.event_id.as_str(), "{body}");
        assert_eq!(body["citizen"], "citizen-1", "{body}");
        assert_eq!(body["channel"], "super-app", "{body}");
        assert_eq!(body["subject"], id.as_str(), "{body}");
        let text = String::from_utf8_lossy(&p.body);
        assert!(!text.contains("13800138000"), "title masked: {text}");
        assert!(!text.contains("三天没有水"), "no content: {text}");
        by_event.entry(p.event_id.clone()).or_default().push(p);
    }
    assert_eq!(by_event.len(), kinds.len(), "{by_event:?}");
    let mut got_kinds = Vec::new();
    for (event, tries) in &by_event {
        assert!(
            tries.iter().all(|p| p.body == tries[0].body),
            "{event}: bodies differ"
        );
        assert_eq!(tries.last().unwrap().answered, 200, "{event}");
        assert_eq!(
            tries.iter().filter(|p| p.answered == 200).count(),
            1,
            "{event}"
        );
        let body: Value = serde_json::from_slice(&tries[0].body).unwrap();
        got_kinds.push(body["kind"].as_str().unwrap().to_string());
    }
    got_kinds.sort();
    let mut want: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(got_kinds, want);
    // The three refusals were the first event's.
    let first = &posts[0].event_id;
    assert_eq!(by_event[first].len(), FAILURES + 1, "{:?}", by_event[first]);
    assert!(posts[..FAILURES].iter().all(|p| &p.event_id == first));
    let first_body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(first_body["kind"], "appeal.dispatched");

    // The inbox: the same events, newest first; paging by `next`.
    let inbox = gw.url("/api/v1/me/messages");
    let (status, list) = call(&me, "GET", &inbox, None).await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<(&str, &str)> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["event_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [
            "rating.invitation",
            "appeal.replied",
            "appeal.accepted",
            "appeal.dispatched"
        ],
        "{list}"
    );
    let mut inbox_ids: Vec<String> = listed.iter().map(|(_, e)| e.to_string()).collect();
    inbox_ids.sort();
    assert_eq!(inbox_ids, by_event.keys().cloned().collect::<Vec<_>>());
    assert!(
        list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["read"] == false)
    );
    assert!(
        list["messages"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with('请'),
        "{list}"
    );
    assert_eq!(list["next"], Value::Null);
    let (_, page) = call(&me, "GET", &format!("{inbox}?limit=2"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_string();
    let (_, rest) = call(&me, "GET", &format!("{inbox}?limit=2&before={next}"), None).await;
    assert_eq!(rest["messages"][0]["kind"], "appeal.accepted", "{rest}");
    assert_eq!(rest["messages"][1]["kind"], "appeal.dispatched", "{rest}");
    let (status, bad) = call(&me, "GET", &format!("{inbox}?limit=0"), None).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("limit")),
        "{bad}"
    );

    // Read toggles through POST; unread lists the others.
    let replied_id = listed[1].1.to_string();
    let (status, read) = call(&me, "POST", &format!("{inbox}/{replied_id}/read"), None).await;
    assert_eq!((status, &read["read"]), (200, &json!(true)), "{read}");
    let (_, unread) = call(&me, "GET", &format!("{inbox}?unread=true"), None).await;
    let unread: Vec<&str> = unread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(unread.len(), 3);
    assert!(!unread.contains(&replied_id.as_str()));

    // Another citizen: an empty inbox, and the citizen's id answers like
    // one that does not exist.
    let (status, theirs) = call(
        &stranger,
        "POST",
        &format!("{inbox}/{replied_id}/read"),
        None,
    )
    .await;
    let (status2, unknown) = call(
        &stranger,
        "POST",
        &format!("{inbox}/NO-SUCH.0001/read"),
        None,
    )
    .await;
    assert_eq!((status, status2), (404, 404), "{theirs}");
    assert_eq!(theirs["error"]["code"], unknown["error"]["code"]);
    assert_eq!(theirs["error"]["message"], unknown["error"]["message"]);
    let (_, empty) = call(&stranger, "GET", &inbox, None).await;
    assert_eq!(empty["messages"], json!([]));

    // Operators: all delivered, the first after four attempts.
    let outbox = gw.admin_get("/messages/outbox?state=delivered").await;
    let deliveries = outbox["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), kinds.len(), "{outbox}");
    let d = deliveries
        .iter()
        .find(|d| d["event_id"] == first.as_str())
        .unwrap();
    assert!(d["attempts"].as_i64().unwrap() >= 4, "{d}");
    assert_eq!(d["last_error"], "HTTP 500", "{d}");
    assert!(d.get("citizen").is_none() && d.get("text").is_none(), "{d}");
    let pending = gw.admin_get("/messages/outbox?state=pending").await;
    assert_eq!(pending["deliveries"], json!([]), "{pending}");
}
