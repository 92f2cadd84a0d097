//! The console's way to the admin API: in-process requests to the
//! `/admin/v1` router as the signed-in operator (their bearer token), so
//! that authentication, roles, department scopes, validation and the
//! audit trail are exactly the API's — the console has no checks of its
//! own to drift.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::config_api::CHANGE_MESSAGE_HEADER;

/// The largest API answer the console reads.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// What the API answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// A refusal the console itself answers (before asking the API), in
    /// the API's error shape.
    pub fn refusal(status: u16, message: &str) -> Answer {
        Answer {
            status,
            body: serde_json::json!({ "error": { "message": message } }),
        }
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error's message (`error.message`), or the status.
    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {}", self.status), str::to_string)
    }

    /// The error's located problems (`error.details`).
    pub fn details(&self) -> Vec<Value> {
        self.body["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A body to send.
pub enum Send {
    None,
    Json(Value),
    Toml(String),
}

/// The `/admin/v1` router, called in-process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    /// One request as the operator of `token`; `message` is the change
    /// message recorded with configuration versions; `request_id` ties
    /// the API's log lines and audit records to the console's request.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Send,
        message: Option<&str>,
        request_id: &str,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if !request_id.is_empty() {
            builder = builder.header(onestop_core::request_id::HEADER, request_id);
        }
        if let Some(m) = message {
            builder = builder.header(CHANGE_MESSAGE_HEADER, m);
        }
        let request = match body {
            Send::None => builder.body(Body::empty()),
            Send::Json(v) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            Send::Toml(t) => builder
                .header(header::CONTENT_TYPE, "application/toml")
                .body(Body::from(t)),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                return Answer {
                    status: 400,
                    body: serde_json::json!({"error": {"message": format!("bad request: {e}")}}),
                };
            }
        };
        let response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }
}
