//! The admin listener: Prometheus `/metrics`, `/healthz` (the process is
//! up) and `/readyz` (configuration applied and upstreams checked once).
//! Runs as a pingora background service so it starts and stops with the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use prometheus::{Encoder, TextEncoder};

/// Whether the gateway is ready for traffic; shared with whoever decides it.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The admin HTTP application.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn metrics() -> impl IntoResponse {
    let mut buf = Vec::new();
    let families = prometheus::gather();
    match TextEncoder::new().encode(&families, &mut buf) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            buf,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    if readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// The admin listener as a pingora background service.
pub struct AdminService {
    pub addr: SocketAddr,
    pub readiness: Readiness,
}

#[async_trait]
impl BackgroundService for AdminService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let listener = match tokio::net::TcpListener::bind(self.addr).await {
            Ok(l) => l,
            Err(error) => {
                tracing::error!(addr = %self.addr, %error, "admin listener could not bind");
                return;
            }
        };
        tracing::info!(addr = %self.addr, "admin listener up");
        let app = router(self.readiness.clone());
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(%error, "admin listener failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_follows_readiness_and_metrics_render() {
        let readiness = Readiness::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = router(readiness.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let counter =
            prometheus::IntCounter::new("onestop_admin_test_total", "test").expect("metric");
        prometheus::register(Box::new(counter.clone())).expect("register");
        counter.inc();

        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
        assert_eq!(get("/readyz").await.expect("readyz").status(), 503);
        readiness.set_ready(true);
        assert_eq!(get("/readyz").await.expect("readyz").status(), 200);
        assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
        let body = get("/metrics")
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(body.contains("onestop_admin_test_total 1"), "{body}");
    }
}
