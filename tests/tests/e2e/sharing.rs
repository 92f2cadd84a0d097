//! Governed data sharing end to end, against the simulated fleet's data
//! items: a department reads another's data over the control plane's
//! `Exchange/Fetch` only under an approved, unexpired agreement for the
//! stated purpose and (for conditional personal data) the citizen's
//! consent — a denied read never reaches the provider (counted at the
//! provider's instances); over every item of the demo catalog only the
//! agreed fields come back, sensitive ones masked unless granted in clear;
//! every exchange and every read through a personal-data route is in the
//! citizen's access log (and in nobody else's); with the audit store cut,
//! personal-data routes fail closed within a bounded time while other
//! routes keep serving, and every read acknowledged before is in the log
//! once the store returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use onestop_sim::manifest::{DataItemManifest, DeptManifest};
use onestop_tests::relay::Relay;
use onestop_tests::secure::Secure;
use onestop_tests::sharing::{Consumer, access_log, approve, consent, revoke, withdraw};
use onestop_tests::{
    ConfigOptions, Gateway, GatewaySetup, Sim, pg_url, registry::issue_token, require_postgres,
    wait_for,
};
use serde_json::{Value, json};

/// Departments 0..16 of the fleet hold hrss, hpf, civil and police.
const DEPARTMENTS: usize = 16;
const PURPOSE: &str = "housing-loan-review";

/// An approver scoped to the provider `dept`, in the gateway file; its token.
fn provider_approver(dept: &str) -> (String, String) {
    let token = format!("op-{dept}-{}", fastrand::u64(..));
    let toml = format!(
        "\n[[operators]]\nname = \"{dept}-approver\"\nroles = [\"approver\"]\ndepartments = [\"{dept}\"]\ntoken_sha256 = \"{}\"\n",
        onestop_core::digest::sha256_hex(token.as_bytes())
    );
    (toml, token)
}

async fn setup(extra: &str) -> (Sim, Gateway, Secure) {
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], extra).await;
    (sim, gw, secure)
}

/// Requests the provider's instances have served.
async fn served(sim: &Sim, dept: &str) -> u64 {
    let mut n = 0;
    for i in &sim.dept(dept).instances {
        n += sim.requests(&i.id).await;
    }
    n
}

/// A denied fetch: PERMISSION_DENIED naming `reason`.
async fn denied(consumer: &Consumer, item: &str, citizen: &str, purpose: &str, reason: &str) {
    let err = consumer.fetch(item, citizen, purpose).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains(reason), "{reason}: {err:?}");
}

fn item<'a>(dept: &'a DeptManifest, id: &str) -> &'a DataItemManifest {
    dept.data_items
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no data item {id} in {}", dept.id))
}

