//! Applications (申请): the steps of a composite matter (一件事一次办). Every
//! HTTP department takes applications of any kind and lets their citizen
//! withdraw them, idempotently, and keeps a ledger that tests read through
//! the control API to count what really executed, and in which order.
//!
//! | route | answers |
//! |---|---|
//! | `POST {base}/applications/{kind}` | 201 `{"application_id","kind","dept","citizen_id","status":"accepted","received","seq"}`; 422 `APPLICATION_REJECTED` when the department rejects `kind` |
//! | `POST {base}/applications/{kind}/{id}/withdraw` | 200 `{"application_id","status":"withdrawn","seq"}`; 404 `APPLICATION_NOT_FOUND` (unknown id, another kind, another citizen's); 409 `ALREADY_WITHDRAWN` |
//!
//! `base` is `/api/v1/depts/{dept}`. An application's body is a JSON object
//! (400 `INVALID_BODY` otherwise) whose optional `citizen` names the citizen
//! as in submissions; `received` is the body without it. A withdrawal's body
//! is empty or such an object. `kind` is 1–64 of `[a-z0-9-]` (400
//! `INVALID_KIND`). Ids are `{DEPT}-{kind}-{n:06}`, `n` counting the
//! department's applications; `seq` is a fleet-wide event number (one
//! counter for all departments), so the order of events can be compared
//! across departments.
//!
//! With an `Idempotency-Key` header (1–200 visible ASCII characters, 400
//! `INVALID_IDEMPOTENCY_KEY` otherwise), the department — all its instances:
//! one database — executes the first request with that key and stores its
//! answer (status and body, refusals included); every later request with
//! the key gets that answer again, byte for byte, with
//! `idempotent-replayed: true`, and executes nothing. Concurrent requests
//! with one key wait for the one that executes. The same key on another
//! request (method, path, body bytes or `x-onestop-citizen`) is 422
//! `IDEMPOTENCY_KEY_REUSED`. Requests refused before executing (a bad key,
//! kind or body, an unknown or missing citizen) store nothing. Keys are
//! kept for the fleet's lifetime.
//!
//! Execution happens in the handler, behind the fault middleware: a client
//! that hangs up during `latency_ms` drops the request before it executes.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{ApiError, CITIZEN_HEADER, HttpDept, named_citizen};

/// The request header naming an idempotent request.
pub(crate) const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The answer header of a stored answer given again.
pub(crate) const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest `Idempotency-Key`.
const MAX_KEY_LEN: usize = 200;
/// Longest application kind.
const MAX_KIND_LEN: usize = 64;

/// The fleet-wide event counter: every application and withdrawal, in any
/// department, takes the next number.
#[derive(Debug, Default)]
pub(crate) struct Sequence(AtomicU64);

impl Sequence {
    fn next(&self) -> u64 {
        // A read-modify-write always sees the latest value: numbers are
        // unique and follow the order in which events happen.
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One department's applications and idempotency keys, shared by all its
/// instances.
#[derive(Debug)]
pub(crate) struct Ledger {
    dept: &'static str,
    events: Arc<Sequence>,
    book: Mutex<Book>,
    keys: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Debug, Default)]
struct Book {
    /// In applied order.
    applications: Vec<Application>,
    /// Application id → index in `applications`.
    index: HashMap<String, usize>,
    reject: BTreeSet<String>,
    executions: Executions,
    replays: u64,
    /// How many times a request under each key executed (1, always).
    per_key: HashMap<String, u64>,
}

/// One application as the control API reports it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Application {
    pub id: String,
    pub kind: String,
    pub citizen: String,
    pub status: Status,
    pub applied_seq: u64,
    pub withdrawn_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Accepted,
    Withdrawn,
}

/// What executed: applications accepted, withdrawals done, applications
/// rejected (refusals of a withdrawal — unknown, already withdrawn — change
/// nothing and are not counted).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Executions {
    pub apply: u64,
    pub withdraw: u64,
    pub rejected: u64,
}

/// `GET /fleet/departments/{dept}/applications`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LedgerReport {
    pub dept: &'static str,
    pub applications: Vec<Application>,
    pub executions: Executions,
    /// Requests answered with a stored answer.
    pub replays: u64,
    /// Most executions under one key (0 without keys; 1 unless broken).
    pub max_executions_per_key: u64,
    /// Distinct keys that executed.
    pub keys: usize,
    /// Kinds the department rejects, sorted.
    pub reject: Vec<String>,
}

/// The answer stored under a key.
#[derive(Debug, Clone)]
struct Stored {
    status: StatusCode,
    body: Bytes,
}

impl Stored {
    fn json(status: StatusCode, body: &Value) -> Stored {
        Stored {
            status,
            body: Bytes::from(body.to_string()),
        }
    }

    fn error(error: &ApiError) -> Stored {
        Stored::json(error.status, &error.body())
    }

