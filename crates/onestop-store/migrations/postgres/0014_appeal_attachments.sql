-- Attachments of citizens' appeals (PostgreSQL). Keep in step with
-- ../sqlite/0014_appeal_attachments.sql. Times are Unix epoch milliseconds.
--
-- `appeal_blobs` holds each content once, by its SHA-256 (`sha256:<hex>`):
-- the same photo uploaded twice, or attached to two appeals, is one row.
-- `appeal_attachments` says which appeal carries which blob, who attached
-- it and with which timeline entry (`seq`); it is append-only like the
-- timeline.
CREATE TABLE appeal_blobs (
    hash       TEXT    NOT NULL PRIMARY KEY,
    media_type TEXT    NOT NULL,
    size       BIGINT  NOT NULL CHECK (size >= 0),
    content    BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE appeal_attachments (
    appeal_id TEXT    NOT NULL REFERENCES appeals (id),
    hash      TEXT    NOT NULL REFERENCES appeal_blobs (hash),
    -- the timeline entry that attached it (1: the submission)
    seq       BIGINT  NOT NULL,
    actor     TEXT    NOT NULL CHECK (actor IN ('citizen', 'department', 'operator', 'system')),
    actor_id  TEXT,
    at        BIGINT  NOT NULL,
    PRIMARY KEY (appeal_id, hash)
);
