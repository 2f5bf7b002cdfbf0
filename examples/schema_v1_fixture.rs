//! Writes `tests/fixtures/schema-v1.redb`: a small database in schema 1,
//! which the migration tests open (a copy of) with the current code.
//!
//! The fixture must be written by code whose schema is 1, so this program
//! refuses to run otherwise. To make it again, run it in a checkout of a
//! schema-1 commit (the parent of the commit that added schema 2, e.g.
//! c5091c1), with this file copied into its `examples/`:
//!
//! ```text
//! git worktree add /tmp/v1 c5091c1 && cp examples/schema_v1_fixture.rs /tmp/v1/examples/
//! (cd /tmp/v1 && cargo run --example schema_v1_fixture -- "$PWD/tests/fixtures/schema-v1.redb")
//! ```
//!
//! What it holds: 2 products (one with languages, one private) with 3
//! locations and 2 files, an alias, an extra operating system, a region (throttle
//! 80), 3 mirrors (one inactive, one in the region),
//! mirror health, 5 availability rows (present, missing, unhealthy), a
//! sentry run, a user, two settings, a tiny GeoIP table, download counts on
//! two days, and the audit events all of that wrote. It is compacted, so
//! the file stays small.

use bouncer::geoip::{Country, GeoDb};
use bouncer::model::{
    Availability, CountBatch, FileInfo, MirrorHealth, Region, Role, SentryRun, User,
};
use bouncer::store::{NewMirror, NewProduct, SCHEMA_VERSION, Store};

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/fixtures/schema-v1.redb".into());
    assert_eq!(
        SCHEMA_VERSION, 1,
        "this build writes schema {SCHEMA_VERSION}; run this program in a checkout of a schema-1 commit (see its doc comment)"
    );
    let out = std::path::PathBuf::from(out);
    let _ = std::fs::remove_file(&out);
    {
        let store = Store::open(&out).expect("create the fixture database");
        store
            .write(&bouncer::model::Actor::Cli, build)
            .expect("write the fixture network");
        store
            .write(&bouncer::model::Actor::Sentry, |tx| {
                let s = |l: &str, m: &str| -> bouncer::error::Result<_> {
                    let (p, os) = l.split_once(' ').expect("product os");
                    let loc = tx.location(p, os)?.expect("location").id;
                    let mirror = tx.mirror(m)?.expect("mirror").id;
                    Ok((loc, mirror))
                };
                let rows = [
                    (s("firefox-120.0 win", "m1")?, true, true, ""),
                    (s("firefox-120.0 win", "m2")?, true, true, ""),
                    (
                        s("firefox-120.0 linux", "m1")?,
                        false,
                        true,
                        "404 Not Found",
                    ),
                    (s("thunderbird-115.0 osx", "m2")?, true, false, "timed out"),
                    (s("thunderbird-115.0 osx", "m3")?, true, true, ""),
                ];
                for ((loc, mirror), present, healthy, error) in rows {
                    tx.set_availability(
                        loc,
                        mirror,
                        &Availability {
                            present,
                            healthy,
                            checked_at: 1_700_000_000,
                            error: error.into(),
                        },
                    )?;
                }
                let m2 = tx.mirror("m2")?.expect("m2").id;
                tx.set_health(
                    m2,
                    &MirrorHealth {
                        healthy: false,
                        checked_at: 1_700_000_000,
                        since: 1_699_990_000,
                        error: "timed out".into(),
                        flaps: 1,
                        latency_ms: 0,
                        throughput: 0,
                        problem: None,
                        reaches: Default::default(),
                        alt: bouncer::model::Reach::Unknown,
                        synced_at: 0,
                    },
                )?;
                let mut run = SentryRun {
                    kind: "all".into(),
                    started_at: 1_700_000_000,
                    ended_at: 1_700_000_010,
                    checks: 7,
                    failures: 2,
                    changes: 5,
                    report: "2023-11-14/run-1.html".into(),
                    ..Default::default()
                };
                tx.sentry_run_put(&mut run)
            })
            .expect("write sentry's state");
        let s = store.snapshot().expect("read the fixture back");
        let firefox = s.product("firefox-120.0").expect("firefox").id;
        let win = s
            .locations
            .iter()
            .find(|l| l.product == firefox && l.os == "win")
            .expect("firefox win")
            .id;
        let m1 = s.mirror("m1").expect("m1").id;
        let m3 = s.mirror("m3").expect("m3").id;
        for (day, n) in [(19_675, 3), (19_676, 5)] {
            store
                .add_counts(&CountBatch {
                    day,
                    products: vec![(firefox, n)],
                    locations: vec![(win, "de".into(), n)],
                    mirrors: vec![(m1, n - 1), (m3, 1)],
                    countries: vec![("DE".into(), n - 1), ("--".into(), 1)],
                })
                .expect("write counts");
        }
    }
    let mut db = redb::Database::open(&out).expect("reopen the fixture");
    db.compact().expect("compact the fixture");
    drop(db);
    let size = std::fs::metadata(&out).expect("stat the fixture").len();
    println!("wrote {} ({size} bytes, schema 1)", out.display());
}

