//! The twelve endpoints. Each reads its parameters from a [`Form`], checks
//! them in Tuxedo's order with Tuxedo's numbered errors, reads the store
//! or writes through [`crate::network::Network::write`] (committed,
//! audited as `api:NAME`, live in the index at once), and returns the
//! document to send.
//!
//! Checks run against a snapshot first so that refusals cost no write;
//! the store checks again inside the transaction, and its errors map to
//! the same numbers, so a change racing in between is still refused with
//! the right one.

use std::collections::HashMap;

use super::doc::{Doc, LocationDoc, ProductDoc, ProductLocations, UptakeItem};
use super::{Api, Caller, Failure};
use crate::error::Error;
use crate::error::Thing;
use crate::http::form::Form;
use crate::model::{Location, Product, ProductId};
use crate::store::{NewProduct, Snapshot};

/// What an endpoint answers: a document (200) or a failure.
pub type Outcome = Result<Doc, Failure>;

/// An endpoint: its name under `/api/`, whether it writes (POST, release
/// or admin role) or reads (GET, any user), and its code.
pub struct Endpoint {
    /// The name, e.g. `product_show`.
    pub name: &'static str,
    /// Writes: POST only, release or admin role.
    pub writes: bool,
    /// Answers a request that passed the method, authentication and role
    /// checks.
    pub run: fn(&Api, &Caller, &Form) -> Outcome,
}

/// Every endpoint.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "product_show",
        writes: false,
        run: product_show,
    },
    Endpoint {
        name: "product_add",
        writes: true,
        run: product_add,
    },
    Endpoint {
        name: "product_delete",
        writes: true,
        run: product_delete,
    },
    Endpoint {
        name: "product_language_add",
        writes: true,
        run: product_language_add,
    },
    Endpoint {
        name: "product_language_delete",
        writes: true,
        run: product_language_delete,
    },
    Endpoint {
        name: "location_show",
        writes: false,
        run: location_show,
    },
    Endpoint {
        name: "location_add",
        writes: true,
        run: location_add,
    },
    Endpoint {
        name: "location_modify",
        writes: true,
        run: location_modify,
    },
    Endpoint {
        name: "location_delete",
        writes: true,
        run: location_delete,
    },
    Endpoint {
        name: "create_update_alias",
        writes: true,
        run: create_update_alias,
    },
    Endpoint {
        name: "uptake",
        writes: false,
        run: uptake,
    },
    Endpoint {
        name: "mirror_maintenance",
        writes: true,
        run: mirror_maintenance,
    },
    Endpoint {
        name: "mirror_list",
        writes: false,
        run: mirror_list,
    },
];

// ----- products -----

fn product_show(api: &Api, _: &Caller, form: &Form) -> Outcome {
    let s = snapshot(api)?;
    let found = matching(&s, form.opt("product"), flag(form, "fuzzy"));
    Ok(Doc::Products(found.into_iter().map(product_doc).collect()))
}

fn product_add(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let Some(name) = form.opt("product") else {
        return Err(Failure::numbered(103, "Cannot add an empty product name"));
    };
    let languages = languages(form);
    if let Some(bad) = not_locale_codes(&languages, &[]) {
        return Err(Failure::numbered(
            103,
            format!("invalid language code(s): {bad}"),
        ));
    }
    crate::validate::name("product", name).map_err(|e| Failure::numbered(103, e.to_string()))?;
    let s = snapshot(api)?;
    if find_product(&s, name).is_some() {
        return Err(Failure::numbered(104, "product already exists."));
    }
    if s.aliases.iter().any(|a| same_name(&a.name, name)) {
        return Err(Failure::numbered(
            104,
            format!("{name} is an alias; a product may not have an alias's name."),
        ));
    }
    let new = NewProduct {
        name: name.to_string(),
        languages,
        ssl_only: flag(form, "ssl_only"),
        private: false,
    };
    let product = caller
        .write(api, |tx| tx.product_add(new))
        .map_err(|e| match e {
            Error::Exists { .. } => Failure::numbered(104, "product already exists."),
            e => Failure::from_store(e),
        })?;
    Ok(Doc::Products(vec![product_doc(&product)]))
}

