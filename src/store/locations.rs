//! Locations: where a product's build for an operating system lies on
//! every mirror.

use super::Tx;
use super::backend::Span;
use super::tables::*;
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

impl Tx {
    pub(super) fn all_locations(&self) -> Result<Vec<Location>> {
        self.txn.values(&LOCATIONS)
    }

    pub(super) fn locations_of(&self, product: ProductId) -> Result<Vec<Location>> {
        let keys = self.txn.range(
            &LOCATION_KEYS,
            Span::of((product.0, String::new())..(product.0 + 1, String::new())),
        )?;
        let mut out = Vec::new();
        for (_, id) in keys {
            if let Some(location) = self.txn.get(&LOCATIONS, &id)? {
                out.push(location);
            }
        }
        Ok(out)
    }

    /// The location of `product` for `os`.
    pub fn location(&self, product: &str, os: &str) -> Result<Option<Location>> {
        let product = self.require_product(product)?;
        let os = model::os_key(os);
        let Some(id) = self.txn.get(&LOCATION_KEYS, &(product.id.0, os))? else {
            return Ok(None);
        };
        self.txn.get(&LOCATIONS, &id)
    }

    /// Adds the location of `product` for `os`.
    pub fn location_add(&mut self, product: &str, os: &str, path: &str) -> Result<Location> {
        let product = self.require_product(product)?;
        let os = self.require_os(os)?;
        let path = crate::validate::path(path)?;
        model::must_be_new(
            Thing::Location,
            &format!("{} for {os}", product.name),
            self.location(&product.name, &os)?,
        )?;
        let location = Location {
            id: LocationId(self.next_id("next_location")?),
            product: product.id,
            os: os.clone(),
            path,
            created_at: self.now,
        };
        self.txn.put(&LOCATIONS, &location.id.0, &location)?;
        self.txn
            .put(&LOCATION_KEYS, &(product.id.0, os.clone()), &location.id.0)?;
        self.record(
            "location.add",
            format!("{} {} {}", product.name, os, location.path),
        )?;
        Ok(location)
    }

    /// Changes a location's path. Sentry's findings for the old path are
    /// dropped: the new path has not been checked.
    pub fn location_set_path(&mut self, product: &str, os: &str, path: &str) -> Result<Location> {
        let path = crate::validate::path(path)?;
        let mut location = model::must_exist(
            Thing::Location,
            &format!("{product} for {os}"),
            self.location(product, os)?,
        )?;
        let old = std::mem::replace(&mut location.path, path);
        location.created_at = self.now;
        self.clear_availability(location.id)?;
        // Files of the old path no longer belong to it.
        self.drop_files_of(location.id)?;
        self.txn.put(&LOCATIONS, &location.id.0, &location)?;
        self.record(
            "location.modify",
            format!("{product} {os}: {old} -> {}", location.path),
        )?;
        Ok(location)
    }

    /// Removes the location of `product` for `os`, with its availability.
    pub fn location_remove(&mut self, product: &str, os: &str) -> Result<Location> {
        let location = model::must_exist(
            Thing::Location,
            &format!("{product} for {os}"),
            self.location(product, os)?,
        )?;
        self.delete_location(&location)?;
        self.record(
            "location.remove",
            format!("{product} {} {}", location.os, location.path),
        )?;
        Ok(location)
    }

    pub(super) fn delete_location(&mut self, location: &Location) -> Result<()> {
        self.clear_availability(location.id)?;
        self.txn.delete(&LOCATIONS, &location.id.0)?;
        self.txn
            .delete(&LOCATION_KEYS, &(location.product.0, location.os.clone()))?;
        self.drop_files_of(location.id)
    }

    /// All locations with their product, for availability changes by name.
    pub fn locations(&self) -> Result<Vec<Location>> {
        self.all_locations()
    }
}
