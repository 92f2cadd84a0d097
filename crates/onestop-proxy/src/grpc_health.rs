//! Active health check over `grpc.health.v1.Health/Check` (tonic-health's client).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use pingora_error::{Error, ErrorType};
use pingora_load_balancing::Backend;
use pingora_load_balancing::health_check::{HealthCheck, HealthObserve};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

pub struct GrpcHealthCheck {
    service: String,
    timeout: Duration,
    healthy_threshold: usize,
    unhealthy_threshold: usize,
    observer: Box<dyn HealthObserve + Send + Sync>,
    /// One lazily-connecting channel per instance, reused across passes.
    channels: Mutex<HashMap<SocketAddr, Channel>>,
}

impl GrpcHealthCheck {
    pub fn new(
        service: String,
        timeout: Duration,
        healthy_threshold: usize,
        unhealthy_threshold: usize,
        observer: Box<dyn HealthObserve + Send + Sync>,
    ) -> Self {
        GrpcHealthCheck {
            service,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
            observer,
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn channel(&self, addr: SocketAddr) -> pingora_error::Result<Channel> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = channels.get(&addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Error::because(ErrorType::InternalError, "grpc health endpoint", e))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let channel = endpoint.connect_lazy();
        channels.insert(addr, channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl HealthCheck for GrpcHealthCheck {
    async fn check(&self, target: &Backend) -> pingora_error::Result<()> {
        let Some(addr) = target.addr.as_inet().copied() else {
            return Error::e_explain(
                ErrorType::InternalError,
                "grpc health needs an inet address",
            );
        };
        let mut client = HealthClient::new(self.channel(addr)?);
        let request = HealthCheckRequest {
            service: self.service.clone(),
        };
        let answer = tokio::time::timeout(self.timeout, client.check(request)).await;
        match answer {
            Ok(Ok(resp)) if resp.get_ref().status == ServingStatus::Serving as i32 => Ok(()),
            Ok(Ok(resp)) => Error::e_explain(
                ErrorType::CustomCode("grpc health: not serving", 503),
                format!("status {}", resp.get_ref().status),
            ),
            Ok(Err(status)) => Error::e_explain(
                ErrorType::CustomCode("grpc health: error", 502),
                status.message().to_string(),
            ),
            Err(_) => Error::e_explain(ErrorType::ReadTimedout, "grpc health check timed out"),
        }
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        self.observer.observe(target, healthy).await;
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.healthy_threshold
        } else {
            self.unhealthy_threshold
        }
    }
}
