//! SPEC §8 operations on the whole database: `backup` (a consistent copy
//! while the server serves), `export`/`import` (the configuration as JSON),
//! files relative to where the command runs, and the schema migration of
//! an old database.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{Env, Out, poll, run_bounded, try_http};

const BIN: &str = env!("CARGO_BIN_EXE_bouncer");
const FIREFOX: &str = "/?product=firefox-latest&os=win&lang=de";

/// A small network with every kind of configuration.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add firefox-120.0 --lang en-US --lang de",
        "location add firefox-120.0 win /firefox/120.0/:lang/setup.exe",
        "location add firefox-120.0 linux /firefox/120.0/:lang/ff.tar.bz2",
        "alias set firefox-latest firefox-120.0",
        "product add tb --ssl-only --private",
        "location add tb osx /tb/tb.dmg",
        "region add europe --country DE --country FR --throttle 80",
        "mirror add m1 http://127.0.0.1:9/m1 --rating 10 --contact ops@m1.example",
        "mirror add m2 http://127.0.0.1:9/m2 --region europe",
        "status set m1 present",
        "status set m2 present --product firefox-120.0",
        "settings set mail.host smtp.example.org",
    ]);
    env.add_user_with("alice", "admin", "correct horse");
    env
}

/// `bouncer --db DB args…` started in `cwd`, for at most 30 s.
fn run_in(db: &Path, cwd: &Path, args: &[&str]) -> Out {
    let mut command = Command::new(BIN);
    command
        .env_remove("BOUNCER_DB")
        .arg("--db")
        .arg(db)
        .args(args)
        .current_dir(cwd);
    run_bounded(&mut command, Duration::from_secs(30))
        .unwrap_or_else(|why| panic!("`bouncer {}`: {why}", args.join(" ")))
        .into()
}

/// `export` of `db` (no server may hold it, or it answers).
fn export_of(db: &Path, extra: &[&str]) -> String {
    let mut args = vec!["export"];
    args.extend_from_slice(extra);
    let out = run_in(db, db.parent().unwrap(), &args);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
}

