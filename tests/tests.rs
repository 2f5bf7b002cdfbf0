//! Black-box integration tests: the real `bouncer` binary, a real redb file
//! in a temporary directory, real HTTP on 127.0.0.1. One binary, modules by
//! topic.

mod common;

mod acme;
mod admin;
mod admin_browser;
mod api;
mod backup;
mod bounce;
mod bouncerscript;
mod browser_smoke;
mod cdn;
mod cli;
mod clients;
mod control;
mod copy;
mod crash;
mod documents;
mod durability;
mod examples;
mod families;
mod files;
mod freshness;
mod fuzz;
mod geo;
mod hardening;
mod heartbeat;
mod https;
mod lifecycle;
mod limits;
mod lists;
mod loader;
mod lockout;
mod maintenance;
mod metrics;
mod nodes;
mod pages_browser;
mod public;
mod public_browser;
mod schemes;
mod selection;
mod sentry;
mod sessions;
mod tls;
mod validation;
