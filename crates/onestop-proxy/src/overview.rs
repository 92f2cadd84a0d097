//! The citizen overview (`GET /api/v1/me/overview`): one document from every
//! department that declares an overview item.
//!
//! The items are fetched concurrently, each as an [`Internal`] request
//! through the gateway's own public listener with the citizen's
//! credentials, so each gets routing, identity, BOLA, signing, the cache,
//! retries and health exactly as a direct call would. Each item has its own
//! deadline; the document is answered when every item has answered or hit
//! its deadline, so the overview never takes longer than the largest item
//! deadline. The pieces that decide (an item's status, the document) are
//! pure and tested here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::internal::{Internal, Kind};

/// The overview's path.
pub const PATH: &str = "/api/v1/me/overview";

/// Largest department answer the overview takes in (bigger: `error`).
const MAX_ITEM_BYTES: usize = 256 * 1024;

/// Request headers of the overview request that its items carry: the
/// citizen's credentials, the calling app, and what selects a route or
/// shapes an answer.
const COPIED: [&str; 5] = [
    "authorization",
    "x-onestop-app-key",
    "host",
    "accept-language",
    "user-agent",
];

/// One department's overview item, compiled into the snapshot.
#[derive(Debug, Clone)]
pub struct Item {
    pub dept: Arc<str>,
    pub name: Arc<str>,
    /// Path and query to `GET`; `me` stands for the citizen.
    pub path: Arc<str>,
    pub timeout: Duration,
    /// How long the item has been taking (a moving average, µs), kept
    /// across reloads: the slowest items are sent first.
    pub latency: Arc<AtomicU64>,
}

/// Weight of the newest sample in an item's moving average, in 1/8ths.
const NEWEST_EIGHTHS: u64 = 2;

impl Item {
    /// Folds one fetch's time into the moving average (relaxed: racing
    /// overviews may lose a sample, which only blurs the order).
    fn observe(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.latency.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * (8 - NEWEST_EIGHTHS) + sample * NEWEST_EIGHTHS) / 8
        };
        self.latency.store(new, Ordering::Relaxed);
    }
}

/// The order to send items in: the slowest (by moving average) first, so
/// that the item that decides the overview's time leaves first and does
/// not wait behind the dispatch of 29 fast ones (longest-first scheduling).
pub fn dispatch_order(items: &[Item]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].latency.load(Ordering::Relaxed)));
    order
}

/// How a department's item came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The department answered.
    Ok,
    /// No answer within the item's deadline (or the department's route
    /// timed out first).
    Timeout,
    /// The department, or the gateway on its behalf, refused or failed.
    Error,
    /// The department failed; this is its last answer, from the cache.
    Stale,
    /// The department holds no data on the citizen (it answered "no such
    /// citizen"): left out of the document.
    NoData,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Timeout => "timeout",
            Status::Error => "error",
            Status::Stale => "stale",
            Status::NoData => "no_data",
        }
    }

    /// Whether the department's part is in (an answer, a stale one, or
    /// "no data"); a timeout or an error leaves it incomplete.
    pub fn complete(self) -> bool {
        matches!(self, Status::Ok | Status::Stale | Status::NoData)
    }
}

/// One department's part of the document.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub dept: String,
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub elapsed_ms: f64,
    /// The department's document, as it sent it (checked to be JSON, not
    /// parsed into a tree: it is written into the overview byte for byte).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an item's answer means: status, data and error code. Pure.
