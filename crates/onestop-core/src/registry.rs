//! What a department registers over the control plane, as domain types.
//!
//! The control plane converts protobuf messages into these (and only these)
//! at its edge; the store persists them as JSON; the binary merges approved
//! specs into the configuration the data plane compiles.
//!
//! A service's **public surface** — its protocol and its routes — needs an
//! operator's approval (备案) before it receives traffic, and again whenever
//! it changes. Everything else (instances, weights, health checks, load
//! balancing, metadata, lease TTL) is operational and applies at once.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How a registered service's backends speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceProtocol {
    /// HTTP/1.1 with JSON bodies.
    Http,
    /// gRPC over HTTP/2 cleartext.
    Grpc,
}

/// Load balancing over the service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    #[default]
    RoundRobin,
    Random,
    /// Ketama on the citizen id of the route's `citizen_param`.
    ConsistentHash,
}

/// Which kind of path match a route declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatchKind {
    Exact,
    Prefix,
    Template,
}

/// Who may call a registered route (the gateway checks it before the
/// department is contacted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    #[default]
    Public,
    Citizen,
    Department,
    Operator,
}

/// How the gateway probes each instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthProbeSpec {
    Tcp,
    Http { path: String },
    Grpc { service: String },
}

/// Active health checking of a registered service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthSpec {
    pub probe: HealthProbeSpec,
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

/// One route a registered service exposes on the public listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Unique within the department.
    pub id: String,
    /// Catalog name of the matter (事项).
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: PathMatchKind,
    /// `/api/v1/depts/{dept}/…` for HTTP; `/{package.Service}/` (prefix) or
    /// `/{package.Service}/{Method}` for gRPC.
    pub pattern: String,
    /// Empty = any method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The template parameter carrying a citizen id.
    #[serde(default)]
    pub citizen_param: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retries: Option<u32>,
    /// Who may call it (part of the public surface).
    #[serde(default)]
    pub auth: RouteAuth,
}

/// Everything a department declares about one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub dept: String,
    pub service: String,
    pub protocol: ServiceProtocol,
    #[serde(default)]
    pub lb: LbPolicy,
    #[serde(default)]
    pub health: Option<HealthSpec>,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// How long an instance stays without a renewal.
    pub lease_ttl_ms: u64,
}

/// The part of a spec that needs approval: protocol and routes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PublicSurface<'a> {
    pub protocol: ServiceProtocol,
    pub routes: &'a [RouteSpec],
}

impl ServiceSpec {
    /// `dept/service`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.dept, self.service)
    }

    pub fn surface(&self) -> PublicSurface<'_> {
        PublicSurface {
            protocol: self.protocol,
            routes: &self.routes,
        }
    }

    /// A stable fingerprint of the public surface (hex SHA-256 of its
    /// canonical JSON). Two specs need separate approvals iff these differ.
    pub fn surface_hash(&self) -> String {
        let json = serde_json::to_vec(&self.surface()).unwrap_or_default();
        crate::digest::sha256_hex(&json)
    }
}

/// One running instance of a registered service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub addr: std::net::SocketAddr,
    pub weight: u32,
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// The latest revision waits for an operator.
    Pending,
    /// The latest revision is approved and serving.
    Approved,
    /// The latest revision was rejected (an earlier approved one may still serve).
    Rejected,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "rejected" => Some(ApprovalStatus::Rejected),
            _ => None,
        }
    }
}

/// An operator's decision on one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "approve" => Some(Verdict::Approve),
            "reject" => Some(Verdict::Reject),
            _ => None,
        }
    }
}

/// A human-readable one-line summary of how two surfaces differ, for
/// operators deciding on a pending revision.
pub fn surface_changes(old: Option<&ServiceSpec>, new: &ServiceSpec) -> String {
    let Some(old) = old else {
        return format!(
            "new service ({:?}, {} routes)",
            new.protocol,
            new.routes.len()
        );
    };
    let mut out = String::new();
    if old.protocol != new.protocol {
        let _ = write!(out, "protocol {:?} -> {:?}; ", old.protocol, new.protocol);
    }
    let old_routes: BTreeMap<&str, &RouteSpec> =
        old.routes.iter().map(|r| (r.id.as_str(), r)).collect();
    let new_routes: BTreeMap<&str, &RouteSpec> =
        new.routes.iter().map(|r| (r.id.as_str(), r)).collect();
    for (id, r) in &new_routes {
        match old_routes.get(id) {
            None => {
                let _ = write!(out, "+route {id} {}; ", r.pattern);
            }
            Some(o) if o != r => {
                let _ = write!(out, "~route {id}; ");
            }
            Some(_) => {}
        }
    }
    for id in old_routes.keys() {
        if !new_routes.contains_key(id) {
            let _ = write!(out, "-route {id}; ");
        }
    }
    if out.is_empty() {
        "no change to the public surface".into()
    } else {
        out.trim_end_matches("; ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            dept: "hpf".into(),
            service: "main".into(),
            protocol: ServiceProtocol::Http,
            lb: LbPolicy::RoundRobin,
            health: None,
            routes: vec![RouteSpec {
                id: "balance".into(),
                name: "公积金余额查询".into(),
                description: String::new(),
                kind: PathMatchKind::Template,
                pattern: "/api/v1/depts/hpf/accounts/{citizen}".into(),
                methods: vec!["GET".into()],
                citizen_param: Some("citizen".into()),
                timeout_ms: None,
                retries: None,
                auth: RouteAuth::Citizen,
            }],
            metadata: BTreeMap::new(),
            lease_ttl_ms: 10_000,
        }
    }

    #[test]
    fn only_the_public_surface_changes_the_surface_hash() {
        let a = spec();
        let mut b = spec();
        b.lb = LbPolicy::Random;
        b.lease_ttl_ms = 3_000;
        b.metadata.insert("owner".into(), "ops".into());
        b.health = Some(HealthSpec {
            probe: HealthProbeSpec::Tcp,
            interval_ms: 1000,
            timeout_ms: 500,
        });
        assert_eq!(a.surface_hash(), b.surface_hash());
        b.routes[0].methods.push("HEAD".into());
        assert_ne!(a.surface_hash(), b.surface_hash());
        let mut c = spec();
        c.protocol = ServiceProtocol::Grpc;
        assert_ne!(a.surface_hash(), c.surface_hash());
        assert_eq!(a.surface_hash().len(), 64);
    }

    #[test]
    fn describes_surface_changes() {
        let a = spec();
        let mut b = spec();
        b.routes[0].methods.push("HEAD".into());
        b.routes.push(RouteSpec {
            id: "loans".into(),
            pattern: "/api/v1/depts/hpf/loans".into(),
            ..a.routes[0].clone()
        });
        assert_eq!(
            surface_changes(Some(&a), &b),
            "~route balance; +route loans /api/v1/depts/hpf/loans"
        );
        assert_eq!(
            surface_changes(Some(&a), &a),
            "no change to the public surface"
        );
        assert!(surface_changes(None, &a).starts_with("new service"));
    }
}
