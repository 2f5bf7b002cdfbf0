//! The rules a change to the network obeys, as pure functions of the
//! change and of what is stored. The store loads what a rule needs, asks
//! it, and writes what it allows, so a second storage backend reuses the
//! rules as they are, with the same errors.

use super::*;
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::validate;

// ----- names and references -----

/// Refuses a new `kind` named `name` when one is `taken` already.
pub fn must_be_new<T>(kind: Thing, name: &str, taken: Option<T>) -> Result<()> {
    match taken {
        Some(_) => Err(Error::exists(kind, name)),
        None => Ok(()),
    }
}

/// The `kind` named `name` that a change refers to, which must exist.
pub fn must_exist<T>(kind: Thing, name: &str, found: Option<T>) -> Result<T> {
    found.ok_or_else(|| Error::not_found(kind, name))
}

// ----- products and aliases -----

/// A new product's name must be free: no product has it, and no alias
/// (`?product=` would no longer say which is meant).
pub fn product_name_free(
    name: &str,
    product: Option<&Product>,
    alias: Option<&Alias>,
) -> Result<()> {
    must_be_new(Thing::Product, name, product)?;
    if alias.is_some() {
        return Err(Error::InUse {
            detail: format!("{name:?} is an alias; a product may not have an alias's name"),
        });
    }
    Ok(())
}

/// An alias may not be named like a `product`, for the same reason.
pub fn alias_name_free(alias: &str, product: Option<&Product>) -> Result<()> {
    match product {
        Some(_) => Err(Error::InUse {
            detail: format!("{alias:?} is a product name; an alias may not equal a product"),
        }),
        None => Ok(()),
    }
}

/// The languages a product is offered in after a change from `old` to
/// `new`: trimmed, a repeat (in any case) dropped for its first spelling.
/// A language the product did not have must be a locale code
/// ([`crate::validate::locale`]); one it had is kept if it is merely safe
/// in a URL ([`crate::validate::lang`]), so a product stored before the
/// rule stays editable.
pub fn product_languages(old: &[String], new: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(new.len());
    for l in new {
        let had = old.iter().any(|o| o.trim().eq_ignore_ascii_case(l.trim()));
        let l = if had {
            validate::lang(l)?
        } else {
            validate::locale(l)?
        };
        if !out.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
            out.push(l);
        }
    }
    Ok(out)
}

/// Whether going from the languages `old` to `new` adds one: new files on
/// every mirror, which sentry should check soon. A product offered in
/// every language (`old` empty) gains none.
pub fn adds_language(old: &[String], new: &[String]) -> bool {
    !old.is_empty()
        && new
            .iter()
            .any(|l| !old.iter().any(|o| o.eq_ignore_ascii_case(l)))
}

/// `new`, a changed copy of `old`, as it may be stored: the same id and
/// name, its languages checked ([`product_languages`]), and `checknow` set
/// when it gained a language ([`adds_language`]).
pub fn product_change(old: &Product, mut new: Product) -> Result<Product> {
    new.id = old.id;
    new.name = old.name.clone();
    let languages = product_languages(&old.languages, &new.languages)?;
    if adds_language(&old.languages, &languages) {
        new.checknow = true;
    }
    new.languages = languages;
    Ok(new)
}

/// Whether sentry's check of the product as it was (`seen`) covers it as
/// it is (`current`), so its `checknow` flag may be cleared: a language
/// added since keeps it flagged.
pub fn check_covers(current: &Product, seen: &Product) -> bool {
    current.languages == seen.languages
}

/// The aliases pointing at `product`, in the order given: they go with it
/// when it is removed.
pub fn aliases_of(aliases: &[Alias], product: ProductId) -> Vec<&Alias> {
    aliases.iter().filter(|a| a.product == product).collect()
}

// ----- operating systems -----

/// How an operating system is named in storage: trimmed, lower case.
pub fn os_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// An operating system may go only when no location uses it.
pub fn os_unused(os: &str, locations: &[Location]) -> Result<()> {
    let users = locations.iter().filter(|l| l.os == os).count();
    if users > 0 {
        return Err(Error::InUse {
            detail: format!(
                "{users} location(s) use operating system {os:?}: remove them first (`bouncer location list`)"
            ),
        });
    }
    Ok(())
}

// ----- mirrors -----

