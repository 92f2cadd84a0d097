//! The route table: a pure structure compiled once per configuration and
//! matched on every request. No I/O, no locks, no allocation on a miss.
//!
//! # Precedence (first rule that decides wins)
//! 1. Path kind: an **exact** path beats a **template**, which beats a **prefix**.
//! 2. Templates: compared segment by segment from the left, a literal segment
//!    beats a `{param}` segment.
//! 3. Prefixes: the longest prefix (most segments) wins.
//! 4. Same pattern: the route with more constraints wins — a `host` first,
//!    then more header matches, then a method list — and then the one
//!    declared first.
//!
//! A route whose path matches but whose method, host or headers do not is
//! skipped and matching continues with the next candidate in this order.
//!
//! Header regexes are compiled once, with the table's input; matching runs
//! the compiled automaton over the header value's bytes.

use std::collections::HashMap;

/// The tables' hasher: foldhash, seeded per process. Keys come from the
/// configuration only (requests look up, never insert), so SipHash's
/// flooding resistance buys nothing here; foldhash halved a match at
/// 10,000 routes (730 → 356 ns, `benches/route_match.rs`).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use onestop_config::regex::bytes::Regex;

/// How a route matches the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// Segment-aligned: `/a/b` matches `/a/b`, `/a/b/` and `/a/b/c`, not `/a/bc`.
    Prefix(String),
    /// `/a/{x}/c`: `{x}` binds exactly one non-empty segment.
    Template(String),
}

/// Everything a route matches on.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub path: PathPattern,
    /// Empty: any method.
    pub methods: Vec<Method>,
    /// Lower-case host without port.
    pub host: Option<String>,
    /// Headers that must be present, each with a value that `matches`.
    pub headers: Vec<(HeaderName, HeaderValueMatch)>,
}

/// What a required header's value must be.
#[derive(Debug, Clone)]
pub enum HeaderValueMatch {
    /// Any value.
    Any,
    /// Exactly this value.
    Exact(HeaderValue),
    /// A value the regex matches. Build it with
    /// [`onestop_config::header_regex`], which anchors it at both ends.
    Regex(Regex),
}

impl HeaderValueMatch {
    /// Whether a request's header value is acceptable.
    pub fn matches(&self, value: &HeaderValue) -> bool {
        match self {
            HeaderValueMatch::Any => true,
            HeaderValueMatch::Exact(want) => value == want,
            HeaderValueMatch::Regex(re) => re.is_match(value.as_bytes()),
        }
    }
}

/// The parts of a request the router looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Host without port, any case.
    pub host: Option<&'a str>,
    /// Already normalised path, without query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// A successful match: the route's value and its template parameters.
#[derive(Debug)]
pub struct Matched<'t, 'p, T> {
    pub value: &'t T,
    /// Template parameter values, in the order the template declares them.
    pub params: Params<'p>,
}

/// Parameter values borrowed from the request path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params<'p>(Vec<&'p str>);

impl<'p> Params<'p> {
    pub fn get(&self, index: usize) -> Option<&'p str> {
        self.0.get(index).copied()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Entry<T> {
    matcher: RouteMatch,
    value: T,
}

#[derive(Default)]
struct Node {
    statics: FastMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    /// Template routes that end at this node.
    templates: Vec<usize>,
    /// Prefix routes whose prefix ends at this node.
    prefixes: Vec<usize>,
}

/// An immutable, compiled route table.
pub struct RouteTable<T> {
    entries: Vec<Entry<T>>,
    exact: FastMap<Box<str>, Vec<usize>>,
    root: Node,
}

impl<T> RouteTable<T> {
    /// Builds the table. Routes keep their relative order for the final tie-break.
    pub fn new(routes: impl IntoIterator<Item = (RouteMatch, T)>) -> Self {
        let mut table = RouteTable {
            entries: Vec::new(),
            exact: FastMap::default(),
            root: Node::default(),
        };
        for (matcher, value) in routes {
            let idx = table.entries.len();
            match &matcher.path {
                PathPattern::Exact(p) => {
                    table.exact.entry(p.as_str().into()).or_default().push(idx)
                }
                PathPattern::Prefix(p) => {
                    let trimmed = p.trim_end_matches('/');
                    let node = insert(
                        &mut table.root,
                        segments(trimmed).filter(|s| !s.is_empty()),
                        false,
                    );
                    node.prefixes.push(idx);
                }
                PathPattern::Template(p) => {
                    let node = insert(&mut table.root, segments(p), true);
                    node.templates.push(idx);
                }
            }
            table.entries.push(Entry { matcher, value });
        }
        // Order each candidate list by specificity; the sort is stable, so
        // declaration order breaks the remaining ties.
        let entries = &table.entries;
        let by_specificity = |list: &mut Vec<usize>| {
            list.sort_by_key(|&i| std::cmp::Reverse(specificity(&entries[i].matcher)));
        };
        table.exact.values_mut().for_each(by_specificity);
        sort_node(&mut table.root, &by_specificity);
        table
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every route value, in declaration order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.value)
    }

