-- The second stage of an overdue appeal's escalation (督办) and the
-- departments that help its lead (协办) (PostgreSQL). Keep in step with
-- ../sqlite/0015_appeal_supervision.sql. Times are Unix epoch ms.
--
-- `supervise_due` is set when a department's appeal is escalated (催办):
-- a working day later. If it is still overdue then (`next_due` passed and
-- not replied), the scanner supervises it (督办, `supervised_at`, once,
-- never cleared): the operators take it up. The partial index holds the
-- escalated appeals still waiting for that second look; a reply (which
-- clears `next_due`) or the 督办 takes a row out.
ALTER TABLE appeals ADD COLUMN supervise_due BIGINT;
ALTER TABLE appeals ADD COLUMN supervised_at BIGINT;

CREATE INDEX appeals_supervise_due ON appeals (supervise_due)
    WHERE supervise_due IS NOT NULL AND supervised_at IS NULL AND next_due IS NOT NULL;

-- Co-handling departments (协办), added by the lead with the timeline entry
-- `seq`; append-only like the timeline. The lead stays the lead (首问负责).
CREATE TABLE appeal_cohandlers (
    appeal_id TEXT    NOT NULL REFERENCES appeals (id),
    dept      TEXT    NOT NULL,
    seq       BIGINT  NOT NULL,
    at        BIGINT  NOT NULL,
    PRIMARY KEY (appeal_id, dept)
);

-- A department's co-handled appeals.
CREATE INDEX appeal_cohandlers_by_dept ON appeal_cohandlers (dept, appeal_id);

CREATE FUNCTION appeal_cohandlers_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'appeal_cohandlers is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER appeal_cohandlers_no_change BEFORE UPDATE OR DELETE ON appeal_cohandlers
    FOR EACH ROW EXECUTE FUNCTION appeal_cohandlers_append_only();