    fn response(&self, replayed: bool) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body.clone(),
        )
            .into_response();
        if replayed {
            response
                .headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        response
    }
}

/// A key's request (its fingerprint) and, once executed, its answer.
#[derive(Debug)]
struct Slot {
    fingerprint: [u8; 32],
    answer: OnceCell<Stored>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ledger {
    pub fn new(dept: &'static str, events: Arc<Sequence>) -> Ledger {
        Ledger {
            dept,
            events,
            book: Mutex::new(Book::default()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub fn dept(&self) -> &'static str {
        self.dept
    }

    pub fn report(&self) -> LedgerReport {
        let book = lock(&self.book);
        LedgerReport {
            dept: self.dept,
            applications: book.applications.clone(),
            executions: book.executions,
            replays: book.replays,
            max_executions_per_key: book.per_key.values().copied().max().unwrap_or(0),
            keys: book.per_key.len(),
            reject: book.reject.iter().cloned().collect(),
        }
    }

    /// Replaces the kinds the department rejects; answers the kinds that
    /// are not valid kinds (and changes nothing) when there are any.
    pub fn set_reject(&self, kinds: Vec<String>) -> Result<(), Vec<String>> {
        let invalid: Vec<String> = kinds
            .iter()
            .filter(|k| check_kind(k).is_err())
            .cloned()
            .collect();
        if !invalid.is_empty() {
            return Err(invalid);
        }
        lock(&self.book).reject = kinds.into_iter().collect();
        Ok(())
    }

    /// Runs `execute` once per key: without a key, always; with one, only
    /// for its first request, whose answer every later one gets again.
    async fn once(
        &self,
        key: Option<String>,
        fingerprint: [u8; 32],
        execute: impl FnOnce(&Ledger, &mut Book) -> Stored,
    ) -> Response {
        let Some(key) = key else {
            return execute(self, &mut lock(&self.book)).response(false);
        };
        let slot = {
            let mut keys = lock(&self.keys);
            Arc::clone(keys.entry(key.clone()).or_insert_with(|| {
                Arc::new(Slot {
                    fingerprint,
                    answer: OnceCell::new(),
                })
            }))
        };
        if slot.fingerprint != fingerprint {
            return ApiError::unprocessable(
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used for another request",
            )
            .into_response();
        }
        let mut executed = false;
        let stored = slot
            .answer
            .get_or_init(|| async {
                executed = true;
                // No await from here on: once started, an execution
                // completes and stores its answer, even if its client
                // hangs up.
                let mut book = lock(&self.book);
                *book.per_key.entry(key).or_default() += 1;
                execute(self, &mut book)
            })
            .await;
        if !executed {
            lock(&self.book).replays += 1;
        }
        stored.response(!executed)
    }

    fn apply(
        &self,
        book: &mut Book,
        kind: &str,
        citizen: &str,
        received: Map<String, Value>,
    ) -> Stored {
        if book.reject.contains(kind) {
            book.executions.rejected += 1;
            return Stored::error(&ApiError::unprocessable(
                "APPLICATION_REJECTED",
                format!(
                    "{} does not accept applications of kind {kind:?}",
                    self.dept
                ),
            ));
        }
        let id = format!(
            "{}-{kind}-{:06}",
            self.dept.to_ascii_uppercase(),
            book.applications.len() + 1
        );
        let seq = self.events.next();
        book.index.insert(id.clone(), book.applications.len());
        book.applications.push(Application {
            id: id.clone(),
            kind: kind.to_owned(),
            citizen: citizen.to_owned(),
            status: Status::Accepted,
            applied_seq: seq,
            withdrawn_seq: None,
        });
        book.executions.apply += 1;
        Stored::json(
            StatusCode::CREATED,
            &json!({
                "application_id": id,
                "kind": kind,
                "dept": self.dept,
                "citizen_id": citizen,
                "status": Status::Accepted,
                "received": received,
                "seq": seq,
            }),
        )
    }

    fn withdraw(&self, book: &mut Book, kind: &str, id: &str, citizen: &str) -> Stored {
        let found = book.index.get(id).copied().filter(|&i| {
            book.applications[i].kind == kind && book.applications[i].citizen == citizen
        });
        let Some(i) = found else {
            // One answer whatever the reason: it tells nobody whose it is.
            return Stored::error(&ApiError::new(
                StatusCode::NOT_FOUND,
                "APPLICATION_NOT_FOUND",
                format!("no application {id:?} of kind {kind:?} for this citizen"),
            ));
        };
        let application = &mut book.applications[i];
        if application.status == Status::Withdrawn {
            return Stored::error(&ApiError::new(
                StatusCode::CONFLICT,
                "ALREADY_WITHDRAWN",
                format!("application {id:?} is already withdrawn"),
            ));
        }
        let seq = self.events.next();
        application.status = Status::Withdrawn;
        application.withdrawn_seq = Some(seq);
        book.executions.withdraw += 1;
        Stored::json(
            StatusCode::OK,
            &json!({ "application_id": id, "status": Status::Withdrawn, "seq": seq }),
        )
    }
}

/// `POST {base}/applications/{kind}`.
pub(super) async fn apply(
    State(s): State<Arc<HttpDept>>,
    Path(kind): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = (|| {
        let key = idempotency_key(&headers)?;
        check_kind(&kind)?;
        let mut fields = object(&body)?;
        let citizen = s.citizen(named_citizen(&fields)?, &headers)?.id.clone();
        fields.remove("citizen");
        Ok::<_, ApiError>((key, citizen, fields))
    })();
    let (key, citizen, received) = match checked {
        Ok(checked) => checked,
        Err(e) => return e.into_response(),
    };
    let fingerprint = fingerprint(&method, &uri, &headers, &body);
    s.ledger
        .once(key, fingerprint, |ledger, book| {
            ledger.apply(book, &kind, &citizen, received)
        })
        .await
}

/// `POST {base}/applications/{kind}/{id}/withdraw`.
pub(super) async fn withdraw(
    State(s): State<Arc<HttpDept>>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = (|| {
        let key = idempotency_key(&headers)?;
        check_kind(&kind)?;
        let fields = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            object(&body)?
        };
        let citizen = s.citizen(named_citizen(&fields)?, &headers)?.id.clone();
        Ok::<_, ApiError>((key, citizen))
    })();
    let (key, citizen) = match checked {
        Ok(checked) => checked,
        Err(e) => return e.into_response(),
    };
    let fingerprint = fingerprint(&method, &uri, &headers, &body);
    s.ledger
        .once(key, fingerprint, |ledger, book| {
            ledger.withdraw(book, &kind, &id, &citizen)
        })
        .await
}

/// The `Idempotency-Key`, if any: one header of 1–200 visible ASCII
/// characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=MAX_KEY_LEN).contains(&bytes.len())
        && bytes.iter().all(u8::is_ascii_graphic);
    if !valid {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            format!(
                "Idempotency-Key must be one header of 1 to {MAX_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// A kind is 1–64 characters of `[a-z0-9-]`.
fn check_kind(kind: &str) -> Result<(), ApiError> {
    let valid = (1..=MAX_KIND_LEN).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_KIND",
            format!("an application kind is 1 to {MAX_KIND_LEN} characters of [a-z0-9-]"),
        ))
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("expected a JSON object: {e}"),
        )
    })
}

