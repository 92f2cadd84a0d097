//! What a running fleet tells the world about itself.
//!
//! The manifest is the only contract between the fleet and the gateway: the
//! binary turns it into department config, and [`crate::registrar`] into
//! registrations with the gateway's control plane (through the registry
//! proto). The sim never depends on the gateway's crates.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A running fleet: where to reach every instance and the fault-control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetManifest {
    /// The fleet's own HTTP control API (fault knobs, per-instance stats).
    pub control: SocketAddr,
    /// Seed the citizens were generated from.
    pub seed: u64,
    pub departments: Vec<DeptManifest>,
    /// A sample of the generated citizens (at least ten when the fleet has that many).
    pub citizens: Vec<CitizenSample>,
}

/// How a department's backend speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1 with JSON bodies.
    Http,
    /// gRPC over h2c (prior knowledge).
    Grpc,
}

/// How the gateway should probe an instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthProbe {
    /// `GET path` answers 200.
    Http { path: String },
    /// `grpc.health.v1.Health/Check` for `service` answers SERVING.
    Grpc { service: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeptManifest {
    /// Short id: `hrss`, `hpf`, `water`, …
    pub id: String,
    /// Chinese name, e.g. `住房公积金管理中心`.
    pub name: String,
    /// English name, e.g. `Housing Provident Fund`.
    pub name_en: String,
    pub protocol: Protocol,
    /// Fully qualified gRPC service for gRPC departments, e.g.
    /// `onestop.sim.traffic.v1.TrafficPolice`.
    pub grpc_service: Option<String>,
    pub health: HealthProbe,
    pub instances: Vec<InstanceManifest>,
    pub matters: Vec<MatterManifest>,
    /// The department's data catalog: the records it holds on citizens and
    /// may share, each served by one of its `matters` (the one whose
    /// [`MatterManifest::data_item`] names it). Empty for most departments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_items: Vec<DataItemManifest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceManifest {
    /// `{dept}-{n}`, e.g. `hpf-0`. Also sent back as `x-sim-instance`.
    pub id: String,
    pub addr: SocketAddr,
}

/// One service item ("matter", 事项) a department offers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MatterManifest {
    /// Unique within the department, e.g. `balance`.
    pub id: String,
    /// Chinese name shown in the catalog, e.g. `公积金余额查询`.
    pub name: String,
    pub description: String,
    /// `GET`, `POST`, …; gRPC matters are always `POST`.
    pub method: String,
    /// HTTP: a path template such as `/api/v1/depts/hpf/accounts/{citizen}`.
    /// gRPC: `/{package.Service}/{Method}`.
    pub path: String,
    /// The template parameter that carries a citizen id, when there is one
    /// (for gRPC: the request field, `citizen_id`). A submission (`POST`)
    /// names its citizen in the body field `citizen` instead. Either may be
    /// `me` (or, in a body, left out) to mean the `x-onestop-citizen` header.
    pub citizen_param: Option<String>,
    /// Server-streaming gRPC method.
    pub streaming: bool,
    /// A concrete request a client can make to get a 2xx (HTTP) or OK (gRPC)
    /// answer for `example_citizen`: for HTTP the path with parameters filled
    /// in and an optional JSON body; for gRPC the request message as JSON
    /// (field names as in the proto). One exception: the `withdraw` example
    /// of HTTP departments names an application that does not exist, and
    /// answers 404 `APPLICATION_NOT_FOUND` (an application id only comes
    /// from an `apply` answer).
    pub example: MatterExample,
    /// The id of the department's data item ([`DeptManifest::data_items`])
    /// this matter serves, if any: a `GET` of `path` answers the item's JSON
    /// object for the citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_item: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MatterExample {
    pub path: String,
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CitizenSample {
    /// 18-character resident ID number with a valid check digit.
    pub id: String,
    pub name: String,
    pub phone: String,
}

/// One record a department holds on citizens and may share: an entry of its
/// data catalog (`[[data_items]]` in the gateway's department file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataItemManifest {
    /// Unique within the department (a-z, 0-9, `_`, `-`), e.g.
    /// `social_insurance`.
    pub id: String,
    /// Catalog name, e.g. `社会保险参保缴费记录`.
    pub name: String,
    pub description: String,
    /// Who may receive it.
    pub sharing: SharingClass,
    /// Agreements for the item also need the provider department's approval.
    #[serde(default)]
    pub provider_approval: bool,
    /// The `GET` path that answers the item, with `{citizen}` as one whole
    /// segment, e.g. `/api/v1/depts/hrss/data/social-insurance/{citizen}`.
    pub fetch: String,
    /// The declared top-level members of the JSON object `fetch` answers.
    /// The answer also carries members that are not declared (never shared).
    pub fields: Vec<DataFieldManifest>,
}

/// One declared field of a data item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFieldManifest {
    /// The member name in the JSON object.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub sensitivity: Sensitivity,
    /// How the field is masked; only `sensitive` fields have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskKind>,
}

/// Who may receive a data item (政务数据共享条例).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SharingClass {
    /// Any consumer with an approved agreement; no personal fields.
    Unconditional,
    /// An approved agreement, and the citizen's consent for personal data.
    Conditional,
    /// Never shared; only the citizen reads it.
    NotShared,
}

impl SharingClass {
    /// `unconditional`, `conditional` or `not_shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            SharingClass::Unconditional => "unconditional",
            SharingClass::Conditional => "conditional",
            SharingClass::NotShared => "not_shared",
        }
    }
}

/// The JSON type of a field.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
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

impl FieldType {
    /// `string`, `integer`, `number`, `boolean`, `date`, `object` or `array`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Object => "object",
            FieldType::Array => "array",
        }
    }

    /// Whether `value` has this type: an integer is also a number, a date
    /// is a string `YYYY-MM-DD` naming a real day, and `null` is nothing.
    pub fn admits(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match self {
            FieldType::String => value.is_string(),
            FieldType::Integer => value.is_i64() || value.is_u64(),
            FieldType::Number => value.is_number(),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Date => {
                matches!(value, Value::String(s) if crate::data::Date::parse(s).is_some())
            }
            FieldType::Object => value.is_object(),
            FieldType::Array => value.is_array(),
        }
    }
}

/// How sensitive a field is (GB/T 35273).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Open data.
    Public,
    /// Administrative data.
    Internal,
    /// Personal information.
    Personal,
    /// Sensitive personal information, masked unless granted in clear.
    Sensitive,
}

impl Sensitivity {
    /// `public`, `internal`, `personal` or `sensitive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Personal => "personal",
            Sensitivity::Sensitive => "sensitive",
        }
    }

    /// Personal or sensitive: information about a person.
    pub fn personal(self) -> bool {
        matches!(self, Sensitivity::Personal | Sensitivity::Sensitive)
    }
}

/// How a sensitive field is masked.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// `110101********1234`.
    ResidentId,
    /// `138****5678`.
    Phone,
    /// `张*`.
    Name,
    /// `622202*********1234`.
    BankCard,
    /// Kept up to the district, the rest `***`.
    Address,
    /// The whole value hidden.
    Full,
}

impl MaskKind {
    /// `resident_id`, `phone`, `name`, `bank_card`, `address` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskKind::ResidentId => "resident_id",
            MaskKind::Phone => "phone",
            MaskKind::Name => "name",
            MaskKind::BankCard => "bank_card",
            MaskKind::Address => "address",
            MaskKind::Full => "full",
        }
    }
}
