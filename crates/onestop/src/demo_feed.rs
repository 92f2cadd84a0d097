//! What the demo does once its fleet serves, so that every page of the
//! operator console has something to show: a department registers a
//! changed public surface (one registration pending, its diff against the
//! approved one), an operator applies for a data-sharing agreement (one
//! agreement pending), citizens finish life-event cases and rate them
//! good and bad (a bad rating opens a follow-up), and traffic flows.
//!
//! Everything goes through the real paths: the control plane as the
//! department, the admin API as the operator, the public listener as
//! citizens.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use onestop_sim::manifest::{FleetManifest, Protocol};
use onestop_sim::pb::registry as pb;
use serde_json::{Value, json};

/// Where and as whom the feed acts.
pub struct Feed<'a> {
    pub http: &'a reqwest::Client,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub control: SocketAddr,
    pub operator_token: &'a str,
    pub app_key: &'a str,
    /// Department id → its control-plane token.
    pub dept_tokens: &'a std::collections::BTreeMap<String, String>,
    /// Tokens of a few citizens.
    pub citizens: &'a [String],
}

impl Feed<'_> {
    pub async fn run(&self, manifest: &FleetManifest) -> anyhow::Result<()> {
        self.pending_registration(manifest).await?;
        self.pending_agreement().await?;
        self.rated_cases().await?;
        self.overdue_case().await?;
        Ok(())
    }

    /// A registered HTTP department adds a service-guide route: its service's
    /// new revision waits for an operator while the approved one serves.
    async fn pending_registration(&self, manifest: &FleetManifest) -> anyhow::Result<()> {
        let Some(dept) = manifest
            .departments
            .iter()
            .find(|d| d.protocol == Protocol::Http && self.dept_tokens.contains_key(&d.id))
        else {
            return Ok(());
        };
        let token = &self.dept_tokens[&dept.id];
        let ttl = onestop_sim::RegistrarOptions::new(self.control, Default::default()).lease_ttl;
        let mut spec = onestop_sim::registrar::service_spec_with(dept, "main", ttl, true);
        spec.routes.push(pb::Route {
            id: "service-guide-v2".into(),
            name: "办事指南（新版）".into(),
            description: "部门新增的公开事项（演示：等待备案审批）".into(),
            kind: pb::PathKind::Exact as i32,
            pattern: format!("/api/v1/depts/{}/service-guide/v2", dept.id),
            methods: vec!["GET".into()],
            citizen_param: String::new(),
            timeout_ms: None,
            auth: pb::AuthMode::Public as i32,
            policy: String::new(),
        });
        let instances = dept
            .instances
            .iter()
            .map(|i| pb::Instance {
                addr: i.addr.to_string(),
                weight: 1,
            })
            .collect();
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.control))
            .context("control address")?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        let mut client = pb::registry_client::RegistryClient::new(endpoint.connect_lazy());
        let mut request = tonic::Request::new(pb::RegisterRequest {
            service: Some(spec),
            instances,
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .context("a department token")?,
        );
        let answer = client
            .register(request)
            .await
            .with_context(|| format!("{} registering a changed surface", dept.id))?
            .into_inner();
        tracing::info!(
            dept = %dept.id,
            revision = answer.revision,
            "demo: a changed public surface awaits approval"
        );
        Ok(())
    }

    /// The operator applies for one agreement on behalf of a consumer.
    async fn pending_agreement(&self) -> anyhow::Result<()> {
        let items: Value = self
            .http
            .get(format!("http://{}/admin/v1/data-items", self.admin))
            .bearer_auth(self.operator_token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(item) = items["items"].as_array().and_then(|a| a.first()) else {
            return Ok(());
        };
        let provider = item["dept"].as_str().unwrap_or_default();
        let consumer = if provider == "hpf" { "tax" } else { "hpf" };
        let fields: Vec<Value> = item["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["sensitivity"] != "sensitive")
            .take(2)
            .map(|f| f["name"].clone())
            .collect();
        let expires =
            onestop_core::time::rfc3339_ms(onestop_store::now_ms() + 180 * 24 * 3_600_000)
                .context("a time")?;
        let r = self
            .http
            .post(format!("http://{}/admin/v1/agreements", self.admin))
            .bearer_auth(self.operator_token)
            .json(&json!({
                "consumer": consumer,
                "item": item["id"],
                "fields": fields,
                "purpose": "loan.review",
                "legal_basis": "《政务数据共享条例》第十五条：依申请共享",
                "expires_at": expires,
            }))
            .send()
            .await?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            bail!("applying for a demo agreement: {status} {text}");
        }
        Ok(())
    }

    /// Two citizens move house (a four-department case each), wait for it
    /// to complete, and rate it 5 and 1; the 1 opens a follow-up.
    async fn rated_cases(&self) -> anyhow::Result<()> {
        for (citizen, score, comment) in [
            (self.citizens.first(), 5, "一次办好，很方便"),
            (self.citizens.get(1), 1, "燃气过户等了很久"),
        ] {
            let Some(token) = citizen else { continue };
            let base = format!("http://{}/api/v1/me/cases", self.public);
            let case: Value = self
                .http
                .post(&base)
                .header("x-onestop-app-key", self.app_key)
                .bearer_auth(token)
                .json(&json!({
                    "matter": "moving-house",
                    "input": {"new_address": "渝中区解放碑 1 号", "move_date": "2026-12-01"}
                }))
                .send()
                .await?
                .error_for_status()
                .context("submitting a demo case")?
                .json()
                .await?;
            let id = case["id"].as_str().context("a case id")?.to_string();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let now: Value = self
                    .http
                    .get(format!("{base}/{id}"))
                    .header("x-onestop-app-key", self.app_key)
                    .bearer_auth(token)
                    .send()
                    .await?
                    .json()
                    .await?;
                match now["state"].as_str() {
                    Some("completed") => break,
                    Some("running") | Some("compensating") => {}
                    other => bail!("demo case {id} ended {other:?}"),
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("demo case {id} did not complete within 30 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            self.http
                .post(format!("{base}/{id}/rating"))
                .header("x-onestop-app-key", self.app_key)
                .bearer_auth(token)
                .json(&json!({"score": score, "comment": comment}))
                .send()
                .await?
                .error_for_status()
                .context("rating a demo case")?;
        }
        Ok(())
    }
}

/// The demo's department whose system hangs: 人事档案中心, one instance that
/// accepts connections and never answers (a stand-in for a department
/// system that stopped responding). Its transfer step keeps a case
/// running past its statutory deadline, so the console's overdue list has
/// one. Its route is not in the catalog.
pub struct HungDepartment {
    pub addr: SocketAddr,
}

impl HungDepartment {
    /// Binds the listener and holds every connection open, unanswered, on
    /// a thread of its own for the life of the process.
    pub fn start() -> anyhow::Result<HungDepartment> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the hung department")?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("onestop-demo-hung".into())
            .spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming().flatten() {
                    // Read nothing, answer nothing; keep it open.
                    held.push(stream);
                }
            })
            .context("spawning the hung department")?;
        Ok(HungDepartment { addr })
    }

    /// `departments/dossier.toml`.
    pub fn department_toml(&self) -> String {
        format!(
            r#"# 演示：系统无响应的部门。Demo: a department whose system hangs.
[department]
id = "dossier"
name = "人事档案中心"
name_en = "Personnel Dossier Centre"

[[services]]
id = "main"
instances = [{{ addr = "{}" }}]

[[routes]]
id = "transfer"
name = "档案转递"
path = "/api/v1/depts/dossier/applications/transfer"
methods = ["POST"]
service = "main"
auth = "citizen"
catalog = false
timeout = "30m"
retries = 0
"#,
            self.addr
        )
    }

    /// The life event whose only step goes to the hung department (its
    /// deadline is short so that it is overdue within seconds), and a
    /// step timeout long enough that the step is still running then.
    pub fn gateway_toml() -> &'static str {
        r#"
[cases]
step_timeout = "30m"

[[composite]]
id = "dossier-transfer"
name = "档案转递一件事（演示：部门系统无响应）"
lead = "dossier"

[[composite.steps]]
id = "transfer"
name = "档案转递"
dept = "dossier"
path = "/api/v1/depts/dossier/applications/transfer"
body = { citizen = "{citizen}" }
deadline = "5s"
"#
    }
}

impl Feed<'_> {
    /// A citizen applies for the dossier transfer; the case keeps running.
    pub async fn overdue_case(&self) -> anyhow::Result<()> {
        let Some(token) = self.citizens.get(2) else {
            return Ok(());
        };
        self.http
            .post(format!("http://{}/api/v1/me/cases", self.public))
            .header("x-onestop-app-key", self.app_key)
            .bearer_auth(token)
            .json(&json!({"matter": "dossier-transfer", "input": {}}))
            .send()
            .await?
            .error_for_status()
            .context("submitting the demo's hung case")?;
        Ok(())
    }
}
