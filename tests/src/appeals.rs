//! Citizens' appeals (12345) from the outside: a department's
//! `onestop.appeals.v1.Appeals` client on a gateway's control listener,
//! the citizen's JSON calls on the public listener, and a timeline as
//! `event:actor` strings.

use std::time::Duration;

use onestop_control::pb::appeals as pb;
use pb::appeals_client::AppealsClient;
use serde_json::Value;
use tonic::transport::Channel;

use crate::Gateway;

/// A department's appeals client on one gateway's control listener.
#[derive(Clone)]
pub struct Dept {
    pub client: AppealsClient<Channel>,
    pub auth: String,
}

impl Dept {
    pub async fn connect(gw: &Gateway, token: &str) -> Dept {
        let channel = Channel::from_shared(format!("http://{}", gw.control))
            .expect("uri")
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("control listener");
        Dept {
            client: AppealsClient::new(channel),
            auth: format!("Bearer {token}"),
        }
    }

    /// Connects, then waits (at most 10 s) until the gateway knows the
    /// token: one issued on another gateway arrives with the store's
    /// change announcement.
    pub async fn connect_known(gw: &Gateway, token: &str) -> Dept {
        let mut d = Dept::connect(gw, token).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match d.list().await {
                Ok(_) => return d,
                Err(e)
                    if e.code() == tonic::Code::Unauthenticated
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the token is not known on {}: {e:?}", gw.control),
            }
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert("authorization", self.auth.parse().expect("ascii token"));
        r
    }

    pub async fn list(&mut self) -> Result<Vec<pb::Appeal>, tonic::Status> {
        let r = self.req(pb::ListRequest {
            limit: 100,
            ..pb::ListRequest::default()
        });
        Ok(self.client.list(r).await?.into_inner().appeals)
    }

    pub async fn accept(&mut self, id: &str) -> Result<pb::Appeal, tonic::Status> {
        let r = self.req(pb::AcceptRequest {
            id: id.into(),
            note: "已签收".into(),
        });
        Ok(self.client.accept(r).await?.into_inner())
    }

    pub async fn reply(&mut self, id: &str, text: &str) -> Result<pb::Appeal, tonic::Status> {
        let r = self.req(pb::ReplyRequest {
            id: id.into(),
            text: text.into(),
            attachments: Vec::new(),
        });
        Ok(self.client.reply(r).await?.into_inner())
    }

    /// Replies with documents (`(content type, bytes)`).
    pub async fn reply_with(
        &mut self,
        id: &str,
        text: &str,
        files: &[(&str, &[u8])],
    ) -> Result<pb::Appeal, tonic::Status> {
        let r = self.req(pb::ReplyRequest {
            id: id.into(),
            text: text.into(),
            attachments: files
                .iter()
                .map(|(t, c)| pb::NewAttachment {
                    content_type: (*t).into(),
                    content: c.to_vec(),
                })
                .collect(),
        });
        Ok(self.client.reply(r).await?.into_inner())
    }

    /// One attachment of an appeal the department leads.
    pub async fn attachment(
        &mut self,
        id: &str,
        attachment_id: &str,
    ) -> Result<pb::AttachmentContent, tonic::Status> {
        let r = self.req(pb::GetAttachmentRequest {
            id: id.into(),
            attachment_id: attachment_id.into(),
        });
        Ok(self.client.get_attachment(r).await?.into_inner())
    }

    pub async fn send_back(&mut self, id: &str, reason: &str) -> Result<pb::Appeal, tonic::Status> {
        let r = self.req(pb::ReturnRequest {
            id: id.into(),
            reason: reason.into(),
        });
        Ok(self.client.r#return(r).await?.into_inner())
    }
}

/// POSTs JSON (with an `Idempotency-Key` when given); status and body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = client.post(url).json(&body);
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    let r = r.send().await.expect("public listener");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// GETs JSON; status and body.
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.expect("public listener");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An appeal's timeline as `event:actor` strings.
pub fn events(appeal: &Value) -> Vec<String> {
    appeal["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}:{}",
                e["event"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or("")
            )
        })
        .collect()
}
