//! The OpenAPI document, and access control driven by it: every route it
//! lists needs a valid token, and a viewer can change nothing.

use std::collections::BTreeSet;

use onestop_store::Store as _;
use serde_json::Value;

use super::support::*;
use crate::ConfigBackend;

/// Every operation the router serves.
const SERVED: [(&str, &str); 53] = [
    ("DELETE", "/admin/v1/config/departments/{dept}"),
    (
        "DELETE",
        "/admin/v1/config/departments/{dept}/routes/{route}",
    ),
    ("DELETE", "/admin/v1/departments/{dept}/tokens/{id}"),
    ("GET", "/admin/v1/access-audit/verify"),
    ("GET", "/admin/v1/agreements"),
    ("GET", "/admin/v1/agreements/{id}"),
    ("GET", "/admin/v1/audit"),
    ("GET", "/admin/v1/appeals"),
    ("GET", "/admin/v1/appeals/stats"),
    ("GET", "/admin/v1/appeals/{id}"),
    ("GET", "/admin/v1/appeals/{id}/attachments/{hash}"),
    ("GET", "/admin/v1/assessment"),
    ("GET", "/admin/v1/cache/stats"),
    ("GET", "/admin/v1/cases/overdue"),
    ("GET", "/admin/v1/cases/{id}"),
    ("GET", "/admin/v1/followups"),
    ("GET", "/admin/v1/messages/outbox"),
    ("GET", "/admin/v1/ratings/stats"),
    ("GET", "/admin/v1/config"),
    ("GET", "/admin/v1/config/status"),
    ("GET", "/admin/v1/config/versions"),
    ("GET", "/admin/v1/config/versions/{v}"),
    ("GET", "/admin/v1/config/versions/{v}/diff"),
    ("GET", "/admin/v1/data-items"),
    ("GET", "/admin/v1/departments/{dept}/tokens"),
    ("GET", "/admin/v1/openapi.json"),
    ("GET", "/admin/v1/registry/decisions"),
    ("GET", "/admin/v1/registry/services"),
    ("GET", "/admin/v1/registry/services/{dept}/{service}"),
    ("GET", "/admin/v1/registry/zombies"),
    ("GET", "/admin/v1/traffic"),
    ("GET", "/admin/v1/upstreams"),
    ("GET", "/admin/v1/whoami"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/readyz"),
    ("POST", "/admin/v1/agreements"),
    ("POST", "/admin/v1/agreements/{id}/approve"),
    ("POST", "/admin/v1/agreements/{id}/reject"),
    ("POST", "/admin/v1/agreements/{id}/revoke"),
    ("POST", "/admin/v1/appeals/{id}/close"),
    ("POST", "/admin/v1/appeals/{id}/dispatch"),
    ("POST", "/admin/v1/appeals/{id}/escalate"),
    ("POST", "/admin/v1/cache/purge"),
    ("POST", "/admin/v1/config/reload"),
    ("POST", "/admin/v1/config/rollback"),
    ("POST", "/admin/v1/departments/{dept}/tokens"),
    ("POST", "/admin/v1/followups/{id}/close"),
    ("POST", "/admin/v1/messages/outbox/{event_id}/retry"),
    (
        "POST",
        "/admin/v1/registry/services/{dept}/{service}/approve",
    ),
    (
        "POST",
        "/admin/v1/registry/services/{dept}/{service}/reject",
    ),
    ("PUT", "/admin/v1/config/departments/{dept}"),
    ("PUT", "/admin/v1/config/departments/{dept}/routes/{route}"),
];

/// The audit action of each mutating operation.
fn action(method: &str, path: &str) -> &'static str {
    match (method, path) {
        ("PUT", "/admin/v1/config/departments/{dept}") => "config.department.put",
        ("DELETE", "/admin/v1/config/departments/{dept}") => "config.department.delete",
        ("PUT", "/admin/v1/config/departments/{dept}/routes/{route}") => "config.route.put",
        ("DELETE", "/admin/v1/config/departments/{dept}/routes/{route}") => "config.route.delete",
        ("POST", "/admin/v1/config/rollback") => "config.rollback",
        ("POST", "/admin/v1/config/reload") => "config.reload",
        ("POST", "/admin/v1/registry/services/{dept}/{service}/approve") => "registry.approve",
        ("POST", "/admin/v1/registry/services/{dept}/{service}/reject") => "registry.reject",
        ("POST", "/admin/v1/departments/{dept}/tokens") => "dept_token.issue",
        ("DELETE", "/admin/v1/departments/{dept}/tokens/{id}") => "dept_token.revoke",
        ("POST", "/admin/v1/cache/purge") => "cache.purge",
        ("POST", "/admin/v1/followups/{id}/close") => "followup.close",
        ("POST", "/admin/v1/agreements") => "agreement.apply",
        ("POST", "/admin/v1/agreements/{id}/approve") => "agreement.approve",
        ("POST", "/admin/v1/agreements/{id}/reject") => "agreement.reject",
        ("POST", "/admin/v1/agreements/{id}/revoke") => "agreement.revoke",
        ("POST", "/admin/v1/appeals/{id}/dispatch") => "appeal.dispatch",
        ("POST", "/admin/v1/appeals/{id}/close") => "appeal.close",
        ("POST", "/admin/v1/appeals/{id}/escalate") => "appeal.escalate",
        ("POST", "/admin/v1/messages/outbox/{event_id}/retry") => "message.retry",
        other => panic!("no action for {other:?}"),
    }
}

