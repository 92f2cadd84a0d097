-- Data-sharing agreements between departments and citizens' consents
-- (PostgreSQL). Keep in step with ../sqlite/0005_sharing.sql: the same
-- columns and constraints; only the integer types differ. Times are Unix
-- epoch milliseconds. Flags are integers, 0 or 1, not BOOLEAN: sqlx's Any
-- driver cannot read SQLite's booleans, and both backends run one SQL text.

-- One row per agreement (共享协议), chosen id. Every change is a
-- compare-and-set on `revision` (1 when applied for, +1 per change).
CREATE TABLE sharing_agreements (
    id             TEXT    NOT NULL PRIMARY KEY,
    -- the consumer and provider departments' ids
    consumer       TEXT    NOT NULL,
    provider       TEXT    NOT NULL,
    -- the data item, qualified: `provider.item`
    item           TEXT    NOT NULL,
    -- JSON arrays of strings: the fields granted, and those granted unmasked
    fields         TEXT    NOT NULL,
    clear_fields   TEXT    NOT NULL,
    purpose        TEXT    NOT NULL,
    legal_basis    TEXT    NOT NULL,
    expires_at     BIGINT  NOT NULL,
    -- approval also needs the provider department
    needs_provider BIGINT  NOT NULL CHECK (needs_provider IN (0, 1)),
    applied_by     TEXT    NOT NULL,
    applied_at     BIGINT  NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected',
                                                     'revoked')),
    -- an operator's and the provider's approvals (both columns or neither)
    operator_by    TEXT,
    operator_at    BIGINT,
    provider_by    TEXT,
    provider_at    BIGINT,
    -- who rejected or revoked it, and when: set exactly when it is closed
    closed_by      TEXT,
    closed_at      BIGINT,
    reason         TEXT,
    revision       BIGINT  NOT NULL DEFAULT 1,
    CHECK ((operator_by IS NULL) = (operator_at IS NULL)),
    CHECK ((provider_by IS NULL) = (provider_at IS NULL)),
    CHECK ((closed_by IS NULL) = (closed_at IS NULL)),
    CHECK ((closed_at IS NULL) = (state IN ('pending', 'approved')))
);

-- The exchange's lookup: a consumer's agreements for an item.
CREATE INDEX sharing_agreements_by_consumer_item
    ON sharing_agreements (consumer, item, applied_at);
CREATE INDEX sharing_agreements_by_provider ON sharing_agreements (provider, applied_at);
CREATE INDEX sharing_agreements_by_item ON sharing_agreements (item, applied_at);
CREATE INDEX sharing_agreements_by_applied ON sharing_agreements (applied_at, id);

-- A citizen's consent (授权) to a consumer for a purpose: one row, granted
-- and revoked in place.
CREATE TABLE sharing_consents (
    citizen    TEXT    NOT NULL,
    consumer   TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    granted    BIGINT  NOT NULL CHECK (granted IN (0, 1)),
    -- when last granted (NULL if never); when revoked (NULL while granted)
    granted_at BIGINT,
    revoked_at BIGINT,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (citizen, consumer, purpose),
    CHECK ((granted = 1) = (revoked_at IS NULL))
);

-- A citizen's consents, most recently updated first.
CREATE INDEX sharing_consents_by_citizen ON sharing_consents (citizen, updated_at);
