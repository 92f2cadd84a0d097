//! Cache keys: the route, the normalised path, the chosen query parameters
//! in canonical order, the chosen request headers and, for citizen-scoped
//! routes, the verified citizen id.

use std::fmt::Write as _;
use std::sync::Arc;

use http::HeaderMap;
use onestop_config::CacheScope;

use crate::policy::Policy;

/// A cache key. Its parts are length-prefixed, so no choice of path,
/// query or header value can make two different requests' keys equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(Arc<str>);

/// What a key is built from.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    /// `dept/route`.
    pub route: &'a str,
    /// The normalised path the department receives (`me` resolved).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The verified citizen (from the token, never from the request).
    pub citizen: Option<&'a str>,
}

/// Why no key can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// A citizen-scoped route without a verified citizen: never cacheable.
    NoCitizen,
}

fn part(out: &mut String, s: &str) {
    let _ = write!(out, "{}:{s}", s.len());
}

impl Key {
    pub fn build(policy: &Policy, parts: KeyParts<'_>) -> Result<Key, KeyError> {
        let mut out = String::with_capacity(parts.route.len() + parts.path.len() + 32);
        part(&mut out, parts.route);
        part(&mut out, parts.path);
        // Chosen parameters in canonical (sorted) order, each value decoded
        // then re-encoded, in the order the client sent repeated values.
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(q) = parts.query {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            for name in &policy.query {
                for (_, v) in pairs.iter().filter(|(k, _)| k == name) {
                    query.append_pair(name, v);
                }
            }
        }
        part(&mut out, &query.finish());
        for name in &policy.vary {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("\u{fffd}"))
                .collect();
            part(&mut out, name.as_str());
            part(&mut out, &values.join(","));
        }
        match policy.scope {
            CacheScope::Public => part(&mut out, "public"),
            CacheScope::Citizen => {
                let citizen = parts.citizen.ok_or(KeyError::NoCitizen)?;
                part(&mut out, "citizen");
                part(&mut out, citizen);
            }
        }
        Ok(Key(out.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
