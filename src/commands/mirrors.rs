//! `bouncer mirror …`: the mirrors, their health and how many locations
//! each serves.

use std::collections::HashMap;

use super::{ACTOR, table, yes_no};
use crate::cli::MirrorAction;
use crate::error::Error;
use crate::error::Result;
use crate::model::audience::{parse_countries, parse_networks, parse_share};
use crate::model::{Audience, Families, MirrorId, Reach};
use crate::network::Network;
use crate::store::NewMirror;

/// `bouncer mirror add|list|set|remove`.
pub(super) fn mirror(net: &Network, action: &MirrorAction) -> Result<String> {
    match action {
        MirrorAction::Add(a) => {
            let m = net.write(&ACTOR, |tx| {
                tx.mirror_add(NewMirror {
                    name: a.name.clone(),
                    base_url: a.base_url.clone(),
                    rating: a.rating,
                    regions: a.region.clone(),
                    contact: a.contact.clone().unwrap_or_default(),
                    inactive: a.inactive,
                    families: a.families,
                    audience: {
                        let mut audience = Default::default();
                        change_audience(
                            &mut audience,
                            [
                                &a.only_countries,
                                &a.never_countries,
                                &a.networks,
                                &a.max_share,
                            ],
                        )?;
                        audience
                    },
                    alt_url: a.alt_url.clone(),
                    trace: a.trace.clone(),
                    kind: a.kind.unwrap_or_default(),
                })
            })?;
            Ok(format!(
                "added mirror {} ({}, rating {}{}{}); it gets traffic once its files are found present\n",
                m.name,
                m.base_url,
                m.rating,
                if m.active { "" } else { ", inactive" },
                match m.families {
                    Families::Both => String::new(),
                    only => format!(", {} clients only", only.as_str()),
                }
            ))
        }
        MirrorAction::List(_) => {
            let (s, serving) = net.store().read_network(
                |s, _| (s, HashMap::<MirrorId, usize>::new()),
                |(_, counts), _, m| *counts.entry(m).or_default() += 1,
            )?;
            let rows = s
                .mirrors
                .iter()
                .map(|m| {
                    let health = match s.health.get(&m.id) {
                        None => "unchecked".to_string(),
                        Some(h) if h.healthy => "up".to_string(),
                        Some(h) => format!("down: {}", h.error),
                    };
                    vec![
                        m.name.clone(),
                        m.base_url.clone(),
                        m.rating.to_string(),
                        yes_no(m.active),
                        health,
                        serving.get(&m.id).copied().unwrap_or(0).to_string(),
                        m.regions.join(","),
                        m.families.as_str().to_string(),
                        s.health
                            .get(&m.id)
                            .map(|h| {
                                let mut r = h.reaches.describe();
                                if let (Some(alt), Reach::Up | Reach::Down) = (&m.alt_url, h.alt) {
                                    let scheme = alt.split("://").next().unwrap_or("");
                                    let state = if h.alt == Reach::Up { "up" } else { "down" };
                                    if !r.is_empty() {
                                        r.push_str(", ");
                                    }
                                    r.push_str(&format!("{scheme} root {state}"));
                                }
                                r
                            })
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "-".into()),
                        m.audience.describe(),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NAME", "BASE URL", "RATING", "ACTIVE", "HEALTH", "SERVES", "REGIONS",
                    "FAMILIES", "REACH", "AUDIENCE",
                ],
                rows,
            ))
        }
        MirrorAction::Set(a) => {
            let options = [
                &a.only_countries,
                &a.never_countries,
                &a.networks,
                &a.max_share,
            ];
            // Checked before the write, so a typo changes nothing.
            change_audience(&mut Audience::default(), options)?;
            let window = a
                .maintenance
                .as_deref()
                .map(|w| crate::model::maintenance::parse(w, crate::model::now()))
                .transpose()
                .map_err(|e| Error::invalid("mirror", e))?;
            let m = net.write(&ACTOR, |tx| {
                tx.mirror_update(&a.name, |m| {
                    // Checked above: cannot fail.
                    let _ = change_audience(&mut m.audience, options);
                    if let Some(r) = a.rating {
                        m.rating = r;
                    }
                    if let Some(active) = a.active {
                        m.active = active;
                    }
                    if let Some(url) = &a.base_url {
                        m.base_url = url.clone();
                    }
                    if let Some(f) = a.families {
                        m.families = f;
                    }
                    if let Some(u) = &a.alt_url {
                        m.alt_url = Some(u.clone());
                    }
                    if let Some(t) = &a.trace {
                        m.trace = Some(t.clone());
                    }
                    if let Some(k) = a.kind {
                        m.kind = k;
                    }
                    if let Some(w) = window {
                        m.maintenance = w;
                    }
                    if let Some(c) = &a.contact {
                        m.contact = c.clone();
                    }
                    if a.no_regions {
                        m.regions.clear();
                    } else if !a.region.is_empty() {
                        m.regions = a.region.clone();
                    }
                })
            })?;
            Ok(format!(
                "mirror {}: {} rating {} {}{}\n",
                m.name,
                m.base_url,
                m.rating,
                if m.active { "active" } else { "inactive" },
                m.maintenance
                    .map(|w| format!(", away for maintenance {}", w.describe()))
                    .unwrap_or_default()
            ))
        }
        MirrorAction::MaintenanceLink(a) => maintenance_link(net, a),
        MirrorAction::Remove(a) => {
            let m = net.write(&ACTOR, |tx| tx.mirror_remove(&a.name))?;
            Ok(format!("removed mirror {}\n", m.name))
        }
    }
}

