//! `bouncer region …` and `bouncer geoip …`: regions, the countries they
//! cover, and the GeoIP table that tells a client's country.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use super::{ACTOR, table, yes_no};
use crate::cli::{AsnAction, GeoipAction, RegionAction};
use crate::error::{Error, Result};
use crate::geoip::continents::{self, CONTINENTS, Continent};
use crate::geoip::import::Source;
use crate::geoip::{Country, GeoDb};
use crate::model::Region;
use crate::network::Network;

/// How many unusable lines an import lists (the rest are counted).
const SHOWN_PROBLEMS: usize = 20;

pub(super) fn region(net: &Network, action: &RegionAction) -> Result<String> {
    match action {
        RegionAction::Add(a) => {
            let taken = taken_countries(net, None)?;
            let (continental, skipped) = continent_countries(&a.continent, &taken)?;
            let mut countries = a.country.clone();
            countries.extend(continental);
            let r = net.write(&ACTOR, |tx| {
                tx.region_add(Region {
                    name: a.name.clone(),
                    throttle: a.throttle.unwrap_or(100),
                    fallback: a.fallback.clone(),
                    global_fallback: !a.no_global_fallback,
                    countries,
                })
            })?;
            Ok(format!(
                "added region {}{}",
                describe(&r),
                skipped_note(&skipped)
            ))
        }
        RegionAction::List(_) => list(net),
        RegionAction::Set(a) => {
            let taken = taken_countries(net, Some(&a.name))?;
            let (continental, skipped) = continent_countries(&a.continent, &taken)?;
            let r = net.write(&ACTOR, |tx| {
                tx.region_update(&a.name, |r| {
                    if let Some(t) = a.throttle {
                        r.throttle = t;
                    }
                    if a.no_fallback {
                        r.fallback = None;
                    } else if let Some(f) = &a.fallback {
                        r.fallback = Some(f.clone());
                    }
                    if let Some(g) = a.global_fallback {
                        r.global_fallback = g;
                    }
                    if !a.country.is_empty() {
                        r.countries = a.country.clone();
                    }
                    r.countries.extend(a.add_country.iter().cloned());
                    r.countries.extend(continental);
                    r.countries.retain(|c| {
                        !a.remove_country
                            .iter()
                            .any(|x| x.trim().eq_ignore_ascii_case(c.trim()))
                    });
                })
            })?;
            Ok(format!("region {}{}", describe(&r), skipped_note(&skipped)))
        }
        RegionAction::Remove(a) => {
            let r = net.write(&ACTOR, |tx| tx.region_remove(&a.name))?;
            Ok(format!("removed region {}\n", r.name))
        }
        RegionAction::Defaults(_) => defaults(net),
    }
}

/// One line about a region.
fn describe(r: &Region) -> String {
    format!(
        "{}: keeps {}, fallback {}, global fallback {}, {} countr{}\n",
        r.name,
        throttle(r.throttle),
        r.fallback.as_deref().unwrap_or("none"),
        yes_no(r.global_fallback),
        r.countries.len(),
        if r.countries.len() == 1 { "y" } else { "ies" }
    )
}

fn throttle(t: i32) -> String {
    if (0..100).contains(&t) {
        format!("{t}%")
    } else {
        "100%".into()
    }
}

fn skipped_note(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(
            "left out (already in another region): {}\n",
            skipped.join(",")
        )
    }
}

/// Countries of regions other than `except`, upper case.
fn taken_countries(net: &Network, except: Option<&str>) -> Result<Vec<String>> {
    Ok(net
        .store()
        .snapshot()?
        .regions
        .into_iter()
        .filter(|r| except.is_none_or(|e| !r.name.eq_ignore_ascii_case(e.trim())))
        .flat_map(|r| r.countries)
        .collect())
}

/// The countries of the continents named by `codes` that are not `taken`,
/// and those that are.
fn continent_countries(codes: &[String], taken: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let (mut free, mut skipped) = (Vec::new(), Vec::new());
    for code in codes {
        let continent = continents::named(code).ok_or_else(|| {
            Error::invalid(
                "continent",
                format!(
                    "{code:?} is not a continent; use one of {}",
                    CONTINENTS.map(|c| c.code).join(" ")
                ),
            )
        })?;
        let (f, s) = continents::split_taken(continent, taken);
        free.extend(f);
        skipped.extend(s);
    }
    Ok((free, skipped))
}

