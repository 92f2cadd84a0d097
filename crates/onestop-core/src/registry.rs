//! What a department registers over the control plane, as domain types.
//!
//! The control plane converts protobuf messages into these (and only these)
//! at its edge; the store persists them as JSON; the binary merges approved
//! specs into the configuration the data plane compiles.
//!
//! A service's **public surface** — its protocol, its routes and (for gRPC)
//! its descriptor set — needs an operator's approval (备案) before it
//! receives traffic, and again whenever it changes. Everything else (instances, weights, health checks, load
//! balancing, metadata, lease TTL) is operational and applies at once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

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

impl RouteAuth {
    /// Whether going from `old` to `self` admits fewer callers: any
    /// authentication is narrower than `public`. Between two authenticated
    /// modes neither is narrower (they admit different callers), so such a
    /// change waits for approval like any other change of the surface.
    pub fn narrows(self, old: RouteAuth) -> bool {
        old == RouteAuth::Public && self != RouteAuth::Public
    }
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
    /// The route's policy as a department file declares it (cache,
    /// `data_item`, rate limit, body limit). Not part of the public
    /// surface: a change that widens exposure waits for an operator
    /// ([`RoutePolicySpec::widens`]), one that narrows it applies at once.
    #[serde(default, skip_serializing_if = "RoutePolicySpec::is_empty")]
    pub policy: RoutePolicySpec,
}

/// A registered route's policy: the TOML of a department file's route keys
/// (`cache`, `data_item`, `rate_limit`, `max_body_bytes`), checked by the
/// configuration's own code, and what the control plane read from it to
/// judge exposure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoutePolicySpec {
    /// The TOML text; empty: no policy.
    #[serde(default)]
    pub toml: String,
    /// The cache is shared by every caller (`scope = "public"`).
    #[serde(default)]
    pub cache_public: bool,
    /// The data item the route serves (its reads are audited).
    #[serde(default)]
    pub data_item: Option<String>,
    /// Client credentials the route passes through to the department.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_credentials: Vec<String>,
}

impl RoutePolicySpec {
    pub fn is_empty(&self) -> bool {
        self.toml.is_empty()
            && !self.cache_public
            && self.data_item.is_none()
            && self.forward_credentials.is_empty()
    }

    /// Whether going from `old` to `self` widens exposure: a cache that
    /// becomes shared, or a data item added, changed or removed (its reads
    /// audited differently), or a client credential passed through that
    /// was not before.
    pub fn widens(&self, old: &RoutePolicySpec) -> bool {
        (self.cache_public && !old.cache_public)
            || self.data_item != old.data_item
            || self
                .forward_credentials
                .iter()
                .any(|c| !old.forward_credentials.contains(c))
    }
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
    /// gRPC services: an encoded `FileDescriptorSet` of the service's protos
    /// (with their imports), so the gateway also serves them as HTTP/JSON
    /// and gRPC-Web. Part of the public surface. Stored as base64; specs
    /// stored before it existed read as `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub descriptor_set: Option<Arc<[u8]>>,
}

/// The part of a spec that needs approval: protocol, routes and the
/// descriptor set (by its digest).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PublicSurface<'a> {
    pub protocol: ServiceProtocol,
    pub routes: std::borrow::Cow<'a, [RouteSpec]>,
    /// Hex SHA-256 of the descriptor set. Left out of the canonical JSON
    /// when there is none, so specs without one keep the hash they had
    /// before descriptor sets existed (and their approvals stay valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_set_sha256: Option<String>,
}

