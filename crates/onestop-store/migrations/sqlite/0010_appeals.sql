-- Citizens' appeals (诉求, the 12345 loop) and their timelines (SQLite).
-- Keep in step with ../postgres/0010_appeals.sql: the same columns,
-- constraints and indexes. Times are Unix epoch milliseconds.
--
-- `version` counts transitions: every change of an appeal is one
-- transaction that moves `version` on by one (a compare-and-set on the
-- version read) and appends the timeline entry with `seq` = the new
-- version, so the timeline has exactly one entry per change and a refused
-- change writes nothing.
--
-- `next_due` is the deadline that applies now (to accept while not
-- accepted, then to reply), NULL once replied or closed: the overdue scan
-- reads the partial index on it. `escalated_at` is set once, never
-- cleared: an appeal escalates at most once.
CREATE TABLE appeals (
    id            TEXT    NOT NULL PRIMARY KEY,
    citizen       TEXT    NOT NULL,
    channel       TEXT,
    kind          TEXT    NOT NULL CHECK (kind IN ('consult', 'help', 'complaint', 'report',
                                                   'suggestion', 'praise', 'emergency')),
    title         TEXT    NOT NULL,
    content       TEXT    NOT NULL,
    matter        TEXT,
    hint_dept     TEXT,
    -- JSON {"address","lat"?,"lng"?} or NULL
    location      TEXT,
    disclose      INTEGER NOT NULL CHECK (disclose IN (0, 1)),
    state         TEXT    NOT NULL CHECK (state IN ('submitted', 'dispatched', 'accepted',
                                                    'replied', 'closed', 'returned',
                                                    'escalated')),
    -- the lead department (首问负责); NULL in the operators' queue
    dept          TEXT,
    submit_key    TEXT,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    dispatched_at INTEGER,
    accept_due    INTEGER,
    accepted_at   INTEGER,
    reply_due     INTEGER NOT NULL,
    replied_at    INTEGER,
    closed_at     INTEGER,
    escalated_at  INTEGER,
    next_due      INTEGER,
    reply         TEXT,
    score         INTEGER CHECK (score BETWEEN 1 AND 5),
    rating_comment TEXT,
    rated_at      INTEGER,
    -- times re-dispatched after a return (counted against nobody)
    redispatches  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (citizen, submit_key)
);

-- A citizen's list, newest first.
CREATE INDEX appeals_by_citizen ON appeals (citizen, created_at DESC, id DESC);
-- A department's queue (open ones first by state).
CREATE INDEX appeals_by_dept ON appeals (dept, state, created_at);
-- The operators' queue.
CREATE INDEX appeals_queue ON appeals (state, created_at) WHERE dept IS NULL;
-- The overdue scan.
CREATE INDEX appeals_due ON appeals (next_due)
    WHERE next_due IS NOT NULL AND escalated_at IS NULL;
-- Assessment over a period.
CREATE INDEX appeals_by_created ON appeals (created_at);

-- The timeline: appended, never rewritten (triggers refuse UPDATE and DELETE).
CREATE TABLE appeal_events (
    appeal_id TEXT    NOT NULL REFERENCES appeals (id),
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL,
    -- citizen | department | operator | system
    actor     TEXT    NOT NULL CHECK (actor IN ('citizen', 'department', 'operator', 'system')),
    -- the department's id or the operator's name, when known
    actor_id  TEXT,
    -- the department the entry concerns
    dept      TEXT,
    note      TEXT    NOT NULL,
    PRIMARY KEY (appeal_id, seq)
);

CREATE TRIGGER appeal_events_no_update BEFORE UPDATE ON appeal_events
BEGIN
    SELECT RAISE(ABORT, 'appeal_events is append-only');
END;

CREATE TRIGGER appeal_events_no_delete BEFORE DELETE ON appeal_events
BEGIN
    SELECT RAISE(ABORT, 'appeal_events is append-only');
END;

-- Named leases (the overdue scanner's): one gateway at a time.
CREATE TABLE appeal_leases (
    name        TEXT    NOT NULL PRIMARY KEY,
    owner       TEXT    NOT NULL,
    lease_until INTEGER NOT NULL
);
