-- The address families each mirror serves (SPEC §13): 0 both, 4 IPv4
-- only, 6 IPv6 only; mirrors from before serve both.
ALTER TABLE mirrors ADD COLUMN families bigint NOT NULL DEFAULT 0;
