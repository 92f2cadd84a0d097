//! `/admin/v1/messages/outbox` over a real store and desk: what operators
//! see of webhook deliveries (never the citizen or the text), and the
//! retry: editors not limited to departments, audited, 404 for a
//! delivered or unknown event.

use onestop_store::{DeliveryOutcome, MessageStore, now_ms};
use serde_json::Value;

use super::appeals::file;
use super::support::*;

async fn retry(h: &Harness, id: &str, token: &str) -> (u16, Value) {
    answer(
        h.req(
            "POST",
            &format!("/admin/v1/messages/outbox/{id}/retry"),
            Some(token),
        )
        .send()
        .await
        .unwrap(),
    )
    .await
}

#[tokio::test]
async fn operators_see_deliveries_and_editors_retry_them() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    h.store.set_notify_channels(vec!["app".into()]);
    let desk = h.appeals.clone().unwrap();
    // Dispatched by a rule at submission: one event for the webhook.
    let appeal = file(&desk, "110101199003077777", "公积金提取 13800138000").await;

    let list = h.get_json("/admin/v1/messages/outbox", VIEWER).await;
    let deliveries = list["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{list}");
    let d = &deliveries[0];
    let event = d["event_id"].as_str().unwrap().to_owned();
    assert!(event.starts_with(&format!("{appeal}.")), "{d}");
    assert_eq!(d["kind"], "appeal.dispatched");
    assert_eq!(d["subject"], appeal.as_str());
    assert_eq!(d["channel"], "app");
    assert_eq!(d["state"], "pending");
    assert_eq!(d["attempts"], 0);
    assert!(d["next_attempt_at"].is_i64(), "{d}");
    // Neither the citizen nor the text (nor the title) reaches operators.
    let text = list.to_string();
    assert!(!text.contains("110101199003077777"), "{text}");
    assert!(
        !text.contains("13800138000") && !text.contains("公积金"),
        "{text}"
    );

    // Bad parameters are 400 naming them.
    for q in ["state=sent", "limit=0", "colour=red"] {
        let (status, body) = answer(
            h.req(
                "GET",
                &format!("/admin/v1/messages/outbox?{q}"),
                Some(VIEWER),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{q}: {body}");
    }

    // The worker gives up: failed, with its error.
    let failed = DeliveryOutcome::Failed {
        error: "HTTP 500".into(),
    };
    assert!(
        h.store
            .record_delivery(&event, now_ms(), &failed)
            .await
            .unwrap()
    );
    let list = h
        .get_json("/admin/v1/messages/outbox?state=failed", VIEWER)
        .await;
    assert_eq!(list["deliveries"][0]["event_id"], event.as_str(), "{list}");
    assert_eq!(list["deliveries"][0]["attempts"], 1);
    assert_eq!(list["deliveries"][0]["last_error"], "HTTP 500");
    assert!(list["deliveries"][0]["next_attempt_at"].is_null(), "{list}");
    let pending = h
        .get_json("/admin/v1/messages/outbox?state=pending", VIEWER)
        .await;
    assert_eq!(pending["deliveries"], serde_json::json!([]));
    assert!(
        h.store
            .due_deliveries(now_ms(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Viewers and department-scoped editors may not retry; nothing changes.
    assert_eq!(retry(&h, &event, VIEWER).await.0, 403);
    assert_eq!(retry(&h, &event, HPF_EDITOR).await.0, 403);
    assert!(
        h.store
            .due_deliveries(now_ms(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // An editor makes it due now, audited.
    let (status, body) = retry(&h, &event, EDITOR).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "pending");
    let due = h.store.due_deliveries(now_ms(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event_id, event);
    assert_eq!(due[0].attempts, 1, "the attempts so far are kept");
    let audit = h.audit(20).await;
    let retried: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "message.retry")
        .collect();
    // The two refusals and the retry, each with the event as target.
    assert_eq!(retried.len(), 3, "{audit:?}");
    assert!(retried.iter().all(|r| r.target == event), "{audit:?}");
    let done: Vec<&str> = retried
        .iter()
        .filter(|r| r.detail.contains("\"done\""))
        .map(|r| r.operator.as_str())
        .collect();
    assert_eq!(done, ["editor"], "{audit:?}");

    // Delivered: nothing to retry; unknown: the same 404.
    assert!(
        h.store
            .record_delivery(&event, now_ms(), &DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let (status, body) = retry(&h, &event, EDITOR).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(retry(&h, "NO-SUCH.0001", EDITOR).await.0, 404);
    let list = h
        .get_json("/admin/v1/messages/outbox?state=delivered", VIEWER)
        .await;
    assert_eq!(list["deliveries"][0]["attempts"], 2, "{list}");
    assert!(list["deliveries"][0]["delivered_at"].is_i64(), "{list}");
}
