//! Bouncer: a mirror-network manager in one binary.
//!
//! A map of the modules:
//! - [`model`]: what Bouncer knows (products, locations, mirrors, who acts, …) and the rules a change obeys, as pure functions.
//! - [`validate`]: what counts as a valid name, language, path, URL.
//! - [`store`]: the only code that touches a database (redb, or PostgreSQL shared by several nodes), one file per table family.
//! - [`index`]: the immutable in-memory availability index and the weighted pick.
//! - [`network`]: the live network: store + the index and configuration snapshot it published; one write path that commits then publishes; on PostgreSQL, following what other nodes change.
//! - [`bounce`]: the redirect handler (`/?product=…`, `/files/…`).
//! - [`counters`]: download counts kept in memory and flushed in batches.
//! - [`loader`]: checksum files → languages, locations and files, planned then applied.
//! - [`sentry`]: checks mirrors on a thread pool, keeps availability honest, reports and mails.
//! - [`mail`]: e-mail to operators over SMTP.
//! - [`admin`]: the admin pages under `/admin/` (login, CRUD, overview, reports, loader, stats, audit log).
//! - [`api`]: the release-automation API under `/api/` (Tuxedo-compatible XML, and JSON).
//! - [`auth`]: password hashes, random tokens, roles and the login throttle, shared by admin, API, CLI and demo.
//! - [`chart`]: server-rendered SVG charts.
//! - [`public`]: the public pages: download form, mirror list, RSS feeds, download trends.
//! - [`client`]: the client's address (trusted proxies, `X-Forwarded-For`).
//! - [`ratelimit`]: per-client rate limits for the admin pages and the API (429).
//! - [`http`]: HTTP plumbing every listener shares: replies, the request view, body reading, forms.
//! - [`server`]: the HTTP listener loop (hyper) and its router: limits, graceful shutdown.
//! - [`app`]: wiring a serving process: runtime, sentry thread, control socket, access log, listeners.
//! - [`metrics`]: `/metrics` in Prometheus text format; lock-free request tallies.
//! - [`log`]: structured (logfmt) event logs on stderr, and the access log.
//! - [`control`]: the local control socket that lets CLI commands reach a running server.
//! - [`commands`]: the CLI commands, runnable locally or through the control socket.
//! - [`cli`]: argh definitions of the command line.
//! - [`dispatch`]: from a command line to serve, demo, the control socket or a local run.
//! - [`config`]: validated server configuration.
//! - [`demo`]: the demo network behind `bouncer demo`.
//! - [`query`]: percent-decoding and query-string parsing.
//! - [`geoip`]: IP address → country (CSV imports, `.mmdb` files) and countries by continent.
//! - [`error`]: errors by kind, each saying what to do.
//! - [`export`]: the configuration as a JSON document (`bouncer export`/`import`), by names.
//! - [`assets`]: CSS and scripts from `assets/`, embedded in the binary.
//! - `testing`: throwaway servers the tests start (PostgreSQL); not part of the interface.

pub mod admin;
pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod bounce;
pub mod chart;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod control;
pub mod counters;
pub mod demo;
pub mod dispatch;
pub mod error;
pub mod export;
pub mod geoip;
pub mod http;
pub mod index;
pub mod loader;
pub mod log;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod network;
pub mod public;
pub mod query;
pub mod ratelimit;
pub mod sentry;
pub mod server;
pub mod store;
#[doc(hidden)]
pub mod testing;
pub mod tls;
pub mod validate;
