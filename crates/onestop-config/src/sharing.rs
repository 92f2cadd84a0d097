//! Governed data sharing: the data catalog each department declares
//! (`[[data_items]]` in its file) and the gateway's `[sharing]` settings
//! (agreement deadlines, the access audit writer).
//!
//! A data item is a record the provider department holds on a citizen
//! (e.g. `hrss.social_insurance`): its fields, each with a type and a
//! sensitivity, its sharing class, and how the gateway fetches it (a `GET`
//! of one of the department's own routes, sent through the gateway as the
//! citizen). Consumers read items through the control plane's exchange
//! under an approved agreement; citizens read them through the routes that
//! declare `data_item`, and both kinds of read are audited.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[[data_items]]`: one record a department holds on citizens and may share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataItem {
    /// Unique within the department: 1-48 characters of a-z, 0-9, `_` and
    /// `-`. Consumers name it qualified by the department:
    /// `<department>.<id>`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Catalog name, e.g. `社会保险参保缴费记录`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Who may receive it (政务数据共享条例).
    pub sharing: SharingClass,
    /// How the gateway fetches it: a path of one of this department's
    /// routes, with `{citizen}` where the citizen's id goes, e.g.
    /// `/api/v1/depts/hrss/data/social-insurance/{citizen}`. Sent as a
    /// `GET` through the gateway's public listener as the citizen.
    #[schemars(with = "String")]
    pub fetch: Spanned<String>,
    /// Agreements for this item also need the provider department's
    /// approval (a department-scoped approver), not only an operator's.
    #[serde(default)]
    pub provider_approval: bool,
    /// The item's fields: the top-level members of the JSON object the
    /// fetch answers. Members not declared here are never shared.
    pub fields: Vec<DataField>,
}

impl DataItem {
    /// Whether any field is personal or sensitive: such an item needs the
    /// citizen's consent when it is shared conditionally, and every read is
    /// audited.
    pub fn personal(&self) -> bool {
        self.fields.iter().any(|f| f.sensitivity.personal())
    }
}

/// One field of a data item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataField {
    /// The member name in the provider's JSON object.
    pub name: String,
    /// The JSON type the provider answers.
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub sensitivity: Sensitivity,
    /// How a `sensitive` field is masked unless an agreement grants it in
    /// clear (default `full`). Only for `sensitive` fields.
    #[serde(default)]
    pub mask: Option<MaskKind>,
}

impl DataField {
    /// The masking a consumer gets unless granted in clear; `None` for
    /// fields that are never masked.
    pub fn masking(&self) -> Option<MaskKind> {
        (self.sensitivity == Sensitivity::Sensitive).then(|| self.mask.unwrap_or(MaskKind::Full))
    }
}

/// Who may receive a data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharingClass {
    /// Any consumer with an approved agreement (no personal data allowed).
    Unconditional,
    /// An approved agreement and, for personal data, the citizen's consent
    /// for that consumer and purpose.
    Conditional,
    /// Never shared; only the citizen reads it through the routes.
    NotShared,
}

impl SharingClass {
    pub fn as_str(self) -> &'static str {
        match self {
            SharingClass::Unconditional => "unconditional",
            SharingClass::Conditional => "conditional",
            SharingClass::NotShared => "not_shared",
        }
    }
}

/// A field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    /// A string `YYYY-MM-DD`.
    Date,
    Object,
    Array,
}

/// How sensitive a field is (GB/T 35273).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Open data.
    Public,
    /// Administrative data about no one person.
    Internal,
    /// Personal information.
    Personal,
    /// Sensitive personal information: masked unless granted in clear.
    Sensitive,
}

impl Sensitivity {
    pub fn personal(self) -> bool {
        matches!(self, Sensitivity::Personal | Sensitivity::Sensitive)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Personal => "personal",
            Sensitivity::Sensitive => "sensitive",
        }
    }
}

/// How a sensitive field is masked (`onestop_core::mask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// `110101********1234`.
    ResidentId,
    /// `138****5678`.
    Phone,
    /// `张*` / `欧阳**`.
    Name,
    /// `6222 **** **** 1234`.
    BankCard,
    /// Keeps the district, masks the rest.
    Address,
    /// The whole value becomes `***`.
    Full,
}

/// `[sharing]`: agreements' deadlines and terms, and the access audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SharingSettings {
    /// How long an application may wait for its decision; older pending
    /// applications are listed as overdue.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub approval_deadline: Duration,
    /// The longest term an agreement may be applied for.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_term: Duration,
    /// How long one exchange waits for the provider.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub fetch_timeout: Duration,
    /// The access audit log's writer.
    pub audit: AuditSettings,
    /// The purposes data may be read for (`[[sharing.purposes]]`): every
    /// evidence declaration names one of them.
    pub purposes: Vec<Purpose>,
}

/// `[[sharing.purposes]]`: a purpose code and its name for citizens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// 1-64 of a-z, 0-9, `-`, `_` and `.`.
    pub code: String,
    pub name: String,
}

impl Default for SharingSettings {
    fn default() -> Self {
        SharingSettings {
            approval_deadline: Duration::from_secs(2 * 24 * 3600),
            max_term: Duration::from_secs(3 * 366 * 24 * 3600),
            fetch_timeout: Duration::from_secs(5),
            audit: AuditSettings::default(),
            purposes: Vec::new(),
        }
    }
}

/// `[sharing.audit]`: how records of personal-data reads are buffered and
/// written. With the store stopped, routes returning personal data (and
/// the exchange) answer 503 once `capacity` records wait or the oldest has
/// waited `max_lag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Turn off only to measure what the audit costs: reads then go
    /// unrecorded.
    pub enabled: bool,
    /// Where the log lives (a store URL, as `[store].url`). Default: with a
    /// SQLite store, a file of its own beside it (`onestop.db` →
    /// `onestop.audit.db`: its own write-ahead log and write lock, so the
    /// audit's writes never slow the store's readers); with PostgreSQL, the
    /// same database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    /// Most records accepted but not yet written.
    pub capacity: usize,
    /// Most records per write (one transaction).
    pub batch: usize,
    /// Longest a record waits for its batch to fill.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub flush_interval: Duration,
    /// Personal data stops flowing once the oldest unwritten record has
    /// waited this long.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_lag: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            store_url: None,
            capacity: 10_000,
            batch: 256,
            flush_interval: Duration::from_millis(200),
            max_lag: Duration::from_secs(5),
        }
    }
}
