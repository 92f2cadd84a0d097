//! `google.api.http` path templates: parsing and matching.
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```

use std::borrow::Cow;
use std::fmt;

use smallvec::SmallVec;

use crate::field_path::FieldPath;

/// Path segments of one request path, split once per lookup.
pub(crate) type Segments<'p> = SmallVec<[&'p str; 16]>;

/// A parsed path template, e.g. `/v1/{name=shelves/*}/books/{book.id}:read`.
#[derive(Clone)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    literal_prefix: String,
    prefix_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment (possibly empty).
    Single,
    /// `**`: zero or more segments; only ever the last segment.
    Rest,
}

#[derive(Debug, Clone)]
struct Variable {
    field: FieldPath,
    /// First template segment of the variable.
    start: usize,
    /// One past its last template segment.
    end: usize,
    /// Ends with `**`: takes every remaining path segment.
    rest: bool,
}

impl Variable {
    /// Whether the value may span several segments (then `%2F` stays encoded).
    fn multi_segment(&self) -> bool {
        self.rest || self.end - self.start > 1
    }
}

/// A template that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at offset {offset}")]
pub struct TemplateError {
    /// Byte offset into the template where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        offset,
        message: message.into(),
    })
}

/// Characters that never appear in a literal segment or verb.
fn is_special(c: char) -> bool {
    matches!(c, '/' | ':' | '{' | '}' | '*' | '=' | '?' | '#')
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    /// Offsets of `**` segments, to report one that is not last.
    rest_offsets: Vec<(usize, usize)>,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// `Segments = Segment { "/" Segment }`.
    fn segments(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            self.segment(in_variable)?;
            if !self.eat('/') {
                return Ok(());
            }
        }
    }

    fn segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        let start = self.pos;
        if self.text[self.pos..].starts_with("**") {
            self.pos += 2;
            self.rest_offsets.push((self.segments.len(), start));
            self.segments.push(Segment::Rest);
        } else if self.eat('*') {
            self.segments.push(Segment::Single);
        } else if self.peek() == Some('{') {
            if in_variable {
                return err(start, "a variable must not contain another variable");
            }
            self.variable()?;
        } else {
            let len = self.text[self.pos..]
                .find(is_special)
                .unwrap_or(self.text.len() - self.pos);
            if len == 0 {
                return match self.peek() {
                    None | Some('/') | Some(':') => err(start, "empty path segment"),
                    Some(c) => err(start, format!("unexpected {c:?}")),
                };
            }
            let literal = &self.text[self.pos..self.pos + len];
            self.pos += len;
            self.segments.push(Segment::Literal(literal.to_owned()));
        }
        // A segment ends at '/', ':' (verb), '}' (variable) or the end.
        match self.peek() {
            None | Some('/') | Some(':') | Some('}') => Ok(()),
            Some(c) => err(self.pos, format!("unexpected {c:?}")),
        }
    }

    /// `Variable = "{" FieldPath [ "=" Segments ] "}"`.
    fn variable(&mut self) -> Result<(), TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let len = self.text[self.pos..]
            .find(['=', '}'])
            .ok_or(TemplateError {
                offset: open,
                message: "unclosed '{'".into(),
            })?;
        let name = &self.text[self.pos..self.pos + len];
        let field = FieldPath::parse(name).map_err(|e| TemplateError {
            offset: self.pos,
            message: e.to_string(),
        })?;
        if self.variables.iter().any(|v| v.field == field) {
            return err(self.pos, format!("variable {name:?} appears twice"));
        }
        self.pos += len;
        let start = self.segments.len();
        if self.eat('=') {
            self.segments(true)?;
        } else {
            self.segments.push(Segment::Single);
        }
        if !self.eat('}') {
            return err(self.pos, "expected '}'");
        }
        let end = self.segments.len();
        let rest = self.segments[start..end].contains(&Segment::Rest);
        self.variables.push(Variable {
            field,
            start,
            end,
            rest,
        });
        Ok(())
    }

    /// `Verb = ":" LITERAL`, the rest of the text.
    fn verb(&mut self) -> Result<Option<String>, TemplateError> {
        if !self.eat(':') {
            return match self.peek() {
                None => Ok(None),
                Some(c) => err(self.pos, format!("unexpected {c:?}")),
            };
        }
        let verb = &self.text[self.pos..];
        if verb.is_empty() {
            return err(self.pos, "empty verb after ':'");
        }
        if let Some(i) = verb.find(is_special) {
            return err(self.pos + i, "a verb is one literal");
        }
        Ok(Some(verb.to_owned()))
    }
}

impl PathTemplate {
    /// Parses a template; see the module documentation for the grammar.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        if !text.starts_with('/') {
            return err(0, "a path template must start with '/'");
        }
        let mut parser = Parser {
            text,
            pos: 1,
            segments: Vec::new(),
            variables: Vec::new(),
            rest_offsets: Vec::new(),
        };
        let verb = if text == "/" {
            None
        } else {
            parser.segments(false)?;
            if parser.peek() == Some('}') {
                return err(parser.pos, "unmatched '}'");
            }
            parser.verb()?
        };
        let count = parser.segments.len();
        if let Some(&(_, offset)) = parser
            .rest_offsets
            .iter()
            .find(|(index, _)| index + 1 != count)
        {
            return err(offset, "'**' must be the last segment");
        }
        let literals: Vec<&str> = parser
            .segments
            .iter()
            .map_while(|s| match s {
                Segment::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        Ok(Self {
            text: text.to_owned(),
            literal_prefix: format!("/{}", literals.join("/")),
            prefix_len: literals.len(),
            segments: parser.segments,
            variables: parser.variables,
            verb,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The variables' field paths, in template order.
    pub fn variables(&self) -> impl Iterator<Item = &FieldPath> {
        self.variables.iter().map(|v| &v.field)
    }

    /// The `:verb` suffix, without the colon.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// The literal leading segments as a path, e.g. `/v1/shelves` for
    /// `/v1/shelves/{shelf}/books`; `/` when the template starts with a
    /// variable or wildcard. Every path the template matches starts with it
    /// (segment-wise; see [`PathTemplate::lies_under`]).
    pub fn literal_prefix(&self) -> &str {
        &self.literal_prefix
    }

    /// Whether every path this template matches lies under `prefix`
    /// (segment-wise: `/api/v1` holds `/api/v1/x` but not `/api/v10`).
    /// A trailing `/` on `prefix` is ignored.
    pub fn lies_under(&self, prefix: &str) -> bool {
        let prefix = prefix.trim_end_matches('/');
        match self.literal_prefix.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// Matches a request path (without query). On success, the variables'
    /// values in template order, percent-decoded (`%2F` stays encoded in
    /// variables that span several segments, as `google.api.http` asks). An
    /// empty segment matches a variable or `*` and yields an empty value, so
    /// the caller can report a missing path parameter. Literals compare
    /// byte-wise with the raw path.
    pub fn matches(&self, path: &str) -> Option<Vec<(FieldPath, String)>> {
        let segments = split(path)?;
        let last = self.match_segments(&segments)?;
        Some(self.extract(&segments, last))
    }

    /// Number of literal segments (the verb counts as one): the first key
    /// of match precedence.
    pub(crate) fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
            + usize::from(self.verb.is_some())
    }

    /// Whether the template ends with `**`.
    pub(crate) fn has_rest(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Rest))
    }

    /// Number of `*` and `**` segments.
    pub(crate) fn wildcard_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .count()
    }

    /// The key of the lookup index: the literal prefix, or "" when there is none.
    pub(crate) fn index_key(&self) -> &str {
        if self.prefix_len == 0 {
            ""
        } else {
            &self.literal_prefix
        }
    }

    /// Number of leading literal segments.
    pub(crate) fn prefix_len(&self) -> usize {
        self.prefix_len
    }

    /// The template with variable names erased: two templates with the same
    /// shape match exactly the same paths.
    pub(crate) fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.segments {
            shape.push('/');
            match segment {
                Segment::Literal(l) => shape.push_str(l),
                Segment::Single => shape.push('*'),
                Segment::Rest => shape.push_str("**"),
            }
        }
        if shape.is_empty() {
            shape.push('/');
        }
        if let Some(verb) = &self.verb {
            shape.push(':');
            shape.push_str(verb);
        }
        shape
    }

    /// Matches pre-split segments; returns the last segment with the verb
    /// stripped (what the template's last segment matched against).
    pub(crate) fn match_segments<'p>(&self, segments: &[&'p str]) -> Option<&'p str> {
        let (&last, _) = segments.split_last()?;
        let last = match &self.verb {
            Some(verb) => last.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => last,
        };
        let count = segments.len();
        if self.segments.is_empty() {
            return (count == 1 && last.is_empty()).then_some(last);
        }
        let fixed = self.segments.len() - usize::from(self.has_rest());
        let fits = if self.has_rest() {
            count >= fixed
        } else {
            count == fixed
        };
        if !fits {
            return None;
        }
        let get = |i: usize| if i + 1 == count { last } else { segments[i] };
        let literals_match = self.segments[..fixed]
            .iter()
            .enumerate()
            .all(|(i, s)| match s {
                Segment::Literal(l) => get(i) == l,
                Segment::Single | Segment::Rest => true,
            });
        literals_match.then_some(last)
    }

    /// The variables' values of a path that [`Self::match_segments`] accepted.
    pub(crate) fn extract(&self, segments: &[&str], last: &str) -> Vec<(FieldPath, String)> {
        let count = segments.len();
        let get = |i: usize| if i + 1 == count { last } else { segments[i] };
        self.variables
            .iter()
            .map(|v| {
                let end = if v.rest { count } else { v.end };
                let value = if v.multi_segment() {
                    let joined = (v.start..end).map(get).collect::<Vec<_>>().join("/");
                    percent_decode(&joined, false, true).into_owned()
                } else {
                    percent_decode(get(v.start), false, false).into_owned()
                };
                (v.field.clone(), value)
            })
            .collect()
    }
}

/// Splits a request path (which must start with `/`) into its segments.
pub(crate) fn split(path: &str) -> Option<Segments<'_>> {
    path.strip_prefix('/').map(|rest| rest.split('/').collect())
}

/// Percent-decodes `s`; `+` becomes a space when `plus_as_space` (query
/// strings); `%2F`/`%2f` stay encoded when `keep_slash`. Malformed escapes
/// are kept as they are; invalid UTF-8 becomes U+FFFD.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool, keep_slash: bool) -> Cow<'_, str> {
    let escaped = s.contains('%') || (plus_as_space && s.contains('+'));
    if !escaped {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = match bytes.get(i + 1..i + 3) {
                    Some(&[hi, lo]) => hex_value(hi).zip(hex_value(lo)).map(|(h, l)| h << 4 | l),
                    _ => None,
                };
                match hex {
                    Some(b'/') if keep_slash => {
                        out.extend_from_slice(&bytes[i..i + 3]);
                        i += 3;
                    }
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathTemplate({:?})", self.text)
    }
}

impl PartialEq for PathTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for PathTemplate {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(text: &str) -> PathTemplate {
        PathTemplate::parse(text).unwrap()
    }

    /// Matched variables as `(field path, value)` strings.
    type Vars = Option<Vec<(String, String)>>;

    fn m(template: &str, path: &str) -> Vars {
        t(template)
            .matches(path)
            .map(|vars| vars.into_iter().map(|(f, v)| (f.to_string(), v)).collect())
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Some(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn match_table() {
        let cases: &[(&str, &str, Vars)] = &[
            // literals
            ("/v1/things", "/v1/things", vars(&[])),
            ("/v1/things", "/v1/thing", None),
            ("/v1/things", "/v1/things/", None),
            ("/v1/things", "/v1", None),
            ("/v1/things", "v1/things", None),
            ("/", "/", vars(&[])),
            ("/", "/x", None),
            // `*` and `**`
            ("/v1/*/x", "/v1/abc/x", vars(&[])),
            ("/v1/*/x", "/v1/a/b/x", None),
            ("/v1/**", "/v1/a/b/c", vars(&[])),
            ("/v1/**", "/v1", vars(&[])),
            ("/v1/**", "/v2/a", None),
            // simple and nested field variables
            ("/v1/{id}", "/v1/42", vars(&[("id", "42")])),
            (
                "/v1/shelves/{shelf}/things/{ref.id}",
                "/v1/shelves/s1/things/t-9",
                vars(&[("shelf", "s1"), ("ref.id", "t-9")]),
            ),
            ("/v1/{id=*}", "/v1/42", vars(&[("id", "42")])),
            // variables over several segments and the rest
            (
                "/v1/{name=shelves/*}/books",
                "/v1/shelves/s1/books",
                vars(&[("name", "shelves/s1")]),
            ),
            ("/v1/{name=shelves/*}/books", "/v1/boxes/s1/books", None),
            (
                "/v1/{name=resources/**}",
                "/v1/resources/a/b/c",
                vars(&[("name", "resources/a/b/c")]),
            ),
            ("/v1/{name=**}", "/v1", vars(&[("name", "")])),
            (
                "/files/{path=**}",
                "/files/a%2Fb/c%20d",
                vars(&[("path", "a%2Fb/c d")]),
            ),
            // verb suffix
            ("/v1/things:search", "/v1/things:search", vars(&[])),
            ("/v1/things:search", "/v1/things", None),
            ("/v1/things:search", "/v1/things:searchx", None),
            ("/v1/things", "/v1/things:search", None),
            ("/v1/{id}:cancel", "/v1/7:cancel", vars(&[("id", "7")])),
            (
                "/v1/{name=**}:undelete",
                "/v1/a/b:undelete",
                vars(&[("name", "a/b")]),
            ),
            ("/v1/{id}", "/v1/a:b", vars(&[("id", "a:b")])),
            // percent-decoding of single-segment variables (incl. %2F and UTF-8)
            (
                "/v1/{id}",
                "/v1/a%2Fb%20c%E5%8C%97",
                vars(&[("id", "a/b c北")]),
            ),
            ("/v1/{id}", "/v1/a+b%zz", vars(&[("id", "a+b%zz")])),
            // empty segments still match, with an empty value
            ("/v1/{id}", "/v1/", vars(&[("id", "")])),
            ("/v1/{a}/x/{b}", "/v1//x/", vars(&[("a", ""), ("b", "")])),
            ("/v1/*/x", "/v1//x", vars(&[])),
        ];
        for (template, path, want) in cases {
            assert_eq!(&m(template, path), want, "{template} vs {path}");
        }
    }

    #[test]
    fn syntax_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "must start with '/'"),
            ("v1/x", 0, "must start with '/'"),
            ("/v1/", 4, "empty path segment"),
            ("/v1//x", 4, "empty path segment"),
            ("/v1/{id", 4, "unclosed '{'"),
            ("/v1/{id=*", 9, "expected '}'"),
            ("/v1/{", 4, "unclosed '{'"),
            ("/v1/{}", 5, "invalid field path"),
            ("/v1/{a-b}", 5, "invalid field path"),
            ("/v1/{a.}", 5, "invalid field path"),
            ("/v1/{a={b}}", 7, "must not contain another variable"),
            ("/v1/**/x", 4, "'**' must be the last segment"),
            ("/v1/{n=**}/x", 7, "'**' must be the last segment"),
            ("/v1/x:", 6, "empty verb"),
            ("/v1/x:a/b", 7, "a verb is one literal"),
            ("/v1/a*", 5, "unexpected '*'"),
            ("/v1/x}", 5, "unmatched '}'"),
            ("/v1/{a}/{a}", 9, "appears twice"),
            ("/v1/x?y=1", 5, "unexpected '?'"),
        ];
        for (template, offset, message) in cases {
            let e = PathTemplate::parse(template).unwrap_err();
            assert!(
                e.message.contains(message),
                "{template}: {e} should say {message}"
            );
            assert_eq!(e.offset, *offset, "{template}: {e}");
        }
    }

    #[test]
    fn accessors() {
        let tpl = t("/v1/shelves/{shelf}/things/{name=parts/**}:scan");
        assert_eq!(
            tpl.to_string(),
            "/v1/shelves/{shelf}/things/{name=parts/**}:scan"
        );
        assert_eq!(tpl.literal_prefix(), "/v1/shelves");
        assert_eq!(tpl.verb(), Some("scan"));
        assert_eq!(
            tpl.variables().map(ToString::to_string).collect::<Vec<_>>(),
            ["shelf", "name"]
        );
        assert_eq!(tpl.shape(), "/v1/shelves/*/things/parts/**:scan");
        assert_eq!(tpl.literal_count(), 5);
        assert_eq!(tpl.wildcard_count(), 2);
        assert!(tpl.has_rest());
        assert!(tpl.lies_under("/v1"));
        assert!(tpl.lies_under("/v1/"));
        assert!(tpl.lies_under("/v1/shelves"));
        assert!(!tpl.lies_under("/v1/shel"));
        assert!(!tpl.lies_under("/v1/shelves/x"));
        assert_eq!(t("/{a}/b").literal_prefix(), "/");
        assert_eq!(t("/{a}/b").index_key(), "");
        assert_eq!(t("/").shape(), "/");
    }

    #[test]
    fn percent_decode_forms() {
        assert_eq!(percent_decode("a+b%20c", true, false), "a b c");
        assert_eq!(percent_decode("a+b", false, false), "a+b");
        assert_eq!(percent_decode("a%2fb", false, true), "a%2fb");
        assert_eq!(percent_decode("a%2fb", false, false), "a/b");
        assert_eq!(percent_decode("%", false, false), "%");
        assert_eq!(percent_decode("%+1%4", false, false), "%+1%4");
        assert_eq!(percent_decode("%ff", false, false), "\u{fffd}");
        assert!(matches!(
            percent_decode("plain", true, true),
            Cow::Borrowed(_)
        ));
    }
}