async fn document(h: &Harness) -> Value {
    let resp = h
        .req("GET", "/admin/v1/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

fn admin_operations(doc: &Value) -> Vec<(String, String)> {
    operations(doc)
        .into_iter()
        .filter(|(_, p)| p.starts_with("/admin/v1/") && p != "/admin/v1/openapi.json")
        .collect()
}

#[tokio::test]
async fn openapi_documents_exactly_the_served_routes() {
    let h = Harness::start().await;
    let doc = document(&h).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "onestop admin API");
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().collect();
    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        serde_json::json!({
            "type": "http",
            "scheme": "bearer",
            "description": "An operator token; the gateway file lists its SHA-256 under [[operators]]."
        })
    );
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let secured = op["security"] == serde_json::json!([{ "bearer": [] }]);
        let public = !path.starts_with("/admin/v1/") || path == "/admin/v1/openapi.json";
        assert_eq!(secured, !public, "{method} {path}");
        assert!(
            op["responses"]["200"].is_object() || op["responses"]["201"].is_object(),
            "{method} {path}"
        );
        if secured {
            assert_eq!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }
    for schema in [
        "ErrorBody",
        "ChangeAnswer",
        "ConfigView",
        "StatusView",
        "VersionView",
        "DiffView",
        "ServiceView",
        "DecisionRequest",
        "DecisionView",
        "TokenView",
        "IssuedView",
        "ZombieReport",
        "AuditPage",
        "Whoami",
        "PurgeRequest",
        "PurgeAnswer",
        "CacheStatsView",
        "DataItemList",
        "AgreementList",
        "ApplyRequest",
        "ReasonRequest",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    // Every documented operation is served (a 404/405 would mean it is not).
    for (method, path) in operations(&doc) {
        let resp = h.req(&method, &fill(&path), None).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(![404, 405].contains(&status), "{method} {path}: {status}");
    }
    // And an undocumented one is not.
    let (status, body) = answer(
        h.req("GET", "/admin/v1/nothing-here", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, body) = answer(
        h.req("PATCH", "/admin/v1/config", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
}

#[tokio::test]
async fn every_admin_route_needs_a_valid_token() {
    let h = Harness::start().await;
    let doc = document(&h).await;
    let ops = admin_operations(&doc);
    assert_eq!(ops.len(), 49);
    let bad: [Option<&str>; 6] = [
        None,
        Some("Bearer not-a-known-token"),
        Some("Basic dmlld2VyOnRva2Vu"),
        Some("Bearer"),
        Some("Bearer two words"),
        // A token without the scheme.
        Some(VIEWER),
    ];
    let mut refused_changes = 0;
    for (method, path) in &ops {
        for auth in bad {
            let mut rb = h
                .req(method, &fill(path), None)
                .header("x-request-id", "0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e401");
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            if let Some((ct, body)) = body_for(method, path) {
                rb = rb.header("content-type", ct).body(body);
            }
            let resp = rb.send().await.unwrap();
            assert_eq!(
                resp.headers()["x-request-id"],
                "0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e401"
            );
            let (status, body) = answer(resp).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {body}");
            assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
            assert_eq!(
                body["error"]["request_id"],
                "0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e401"
            );
            if method != "GET" {
                refused_changes += 1;
            }
        }
    }
    assert_eq!(refused_changes, 20 * 6);
    // Refused attempts to change are audited, as nobody (`-`).
    let audit = h.audit(1000).await;
    assert_eq!(audit.len(), 120);
    for r in &audit {
        assert_eq!(r.operator, "-");
        let detail: Value = serde_json::from_str(&r.detail).unwrap();
        assert_eq!(detail["outcome"], "refused");
        assert_eq!(detail["status"], 401);
    }
    let refused_actions: BTreeSet<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    let expected: BTreeSet<&str> = ops
        .iter()
        .filter(|(m, _)| m != "GET")
        .map(|(m, p)| action(m, p))
        .collect();
    assert_eq!(refused_actions, expected);
}

#[tokio::test]
async fn a_viewer_can_change_nothing() {
    let h = Harness::start().await;
    // Something to approve and a credential to revoke, so that a missing
    // guard would show as a change.
    h.registry
        .register(
            "hpf",
            forms_spec("forms", "/api/v1/depts/hpf/forms"),
            instance(9201),
        )
        .await
        .unwrap();
    let issued = h
        .registry
        .issue_token("hpf", "fleet", "test")
        .await
        .unwrap();
    assert_eq!(issued.id, 1);
    let snapshot = |h: &Harness| {
        let c = h.config.current();
        (
            c.version,
            c.content_hash,
            h.config.version_count(),
            h.registry.services(None),
            h.registry.tokens(None),
        )
    };
    let before = snapshot(&h);

    let doc = document(&h).await;
    let changes: Vec<(String, String)> = admin_operations(&doc)
        .into_iter()
        .filter(|(m, _)| m != "GET")
        .collect();
    assert_eq!(changes.len(), 20);
    for (method, path) in &changes {
        let mut rb = h.req(method, &fill(path), Some(VIEWER));
        if let Some((ct, body)) = body_for(method, path) {
            rb = rb.header("content-type", ct).body(body);
        }
        let (status, body) = answer(rb.send().await.unwrap()).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(
            body["error"]["message"],
            format!(
                "operator `viewer` lacks the role this needs ({})",
                if path.contains("/registry/")
                    || path.contains("/tokens")
                    || path.starts_with("/admin/v1/agreements/")
                {
                    "approver"
                } else {
                    "editor"
                }
            )
        );
    }
    // Credentials are for approvers, even to list.
    let (status, _) = answer(
        h.req("GET", "/admin/v1/departments/hpf/tokens", Some(VIEWER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);

    assert_eq!(snapshot(&h), before);
    assert_eq!(
        h.store.last_purge_id().await.unwrap(),
        0,
        "no purge recorded"
    );
    assert_eq!(
        h.registry.authenticate(&issued.token),
        Some("hpf".to_string())
    );
    assert_eq!(h.registry.decisions(None, 10).await.unwrap(), vec![]);
    // Each refusal is audited with the operator, the action and the target.
    let mut audit: Vec<(String, String, String, Value)> = h
        .audit(100)
        .await
        .into_iter()
        .map(|r| {
            (
                r.operator,
                r.action,
                r.target,
                serde_json::from_str(&r.detail).unwrap(),
            )
        })
        .collect();
    audit.sort_by(|a, b| a.1.cmp(&b.1));
    let summary: Vec<(&str, &str, &str, i64)> = audit
        .iter()
        .map(|(o, a, t, d)| {
            (
                o.as_str(),
                a.as_str(),
                t.as_str(),
                d["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("viewer", "agreement.apply", "agreement", 403),
            ("viewer", "agreement.approve", "1", 403),
            ("viewer", "agreement.reject", "1", 403),
            ("viewer", "agreement.revoke", "1", 403),
            ("viewer", "appeal.close", "1", 403),
            ("viewer", "appeal.dispatch", "1", 403),
            ("viewer", "appeal.escalate", "1", 403),
            ("viewer", "cache.purge", "cache", 403),
            ("viewer", "config.department.delete", "hpf", 403),
            ("viewer", "config.department.put", "hpf", 403),
            ("viewer", "config.reload", "config", 403),
            ("viewer", "config.rollback", "config", 403),
            ("viewer", "config.route.delete", "hpf/balance", 403),
            ("viewer", "config.route.put", "hpf/balance", 403),
            ("viewer", "dept_token.issue", "hpf", 403),
            ("viewer", "dept_token.revoke", "hpf/1", 403),
            ("viewer", "followup.close", "1", 403),
            ("viewer", "message.retry", "evt-1", 403),
            ("viewer", "registry.approve", "hpf/forms", 403),
            ("viewer", "registry.reject", "hpf/forms", 403),
        ]
    );
    for (_, _, _, detail) in &audit {
        assert_eq!(detail["outcome"], "refused");
    }
}

#[tokio::test]
async fn whoami_names_the_operator() {
    let h = Harness::start().await;
    assert_eq!(
        h.get_json("/admin/v1/whoami", HPF_EDITOR).await,
        serde_json::json!({"name": "hpf-editor", "roles": ["editor"], "departments": ["hpf"]})
    );
    assert_eq!(
        h.get_json("/admin/v1/whoami", APPROVER).await,
        serde_json::json!({"name": "approver", "roles": ["approver"], "departments": []})
    );
}