fn list(net: &Network) -> Result<String> {
    let s = net.store().snapshot()?;
    if s.regions.is_empty() {
        return Ok(
            "no regions: every client gets every mirror (`bouncer region defaults` adds one per continent)\n"
                .into(),
        );
    }
    let rows = s
        .regions
        .iter()
        .map(|r| {
            let mirrors: Vec<&str> = s
                .mirrors
                .iter()
                .filter(|m| m.regions.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
                .map(|m| m.name.as_str())
                .collect();
            vec![
                r.name.clone(),
                throttle(r.throttle),
                r.fallback.clone().unwrap_or_else(|| "-".into()),
                yes_no(r.global_fallback),
                if r.countries.is_empty() {
                    "-".into()
                } else {
                    r.countries.join(",")
                },
                if mirrors.is_empty() {
                    "-".into()
                } else {
                    mirrors.join(",")
                },
            ]
        })
        .collect();
    Ok(table(
        &[
            "NAME",
            "KEEPS",
            "FALLBACK",
            "GLOBAL",
            "COUNTRIES",
            "MIRRORS",
        ],
        rows,
    ))
}

/// One region per continent with its countries not yet in a region.
fn defaults(net: &Network) -> Result<String> {
    let d = net.write(&ACTOR, |tx| {
        tx.region_defaults(&crate::geoip::continents::regions())
    })?;
    let mut out = String::new();
    for name in &d.existing {
        let _ = writeln!(out, "{name}: exists, left as it is");
    }
    for name in &d.full {
        let _ = writeln!(
            out,
            "{name}: every country is already in a region, not added"
        );
    }
    for (name, n) in &d.added {
        let _ = writeln!(
            out,
            "added region {name}: {n} countr{}",
            if *n == 1 { "y" } else { "ies" }
        );
    }
    out.push_str(&skipped_note(&d.taken));
    if !d.added.is_empty() {
        out.push_str(
            "mirrors serve a region once assigned: `bouncer mirror set NAME --region REGION`\n",
        );
    }
    Ok(out)
}

pub(super) fn geoip(net: &Network, action: &GeoipAction, input: Option<&[u8]>) -> Result<String> {
    match action {
        GeoipAction::Import(_) => import(net, input.unwrap_or_default()),
        GeoipAction::Status(_) => status(net),
        GeoipAction::Lookup(a) => lookup(net, &a.ip),
        GeoipAction::Clear(_) => {
            let file = net.replace_geoip(&ACTOR, None)?;
            Ok(match file {
                Some(f) => format!(
                    "removed the imported GeoIP table; this server still reads {}\n",
                    f.display()
                ),
                None => "removed the GeoIP table: every client counts as unknown\n".into(),
            })
        }
    }
}

fn import(net: &Network, bundle: &[u8]) -> Result<String> {
    let sources = unbundle(bundle)?;
    let imported = crate::geoip::import::import(&sources)?;
    let (v4, v6) = imported.db.len();
    let mut out = format!(
        "{} line(s) read from {}: {v4} IPv4 and {v6} IPv6 ranges\n",
        imported.lines, imported.db.source
    );
    if !imported.problems.is_empty() {
        let _ = writeln!(
            out,
            "{} line(s) could not be used:",
            imported.problems.len()
        );
        for p in imported.problems.iter().take(SHOWN_PROBLEMS) {
            let _ = writeln!(out, "  {}:{}: {}", p.file, p.line, p.reason);
        }
        if imported.problems.len() > SHOWN_PROBLEMS {
            let _ = writeln!(
                out,
                "  … and {} more",
                imported.problems.len() - SHOWN_PROBLEMS
            );
        }
    }
    match net.replace_geoip(&ACTOR, Some(imported.db))? {
        Some(file) => {
            let _ = writeln!(
                out,
                "stored; this server reads {} (--geoip) and uses the import once started without it",
                file.display()
            );
        }
        None => out.push_str("stored and in use\n"),
    }
    Ok(out)
}

/// The GeoIP data in use (the server's) or stored (no server running).
fn current(net: &Network) -> Result<std::sync::Arc<GeoDb>> {
    if net.is_live() {
        Ok(net.index().geo().clone())
    } else {
        Ok(std::sync::Arc::new(
            net.store().geoip()?.unwrap_or_default(),
        ))
    }
}

fn status(net: &Network) -> Result<String> {
    let geo = current(net)?;
    if geo.is_empty() {
        return Ok(
            "no GeoIP data: every client counts as unknown and gets the world's mirrors \
             (`bouncer geoip import FILE…` or `serve --geoip FILE.mmdb`)\n"
                .into(),
        );
    }
    let (v4, v6) = geo.len();
    let how = match net.geoip_file() {
        Some(f) => format!("read from {} at start-up", f.display()),
        None => format!("imported {}", crate::model::utc(geo.loaded)),
    };
    Ok(format!(
        "{v4} IPv4 and {v6} IPv6 ranges from {} ({how})\n",
        geo.source
    ))
}

fn lookup(net: &Network, ip: &str) -> Result<String> {
    let addr: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| Error::invalid("address", format!("{ip:?} is not an IPv4 or IPv6 address")))?;
    let addr = crate::client::unmap(addr);
    let geo = current(net)?;
    if geo.is_empty() {
        return Ok(format!(
            "{addr}: unknown country (no GeoIP data; `bouncer geoip import FILE…`): the world's mirrors\n"
        ));
    }
    let Some(country) = geo.lookup(addr) else {
        return Ok(format!(
            "{addr}: in no range of the GeoIP data: unknown country, the world's mirrors\n"
        ));
    };
    let s = net.store().snapshot()?;
    let Some(region) = s
        .regions
        .iter()
        .find(|r| r.countries.iter().any(|c| c == country.as_str()))
    else {
        return Ok(format!(
            "{addr}: {}{}, in no region: the world's mirrors\n",
            country.as_str(),
            continent_note(country)
        ));
    };
    let members = |name: &str| -> Vec<&str> {
        s.mirrors
            .iter()
            .filter(|m| m.active && m.regions.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|m| m.name.as_str())
            .collect()
    };
    let mine = members(&region.name);
    let mut out = format!(
        "{addr}: {}{}, region {}",
        country.as_str(),
        continent_note(country),
        describe(region)
    );
    let _ = writeln!(
        out,
        "  its active mirrors: {}",
        if mine.is_empty() {
            "none".into()
        } else {
            mine.join(", ")
        }
    );
    if let Some(f) = &region.fallback {
        let theirs = members(f);
        let _ = writeln!(
            out,
            "  fallback {f}: {}",
            if theirs.is_empty() {
                "none".into()
            } else {
                theirs.join(", ")
            }
        );
    }
    Ok(out)
}

