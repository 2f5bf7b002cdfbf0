//! The CLI's management commands. Each runs against an open [`Network`]
//! and returns its output instead of printing it, so the same code answers
//! locally and through the control socket, with identical output.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod data;
mod geo;

pub use geo::bundle;

use crate::cli::*;
use crate::error::{Error, Result};
use crate::model::{Availability, MirrorId, Role, User, now};
use crate::network::Network;
use crate::sentry::{Mode, Sentry, SentryConfig};
use crate::store::{NewMirror, NewProduct};

/// What commands run against.
pub struct Context {
    /// The network (the server's own when run through the control socket).
    pub network: Arc<Network>,
    /// The database file.
    pub db: PathBuf,
    /// The server's checker, when running inside `bouncer serve`.
    pub sentry: Option<Arc<Sentry>>,
}

/// Where sentry reports go by default: `reports/` beside the database.
pub fn default_reports_dir(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("reports")
}

/// What a command printed and how it ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code: 0 ok, 1 failure, 2 usage.
    pub code: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// A success printing `stdout`.
    pub fn ok(stdout: String) -> Outcome {
        Outcome {
            code: 0,
            stdout,
            stderr: String::new(),
        }
    }

    /// A failure explained on stderr.
    pub fn fail(e: &Error) -> Outcome {
        Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: {e}\n"),
        }
    }
}

/// What a command reads on the client's side and sends along: the server
/// cannot prompt on the user's terminal or read the user's files.
pub enum Input<'a> {
    /// A password (prompted on a terminal, else read from stdin).
    Password,
    /// The contents of a file.
    File(&'a str),
    /// Several files (directories: the `.csv` files in them), bundled by
    /// [`bundle`].
    Files(&'a [String]),
}

/// What `command` needs as input, if anything.
pub fn input_for(command: &Command) -> Option<Input<'_>> {
    match command {
        Command::User(UserCmd {
            action: UserAction::Add(_) | UserAction::Passwd(_),
        }) => Some(Input::Password),
        Command::Load(l) => Some(Input::File(&l.file)),
        Command::Import(i) => Some(Input::File(&i.file)),
        Command::Geoip(GeoipCmd {
            action: GeoipAction::Import(i),
        }) => Some(Input::Files(&i.files)),
        _ => None,
    }
}

/// Whether `command` may create its database file when there is none:
/// only commands that put something into it. The others (lists, stats,
/// export, backup, sentry, a load's dry run, …) would only make an empty
/// database and report on it, so they refuse a missing file instead
/// ([`Error::NoDatabase`]). Exhaustive: a new command or action must
/// choose.
pub fn creates_database(command: &Command) -> bool {
    match command {
        Command::Serve(_) | Command::Demo(_) | Command::Import(_) => true,
        Command::Load(l) => !l.dry_run,
        Command::User(c) => match c.action {
            UserAction::Add(_) | UserAction::Passwd(_) | UserAction::Remove(_) => true,
            UserAction::List(_) => false,
        },
        Command::Mirror(c) => match c.action {
            MirrorAction::Add(_) | MirrorAction::Set(_) | MirrorAction::Remove(_) => true,
            MirrorAction::List(_) => false,
        },
        Command::Product(c) => match c.action {
            ProductAction::Add(_) | ProductAction::Set(_) | ProductAction::Remove(_) => true,
            ProductAction::List(_) => false,
        },
        Command::Location(c) => match c.action {
            LocationAction::Add(_) | LocationAction::Set(_) | LocationAction::Remove(_) => true,
            LocationAction::List(_) => false,
        },
        Command::Alias(c) => match c.action {
            AliasAction::Set(_) | AliasAction::Remove(_) => true,
            AliasAction::List(_) => false,
        },
        Command::Os(c) => match c.action {
            OsAction::Add(_) | OsAction::Remove(_) => true,
            OsAction::List(_) => false,
        },
        Command::Status(c) => match c.action {
            StatusAction::Set(_) => true,
            StatusAction::List(_) => false,
        },
        Command::Mail(c) => match c.action {
            MailAction::Set(_) => true,
            MailAction::Show(_) | MailAction::Test(_) => false,
        },
        Command::Settings(c) => match c.action {
            SettingsAction::Set(_) | SettingsAction::Unset(_) => true,
            SettingsAction::List(_) => false,
        },
        Command::Region(c) => match c.action {
            RegionAction::Add(_)
            | RegionAction::Set(_)
            | RegionAction::Remove(_)
            | RegionAction::Defaults(_) => true,
            RegionAction::List(_) => false,
        },
        Command::Geoip(c) => match c.action {
            GeoipAction::Import(_) | GeoipAction::Clear(_) => true,
            GeoipAction::Status(_) | GeoipAction::Lookup(_) => false,
        },
        // Sentry checks what the database holds; a new one holds nothing.
        Command::Stats(_)
        | Command::Sentry(_)
        | Command::Uptake(_)
        | Command::Backup(_)
        | Command::Export(_) => false,
    }
}

