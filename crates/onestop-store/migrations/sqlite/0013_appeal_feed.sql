-- The public feed of disclosed, closed appeals, and appeals' bad ratings
-- on the follow-up mechanism of cases (subject kind `appeal`).

-- The public feed, newest closed first (a partial index: only what the
-- feed can show).
CREATE INDEX appeals_disclosed ON appeals (closed_at DESC, id DESC)
    WHERE disclose = 1 AND state = 'closed' AND replied_at IS NOT NULL;

-- SQLite cannot change a CHECK: `ratings` and `followups` are rebuilt with
-- `appeal` among the subject kinds, their rows and ids kept. `followups`
-- goes first (it refers to `ratings`), through a copy without constraints.
CREATE TABLE followups_copy AS SELECT * FROM followups;
DROP TABLE followups;

CREATE TABLE ratings_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    citizen      TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL CHECK (subject_kind IN ('case', 'matter', 'appeal')),
    -- a case id, `dept/route:request-id`, or an appeal id
    subject      TEXT    NOT NULL,
    dept         TEXT    NOT NULL,
    score        INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    -- JSON array of strings
    tags         TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    UNIQUE (citizen, subject_kind, subject)
);
INSERT INTO ratings_new SELECT * FROM ratings;
DROP TABLE ratings;
ALTER TABLE ratings_new RENAME TO ratings;
CREATE INDEX ratings_by_dept ON ratings (dept);

CREATE TABLE followups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rating_id    INTEGER NOT NULL UNIQUE REFERENCES ratings (id),
    dept         TEXT    NOT NULL,
    citizen      TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL CHECK (subject_kind IN ('case', 'matter', 'appeal')),
    subject      TEXT    NOT NULL,
    score        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    -- NULL while open
    closed_at    INTEGER,
    closed_by    TEXT,
    note         TEXT
);
INSERT INTO followups SELECT * FROM followups_copy;
DROP TABLE followups_copy;
CREATE INDEX followups_by_dept_due ON followups (dept, due_at);
