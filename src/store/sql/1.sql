-- Schema 1: the network's configuration, sentry's findings, download
-- counts and the audit log. One column per field; text keys compare
-- bytewise (COLLATE "C") so ranges order as the embedded database's do.
-- Numbers are bigint (Bouncer's unsigned numbers never reach 2^63).

CREATE TABLE products (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    ssl_only boolean NOT NULL,
    public boolean NOT NULL,
    active boolean NOT NULL,
    checknow boolean NOT NULL,
    priority bigint NOT NULL,
    languages text[] NOT NULL,
    created_at bigint NOT NULL
);
-- Lower-case product name -> product.
CREATE TABLE product_names (
    name text COLLATE "C" PRIMARY KEY,
    product bigint NOT NULL
);
CREATE TABLE aliases (
    key text COLLATE "C" PRIMARY KEY, -- lower-case alias
    name text NOT NULL,
    product bigint NOT NULL
);
CREATE TABLE oses (
    name text COLLATE "C" PRIMARY KEY,
    created_at bigint NOT NULL
);
CREATE TABLE locations (
    id bigint PRIMARY KEY,
    product bigint NOT NULL,
    os text NOT NULL,
    path text NOT NULL,
    created_at bigint NOT NULL
);
-- One location per (product, operating system).
CREATE TABLE location_keys (
    product bigint NOT NULL,
    os text COLLATE "C" NOT NULL,
    location bigint NOT NULL,
    PRIMARY KEY (product, os)
);
CREATE TABLE files (
    path text COLLATE "C" PRIMARY KEY,
    location bigint,
    lang text,
    size bigint,
    md5 text,
    sha1 text,
    sha256 text,
    sha512 text
);
CREATE INDEX files_by_location ON files (location);
CREATE TABLE mirrors (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    base_url text NOT NULL,
    rating bigint NOT NULL,
    active boolean NOT NULL,
    regions text[] NOT NULL,
    contact text NOT NULL,
    created_at bigint NOT NULL
);
-- Lower-case mirror name -> mirror.
CREATE TABLE mirror_names (
    name text COLLATE "C" PRIMARY KEY,
    mirror bigint NOT NULL
);
-- What sentry last saw of each mirror.
CREATE TABLE mirror_health (
    mirror bigint PRIMARY KEY,
    healthy boolean NOT NULL,
    checked_at bigint NOT NULL,
    since bigint NOT NULL,
    error text NOT NULL,
    flaps bigint NOT NULL,
    latency_ms bigint NOT NULL,
    throughput bigint NOT NULL
);
-- What sentry found per (location, mirror). gen: the generation that last
-- changed whether the pair serves, so a node reads only what changed since
-- the index it serves.
CREATE TABLE availability (
    location bigint NOT NULL,
    mirror bigint NOT NULL,
    present boolean NOT NULL,
    healthy boolean NOT NULL,
    checked_at bigint NOT NULL,
    error text NOT NULL,
    gen bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (location, mirror)
);
CREATE INDEX availability_by_mirror ON availability (mirror, location);
CREATE INDEX availability_by_gen ON availability (gen);
CREATE TABLE regions (
    key text COLLATE "C" PRIMARY KEY, -- lower-case name
    name text NOT NULL,
    throttle bigint NOT NULL,
    fallback text,
    global_fallback boolean NOT NULL,
    countries text[] NOT NULL
);
-- The imported GeoIP table, encoded.
CREATE TABLE geoip (
    name text COLLATE "C" PRIMARY KEY,
    data bytea NOT NULL
);
CREATE TABLE users (
    name text COLLATE "C" PRIMARY KEY,
    password_hash text NOT NULL,
    role text NOT NULL,
    created_at bigint NOT NULL
);
CREATE TABLE sentry_runs (
    id bigint PRIMARY KEY,
    kind text NOT NULL,
    started_at bigint NOT NULL,
    ended_at bigint NOT NULL,
    checks bigint NOT NULL,
    failures bigint NOT NULL,
    changes bigint NOT NULL,
    report text NOT NULL
);
CREATE TABLE settings (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
-- The audit log.
CREATE TABLE events (
    id bigint PRIMARY KEY,
    at bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    detail text NOT NULL
);
-- Downloads per day (days since 1970-01-01, UTC), four tallies.
CREATE TABLE count_product (
    day bigint NOT NULL,
    product bigint NOT NULL,
    downloads bigint NOT NULL,
    PRIMARY KEY (day, product)
);
CREATE TABLE count_location (
    day bigint NOT NULL,
    location bigint NOT NULL,
    lang text COLLATE "C" NOT NULL,
    downloads bigint NOT NULL,
    PRIMARY KEY (day, location, lang)
);
CREATE TABLE count_mirror (
    day bigint NOT NULL,
    mirror bigint NOT NULL,
    downloads bigint NOT NULL,
    PRIMARY KEY (day, mirror)
);
CREATE TABLE count_country (
    day bigint NOT NULL,
    country text COLLATE "C" NOT NULL,
    downloads bigint NOT NULL,
    PRIMARY KEY (day, country)
);
-- The last count flush applied per node (a process: each start is a new
-- node): a retried flush counts once. flushed_at (Unix seconds) lets rows
-- of nodes long gone be removed.
CREATE TABLE count_flushes (
    node text COLLATE "C" PRIMARY KEY,
    seq bigint NOT NULL,
    flushed_at bigint NOT NULL
);
-- Sentry's leader: one row, the holder renewing it before it expires.
-- token grows with every new holder (a fencing token: results are written
-- only while the row still carries the writer's token). Times are the
-- database's clock in Unix milliseconds, so nodes' clocks need not agree.
CREATE TABLE sentry_lease (
    id bigint PRIMARY KEY,
    holder text NOT NULL,
    token bigint NOT NULL,
    since bigint NOT NULL,
    expires_at bigint NOT NULL
);
-- Admin sessions, shared by every node so that any node serves any admin
-- request. Keyed by the SHA-256 of the cookie's token (hex): reading the
-- database gives no usable cookie. seen_at is refreshed at most once a
-- minute, not on every request.
CREATE TABLE sessions (
    token_hash text COLLATE "C" PRIMARY KEY,
    user_name text NOT NULL,
    password_hash text NOT NULL,
    csrf text NOT NULL,
    created_at bigint NOT NULL,
    seen_at bigint NOT NULL,
    flash_error boolean NOT NULL,
    flash text
);
CREATE INDEX sessions_by_user ON sessions (user_name);
-- The login throttle, shared so that a guesser meets one count whichever
-- node it reaches: failures per (lower-case account, client address)…
CREATE TABLE login_failures (
    account text COLLATE "C" NOT NULL,
    client text COLLATE "C" NOT NULL,
    failures bigint NOT NULL,
    last_at bigint NOT NULL,
    PRIMARY KEY (account, client)
);
-- …per client address over all accounts…
CREATE TABLE login_client_failures (
    client text COLLATE "C" PRIMARY KEY,
    failures bigint NOT NULL,
    last_at bigint NOT NULL
);
-- …and the addresses that logged in to an account (spared the
-- address-wide wait), with when.
CREATE TABLE login_known (
    account text COLLATE "C" NOT NULL,
    client text COLLATE "C" NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (account, client)
);
-- Sentry's HTML report of each run, so that every node's admin shows it
-- (a node writes its own copies into its reports directory too).
CREATE TABLE sentry_reports (
    run bigint PRIMARY KEY,
    html text NOT NULL
);
