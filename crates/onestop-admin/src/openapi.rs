//! The OpenAPI 3.1 document of the admin listener, generated with utoipa:
//! each handler carries its `#[utoipa::path]` and is registered through
//! utoipa-axum's `OpenApiRouter` (see `router()`), so a route cannot be
//! served without being documented. Served at `GET /admin/v1/openapi.json`
//! (no credentials).
//!
//! Also the unauthenticated operations endpoints: `/metrics`, `/healthz`,
//! `/readyz`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use prometheus::{Encoder, TextEncoder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AdminState;
use crate::error::{ApiError, ErrorBody, ErrorDetail, ErrorInner};

/// The document's fixed parts; paths are added route by route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "onestop admin API",
        description = "Operators' API of the onestop gateway: configuration and its versions, \
service registrations awaiting approval, department credentials, zombie services, data-sharing agreements and the audit trail. \
Authenticate with `Authorization: Bearer <operator token>`. Roles: `viewer` reads; `editor` changes \
configuration, purges the response cache and files data-sharing applications for consumer departments (within the operator's `departments`, when set); `approver` \
decides registrations and manages department credentials (within the operator's `departments`, when set) and decides \
data-sharing agreements (as the gateway's operator, or, when limited to `departments`, as the agreement's provider). Every response carries \
`x-request-id`; errors are `{\"error\":{\"code\",\"message\",\"request_id\",\"details\"?}}`."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorInner, ErrorDetail)),
    tags(
        (name = "meta", description = "This document"),
        (name = "ops", description = "Metrics and health (no credentials)"),
        (name = "operators", description = "Who is calling"),
        (name = "config", description = "The configuration, its versions and changes"),
        (name = "registry", description = "Registered department services and their approvals"),
        (name = "credentials", description = "Department credentials for the control plane"),
        (name = "audit", description = "Who did what through this API"),
        (name = "cache", description = "The response cache: purges and figures"),
        (name = "sharing", description = "Governed data sharing: the data catalog and agreements between departments"),
        (name = "messages", description = "Citizens' messages: the webhook outbox and its deliveries"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme the operations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator token; the gateway file lists its SHA-256 under [[operators]].",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rendered document, shared with its handler.
#[derive(Clone)]
pub(crate) struct Document(Arc<Result<String, String>>);

/// Makes the finished document available to [`openapi_json`].
pub(crate) fn serve(
    router: Router<AdminState>,
    api: &utoipa::openapi::OpenApi,
) -> Router<AdminState> {
    let rendered = api.to_pretty_json().map_err(|e| e.to_string());
    router.layer(Extension(Document(Arc::new(rendered))))
}

/// This document.
#[utoipa::path(
    get,
    path = "/admin/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    match doc.0.as_ref() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => ApiError::Internal(format!("OpenAPI document: {e}")).into_response(),
    }
}

/// Prometheus metrics of the whole process (text format 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"))
)]
pub(crate) async fn metrics() -> Response {
    let mut buf = Vec::new();
    let families = prometheus::gather();
    match TextEncoder::new().encode(&families, &mut buf) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            buf,
        )
            .into_response(),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "`ok`", content_type = "text/plain"))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The gateway is ready for traffic.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`ready`", content_type = "text/plain"),
        (status = 503, description = "`not ready`", content_type = "text/plain"),
    )
)]
pub(crate) async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