/// The mirror, other than `except`, whose base URL points where `base_url`
/// does ([`crate::validate::base_url_key`]): two mirrors at one address
/// would get its downloads twice and list it twice.
pub fn mirror_at<'m>(
    mirrors: &'m [Mirror],
    base_url: &str,
    except: Option<MirrorId>,
) -> Option<&'m Mirror> {
    let key = validate::base_url_key(base_url);
    mirrors
        .iter()
        .find(|m| Some(m.id) != except && validate::base_url_key(&m.base_url) == key)
}

/// Refuses `base_url` when a mirror other than `except` has it
/// ([`mirror_at`]).
pub fn base_url_free(mirrors: &[Mirror], base_url: &str, except: Option<MirrorId>) -> Result<()> {
    match mirror_at(mirrors, base_url, except) {
        Some(other) => Err(Error::BaseUrlTaken {
            base_url: other.base_url.clone(),
            mirror: other.name.clone(),
        }),
        None => Ok(()),
    }
}

/// A mirror's `requested` regions, which must be among `regions`
/// (case-insensitive), spelled as the regions spell their names, without
/// duplicates.
pub fn mirror_regions(requested: &[String], regions: &[Region]) -> Result<Vec<String>> {
    let find = |name: &str| {
        let key = region_key(name);
        regions.iter().find(|r| region_key(&r.name) == key)
    };
    let mut out: Vec<String> = Vec::new();
    for r in requested {
        // A region stored before a naming rule (a bidirectional control)
        // is found as it is: its mirrors stay editable.
        let region = match find(r) {
            Some(region) => region,
            None => {
                let r = validate::name("region", r)?;
                must_exist(Thing::Region, &r, find(&r))?
            }
        };
        if !out.contains(&region.name) {
            out.push(region.name.clone());
        }
    }
    Ok(out)
}

/// `new`, a changed copy of `old`, as it may be stored: the same id and
/// name, a valid base URL, existing regions ([`mirror_regions`]) and a
/// valid contact. Only a new contact is checked: one stored before the
/// rule stays as it is while the rest of the mirror is edited.
pub fn mirror_change(old: &Mirror, mut new: Mirror, regions: &[Region]) -> Result<Mirror> {
    new.id = old.id;
    new.name = old.name.clone();
    new.base_url = validate::base_url(&new.base_url)?;
    new.alt_url = validate::alt_url(&new.base_url, new.alt_url.as_deref())?;
    new.trace = validate::trace_path(new.trace.as_deref())?;
    new.regions = mirror_regions(&new.regions, regions)?;
    new.contact = if new.contact.trim() == old.contact.trim() {
        old.contact.clone()
    } else {
        validate::contact(&new.contact)?
    };
    Ok(new)
}

/// Whether a mirror changed from `old` to `new` moves to another address,
/// which must then be free ([`base_url_free`]). Only a new address is
/// checked: two mirrors that shared one before the rule stay editable.
pub fn moves_address(old: &Mirror, new: &Mirror) -> bool {
    validate::base_url_key(&new.base_url) != validate::base_url_key(&old.base_url)
}

// ----- regions -----

/// How a region is named in storage and looked up: trimmed, lower case.
pub fn region_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A new region's name must be free; the error names the region that has
/// it as that region spells it.
pub fn region_name_free(taken: Option<&Region>) -> Result<()> {
    match taken {
        Some(old) => Err(Error::exists(Thing::Region, &old.name)),
        None => Ok(()),
    }
}

