//! The admin listener: the operators' API under `/admin/v1`, plus
//! Prometheus `/metrics`, `/healthz` (the process is up) and `/readyz`
//! (configuration applied and upstreams checked once), which need no
//! credentials.
//!
//! This crate is the HTTP edge only — operators' authentication and roles
//! ([`auth`]), JSON shapes, the OpenAPI document ([`openapi`]) and the
//! audit trail ([`audit`]). The work happens behind [`backend`]'s traits
//! (configuration versions and changes, traffic figures, the response
//! cache), the control plane's [`Registry`] and the [`Store`].
//!
//! | route | role |
//! |---|---|
//! | `GET /admin/v1/openapi.json` | none |
//! | `GET /admin/v1/whoami`, `GET /admin/v1/config`, `…/config/status`, `…/config/versions[/{v}[/diff]]`, `GET /admin/v1/registry/services[/{dept}/{service}]`, `…/registry/decisions`, `…/registry/zombies`, `GET /admin/v1/audit` | any (viewer, editor, approver) |
//! | `PUT`/`DELETE /admin/v1/config/departments/{dept}[/routes/{route}]` | editor, within the operator's departments |
//! | `POST /admin/v1/config/rollback`, `POST /admin/v1/config/reload` | editor not limited to departments |
//! | `POST /admin/v1/registry/services/{dept}/{service}/approve` and `/reject`, `POST /admin/v1/departments/{dept}/tokens`, `DELETE …/tokens/{id}` | approver, within the operator's departments |
//! | `GET /admin/v1/departments/{dept}/tokens` | approver |
//! | `GET /admin/v1/cache/stats` | any |
//! | `POST /admin/v1/cache/purge` | editor, for a department within the operator's departments (named in the body) |
//! | `GET /admin/v1/data-items`, `GET /admin/v1/agreements[/{id}]` | any |
//! | `POST /admin/v1/agreements` | editor, for a consumer department within the operator's departments (named in the body) |
//! | `POST /admin/v1/agreements/{id}/approve`, `/reject`, `/revoke` | approver: not limited to departments (as the gateway's operator), or limited to departments that include the agreement's provider (as the provider) |
//! | `GET /admin/v1/appeals[/stats\|/{id}]`, `GET /admin/v1/appeals/{id}/attachments/{hash}` | any |
//! | `GET /admin/v1/messages/outbox` | any |
//! | `POST /admin/v1/messages/outbox/{event_id}/retry` | editor not limited to departments |
//! | `GET /admin/v1/assessment`, `GET /admin/v1/traffic`, `GET /admin/v1/upstreams`, `GET /admin/v1/access-audit/verify` | any (assessment and traffic: a department-scoped operator gets their departments' rows) |
//!
//! The operators' web console (`/console/…`, module [`console`]) is
//! served beside the API on the same listener; every change it makes and
//! every figure it reads goes through these routes in-process, as the
//! signed-in operator, so the same guard, handlers and audit trail apply.
//!
//! Every route is registered in [`router`] through utoipa-axum's
//! `OpenApiRouter` with the access policy it needs, so the OpenAPI
//! document lists exactly what is served.

#![forbid(unsafe_code)]

pub mod appeals_api;
pub mod assessment_api;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod cache_api;
pub mod cases_api;
pub mod config_api;
pub mod console;
mod edge;
pub mod error;
mod events;
mod extract;
pub mod messages_api;
pub mod openapi;
pub mod registry_api;
pub mod sharing_api;
pub mod tokens_api;
pub mod zombies;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::middleware;
use onestop_config::Role;
use onestop_control::Registry;
use onestop_store::Store;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::{Guarded, Policy, Scope};
pub use crate::backend::{CacheBackend, ConfigBackend, TrafficStats};
pub use crate::error::ApiError;

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

