//! Surgical edits of department files for the admin API, with `toml_edit`
//! so that the rest of the file — comments, order, formatting — stays as
//! the operator wrote it.

use std::path::Path;

use onestop_admin::backend::ChangeError;
use onestop_config::Config;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

/// `departments/<dept>.toml`.
pub fn dept_file(dept: &str) -> String {
    format!("departments/{dept}.toml")
}

/// A department id usable as a file name: 1-32 of a-z, 0-9, -.
pub fn check_dept_id(dept: &str) -> Result<(), ChangeError> {
    let ok = !dept.is_empty()
        && dept.len() <= 32
        && dept
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ChangeError::BadRequest(format!(
            "department id `{dept}` must be 1-32 characters of a-z, 0-9 and -"
        )))
    }
}

/// The file written for `dept` must declare that department.
pub fn check_file_declares(config: &Config, dir: &Path, dept: &str) -> Result<(), ChangeError> {
    let path = dir.join(dept_file(dept));
    match config.departments.iter().find(|d| d.path == path) {
        Some(d) if d.file.department.id.get_ref() == dept => Ok(()),
        Some(d) => Err(ChangeError::BadRequest(format!(
            "the file of department `{dept}` declares department `{}`",
            d.file.department.id.get_ref()
        ))),
        None => Err(ChangeError::Internal(format!(
            "{} is missing after the change",
            path.display()
        ))),
    }
}

fn parse(text: &str) -> Result<DocumentMut, ChangeError> {
    text.parse::<DocumentMut>().map_err(|e| {
        ChangeError::BadRequest(format!(
            "the department file is not valid TOML: {}",
            e.message()
        ))
    })
}

fn routes(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, ChangeError> {
    doc.entry("routes")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| {
            ChangeError::BadRequest(
                "`routes` of the department file is not an array of tables".into(),
            )
        })
}

fn route_id(t: &Table) -> Option<&str> {
    t.get("id").and_then(Item::as_str)
}

/// Replaces the route `route` (or appends it) with the keys of `body`.
pub fn put_route(text: &str, route: &str, body: &serde_json::Value) -> Result<String, ChangeError> {
    let serde_json::Value::Object(fields) = body else {
        return Err(ChangeError::BadRequest(
            "the route must be a JSON object of its keys".into(),
        ));
    };
    if let Some(id) = fields.get("id")
        && id.as_str() != Some(route)
    {
        return Err(ChangeError::BadRequest(format!(
            "the body's `id` ({id}) differs from the route in the path (`{route}`)"
        )));
    }
    // `id` first, then the keys as given.
    let mut ordered = serde_json::Map::new();
    ordered.insert("id".into(), serde_json::Value::String(route.into()));
    for (k, v) in fields {
        if k != "id" {
            ordered.insert(k.clone(), v.clone());
        }
    }
    let table = toml_edit::ser::to_document(&ordered)
        .map_err(|e| ChangeError::BadRequest(format!("the route cannot be written as TOML: {e}")))?
        .as_table()
        .clone();
    let mut doc = parse(text)?;
    let routes = routes(&mut doc)?;
    let existing = routes.iter().position(|t| route_id(t) == Some(route));
    match existing.and_then(|i| routes.get_mut(i)) {
        Some(slot) => *slot = table,
        None => routes.push(table),
    }
    Ok(doc.to_string())
}

/// Removes the route `route`.
pub fn delete_route(text: &str, route: &str) -> Result<String, ChangeError> {
    let mut doc = parse(text)?;
    let routes = routes(&mut doc)?;
    let before = routes.len();
    routes.retain(|t| route_id(t) != Some(route));
    if routes.len() == before {
        return Err(ChangeError::NotFound(format!("route `{route}`")));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# 公积金 — edited by hand
[department]
id = "hpf"
name = "住房公积金管理中心"

[[services]]
id = "main"
instances = [{ addr = "127.0.0.1:9001" }]

# the balance query
[[routes]]
id = "balance"
template = "/api/v1/depts/hpf/accounts/{citizen}"
service = "main"

[[routes]]
id = "loans"
path = "/api/v1/depts/hpf/loans"
service = "main"
"#;

    #[test]
    fn put_route_replaces_in_place_and_keeps_comments() {
        let body = serde_json::json!({"path": "/api/v1/depts/hpf/loans/v2", "service": "main", "methods": ["GET"], "timeout": "3s"});
        let out = put_route(FILE, "loans", &body).expect("edit");
        assert!(out.contains("# 公积金 — edited by hand"), "{out}");
        assert!(out.contains("# the balance query"), "{out}");
        assert!(
            out.contains("path = \"/api/v1/depts/hpf/loans/v2\""),
            "{out}"
        );
        assert!(
            !out.contains("path = \"/api/v1/depts/hpf/loans\"\n"),
            "{out}"
        );
        assert_eq!(out.matches("[[routes]]").count(), 2);
        let parsed: toml::Table = toml::from_str(&out).expect("valid toml");
        let routes = parsed["routes"].as_array().expect("routes");
        assert_eq!(routes[1]["id"].as_str(), Some("loans"));
        assert_eq!(routes[1]["timeout"].as_str(), Some("3s"));
    }

    #[test]
    fn put_route_appends_a_new_route() {
        let body = serde_json::json!({"path": "/api/v1/depts/hpf/new", "service": "main"});
        let out = put_route(FILE, "new", &body).expect("edit");
        let parsed: toml::Table = toml::from_str(&out).expect("valid toml");
        let routes = parsed["routes"].as_array().expect("routes");
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[2]["id"].as_str(), Some("new"));
    }

    #[test]
    fn put_route_refuses_bad_bodies() {
        for body in [
            serde_json::json!([1, 2]),
            serde_json::json!({"id": "other", "path": "/x"}),
            serde_json::json!({"path": null}),
        ] {
            assert!(
                matches!(
                    put_route(FILE, "loans", &body),
                    Err(ChangeError::BadRequest(_))
                ),
                "{body}"
            );
        }
        assert!(matches!(
            put_route("not = [toml", "x", &serde_json::json!({})),
            Err(ChangeError::BadRequest(_))
        ));
    }

    #[test]
    fn delete_route_removes_exactly_one() {
        let out = delete_route(FILE, "balance").expect("edit");
        assert_eq!(out.matches("[[routes]]").count(), 1);
        assert!(out.contains("id = \"loans\""));
        assert!(matches!(
            delete_route(FILE, "nope"),
            Err(ChangeError::NotFound(_))
        ));
    }

    #[test]
    fn department_ids_are_checked() {
        assert!(check_dept_id("hpf").is_ok());
        for bad in ["", "../etc", "HPF", "a/b", &"x".repeat(33)] {
            assert!(check_dept_id(bad).is_err(), "{bad}");
        }
    }
}