/// Runs a management command (anything but `serve` and `demo`).
/// `input` is what the user piped in (the password for `user add|passwd`).
pub fn execute(ctx: &Context, command: &Command, input: Option<&[u8]>) -> Outcome {
    match run(ctx, command, input) {
        Ok(out) => Outcome::ok(out),
        Err(e) => Outcome::fail(&e),
    }
}

const ACTOR: &str = "cli";

fn run(ctx: &Context, command: &Command, input: Option<&[u8]>) -> Result<String> {
    let net = &*ctx.network;
    match command {
        Command::Serve(_) | Command::Demo(_) => Err(Error::invalid(
            "command",
            "serve and demo cannot run through the control socket".into(),
        )),
        Command::Mirror(c) => mirror(net, &c.action),
        Command::Product(c) => product(net, &c.action),
        Command::Location(c) => location(net, &c.action),
        Command::Alias(c) => alias(net, &c.action),
        Command::Os(c) => os(net, &c.action),
        Command::User(c) => user(
            net,
            &c.action,
            input
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .as_deref(),
        ),
        Command::Load(c) => load(net, c, input.unwrap_or_default()),
        Command::Status(c) => status(net, &c.action),
        Command::Stats(c) => stats(net, c),
        Command::Sentry(c) => sentry(ctx, c),
        Command::Mail(c) => mail(net, &c.action),
        Command::Uptake(c) => uptake(net, c),
        Command::Settings(c) => settings(net, &c.action),
        Command::Region(c) => geo::region(net, &c.action),
        Command::Geoip(c) => geo::geoip(net, &c.action, input),
        Command::Backup(c) => data::backup(net, c),
        Command::Export(c) => data::export(net, c),
        Command::Import(c) => data::import(net, c, input.unwrap_or_default()),
    }
}

