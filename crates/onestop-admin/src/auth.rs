//! Operators' authentication, roles and department scope.
//!
//! Every `/admin/v1` route but the OpenAPI document is registered with a
//! [`Policy`] (see `router()`): the [`guard`] middleware runs after routing
//! and before any extractor of the handler, so a caller without valid
//! credentials gets 401 and a caller without the role or scope gets 403
//! before the request body is even read. Refusals on mutating routes are
//! written to the audit trail. On success the guard leaves a [`Ctx`] in the
//! request: who calls, which action, on what target.
//!
//! Operators are read from the running configuration on every request, so
//! a hot reload that adds, removes or changes an operator takes effect at
//! once. Tokens are compared by SHA-256 in constant time, over all
//! operators (no early exit).

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use onestop_config::Role;
use onestop_core::digest::{constant_time_eq, sha256_hex};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::audit;
use crate::edge::RequestId;
use crate::error::{ApiError, ErrorBody};
use crate::events;

/// An authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub roles: Vec<Role>,
    /// Departments the operator may change; empty = all.
    pub departments: Vec<String>,
}

impl Caller {
    /// Whether the operator may change things of department `dept`.
    pub fn may_change(&self, dept: &str) -> bool {
        self.departments.is_empty() || self.departments.iter().any(|d| d == dept)
    }
}

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `None`: any role reads.
    role: Option<Role>,
    /// The audit action of a mutating route (`config.route.put`); `None` for reads.
    action: Option<&'static str>,
    scope: Scope,
}

/// Which department scope a change needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Not department-specific (reads).
    None,
    /// The route's `{dept}` must be within the operator's departments.
    Department,
    /// Changes the whole configuration: operators limited to departments are refused.
    Whole,
}

impl Policy {
    /// Any operator (every role reads).
    pub(crate) const fn read() -> Policy {
        Policy {
            role: None,
            action: None,
            scope: Scope::None,
        }
    }

    /// A read that needs `role` (e.g. listing credentials).
    pub(crate) const fn read_with(role: Role, scope: Scope) -> Policy {
        Policy {
            role: Some(role),
            action: None,
            scope,
        }
    }

    /// A change that needs `role`, audited as `action`.
    pub(crate) const fn change(role: Role, action: &'static str, scope: Scope) -> Policy {
        Policy {
            role: Some(role),
            action: Some(action),
            scope,
        }
    }
}

/// The guard's state: the admin state and the route's policy.
#[derive(Clone)]
pub(crate) struct Guarded {
    pub state: AdminState,
    pub policy: Policy,
}

/// What the guard hands to a handler (request extension).
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub caller: Caller,
    /// The audit action (`None` for reads).
    pub action: Option<&'static str>,
    /// What the request acts on: the path parameters joined by `/`, or
    /// for a route without any the area of its action (`hpf/balance`,
    /// `hpf/7`, `config`, `cache`).
    pub target: String,
    pub request_id: String,
}

impl Ctx {
    /// Records the successful change this request made.
    pub(crate) async fn audit_done(&self, state: &AdminState, detail: serde_json::Value) {
        let action = self.action.unwrap_or("read");
        events::changed(&self.caller.name, action, &self.target);
        let mut detail = detail;
        if let Some(map) = detail.as_object_mut() {
            map.insert("outcome".into(), json!("done"));
            map.insert("request_id".into(), json!(self.request_id));
        }
        audit::append(state, &self.caller.name, action, &self.target, detail).await;
    }
}

impl Ctx {
    /// Records a refusal decided by the handler rather than the guard
    /// (e.g. a department named in the body, outside the operator's
    /// departments), and hands the error back.
    pub(crate) async fn refuse(&self, state: &AdminState, error: ApiError) -> ApiError {
        let action = self.action.unwrap_or("read");
        let status = error.status().as_u16();
        let reason = error.to_string();
        events::refused(
            &self.caller.name,
            self.action,
            &self.target,
            status,
            &reason,
        );
        let detail = json!({
            "outcome": "refused",
            "status": status,
            "reason": reason,
            "request_id": self.request_id,
        });
        audit::append(state, &self.caller.name, action, &self.target, detail).await;
        error
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Fails closed: a handler mounted without the guard answers 500.
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route mounted without the operator guard".into()))
    }
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
}