    /// Finds the route for a request, following the documented precedence.
    pub fn find<'t, 'p>(&'t self, req: &RequestView<'p>) -> Option<Matched<'t, 'p, T>> {
        if let Some(list) = self.exact.get(req.path)
            && let Some(i) = self.first_accepting(list, req)
        {
            return Some(self.matched(i, Params::default()));
        }
        let segs: Vec<&'p str> = segments(req.path).collect();
        let mut params = Vec::new();
        if let Some(i) = self.find_template(&self.root, &segs, &mut params, req) {
            return Some(self.matched(i, Params(params)));
        }
        self.find_prefix(&segs, req)
            .map(|i| self.matched(i, Params::default()))
    }

    fn matched<'p>(&self, i: usize, params: Params<'p>) -> Matched<'_, 'p, T> {
        Matched {
            value: &self.entries[i].value,
            params,
        }
    }

    fn first_accepting(&self, list: &[usize], req: &RequestView<'_>) -> Option<usize> {
        list.iter()
            .copied()
            .find(|&i| accepts(&self.entries[i].matcher, req))
    }

    fn find_template<'p>(
        &self,
        node: &Node,
        segs: &[&'p str],
        params: &mut Vec<&'p str>,
        req: &RequestView<'_>,
    ) -> Option<usize> {
        let Some((first, rest)) = segs.split_first() else {
            return self.first_accepting(&node.templates, req);
        };
        if let Some(child) = node.statics.get(*first)
            && let Some(i) = self.find_template(child, rest, params, req)
        {
            return Some(i);
        }
        if let Some(child) = &node.param
            && !first.is_empty()
        {
            params.push(first);
            if let Some(i) = self.find_template(child, rest, params, req) {
                return Some(i);
            }
            params.pop();
        }
        None
    }

    fn find_prefix(&self, segs: &[&str], req: &RequestView<'_>) -> Option<usize> {
        // Walk literal segments as deep as they go, then try the deepest prefix first.
        let mut path = Vec::with_capacity(segs.len() + 1);
        let mut node = &self.root;
        path.push(node);
        for seg in segs {
            match node.statics.get(*seg) {
                Some(child) => {
                    node = child;
                    path.push(node);
                }
                None => break,
            }
        }
        path.iter()
            .rev()
            .find_map(|n| self.first_accepting(&n.prefixes, req))
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn insert<'a, 'n>(
    mut node: &'n mut Node,
    segs: impl Iterator<Item = &'a str>,
    params: bool,
) -> &'n mut Node {
    for seg in segs {
        node = if params && seg.starts_with('{') && seg.ends_with('}') {
            node.param.get_or_insert_with(Default::default)
        } else {
            node.statics.entry(seg.into()).or_default()
        };
    }
    node
}

fn sort_node(node: &mut Node, sort: &impl Fn(&mut Vec<usize>)) {
    sort(&mut node.templates);
    sort(&mut node.prefixes);
    for child in node.statics.values_mut() {
        sort_node(child, sort);
    }
    if let Some(child) = &mut node.param {
        sort_node(child, sort);
    }
}

/// Higher is more specific: host, then header count, then a method list.
fn specificity(m: &RouteMatch) -> (bool, usize, bool) {
    (m.host.is_some(), m.headers.len(), !m.methods.is_empty())
}

fn accepts(m: &RouteMatch, req: &RequestView<'_>) -> bool {
    if !m.methods.is_empty() && !m.methods.iter().any(|x| x == req.method) {
        return false;
    }
    if let Some(host) = &m.host
        && !req.host.is_some_and(|h| h.eq_ignore_ascii_case(host))
    {
        return false;
    }
    m.headers
        .iter()
        .all(|(name, want)| req.headers.get(name).is_some_and(|got| want.matches(got)))
}

#[cfg(test)]
mod tests;
