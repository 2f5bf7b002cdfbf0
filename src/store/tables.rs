//! Every redb table, in one place. Names carry a version suffix so a
//! migration can build a new table beside the old one.
//!
//! Rows are stored as bytes written by [`super::rows`]; keys are plain redb
//! types so that ranges (all availability of one location, all counts of one
//! day) are cheap scans.
//!
//! [`each_table`] lists them all: creating the tables and backups go by
//! that one list, and a test checks it names every table defined here.

use redb::TableDefinition;

use super::backend::{Key, Table, Val};
use crate::model::*;

use crate::error::Result;

/// `schema_version` and the id sequences (`next_product`, …).
pub const META: Table<String, u64> = Table {
    redb: TableDefinition::new("meta"),
    sql: "meta",
    key: &["name"],
    columns: &["value"],
    key_in_row: false,
};
/// Product id → product row.
pub const PRODUCTS: Table<u64, Product> = Table {
    redb: TableDefinition::new("products_v1"),
    sql: "products",
    key: &["id"],
    columns: &[
        "id",
        "name",
        "ssl_only",
        "public",
        "active",
        "checknow",
        "priority",
        "languages",
        "created_at",
        "max_lag_minutes",
    ],
    key_in_row: true,
};
/// Lower-case product name → product id.
pub const PRODUCT_NAMES: Table<String, u64> = Table {
    redb: TableDefinition::new("product_names_v1"),
    sql: "product_names",
    key: &["name"],
    columns: &["product"],
    key_in_row: false,
};
/// Lower-case alias → alias row.
pub const ALIASES: Table<String, Alias> = Table {
    redb: TableDefinition::new("aliases_v1"),
    sql: "aliases",
    key: &["key"],
    columns: &["name", "product"],
    key_in_row: false,
};
/// Operating system name → Unix time it was added.
pub const OSES: Table<String, u64> = Table {
    redb: TableDefinition::new("oses_v1"),
    sql: "oses",
    key: &["name"],
    columns: &["created_at"],
    key_in_row: false,
};
/// Location id → location row.
pub const LOCATIONS: Table<u64, Location> = Table {
    redb: TableDefinition::new("locations_v1"),
    sql: "locations",
    key: &["id"],
    columns: &["id", "product", "os", "path", "created_at"],
    key_in_row: true,
};
/// (product id, os) → location id: one location per product and OS.
pub const LOCATION_KEYS: Table<(u64, String), u64> = Table {
    redb: TableDefinition::new("location_keys_v1"),
    sql: "location_keys",
    key: &["product", "os"],
    columns: &["location"],
    key_in_row: false,
};
/// File path → file row (size, hashes, location and language).
pub const FILES: Table<String, FileInfo> = Table {
    redb: TableDefinition::new("files_v1"),
    sql: "files",
    key: &["path"],
    columns: &[
        "path", "location", "lang", "size", "md5", "sha1", "sha256", "sha512",
    ],
    key_in_row: true,
};
/// Mirror id → mirror row (the operator's settings).
pub const MIRRORS: Table<u64, Mirror> = Table {
    redb: TableDefinition::new("mirrors_v1"),
    sql: "mirrors",
    key: &["id"],
    columns: &[
        "id",
        "name",
        "base_url",
        "rating",
        "active",
        "regions",
        "contact",
        "created_at",
        "families",
        "only_countries",
        "never_countries",
        "networks",
        "max_share",
        "alt_url",
        "trace",
        "kind",
        "maintenance_start",
        "maintenance_end",
    ],
    key_in_row: true,
};
/// Lower-case mirror name → mirror id.
pub const MIRROR_NAMES: Table<String, u64> = Table {
    redb: TableDefinition::new("mirror_names_v1"),
    sql: "mirror_names",
    key: &["name"],
    columns: &["mirror"],
    key_in_row: false,
};
/// Mirror id → what sentry last saw of it (kept apart from the operator's
/// settings so neither writer clobbers the other).
pub const MIRROR_HEALTH: Table<u64, MirrorHealth> = Table {
    redb: TableDefinition::new("mirror_health_v1"),
    sql: "mirror_health",
    key: &["mirror"],
    columns: &[
        "healthy",
        "checked_at",
        "since",
        "error",
        "flaps",
        "latency_ms",
        "throughput",
        "problem",
        "reach_v4",
        "reach_v6",
        "reach_alt",
        "synced_at",
    ],
    key_in_row: false,
};
/// (mirror id, Unix seconds) → what one sentry check saw of the mirror:
/// its check history, kept 30 days and thinned as it is written (see
/// `store::checks`).
pub const MIRROR_CHECKS: Table<(u64, u64), MirrorCheck> = Table {
    redb: TableDefinition::new("mirror_checks_v1"),
    sql: "mirror_checks",
    key: &["mirror", "at"],
    columns: &[
        "mirror",
        "at",
        "ok",
        "latency_ms",
        "throughput",
        "files",
        "missing",
        "streak",
        "error",
        "problem",
    ],
    key_in_row: true,
};
/// (location id, mirror id) → availability row, updated in place by sentry.
pub const AVAILABILITY: Table<(u64, u64), Availability> = Table {
    redb: TableDefinition::new("availability_v1"),
    sql: "availability",
    key: &["location", "mirror"],
    columns: &["present", "healthy", "checked_at", "error"],
    key_in_row: false,
};
/// (mirror id, location id) → nothing: the keys of [`AVAILABILITY`] the
/// other way round, so one mirror's rows are a range scan (schema 2). Every
/// write of [`AVAILABILITY`] keeps it in step.
pub const AVAILABILITY_BY_MIRROR: Table<(u64, u64), ()> = Table {
    redb: TableDefinition::new("availability_by_mirror_v1"),
    // PostgreSQL has an index on availability instead: writes to this
    // table do nothing there.
    sql: "",
    key: &["mirror", "location"],
    columns: &[],
    key_in_row: false,
};
/// Region name → region row.
pub const REGIONS: Table<String, Region> = Table {
    redb: TableDefinition::new("regions_v1"),
    sql: "regions",
    key: &["key"],
    columns: &[
        "name",
        "throttle",
        "fallback",
        "global_fallback",
        "countries",
    ],
    key_in_row: false,
};
/// `ranges` → the imported GeoIP table ([`crate::geoip::GeoDb::encode`]).
pub const GEOIP: Table<String, Vec<u8>> = Table {
    redb: TableDefinition::new("geoip_v1"),
    sql: "geoip",
    key: &["name"],
    columns: &["data"],
    key_in_row: false,
};
/// User name → user row.
pub const USERS: Table<String, User> = Table {
    redb: TableDefinition::new("users_v1"),
    sql: "users",
    key: &["name"],
    columns: &["name", "password_hash", "role", "created_at"],
    key_in_row: true,
};
/// Run id → sentry run row.
pub const SENTRY_RUNS: Table<u64, SentryRun> = Table {
    redb: TableDefinition::new("sentry_runs_v1"),
    sql: "sentry_runs",
    key: &["id"],
    columns: &[
        "id",
        "kind",
        "started_at",
        "ended_at",
        "checks",
        "failures",
        "changes",
        "report",
        "failed",
    ],
    key_in_row: true,
};
/// Operator settings (mail, schedules): name → value.
pub const SETTINGS: Table<String, String> = Table {
    redb: TableDefinition::new("settings_v1"),
    sql: "settings",
    key: &["name"],
    columns: &["value"],
    key_in_row: false,
};
/// Event id → audit log entry.
pub const EVENTS: Table<u64, Event> = Table {
    redb: TableDefinition::new("events_v1"),
    sql: "events",
    key: &["id"],
    columns: &["id", "at", "actor", "action", "detail"],
    key_in_row: true,
};
/// (day, product id) → downloads.
pub const COUNT_PRODUCT: Table<(u32, u64), u64> = Table {
    redb: TableDefinition::new("count_product_v1"),
    sql: "count_product",
    key: &["day", "product"],
    columns: &["downloads"],
    key_in_row: false,
};
/// (day, location id, language) → downloads.
pub const COUNT_LOCATION: Table<(u32, u64, String), u64> = Table {
    redb: TableDefinition::new("count_location_v1"),
    sql: "count_location",
    key: &["day", "location", "lang"],
    columns: &["downloads"],
    key_in_row: false,
};
/// (day, mirror id) → downloads.
pub const COUNT_MIRROR: Table<(u32, u64), u64> = Table {
    redb: TableDefinition::new("count_mirror_v1"),
    sql: "count_mirror",
    key: &["day", "mirror"],
    columns: &["downloads"],
    key_in_row: false,
};
/// (day, country code) → downloads.
pub const COUNT_COUNTRY: Table<(u32, String), u64> = Table {
    redb: TableDefinition::new("count_country_v1"),
    sql: "count_country",
    key: &["day", "country"],
    columns: &["downloads"],
    key_in_row: false,
};

