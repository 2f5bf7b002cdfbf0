//! Products with their aliases, and the operating systems locations are
//! for.

use super::Tx;
use super::audit::describe_change;
use super::backend::Span;
use super::tables::*;
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

/// What [`Tx::product_remove`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedProduct {
    /// The product, as it was.
    pub product: Product,
    /// The aliases that pointed at it, removed with it, as they were
    /// spelled.
    pub aliases: Vec<String>,
}

/// What a new product starts with.
#[derive(Clone, Debug, Default)]
pub struct NewProduct {
    /// Its name.
    pub name: String,
    /// Languages (empty: all).
    pub languages: Vec<String>,
    /// https mirrors only.
    pub ssl_only: bool,
    /// Hidden from public pages and feeds.
    pub private: bool,
}

impl Tx {
    /// The product with this name (case-insensitive).
    pub fn product(&self, name: &str) -> Result<Option<Product>> {
        let Some(id) = self.txn.get(&PRODUCT_NAMES, &name.to_lowercase())? else {
            return Ok(None);
        };
        self.product_by_id(ProductId(id))
    }

    pub(super) fn product_by_id(&self, id: ProductId) -> Result<Option<Product>> {
        self.txn.get(&PRODUCTS, &id.0)
    }

    pub(super) fn require_product(&self, name: &str) -> Result<Product> {
        model::must_exist(Thing::Product, name, self.product(name)?)
    }

    /// Adds a product.
    pub fn product_add(&mut self, new: NewProduct) -> Result<Product> {
        let name = crate::validate::name("product", &new.name)?;
        let languages = model::product_languages(&[], &new.languages)?;
        model::product_name_free(
            &name,
            self.product(&name)?.as_ref(),
            self.alias(&name)?.as_ref(),
        )?;
        let product = Product {
            id: ProductId(self.next_id("next_product")?),
            name,
            ssl_only: new.ssl_only,
            public: !new.private,
            active: true,
            checknow: true,
            priority: 0,
            languages,
            created_at: self.now,
            max_lag_minutes: None,
        };
        self.put_product(&product)?;
        self.record(
            "product.add",
            format!(
                "{} languages=[{}] ssl_only={} public={}",
                product.name,
                product.languages.join(","),
                product.ssl_only,
                product.public
            ),
        )?;
        Ok(product)
    }

    pub(super) fn put_product(&mut self, p: &Product) -> Result<()> {
        self.txn.put(&PRODUCTS, &p.id.0, p)?;
        self.txn
            .put(&PRODUCT_NAMES, &p.name.to_lowercase(), &p.id.0)
    }

