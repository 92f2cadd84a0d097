//! The console's pages and form actions. Every read and every change goes
//! through the admin API in-process as the signed-in operator
//! ([`Operator::call`]); refusals and validation problems are the API's,
//! shown with its status.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use super::api::{Answer, Send};
use super::session::{self, COOKIE, LOGIN_COOKIE};
use super::svg::{self, Bar, Line, Unit};
use super::views::*;
use super::{Console, Operator};
use onestop_assessment::Month;
use onestop_store::now_ms;

/// A rendered page (or a plain 500 when a template fails, which a test
/// would catch).
fn page<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}"),
        )
            .into_response(),
    }
}

fn ok<T: Template>(t: &T) -> Response {
    page(StatusCode::OK, t)
}

/// The API's refusal or failure, shown with its status.
fn failed(op: &Operator, here: &'static str, answer: &Answer, back: &str) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if answer.status == 401 {
        return Redirect::to("/console/login").into_response();
    }
    page(
        status,
        &ErrorPage {
            nav: Nav::new(op, here),
            status: answer.status,
            message: answer.message(),
            back: back.to_string(),
        },
    )
}

fn after(path: &str, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

/// `?done=` (the outcome of the action that led here).
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

// ----- sign-in ---------------------------------------------------------------

pub async fn login_form(State(c): State<Console>) -> Response {
    login_page(&c, None, StatusCode::OK)
}

fn login_page(c: &Console, error: Option<String>, status: StatusCode) -> Response {
    let token = session::random_token();
    let mut r = page(
        status,
        &LoginPage {
            error,
            login_token: token.clone(),
        },
    );
    let secure = c.settings().secure_cookie;
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            LOGIN_COOKIE,
            &token,
            std::time::Duration::from_secs(600),
            secure,
        ),
    );
    r
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(rename = "_login")]
    login: String,
}

/// Signs in: the token must be an operator's (asked of the API's
/// `whoami`); the session cookie carries a random id, never the token.
pub async fn login(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    let origin_ok = headers.get(header::ORIGIN).is_none_or(|o| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let o = o.to_str().unwrap_or("");
        o == format!("http://{host}") || o == format!("https://{host}")
    });
    if !origin_ok || !session::same_secret(&f.login, expected) {
        return login_page(
            &c,
            Some("登录表单已过期，请重试。The sign-in form expired; try again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let token = f.token.trim().to_string();
    if token.is_empty() {
        return login_page(
            &c,
            Some("请输入操作员令牌。Enter an operator token.".into()),
            StatusCode::BAD_REQUEST,
        );
    }
    let who = c
        .api
        .call(
            &token,
            Method::GET,
            "/admin/v1/whoami",
            Send::None,
            None,
            "",
        )
        .await;
    if !who.ok() {
        return login_page(
            &c,
            Some(format!("令牌无效。{}", who.message())),
            StatusCode::UNAUTHORIZED,
        );
    }
    let settings = c.settings();
    let (id, _) = c.sessions.create(token, c.clock.now());
    let mut r = Redirect::to("/console/").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(COOKIE, &id, settings.session_ttl, settings.secure_cookie),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(
            LOGIN_COOKIE,
            "",
            std::time::Duration::ZERO,
            settings.secure_cookie,
        ),
    );
    r
}

/// Signs out: the session ends on the server and the cookie is cleared.
pub async fn logout(State(c): State<Console>, headers: HeaderMap) -> Response {
    if let Some(id) = session::cookie(&headers, COOKIE) {
        c.sessions.remove(id);
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            COOKIE,
            "",
            std::time::Duration::ZERO,
            c.settings().secure_cookie,
        ),
    );
    r
}

