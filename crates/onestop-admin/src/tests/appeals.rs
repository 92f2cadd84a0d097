//! `/admin/v1/appeals/{id}/escalate` over a real store and desk: roles,
//! department scopes, once only, audited.

use onestop_appeals_desk::{Desk, Submit};
use onestop_store::now_ms;
use serde_json::{Value, json};

use super::support::*;

/// Files an appeal whose title decides where it goes (`公积金` → hpf,
/// `税` → tax, anything else → the operators' queue).
pub async fn file(desk: &Desk, citizen: &str, title: &str) -> String {
    file_body(
        desk,
        citizen,
        &json!({"kind": "help", "title": title, "content": "详情"}),
    )
    .await
}

/// Files `body` as `citizen`, now; the appeal's id.
pub async fn file_body(desk: &Desk, citizen: &str, body: &Value) -> String {
    let (a, _) = desk
        .submit(
            Submit {
                citizen,
                channel: Some("app"),
                idempotency_key: None,
                body,
            },
            now_ms(),
        )
        .await
        .unwrap();
    a.id
}

async fn escalate(h: &Harness, id: &str, token: &str, note: &str) -> (u16, Value) {
    answer(
        h.req(
            "POST",
            &format!("/admin/v1/appeals/{id}/escalate"),
            Some(token),
        )
        .json(&json!({ "note": note }))
        .send()
        .await
        .unwrap(),
    )
    .await
}

async fn stats(h: &Harness, token: &str) -> (u16, Value) {
    answer(
        h.req("GET", "/admin/v1/appeals/stats", Some(token))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn escalation_follows_roles_and_department_scopes_once() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    let desk = h.appeals.clone().unwrap();
    let hpf = file(&desk, "c1", "公积金提取").await;
    let tax = file(&desk, "c2", "个税申报").await;
    let queued = file(&desk, "c3", "路灯坏了").await;

    // A viewer cannot; a scoped editor not for another department's
    // appeal nor for the queue; nothing changes.
    assert_eq!(escalate(&h, &hpf, VIEWER, "催办").await.0, 403);
    let (status, body) = escalate(&h, &tax, HPF_EDITOR, "催办").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("hpf"),
        "{body}"
    );
    assert_eq!(escalate(&h, &queued, HPF_EDITOR, "催办").await.0, 403);
    for id in [&hpf, &tax, &queued] {
        let a = h.get_json(&format!("/admin/v1/appeals/{id}"), VIEWER).await;
        assert_ne!(a["state"], "escalated", "{a}");
    }
    // An empty note names the field.
    let (status, body) = escalate(&h, &hpf, HPF_EDITOR, " ").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("note"));

    // hpf's editor escalates hpf's appeal: escalated, still hpf's, the
    // note on its timeline.
    let (status, a) = escalate(&h, &hpf, HPF_EDITOR, "超期督办").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["state"], "escalated", "{a}");
    assert_eq!(a["dept"], "hpf", "{a}");
    let full = h
        .get_json(&format!("/admin/v1/appeals/{hpf}"), VIEWER)
        .await;
    let last = full["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "escalated", "{full}");
    assert_eq!(last["note"], "超期督办", "{full}");
    // Once only.
    assert_eq!(escalate(&h, &hpf, HPF_EDITOR, "再次").await.0, 409);
    // The counts per department: a scoped operator's hold their
    // departments and the queue, the totals stay the platform's.
    let (status, all) = stats(&h, EDITOR).await;
    assert_eq!(status, 200, "{all}");
    let depts = |v: &Value| {
        v["by_dept"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(depts(&all), ["-", "hpf", "tax"], "{all}");
    let (_, scoped) = stats(&h, HPF_EDITOR).await;
    assert_eq!(depts(&scoped), ["-", "hpf"], "{scoped}");
    assert_eq!(scoped["total"], all["total"], "{scoped}");

    // An unscoped editor escalates the queue's.
    let (status, a) = escalate(&h, &queued, EDITOR, "无人派单").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["state"], "escalated");
    // Unknown: 404.
    assert_eq!(escalate(&h, "S000", EDITOR, "x").await.0, 404);

    // Audited: the done ones and the refused ones.
    let audit = h.audit(50).await;
    let escalations: Vec<(&str, bool)> = audit
        .iter()
        .filter(|r| r.action == "appeal.escalate")
        .map(|r| (r.operator.as_str(), r.detail.contains("\"done\"")))
        .collect();
    assert!(
        escalations.contains(&("hpf-editor", true)),
        "{escalations:?}"
    );
    assert!(
        escalations.contains(&("hpf-editor", false)),
        "{escalations:?}"
    );
}