/// Everything the admin listener serves from.
#[derive(Clone)]
pub struct AdminState {
    /// Answers `/readyz`.
    pub readiness: Readiness,
    /// The running configuration, its versions, and changes to it;
    /// operators are read from `config.current()` on every request.
    pub config: Arc<dyn ConfigBackend>,
    /// The department service registry; `None` when this gateway runs
    /// without one: the registry and credential routes then answer
    /// `503 REGISTRY_DISABLED` (after authentication), and the zombie
    /// report covers the configuration's services only.
    pub registry: Option<Arc<Registry>>,
    /// Traffic figures of the data plane (zombie report).
    pub stats: Arc<dyn TrafficStats>,
    /// The audit trail.
    pub store: Arc<dyn Store>,
    /// The response cache: purges (recorded for every gateway sharing the
    /// store) and figures.
    pub cache: Arc<dyn CacheBackend>,
    /// Composite-matter cases, ratings and follow-ups; `None` when this
    /// gateway runs none (those routes then answer 404).
    pub cases: Option<Arc<onestop_cases::Cases>>,
    /// Governed data sharing: the data catalog and agreements; `None` when
    /// this gateway runs none (those routes then answer 404, like cases).
    pub sharing: Option<Arc<onestop_sharing::Sharing>>,
    /// Department assessment over the store's roll-ups and figures;
    /// `None` when this gateway runs none (those routes then answer 404).
    pub assessment: Option<Arc<onestop_assessment::Assessor>>,
    /// Citizens' appeals (12345); `None` when this gateway runs none (those
    /// routes then answer 404).
    pub appeals: Option<Arc<onestop_appeals_desk::Desk>>,
    /// Citizens' messages: the webhook outbox; `None` when this gateway
    /// runs none (those routes then answer 404).
    pub messages: Option<Arc<dyn onestop_store::MessageStore>>,
}

impl AdminState {
    /// `404` unless `dept` is a department of the running configuration.
    pub(crate) fn require_department(&self, dept: &str) -> Result<(), ApiError> {
        let known = self
            .config
            .current()
            .config
            .departments
            .iter()
            .any(|d| d.file.department.id.get_ref() == dept);
        if known {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!(
                "department `{dept}` is not in the configuration"
            )))
        }
    }
}

/// The admin HTTP application: `/admin/v1/…`, `/metrics`, `/healthz`, `/readyz`.
pub fn router(state: AdminState) -> Router {
    router_with_clock(state, console::Clock::system())
}

/// [`router`] with the console's sessions timed by `clock` (tests move it
/// on to expire sessions).
pub fn router_with_clock(state: AdminState, clock: console::Clock) -> Router {
    let (router, api) = api(&state).split_for_parts();
    let api_router: Router = openapi::serve(router, &api)
        .fallback(|| async { ApiError::NotFound("no such admin resource".into()) })
        .layer(middleware::from_fn(edge::edge))
        .with_state(state.clone());
    if !state.config.current().config.gateway.console.enabled {
        return api_router;
    }
    // The console calls the API router in-process, as the signed-in operator.
    let console =
        console::router(state, api_router.clone(), clock).layer(middleware::from_fn(edge::edge));
    api_router.merge(console)
}

