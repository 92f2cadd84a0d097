//! Data sharing from a department's side: an `Exchange` client
//! authenticated with the department's token, and the operator and
//! citizen steps that let its reads through (approval, consent).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use onestop_control::pb::exchange as pb;
use onestop_control::pb::exchange::exchange_client::ExchangeClient;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::Gateway;

/// An exchange client authenticated as one department.
#[derive(Clone)]
pub struct Consumer {
    pub client: ExchangeClient<Channel>,
    control: SocketAddr,
    token: String,
}

/// Milliseconds since the epoch, `ahead` from now.
pub fn epoch_ms(ahead: Duration) -> i64 {
    let t = SystemTime::now() + ahead;
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

impl Consumer {
    pub async fn connect(control: SocketAddr, token: &str) -> Consumer {
        let channel = Channel::from_shared(format!("http://{control}"))
            .expect("uri")
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect to the control listener");
        Consumer {
            client: ExchangeClient::new(channel),
            control,
            token: token.to_string(),
        }
    }

    /// The same department on a connection of its own.
    pub async fn reconnect(&self) -> Consumer {
        Consumer::connect(self.control, &self.token).await
    }

    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .expect("ascii token"),
        );
        r
    }

    /// Reads `item` of `citizen` for `purpose`; the JSON object and the
    /// whole answer.
    pub async fn fetch(
        &self,
        item: &str,
        citizen: &str,
        purpose: &str,
    ) -> Result<(Value, pb::FetchResponse), Status> {
        let r = self
            .client
            .clone()
            .fetch(self.req(pb::FetchRequest {
                item: item.into(),
                citizen: citizen.into(),
                purpose: purpose.into(),
                request_id: String::new(),
            }))
            .await?
            .into_inner();
        let data = serde_json::from_slice(&r.data).expect("data is JSON");
        Ok((data, r))
    }

    /// Applies for `item`'s `fields` (`clear` of them unmasked) for
    /// `purpose`, ending `term` from now.
    pub async fn apply(
        &self,
        item: &str,
        fields: &[&str],
        clear: &[&str],
        purpose: &str,
        term: Duration,
    ) -> Result<pb::Agreement, Status> {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Ok(self
            .client
            .clone()
            .apply(self.req(pb::ApplyRequest {
                item: item.into(),
                fields: strings(fields),
                clear_fields: strings(clear),
                purpose: purpose.into(),
                legal_basis: "《政务数据共享条例》第十四条 (e2e)".into(),
                expires_at_ms: epoch_ms(term),
            }))
            .await?
            .into_inner())
    }
}

/// Approves agreement `id` as the test operator (unscoped: the operator's
/// approval); panics unless 200. The agreement's state after it.
pub async fn approve(gw: &Gateway, id: &str) -> String {
    let (status, body) = gw
        .admin_post(&format!("/agreements/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "approve {id}: {body}");
    body["state"].as_str().unwrap_or_default().to_string()
}

/// Revokes agreement `id` as the test operator; panics unless 200.
pub async fn revoke(gw: &Gateway, id: &str) {
    let (status, body) = gw
        .admin_post(
            &format!("/agreements/{id}/revoke"),
            json!({"reason": "e2e revocation"}),
        )
        .await;
    assert_eq!(status, 200, "revoke {id}: {body}");
}

/// The citizen (`http` carries their token) consents to `consumer` reading
/// for `purpose`; panics unless 201.
pub async fn consent(http: &reqwest::Client, gw: &Gateway, consumer: &str, purpose: &str) {
    let r = http
        .post(gw.url("/api/v1/me/consents"))
        .json(&json!({"consumer": consumer, "purpose": purpose}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "consent: {body}");
    assert_eq!(body["granted"], true, "{body}");
}

/// The citizen withdraws that consent; panics unless 200.
pub async fn withdraw(http: &reqwest::Client, gw: &Gateway, consumer: &str, purpose: &str) {
    let r = http
        .delete(gw.url(&format!("/api/v1/me/consents/{consumer}/{purpose}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "withdraw: {body}");
    assert_eq!(body["granted"], false, "{body}");
}

/// Every record of the citizen's access log, newest first (all pages).
pub async fn access_log(http: &reqwest::Client, gw: &Gateway) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/me/access-log?limit=200&before={b}"),
            None => "/api/v1/me/access-log?limit=200".to_string(),
        };
        let r = http.get(gw.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let page: Value = r.json().await.unwrap();
        all.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => return all,
        }
    }
}