    /// Changes a product's flags or languages (not its name).
    pub fn product_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Product),
    ) -> Result<Product> {
        let old = self.require_product(name)?;
        let mut new = old.clone();
        change(&mut new);
        let new = model::product_change(&old, new)?;
        self.put_product(&new)?;
        if old != new {
            self.record("product.update", describe_change(&old.name, &old, &new))?;
        }
        Ok(new)
    }

    /// Removes a product with its locations, files and availability, and
    /// the aliases pointing at it (each recorded as `alias.remove`, and
    /// named in the `product.remove` entry): an alias of a product that is
    /// gone would answer 404 anyway, and release tooling (bouncer-admin,
    /// Tuxedo) deletes such products.
    pub fn product_remove(&mut self, name: &str) -> Result<RemovedProduct> {
        let product = self.require_product(name)?;
        let all = self.aliases()?;
        let aliases: Vec<String> = model::aliases_of(&all, product.id)
            .into_iter()
            .map(|a| a.name.clone())
            .collect();
        for alias in &aliases {
            self.txn.delete(&ALIASES, &alias.to_lowercase())?;
            self.record(
                "alias.remove",
                format!("{alias} (its product {} was removed)", product.name),
            )?;
        }
        for loc in self.locations_of(product.id)? {
            self.delete_location(&loc)?;
        }
        self.txn.delete(&PRODUCTS, &product.id.0)?;
        self.txn
            .delete(&PRODUCT_NAMES, &product.name.to_lowercase())?;
        let detail = if aliases.is_empty() {
            product.name.clone()
        } else {
            format!("{} with alias(es) {}", product.name, aliases.join(", "))
        };
        self.record("product.remove", detail)?;
        Ok(RemovedProduct { product, aliases })
    }

    pub(super) fn alias(&self, name: &str) -> Result<Option<Alias>> {
        self.txn.get(&ALIASES, &name.to_lowercase())
    }

    pub(super) fn aliases(&self) -> Result<Vec<Alias>> {
        self.txn.values(&ALIASES)
    }

    /// Points `alias` at `product`, creating the alias if needed. Returns
    /// the product it pointed at before, if any.
    pub fn alias_set(&mut self, alias: &str, product: &str) -> Result<Option<ProductId>> {
        let alias = crate::validate::name("alias", alias)?;
        let target = self.require_product(product)?;
        model::alias_name_free(&alias, self.product(&alias)?.as_ref())?;
        let before = self.alias(&alias)?.map(|a| a.product);
        let row = Alias {
            name: alias.clone(),
            product: target.id,
        };
        self.txn.put(&ALIASES, &alias.to_lowercase(), &row)?;
        self.record("alias.set", format!("{alias} -> {}", target.name))?;
        Ok(before)
    }

    /// Removes an alias.
    pub fn alias_remove(&mut self, alias: &str) -> Result<()> {
        let removed = self.txn.delete(&ALIASES, &alias.to_lowercase())?;
        model::must_exist(Thing::Alias, alias, removed.then_some(()))?;
        self.record("alias.remove", alias.to_string())
    }

    /// Adds an operating system name.
    pub fn os_add(&mut self, name: &str) -> Result<String> {
        let os = crate::validate::os(name)?;
        model::must_be_new(Thing::Os, &os, self.txn.get(&OSES, &os)?)?;
        self.txn.put(&OSES, &os, &self.now)?;
        self.record("os.add", os.clone())?;
        Ok(os)
    }

    /// Removes an operating system; refused while locations use it.
    pub fn os_remove(&mut self, name: &str) -> Result<()> {
        let os = model::os_key(name);
        model::os_unused(&os, &self.all_locations()?)?;
        let removed = self.txn.delete(&OSES, &os)?;
        model::must_exist(Thing::Os, name, removed.then_some(()))?;
        self.record("os.remove", os)
    }

    pub(super) fn require_os(&self, name: &str) -> Result<String> {
        let os = model::os_key(name);
        let known = self.txn.get(&OSES, &os)?.is_some();
        model::must_exist(Thing::Os, name, known.then_some(os))
    }

    /// Clears a product's `checknow` flag after sentry checked it as
    /// `seen`; a product changed since (a language added) stays flagged.
    pub fn product_checked(&mut self, seen: &Product) -> Result<()> {
        if let Some(mut p) = self.product_by_id(seen.id)?
            && model::check_covers(&p, seen)
        {
            p.checknow = false;
            self.put_product(&p)?;
        }
        Ok(())
    }

    /// All products, by id.
    pub fn products(&self) -> Result<Vec<Product>> {
        self.txn.values(&PRODUCTS)
    }

    /// All aliases.
    pub fn alias_list(&self) -> Result<Vec<Alias>> {
        self.aliases()
    }

    /// Operating system names, sorted.
    pub fn oses(&self) -> Result<Vec<String>> {
        let oses = self.txn.range(&OSES, Span::all())?;
        Ok(oses.into_iter().map(|(os, _)| os).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::stores;

    #[test]
    fn removing_an_aliased_product_removes_its_aliases_in_the_same_write() {
        for (_db, store) in stores() {
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    for p in ["fx-1", "fx-2"] {
                        tx.product_add(NewProduct {
                            name: p.into(),
                            ..Default::default()
                        })?;
                        tx.location_add(p, "win", &format!("/{p}.exe"))?;
                    }
                    tx.alias_set("Fx-Latest", "fx-1")?;
                    tx.alias_set("fx-stable", "fx-1")?;
                    tx.alias_set("fx-beta", "fx-2")?;
                    Ok(())
                })
                .unwrap();
            let removed = store
                .write(&crate::model::Actor::Cli, |tx| tx.product_remove("FX-1"))
                .unwrap();
            assert_eq!(removed.product.name, "fx-1");
            assert_eq!(removed.aliases, ["Fx-Latest", "fx-stable"]);
            let s = store.snapshot().unwrap();
            let aliases: Vec<&str> = s.aliases.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(aliases, ["fx-beta"]);
            assert_eq!(s.products.len(), 1);
            assert_eq!(s.locations.len(), 1);
            let events: Vec<(String, String)> = store
                .events(3)
                .unwrap()
                .into_iter()
                .rev()
                .map(|e| (e.action, e.detail))
                .collect();
            assert_eq!(
                events,
                [
                    (
                        "alias.remove".to_string(),
                        "Fx-Latest (its product fx-1 was removed)".to_string()
                    ),
                    (
                        "alias.remove".to_string(),
                        "fx-stable (its product fx-1 was removed)".to_string()
                    ),
                    (
                        "product.remove".to_string(),
                        "fx-1 with alias(es) Fx-Latest, fx-stable".to_string()
                    ),
                ]
            );
            // The alias names are free: one may even become a product.
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.product_add(NewProduct {
                        name: "fx-latest".into(),
                        ..Default::default()
                    })
                })
                .unwrap();
            // Without aliases the entry is the name alone.
            let removed = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.product_remove("fx-latest")
                })
                .unwrap();
            assert!(removed.aliases.is_empty());
            assert_eq!(store.events(1).unwrap()[0].detail, "fx-latest");
        }
    }

    #[test]
    fn product_languages_must_be_locale_codes() {
        for (_db, store) in stores() {
            let err = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.product_add(NewProduct {
                        name: "p".into(),
                        languages: vec!["de".into(), "english".into()],
                        ..Default::default()
                    })
                })
                .unwrap_err();
            assert!(
                err.to_string().contains("\"english\" is not a locale code"),
                "{err}"
            );
            assert!(store.snapshot().unwrap().products.is_empty());
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.product_add(NewProduct {
                        name: "p".into(),
                        languages: vec!["de".into(), "ja-JP-mac".into(), "multi".into()],
                        ..Default::default()
                    })
                })
                .unwrap();
            let err = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.product_update("p", |p| p.languages.push("multi-locale".into()))
                })
                .unwrap_err();
            assert!(err.to_string().contains("e.g. de, en-US"), "{err}");
            assert_eq!(
                store.snapshot().unwrap().products[0].languages,
                ["de", "ja-JP-mac", "multi"]
            );
        }
    }
}
