-- A case's steps past their deadline tell the citizen once (PostgreSQL). Keep in
-- step with ../sqlite/0016_case_overdue_told.sql. Times are Unix epoch ms.
--
-- `overdue_told_at` is set in the transaction that writes the citizen's
-- `case.overdue` message (event id `<case>.<step>.overdue`), never cleared;
-- the partial index holds the unfinished steps not yet told, so the sweep
-- reads only what it has to tell.
ALTER TABLE case_steps ADD COLUMN overdue_told_at BIGINT;

CREATE INDEX case_steps_overdue_untold ON case_steps (deadline_at)
    WHERE state IN ('pending', 'running') AND overdue_told_at IS NULL;
