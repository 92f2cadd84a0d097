//! Fetches the JWKS of issuers configured with `jwks_url`: at start, every
//! `jwks_refresh`, and soon after a token names a key nobody knows (at most
//! every 10 s, so unknown `kid`s cannot make the gateway hammer the
//! identity provider). A failed fetch keeps the keys it had.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use onestop_policy::jwt::KeySet;
use onestop_proxy::DataPlane;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

/// Fetches at most this often per issuer when a token names an unknown key.
const MIN_REFETCH: Duration = Duration::from_secs(10);

pub struct JwksRefresher {
    dataplane: DataPlane,
    http: reqwest::Client,
}

impl JwksRefresher {
    pub fn new(dataplane: DataPlane) -> JwksRefresher {
        JwksRefresher {
            dataplane,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn fetch(&self, url: &str) -> Result<KeySet, String> {
        let resp = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        KeySet::from_jwks(&bytes).map_err(|e| e.to_string())
    }

    /// Fetches every URL issuer whose refresh is due (all of them when
    /// `urgent`, subject to [`MIN_REFETCH`]).
    async fn refresh(&self, last: &mut HashMap<String, Instant>, urgent: bool) {
        let Some(identity) = self.dataplane.identity() else {
            return;
        };
        for (issuer, url, every) in identity.url_sources() {
            let due = last.get(&issuer).is_none_or(|t| {
                let since = t.elapsed();
                since >= every || (urgent && since >= MIN_REFETCH)
            });
            if !due {
                continue;
            }
            last.insert(issuer.clone(), Instant::now());
            match self.fetch(&url).await {
                Ok(keys) => {
                    let count = keys.len();
                    match identity.set_keys(&issuer, keys) {
                        Ok(()) => tracing::info!(issuer, keys = count, "JWKS refreshed"),
                        Err(error) => tracing::warn!(issuer, %error, "JWKS not applied"),
                    }
                }
                Err(error) => {
                    tracing::warn!(issuer, url, %error, "JWKS fetch failed; keeping the keys in use");
                }
            }
        }
    }
}

#[async_trait]
impl BackgroundService for JwksRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let identity = self.dataplane.identity();
            let unknown_key = async {
                match &identity {
                    Some(i) => i.unknown_key_seen().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                () = unknown_key => self.refresh(&mut last, true).await,
                _ = tick.tick() => self.refresh(&mut last, false).await,
            }
        }
    }
}