// ----- dashboard -------------------------------------------------------------

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Requests, errors and p99 per department over the last hour and day.
pub async fn dashboard(State(c): State<Console>, op: Operator) -> Response {
    let hour = op.get(&c, "/admin/v1/traffic?window=1h").await;
    if !hour.ok() {
        return failed(&op, "dashboard", &hour, "/console/");
    }
    let day = op.get(&c, "/admin/v1/traffic?window=24h").await;
    if !day.ok() {
        return failed(&op, "dashboard", &day, "/console/");
    }
    let offset = c.offset();
    let kpis = [("hour", &hour, "近 1 小时"), ("day", &day, "近 24 小时")]
        .iter()
        .flat_map(|(key, a, label)| {
            let p = &a.body["platform"];
            [
                Kpi {
                    id: format!("requests-{key}"),
                    label: format!("{label} 请求数"),
                    value: num(&p["requests"]).to_string(),
                },
                Kpi {
                    id: format!("errors-{key}"),
                    label: format!("{label} 5xx 错误"),
                    value: num(&p["errors"]).to_string(),
                },
                Kpi {
                    id: format!("availability-{key}"),
                    label: format!("{label} 可用率"),
                    value: pct(opt(&p["availability"])),
                },
                Kpi {
                    id: format!("p99-{key}"),
                    label: format!("{label} p99 时延"),
                    value: ms(opt(&p["p99_ms"])),
                },
            ]
        })
        .collect();
    let depts = |a: &Answer| -> Vec<Value> {
        a.body["departments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let bars_of = |rows: &[Value], key: &str, f: &dyn Fn(&Value) -> Option<f64>| -> Vec<Bar> {
        let _ = key;
        rows.iter()
            .take(12)
            .map(|d| Bar {
                label: s(&d["name"]),
                value: f(d),
            })
            .collect()
    };
    let charts = |a: &Answer, span_label: &str, clock_fmt: bool| -> Vec<String> {
        let rows = depts(a);
        let series = a.body["platform"]["series"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let x = |p: &Value| {
            let t = num(&p["start_ms"]);
            if clock_fmt {
                clock(t, offset)
            } else {
                time(t, offset)[11..].to_string()
            }
        };
        vec![
            svg::lines(
                &format!("全平台请求与错误（{span_label}）"),
                &[
                    Line {
                        label: "请求 requests".into(),
                        points: series
                            .iter()
                            .map(|p| (x(p), Some(num(&p["requests"]) as f64)))
                            .collect(),
                    },
                    Line {
                        label: "5xx 错误 errors".into(),
                        points: series
                            .iter()
                            .map(|p| (x(p), Some(num(&p["errors"]) as f64)))
                            .collect(),
                    },
                ],
                Unit::Count,
            ),
            svg::bars(
                &format!("各部门请求数（{span_label}）"),
                &bars_of(&rows, "requests", &|d| Some(num(&d["requests"]) as f64)),
                Unit::Count,
                false,
            ),
            svg::bars(
                &format!("各部门 5xx 错误（{span_label}）"),
                &bars_of(&rows, "errors", &|d| Some(num(&d["errors"]) as f64)),
                Unit::Count,
                true,
            ),
            svg::bars(
                &format!("各部门 p99 时延（{span_label}）"),
                &bars_of(&rows, "p99", &|d| opt(&d["p99_ms"])),
                Unit::Millis,
                false,
            ),
        ]
    };
    let day_rows: BTreeMap<String, Value> = depts(&day)
        .into_iter()
        .map(|d| (s(&d["dept"]), d))
        .collect();
    let hour_rows: BTreeMap<String, Value> = depts(&hour)
        .into_iter()
        .map(|d| (s(&d["dept"]), d))
        .collect();
    let mut rows: Vec<TrafficRow> = day_rows
        .iter()
        .map(|(id, d)| {
            let h = hour_rows.get(id).cloned().unwrap_or(Value::Null);
            TrafficRow {
                dept: id.clone(),
                name: s(&d["name"]),
                requests_hour: num(&h["requests"]).to_string(),
                errors_hour: num(&h["errors"]).to_string(),
                p99_hour: ms(opt(&h["p99_ms"])),
                requests_day: num(&d["requests"]).to_string(),
                errors_day: num(&d["errors"]).to_string(),
                p99_day: ms(opt(&d["p99_ms"])),
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.requests_day.parse::<i64>().unwrap_or(0)));
    ok(&DashboardPage {
        nav: Nav::new(&op, "dashboard"),
        kpis,
        charts_hour: charts(&hour, "近 1 小时，每分钟", true),
        charts_day: charts(&day, "近 24 小时，每小时", false),
        rows,
    })
}

// ----- registrations -----------------------------------------------------

/// The public surface of a spec as JSON lines: protocol, routes and the
/// descriptor set's size (what an approval is about).
fn surface_text(spec: &Value) -> String {
    if spec.is_null() {
        return String::new();
    }
    let descriptor = spec["descriptor_set"]
        .as_str()
        .map(|b| format!("{} bytes (base64)", b.len()));
    let surface = json!({
        "protocol": spec["protocol"],
        "routes": spec["routes"],
        "descriptor_set": descriptor,
    });
    serde_json::to_string_pretty(&surface).unwrap_or_default()
}

/// A unified line diff.
fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(3) {
        out.push(DiffLine {
            class: "hunk",
            text: "@@".into(),
        });
        for op in group {
            for change in diff.iter_changes(&op) {
                let (class, sign) = match change.tag() {
                    ChangeTag::Delete => ("del", '-'),
                    ChangeTag::Insert => ("add", '+'),
                    ChangeTag::Equal => ("", ' '),
                };
                out.push(DiffLine {
                    class,
                    text: format!("{sign}{}", change.value().trim_end_matches('\n')),
                });
            }
        }
    }
    out
}

/// Registrations waiting for a decision, with their public surface's
/// diff against the approved one.
pub async fn registrations(
    State(c): State<Console>,
    op: Operator,
    Query(d): Query<Done>,
) -> Response {
    let pending = op
        .get(&c, "/admin/v1/registry/services?status=pending")
        .await;
    if !pending.ok() {
        return failed(&op, "registrations", &pending, "/console/");
    }
    let offset = c.offset();
    let rows = pending.body["services"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|v| op.sees(&s(&v["dept"])))
        .map(|v| {
            let dept = s(&v["dept"]);
            Registration {
                may_decide: op.may("approver", &dept),
                service: s(&v["service"]),
                revision: s(&v["revision"]),
                changes: s(&v["changes"]),
                updated: time(num(&v["updated_at"]), offset),
                instances: v["instances"].as_array().map_or(0, Vec::len).to_string(),
                diff: diff_lines(
                    &surface_text(&v["approved_spec"]),
                    &surface_text(&v["spec"]),
                ),
                dept,
            }
        })
        .collect();
    let decisions = op.get(&c, "/admin/v1/registry/decisions?limit=20").await;
    let decisions = decisions.body["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|v| op.sees(&s(&v["dept"])))
        .map(|v| Decision {
            at: time(num(&v["at"]), offset),
            dept: s(&v["dept"]),
            service: s(&v["service"]),
            revision: s(&v["revision"]),
            verdict: s(&v["verdict"]),
            operator: s(&v["operator"]),
            reason: s(&v["reason"]),
        })
        .collect();
    ok(&RegistrationsPage {
        nav: Nav::new(&op, "registrations"),
        flash: flash(d.done.as_deref()),
        pending: rows,
        decisions,
    })
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    revision: i64,
    #[serde(default)]
    reason: String,
}

pub async fn decide_registration(
    State(c): State<Console>,
    op: Operator,
    Path((dept, service, verdict)): Path<(String, String, String)>,
    Form(f): Form<DecisionForm>,
) -> Response {
    let (action, done) = match verdict.as_str() {
        "approve" => ("approve", "approved"),
        "reject" => ("reject", "rejected"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let reason = if f.reason.trim().is_empty() {
        format!("{action} via console")
    } else {
        f.reason.trim().to_string()
    };
    let path = format!(
        "/admin/v1/registry/services/{}/{}/{action}",
        enc(&dept),
        enc(&service)
    );
    let answer = op
        .call(
            &c,
            Method::POST,
            &path,
            Send::Json(json!({"revision": f.revision, "reason": reason})),
            Some(&format!("console: {action} {dept}/{service}")),
        )
        .await;
    if !answer.ok() {
        return failed(&op, "registrations", &answer, "/console/registrations");
    }
    after("/console/registrations", done)
}

/// Percent-encodes a path segment (ids are checked by the API; this only
/// keeps a stray `/` or `?` from changing the path).
fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ----- routing -----------------------------------------------------------

/// Departments with their services, instances (and health) and routes:
/// from the running configuration's files and the registry.
pub async fn routing(State(c): State<Console>, op: Operator, Query(d): Query<Done>) -> Response {
    let status = op.get(&c, "/admin/v1/config/status").await;
    if !status.ok() {
        return failed(&op, "routing", &status, "/console/");
    }
    let upstreams = op.get(&c, "/admin/v1/upstreams").await;
    let registered = op.get(&c, "/admin/v1/registry/services").await;
    let mut health: BTreeMap<(String, String), Vec<Instance>> = BTreeMap::new();
    for i in upstreams.body["instances"].as_array().into_iter().flatten() {
        health
            .entry((s(&i["dept"]), s(&i["service"])))
            .or_default()
            .push(Instance {
                addr: s(&i["addr"]),
                up: i["up"].as_bool().unwrap_or(false),
            });
    }
    let snap = c.state.config.current();
    let mut departments: Vec<DeptRouting> = Vec::new();
    for d in &snap.config.departments {
        let id = d.file.department.id.get_ref().clone();
        if !op.sees(&id) {
            continue;
        }
        let mut services: Vec<ServiceRow> = d
            .file
            .services
            .iter()
            .map(|svc| {
                let sid = svc.id.get_ref().clone();
                ServiceRow {
                    instances: health
                        .remove(&(id.clone(), sid.clone()))
                        .unwrap_or_default(),
                    service: sid,
                    source: "配置文件 config".into(),
                    protocol: format!("{:?}", svc.protocol).to_lowercase(),
                }
            })
            .collect();
        let mut routes: Vec<RouteRow> = d
            .file
            .routes
            .iter()
            .map(|r| RouteRow {
                id: r.id.get_ref().clone(),
                matcher: r
                    .path
                    .as_ref()
                    .map(|p| format!("path {}", p.get_ref()))
                    .or_else(|| {
                        r.template
                            .as_ref()
                            .map(|p| format!("template {}", p.get_ref()))
                    })
                    .or_else(|| r.prefix.as_ref().map(|p| format!("prefix {}", p.get_ref())))
                    .unwrap_or_default(),
                methods: if r.methods.is_empty() {
                    "*".into()
                } else {
                    r.methods.join(",")
                },
                service: r
                    .service
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_else(|| "split".into()),
                auth: format!("{:?}", r.auth).to_lowercase(),
                source: "配置文件".into(),
            })
            .collect();
        for v in registered.body["services"].as_array().into_iter().flatten() {
            if s(&v["dept"]) != id || v["approved_spec"].is_null() {
                continue;
            }
            let sid = s(&v["service"]);
            let spec = &v["approved_spec"];
            services.push(ServiceRow {
                instances: health
                    .remove(&(id.clone(), sid.clone()))
                    .unwrap_or_default(),
                service: sid.clone(),
                source: format!("备案 registry r{}", s(&v["approved_revision"])),
                protocol: s(&spec["protocol"]),
            });
            for r in spec["routes"].as_array().into_iter().flatten() {
                routes.push(RouteRow {
                    id: s(&r["id"]),
                    matcher: ["path", "template", "prefix"]
                        .iter()
                        .find_map(|k| r[*k].as_str().map(|p| format!("{k} {p}")))
                        .unwrap_or_default(),
                    methods: r["methods"]
                        .as_array()
                        .filter(|m| !m.is_empty())
                        .map_or_else(
                            || "*".to_string(),
                            |m| m.iter().map(s).collect::<Vec<_>>().join(","),
                        ),
                    service: sid.clone(),
                    auth: s(&r["auth"]),
                    source: "备案".into(),
                });
            }
        }
        departments.push(DeptRouting {
            may_edit: op.may("editor", &id),
            id,
            name: d.file.department.name.clone(),
            services,
            routes,
        });
    }
    ok(&RoutingPage {
        nav: Nav::new(&op, "routing"),
        flash: flash(d.done.as_deref()),
        version: format!(
            "v{} · generation {}",
            status.body["version"], status.body["generation"]
        ),
        departments,
    })
}

/// The department file's text, from the running configuration.
fn department_text(c: &Console, dept: &str) -> Option<String> {
    c.state
        .config
        .current()
        .files
        .get(&format!("departments/{dept}.toml"))
        .cloned()
}

pub async fn edit_department(
    State(c): State<Console>,
    op: Operator,
    Path(dept): Path<String>,
) -> Response {
    let Some(text) = department_text(&c, &dept).filter(|_| op.sees(&dept)) else {
        return failed(
            &op,
            "routing",
            &Answer {
                status: 404,
                body: json!({"error": {"message": format!("no department file for `{dept}`")}}),
            },
            "/console/routing",
        );
    };
    ok(&EditPage {
        nav: Nav::new(&op, "routing"),
        file: format!("departments/{dept}.toml"),
        dept,
        text,
        message: String::new(),
        error: None,
        lines: Vec::new(),
        other_problems: Vec::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    text: String,
    #[serde(default)]
    message: String,
}

/// Saves a department file through the API; a configuration the API
/// rejects is shown again with every problem at its line, and nothing
/// changed.
pub async fn save_department(
    State(c): State<Console>,
    op: Operator,
    Path(dept): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    // Browsers send CRLF from a textarea.
    let text = f.text.replace("\r\n", "\n");
    let message = if f.message.trim().is_empty() {
        format!("console: edit departments/{dept}.toml")
    } else {
        f.message.trim().to_string()
    };
    let answer = op
        .call(
            &c,
            Method::PUT,
            &format!("/admin/v1/config/departments/{}", enc(&dept)),
            Send::Toml(text.clone()),
            Some(&message),
        )
        .await;
    if answer.ok() {
        let done = if answer.body["unchanged"] == Value::Bool(true) {
            "unchanged"
        } else {
            "saved"
        };
        return after("/console/routing", done);
    }
    if answer.status == 401 {
        return Redirect::to("/console/login").into_response();
    }
    let file = format!("departments/{dept}.toml");
    let mut by_line: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut other = Vec::new();
    for d in answer.details() {
        let message = s(&d["message"]);
        let line = d["line"].as_u64().and_then(|l| usize::try_from(l).ok());
        let col = d["col"].as_u64().unwrap_or(0);
        match (d["file"].as_str(), line) {
            (Some(f), Some(line)) if f == file || f.ends_with(&format!("/{file}")) => {
                by_line.entry(line).or_default().push(format!(
                    "第 {line} 行第 {col} 列 line {line}:{col}: {message}"
                ));
            }
            (Some(f), Some(line)) => other.push(format!("{f}:{line}:{col}: {message}")),
            _ => other.push(message),
        }
    }
    let lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| EditLine {
            n: i + 1,
            text: l.to_string(),
            problems: by_line.remove(&(i + 1)).unwrap_or_default(),
        })
        .collect();
    // Problems past the end of the text (e.g. a missing closing quote).
    other.extend(by_line.into_values().flatten());
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    page(
        status,
        &EditPage {
            nav: Nav::new(&op, "routing"),
            dept,
            file,
            text,
            message: f.message,
            error: Some(format!(
                "未生效，配置未改变。Not applied; nothing changed: {}",
                answer.message()
            )),
            lines,
            other_problems: other,
        },
    )
}

// ----- versions ----------------------------------------------------------

fn version_row(v: &Value, current: Option<i64>, offset: i32) -> VersionRow {
    VersionRow {
        version: s(&v["version"]),
        at: time(num(&v["created_at"]), offset),
        author: s(&v["author"]),
        message: s(&v["message"]),
        source: s(&v["source"]),
        hash: s(&v["content_hash"]).chars().take(12).collect(),
        current: v["version"].as_i64() == current,
    }
}

pub async fn versions(State(c): State<Console>, op: Operator, Query(d): Query<Done>) -> Response {
    let list = op.get(&c, "/admin/v1/config/versions?limit=50").await;
    if !list.ok() {
        return failed(&op, "versions", &list, "/console/");
    }
    let current = c.state.config.current().version;
    let offset = c.offset();
    ok(&VersionsPage {
        nav: Nav::new(&op, "versions"),
        flash: flash(d.done.as_deref()),
        versions: list.body["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| version_row(v, current, offset))
            .collect(),
        may_rollback: op.may_whole("editor"),
    })
}

pub async fn version(State(c): State<Console>, op: Operator, Path(v): Path<i64>) -> Response {
    let one = op.get(&c, &format!("/admin/v1/config/versions/{v}")).await;
    if !one.ok() {
        return failed(&op, "versions", &one, "/console/versions");
    }
    let current = c.state.config.current().version;
    let diff = s(&one.body["diff"]);
    ok(&VersionPage {
        nav: Nav::new(&op, "versions"),
        version: version_row(&one.body, current, c.offset()),
        previous: s(&one.body["previous"]),
        diff: diff
            .lines()
            .map(|l| DiffLine {
                class: if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") {
                    "hunk"
                } else if l.starts_with('+') {
                    "add"
                } else if l.starts_with('-') {
                    "del"
                } else {
                    ""
                },
                text: l.to_string(),
            })
            .collect(),
        may_rollback: op.may_whole("editor"),
    })
}

pub async fn rollback(State(c): State<Console>, op: Operator, Path(v): Path<i64>) -> Response {
    let answer = op
        .call(
            &c,
            Method::POST,
            "/admin/v1/config/rollback",
            Send::Json(json!({"to": v, "message": format!("console: roll back to version {v}")})),
            None,
        )
        .await;
    if !answer.ok() {
        return failed(&op, "versions", &answer, "/console/versions");
    }
    after("/console/versions", "rolledback")
}

// ----- zombies -----------------------------------------------------------

pub async fn zombies(State(c): State<Console>, op: Operator) -> Response {
    let report = op.get(&c, "/admin/v1/registry/zombies").await;
    if !report.ok() {
        return failed(&op, "zombies", &report, "/console/");
    }
    let offset = c.offset();
    let mut rows = Vec::new();
    for d in report.body["departments"].as_array().into_iter().flatten() {
        let dept = s(&d["dept"]);
        if !op.sees(&dept) {
            continue;
        }
        for svc in d["services"].as_array().into_iter().flatten() {
            rows.push(ZombieRow {
                dept: dept.clone(),
                service: s(&svc["service"]),
                source: s(&svc["source"]),
                reasons: svc["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| match r.as_str() {
                        Some("no_healthy_instance") => "无健康实例",
                        Some("no_traffic") => "无流量",
                        _ => "?",
                    })
                    .collect::<Vec<_>>()
                    .join("，"),
                instances: format!("{}/{}", svc["healthy"], svc["instances"]),
                last_request: svc["last_request_ms"]
                    .as_i64()
                    .map_or_else(|| "启动以来无".into(), |t| time(t, offset)),
            });
        }
    }
    ok(&ZombiesPage {
        nav: Nav::new(&op, "zombies"),
        window: s(&report.body["window"]),
        rows,
    })
}

// ----- data sharing ------------------------------------------------------

pub async fn sharing(State(c): State<Console>, op: Operator, Query(d): Query<Done>) -> Response {
    let items = op.get(&c, "/admin/v1/data-items").await;
    let notice = (items.status == 404).then(|| items.message());
    if !items.ok() && notice.is_none() {
        return failed(&op, "sharing", &items, "/console/");
    }
    let agreements = op.get(&c, "/admin/v1/agreements?limit=200").await;
    if !agreements.ok() && notice.is_none() {
        return failed(&op, "sharing", &agreements, "/console/");
    }
    let offset = c.offset();
    let deadline = c
        .state
        .config
        .current()
        .config
        .gateway
        .sharing
        .approval_deadline;
    let items = items.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| op.sees(&s(&i["dept"])))
        .map(|i| ItemRow {
            id: s(&i["id"]),
            name: s(&i["name"]),
            sharing: s(&i["sharing"]),
            fields: i["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{}({})", s(&f["name"]), s(&f["sensitivity"])))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let mut pending = Vec::new();
    let mut others = Vec::new();
    for a in agreements.body["agreements"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (consumer, provider) = (s(&a["consumer"]), s(&a["provider"]));
        if !op.sees(&consumer) && !op.sees(&provider) {
            continue;
        }
        let state = s(&a["state"]);
        let mut approvals = Vec::new();
        if !a["operator_approval"].is_null() {
            approvals.push(format!("平台 {}", s(&a["operator_approval"]["by"])));
        }
        if !a["provider_approval"].is_null() {
            approvals.push(format!("提供方 {}", s(&a["provider_approval"]["by"])));
        }
        if a["needs_provider"] == Value::Bool(true) && a["provider_approval"].is_null() {
            approvals.push("待提供方审批".into());
        }
        let row = AgreementRow {
            id: s(&a["id"]),
            item: s(&a["item"]),
            fields: a["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect::<Vec<_>>()
                .join(", "),
            purpose: s(&a["purpose"]),
            applied: api_time(&a["applied_at"], offset),
            age: a["pending_age_ms"].as_i64().map(age).unwrap_or_default(),
            due: api_time(&a["decision_due"], offset),
            overdue: a["overdue"] == Value::Bool(true),
            approvals: approvals.join("；"),
            may_decide: state == "pending" && op.has("approver") && op.sees(&provider),
            may_revoke: state == "approved" && op.has("approver") && op.sees(&provider),
            consumer,
            provider,
            state: state.clone(),
        };
        if state == "pending" {
            pending.push(row);
        } else {
            others.push(row);
        }
    }
    ok(&SharingPage {
        nav: Nav::new(&op, "sharing"),
        flash: flash(d.done.as_deref()),
        notice,
        deadline: age(i64::try_from(deadline.as_millis()).unwrap_or(i64::MAX)),
        items,
        pending,
        others,
    })
}

#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

pub async fn decide_agreement(
    State(c): State<Console>,
    op: Operator,
    Path((id, verdict)): Path<(String, String)>,
    Form(f): Form<ReasonForm>,
) -> Response {
    let (body, done) = match verdict.as_str() {
        "approve" => (Send::None, "approved"),
        "reject" | "revoke" => {
            let reason = if f.reason.trim().is_empty() {
                format!("{verdict} via console")
            } else {
                f.reason.trim().to_string()
            };
            (
                Send::Json(json!({ "reason": reason })),
                if verdict == "reject" {
                    "rejected"
                } else {
                    "revoked"
                },
            )
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let path = format!("/admin/v1/agreements/{}/{verdict}", enc(&id));
    let answer = op.call(&c, Method::POST, &path, body, None).await;
    if !answer.ok() {
        return failed(&op, "sharing", &answer, "/console/sharing");
    }
    after("/console/sharing", done)
}

// ----- cases -------------------------------------------------------------

pub async fn cases(State(c): State<Console>, op: Operator, Query(d): Query<Done>) -> Response {
    let overdue = op.get(&c, "/admin/v1/cases/overdue?limit=100").await;
    let notice = (overdue.status == 404).then(|| overdue.message());
    if !overdue.ok() && notice.is_none() {
        return failed(&op, "cases", &overdue, "/console/");
    }
    let followups = op.get(&c, "/admin/v1/followups?state=open&limit=200").await;
    let stats = op.get(&c, "/admin/v1/ratings/stats").await;
    let offset = c.offset();
    let overdue = overdue.body["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| {
            op.sees(&s(&k["lead_dept"]))
                || k["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|st| op.sees(&s(&st["dept"])))
        })
        .map(|k| CaseRow {
            id: s(&k["id"]),
            matter: s(&k["matter_name"]),
            lead: s(&k["lead_dept"]),
            state: s(&k["state"]),
            created: api_time(&k["submitted_at"], offset),
            late_steps: k["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|st| st["overdue"] == Value::Bool(true))
                .map(|st| {
                    format!(
                        "{}（{}，时限 {}）",
                        s(&st["name"]),
                        s(&st["dept"]),
                        api_time(&st["deadline"], offset)
                    )
                })
                .collect::<Vec<_>>()
                .join("；"),
        })
        .collect();
    let followups = followups.body["followups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| op.sees(&s(&f["dept"])))
        .map(|f| {
            let dept = s(&f["dept"]);
            FollowupRow {
                id: s(&f["id"]),
                may_close: op.may("editor", &dept),
                dept,
                subject: format!("{} {}", s(&f["subject"]["kind"]), s(&f["subject"]["id"])),
                score: s(&f["score"]),
                created: api_time(&f["created_at"], offset),
                due: api_time(&f["due"], offset),
                overdue: f["overdue"] == Value::Bool(true),
            }
        })
        .collect();
    let ratings = stats.body["departments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| op.sees(&s(&r["dept"])))
        .map(|r| RatingRow {
            dept: s(&r["dept"]),
            count: s(&r["count"]),
            average: s(&r["average"]),
            by_score: (1..=5)
                .map(|k| format!("{k}★{}", r["by_score"][k.to_string()]))
                .collect::<Vec<_>>()
                .join(" "),
            open: s(&r["followups_open"]),
            overdue: s(&r["followups_overdue"]),
        })
        .collect();
    ok(&CasesPage {
        nav: Nav::new(&op, "cases"),
        flash: flash(d.done.as_deref()),
        notice,
        overdue,
        followups,
        ratings,
    })
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    note: String,
}

pub async fn close_followup(
    State(c): State<Console>,
    op: Operator,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Response {
    let answer = op
        .call(
            &c,
            Method::POST,
            &format!("/admin/v1/followups/{id}/close"),
            Send::Json(json!({ "note": f.note })),
            None,
        )
        .await;
    if !answer.ok() {
        return failed(&op, "cases", &answer, "/console/cases");
    }
    after("/console/cases", "closed")
}

// ----- appeals -----------------------------------------------------------

/// Which appeals the list shows (`?view=`).
#[derive(Debug, Default, Deserialize)]
pub struct AppealsQuery {
    view: Option<String>,
    done: Option<String>,
}

/// The views of the appeals list: (key, Chinese label, English label).
const APPEAL_VIEWS: [(&str, &str, &str); 3] = [
    ("queue", "待派单", "Queue"),
    ("open", "未办结", "Open"),
    ("escalated", "已督办", "Escalated"),
];

/// An appeal's time fields are epoch milliseconds in the API's answers.
fn appeal_time(v: &Value, offset: i32) -> String {
    match v.as_i64() {
        Some(ms) => time(ms, offset),
        None => api_time(v, offset),
    }
}

/// The appeals desk: the operators' queue, open or escalated appeals
/// (`?view=`), and the counts per state and department.
pub async fn appeals(
    State(c): State<Console>,
    op: Operator,
    Query(q): Query<AppealsQuery>,
) -> Response {
    let view = q.view.as_deref().unwrap_or("queue");
    let Some(&(view, _, _)) = APPEAL_VIEWS.iter().find(|(k, _, _)| *k == view) else {
        return failed(
            &op,
            "appeals",
            &Answer::refusal(400, "view: must be queue, open or escalated"),
            "/console/appeals",
        );
    };
    let list = op
        .get(&c, &format!("/admin/v1/appeals?view={view}&limit=200"))
        .await;
    let notice = (list.status == 404).then(|| list.message());
    if !list.ok() && notice.is_none() {
        return failed(&op, "appeals", &list, "/console/");
    }
    let stats = op.get(&c, "/admin/v1/appeals/stats").await;
    let offset = c.offset();
    let rows = list.body["appeals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["dept"].is_null() || op.sees(&s(&a["dept"])))
        .map(|a| AppealRow {
            id: s(&a["id"]),
            kind: s(&a["kind"]),
            title: s(&a["title"]),
            state: s(&a["state"]),
            dept: if a["dept"].is_null() {
                "—（待派单）".into()
            } else {
                s(&a["dept"])
            },
            created: appeal_time(&a["created_at"], offset),
            due: appeal_time(&a["next_due"], offset),
            overdue: a["overdue"] == Value::Bool(true),
        })
        .collect();
    let depts = stats.body["by_dept"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(d, v)| AppealDeptRow {
            dept: d.clone(),
            total: s(&v["total"]),
            open: s(&v["open"]),
            overdue: s(&v["overdue"]),
        })
        .collect();
    let states = stats.body["by_state"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {}", s(v)))
        .collect::<Vec<_>>()
        .join(" · ");
    ok(&AppealsPage {
        nav: Nav::new(&op, "appeals"),
        flash: flash(q.done.as_deref()),
        notice,
        views: APPEAL_VIEWS
            .iter()
            .map(|&(key, zh, en)| AppealView {
                key,
                zh,
                en,
                here: key == view,
            })
            .collect(),
        rows,
        depts,
        total: s(&stats.body["total"]),
        overdue: s(&stats.body["overdue"]),
        supervised: s(&stats.body["supervised"]),
        states,
    })
}

/// Appeal numbers are letters and digits (`S2026…`); anything else is no
/// appeal (and never reaches the API's path).
fn appeal_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// One appeal with its timeline, and the changes this operator may make
/// (dispatch, escalate, close — the API decides; forms it would refuse
/// are not shown).
pub async fn appeal(
    State(c): State<Console>,
    op: Operator,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    if !appeal_id(&id) {
        return failed(
            &op,
            "appeals",
            &Answer::refusal(404, "no such appeal"),
            "/console/appeals",
        );
    }
    let a = op.get(&c, &format!("/admin/v1/appeals/{id}")).await;
    if !a.ok() {
        return failed(&op, "appeals", &a, "/console/appeals");
    }
    let a = &a.body;
    let dept = (!a["dept"].is_null()).then(|| s(&a["dept"]));
    if let Some(dept) = &dept
        && !op.sees(dept)
    {
        return failed(
            &op,
            "appeals",
            &Answer::refusal(403, "this appeal is another department's"),
            "/console/appeals",
        );
    }
    let offset = c.offset();
    let state = s(&a["state"]);
    let open = state != "closed";
    let targets: Vec<DeptOption> = c
        .state
        .config
        .current()
        .config
        .departments
        .iter()
        .map(|d| DeptOption {
            id: d.file.department.id.get_ref().clone(),
            name: d.file.department.name.clone(),
        })
        .filter(|d| op.may("editor", &d.id))
        .collect();
    let may_dispatch = matches!(
        state.as_str(),
        "submitted" | "returned" | "dispatched" | "escalated"
    ) && !targets.is_empty();
    let may_escalate = matches!(state.as_str(), "submitted" | "dispatched" | "accepted")
        && match &dept {
            Some(d) => op.may("editor", d),
            None => op.may_whole("editor"),
        };
    let timeline = a["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| AppealEventRow {
            at: appeal_time(&e["at"], offset),
            event: s(&e["event"]),
            actor: s(&e["actor"]),
            dept: s(&e["dept"]),
            note: s(&e["note"]),
        })
        .collect();
    ok(&AppealPage {
        nav: Nav::new(&op, "appeals"),
        flash: flash(d.done.as_deref()),
        id: s(&a["id"]),
        kind: s(&a["kind"]),
        title: s(&a["title"]),
        content: s(&a["content"]),
        state,
        dept: dept.unwrap_or_else(|| "—（待派单）".into()),
        created: appeal_time(&a["created_at"], offset),
        due: appeal_time(&a["next_due"], offset),
        deadline: appeal_time(&a["deadline"], offset),
        overdue: a["overdue"] == Value::Bool(true),
        location: if a["location_withheld"] == Value::Bool(true) {
            "已隐去：紧急诉求的位置仅送达应急部门 (withheld: an emergency's location goes to the emergency department only)".into()
        } else {
            s(&a["location"]["address"])
        },
        reply: s(&a["reply"]),
        rating: if a["rating"].is_null() {
            String::new()
        } else {
            format!(
                "{}★ {}",
                s(&a["rating"]["score"]),
                s(&a["rating"]["comment"])
            )
        },
        co_handlers: a["co_handlers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect::<Vec<_>>()
            .join(", "),
        supervised: if a["supervised_at"].is_null() {
            String::new()
        } else {
            appeal_time(&a["supervised_at"], offset)
        },
        timeline,
        targets,
        may_dispatch,
        may_escalate,
        may_close: open && op.may_whole("editor"),
    })
}

/// A change of an appeal from the console: `dispatch` (`dept`, `note`),
/// `escalate` or `close` (`note`).
#[derive(Debug, Deserialize)]
pub struct AppealForm {
    #[serde(default)]
    dept: String,
    #[serde(default)]
    note: String,
}

/// Dispatches, escalates or closes an appeal through the admin API as the
/// signed-in operator (its roles, scopes, validation and audit).
pub async fn appeal_action(
    State(c): State<Console>,
    op: Operator,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<AppealForm>,
) -> Response {
    let back = format!("/console/appeals/{id}");
    let (body, done) = match action.as_str() {
        "dispatch" => (json!({ "dept": f.dept, "note": f.note }), "dispatched"),
        "escalate" => (json!({ "note": f.note }), "escalated"),
        "close" => (json!({ "note": f.note }), "appeal-closed"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !appeal_id(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let answer = op
        .call(
            &c,
            Method::POST,
            &format!("/admin/v1/appeals/{id}/{action}"),
            Send::Json(body),
            None,
        )
        .await;
    if !answer.ok() {
        return failed(&op, "appeals", &answer, &back);
    }
    after(&back, done)
}

// ----- assessment --------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The report's columns (Chinese first).
const HEADERS: [&str; 14] = [
    "响应率 response",
    "解决率 resolution",
    "诉求满意率 appeal satisfaction",
    "诉求按时率 appeal on time",
    "办件按时率 case steps on time",
    "办结/已评价 completed/rated",
    "评价数 ratings",
    "满意率 satisfaction",
    "差评回访按时率 follow-ups in time",
    "请求数 requests",
    "可用率 availability",
    "p50",
    "p99",
    "僵尸服务 zombies",
];

fn assess_row(d: &Value) -> AssessRow {
    let a = &d["appeals"];
    let rate = |v: &Value| pct(opt(v));
    AssessRow {
        dept: s(&d["dept"]),
        name: s(&d["name"]),
        cells: vec![
            if a.is_null() {
                "无数据".into()
            } else {
                rate(&a["response_rate"])
            },
            if a.is_null() {
                "无数据".into()
            } else {
                rate(&a["resolution_rate"])
            },
            if a.is_null() {
                "无数据".into()
            } else {
                rate(&a["satisfaction_rate"])
            },
            if a.is_null() {
                "无数据".into()
            } else {
                rate(&a["on_time_rate"])
            },
            format!(
                "{} ({}/{})",
                rate(&d["cases"]["on_time_rate"]),
                num(&d["cases"]["on_time"]),
                num(&d["cases"]["steps_due"])
            ),
            format!(
                "{}/{}",
                num(&d["cases"]["completed"]),
                num(&d["cases"]["rated"])
            ),
            format!(
                "{} [{}]",
                num(&d["ratings"]["count"]),
                d["ratings"]["by_score"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| num(n).to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            rate(&d["ratings"]["satisfaction_rate"]),
            format!(
                "{} ({}/{})",
                rate(&d["followups"]["in_time_rate"]),
                num(&d["followups"]["in_time"]),
                num(&d["followups"]["in_time"])
                    + num(&d["followups"]["late"])
                    + num(&d["followups"]["overdue_open"])
            ),
            num(&d["traffic"]["requests"]).to_string(),
            rate(&d["traffic"]["availability"]),
            ms(opt(&d["traffic"]["p50_ms"])),
            ms(opt(&d["traffic"]["p99_ms"])),
            d["zombie_services"]
                .as_array()
                .map_or(0, Vec::len)
                .to_string(),
        ],
    }
}

/// The month asked for, or the current one.
fn month_of(c: &Console, q: &MonthQuery) -> Month {
    q.month
        .as_deref()
        .and_then(Month::parse)
        .unwrap_or_else(|| Month::containing(now_ms(), c.offset()))
}

async fn report(c: &Console, op: &Operator, month: Month) -> Answer {
    op.get(c, &format!("/admin/v1/assessment?month={month}"))
        .await
}

fn charts(report: &Value) -> Vec<String> {
    let depts: Vec<Value> = report["departments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bars = |f: &dyn Fn(&Value) -> Option<f64>| -> Vec<Bar> {
        depts
            .iter()
            .map(|d| Bar {
                label: s(&d["name"]),
                value: f(d),
            })
            .collect()
    };
    vec![
        svg::bars(
            "办件按时率 case steps on time",
            &bars(&|d| opt(&d["cases"]["on_time_rate"])),
            Unit::Percent,
            false,
        ),
        svg::bars(
            "满意率 satisfaction (4-5★)",
            &bars(&|d| opt(&d["ratings"]["satisfaction_rate"])),
            Unit::Percent,
            true,
        ),
        svg::bars(
            "可用率 API availability",
            &bars(&|d| opt(&d["traffic"]["availability"])),
            Unit::Percent,
            false,
        ),
        svg::bars(
            "p99 时延 latency",
            &bars(&|d| opt(&d["traffic"]["p99_ms"])),
            Unit::Millis,
            true,
        ),
    ]
}

fn period_text(body: &Value, offset: i32) -> (String, String) {
    (
        format!(
            "{} — {}",
            time(num(&body["from"]), offset),
            time(num(&body["to"]), offset)
        ),
        time(num(&body["generated_at"]), offset),
    )
}

pub async fn assessment(
    State(c): State<Console>,
    op: Operator,
    Query(q): Query<MonthQuery>,
) -> Response {
    let month = month_of(&c, &q);
    let r = report(&c, &op, month).await;
    if !r.ok() {
        return failed(&op, "assessment", &r, "/console/");
    }
    let (period, generated) = period_text(&r.body, c.offset());
    ok(&AssessmentPage {
        nav: Nav::new(&op, "assessment"),
        month: month.to_string(),
        previous: month.previous().to_string(),
        next: month.next().to_string(),
        period,
        generated,
        appeals_available: r.body["appeals_available"] == Value::Bool(true),
        headers: HEADERS.to_vec(),
        platform: assess_row(&r.body["platform"]),
        rows: r.body["departments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(assess_row)
            .collect(),
        charts: charts(&r.body),
    })
}

pub async fn assessment_print(
    State(c): State<Console>,
    op: Operator,
    Query(q): Query<MonthQuery>,
) -> Response {
    let month = month_of(&c, &q);
    let r = report(&c, &op, month).await;
    if !r.ok() {
        return failed(&op, "assessment", &r, "/console/assessment");
    }
    let (period, generated) = period_text(&r.body, c.offset());
    ok(&AssessmentPrint {
        month: month.to_string(),
        period,
        generated,
        appeals_available: r.body["appeals_available"] == Value::Bool(true),
        headers: HEADERS.to_vec(),
        platform: assess_row(&r.body["platform"]),
        rows: r.body["departments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(assess_row)
            .collect(),
        charts: charts(&r.body),
    })
}

/// One CSV field (RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so that a spreadsheet never runs it as a formula).
fn csv(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// The month's figures as CSV (UTF-8 with a BOM, so spreadsheets read the
/// Chinese names); rates as fractions, no data as an empty field.
pub async fn assessment_csv(
    State(c): State<Console>,
    op: Operator,
    Query(q): Query<MonthQuery>,
) -> Response {
    let month = month_of(&c, &q);
    let r = report(&c, &op, month).await;
    if !r.ok() {
        return failed(&op, "assessment", &r, "/console/assessment");
    }
    let columns: [(&str, &[&str]); 27] = [
        ("appeals_received", &["appeals", "received"]),
        ("appeal_response_rate", &["appeals", "response_rate"]),
        ("appeal_resolution_rate", &["appeals", "resolution_rate"]),
        (
            "appeal_satisfaction_rate",
            &["appeals", "satisfaction_rate"],
        ),
        ("appeal_on_time_rate", &["appeals", "on_time_rate"]),
        ("appeals_unrated", &["appeals", "unrated"]),
        ("case_steps_due", &["cases", "steps_due"]),
        ("case_steps_on_time", &["cases", "on_time"]),
        ("case_steps_late", &["cases", "late"]),
        ("case_steps_overdue_open", &["cases", "overdue_open"]),
        ("case_on_time_rate", &["cases", "on_time_rate"]),
        ("cases_completed", &["cases", "completed"]),
        ("cases_rated", &["cases", "rated"]),
        ("cases_unrated", &["cases", "unrated"]),
        ("ratings", &["ratings", "count"]),
        ("ratings_satisfied", &["ratings", "satisfied"]),
        ("ratings_bad", &["ratings", "bad"]),
        ("satisfaction_rate", &["ratings", "satisfaction_rate"]),
        ("followups_opened", &["followups", "opened"]),
        ("followups_in_time", &["followups", "in_time"]),
        ("followup_in_time_rate", &["followups", "in_time_rate"]),
        ("requests", &["traffic", "requests"]),
        ("errors_5xx", &["traffic", "errors"]),
        ("availability", &["traffic", "availability"]),
        ("p50_ms", &["traffic", "p50_ms"]),
        ("p99_ms", &["traffic", "p99_ms"]),
        ("zombie_services", &["zombie_services"]),
    ];
    let mut out = String::from("\u{feff}month,dept,name");
    for (name, _) in &columns {
        out.push(',');
        out.push_str(name);
    }
    out.push_str("\r\n");
    let platform = r.body["platform"].clone();
    let rows =
        std::iter::once(&platform).chain(r.body["departments"].as_array().into_iter().flatten());
    for d in rows {
        let mut fields = vec![month.to_string(), s(&d["dept"]), s(&d["name"])];
        for (_, path) in &columns {
            let mut v = d;
            for k in *path {
                v = &v[*k];
            }
            fields.push(match v {
                Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(" "),
                other => s(other),
            });
        }
        out.push_str(&fields.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let mut response = out.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"onestop-assessment-{month}.csv\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

// ----- audit -------------------------------------------------------------

pub async fn audit(State(c): State<Console>, op: Operator) -> Response {
    let trail = op.get(&c, "/admin/v1/audit?limit=200").await;
    if !trail.ok() {
        return failed(&op, "audit", &trail, "/console/");
    }
    let chain = op.get(&c, "/admin/v1/access-audit/verify").await;
    let chain = if chain.ok() {
        let state = s(&chain.body["state"]);
        Chain {
            ok: state == "intact",
            state: match state.as_str() {
                "intact" => "完整 intact".into(),
                "broken" => "已断裂 broken".into(),
                _ => "无法读取 unreadable".into(),
            },
            records: s(&chain.body["records"]),
            problem: s(&chain.body["problem"]),
        }
    } else {
        Chain {
            ok: false,
            state: "未启用 not enabled".into(),
            records: "0".into(),
            problem: chain.message(),
        }
    };
    let offset = c.offset();
    let rows = trail.body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| AuditRow {
            id: s(&e["id"]),
            at: time(num(&e["at"]), offset),
            operator: s(&e["operator"]),
            action: s(&e["action"]),
            target: s(&e["target"]),
            outcome: s(&e["detail"]["outcome"]),
            detail: {
                let mut d = e["detail"].clone();
                if let Some(m) = d.as_object_mut() {
                    m.remove("outcome");
                    m.remove("request_id");
                }
                d.to_string()
            },
        })
        .collect();
    ok(&AuditPage {
        nav: Nav::new(&op, "audit"),
        chain,
        rows,
    })
}

// ----- cache -------------------------------------------------------------

pub async fn cache(State(c): State<Console>, op: Operator, Query(d): Query<Done>) -> Response {
    let stats = op.get(&c, "/admin/v1/cache/stats").await;
    if !stats.ok() {
        return failed(&op, "cache", &stats, "/console/");
    }
    let b = &stats.body;
    let departments: Vec<String> = c
        .state
        .config
        .current()
        .config
        .departments
        .iter()
        .map(|d| d.file.department.id.get_ref().clone())
        .filter(|d| op.may("editor", d))
        .collect();
    ok(&CachePage {
        nav: Nav::new(&op, "cache"),
        flash: flash(d.done.as_deref()),
        summary: format!(
            "{} 条 entries · {} / {} bytes",
            num(&b["entries"]),
            num(&b["bytes"]),
            num(&b["max_bytes"])
        ),
        routes: b["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| op.sees(&s(&r["dept"])))
            .map(|r| CacheRoute {
                dept: s(&r["dept"]),
                route: s(&r["route"]),
                entries: s(&r["entries"]),
                hits: s(&r["hits"]),
                misses: s(&r["misses"]),
            })
            .collect(),
        may_purge: !departments.is_empty(),
        departments,
    })
}

#[derive(Debug, Deserialize)]
pub struct PurgeForm {
    department: String,
    kind: String,
    #[serde(default)]
    value: String,
}

pub async fn purge(State(c): State<Console>, op: Operator, Form(f): Form<PurgeForm>) -> Response {
    let body = match f.kind.as_str() {
        "prefix" => json!({"department": f.department, "prefix": f.value}),
        "tag" => json!({"department": f.department, "tag": f.value}),
        _ => json!({"department": f.department, "all": true}),
    };
    let answer = op
        .call(
            &c,
            Method::POST,
            "/admin/v1/cache/purge",
            Send::Json(body),
            None,
        )
        .await;
    if !answer.ok() {
        return failed(&op, "cache", &answer, "/console/cache");
    }
    after("/console/cache", "purged")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("=1+1"), "'=1+1");
        assert_eq!(csv("-"), "'-");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("hpf"), "hpf");
        assert_eq!(enc("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn surface_diffs_show_added_and_removed_lines() {
        let old = surface_text(&json!({"protocol": "http", "routes": [{"id": "a"}]}));
        let new = surface_text(&json!({"protocol": "http", "routes": [{"id": "b"}]}));
        let d = diff_lines(&old, &new);
        assert!(
            d.iter()
                .any(|l| l.class == "del" && l.text.contains("\"a\""))
        );
        assert!(
            d.iter()
                .any(|l| l.class == "add" && l.text.contains("\"b\""))
        );
        // A new service: everything added.
        let d = diff_lines("", &new);
        assert!(
            d.iter()
                .filter(|l| l.class != "hunk")
                .all(|l| l.class == "add")
        );
    }
}