fn product_delete(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let not_found = || Failure::numbered(102, "No product found.");
    let s = snapshot(api)?;
    // Tuxedo: the id wins when both are given.
    let product = match (form.opt("product_id"), form.opt("product")) {
        (Some(id), _) => id
            .parse()
            .ok()
            .and_then(|id| s.product_by_id(ProductId(id))),
        (None, Some(name)) => find_product(&s, name),
        (None, None) => {
            return Err(Failure::numbered(
                101,
                "Either product_id or product is required.",
            ));
        }
    }
    .ok_or_else(not_found)?;
    let (id, name) = (product.id, product.name.clone());
    // Its aliases go with it, in the same transaction (as bouncer-admin
    // and Tuxedo delete it).
    let removed = caller
        .write(api, |tx| {
            if tx.product(&name)?.is_none_or(|p| p.id != id) {
                return Err(Error::not_found(Thing::Product, &name));
            }
            tx.product_remove(&name)
        })
        .map_err(|e| match e {
            Error::NotFound { .. } => not_found(),
            e => Failure::from_store(e),
        })?;
    Ok(Doc::Success(if removed.aliases.is_empty() {
        format!("Deleted product: {name}")
    } else {
        format!(
            "Deleted product: {name} and its alias(es) {}",
            removed.aliases.join(", ")
        )
    }))
}

fn product_language_add(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let product = &named_product(api, form)?;
    let languages = languages(form);
    if let Some(bad) = not_locale_codes(&languages, &product.languages) {
        return Err(Failure::numbered(
            103,
            format!("Invalid language code(s): {bad}"),
        ));
    }
    if languages.is_empty() {
        return Ok(Doc::Products(vec![product_doc(product)]));
    }
    let exists = || Failure::numbered(104, "Language(s) already exist(s)");
    if languages.iter().any(|l| has_language(product, l)) {
        return Err(exists());
    }
    let name = product.name.clone();
    let updated = caller
        .write(api, |tx| {
            let current = tx
                .product(&name)?
                .ok_or_else(|| Error::not_found(Thing::Product, &name))?;
            if let Some(l) = languages.iter().find(|l| has_language(&current, l)) {
                return Err(Error::exists(Thing::Language, l));
            }
            tx.product_update(&name, |p| p.languages.extend(languages.iter().cloned()))
        })
        .map_err(|e| match e {
            Error::NotFound { .. } => Failure::numbered(102, "Product not found."),
            Error::Exists { .. } => exists(),
            e => Failure::from_store(e),
        })?;
    Ok(Doc::Products(vec![product_doc(&updated)]))
}

fn product_language_delete(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let product = &named_product(api, form)?;
    let languages = languages(form);
    if languages.is_empty() {
        return Err(Failure::numbered(101, "At least one language is required."));
    }
    let all = languages.iter().any(|l| l == "*");
    if !all && !languages.iter().all(|l| crate::validate::is_lang(l)) {
        return Err(Failure::numbered(103, "Invalid language code(s)"));
    }
    let name = product.name.clone();
    // Languages the product does not have are ignored (Tuxedo); when that
    // leaves nothing to do, nothing is written.
    let changes = if all {
        !product.languages.is_empty()
    } else {
        languages.iter().any(|l| has_language(product, l))
    };
    if changes {
        caller
            .write(api, |tx| {
                tx.product_update(&name, |p| {
                    if all {
                        p.languages.clear();
                    } else {
                        p.languages
                            .retain(|have| !languages.iter().any(|l| l.eq_ignore_ascii_case(have)));
                    }
                })
            })
            .map_err(|e| match e {
                Error::NotFound { .. } => Failure::numbered(102, "Product not found."),
                e => Failure::from_store(e),
            })?;
    }
    Ok(Doc::Success(if all {
        format!("Deleted all languages from product {name}")
    } else {
        format!(
            "Deleted languages {} from product {name}",
            languages.join(", ")
        )
    }))
}

/// The product named by the `product` field (101 when the field is
/// missing, 102 when there is no such product).
fn named_product(api: &Api, form: &Form) -> Result<Product, Failure> {
    let Some(name) = form.opt("product") else {
        return Err(Failure::numbered(101, "Product name is required."));
    };
    let s = snapshot(api)?;
    let product = find_product(&s, name)
        .cloned()
        .ok_or_else(|| Failure::numbered(102, "Product not found."))?;
    Ok(product)
}

