-- The mirrors with a failed check in each sentry run (their ids), so that
-- the reports list filters by mirror; runs recorded before have none.
ALTER TABLE sentry_runs ADD COLUMN failed bigint[] NOT NULL DEFAULT '{}';
-- Reports are pruned by age (--keep-reports).
CREATE INDEX sentry_runs_by_start ON sentry_runs (started_at);
