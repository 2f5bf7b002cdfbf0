-- Whom each mirror serves (SPEC §13): the only countries it may serve
-- (empty: any), countries it must not serve, client networks it serves
-- first (CIDR prefixes and AS numbers, as text), and the largest share
-- of a pool's downloads it may take in percent (0: no cap).
ALTER TABLE mirrors ADD COLUMN only_countries text[] NOT NULL DEFAULT '{}';
ALTER TABLE mirrors ADD COLUMN never_countries text[] NOT NULL DEFAULT '{}';
ALTER TABLE mirrors ADD COLUMN networks text[] NOT NULL DEFAULT '{}';
ALTER TABLE mirrors ADD COLUMN max_share bigint NOT NULL DEFAULT 0;
-- The mirror's root over the other scheme ('': none), and what sentry
-- found there (0 unknown, 2 up, 3 down).
ALTER TABLE mirrors ADD COLUMN alt_url text NOT NULL DEFAULT '';
ALTER TABLE mirror_health ADD COLUMN reach_alt bigint NOT NULL DEFAULT 0;
-- Freshness: a mirror's trace file ('': none), when it last synced
-- (Unix seconds; 0: unknown), and how stale a product's files may be
-- (minutes; 0: any).
ALTER TABLE mirrors ADD COLUMN trace text NOT NULL DEFAULT '';
ALTER TABLE mirror_health ADD COLUMN synced_at bigint NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN max_lag_minutes bigint NOT NULL DEFAULT 0;
-- What kind of target a mirror is: 0 a mirror, 1 a CDN.
ALTER TABLE mirrors ADD COLUMN kind bigint NOT NULL DEFAULT 0;
-- A mirror's announced maintenance window (Unix seconds; 0: none).
ALTER TABLE mirrors ADD COLUMN maintenance_start bigint NOT NULL DEFAULT 0;
ALTER TABLE mirrors ADD COLUMN maintenance_end bigint NOT NULL DEFAULT 0;
