//! MaxMind `.mmdb` files (GeoLite2-Country, GeoIP2-Country, and any
//! database whose records carry `country.iso_code`), read once at start-up
//! into a [`GeoDb`].

use std::path::Path;

use super::GeoDb;
use crate::error::Result;

/// Reads every network of the `.mmdb` file at `path`.
pub fn read(path: &Path) -> Result<GeoDb> {
    todo!("{}", path.display())
}
