//! Checks of `[assessment]` and `[console]`.

use std::time::Duration;

use super::{GatewayDoc, Validator};
use crate::Config;

impl Validator {
    pub(super) fn console_settings(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let a = &config.gateway.assessment;
        let bounded = |d: Duration, min: u64, max: u64| {
            d >= Duration::from_secs(min) && d <= Duration::from_secs(max)
        };
        if !bounded(a.rollup_interval, 1, 300) {
            self.gw(
                doc,
                &["assessment.rollup_interval"],
                "assessment.rollup_interval must be between 1s and 5m".into(),
            );
        }
        if !bounded(a.gauge_interval, 1, 3600) {
            self.gw(
                doc,
                &["assessment.gauge_interval"],
                "assessment.gauge_interval must be between 1s and 1h".into(),
            );
        }
        if let Some(name) = &a.gateway
            && (name.is_empty()
                || name.chars().count() > 64
                || name.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            self.gw(
                doc,
                &["assessment.gateway"],
                "assessment.gateway must be 1-64 characters without spaces or control characters"
                    .into(),
            );
        }
        if !(-12..=14).contains(&a.utc_offset_hours) {
            self.gw(
                doc,
                &["assessment.utc_offset_hours"],
                "assessment.utc_offset_hours must be between -12 and 14".into(),
            );
        }
        let c = &config.gateway.console;
        for (key, value) in [
            ("session_ttl", c.session_ttl),
            ("idle_timeout", c.idle_timeout),
        ] {
            if !bounded(value, 60, 24 * 3600) {
                self.gw(
                    doc,
                    &[&format!("console.{key}")],
                    format!("console.{key} must be between 1m and 24h"),
                );
            }
        }
    }
}
