//! Operator settings and the imported GeoIP table.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};

use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;

/// The one key of [`GEOIP`].
const GEOIP_KEY: &str = "ranges";

impl Store {
    /// Every operator setting.
    pub fn settings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let txn = self.db.begin_read()?;
        let mut out = std::collections::BTreeMap::new();
        for row in txn.open_table(SETTINGS)?.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_string(), v.value().to_string());
        }
        Ok(out)
    }

    /// The imported GeoIP table, if any.
    pub fn geoip(&self) -> Result<Option<crate::geoip::GeoDb>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(GEOIP)?;
        let row = t.get(GEOIP_KEY)?;
        row.map(|v| crate::geoip::GeoDb::decode(v.value()))
            .transpose()
    }
}

impl Tx {
    /// Sets (or, with `None`, removes) an operator setting.
    pub fn setting_put(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        let mut t = self.txn.open_table(SETTINGS)?;
        match value {
            Some(v) => t.insert(key, v)?,
            None => t.remove(key)?,
        };
        Ok(())
    }

    /// Replaces the GeoIP table (`None`: removes it).
    pub fn geoip_put(&mut self, geo: Option<&crate::geoip::GeoDb>) -> Result<()> {
        {
            let mut t = self.txn.open_table(GEOIP)?;
            match geo {
                Some(geo) => t.insert(GEOIP_KEY, geo.encode().as_slice())?,
                None => t.remove(GEOIP_KEY)?,
            };
        }
        match geo {
            Some(geo) => {
                let (v4, v6) = geo.len();
                let detail = format!("{v4} IPv4 and {v6} IPv6 ranges from {}", geo.source);
                self.record("geoip.import", detail)
            }
            None => self.record("geoip.clear", "GeoIP table removed".into()),
        }
    }

    /// Every operator setting.
    pub fn settings(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for row in self.txn.open_table(SETTINGS)?.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_string(), v.value().to_string());
        }
        Ok(out)
    }
}
