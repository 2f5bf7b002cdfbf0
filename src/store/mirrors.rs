//! Mirrors.

use super::Tx;
use super::audit::describe_change;
use super::tables::*;
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

/// What a new mirror starts with.
#[derive(Clone, Debug, Default)]
pub struct NewMirror {
    /// Its name.
    pub name: String,
    /// Its root URL.
    pub base_url: String,
    /// Selection weight.
    pub rating: u32,
    /// Regions it serves.
    pub regions: Vec<String>,
    /// Contact e-mail.
    pub contact: String,
    /// Added switched off.
    pub inactive: bool,
    /// The address families it serves.
    pub families: Families,
    /// Whom it serves.
    pub audience: Audience,
    /// Its root over the other scheme, if it has both.
    pub alt_url: Option<String>,
    /// Its trace file, relative to its root.
    pub trace: Option<String>,
    /// A mirror or a CDN.
    pub kind: MirrorKind,
}

impl Tx {
    /// The mirror with this name (case-insensitive).
    pub fn mirror(&self, name: &str) -> Result<Option<Mirror>> {
        let Some(id) = self.txn.get(&MIRROR_NAMES, &name.to_lowercase())? else {
            return Ok(None);
        };
        self.txn.get(&MIRRORS, &id)
    }

    pub(super) fn require_mirror(&self, name: &str) -> Result<Mirror> {
        model::must_exist(Thing::Mirror, name, self.mirror(name)?)
    }

    /// Adds a mirror. It gets no traffic until sentry finds its files.
    pub fn mirror_add(&mut self, new: NewMirror) -> Result<Mirror> {
        let name = crate::validate::name("mirror", &new.name)?;
        let base_url = crate::validate::base_url(&new.base_url)?;
        let alt_url = crate::validate::alt_url(&base_url, new.alt_url.as_deref())?;
        let trace = crate::validate::trace_path(new.trace.as_deref())?;
        model::must_be_new(Thing::Mirror, &name, self.mirror(&name)?)?;
        self.check_base_url_free(&base_url, None)?;
        let mirror = Mirror {
            id: MirrorId(self.next_id("next_mirror")?),
            name,
            base_url,
            rating: new.rating,
            active: !new.inactive,
            regions: model::mirror_regions(&new.regions, &self.all_regions()?)?,
            contact: crate::validate::contact(&new.contact)?,
            created_at: self.now,
            families: new.families,
            audience: new.audience,
            alt_url,
            trace,
            kind: new.kind,
            maintenance: None,
        };
        self.put_mirror(&mirror)?;
        self.record(
            "mirror.add",
            format!(
                "{} {} rating={} active={} families={} audience={}",
                mirror.name,
                mirror.base_url,
                mirror.rating,
                mirror.active,
                mirror.families.as_str(),
                mirror.audience.describe()
            ),
        )?;
        Ok(mirror)
    }

    /// Refuses `base_url` when a mirror other than `except` has it
    /// ([`model::base_url_free`]).
    fn check_base_url_free(&self, base_url: &str, except: Option<MirrorId>) -> Result<()> {
        model::base_url_free(&self.mirrors()?, base_url, except)
    }

    pub(super) fn put_mirror(&mut self, m: &Mirror) -> Result<()> {
        self.txn.put(&MIRRORS, &m.id.0, m)?;
        self.txn.put(&MIRROR_NAMES, &m.name.to_lowercase(), &m.id.0)
    }

