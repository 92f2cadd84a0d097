//! The lookup table over many services' bindings.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use smallvec::SmallVec;

use crate::compile::{Binding, CompileError, Method, ServiceBindings};
use crate::field_path::FieldPath;
use crate::template::split;

/// Every binding of a set of services, indexed for per-request lookups.
///
/// Built once per configuration snapshot. A lookup splits the path once,
/// then probes a hash index keyed by literal path prefixes (one probe per
/// leading path segment, plus one for templates that start with a
/// variable), and only matches the templates found there: no regex, and no
/// allocation unless a binding matches.
#[derive(Debug, Default)]
pub struct Table {
    services: Vec<ServiceBindings>,
    entries: Vec<Entry>,
    /// Literal prefix (`/v1/things`, or "" for none) → entries, best rank first.
    index: HashMap<Box<str>, Vec<usize>>,
    /// The longest literal prefix, in segments.
    max_prefix: usize,
    /// gRPC path → (service, method).
    methods: HashMap<String, (usize, usize)>,
}

/// Match precedence: more literal segments, then templates without `**`,
/// then fewer wildcards, then declaration order.
type Rank = (Reverse<usize>, bool, usize, usize);

#[derive(Debug)]
struct Entry {
    service: usize,
    method: usize,
    binding: usize,
    any_verb: bool,
    rank: Rank,
}

/// The outcome of [`Table::find`].
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A binding of this verb matches the path.
    Found {
        /// The method to call.
        method: &'a Method,
        /// The binding that matched (body rule, response body).
        binding: &'a Binding,
        /// The template variables' values, percent-decoded; an empty value
        /// means an empty path segment (a missing path parameter).
        params: Vec<(FieldPath, String)>,
    },
    /// Some binding matches the path, but none with this verb.
    MethodNotAllowed,
    /// No binding matches the path.
    NotFound,
}

impl Table {
    /// Indexes the services' bindings. Two bindings with the same verb and
    /// the same template shape (templates that differ only in variable
    /// names match the same paths) are an error naming both methods; so is
    /// a service given twice.
    pub fn new(services: impl IntoIterator<Item = ServiceBindings>) -> Result<Self, CompileError> {
        let services: Vec<ServiceBindings> = services.into_iter().collect();
        let mut names = HashSet::new();
        let mut methods = HashMap::new();
        let mut shapes: HashMap<(http::Method, String), &str> = HashMap::new();
        let mut entries = Vec::new();
        let mut index: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut max_prefix = 0;
        for (s, service) in services.iter().enumerate() {
            if !names.insert(service.service.as_str()) {
                return Err(CompileError::DuplicateService {
                    service: service.service.clone(),
                });
            }
            for (m, method) in service.methods.iter().enumerate() {
                methods.insert(method.grpc_path.clone(), (s, m));
                let id = method.grpc_path.trim_start_matches('/');
                for (b, binding) in method.bindings.iter().enumerate() {
                    let template = &binding.template;
                    let key = (binding.verb.clone(), template.shape());
                    if let Some(first) = shapes.insert(key, id) {
                        return Err(CompileError::DuplicateBinding {
                            verb: binding.verb.clone(),
                            template: template.to_string(),
                            first: first.to_owned(),
                            second: id.to_owned(),
                        });
                    }
                    let rank = (
                        Reverse(template.literal_count()),
                        template.has_rest(),
                        template.wildcard_count(),
                        entries.len(),
                    );
                    index
                        .entry(template.index_key().into())
                        .or_default()
                        .push(entries.len());
                    max_prefix = max_prefix.max(template.prefix_len());
                    entries.push(Entry {
                        service: s,
                        method: m,
                        binding: b,
                        any_verb: binding.verb.as_str() == "*",
                        rank,
                    });
                }
            }
        }
        for bucket in index.values_mut() {
            bucket.sort_by_key(|&i| entries[i].rank);
        }
        Ok(Self {
            services,
            entries,
            index,
            max_prefix,
            methods,
        })
    }

    /// The compiled services, in the order given.
    pub fn services(&self) -> &[ServiceBindings] {
        &self.services
    }

    /// The method with this gRPC path (`/package.Service/Method`).
    pub fn method(&self, grpc_path: &str) -> Option<&Method> {
        let &(s, m) = self.methods.get(grpc_path)?;
        Some(&self.services[s].methods[m])
    }

    /// Finds the binding for a request (`path` without the query string).
    /// When several templates match, the one with more literal segments
    /// wins, then one without `**`, then the one with fewer wildcards, then
    /// the one declared first.
    pub fn find(&self, verb: &http::Method, path: &str) -> Lookup<'_> {
        let Some(segments) = split(path) else {
            return Lookup::NotFound;
        };
        let mut best: Option<(&Entry, &str)> = None;
        let mut other_verb = false;
        for key in prefix_keys(path, &segments, self.max_prefix) {
            let Some(bucket) = self.index.get(key) else {
                continue;
            };
            for &i in bucket {
                let entry = &self.entries[i];
                if best.is_some_and(|(b, _)| entry.rank >= b.rank) {
                    break;
                }
                let binding = self.binding(entry);
                let same_verb = entry.any_verb || binding.verb == *verb;
                if !same_verb && other_verb {
                    continue;
                }
                if let Some(last) = binding.template.match_segments(&segments) {
                    if same_verb {
                        best = Some((entry, last));
                    } else {
                        other_verb = true;
                    }
                }
            }
        }
        match best {
            Some((entry, last)) => {
                let binding = self.binding(entry);
                Lookup::Found {
                    method: &self.services[entry.service].methods[entry.method],
                    binding,
                    params: binding.template.extract(&segments, last),
                }
            }
            None if other_verb => Lookup::MethodNotAllowed,
            None => Lookup::NotFound,
        }
    }

    fn binding(&self, entry: &Entry) -> &Binding {
        &self.services[entry.service].methods[entry.method].bindings[entry.binding]
    }
}

/// The index keys a path can be under: "" (templates without a literal
/// prefix), then the path cut after each of its first `max` segments; for
/// the last segment also cut before a `:verb`.
fn prefix_keys<'p>(path: &'p str, segments: &[&str], max: usize) -> SmallVec<[&'p str; 12]> {
    let mut keys = SmallVec::new();
    keys.push("");
    let mut end = 0;
    let count = segments.len();
    for (i, segment) in segments.iter().take(max).enumerate() {
        end += 1 + segment.len();
        keys.push(&path[..end]);
        if i + 1 == count
            && let Some(colon) = segment.find(':')
        {
            keys.push(&path[..end - segment.len() + colon]);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shareable_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Table>();
        send_sync::<crate::Descriptors>();
        send_sync::<crate::DynamicCodec>();
    }

    #[test]
    fn prefix_keys_cut_at_segments_and_verbs() {
        let path = "/v1/things/a:run";
        let segments = split(path).unwrap();
        assert_eq!(
            prefix_keys(path, &segments, 9).as_slice(),
            ["", "/v1", "/v1/things", "/v1/things/a:run", "/v1/things/a"]
        );
        assert_eq!(prefix_keys(path, &segments, 1).as_slice(), ["", "/v1"]);
        let root = split("/").unwrap();
        assert_eq!(prefix_keys("/", &root, 3).as_slice(), ["", "/"]);
    }
}