fn mirror(net: &Network, action: &MirrorAction) -> Result<String> {
    match action {
        MirrorAction::Add(a) => {
            let m = net.write(ACTOR, |tx| {
                tx.mirror_add(NewMirror {
                    name: a.name.clone(),
                    base_url: a.base_url.clone(),
                    rating: a.rating,
                    regions: a.region.clone(),
                    contact: a.contact.clone().unwrap_or_default(),
                    inactive: a.inactive,
                })
            })?;
            Ok(format!(
                "added mirror {} ({}, rating {}{}); it gets traffic once its files are found present\n",
                m.name,
                m.base_url,
                m.rating,
                if m.active { "" } else { ", inactive" }
            ))
        }
        MirrorAction::List(_) => {
            let (s, serving) = net.store().read_network(
                |s| (s.clone(), HashMap::<MirrorId, usize>::new()),
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
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NAME", "BASE URL", "RATING", "ACTIVE", "HEALTH", "SERVES", "REGIONS",
                ],
                rows,
            ))
        }
        MirrorAction::Set(a) => {
            let m = net.write(ACTOR, |tx| {
                tx.mirror_update(&a.name, |m| {
                    if let Some(r) = a.rating {
                        m.rating = r;
                    }
                    if let Some(active) = a.active {
                        m.active = active;
                    }
                    if let Some(url) = &a.base_url {
                        m.base_url = url.clone();
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
                "mirror {}: {} rating {} {}\n",
                m.name,
                m.base_url,
                m.rating,
                if m.active { "active" } else { "inactive" }
            ))
        }
        MirrorAction::Remove(a) => {
            let m = net.write(ACTOR, |tx| tx.mirror_remove(&a.name))?;
            Ok(format!("removed mirror {}\n", m.name))
        }
    }
}

fn product(net: &Network, action: &ProductAction) -> Result<String> {
    match action {
        ProductAction::Add(a) => {
            let p = net.write(ACTOR, |tx| {
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
                    let aliases: Vec<&str> = s
                        .aliases
                        .iter()
                        .filter(|a| a.product == p.id)
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
            let p = net.write(ACTOR, |tx| {
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
            let removed = net.write(ACTOR, |tx| tx.product_remove(&a.name))?;
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

fn location(net: &Network, action: &LocationAction) -> Result<String> {
    match action {
        LocationAction::Add(a) => {
            let l = net.write(ACTOR, |tx| tx.location_add(&a.product, &a.os, &a.path))?;
            Ok(format!(
                "added location {} {} {}\n",
                a.product, l.os, l.path
            ))
        }
        LocationAction::List(a) => {
            let (s, serving) = net.store().read_network(
                |s| (s.clone(), HashMap::new()),
                |(_, counts): &mut (_, HashMap<_, usize>), loc, _| {
                    *counts.entry(loc).or_default() += 1
                },
            )?;
            let only = match &a.product {
                Some(name) => Some(
                    s.product(name)
                        .ok_or_else(|| Error::not_found("product", name))?
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
            let l = net.write(ACTOR, |tx| tx.location_set_path(&a.product, &a.os, &a.path))?;
            Ok(format!(
                "location {} {} is now {}\n",
                a.product, l.os, l.path
            ))
        }
        LocationAction::Remove(a) => {
            let l = net.write(ACTOR, |tx| tx.location_remove(&a.product, &a.os))?;
            Ok(format!(
                "removed location {} {} {}\n",
                a.product, l.os, l.path
            ))
        }
    }
}

fn alias(net: &Network, action: &AliasAction) -> Result<String> {
    match action {
        AliasAction::Set(a) => {
            net.write(ACTOR, |tx| tx.alias_set(&a.alias, &a.product))?;
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
            net.write(ACTOR, |tx| tx.alias_remove(&a.alias))?;
            Ok(format!("removed alias {}\n", a.alias))
        }
    }
}

fn os(net: &Network, action: &OsAction) -> Result<String> {
    match action {
        OsAction::Add(a) => {
            let os = net.write(ACTOR, |tx| tx.os_add(&a.name))?;
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
            net.write(ACTOR, |tx| tx.os_remove(&a.name))?;
            Ok(format!(
                "removed operating system {}\n",
                a.name.to_ascii_lowercase()
            ))
        }
    }
}

fn user(net: &Network, action: &UserAction, input: Option<&str>) -> Result<String> {
    let password = || -> Result<String> {
        let p = input.unwrap_or("");
        if p.is_empty() {
            return Err(Error::invalid(
                "password",
                "none given: type it at the prompt, or pipe it in (echo … | bouncer user …)".into(),
            ));
        }
        if p.chars().count() < 8 {
            return Err(Error::invalid(
                "password",
                "shorter than 8 characters; choose a longer one".into(),
            ));
        }
        hash_password(p)
    };
    match action {
        UserAction::Add(a) => {
            let role = Role::parse(&a.role).ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("{:?}: use admin, release or viewer", a.role),
                )
            })?;
            let name = crate::validate::name("user", &a.name)?;
            let password_hash = password()?;
            net.write(ACTOR, |tx| {
                if tx.user(&name)?.is_some() {
                    return Err(Error::exists("user", &name));
                }
                tx.user_put(
                    &User {
                        name: name.clone(),
                        password_hash,
                        role,
                        created_at: now(),
                    },
                    "user.add",
                )
            })?;
            Ok(format!("added user {name} ({})\n", role.as_str()))
        }
        UserAction::Passwd(a) => {
            let password_hash = password()?;
            net.write(ACTOR, |tx| {
                let mut user = tx
                    .user(&a.name)?
                    .ok_or_else(|| Error::not_found("user", &a.name))?;
                user.password_hash = password_hash;
                tx.user_put(&user, "user.passwd")
            })?;
            Ok(format!("changed the password of {}\n", a.name))
        }
        UserAction::List(_) => {
            let rows = net
                .store()
                .users()?
                .into_iter()
                .map(|u| vec![u.name, u.role.as_str().to_string()])
                .collect();
            Ok(table(&["NAME", "ROLE"], rows))
        }
        UserAction::Remove(a) => {
            net.write(ACTOR, |tx| tx.user_remove(&a.name))?;
            Ok(format!("removed user {}\n", a.name))
        }
    }
}

/// An argon2id PHC string for `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    // OsRng comes from password-hash's `getrandom` feature.
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("password", format!("cannot hash it: {e}")))
}

/// Whether `password` matches an argon2id PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn status(net: &Network, action: &StatusAction) -> Result<String> {
    match action {
        StatusAction::List(a) => {
            let s = net.store().snapshot()?;
            let product = match &a.product {
                Some(p) => Some(
                    s.product(p)
                        .ok_or_else(|| Error::not_found("product", p))?
                        .id,
                ),
                None => None,
            };
            let mirror = match &a.mirror {
                Some(m) => Some(s.mirror(m).ok_or_else(|| Error::not_found("mirror", m))?.id),
                None => None,
            };
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
                        av.checked_at.to_string(),
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
            let n = net.write(ACTOR, |tx| {
                let mirror = tx
                    .mirror(&a.mirror)?
                    .ok_or_else(|| Error::not_found("mirror", &a.mirror))?;
                let product = match &a.product {
                    Some(p) => Some(
                        tx.product(p)?
                            .ok_or_else(|| Error::not_found("product", p))?
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

fn stats(net: &Network, args: &Stats) -> Result<String> {
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

fn sentry(ctx: &Context, args: &SentryArgs) -> Result<String> {
    let modes = [
        (args.all, Mode::All),
        (args.new, Mode::New),
        (args.spot, Mode::Spot),
        (args.hashes, Mode::Hashes),
    ];
    let chosen: Vec<Mode> = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, m)| *m)
        .collect();
    let mode = match chosen.as_slice() {
        [] => Mode::All,
        [m] => *m,
        _ => {
            return Err(Error::invalid(
                "mode",
                "choose one of --all, --new, --spot and --hashes".into(),
            ));
        }
    };
    let tuned = args.threads.is_some()
        || args.per_mirror.is_some()
        || args.timeout.is_some()
        || args.reports_dir.is_some();
    let sentry = match &ctx.sentry {
        Some(s) if !tuned => s.clone(),
        server => {
            // Tuned runs start from the server's settings (its reports
            // directory above all), or the defaults for this database.
            let mut config = server.as_ref().map_or_else(
                || SentryConfig::new(default_reports_dir(&ctx.db)),
                |s| s.config().clone(),
            );
            if let Some(dir) = &args.reports_dir {
                config.reports_dir = PathBuf::from(dir);
            }
            if let Some(t) = args.threads {
                config.threads = t.max(1);
            }
            if let Some(p) = args.per_mirror {
                config.per_mirror = p.max(1);
            }
            if let Some(t) = args.timeout {
                config.probe.set_timeout(t);
            }
            Arc::new(Sentry::new(ctx.network.clone(), config))
        }
    };
    let s = sentry.run(mode, args.mirror.as_deref())?;
    if s.run.id == 0 {
        return Ok(format!("sentry {}: nothing to check\n", mode.as_str()));
    }
    let mut out = format!(
        "sentry run {} ({}): {} checks, {} failures, {} status changes\n",
        s.run.id, s.run.kind, s.run.checks, s.run.failures, s.run.changes
    );
    if let Some(alarm) = &s.alarm {
        let _ = writeln!(out, "ALARM: {alarm}");
    }
    for c in &s.changes {
        let _ = writeln!(out, "  {c}");
    }
    if let Some(report) = &s.report {
        let _ = writeln!(out, "report: {}", report.display());
    }
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    Ok(out)
}

fn mail(net: &Network, action: &MailAction) -> Result<String> {
    match action {
        MailAction::Set(a) => {
            if let Some(t) = &a.tls
                && crate::mail::TlsMode::parse(t).is_none()
            {
                return Err(Error::invalid(
                    "tls",
                    format!("{t:?}: use none, starttls or tls"),
                ));
            }
            for address in a.to.iter().chain(&a.from) {
                if address.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(Error::invalid(
                        "mail address",
                        format!("{address:?} is not an e-mail address"),
                    ));
                }
            }
            net.write(ACTOR, |tx| {
                let mut put = |k: &str, v: Option<String>| -> Result<()> {
                    match v {
                        Some(v) if v.is_empty() => tx.setting_put(k, None),
                        Some(v) => tx.setting_put(k, Some(&v)),
                        None => Ok(()),
                    }
                };
                put("mail.host", a.host.clone())?;
                put("mail.port", a.port.map(|p| p.to_string()))?;
                put("mail.tls", a.tls.clone())?;
                put("mail.user", a.user.clone())?;
                put("mail.from", a.from.clone())?;
                put("mail.to", (!a.to.is_empty()).then(|| a.to.join(",")))?;
                put("mail.contacts", a.contacts.map(|c| c.to_string()))?;
                tx.record("mail.set", "mail settings changed".into())
            })?;
            mail(net, &MailAction::Show(MailShow {}))
        }
        MailAction::Show(_) => {
            let settings = net.store().settings()?;
            let mut out = String::new();
            for k in crate::mail::KEYS {
                let _ = writeln!(out, "{k} = {}", settings.get(*k).map_or("", String::as_str));
            }
            let _ = writeln!(
                out,
                "password: {}",
                if std::env::var_os("BOUNCER_SMTP_PASSWORD").is_some() {
                    "from BOUNCER_SMTP_PASSWORD"
                } else {
                    "none (set BOUNCER_SMTP_PASSWORD where bouncer runs)"
                }
            );
            if crate::mail::MailConfig::from_settings(&settings)?.is_none() {
                out.push_str("mail is off: set mail.host and mail.to to turn it on\n");
            }
            Ok(out)
        }
        MailAction::Test(a) => {
            let config = crate::mail::MailConfig::from_settings(&net.store().settings()?)?
                .ok_or_else(|| {
                    Error::invalid(
                        "mail",
                        "not set up: `bouncer mail set --host SMTP-HOST --to YOU@EXAMPLE.ORG`"
                            .into(),
                    )
                })?;
            let to = a.to.clone().map_or_else(|| config.to.clone(), |t| vec![t]);
            config.send(
                &to,
                "[bouncer] test message",
                "This is a test message from Bouncer. Mail works.\n",
            )?;
            Ok(format!("sent a test message to {}\n", to.join(", ")))
        }
    }
}

/// Settings operators may change, with what each accepts.
const SETTINGS: &[(&str, &str)] = &[
    ("mail.host", "SMTP host name"),
    ("mail.port", "SMTP port"),
    ("mail.tls", "none, starttls or tls"),
    ("mail.user", "SMTP login"),
    ("mail.from", "sender address"),
    ("mail.to", "operator addresses, comma-separated"),
    ("mail.contacts", "true or false: mail mirror contacts too"),
    (
        crate::index::DAMP_SLOW,
        "true or false: damp mirrors much slower than the others",
    ),
    (
        crate::index::LINK_HEADERS,
        "true or false: redirects name other mirrors in Link headers (RFC 6249)",
    ),
    (
        crate::index::STICKY,
        "true or false: one client gets one mirror for one file (default true; false: a random mirror each time)",
    ),
];

fn settings(net: &Network, action: &SettingsAction) -> Result<String> {
    let known = |key: &str| -> Result<()> {
        if SETTINGS.iter().any(|(k, _)| *k == key) {
            Ok(())
        } else {
            let keys: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
            Err(Error::invalid(
                "setting",
                format!("{key:?} is not a setting; known: {}", keys.join(", ")),
            ))
        }
    };
    match action {
        SettingsAction::List(_) => {
            let values = net.store().settings()?;
            let rows = SETTINGS
                .iter()
                .map(|(k, what)| {
                    vec![
                        k.to_string(),
                        values.get(*k).cloned().unwrap_or_default(),
                        what.to_string(),
                    ]
                })
                .collect();
            Ok(table(&["SETTING", "VALUE", "MEANING"], rows))
        }
        SettingsAction::Set(a) => {
            known(&a.key)?;
            let value = a.value.trim();
            let boolean = a.key == crate::index::DAMP_SLOW
                || a.key == crate::index::LINK_HEADERS
                || a.key == crate::index::STICKY
                || a.key == "mail.contacts";
            if boolean && value != "true" && value != "false" {
                return Err(Error::invalid(
                    "setting",
                    format!("{} takes true or false", a.key),
                ));
            }
            if a.key == "mail.tls" && crate::mail::TlsMode::parse(value).is_none() {
                return Err(Error::invalid(
                    "mail.tls",
                    format!("{value:?}: use none, starttls or tls"),
                ));
            }
            if a.key == "mail.port" && value.parse::<u16>().is_err() {
                return Err(Error::invalid(
                    "mail.port",
                    format!("{value:?} is not a port"),
                ));
            }
            net.write(ACTOR, |tx| {
                tx.setting_put(&a.key, Some(value))?;
                tx.record("settings.set", format!("{} = {value}", a.key))
            })?;
            Ok(format!("{} = {value}\n", a.key))
        }
        SettingsAction::Unset(a) => {
            known(&a.key)?;
            net.write(ACTOR, |tx| {
                tx.setting_put(&a.key, None)?;
                tx.record("settings.unset", a.key.clone())
            })?;
            Ok(format!("{} unset\n", a.key))
        }
    }
}

fn uptake(net: &Network, args: &UptakeArgs) -> Result<String> {
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
                .ok_or_else(|| Error::not_found("product", p))?
                .name
                .to_string(),
        ),
        None => None,
    };
    let rows = index
        .uptake()
        .into_iter()
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

fn load(net: &Network, args: &Load, contents: &[u8]) -> Result<String> {
    let options = crate::loader::Options {
        product: args.product.clone(),
        os_map: match &args.os_map {
            Some(m) => crate::loader::parse_os_map(m)?,
            None => Vec::new(),
        },
        matching: args.r#match.clone(),
        force: args.force,
        prefix: args.prefix.clone().unwrap_or_default(),
    };
    let parsed = crate::loader::parse(contents);
    let plan = crate::loader::plan(&net.store().snapshot()?, &parsed, &options)?;
    let mut out = format!(
        "{}: {} checksum line(s) read\n{}",
        args.file,
        parsed.entries.len() + parsed.problems.len(),
        plan.describe()
    );
    if args.dry_run {
        out.push_str("dry run: nothing written\n");
    } else if !plan.changes_anything() {
        out.push_str("nothing to add\n");
    } else {
        let done = crate::loader::apply(net, &plan, ACTOR)?;
        let _ = writeln!(
            out,
            "applied: {} language(s), {} location(s), {} file(s); sentry checks them next",
            done.languages, done.locations, done.files
        );
    }
    Ok(out)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn languages(langs: &[String]) -> String {
    if langs.is_empty() {
        "all languages".into()
    } else {
        langs.join(",")
    }
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\n");
    }
}