/// The `languages` fields: repeated, each may hold comma-separated
/// locales; blanks dropped. A space inside a locale keeps it invalid.
fn languages(form: &Form) -> Vec<String> {
    form.all("languages")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Why `languages` cannot be added to a product that has `have`: the
/// store's words for the first that is no locale code, with an example.
/// `None` when they all may be.
fn not_locale_codes(languages: &[String], have: &[String]) -> Option<String> {
    crate::model::product_languages(have, languages)
        .err()
        .map(|e| match e {
            Error::Invalid { detail, .. } => detail,
            e => e.to_string(),
        })
}

fn has_language(p: &Product, lang: &str) -> bool {
    p.languages.iter().any(|l| l.eq_ignore_ascii_case(lang))
}

// ----- locations -----

fn location_show(api: &Api, _: &Caller, form: &Form) -> Outcome {
    let Some(wanted) = form.opt("product") else {
        return Err(Failure::numbered(
            103,
            "The GET parameter product is required",
        ));
    };
    let s = snapshot(api)?;
    let mut by_product: HashMap<ProductId, Vec<&Location>> = HashMap::new();
    for l in &s.locations {
        by_product.entry(l.product).or_default().push(l);
    }
    let found = matching(&s, Some(wanted), flag(form, "fuzzy"));
    Ok(Doc::Locations(
        found
            .into_iter()
            .map(|p| {
                let mut locations = by_product.remove(&p.id).unwrap_or_default();
                locations.sort_by_key(|l| l.id);
                product_locations(p, locations.into_iter())
            })
            .collect(),
    ))
}

/// The product, os and path of `location_add` and `location_modify`, in
/// bouncer-admin's order of checks: all present (101), the os known
/// (106), the product known (105), the path valid (103).
fn location_fields<'f>(
    api: &Api,
    form: &'f Form,
) -> Result<(std::sync::Arc<Snapshot>, Product, String, &'f str), Failure> {
    let (Some(product), Some(os), Some(path)) =
        (form.opt("product"), form.opt("os"), form.opt("path"))
    else {
        return Err(Failure::numbered(
            101,
            "product, os, and path are required POST parameters.",
        ));
    };
    let s = snapshot(api)?;
    let os_key = os.to_ascii_lowercase();
    if !s.oses.contains(&os_key) {
        return Err(Failure::numbered(
            106,
            format!("FAILED: '{os}' does not exist"),
        ));
    }
    let product = find_product(&s, product)
        .cloned()
        .ok_or_else(|| Failure::numbered(105, format!("FAILED: '{product}' does not exist")))?;
    crate::validate::path(path).map_err(|e| Failure::numbered(103, e.to_string()))?;
    Ok((s, product, os_key, path))
}

/// Maps a store error of a location write to the endpoint's numbers.
fn location_failure(e: Error, product: &str, os: &str) -> Failure {
    match e {
        Error::NotFound {
            what: Thing::Os, ..
        } => Failure::numbered(106, format!("FAILED: '{os}' does not exist")),
        Error::NotFound {
            what: Thing::Product,
            ..
        } => Failure::numbered(105, format!("FAILED: '{product}' does not exist")),
        e => Failure::from_store(e),
    }
}

fn location_add(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let exists = || Failure::numbered(104, "The specified location already exists.");
    let (s, product, os, path) = location_fields(api, form)?;
    if s.locations
        .iter()
        .any(|l| l.product == product.id && l.os == os)
    {
        return Err(exists());
    }
    drop(s);
    let location = caller
        .write(api, |tx| tx.location_add(&product.name, &os, path))
        .map_err(|e| match e {
            Error::Exists { .. } => exists(),
            e => location_failure(e, &product.name, &os),
        })?;
    Ok(Doc::Locations(vec![product_locations(
        &product,
        [&location].into_iter(),
    )]))
}

fn location_modify(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let (s, product, os, path) = location_fields(api, form)?;
    let missing = || {
        Failure::numbered(
            104,
            format!(
                "FAILED: location '{}' on OS '{os}' does not exist",
                product.name
            ),
        )
    };
    let current = s
        .locations
        .iter()
        .find(|l| l.product == product.id && l.os == os)
        .cloned()
        .ok_or_else(missing)?;
    drop(s);
    // Setting the same path again changes nothing: it must not throw away
    // what sentry knows about the file (the product would stop bouncing
    // until the next check).
    let location = if current.path == path.trim() {
        current
    } else {
        caller
            .write(api, |tx| tx.location_set_path(&product.name, &os, path))
            .map_err(|e| match e {
                Error::NotFound {
                    what: Thing::Location,
                    ..
                } => missing(),
                e => location_failure(e, &product.name, &os),
            })?
    };
    Ok(Doc::Locations(vec![product_locations(
        &product,
        [&location].into_iter(),
    )]))
}

