-- The access audit log (PostgreSQL): one record per exchange or read of
-- personal data through the public routes, chained by SHA-256. Keep in
-- step with ../sqlite/0004_access_audit.sql: the same columns and
-- constraints; only the integer types differ. Times are Unix epoch
-- milliseconds.

-- Append-only. `seq` is assigned by the writer (the previous record's + 1,
-- from 1) inside the appending transaction, never by the database, so
-- that the chain has no gaps; `hash` is SHA-256 over `prev_hash`, `seq`
-- and every other column (onestop_store::chain_hash), `prev_hash` the
-- previous record's `hash` (64 zeros for record 1).
CREATE TABLE access_audit (
    seq        BIGINT  NOT NULL PRIMARY KEY,
    at         BIGINT  NOT NULL,
    -- who received the data: a channel or a department
    consumer   TEXT    NOT NULL,
    citizen    TEXT    NOT NULL,
    -- what was read or exchanged (a catalogue item or route)
    item       TEXT    NOT NULL,
    -- JSON array of strings: the personal-data fields returned
    fields     TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    -- the sharing agreement that allowed it, if any
    agreement  TEXT,
    request_id TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);

-- A citizen's own access history, newest first.
CREATE INDEX access_audit_by_citizen ON access_audit (citizen, seq);