impl AuthFailure {
    fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing `Authorization: Bearer <token>`",
            AuthFailure::Malformed => "malformed Authorization header: expected `Bearer <token>`",
            AuthFailure::Unknown => "unknown bearer token",
        }
    }
}

/// The bearer token of `headers`.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthFailure::Missing)?;
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    // The console's tokens never hold whitespace: `Bearer a b` is malformed.
    onestop_core::credential::bearer(value)
        .filter(|token| !token.contains(char::is_whitespace))
        .ok_or(AuthFailure::Malformed)
}

/// The operator whose token hash matches `token`.
pub(crate) fn authenticate(
    operators: &[onestop_config::Operator],
    headers: &HeaderMap,
) -> Result<Caller, AuthFailure> {
    let token = bearer(headers)?;
    let hash = sha256_hex(token.as_bytes());
    let mut found = None;
    for op in operators {
        let stored = op.token_sha256.get_ref().to_ascii_lowercase();
        if constant_time_eq(stored.as_bytes(), hash.as_bytes()) && found.is_none() {
            found = Some(op);
        }
    }
    let op = found.ok_or(AuthFailure::Unknown)?;
    let mut roles = op.roles.clone();
    roles.sort();
    roles.dedup();
    Ok(Caller {
        name: op.name.get_ref().clone(),
        roles,
        departments: op.departments.iter().map(|d| d.get_ref().clone()).collect(),
    })
}

/// The snake_case name of a role.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Editor => "editor",
        Role::Approver => "approver",
    }
}

/// Authenticates and authorises a request against the route's [`Policy`].
pub(crate) async fn guard(
    State(g): State<Guarded>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let policy = g.policy;
    let params: Vec<(String, String)> = match &params {
        Ok(p) => p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let target = if params.is_empty() {
        // The area the action changes (`config`, `cache`); reads say `config`.
        policy
            .action
            .and_then(|a| a.split_once('.'))
            .map_or("config", |(area, _)| area)
            .to_string()
    } else {
        params
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("/")
    };
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or_else(String::new, |r| r.0.clone());
    let refusal = Refusal {
        state: &g.state,
        action: policy.action,
        target: &target,
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        request_id: &request_id,
    };

    let operators = g.state.config.current().config.gateway.operators.clone();
    let caller = match authenticate(&operators, request.headers()) {
        Ok(c) => c,
        Err(failure) => {
            return refusal
                .refuse("-", ApiError::Unauthenticated(failure.message().into()))
                .await;
        }
    };
    let allowed = match policy.role {
        None => !caller.roles.is_empty(),
        Some(role) => caller.roles.contains(&role),
    };
    if !allowed {
        let need = policy.role.map_or("any role", role_name);
        let message = format!(
            "operator `{}` lacks the role this needs ({need})",
            caller.name
        );
        return refusal
            .refuse(&caller.name, ApiError::Forbidden(message))
            .await;
    }
    match policy.scope {
        Scope::None => {}
        Scope::Department => {
            let dept = params
                .iter()
                .find(|(k, _)| k == "dept")
                .map_or("", |(_, v)| v.as_str());
            if !caller.may_change(dept) {
                let message = format!(
                    "operator `{}` may change only departments {}",
                    caller.name,
                    caller.departments.join(", ")
                );
                return refusal
                    .refuse(&caller.name, ApiError::Forbidden(message))
                    .await;
            }
        }
        Scope::Whole => {
            if !caller.departments.is_empty() {
                let message = format!(
                    "operator `{}` is limited to departments {} and may not change the whole configuration",
                    caller.name,
                    caller.departments.join(", ")
                );
                return refusal
                    .refuse(&caller.name, ApiError::Forbidden(message))
                    .await;
            }
        }
    }
    if let Err(e) = params_ok(&params) {
        return e.into_response();
    }
    request.extensions_mut().insert(Ctx {
        caller,
        action: policy.action,
        target,
        request_id,
    });
    next.run(request).await
}

/// The calling operator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Whoami {
    pub name: String,
    /// `viewer`, `editor`, `approver`.
    pub roles: Vec<String>,
    /// Departments the operator may change; empty = all.
    pub departments: Vec<String>,
}

