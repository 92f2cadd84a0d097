//! The console over the real admin router: sign-in and its cookie, CSRF,
//! the security headers, sessions ending by age and idleness (on the
//! harness's clock), escaping of what departments registered, viewers and
//! department-scoped operators (on the dashboard, the assessment, data
//! sharing, cases and follow-ups, appeals, the cache), invalid edits shown
//! at their line, and the console's forms: agreements approved, rejected
//! and revoked, the cache purged, follow-ups closed.

use std::time::Duration;

use onestop_cache::testing::{cached, put};
use onestop_store::{
    AssessmentStore as _, CaseStore as _, HOUR_MS, LATENCY_BUCKETS, MINUTE_MS, NewCase, NewRating,
    NewStep, PurgeKind, Store as _, SubjectKind, TrafficCounts, TrafficDelta, now_ms,
};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::support::*;
use crate::backend::ConfigBackend as _;

/// A browser-like client of the console: no redirects followed, cookies
/// kept by hand.
pub(super) struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub(super) fn new(h: &Harness) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: h.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) -> Vec<String> {
        let mut raw = Vec::new();
        for v in r.headers().get_all(SET_COOKIE) {
            let text = v.to_str().unwrap().to_string();
            let (pair, _) = text.split_once(';').unwrap_or((&text, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
            raw.push(text);
        }
        raw
    }

    pub(super) async fn get(&mut self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.text().await.unwrap(), headers)
    }

    /// GET, the body as the bytes sent (no charset decoding, which would
    /// drop a BOM).
    pub(super) async fn get_bytes(
        &mut self,
        path: &str,
    ) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.bytes().await.unwrap().to_vec(), headers)
    }

    pub(super) async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String, Vec<String>) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        let set = self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        let mut body = r.text().await.unwrap();
        if !location.is_empty() {
            body = format!("LOCATION {location}\n{body}");
        }
        (status, body, set)
    }

    /// Posts `form` to `path` and checks the answer is a redirect to a
    /// page starting with `to` (a form's success).
    pub(super) async fn post_to(&mut self, path: &str, form: &[(&str, &str)], to: &str) {
        let (status, body, _) = self.post(path, form).await;
        assert_eq!(status, 303, "{body}");
        assert!(body.starts_with(&format!("LOCATION {to}")), "{body}");
    }

    /// Signs in with `token`; returns the session's CSRF token.
    pub(super) async fn sign_in(&mut self, token: &str) -> String {
        let (status, html, _) = self.get("/console/login").await;
        assert_eq!(status, 200);
        let login = between(&html, "name=\"_login\" value=\"", "\"");
        let (status, body, set) = self
            .post("/console/login", &[("token", token), ("_login", &login)])
            .await;
        assert_eq!(status, 303, "{body}");
        assert!(body.starts_with("LOCATION /console/\n"), "{body}");
        let session = set
            .iter()
            .find(|c| c.starts_with("onestop_console="))
            .expect("a session cookie");
        assert!(session.contains("HttpOnly"), "{session}");
        assert!(session.contains("SameSite=Strict"), "{session}");
        assert!(session.contains("Path=/console"), "{session}");
        assert!(!session.contains(token), "the token is not the cookie");
        let (status, html, _) = self.get("/console/").await;
        assert_eq!(status, 200, "{html}");
        between(&html, "name=\"_csrf\" value=\"", "\"")
    }
}

pub(super) fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not in {text}"))
        + start.len();
    let rest = &text[from..];
    rest[..rest.find(end).unwrap()].to_string()
}

#[tokio::test]
async fn sign_in_makes_a_cookie_session_and_sign_out_ends_it() {
    let h = Harness::start().await;
    let mut b = Browser::new(&h);
    // Without a session every page sends you to sign in.
    let (status, _, headers) = b.get("/console/").await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/console/login");
    // A wrong token: 401 and no session.
    let (_, html, _) = b.get("/console/login").await;
    let login = between(&html, "name=\"_login\" value=\"", "\"");
    let (status, body, set) = b
        .post("/console/login", &[("token", "nope"), ("_login", &login)])
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(!set.iter().any(|c| c.starts_with("onestop_console=")));
    // A sign-in form without its double-submit token is refused.
    let (status, _, _) = b
        .post("/console/login", &[("token", VIEWER), ("_login", "forged")])
        .await;
    assert_eq!(status, 403);

    let csrf = b.sign_in(EDITOR).await;
    let (status, html, headers) = b.get("/console/").await;
    assert_eq!(status, 200);
    assert!(html.contains("editor"), "{html}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    // No inline script anywhere, and the token is on no page.
    for page in [
        "/console/",
        "/console/registrations",
        "/console/routing",
        "/console/versions",
        "/console/versions/1",
        "/console/zombies",
        "/console/cases",
        "/console/sharing",
        "/console/appeals",
        "/console/assessment",
        "/console/audit",
        "/console/cache",
        "/console/routing/hpf/edit",
        "/console/assessment/print",
    ] {
        let (status, html, _) = b.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
        assert!(!html.contains(EDITOR), "{page} shows the token");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains("src=\"/console/assets/"), "{page}: {tag}");
        }
    }
    let (_, html, _) = b.get("/console/versions/1").await;
    assert!(html.contains("配置版本 v1"), "{html}");
    let (status, css, headers) = b.get("/console/assets/console.css").await;
    assert_eq!(
        (status, &headers["content-type"]),
        (200, &"text/css; charset=utf-8".parse().unwrap())
    );
    assert!(css.contains("--brand"));

    // Sign out: the session ends on the server, not only in the browser.
    let session = b.cookies.clone();
    let (status, _, set) = b.post("/console/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert!(
        set.iter()
            .any(|c| c.starts_with("onestop_console=;") && c.contains("Max-Age=0"))
    );
    b.cookies = session;
    let (status, _, headers) = b.get("/console/").await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (303, "/console/login")
    );
}

