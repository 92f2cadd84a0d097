//! Minimum necessary (最小必要), pure: of the provider's JSON object, keep
//! only the fields an agreement names (and the item declares), in the
//! item's order, and mask each sensitive one unless the agreement grants
//! it in clear.

use onestop_core::mask;
use serde_json::{Map, Value};

use crate::catalog::{Item, mask_kind};

/// What a consumer receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The JSON object sent.
    pub data: Map<String, Value>,
    /// The fields sent, in the item's order.
    pub fields: Vec<String>,
    /// Of those, the ones masked.
    pub masked: Vec<String>,
}

/// Filters and masks `doc` for an agreement granting `fields`, `clear` of
/// them unmasked. A member the item does not declare, or the agreement
/// does not name, never passes; a declared field the provider left out is
/// simply absent.
pub fn filter(
    item: &Item,
    fields: &[String],
    clear: &[String],
    doc: &Map<String, Value>,
) -> Filtered {
    let mut out = Filtered {
        data: Map::new(),
        fields: Vec::new(),
        masked: Vec::new(),
    };
    for field in &item.fields {
        if !fields.contains(&field.name) {
            continue;
        }
        let Some(value) = doc.get(&field.name) else {
            continue;
        };
        let value = match field.mask {
            Some(kind) if !clear.contains(&field.name) => {
                out.masked.push(field.name.clone());
                mask_value(kind, value)
            }
            _ => value.clone(),
        };
        out.fields.push(field.name.clone());
        out.data.insert(field.name.clone(), value);
    }
    out
}

/// A masked value: strings and numbers by their kind's rule (numbers as
/// their digits), `null` stays `null`, anything else becomes the fixed
/// mask.
fn mask_value(kind: onestop_config::MaskKind, value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(mask::apply(mask_kind(kind), s)),
        Value::Number(n) => Value::String(mask::apply(mask_kind(kind), &n.to_string())),
        _ => Value::String(mask::apply(mask::Kind::Full, "")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::catalog::Field;
    use onestop_config::{FieldType, MaskKind, Sensitivity, SharingClass};
    use serde_json::json;

    fn item() -> Item {
        let f = |name: &str, sensitivity, mask| Field {
            name: name.into(),
            kind: FieldType::String,
            sensitivity,
            mask,
        };
        Item {
            id: "hrss.si".into(),
            dept: "hrss".into(),
            name: "si".into(),
            description: None,
            sharing: SharingClass::Conditional,
            fetch: "/api/v1/depts/hrss/si/{citizen}".into(),
            provider_approval: false,
            personal: true,
            fields: vec![
                f(
                    "resident_id",
                    Sensitivity::Sensitive,
                    Some(MaskKind::ResidentId),
                ),
                f("name", Sensitivity::Personal, None),
                f("phone", Sensitivity::Sensitive, Some(MaskKind::Phone)),
                f("months", Sensitivity::Internal, None),
                f("secret", Sensitivity::Sensitive, Some(MaskKind::Full)),
            ],
        }
    }

    fn doc() -> Map<String, Value> {
        json!({
            "resident_id": "11010119900307123X",
            "name": "张三",
            "phone": "13812345678",
            "months": 120,
            "secret": {"a": 1},
            "internal_note": "not declared"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_granted_declared_fields_pass_in_item_order() {
        let out = filter(
            &item(),
            &names(&["months", "name", "internal_note", "absent"]),
            &[],
            &doc(),
        );
        assert_eq!(out.fields, names(&["name", "months"]));
        assert_eq!(
            Value::Object(out.data),
            json!({"name": "张三", "months": 120})
        );
        assert!(out.masked.is_empty());
    }

    #[test]
    fn sensitive_fields_are_masked_unless_granted_in_clear() {
        let all = names(&["resident_id", "phone", "secret"]);
        let out = filter(&item(), &all, &[], &doc());
        assert_eq!(
            Value::Object(out.data),
            json!({"resident_id": "110***********123X", "phone": "138****5678", "secret": "****"})
        );
        assert_eq!(out.masked, all);
        let out = filter(&item(), &all, &names(&["phone"]), &doc());
        assert_eq!(out.data["phone"], json!("13812345678"));
        assert_eq!(out.data["resident_id"], json!("110***********123X"));
        assert_eq!(out.masked, names(&["resident_id", "secret"]));
    }
}
