//! gRPC departments (tonic, h2c): what the four services share — citizen
//! resolution, deterministic generators, the streaming plan with its
//! injected mid-stream failure — and the router of one instance.

mod health;
mod medins;
mod tax;
mod traffic;

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use axum::Router;
use futures::{StreamExt, stream::BoxStream};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tonic::{
    Code, Request, Status,
    metadata::{MetadataMap, MetadataValue},
    server::NamedService,
    service::Routes,
};

use crate::{
    catalog::Department,
    citizens::{Citizen, Population},
    data,
    faults::REASON_HEADER,
    http::CITIZEN_HEADER,
    instance::InstanceState,
    manifest::{MatterExample, MatterManifest},
};

/// Messages a streaming call sends when the request says 0.
const DEFAULT_STREAM_COUNT: u32 = 5;
/// Most messages a streaming call sends.
const MAX_STREAM_COUNT: u32 = 1000;

/// What the handlers of one gRPC instance share.
#[derive(Clone)]
pub(crate) struct Ctx {
    dept: &'static str,
    pop: Arc<Population>,
    instance: Arc<InstanceState>,
}

impl Ctx {
    /// The citizen a request names (`me` or empty: the gateway's
    /// `x-onestop-citizen` metadata), when this department knows them.
    /// When requests are signed, only that metadata identifies: another
    /// `citizen_id` is NOT_FOUND like an unknown citizen, and no metadata is
    /// UNAUTHENTICATED (`x-sim-reason: citizen-required`).
    fn citizen<T>(&self, request: &Request<T>, citizen_id: &str) -> Result<Citizen, Status> {
        let header = request.metadata().get(CITIZEN_HEADER);
        let id = if self.instance.signed() {
            let signed = match header {
                Some(v) if !v.is_empty() => v.to_str().map_err(|_| citizen_not_found())?,
                _ => return Err(citizen_required()),
            };
            match citizen_id {
                "" | "me" => signed,
                named if named == signed => signed,
                _ => return Err(citizen_not_found()),
            }
        } else {
            match citizen_id {
                "" | "me" => header
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Status::invalid_argument("citizen_id is required"))?,
                id => id,
            }
        };
        self.pop
            .lookup(self.dept, id)
            .cloned()
            .ok_or_else(citizen_not_found)
    }

    /// A generator for one citizen's answer to one method.
    fn rng(&self, method: &str, citizen: &Citizen) -> ChaCha8Rng {
        data::rng_for(self.pop.seed(), &[self.dept, method, &citizen.id])
    }

    /// A fresh receipt number, e.g. `TRAFFIC20261120100003`.
    fn receipt(&self) -> String {
        let seq = self.instance.receipts.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{}{}{}{seq:05}",
            self.dept.to_ascii_uppercase(),
            data::TODAY.compact(),
            self.instance.ordinal
        )
    }
}

/// How a server-streaming call unfolds: `count` messages `interval` apart,
/// or — when `fail_after` is set and not above `count` — that many messages
/// followed by FAILED_PRECONDITION with `x-sim-detail: stream-failed`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamPlan {
    count: u32,
    interval: Duration,
    fail_after: Option<u32>,
}

impl StreamPlan {
    pub fn new(count: u32, interval_ms: u32, fail_after: u32) -> StreamPlan {
        StreamPlan {
            count: if count == 0 {
                DEFAULT_STREAM_COUNT
            } else {
                count.min(MAX_STREAM_COUNT)
            },
            interval: Duration::from_millis(u64::from(interval_ms)),
            fail_after: (fail_after > 0).then_some(fail_after),
        }
    }

    /// The stream: message `i` is `make(i)`.
    pub fn stream<T, F>(self, make: F) -> BoxStream<'static, Result<T, Status>>
    where
        T: Send + 'static,
        F: FnMut(u32) -> T + Send + 'static,
    {
        futures::stream::unfold((0u32, make, false), move |(i, mut make, done)| async move {
            let fail = self.fail_after == Some(i);
            if done || (!fail && i >= self.count) {
                return None;
            }
            if i > 0 && !self.interval.is_zero() {
                tokio::time::sleep(self.interval).await;
            }
            if fail {
                return Some((Err(stream_failure(i)), (i, make, true)));
            }
            let item = make(i);
            Some((Ok(item), (i + 1, make, false)))
        })
        .boxed()
    }
}

/// NOT_FOUND with `x-sim-reason: citizen-unknown`, the same for a citizen
/// nobody knows, one this department holds nothing on, and somebody other
/// than the signed citizen.
fn citizen_not_found() -> Status {
    with_reason(
        Code::NotFound,
        "no records for this citizen in this department",
        "citizen-unknown",
    )
}

