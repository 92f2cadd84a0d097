//! `/metrics`, `/healthz`, `/readyz` (no credentials) and the request metric.

use super::support::*;

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token() {
    let h = Harness::start().await;
    let get = |path: &str| h.req("GET", path, None).send();
    let resp = get("/readyz").await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.text().await.unwrap(), "not ready\n");
    h.readiness.set_ready(true);
    let resp = get("/readyz").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"].len(), 32);
    assert_eq!(resp.text().await.unwrap(), "ready\n");
    let resp = get("/healthz").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok\n");

    // The request metric is labelled by route template, not by raw path.
    let resp = h
        .req("GET", "/admin/v1/config/versions/4711", Some(VIEWER))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        body.lines().any(|l| l.starts_with(
            "onestop_admin_requests_total{route=\"/admin/v1/config/versions/{v}\",status=\"404\"} "
        )),
        "{body}"
    );
    assert!(
        body.contains("onestop_admin_requests_total{route=\"/readyz\",status=\"503\"}"),
        "{body}"
    );
    assert!(!body.contains("4711"), "{body}");
}
