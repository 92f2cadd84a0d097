-- Composite matters as durable cases, and ratings with their follow-ups
-- (SQLite). Keep in step with ../postgres/0003_cases.sql: the same columns
-- and constraints; only the id types differ. Times are Unix epoch
-- milliseconds.

-- One row per case (办件). A runner holds a case while `lease_until` has
-- not passed; every write on the case is guarded by that lease.
CREATE TABLE cases (
    id          TEXT    NOT NULL PRIMARY KEY,
    citizen     TEXT    NOT NULL,
    channel     TEXT,
    matter      TEXT    NOT NULL,
    matter_name TEXT    NOT NULL,
    lead_dept   TEXT    NOT NULL,
    -- JSON: the citizen's form, as submitted.
    input       TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'compensating',
                                                  'failed', 'compensation_failed')),
    failure     TEXT,
    -- the client's Idempotency-Key (NULLs never collide)
    submit_key  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    owner       TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (citizen, submit_key)
);

CREATE INDEX cases_by_citizen ON cases (citizen, created_at, id);

-- Only active cases need a runner: the orphan and deadline sweeps read these.
CREATE INDEX cases_active ON cases (created_at)
    WHERE state IN ('running', 'compensating');

CREATE TABLE case_steps (
    case_id        TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    step           TEXT    NOT NULL,
    -- declaration order, from 0
    position       INTEGER NOT NULL,
    dept           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed',
                                                     'skipped', 'compensated',
                                                     'compensation_failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    -- JSON: the department's answer
    output         TEXT,
    error          TEXT,
    deadline_at    INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    -- order of completion within the case (1, 2, …)
    done_seq       INTEGER,
    compensated_at INTEGER,
    PRIMARY KEY (case_id, step),
    UNIQUE (case_id, position)
);

-- Unfinished steps by deadline, for the overdue sweep.
CREATE INDEX case_steps_unfinished_by_deadline ON case_steps (deadline_at)
    WHERE state IN ('pending', 'running');

-- A citizen rates a subject once.
CREATE TABLE ratings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    citizen      TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL CHECK (subject_kind IN ('case', 'matter')),
    -- a case id, or `dept/route:request-id`
    subject      TEXT    NOT NULL,
    dept         TEXT    NOT NULL,
    score        INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    -- JSON array of strings
    tags         TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    UNIQUE (citizen, subject_kind, subject)
);

CREATE INDEX ratings_by_dept ON ratings (dept);

-- What a department owes on a bad rating (at most one per rating); the
-- rating's subject and score are copied for the department's work list.
CREATE TABLE followups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rating_id    INTEGER NOT NULL UNIQUE REFERENCES ratings (id),
    dept         TEXT    NOT NULL,
    citizen      TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL CHECK (subject_kind IN ('case', 'matter')),
    subject      TEXT    NOT NULL,
    score        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    -- NULL while open
    closed_at    INTEGER,
    closed_by    TEXT,
    note         TEXT
);

CREATE INDEX followups_by_dept_due ON followups (dept, due_at);