/// `region` normalised (countries upper-case, sorted, unique; fallback
/// spelled as its region, blank meaning none) and checked against the
/// other `regions` (the list may hold `region` itself, as stored): no
/// shared country, an existing fallback that is not itself, no fallback
/// cycle.
pub fn region_check(mut region: Region, regions: &[Region]) -> Result<Region> {
    let key = region_key(&region.name);
    let mut countries = Vec::with_capacity(region.countries.len());
    for c in &region.countries {
        countries.push(validate::country(c)?);
    }
    countries.sort();
    countries.dedup();
    region.countries = countries;

    let others: Vec<&Region> = regions
        .iter()
        .filter(|r| region_key(&r.name) != key)
        .collect();
    let taken: Vec<String> = others
        .iter()
        .flat_map(|other| {
            region
                .countries
                .iter()
                .filter(|c| other.countries.contains(c))
                .map(move |c| format!("{c} belongs to region {:?}", other.name))
        })
        .collect();
    if !taken.is_empty() {
        return Err(Error::InUse {
            detail: format!(
                "a country may belong to one region only, and {}: remove it there first",
                taken.join(", ")
            ),
        });
    }

    let fallback = match region.fallback.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(fallback) => {
            // An existing region is named as it is (one stored before a
            // naming rule stays usable); only another name is checked.
            let fallback = if others
                .iter()
                .any(|r| region_key(&r.name) == region_key(fallback))
            {
                fallback.to_string()
            } else {
                validate::name("fallback region", fallback)?
            };
            if region_key(&fallback) == key {
                return Err(Error::invalid(
                    "fallback region",
                    format!(
                        "region {:?} cannot fall back to itself: choose another region, or none",
                        region.name
                    ),
                ));
            }
            let find = |name: &str| {
                others
                    .iter()
                    .find(|r| region_key(&r.name) == region_key(name))
            };
            let target = must_exist(Thing::Region, &fallback, find(&fallback))?;
            // Follow the chain from the fallback: meeting this region
            // again would send traffic round in a circle.
            let mut chain = vec![region.name.clone(), target.name.clone()];
            let mut next = target.fallback.as_deref();
            while let Some(name) = next {
                if region_key(name) == key {
                    chain.push(region.name.clone());
                    return Err(Error::invalid(
                        "fallback region",
                        format!(
                            "falling back from {:?} to {:?} would make a cycle ({}): break it by changing one of these fallbacks first",
                            region.name,
                            target.name,
                            chain.join(" → ")
                        ),
                    ));
                }
                if chain.iter().any(|c| region_key(c) == region_key(name)) {
                    break; // a cycle elsewhere: not this region's doing
                }
                chain.push(name.to_string());
                next = find(name).and_then(|r| r.fallback.as_deref());
            }
            Some(target.name.clone())
        }
    };
    region.fallback = fallback;
    Ok(region)
}

/// A region may go only when no mirror serves it and no other region
/// falls back to it; the refusal names them all.
pub fn region_removable(region: &Region, mirrors: &[Mirror], regions: &[Region]) -> Result<()> {
    let key = region_key(&region.name);
    let mirrors: Vec<&str> = mirrors
        .iter()
        .filter(|m| m.regions.iter().any(|r| region_key(r) == key))
        .map(|m| m.name.as_str())
        .collect();
    let fallers: Vec<&str> = regions
        .iter()
        .filter(|r| r.fallback.as_deref().is_some_and(|f| region_key(f) == key))
        .map(|r| r.name.as_str())
        .collect();
    let mut why = Vec::new();
    if !mirrors.is_empty() {
        why.push(format!(
            "mirror(s) {} serve it: take it out of their regions first (`bouncer mirror set NAME --region …` or `--no-regions`)",
            mirrors.join(", ")
        ));
    }
    if !fallers.is_empty() {
        why.push(format!(
            "region(s) {} fall back to it: give them another fallback, or none, first",
            fallers.join(", ")
        ));
    }
    if !why.is_empty() {
        return Err(Error::InUse {
            detail: format!(
                "region {:?} cannot be removed: {}",
                region.name,
                why.join("; ")
            ),
        });
    }
    Ok(())
}

/// A continent as the default regions see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContinentRegion {
    /// The region name it suggests (`europe`, `north-america`, …).
    pub name: &'static str,
    /// Its countries' ISO codes, sorted.
    pub countries: Vec<String>,
}

/// What adding the default regions did (or, from [`default_regions`],
/// will do, `added` still empty).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RegionDefaults {
    /// Regions added, with their number of countries.
    pub added: Vec<(String, usize)>,
    /// Continents with a region of their name already.
    pub existing: Vec<&'static str>,
    /// Continents all of whose countries are in other regions.
    pub full: Vec<&'static str>,
    /// Countries left out because other regions have them.
    pub taken: Vec<String>,
}

/// The regions to add by default given the `existing` ones: one per
/// continent, named as the continent, with its countries no region has
/// yet; throttle 100, no fallback, global fallback on. A continent with a
/// region of its name, or none of whose countries are free, gets none.
pub fn default_regions(
    existing: &[Region],
    continents: &[ContinentRegion],
) -> (Vec<Region>, RegionDefaults) {
    let taken: Vec<&str> = existing
        .iter()
        .flat_map(|r| r.countries.iter().map(String::as_str))
        .collect();
    let mut add = Vec::new();
    let mut out = RegionDefaults::default();
    for continent in continents {
        if existing
            .iter()
            .any(|r| r.name.eq_ignore_ascii_case(continent.name))
        {
            out.existing.push(continent.name);
            continue;
        }
        let (free, have): (Vec<String>, Vec<String>) = continent
            .countries
            .iter()
            .cloned()
            .partition(|c| !taken.contains(&c.as_str()));
        out.taken.extend(have);
        if free.is_empty() {
            out.full.push(continent.name);
            continue;
        }
        add.push(Region {
            name: continent.name.into(),
            throttle: 100,
            fallback: None,
            global_fallback: true,
            countries: free,
        });
    }
    out.taken.sort();
    (add, out)
}

