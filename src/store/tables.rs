//! Every redb table, in one place. Names carry a version suffix so a
//! migration can build a new table beside the old one.
//!
//! Rows are stored as bytes written by [`super::rows`]; keys are plain redb
//! types so that ranges (all availability of one location, all counts of one
//! day) are cheap scans.

use redb::TableDefinition;

/// `schema_version` and the id sequences (`next_product`, …).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Product id → product row.
pub const PRODUCTS: TableDefinition<u64, &[u8]> = TableDefinition::new("products_v1");
/// Lower-case product name → product id.
pub const PRODUCT_NAMES: TableDefinition<&str, u64> = TableDefinition::new("product_names_v1");
/// Lower-case alias → alias row.
pub const ALIASES: TableDefinition<&str, &[u8]> = TableDefinition::new("aliases_v1");
/// Operating system name → Unix time it was added.
pub const OSES: TableDefinition<&str, u64> = TableDefinition::new("oses_v1");
/// Location id → location row.
pub const LOCATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("locations_v1");
/// (product id, os) → location id: one location per product and OS.
pub const LOCATION_KEYS: TableDefinition<(u64, &str), u64> =
    TableDefinition::new("location_keys_v1");
/// File path → file row (size, hashes, location and language).
pub const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files_v1");
/// Mirror id → mirror row (the operator's settings).
pub const MIRRORS: TableDefinition<u64, &[u8]> = TableDefinition::new("mirrors_v1");
/// Lower-case mirror name → mirror id.
pub const MIRROR_NAMES: TableDefinition<&str, u64> = TableDefinition::new("mirror_names_v1");
/// Mirror id → what sentry last saw of it (kept apart from the operator's
/// settings so neither writer clobbers the other).
pub const MIRROR_HEALTH: TableDefinition<u64, &[u8]> = TableDefinition::new("mirror_health_v1");
/// (location id, mirror id) → availability row, updated in place by sentry.
pub const AVAILABILITY: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("availability_v1");
/// Region name → region row.
pub const REGIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("regions_v1");
/// `ranges` → the imported GeoIP table ([`crate::geoip::GeoDb::encode`]).
pub const GEOIP: TableDefinition<&str, &[u8]> = TableDefinition::new("geoip_v1");
/// User name → user row.
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users_v1");
/// Run id → sentry run row.
pub const SENTRY_RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("sentry_runs_v1");
/// Operator settings (mail, schedules): name → value.
pub const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings_v1");
/// Event id → audit log entry.
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events_v1");
/// (day, product id) → downloads.
pub const COUNT_PRODUCT: TableDefinition<(u32, u64), u64> =
    TableDefinition::new("count_product_v1");
/// (day, location id, language) → downloads.
pub const COUNT_LOCATION: TableDefinition<(u32, u64, &str), u64> =
    TableDefinition::new("count_location_v1");
/// (day, mirror id) → downloads.
pub const COUNT_MIRROR: TableDefinition<(u32, u64), u64> = TableDefinition::new("count_mirror_v1");
/// (day, country code) → downloads.
pub const COUNT_COUNTRY: TableDefinition<(u32, &str), u64> =
    TableDefinition::new("count_country_v1");
