//! The citizens' API for appeals, independent of the HTTP server: the
//! gateway hands over a verified citizen and the request and writes back
//! the status and JSON document (or the error) this returns.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /api/v1/me/appeals` | file `{"kind","title","content","dept"?,"matter"?,"location"?,"disclose"?}` → 201 the appeal with its timeline (200 and the first appeal when `Idempotency-Key` repeats) |
//! | `GET /api/v1/me/appeals?limit=&before=` | the citizen's appeals, newest first, `{"appeals":[…],"next":ID|null}` |
//! | `GET /api/v1/me/appeals/{id}` | one appeal with every step in `timeline`; anybody else's → 404 |
//! | `POST /api/v1/me/appeals/{id}/rating` | `{"score":1-5,"comment"?}` on a replied appeal → 200; twice or before the reply → 409 |

use onestop_store::{AppealFilter, Millis};
use serde_json::{Map, Value};

use crate::{Desk, DeskError, Submit, Who, invalid, view};

pub const APPEALS_PATH: &str = "/api/v1/me/appeals";

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
    pub body: &'a [u8],
}

/// Answers `req`: the status and document, or why not.
pub async fn handle(desk: &Desk, req: Request<'_>, now: Millis) -> Result<(u16, Value), DeskError> {
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

/// The body as a JSON object, refusing duplicate keys.
fn parse(body: &[u8]) -> Result<Value, DeskError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("not JSON: {e}")))?;
    if let Some(key) = duplicate_key(body) {
        return Err(invalid(&key, "given twice"));
    }
    Ok(value)
}

/// The first key an object of `body` holds twice (a cheap second parse
/// into maps that remember every key).
fn duplicate_key(body: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Check(Option<String>);
    struct V<'a>(&'a mut Option<String>);
    impl<'de> Visitor<'de> for V<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = Map::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value_seed(Seed(&mut *self.0))?;
                if seen.insert(k.clone(), Value::Null).is_some() && self.0.is_none() {
                    *self.0 = Some(k);
                }
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Seed(&mut *self.0))?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    struct Seed<'a>(&'a mut Option<String>);
    impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(V(self.0))
        }
    }
    let mut check = Check(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = serde::de::DeserializeSeed::deserialize(Seed(&mut check.0), &mut de);
    check.0
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
        assert_eq!(
            duplicate_key(br#"{"a":1,"b":{"c":1,"c":2}}"#),
            Some("c".into())
        );
        assert_eq!(
            duplicate_key(br#"{"kind":"help","kind":"praise"}"#),
            Some("kind".into())
        );
        assert_eq!(duplicate_key(br#"{"a":[{"x":1},{"x":2}],"b":"a"}"#), None);
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