/// The configuration: products, locations, files, mirrors, region, user.
fn build(tx: &mut bouncer::store::Tx) -> bouncer::error::Result<()> {
    tx.os_add("beos")?;
    tx.product_add(NewProduct {
        name: "firefox-120.0".into(),
        languages: vec!["en-US".into(), "de".into()],
        ..Default::default()
    })?;
    tx.product_update("firefox-120.0", |p| p.priority = 5)?;
    tx.product_add(NewProduct {
        name: "thunderbird-115.0".into(),
        ssl_only: true,
        private: true,
        ..Default::default()
    })?;
    tx.location_add(
        "firefox-120.0",
        "win",
        "/firefox/120.0/win32/:lang/setup.exe",
    )?;
    tx.location_add(
        "firefox-120.0",
        "linux",
        "/firefox/120.0/linux/:lang/firefox.tar.bz2",
    )?;
    let tb = tx.location_add("thunderbird-115.0", "osx", "/tb/115.0/mac/tb.dmg")?;
    let win = tx
        .location("firefox-120.0", "win")?
        .expect("the location just added");
    tx.file_put(&FileInfo {
        path: "/firefox/120.0/win32/de/setup.exe".into(),
        location: Some(win.id),
        lang: Some("de".into()),
        size: Some(1234),
        sha256: Some("ab".repeat(32)),
        ..Default::default()
    })?;
    tx.file_put(&FileInfo {
        path: "/tb/115.0/mac/tb.dmg".into(),
        location: Some(tb.id),
        size: Some(99),
        md5: Some("cd".repeat(16)),
        ..Default::default()
    })?;
    tx.alias_set("firefox-latest", "firefox-120.0")?;
    tx.region_add(Region {
        name: "europe".into(),
        throttle: 80,
        fallback: None,
        global_fallback: true,
        countries: vec!["DE".into(), "FR".into()],
    })?;
    tx.mirror_add(NewMirror {
        name: "m1".into(),
        base_url: "http://m1.example.org/pub".into(),
        rating: 100,
        contact: "ops@m1.example.org".into(),
        ..Default::default()
    })?;
    tx.mirror_add(NewMirror {
        name: "m2".into(),
        base_url: "https://m2.example.net".into(),
        rating: 50,
        regions: vec!["europe".into()],
        ..Default::default()
    })?;
    tx.mirror_add(NewMirror {
        name: "m3".into(),
        base_url: "http://m3.example.com/mirror".into(),
        rating: 10,
        inactive: true,
        ..Default::default()
    })?;
    tx.user_put(
        &User {
            name: "alice".into(),
            password_hash: bouncer::auth::hash_password("correct horse")?,
            role: Role::Admin,
            created_at: 1_700_000_000,
        },
        "user.add",
    )?;
    tx.setting_put("mail.host", Some("smtp.example.org"))?;
    tx.setting_put("mail.to", Some("ops@example.org"))?;
    let (mut geo, _) = GeoDb::from_ranges(
        vec![(0x0A00_0000, 0x0AFF_FFFF, Country::parse("DE").expect("DE"))],
        vec![],
    );
    geo.source = "fixture".into();
    geo.loaded = 1_700_000_000;
    tx.geoip_put(Some(&geo))
}
