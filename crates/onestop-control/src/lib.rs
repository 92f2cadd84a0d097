//! onestop's control plane: departments register their services over gRPC
//! (tonic), keep them alive with leases, and wait for an operator's
//! approval (备案) before their public surface gets traffic.
//!
//! - [`registry::Registry`]: the state machine — registrations, approvals,
//!   leases, credentials — over the store, mirrored in memory, publishing a
//!   [`view::RegistryView`] for the data plane on a `watch` channel.
//! - [`service::RegistryService`]: the tonic service; [`convert`] is the
//!   only module that sees protobuf types.
//! - [`check`]: pure rules a registration must meet against the
//!   configuration; [`merge`]: approved registrations into the
//!   configuration model the data plane compiles.
//! - [`purge::PurgeApplier`]: purges of the response cache, recorded in the
//!   store and applied by every gateway sharing it; [`cache::CacheService`]
//!   the tonic `Cache` service through which departments purge their own.
//! - [`exchange::ExchangeService`]: the tonic `Exchange` service through
//!   which departments read each other's data items under approved
//!   agreements ([`onestop_sharing::Sharing`]) and apply for agreements.
//! - [`routes`]: everything the control listener serves (registry, cache
//!   purges, the exchange, `grpc.health.v1`, server reflection).

#![forbid(unsafe_code)]

pub mod appeals;
pub mod auth;
pub mod cache;
pub mod check;
pub mod convert;
pub mod error;
mod events;
pub mod exchange;
pub mod merge;
pub mod pb;
pub mod purge;
pub mod registry;
pub mod service;
pub mod view;

use std::sync::Arc;

pub use error::{Problem, RegistryError};
pub use purge::{PurgeApplier, PurgeError, Purged};
pub use registry::{Registry, RegistrySettings};
pub use view::{RegistryView, ServedService};

/// The gRPC services of the control listener: the registry, cache purges,
/// health (`grpc.health.v1`, reporting both as SERVING) and reflection.
pub async fn routes(
    registry: Arc<Registry>,
    purges: Arc<PurgeApplier>,
    auth: Arc<dyn auth::Authenticate>,
    sharing: Option<Arc<onestop_sharing::Sharing>>,
) -> tonic::service::Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<pb::registry::registry_server::RegistryServer<service::RegistryService>>()
        .await;
    reporter
        .set_serving::<pb::cache::cache_server::CacheServer<cache::CacheService>>()
        .await;
    let mut builder = tonic::service::Routes::builder();
    builder
        .add_service(
            // A registration may carry a descriptor set of up to 4 MiB
            // (checked by `convert`, naming the field), so the message
            // around it may be larger than tonic's default 4 MiB.
            pb::registry::registry_server::RegistryServer::new(service::RegistryService::new(
                registry,
                auth.clone(),
            ))
            .max_decoding_message_size(convert::MAX_DESCRIPTOR_SET_BYTES + 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024),
        )
        .add_service(pb::cache::cache_server::CacheServer::new(
            cache::CacheService::new(purges, auth.clone()),
        ))
        .add_service(health);
    if let Some(sharing) = sharing {
        reporter
            .set_serving::<pb::exchange::exchange_server::ExchangeServer<exchange::ExchangeService>>()
            .await;
        builder.add_service(pb::exchange::exchange_server::ExchangeServer::new(
            exchange::ExchangeService::new(sharing, auth),
        ));
    }
    // Reflection v1 and v1alpha (older grpcurl, Postman and Python's
    // grpcio-reflection ask v1alpha).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    match (reflection().build_v1(), reflection().build_v1alpha()) {
        (Ok(v1), Ok(v1alpha)) => {
            builder.add_service(v1);
            builder.add_service(v1alpha);
        }
        (Err(error), _) | (_, Err(error)) => events::reflection_unavailable(&error),
    }
    builder.routes()
}
