//! `POST /admin/v1/cache/purge` and `GET /admin/v1/cache/stats` over a
//! real response cache and its purge applier.

use onestop_cache::testing::{cached, put};
use onestop_store::{PurgeKind, Store as _};
use serde_json::{Value, json};

use super::support::*;

async fn purge(h: &Harness, token: &str, body: Value) -> (u16, Value) {
    answer(
        h.req("POST", "/admin/v1/cache/purge", Some(token))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_editor_purges_by_prefix_tag_and_all_with_an_audit_record() {
    let h = Harness::start().await;
    let forms = put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/1", "a");
    let deeper = put(
        &h.cache,
        "hpf",
        "forms",
        "/api/v1/depts/hpf/forms/1/pdf",
        "",
    );
    let sibling = put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/10", "b");
    let other = put(&h.cache, "hpf", "balance", "/api/v1/depts/hpf/balance", "");
    let tax = put(&h.cache, "tax", "returns", "/api/v1/depts/hpf/forms/1", "a");

    let (status, body) = purge(
        &h,
        EDITOR,
        json!({"department": "hpf", "prefix": "/api/v1/depts/hpf/forms/1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], 2);
    let first = body["id"].as_i64().unwrap();
    assert!(!cached(&h.cache, &forms) && !cached(&h.cache, &deeper));
    assert!(cached(&h.cache, &sibling) && cached(&h.cache, &other));
    assert!(cached(&h.cache, &tax), "another department's entry stays");

    let (status, body) = purge(&h, EDITOR, json!({"department": "hpf", "tag": "b"})).await;
    assert_eq!((status, &body["removed"]), (200, &json!(1)), "{body}");
    assert!(!cached(&h.cache, &sibling) && cached(&h.cache, &other));
    let (status, body) = purge(&h, HPF_EDITOR, json!({"department": "hpf", "all": true})).await;
    assert_eq!((status, &body["removed"]), (200, &json!(1)), "{body}");
    assert!(!cached(&h.cache, &other));
    assert!(cached(&h.cache, &tax));

    // Recorded for every gateway, with who asked.
    let recorded = h.purges().await;
    assert_eq!(
        recorded,
        vec![
            (
                "hpf".into(),
                PurgeKind::Prefix,
                "/api/v1/depts/hpf/forms/1".into(),
                "operator:editor".into()
            ),
            (
                "hpf".into(),
                PurgeKind::Tag,
                "b".into(),
                "operator:editor".into()
            ),
            (
                "hpf".into(),
                PurgeKind::All,
                String::new(),
                "operator:hpf-editor".into()
            ),
        ]
    );
    // And audited: who, what, when.
    let audit = h.audit(10).await;
    assert_eq!(audit.len(), 3);
    let oldest = &audit[2];
    assert_eq!(
        (
            oldest.operator.as_str(),
            oldest.action.as_str(),
            oldest.target.as_str()
        ),
        ("editor", "cache.purge", "hpf")
    );
    assert!(oldest.at > 0);
    let detail: Value = serde_json::from_str(&oldest.detail).unwrap();
    assert_eq!(detail["outcome"], "done");
    assert_eq!(detail["kind"], "prefix");
    assert_eq!(detail["value"], "/api/v1/depts/hpf/forms/1");
    assert_eq!(detail["id"], first);
    assert_eq!(detail["removed"], 2);
    assert_eq!(audit[0].operator, "hpf-editor");
}

#[tokio::test]
async fn purges_stay_within_the_operators_departments_and_roles() {
    let h = Harness::start().await;
    let tax = put(&h.cache, "tax", "returns", "/api/v1/depts/tax/returns", "");

    let (status, body) = purge(&h, HPF_EDITOR, json!({"department": "tax", "all": true})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    assert_eq!(
        body["error"]["message"],
        "operator `hpf-editor` may change only departments hpf"
    );
    for token in [VIEWER, APPROVER] {
        let (status, body) = purge(&h, token, json!({"department": "tax", "all": true})).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("lacks the role this needs (editor)"),
            "{body}"
        );
    }
    assert!(cached(&h.cache, &tax));
    assert_eq!(h.store.last_purge_id().await.unwrap(), 0);
    // Each refusal is audited; the handler's names the department.
    let refused: Vec<(String, String, String)> = h
        .audit(10)
        .await
        .into_iter()
        .map(|r| {
            let d: Value = serde_json::from_str(&r.detail).unwrap();
            assert_eq!(d["outcome"], "refused");
            assert_eq!(d["status"], 403);
            (r.operator, r.action, r.target)
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            ("approver".into(), "cache.purge".into(), "cache".into()),
            ("viewer".into(), "cache.purge".into(), "cache".into()),
            ("hpf-editor".into(), "cache.purge".into(), "tax".into()),
        ]
    );
}

#[tokio::test]
async fn bad_purges_are_refused_with_a_clear_message() {
    let h = Harness::start().await;
    let entry = put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms", "t");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"department": "hpf"}),
            400,
            "target: exactly one of `prefix`, `tag` or `all` must be set",
        ),
        (
            json!({"department": "hpf", "prefix": "/a", "tag": "t"}),
            400,
            "exactly one of",
        ),
        (
            json!({"department": "hpf", "tag": "t", "all": true}),
            400,
            "exactly one of",
        ),
        (
            json!({"department": "hpf", "all": false}),
            400,
            "all: must be true",
        ),
        (
            json!({"department": "hpf", "prefix": "api/v1"}),
            400,
            "prefix: must start with `/`",
        ),
        (
            json!({"department": "hpf", "prefix": "/a?b=1"}),
            400,
            "prefix: must be a path without a query",
        ),
        (
            json!({"department": "hpf", "prefix": "/a\u{1}"}),
            400,
            "prefix: must not contain control characters",
        ),
        (
            json!({"department": "hpf", "prefix": format!("/{}", "a".repeat(1024))}),
            400,
            "prefix: must be at most 1024 bytes",
        ),
        (
            json!({"department": "hpf", "tag": ""}),
            400,
            "tag: must not be empty",
        ),
        (
            json!({"department": "hpf", "tag": "a,b"}),
            400,
            "tag: must be one tag (no commas)",
        ),
        (
            json!({"department": "hpf", "tag": "x".repeat(257)}),
            400,
            "tag: must be at most 256 bytes",
        ),
        (
            json!({"department": "HPF!", "all": true}),
            400,
            "department id `HPF!` must be",
        ),
        (
            json!({"department": "hpf", "all": true, "regex": ".*"}),
            400,
            "unknown field `regex`",
        ),
        (json!({"prefix": "/a"}), 400, "missing field `department`"),
        (
            json!({"department": "zz", "all": true}),
            404,
            "department `zz` is not in the configuration",
        ),
    ];
    for (body, want, message) in cases {
        let (status, answer) = purge(&h, EDITOR, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
        let got = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(got.contains(message), "{body}: {got}");
    }
    // Field details for the checks that name one.
    let (_, answer) = purge(&h, EDITOR, json!({"department": "hpf", "tag": "a,b"})).await;
    assert_eq!(answer["error"]["details"][0]["field"], "tag");
    assert_eq!(
        h.store.last_purge_id().await.unwrap(),
        0,
        "nothing recorded"
    );
    assert!(cached(&h.cache, &entry));
}

#[tokio::test]
async fn stats_show_the_cache_to_any_operator() {
    let h = Harness::start().await;
    put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/1", "");
    put(&h.cache, "hpf", "forms", "/api/v1/depts/hpf/forms/2", "");
    put(&h.cache, "tax", "returns", "/api/v1/depts/tax/returns", "");
    let stats = h.get_json("/admin/v1/cache/stats", VIEWER).await;
    assert_eq!(stats["max_bytes"], 16 << 20);
    assert_eq!(stats["entries"], 3);
    assert!(stats["bytes"].as_u64().unwrap() > 0);
    let route = |stats: &Value, dept: &str, route: &str| -> Value {
        stats["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dept"] == dept && r["route"] == route)
            .cloned()
            .unwrap_or_else(|| panic!("no {dept}/{route} in {stats}"))
    };
    assert_eq!(route(&stats, "hpf", "forms")["entries"], 2);

    let (status, _) = purge(&h, EDITOR, json!({"department": "hpf", "all": true})).await;
    assert_eq!(status, 200);
    let stats = h.get_json("/admin/v1/cache/stats", APPROVER).await;
    assert_eq!(stats["entries"], 1);
    let forms = route(&stats, "hpf", "forms");
    assert_eq!(forms["entries"], 0);
    assert_eq!(forms["evictions"], 2);
    assert_eq!(route(&stats, "tax", "returns")["entries"], 1);

    let (status, _) = answer(
        h.req("GET", "/admin/v1/cache/stats", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}
