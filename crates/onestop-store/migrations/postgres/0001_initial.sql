-- onestop store, initial schema (PostgreSQL). Keep in step with
-- ../sqlite/0001_initial.sql: the same tables, columns and
-- constraints; only the id types differ. Times are Unix epoch milliseconds.
-- Every object is created unqualified, in the first schema of search_path
-- (the `schema` URL parameter of SqlStore::connect).

-- One row per registered service; all its revisions collapse into it.
CREATE TABLE services (
    dept              TEXT   NOT NULL,
    service           TEXT   NOT NULL,
    revision          BIGINT NOT NULL,
    -- JSON of onestop_core::registry::ServiceSpec.
    spec              TEXT   NOT NULL,
    status            TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    approved_spec     TEXT,
    approved_revision BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (dept, service)
);

CREATE TABLE instances (
    dept             TEXT   NOT NULL,
    service          TEXT   NOT NULL,
    -- ip:port
    addr             TEXT   NOT NULL,
    weight           BIGINT NOT NULL CHECK (weight >= 0),
    lease_expires_at BIGINT NOT NULL,
    registered_at    BIGINT NOT NULL,
    PRIMARY KEY (dept, service, addr),
    FOREIGN KEY (dept, service) REFERENCES services (dept, service) ON DELETE CASCADE
);

CREATE INDEX instances_by_lease ON instances (lease_expires_at);

-- Append-only; kept when the service is deleted (no foreign key).
CREATE TABLE decisions (
    id           BIGSERIAL PRIMARY KEY,
    dept         TEXT   NOT NULL,
    service      TEXT   NOT NULL,
    revision     BIGINT NOT NULL,
    surface_hash TEXT   NOT NULL,
    verdict      TEXT   NOT NULL CHECK (verdict IN ('approve', 'reject')),
    operator     TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    at           BIGINT NOT NULL
);

CREATE INDEX decisions_by_dept ON decisions (dept, id);

CREATE TABLE dept_tokens (
    id           BIGSERIAL PRIMARY KEY,
    dept         TEXT   NOT NULL,
    label        TEXT   NOT NULL,
    -- lower-case hex SHA-256 of the bearer token; the token itself is never stored.
    token_sha256 TEXT   NOT NULL UNIQUE,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE INDEX dept_tokens_by_dept ON dept_tokens (dept);

-- A sequence never hands out a number twice, so versions strictly increase.
CREATE TABLE config_versions (
    version      BIGSERIAL PRIMARY KEY,
    author       TEXT   NOT NULL,
    message      TEXT   NOT NULL,
    source       TEXT   NOT NULL CHECK (source IN ('file', 'api', 'rollback')),
    created_at   BIGINT NOT NULL,
    content_hash TEXT   NOT NULL,
    -- JSON object: relative path -> file text.
    files        TEXT   NOT NULL,
    diff         TEXT   NOT NULL
);

CREATE TABLE admin_audit (
    id       BIGSERIAL PRIMARY KEY,
    operator TEXT   NOT NULL,
    action   TEXT   NOT NULL,
    target   TEXT   NOT NULL,
    -- a JSON document
    detail   TEXT   NOT NULL,
    at       BIGINT NOT NULL
);
