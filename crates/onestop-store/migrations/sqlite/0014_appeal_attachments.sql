-- Attachments of citizens' appeals (SQLite). Keep in step with
-- ../postgres/0014_appeal_attachments.sql. Times are Unix epoch milliseconds.
--
-- `appeal_blobs` holds each content once, by its SHA-256 (`sha256:<hex>`):
-- the same photo uploaded twice, or attached to two appeals, is one row.
-- `appeal_attachments` says which appeal carries which blob, who attached
-- it and with which timeline entry (`seq`); it is append-only like the
-- timeline.
CREATE TABLE appeal_blobs (
    hash       TEXT    NOT NULL PRIMARY KEY,
    media_type TEXT    NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    content    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE appeal_attachments (
    appeal_id TEXT    NOT NULL REFERENCES appeals (id),
    hash      TEXT    NOT NULL REFERENCES appeal_blobs (hash),
    -- the timeline entry that attached it (1: the submission)
    seq       INTEGER NOT NULL,
    actor     TEXT    NOT NULL CHECK (actor IN ('citizen', 'department', 'operator', 'system')),
    actor_id  TEXT,
    at        INTEGER NOT NULL,
    PRIMARY KEY (appeal_id, hash)
);
