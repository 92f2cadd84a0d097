//! The demo's data sharing at start: the agreements the demo's evidence
//! needs are applied for and approved through the admin API (and one more
//! left pending, one rejected, one expired, so operators see every state);
//! the demo citizens consent to the evidence purposes in their app; the
//! sample citizen submits one life event, so their access log shows the
//! departments' reads with purposes.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde_json::{Value, json};

use onestop_sim::manifest::FleetManifest;

use crate::fleet_config::EVIDENCE_NEEDS;

/// The legal basis the demo's applications cite.
const LEGAL_BASIS: &str = "《政务数据共享条例》第十四条；一件事一次办 (demo)";

/// The agreements left in other states: (consumer, item, fields, purpose).
const PENDING: (&str, &str, &[&str], &str) = (
    "tax",
    "hrss.social_insurance",
    &["employer"],
    "single-matter",
);
const REJECTED: (&str, &str, &[&str], &str) = (
    "market",
    "civil.marital_status",
    &["status"],
    "opening-business",
);
const EXPIRED: (&str, &str, &[&str], &str) =
    ("housing", "police.household", &["address"], "single-matter");

fn has_department(fleet: &FleetManifest, dept: &str) -> bool {
    fleet.departments.iter().any(|d| d.id == dept)
}

pub(crate) struct DemoSharing<'a> {
    pub http: &'a reqwest::Client,
    pub admin: std::net::SocketAddr,
    pub public: std::net::SocketAddr,
    pub operator_token: &'a str,
    pub app_key: &'a str,
    /// The citizens who consent (the sample citizen first).
    pub citizens: &'a [String],
}

impl DemoSharing<'_> {
    pub(crate) async fn run(&self, fleet: &FleetManifest) -> anyhow::Result<()> {
        let has = |item: &str, consumer: &str| {
            has_department(fleet, consumer)
                && item
                    .split_once('.')
                    .is_some_and(|(dept, _)| has_department(fleet, dept))
        };
        let year = Duration::from_secs(365 * 24 * 3600);
        for (consumer, item, fields, purpose) in EVIDENCE_NEEDS {
            if !has(item, consumer) {
                continue;
            }
            let id = self.apply(consumer, item, fields, purpose, year).await?;
            self.decide(&id, "approve", json!({})).await?;
        }
        if has(PENDING.1, PENDING.0) {
            let (c, i, f, p) = PENDING;
            self.apply(c, i, f, p, year).await?;
        }
        if has(REJECTED.1, REJECTED.0) {
            let (c, i, f, p) = REJECTED;
            let id = self.apply(c, i, f, p, year).await?;
            self.decide(
                &id,
                "reject",
                json!({"reason": "开办企业不需要婚姻状况：超出最小必要范围"}),
            )
            .await?;
        }
        if has(EXPIRED.1, EXPIRED.0) {
            let (c, i, f, p) = EXPIRED;
            let id = self.apply(c, i, f, p, Duration::from_secs(2)).await?;
            self.decide(&id, "approve", json!({})).await?;
        }
        // The citizens consent in their app to the evidence purposes.
        for token in self.citizens {
            for (consumer, _, _, purpose) in EVIDENCE_NEEDS {
                if !has_department(fleet, consumer) {
                    continue;
                }
                self.http
                    .post(format!("http://{}/api/v1/me/consents", self.public))
                    .header("x-onestop-app-key", self.app_key)
                    .bearer_auth(token)
                    .json(&json!({"consumer": consumer, "purpose": purpose}))
                    .send()
                    .await?
                    .error_for_status()
                    .with_context(|| format!("consent to {consumer} for {purpose}"))?;
            }
        }
        // One life event of the sample citizen: their access log fills.
        if let Some(token) = self.citizens.first()
            && ["police", "hrss", "civil", "hpf"]
                .iter()
                .all(|d| has_department(fleet, d))
        {
            self.http
                .post(format!("http://{}/api/v1/me/cases", self.public))
                .header("x-onestop-app-key", self.app_key)
                .bearer_auth(token)
                .json(&json!({
                    "matter": "newborn",
                    "input": {"child_name": "小明", "birth_date": "2026-11-30"}
                }))
                .send()
                .await?
                .error_for_status()
                .context("submitting the demo's newborn case")?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        consumer: &str,
        item: &str,
        fields: &[&str],
        purpose: &str,
        term: Duration,
    ) -> anyhow::Result<String> {
        let expires = humantime::format_rfc3339_seconds(SystemTime::now() + term).to_string();
        let answer: Value = self
            .http
            .post(format!("http://{}/admin/v1/agreements", self.admin))
            .bearer_auth(self.operator_token)
            .header("x-onestop-change-message", "demo start-up")
            .json(&json!({
                "consumer": consumer,
                "item": item,
                "fields": fields,
                "clear_fields": [],
                "purpose": purpose,
                "legal_basis": LEGAL_BASIS,
                "expires_at": expires,
            }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("applying for {item} as {consumer} ({purpose})"))?
            .json()
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no agreement id in {answer}"))
    }

    async fn decide(&self, id: &str, how: &str, body: Value) -> anyhow::Result<()> {
        self.http
            .post(format!(
                "http://{}/admin/v1/agreements/{id}/{how}",
                self.admin
            ))
            .bearer_auth(self.operator_token)
            .header("x-onestop-change-message", "demo start-up")
            .json(&body)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("{how} agreement {id}"))?;
        Ok(())
    }
}