/// Applies `mirror add|set`'s `--only-countries`, `--never-countries`,
/// `--networks` and `--max-share` (those given) to `audience`.
fn change_audience(audience: &mut Audience, options: [&Option<String>; 4]) -> Result<()> {
    let [only, never, networks, share] = options;
    let invalid =
        |e: crate::model::audience::AudienceError| Error::invalid("mirror", e.to_string());
    if let Some(list) = only {
        audience.only = parse_countries(list).map_err(invalid)?;
    }
    if let Some(list) = never {
        audience.never = parse_countries(list).map_err(invalid)?;
    }
    if let Some(list) = networks {
        audience.networks = parse_networks(list).map_err(invalid)?;
    }
    if let Some(share) = share {
        audience.max_share = parse_share(share).map_err(invalid)?;
    }
    Ok(())
}

/// `bouncer mirror maintenance-link NAME --site URL [--mail]`: the link
/// (made with the network's secret, created on first use) on which the
/// mirror's admins announce maintenance windows.
fn maintenance_link(net: &Network, a: &crate::cli::MirrorMaintenanceLink) -> Result<String> {
    use crate::model::maintenance::{SECRET, token};
    let site = crate::validate::base_url(&a.site)?;
    let m = net
        .store()
        .snapshot()?
        .mirror(&a.name)
        .cloned()
        .ok_or_else(|| Error::not_found(crate::error::Thing::Mirror, &a.name))?;
    let secret = net.write(&ACTOR, |tx| {
        let settings = tx.settings()?;
        match settings.get(SECRET) {
            Some(s) => Ok(s.clone()),
            None => {
                let s = crate::auth::random_token();
                tx.setting_put(SECRET, Some(&s))?;
                Ok(s)
            }
        }
    })?;
    let link = format!(
        "{site}/admin/maintenance/{}/{}",
        m.id,
        token(&secret, m.id, &m.base_url)
    );
    if !a.mail {
        return Ok(format!("{link}\n"));
    }
    if m.contact.is_empty() {
        return Err(Error::invalid(
            "mirror",
            format!(
                "{} has no contact to mail: `bouncer mirror set {} --contact ADDRESS`",
                m.name, m.name
            ),
        ));
    }
    let mail = crate::mail::MailConfig::from_settings(&net.store().settings()?)?.ok_or_else(|| {
        Error::invalid(
            "mail",
            "not set up: `bouncer mail set --host SMTP-HOST --from ADDRESS --to YOU@EXAMPLE.ORG`".into(),
        )
    })?;
    mail.send(
        std::slice::from_ref(&m.contact),
        &format!("[bouncer] maintenance windows for mirror {}", m.name),
        &format!(
            "Hello,\n\nwhen mirror {} ({}) will be away for maintenance, announce it here:\n\n  {link}\n\nFor the window's time it gets no downloads and is not checked, so nobody is mailed about it; after it, it gets downloads again once a check passes. The link needs no account; keep it to yourselves. It stops working if the mirror's address changes.\n",
            m.name, m.base_url
        ),
    )?;
    Ok(format!("mailed to {}: {link}\n", m.contact))
}
