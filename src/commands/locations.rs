//! `bouncer location …` and `bouncer os …`: where a product's files lie
//! for each operating system, and the operating systems themselves.

use std::collections::HashMap;

use super::{ACTOR, table};
use crate::cli::{LocationAction, OsAction};
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::network::Network;

/// `bouncer location add|list|set|remove`.
pub(super) fn location(net: &Network, action: &LocationAction) -> Result<String> {
    match action {
        LocationAction::Add(a) => {
            let l = net.write(&ACTOR, |tx| tx.location_add(&a.product, &a.os, &a.path))?;
            Ok(format!(
                "added location {} {} {}\n",
                a.product, l.os, l.path
            ))
        }
        LocationAction::List(a) => {
            let (s, serving) = net.store().read_network(
                |s, _| (s, HashMap::new()),
                |(_, counts): &mut (_, HashMap<_, usize>), loc, _| {
                    *counts.entry(loc).or_default() += 1
                },
            )?;
            let only = match &a.product {
                Some(name) => Some(
                    s.product(name)
                        .ok_or_else(|| Error::not_found(Thing::Product, name))?
                        .id,
                ),
                None => None,
            };
            let rows = s
                .locations
                .iter()
                .filter(|l| only.is_none_or(|p| l.product == p))
                .map(|l| {
                    vec![
                        s.product_by_id(l.product)
                            .map(|p| p.name.clone())
                            .unwrap_or_default(),
                        l.os.clone(),
                        l.path.clone(),
                        serving.get(&l.id).copied().unwrap_or(0).to_string(),
                    ]
                })
                .collect();
            Ok(table(&["PRODUCT", "OS", "PATH", "MIRRORS"], rows))
        }
        LocationAction::Set(a) => {
            let l = net.write(&ACTOR, |tx| {
                tx.location_set_path(&a.product, &a.os, &a.path)
            })?;
            Ok(format!(
                "location {} {} is now {}\n",
                a.product, l.os, l.path
            ))
        }
        LocationAction::Remove(a) => {
            let l = net.write(&ACTOR, |tx| tx.location_remove(&a.product, &a.os))?;
            Ok(format!(
                "removed location {} {} {}\n",
                a.product, l.os, l.path
            ))
        }
    }
}

/// `bouncer os add|list|remove`.
pub(super) fn os(net: &Network, action: &OsAction) -> Result<String> {
    match action {
        OsAction::Add(a) => {
            let os = net.write(&ACTOR, |tx| tx.os_add(&a.name))?;
            Ok(format!("added operating system {os}\n"))
        }
        OsAction::List(_) => {
            let mut out = String::new();
            for os in net.store().snapshot()?.oses {
                out.push_str(&os);
                out.push('\n');
            }
            Ok(out)
        }
        OsAction::Remove(a) => {
            net.write(&ACTOR, |tx| tx.os_remove(&a.name))?;
            Ok(format!(
                "removed operating system {}\n",
                a.name.to_ascii_lowercase()
            ))
        }
    }
}
