-- The address families each mirror serves (SPEC §13): 0 both, 4 IPv4
-- only, 6 IPv6 only; mirrors from before serve both.
ALTER TABLE mirrors ADD COLUMN families bigint NOT NULL DEFAULT 0;
-- What sentry found over IPv4 and over IPv6 apart: 0 unknown (checked
-- before), 1 no address in that family, 2 up, 3 down.
ALTER TABLE mirror_health ADD COLUMN reach_v4 bigint NOT NULL DEFAULT 0;
ALTER TABLE mirror_health ADD COLUMN reach_v6 bigint NOT NULL DEFAULT 0;
