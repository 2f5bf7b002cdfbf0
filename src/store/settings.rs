//! Operator settings and the imported GeoIP table.

use std::collections::BTreeMap;

use super::backend::Span;
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;

/// The key of [`GEOIP`] that holds the GeoIP table.
const GEOIP_KEY: &str = "ranges";
/// The key of [`GEOIP`] that holds the ASN table.
const ASN_KEY: &str = "asn";

impl Store {
    /// Every operator setting.
    pub fn settings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        Ok(self
            .read()?
            .range(&SETTINGS, Span::all())?
            .into_iter()
            .collect())
    }

    /// The imported GeoIP table, if any.
    pub fn geoip(&self) -> Result<Option<crate::geoip::GeoDb>> {
        self.read()?
            .get(&GEOIP, &GEOIP_KEY.to_string())?
            .map(|bytes| crate::geoip::GeoDb::decode(&bytes))
            .transpose()
    }
}

impl Store {
    /// The imported ASN table, if any.
    pub fn asn(&self) -> Result<Option<crate::geoip::asn::AsnDb>> {
        self.read()?
            .get(&GEOIP, &ASN_KEY.to_string())?
            .map(|bytes| crate::geoip::asn::AsnDb::decode(&bytes))
            .transpose()
    }
}

impl Tx {
    /// Replaces the ASN table (`None`: removes it).
    pub fn asn_put(&mut self, asn: Option<&crate::geoip::asn::AsnDb>) -> Result<()> {
        let key = ASN_KEY.to_string();
        match asn {
            Some(db) => {
                self.txn.put(&GEOIP, &key, &db.encode())?;
                let (v4, v6) = db.len();
                self.record(
                    "asn.import",
                    format!("{v4} IPv4 and {v6} IPv6 ranges from {}", db.source),
                )
            }
            None => {
                self.txn.delete(&GEOIP, &key)?;
                self.record("asn.clear", "ASN table removed".into())
            }
        }
    }

    /// Sets (or, with `None`, removes) an operator setting.
    pub fn setting_put(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        let key = key.to_string();
        match value {
            Some(v) => self.txn.put(&SETTINGS, &key, &v.to_string()),
            None => self.txn.delete(&SETTINGS, &key).map(drop),
        }
    }

    /// Replaces the GeoIP table (`None`: removes it).
    pub fn geoip_put(&mut self, geo: Option<&crate::geoip::GeoDb>) -> Result<()> {
        let key = GEOIP_KEY.to_string();
        match geo {
            Some(geo) => self.txn.put(&GEOIP, &key, &geo.encode())?,
            None => drop(self.txn.delete(&GEOIP, &key)?),
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
        Ok(self
            .txn
            .range(&SETTINGS, Span::all())?
            .into_iter()
            .collect())
    }
}
