//! Regions: groups of countries with their own mirrors.

use super::Tx;
use super::audit::{describe_change, describe_region};
use super::tables::*;
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

impl Tx {
    /// The region with this name (case-insensitive).
    pub fn region(&self, name: &str) -> Result<Option<Region>> {
        self.txn.get(&REGIONS, &region_key(name))
    }

    pub(super) fn require_region(&self, name: &str) -> Result<Region> {
        model::must_exist(Thing::Region, name.trim(), self.region(name)?)
    }

    pub(super) fn all_regions(&self) -> Result<Vec<Region>> {
        self.txn.values(&REGIONS)
    }

    pub(super) fn put_region(&mut self, region: &Region) -> Result<()> {
        self.txn.put(&REGIONS, &region_key(&region.name), region)
    }

    /// Adds a region. Its countries must belong to no other region; its
    /// fallback must be another existing region.
    pub fn region_add(&mut self, mut region: Region) -> Result<Region> {
        region.name = crate::validate::name("region", &region.name)?;
        model::region_name_free(self.region(&region.name)?.as_ref())?;
        let region = model::region_check(region, &self.all_regions()?)?;
        self.put_region(&region)?;
        self.record("region.add", describe_region(&region))?;
        Ok(region)
    }

    /// Changes a region's throttle, fallback or countries (not its name),
    /// with the checks of [`Tx::region_add`] and no fallback cycles.
    pub fn region_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Region),
    ) -> Result<Region> {
        let old = self.require_region(name)?;
        let mut new = old.clone();
        change(&mut new);
        new.name = old.name.clone();
        let new = model::region_check(new, &self.all_regions()?)?;
        self.put_region(&new)?;
        if old != new {
            self.record("region.update", describe_change(&old.name, &old, &new))?;
        }
        Ok(new)
    }

    /// Adds one region per `continents` entry, named as the continent,
    /// each with its countries no region has yet
    /// ([`model::default_regions`]). Continents with a region of that name
    /// are left alone.
    pub fn region_defaults(&mut self, continents: &[ContinentRegion]) -> Result<RegionDefaults> {
        let (add, mut out) = model::default_regions(&self.all_regions()?, continents);
        for region in add {
            let r = self.region_add(region)?;
            out.added.push((r.name, r.countries.len()));
        }
        Ok(out)
    }

    /// Removes a region; refused while mirrors serve it or other regions
    /// fall back to it.
    pub fn region_remove(&mut self, name: &str) -> Result<Region> {
        let region = self.require_region(name)?;
        model::region_removable(&region, &self.mirrors()?, &self.all_regions()?)?;
        let key = region_key(&region.name);
        self.txn.delete(&REGIONS, &key)?;
        self.record("region.remove", region.name.clone())?;
        Ok(region)
    }

    /// All regions, by name.
    pub fn regions(&self) -> Result<Vec<Region>> {
        self.all_regions()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::NewMirror;
    use crate::store::tests::{refused, region, stores};

    #[test]
    fn regions_add_update_remove() {
        for (_db, store) in stores() {
            let europe = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.region_add(region("Europe", None, &["de", " fr", "DE", "at"]))
                })
                .unwrap();
            assert_eq!(europe.name, "Europe");
            assert_eq!(europe.countries, vec!["AT", "DE", "FR"]);
            let events = store.events(1).unwrap();
            assert_eq!(events[0].action, "region.add");
            assert_eq!(
                events[0].detail,
                "Europe throttle=100 fallback=- global_fallback=true countries=[AT,DE,FR]"
            );

            // Refusals on add.
            let err = refused(&store, |tx| tx.region_add(region("europe", None, &[])));
            assert!(
                err.contains("exists already") && err.contains("Europe"),
                "{err}"
            );
            let err = refused(&store, |tx| tx.region_add(region("asia", None, &["JPN"])));
            assert!(
                err.contains("invalid country") && err.contains("JPN"),
                "{err}"
            );
            let err = refused(&store, |tx| {
                tx.region_add(region("dach", None, &["ch", "de"]))
            });
            assert!(err.contains("DE belongs to region \"Europe\""), "{err}");
            let err = refused(&store, |tx| {
                tx.region_add(region("asia", Some("nowhere"), &[]))
            });
            assert!(err.contains("no region named \"nowhere\""), "{err}");
            let err = refused(&store, |tx| {
                tx.region_add(region("asia", Some("ASIA"), &[]))
            });
            assert!(err.contains("itself"), "{err}");
            let err = refused(&store, |tx| tx.region_add(region("two words", None, &[])));
            assert!(err.contains("invalid region"), "{err}");

            // The fallback is stored as its region spells it; lookups ignore case.
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    let asia = tx.region_add(region("asia", Some("EUROPE"), &["jp"]))?;
                    assert_eq!(asia.fallback.as_deref(), Some("Europe"));
                    assert_eq!(tx.region("ASIA")?.unwrap(), asia);
                    tx.region_add(region("americas", Some("asia"), &["us"]))
                })
                .unwrap();

            // Refusals on update: cycles, self-fallback, shared countries.
            let err = refused(&store, |tx| {
                tx.region_update("europe", |r| r.fallback = Some("asia".into()))
            });
            assert!(err.contains("Europe → asia → Europe"), "{err}");
            let err = refused(&store, |tx| {
                tx.region_update("europe", |r| r.fallback = Some("americas".into()))
            });
            assert!(err.contains("Europe → americas → asia → Europe"), "{err}");
            let err = refused(&store, |tx| {
                tx.region_update("asia", |r| r.fallback = Some("Asia".into()))
            });
            assert!(err.contains("itself"), "{err}");
            let err = refused(&store, |tx| {
                tx.region_update("asia", |r| r.countries.push("fr".into()))
            });
            assert!(err.contains("FR belongs to region \"Europe\""), "{err}");
            let err = refused(&store, |tx| {
                tx.region_update("asia", |r| r.countries.push("1".into()))
            });
            assert!(err.contains("invalid country"), "{err}");
            let err = refused(&store, |tx| tx.region_update("oceania", |_| {}));
            assert!(err.contains("no region named \"oceania\""), "{err}");

            // An update keeps the name, may re-list its own countries, and a
            // blank fallback means none.
            let updated = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.region_update("EUROPE", |r| {
                        r.name = "renamed".into();
                        r.throttle = 50;
                        r.countries = vec!["fr".into(), "de".into(), "it".into()];
                        r.fallback = Some("  ".into());
                    })
                })
                .unwrap();
            assert_eq!(updated.name, "Europe");
            assert_eq!(updated.throttle, 50);
            assert_eq!(updated.countries, vec!["DE", "FR", "IT"]);
            assert_eq!(updated.fallback, None);
            let events = store.events(1).unwrap();
            assert_eq!(events[0].action, "region.update");
            assert!(
                events[0].detail.starts_with("Europe: "),
                "{}",
                events[0].detail
            );
            let s = store.snapshot().unwrap();
            assert_eq!(s.regions.len(), 3);
            assert!(s.regions.contains(&updated));

            // Mirrors name regions as the regions spell them.
            let m = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_add(NewMirror {
                        name: "m1".into(),
                        base_url: "http://m1.example".into(),
                        rating: 1,
                        regions: vec!["EUROPE".into(), "europe".into(), "Asia".into()],
                        ..Default::default()
                    })
                })
                .unwrap();
            assert_eq!(m.regions, vec!["Europe", "asia"]);

            // Removal is refused while a mirror serves the region or another
            // region falls back to it, naming them.
            let err = refused(&store, |tx| tx.region_remove("europe"));
            assert!(
                err.contains("mirror(s) m1 serve it") && err.contains("region(s) asia fall back"),
                "{err}"
            );
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_update("m1", |m| m.regions = vec!["asia".into()])
                })
                .unwrap();
            let err = refused(&store, |tx| tx.region_remove("Europe"));
            assert!(
                !err.contains("m1") && err.contains("region(s) asia fall back"),
                "{err}"
            );
            let err = refused(&store, |tx| tx.region_remove("asia"));
            assert!(
                err.contains("mirror(s) m1") && err.contains("region(s) americas"),
                "{err}"
            );
            let removed = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.region_update("asia", |r| r.fallback = None)?;
                    tx.region_remove("europe")
                })
                .unwrap();
            assert_eq!(removed, updated);
            let err = refused(&store, |tx| tx.region_remove("europe"));
            assert!(err.contains("no region named"), "{err}");
            // Its countries are free again.
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.region_add(region("dach", None, &["de", "at", "ch"]))
                })
                .unwrap();

            let actions: Vec<String> = store
                .events(100)
                .unwrap()
                .into_iter()
                .rev()
                .map(|e| e.action)
                .collect();
            assert_eq!(
                actions,
                [
                    "region.add",
                    "region.add",
                    "region.add",
                    "region.update",
                    "mirror.add",
                    "mirror.update",
                    "region.update",
                    "region.remove",
                    "region.add",
                ]
            );
        }
    }
}