/// `bouncer asn import|status|lookup|clear`.
pub(super) fn asn(net: &Network, action: &AsnAction, input: Option<&[u8]>) -> Result<String> {
    match action {
        AsnAction::Import(_) => {
            let sources = unbundle(input.unwrap_or_default())?;
            let imported = crate::geoip::asn::import(&sources)?;
            let (v4, v6) = imported.db.len();
            let mut out = format!(
                "{} line(s) read from {}: {v4} IPv4 and {v6} IPv6 ranges\n",
                imported.lines, imported.db.source
            );
            if imported.overlaps > 0 {
                let _ = writeln!(
                    out,
                    "{} range(s) left out: they overlap one read before",
                    imported.overlaps
                );
            }
            if !imported.problems.is_empty() {
                let _ = writeln!(
                    out,
                    "{} line(s) could not be used:",
                    imported.problems.len()
                );
                for (file, line, why) in imported.problems.iter().take(SHOWN_PROBLEMS) {
                    let _ = writeln!(out, "  {file}:{line}: {why}");
                }
                if imported.problems.len() > SHOWN_PROBLEMS {
                    let _ = writeln!(
                        out,
                        "  … and {} more",
                        imported.problems.len() - SHOWN_PROBLEMS
                    );
                }
            }
            net.replace_asn(&ACTOR, Some(imported.db))?;
            out.push_str("stored and in use\n");
            Ok(out)
        }
        AsnAction::Status(_) => {
            let db = net.asn()?;
            let claimed = net.fresh_index()?.regions().network_ranges();
            if db.is_empty() {
                return Ok(format!(
                    "no ASN table: mirrors' AS numbers match no client (`bouncer asn import FILE…`); {claimed} claimed network range(s) from CIDR prefixes\n"
                ));
            }
            let (v4, v6) = db.len();
            Ok(format!(
                "{v4} IPv4 and {v6} IPv6 ranges from {} (imported {}); mirrors claim {claimed} range(s) of client addresses\n",
                db.source,
                crate::model::utc(db.loaded)
            ))
        }
        AsnAction::Lookup(a) => {
            let addr: IpAddr = a.ip.trim().parse().map_err(|_| {
                Error::invalid(
                    "address",
                    format!("{:?} is not an IPv4 or IPv6 address", a.ip),
                )
            })?;
            let addr = crate::client::unmap(addr);
            let db = net.asn()?;
            let asn = db.lookup(addr);
            // What redirects use: the index's claimed networks.
            let index = net.fresh_index()?;
            let first: Vec<&str> = index
                .regions()
                .group_of(addr)
                .map(|g| index.regions().group(g))
                .unwrap_or_default()
                .iter()
                .map(|&m| &*index.mirror(m).name)
                .collect();
            let asn = match (asn, db.is_empty()) {
                (Some(n), _) => format!("AS{n}"),
                (None, true) => "no AS number (no ASN table; `bouncer asn import FILE…`)".into(),
                (None, false) => "in no range of the ASN table".into(),
            };
            Ok(format!(
                "{addr}: {asn}; served first by: {}\n",
                if first.is_empty() {
                    "no mirror (its region's mirrors serve it)".to_string()
                } else {
                    first.join(", ")
                }
            ))
        }
        AsnAction::Clear(_) => {
            net.replace_asn(&ACTOR, None)?;
            Ok("removed the ASN table: mirrors' AS numbers match no client; their CIDR prefixes still do\n".into())
        }
    }
}

