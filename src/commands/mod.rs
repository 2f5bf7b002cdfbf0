//! The CLI's management commands. Each runs against an open [`Network`]
//! and returns its output instead of printing it, so the same code answers
//! locally and through the control socket, with identical output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod copy;
mod data;
mod geo;
mod load;
mod locations;
mod mail;
mod mirrors;
mod products;
mod sentry;
mod settings;
mod stats;
mod status;
mod users;

pub use copy::copy;
pub use geo::bundle;

use crate::cli::*;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::sentry::Sentry;

/// What commands run against.
pub struct Context {
    /// The network (the server's own when run through the control socket).
    pub network: Arc<Network>,
    /// The database.
    pub db: crate::store::Place,
    /// The server's checker, when running inside `bouncer serve`.
    pub sentry: Option<Arc<Sentry>>,
}

/// Where sentry reports go by default: `reports/` beside the database
/// file, or in the working directory for a PostgreSQL database (whose
/// nodes each write their own copies; the database holds every report).
pub fn default_reports_dir(db: &crate::store::Place) -> PathBuf {
    let Some(db) = db.file() else {
        return PathBuf::from("reports");
    };
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
        Command::Asn(AsnCmd {
            action: AsnAction::Import(i),
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
            MirrorAction::Add(_)
            | MirrorAction::Set(_)
            | MirrorAction::Remove(_)
            | MirrorAction::MaintenanceLink(_) => true,
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
        Command::Asn(c) => match c.action {
            AsnAction::Import(_) | AsnAction::Clear(_) => true,
            AsnAction::Status(_) | AsnAction::Lookup(_) => false,
        },
        // Sentry checks what the database holds; a new one holds nothing.
        Command::Stats(_)
        | Command::Sentry(_)
        | Command::Uptake(_)
        | Command::Backup(_)
        | Command::Export(_) => false,
        // Opens its own databases (see [`copy`]), never the `--db` one.
        Command::Copy(_) => false,
    }
}

/// Runs a management command (anything but `serve`, `demo` and `copy`).
/// `input` is what the user piped in (the password for `user add|passwd`).
pub fn execute(ctx: &Context, command: &Command, input: Option<&[u8]>) -> Outcome {
    match run(ctx, command, input) {
        Ok(out) => Outcome::ok(out),
        Err(e) => Outcome::fail(&e),
    }
}

/// The audit log's name for changes made by CLI commands.
const ACTOR: crate::model::Actor = crate::model::Actor::Cli;

fn run(ctx: &Context, command: &Command, input: Option<&[u8]>) -> Result<String> {
    let net = &*ctx.network;
    match command {
        Command::Serve(_) | Command::Demo(_) | Command::Copy(_) => Err(Error::invalid(
            "command",
            "serve, demo and copy cannot run through the control socket".into(),
        )),
        Command::Mirror(c) => mirrors::mirror(net, &c.action),
        Command::Product(c) => products::product(net, &c.action),
        Command::Location(c) => locations::location(net, &c.action),
        Command::Alias(c) => products::alias(net, &c.action),
        Command::Os(c) => locations::os(net, &c.action),
        Command::User(c) => users::user(
            net,
            &c.action,
            input
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .as_deref(),
        ),
        Command::Load(c) => load::load(net, c, input.unwrap_or_default()),
        Command::Status(c) => status::status(net, &c.action),
        Command::Stats(c) => stats::stats(net, c),
        Command::Sentry(c) => sentry::sentry(ctx, c),
        Command::Mail(c) => mail::mail(net, &c.action),
        Command::Uptake(c) => stats::uptake(net, c),
        Command::Settings(c) => settings::settings(net, &c.action),
        Command::Region(c) => geo::region(net, &c.action),
        Command::Geoip(c) => geo::geoip(net, &c.action, input),
        Command::Asn(c) => geo::asn(net, &c.action, input),
        Command::Backup(c) => data::backup(net, c),
        Command::Export(c) => data::export(net, c),
        Command::Import(c) => data::import(net, c, input.unwrap_or_default()),
    }
}

/// `yes` or `no`, for a table cell.
fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// A product's languages, comma-separated, or "all languages".
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
    fn tables_align() {
        let t = table(&["A", "LONGER"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\n");
    }
}
