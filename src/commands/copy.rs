//! `bouncer copy --from DB --to DB`: a whole network into an empty
//! database, a redb file to PostgreSQL or back. Unlike the other commands
//! it never goes through a server's control socket: it opens both
//! databases itself (a redb file a server holds is refused, with what to
//! do instead), and the global `--db` does not apply.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::CopyArgs;
use crate::error::{Error, Result};
use crate::store::{CopyReport, Place, Store};

/// The report's lines: a family of tables and, per table (by its
/// PostgreSQL name), what the line calls its rows (nothing: the family's
/// one table).
const FAMILIES: &[(&str, &[(&str, &str)])] = &[
    (
        "configuration",
        &[
            ("products", "products"),
            ("aliases", "aliases"),
            ("oses", "operating systems"),
            ("locations", "locations"),
            ("files", "files"),
            ("mirrors", "mirrors"),
            ("regions", "regions"),
            ("users", "users"),
            ("settings", "settings"),
        ],
    ),
    (
        "sentry",
        &[
            ("availability", "availability"),
            ("mirror_health", "mirror health"),
            ("mirror_checks", "check history"),
            ("sentry_runs", "runs"),
        ],
    ),
    (
        "download counts",
        &[
            ("count_product", "by product"),
            ("count_location", "by location"),
            ("count_mirror", "by mirror"),
            ("count_country", "by country"),
        ],
    ),
    ("audit log", &[("events", "events")]),
    ("GeoIP tables", &[("geoip", "")]),
    ("id sequences", &[("meta", "")]),
];

/// `bouncer copy --from DB --to DB`.
pub fn copy(args: &CopyArgs) -> Result<String> {
    let from = Place::parse(&args.from);
    let to = Place::parse(&args.to);
    if same_place(&from, &to) {
        return Err(Error::invalid(
            "copy target",
            format!("{} is the source itself: name another", to.name()),
        ));
    }
    if let Some(file) = from.file()
        && !file.try_exists().unwrap_or(true)
    {
        return Err(Error::NoDatabase {
            path: file.display().to_string(),
        });
    }
    let source = open(&from, Side::From)?;
    // A file this command creates is removed again if the copy fails, so
    // that a retry does not meet a half-made target.
    let created = to.file().filter(|f| !f.try_exists().unwrap_or(true));
    let copied = open(&to, Side::To).and_then(|target| source.copy_into(&target));
    let report = match copied {
        Ok(report) => report,
        Err(e) => {
            if let Some(file) = created {
                let _ = std::fs::remove_file(file);
            }
            return Err(e);
        }
    };
    Ok(describe(&report, &from, &to))
}

/// Which end of the copy a database is.
#[derive(Clone, Copy)]
enum Side {
    From,
    To,
}

/// Opens one end, turning "a server holds this file" into what to do.
fn open(place: &Place, side: Side) -> Result<Store> {
    Store::open_at(place).map_err(|e| match e {
        Error::Busy { path } => match side {
            Side::From => Error::invalid(
                "copy source",
                format!(
                    "{path} is open in a running server: stop it first, or copy a backup of it (`bouncer --db {path} backup FILE`, then `bouncer copy --from FILE --to …`)"
                ),
            ),
            Side::To => Error::invalid(
                "copy target",
                format!(
                    "{path} is open in a running server: stop it first, or copy into a new database"
                ),
            ),
        },
        e => e,
    })
}

/// Whether `a` and `b` are the same database (a file by any name).
fn same_place(a: &Place, b: &Place) -> bool {
    match (a.file(), b.file()) {
        (Some(a), Some(b)) => a == b || same_file(a, b),
        _ => a == b,
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// One line per family of tables, then the total.
fn describe(report: &CopyReport, from: &Place, to: &Place) -> String {
    let mut out = String::new();
    for (family, tables) in FAMILIES {
        let counts: Vec<String> = tables
            .iter()
            .map(|(table, noun)| match report.rows(table) {
                n if noun.is_empty() => n.to_string(),
                n => format!("{noun} {n}"),
            })
            .collect();
        let _ = writeln!(out, "{family}: {}", counts.join(", "));
    }
    let _ = writeln!(
        out,
        "copied {} rows in {} tables from {} to {}",
        report.total(),
        report.tables.len(),
        from.name(),
        to.name()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_every_table_copied() {
        let report = CopyReport {
            tables: vec![("products", 2), ("product_names", 2), ("meta", 3)],
        };
        let out = describe(
            &report,
            &Place::parse("a.redb"),
            &Place::parse("postgres://u:secret@h/db"),
        );
        assert!(
            out.starts_with("configuration: products 2, aliases 0,"),
            "{out}"
        );
        assert!(out.contains("\nid sequences: 3\n"), "{out}");
        assert!(
            out.ends_with("copied 7 rows in 3 tables from a.redb to postgres://u@h/db\n"),
            "{out}"
        );
    }

    #[test]
    fn a_file_is_not_copied_onto_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.redb");
        std::fs::write(&db, b"").unwrap();
        let other = dir.path().join(".").join("a.redb");
        assert!(same_place(&Place::File(db.clone()), &Place::File(other)));
        assert!(!same_place(
            &Place::File(db),
            &Place::parse("postgres://h/db")
        ));
    }
}