impl ServiceSpec {
    /// `dept/service`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.dept, self.service)
    }

    pub fn surface(&self) -> PublicSurface<'_> {
        // Policies are judged apart (widening or narrowing), so they are
        // left out; routes without one serialize as they always did.
        let routes = if self.routes.iter().all(|r| r.policy.is_empty()) {
            std::borrow::Cow::Borrowed(self.routes.as_slice())
        } else {
            std::borrow::Cow::Owned(self.routes.iter().map(without_policy).collect())
        };
        PublicSurface {
            protocol: self.protocol,
            routes,
            descriptor_set_sha256: self
                .descriptor_set
                .as_deref()
                .map(crate::digest::sha256_hex),
        }
    }

    /// Whether this spec's route policies widen exposure compared with
    /// `approved`'s (a route new to the policy counts from an empty one).
    pub fn policy_widens(&self, approved: &ServiceSpec) -> bool {
        self.routes.iter().any(|r| {
            let old = approved
                .routes
                .iter()
                .find(|a| a.id == r.id)
                .map(|a| a.policy.clone())
                .unwrap_or_default();
            r.policy.widens(&old)
        })
    }

    /// Whether this spec's public surface is `approved`'s with nothing
    /// changed but some routes' auth made stricter (`public` to an
    /// authenticated mode): that narrows exposure and applies at once.
    pub fn surface_only_narrows(&self, approved: &ServiceSpec) -> bool {
        let mut relaxed = self.clone();
        let mut narrowed = false;
        for r in &mut relaxed.routes {
            if let Some(a) = approved.routes.iter().find(|a| a.id == r.id)
                && r.auth.narrows(a.auth)
            {
                r.auth = a.auth;
                narrowed = true;
            }
        }
        narrowed && relaxed.surface_hash() == approved.surface_hash()
    }

    /// A stable fingerprint of the public surface (hex SHA-256 of its
    /// canonical JSON). Two specs need separate approvals iff these differ.
    pub fn surface_hash(&self) -> String {
        let json = serde_json::to_vec(&self.surface()).unwrap_or_default();
        crate::digest::sha256_hex(&json)
    }
}

/// `Option<Arc<[u8]>>` as an optional standard-base64 string (serde `with`).
mod base64_bytes {
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        bytes: &Option<Arc<[u8]>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => serializer.serialize_str(&STANDARD.encode(b)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Arc<[u8]>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                STANDARD
                    .decode(text.as_bytes())
                    .map(Arc::from)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
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
        let descriptors = new
            .descriptor_set
            .as_ref()
            .map(|d| format!(", descriptor set of {} bytes", d.len()))
            .unwrap_or_default();
        return format!(
            "new service ({:?}, {} routes{descriptors})",
            new.protocol,
            new.routes.len()
        );
    };
    let mut out = String::new();
    if old.protocol != new.protocol {
        let _ = write!(out, "protocol {:?} -> {:?}; ", old.protocol, new.protocol);
    }
    match (&old.descriptor_set, &new.descriptor_set) {
        (None, Some(d)) => {
            let _ = write!(out, "+descriptor set ({} bytes); ", d.len());
        }
        (Some(_), None) => out.push_str("-descriptor set; "),
        (Some(o), Some(d)) if o != d => {
            let _ = write!(out, "~descriptor set ({} -> {} bytes); ", o.len(), d.len());
        }
        _ => {}
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
            Some(o) if o.policy != r.policy && without_policy(o) == without_policy(r) => {
                let wider = if r.policy.widens(&o.policy) {
                    " (wider)"
                } else {
                    ""
                };
                let _ = write!(out, "~route {id} policy{wider}; ");
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

/// `route` with its policy left out: its public surface.
fn without_policy(route: &RouteSpec) -> RouteSpec {
    RouteSpec {
        policy: RoutePolicySpec::default(),
        ..route.clone()
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
                policy: Default::default(),
            }],
            metadata: BTreeMap::new(),
            lease_ttl_ms: 10_000,
            descriptor_set: None,
        }
    }

