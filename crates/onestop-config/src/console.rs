//! `[assessment]` (department assessment: traffic roll-ups and the
//! assessment month) and `[console]` (the operators' web console on the
//! admin listener).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[assessment]`: how every gateway rolls its traffic up into the store
/// and which time zone assessment months follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AssessmentSettings {
    /// How often this gateway adds its request counters and latency
    /// buckets to the store's hourly and per-minute roll-ups (1s-5m).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub rollup_interval: Duration,
    /// How often the `onestop_assessment_*` gauges (the current month so
    /// far) are recomputed (1s-1h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub gauge_interval: Duration,
    /// This gateway's name in the roll-ups (1-64 printable characters).
    /// Default: the host name and the admin listener's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Hours east of UTC of the zone assessment months follow (-12 to
    /// 14; default 8, China Standard Time).
    pub utc_offset_hours: i32,
}

impl Default for AssessmentSettings {
    fn default() -> Self {
        AssessmentSettings {
            rollup_interval: Duration::from_secs(10),
            gauge_interval: Duration::from_secs(60),
            gateway: None,
            utc_offset_hours: 8,
        }
    }
}

/// `[console]`: the web console at `/console/` on the admin listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Serve the console (the `/admin/v1` API is served either way).
    pub enabled: bool,
    /// A session ends this long after sign-in, whatever happens (1m-24h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub session_ttl: Duration,
    /// A session ends after this long without a request (1m-24h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub idle_timeout: Duration,
    /// Mark the session cookie `Secure` (set it when operators reach the
    /// admin listener through TLS; browsers then never send it over plain
    /// HTTP).
    pub secure_cookie: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            session_ttl: Duration::from_secs(8 * 3600),
            idle_timeout: Duration::from_secs(30 * 60),
            secure_cookie: false,
        }
    }
}
