//! The citizens' API for appeals, independent of the HTTP server: the
//! gateway hands over a verified citizen and the request and writes back
//! the status and JSON document (or the error) this returns.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /api/v1/me/appeals` | file `{"kind","title","content","dept"?,"matter"?,"location"?,"disclose"?}` → 201 the appeal with its timeline (200 and the first appeal when `Idempotency-Key` repeats) |
//! | `GET /api/v1/me/appeals?limit=&before=` | the citizen's appeals, newest first, `{"appeals":[…],"next":ID|null}` |
//! | `GET /api/v1/me/appeals/{id}` | one appeal with every step in `timeline`; anybody else's → 404 |
//! | `POST /api/v1/me/appeals/{id}/rating` | `{"score":1-5,"comment"?}` on a replied appeal → 200; twice or before the reply → 409; 1–2 opens a follow-up |
//! | `POST /api/v1/me/appeals/attachments` | the raw file as the body, its `Content-Type` (JPEG, PNG, PDF as `[appeals] attachment_types` allow, checked against the content's magic bytes) → 201 `{"id":"sha256:…","size","type"}` (200 when that content is stored already); over `max_attachment_bytes` → 413 `BODY_TOO_LARGE` (before the body is read when `Content-Length` says so); a type not taken → 415 naming `Content-Type`. The submission names ids in `attachments` |
//! | `GET /api/v1/me/appeals/{id}/attachments/{hash}` | one attachment of the citizen's appeal, with its stored type, `content-disposition: attachment`, `x-content-type-options: nosniff`; anybody else's, or one the appeal does not carry → 404 |
//! | `GET /api/v1/appeals/public?limit=&before=` | [`feed`]: disclosed, closed appeals, masked, the latest closed first, `{"appeals":[…],"next":ID|null}`; no citizen needed |

use onestop_store::{AppealFilter, AttachmentBlob, Millis};
use serde_json::{Value, json};

use crate::{Desk, DeskError, Submit, Who, invalid, view};

pub const APPEALS_PATH: &str = "/api/v1/me/appeals";
/// The public feed of disclosed, closed appeals.
pub const FEED_PATH: &str = "/api/v1/appeals/public";

/// Where citizens upload attachments.
pub const ATTACHMENTS_PATH: &str = "/api/v1/me/appeals/attachments";

/// Default and largest page.
const PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Whether `path` (normalised) is this API's.
pub fn handles(path: &str) -> bool {
    path == APPEALS_PATH
        || path
            .strip_prefix(APPEALS_PATH)
            .is_some_and(|r| r.starts_with('/'))
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
    pub idempotency_key: Option<&'a str>,
    /// The request's `Content-Type` (an upload's declared type).
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the API answers: a JSON document, or an attachment's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Json(u16, Value),
    /// Served with its stored type, `content-disposition: attachment` and
    /// `x-content-type-options: nosniff`.
    File(AttachmentBlob),
}

/// The largest body the gateway reads for `method path`: an upload's limit
/// (`[appeals] max_attachment_bytes`) for `POST` to [`ATTACHMENTS_PATH`],
/// else `default` (a larger declared body: 413 before it is read).
pub fn max_body(desk: &Desk, method: &str, path: &str, default: u64) -> u64 {
    if method == "POST" && path == ATTACHMENTS_PATH {
        desk.settings().input.max_attachment_bytes
    } else {
        default
    }
}

/// Answers `req`: the status and document or file, or why not.
pub async fn handle(desk: &Desk, req: Request<'_>, now: Millis) -> Result<Answer, DeskError> {
    let rest = req.path.strip_prefix(APPEALS_PATH).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method, segments.as_slice()) {
        ("POST", ["attachments"]) => {
            let b = desk.upload(req.content_type, req.body, now).await?;
            // 201 for new content; 200 when it was stored already (dedup).
            let status = if b.fresh { 201 } else { 200 };
            Ok(Answer::Json(
                status,
                json!({"id": b.blob.hash, "size": b.blob.size, "type": b.blob.media_type}),
            ))
        }
        ("GET" | "HEAD", [id, "attachments", hash]) => Ok(Answer::File(
            desk.attachment(Who::Citizen(req.citizen), id, hash)
                .await?
                .1,
        )),
        (_, ["attachments"] | [_, "attachments", _]) => {
            Err(DeskError::MethodNotAllowed(req.method.to_owned()))
        }
        _ => json_api(desk, req, now)
            .await
            .map(|(status, doc)| Answer::Json(status, doc)),
    }
}

