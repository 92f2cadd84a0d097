//! HTTP/JSON departments: the axum router of one instance, the routes every
//! department shares (`overview`, `echo`, `/healthz`, the idempotent
//! `applications` of [`applications`]) and the department's manifest
//! entries.
//!
//! A citizen segment `me` (or a submission without `citizen`) means the
//! citizen named by the gateway's `x-onestop-citizen` header. When the
//! fleet checks signatures, that signed header is the only identity: a
//! path or body naming anybody else is answered as an unknown citizen
//! (404 `CITIZEN_NOT_FOUND`), and a citizen's matter without the header is
//! 401 `CITIZEN_REQUIRED`.

mod applications;
mod data_items;
mod doc;
mod matters;

use std::{collections::BTreeMap, sync::Arc, sync::atomic::Ordering};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Request, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use futures::StreamExt;
use serde_json::{Map, Value, json};

pub(crate) use self::applications::{Ledger, LedgerReport, Sequence};
use self::{
    doc::Doc,
    matters::{Action, HttpMatter},
};
use crate::{
    catalog::Department,
    citizens::{Citizen, Population},
    data,
    instance::InstanceState,
    manifest::{DataItemManifest, MatterExample, MatterManifest},
    signature::{CHANNEL_HEADER, Verified},
};

/// Header through which the gateway names the verified citizen.
pub const CITIZEN_HEADER: &str = "x-onestop-citizen";

/// Largest body `echo` reads to the end (bigger bodies are still counted).
const ECHO_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// What the handlers of one HTTP instance share.
struct HttpDept {
    dept: &'static Department,
    pop: Arc<Population>,
    instance: Arc<InstanceState>,
    /// The department's applications, shared by all its instances.
    ledger: Arc<Ledger>,
}

type Shared = State<Arc<HttpDept>>;

/// An error answer in the fleet's one JSON shape,
/// `{"error":{"code":"SNAKE_CASE","message":"…"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 422: the request is well-formed but cannot be carried out.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The same answer for a citizen nobody knows, one this department
    /// holds nothing on, and somebody other than the signed citizen: it
    /// never tells them apart.
    fn citizen_not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "CITIZEN_NOT_FOUND",
            "no records for this citizen in this department",
        )
    }

    /// A citizen's matter called without `x-onestop-citizen` (signed fleets).
    fn citizen_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CITIZEN_REQUIRED",
            format!("this matter concerns a citizen: {CITIZEN_HEADER} is required"),
        )
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Shorthand for an [`ApiError`] answer.
pub(crate) fn error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// The router of one HTTP instance of `dept`; `ledger` is the department's
/// (one for all its instances).
pub(crate) fn router(
    dept: &'static Department,
    pop: Arc<Population>,
    instance: Arc<InstanceState>,
    ledger: Arc<Ledger>,
) -> Router {
    let base = format!("/api/v1/depts/{}", dept.id);
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(&format!("{base}/overview/{{citizen}}"), get(overview))
        .route(&format!("{base}/echo"), any(echo))
        .route(&format!("{base}/echo/{{*rest}}"), any(echo))
        .route(
            &format!("{base}/applications/{{kind}}"),
            post(applications::apply),
        )
        .route(
            &format!("{base}/applications/{{kind}}/{{application}}/withdraw"),
            post(applications::withdraw),
        );
    for matter in matters::matters(dept.id) {
        let path = format!("{base}/{}", matter.route);
        router = match matter.action {
            Action::Query(build) => router.route(
                &path,
                get(
                    move |s: Shared, Path(citizen): Path<String>, headers: HeaderMap| async move {
                        query(&s, matter, build, &citizen, &headers)
                    },
                ),
            ),
            Action::Public(build) => router.route(
                &path,
                get(move |s: Shared| async move {
                    let mut rng = data::rng_for(s.pop.seed(), &[s.dept.id, matter.id]);
                    Json(build(&mut rng)).into_response()
                }),
            ),
            Action::Submit { .. } => router.route(
                &path,
                post(
                    move |s: Shared, headers: HeaderMap, body: Bytes| async move {
                        submit(&s, matter, &headers, &body)
                    },
                ),
            ),
        };
    }
    router
        .fallback(|method: Method, uri: Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no route for {method} {}", uri.path()),
            )
        })
        .with_state(Arc::new(HttpDept {
            dept,
            pop,
            instance,
            ledger,
        }))
}

