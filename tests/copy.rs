//! `bouncer copy --from DB --to DB` between a redb file and a real
//! PostgreSQL (issue 17), and `export`/`import` with `--db postgres://…`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bouncer::model::{CountBatch, Event};
use bouncer::store::{Place, Store};
use bouncer::testing::postgres::TestPostgres;

use crate::common::{Env, Out, run_bounded};

const BIN: &str = env!("CARGO_BIN_EXE_bouncer");

/// `bouncer args…`, without `--db` or `$BOUNCER_DB`, for at most 60 s.
fn bouncer(args: &[&str]) -> Out {
    let mut command = Command::new(BIN);
    command.env_remove("BOUNCER_DB").args(args);
    run_bounded(&mut command, Duration::from_secs(60))
        .unwrap_or_else(|why| panic!("`bouncer {}`: {why}", args.join(" ")))
        .into()
}

/// `bouncer --db DB args…`, which must succeed; its stdout.
fn ok_on(db: &str, args: &[&str]) -> String {
    let mut all = vec!["--db", db];
    all.extend_from_slice(args);
    let out = bouncer(&all);
    assert_eq!(out.code, 0, "`bouncer {}`: {out:?}", all.join(" "));
    out.stdout
}

/// The path as a string (temporary paths are UTF-8).
fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A redb network with something of every kind: configuration, users,
/// sentry's findings, a GeoIP table, download counts over two days and
/// the audit log of all of it.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "os add beos",
        "os remove osx",
        "product add firefox-120.0 --lang en-US --lang de",
        "location add firefox-120.0 win /firefox/120.0/:lang/setup.exe",
        "location add firefox-120.0 beos /firefox/120.0/:lang/ff.pkg",
        "alias set firefox-latest firefox-120.0",
        "product add gone",
        "product remove gone",
        "product add tb --ssl-only --private",
        "location add tb linux /tb/tb.tar.bz2",
        "region add europe --country DE --country FR --throttle 80",
        "mirror add m1 http://127.0.0.1:9/m1 --rating 10 --contact ops@m1.example",
        "mirror add m2 http://127.0.0.1:9/m2 --region europe --families ipv6 --only-countries DE,AT --never-countries CN --networks 192.0.2.0/24,2001:db8::/32,AS64500 --max-share 40 --alt-url https://127.0.0.1:9/m2 --trace /lastsync",
        "mirror add cdn https://cdn.example/pub --kind cdn",
        "mirror set m1 --maintenance now/2h",
        "product set tb --max-lag 30",
        "status set m1 present",
        "status set m2 present --product firefox-120.0",
        "status set m2 missing --product firefox-120.0 --os beos",
        "settings set mail.host smtp.example.org",
    ]);
    env.add_user_with("alice", "admin", "correct horse");
    let ranges = env.db.with_file_name("ranges.csv");
    std::fs::write(
        &ranges,
        "start,end,country\n198.51.100.0,198.51.100.255,DE\n2001:db8:de::,2001:db8:de:ffff:ffff:ffff:ffff:ffff,DE\n",
    )
    .unwrap();
    env.ok(&["geoip", "import", s(&ranges)]);
    // Counts as a server's flush writes them (no server needed).
    let store = Store::open(&env.db).unwrap();
    let snapshot = store.snapshot().unwrap();
    for day in [19_700, 19_701] {
        store
            .add_counts(&CountBatch {
                day,
                products: vec![(snapshot.products[0].id, 5)],
                locations: vec![(snapshot.locations[0].id, "de".into(), 5)],
                mirrors: vec![(snapshot.mirrors[0].id, 4), (snapshot.mirrors[1].id, 1)],
                countries: vec![("DE".into(), 3), ("--".into(), 2)],
            })
            .unwrap();
    }
    env
}

/// What a network holds beyond its export: the audit log.
fn events(db: &str) -> Vec<Event> {
    Store::open_at(&Place::parse(db))
        .unwrap()
        .events(100_000)
        .unwrap()
}

/// What the CLI shows of a network that `export` leaves out: sentry's
/// findings, the GeoIP table, the ids of new things.
fn views(db: &str) -> Vec<String> {
    [
        &["status", "list"][..],
        &["geoip", "status"],
        &["geoip", "lookup", "198.51.100.7"],
        &["stats", "--days", "100000"],
    ]
    .iter()
    .map(|args| ok_on(db, args))
    .collect()
}

