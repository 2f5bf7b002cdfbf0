-- Schema 2: each mirror's check history, one row per sentry check of the
-- mirror (kept 30 days, thinned as it is written). latency_ms is 0 when
-- the mirror did not answer; streak counts the checks in a row with this
-- ok, this one included. problem is the kind of problem sentry decided
-- for error (model::Problem's code; 0: none).
CREATE TABLE mirror_checks (
    mirror bigint NOT NULL,
    at bigint NOT NULL,
    ok boolean NOT NULL,
    latency_ms bigint NOT NULL,
    throughput bigint NOT NULL,
    files bigint NOT NULL,
    missing bigint NOT NULL,
    streak bigint NOT NULL,
    error text NOT NULL,
    problem bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (mirror, at)
);
-- The kind of problem sentry decided for a mirror's error (0: none, or
-- decided before this column).
ALTER TABLE mirror_health ADD COLUMN problem bigint NOT NULL DEFAULT 0;
