//! `bouncer stats` and `bouncer uptake`: downloads counted over the last
//! days, and how far each location has spread over the mirrors.

use super::table;
use crate::cli::{Stats, UptakeArgs};
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::now;
use crate::network::Network;

/// `bouncer stats [--days N]`: downloads by product, mirror and country.
pub(super) fn stats(net: &Network, args: &Stats) -> Result<String> {
    let to = crate::model::day_of(now());
    let from = to.saturating_sub(args.days.max(1) - 1);
    let s = net.store().snapshot()?;
    let counts = net.store().counts(from, to)?;
    let named = |v: Vec<(String, u64)>| {
        let mut v = v;
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter()
            .map(|(n, c)| vec![n, c.to_string()])
            .collect::<Vec<_>>()
    };
    let products = counts
        .by_product
        .iter()
        .map(|(id, n)| {
            let name = s
                .product_by_id(*id)
                .map_or_else(|| format!("#{id} (removed)"), |p| p.name.clone());
            (name, *n)
        })
        .collect();
    let mirrors = counts
        .by_mirror
        .iter()
        .map(|(id, n)| {
            let name = s
                .mirrors
                .iter()
                .find(|m| m.id == *id)
                .map_or_else(|| format!("#{id} (removed)"), |m| m.name.clone());
            (name, *n)
        })
        .collect();
    let countries = counts
        .by_country
        .iter()
        .map(|(c, n)| (c.clone(), *n))
        .collect();
    let total: u64 = counts.by_product.values().sum();
    Ok(format!(
        "downloads over {} day(s): {total}\n\n{}\n{}\n{}",
        args.days.max(1),
        table(&["PRODUCT", "DOWNLOADS"], named(products)),
        table(&["MIRROR", "DOWNLOADS"], named(mirrors)),
        table(&["COUNTRY", "DOWNLOADS"], named(countries))
    ))
}

/// `bouncer uptake [--product P]`: per location, the mirrors that have it.
pub(super) fn uptake(net: &Network, args: &UptakeArgs) -> Result<String> {
    let fresh;
    let live = net.index();
    let index = if net.is_live() {
        &**live
    } else {
        fresh = net.fresh_index()?;
        &fresh
    };
    let only = match &args.product {
        Some(p) => Some(
            index
                .product_named(p)
                .ok_or_else(|| Error::not_found(Thing::Product, p))?
                .name
                .to_string(),
        ),
        None => None,
    };
    let rows = index
        .uptake()
        .iter()
        .filter(|u| only.as_ref().is_none_or(|p| *p == u.product))
        .map(|u| {
            vec![
                u.product.clone(),
                u.os.clone(),
                u.available.to_string(),
                u.total.to_string(),
                format!("{:.0}%", u.percent()),
            ]
        })
        .collect();
    Ok(table(
        &["PRODUCT", "OS", "AVAILABLE", "TOTAL", "UPTAKE"],
        rows,
    ))
}