fn location_delete(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let not_found = || Failure::numbered(102, "No location found.");
    let Some(id) = form.opt("location_id") else {
        return Err(Failure::numbered(101, "location_id is required."));
    };
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let s = snapshot(api)?;
    let location = s
        .locations
        .iter()
        .find(|l| l.id.0 == id)
        .cloned()
        .ok_or_else(not_found)?;
    let product = s
        .product_by_id(location.product)
        .map(|p| p.name.clone())
        .ok_or_else(not_found)?;
    drop(s);
    caller
        .write(api, |tx| {
            if tx
                .location(&product, &location.os)?
                .is_none_or(|l| l.id != location.id)
            {
                return Err(Error::not_found(Thing::Location, &id.to_string()));
            }
            tx.location_remove(&product, &location.os)
        })
        .map_err(|e| match e {
            Error::NotFound { .. } => not_found(),
            e => Failure::from_store(e),
        })?;
    Ok(Doc::Success(format!("Deleted location: {}", location.path)))
}

// ----- aliases -----

fn create_update_alias(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    // Tuxedo's numbers (its form's constants, which its tests pin; its
    // documentation page lists others). Alias errors come first.
    let Some(alias) = form.opt("alias") else {
        return Err(Failure::numbered(102, "alias name is required."));
    };
    let invalid = |e: Error| {
        Failure::numbered(
            101,
            format!("There was a problem validating the data provided: {e}"),
        )
    };
    crate::validate::name("alias", alias).map_err(invalid)?;
    let clash = || {
        Failure::numbered(
            104,
            "You cannot create an alias with the same name as a product",
        )
    };
    let s = snapshot(api)?;
    if find_product(&s, alias).is_some() {
        return Err(clash());
    }
    let Some(related) = form.opt("related_product") else {
        return Err(Failure::numbered(105, "related_product name is required."));
    };
    let no_target = || {
        Failure::numbered(
            103,
            "You must specify a valid product to match with an alias",
        )
    };
    let target = find_product(&s, related).ok_or_else(no_target)?;
    let unchanged = s
        .aliases
        .iter()
        .any(|a| same_name(&a.name, alias) && a.product == target.id);
    let target = target.name.clone();
    drop(s);
    // Release tooling sets every alias on every release: one that already
    // points there costs no write and no audit entry.
    if !unchanged {
        caller
            .write(api, |tx| tx.alias_set(alias, &target))
            .map_err(|e| match e {
                Error::InUse { .. } => clash(),
                Error::NotFound { .. } => no_target(),
                Error::Invalid { .. } => invalid(e),
                e => Failure::from_store(e),
            })?;
    }
    Ok(Doc::Success(format!("Created/updated alias {alias}")))
}

// ----- network -----

fn uptake(api: &Api, _: &Caller, form: &Form) -> Outcome {
    let (product, os) = (form.opt("product"), form.opt("os"));
    if product.is_none() && os.is_none() {
        return Err(Failure::numbered(
            101,
            "product and/or os are required GET parameters.",
        ));
    }
    let fuzzy = flag(form, "fuzzy");
    let s = snapshot(api)?;
    let products = matching(&s, product, fuzzy);
    if product.is_some() && products.is_empty() {
        return Err(Failure::numbered(102, "No products found"));
    }
    let oses: Vec<&str> = s
        .oses
        .iter()
        .filter(|o| os.is_none_or(|w| name_matches(o, w, fuzzy)))
        .map(String::as_str)
        .collect();
    if os.is_some() && oses.is_empty() {
        return Err(Failure::numbered(102, "No OSes found"));
    }
    let index = api.network.index();
    let total: u64 = (0..index.stats().mirrors as u32)
        .map(|i| index.mirror(i))
        .filter(|m| m.active)
        .map(|m| u64::from(m.rating))
        .sum();
    let live: HashMap<(String, String), u64> = index
        .uptake()
        .iter()
        .map(|u| ((u.product.to_lowercase(), u.os.clone()), u.available))
        .collect();
    let mut located: HashMap<ProductId, Vec<&str>> = HashMap::new();
    for l in &s.locations {
        located.entry(l.product).or_default().push(&l.os);
    }
    let mut items = Vec::new();
    for p in products {
        let key = p.name.to_lowercase();
        for &o in &oses {
            // Only pairs with a location answer, as in Tuxedo (which reads
            // the locations of the products and OSes asked for), with or
            // without fuzzy: a product has no uptake on an OS it is not
            // built for.
            if !located.get(&p.id).is_some_and(|l| l.contains(&o)) {
                continue;
            }
            items.push(UptakeItem {
                product: p.name.clone(),
                os: o.to_string(),
                // Absent from the index: an inactive product, which no
                // mirror serves.
                available: live
                    .get(&(key.clone(), o.to_string()))
                    .copied()
                    .unwrap_or(0),
                total,
            });
        }
    }
    Ok(Doc::Uptake(items))
}

