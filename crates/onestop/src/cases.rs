//! Cases in the gateway: steps sent as the gateway's own requests through
//! its public listener (as the case's citizen, with the per-process
//! secret), and the citizens' case API served by the proxy.

use std::sync::Arc;

use async_trait::async_trait;
use onestop_cases::{Cases, Reply, StepCall, Transport};
use onestop_proxy::builtin::{ApiReply, ApiRequest, CitizenApi};
use onestop_proxy::internal::{CASE_CHANNEL_HEADER, CASE_CITIZEN_HEADER, Internal, Kind};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

/// Longest part of a department's answer quoted in a step's error.
const QUOTE: usize = 300;

/// Case steps over [`Internal`]: every access rule applies to them as to
/// the citizen's own requests.
pub struct InternalTransport {
    internal: Arc<Internal>,
}

impl InternalTransport {
    pub fn new(internal: Arc<Internal>) -> InternalTransport {
        InternalTransport { internal }
    }
}

fn header(headers: &mut HeaderMap, name: &'static str, value: &str) -> Result<(), String> {
    let value =
        HeaderValue::from_str(value).map_err(|_| format!("{name} is not a header value"))?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

#[async_trait]
impl Transport for InternalTransport {
    async fn call(&self, call: StepCall<'_>) -> Reply {
        let method = match http::Method::from_bytes(call.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Reply::Refused {
                    status: 0,
                    message: format!("`{}` is not an HTTP method", call.method),
                };
            }
        };
        let mut headers = HeaderMap::new();
        let built = header(&mut headers, CASE_CITIZEN_HEADER, call.citizen)
            .and_then(|()| match call.channel {
                Some(ch) => header(&mut headers, CASE_CHANNEL_HEADER, ch),
                None => Ok(()),
            })
            .and_then(|()| header(&mut headers, "idempotency-key", call.idempotency_key))
            .and_then(|()| header(&mut headers, "x-request-id", call.request_id));
        if let Err(message) = built {
            return Reply::Refused { status: 0, message };
        }
        let mut request = self
            .internal
            .request(Kind::Case, method, call.path, headers)
            .timeout(call.timeout);
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Reply::Transient(format!("no answer: {e}")),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Reply::Transient(format!("{status}, body lost: {e}")),
        };
        classify(status, &bytes)
    }
}

/// A department's (or the gateway's) answer to a step: 2xx is done;
/// 408, 429 and 5xx are worth retrying; any other status is final.
pub fn classify(status: u16, body: &[u8]) -> Reply {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return Reply::Done(json.unwrap_or(Value::Null));
    }
    let message = json
        .as_ref()
        .and_then(|v| {
            let e = v.get("error")?;
            Some(format!(
                "{} {}",
                e.get("code")?.as_str()?,
                e.get("message").and_then(Value::as_str).unwrap_or("")
            ))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(QUOTE).collect());
    if status == 408 || status == 429 || status >= 500 {
        Reply::Transient(format!("{status}: {message}"))
    } else {
        Reply::Refused { status, message }
    }
}

/// The citizens' case API on the public listener.
pub struct CasesApi {
    cases: Arc<Cases>,
}

impl CasesApi {
    pub fn new(cases: Arc<Cases>) -> CasesApi {
        CasesApi { cases }
    }
}

#[async_trait]
impl CitizenApi for CasesApi {
    fn handles(&self, path: &str) -> bool {
        onestop_cases::api::handles(path)
    }

    async fn call(&self, req: ApiRequest<'_>) -> ApiReply {
        let answer = onestop_cases::api::handle(
            &self.cases,
            onestop_cases::api::Request {
                method: req.method,
                path: req.path,
                query: req.query,
                citizen: req.citizen,
                channel: req.channel,
                idempotency_key: req.idempotency_key,
                body: req.body,
            },
        )
        .await;
        match answer {
            Ok(answer) => crate::sharing::reply(answer),
            Err(e) => {
                crate::sharing::error_reply(e.status(), e.code(), &e.to_string(), req.request_id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_for_retry() {
        assert_eq!(
            classify(201, br#"{"application_id":"A"}"#),
            Reply::Done(serde_json::json!({"application_id": "A"}))
        );
        assert_eq!(classify(204, b""), Reply::Done(Value::Null));
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(status, b"x"), Reply::Transient(_)),
                "{status}"
            );
        }
        assert_eq!(
            classify(
                422,
                br#"{"error":{"code":"APPLICATION_REJECTED","message":"no"}}"#
            ),
            Reply::Refused {
                status: 422,
                message: "APPLICATION_REJECTED no".into()
            }
        );
        assert!(matches!(
            classify(404, b"gone"),
            Reply::Refused { status: 404, .. }
        ));
    }
}
