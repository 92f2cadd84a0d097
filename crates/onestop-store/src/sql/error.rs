//! Mapping sqlx errors onto [`StoreError`].

use sqlx::error::{DatabaseError, ErrorKind};

use crate::StoreError;

/// Maps a sqlx error onto what the caller can do about it.
///
/// Unreachable, timed out, closed or busy → [`StoreError::Unavailable`]
/// (retry later); uniqueness, foreign-key and serialization failures →
/// [`StoreError::Conflict`]; undecodable data → [`StoreError::Corrupt`];
/// the rest → [`StoreError::Other`].
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    let message = error.to_string();
    match error {
        // Every I/O failure talking to the database means it cannot be
        // reached (refused, reset, closed, timed out, unreadable file).
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
            StoreError::Unavailable(message)
        }
        E::Database(ref e) => database_error(e.as_ref(), message),
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => StoreError::Corrupt(message),
        E::Migrate(migrate) => match *migrate {
            sqlx::migrate::MigrateError::Execute(inner)
            | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => db(inner),
            other => StoreError::Other(format!("migrations: {other}")),
        },
        _ => StoreError::Other(message),
    }
}

/// Whether `error` broke a uniqueness rule: PostgreSQL's `23505`, SQLite's
/// `SQLITE_CONSTRAINT_UNIQUE` (2067) or `SQLITE_CONSTRAINT_PRIMARYKEY`
/// (1555), or whatever another driver calls a unique violation. [`db`]
/// maps these onto [`StoreError::Conflict`] together with other conflicts;
/// this tells them apart.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return pg.code() == "23505";
    }
    if let Some(sqlite) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        return matches!(sqlite.code().as_deref(), Some("2067" | "1555"));
    }
    error.is_unique_violation()
}

