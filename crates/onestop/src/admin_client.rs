//! `onestop config log|show|diff|rollback`: a small client of the admin API,
//! so that the command line and the API are one door, not two.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Where the admin API is and who is asking.
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, token: &str) -> AdminClient {
        AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .with_context(|| format!("reaching the admin API at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no details");
            let mut text = format!("{status}: {message}");
            for d in body["error"]["details"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "\n{}:{}:{}: {}",
                    d["file"].as_str().unwrap_or("?"),
                    d["line"],
                    d["col"],
                    d["message"].as_str().unwrap_or("")
                ));
            }
            bail!(text);
        }
        Ok(body)
    }

    /// `onestop config log`: one line per version, newest first.
    pub async fn log(&self, limit: u32) -> anyhow::Result<String> {
        let v = self
            .call(self.http.get(format!(
                "{}/admin/v1/config/versions?limit={limit}",
                self.base
            )))
            .await?;
        let current = self
            .call(self.http.get(format!("{}/admin/v1/config", self.base)))
            .await?["version"]
            .as_i64();
        let mut out = String::new();
        for entry in v["versions"].as_array().into_iter().flatten() {
            let n = entry["version"].as_i64().unwrap_or(0);
            let at = entry["created_at"].as_i64().unwrap_or(0);
            let when = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_millis(u64::try_from(at).unwrap_or(0)),
            );
            out.push_str(&format!(
                "{}{n:>5}  {when}  {:<8} {:<16} {}  {}\n",
                if Some(n) == current { "*" } else { " " },
                entry["source"].as_str().unwrap_or(""),
                entry["author"].as_str().unwrap_or(""),
                entry["content_hash"]
                    .as_str()
                    .unwrap_or("")
                    .get(..12)
                    .unwrap_or(""),
                entry["message"].as_str().unwrap_or(""),
            ));
        }
        Ok(out)
    }

    /// `onestop config diff A [B]`: from version A to B (B: A's successor... or the running one).
    pub async fn diff(&self, from: i64, to: Option<i64>) -> anyhow::Result<String> {
        let to = match to {
            Some(t) => t,
            None => self
                .call(self.http.get(format!("{}/admin/v1/config", self.base)))
                .await?["version"]
                .as_i64()
                .context("the running configuration has no recorded version")?,
        };
        let v = self
            .call(self.http.get(format!(
                "{}/admin/v1/config/versions/{to}/diff?against={from}",
                self.base
            )))
            .await?;
        Ok(v["diff"].as_str().unwrap_or_default().to_string())
    }

    /// `onestop config show [N]`: the files of a version (the running one by default).
    pub async fn show(&self, version: Option<i64>) -> anyhow::Result<String> {
        let url = match version {
            Some(n) => format!("{}/admin/v1/config/versions/{n}", self.base),
            None => format!("{}/admin/v1/config", self.base),
        };
        let v = self.call(self.http.get(url)).await?;
        let mut out = String::new();
        for (path, text) in v["files"].as_object().into_iter().flatten() {
            out.push_str(&format!(
                "# ==> {path} <==\n{}\n",
                text.as_str().unwrap_or("")
            ));
        }
        Ok(out)
    }

    /// `onestop config rollback [--to N]`.
    pub async fn rollback(&self, to: Option<i64>, message: Option<&str>) -> anyhow::Result<String> {
        let mut body = json!({});
        if let Some(to) = to {
            body["to"] = json!(to);
        }
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        let v = self
            .call(
                self.http
                    .post(format!("{}/admin/v1/config/rollback", self.base))
                    .json(&body),
            )
            .await?;
        Ok(format!(
            "now at version {} ({}), generation {}{}",
            v["version"],
            v["content_hash"].as_str().unwrap_or(""),
            v["generation"],
            if v["unchanged"].as_bool() == Some(true) {
                " (no change)"
            } else {
                ""
            }
        ))
    }
}