///
/// A 2xx JSON answer is `ok` (`stale` when the cache answered it in place
/// of a failing department); "no such citizen" (404 `CITIZEN_NOT_FOUND`)
/// is `no_data`; a 504 is `timeout`; anything else is `error` with the
/// gateway's error code when the body carries one.
pub fn classify(
    http_status: u16,
    cache: Option<&str>,
    body: &[u8],
) -> (Status, Option<Box<RawValue>>, Option<String>) {
    if (200..300).contains(&http_status) {
        let raw = std::str::from_utf8(body)
            .ok()
            .and_then(|text| RawValue::from_string(text.trim().to_owned()).ok());
        return match raw {
            Some(data) if cache.is_some_and(|c| c.eq_ignore_ascii_case("stale")) => {
                (Status::Stale, Some(data), None)
            }
            Some(data) => (Status::Ok, Some(data), None),
            None => (Status::Error, None, Some("NOT_JSON".into())),
        };
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let code = json
        .as_ref()
        .and_then(|v| v.pointer("/error/code"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP_{http_status}"), str::to_owned);
    match (http_status, code.as_str()) {
        (404, "CITIZEN_NOT_FOUND") => (Status::NoData, None, None),
        (504, _) => (Status::Timeout, None, Some(code)),
        _ => (Status::Error, None, Some(code)),
    }
}

/// The overview document: `{"citizen","complete","departments":[…]}` with
/// the parts sorted by department, leaving out departments that hold no
/// data on the citizen. `complete` is true when every part is `ok`. Pure.
pub fn document(citizen: &str, mut parts: Vec<Part>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Doc<'a> {
        citizen: &'a str,
        complete: bool,
        departments: Vec<Part>,
    }
    parts.retain(|p| p.status != Status::NoData);
    parts.sort_by(|a, b| a.dept.cmp(&b.dept));
    let doc = Doc {
        citizen,
        complete: parts.iter().all(|p| p.status == Status::Ok),
        departments: parts,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The headers every item carries, taken from the overview request.
pub fn item_headers(req: &http::HeaderMap, request_id: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    for name in COPIED {
        for value in req.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        headers.insert(onestop_core::request_id::HEADER, v);
    }
    headers
}

/// Fetches every item concurrently, each within its own deadline, and
/// returns one part per item (in `items`' order).
pub async fn fan_out(
    internal: &Internal,
    items: &[Item],
    headers: &reqwest::header::HeaderMap,
) -> Vec<Part> {
    let fetches = dispatch_order(items)
        .into_iter()
        .map(|i| fetch(internal, &items[i], headers));
    futures::future::join_all(fetches).await
}

async fn fetch(internal: &Internal, item: &Item, headers: &reqwest::header::HeaderMap) -> Part {
    let started = Instant::now();
    let mut headers = headers.clone();
    headers.insert(
        crate::internal::DEADLINE_HEADER,
        http::HeaderValue::from(u64::try_from(item.timeout.as_millis()).unwrap_or(u64::MAX)),
    );
    let request = internal.get(Kind::Overview, &item.path, headers);
    let exchange = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get(onestop_cache::STATUS_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(response).await?;
        Ok::<_, reqwest::Error>((status, cache, body))
    };
    let (status, http_status, data, error) =
        match tokio::time::timeout(item.timeout, exchange).await {
            Ok(Ok((code, cache, Some(body)))) => {
                let (status, data, error) = classify(code, cache.as_deref(), &body);
                (status, Some(code), data, error)
            }
            Ok(Ok((code, _, None))) => (Status::Error, Some(code), None, Some("TOO_LARGE".into())),
            Ok(Err(_)) => (Status::Error, None, None, Some("UNAVAILABLE".into())),
            Err(_) => (Status::Timeout, None, None, None),
        };
    let elapsed = started.elapsed();
    if status != Status::Timeout {
        item.observe(elapsed);
    } else {
        item.observe(item.timeout);
    }
    crate::events::overview_item(
        &item.dept,
        status.as_str(),
        status.complete(),
        elapsed,
        error.as_deref(),
    );
    Part {
        dept: item.dept.to_string(),
        name: item.name.to_string(),
        status,
        http_status,
        elapsed_ms: (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
        data,
        error,
    }
}

/// The body, or `None` when it is larger than [`MAX_ITEM_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ITEM_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn part(dept: &str, status: Status) -> Part {
        Part {
            dept: dept.into(),
            name: format!("{dept} office"),
            status,
            http_status: (status != Status::Timeout).then_some(200),
            elapsed_ms: 1.5,
            data: (status == Status::Ok)
                .then(|| RawValue::from_string(r#"{"x":1}"#.into()).expect("raw")),
            error: None,
        }
    }

    /// `classify` with the document as text (RawValue has no equality).
    fn classify(
        status: u16,
        cache: Option<&str>,
        body: &[u8],
    ) -> (Status, Option<String>, Option<String>) {
        let (s, data, error) = super::classify(status, cache, body);
        (s, data.map(|d| d.get().to_owned()), error)
    }

    #[test]
    fn the_slowest_items_are_sent_first() {
        let item = |dept: &str| Item {
            dept: dept.into(),
            name: dept.into(),
            path: "/x".into(),
            timeout: Duration::from_millis(800),
            latency: Arc::new(AtomicU64::new(0)),
        };
        let items = [item("a"), item("b"), item("c")];
        // Unknown latencies keep the configured order.
        assert_eq!(dispatch_order(&items), [0, 1, 2]);
        items[0].observe(Duration::from_millis(2));
        items[1].observe(Duration::from_millis(50));
        items[2].observe(Duration::from_millis(9));
        assert_eq!(dispatch_order(&items), [1, 2, 0]);
        // The average moves a quarter of the way towards a new sample.
        items[1].observe(Duration::from_millis(10));
        assert_eq!(items[1].latency.load(Ordering::Relaxed), 40_000);
        assert_eq!(dispatch_order(&items), [1, 2, 0]);
    }

    #[test]
    fn statuses_follow_the_answer() {
        let body = br#"{"citizen_id":"1"}"#;
        assert_eq!(classify(200, Some("MISS"), body).0, Status::Ok);
        assert_eq!(
            classify(200, None, body).1.as_deref(),
            Some(r#"{"citizen_id":"1"}"#)
        );
        assert_eq!(classify(200, Some("STALE"), body).0, Status::Stale);
        assert_eq!(
            classify(200, None, b"<html>"),
            (Status::Error, None, Some("NOT_JSON".into()))
        );
        let timeout = br#"{"error":{"code":"UPSTREAM_TIMEOUT","message":"m","request_id":"r"}}"#;
        assert_eq!(
            classify(504, None, timeout),
            (Status::Timeout, None, Some("UPSTREAM_TIMEOUT".into()))
        );
        let denied = br#"{"error":{"code":"FORBIDDEN","message":"m","request_id":"r"}}"#;
        assert_eq!(
            classify(403, None, denied),
            (Status::Error, None, Some("FORBIDDEN".into()))
        );
        let unknown = br#"{"error":{"code":"CITIZEN_NOT_FOUND","message":"m","request_id":"r"}}"#;
        assert_eq!(classify(404, None, unknown), (Status::NoData, None, None));
        assert_eq!(
            classify(404, None, b"{}"),
            (Status::Error, None, Some("HTTP_404".into()))
        );
        assert_eq!(
            classify(500, None, b""),
            (Status::Error, None, Some("HTTP_500".into()))
        );
    }

    #[test]
    fn the_document_is_sorted_and_complete_only_when_all_are_ok() {
        let doc: Value = serde_json::from_slice(&document(
            "110101199003074514",
            vec![part("water", Status::Ok), part("hpf", Status::Ok)],
        ))
        .expect("json");
        assert_eq!(doc["citizen"], "110101199003074514");
        assert_eq!(doc["complete"], true);
        assert_eq!(doc["departments"][0]["dept"], "hpf");
        assert_eq!(doc["departments"][1]["dept"], "water");
        assert_eq!(doc["departments"][0]["status"], "ok");
        assert_eq!(doc["departments"][0]["data"], json!({"x": 1}));
        assert!(doc["departments"][0].get("error").is_none());

        let doc: Value = serde_json::from_slice(&document(
            "x",
            vec![
                part("tax", Status::Timeout),
                part("hpf", Status::Stale),
                part("gas", Status::NoData),
            ],
        ))
        .expect("json");
        assert_eq!(doc["complete"], false);
        assert_eq!(doc["departments"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["departments"][0]["status"], "stale");
        assert_eq!(doc["departments"][1]["status"], "timeout");
        assert!(doc["departments"][1].get("http_status").is_none());
        assert!(doc["departments"][1].get("data").is_none());
    }

    #[test]
    fn items_carry_the_credentials_and_nothing_else() {
        let mut req = http::HeaderMap::new();
        req.insert("authorization", "Bearer t".parse().expect("value"));
        req.insert("x-onestop-app-key", "k".parse().expect("value"));
        req.insert("x-onestop-internal", "forged".parse().expect("value"));
        req.insert("accept-encoding", "gzip".parse().expect("value"));
        req.insert("cookie", "s=1".parse().expect("value"));
        let h = item_headers(&req, "rid-1");
        assert_eq!(h.get("authorization").expect("auth"), "Bearer t");
        assert_eq!(h.get("x-onestop-app-key").expect("key"), "k");
        assert_eq!(h.get("x-request-id").expect("id"), "rid-1");
        assert!(h.get("x-onestop-internal").is_none());
        assert!(h.get("accept-encoding").is_none());
        assert!(h.get("cookie").is_none());
    }
}