/// What makes two requests under one key the same request: method, path
/// and query, the citizen header and the body bytes.
fn fingerprint(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> [u8; 32] {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str());
    let citizen = headers
        .get(CITIZEN_HEADER)
        .map_or(&[][..], HeaderValue::as_bytes);
    let mut hash = Sha256::new();
    for part in [method.as_str().as_bytes(), target.as_bytes(), citizen] {
        // Length-prefixed: no two splits of the same bytes collide.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(body);
    hash.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_keys_are_checked() {
        assert!(check_kind("permit-2").is_ok());
        assert!(check_kind(&"a".repeat(64)).is_ok());
        for bad in ["", "Permit", "a_b", "a/b", "证照", &"a".repeat(65)] {
            assert_eq!(check_kind(bad).unwrap_err().code, "INVALID_KIND", "{bad}");
        }
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(IDEMPOTENCY_HEADER, HeaderValue::from_str(v).unwrap());
            }
            idempotency_key(&headers)
        };
        assert_eq!(with(&[]).unwrap(), None);
        assert_eq!(
            with(&["case-1:step-2"]).unwrap().as_deref(),
            Some("case-1:step-2")
        );
        assert!(with(&[&"k".repeat(200)]).is_ok());
        for bad in [
            vec!["".to_owned()],
            vec!["a b".to_owned()],
            vec!["k".repeat(201)],
            vec!["a".to_owned(), "b".to_owned()],
        ] {
            let refs: Vec<&str> = bad.iter().map(String::as_str).collect();
            assert_eq!(
                with(&refs).unwrap_err().code,
                "INVALID_IDEMPOTENCY_KEY",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let uri: Uri = "/api/v1/depts/hpf/applications/a".parse().unwrap();
        let other: Uri = "/api/v1/depts/hpf/applications/b".parse().unwrap();
        let none = HeaderMap::new();
        let mut someone = HeaderMap::new();
        someone.insert(CITIZEN_HEADER, HeaderValue::from_static("110"));
        let base = fingerprint(&Method::POST, &uri, &none, b"{}");
        assert_eq!(base, fingerprint(&Method::POST, &uri, &none, b"{}"));
        assert_ne!(base, fingerprint(&Method::PUT, &uri, &none, b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, &other, &none, b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, &uri, &someone, b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, &uri, &none, b"{ }"));
    }
}
