//! The console over the real admin router: sign-in and its cookie, CSRF,
//! the security headers, escaping of what departments registered, viewers
//! and department-scoped operators, invalid edits shown at their line.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;

use super::support::*;

/// A browser-like client of the console: no redirects followed, cookies
/// kept by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(h: &Harness) -> Browser {
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

    async fn get(&mut self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
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

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, Vec<String>) {
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

    /// Signs in with `token`; returns the session's CSRF token.
    async fn sign_in(&mut self, token: &str) -> String {
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

fn between(text: &str, start: &str, end: &str) -> String {
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
    let (status, body, _) = b
        .post(
            "/console/routing/hpf/edit",
            &[
                ("text", text.as_str()),
                ("_csrf", csrf.as_str()),
                ("message", "rename"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(
        body.starts_with("LOCATION /console/routing?done=saved"),
        "{body}"
    );
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
