//! Dotted paths of protobuf fields (`a.b.c`), as written in path templates,
//! `body`/`response_body` and query parameter names.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A dotted path of field names, e.g. `ref.id`.
///
/// Cheap to clone (the text is shared), so lookups can hand paths out per
/// request without copying strings. Segments are stored as written: the
/// compiler only produces paths of original (proto) field names, while a
/// path parsed from a query parameter may use JSON names.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    text: Arc<str>,
}

/// A field path that is not `IDENT { "." IDENT }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path {text:?}: expected identifiers separated by '.'")]
pub struct FieldPathError {
    /// The text that failed to parse.
    pub text: String,
}

impl FieldPath {
    /// Parses `IDENT { "." IDENT }` where `IDENT = [A-Za-z_][A-Za-z0-9_]*`.
    pub fn parse(text: &str) -> Result<Self, FieldPathError> {
        if !text.is_empty() && text.split('.').all(is_ident) {
            Ok(Self { text: text.into() })
        } else {
            Err(FieldPathError {
                text: text.to_owned(),
            })
        }
    }

    /// The field names, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &str> + Clone {
        self.text.split('.')
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.segments().count()
    }

    /// Always `false`: a field path has at least one segment.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The path as written, e.g. `ref.id`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `true` if `self` equals `other` or lies under it (`a.b` starts with `a`).
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        let mut mine = self.segments();
        other.segments().all(|s| mine.next() == Some(s))
    }
}

/// `IDENT = [A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_ident(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl FromStr for FieldPath {
    type Err = FieldPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", &*self.text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_displays() {
        let p = FieldPath::parse("ref.id").unwrap();
        assert_eq!(p.to_string(), "ref.id");
        assert_eq!(p.segments().collect::<Vec<_>>(), ["ref", "id"]);
        assert_eq!(p.len(), 2);
        assert!(p.starts_with(&FieldPath::parse("ref").unwrap()));
        assert!(!p.starts_with(&FieldPath::parse("re").unwrap()));
        assert!(!FieldPath::parse("ref").unwrap().starts_with(&p));
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["", ".", "a.", ".a", "a..b", "1a", "a-b", "a b", "a/b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} must not parse");
        }
        assert!(FieldPath::parse("_a1.b_2").is_ok());
    }
}
