//! The demo's appeals (诉求) at start, so that every appeals queue has
//! something in it: the fleet's departments work their appeals as case
//! officers (`onestop_sim::CaseOfficers`, over the control listener with
//! their tokens), and citizens file a handful of appeals through the
//! public listener:
//! - one no rule decides (the operators' queue, to dispatch in the
//!   console);
//! - two the busy department accepts and replies to (the water cut with
//!   a third department's help, 协办), rated 5 (disclosed,
//!   with a phone number and an address: the public feed
//!   `/api/v1/appeals/public` shows it masked) and 2 (a bad rating, which
//!   opens a follow-up in `/admin/v1/followups`);
//! - one to the silent department, a complaint whose 30 s accept limit
//!   passes unanswered: overdue, then escalated by the gateway's scanner
//!   (催办), and a minute later supervised (督办);
//! - one the busy department returns as outside its remit (back to the
//!   operators' queue).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use onestop_sim::{Officer, OfficerOptions};
use serde_json::{Value, json};

/// The departments appeals go to (the first two registered ones), and
/// the one the busy department brings in to help (the third, if any).
pub struct Roles {
    /// Accepts and replies within seconds; returns what mentions `垃圾`;
    /// brings `helper` in (协办) on what mentions `停水`.
    pub busy: String,
    /// Never answers.
    pub silent: String,
    /// Co-handles (协办): gives its part on what the busy one brings it.
    pub helper: Option<String>,
}

impl Roles {
    pub fn of(registered: &[String]) -> Option<Roles> {
        match registered {
            [busy, silent, rest @ ..] => Some(Roles {
                busy: busy.clone(),
                silent: silent.clone(),
                helper: rest.first().cloned(),
            }),
            _ => None,
        }
    }

    /// The gateway's `[appeals]`: keyword rules for the two departments, a
    /// 30 s accept limit for complaints, and supervision (督办) of what is
    /// still overdue a minute after its reminder.
    pub fn gateway_toml(&self) -> String {
        format!(
            "\n[appeals]\nscan_interval = \"2s\"\nscan_lease = \"10s\"\n\
             supervise_after = \"60s\"\n\n\
             [appeals.limits.complaint]\naccept = \"30s\"\nreply = \"1h\"\n\n\
             [[appeals.rules]]\ndept = \"{}\"\nkeywords = [\"停水\", \"水压\"]\n\n\
             [[appeals.rules]]\ndept = \"{}\"\nkeywords = [\"噪音\"]\n",
            self.busy, self.silent
        )
    }

    /// The case officers: the busy one quick, the silent one silent.
    pub fn officers(
        &self,
        control: SocketAddr,
        tokens: BTreeMap<String, String>,
    ) -> OfficerOptions {
        let mut o = OfficerOptions::new(control, tokens);
        o.officers.insert(
            self.busy.clone(),
            Officer {
                accept_after: Duration::from_secs(1),
                reply_after: Duration::from_secs(2),
                outside_remit: vec!["垃圾".into()],
                co_handle: self
                    .helper
                    .iter()
                    .map(|h| ("停水".to_owned(), h.clone()))
                    .collect(),
                ..Officer::default()
            },
        );
        o.officers.insert(
            self.silent.clone(),
            Officer {
                silent: true,
                ..Officer::default()
            },
        );
        o
    }
}

/// Where and as whom the appeals are filed.
pub struct DemoAppeals<'a> {
    pub http: &'a reqwest::Client,
    pub public: SocketAddr,
    pub app_key: &'a str,
    /// Tokens of a few citizens.
    pub citizens: &'a [String],
}

/// The photo a demo citizen attaches to an appeal: a 1×1 PNG.
const DEMO_PHOTO: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

impl DemoAppeals<'_> {
    fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1/me/appeals{path}", self.public)
    }

    async fn file(&self, citizen: &str, body: Value) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(self.url(""))
            .header("x-onestop-app-key", self.app_key)
            .bearer_auth(citizen)
            .json(&body)
            .send()
            .await?
            .error_for_status()
            .context("filing a demo appeal")?
            .json()
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no appeal id in {answer}"))
    }

    /// Uploads an attachment as `citizen`; returns its id (`sha256:…`).
    async fn upload(
        &self,
        citizen: &str,
        media_type: &str,
        bytes: &'static [u8],
    ) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(self.url("/attachments"))
            .header("x-onestop-app-key", self.app_key)
            .header("content-type", media_type)
            .bearer_auth(citizen)
            .body(bytes)
            .send()
            .await?
            .error_for_status()
            .context("uploading a demo attachment")?
            .json()
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no attachment id in {answer}"))
    }

    /// Waits (up to 30 s) for the officer's reply, then rates it.
    async fn rate_when_replied(
        &self,
        citizen: &str,
        id: &str,
        score: i64,
        comment: &str,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now: Value = self
                .http
                .get(self.url(&format!("/{id}")))
                .header("x-onestop-app-key", self.app_key)
                .bearer_auth(citizen)
                .send()
                .await?
                .json()
                .await?;
            if now["state"] == "replied" {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("demo appeal {id} was not answered within 30 s: {now}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.http
            .post(self.url(&format!("/{id}/rating")))
            .header("x-onestop-app-key", self.app_key)
            .bearer_auth(citizen)
            .json(&json!({"score": score, "comment": comment}))
            .send()
            .await?
            .error_for_status()
            .context("rating a demo appeal")?;
        Ok(())
    }

    /// Files the demo's appeals and rates the answered ones; returns how
    /// many it filed.
    pub async fn run(&self) -> anyhow::Result<usize> {
        let (Some(first), Some(second)) = (self.citizens.first(), self.citizens.get(1)) else {
            return Ok(0);
        };
        let photo = self.upload(first, "image/png", DEMO_PHOTO).await?;
        self.file(
            first,
            json!({"kind": "help", "title": "小区路灯不亮", "content": "东门路灯坏了一周，晚上很黑",
                   "location": {"address": "渝中区解放碑 1 号"}, "attachments": [photo]}),
        )
        .await?;
        self.file(
            second,
            json!({"kind": "complaint", "title": "夜间施工噪音扰民", "content": "工地每晚十一点后仍在施工"}),
        )
        .await?;
        self.file(
            first,
            json!({"kind": "report", "title": "停水后门口垃圾没人清运", "content": "停水三天，门口垃圾堆积"}),
        )
        .await?;
        let good = self
            .file(
                first,
                json!({"kind": "help", "title": "小区停水",
                       "content": "三天没有水，请尽快恢复，电话13800138000",
                       "location": {"address": "渝中区解放碑 2 号"}, "disclose": true}),
            )
            .await?;
        let bad = self
            .file(
                second,
                json!({"kind": "consult", "title": "水压太低", "content": "高层水压不足，何时改造？"}),
            )
            .await?;
        self.rate_when_replied(first, &good, 5, "当天就来水了，谢谢")
            .await?;
        self.rate_when_replied(second, &bad, 2, "答复太笼统")
            .await?;
        Ok(5)
    }
}
