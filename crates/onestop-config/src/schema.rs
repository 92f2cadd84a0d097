//! JSON Schema of both kinds of configuration file, generated from the serde
//! model with `schemars`: doc comments become descriptions, durations are
//! strings such as `"500ms"`. The schemas are checked in under
//! `docs/schema/` (a test keeps them current) for editors and CI.

use schemars::{JsonSchema, Schema};

use crate::model::{DepartmentFile, GatewayFile};

/// JSON Schema of `onestop.toml`.
pub fn gateway_schema() -> serde_json::Value {
    schema::<GatewayFile>("onestop.toml")
}

/// JSON Schema of a `departments/*.toml` file.
pub fn department_schema() -> serde_json::Value {
    schema::<DepartmentFile>("departments/*.toml")
}

/// Both schemas with the names they are checked in under in `docs/schema/`:
/// `onestop.schema.json` and `department.schema.json`.
pub fn json_schemas() -> [(&'static str, serde_json::Value); 2] {
    [
        ("onestop.schema.json", gateway_schema()),
        ("department.schema.json", department_schema()),
    ]
}

fn schema<T: JsonSchema>(title: &str) -> serde_json::Value {
    let mut schema: Schema = schemars::schema_for!(T);
    schema.insert("title".into(), title.into());
    let mut value = schema.to_value();
    tidy_floats(&mut value);
    value
}

/// Defaults of `f32` settings reach the schema widened to `f64`
/// (`0.20000000298023224`); writes them the way they are written in TOML.
fn tidy_floats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64()
                && f64::from(x as f32) == x
                && let Ok(short) = (x as f32).to_string().parse::<f64>()
                && let Some(tidy) = serde_json::Number::from_f64(short)
            {
                *n = tidy;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(tidy_floats),
        serde_json::Value::Object(map) => map.values_mut().for_each(tidy_floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::*;

    fn schema_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema")
    }

    /// The checked-in schemas are the generated ones. To regenerate:
    /// `UPDATE_SCHEMA=1 cargo test -p onestop-config schema`.
    #[test]
    fn checked_in_schema_is_current() {
        let update = std::env::var_os("UPDATE_SCHEMA").is_some();
        for (name, schema) in json_schemas() {
            let path = schema_dir().join(name);
            let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if update {
                std::fs::create_dir_all(schema_dir()).unwrap();
                std::fs::write(&path, &generated).unwrap();
            }
            let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                checked_in == generated,
                "docs/schema/{name} is out of date with the model; regenerate it with \
                 `UPDATE_SCHEMA=1 cargo test -p onestop-config schema` and commit the result"
            );
        }
    }

    #[test]
    fn schema_describes_the_model() {
        let gw = gateway_schema();
        assert_eq!(gw["title"], "onestop.toml");
        assert_eq!(gw["additionalProperties"], false);
        assert_eq!(
            gw["$defs"]["RetryBudget"]["properties"]["ratio"]["default"],
            serde_json::json!(0.2)
        );
        let store = &gw["$defs"]["StoreSettings"];
        assert_eq!(store["properties"]["timeout"]["type"], "string");
        assert_eq!(store["properties"]["timeout"]["default"], "2s");
        assert_eq!(
            store["properties"]["max_connections"]["description"],
            "Largest number of open store connections (at least 1)."
        );
        let operator = &gw["$defs"]["Operator"];
        assert_eq!(operator["properties"]["name"]["type"], "string");
        assert_eq!(operator["properties"]["departments"]["type"], "array");
        let required: Vec<&str> = operator["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["name", "roles", "token_sha256"]);

        let dept = department_schema();
        assert_eq!(dept["title"], "departments/*.toml");
        let route = &dept["$defs"]["Route"]["properties"];
        assert_eq!(
            route["timeout"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(route["id"]["type"], "string");
        let header = &dept["$defs"]["HeaderMatch"];
        assert_eq!(header["additionalProperties"], false);
        assert!(
            header["properties"]["regex"]["description"]
                .as_str()
                .unwrap()
                .contains("anchored at both ends")
        );
    }
}
