//! `bouncer status …`: which mirror has which location's file, as sentry
//! found it or as set by hand.

use super::{ACTOR, table, yes_no};
use crate::cli::StatusAction;
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::Availability;
use crate::network::Network;

/// A check time as people read it: UTC, and how long ago ("never" for
/// none).
fn when(unix: u64, now: u64) -> String {
    if unix == 0 {
        return "never".into();
    }
    let d = now.saturating_sub(unix);
    let ago = match d {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", d / 60),
        3600..172_800 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    };
    format!("{} ({ago})", crate::model::utc(unix))
}

/// `bouncer status list|set`.
pub(super) fn status(net: &Network, action: &StatusAction) -> Result<String> {
    match action {
        StatusAction::List(a) => {
            let s = net.store().snapshot()?;
            let product = match &a.product {
                Some(p) => Some(
                    s.product(p)
                        .ok_or_else(|| Error::not_found(Thing::Product, p))?
                        .id,
                ),
                None => None,
            };
            let mirror = match &a.mirror {
                Some(m) => Some(
                    s.mirror(m)
                        .ok_or_else(|| Error::not_found(Thing::Mirror, m))?
                        .id,
                ),
                None => None,
            };
            let now = crate::model::now();
            let mut rows = Vec::new();
            for l in s
                .locations
                .iter()
                .filter(|l| product.is_none_or(|p| l.product == p))
            {
                let pname = s
                    .product_by_id(l.product)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                for (m, av) in net.store().availability_of(l.id)? {
                    if mirror.is_some_and(|x| x != m) {
                        continue;
                    }
                    let mname = s
                        .mirrors
                        .iter()
                        .find(|x| x.id == m)
                        .map(|x| x.name.clone())
                        .unwrap_or_default();
                    rows.push(vec![
                        pname.clone(),
                        l.os.clone(),
                        mname,
                        if av.present { "present" } else { "missing" }.to_string(),
                        yes_no(av.healthy),
                        when(av.checked_at, now),
                        av.error,
                    ]);
                }
            }
            Ok(table(
                &[
                    "PRODUCT", "OS", "MIRROR", "FILE", "HEALTHY", "CHECKED", "ERROR",
                ],
                rows,
            ))
        }
        StatusAction::Set(a) => {
            let present = match a.state.as_str() {
                "present" => true,
                "missing" => false,
                other => {
                    return Err(Error::invalid(
                        "state",
                        format!("{other:?}: use present or missing"),
                    ));
                }
            };
            let n = net.write(&ACTOR, |tx| {
                let mirror = tx
                    .mirror(&a.mirror)?
                    .ok_or_else(|| Error::not_found(Thing::Mirror, &a.mirror))?;
                let product = match &a.product {
                    Some(p) => Some(
                        tx.product(p)?
                            .ok_or_else(|| Error::not_found(Thing::Product, p))?
                            .id,
                    ),
                    None => None,
                };
                let os = a.os.as_ref().map(|o| o.trim().to_ascii_lowercase());
                let mut n = 0;
                for l in tx.locations()? {
                    if product.is_some_and(|p| p != l.product)
                        || os.as_ref().is_some_and(|o| *o != l.os)
                    {
                        continue;
                    }
                    let av = Availability {
                        present,
                        healthy: true,
                        checked_at: tx.now(),
                        error: if present {
                            String::new()
                        } else {
                            "marked missing by hand".into()
                        },
                    };
                    tx.set_availability(l.id, mirror.id, &av)?;
                    n += 1;
                }
                tx.record(
                    "status.set",
                    format!("{} {} for {n} location(s)", mirror.name, a.state),
                )?;
                Ok(n)
            })?;
            Ok(format!("{}: {} at {n} location(s)\n", a.mirror, a.state))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_times_are_readable() {
        assert_eq!(super::when(0, 100), "never");
        assert_eq!(
            super::when(1_795_634_112, 1_795_634_112 + 300),
            "2026-11-25 19:15:12 UTC (5 min ago)"
        );
        assert!(super::when(100, 100 + 3 * 86_400).ends_with("(3 days ago)"));
    }
}
