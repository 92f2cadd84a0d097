//! The operators' web console at `/console/` on the admin listener:
//! server-rendered HTML (askama templates, compiled into the binary and
//! escaping by default), SVG charts drawn on the server, one small script
//! for progressive enhancement (every form works without it), and every
//! asset embedded: nothing loads from anywhere but this listener.
//!
//! - [`session`]: sign-in with an operator token → an `HttpOnly`,
//!   `SameSite=Strict` cookie; the token stays on the server; one CSRF
//!   token per session.
//! - [`api`]: every figure the console shows and every change it makes
//!   goes through the `/admin/v1` router in-process, as the signed-in
//!   operator — the same guard (roles, department scope), handlers,
//!   validation and audit trail as a `curl` against the API. The console
//!   hides what the operator may not do (buttons of other roles and of
//!   other departments) but decides nothing: a forged form is refused by
//!   the API.
//! - [`pages`]: the pages and form actions; [`views`] turns API answers
//!   into what the templates show; [`svg`] draws the charts.
//!
//! Every console response carries a Content-Security-Policy of
//! `default-src 'self'` without inline script, `frame-ancestors 'none'`
//! and `Cache-Control: no-store`; every POST must carry the session's
//! CSRF token and, when the browser sends one, an `Origin` of this host.

pub mod api;
mod assets;
mod pages;
pub mod session;
pub mod svg;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onestop_config::ConsoleSettings;
use onestop_store::{Millis, now_ms};

use self::api::{Api, Send};
use self::session::{COOKIE, Session, Sessions};
use crate::AdminState;
use crate::edge::RequestId;

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The largest form the console accepts (a department file).
const MAX_FORM: usize = 2 * 1024 * 1024;

/// The time sessions are measured by (sign-in, age, idleness): the
/// system clock, or one a test moves on.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Millis + std::marker::Send + Sync>);

impl Clock {
    /// The system clock ([`now_ms`]).
    pub fn system() -> Clock {
        Clock(Arc::new(now_ms))
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> Millis + std::marker::Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> Millis {
        (self.0)()
    }
}

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    pub(crate) state: AdminState,
    pub(crate) api: Api,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) clock: Clock,
}

impl Console {
    fn settings(&self) -> ConsoleSettings {
        self.state.config.current().config.gateway.console.clone()
    }

    /// Hours east of UTC of the assessment zone (times are shown in it).
    fn offset(&self) -> i32 {
        self.state
            .config
            .current()
            .config
            .gateway
            .assessment
            .utc_offset_hours
    }
}

/// The console's routes; `api` is the `/admin/v1` router (with its state);
/// sessions are timed by `clock`.
pub fn router(state: AdminState, api: Router, clock: Clock) -> Router {
    let console = Console {
        state,
        api: Api::new(api),
        sessions: Arc::new(Sessions::default()),
        clock,
    };
    let changes = Router::new()
        .route("/console/logout", post(pages::logout))
        .route(
            "/console/registrations/{dept}/{service}/{verdict}",
            post(pages::decide_registration),
        )
        .route("/console/routing/{dept}/edit", post(pages::save_department))
        .route("/console/versions/{v}/rollback", post(pages::rollback))
        .route(
            "/console/agreements/{id}/{verdict}",
            post(pages::decide_agreement),
        )
        .route("/console/followups/{id}/close", post(pages::close_followup))
        .route("/console/cache/purge", post(pages::purge))
        .route("/console/appeals/{id}/{action}", post(pages::appeal_action))
        .route_layer(middleware::from_fn_with_state(console.clone(), csrf));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::dashboard))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/registrations", get(pages::registrations))
        .route("/console/routing", get(pages::routing))
        .route("/console/routing/{dept}/edit", get(pages::edit_department))
        .route("/console/versions", get(pages::versions))
        .route("/console/versions/{v}", get(pages::version))
        .route("/console/zombies", get(pages::zombies))
        .route("/console/sharing", get(pages::sharing))
        .route("/console/cases", get(pages::cases))
        .route("/console/appeals", get(pages::appeals))
        .route("/console/appeals/{id}", get(pages::appeal))
        .route("/console/assessment", get(pages::assessment))
        .route("/console/assessment.csv", get(pages::assessment_csv))
        .route("/console/assessment/print", get(pages::assessment_print))
        .route("/console/audit", get(pages::audit))
        .route("/console/cache", get(pages::cache))
        .route("/console/assets/{file}", get(assets::serve))
        .merge(changes)
        .layer(middleware::from_fn(headers))
        .with_state(console)
}

