//! The delivery worker: every `interval`, the gateway holding the store
//! lease `messages-outbox` POSTs the outbox's due events to their
//! channels' `notify_url`s, signed, and records each attempt.
//!
//! At least once: an event leaves `pending` only when a receiver answered
//! 2xx (or it grew older than `max_age`), so a crash between the POST and
//! the record sends it again — with the same `event_id` and body, which
//! receivers use to drop duplicates. The lease keeps several gateways from
//! working the outbox at the same time (a round stops taking new events
//! once half the lease has passed), and a restarted gateway finds what is
//! due in the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use onestop_store::{DeliveryOutcome, MessageStore, Millis, OutboxRecord, now_ms};

use crate::{Backoff, MessagesError, events, signature, text};

/// The lease's name in the store.
pub const LEASE: &str = "messages-outbox";

/// Where a channel's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub url: String,
    /// The HMAC key of `x-onestop-signature`.
    pub secret: Vec<u8>,
}

/// How the worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub backoff: Backoff,
    /// Events per round at most.
    pub batch: u32,
    /// How often it looks.
    pub interval: Duration,
    /// How long one gateway holds the lease.
    pub lease: Duration,
    /// One POST's timeout.
    pub timeout: Duration,
}

/// The delivery worker (shared; [`Worker::update`] on reload).
pub struct Worker {
    store: Arc<dyn MessageStore>,
    client: reqwest::Client,
    hooks: ArcSwap<HashMap<String, Hook>>,
    settings: ArcSwap<Settings>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn MessageStore>,
        hooks: HashMap<String, Hook>,
        settings: Settings,
    ) -> Worker {
        store.set_notify_channels(hooks.keys().cloned().collect());
        Worker {
            store,
            client: reqwest::Client::new(),
            hooks: ArcSwap::from_pointee(hooks),
            settings: ArcSwap::from_pointee(settings),
        }
    }

    /// New hooks and settings (a reload); channels without a hook stop
    /// entering the outbox.
    pub fn update(&self, hooks: HashMap<String, Hook>, settings: Settings) {
        self.store
            .set_notify_channels(hooks.keys().cloned().collect());
        self.hooks.store(Arc::new(hooks));
        self.settings.store(Arc::new(settings));
    }

    pub fn store(&self) -> &Arc<dyn MessageStore> {
        &self.store
    }

    /// One round at `now`: claim or renew the lease, then attempt what is
    /// due. `Ok(None)`: another gateway holds the lease.
    pub async fn deliver_once(
        &self,
        owner: &str,
        now: Millis,
    ) -> Result<Option<usize>, MessagesError> {
        let settings = **self.settings.load();
        let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX / 2);
        if !self
            .store
            .claim_message_lease(LEASE, owner, now, now.saturating_add(lease_ms))
            .await?
        {
            return Ok(None);
        }
        let started = Instant::now();
        let due = self.store.due_deliveries(now, settings.batch).await?;
        let mut attempted = 0;
        for event in &due {
            if started.elapsed() > settings.lease / 2 {
                break;
            }
            self.attempt(event, &settings).await?;
            attempted += 1;
        }
        Ok(Some(attempted))
    }

    async fn attempt(&self, o: &OutboxRecord, settings: &Settings) -> Result<(), MessagesError> {
        let hook = self.hooks.load().get(&o.channel).cloned();
        let result = match hook {
            None => Err(format!("channel {} has no notify_url", o.channel)),
            Some(hook) => self.post(&hook, o, settings.timeout).await,
        };
        let now = now_ms();
        let attempts = o.attempts + 1;
        let outcome = match result {
            Ok(()) => {
                events::delivered(&o.channel, &o.event_id, attempts);
                DeliveryOutcome::Delivered
            }
            Err(error) => {
                let n = u32::try_from(attempts).unwrap_or(u32::MAX);
                match settings.backoff.next(o.created_at, now, n) {
                    Some(next_at) => {
                        events::retrying(&o.channel, &o.event_id, attempts, &error);
                        DeliveryOutcome::Retry { next_at, error }
                    }
                    None => {
                        events::failed(&o.channel, &o.event_id, attempts, &error);
                        DeliveryOutcome::Failed { error }
                    }
                }
            }
        };
        self.store
            .record_delivery(&o.event_id, now, &outcome)
            .await?;
        Ok(())
    }

    async fn post(&self, hook: &Hook, o: &OutboxRecord, timeout: Duration) -> Result<(), String> {
        let body = text::webhook_body(&o.message);
        let answer = self
            .client
            .post(&hook.url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header(signature::HEADER, signature::sign(&hook.secret, &body))
            .header(signature::EVENT_ID_HEADER, &o.event_id)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST failed: {e}"))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }
}

/// Delivers every `interval` until the task is dropped.
pub async fn run(worker: Arc<Worker>, owner: String) {
    loop {
        let interval = worker.settings.load().interval;
        tokio::time::sleep(interval).await;
        if let Err(e) = worker.deliver_once(&owner, now_ms()).await {
            events::round_failed(&e);
        }
    }
}
