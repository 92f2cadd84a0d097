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
