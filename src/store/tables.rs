//! Every redb table, in one place. Names carry a version suffix so a
//! migration can build a new table beside the old one.
//!
//! Rows are stored as bytes written by [`super::rows`]; keys are plain redb
//! types so that ranges (all availability of one location, all counts of one
//! day) are cheap scans.
//!
//! [`each_table`] lists them all: creating the tables and backups go by
//! that one list, and a test checks it names every table defined here.

use redb::{Key, TableDefinition, Value};

use crate::error::Result;

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
/// (mirror id, location id) → nothing: the keys of [`AVAILABILITY`] the
/// other way round, so one mirror's rows are a range scan (schema 2). Every
/// write of [`AVAILABILITY`] keeps it in step.
pub const AVAILABILITY_BY_MIRROR: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("availability_by_mirror_v1");
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

/// Something done to every table of the schema (see [`each_table`]).
pub(super) trait TableVisitor {
    /// Called once per table.
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<()>;
}

/// Calls `visitor` with every table, in a fixed order. A table missing
/// here would be neither created on open nor copied by backups.
pub(super) fn each_table(visitor: &mut impl TableVisitor) -> Result<()> {
    visitor.table(META)?;
    visitor.table(PRODUCTS)?;
    visitor.table(PRODUCT_NAMES)?;
    visitor.table(ALIASES)?;
    visitor.table(OSES)?;
    visitor.table(LOCATIONS)?;
    visitor.table(LOCATION_KEYS)?;
    visitor.table(FILES)?;
    visitor.table(MIRRORS)?;
    visitor.table(MIRROR_NAMES)?;
    visitor.table(MIRROR_HEALTH)?;
    visitor.table(AVAILABILITY)?;
    visitor.table(AVAILABILITY_BY_MIRROR)?;
    visitor.table(REGIONS)?;
    visitor.table(GEOIP)?;
    visitor.table(USERS)?;
    visitor.table(SENTRY_RUNS)?;
    visitor.table(SETTINGS)?;
    visitor.table(EVENTS)?;
    visitor.table(COUNT_PRODUCT)?;
    visitor.table(COUNT_LOCATION)?;
    visitor.table(COUNT_MIRROR)?;
    visitor.table(COUNT_COUNTRY)?;
    Ok(())
}

/// The names of every table [`each_table`] visits, in its order.
#[cfg(test)]
pub(super) fn table_names() -> Vec<String> {
    struct Names(Vec<String>);
    impl TableVisitor for Names {
        fn table<K: Key + 'static, V: Value + 'static>(
            &mut self,
            table: TableDefinition<'static, K, V>,
        ) -> Result<()> {
            use redb::TableHandle;
            self.0.push(table.name().to_string());
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
