-- The public feed of disclosed, closed appeals, and appeals' bad ratings
-- on the follow-up mechanism of cases (subject kind `appeal`).

-- The public feed, newest closed first (a partial index: only what the
-- feed can show).
CREATE INDEX appeals_disclosed ON appeals (closed_at DESC, id DESC)
    WHERE disclose = 1 AND state = 'closed' AND replied_at IS NOT NULL;

ALTER TABLE ratings DROP CONSTRAINT ratings_subject_kind_check;
ALTER TABLE ratings ADD CONSTRAINT ratings_subject_kind_check
    CHECK (subject_kind IN ('case', 'matter', 'appeal'));
ALTER TABLE followups DROP CONSTRAINT followups_subject_kind_check;
ALTER TABLE followups ADD CONSTRAINT followups_subject_kind_check
    CHECK (subject_kind IN ('case', 'matter', 'appeal'));