#[test]
fn a_backup_while_serving_holds_every_acknowledged_write() {
    let env = network();
    let server = env.serve(&[]);
    // Writes through the control socket, each acknowledged.
    env.setup(&[
        "mirror add m3 http://127.0.0.1:9/m3 --rating 5",
        "status set m3 present --product tb",
        "product set firefox-120.0 --add-lang fr",
        "os add beos",
    ]);
    let before = env.ok(&["export"]);

    // Redirects keep flowing while the copy is made.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let port = server.port;
    let hammer = {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match try_http(port, "GET", FIREFOX, &[]) {
                    Ok(r) if r.status == 302 => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    // Some redirects before, during and after the backup.
    poll(Duration::from_secs(10), Duration::from_millis(5), || {
        (served.load(Ordering::Relaxed) > 20).then_some(())
    })
    .expect("redirects flow");
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("copy.redb");
    let out = env.run(&["backup", copy.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("backed up 24 tables, ") && out.stdout.contains(" rows ("),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!("to {} (", copy.display())),
        "{out:?}"
    );
    let during = served.load(Ordering::Relaxed);
    poll(Duration::from_secs(10), Duration::from_millis(5), || {
        (served.load(Ordering::Relaxed) > during + 20).then_some(())
    })
    .expect("redirects flow after the backup");
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "a redirect failed");

    // The server still takes writes; the backup does not see them.
    env.ok(&["mirror", "add", "later", "http://127.0.0.1:9/later"]);
    assert!(env.ok(&["mirror", "list"]).contains("later"));

    // The copy is a database of its own, as of the backup.
    assert_eq!(export_of(&copy, &[]), before);
    let mirrors = run_in(&copy, work.path(), &["mirror", "list"]).stdout;
    assert!(
        mirrors.contains("m3") && !mirrors.contains("later"),
        "{mirrors}"
    );
    let status = run_in(&copy, work.path(), &["status", "list", "--mirror", "m3"]).stdout;
    assert!(
        status.contains("tb") && status.contains("present"),
        "{status}"
    );
    let users = run_in(&copy, work.path(), &["user", "list"]).stdout;
    assert!(users.contains("alice"), "{users}");

    // An existing file is kept unless --force.
    let out = env.run(&["backup", copy.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("exists already") && out.stderr.contains("--force"),
        "{out:?}"
    );
    assert_eq!(export_of(&copy, &[]), before);
    let out = env.run(&["backup", copy.to_str().unwrap(), "--force"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(export_of(&copy, &[]).contains("\"later\""));
    // Never the database itself.
    let out = env.run(&["backup", env.db.to_str().unwrap(), "--force"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the database itself"), "{out:?}");
    let out = env.run(&["export", env.db.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the database itself"), "{out:?}");
    assert_eq!(server.get(FIREFOX).status, 302);
    assert!(env.ok(&["export"]).contains("\"later\""));
}

#[test]
fn export_import_export_is_identical_with_counts() {
    let a = network();
    let server = a.serve(&[]);
    for _ in 0..7 {
        assert_eq!(server.get(FIREFOX).status, 302);
    }
    // SIGTERM flushes the counts.
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.json");
    let out = a.run(&["export", file.to_str().unwrap(), "--with-counts"]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        out.stdout,
        format!(
            "exported the configuration to {} ({} bytes)\n",
            file.display(),
            text.len()
        )
    );
    assert!(text.contains("\"counts\""), "{text}");
    assert!(text.contains("\"password_hash\": \"$argon2id$"), "{text}");
    assert_eq!(a.ok(&["export", "--with-counts"]), text);
    assert!(!a.ok(&["export"]).contains("\"counts\""));

    // Into an empty database, through its running server: live at once.
    let b = Env::new();
    let server = b.serve(&[]);
    let out = b.run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("imported 2 product(s) with 3 location(s)")
            && out.stdout.contains("download counts of "),
        "{out:?}"
    );
    assert_eq!(b.ok(&["export", "--with-counts"]), text);
    assert_eq!(b.stats().total, 7);
    assert_eq!(b.stats().text, a.stats().text);
    assert_eq!(b.ok(&["product", "list"]), a.ok(&["product", "list"]));
    assert_eq!(b.ok(&["region", "list"]), a.ok(&["region", "list"]));
    // Sentry's findings are not part of it: nothing serves until checked.
    assert_eq!(server.get(FIREFOX).status, 503);
    b.ok(&["status", "set", "m1", "present"]);
    assert_eq!(server.get(FIREFOX).status, 302);
}

#[test]
fn import_refuses_a_configured_database_and_bad_files_without_writing() {
    let a = network();
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good.json");
    std::fs::write(&good, a.ok(&["export"])).unwrap();

    // A configured database: refused, unchanged.
    let b = Env::new();
    b.setup(&["product add other", "mirror add x http://127.0.0.1:9/x"]);
    let before = b.ok(&["export", "--with-counts"]);
    let out = b.run(&["import", good.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("has a configuration already (1 product(s), 1 mirror(s))")
            && out.stderr.contains("--replace"),
        "{out:?}"
    );
    assert_eq!(b.ok(&["export", "--with-counts"]), before);
    // With --replace it becomes the file's.
    let out = b.run(&["import", good.to_str().unwrap(), "--replace"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(b.ok(&["export"]), a.ok(&["export"]));

    // Malformed files: exit 1, the place named, nothing written.
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let mut bad_path = value.clone();
    bad_path["products"][0]["locations"][1]["path"] = "setup.exe".into();
    let mut bad_version = value.clone();
    bad_version["version"] = 99.into();
    let cases = [
        (
            bad_path.to_string(),
            "products[0].locations[1].path: invalid path: \"setup.exe\"",
        ),
        (bad_version.to_string(), "version: 99 is not supported"),
        (
            std::fs::read_to_string(&good).unwrap()[..200].to_string(),
            "not JSON: line",
        ),
    ];
    let c = Env::new();
    // An empty database (export, which only reads, creates none).
    c.ok(&["settings", "unset", "mail.host"]);
    let empty = c.ok(&["export", "--with-counts"]);
    for (text, expected) in cases {
        let file = work.path().join("bad.json");
        std::fs::write(&file, text).unwrap();
        let out = c.run(&["import", file.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr
                .starts_with(&format!("error: invalid import file: {}: ", file.display()))
                && out.stderr.contains(expected),
            "expected {expected:?}: {out:?}"
        );
        assert_eq!(c.ok(&["export", "--with-counts"]), empty);
    }
    let out = c.run(&["import", "/no/such/file.json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot read /no/such/file.json"),
        "{out:?}"
    );
}

/// The files of `backup`, `export` and `import`, named relative to a
/// directory that is neither the server's nor the database's.
fn relative_paths(serving: bool) {
    let env = network();
    let server = serving.then(|| env.serve(&[]));
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path().join("elsewhere");
    std::fs::create_dir(&cwd).unwrap();
    let here = std::env::current_dir().unwrap();

    let out = run_in(&env.db, &cwd, &["backup", "copy.redb"]);
    assert_eq!(out.code, 0, "{out:?}");
    let copy = cwd.join("copy.redb");
    assert!(
        out.stdout.contains(&format!("to {} (", copy.display())),
        "{out:?}"
    );
    assert!(copy.exists());
    assert!(!here.join("copy.redb").exists());

    let out = run_in(&env.db, &cwd, &["export", "conf.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "exported the configuration to conf.json ({} bytes)\n",
            std::fs::metadata(cwd.join("conf.json")).unwrap().len()
        )
    );
    assert!(!here.join("conf.json").exists());

    let other = Env::new();
    let other_server = serving.then(|| other.serve(&[]));
    let out = run_in(&other.db, &cwd, &["import", "conf.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    drop(other_server);
    drop(server);
    assert_eq!(export_of(&other.db, &[]), export_of(&env.db, &[]));
    assert_eq!(export_of(&copy, &[]), export_of(&env.db, &[]));
}

#[test]
fn relative_paths_are_the_clients_through_a_server() {
    relative_paths(true);
}

#[test]
fn relative_paths_are_the_clients_without_a_server() {
    relative_paths(false);
}

#[test]
fn a_schema_1_database_is_migrated_on_open() {
    let env = Env::new();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.redb"),
        &env.db,
    )
    .unwrap();
    let mirrors = env.mirror_list();
    assert_eq!(
        mirrors.keys().map(String::as_str).collect::<Vec<_>>(),
        ["m1", "m2", "m3"]
    );
    // Availability came through: m1 serves firefox win; m2 is down.
    assert_eq!(mirrors["m1"].1, 1);
    assert!(mirrors["m2"].0.starts_with("down"), "{mirrors:?}");
    let status = env.ok(&["status", "list", "--mirror", "m2"]);
    assert_eq!(status.lines().count(), 3, "{status}");
    let server = env.serve(&[]);
    let version = server.get("/__version__");
    let schema = format!("\"schema\":{}", bouncer::store::SCHEMA_VERSION);
    assert!(version.body.contains(&schema), "{version:?}");
    let r = server.get_redirect("/?product=firefox-latest&os=win&lang=de");
    assert_eq!(
        r.location(),
        "http://m1.example.org/pub/firefox/120.0/win32/de/setup.exe"
    );
}
