//! Configuration versions end to end: every applied configuration is a
//! version; the admin API and `onestop config` change, list, diff and roll
//! back; a rollback restores the earlier content exactly and traffic
//! follows; viewers and strangers change nothing; an invalid change is
//! reported with its file and line and never applied.

use std::process::Command;

use onestop_tests::{ConfigOptions, Gateway, GatewaySetup, Sim, onestop_bin, wait_for};
use serde_json::{Value, json};

fn cli(gw: &Gateway, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(onestop_bin())
        .arg("config")
        .args(args)
        .args(["--admin", &format!("http://{}", gw.admin)])
        .env("ONESTOP_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether the gateway routed the request to a department (whatever it answered).
async fn reaches_backend(http: &reqwest::Client, url: &str) -> bool {
    let r = http.get(url).send().await.unwrap();
    r.headers().contains_key("x-sim-instance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_rollback_and_operator_roles() {
    let sim = Sim::start(3, 50).await;
    let (viewer_token, viewer_hash) = onestop::tokens::new_operator_token();
    let gw = Gateway::start_setup(
        &sim.manifest,
        &ConfigOptions::default(),
        |_| {},
        GatewaySetup {
            threads: 2,
            extra: onestop::fleet_config::operator_toml("auditor", &["viewer"], &viewer_hash),
            ..GatewaySetup::default()
        },
    )
    .await;
    let dept = sim.manifest.departments[1].id.clone();
    let http = onestop_tests::client();
    let probe = gw.url(&format!("/api/v1/depts/{dept}/rollback-probe"));

    let first = gw.admin_get("/config").await;
    assert_eq!(first["version"], 1);
    let v1_hash = first["content_hash"].as_str().unwrap().to_string();

    // A route added through the admin API: version 2, and traffic follows.
    let put = gw
        .admin_request(
            reqwest::Method::PUT,
            &format!("/config/departments/{dept}/routes/rollback-probe"),
        )
        .header("x-onestop-change-message", "probe route")
        .json(&json!({"path": format!("/api/v1/depts/{dept}/rollback-probe"), "service": "main"}))
        .send()
        .await
        .unwrap();
    let status = put.status();
    let v2: Value = put.json().await.unwrap();
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_ne!(v2["content_hash"].as_str().unwrap(), v1_hash);
    assert!(
        reaches_backend(&http, &probe).await,
        "the new route does not reach the department"
    );
    let file = std::fs::read_to_string(
        gw.dir
            .path()
            .join(format!("config/departments/{dept}.toml")),
    )
    .unwrap();
    assert!(
        file.contains("rollback-probe"),
        "the API wrote the file: {file}"
    );

    // Viewers and strangers change nothing.
    for (token, expected) in [
        (viewer_token.as_str(), 403),
        ("oso_not-a-real-token", 401),
        ("", 401),
    ] {
        let r = http
            .post(format!("http://{}/admin/v1/config/rollback", gw.admin))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "token {token:?}");
        let r = http
            .delete(format!(
                "http://{}/admin/v1/config/departments/{dept}/routes/rollback-probe",
                gw.admin
            ))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "token {token:?}");
    }
    let r = http
        .get(format!("http://{}/admin/v1/config", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no token at all");
    let after = gw.admin_get("/config").await;
    assert_eq!(after["version"], 2, "nothing changed");
    // A viewer reads.
    let r = http
        .get(format!("http://{}/admin/v1/config/versions", gw.admin))
        .header("authorization", format!("Bearer {viewer_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // An invalid change: 422 with the file and line; never applied.
    let generation = after["generation"].as_i64().unwrap();
    let bad = gw
        .admin_request(
            reqwest::Method::PUT,
            &format!("/config/departments/{dept}/routes/bad"),
        )
        .json(&json!({"path": format!("/api/v1/depts/{dept}/bad"), "service": "main", "timout": "3s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    let detail = &body["error"]["details"][0];
    assert!(
        detail["file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("departments/{dept}.toml")),
        "{body}"
    );
    assert!(detail["line"].as_u64().unwrap() > 1, "{body}");
    assert!(
        detail["message"].as_str().unwrap().contains("timout"),
        "{body}"
    );
    let status = gw.admin_get("/config/status").await;
    assert_eq!(
        status["generation"].as_i64().unwrap(),
        generation,
        "not applied"
    );
    assert!(
        status["last_rejection"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("timout"),
        "{status}"
    );

    // `onestop config log` and `diff`.
    let (code, log, err) = cli(&gw, &gw.operator_token, &["log"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with('*') && lines[0].contains("probe route"),
        "{log}"
    );
    let (code, diff, err) = cli(&gw, &gw.operator_token, &["diff", "1", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        diff.contains(&format!("+path = \"/api/v1/depts/{dept}/rollback-probe\"")),
        "{diff}"
    );

    // Rollback in one step: the content hash of version 1, and traffic follows.
    let (code, out, err) = cli(&gw, &viewer_token, &["rollback"]);
    assert_ne!(code, 0, "a viewer cannot roll back: {out}");
    assert!(err.contains("403"), "{err}");
    let (code, out, err) = cli(&gw, &gw.operator_token, &["rollback", "-m", "undo probe"]);
    assert_eq!(code, 0, "{err}");
    println!("rollback: {out}");
    let now = gw.admin_get("/config").await;
    assert_eq!(now["version"], 3);
    assert_eq!(
        now["content_hash"].as_str().unwrap(),
        v1_hash,
        "exactly version 1"
    );
    let gone = wait_for(std::time::Duration::from_secs(2), || async {
        !reaches_backend(&http, &probe).await
    })
    .await;
    assert!(gone.is_some(), "traffic did not follow the rollback");
    let file = std::fs::read_to_string(
        gw.dir
            .path()
            .join(format!("config/departments/{dept}.toml")),
    )
    .unwrap();
    assert!(
        !file.contains("rollback-probe"),
        "the files hold version 1 again"
    );
    let v3 = gw.admin_get("/config/versions/3").await;
    assert_eq!(v3["source"], "rollback");
    assert_eq!(v3["author"], "test-operator");

    // Every change is in the audit trail with who and what.
    let audit = gw.admin_get("/audit").await;
    let text = audit.to_string();
    for needle in ["test-operator", "config.route.put", "config.rollback"] {
        assert!(text.contains(needle), "{needle} missing from {audit}");
    }
}
