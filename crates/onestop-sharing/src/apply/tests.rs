#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

const NOW: i64 = 1_000_000_000;
const DAY: i64 = 86_400_000;

fn catalog() -> Catalog {
    let toml = r#"
[department]
id = "hrss"
name = "人社"

[[data_items]]
id = "si"
name = "参保"
sharing = "conditional"
fetch = "/api/v1/depts/hrss/si/{citizen}"
[[data_items.fields]]
name = "resident_id"
type = "string"
sensitivity = "sensitive"
mask = "resident_id"
[[data_items.fields]]
name = "months"
type = "integer"
sensitivity = "internal"

[[data_items]]
id = "secret"
name = "secret"
sharing = "not_shared"
fetch = "/api/v1/depts/hrss/secret/{citizen}"
[[data_items.fields]]
name = "x"
type = "boolean"
sensitivity = "sensitive"
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("departments")).unwrap();
    std::fs::write(dir.path().join("onestop.toml"), "").unwrap();
    std::fs::write(dir.path().join("departments/hrss.toml"), toml).unwrap();
    let config = onestop_config::load_dir(dir.path()).unwrap();
    Catalog::from_config(&config)
}

fn app() -> Application {
    Application {
        item: "hrss.si".into(),
        fields: vec!["resident_id".into(), "months".into()],
        clear_fields: vec!["resident_id".into()],
        purpose: "housing-loan-review".into(),
        legal_basis: "《住房公积金管理条例》第十三条".into(),
        expires_at: NOW + 30 * DAY,
    }
}

fn problems(app: &Application) -> Vec<String> {
    match check(
        &catalog(),
        "hpf",
        app,
        NOW,
        Duration::from_secs(365 * 86_400),
    ) {
        Ok(_) => vec![],
        Err(p) => p.into_iter().map(|p| p.field).collect(),
    }
}

#[test]
fn a_complete_application_names_its_item() {
    let item = check(
        &catalog(),
        "hpf",
        &app(),
        NOW,
        Duration::from_secs(86_400 * 365),
    )
    .unwrap();
    assert_eq!(item.id, "hrss.si");
    assert!(item.personal);
}

#[test]
fn every_problem_is_named_by_field() {
    let mut a = app();
    a.item = "hrss.nope".into();
    assert_eq!(problems(&a), ["item"]);
    a.item = "hrss.secret".into();
    a.fields = vec!["x".into()];
    a.clear_fields = vec![];
    assert_eq!(problems(&a), ["item"]);

    let mut a = app();
    a.fields = vec!["months".into(), "bogus".into(), "months".into()];
    a.clear_fields = vec!["resident_id".into()];
    assert_eq!(problems(&a), ["fields[1]", "fields[2]", "clear_fields[0]"]);

    let mut a = app();
    a.clear_fields = vec!["months".into()];
    assert_eq!(problems(&a), ["clear_fields[0]"]);

    let mut a = app();
    a.purpose = "Housing Loan".into();
    a.legal_basis = " ".into();
    a.expires_at = NOW;
    assert_eq!(problems(&a), ["purpose", "legal_basis", "expires_at"]);

    let mut a = app();
    a.expires_at = NOW + 400 * DAY;
    assert_eq!(problems(&a), ["expires_at"]);
    a.fields = vec![];
    a.clear_fields = vec![];
    assert_eq!(problems(&a), ["fields", "expires_at"]);
}

#[test]
fn a_provider_cannot_apply_for_its_own_item() {
    let r = check(
        &catalog(),
        "hrss",
        &app(),
        NOW,
        Duration::from_secs(86_400 * 365),
    );
    assert_eq!(r.map(|_| ()).unwrap_err()[0].field, "item");
}
