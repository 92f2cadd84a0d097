//! Department assessment's background work in the gateway: every
//! `[assessment].rollup_interval` the request counters and latency
//! histograms the data plane keeps (its Prometheus metrics
//! `onestop_requests_total` and `onestop_request_duration_seconds`, by
//! department) are sampled, and their deltas since the last sample are
//! added to this gateway's hourly and per-minute rows in the store
//! (`onestop_assessment::rollup`); every `gauge_interval` the current
//! month's assessment is recomputed into the `onestop_assessment_*`
//! gauges. Instance health for the console comes from the same registry
//! (`onestop_upstream_instance_up`).
//!
//! Reading the metrics the data plane already keeps, instead of counting
//! again on the request path, leaves the request path as it is: the
//! sample costs one gather of the registry per interval, off it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use onestop_admin::backend::InstanceHealth;
use onestop_admin::{AdminState, ConfigBackend};
use onestop_assessment::rollup::{KEEP_MINUTES_MS, Roller, Totals};
use onestop_store::{AssessmentStore, MINUTE_MS, now_ms};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::manage::ConfigManager;

/// How often minute rows older than they are kept are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Per department, the data plane's cumulative request figures now.
pub fn sample(registry: &prometheus::Registry) -> BTreeMap<String, Totals> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for family in registry.gather() {
        match family.name() {
            "onestop_requests_total" => {
                for m in family.get_metric() {
                    let mut dept = None;
                    let mut status = 0_u16;
                    for l in m.get_label() {
                        match l.name() {
                            "dept" => dept = Some(l.value().to_string()),
                            "status" => status = l.value().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    if let Some(dept) = dept {
                        let n = m.get_counter().value();
                        out.entry(dept).or_default().add_status(status, n as u64);
                    }
                }
            }
            "onestop_request_duration_seconds" => {
                for m in family.get_metric() {
                    let dept = m
                        .get_label()
                        .iter()
                        .find(|l| l.name() == "dept")
                        .map(|l| l.value().to_string());
                    if let Some(dept) = dept {
                        let h = m.get_histogram();
                        let buckets: Vec<(f64, u64)> = h
                            .bucket
                            .iter()
                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                            .collect();
                        out.entry(dept)
                            .or_default()
                            .add_histogram(&buckets, h.sample_count());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Every instance the data plane routes to and whether it is up.
pub fn instances(registry: &prometheus::Registry) -> Vec<InstanceHealth> {
    let mut out = Vec::new();
    for family in registry.gather() {
        if family.name() != "onestop_upstream_instance_up" {
            continue;
        }
        for m in family.get_metric() {
            let label = |name: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map_or_else(String::new, |l| l.value().to_string())
            };
            out.push(InstanceHealth {
                dept: label("dept"),
                service: label("service"),
                addr: label("instance"),
                up: m.get_gauge().value() >= 1.0,
            });
        }
    }
    out
}

/// This gateway's name in the roll-ups: `[assessment].gateway`, else the
/// host name and the admin listener's address.
pub fn gateway_name(config: &onestop_config::Config) -> String {
    if let Some(name) = &config.gateway.assessment.gateway {
        return name.clone();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{}", config.gateway.listeners.admin)
}

/// The roll-up writer and the gauge publisher.
pub struct AssessmentLoop {
    pub store: Arc<dyn AssessmentStore>,
    pub manager: Arc<ConfigManager>,
    pub admin: AdminState,
    pub gateway: String,
}

impl AssessmentLoop {
    async fn flush(&self, roller: &mut Roller) {
        let deltas = roller.tick(
            sample(prometheus::default_registry()),
            now_ms(),
            &self.gateway,
        );
        if deltas.is_empty() {
            return;
        }
        match self.store.add_traffic(&deltas).await {
            Ok(()) => {
                roller.stored();
                onestop_assessment::rollup_written(deltas.len());
            }
            Err(e) => onestop_assessment::rollup_failed(deltas.len(), &e.to_string()),
        }
    }
}

#[async_trait]
impl BackgroundService for AssessmentLoop {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut roller = Roller::new();
        let settings = || self.manager.current().config.gateway.assessment.clone();
        let mut next_gauges = tokio::time::Instant::now();
        let mut next_prune = tokio::time::Instant::now();
        loop {
            let s = settings();
            tokio::select! {
                _ = shutdown.changed() => {
                    // What was counted since the last tick is not lost on a
                    // graceful stop.
                    self.flush(&mut roller).await;
                    return;
                }
                () = tokio::time::sleep(s.rollup_interval) => {}
            }
            self.flush(&mut roller).await;
            let now = tokio::time::Instant::now();
            if now >= next_gauges {
                next_gauges = now + s.gauge_interval;
                let _ = onestop_admin::assessment_api::publish_gauges(&self.admin).await;
            }
            if now >= next_prune {
                next_prune = now + PRUNE_EVERY;
                let before = now_ms() - KEEP_MINUTES_MS;
                if let Err(error) = self.store.prune_traffic(MINUTE_MS, before).await {
                    tracing::debug!(%error, "minute roll-ups not pruned this time");
                }
            }
        }
    }
}
