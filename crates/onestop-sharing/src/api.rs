//! The citizens' API for consents and the access log, independent of the
//! HTTP server: the gateway hands over a verified citizen and the request,
//! and writes back the status and JSON document this returns.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /api/v1/me/consents` | the citizen's consents, `{"consents":[…]}` |
//! | `POST /api/v1/me/consents` | grant `{"consumer","purpose"}` → 201 the consent |
//! | `DELETE /api/v1/me/consents/{consumer}/{purpose}` | revoke → 200 the consent; none → 404 |
//! | `GET /api/v1/me/access-log?limit=&before=` | who accessed the citizen's data, newest first, `{"records":[…],"next_before":SEQ\|null}` |

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Sharing, SharingError, view};

pub const CONSENTS_PATH: &str = "/api/v1/me/consents";
pub const ACCESS_LOG_PATH: &str = "/api/v1/me/access-log";

/// Default and largest page of the access log.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// Whether `path` (normalised) is one of this API's.
pub fn handles(path: &str) -> bool {
    path == CONSENTS_PATH
        || path == ACCESS_LOG_PATH
        || path
            .strip_prefix(CONSENTS_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    consumer: String,
    purpose: String,
}

/// Answers a citizen's request: the status and document, or why not.
pub async fn handle(
    sharing: &Sharing,
    method: &str,
    path: &str,
    query: Option<&str>,
    citizen: &str,
    body: &[u8],
) -> Result<(u16, Value), SharingError> {
    let state = sharing.state();
    let rest = path.strip_prefix(CONSENTS_PATH).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, path, segments.as_slice()) {
        ("GET" | "HEAD", ACCESS_LOG_PATH, _) => {
            let (limit, before) = page(query)?;
            let records = sharing.access_log(citizen, limit, before).await?;
            let next = (records.len() == limit as usize)
                .then(|| records.last().map(|r| r.seq))
                .flatten();
            Ok((
                200,
                json!({
                    "records": records.iter().map(|r| view::access(r, &state)).collect::<Vec<_>>(),
                    "next_before": next,
                }),
            ))
        }
        ("GET" | "HEAD", CONSENTS_PATH, _) => {
            let consents = sharing.consents(citizen).await?;
            Ok((
                200,
                json!({"consents": consents.iter().map(|c| view::consent(c, &state)).collect::<Vec<_>>()}),
            ))
        }
        ("POST", CONSENTS_PATH, _) => {
            let grant: Grant = onestop_core::json::from_slice(body).map_err(|e| {
                SharingError::Invalid(vec![onestop_core::problem::Problem::new(
                    "body",
                    format!("invalid JSON body: {e}"),
                )])
            })?;
            let c = sharing
                .set_consent(citizen, &grant.consumer, &grant.purpose, true)
                .await?;
            Ok((201, view::consent(&c, &state)))
        }
        ("DELETE", _, [consumer, purpose]) => {
            let c = sharing
                .set_consent(citizen, consumer, purpose, false)
                .await?;
            Ok((200, view::consent(&c, &state)))
        }
        (_, ACCESS_LOG_PATH | CONSENTS_PATH, _) | (_, _, [_, _]) => {
            Err(SharingError::Invalid(vec![
                onestop_core::problem::Problem::new(
                    "method",
                    format!("{method} is not allowed here"),
                ),
            ]))
        }
        _ => Err(SharingError::NotFound(format!("no such resource `{path}`"))),
    }
}

/// `limit` (1-200, default 50) and `before` (a `seq`) of the query.
fn page(query: Option<&str>) -> Result<(u32, Option<i64>), SharingError> {
    let mut limit = PAGE;
    let mut before = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_PAGE).contains(l))
                    .ok_or_else(|| bad("limit", format!("must be 1-{MAX_PAGE}")))?;
            }
            "before" => {
                before = Some(
                    v.parse()
                        .ok()
                        .filter(|b: &i64| *b > 0)
                        .ok_or_else(|| bad("before", "must be a record number".into()))?,
                );
            }
            _ => {}
        }
    }
    Ok((limit, before))
}

fn bad(field: &str, message: String) -> SharingError {
    SharingError::Invalid(vec![onestop_core::problem::Problem::new(field, message)])
}
