//! The citizens' inbox on the public listener (served by the gateway
//! itself for a verified citizen):
//!
//! - `GET /api/v1/me/messages?unread=true&limit=N&before=ID` → `{"messages":
//!   […], "next": ID|null}`, newest first; `next` is the `before` of the
//!   next page when this one is full.
//! - `POST /api/v1/me/messages/{id}/read` → the message, marked read.
//!
//! A citizen sees only their own messages: another's id answers 404 like
//! one that does not exist.

use onestop_store::{MessageFilter, MessageStore, Millis};
use serde_json::{Value, json};

use crate::text;

const BASE: &str = "/api/v1/me/messages";
const MAX_LIMIT: u32 = 500;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The query parameter at fault.
    pub field: Option<&'static str>,
}

impl ApiError {
    fn bad(field: &'static str, message: String) -> ApiError {
        ApiError {
            status: 400,
            code: "BAD_REQUEST",
            message,
            field: Some(field),
        }
    }

    fn not_found() -> ApiError {
        ApiError {
            status: 404,
            code: "NOT_FOUND",
            message: "no such message".into(),
            field: None,
        }
    }
}

/// Whether `path` (normalised) is the inbox's.
pub fn handles(path: &str) -> bool {
    path == BASE || path.strip_prefix(BASE).is_some_and(|p| p.starts_with('/'))
}

/// Answers one request of `citizen`.
pub async fn handle(
    store: &dyn MessageStore,
    method: &str,
    path: &str,
    query: Option<&str>,
    citizen: &str,
    now: Millis,
) -> Result<(u16, Value), ApiError> {
    let rest = path.strip_prefix(BASE).unwrap_or("");
    let unavailable = |e: onestop_store::StoreError| ApiError {
        status: 503,
        code: "STORE_UNAVAILABLE",
        message: format!("messages are unavailable: {e}"),
        field: None,
    };
    let not_allowed = || ApiError {
        status: 405,
        code: "METHOD_NOT_ALLOWED",
        message: format!("{method} is not allowed here"),
        field: None,
    };
    if rest.is_empty() {
        if method != "GET" {
            return Err(not_allowed());
        }
        let filter = filter(query, citizen)?;
        let found = store.messages(&filter).await.map_err(unavailable)?;
        let limit = if filter.limit == 0 { 50 } else { filter.limit };
        let next = (found.len() == limit as usize)
            .then(|| found.last().map(|m| m.id.clone()))
            .flatten();
        let messages: Vec<Value> = found.iter().map(text::view).collect();
        return Ok((200, json!({ "messages": messages, "next": next })));
    }
    let Some(id) = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix("/read"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
    else {
        return Err(ApiError::not_found());
    };
    if method != "POST" {
        return Err(not_allowed());
    }
    match store
        .mark_read(citizen, id, now)
        .await
        .map_err(unavailable)?
    {
        Some(m) => Ok((200, text::view(&m))),
        None => Err(ApiError::not_found()),
    }
}

fn filter(query: Option<&str>, citizen: &str) -> Result<MessageFilter, ApiError> {
    let mut f = MessageFilter {
        citizen: citizen.to_owned(),
        ..Default::default()
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "unread" => {
                f.unread = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(ApiError::bad(
                            "unread",
                            "unread must be true or false".into(),
                        ));
                    }
                }
            }
            "limit" => {
                f.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad("limit", format!("limit must be between 1 and {MAX_LIMIT}"))
                    })?;
            }
            "before" => {
                if value.is_empty() || value.len() > 200 {
                    return Err(ApiError::bad(
                        "before",
                        "before must be a message's event_id".into(),
                    ));
                }
                f.before = Some(value.into_owned());
            }
            other => {
                return Err(ApiError {
                    status: 400,
                    code: "BAD_REQUEST",
                    message: format!("unknown query parameter `{other}` (unread, limit, before)"),
                    field: None,
                });
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn paths_and_queries() {
        assert!(handles("/api/v1/me/messages"));
        assert!(handles("/api/v1/me/messages/A.0002/read"));
        assert!(!handles("/api/v1/me/messagesx"));
        assert!(!handles("/api/v1/me/access-log"));
        let f = filter(Some("unread=true&limit=5&before=A.0002"), "c").unwrap_or_default();
        assert_eq!(
            (f.unread, f.limit, f.before.as_deref()),
            (true, 5, Some("A.0002"))
        );
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("unread=yes", "unread"),
        ] {
            let e = filter(Some(q), "c").unwrap_err();
            assert_eq!((e.status, e.field), (400, Some(field)), "{q}");
        }
        assert_eq!(filter(Some("page=2"), "c").unwrap_err().status, 400);
    }
}