/// Every route with its policy; the OpenAPI document is collected from the
/// same calls.
fn api(state: &AdminState) -> OpenApiRouter<AdminState> {
    use crate::{
        appeals_api as appeals, assessment_api as assessment, audit, auth, cache_api as cache,
        cases_api as cases, config_api as config, messages_api as messages, registry_api as reg,
        sharing_api as sharing, tokens_api as tokens,
    };
    let read = Policy::read();
    let editor = |action| Policy::change(Role::Editor, action, Scope::Department);
    let whole = |action| Policy::change(Role::Editor, action, Scope::Whole);
    let approver = |action| Policy::change(Role::Approver, action, Scope::Department);
    // The department is named in the body: the handler checks the scope.
    let editor_any = |action| Policy::change(Role::Editor, action, Scope::None);
    // The agreement's provider decides the scope: the handler checks it.
    let approver_any = |action| Policy::change(Role::Approver, action, Scope::None);
    // Listing credentials is a read, but of credentials: approvers only.
    let approver_read = Policy::read_with(Role::Approver, Scope::None);
    let g = |policy: Policy, routes: UtoipaMethodRouter<AdminState>| {
        OpenApiRouter::new()
            .routes(routes)
            .route_layer(middleware::from_fn_with_state(
                Guarded {
                    state: state.clone(),
                    policy,
                },
                auth::guard,
            ))
    };
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::metrics))
        .routes(routes!(openapi::healthz))
        .routes(routes!(openapi::readyz))
        .merge(g(read, routes!(auth::whoami)))
        .merge(g(read, routes!(config::get_config)))
        .merge(g(read, routes!(config::get_status)))
        .merge(g(read, routes!(config::list_versions)))
        .merge(g(read, routes!(config::get_version)))
        .merge(g(read, routes!(config::diff_version)))
        .merge(g(
            editor("config.department.put"),
            routes!(config::put_department),
        ))
        .merge(g(
            editor("config.department.delete"),
            routes!(config::delete_department),
        ))
        .merge(g(editor("config.route.put"), routes!(config::put_route)))
        .merge(g(
            editor("config.route.delete"),
            routes!(config::delete_route),
        ))
        .merge(g(whole("config.rollback"), routes!(config::rollback)))
        .merge(g(whole("config.reload"), routes!(config::reload)))
        .merge(g(read, routes!(reg::list_services)))
        .merge(g(read, routes!(reg::get_service)))
        .merge(g(approver("registry.approve"), routes!(reg::approve)))
        .merge(g(approver("registry.reject"), routes!(reg::reject)))
        .merge(g(read, routes!(reg::list_decisions)))
        .merge(g(read, routes!(zombies::zombies)))
        .merge(g(approver_read, routes!(tokens::list_tokens)))
        .merge(g(
            approver("dept_token.issue"),
            routes!(tokens::issue_token),
        ))
        .merge(g(
            approver("dept_token.revoke"),
            routes!(tokens::revoke_token),
        ))
        .merge(g(read, routes!(audit::list_audit)))
        .merge(g(read, routes!(cache::stats)))
        .merge(g(editor_any("cache.purge"), routes!(cache::purge)))
        .merge(g(read, routes!(cases::overdue)))
        .merge(g(read, routes!(cases::get_case)))
        .merge(g(read, routes!(cases::list_followups)))
        .merge(g(
            editor_any("followup.close"),
            routes!(cases::close_followup),
        ))
        .merge(g(read, routes!(cases::rating_stats)))
        .merge(g(read, routes!(sharing::list_items)))
        .merge(g(read, routes!(sharing::list_agreements)))
        .merge(g(read, routes!(sharing::get_agreement)))
        .merge(g(editor_any("agreement.apply"), routes!(sharing::apply)))
        .merge(g(
            approver_any("agreement.approve"),
            routes!(sharing::approve),
        ))
        .merge(g(
            approver_any("agreement.reject"),
            routes!(sharing::reject),
        ))
        .merge(g(
            approver_any("agreement.revoke"),
            routes!(sharing::revoke),
        ))
        .merge(g(read, routes!(assessment::assessment)))
        .merge(g(read, routes!(assessment::traffic)))
        .merge(g(read, routes!(assessment::upstreams)))
        .merge(g(read, routes!(assessment::verify_chain)))
        .merge(g(read, routes!(appeals::stats)))
        .merge(g(read, routes!(appeals::list)))
        .merge(g(read, routes!(appeals::get_appeal)))
        .merge(g(read, routes!(appeals::get_attachment)))
        .merge(g(editor_any("appeal.dispatch"), routes!(appeals::dispatch)))
        .merge(g(editor_any("appeal.escalate"), routes!(appeals::escalate)))
        .merge(g(whole("appeal.close"), routes!(appeals::close)))
        .merge(g(read, routes!(messages::outbox)))
        .merge(g(whole("message.retry"), routes!(messages::retry)))
}

/// The admin listener as a pingora background service.
pub struct AdminService {
    pub addr: SocketAddr,
    pub state: AdminState,
}

#[async_trait]
impl BackgroundService for AdminService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let listener = match tokio::net::TcpListener::bind(self.addr).await {
            Ok(l) => l,
            Err(error) => {
                crate::events::listener_bind_failed(self.addr, &error);
                return;
            }
        };
        crate::events::listener_up(self.addr);
        let app = router(self.state.clone());
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            crate::events::listener_failed(&error);
        }
    }
}

#[cfg(test)]
mod tests;