/// Security headers on every console response.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether a request's `Origin` (when the browser sends one) is this
/// listener, and it does not come from another site.
fn same_origin(parts: &Parts) -> bool {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_ok = match parts.headers.get(header::ORIGIN) {
        None => true,
        Some(o) => {
            let o = o.to_str().unwrap_or("");
            !host.is_empty() && (o == format!("http://{host}") || o == format!("https://{host}"))
        }
    };
    let site_ok = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|s| s.to_str().ok())
        .is_none_or(|s| s == "same-origin" || s == "none");
    origin_ok && site_ok
}

/// A plain-text refusal.
fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

/// Every change: a live session, its CSRF token in the form, and (when
/// the browser says) this origin — checked before the handler runs.
async fn csrf(State(c): State<Console>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if !same_origin(&parts) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the form came from another site",
        );
    }
    let settings = c.settings();
    let session = session::cookie(&parts.headers, COOKIE).and_then(|id| {
        c.sessions.get(
            id,
            c.clock.now(),
            settings.session_ttl,
            settings.idle_timeout,
        )
    });
    let Some(session) = session else {
        return Redirect::to("/console/login").into_response();
    };
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"),
    };
    let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
    let given = match axum::Form::<HashMap<String, String>>::from_request(probe, &()).await {
        Ok(axum::Form(f)) => f.get("_csrf").cloned().unwrap_or_default(),
        Err(_) => String::new(),
    };
    if !session::same_secret(&given, &session.csrf) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the form's CSRF token is missing or not this session's",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The signed-in operator of a request, as the API knows them (checked
/// with `/admin/v1/whoami` on every request, so a token removed from the
/// configuration ends the session at once).
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub roles: Vec<String>,
    /// Departments the operator may change (and sees); empty = all.
    pub departments: Vec<String>,
    pub session_id: String,
    pub session: Session,
    pub request_id: String,
}

impl Operator {
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the console shows `dept`'s things (a department-scoped
    /// operator sees their departments only).
    pub fn sees(&self, dept: &str) -> bool {
        self.departments.is_empty() || self.departments.iter().any(|d| d == dept)
    }

    /// Whether to show a change of `role` on `dept`'s things (the API
    /// decides; this only hides buttons that would be refused).
    pub fn may(&self, role: &str, dept: &str) -> bool {
        self.has(role) && self.sees(dept)
    }

    /// Whether to show a change of `role` on the whole configuration.
    pub fn may_whole(&self, role: &str) -> bool {
        self.has(role) && self.departments.is_empty()
    }

    /// Calls the API as this operator.
    pub async fn call(
        &self,
        c: &Console,
        method: Method,
        path: &str,
        body: Send,
        message: Option<&str>,
    ) -> api::Answer {
        c.api
            .call(
                &self.session.token,
                method,
                path,
                body,
                message,
                &self.request_id,
            )
            .await
    }

    /// GET as this operator.
    pub async fn get(&self, c: &Console, path: &str) -> api::Answer {
        self.call(c, Method::GET, path, Send::None, None).await
    }
}

/// Why there is no operator: go and sign in.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/console/login").into_response()
    }
}

impl FromRequestParts<Console> for Operator {
    type Rejection = SignIn;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        let settings = c.settings();
        let id = session::cookie(&parts.headers, COOKIE)
            .ok_or(SignIn)?
            .to_string();
        let now = c.clock.now();
        c.sessions
            .sweep(now, settings.session_ttl, settings.idle_timeout);
        let session = c
            .sessions
            .get(&id, now, settings.session_ttl, settings.idle_timeout)
            .ok_or(SignIn)?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map_or_else(String::new, |r| r.0.clone());
        let who = c
            .api
            .call(
                &session.token,
                Method::GET,
                "/admin/v1/whoami",
                Send::None,
                None,
                &request_id,
            )
            .await;
        if !who.ok() {
            c.sessions.remove(&id);
            return Err(SignIn);
        }
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Operator {
            name: who.body["name"].as_str().unwrap_or("").to_string(),
            roles: strings(&who.body["roles"]),
            departments: strings(&who.body["departments"]),
            session_id: id,
            session,
            request_id,
        })
    }
}