impl HttpDept {
    /// The citizen a path segment (or body field) names, when this
    /// department holds data on them. `me` or no name means the citizen in
    /// `x-onestop-citizen`; when requests are signed, a name must be that
    /// citizen's.
    fn citizen(&self, raw: Option<&str>, headers: &HeaderMap) -> Result<&Citizen, ApiError> {
        let header = headers.get(CITIZEN_HEADER);
        let id = if self.instance.signed() {
            // Only the signed header identifies; an empty one is absent.
            let signed = match header {
                None => return Err(ApiError::citizen_required()),
                Some(v) if v.is_empty() => return Err(ApiError::citizen_required()),
                Some(v) => v.to_str().map_err(|_| ApiError::citizen_not_found())?,
            };
            match raw {
                Some("me") | None => signed,
                Some(named) if named == signed => signed,
                Some(_) => return Err(ApiError::citizen_not_found()),
            }
        } else {
            match raw {
                Some("me") | None => header
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(ApiError::citizen_not_found)?,
                Some(id) => id,
            }
        };
        self.pop
            .lookup(self.dept.id, id)
            .ok_or_else(ApiError::citizen_not_found)
    }
}

fn query(
    s: &HttpDept,
    matter: &HttpMatter,
    build: matters::QueryFn,
    raw: &str,
    headers: &HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let citizen = s.citizen(Some(raw), headers)?;
    Ok(Json(query_doc(s, matter, build, citizen)))
}

fn query_doc(
    s: &HttpDept,
    matter: &HttpMatter,
    build: matters::QueryFn,
    citizen: &Citizen,
) -> Value {
    document(&s.pop, s.dept.id, matter, build, citizen)
}

/// A query matter's document for `citizen`, as the department answers it:
/// what `build` makes of the matter's [`Doc`], plus `citizen_id`.
fn document(
    pop: &Population,
    dept: &'static str,
    matter: &HttpMatter,
    build: matters::QueryFn,
    citizen: &Citizen,
) -> Value {
    let mut doc = build(&mut Doc::new(pop, dept, matter.id, citizen));
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("citizen_id".into(), json!(citizen.id));
    }
    doc
}

fn submit(
    s: &HttpDept,
    matter: &HttpMatter,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Action::Submit {
        required, handle, ..
    } = matter.action
    else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SIM_BUG",
            "not a submission",
        ));
    };
    let body: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("expected a JSON object: {e}"),
        )
    })?;
    let citizen = s.citizen(named_citizen(&body)?, headers)?;
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| body.get(*f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::unprocessable(
            "MISSING_FIELD",
            format!("missing required field(s): {}", missing.join(", ")),
        ));
    }
    let seq = s.instance.receipts.fetch_add(1, Ordering::Relaxed) + 1;
    let receipt = format!(
        "{}{}{}{seq:05}",
        s.dept.id.to_ascii_uppercase(),
        data::TODAY.compact(),
        s.instance.ordinal
    );
    let mut doc = Doc::new(&s.pop, s.dept.id, matter.id, citizen);
    let answer = handle(&mut doc, &body, &receipt)?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The citizen a submission's body names in `citizen`, if any (null is none).
fn named_citizen(body: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    match body.get("citizen") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.as_str())),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "`citizen` must be a string",
        )),
    }
}

/// A small summary: the scalar fields of every citizen document but the
/// data items' (whose reads the gateway audits route by route).
async fn overview(
    s: Shared,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let citizen = s.citizen(Some(&raw), &headers)?;
    let mut summary = Map::new();
    for matter in matters::matters(s.dept.id) {
        let Action::Query(build) = matter.action else {
            continue;
        };
        if matter.data_item.is_some() {
            continue;
        }
        let doc = query_doc(&s, matter, build, citizen);
        let mut item: Map<String, Value> = doc
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| k.as_str() != "citizen_id" && !v.is_array() && !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        item.insert("matter".into(), json!(matter.name));
        summary.insert(matter.id.into(), Value::Object(item));
    }
    Ok(Json(json!({
        "citizen_id": citizen.id,
        "name": citizen.name,
        "dept": s.dept.id,
        "dept_name": s.dept.name,
        "status": "ok",
        "summary": summary,
    })))
}

