//! Checks of the access settings: identity issuers and the dev key,
//! channels, signing, HTTP limits, rate limits, and the routes' auth modes
//! and limits.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{GatewayDoc, Validator, is_hex_sha256, is_ident};
use crate::access::{AuthMode, JwtAlgorithm, RateLimit, UnknownHost};
use crate::model::{Config, DepartmentSource, Route};

impl Validator {
    pub(super) fn access(
        &mut self,
        doc: &GatewayDoc<'_>,
        config: &Config,
        departments: &HashSet<&str>,
    ) {
        self.issuers(doc, config);
        self.channels(doc, config, departments);
        let gw = &config.gateway;
        if let Some(key) = &gw.signing.key_file
            && key.get_ref().trim().is_empty()
        {
            self.gw_at(doc, key, "signing.key_file must name a file".into());
        }
        let l = &gw.limits;
        // Above pingora's own limits (1 MiB of headers, 256 fields) the
        // parser answers a bare 400 before the gateway could answer 431.
        if !(1024..=1_048_575).contains(&l.max_header_bytes) {
            self.gw(
                doc,
                &["limits.max_header_bytes"],
                format!(
                    "limits.max_header_bytes must be between 1024 and 1048575, got {}",
                    l.max_header_bytes
                ),
            );
        }
        if !(8..=256).contains(&l.max_headers) {
            self.gw(
                doc,
                &["limits.max_headers"],
                format!(
                    "limits.max_headers must be between 8 and 256, got {}",
                    l.max_headers
                ),
            );
        }
        if l.max_body_bytes == 0 {
            self.gw(
                doc,
                &["limits.max_body_bytes"],
                "limits.max_body_bytes must be at least 1".into(),
            );
        }
        for (i, host) in l.hosts.iter().enumerate() {
            if host.is_empty()
                || host.contains([':', '/', ' '])
                || host.to_ascii_lowercase() != *host
            {
                self.gw(
                    doc,
                    &[&format!("limits.hosts.{i}")],
                    format!("limits.hosts: `{host}` must be a lower-case host name without port"),
                );
            }
        }
        // The public listener's timeouts and connection limits (issue 18).
        for (key, value) in [
            ("header_timeout", l.header_timeout),
            ("body_timeout", l.body_timeout),
            ("request_timeout", l.request_timeout),
            ("keepalive_timeout", l.keepalive_timeout),
        ] {
            if value < std::time::Duration::from_millis(100) {
                self.gw(
                    doc,
                    &[&format!("limits.{key}")],
                    format!("limits.{key} must be at least 100ms"),
                );
            }
        }
        if l.request_timeout < l.header_timeout {
            self.gw(
                doc,
                &["limits.request_timeout"],
                format!(
                    "limits.request_timeout ({}) must be at least limits.header_timeout ({})",
                    humantime::format_duration(l.request_timeout),
                    humantime::format_duration(l.header_timeout)
                ),
            );
        }
        if l.max_connections == 0 {
            self.gw(
                doc,
                &["limits.max_connections"],
                "limits.max_connections must be at least 1".into(),
            );
        }
        if l.max_connections_per_addr == 0 || l.max_connections_per_addr > l.max_connections {
            self.gw(
                doc,
                &["limits.max_connections_per_addr"],
                format!(
                    "limits.max_connections_per_addr must be between 1 and limits.max_connections ({}), got {}",
                    l.max_connections, l.max_connections_per_addr
                ),
            );
        }
        if l.unknown_host == UnknownHost::Reject && l.hosts.is_empty() {
            self.gw(
                doc,
                &["limits.unknown_host"],
                "limits.unknown_host = \"reject\" needs a list of limits.hosts".into(),
            );
        }
        if gw.cache.max_bytes < 1024 * 1024 {
            self.gw(
                doc,
                &["cache.max_bytes"],
                format!(
                    "cache.max_bytes must be at least 1 MiB (1048576), got {}",
                    gw.cache.max_bytes
                ),
            );
        }
        let r = &gw.rate_limits;
        if let Some(url) = &r.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            self.gw(
                doc,
                &["rate_limits.redis_url"],
                "rate_limits.redis_url must start with redis:// or rediss://".into(),
            );
        }
        if let Some(rate) = &r.per_citizen {
            self.rate(doc, "rate_limits.per_citizen", rate);
        }
    }

    fn issuers(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let identity = &config.gateway.identity;
        let dev_issuer = identity
            .dev_key
            .as_ref()
            .map(|k| k.issuer.get_ref().as_str());
        let mut ids = HashSet::new();
        for (i, issuer) in identity.issuers.iter().enumerate() {
            let id = issuer.id.get_ref().as_str();
            let at = |key: &str| format!("identity.issuers.{i}.{key}");
            if !is_ident(id) {
                self.gw_at(
                    doc,
                    &issuer.id,
                    format!("issuer id `{id}` must be 1-32 characters of a-z, 0-9 and -"),
                );
            }
            if !ids.insert(id) {
                self.gw_at(doc, &issuer.id, format!("duplicate issuer `{id}`"));
            }
            if issuer.issuer.is_empty() {
                self.gw(
                    doc,
                    &[&at("issuer")],
                    format!("issuer `{id}`: `issuer` (the iss claim) must not be empty"),
                );
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                self.gw(
                    doc,
                    &[&at("audiences")],
                    format!("issuer `{id}` needs at least one non-empty audience"),
                );
            }
            if issuer.algorithms.get_ref().is_empty() {
                self.gw_at(
                    doc,
                    &issuer.algorithms,
                    format!("issuer `{id}` needs at least one algorithm (RS256, ES256, EdDSA)"),
                );
            }
            let is_dev = dev_issuer == Some(id);
            match (&issuer.jwks_file, &issuer.jwks_url) {
                (Some(_), Some(url)) => self.gw_at(
                    doc,
                    url,
                    format!("issuer `{id}`: set either jwks_file or jwks_url, not both"),
                ),
                (None, None) if !is_dev => self.gw_at(
                    doc,
                    &issuer.id,
                    format!("issuer `{id}` needs its keys: jwks_file or jwks_url"),
                ),
                _ => {}
            }
            if let Some(url) = &issuer.jwks_url {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    self.gw_at(
                        doc,
                        url,
                        format!("issuer `{id}`: jwks_url must be an http:// or https:// URL"),
                    );
                }
            }
            if issuer.leeway > Duration::from_secs(600) {
                self.gw(
                    doc,
                    &[&at("leeway")],
                    format!("issuer `{id}`: leeway must be at most 10m"),
                );
            }
            if issuer.jwks_refresh < Duration::from_secs(10) {
                self.gw(
                    doc,
                    &[&at("jwks_refresh")],
                    format!("issuer `{id}`: jwks_refresh must be at least 10s"),
                );
            }
            if issuer.citizen_claim.is_empty() {
                self.gw(
                    doc,
                    &[&at("citizen_claim")],
                    format!("issuer `{id}`: citizen_claim must not be empty"),
                );
            }
        }
        if let Some(key) = &identity.dev_key {
            let id = key.issuer.get_ref().as_str();
            match identity.issuers.iter().find(|i| i.id.get_ref() == id) {
                None => self.gw_at(
                    doc,
                    &key.issuer,
                    format!("identity.dev_key refers to unknown issuer `{id}`"),
                ),
                Some(issuer) if !issuer.algorithms.get_ref().contains(&JwtAlgorithm::EdDSA) => {
                    self.gw_at(
                        doc,
                        &key.issuer,
                        format!(
                            "identity.dev_key signs with EdDSA, which issuer `{id}` does not allow"
                        ),
                    );
                }
                Some(_) => {}
            }
            if key.private_key_file.get_ref().trim().is_empty() {
                self.gw_at(
                    doc,
                    &key.private_key_file,
                    "identity.dev_key.private_key_file must name a file".into(),
                );
            }
            if key.kid.is_empty() {
                self.gw(
                    doc,
                    &["identity.dev_key.kid"],
                    "identity.dev_key.kid must not be empty".into(),
                );
            }
        }
    }

    fn channels(&mut self, doc: &GatewayDoc<'_>, config: &Config, departments: &HashSet<&str>) {
        let mut ids = HashSet::new();
        let mut keys: HashMap<&str, &str> = HashMap::new();
        for (i, ch) in config.gateway.channels.iter().enumerate() {
            let id = ch.id.get_ref().as_str();
            if !is_ident(id) {
                self.gw_at(
                    doc,
                    &ch.id,
                    format!("channel id `{id}` must be 1-32 characters of a-z, 0-9 and -"),
                );
            }
            if !ids.insert(id) {
                self.gw_at(doc, &ch.id, format!("duplicate channel `{id}`"));
            }
            let key = ch.key_sha256.get_ref().as_str();
            if !is_hex_sha256(key) {
                self.gw_at(
                    doc,
                    &ch.key_sha256,
                    format!(
                        "channel `{id}`: key_sha256 must be 64 lower-case hex characters (the SHA-256 of the app key)"
                    ),
                );
            } else if let Some(first) = keys.insert(key, id) {
                keys.insert(key, first);
                self.gw_at(
                    doc,
                    &ch.key_sha256,
                    format!("channel `{id}` has the same key_sha256 as channel `{first}`"),
                );
            }
            for pattern in &ch.routes {
                if let Err(message) = route_pattern(pattern.get_ref(), departments) {
                    self.gw_at(doc, pattern, format!("channel `{id}`: {message}"));
                }
            }
            if let Some(rate) = &ch.rate_limit {
                self.rate(doc, &format!("channels.{i}.rate_limit"), rate);
            }
            self.channel_webhook(doc, id, ch);
        }
    }

    fn rate(&mut self, doc: &GatewayDoc<'_>, key: &str, rate: &RateLimit) {
        if rate.per_second == 0 || rate.burst == Some(0) {
            self.gw(
                doc,
                &[key],
                format!("{key}: per_second and burst must be at least 1"),
            );
        }
    }

    /// A route's auth mode and limits, given the gateway's settings.
    pub(super) fn route_access(&mut self, src: &DepartmentSource, route: &Route, config: &Config) {
        let rid = route.id.get_ref();
        let gw = &config.gateway;
        match route.auth {
            AuthMode::Citizen if gw.identity.issuers.is_empty() => self.at(
                src,
                &route.id,
                format!(
                    "route `{rid}` has auth = \"citizen\" but no [[identity.issuers]] are configured"
                ),
            ),
            AuthMode::Operator if gw.operators.is_empty() => self.at(
                src,
                &route.id,
                format!("route `{rid}` has auth = \"operator\" but no [[operators]] are configured"),
            ),
            _ => {}
        }
        for (i, name) in route.forward_credentials.iter().enumerate() {
            let problem = match name.as_str() {
                "cookie" => None,
                "authorization" if route.auth == AuthMode::Public => None,
                "authorization" => Some(
                    "`authorization` carries the gateway's own credential here; only an auth = \"public\" route may pass it through".to_string(),
                ),
                other => Some(format!(
                    "`{other}` cannot be passed through (only `authorization` and `cookie`, lower-case)"
                )),
            };
            let repeated = route.forward_credentials[..i].contains(name);
            if let Some(problem) =
                problem.or_else(|| repeated.then(|| format!("`{name}` is listed twice")))
            {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: forward_credentials: {problem}"),
                );
            }
        }
        if route.max_body_bytes == Some(0) {
            self.at(
                src,
                &route.id,
                format!("route `{rid}`: max_body_bytes must be at least 1"),
            );
        }
        if let Some(cache) = &route.cache {
            if cache.ttl.is_zero() {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: cache.ttl must be positive"),
                );
            }
            if cache.scope == crate::cache::CacheScope::Citizen && route.auth != AuthMode::Citizen {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: cache.scope = \"citizen\" needs auth = \"citizen\""),
                );
            }
            if cache.scope == crate::cache::CacheScope::Public && route.auth == AuthMode::Citizen {
                self.at(
                    src,
                    &route.id,
                    format!(
                        "route `{rid}`: a citizen route's answers are the citizen's: use cache.scope = \"citizen\""
                    ),
                );
            }
            for h in &cache.vary {
                if h.is_empty() || http_header_name(h).is_none() {
                    self.at(
                        src,
                        &route.id,
                        format!("route `{rid}`: cache.vary `{h}` is not a header name"),
                    );
                }
            }
            if !route.methods.is_empty() && !route.methods.iter().any(|m| m == "GET" || m == "HEAD")
            {
                self.at(
                    src,
                    &route.id,
                    format!("route `{rid}`: only GET and HEAD answers are cached"),
                );
            }
        }
        if let Some(rl) = &route.rate_limit
            && (rl.per_second == 0 || rl.burst == Some(0))
        {
            self.at(
                src,
                &route.id,
                format!("route `{rid}`: rate_limit per_second and burst must be at least 1"),
            );
        }
    }
}

/// A valid header name (letters, digits, `-`, `_`), lower-cased.
fn http_header_name(h: &str) -> Option<String> {
    h.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .then(|| h.to_ascii_lowercase())
}

/// `*`, `dept/*` or `dept/route` with a known department.
fn route_pattern(pattern: &str, departments: &HashSet<&str>) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let Some((dept, route)) = pattern.split_once('/') else {
        return Err(format!(
            "route pattern `{pattern}` must be `*`, `dept/*` or `dept/route`"
        ));
    };
    if route.is_empty() || route.contains('/') || (route.contains('*') && route != "*") {
        return Err(format!(
            "route pattern `{pattern}` must be `*`, `dept/*` or `dept/route`"
        ));
    }
    if !departments.contains(dept) {
        return Err(format!(
            "route pattern `{pattern}` refers to unknown department `{dept}`"
        ));
    }
    Ok(())
}