// ----- users -----

/// A user's name is checked only when the user is new (not `known`): one
/// stored before a naming rule (a bidirectional control) can still change
/// their password.
pub fn user_name(name: &str, known: bool) -> Result<()> {
    if !known {
        validate::name("user", name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn region(name: &str, fallback: Option<&str>, countries: &[&str]) -> Region {
        Region {
            name: name.into(),
            throttle: 100,
            fallback: fallback.map(String::from),
            global_fallback: true,
            countries: strings(countries),
        }
    }

    #[test]
    fn new_and_existing() {
        assert!(must_be_new(Thing::Mirror, "m1", None::<()>).is_ok());
        let err = must_be_new(Thing::Mirror, "m1", Some(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::exists(Thing::Mirror, "m1").to_string()
        );
        assert_eq!(must_exist(Thing::Mirror, "m1", Some(7)).unwrap(), 7);
        let err = must_exist(Thing::Mirror, "m1", None::<u8>).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::not_found(Thing::Mirror, "m1").to_string()
        );
    }

    #[test]
    fn products_and_aliases_do_not_share_names() {
        let p = fixtures::product(1, "fx", &[]);
        let a = Alias {
            name: "fx-latest".into(),
            product: ProductId(1),
        };
        assert!(product_name_free("fx-2", None, None).is_ok());
        let err = product_name_free("FX", Some(&p), None).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        let err = product_name_free("fx-latest", None, Some(&a)).unwrap_err();
        assert!(
            err.to_string().contains("is an alias; a product may not"),
            "{err}"
        );
        assert!(alias_name_free("fx-latest", None).is_ok());
        let err = alias_name_free("fx", Some(&p)).unwrap_err();
        assert!(err.to_string().contains("product name"), "{err}");
    }

    #[test]
    fn new_languages_must_be_locale_codes() {
        assert_eq!(
            product_languages(&[], &strings(&[" de", "en-US", "DE", "ja-JP-mac", "multi"]))
                .unwrap(),
            ["de", "en-US", "ja-JP-mac", "multi"]
        );
        let err = product_languages(&strings(&["de"]), &strings(&["de", "english"])).unwrap_err();
        assert!(
            matches!(
                err,
                crate::error::Error::Invalid {
                    what: "language",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("\"english\""), "{err}");
        // One the product had before the rule stays, in any case; it is
        // still checked to be safe in a URL.
        let old = strings(&["english", "de"]);
        assert_eq!(
            product_languages(&old, &strings(&["English", "fr"])).unwrap(),
            ["English", "fr"]
        );
        assert!(product_languages(&strings(&["a/b"]), &strings(&["a/b"])).is_err());
        assert!(product_languages(&old, &strings(&["deutsch"])).is_err());
    }

    #[test]
    fn a_new_language_asks_for_a_check() {
        let old = fixtures::product(1, "fx", &["de", "fr"]);
        let change = |languages: &[&str]| {
            let mut new = old.clone();
            new.id = ProductId(9);
            new.name = "renamed".into();
            new.languages = strings(languages);
            product_change(&old, new).unwrap()
        };
        let same = change(&["DE", "fr"]);
        assert!(!same.checknow);
        assert_eq!((same.id, same.name.as_str()), (ProductId(1), "fx"));
        assert!(!change(&["de"]).checknow, "dropping one adds none");
        assert!(change(&["de", "fr", "it"]).checknow);
        // A product in every language gains none by being narrowed.
        let all = fixtures::product(2, "all", &[]);
        let mut new = all.clone();
        new.languages = strings(&["de"]);
        assert!(!product_change(&all, new).unwrap().checknow);
        assert!(adds_language(&strings(&["de"]), &strings(&["de", "it"])));
        assert!(!adds_language(&[], &strings(&["it"])));

        let mut seen = old.clone();
        assert!(check_covers(&old, &seen));
        seen.languages.pop();
        assert!(!check_covers(&old, &seen));
    }

    #[test]
    fn a_products_aliases() {
        let alias = |name: &str, p: u64| Alias {
            name: name.into(),
            product: ProductId(p),
        };
        let all = [alias("a", 1), alias("b", 2), alias("c", 1)];
        let names: Vec<&str> = aliases_of(&all, ProductId(1))
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert!(aliases_of(&all, ProductId(3)).is_empty());
    }

    #[test]
    fn an_os_in_use_stays() {
        assert_eq!(os_key(" WIN64 "), "win64");
        let locations = [
            fixtures::location(1, 1, "win", "/a"),
            fixtures::location(2, 2, "win", "/b"),
            fixtures::location(3, 2, "osx", "/c"),
        ];
        assert!(os_unused("linux", &locations).is_ok());
        let err = os_unused("win", &locations).unwrap_err();
        assert!(err.to_string().starts_with("2 location(s) use"), "{err}");
    }

    #[test]
    fn mirrors_at_one_address() {
        let mirrors = [
            fixtures::mirror(1, "https://one.example/pub", 1),
            fixtures::mirror(2, "http://two.example", 1),
        ];
        let at = |url: &str, except: Option<u64>| {
            mirror_at(&mirrors, url, except.map(MirrorId)).map(|m| m.id.0)
        };
        assert_eq!(at("HTTPS://ONE.example:443/pub/", None), Some(1));
        assert_eq!(at("http://two.example:80/", None), Some(2));
        // A mirror may keep its own address.
        assert_eq!(at("https://one.example/pub", Some(1)), None);
        assert_eq!(at("https://one.example/pub", Some(2)), Some(1));
        for other in [
            "http://one.example/pub",
            "https://one.example/pub2",
            "https://one.example:8443/pub",
            "https://two.example",
        ] {
            assert_eq!(at(other, None), None, "{other}");
        }
        let err = base_url_free(&mirrors, "https://one.example/pub/", None).unwrap_err();
        assert!(
            matches!(&err, Error::BaseUrlTaken { mirror, .. } if mirror == "m1"),
            "{err}"
        );
        assert!(base_url_free(&mirrors, "https://one.example/pub", Some(MirrorId(1))).is_ok());
    }

    #[test]
    fn a_mirrors_regions_exist_and_are_spelled_as_stored() {
        let regions = [region("Europe", None, &[]), region("eu\u{202E}", None, &[])];
        assert_eq!(
            mirror_regions(&strings(&["EUROPE", " europe", "eu\u{202E}"]), &regions).unwrap(),
            ["Europe", "eu\u{202E}"]
        );
        let err = mirror_regions(&strings(&["asia"]), &regions).unwrap_err();
        assert!(
            err.to_string().contains("no region named \"asia\""),
            "{err}"
        );
        let err = mirror_regions(&strings(&["us\u{2066}"]), &regions).unwrap_err();
        assert!(err.to_string().contains("bidirectional"), "{err}");
    }

    #[test]
    fn a_mirror_change_keeps_what_was_stored_before_the_rules() {
        let mut old = fixtures::mirror(1, "http://m1.example", 1);
        old.contact = "a@example.org,\r\nb@example.org".into();
        let mut new = old.clone();
        new.id = MirrorId(5);
        new.name = "other".into();
        new.base_url = "http://M1.example/".into();
        new.contact = format!(" {} ", old.contact);
        let changed = mirror_change(&old, new.clone(), &[]).unwrap();
        assert_eq!((changed.id, changed.name.as_str()), (MirrorId(1), "m1"));
        assert_eq!(changed.contact, old.contact);
        assert!(!moves_address(&old, &changed));
        new.contact = "Ops <ops@example.org>".into();
        let err = mirror_change(&old, new.clone(), &[]).unwrap_err();
        assert!(err.to_string().contains("invalid contact"), "{err}");
        new.contact = " ops@m1.example ".into();
        new.base_url = "https://m1.example".into();
        let changed = mirror_change(&old, new, &[]).unwrap();
        assert_eq!(changed.contact, "ops@m1.example");
        assert!(moves_address(&old, &changed));
    }

    #[test]
    fn regions_are_normalised_and_checked() {
        let all = [
            region("Europe", None, &["DE", "FR"]),
            region("asia", Some("Europe"), &["JP"]),
            region("americas", Some("asia"), &["US"]),
        ];
        let r = region_check(
            region("oceania", Some(" EUROPE "), &["nz", "AU", "au"]),
            &all,
        )
        .unwrap();
        assert_eq!(r.countries, ["AU", "NZ"]);
        assert_eq!(r.fallback.as_deref(), Some("Europe"));
        let r = region_check(region("oceania", Some("  "), &[]), &all).unwrap();
        assert_eq!(r.fallback, None);
        // Its own stored row is not another region.
        assert!(region_check(region("EUROPE", None, &["DE", "FR"]), &all).is_ok());

        let err = region_check(region("x", None, &["fr", "jp"]), &all).unwrap_err();
        assert!(
            err.to_string().contains(
                "FR belongs to region \"Europe\", JP belongs to region \"asia\": remove it there first"
            ),
            "{err}"
        );
        let err = region_check(region("x", None, &["1"]), &all).unwrap_err();
        assert!(err.to_string().contains("invalid country"), "{err}");
        let err = region_check(region("x", Some("X"), &[]), &all).unwrap_err();
        assert!(err.to_string().contains("itself"), "{err}");
        let err = region_check(region("x", Some("nowhere"), &[]), &all).unwrap_err();
        assert!(
            err.to_string().contains("no region named \"nowhere\""),
            "{err}"
        );
        let err = region_check(region("x", Some("two words"), &[]), &all).unwrap_err();
        assert!(err.to_string().contains("invalid fallback region"), "{err}");
    }

    #[test]
    fn fallback_cycles_are_refused() {
        let all = [
            region("Europe", None, &[]),
            region("asia", Some("Europe"), &[]),
            region("americas", Some("asia"), &[]),
        ];
        let err = region_check(region("Europe", Some("asia"), &[]), &all).unwrap_err();
        assert!(err.to_string().contains("Europe → asia → Europe"), "{err}");
        let err = region_check(region("europe", Some("americas"), &[]), &all).unwrap_err();
        assert!(
            err.to_string()
                .contains("(europe → americas → asia → europe)"),
            "{err}"
        );
        // A cycle elsewhere is not this region's doing.
        let looped = [
            region("a", Some("b"), &[]),
            region("b", Some("a"), &[]),
            region("c", None, &[]),
        ];
        let r = region_check(region("c", Some("a"), &[]), &looped).unwrap();
        assert_eq!(r.fallback.as_deref(), Some("a"));
    }

    #[test]
    fn regions_in_use_stay() {
        let europe = region("Europe", None, &[]);
        let regions = [europe.clone(), region("asia", Some("EUROPE"), &[])];
        let mut m1 = fixtures::mirror(1, "http://m1.example", 1);
        m1.regions = strings(&["europe"]);
        let err = region_removable(&europe, &[m1.clone()], &regions).unwrap_err();
        assert!(
            err.to_string().contains("mirror(s) m1 serve it")
                && err.to_string().contains("; region(s) asia fall back"),
            "{err}"
        );
        let err = region_removable(&europe, &[], &regions).unwrap_err();
        assert!(!err.to_string().contains("mirror(s)"), "{err}");
        assert!(region_removable(&europe, &[], std::slice::from_ref(&europe)).is_ok());
        assert!(region_name_free(None).is_ok());
        let err = region_name_free(Some(&europe)).unwrap_err();
        assert!(err.to_string().contains("\"Europe\""), "{err}");
    }

    #[test]
    fn default_regions_take_the_free_countries() {
        let continent = |name, countries: &[&str]| ContinentRegion {
            name,
            countries: strings(countries),
        };
        let continents = [
            continent("europe", &["DE", "FR"]),
            continent("asia", &["CN", "JP"]),
            continent("oceania", &["AU", "NZ"]),
            continent("antarctica", &["AQ"]),
        ];
        let existing = [
            region("Europe", None, &["DE"]),
            region("pacific", None, &["NZ", "AU", "JP"]),
        ];
        let (add, report) = default_regions(&existing, &continents);
        assert_eq!(
            add,
            [
                region("asia", None, &["CN"]),
                region("antarctica", None, &["AQ"])
            ]
        );
        assert_eq!(
            report,
            RegionDefaults {
                added: vec![],
                existing: vec!["europe"],
                full: vec!["oceania"],
                taken: strings(&["AU", "JP", "NZ"]),
            }
        );
    }

    #[test]
    fn only_a_new_users_name_is_checked() {
        assert!(user_name("ann\u{202E}", true).is_ok());
        let err = user_name("bob\u{2067}", false).unwrap_err();
        assert!(err.to_string().contains("bidirectional"), "{err}");
        assert!(user_name("bob", false).is_ok());
    }
}