/// The citizen's own read of a data item through its route (`me`).
async fn self_read(http: &reqwest::Client, gw: &Gateway, item: &DataItemManifest) -> Value {
    let path = item.fetch.replace("{citizen}", "me");
    let r = http.get(gw.url(&path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

/// Polls the citizen's access log until `pred` holds of it.
async fn log_until(
    http: &reqwest::Client,
    gw: &Gateway,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = access_log(http, gw).await;
        if pred(&log) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "access log never got there: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_needs_agreement_purpose_term_and_consent_before_the_provider_is_asked() {
    let (sim, gw, secure) = setup("").await;
    let me = sim.manifest.citizens[0].id.clone();
    let other = sim.manifest.citizens[1].id.clone();
    let http = secure.client(Some(&me));
    let hpf = Consumer::connect(gw.control, &issue_token(&gw, "hpf").await).await;
    let si = "hrss.social_insurance";
    let before = served(&sim, "hrss").await;

    denied(&hpf, si, &me, PURPOSE, "no sharing agreement").await;
    let fields = ["resident_id", "name", "contribution_months", "bank_card"];
    let a = hpf
        .apply(si, &fields, &[], PURPOSE, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(a.state, "pending");
    assert_eq!((a.consumer.as_str(), a.provider.as_str()), ("hpf", "hrss"));
    denied(&hpf, si, &me, PURPOSE, "not approved").await;
    assert_eq!(approve(&gw, &a.id).await, "approved");
    denied(&hpf, si, &me, PURPOSE, "not consented").await;
    assert_eq!(
        served(&sim, "hrss").await,
        before,
        "a denied read reached hrss"
    );

    consent(&http, &gw, "hpf", PURPOSE).await;
    let (data, answer) = hpf.fetch(si, &me, PURPOSE).await.unwrap();
    assert_eq!(answer.agreement, a.id);
    assert_eq!(answer.fields, fields);
    assert_eq!(answer.masked, ["resident_id", "bank_card"]);
    assert_eq!(
        data["resident_id"],
        json!(onestop_core::mask::resident_id(&me))
    );
    assert_eq!(served(&sim, "hrss").await, before + 1);

    denied(&hpf, si, &me, "marketing", "names the stated purpose").await;
    withdraw(&http, &gw, "hpf", PURPOSE).await;
    denied(&hpf, si, &me, PURPOSE, "revoked consent").await;
    consent(&http, &gw, "hpf", PURPOSE).await;
    hpf.fetch(si, &me, PURPOSE).await.unwrap();
    revoke(&gw, &a.id).await;
    denied(&hpf, si, &me, PURPOSE, "was revoked").await;

    // An agreement that runs out: allowed within its term, denied after.
    let short = hpf
        .apply(
            si,
            &["name"],
            &[],
            "pension-check",
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    approve(&gw, &short.id).await;
    consent(&http, &gw, "hpf", "pension-check").await;
    hpf.fetch(si, &me, "pension-check").await.unwrap();
    let expires = Duration::from_millis(u64::try_from(short.expires_at_ms).unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(expires.saturating_sub(now) + Duration::from_millis(100)).await;
    denied(&hpf, si, &me, "pension-check", "has expired").await;
    let after = served(&sim, "hrss").await;
    println!(
        "hrss served {} requests for 3 allowed and 7 denied exchanges",
        after - before
    );
    assert_eq!(
        after,
        before + 3,
        "only the allowed reads reach the provider"
    );

    // The citizen's own read through the route is a read of personal data too.
    self_read(&http, &gw, item(sim.dept("hrss"), "social_insurance")).await;
    let other_http = secure.client(Some(&other));
    self_read(&other_http, &gw, item(sim.dept("hrss"), "social_insurance")).await;

    let log = log_until(&http, &gw, |log| log.len() >= 11).await;
    let outcomes: Vec<(&str, &str, &str)> = log
        .iter()
        .rev()
        .map(|r| {
            (
                r["accessor"]["id"].as_str().unwrap(),
                r["purpose"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    println!("access log of the citizen, oldest first: {outcomes:#?}");
    assert_eq!(
        outcomes,
        [
            ("hpf", PURPOSE, "denied:no_agreement"),
            ("hpf", PURPOSE, "denied:agreement_pending"),
            ("hpf", PURPOSE, "denied:no_consent"),
            ("hpf", PURPOSE, "ok"),
            ("hpf", "marketing", "denied:wrong_purpose"),
            ("hpf", PURPOSE, "denied:consent_revoked"),
            ("hpf", PURPOSE, "ok"),
            ("hpf", PURPOSE, "denied:agreement_revoked"),
            ("hpf", "pension-check", "ok"),
            ("hpf", "pension-check", "denied:agreement_expired"),
            ("super-app", "self-service", "ok"),
        ]
    );
    let ok = &log[log.len() - 4];
    assert_eq!(ok["accessor"]["kind"], "department");
    assert_eq!(ok["accessor"]["name"], sim.dept("hpf").name.as_str());
    assert_eq!(ok["item"], si);
    assert_eq!(ok["fields"], json!(fields));
    assert_eq!(ok["agreement"], a.id.as_str());
    // Nobody else's reads, and nobody else sees these.
    let theirs = access_log(&other_http, &gw).await;
    assert_eq!(theirs.len(), 1, "{theirs:#?}");
    assert_eq!(theirs[0]["purpose"], "self-service");
    let mine: BTreeSet<&str> = log
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert!(!mine.contains(theirs[0]["request_id"].as_str().unwrap()));
}

/// The mask `kind` (as the catalog names it) applied to `raw`.
fn masked(kind: &str, raw: &Value) -> Value {
    use onestop_core::mask::{Kind, apply};
    let kind = match kind {
        "resident_id" => Kind::ResidentId,
        "phone" => Kind::Phone,
        "name" => Kind::Name,
        "bank_card" => Kind::BankCard,
        "address" => Kind::Address,
        _ => Kind::Full,
    };
    match raw {
        Value::String(s) => json!(apply(kind, s)),
        Value::Number(n) => json!(apply(kind, &n.to_string())),
        _ => json!(apply(Kind::Full, "")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_item_returns_only_agreed_fields_masked_unless_granted_in_clear() {
    let secure_ops: Vec<(String, String)> = ["hpf", "hrss", "civil", "police"]
        .iter()
        .map(|d| provider_approver(d))
        .collect();
    let extra: String = secure_ops.iter().map(|(t, _)| t.as_str()).collect();
    let (sim, gw, secure) = setup(&extra).await;
    let scoped: BTreeMap<&str, &str> = ["hpf", "hrss", "civil", "police"]
        .into_iter()
        .zip(secure_ops.iter().map(|(_, tok)| tok.as_str()))
        .collect();
    let me = sim.manifest.citizens[0].id.clone();
    let http = secure.client(Some(&me));
    let mut consumers = BTreeMap::new();
    for dept in ["hpf", "civil"] {
        consumers.insert(
            dept,
            Consumer::connect(gw.control, &issue_token(&gw, dept).await).await,
        );
    }
    let mut checked = 0;
    for dept in &sim.manifest.departments {
        for it in &dept.data_items {
            let id = format!("{}.{}", dept.id, it.id);
            let consumer_id = if dept.id == "hpf" { "civil" } else { "hpf" };
            let consumer = &consumers[consumer_id];
            // Consent is per consumer and purpose: a purpose of each item's own.
            let purpose = format!("review-{}", it.id.replace('_', "-"));
            let purpose = purpose.as_str();
            let raw = self_read(&http, &gw, it).await;
            let before = served(&sim, &dept.id).await;
            if format!("{:?}", it.sharing) == "NotShared" {
                let err = consumer
                    .apply(
                        &id,
                        &[&it.fields[0].name],
                        &[],
                        purpose,
                        Duration::from_secs(60),
                    )
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
                assert!(err.message().contains("not shared"), "{err:?}");
                denied(consumer, &id, &me, purpose, "not shared").await;
                assert_eq!(served(&sim, &dept.id).await, before);
                println!("{id}: not shared; applying and fetching denied");
                checked += 1;
                continue;
            }
            // Every other declared field; the last sensitive one of them in clear.
            let chosen: Vec<&str> = it
                .fields
                .iter()
                .step_by(2)
                .map(|f| f.name.as_str())
                .collect();
            let clear: Vec<&str> = it
                .fields
                .iter()
                .step_by(2)
                .rfind(|f| f.mask.is_some())
                .map(|f| f.name.as_str())
                .into_iter()
                .collect();
            let a = consumer
                .apply(&id, &chosen, &clear, purpose, Duration::from_secs(3600))
                .await
                .unwrap();
            let state = approve(&gw, &a.id).await;
            if it.provider_approval {
                assert_eq!(state, "pending", "{id} needs the provider's approval too");
                denied(consumer, &id, &me, purpose, "not approved").await;
                let r = onestop_tests::client()
                    .post(format!(
                        "http://{}/admin/v1/agreements/{}/approve",
                        gw.admin, a.id
                    ))
                    .bearer_auth(scoped[dept.id.as_str()])
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["state"], "approved", "{body}");
            } else {
                assert_eq!(state, "approved");
            }
            let personal = it.fields.iter().any(|f| {
                matches!(
                    format!("{:?}", f.sensitivity).as_str(),
                    "Personal" | "Sensitive"
                )
            });
            if format!("{:?}", it.sharing) == "Conditional" && personal {
                denied(consumer, &id, &me, purpose, "not consented").await;
                consent(&http, &gw, consumer_id, purpose).await;
            }
            let (data, answer) = consumer.fetch(&id, &me, purpose).await.unwrap();
            let keys: Vec<&str> = data
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let want: BTreeSet<&str> = chosen.iter().copied().collect();
            assert_eq!(
                keys.iter().copied().collect::<BTreeSet<_>>(),
                want,
                "{id}: only the agreed fields"
            );
            assert!(
                raw.as_object().unwrap().len() > keys.len(),
                "{id}: the provider sent more than was agreed"
            );
            let mut masked_here = Vec::new();
            for f in it.fields.iter().filter(|f| want.contains(f.name.as_str())) {
                let got = &data[&f.name];
                match &f.mask {
                    Some(kind) if !clear.contains(&f.name.as_str()) => {
                        let kind = serde_json::to_value(kind).unwrap();
                        assert_eq!(
                            *got,
                            masked(kind.as_str().unwrap(), &raw[&f.name]),
                            "{id}.{}",
                            f.name
                        );
                        if raw[&f.name].as_str().is_none_or(|s| !s.is_empty()) {
                            assert_ne!(*got, raw[&f.name], "{id}.{} left unmasked", f.name);
                        }
                        masked_here.push(f.name.clone());
                    }
                    _ => assert_eq!(*got, raw[&f.name], "{id}.{}", f.name),
                }
            }
            assert_eq!(answer.masked, masked_here, "{id}");
            assert_eq!(served(&sim, &dept.id).await, before + 1);
            println!(
                "{id}: agreed {chosen:?} (clear {clear:?}) of {} declared, provider sent {} members; returned {keys:?}, masked {masked_here:?}",
                it.fields.len(),
                raw.as_object().unwrap().len()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "the demo catalog has at least 6 items, checked {checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_store_outage_fails_personal_routes_closed_and_loses_no_acknowledged_read() {
    require_postgres();
    let secure = Secure::new();
    let sim = Sim::start_signed(DEPARTMENTS, 50, Some(&secure.signing_key_hex)).await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    let url = pg_url("audit").replace("127.0.0.1:5432", &relay.addr.to_string());
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(
        "\n[sharing.audit]\nmax_lag = \"1s\"\ncapacity = 1000\nflush_interval = \"20ms\"\n",
    );
    let gw = Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions {
            citizen_auth: true,
            ..ConfigOptions::default()
        },
        |config| secure.write_keys(config),
        GatewaySetup {
            threads: 2,
            store_url: Some(url),
            extra,
            ..GatewaySetup::default()
        },
    )
    .await;
    let me = sim.manifest.citizens[0].id.clone();
    let http = secure.client(Some(&me));
    let personal = gw.url(
        &item(sim.dept("hrss"), "social_insurance")
            .fetch
            .replace("{citizen}", "me"),
    );
    let other = gw.url("/api/v1/depts/hrss/overview/me");
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.unwrap();
            let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, id, body)
        }
    };
    let mut acked = Vec::new();
    for _ in 0..5 {
        let (status, id, body) = get(personal.clone()).await;
        assert_eq!(status, 200, "{body}");
        acked.push(id);
    }

    relay.cut();
    let cut = Instant::now();
    let mut refused = Vec::new();
    let mut others = 0;
    let mut first_refusal = None;
    while cut.elapsed() < Duration::from_secs(15) && refused.len() < 10 {
        let (status, id, body) = get(personal.clone()).await;
        match status {
            200 => acked.push(id),
            503 => {
                assert_eq!(body["error"]["code"], "AUDIT_UNAVAILABLE", "{body}");
                first_refusal.get_or_insert(cut.elapsed());
                refused.push(id);
            }
            s => panic!("personal route answered {s}: {body}"),
        }
        let (status, _, body) = get(other.clone()).await;
        assert_eq!(status, 200, "a route without personal data failed: {body}");
        others += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = first_refusal.expect("personal data kept flowing with the audit store cut");
    println!(
        "audit store cut: personal route refused (503) after {first:?}; {} reads acknowledged in all, {} refused; {others} other-route requests all 200",
        acked.len(),
        refused.len()
    );
    assert!(first < Duration::from_secs(3), "fail closed took {first:?}");

    relay.restore();
    let back = wait_for(Duration::from_secs(20), || async {
        get(personal.clone()).await.0 == 200
    })
    .await;
    println!("personal route served again {back:?} after the store returned");
    assert!(back.is_some());
    let log = log_until(&http, &gw, |log| {
        let ids: BTreeSet<&str> = log
            .iter()
            .filter_map(|r| r["request_id"].as_str())
            .collect();
        acked.iter().all(|id| ids.contains(id.as_str()))
    })
    .await;
    let ids: BTreeSet<&str> = log
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert!(
        refused.iter().all(|id| !ids.contains(id.as_str())),
        "a refused read was recorded as served"
    );
    println!(
        "after the outage: all {} acknowledged reads are in the access log ({} records)",
        acked.len(),
        log.len()
    );
}
