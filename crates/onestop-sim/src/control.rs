//! The fleet's control API: the manifest, per-instance stats and fault
//! knobs, changed at run time by tests and operators.
//!
//! | route | does |
//! |---|---|
//! | `GET /fleet` | the manifest |
//! | `GET /fleet/instances` | every instance's report |
//! | `GET /fleet/instances/{id}` | `{"id","dept","addr","faults":{..},"requests","health_checks","injected_errors","rejected_signatures"}` |
//! | `PUT /fleet/instances/{id}/faults` | apply a [`FaultPatch`] (`{"latency_ms","error_rate","refuse","down","lease"}`, all optional), answer the new report |
//! | `PUT /fleet/departments/{dept}/faults` | apply to every instance of the department |
//! | `DELETE /fleet/faults` | reset every knob of every instance |
//! | `POST /fleet/stats/reset` | zero every counter |
//! | `GET /fleet/departments/{dept}/applications` | the department's application ledger (below) |
//! | `PUT /fleet/departments/{dept}/applications` | body `{"reject":["kind",…]}`: replace the kinds the department rejects, answer the ledger |
//!
//! Bulk routes answer `{"instances":[report…]}`. Errors use the fleet's
//! JSON error shape: unknown ids → 404, a bad body → 400.
//!
//! An application ledger (HTTP departments only; others are 404
//! `UNKNOWN_DEPARTMENT`) is `{"dept","applications":[{"id","kind","citizen",
//! "status":"accepted"|"withdrawn","applied_seq","withdrawn_seq"}…],
//! "executions":{"apply","withdraw","rejected"},"replays",
//! "max_executions_per_key","keys","reject":[…]}`: applications in applied
//! order (`withdrawn_seq` null until withdrawn); `executions` counts
//! applications accepted, withdrawals done and applications rejected;
//! `replays` the requests answered with an answer stored under their
//! `Idempotency-Key`; `max_executions_per_key` the most executions under
//! one key (1 unless a key ran twice; 0 with no key yet); `keys` how many
//! keys executed. `POST /fleet/stats/reset` leaves ledgers alone: they are
//! the departments' data, not counters. See [`crate::http`] for the
//! department side.
//!
//! The counters: `requests` (everything but health checks that passed the
//! signature check), `health_checks`, `injected_errors` (answered by the
//! `error_rate` knob, within `requests`) and `rejected_signatures` (refused
//! for a missing, wrong or stale gateway signature; only when the fleet has
//! a signing key). The control API itself is not signed: it is the
//! operators' and tests', not the gateway's.
//!
//! The knobs (see [`crate::Faults`]): `latency_ms` and `error_rate` shape
//! answers to requests; `refuse` closes the listener; `down` crashes the
//! instance (and stops its registry lease renewals; back up, it registers
//! again); `lease: false` stops only the lease renewals, so that a live
//! instance's lease lapses at the gateway. A report's `faults` is
//! `{"latency_ms":0,"error_rate":0.0,"refuse":false,"down":false,"lease":true}`
//! by default.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;

use crate::{
    faults::FaultPatch,
    http::{ApiError, Ledger, LedgerReport, error},
    instance::{Instance, InstanceReport},
    manifest::FleetManifest,
};

/// Everything the fleet runs.
#[derive(Debug)]
pub(crate) struct Registry {
    pub manifest: FleetManifest,
    pub instances: Vec<Instance>,
    /// The application ledger of every HTTP department.
    pub ledgers: Vec<Arc<Ledger>>,
}

type Shared = State<Arc<Registry>>;

pub(crate) fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/fleet", get(manifest))
        .route("/fleet/instances", get(all_instances))
        .route("/fleet/instances/{id}", get(instance))
        .route("/fleet/instances/{id}/faults", put(instance_faults))
        .route("/fleet/departments/{dept}/faults", put(department_faults))
        .route("/fleet/faults", delete(reset_faults))
        .route("/fleet/stats/reset", post(reset_stats))
        .route(
            "/fleet/departments/{dept}/applications",
            get(applications).put(set_applications),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such control route") })
        .with_state(registry)
}

async fn manifest(State(registry): Shared) -> Json<FleetManifest> {
    Json(registry.manifest.clone())
}

async fn all_instances(State(registry): Shared) -> Response {
    reports(registry.instances.iter())
}

