//! The data catalog compiled from the departments' `[[data_items]]`:
//! every item by its qualified id (`<department>.<item>`), with its fields
//! in declared order and how each is masked.

use std::collections::BTreeMap;
use std::sync::Arc;

use onestop_config::{Config, DataField, DataItem, MaskKind, SharingClass};
use onestop_core::mask;
use serde::Serialize;

/// One item of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `<department>.<item>`, e.g. `hrss.social_insurance`.
    pub id: String,
    /// The provider department.
    pub dept: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub sharing: SharingClass,
    /// The provider's path with `{citizen}`.
    pub fetch: String,
    /// Agreements also need the provider's approval.
    pub provider_approval: bool,
    /// Any personal or sensitive field: conditional sharing then needs the
    /// citizen's consent.
    pub personal: bool,
    pub fields: Vec<Field>,
}

/// One field of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: onestop_config::FieldType,
    pub sensitivity: onestop_config::Sensitivity,
    /// How it is masked unless granted in clear (sensitive fields only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskKind>,
}

impl Item {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The provider path for `citizen` (an id already checked to be a
    /// plain resident id, so it needs no escaping).
    pub fn fetch_path(&self, citizen: &str) -> String {
        self.fetch.replace("{citizen}", citizen)
    }

    fn compile(dept: &str, item: &DataItem) -> Item {
        Item {
            id: format!("{dept}.{}", item.id.get_ref()),
            dept: dept.to_string(),
            name: item.name.clone(),
            description: item.description.clone(),
            sharing: item.sharing,
            fetch: item.fetch.get_ref().clone(),
            provider_approval: item.provider_approval,
            personal: item.personal(),
            fields: item.fields.iter().map(Field::compile).collect(),
        }
    }
}

impl Field {
    fn compile(f: &DataField) -> Field {
        Field {
            name: f.name.clone(),
            kind: f.kind,
            sensitivity: f.sensitivity,
            mask: f.masking(),
        }
    }
}

/// The core masker for a configured mask.
pub fn mask_kind(kind: MaskKind) -> mask::Kind {
    match kind {
        MaskKind::ResidentId => mask::Kind::ResidentId,
        MaskKind::Phone => mask::Kind::Phone,
        MaskKind::Name => mask::Kind::Name,
        MaskKind::BankCard => mask::Kind::BankCard,
        MaskKind::Address => mask::Kind::Address,
        MaskKind::Full => mask::Kind::Full,
    }
}

/// Every data item of a configuration, by qualified id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    items: BTreeMap<String, Arc<Item>>,
}

impl Catalog {
    pub fn from_config(config: &Config) -> Catalog {
        let mut items = BTreeMap::new();
        for src in &config.departments {
            let dept = src.file.department.id.get_ref();
            for item in &src.file.data_items {
                let item = Item::compile(dept, item);
                items.insert(item.id.clone(), Arc::new(item));
            }
        }
        Catalog { items }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Item>> {
        self.items.get(id)
    }

    /// Items in id order, optionally of one department.
    pub fn items<'a>(&'a self, dept: Option<&'a str>) -> impl Iterator<Item = &'a Arc<Item>> + 'a {
        self.items
            .values()
            .filter(move |i| dept.is_none_or(|d| i.dept == d))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