fn continent_note(country: Country) -> String {
    continents::of(country)
        .map(|c: Continent| format!(" (continent {})", c.code))
        .unwrap_or_default()
}

/// Reads `paths` (directories: the `.csv` files in them) into one input
/// for [`unbundle`]: per file its name and bytes, length-prefixed.
pub fn bundle(paths: &[String]) -> Result<Vec<u8>> {
    if paths.is_empty() {
        return Err(Error::invalid(
            "files",
            "name at least one CSV file (or a directory of them)".into(),
        ));
    }
    let mut files = Vec::new();
    for p in paths {
        let path = Path::new(p);
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::io(format!("cannot read the directory {p}"), e))?;
            let mut found: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::invalid(
                    "files",
                    format!("the directory {p} holds no .csv file"),
                ));
            }
            files.extend(found);
        } else {
            files.push(path.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for f in files {
        let bytes =
            std::fs::read(&f).map_err(|e| Error::io(format!("cannot read {}", f.display()), e))?;
        let name = f.display().to_string();
        out.extend_from_slice(&(name.len() as u64).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// The files of a [`bundle`].
fn unbundle(mut bytes: &[u8]) -> Result<Vec<Source>> {
    let broken = || Error::invalid("import", "the files arrived incomplete; try again".into());
    let take = |n: usize, bytes: &mut &[u8]| -> Result<Vec<u8>> {
        if bytes.len() < n {
            return Err(broken());
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head.to_vec())
    };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let field = |bytes: &mut &[u8]| -> Result<Vec<u8>> {
            let len = take(8, bytes)?;
            let len = u64::from_le_bytes(len.try_into().map_err(|_| broken())?);
            take(usize::try_from(len).map_err(|_| broken())?, bytes)
        };
        let name = String::from_utf8_lossy(&field(&mut bytes)?).into_owned();
        let contents = field(&mut bytes)?;
        out.push(Source {
            name,
            bytes: contents,
        });
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "files",
            "name at least one CSV file (or a directory of them)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_carry_every_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("maxmind");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("b.csv"), "two").unwrap();
        std::fs::write(sub.join("a.CSV"), "one").unwrap();
        std::fs::write(sub.join("README.txt"), "not me").unwrap();
        let plain = dir.path().join("plain.csv");
        std::fs::write(&plain, "").unwrap();
        let paths = [sub.display().to_string(), plain.display().to_string()];
        let files = unbundle(&bundle(&paths).unwrap()).unwrap();
        let got: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|f| {
                let name = Path::new(&f.name)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (name, f.bytes)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.CSV".into(), b"one".to_vec()),
                ("b.csv".into(), b"two".to_vec()),
                ("plain.csv".into(), vec![]),
            ]
        );
    }

    #[test]
    fn bad_bundles_and_paths_are_explained() {
        let err = bundle(&[]).unwrap_err().to_string();
        assert!(err.contains("at least one"), "{err}");
        let err = bundle(&["/nonexistent/x.csv".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/x.csv"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = bundle(&[empty.path().display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no .csv file"), "{err}");
        let whole = bundle(&[{
            let f = empty.path().join("x.csv");
            std::fs::write(&f, "1.0.0.0,1.0.0.255,AU\n").unwrap();
            f.display().to_string()
        }])
        .unwrap();
        for cut in [1, 8, 12, whole.len() - 1] {
            let err = unbundle(&whole[..cut]).err().expect("cut").to_string();
            assert!(err.contains("incomplete"), "{err}");
        }
    }
}