async fn instance(
    State(registry): Shared,
    Path(id): Path<String>,
) -> Result<Json<InstanceReport>, ApiError> {
    Ok(Json(find(&registry, &id)?.report()))
}

async fn instance_faults(
    State(registry): Shared,
    Path(id): Path<String>,
    body: Result<Json<FaultPatch>, JsonRejection>,
) -> Result<Json<InstanceReport>, ApiError> {
    let instance = find(&registry, &id)?;
    let patch = patch(body)?;
    instance.apply(&patch).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAULT_NOT_APPLIED",
            e.to_string(),
        )
    })?;
    Ok(Json(instance.report()))
}

async fn department_faults(
    State(registry): Shared,
    Path(dept): Path<String>,
    body: Result<Json<FaultPatch>, JsonRejection>,
) -> Response {
    let targets: Vec<&Instance> = registry
        .instances
        .iter()
        .filter(|i| i.state.dept == dept)
        .collect();
    if targets.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "UNKNOWN_DEPARTMENT",
            format!("no department {dept:?} in this fleet"),
        );
    }
    match patch(body) {
        Ok(patch) => apply_all(targets, &patch).await,
        Err(e) => e.into_response(),
    }
}

async fn reset_faults(State(registry): Shared) -> Response {
    apply_all(registry.instances.iter().collect(), &FaultPatch::reset()).await
}

async fn reset_stats(State(registry): Shared) -> Response {
    for instance in &registry.instances {
        instance.state.counters.reset();
    }
    reports(registry.instances.iter())
}

async fn applications(
    State(registry): Shared,
    Path(dept): Path<String>,
) -> Result<Json<LedgerReport>, ApiError> {
    Ok(Json(ledger(&registry, &dept)?.report()))
}

/// The body of `PUT /fleet/departments/{dept}/applications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Applications {
    reject: Vec<String>,
}

async fn set_applications(
    State(registry): Shared,
    Path(dept): Path<String>,
    body: Result<Json<Applications>, JsonRejection>,
) -> Result<Json<LedgerReport>, ApiError> {
    let ledger = ledger(&registry, &dept)?;
    let Json(Applications { reject }) = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!(
                "expected {{\"reject\":[\"kind\",…]}}: {}",
                rejection.body_text()
            ),
        )
    })?;
    ledger.set_reject(reject).map_err(|invalid| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("not application kinds (1 to 64 of [a-z0-9-]): {invalid:?}"),
        )
    })?;
    Ok(Json(ledger.report()))
}

fn ledger<'r>(registry: &'r Registry, dept: &str) -> Result<&'r Ledger, ApiError> {
    registry
        .ledgers
        .iter()
        .find(|l| l.dept() == dept)
        .map(AsRef::as_ref)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UNKNOWN_DEPARTMENT",
                format!("no HTTP department {dept:?} in this fleet"),
            )
        })
}

fn find<'r>(registry: &'r Registry, id: &str) -> Result<&'r Instance, ApiError> {
    registry
        .instances
        .iter()
        .find(|i| i.id() == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UNKNOWN_INSTANCE",
                format!("no instance {id:?} in this fleet"),
            )
        })
}

/// The patch in a request body, or the 400 answer naming what is wrong.
fn patch(body: Result<Json<FaultPatch>, JsonRejection>) -> Result<FaultPatch, ApiError> {
    let Json(patch) = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!(
                "expected {{\"latency_ms\",\"error_rate\",\"refuse\",\"down\",\"lease\"}} (all optional): {}",
                rejection.body_text()
            ),
        )
    })?;
    let problems = patch.problems();
    if problems.is_empty() {
        Ok(patch)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FAULTS",
            problems.join("; "),
        ))
    }
}

async fn apply_all(targets: Vec<&Instance>, patch: &FaultPatch) -> Response {
    let results = join_all(targets.iter().map(|i| i.apply(patch))).await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    if failures.is_empty() {
        reports(targets.into_iter())
    } else {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAULT_NOT_APPLIED",
            failures.join("; "),
        )
    }
}

fn reports<'a>(instances: impl Iterator<Item = &'a Instance>) -> Response {
    let list: Vec<InstanceReport> = instances.map(Instance::report).collect();
    Json(json!({ "instances": list })).into_response()
}
