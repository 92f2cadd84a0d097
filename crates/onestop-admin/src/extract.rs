//! axum's extractors with their rejections turned into [`ApiError`]s, so a
//! malformed body, query or path answers in the one JSON error shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body (`400 BAD_REQUEST` when it does not parse).
#[derive(Debug, Clone)]
pub(crate) struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// A JSON request body that may be absent (empty body = `T::default()`).
#[derive(Debug, Clone)]
pub(crate) struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::bad_request(r.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A text body of `content-type: application/toml` or `text/plain` (or
/// none), which must be UTF-8.
#[derive(Debug, Clone)]
pub(crate) struct TomlText(pub String);

impl<S> FromRequest<S> for TomlText
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let essence = ct
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence != "application/toml" && essence != "text/plain" {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "expected `content-type: application/toml` or `text/plain`, not `{essence}`"
                )));
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::bad_request(r.body_text()))?;
        String::from_utf8(bytes.to_vec())
            .map(TomlText)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))
    }
}

/// A query string (`400 BAD_REQUEST` when it does not parse).
#[derive(Debug, Clone)]
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Path parameters (`400 BAD_REQUEST` when one does not parse, e.g. a
/// version that is not a number).
#[derive(Debug, Clone)]
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Largest page of the lists of cases, follow-ups and agreements.
pub(crate) const MAX_LIMIT: u32 = 500;

/// A list's `limit` query parameter: 100 when absent, else 1 to
/// [`MAX_LIMIT`] (`400` otherwise).
pub(crate) fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(100),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}, got {n}"
        ))),
    }
}