    /// Changes a mirror's settings (not its name). A new base URL drops
    /// sentry's findings: the new host has not been checked.
    pub fn mirror_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Mirror),
    ) -> Result<Mirror> {
        let old = self.require_mirror(name)?;
        let mut new = old.clone();
        change(&mut new);
        let new = model::mirror_change(&old, new, &self.all_regions()?)?;
        if new.base_url != old.base_url {
            if model::moves_address(&old, &new) {
                self.check_base_url_free(&new.base_url, Some(new.id))?;
            }
            self.clear_mirror_state(new.id)?;
        }
        self.put_mirror(&new)?;
        if old != new {
            self.record("mirror.update", describe_change(&old.name, &old, &new))?;
        }
        Ok(new)
    }

    /// Changes several mirrors' settings at once (never their names or
    /// base URLs), each by the rules of [`Tx::mirror_update`], recorded as
    /// one audit event (`mirror.bulk`: `what`, then the mirrors changed).
    /// Returns the mirrors that changed; an unknown name fails it all.
    pub fn mirrors_bulk(
        &mut self,
        names: &[String],
        what: &str,
        change: impl Fn(&mut Mirror),
    ) -> Result<Vec<Mirror>> {
        let regions = self.all_regions()?;
        let mut changed: Vec<Mirror> = Vec::new();
        for name in names {
            let old = self.require_mirror(name)?;
            if changed.iter().any(|m| m.id == old.id) {
                continue;
            }
            let mut new = old.clone();
            change(&mut new);
            new.name = old.name.clone();
            new.base_url = old.base_url.clone();
            let new = model::mirror_change(&old, new, &regions)?;
            if new != old {
                self.put_mirror(&new)?;
                changed.push(new);
            }
        }
        if !changed.is_empty() {
            let names: Vec<&str> = changed.iter().map(|m| m.name.as_str()).collect();
            self.record("mirror.bulk", format!("{what}: {}", names.join(", ")))?;
        }
        Ok(changed)
    }

    /// Removes a mirror with everything sentry knew about it.
    pub fn mirror_remove(&mut self, name: &str) -> Result<Mirror> {
        let mirror = self.require_mirror(name)?;
        self.clear_mirror_state(mirror.id)?;
        self.txn.delete(&MIRRORS, &mirror.id.0)?;
        self.txn
            .delete(&MIRROR_NAMES, &mirror.name.to_lowercase())?;
        self.record(
            "mirror.remove",
            format!("{} {}", mirror.name, mirror.base_url),
        )?;
        Ok(mirror)
    }

    /// Drops sentry's findings for `mirror`: its health, its check history and its
    /// availability everywhere (a range of [`AVAILABILITY_BY_MIRROR`], not a
    /// pass over every row).
    pub(super) fn clear_mirror_state(&mut self, mirror: MirrorId) -> Result<()> {
        self.txn.delete(&MIRROR_HEALTH, &mirror.0)?;
        self.checks_clear(mirror)?;
        self.clear_mirror_availability(mirror)
    }

    /// All mirrors.
    pub fn mirrors(&self) -> Result<Vec<Mirror>> {
        self.txn.values(&MIRRORS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::store::tests::stores;

    #[test]
    fn a_second_mirror_at_the_same_base_url_is_refused() {
        for (_db, store) in stores() {
            let add = |name: &str, url: &str| {
                store.write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_add(NewMirror {
                        name: name.into(),
                        base_url: url.into(),
                        rating: 1,
                        ..Default::default()
                    })
                })
            };
            add("m1", "https://m1.example/pub").unwrap();
            add("m2", "https://m2.example/pub").unwrap();
            for url in [
                "https://m1.example/pub",
                "https://M1.Example:443/pub/",
                "https://m1.example/pub//",
            ] {
                let before = store.events(1).unwrap();
                let err = add("m3", url).unwrap_err();
                assert!(
                    matches!(&err, Error::BaseUrlTaken { mirror, .. } if mirror == "m1"),
                    "{url}: {err}"
                );
                let text = err.to_string();
                assert!(
                    text.contains("\"m1\"") && text.contains("https://m1.example/pub"),
                    "{text}"
                );
                assert_eq!(store.events(1).unwrap(), before);
            }
            // Another scheme, port or path is another address.
            add("m1-http", "http://m1.example/pub").unwrap();
            add("m1-8443", "https://m1.example:8443/pub").unwrap();
            add("m1-sub", "https://m1.example/pub/sub").unwrap();

            // Moving a mirror onto another's address is refused; its own
            // address, spelled differently, is not another's.
            let err = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_update("m2", |m| m.base_url = "https://M1.example/pub/".into())
                })
                .unwrap_err();
            assert!(
                matches!(&err, Error::BaseUrlTaken { mirror, .. } if mirror == "m1"),
                "{err}"
            );
            assert_eq!(
                store.snapshot().unwrap().mirror("m2").unwrap().base_url,
                "https://m2.example/pub"
            );
            let m1 = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_update("m1", |m| {
                        m.base_url = "https://M1.EXAMPLE/pub".into();
                        m.rating = 5;
                    })
                })
                .unwrap();
            assert_eq!(m1.rating, 5);
            // Once m1 moves away, its old address is free.
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_update("m1", |m| m.base_url = "https://m1.example/new".into())?;
                    tx.mirror_update("m2", |m| m.base_url = "https://m1.example/pub".into())
                })
                .unwrap();
        }
    }
}