/// Who the bearer token belongs to.
#[utoipa::path(
    get,
    path = "/admin/v1/whoami",
    tag = "operators",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Whoami),
        (status = 401, body = ErrorBody),
    )
)]
pub(crate) async fn whoami(ctx: Ctx) -> axum::Json<Whoami> {
    let c = ctx.caller;
    axum::Json(Whoami {
        name: c.name,
        roles: c.roles.iter().map(|r| role_name(*r).to_string()).collect(),
        departments: c.departments,
    })
}

/// A request the guard turns away, and how to record it.
struct Refusal<'a> {
    state: &'a AdminState,
    action: Option<&'static str>,
    target: &'a str,
    method: String,
    path: String,
    request_id: &'a str,
}

impl Refusal<'_> {
    /// Logs the refusal, audits it on a mutating route, and answers.
    async fn refuse(&self, operator: &str, error: ApiError) -> Response {
        let status = error.status().as_u16();
        let reason = error.to_string();
        events::refused(operator, self.action, self.target, status, &reason);
        if let Some(action) = self.action {
            let detail = json!({
                "outcome": "refused",
                "status": status,
                "reason": reason,
                "method": self.method,
                "path": self.path,
                "request_id": self.request_id,
            });
            audit::append(self.state, operator, action, self.target, detail).await;
        }
        error.into_response()
    }
}

/// Path parameters that name departments must be identifiers.
fn params_ok(params: &[(String, String)]) -> Result<(), ApiError> {
    for (k, v) in params {
        if k == "dept" && !is_ident(v) {
            return Err(ApiError::bad_request(format!(
                "department id `{v}` must be 1-32 characters of a-z, 0-9 and -"
            )));
        }
    }
    Ok(())
}

/// 1-32 characters of `a-z`, `0-9` and `-` (department ids).
pub(crate) fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    /// An operator as the gateway file declares it (parsed and validated).
    fn op(name: &str, token: &str, roles: &[Role]) -> onestop_config::Operator {
        let roles: Vec<String> = roles
            .iter()
            .map(|r| format!("\"{}\"", role_name(*r)))
            .collect();
        let text = format!(
            "[[operators]]\nname = \"{name}\"\nroles = [{}]\ntoken_sha256 = \"{}\"\n",
            roles.join(", "),
            sha256_hex(token.as_bytes()),
        );
        let source = onestop_config::Source::new("onestop.toml", text);
        let config = onestop_config::parse_sources(Some(source), Vec::new()).unwrap();
        config.gateway.operators.into_iter().next().unwrap()
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn matches_tokens_by_hash_and_reports_why_not() {
        let ops = vec![
            op("alice", "tok-a", &[Role::Viewer]),
            op("bob", "tok-b", &[Role::Approver, Role::Editor]),
        ];
        let bob = authenticate(&ops, &headers("Bearer tok-b"));
        assert_eq!(
            bob,
            Ok(Caller {
                name: "bob".into(),
                roles: vec![Role::Editor, Role::Approver],
                departments: vec![],
            })
        );
        assert_eq!(
            authenticate(&ops, &headers("bearer tok-a")).map(|c| c.name),
            Ok("alice".into())
        );
        assert_eq!(
            authenticate(&ops, &HeaderMap::new()),
            Err(AuthFailure::Missing)
        );
        for bad in ["Basic dG9rLWE=", "Bearer", "Bearer ", "tok-a", "Bearer a b"] {
            assert_eq!(
                authenticate(&ops, &headers(bad)),
                Err(AuthFailure::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            authenticate(&ops, &headers("Bearer tok-c")),
            Err(AuthFailure::Unknown)
        );
    }

    #[test]
    fn scope_limits_departments() {
        let c = Caller {
            name: "x".into(),
            roles: vec![Role::Editor],
            departments: vec!["hpf".into()],
        };
        assert!(c.may_change("hpf"));
        assert!(!c.may_change("tax"));
        let all = Caller {
            departments: vec![],
            ..c
        };
        assert!(all.may_change("tax"));
    }
}