    #[test]
    fn policies_are_judged_apart_from_the_surface() {
        let a = spec();
        let mut b = spec();
        b.routes[0].policy = RoutePolicySpec {
            toml: "cache = { ttl = \"60s\", scope = \"citizen\" }".into(),
            cache_public: false,
            data_item: None,
            forward_credentials: Vec::new(),
        };
        assert_eq!(a.surface_hash(), b.surface_hash());
        assert!(!b.policy_widens(&a), "a citizen cache narrows nothing away");
        let mut c = b.clone();
        c.routes[0].policy.cache_public = true;
        assert!(c.policy_widens(&b) && !b.policy_widens(&c));
        let mut d = b.clone();
        d.routes[0].policy.data_item = Some("account".into());
        assert!(d.policy_widens(&b) && b.policy_widens(&d));
        let mut e = b.clone();
        e.routes[0].policy.forward_credentials = vec!["cookie".into()];
        assert!(e.policy_widens(&b) && !b.policy_widens(&e));
        assert_eq!(
            surface_changes(Some(&b), &c),
            "~route balance policy (wider)"
        );
        assert_eq!(surface_changes(Some(&c), &b), "~route balance policy");
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
    fn without_a_descriptor_set_the_surface_hash_is_what_it_was() {
        // The surface as it was before descriptor sets: protocol and routes.
        #[derive(Serialize)]
        struct Before<'a> {
            protocol: ServiceProtocol,
            routes: &'a [RouteSpec],
        }
        let a = spec();
        let before = serde_json::to_vec(&Before {
            protocol: a.protocol,
            routes: &a.routes,
        })
        .expect("JSON");
        assert_eq!(a.surface_hash(), crate::digest::sha256_hex(&before));
        assert_eq!(
            a.surface_hash(),
            "cf4a843d140ca497f0a5af36c42d0700730a99cf5297abc636acbc19556b42f9"
        );
    }

    #[test]
    fn the_descriptor_set_is_part_of_the_public_surface() {
        let mut a = spec();
        a.protocol = ServiceProtocol::Grpc;
        let without = a.surface_hash();
        let mut b = a.clone();
        b.descriptor_set = Some(Arc::from(&b"\x0a\x03abc"[..]));
        let with = b.surface_hash();
        assert_ne!(with, without);
        let mut c = b.clone();
        c.descriptor_set = Some(Arc::from(&b"\x0a\x03abd"[..]));
        assert_ne!(c.surface_hash(), with, "a changed set needs approval again");
        // The same bytes in another allocation: the same surface.
        let mut d = a.clone();
        d.descriptor_set = Some(Arc::from(b"\x0a\x03abc".to_vec()));
        assert_eq!(d.surface_hash(), with);
        assert_eq!(surface_changes(Some(&a), &b), "+descriptor set (5 bytes)");
        assert_eq!(
            surface_changes(Some(&b), &c),
            "~descriptor set (5 -> 5 bytes)"
        );
        assert_eq!(surface_changes(Some(&b), &a), "-descriptor set");
        assert_eq!(
            surface_changes(None, &b),
            "new service (Grpc, 1 routes, descriptor set of 5 bytes)"
        );
    }

    #[test]
    fn specs_round_trip_through_json_with_and_without_a_descriptor_set() {
        let plain = spec();
        let json = serde_json::to_string(&plain).expect("JSON");
        assert!(!json.contains("descriptor_set"), "{json}");
        assert_eq!(
            serde_json::from_str::<ServiceSpec>(&json).expect("JSON"),
            plain
        );

        let mut grpc = spec();
        grpc.protocol = ServiceProtocol::Grpc;
        let bytes: Vec<u8> = (0..=255).collect();
        grpc.descriptor_set = Some(Arc::from(bytes));
        let json = serde_json::to_value(&grpc).expect("JSON");
        assert!(
            json["descriptor_set"]
                .as_str()
                .expect("base64 text")
                .starts_with("AAECAwQF")
        );
        let back: ServiceSpec = serde_json::from_value(json).expect("JSON");
        assert_eq!(back, grpc);
        assert_eq!(back.surface_hash(), grpc.surface_hash());

        // A spec stored before descriptor sets existed, and an explicit null.
        let old = r#"{"dept":"hpf","service":"main","protocol":"grpc","lb":"random",
            "health":null,"routes":[],"metadata":{},"lease_ttl_ms":5000}"#;
        let old: ServiceSpec = serde_json::from_str(old).expect("JSON");
        assert_eq!(old.descriptor_set, None);
        assert_eq!(old.lb, LbPolicy::Random);
        let null = r#"{"dept":"hpf","service":"main","protocol":"grpc","lease_ttl_ms":5000,
            "descriptor_set":null}"#;
        assert_eq!(
            serde_json::from_str::<ServiceSpec>(null)
                .expect("JSON")
                .descriptor_set,
            None
        );
        let bad = r#"{"dept":"hpf","service":"main","protocol":"grpc","lease_ttl_ms":5000,
            "descriptor_set":"not base64!"}"#;
        assert!(serde_json::from_str::<ServiceSpec>(bad).is_err());
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
