-- Purges of the response cache (PostgreSQL). Keep in step with
-- ../sqlite/0002_purges.sql: the same columns and constraints; only the id
-- type differs. Times are Unix epoch milliseconds.

-- Append-only (old rows are pruned). A sequence never hands out a number
-- twice; writers lock the table while appending (see SqlStore::append_purge)
-- so that ids also become visible in increasing order, and a gateway that
-- remembers the last id it applied never skips one.
CREATE TABLE purges (
    id           BIGSERIAL PRIMARY KEY,
    dept         TEXT   NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('prefix', 'tag', 'all')),
    -- the path prefix or the tag; '' for 'all'
    value        TEXT   NOT NULL,
    -- who asked: `dept:<id>` (control plane) or `operator:<name>` (admin API)
    requested_by TEXT   NOT NULL,
    at           BIGINT NOT NULL
);

CREATE INDEX purges_by_at ON purges (at);