/// UNAUTHENTICATED with `x-sim-reason: citizen-required`: a signed request
/// without `x-onestop-citizen`.
fn citizen_required() -> Status {
    with_reason(
        Code::Unauthenticated,
        "this method concerns a citizen: x-onestop-citizen is required",
        "citizen-required",
    )
}

fn with_reason(code: Code, message: &str, reason: &'static str) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(REASON_HEADER, MetadataValue::from_static(reason));
    Status::with_metadata(code, message, metadata)
}

fn stream_failure(sent: u32) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert("x-sim-detail", MetadataValue::from_static("stream-failed"));
    Status::with_metadata(
        Code::FailedPrecondition,
        format!("stream failed after {sent} messages (fail_after)"),
        metadata,
    )
}

/// Fully qualified gRPC service name of a gRPC department.
pub(crate) fn service_name(dept: &str) -> Option<&'static str> {
    Some(match dept {
        "traffic" => <traffic::Server as NamedService>::NAME,
        "tax" => <tax::Server as NamedService>::NAME,
        "health" => <health::Server as NamedService>::NAME,
        "medins" => <medins::Server as NamedService>::NAME,
        _ => return None,
    })
}

/// The router of one gRPC instance: the department's service plus
/// `grpc.health.v1.Health` reporting it SERVING.
pub(crate) async fn router(
    dept: &'static Department,
    pop: Arc<Population>,
    instance: Arc<InstanceState>,
) -> Router {
    let ctx = Ctx {
        dept: dept.id,
        pop,
        instance,
    };
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let routes = Routes::new(health_service);
    let routes = match dept.id {
        "traffic" => {
            reporter.set_serving::<traffic::Server>().await;
            routes.add_service(traffic::Server::new(traffic::Service(ctx)))
        }
        "tax" => {
            reporter.set_serving::<tax::Server>().await;
            routes.add_service(tax::Server::new(tax::Service(ctx)))
        }
        "health" => {
            reporter.set_serving::<health::Server>().await;
            routes.add_service(health::Server::new(health::Service(ctx)))
        }
        "medins" => {
            reporter.set_serving::<medins::Server>().await;
            routes.add_service(medins::Server::new(medins::Service(ctx)))
        }
        _ => routes,
    };
    routes.prepare().into_axum_router()
}

/// A gRPC matter for the manifest.
struct GrpcMatter {
    method: &'static str,
    id: &'static str,
    name: &'static str,
    description: &'static str,
    streaming: bool,
    /// The example request as JSON (proto field names).
    example: Value,
}

/// The department's methods as the manifest lists them, with example
/// requests for `example` (a citizen every department knows).
pub(crate) fn manifest_matters(dept: &str, example: &Citizen) -> Vec<MatterManifest> {
    let Some(service) = service_name(dept) else {
        return Vec::new();
    };
    let list = match dept {
        "traffic" => traffic::matters(&example.id),
        "tax" => tax::matters(&example.id),
        "health" => health::matters(&example.id),
        "medins" => medins::matters(&example.id),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|m| {
            let path = format!("/{service}/{}", m.method);
            MatterManifest {
                id: m.id.to_owned(),
                name: m.name.to_owned(),
                description: m.description.to_owned(),
                method: "POST".to_owned(),
                example: MatterExample {
                    path: path.clone(),
                    body: Some(m.example),
                },
                path,
                citizen_param: Some("citizen_id".to_owned()),
                streaming: m.streaming,
                data_item: None,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collect(plan: StreamPlan) -> Vec<Result<u32, Status>> {
        futures::executor::block_on(plan.stream(|i| i).collect())
    }

    #[test]
    fn stream_plan_counts_and_fails() {
        assert_eq!(collect(StreamPlan::new(0, 0, 0)).len(), 5);
        assert_eq!(collect(StreamPlan::new(5000, 0, 0)).len(), 1000);
        let failed = collect(StreamPlan::new(3, 0, 2));
        assert_eq!(failed.len(), 3);
        assert_eq!(*failed[1].as_ref().unwrap(), 1);
        let status = failed[2].as_ref().unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.metadata().get("x-sim-detail").unwrap(),
            "stream-failed"
        );
        // fail_after == count: all messages, then the failure.
        assert_eq!(collect(StreamPlan::new(2, 0, 2)).len(), 3);
        // fail_after above count: a normal end.
        assert!(collect(StreamPlan::new(2, 0, 9)).iter().all(Result::is_ok));
    }
}