/// Something done to every table of the schema (see [`each_table`]).
pub(super) trait TableVisitor {
    /// Called once per table.
    fn table<K: Key + Clone, V: Val>(&mut self, table: &Table<K, V>) -> Result<()>;
}

/// Calls `visitor` with every table, in a fixed order. A table missing
/// here would be neither created on open nor copied by backups.
pub(super) fn each_table(visitor: &mut impl TableVisitor) -> Result<()> {
    visitor.table(&META)?;
    visitor.table(&PRODUCTS)?;
    visitor.table(&PRODUCT_NAMES)?;
    visitor.table(&ALIASES)?;
    visitor.table(&OSES)?;
    visitor.table(&LOCATIONS)?;
    visitor.table(&LOCATION_KEYS)?;
    visitor.table(&FILES)?;
    visitor.table(&MIRRORS)?;
    visitor.table(&MIRROR_NAMES)?;
    visitor.table(&MIRROR_HEALTH)?;
    visitor.table(&MIRROR_CHECKS)?;
    visitor.table(&AVAILABILITY)?;
    visitor.table(&AVAILABILITY_BY_MIRROR)?;
    visitor.table(&REGIONS)?;
    visitor.table(&GEOIP)?;
    visitor.table(&USERS)?;
    visitor.table(&SENTRY_RUNS)?;
    visitor.table(&SETTINGS)?;
    visitor.table(&EVENTS)?;
    visitor.table(&COUNT_PRODUCT)?;
    visitor.table(&COUNT_LOCATION)?;
    visitor.table(&COUNT_MIRROR)?;
    visitor.table(&COUNT_COUNTRY)?;
    Ok(())
}

