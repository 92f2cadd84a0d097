//! Parsing the store URL into what to connect to.
//!
//! Pure functions: no I/O, unit-tested below.

use std::path::PathBuf;

use crate::StoreError;

/// Longest PostgreSQL identifier (NAMEDATALEN - 1).
const PG_MAX_IDENT: usize = 63;

/// Prefix of the `LISTEN`/`NOTIFY` channel; the schema follows.
const CHANNEL_PREFIX: &str = "onestop_changes_";

/// Where a store URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite database file (created if missing).
    SqliteFile {
        path: PathBuf,
        /// The URL handed to sqlx (`sqlite:…?mode=rwc`).
        url: String,
    },
    /// A private in-memory SQLite database (`sqlite::memory:`), for tests.
    SqliteMemory { url: String },
    /// A PostgreSQL server.
    Postgres {
        /// The URL handed to sqlx, without onestop's own parameters.
        url: String,
        /// The `schema` parameter, if given.
        schema: Option<String>,
    },
}

impl Target {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`,
    /// `postgres://…` or `postgresql://…` (with an optional `schema=NAME`
    /// query parameter).
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return parse_sqlite(rest);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return parse_postgres(url);
        }
        Err(StoreError::Other(format!(
            "unsupported store URL {:?}: expected sqlite:PATH or postgres://…",
            redact(url)
        )))
    }
}

/// Checks the `schema` URL parameter: an unquoted-style identifier, so that
/// it can be quoted safely and names the same schema everywhere.
pub(crate) fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if first_ok && rest_ok && schema.len() <= PG_MAX_IDENT {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "invalid schema {schema:?}: use ASCII letters, digits and '_', \
             not starting with a digit, at most {PG_MAX_IDENT} characters"
        )))
    }
}

/// The `LISTEN`/`NOTIFY` channel of a store whose tables live in `schema`.
///
/// `onestop_changes_<schema>` when that is a short lower-case identifier
/// (what `LISTEN` and `pg_notify` agree on without quoting surprises);
/// otherwise `onestop_changes_<hash of schema>`.
pub(crate) fn channel_for(schema: &str) -> String {
    let simple = !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if simple && CHANNEL_PREFIX.len() + schema.len() <= PG_MAX_IDENT {
        format!("{CHANNEL_PREFIX}{schema}")
    } else {
        format!("{CHANNEL_PREFIX}{:016x}", fnv1a(schema.as_bytes()))
    }
}

// The URL with any password replaced, for messages and logs.
pub(crate) use onestop_core::credential::redact_url as redact;

fn parse_sqlite(rest: &str) -> Result<Target, StoreError> {
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    if path == ":memory:" {
        return Ok(Target::SqliteMemory {
            url: "sqlite::memory:".to_string(),
        });
    }
    if path.is_empty() {
        return Err(StoreError::Other(
            "sqlite URL names no file: use sqlite:PATH".to_string(),
        ));
    }
    if rest.len() != path.len() {
        return Err(StoreError::Other(format!(
            "sqlite URL {rest:?} has parameters; onestop sets them itself"
        )));
    }
    Ok(Target::SqliteFile {
        path: PathBuf::from(path),
        url: format!("sqlite:{}?mode=rwc", percent_encode_path(path)),
    })
}

fn parse_postgres(url: &str) -> Result<Target, StoreError> {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let Some((head, query)) = base.split_once('?') else {
        return Ok(Target::Postgres {
            url: url.to_string(),
            schema: None,
        });
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", value)) => {
                validate_schema(value)?;
                if schema.replace(value.to_string()).is_some() {
                    return Err(StoreError::Other(
                        "the store URL names `schema` twice".to_string(),
                    ));
                }
            }
            _ => kept.push(pair),
        }
    }
    let mut out = head.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    Ok(Target::Postgres { url: out, schema })
}

/// Percent-encodes what a URL would misread in a file path (sqlx decodes it).
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 64-bit FNV-1a: a stable, dependency-free hash for channel names.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sqlite_file(url: &str) -> (PathBuf, String) {
        match Target::parse(url) {
            Ok(Target::SqliteFile { path, url }) => (path, url),
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn parses_sqlite_forms() {
        let (path, url) = sqlite_file("sqlite:data/onestop.db");
        assert_eq!(path, PathBuf::from("data/onestop.db"));
        assert_eq!(url, "sqlite:data/onestop.db?mode=rwc");

        let (path, url) = sqlite_file("sqlite:///var/lib/onestop/store.db");
        assert_eq!(path, PathBuf::from("/var/lib/onestop/store.db"));
        assert_eq!(url, "sqlite:/var/lib/onestop/store.db?mode=rwc");

        let (path, url) = sqlite_file("sqlite:/tmp/a b/c%d:e.db");
        assert_eq!(path, PathBuf::from("/tmp/a b/c%d:e.db"));
        assert_eq!(url, "sqlite:/tmp/a%20b/c%25d%3Ae.db?mode=rwc");

        assert_eq!(
            Target::parse("sqlite::memory:"),
            Ok(Target::SqliteMemory {
                url: "sqlite::memory:".into()
            })
        );
    }

    #[test]
    fn rejects_bad_sqlite_urls() {
        assert!(matches!(
            Target::parse("sqlite:"),
            Err(StoreError::Other(m)) if m.contains("names no file")
        ));
        assert!(matches!(
            Target::parse("sqlite:x.db?mode=ro"),
            Err(StoreError::Other(m)) if m.contains("parameters")
        ));
    }

    #[test]
    fn parses_postgres_and_strips_the_schema() {
        assert_eq!(
            Target::parse("postgres://127.0.0.1:5432/test"),
            Ok(Target::Postgres {
                url: "postgres://127.0.0.1:5432/test".into(),
                schema: None
            })
        );
        assert_eq!(
            Target::parse("postgresql://u:p@db/test?schema=onestop_x"),
            Ok(Target::Postgres {
                url: "postgresql://u:p@db/test".into(),
                schema: Some("onestop_x".into())
            })
        );
        assert_eq!(
            Target::parse("postgres://db/test?sslmode=disable&schema=s1&application_name=gw"),
            Ok(Target::Postgres {
                url: "postgres://db/test?sslmode=disable&application_name=gw".into(),
                schema: Some("s1".into())
            })
        );
    }

    #[test]
    fn rejects_bad_schemas_and_schemes() {
        for bad in ["", "1abc", "a-b", "a\"b", "a;drop", &"x".repeat(64)] {
            let url = format!("postgres://db/test?schema={bad}");
            assert!(
                matches!(Target::parse(&url), Err(StoreError::Other(m)) if m.contains("invalid schema")),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            Target::parse("postgres://db/test?schema=a&schema=b"),
            Err(StoreError::Other(m)) if m.contains("twice")
        ));
        assert!(matches!(
            Target::parse("mysql://db/test"),
            Err(StoreError::Other(m)) if m.contains("unsupported")
        ));
        assert!(validate_schema("Onestop_2").is_ok());
        assert!(validate_schema(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn channel_names_fit_and_differ_per_schema() {
        assert_eq!(channel_for("public"), "onestop_changes_public");
        assert_eq!(channel_for("onestop_x"), "onestop_changes_onestop_x");
        let long = "s".repeat(60);
        let hashed = channel_for(&long);
        assert!(hashed.len() <= PG_MAX_IDENT, "{hashed}");
        assert_ne!(hashed, channel_for(&"s".repeat(61)));
        assert_ne!(channel_for("Upper"), channel_for("upper"));
        assert!(channel_for("Upper").starts_with(CHANNEL_PREFIX));
    }
}
