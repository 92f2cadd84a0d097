//! `GET /admin/v1/registry/zombies`: services that are declared or approved
//! but do nothing useful — **no healthy instance**, or **no traffic** within
//! a window — per department, so operators can chase them up or retire them.
//!
//! Candidates are the services of the configuration files
//! (`"source": "config"`) and the approved registered services
//! (`"source": "registry"`). Figures come from the data plane
//! ([`TrafficStats`]); a service the data plane does not know has no healthy
//! instance and no traffic. "No traffic" means the last request is older
//! than `now − window`, or there was none and the process started before
//! `now − window` (a gateway that just started does not call everything a
//! zombie).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use onestop_store::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Ctx;
use crate::backend::UpstreamStats;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;

/// Why a service is listed.
pub const NO_HEALTHY_INSTANCE: &str = "no_healthy_instance";
/// Why a service is listed.
pub const NO_TRAFFIC: &str = "no_traffic";

/// Where a candidate service is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Config,
    Registry,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Registry => "registry",
        }
    }
}

/// A service that could be a zombie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub dept: String,
    pub service: String,
    pub source: Source,
    /// Instances as declared (configured, or with a live lease).
    pub declared_instances: usize,
}

/// One zombie service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ZombieEntry {
    pub service: String,
    /// `config` or `registry`.
    pub source: String,
    /// `no_healthy_instance` and/or `no_traffic`.
    pub reasons: Vec<String>,
    pub instances: usize,
    pub healthy: usize,
    /// Epoch ms of the last request routed to it (`null`: none since start).
    pub last_request_ms: Option<i64>,
    /// Requests since the gateway started.
    pub requests: u64,
}

/// The zombies of one department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeptZombies {
    pub dept: String,
    pub services: Vec<ZombieEntry>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ZombieReport {
    /// The window, e.g. `10m`.
    pub window: String,
    pub window_ms: u64,
    /// When the report was made (epoch ms).
    pub now_ms: i64,
    /// Departments with at least one zombie, by id.
    pub departments: Vec<DeptZombies>,
}

/// `?window=10m`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ZombiesQuery {
    /// A duration like `10m` or `1h 30m` (default: `registry.zombie_window`).
    window: Option<String>,
}

/// Which candidates are zombies, and why. Pure.
pub(crate) fn report(
    candidates: &[Candidate],
    stats: &[UpstreamStats],
    started_ms: i64,
    now: i64,
    window: Duration,
) -> Vec<DeptZombies> {
    let by_key: HashMap<(&str, &str), &UpstreamStats> = stats
        .iter()
        .map(|s| ((s.dept.as_str(), s.service.as_str()), s))
        .collect();
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let since = now.saturating_sub(window_ms);
    let mut out: BTreeMap<String, Vec<ZombieEntry>> = BTreeMap::new();
    for c in candidates {
        let s = by_key.get(&(c.dept.as_str(), c.service.as_str()));
        let instances = s.map_or(c.declared_instances, |s| s.instances);
        let healthy = s.map_or(0, |s| s.healthy);
        let last = s.and_then(|s| s.last_request_ms);
        let mut reasons = Vec::new();
        if healthy == 0 {
            reasons.push(NO_HEALTHY_INSTANCE.to_string());
        }
        let idle = match last {
            Some(t) => t < since,
            None => started_ms < since,
        };
        if idle {
            reasons.push(NO_TRAFFIC.to_string());
        }
        if reasons.is_empty() {
            continue;
        }
        out.entry(c.dept.clone()).or_default().push(ZombieEntry {
            service: c.service.clone(),
            source: c.source.as_str().to_string(),
            reasons,
            instances,
            healthy,
            last_request_ms: last,
            requests: s.map_or(0, |s| s.requests),
        });
    }
    out.into_iter()
        .map(|(dept, mut services)| {
            services.sort_by(|a, b| a.service.cmp(&b.service));
            DeptZombies { dept, services }
        })
        .collect()
}