#[test]
fn copy_redb_to_postgresql_and_back_gives_the_same_export_with_counts() {
    let Some(server) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = network();
    let file = s(&env.db).to_string();
    let before = ok_on(&file, &["export", "--with-counts"]);
    assert!(
        before.contains("\"counts\"") && before.contains("alice"),
        "{before}"
    );
    let (log, seen) = (events(&file), views(&file));
    assert!(seen[0].contains("m2") && seen[2].contains("DE"), "{seen:?}");
    assert!(seen[3].contains("20"), "{seen:?}");

    let url = server.database();
    let out = bouncer(&["copy", "--from", &file, "--to", &url]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{out:?}");
    assert!(
        lines[0].starts_with("configuration: products 2, aliases 1, operating systems "),
        "{out:?}"
    );
    assert!(
        lines[1] == "sentry: availability 5, mirror health 0, check history 0, runs 0",
        "{out:?}"
    );
    assert_eq!(
        lines[2],
        "download counts: by product 2, by location 2, by mirror 4, by country 4"
    );
    assert_eq!(
        &lines[3..6],
        ["audit log: events 22", "GeoIP tables: 1", "id sequences: 4"]
    );
    assert!(
        lines[6].starts_with("copied ") && lines[6].ends_with(&format!(" from {file} to {url}")),
        "{out:?}"
    );
    assert_eq!(ok_on(&url, &["export", "--with-counts"]), before);
    assert_eq!(events(&url), log);
    assert_eq!(views(&url), seen);

    // Into an existing network: refused, and nothing changes.
    let again = bouncer(&["copy", "--from", &file, "--to", &url]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("is not empty"), "{again:?}");
    assert_eq!(events(&url), log);

    // And back into a new file.
    let back = env.db.with_file_name("back.redb");
    let out = bouncer(&["copy", "--from", &url, "--to", s(&back)]);
    assert_eq!(out.code, 0, "{out:?}");
    let back = s(&back);
    assert_eq!(ok_on(back, &["export", "--with-counts"]), before);
    assert_eq!(events(back), log);
    assert_eq!(views(back), seen);
    // Ids go on where they were: the next product is the fourth, in both.
    for db in [&file, back] {
        ok_on(db, &["product", "add", "next"]);
    }
    let ids = |db: &str| -> Vec<(String, u64)> {
        let store = Store::open_at(&Place::parse(db)).unwrap();
        let products = store.snapshot().unwrap().products;
        products.into_iter().map(|p| (p.name, p.id.0)).collect()
    };
    assert_eq!(ids(back), ids(&file));
    assert_eq!(ids(back).last().unwrap().1, 4);
}

#[test]
fn copy_refuses_a_file_a_server_holds_and_leaves_no_file_behind() {
    let env = network();
    let server = env.serve(&[]);
    let target = env.db.with_file_name("copy.redb");
    let out = bouncer(&["copy", "--from", s(&env.db), "--to", s(&target)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("is open in a running server") && out.stderr.contains("backup FILE"),
        "{out:?}"
    );
    assert!(!target.exists());
    // The advice works: a backup of the running server copies.
    let backup = env.db.with_file_name("b.redb");
    env.ok(&["backup", s(&backup)]);
    let out = bouncer(&["copy", "--from", s(&backup), "--to", s(&target)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        ok_on(s(&target), &["export", "--with-counts"]),
        env.ok(&["export", "--with-counts"])
    );
    drop(server);

    // A missing source is not created, nor the target made.
    let missing = env.db.with_file_name("missing.redb");
    let other = env.db.with_file_name("other.redb");
    let out = bouncer(&["copy", "--from", s(&missing), "--to", s(&other)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no database at"), "{out:?}");
    assert!(!missing.exists() && !other.exists());
    // Nor a copy onto itself, nor one that fails half-way (an existing
    // network as target) touched.
    let out = bouncer(&["copy", "--from", s(&target), "--to", s(&target)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the source itself"), "{out:?}");
    let out = bouncer(&["copy", "--from", s(&backup), "--to", s(&target)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("is not empty (it holds"), "{out:?}");
    assert!(target.exists());
}

#[test]
fn export_and_import_work_on_postgresql() {
    let Some(server) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = network();
    let text = env.ok(&["export", "--with-counts"]);
    let file = env.db.with_file_name("network.json");
    std::fs::write(&file, &text).unwrap();

    let url = server.database();
    let out = ok_on(&url, &["import", s(&file)]);
    assert!(out.starts_with("imported 2 product(s)"), "{out}");
    assert_eq!(ok_on(&url, &["export", "--with-counts"]), text);
    // An export file is written by the client, as with a file database.
    let written = env.db.with_file_name("from-pg.json");
    ok_on(&url, &["export", s(&written), "--with-counts"]);
    assert_eq!(std::fs::read_to_string(&written).unwrap(), text);

    // A configuration there is replaced only when asked.
    ok_on(&url, &["mirror", "add", "m3", "http://127.0.0.1:9/m3"]);
    let refused = bouncer(&["--db", &url, "import", s(&file)]);
    assert_eq!(refused.code, 1, "{refused:?}");
    ok_on(&url, &["import", s(&file), "--replace"]);
    assert_eq!(ok_on(&url, &["export", "--with-counts"]), text);
}