#[tokio::test]
async fn changes_need_the_sessions_csrf_token_and_this_origin() {
    let h = Harness::start().await;
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(EDITOR).await;
    let versions = h.config.version_count();
    let text = HPF.replace("住房公积金管理中心", "住房公积金中心");
    // No token, a wrong token: refused before anything happens.
    for form in [
        vec![("text", text.as_str())],
        vec![("text", text.as_str()), ("_csrf", "0000")],
    ] {
        let (status, body, _) = b.post("/console/routing/hpf/edit", &form).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    // Another site's form, even with the token.
    let r = b
        .http
        .post(format!("{}/console/routing/hpf/edit", b.base))
        .header(COOKIE, b.cookie_header())
        .header("origin", "http://evil.example")
        .form(&[("text", text.as_str()), ("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(h.config.version_count(), versions, "nothing changed");
    // With it: applied, as the signed-in operator, in the audit trail.
    b.post_to(
        "/console/routing/hpf/edit",
        &[
            ("text", text.as_str()),
            ("_csrf", csrf.as_str()),
            ("message", "rename"),
        ],
        "/console/routing?done=saved",
    )
    .await;
    assert_eq!(h.config.version_count(), versions + 1);
    let audit = h.audit(5).await;
    assert!(
        audit
            .iter()
            .any(|a| a.operator == "editor" && a.action == "config.department.put"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_invalid_edit_shows_its_problem_at_its_line_and_changes_nothing() {
    let h = Harness::start().await;
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(EDITOR).await;
    let versions = h.config.version_count();
    // Line 13 names a service that does not exist.
    let bad = HPF.replace(
        "service = \"accounts\"\ncitizen_param",
        "service = \"nope\"\ncitizen_param",
    );
    let line = bad.lines().position(|l| l.contains("\"nope\"")).unwrap() + 1;
    let (status, html, _) = b
        .post(
            "/console/routing/hpf/edit",
            &[("text", bad.as_str()), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let marked = between(
        &html,
        &format!("<li class=\"error\" id=\"line-{line}\">"),
        "</li>",
    );
    assert!(marked.contains("nope"), "{marked}");
    assert!(marked.contains(&format!("line {line}:")), "{marked}");
    // The text as submitted is offered again for fixing.
    assert!(
        html.contains("service = &#34;nope&#34;") || html.contains("service = &quot;nope&quot;"),
        "{html}"
    );
    assert_eq!(h.config.version_count(), versions, "nothing changed");
}

#[tokio::test]
async fn a_viewer_sees_no_buttons_and_a_forged_form_is_refused_by_the_api() {
    let h = Harness::start().await;
    h.registry
        .register(
            "hpf",
            forms_spec("forms", "/api/v1/depts/hpf/forms"),
            instance(9201),
        )
        .await
        .unwrap();
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(VIEWER).await;
    let (status, html, _) = b.get("/console/registrations").await;
    assert_eq!(status, 200);
    assert!(html.contains("hpf/forms"), "{html}");
    assert!(!html.contains("class=\"primary approve\""), "{html}");
    assert!(!html.contains("/rollback"), "no rollback for a viewer");
    // The viewer forges the approval form (with a valid session and CSRF
    // token): the API's guard refuses it and audits the refusal.
    let (status, html, _) = b
        .post(
            "/console/registrations/hpf/forms/approve",
            &[("revision", "1"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("approver"), "{html}");
    let svc = h
        .get_json("/admin/v1/registry/services/hpf/forms", VIEWER)
        .await;
    assert_eq!(svc["status"], "pending");
    let audit = h.audit(3).await;
    assert!(
        audit.iter().any(|a| a.operator == "viewer"
            && a.action == "registry.approve"
            && a.detail.contains("refused")),
        "{audit:?}"
    );
    // An approver sees the button and approving works.
    let mut a = Browser::new(&h);
    let csrf = a.sign_in(APPROVER).await;
    let (_, html, _) = a.get("/console/registrations").await;
    assert!(html.contains("class=\"primary approve\""), "{html}");
    let (status, body, _) = a
        .post(
            "/console/registrations/hpf/forms/approve",
            &[
                ("revision", "1"),
                ("_csrf", csrf.as_str()),
                ("reason", "ok"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let svc = h
        .get_json("/admin/v1/registry/services/hpf/forms", VIEWER)
        .await;
    assert_eq!(svc["status"], "approved");
}

#[tokio::test]
async fn what_departments_registered_is_shown_as_text_never_as_markup() {
    let h = Harness::start().await;
    let mut spec = forms_spec("forms", "/api/v1/depts/hpf/forms");
    spec.routes[0].name = "<script>alert('x')</script>".into();
    spec.metadata
        .insert("owner".into(), "<img src=x onerror=alert(1)>".into());
    h.registry
        .register("hpf", spec, instance(9202))
        .await
        .unwrap();
    let mut b = Browser::new(&h);
    b.sign_in(APPROVER).await;
    let (_, html, _) = b.get("/console/registrations").await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"),
        "{html}"
    );
}

#[tokio::test]
async fn a_department_scoped_operator_sees_only_their_departments() {
    let h = Harness::start().await;
    let mut b = Browser::new(&h);
    b.sign_in(HPF_EDITOR).await;
    let (_, html, _) = b.get("/console/routing").await;
    assert!(html.contains("id=\"dept-hpf\""), "{html}");
    assert!(!html.contains("id=\"dept-tax\""), "{html}");
    // Another department's editor page is not theirs either.
    let (status, _, _) = b.get("/console/routing/tax/edit").await;
    assert_eq!(status, 404);
    let mut all = Browser::new(&h);
    all.sign_in(EDITOR).await;
    let (_, html, _) = all.get("/console/routing").await;
    assert!(html.contains("id=\"dept-tax\""), "{html}");
}

#[tokio::test]
async fn a_removed_operator_is_signed_out_at_the_next_request() {
    let h = Harness::start().await;
    let mut b = Browser::new(&h);
    b.sign_in(VIEWER).await;
    let mut files = initial_files();
    let gateway = gateway_file();
    let without_viewer: String = gateway
        .split("\n\n")
        .filter(|block| !block.contains("name = \"viewer\""))
        .collect::<Vec<_>>()
        .join("\n\n");
    files.insert("onestop.toml".into(), without_viewer);
    h.config.replace_files(files);
    let (status, _, headers) = b.get("/console/").await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (303, "/console/login")
    );
    let _: Value = Value::Null;
}

#[tokio::test]
async fn the_appeals_desk_dispatches_escalates_and_closes_through_the_api() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    let desk = h.appeals.clone().unwrap();
    // No rule decides a `<script>` title: the operators' queue.
    let queued = super::appeals::file(&desk, "c1", "<script>alert(1)</script>路灯").await;
    let hpf = super::appeals::file(&desk, "c2", "公积金提取").await;

    // A viewer sees the queue and the appeal, escaped, and no form; a
    // forged dispatch (valid session and CSRF token) is refused by the
    // API's guard, audited, and changes nothing.
    let mut v = Browser::new(&h);
    let csrf = v.sign_in(VIEWER).await;
    let (status, html, _) = v.get("/console/appeals").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&queued), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;路灯"),
        "{html}"
    );
    let (status, html, _) = v.get(&format!("/console/appeals/{queued}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("id=\"appeal-actions\""), "{html}");
    assert!(!html.contains("/dispatch\""), "{html}");
    let (status, html, _) = v
        .post(
            &format!("/console/appeals/{queued}/dispatch"),
            &[("dept", "hpf"), ("note", "x"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 403, "{html}");
    let a = h
        .get_json(&format!("/admin/v1/appeals/{queued}"), VIEWER)
        .await;
    assert_eq!(a["state"], "submitted", "{a}");
    assert!(
        h.audit(5).await.iter().any(|r| r.operator == "viewer"
            && r.action == "appeal.dispatch"
            && r.detail.contains("refused")),
        "the refusal is audited"
    );
    // Without the CSRF token: refused before the API.
    let (status, _, _) = v
        .post(
            &format!("/console/appeals/{queued}/dispatch"),
            &[("dept", "hpf")],
        )
        .await;
    assert_eq!(status, 403);

    // hpf's scoped editor sees hpf's appeal with dispatch (to hpf only)
    // and escalate, but no close (unscoped editors close); escalating
    // works and shows on the timeline.
    let mut s = Browser::new(&h);
    let csrf = s.sign_in(HPF_EDITOR).await;
    let (_, html, _) = s.get(&format!("/console/appeals/{hpf}")).await;
    assert!(html.contains("id=\"escalate\""), "{html}");
    assert!(!html.contains("id=\"close\""), "{html}");
    assert!(!html.contains("value=\"tax\""), "{html}");
    let (status, body, _) = s
        .post(
            &format!("/console/appeals/{hpf}/escalate"),
            &[("note", "请加快办理"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(body.starts_with(&format!("LOCATION /console/appeals/{hpf}?done=escalated")));
    let (_, html, _) = s
        .get(&format!("/console/appeals/{hpf}?done=escalated"))
        .await;
    assert!(html.contains("已督办"), "{html}");
    assert!(html.contains("请加快办理"), "{html}");
    assert!(!html.contains("id=\"appeal-cohandlers\""), "{html}");
    // The lead brings tax in (协办): the page names it.
    desk.add_co_handler("hpf", &hpf, "tax", "请协助核实", onestop_store::now_ms())
        .await
        .unwrap();
    let (_, html, _) = s.get(&format!("/console/appeals/{hpf}")).await;
    assert!(
        html.contains("<td id=\"appeal-cohandlers\">tax</td>"),
        "{html}"
    );
    assert!(html.contains("cohandler_added"), "{html}");
    // The scoped editor forging a dispatch of the queue's appeal to tax
    // is refused by the API.
    let (status, html, _) = s
        .post(
            &format!("/console/appeals/{queued}/dispatch"),
            &[("dept", "tax"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 403, "{html}");

    // An unscoped editor dispatches the queued one to tax from the form,
    // then closes it; the list's views follow.
    let mut e = Browser::new(&h);
    let csrf = e.sign_in(EDITOR).await;
    let (_, html, _) = e.get(&format!("/console/appeals/{queued}")).await;
    assert!(html.contains("id=\"dispatch\""), "{html}");
    assert!(html.contains("id=\"close\""), "{html}");
    let (status, body, _) = e
        .post(
            &format!("/console/appeals/{queued}/dispatch"),
            &[
                ("dept", "tax"),
                ("note", "税务事项"),
                ("_csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let (_, html, _) = e.get(&format!("/console/appeals/{queued}")).await;
    assert!(
        html.contains("<td id=\"appeal-state\">dispatched</td>"),
        "{html}"
    );
    assert!(html.contains("<td id=\"appeal-dept\">tax</td>"), "{html}");
    let (_, html, _) = e.get("/console/appeals?view=queue").await;
    assert!(!html.contains(&queued), "no longer queued: {html}");
    let (_, html, _) = e.get("/console/appeals?view=escalated").await;
    assert!(html.contains(&hpf), "{html}");
    let (status, body, _) = e
        .post(
            &format!("/console/appeals/{queued}/close"),
            &[("note", "已电话答复"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let a = h
        .get_json(&format!("/admin/v1/appeals/{queued}"), VIEWER)
        .await;
    assert_eq!(a["state"], "closed", "{a}");
    // A bad view is refused naming it; a bad id is no appeal.
    assert_eq!(e.get("/console/appeals?view=mine").await.0, 400);
    assert_eq!(e.get("/console/appeals/..%2Fstats").await.0, 404);
}

/// The running hpf file with its department renamed to `name`.
fn renamed(name: &str) -> String {
    HPF.replace("住房公积金管理中心", name)
}

/// The running configuration's version count and hpf file.
fn running(h: &Harness) -> (usize, String) {
    (
        h.config.version_count(),
        h.config.current().files["departments/hpf.toml"].clone(),
    )
}

/// `b`'s session has ended: a change with it is sent to sign in and
/// changes nothing, and `page` redirects to the sign-in page.
async fn ended(h: &Harness, b: &mut Browser, csrf: &str, page: &str) {
    let before = running(h);
    let (status, body, _) = b
        .post(
            "/console/routing/hpf/edit",
            &[("text", renamed("公积金中心").as_str()), ("_csrf", csrf)],
        )
        .await;
    assert!(
        status == 303 && body.starts_with("LOCATION /console/login\n"),
        "{status} {body}"
    );
    assert_eq!(running(h), before, "nothing changed");
    let (status, _, headers) = b.get(page).await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (303, "/console/login")
    );
}

#[tokio::test]
async fn a_session_idle_too_long_or_past_its_age_signs_in_again_and_changes_nothing() {
    let h = Harness::start().await;
    let settings = h.config.current().config.gateway.console.clone();
    let (ttl, idle) = (settings.session_ttl, settings.idle_timeout);
    let minute = Duration::from_secs(60);
    assert!(idle > minute && ttl > idle, "{ttl:?} {idle:?}");

    // Idleness: used again just before its idle timeout, the session
    // lives (and a change goes through); idle for the whole timeout, it
    // ends: a change with it is sent to sign in and nothing changes.
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(EDITOR).await;
    h.advance(idle - Duration::from_secs(1));
    b.post_to(
        "/console/routing/hpf/edit",
        &[
            ("text", renamed("住房公积金中心").as_str()),
            ("_csrf", csrf.as_str()),
        ],
        "/console/routing?done=saved",
    )
    .await;
    h.advance(idle);
    ended(&h, &mut b, &csrf, "/console/").await;

    // Age: a session used every `idle - 1m` lives until `session_ttl`
    // after sign-in, not longer.
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(EDITOR).await;
    let step = idle - minute;
    let mut age = Duration::ZERO;
    while age + step < ttl {
        h.advance(step);
        age += step;
        let (status, html, _) = b.get("/console/").await;
        assert_eq!(status, 200, "at {age:?}: {html}");
        assert_eq!(
            between(&html, "name=\"_csrf\" value=\"", "\""),
            csrf,
            "the same session"
        );
    }
    h.advance(step);
    assert!(age + step >= ttl && step < idle, "only its age ends it");
    ended(&h, &mut b, &csrf, "/console/assessment").await;
    // Signing in again works.
    b.sign_in(EDITOR).await;
}

/// `requests` of `dept` (`errors` of them 5xx) in the current minute and
/// hour: the dashboard's hour and day, the current month's assessment.
async fn traffic_now(h: &Harness, dept: &str, requests: i64, errors: i64) {
    let now = now_ms();
    let mut buckets = [0; LATENCY_BUCKETS];
    buckets[4] = requests;
    let counts = TrafficCounts {
        requests,
        errors,
        client_errors: 0,
        buckets,
    };
    let delta = |span: i64| TrafficDelta {
        span_ms: span,
        start_ms: now - now.rem_euclid(span),
        dept: dept.into(),
        gateway: "gw-a".into(),
        counts,
    };
    h.store
        .add_traffic(&[delta(MINUTE_MS), delta(HOUR_MS)])
        .await
        .unwrap();
}

/// The departments of the rows of table `id` (`<tr data-dept=…>`).
fn row_depts(html: &str, id: &str) -> Vec<String> {
    let table = between(html, &format!("<table id=\"{id}\">"), "</table>");
    table
        .split("<tr data-dept=\"")
        .skip(1)
        .map(|r| r[..r.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn a_scoped_operator_sees_only_their_departments_traffic_and_assessment() {
    let h = Harness::start().await;
    let (hpf, tax) = (40, 70);
    traffic_now(&h, "hpf", hpf, 1).await;
    traffic_now(&h, "tax", tax, 2).await;
    let mut all = Browser::new(&h);
    all.sign_in(EDITOR).await;
    let (_, html, _) = all.get("/console/").await;
    let mut seen = row_depts(&html, "traffic");
    seen.sort();
    assert_eq!(seen, ["hpf", "tax"], "{html}");
    assert!(html.contains("税务局"), "{html}");

    let mut b = Browser::new(&h);
    b.sign_in(HPF_EDITOR).await;
    let (status, html, _) = b.get("/console/").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(row_depts(&html, "traffic"), ["hpf"], "{html}");
    assert!(
        !html.contains("税务局"),
        "no row or chart names tax: {html}"
    );
    let row = between(&html, "<tr data-dept=\"hpf\">", "</tr>");
    assert!(row.contains("住房公积金管理中心"), "{row}");
    assert!(
        row.contains(&format!("<td class=\"num\">{hpf}</td>")),
        "{row}"
    );
    // The platform's totals stay.
    assert_eq!(
        between(&html, "<b id=\"requests-hour\">", "</b>"),
        (hpf + tax).to_string()
    );
    assert_eq!(between(&html, "<b id=\"errors-hour\">", "</b>"), "3");

    // The assessment: the platform's row and hpf's only.
    let (status, html, _) = b.get("/console/assessment").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(row_depts(&html, "assessment"), ["hpf"], "{html}");
    assert!(!html.contains("税务局"), "{html}");
    let platform = between(&html, "<tr class=\"platform\">", "</tr>");
    assert!(
        platform.contains(&format!("<b>{}</b>", hpf + tax)),
        "{platform}"
    );
    let (_, html, _) = all.get("/console/assessment").await;
    let mut seen = row_depts(&html, "assessment");
    seen.sort();
    assert_eq!(seen, ["hpf", "tax"], "{html}");
}

/// A third department, a consumer of tax's data like hpf.
const SS: &str = r#"[department]
id = "ss"
name = "社会保险基金管理中心"

[[services]]
id = "insured"
instances = [{ addr = "127.0.0.1:9104" }]

[[routes]]
id = "insured"
prefix = "/api/v1/depts/ss/insured"
service = "insured"
"#;

/// `consumer` applies (as the unscoped editor) to read tax's incomes; the
/// agreement's id.
async fn apply_for_income(h: &Harness, consumer: &str) -> String {
    let expires = onestop_core::time::rfc3339_ms(now_ms() + 30 * 86_400_000).unwrap();
    let (status, body) = answer(
        h.req("POST", "/admin/v1/agreements", Some(EDITOR))
            .json(&json!({
                "consumer": consumer,
                "item": "tax.income",
                "fields": ["annual_income"],
                "purpose": "loan-review",
                "legal_basis": "《住房公积金管理条例》第十三条",
                "expires_at": expires,
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn agreement_state(h: &Harness, id: &str) -> Value {
    h.get_json(&format!("/admin/v1/agreements/{id}"), VIEWER)
        .await
}

#[tokio::test]
async fn a_scoped_approver_sees_their_departments_agreements_and_cannot_decide_others() {
    let mut files = sharing_files();
    files.insert("departments/ss.toml".into(), SS.into());
    let h = Harness::with(Options {
        sharing: true,
        files: Some(files),
        ..Options::default()
    })
    .await;
    let ours = apply_for_income(&h, "hpf").await;
    let theirs = apply_for_income(&h, "ss").await;
    let mut all = Browser::new(&h);
    all.sign_in(APPROVER).await;
    let (_, html, _) = all.get("/console/sharing").await;
    for id in [&ours, &theirs] {
        assert!(html.contains(&format!("id=\"agreement-{id}\"")), "{html}");
        assert!(
            html.contains(&format!("/console/agreements/{id}/approve")),
            "{html}"
        );
    }

    // hpf's approver: hpf's agreement (as the consumer) without buttons
    // (tax, the provider, decides), nothing of ss's.
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(HPF_APPROVER).await;
    let (status, html, _) = b.get("/console/sharing").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("id=\"agreement-{ours}\"")), "{html}");
    assert!(!html.contains(&theirs), "{html}");
    assert!(!html.contains("ss →"), "{html}");
    assert!(!html.contains("/approve\""), "{html}");
    // A forged approval or rejection of ss's: refused by the API, audited,
    // still pending.
    for verdict in ["approve", "reject"] {
        let (status, html, _) = b
            .post(
                &format!("/console/agreements/{theirs}/{verdict}"),
                &[("reason", "x"), ("_csrf", csrf.as_str())],
            )
            .await;
        assert_eq!(status, 403, "{verdict}: {html}");
        let a = agreement_state(&h, &theirs).await;
        assert_eq!(a["state"], "pending", "{a}");
        assert_eq!(a["operator_approval"], Value::Null, "{a}");
        let last = h.audit(1).await.remove(0);
        assert_eq!(
            (last.operator.as_str(), last.action.as_str()),
            ("hpf-approver", format!("agreement.{verdict}").as_str())
        );
        assert!(last.detail.contains("refused"), "{last:?}");
    }
}

#[tokio::test]
async fn agreements_are_approved_rejected_and_revoked_through_the_console() {
    let h = Harness::with(Options {
        sharing: true,
        ..Options::default()
    })
    .await;
    let approved = apply_for_income(&h, "hpf").await;
    let rejected = apply_for_income(&h, "hpf").await;
    let revoked = apply_for_income(&h, "hpf").await;
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(APPROVER).await;
    let (_, html, _) = b.get("/console/sharing").await;
    let pending = between(&html, "<table id=\"pending-agreements\">", "</table>");
    for id in [&approved, &rejected, &revoked] {
        assert!(
            pending.contains(&format!("/console/agreements/{id}/approve")),
            "{pending}"
        );
        assert!(
            pending.contains(&format!("/console/agreements/{id}/reject")),
            "{pending}"
        );
    }
    // Without the CSRF token: nothing happens.
    let (status, _, _) = b
        .post(&format!("/console/agreements/{approved}/approve"), &[])
        .await;
    assert_eq!(status, 403);
    assert_eq!(agreement_state(&h, &approved).await["state"], "pending");

    let decide = |id: &str, verdict: &str| format!("/console/agreements/{id}/{verdict}");
    b.post_to(
        &decide(&approved, "approve"),
        &[("_csrf", csrf.as_str())],
        "/console/sharing?done=approved",
    )
    .await;
    let a = agreement_state(&h, &approved).await;
    assert_eq!(a["state"], "approved", "{a}");
    assert_eq!(a["operator_approval"]["by"], "operator:approver", "{a}");

    b.post_to(
        &decide(&rejected, "reject"),
        &[("reason", "用途与法律依据不符"), ("_csrf", csrf.as_str())],
        "/console/sharing?done=rejected",
    )
    .await;
    let a = agreement_state(&h, &rejected).await;
    assert_eq!(
        (&a["state"], &a["reason"]),
        (&json!("rejected"), &json!("用途与法律依据不符")),
        "{a}"
    );

    // Revoking an approved one; an empty reason says where it came from.
    let (status, _, _) = b
        .post(&decide(&revoked, "approve"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(status, 303);
    let (_, html, _) = b.get("/console/sharing").await;
    assert!(html.contains(&decide(&revoked, "revoke")), "{html}");
    b.post_to(
        &decide(&revoked, "revoke"),
        &[("reason", " "), ("_csrf", csrf.as_str())],
        "/console/sharing?done=revoked",
    )
    .await;
    let a = agreement_state(&h, &revoked).await;
    assert_eq!(
        (&a["state"], &a["reason"]),
        (&json!("revoked"), &json!("revoke via console")),
        "{a}"
    );
    assert_eq!(a["closed"]["by"], "operator:approver", "{a}");

    // Each decision is in the audit trail as the signed-in approver's.
    let audit = h.audit(10).await;
    for (action, id) in [
        ("agreement.approve", &approved),
        ("agreement.reject", &rejected),
        ("agreement.approve", &revoked),
        ("agreement.revoke", &revoked),
    ] {
        assert!(
            audit.iter().any(|r| r.operator == "approver"
                && r.action == action
                && &r.target == id
                && r.detail.contains("\"done\"")),
            "{action} {id}: {audit:?}"
        );
    }
    // Deciding again is the API's conflict, shown with its status; an
    // unknown verdict is no page.
    let (status, html, _) = b
        .post(&decide(&rejected, "approve"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(status, 409, "{html}");
    assert_eq!(agreement_state(&h, &rejected).await["state"], "rejected");
    let (status, _, _) = b
        .post(&decide(&approved, "bless"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(status, 404);
    let (_, html, _) = b.get("/console/sharing?done=revoked").await;
    assert!(html.contains("已撤销"), "{html}");
    assert!(
        between(&html, "<table id=\"pending-agreements\">", "</table>")
            .contains("没有待审批的协议")
    );
}

#[tokio::test]
async fn the_cache_is_purged_through_the_console_within_the_operators_departments() {
    let h = Harness::start().await;
    let forms = put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/1", "");
    let balance = put(&h.cache, "hpf", "balance", "/api/v1/depts/hpf/balance", "");
    let tax = put(&h.cache, "tax", "returns", "/api/v1/depts/tax/returns", "");
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(EDITOR).await;
    let (_, html, _) = b.get("/console/cache").await;
    assert!(html.contains("action=\"/console/cache/purge\""), "{html}");
    // Without the CSRF token: nothing purged, nothing recorded.
    let (status, _, _) = b
        .post(
            "/console/cache/purge",
            &[("department", "hpf"), ("kind", "all")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(cached(&h.cache, &forms) && cached(&h.cache, &balance));
    assert_eq!(h.store.last_purge_id().await.unwrap(), 0);

    let purge = |dept: &'static str, kind: &'static str, value: &'static str| {
        vec![("department", dept), ("kind", kind), ("value", value)]
    };
    let mut form = purge("hpf", "prefix", "/api/v1/depts/hpf/forms");
    form.push(("_csrf", csrf.as_str()));
    b.post_to("/console/cache/purge", &form, "/console/cache?done=purged")
        .await;
    assert!(!cached(&h.cache, &forms), "the prefix's entry is gone");
    assert!(cached(&h.cache, &balance) && cached(&h.cache, &tax));
    let mut form = purge("hpf", "all", "");
    form.push(("_csrf", csrf.as_str()));
    let (status, _, _) = b.post("/console/cache/purge", &form).await;
    assert_eq!(status, 303);
    assert!(!cached(&h.cache, &balance));
    assert!(cached(&h.cache, &tax), "another department's entry stays");
    // Recorded for every gateway and audited, as the signed-in editor.
    let recorded = h.purges().await;
    assert_eq!(
        recorded,
        [
            (
                "hpf".into(),
                PurgeKind::Prefix,
                "/api/v1/depts/hpf/forms".into(),
                "operator:editor".into()
            ),
            (
                "hpf".into(),
                PurgeKind::All,
                String::new(),
                "operator:editor".into()
            ),
        ]
    );
    let audit = h.audit(2).await;
    assert!(
        audit.iter().all(|r| r.operator == "editor"
            && r.action == "cache.purge"
            && r.target == "hpf"
            && r.detail.contains("\"done\"")),
        "{audit:?}"
    );
    let (_, html, _) = b.get("/console/cache?done=purged").await;
    assert!(html.contains("缓存已清除"), "{html}");

    // hpf's editor is offered hpf only; a forged purge of tax is refused
    // by the API and purges nothing.
    let mut s = Browser::new(&h);
    let csrf = s.sign_in(HPF_EDITOR).await;
    let (_, html, _) = s.get("/console/cache").await;
    assert!(html.contains("<option value=\"hpf\">"), "{html}");
    assert!(!html.contains("<option value=\"tax\">"), "{html}");
    let mut form = purge("tax", "all", "");
    form.push(("_csrf", csrf.as_str()));
    let (status, html, _) = s.post("/console/cache/purge", &form).await;
    assert_eq!(status, 403, "{html}");
    assert!(cached(&h.cache, &tax));
    assert_eq!(h.purges().await.len(), 2);
}

/// A rating of `score` of one of `dept`'s matters now, with a follow-up
/// due in five days; the follow-up's id.
async fn bad_rating(h: &Harness, dept: &str, score: i64) -> i64 {
    let r = h
        .store
        .add_rating(&NewRating {
            citizen: format!("c-{dept}"),
            subject_kind: SubjectKind::Matter,
            subject: format!("{dept}/route:r"),
            dept: dept.into(),
            score,
            tags: vec![],
            comment: String::new(),
            at: now_ms(),
            followup_due_at: Some(now_ms() + 5 * 86_400_000),
        })
        .await
        .unwrap();
    r.followup_id.unwrap()
}

/// A running case led by `dept` whose one step (`dept`'s) was due an hour
/// ago.
async fn overdue_case(h: &Harness, id: &str, dept: &str) {
    h.store
        .create_case(&NewCase {
            id: id.into(),
            citizen: format!("c-{id}"),
            channel: None,
            matter: "m".into(),
            matter_name: format!("{dept} 事项"),
            lead_dept: dept.into(),
            input: json!({}),
            submit_key: None,
            created_at: now_ms() - 2 * HOUR_MS,
            steps: vec![NewStep {
                step: "s".into(),
                dept: dept.into(),
                name: "办理".into(),
                deadline_at: now_ms() - HOUR_MS,
            }],
        })
        .await
        .unwrap();
}

async fn followup(h: &Harness, dept: &str, id: i64) -> Value {
    let all = h
        .get_json(
            &format!("/admin/v1/followups?state=all&dept={dept}"),
            VIEWER,
        )
        .await;
    all["followups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_scoped_editor_sees_and_closes_only_their_departments_cases_and_follow_ups() {
    let h = Harness::with(Options {
        cases: true,
        ..Options::default()
    })
    .await;
    let ours = bad_rating(&h, "hpf", 1).await;
    let theirs = bad_rating(&h, "tax", 2).await;
    overdue_case(&h, "KHPF", "hpf").await;
    overdue_case(&h, "KTAX", "tax").await;
    let mut all = Browser::new(&h);
    all.sign_in(EDITOR).await;
    let (_, html, _) = all.get("/console/cases").await;
    for needle in [
        "KHPF".to_string(),
        "KTAX".to_string(),
        format!("/console/followups/{ours}/close"),
        format!("/console/followups/{theirs}/close"),
        "<td>tax</td>".to_string(),
    ] {
        assert!(html.contains(&needle), "{needle}: {html}");
    }

    let mut b = Browser::new(&h);
    let csrf = b.sign_in(HPF_EDITOR).await;
    let (status, html, _) = b.get("/console/cases").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("KHPF"), "{html}");
    assert!(
        html.contains(&format!("/console/followups/{ours}/close")),
        "{html}"
    );
    assert!(html.contains("<td>hpf</td>"), "{html}");
    assert!(!html.contains("KTAX"), "{html}");
    assert!(
        !html.contains(&format!("/console/followups/{theirs}/close")),
        "{html}"
    );
    assert!(
        !html.contains("<td>tax</td>"),
        "no case, follow-up or rating row of tax: {html}"
    );

    // A forged close of tax's follow-up: refused by the API, still open.
    let (status, html, _) = b
        .post(
            &format!("/console/followups/{theirs}/close"),
            &[("note", "已回访"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 403, "{html}");
    assert_eq!(followup(&h, "tax", theirs).await["state"], "open");
    let last = h.audit(1).await.remove(0);
    assert_eq!(
        (last.operator.as_str(), last.action.as_str()),
        ("hpf-editor", "followup.close")
    );
    assert!(last.detail.contains("refused"), "{last:?}");

    // Closing hpf's from its form: closed with the note, by this operator,
    // audited; the list no longer offers it.
    b.post_to(
        &format!("/console/followups/{ours}/close"),
        &[("note", "已电话回访并整改"), ("_csrf", csrf.as_str())],
        "/console/cases?done=closed",
    )
    .await;
    let f = followup(&h, "hpf", ours).await;
    assert_eq!(f["state"], "closed", "{f}");
    assert_eq!(f["note"], "已电话回访并整改", "{f}");
    assert_eq!(f["closed_by"], "operator:hpf-editor", "{f}");
    let last = h.audit(1).await.remove(0);
    assert_eq!(
        (
            last.operator.as_str(),
            last.action.as_str(),
            last.target.as_str()
        ),
        ("hpf-editor", "followup.close", "hpf")
    );
    assert!(last.detail.contains("\"done\""), "{last:?}");
    let (_, html, _) = b.get("/console/cases?done=closed").await;
    assert!(html.contains("回访已办结"), "{html}");
    assert!(
        !html.contains(&format!("/console/followups/{ours}/close")),
        "{html}"
    );
    // Closing it again is the API's conflict.
    let (status, _, _) = b
        .post(
            &format!("/console/followups/{ours}/close"),
            &[("note", "again"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_scoped_editor_sees_only_their_departments_appeals_and_cannot_change_others() {
    let h = Harness::with(Options {
        appeals: true,
        ..Options::default()
    })
    .await;
    let desk = h.appeals.clone().unwrap();
    let ours = super::appeals::file(&desk, "c1", "公积金提取").await;
    let theirs = super::appeals::file(&desk, "c2", "个税退税").await;
    let queued = super::appeals::file(&desk, "c3", "路灯不亮").await;
    let mut all = Browser::new(&h);
    all.sign_in(EDITOR).await;
    let (_, html, _) = all.get("/console/appeals?view=open").await;
    assert!(html.contains(&ours) && html.contains(&theirs), "{html}");
    assert!(html.contains("<td>tax</td>"), "{html}");

    let mut b = Browser::new(&h);
    let csrf = b.sign_in(HPF_EDITOR).await;
    let (status, html, _) = b.get("/console/appeals?view=open").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&ours), "{html}");
    assert!(html.contains("<td>hpf</td>"), "{html}");
    assert!(!html.contains(&theirs), "{html}");
    assert!(
        !html.contains("<td>tax</td>"),
        "no row of tax, in the list or the counts: {html}"
    );
    // The operators' queue is everyone's to see.
    let (_, html, _) = b.get("/console/appeals?view=queue").await;
    assert!(html.contains(&queued), "{html}");
    // tax's appeal is not shown; a forged escalation is refused by the
    // API and changes nothing.
    let (status, html, _) = b.get(&format!("/console/appeals/{theirs}")).await;
    assert_eq!(status, 403, "{html}");
    assert!(!html.contains("个税退税"), "{html}");
    let before = h
        .get_json(&format!("/admin/v1/appeals/{theirs}"), VIEWER)
        .await;
    let (status, html, _) = b
        .post(
            &format!("/console/appeals/{theirs}/escalate"),
            &[("note", "请加快"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 403, "{html}");
    let after = h
        .get_json(&format!("/admin/v1/appeals/{theirs}"), VIEWER)
        .await;
    assert_eq!(after, before);
    let last = h.audit(1).await.remove(0);
    assert_eq!(
        (last.operator.as_str(), last.action.as_str()),
        ("hpf-editor", "appeal.escalate")
    );
    assert!(last.detail.contains("refused"), "{last:?}");
}
