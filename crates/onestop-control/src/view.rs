//! What the data plane gets from the registry: approved services and their
//! live instances. Published on a `tokio::sync::watch` whenever it changes
//! (never on a mere lease renewal).

use onestop_core::registry::{InstanceSpec, ServiceSpec};

/// Every approved service with the instances whose lease is live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryView {
    /// Sorted by `dept/service`.
    pub services: Vec<ServedService>,
    /// Active department credentials: token SHA-256 → department (for
    /// public routes with `auth = "department"`).
    pub department_tokens: std::collections::BTreeMap<String, String>,
}

/// One approved service as it serves now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedService {
    /// The approved spec (with the latest operational settings).
    pub spec: ServiceSpec,
    pub approved_revision: i64,
    /// Live instances, sorted by address.
    pub instances: Vec<InstanceSpec>,
}

impl RegistryView {
    /// The served service `dept/service`, if approved.
    pub fn get(&self, dept: &str, service: &str) -> Option<&ServedService> {
        self.services
            .iter()
            .find(|s| s.spec.dept == dept && s.spec.service == service)
    }
}
