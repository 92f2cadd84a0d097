-- Citizens' messages: the inbox and the webhook outbox (sqlite).
-- Keep in step with ../postgres/0011_messages.sql: the same columns,
-- only the integer type differs.
--
-- Rows are written in the same transaction as the change that causes
-- them (an appeal's timeline entry, a case's step or state): an event is
-- in the outbox if and only if its change committed.

-- The inbox: one row per event a citizen is told about.
CREATE TABLE messages (
    -- the event id: stable, derived from the change (appeal id and
    -- timeline seq, case id and step)
    id         TEXT    NOT NULL PRIMARY KEY,
    citizen    TEXT    NOT NULL,
    channel    TEXT,
    -- appeal.dispatched | appeal.accepted | appeal.replied |
    -- appeal.escalated | case.progress | case.completed | case.failed |
    -- rating.invitation
    kind       TEXT    NOT NULL,
    -- the appeal's or case's id
    subject    TEXT    NOT NULL,
    -- the appeal's title or the matter's name (never its content)
    title      TEXT    NOT NULL,
    dept       TEXT,
    at         INTEGER NOT NULL,
    read_at    INTEGER
);

CREATE INDEX messages_by_citizen ON messages (citizen, at, id);

-- The webhook outbox: one row per message for a channel with a notify_url.
CREATE TABLE outbox (
    event_id     TEXT    NOT NULL PRIMARY KEY REFERENCES messages (id),
    channel      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error   TEXT
);

CREATE INDEX outbox_due ON outbox (state, next_at);
