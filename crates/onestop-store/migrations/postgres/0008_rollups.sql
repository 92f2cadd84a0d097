-- Traffic roll-ups per department (postgres). Keep in step with
-- ../sqlite/0008_rollups.sql: the same columns and constraints.
-- Times are Unix epoch milliseconds.
--
-- Every gateway adds the deltas of its own request counters and latency
-- histogram buckets to the row of (span, bucket start, department,
-- gateway) — a row is written by one gateway only — so figures survive
-- restarts and add up across a cluster. Spans: 3600000 (hourly rows, kept
-- for assessment) and 60000 (minute rows, pruned after a few hours, for
-- the console's last-hour charts).
--
-- b00 … b15 count requests whose duration fell in the latency bucket
-- with that index (upper bounds 0.5 ms … 30 s: onestop_assessment::LATENCY_BOUNDS,
-- the data plane's histogram); b16 counts those above 30 s. Not cumulative:
-- a quantile over any period and any set of gateways comes from summed
-- columns.
CREATE TABLE traffic_rollups (
    span_ms      BIGINT  NOT NULL,
    start_ms     BIGINT  NOT NULL,
    dept         TEXT    NOT NULL,
    gateway      TEXT    NOT NULL,
    requests     BIGINT  NOT NULL DEFAULT 0,
    -- answers with status 500-599 (API availability counts the others)
    errors       BIGINT  NOT NULL DEFAULT 0,
    -- answers with status 400-499
    client_errors BIGINT NOT NULL DEFAULT 0,
    b00         BIGINT  NOT NULL DEFAULT 0,
    b01         BIGINT  NOT NULL DEFAULT 0,
    b02         BIGINT  NOT NULL DEFAULT 0,
    b03         BIGINT  NOT NULL DEFAULT 0,
    b04         BIGINT  NOT NULL DEFAULT 0,
    b05         BIGINT  NOT NULL DEFAULT 0,
    b06         BIGINT  NOT NULL DEFAULT 0,
    b07         BIGINT  NOT NULL DEFAULT 0,
    b08         BIGINT  NOT NULL DEFAULT 0,
    b09         BIGINT  NOT NULL DEFAULT 0,
    b10         BIGINT  NOT NULL DEFAULT 0,
    b11         BIGINT  NOT NULL DEFAULT 0,
    b12         BIGINT  NOT NULL DEFAULT 0,
    b13         BIGINT  NOT NULL DEFAULT 0,
    b14         BIGINT  NOT NULL DEFAULT 0,
    b15         BIGINT  NOT NULL DEFAULT 0,
    b16         BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (span_ms, start_ms, dept, gateway)
);

CREATE INDEX traffic_rollups_by_time ON traffic_rollups (span_ms, start_ms);