/// Reflects what the instance received, for checking what a gateway
/// forwards: `{"instance","method","path","query","headers","citizen",
/// "channel","signature_valid","body_len"}`. `path` and `query` are the
/// request line's, byte for byte (nothing decoded or normalised); header
/// names are lower-case, repeated values joined with `", "`;
/// `signature_valid` is true when the instance checked the gateway's
/// signature and it matched (always, once a signed fleet answers; false
/// when the fleet checks nothing).
async fn echo(s: Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut body_len = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => body_len += bytes.len(),
            Err(e) => return error(StatusCode::BAD_REQUEST, "BODY_READ_FAILED", e.to_string()),
        }
        if body_len > ECHO_BODY_LIMIT {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                "echo reads at most 64 MiB",
            );
        }
    }
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let header = |name: &str| header_map.get(name).cloned();
    // Answer headers a test asks for (to exercise a cache): each
    // `x-sim-respond-<name>` request header becomes `<name>` on the answer.
    let respond: Vec<(axum::http::HeaderName, axum::http::HeaderValue)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-sim-respond-")?;
            Some((
                axum::http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                value.clone(),
            ))
        })
        .collect();
    let mut response = Json(json!({
        "instance": s.instance.id,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": &header_map,
        "citizen": header(CITIZEN_HEADER),
        "channel": header(CHANNEL_HEADER),
        "signature_valid": parts.extensions.get::<Verified>().is_some(),
        "body_len": body_len,
    }))
    .into_response();
    for (name, value) in respond {
        response.headers_mut().append(name, value);
    }
    response
}

/// The department's matters as the manifest lists them, with examples for
/// `example` (a citizen every department knows).
pub(crate) fn manifest_matters(
    dept: &'static Department,
    pop: &Population,
    example: &Citizen,
) -> Vec<MatterManifest> {
    let base = format!("/api/v1/depts/{}", dept.id);
    let mut out: Vec<MatterManifest> = matters::matters(dept.id)
        .iter()
        .map(|m| {
            let path = format!("{base}/{}", m.route);
            let (method, citizen_param, example_body) = match m.action {
                Action::Query(_) => ("GET", Some("citizen".to_owned()), None),
                Action::Public(_) => ("GET", None, None),
                Action::Submit { example: build, .. } => {
                    let mut body = build(&mut Doc::new(pop, dept.id, m.id, example));
                    if let Some(obj) = body.as_object_mut() {
                        obj.insert("citizen".into(), json!(example.id));
                    }
                    ("POST", None, Some(body))
                }
            };
            MatterManifest {
                id: m.id.to_owned(),
                name: m.name.to_owned(),
                description: m.description.to_owned(),
                method: method.to_owned(),
                example: MatterExample {
                    path: path.replace("{citizen}", &example.id),
                    body: example_body,
                },
                path,
                citizen_param,
                streaming: false,
                data_item: m.data_item.map(|item| item.id.to_owned()),
            }
        })
        .collect();
    let overview = format!("{base}/overview/{{citizen}}");
    out.push(MatterManifest {
        id: "overview".into(),
        name: "概览".into(),
        description: format!("{}持有的本人数据摘要", dept.name),
        method: "GET".into(),
        example: MatterExample {
            path: overview.replace("{citizen}", &example.id),
            body: None,
        },
        path: overview,
        citizen_param: Some("citizen".into()),
        streaming: false,
        data_item: None,
    });
    out.push(MatterManifest {
        id: "echo".into(),
        name: "请求回显（调试）".into(),
        description:
            "返回实例收到的方法、原始路径、查询串、请求头、公民、渠道、签名校验结果和请求体长度"
                .into(),
        method: "GET".into(),
        path: format!("{base}/echo"),
        citizen_param: None,
        streaming: false,
        example: MatterExample {
            path: format!("{base}/echo"),
            body: None,
        },
        data_item: None,
    });
    let apply = format!("{base}/applications/{{kind}}");
    out.push(MatterManifest {
        id: "apply".into(),
        name: "提交申请（一件事）".into(),
        description: format!(
            "向{}提交“一件事”中的一项申请（kind 为申请类型）；带 Idempotency-Key 时同一申请只办理一次",
            dept.name
        ),
        method: "POST".into(),
        example: MatterExample {
            path: apply.replace("{kind}", "example"),
            body: Some(json!({ "note": "example", "citizen": example.id })),
        },
        path: apply,
        citizen_param: None,
        streaming: false,
        data_item: None,
    });
    let withdraw = format!("{base}/applications/{{kind}}/{{application}}/withdraw");
    out.push(MatterManifest {
        id: "withdraw".into(),
        name: "撤回申请".into(),
        description: "撤回本人的一项申请（“一件事”失败时回退已办的步骤）".into(),
        method: "POST".into(),
        example: MatterExample {
            path: withdraw
                .replace("{kind}", "example")
                .replace("{application}", "EXAMPLE-example-000001"),
            body: Some(json!({ "citizen": example.id })),
        },
        path: withdraw,
        citizen_param: None,
        streaming: false,
        data_item: None,
    });
    out
}

/// The data items department `dept` holds (its data catalog), each served
/// by one of its matters; empty for departments without any.
pub(crate) fn data_items(dept: &str) -> Vec<DataItemManifest> {
    matters::matters(dept)
        .iter()
        .filter_map(|m| m.data_item)
        .map(|item| item.manifest(dept))
        .collect()
}
