-- The second stage of an overdue appeal's escalation (督办) and the
-- departments that help its lead (协办) (SQLite). Keep in step with
-- ../postgres/0015_appeal_supervision.sql. Times are Unix epoch ms.
--
-- `supervise_due` is set when a department's appeal is escalated (催办):
-- a working day later. If it is still overdue then (`next_due` passed and
-- not replied), the scanner supervises it (督办, `supervised_at`, once,
-- never cleared): the operators take it up. The partial index holds the
-- escalated appeals still waiting for that second look; a reply (which
-- clears `next_due`) or the 督办 takes a row out.
ALTER TABLE appeals ADD COLUMN supervise_due INTEGER;
ALTER TABLE appeals ADD COLUMN supervised_at INTEGER;

CREATE INDEX appeals_supervise_due ON appeals (supervise_due)
    WHERE supervise_due IS NOT NULL AND supervised_at IS NULL AND next_due IS NOT NULL;

-- Co-handling departments (协办), added by the lead with the timeline entry
-- `seq`; append-only like the timeline. The lead stays the lead (首问负责).
CREATE TABLE appeal_cohandlers (
    appeal_id TEXT    NOT NULL REFERENCES appeals (id),
    dept      TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (appeal_id, dept)
);

-- A department's co-handled appeals.
CREATE INDEX appeal_cohandlers_by_dept ON appeal_cohandlers (dept, appeal_id);

CREATE TRIGGER appeal_cohandlers_no_update BEFORE UPDATE ON appeal_cohandlers
BEGIN
    SELECT RAISE(ABORT, 'appeal_cohandlers is append-only');
END;

CREATE TRIGGER appeal_cohandlers_no_delete BEFORE DELETE ON appeal_cohandlers
BEGIN
    SELECT RAISE(ABORT, 'appeal_cohandlers is append-only');
END;