/// Declared or approved services without a healthy instance or without traffic.
#[utoipa::path(
    get,
    path = "/admin/v1/registry/zombies",
    tag = "registry",
    params(ZombiesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ZombieReport),
        (status = 400, description = "The window is not a duration", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn zombies(
    State(state): State<AdminState>,
    _ctx: Ctx,
    Query(q): Query<ZombiesQuery>,
) -> Result<Json<ZombieReport>, ApiError> {
    let snap = state.config.current();
    let window = match q.window.as_deref() {
        None | Some("") => snap.config.gateway.registry.zombie_window,
        Some(w) => humantime::parse_duration(w)
            .map_err(|e| ApiError::bad_request(format!("window `{w}` is not a duration: {e}")))?,
    };
    if window.is_zero() {
        return Err(ApiError::bad_request("the window must be longer than 0s"));
    }
    let now = now_ms();
    let departments = current(&state, window, now);
    Ok(Json(ZombieReport {
        window: humantime::format_duration(window).to_string(),
        window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        now_ms: now,
        departments,
    }))
}

/// The zombie report of this gateway now, over `window`.
pub(crate) fn current(state: &AdminState, window: Duration, now: i64) -> Vec<DeptZombies> {
    let snap = state.config.current();
    let mut candidates: Vec<Candidate> = snap
        .config
        .departments
        .iter()
        .flat_map(|d| {
            d.file.services.iter().map(|s| Candidate {
                dept: d.file.department.id.get_ref().clone(),
                service: s.id.get_ref().clone(),
                source: Source::Config,
                declared_instances: s.instances.len(),
            })
        })
        .collect();
    // Without a registry the report covers the configuration's services.
    if let Some(registry) = &state.registry {
        candidates.extend(
            registry
                .services(None)
                .iter()
                .filter(|s| s.record.approved_revision.is_some())
                .map(|s| Candidate {
                    dept: s.record.dept.clone(),
                    service: s.record.service.clone(),
                    source: Source::Registry,
                    declared_instances: s.instances.len(),
                }),
        );
    }
    report(
        &candidates,
        &state.stats.upstreams(),
        state.stats.started_ms(),
        now,
        window,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(dept: &str, service: &str, source: Source) -> Candidate {
        Candidate {
            dept: dept.into(),
            service: service.into(),
            source,
            declared_instances: 2,
        }
    }

    fn stats(dept: &str, service: &str, healthy: usize, last: Option<i64>) -> UpstreamStats {
        UpstreamStats {
            dept: dept.into(),
            service: service.into(),
            instances: 2,
            healthy,
            last_request_ms: last,
            requests: 5,
        }
    }

    #[test]
    fn lists_unhealthy_and_idle_services_with_reasons() {
        let now = 1_000_000_000;
        let window = Duration::from_secs(600);
        let candidates = [
            candidate("hpf", "accounts", Source::Config),
            candidate("hpf", "forms", Source::Registry),
            candidate("tax", "filing", Source::Config),
            candidate("tax", "ghost", Source::Registry),
            candidate("water", "busy", Source::Config),
        ];
        let stats = [
            stats("hpf", "accounts", 0, Some(now - 1_000)),
            stats("hpf", "forms", 1, None),
            stats("tax", "filing", 2, Some(now - 601_000)),
            stats("water", "busy", 2, Some(now - 1_000)),
        ];
        // Started long ago: `forms` with no request at all is idle.
        let got = report(&candidates, &stats, now - 3_600_000, now, window);
        let entry =
            |service: &str, source: &str, reasons: &[&str], instances, healthy, last, requests| {
                ZombieEntry {
                    service: service.into(),
                    source: source.into(),
                    reasons: reasons.iter().map(ToString::to_string).collect(),
                    instances,
                    healthy,
                    last_request_ms: last,
                    requests,
                }
            };
        assert_eq!(
            got,
            vec![
                DeptZombies {
                    dept: "hpf".into(),
                    services: vec![
                        entry(
                            "accounts",
                            "config",
                            &[NO_HEALTHY_INSTANCE],
                            2,
                            0,
                            Some(now - 1_000),
                            5
                        ),
                        entry("forms", "registry", &[NO_TRAFFIC], 2, 1, None, 5),
                    ],
                },
                DeptZombies {
                    dept: "tax".into(),
                    services: vec![
                        entry(
                            "filing",
                            "config",
                            &[NO_TRAFFIC],
                            2,
                            2,
                            Some(now - 601_000),
                            5
                        ),
                        entry(
                            "ghost",
                            "registry",
                            &[NO_HEALTHY_INSTANCE, NO_TRAFFIC],
                            2,
                            0,
                            None,
                            0
                        ),
                    ],
                },
            ]
        );
        // Just started: no request yet is not "no traffic".
        let fresh = report(&candidates[1..2], &stats, now - 1_000, now, window);
        assert_eq!(fresh, vec![]);
    }
}