/// The names of every table [`each_table`] visits, in its order.
#[cfg(test)]
pub(super) fn table_names() -> Vec<String> {
    struct Names(Vec<String>);
    impl TableVisitor for Names {
        fn table<K: Key + Clone, V: Val>(&mut self, table: &Table<K, V>) -> Result<()> {
            use redb::TableHandle;
            self.0.push(table.redb.name().to_string());
            Ok(())
        }
    }
    let mut names = Names(Vec::new());
    each_table(&mut names).expect("listing names cannot fail");
    names.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `TableDefinition` in this file, by the name it gives redb.
    fn defined_here() -> Vec<String> {
        // Split so that this line is not a definition itself.
        let needle = ["TableDefinition::", "new(\""].concat();
        let source = include_str!("tables.rs");
        source
            .match_indices(&needle)
            .map(|(at, _)| {
                let rest = &source[at + needle.len()..];
                rest[..rest.find('"').expect("closing quote")].to_string()
            })
            .collect()
    }

    #[test]
    fn every_table_is_listed_once() {
        let mut defined = defined_here();
        let mut listed = table_names();
        assert!(defined.len() >= 23, "{defined:?}");
        defined.sort();
        listed.sort();
        let unique = listed.len();
        listed.dedup();
        assert_eq!(listed.len(), unique, "a table is listed twice");
        assert_eq!(listed, defined, "each_table must visit every table");
    }
}
