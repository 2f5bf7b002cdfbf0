//! From a command line to an exit code: parse (usage errors exit 2), then
//! route to `serve`, `demo`, `copy`, the control socket of a running
//! server, or a local run against the database.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;

use crate::cli::{Backup, Bouncer, Command, Export};
use crate::commands::{Context, Input, Outcome, creates_database, execute, input_for};
use crate::control::{Request, forward};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::store::Place;

/// Runs `bouncer` with `argv` (including the program name).
pub fn main(argv: Vec<String>) -> ExitCode {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (program, args) = strs
        .split_first()
        .map_or(("bouncer", &[][..]), |(p, a)| (*p, a));
    let cli = match Bouncer::from_args(&[program], args) {
        Ok(cli) => cli,
        Err(early) => {
            return if early.status.is_ok() {
                print!("{}", early.output);
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", early.output.trim_end());
                eprintln!("Run `bouncer help` or `bouncer <command> --help` for usage.");
                ExitCode::from(2)
            };
        }
    };
    let db = cli
        .db
        .clone()
        .or_else(|| std::env::var("BOUNCER_DB").ok().filter(|s| !s.is_empty()));
    let outcome = match &cli.command {
        Command::Serve(args) => {
            let db = Place::parse(&db.unwrap_or_else(|| "bouncer.redb".into()));
            crate::app::serve(&db, args).map(|_| Outcome::ok(String::new()))
        }
        Command::Demo(args) => {
            crate::demo::run(db.map(PathBuf::from), args).map(|_| Outcome::ok(String::new()))
        }
        // Both databases are named by its own options.
        Command::Copy(args) => crate::commands::copy(args).map(Outcome::ok),
        command => manage(
            Place::parse(&db.unwrap_or_else(|| "bouncer.redb".into())),
            command,
            strip_db(args),
        ),
    };
    let outcome = outcome.unwrap_or_else(|e| Outcome::fail(&e));
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

/// A management command: through the running server if there is one,
/// else directly on the database. Files are the client's: a backup's
/// path is made absolute before it goes to the server, and an export's
/// file is written here.
fn manage(db: Place, command: &Command, args: Vec<String>) -> Result<Outcome> {
    let absolute;
    let (command, args) = match command {
        Command::Backup(b) => {
            let file = std::path::absolute(&b.file)
                .map_err(|e| Error::io(format!("cannot resolve {}", b.file), e))?
                .to_str()
                .ok_or_else(|| {
                    Error::invalid(
                        "backup file",
                        format!("{:?} is not UTF-8: choose another name", b.file),
                    )
                })?
                .to_string();
            let mut args = vec!["backup".to_string(), file.clone()];
            if b.force {
                args.push("--force".to_string());
            }
            absolute = Command::Backup(Backup {
                file,
                force: b.force,
            });
            (&absolute, args)
        }
        _ => (command, args),
    };
    if let Command::Export(Export {
        file: Some(file), ..
    }) = command
        && db
            .file()
            .is_some_and(|db| is_same_file(Path::new(file), db))
    {
        return Err(Error::invalid(
            "export file",
            format!("{file} is the database itself: choose another file"),
        ));
    }
    let outcome = run_managed(db, command, args)?;
    match command {
        Command::Export(Export {
            file: Some(file), ..
        }) if outcome.code == 0 => write_export(file, outcome),
        _ => Ok(outcome),
    }
}

/// Whether `a` and `b` name the same existing file.
fn is_same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes an export document to `file` (through `FILE.partial`, so a
/// failure leaves any old file whole) and says so instead of printing it.
/// The file is created owner-only (0600): it holds the password hashes.
fn write_export(file: &str, mut outcome: Outcome) -> Result<Outcome> {
    use std::os::unix::fs::OpenOptionsExt;
    let partial = format!("{file}.partial");
    // Left by an export that crashed; a new file gets the new mode.
    let _ = std::fs::remove_file(&partial);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut f| std::io::Write::write_all(&mut f, outcome.stdout.as_bytes()))
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            Error::io(format!("cannot write {file}"), e)
        })?;
    outcome.stdout = format!(
        "exported the configuration to {file} ({} bytes)\n",
        outcome.stdout.len()
    );
    Ok(outcome)
}

/// [`manage`] with the client's paths settled.
fn run_managed(db: Place, command: &Command, args: Vec<String>) -> Result<Outcome> {
    let input = match input_for(command) {
        Some(Input::Password) => Some(read_password()?.into_bytes()),
        Some(Input::File(path)) => {
            Some(std::fs::read(path).map_err(|e| Error::io(format!("cannot read {path}"), e))?)
        }
        Some(Input::Files(paths)) => Some(crate::commands::bundle(paths)?),
        None => None,
    };
    let request = Request { args, input };
    if let Some(outcome) = forward(&db, &request)? {
        return Ok(outcome);
    }
    // Opening creates a missing file: only a command that adds something
    // may (a server, whose socket answered above, has its file already).
    if let Some(file) = db.file()
        && !creates_database(command)
        && !file.try_exists().unwrap_or(true)
    {
        return Err(Error::NoDatabase {
            path: file.display().to_string(),
        });
    }
    let ctx = Context {
        network: std::sync::Arc::new(Network::open(db.clone(), false)?),
        db,
        sentry: None,
    };
    Ok(execute(&ctx, command, request.input.as_deref()))
}

/// The arguments without the global `--db PATH`: the server has its own.
fn strip_db(args: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for (i, a) in args.iter().enumerate() {
        if skip {
            skip = false;
            continue;
        }
        // Only before the subcommand is `--db` the global option.
        if *a == "--db" && !out.iter().any(|x: &String| !x.starts_with('-')) && i + 1 < args.len() {
            skip = true;
            continue;
        }
        out.push(a.to_string());
    }
    out
}

/// A password: prompted twice on a terminal, else all of stdin without its
/// final line break.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| Error::io("cannot read the password", e))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| Error::io("cannot read the password", e))?;
        if first != again {
            return Err(Error::invalid("password", "the two entries differ".into()));
        }
        return Ok(first);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::io("cannot read the password from stdin", e))?;
    let trimmed = s.strip_suffix('\n').unwrap_or(&s);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_option_is_stripped_only_before_the_command() {
        assert_eq!(
            strip_db(&["--db", "x.redb", "mirror", "list"]),
            vec!["mirror", "list"]
        );
        assert_eq!(
            strip_db(&["product", "add", "--db", "p"]),
            vec!["product", "add", "--db", "p"]
        );
    }
}
