//! `[messages]`: citizens' messages — how the webhook outbox is delivered
//! (the retry schedule, how long an event is tried, the batch and the
//! worker's lease). Which channels get webhooks is set per channel
//! (`notify_url`, `notify_secret_file` in `[[channels]]`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[messages]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MessageSettings {
    /// The wait after the first failed delivery (1s-1h); each further
    /// failure doubles it, up to `max_retry_interval`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub first_retry: Duration,
    /// The longest wait between attempts (1s-24h, at least `first_retry`).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_retry_interval: Duration,
    /// How long an event is tried before it is marked `failed` (1m-30d;
    /// default 48h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_age: Duration,
    /// Events attempted per round at most (1-500).
    pub batch: u32,
    /// How often the delivery worker looks (100ms-1h).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub interval: Duration,
    /// How long one gateway holds the worker's lease in the store (1s-1h;
    /// at least twice `interval` and four times `timeout`).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub lease: Duration,
    /// One POST's timeout (100ms-1m).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

impl Default for MessageSettings {
    fn default() -> Self {
        MessageSettings {
            first_retry: Duration::from_secs(10),
            max_retry_interval: Duration::from_secs(3600),
            max_age: Duration::from_secs(48 * 3600),
            batch: 100,
            interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}
