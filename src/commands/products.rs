//! `bouncer product …` and `bouncer alias …`: products, their languages,
//! and the other names they answer to.

use super::{ACTOR, languages, table, yes_no};
use crate::cli::{AliasAction, ProductAction};
use crate::error::Result;
use crate::network::Network;
use crate::store::NewProduct;

/// `bouncer product add|list|set|remove`.
pub(super) fn product(net: &Network, action: &ProductAction) -> Result<String> {
    match action {
        ProductAction::Add(a) => {
            let p = net.write(&ACTOR, |tx| {
                tx.product_add(NewProduct {
                    name: a.name.clone(),
                    languages: a.lang.clone(),
                    ssl_only: a.ssl_only,
                    private: a.private,
                })
            })?;
            Ok(format!(
                "added product {} ({}{}{})\n",
                p.name,
                languages(&p.languages),
                if p.ssl_only { ", ssl only" } else { "" },
                if p.public { "" } else { ", private" }
            ))
        }
        ProductAction::List(_) => {
            let s = net.store().snapshot()?;
            let rows = s
                .products
                .iter()
                .map(|p| {
                    let locations = s.locations.iter().filter(|l| l.product == p.id).count();
                    let aliases: Vec<&str> = crate::model::aliases_of(&s.aliases, p.id)
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect();
                    vec![
                        p.name.clone(),
                        languages(&p.languages),
                        yes_no(p.ssl_only),
                        yes_no(p.public),
                        yes_no(p.active),
                        locations.to_string(),
                        aliases.join(","),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NAME",
                    "LANGUAGES",
                    "SSL ONLY",
                    "PUBLIC",
                    "ACTIVE",
                    "LOCATIONS",
                    "ALIASES",
                ],
                rows,
            ))
        }
        ProductAction::Set(a) => {
            let max_lag = a
                .max_lag
                .as_deref()
                .map(crate::model::freshness::parse_max_lag)
                .transpose()
                .map_err(|e| crate::error::Error::invalid("product", e))?;
            let p = net.write(&ACTOR, |tx| {
                tx.product_update(&a.name, |p| {
                    if let Some(v) = a.active {
                        p.active = v;
                    }
                    if let Some(v) = a.public {
                        p.public = v;
                    }
                    if let Some(v) = a.ssl_only {
                        p.ssl_only = v;
                    }
                    if let Some(v) = a.checknow {
                        p.checknow = v;
                    }
                    if let Some(m) = max_lag {
                        p.max_lag_minutes = m;
                    }
                    p.languages.extend(a.add_lang.iter().cloned());
                    p.languages
                        .retain(|l| !a.remove_lang.iter().any(|r| r.eq_ignore_ascii_case(l)));
                })
            })?;
            Ok(format!(
                "product {}: {}, {}, {}{}\n",
                p.name,
                languages(&p.languages),
                if p.active { "active" } else { "inactive" },
                if p.public { "public" } else { "private" },
                if p.ssl_only { ", ssl only" } else { "" }
            ))
        }
        ProductAction::Remove(a) => {
            let removed = net.write(&ACTOR, |tx| tx.product_remove(&a.name))?;
            Ok(if removed.aliases.is_empty() {
                format!(
                    "removed product {} and its locations\n",
                    removed.product.name
                )
            } else {
                format!(
                    "removed product {}, its locations and its alias(es) {}\n",
                    removed.product.name,
                    removed.aliases.join(", ")
                )
            })
        }
    }
}

/// `bouncer alias set|list|remove`.
pub(super) fn alias(net: &Network, action: &AliasAction) -> Result<String> {
    match action {
        AliasAction::Set(a) => {
            net.write(&ACTOR, |tx| tx.alias_set(&a.alias, &a.product))?;
            Ok(format!("{} -> {}\n", a.alias, a.product))
        }
        AliasAction::List(_) => {
            let s = net.store().snapshot()?;
            let rows = s
                .aliases
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        s.product_by_id(a.product)
                            .map(|p| p.name.clone())
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            Ok(table(&["ALIAS", "PRODUCT"], rows))
        }
        AliasAction::Remove(a) => {
            net.write(&ACTOR, |tx| tx.alias_remove(&a.alias))?;
            Ok(format!("removed alias {}\n", a.alias))
        }
    }
}
