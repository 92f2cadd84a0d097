//! Registrations, decisions, department credentials and the zombie report.

use onestop_core::digest::sha256_hex;
use onestop_store::now_ms;
use serde_json::{Value, json};

use super::support::*;
use crate::backend::UpstreamStats;

#[tokio::test]
async fn a_registration_is_approved_by_naming_its_revision() {
    let h = Harness::start().await;
    let outcome = h
        .registry
        .register(
            "hpf",
            forms_spec("forms", "/api/v1/depts/hpf/forms"),
            instance(9201),
        )
        .await
        .unwrap();
    assert_eq!(outcome.revision, 1);

    let pending = h
        .get_json("/admin/v1/registry/services?status=pending", VIEWER)
        .await;
    let services = pending["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    let s = &services[0];
    assert_eq!(
        (
            s["dept"].as_str(),
            s["service"].as_str(),
            s["revision"].as_i64(),
            s["status"].as_str(),
            s["changes"].as_str()
        ),
        (
            Some("hpf"),
            Some("forms"),
            Some(1),
            Some("pending"),
            Some("new service (Http, 1 routes)")
        )
    );
    assert_eq!(s["approved_revision"], Value::Null);
    assert_eq!(s["approved_spec"], Value::Null);
    assert_eq!(s["spec"]["routes"][0]["pattern"], "/api/v1/depts/hpf/forms");
    assert_eq!(
        s["instances"],
        json!([{"addr": "127.0.0.1:9201", "weight": 1}])
    );
    assert_eq!(s["lapsed"], json!([]));
    let approved = h
        .get_json("/admin/v1/registry/services?status=approved", VIEWER)
        .await;
    assert_eq!(approved["services"], json!([]));
    let other = h
        .get_json("/admin/v1/registry/services?dept=tax", VIEWER)
        .await;
    assert_eq!(other["services"], json!([]));
    let (status, _) = answer(
        h.req(
            "GET",
            "/admin/v1/registry/services?status=maybe",
            Some(VIEWER),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);

    let approve = |revision: i64, token: &'static str| {
        h.req(
            "POST",
            "/admin/v1/registry/services/hpf/forms/approve",
            Some(token),
        )
        .json(&json!({"revision": revision, "reason": "备案 ok"}))
        .send()
    };
    // An editor is not an approver; a stale revision is a conflict.
    let (status, _) = answer(approve(1, EDITOR).await.unwrap()).await;
    assert_eq!(status, 403);
    let (status, body) = answer(approve(2, APPROVER).await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");
    // The revision is required.
    let (status, body) = answer(
        h.req(
            "POST",
            "/admin/v1/registry/services/hpf/forms/approve",
            Some(APPROVER),
        )
        .json(&json!({"reason": "no revision"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );

    let (status, body) = answer(approve(1, APPROVER).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["status"].as_str(),
            body["approved_revision"].as_i64(),
            body["changes"].as_str()
        ),
        (
            Some("approved"),
            Some(1),
            Some("no change to the public surface")
        )
    );
    assert_eq!(body["approved_spec"], body["spec"]);
    let one = h
        .get_json("/admin/v1/registry/services/hpf/forms", VIEWER)
        .await;
    assert_eq!(one["status"], "approved");
    let (status, _) = answer(approve(1, APPROVER).await.unwrap()).await;
    assert_eq!(status, 409);
    let (status, _) = answer(
        h.req("GET", "/admin/v1/registry/services/hpf/nope", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    // A surface change is a new pending revision; reject it (with a reason).
    h.registry
        .register(
            "hpf",
            forms_spec("forms", "/api/v1/depts/hpf/forms2"),
            instance(9201),
        )
        .await
        .unwrap();
    let s = h
        .get_json("/admin/v1/registry/services/hpf/forms", VIEWER)
        .await;
    assert_eq!(
        (
            s["revision"].as_i64(),
            s["status"].as_str(),
            s["changes"].as_str()
        ),
        (Some(2), Some("pending"), Some("~route forms"))
    );
    let reject = |body: Value| {
        h.req(
            "POST",
            "/admin/v1/registry/services/hpf/forms/reject",
            Some(APPROVER),
        )
        .json(&body)
        .send()
    };
    let (status, _) = answer(reject(json!({"revision": 2})).await.unwrap()).await;
    assert_eq!(status, 400);
    let (status, body) = answer(
        reject(json!({"revision": 2, "reason": "path not in the filing"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["approved_revision"].as_i64()),
        (Some("rejected"), Some(1))
    );

    let decisions = h
        .get_json("/admin/v1/registry/decisions?dept=hpf", VIEWER)
        .await;
    let list: Vec<(&str, &str, i64, &str, &str)> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["service"].as_str().unwrap(),
                d["verdict"].as_str().unwrap(),
                d["revision"].as_i64().unwrap(),
                d["operator"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        list,
        vec![
            ("forms", "reject", 2, "approver", "path not in the filing"),
            ("forms", "approve", 1, "approver", "备案 ok"),
        ]
    );
    let audit: Vec<(String, String, String)> = h
        .audit(10)
        .await
        .into_iter()
        .filter(|r| r.operator == "approver")
        .map(|r| (r.operator, r.action, r.target))
        .collect();
    assert_eq!(
        audit,
        vec![
            (
                "approver".into(),
                "registry.reject".into(),
                "hpf/forms".into()
            ),
            (
                "approver".into(),
                "registry.approve".into(),
                "hpf/forms".into()
            ),
        ]
    );
}

#[tokio::test]
async fn a_department_token_is_shown_once_and_revocable() {
    let h = Harness::start().await;
    let (status, issued) = answer(
        h.req("POST", "/admin/v1/departments/hpf/tokens", Some(APPROVER))
            .json(&json!({"label": "fleet registrar"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ost_hpf_"), "{token}");
    assert_eq!(
        (issued["id"].as_i64(), issued["dept"].as_str()),
        (Some(1), Some("hpf"))
    );
    assert_eq!(h.registry.authenticate(&token), Some("hpf".to_string()));

    let resp = h
        .req("GET", "/admin/v1/departments/hpf/tokens", Some(APPROVER))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&token));
    assert!(!text.contains(&sha256_hex(token.as_bytes())));
    let list: Value = serde_json::from_str(&text).unwrap();
    let created_at = list["tokens"][0]["created_at"].as_i64().unwrap();
    assert_eq!(
        list,
        json!({"tokens": [{
            "id": 1, "dept": "hpf", "label": "fleet registrar", "created_by": "approver",
            "created_at": created_at, "revoked_at": null
        }]})
    );

    let (status, revoked) = answer(
        h.req(
            "DELETE",
            "/admin/v1/departments/hpf/tokens/1",
            Some(APPROVER),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].as_i64().unwrap() >= created_at);
    assert_eq!(h.registry.authenticate(&token), None);
    // Revoking again changes nothing; another department's id is not found.
    let (status, again) = answer(
        h.req(
            "DELETE",
            "/admin/v1/departments/hpf/tokens/1",
            Some(APPROVER),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, &again), (200, &revoked));
    let (status, _) = answer(
        h.req(
            "DELETE",
            "/admin/v1/departments/tax/tokens/1",
            Some(APPROVER),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = answer(
        h.req("POST", "/admin/v1/departments/nope/tokens", Some(APPROVER))
            .json(&json!({"label": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = answer(
        h.req("POST", "/admin/v1/departments/hpf/tokens", Some(APPROVER))
            .json(&json!({"label": "  "}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);

    let audit = h.audit(10).await;
    let summary: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|r| (r.operator.as_str(), r.action.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("approver", "dept_token.revoke", "hpf/1"),
            ("approver", "dept_token.issue", "hpf"),
        ]
    );
    for r in &audit {
        assert!(!r.detail.contains(&token), "{}", r.detail);
        assert!(!r.detail.contains(&sha256_hex(token.as_bytes())));
    }
}

#[tokio::test]
async fn the_zombie_report_names_idle_and_unhealthy_services() {
    let h = Harness::start().await;
    h.registry
        .register(
            "hpf",
            forms_spec("forms", "/api/v1/depts/hpf/forms"),
            instance(9201),
        )
        .await
        .unwrap();
    h.registry
        .decide(
            "hpf",
            "forms",
            1,
            onestop_core::registry::Verdict::Approve,
            "approver",
            "",
        )
        .await
        .unwrap();
    let now = now_ms();
    let twenty_minutes_ago = now - 20 * 60 * 1000;
    *h.stats.upstreams.lock().unwrap() = vec![
        UpstreamStats {
            dept: "hpf".into(),
            service: "accounts".into(),
            instances: 1,
            healthy: 0,
            last_request_ms: Some(now - 1_000),
            requests: 40,
        },
        UpstreamStats {
            dept: "tax".into(),
            service: "filing".into(),
            instances: 2,
            healthy: 2,
            last_request_ms: Some(twenty_minutes_ago),
            requests: 7,
        },
        UpstreamStats {
            dept: "hpf".into(),
            service: "forms".into(),
            instances: 1,
            healthy: 1,
            last_request_ms: Some(now - 1_000),
            requests: 900,
        },
    ];
    let report = h.get_json("/admin/v1/registry/zombies", VIEWER).await;
    assert_eq!(
        (report["window"].as_str(), report["window_ms"].as_i64()),
        (Some("10m"), Some(600_000))
    );
    assert_eq!(
        report["departments"],
        json!([
            {"dept": "hpf", "services": [{
                "service": "accounts", "source": "config", "reasons": ["no_healthy_instance"],
                "instances": 1, "healthy": 0, "last_request_ms": now - 1_000, "requests": 40
            }]},
            {"dept": "tax", "services": [{
                "service": "filing", "source": "config", "reasons": ["no_traffic"],
                "instances": 2, "healthy": 2, "last_request_ms": twenty_minutes_ago, "requests": 7
            }]}
        ])
    );
    // A wider window forgives `filing`; an unhealthy registered service shows as such.
    h.stats.upstreams.lock().unwrap()[2].healthy = 0;
    let report = h
        .get_json("/admin/v1/registry/zombies?window=30m", VIEWER)
        .await;
    let listed: Vec<(String, String, String, Value)> = report["departments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["services"].as_array().unwrap().iter().map(move |s| {
                (
                    d["dept"].as_str().unwrap().to_string(),
                    s["service"].as_str().unwrap().to_string(),
                    s["source"].as_str().unwrap().to_string(),
                    s["reasons"].clone(),
                )
            })
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "hpf".into(),
                "accounts".into(),
                "config".into(),
                json!(["no_healthy_instance"])
            ),
            (
                "hpf".into(),
                "forms".into(),
                "registry".into(),
                json!(["no_healthy_instance"])
            ),
        ]
    );
    let (status, body) = answer(
        h.req(
            "GET",
            "/admin/v1/registry/zombies?window=soon",
            Some(VIEWER),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn without_a_registry_its_routes_say_so() {
    let h = Harness::with(Options {
        without_registry: true,
        ..Options::default()
    })
    .await;
    for path in [
        "/admin/v1/registry/services",
        "/admin/v1/registry/decisions",
        "/admin/v1/departments/hpf/tokens",
    ] {
        let (status, body) = answer(h.req("GET", path, Some(APPROVER)).send().await.unwrap()).await;
        assert_eq!(status, 503, "{path}");
        assert_eq!(body["error"]["code"], "REGISTRY_DISABLED");
    }
    // The zombie report still covers the configuration's services.
    let report = h.get_json("/admin/v1/registry/zombies", VIEWER).await;
    assert_eq!(report["departments"].as_array().unwrap().len(), 2);
}
