-- Purges of the response cache (SQLite). Keep in step with
-- ../postgres/0002_purges.sql: the same columns and constraints; only the
-- id type differs. Times are Unix epoch milliseconds.

-- Append-only (old rows are pruned). AUTOINCREMENT: an id is never reused,
-- even after the newest rows were pruned, so every gateway can remember the
-- last id it applied and ask for what came after it.
CREATE TABLE purges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dept         TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('prefix', 'tag', 'all')),
    -- the path prefix or the tag; '' for 'all'
    value        TEXT    NOT NULL,
    -- who asked: `dept:<id>` (control plane) or `operator:<name>` (admin API)
    requested_by TEXT    NOT NULL,
    at           INTEGER NOT NULL
);

CREATE INDEX purges_by_at ON purges (at);