/// `mirror_maintenance` (SPEC §13, not Tuxedo's): `mirror` and `window`
/// (`FROM/DURATION`, e.g. `now/2h`, or `none` to cancel).
fn mirror_maintenance(api: &Api, caller: &Caller, form: &Form) -> Outcome {
    let (Some(name), Some(window)) = (form.opt("mirror"), form.opt("window")) else {
        return Err(Failure::numbered(101, "mirror and window are required."));
    };
    let window = crate::model::maintenance::parse(window, crate::model::now())
        .map_err(|e| Failure::numbered(103, e))?;
    let m = caller
        .write(api, |tx| tx.mirror_update(name, |m| m.maintenance = window))
        .map_err(|e| match e {
            Error::NotFound { .. } => Failure::numbered(102, "No mirror found."),
            e => Failure::from_store(e),
        })?;
    Ok(Doc::Success(match m.maintenance {
        Some(w) => format!(
            "Mirror {} is away for maintenance from {}.",
            m.name,
            w.describe()
        ),
        None => format!("Mirror {} has no maintenance window.", m.name),
    }))
}

fn mirror_list(api: &Api, _: &Caller, _: &Form) -> Outcome {
    let index = api.network.index();
    Ok(Doc::Mirrors(
        (0..index.stats().mirrors as u32)
            .map(|i| index.mirror(i))
            .filter(|m| m.active)
            .map(|m| m.base_url.to_string())
            .collect(),
    ))
}

// ----- shared -----

fn snapshot(api: &Api) -> Result<std::sync::Arc<Snapshot>, Failure> {
    api.network.snapshot().map_err(Failure::from_store)
}

/// A flag such as `fuzzy` or `ssl_only`: `true` in any case (what
/// bouncer-admin and release tooling send), `1`, `yes` or `on`.
fn flag(form: &Form, name: &str) -> bool {
    matches!(
        form.get(name).to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

/// Names compare as the store keys them: case-insensitively.
fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Exact (case-insensitive) or, with `fuzzy`, a case-insensitive
/// substring; `%` and `_` are plain characters.
fn name_matches(name: &str, wanted: &str, fuzzy: bool) -> bool {
    if fuzzy {
        name.to_lowercase().contains(&wanted.to_lowercase())
    } else {
        same_name(name, wanted)
    }
}

fn find_product<'s>(s: &'s Snapshot, name: &str) -> Option<&'s Product> {
    s.products.iter().find(|p| same_name(&p.name, name))
}

/// The products named by `wanted` (all when `None`), sorted by name.
fn matching<'s>(s: &'s Snapshot, wanted: Option<&str>, fuzzy: bool) -> Vec<&'s Product> {
    let mut found: Vec<&Product> = s
        .products
        .iter()
        .filter(|p| wanted.is_none_or(|w| name_matches(&p.name, w, fuzzy)))
        .collect();
    found.sort_by_cached_key(|p| (p.name.to_lowercase(), p.id));
    found
}

fn product_doc(p: &Product) -> ProductDoc {
    let mut languages = p.languages.clone();
    languages.sort_by_cached_key(|l| (l.to_lowercase(), l.clone()));
    ProductDoc {
        id: p.id.0,
        name: p.name.clone(),
        languages,
    }
}

fn product_locations<'l>(
    p: &Product,
    locations: impl Iterator<Item = &'l Location>,
) -> ProductLocations {
    ProductLocations {
        id: p.id.0,
        name: p.name.clone(),
        locations: locations
            .map(|l| LocationDoc {
                id: l.id.0,
                os: l.os.clone(),
                path: l.path.clone(),
            })
            .collect(),
    }
}
