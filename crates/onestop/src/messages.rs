//! Citizens' messages in the gateway: the webhook delivery worker over the
//! store's outbox (hooks and settings from the files, followed on reload)
//! and the citizens' inbox API served by the proxy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use onestop_config::Config;
use onestop_messages::worker::{self, Settings};
use onestop_messages::{Backoff, Hook, Worker, api};
use onestop_proxy::builtin::{ApiReply, ApiRequest, CitizenApi};
use onestop_store::{MessageStore, now_ms};

/// The shortest webhook secret accepted, in bytes.
const MIN_SECRET: usize = 16;

/// The worker's settings from `[messages]`.
pub fn settings(config: &Config) -> Settings {
    let m = &config.gateway.messages;
    Settings {
        backoff: Backoff {
            first: m.first_retry,
            max_interval: m.max_retry_interval,
            max_age: m.max_age,
        },
        batch: m.batch,
        interval: m.interval,
        lease: m.lease,
        timeout: m.timeout,
    }
}

/// The channels' webhooks: `notify_url` and the secret read from
/// `notify_secret_file` (relative to the configuration directory, trailing
/// whitespace trimmed, at least 16 bytes).
pub fn hooks(config: &Config) -> anyhow::Result<HashMap<String, Hook>> {
    let dir = onestop_proxy::access::config_dir(config);
    let mut hooks = HashMap::new();
    for c in &config.gateway.channels {
        let (Some(url), Some(file)) = (&c.notify_url, &c.notify_secret_file) else {
            continue;
        };
        let id = c.id.get_ref();
        let secret = read_secret(&dir, file.get_ref())
            .with_context(|| format!("channel `{id}`: notify_secret_file"))?;
        hooks.insert(
            id.clone(),
            Hook {
                url: url.get_ref().clone(),
                secret,
            },
        );
    }
    Ok(hooks)
}

fn read_secret(dir: &Path, file: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(file);
    let mut bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.len() < MIN_SECRET {
        anyhow::bail!(
            "{} holds {} bytes; a webhook secret needs at least {MIN_SECRET}",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes)
}

/// The delivery worker, following the files, running under the store
/// lease `messages-outbox` as `owner` (call on the runtime it should run
/// on). Fails when a channel's secret cannot be read.
pub fn start(
    config: &Config,
    store: Arc<dyn MessageStore>,
    mut files: tokio::sync::watch::Receiver<Arc<Config>>,
    owner: String,
) -> anyhow::Result<Arc<Worker>> {
    let worker = Arc::new(Worker::new(store, hooks(config)?, settings(config)));
    tokio::spawn({
        let worker = worker.clone();
        async move {
            while files.changed().await.is_ok() {
                let config = files.borrow_and_update().clone();
                match hooks(&config) {
                    Ok(hooks) => worker.update(hooks, settings(&config)),
                    Err(error) => tracing::error!(
                        error = %format!("{error:#}"),
                        "webhooks not reloaded; the previous channels' webhooks stay in force"
                    ),
                }
            }
        }
    });
    tokio::spawn(worker::run(worker.clone(), owner));
    Ok(worker)
}

/// The citizens' inbox on the public listener.
pub struct MessagesApi {
    store: Arc<dyn MessageStore>,
}

impl MessagesApi {
    pub fn new(store: Arc<dyn MessageStore>) -> MessagesApi {
        MessagesApi { store }
    }
}

#[async_trait]
impl CitizenApi for MessagesApi {
    fn handles(&self, path: &str) -> bool {
        api::handles(path)
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply {
        match api::handle(
            self.store.as_ref(),
            req.method,
            req.path,
            req.query,
            req.citizen,
            now_ms(),
        )
        .await
        {
            Ok(answer) => crate::sharing::reply(answer),
            Err(e) => ApiReply {
                status: e.status,
                body: onestop_core::error::json_body_with(
                    e.code,
                    &e.message,
                    req.request_id,
                    e.field,
                    None,
                ),
                download: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_trimmed_and_must_be_long_enough() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("ok"), "0123456789abcdef\n").expect("write");
        std::fs::write(dir.path().join("short"), "0123456789\n\n").expect("write");
        assert_eq!(
            read_secret(dir.path(), "ok").expect("read"),
            b"0123456789abcdef"
        );
        let e = read_secret(dir.path(), "short").expect_err("short");
        assert!(e.to_string().contains("at least 16"), "{e}");
        assert!(read_secret(dir.path(), "missing").is_err());
    }
}
