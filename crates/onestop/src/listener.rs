//! The control and admin listeners as pingora listening services.
//!
//! Serving an axum router (the admin API, or tonic's routes for the control
//! plane) from a pingora `listening::Service` gives these listeners what
//! the public one has: pingora binds the socket, hands it to the next
//! process on a graceful upgrade (`--upgrade` + SIGQUIT), and stops
//! accepting on SIGTERM while open connections finish.

use std::sync::Arc;

use async_trait::async_trait;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::listening::Service;

/// Serves an axum router over HTTP/1.1 and HTTP/2 (prior knowledge, as
/// gRPC clients use) on every accepted connection.
pub struct RouterApp {
    name: &'static str,
    router: axum::Router,
}

impl RouterApp {
    /// A pingora listening service named `name` serving `router` on `addr`.
    pub fn service(name: &'static str, addr: &str, router: axum::Router) -> Service<RouterApp> {
        let mut service = Service::new(name.to_string(), RouterApp { name, router });
        service.add_tcp(addr);
        service
    }
}

#[async_trait]
impl ServerApp for RouterApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let io = TokioIo::new(stream);
        let service = TowerToHyperService::new(self.router.clone());
        let builder = auto::Builder::new(TokioExecutor::new());
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut shutdown = shutdown.clone();
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = shutdown.changed() => {
                // Finish what is in flight, refuse new requests (GOAWAY on h2).
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = result {
            tracing::debug!(listener = self.name, %error, "connection ended with an error");
        }
        // hyper owns the connection until it closes: nothing to reuse.
        None
    }
}