async fn json_api(desk: &Desk, req: Request<'_>, now: Millis) -> Result<(u16, Value), DeskError> {
    let rest = req.path.strip_prefix(APPEALS_PATH).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method, segments.as_slice()) {
        ("POST", []) => {
            let body = parse(req.body)?;
            let (a, fresh) = desk
                .submit(
                    Submit {
                        citizen: req.citizen,
                        channel: req.channel,
                        idempotency_key: req.idempotency_key,
                        body: &body,
                    },
                    now,
                )
                .await?;
            Ok((if fresh { 201 } else { 200 }, view::appeal(&a, now)))
        }
        ("GET" | "HEAD", []) => {
            let (limit, before) = paging(req.query)?;
            let filter = AppealFilter {
                after: before,
                limit,
                ..AppealFilter::default()
            };
            let list = desk.list(Who::Citizen(req.citizen), filter).await?;
            Ok((200, view::page(&list, limit as usize, now)))
        }
        ("GET" | "HEAD", [id]) => {
            let a = desk.read(Who::Citizen(req.citizen), id).await?;
            Ok((200, view::appeal(&a, now)))
        }
        ("POST", [id, "rating"]) => {
            let body = parse(req.body)?;
            let obj = body
                .as_object()
                .ok_or_else(|| invalid("body", "must be a JSON object"))?;
            if let Some(k) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "score" | "comment"))
            {
                return Err(invalid(k, "unknown field"));
            }
            let score = match obj.get("score") {
                None | Some(Value::Null) => return Err(invalid("score", "required")),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| invalid("score", "must be an integer 1 to 5"))?,
            };
            let comment = match obj.get("comment") {
                None | Some(Value::Null) => "",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(invalid("comment", "must be a string")),
            };
            let a = desk.rate(req.citizen, id, score, comment, now).await?;
            Ok((200, view::appeal(&a, now)))
        }
        (_, [] | [_] | [_, "rating"]) => Err(DeskError::MethodNotAllowed(req.method.to_owned())),
        _ => Err(DeskError::NotFound),
    }
}

/// `GET /api/v1/appeals/public?limit=&before=`: a page of the public feed
/// ([`view::public_entry`] each), `next` the public id to pass as
/// `before`. `names` gives a department's display name.
pub async fn feed(
    desk: &Desk,
    method: &str,
    query: Option<&str>,
    names: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(u16, Value), DeskError> {
    if !matches!(method, "GET" | "HEAD") {
        return Err(DeskError::MethodNotAllowed(method.to_owned()));
    }
    let (limit, before) = paging(query)?;
    if let Some(b) = &before
        && (b.len() > 64 || !b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(invalid("before", "must be an appeal id from `next`"));
    }
    let before = before.as_deref().map(view::appeal_id);
    let list = desk.disclosed(before.as_deref(), limit).await?;
    let next = (list.len() >= limit as usize)
        .then(|| list.last().map(|a| view::public_id(&a.id)))
        .flatten();
    let appeals: Vec<Value> = list
        .iter()
        .map(|a| {
            let name = a.dept.as_deref().and_then(names);
            view::public_entry(a, name.as_deref())
        })
        .collect();
    Ok((200, serde_json::json!({"appeals": appeals, "next": next})))
}

/// The body as JSON, through the gateway's one strict parse
/// ([`onestop_core::json`]: a key repeated at any depth is refused).
fn parse(body: &[u8]) -> Result<Value, DeskError> {
    onestop_core::json::from_slice(body).map_err(|e| invalid("body", format!("not JSON: {e}")))
}

fn paging(query: Option<&str>) -> Result<(u32, Option<String>), DeskError> {
    let mut limit = PAGE;
    let mut before = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| invalid("limit", format!("must be 1 to {MAX_PAGE}")))?;
            }
            "before" if !v.is_empty() => before = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok((limit, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_duplicate_keys() {
        assert!(handles("/api/v1/me/appeals"));
        assert!(handles("/api/v1/me/appeals/S1/rating"));
        assert!(!handles("/api/v1/me/appealsx"));
        let refused = |body: &[u8]| match parse(body) {
            Err(DeskError::Invalid(e)) => format!("{}: {}", e.field, e.message),
            other => panic!("{other:?}"),
        };
        assert!(refused(br#"{"a":1,"b":{"c":1,"c":2}}"#).contains("duplicate key `c`"));
        assert!(refused(br#"{"kind":"help","kind":"praise"}"#).contains("duplicate key `kind`"));
        assert!(refused(br#"{"kind":"#).starts_with("body: not JSON"));
        assert!(parse(br#"{"a":[{"x":1},{"x":2}],"b":"a"}"#).is_ok());
    }

    #[test]
    fn paging_names_the_bad_parameter() {
        assert_eq!(paging(None).ok(), Some((PAGE, None)));
        assert_eq!(
            paging(Some("limit=5&before=S1")).ok(),
            Some((5, Some("S1".into())))
        );
        for q in ["limit=0", "limit=101", "limit=x"] {
            assert_eq!(
                paging(Some(q))
                    .err()
                    .and_then(|e| e.field().map(str::to_owned)),
                Some("limit".into())
            );
        }
    }
}
