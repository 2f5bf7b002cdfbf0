-- Schema 2: each mirror's check history, one row per sentry check of the
-- mirror (kept 30 days, thinned as it is written). latency_ms is 0 when
-- the mirror did not answer; streak counts the checks in a row with this
-- ok, this one included.
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
    PRIMARY KEY (mirror, at)
);