/// A JSON column that does not hold what it should.
pub(crate) fn corrupt_json(what: &str, error: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

fn database_error(error: &dyn DatabaseError, message: String) -> StoreError {
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        && let Some(mapped) = classify_pg_code(pg.code(), &message)
    {
        return mapped;
    }
    if let Some(sqlite) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        && let Some(code) = sqlite.code()
        && let Some(mapped) = classify_sqlite_code(&code, &message)
    {
        return mapped;
    }
    match error.kind() {
        ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => {
            StoreError::Conflict(message)
        }
        _ => StoreError::Other(message),
    }
}

/// PostgreSQL SQLSTATE codes that mean something other than "a bug".
fn classify_pg_code(code: &str, message: &str) -> Option<StoreError> {
    let message = message.to_string();
    let class = code.get(..2).unwrap_or_default();
    Some(match (class, code) {
        // connection_exception; insufficient_resources (e.g. too many
        // connections); admin/crash shutdown, cannot_connect_now;
        // query_canceled (statement_timeout); lock_not_available.
        ("08" | "53", _) | (_, "57P01" | "57P02" | "57P03" | "57014" | "55P03") => {
            StoreError::Unavailable(message)
        }
        // serialization_failure, deadlock_detected, unique and foreign-key
        // violations: a concurrent writer got there first.
        (_, "40001" | "40P01" | "23505" | "23503") => StoreError::Conflict(message),
        // data_corrupted, index_corrupted
        (_, "XX001" | "XX002") => StoreError::Corrupt(message),
        _ => return None,
    })
}

/// SQLite (extended) result codes that mean something other than "a bug".
fn classify_sqlite_code(code: &str, message: &str) -> Option<StoreError> {
    let extended: i32 = code.parse().ok()?;
    let message = message.to_string();
    Some(match extended & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED (the busy timeout ran out),
        // SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
        5 | 6 | 10 | 13 | 14 => StoreError::Unavailable(message),
        // SQLITE_CORRUPT, SQLITE_NOTADB
        11 | 26 => StoreError::Corrupt(message),
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::borrow::Cow;
    use std::error::Error as StdError;
    use std::fmt;
    use std::io;

    use super::*;

    /// A database error as another driver (or the Any layer) reports it.
    #[derive(Debug)]
    struct FakeDbError(ErrorKind);

    impl fmt::Display for FakeDbError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "fake {:?}", self.0)
        }
    }

    impl StdError for FakeDbError {}

    impl DatabaseError for FakeDbError {
        fn message(&self) -> &str {
            "fake"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            None
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            match self.0 {
                ErrorKind::UniqueViolation => ErrorKind::UniqueViolation,
                ErrorKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
                _ => ErrorKind::Other,
            }
        }
    }

    #[test]
    fn connection_trouble_is_unavailable() {
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Tls("handshake".into()),
            sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
            sqlx::Error::Io(io::Error::from(io::ErrorKind::UnexpectedEof)),
            sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
        ] {
            let text = error.to_string();
            assert_eq!(db(error), StoreError::Unavailable(text));
        }
    }

    #[test]
    fn constraint_violations_are_conflicts() {
        let unique = sqlx::Error::Database(Box::new(FakeDbError(ErrorKind::UniqueViolation)));
        assert!(matches!(db(unique), StoreError::Conflict(_)));
        let fk = sqlx::Error::Database(Box::new(FakeDbError(ErrorKind::ForeignKeyViolation)));
        assert!(matches!(db(fk), StoreError::Conflict(_)));
        let other = sqlx::Error::Database(Box::new(FakeDbError(ErrorKind::CheckViolation)));
        assert!(matches!(db(other), StoreError::Other(_)));
    }

    #[test]
    fn unique_violations_are_told_apart() {
        let unique = sqlx::Error::Database(Box::new(FakeDbError(ErrorKind::UniqueViolation)));
        assert!(is_unique_violation(&unique));
        let fk = sqlx::Error::Database(Box::new(FakeDbError(ErrorKind::ForeignKeyViolation)));
        assert!(!is_unique_violation(&fk));
        assert!(!is_unique_violation(&sqlx::Error::PoolTimedOut));
    }

    #[test]
    fn undecodable_data_is_corrupt() {
        let decode = sqlx::Error::ColumnDecode {
            index: "\"spec\"".into(),
            source: "expected TEXT".into(),
        };
        assert!(matches!(db(decode), StoreError::Corrupt(m) if m.contains("spec")));
        assert!(matches!(
            db(sqlx::Error::Decode("bad".into())),
            StoreError::Corrupt(_)
        ));
        assert!(matches!(
            db(sqlx::Error::ColumnNotFound("x".into())),
            StoreError::Corrupt(_)
        ));
        let json = serde_json::from_str::<u32>("nope").unwrap_err();
        assert!(matches!(
            corrupt_json("services.spec of hpf/main", &json),
            StoreError::Corrupt(m) if m.starts_with("services.spec of hpf/main: ")
        ));
    }

    #[test]
    fn everything_else_is_other() {
        assert!(matches!(db(sqlx::Error::RowNotFound), StoreError::Other(_)));
        assert!(matches!(
            db(sqlx::Error::Protocol("odd".into())),
            StoreError::Other(_)
        ));
        assert!(matches!(
            db(sqlx::Error::Configuration("bad url".into())),
            StoreError::Other(m) if m.contains("bad url")
        ));
    }

    #[test]
    fn migration_errors_unwrap_the_database_error() {
        let inner = sqlx::Error::Io(io::Error::from(io::ErrorKind::BrokenPipe));
        let wrapped = sqlx::Error::Migrate(Box::new(sqlx::migrate::MigrateError::Execute(inner)));
        assert!(matches!(db(wrapped), StoreError::Unavailable(_)));
        let missing =
            sqlx::Error::Migrate(Box::new(sqlx::migrate::MigrateError::VersionMissing(7)));
        assert!(matches!(db(missing), StoreError::Other(m) if m.starts_with("migrations: ")));
    }

    #[test]
    fn classifies_postgres_codes() {
        let cases = [
            ("08006", "unavailable"),
            ("08001", "unavailable"),
            ("57P01", "unavailable"),
            ("57P03", "unavailable"),
            ("53300", "unavailable"),
            ("57014", "unavailable"),
            ("40001", "conflict"),
            ("40P01", "conflict"),
            ("23505", "conflict"),
            ("23503", "conflict"),
            ("XX001", "corrupt"),
        ];
        for (code, want) in cases {
            let got = match classify_pg_code(code, "m") {
                Some(StoreError::Unavailable(_)) => "unavailable",
                Some(StoreError::Conflict(_)) => "conflict",
                Some(StoreError::Corrupt(_)) => "corrupt",
                other => panic!("{code}: {other:?}"),
            };
            assert_eq!(got, want, "{code}");
        }
        assert_eq!(classify_pg_code("42P01", "m"), None);
        assert_eq!(classify_pg_code("", "m"), None);
    }

    #[test]
    fn classifies_sqlite_codes() {
        assert!(matches!(
            classify_sqlite_code("5", "m"),
            Some(StoreError::Unavailable(_))
        ));
        // SQLITE_BUSY_SNAPSHOT is an extended SQLITE_BUSY.
        assert!(matches!(
            classify_sqlite_code("517", "m"),
            Some(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            classify_sqlite_code("11", "m"),
            Some(StoreError::Corrupt(_))
        ));
        // SQLITE_CONSTRAINT_UNIQUE is left to ErrorKind.
        assert_eq!(classify_sqlite_code("2067", "m"), None);
        assert_eq!(classify_sqlite_code("not a number", "m"), None);
    }
}
