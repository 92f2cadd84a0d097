//! Appeals in the gateway: the desk over the store, kept in step with the
//! files, its overdue scanner, and the citizens' appeals API served by the
//! proxy.

use std::sync::Arc;

use async_trait::async_trait;
use onestop_appeals_desk::{Desk, api, scanner};
use onestop_config::Config;
use onestop_proxy::builtin::{ApiReply, ApiRequest, CitizenApi};
use onestop_store::{AppealStore, now_ms};

/// The desk's settings from a configuration.
pub fn settings(config: &Config) -> onestop_appeals::Settings {
    let depts = config
        .departments
        .iter()
        .map(|d| d.file.department.id.get_ref().clone());
    config
        .gateway
        .appeals
        .compile(config.gateway.assessment.utc_offset_hours, depts)
}

/// The desk, following the files, with its scanner running (call on the
/// runtime it should run on). `None` when `[appeals] enabled = false`.
pub fn start(
    config: &Config,
    store: Arc<dyn AppealStore>,
    mut files: tokio::sync::watch::Receiver<Arc<Config>>,
    owner: String,
) -> Option<Arc<Desk>> {
    let a = &config.gateway.appeals;
    if !a.enabled {
        return None;
    }
    let desk = Arc::new(Desk::new(store, settings(config)));
    tokio::spawn({
        let desk = desk.clone();
        async move {
            while files.changed().await.is_ok() {
                let config = files.borrow_and_update().clone();
                desk.update(settings(&config));
            }
        }
    });
    tokio::spawn(scanner::run(
        desk.clone(),
        owner,
        a.scan_interval,
        a.scan_lease,
    ));
    Some(desk)
}

/// Appeals' figures for assessment: from the store when the gateway takes
/// appeals, else none (the report shows "no data").
pub fn source(desk: &Option<Arc<Desk>>) -> Arc<dyn onestop_assessment::AppealSource> {
    match desk {
        Some(desk) => Arc::new(onestop_appeals_desk::StoreAppeals(desk.store().clone())),
        None => Arc::new(onestop_assessment::NoAppeals),
    }
}

/// The citizens' appeals API on the public listener, and the public feed
/// (`GET /api/v1/appeals/public`: the channel's app key, no citizen).
pub struct AppealsApi {
    desk: Arc<Desk>,
    /// The files in force (departments' display names for the feed).
    files: tokio::sync::watch::Receiver<Arc<Config>>,
}

impl AppealsApi {
    pub fn new(desk: Arc<Desk>, files: tokio::sync::watch::Receiver<Arc<Config>>) -> AppealsApi {
        AppealsApi { desk, files }
    }

    /// A department's display name from the files in force.
    fn dept_name(&self, id: &str) -> Option<String> {
        self.files
            .borrow()
            .departments
            .iter()
            .map(|d| &d.file.department)
            .find(|d| d.id.get_ref() == id)
            .map(|d| d.name.clone())
    }
}

#[async_trait]
impl CitizenApi for AppealsApi {
    fn handles(&self, path: &str) -> bool {
        api::handles(path) || path == api::FEED_PATH
    }

    fn anonymous(&self, path: &str) -> bool {
        path == api::FEED_PATH
    }

    fn max_body(&self, method: &str, path: &str) -> u64 {
        api::max_body(
            &self.desk,
            method,
            path,
            onestop_proxy::builtin::MAX_BODY as u64,
        )
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply {
        let answer = if req.path == api::FEED_PATH {
            api::feed(&self.desk, req.method, req.query, &|d| self.dept_name(d))
                .await
                .map(|(status, doc)| api::Answer::Json(status, doc))
        } else {
            api::handle(
                &self.desk,
                api::Request {
                    method: req.method,
                    path: req.path,
                    query: req.query,
                    citizen: req.citizen,
                    channel: req.channel,
                    idempotency_key: req.idempotency_key,
                    content_type: req.content_type,
                    body: req.body,
                },
                now_ms(),
            )
            .await
        };
        match answer {
            Ok(api::Answer::Json(status, doc)) => crate::sharing::reply((status, doc)),
            Ok(api::Answer::File(file)) => ApiReply {
                status: 200,
                body: file.content,
                download: Some(file.media_type),
            },
            Err(e) => ApiReply {
                status: e.status(),
                body: onestop_core::error::json_body_with(
                    e.code(),
                    &e.to_string(),
                    req.request_id,
                    e.field(),
                    None,
                ),
                download: None,
            },
        }
    }
}
