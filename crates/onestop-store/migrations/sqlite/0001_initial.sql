-- onestop store, initial schema (SQLite). Keep in step with
-- ../postgres/0001_initial.sql: the same tables, columns and
-- constraints; only the id types differ. Times are Unix epoch milliseconds.

-- One row per registered service; all its revisions collapse into it.
CREATE TABLE services (
    dept              TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    revision          INTEGER NOT NULL,
    -- JSON of onestop_core::registry::ServiceSpec.
    spec              TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    approved_spec     TEXT,
    approved_revision INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (dept, service)
);

CREATE TABLE instances (
    dept             TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    -- ip:port
    addr             TEXT    NOT NULL,
    weight           INTEGER NOT NULL CHECK (weight >= 0),
    lease_expires_at INTEGER NOT NULL,
    registered_at    INTEGER NOT NULL,
    PRIMARY KEY (dept, service, addr),
    FOREIGN KEY (dept, service) REFERENCES services (dept, service) ON DELETE CASCADE
);

CREATE INDEX instances_by_lease ON instances (lease_expires_at);

-- Append-only; kept when the service is deleted (no foreign key).
CREATE TABLE decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dept         TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    surface_hash TEXT    NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('approve', 'reject')),
    operator     TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    at           INTEGER NOT NULL
);

CREATE INDEX decisions_by_dept ON decisions (dept, id);

CREATE TABLE dept_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dept         TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    -- lower-case hex SHA-256 of the bearer token; the token itself is never stored.
    token_sha256 TEXT    NOT NULL UNIQUE,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE INDEX dept_tokens_by_dept ON dept_tokens (dept);

-- AUTOINCREMENT: version numbers are never reused, so they strictly increase.
CREATE TABLE config_versions (
    version      INTEGER PRIMARY KEY AUTOINCREMENT,
    author       TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    source       TEXT    NOT NULL CHECK (source IN ('file', 'api', 'rollback')),
    created_at   INTEGER NOT NULL,
    content_hash TEXT    NOT NULL,
    -- JSON object: relative path -> file text.
    files        TEXT    NOT NULL,
    diff         TEXT    NOT NULL
);

CREATE TABLE admin_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    operator TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    -- a JSON document
    detail   TEXT    NOT NULL,
    at       INTEGER NOT NULL
);
