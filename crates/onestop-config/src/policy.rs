//! A registered route's policy in a department file's words: the keys
//! `cache`, `data_item`, `rate_limit`, `max_body_bytes`, `retries` and
//! `forward_credentials` of a `[[routes]]` entry (and the department's `overview` item), as TOML. Departments send it at registration; the
//! control plane parses it here (`deny_unknown_fields`, the same types and
//! so the same messages as a file) and merges it into the route, so the
//! configuration's `validate()` checks it like any file route.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::RouteRateLimit;
use crate::cache::{CacheScope, RouteCache};

/// The policy keys of a route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePolicy {
    #[serde(default)]
    pub cache: Option<RouteCache>,
    #[serde(default)]
    pub data_item: Option<String>,
    #[serde(default)]
    pub rate_limit: Option<RouteRateLimit>,
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub retries: Option<u32>,
    /// Client credentials passed through to the department (validated
    /// like a file route's `forward_credentials`).
    #[serde(default)]
    pub forward_credentials: Vec<String>,
    /// The department's item in the citizen overview (`[department]
    /// overview` of a file), when the file declares none.
    #[serde(default)]
    pub overview: Option<crate::OverviewItem>,
}

impl RoutePolicy {
    /// Parses the TOML text (empty: no policy); the error names the line,
    /// column and key as a file's would.
    pub fn parse(text: &str) -> Result<RoutePolicy, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
    }

    /// The answers are shared by every caller.
    pub fn cache_public(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.scope == CacheScope::Public)
    }

    /// Sets these keys on `route`.
    pub fn apply(&self, route: &mut crate::Route) {
        route.cache = self.cache.clone();
        route.data_item = self.data_item.clone();
        route.rate_limit = self.rate_limit;
        route.max_body_bytes = self.max_body_bytes;
        if self.retries.is_some() {
            route.retries = self.retries;
        }
        route.forward_credentials = self.forward_credentials.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_like_a_file_and_typos_are_named() {
        let p = RoutePolicy::parse(
            "cache = { ttl = \"60s\", scope = \"citizen\" }\ndata_item = \"household\"\nmax_body_bytes = 1024",
        );
        let p = match p {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(!p.cache_public());
        assert_eq!(p.data_item.as_deref(), Some("household"));
        assert!(
            matches!(RoutePolicy::parse("cache = { ttl = \"1s\" }"), Ok(p) if p.cache_public())
        );
        let err = RoutePolicy::parse("cahce = { ttl = \"1s\" }")
            .err()
            .unwrap_or_default();
        assert!(err.contains("unknown field `cahce`"), "{err}");
        assert_eq!(RoutePolicy::parse(""), Ok(RoutePolicy::default()));
        let p = RoutePolicy::parse("forward_credentials = [\"cookie\"]").unwrap_or_default();
        assert_eq!(p.forward_credentials, ["cookie"]);
    }
}
