//! The citizens' API for cases and ratings, independent of the HTTP
//! server: the gateway hands over a verified citizen and the request, and
//! writes back the status and JSON document (or the error) this returns.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /api/v1/me/cases` | submit `{"matter","input":{…}}` → 201 the case (200 and the first case when `Idempotency-Key` repeats) |
//! | `GET /api/v1/me/cases?limit=&before=` | the citizen's cases, newest first, `{"cases":[…],"next":ID|null}` |
//! | `GET /api/v1/me/cases/{id}` | one case with per-step progress and deadlines; anybody else's → 404 |
//! | `POST /api/v1/me/cases/{id}/rating` | rate a finished case `{"score":1-5,"tags":[…],"comment":"…"}` → 201 |
//! | `POST /api/v1/me/ratings` | rate one matter call `{"dept","matter","request_id","score",…}` → 201 |
//! | `GET /api/v1/me/life-events` | the composite matters one can submit, with their forms |

use std::sync::Arc;

use onestop_store::{SubjectKind, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{CaseError, Cases, Rating, view};

pub const CASES_PATH: &str = "/api/v1/me/cases";
pub const RATINGS_PATH: &str = "/api/v1/me/ratings";
pub const LIFE_EVENTS_PATH: &str = "/api/v1/me/life-events";

/// Default and largest page of the case list.
const PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Whether `path` (normalised) is one of this API's.
pub fn handles(path: &str) -> bool {
    path == CASES_PATH
        || path == RATINGS_PATH
        || path == LIFE_EVENTS_PATH
        || path
            .strip_prefix(CASES_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A request for a verified citizen.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The normalised path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub citizen: &'a str,
    pub channel: Option<&'a str>,
    /// The client's `Idempotency-Key` header (submissions).
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    matter: String,
    #[serde(default = "empty_object")]
    input: Value,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingBody {
    score: i64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatterRatingBody {
    dept: String,
    matter: String,
    request_id: String,
    score: i64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    comment: String,
}

/// Answers `req`: the status and document, or why not.
pub async fn handle(cases: &Arc<Cases>, req: Request<'_>) -> Result<(u16, Value), CaseError> {
    let rest = req.path.strip_prefix(CASES_PATH).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method, req.path, segments.as_slice()) {
        ("POST", CASES_PATH, _) => submit(cases, req).await,
        ("GET" | "HEAD", CASES_PATH, _) => list(cases, req).await,
        ("GET" | "HEAD", LIFE_EVENTS_PATH, _) => Ok((200, life_events(cases))),
        ("POST", RATINGS_PATH, _) => {
            let body: MatterRatingBody = parse(req.body)?;
            let rating = Rating {
                score: body.score,
                tags: body.tags,
                comment: body.comment,
            };
            let r = cases
                .rate_matter(
                    req.citizen,
                    &body.dept,
                    &body.matter,
                    &body.request_id,
                    rating,
                )
                .await?;
            Ok((201, view::rating(&r)))
        }
        ("GET" | "HEAD", _, [id]) => {
            let case = cases.case_of(req.citizen, id).await?;
            let rating = cases
                .rating_of(req.citizen, SubjectKind::Case, &case.id)
                .await?;
            Ok((200, view::case(&case, rating.as_ref(), now_ms())))
        }
        ("POST", _, [id, "rating"]) => {
            let body: RatingBody = parse(req.body)?;
            let rating = Rating {
                score: body.score,
                tags: body.tags,
                comment: body.comment,
            };
            let r = cases.rate_case(req.citizen, id, rating).await?;
            Ok((201, view::rating(&r)))
        }
        (_, CASES_PATH | RATINGS_PATH | LIFE_EVENTS_PATH, _) | (_, _, [_] | [_, "rating"]) => {
            Err(CaseError::MethodNotAllowed(req.method.to_owned()))
        }
        _ => Err(CaseError::CaseNotFound),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CaseError> {
    onestop_core::json::from_slice(body)
        .map_err(|e| CaseError::Invalid(format!("invalid JSON body: {e}")))
}

async fn submit(cases: &Arc<Cases>, req: Request<'_>) -> Result<(u16, Value), CaseError> {
    let limit = cases.settings().max_input_bytes;
    if req.body.len() > limit {
        return Err(CaseError::Invalid(format!(
            "the submission is larger than {limit} bytes"
        )));
    }
    if let Some(key) = req.idempotency_key
        && (key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(CaseError::Invalid(
            "Idempotency-Key must be 1-128 visible ASCII characters".into(),
        ));
    }
    let body: Submission = parse(req.body)?;
    let (case, created) = cases
        .submit(
            req.citizen,
            req.channel,
            &body.matter,
            body.input,
            req.idempotency_key,
        )
        .await?;
    Ok((
        if created { 201 } else { 200 },
        view::case(&case, None, now_ms()),
    ))
}

async fn list(cases: &Arc<Cases>, req: Request<'_>) -> Result<(u16, Value), CaseError> {
    let mut limit = PAGE;
    let mut before = None;
    for (k, v) in form_urlencoded::parse(req.query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| CaseError::Invalid(format!("limit must be 1 to {MAX_PAGE}")))?;
            }
            "before" => before = Some(v.into_owned()),
            other => {
                return Err(CaseError::Invalid(format!(
                    "unknown query parameter `{other}` (limit, before)"
                )));
            }
        }
    }
    let page = cases
        .cases_of(req.citizen, limit + 1, before.as_deref())
        .await?;
    let more = page.len() > limit as usize;
    let now = now_ms();
    let shown: Vec<Value> = page
        .iter()
        .take(limit as usize)
        .map(|c| view::case(c, None, now))
        .collect();
    let next = more
        .then(|| page.get(limit as usize - 1).map(|c| c.id.clone()))
        .flatten();
    Ok((200, json!({ "cases": shown, "next": next })))
}

fn life_events(cases: &Cases) -> Value {
    let matters: Vec<Value> = cases
        .matters()
        .values()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "description": m.description,
                "lead_dept": m.lead,
                "input": m.input.iter().map(|f| json!({
                    "name": f.name, "required": f.required, "kind": f.kind.as_str(),
                })).collect::<Vec<_>>(),
                "steps": m.steps.iter().map(|s| json!({
                    "id": s.id, "name": s.name, "dept": s.dept,
                    "after": s.after.iter().map(|&i| m.steps[i].id.clone()).collect::<Vec<_>>(),
                    "deadline": humantime::format_duration(s.deadline).to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "life_events": matters })
}
