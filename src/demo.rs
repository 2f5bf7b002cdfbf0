//! `bouncer demo`: a small but realistic mirror network on this machine.
//! Four mirrors are served by this process from generated files (one
//! complete, one complete but lighter, one that never synced Thunderbird,
//! one that is down), with two products in several languages and OSes, an
//! ssl-only product and aliases, and the redirector in front of them.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};

use crate::cli::Demo;
use crate::config::{Config, Settings};
use crate::error::{Error, Result};
use crate::model::FileInfo;
use crate::network::Network;
use crate::store::{NewMirror, NewProduct};

/// One product of the demo.
struct DemoProduct {
    name: &'static str,
    languages: &'static [&'static str],
    ssl_only: bool,
    locations: &'static [(&'static str, &'static str)],
}

const FIREFOX_LOCATIONS: &[(&str, &str)] = &[
    (
        "win",
        "/firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe",
    ),
    (
        "win64",
        "/firefox/releases/120.0/win64/:lang/Firefox%20Setup%20120.0.exe",
    ),
    (
        "osx",
        "/firefox/releases/120.0/mac/:lang/Firefox%20120.0.dmg",
    ),
    (
        "linux64",
        "/firefox/releases/120.0/linux-x86_64/:lang/firefox-120.0.tar.bz2",
    ),
];

const PRODUCTS: &[DemoProduct] = &[
    DemoProduct {
        name: "firefox-120.0",
        languages: &["en-US", "de", "fr", "ja", "pt-BR", "zh-TW"],
        ssl_only: false,
        locations: FIREFOX_LOCATIONS,
    },
    DemoProduct {
        name: "firefox-120.0-ssl",
        languages: &["en-US", "de", "fr", "ja", "pt-BR", "zh-TW"],
        ssl_only: true,
        locations: FIREFOX_LOCATIONS,
    },
    DemoProduct {
        name: "thunderbird-115.5.0",
        languages: &["en-US", "de", "fr"],
        ssl_only: false,
        locations: &[
            (
                "win",
                "/thunderbird/releases/115.5.0/win32/:lang/Thunderbird%20Setup%20115.5.0.exe",
            ),
            (
                "linux64",
                "/thunderbird/releases/115.5.0/linux-x86_64/:lang/thunderbird-115.5.0.tar.bz2",
            ),
        ],
    },
];

/// A demo mirror: name, rating, and what it carries.
struct DemoMirror {
    name: &'static str,
    rating: u32,
    /// Products whose files it lacks (a partial sync).
    lacks: &'static [&'static str],
    /// Down: nothing answers at its address.
    down: bool,
}

const MIRRORS: &[DemoMirror] = &[
    DemoMirror {
        name: "mirror-a",
        rating: 100,
        lacks: &[],
        down: false,
    },
    DemoMirror {
        name: "mirror-b",
        rating: 50,
        lacks: &[],
        down: false,
    },
    DemoMirror {
        name: "mirror-c",
        rating: 30,
        lacks: &["thunderbird-115.5.0"],
        down: false,
    },
    DemoMirror {
        name: "mirror-d",
        rating: 100,
        lacks: &[],
        down: true,
    },
];

/// Builds the demo network and serves it until ctrl-c.
pub fn run(db: Option<PathBuf>, args: &Demo) -> Result<()> {
    let dir = match &db {
        Some(db) => db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            .join("bouncer-demo-mirrors"),
        None => std::env::temp_dir().join(format!("bouncer-demo-{}", std::process::id())),
    };
    let db = db.unwrap_or_else(|| dir.join("demo.redb"));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let network = Arc::new(Network::open(&db, true)?);
    if !network.store().snapshot()?.products.is_empty() {
        return Err(Error::InUse {
            detail: format!(
                "{} already holds products; the demo needs a new database (omit --db to use a temporary one)",
                db.display()
            ),
        });
    }

    // Mirror sockets first: their ports go into the base URLs.
    let mut listeners = Vec::new();
    for m in MIRRORS {
        let listener = StdListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("cannot bind a demo mirror on 127.0.0.1", e))?;
        let url = format!(
            "http://{}/pub",
            listener
                .local_addr()
                .map_err(|e| Error::io("cannot read a demo mirror's address", e))?
        );
        let root = dir.join("mirrors").join(m.name);
        write_files(&root, m)?;
        // A down mirror's port is released: connections are refused.
        listeners.push((m, url, (!m.down).then_some(listener), root));
    }
    populate(
        &network,
        &listeners
            .iter()
            .map(|(m, url, ..)| (*m, url.clone()))
            .collect::<Vec<_>>(),
    )?;

    // An admin account for the admin pages, with a fresh password.
    let password = crate::admin::auth::random_token()[..16].to_string();
    let admin = crate::model::User {
        name: "admin".into(),
        password_hash: crate::commands::hash_password(&password)?,
        role: crate::model::Role::Admin,
        created_at: crate::model::now(),
    };
    network.write("demo", |tx| tx.user_put(&admin, "user.add"))?;

    let mut settings = Settings {
        listen: Some(
            args.listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
        ),
        threads: args.threads,
        // The demo runs on loopback: let `?ip=` show the regions.
        ip_override: true,
        ..Settings::default()
    };
    settings.home_url = None;
    let config = Config::from_settings(settings)?;
    let guide: Vec<(&str, String, bool)> = listeners
        .iter()
        .map(|(m, url, ..)| (m.name, url.clone(), m.down))
        .collect();
    let no_serve = args.no_serve;
    let (sentry_config, schedule) =
        crate::server::sentry_settings(&db, &crate::cli::Serve::default());
    let counters = crate::server::counters(&network, &config);
    let serve_counters = counters.clone();
    crate::server::run_then_flush(config.threads, &counters, async move {
        for (_, _, listener, root) in listeners {
            if let Some(listener) = listener {
                spawn_mirror(listener, root)?;
            }
        }
        // A real sentry pass over the real (local) mirrors decides what
        // each one serves.
        let sentry = crate::sentry::Sentry::new(network.clone(), sentry_config.clone());
        let summary =
            tokio::task::spawn_blocking(move || sentry.run(crate::sentry::Mode::All, None))
                .await
                .map_err(|e| Error::Storage(format!("the first sentry run panicked: {e}")))??;
        println!(
            "First sentry run: {} checks, {} failures{}",
            summary.run.checks,
            summary.run.failures,
            summary
                .report
                .map(|r| format!(", report {}", r.display()))
                .unwrap_or_default()
        );
        for c in &summary.changes {
            println!("  {c}");
        }
        print_guide(&db, &config, &guide, &password);
        if no_serve {
            return Ok(());
        }
        let sentry = Some((sentry_config, schedule));
        crate::server::serve_network(&db, network, config, sentry, serve_counters).await
    })
}

/// The demo's files: small, with deterministic content per path.
fn write_files(root: &Path, mirror: &DemoMirror) -> Result<()> {
    for p in PRODUCTS.iter().filter(|p| !mirror.lacks.contains(&p.name)) {
        for (_, path) in p.locations {
            for lang in p.languages {
                let rel = crate::query::percent_decode(&path.replace(":lang", lang)).into_owned();
                let file = root.join(rel.trim_start_matches('/'));
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
                }
                std::fs::write(&file, file_content(&rel))
                    .map_err(|e| Error::io(format!("cannot write {}", file.display()), e))?;
            }
        }
    }
    Ok(())
}

fn file_content(path: &str) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(
        path.bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    (0..64 * 1024).map(|_| rng.u8(..)).collect()
}

/// Products, locations, aliases, mirrors, files and what each mirror serves.
fn populate(network: &Network, mirrors: &[(&DemoMirror, String)]) -> Result<()> {
    network.write("demo", |tx| {
        for p in PRODUCTS {
            tx.product_add(NewProduct {
                name: p.name.into(),
                languages: p.languages.iter().map(|l| l.to_string()).collect(),
                ssl_only: p.ssl_only,
                private: false,
            })?;
            for (os, path) in p.locations {
                let location = tx.location_add(p.name, os, path)?;
                for lang in p.languages {
                    let rel = path.replace(":lang", lang);
                    let content = file_content(&crate::query::percent_decode(&rel));
                    let digests = crate::sentry::probe::hash_stream(&mut content.as_slice())
                        .map_err(|e| Error::io("cannot hash a demo file", e))?;
                    tx.file_put(&FileInfo {
                        size: Some(content.len() as u64),
                        path: rel,
                        location: Some(location.id),
                        lang: Some(lang.to_string()),
                        md5: Some(digests.md5),
                        sha1: Some(digests.sha1),
                        sha256: Some(digests.sha256),
                        sha512: None,
                    })?;
                }
            }
        }
        tx.alias_set("firefox-latest", "firefox-120.0")?;
        tx.alias_set("firefox-latest-ssl", "firefox-120.0-ssl")?;
        tx.alias_set("thunderbird-latest", "thunderbird-115.5.0")?;
        // Geography: Europe keeps its clients on mirror-b; North America
        // keeps 80% of its downloads on mirror-c and falls back to Europe.
        let continent = |code| {
            crate::geoip::continents::named(code)
                .map(|c| crate::geoip::continents::split_taken::<&str>(c, &[]).0)
                .unwrap_or_default()
        };
        tx.region_add(crate::model::Region {
            name: "europe".into(),
            throttle: 100,
            fallback: None,
            global_fallback: true,
            countries: continent("EU"),
        })?;
        tx.region_add(crate::model::Region {
            name: "north-america".into(),
            throttle: 80,
            fallback: Some("europe".into()),
            global_fallback: true,
            countries: continent("NA"),
        })?;
        for (m, url) in mirrors {
            let regions = match m.name {
                "mirror-b" => vec!["europe".into()],
                "mirror-c" => vec!["north-america".into()],
                _ => vec![],
            };
            tx.mirror_add(NewMirror {
                name: m.name.into(),
                base_url: url.clone(),
                rating: m.rating,
                contact: format!("admins@{}.example", m.name),
                regions,
                ..NewMirror::default()
            })?;
        }
        Ok(())
    })?;
    // GeoIP for the documentation address blocks, so `?ip=` can show it.
    let geo = crate::geoip::import::import(&[crate::geoip::import::Source {
        name: "demo-geoip.csv".into(),
        bytes: DEMO_GEOIP.as_bytes().to_vec(),
    }])?;
    network.replace_geoip("demo", Some(geo.db))?;
    Ok(())
}

/// The demo's GeoIP table: the documentation blocks of RFC 5737 and 3849.
const DEMO_GEOIP: &str = "start,end,country
192.0.2.0,192.0.2.255,DE
198.51.100.0,198.51.100.255,US
203.0.113.0,203.0.113.255,JP
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,FR
";

/// Serves `root` over HTTP on `listener`, as a mirror would.
fn spawn_mirror(listener: StdListener, root: PathBuf) -> Result<()> {
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("cannot set up a demo mirror", e))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| Error::io("cannot set up a demo mirror", e))?;
    let root = Arc::new(root);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let root = root.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let root = root.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                serve_file(&root, req.uri().path()).await,
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

async fn serve_file(root: &Path, path: &str) -> Response<Full<Bytes>> {
    let decoded = crate::query::percent_decode(path);
    let rel = decoded.strip_prefix("/pub/").unwrap_or("");
    let safe = !rel.is_empty()
        && !rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    let found = if safe {
        tokio::fs::read(root.join(rel)).await.ok()
    } else {
        None
    };
    match found {
        Some(bytes) => Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(bytes))),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found\n"))),
    }
    .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn print_guide(db: &Path, config: &Config, mirrors: &[(&str, String, bool)], password: &str) {
    let base = format!("http://{}", config.listen);
    let bin =
        std::env::current_exe().map_or_else(|_| "bouncer".into(), |p| p.display().to_string());
    println!("Bouncer demo network");
    println!("  database: {}", db.display());
    for (name, url, down) in mirrors {
        println!(
            "  mirror {name}: {url}{}",
            if *down { "  (down)" } else { "" }
        );
    }
    println!();
    println!("Try:");
    println!("  curl -I '{base}/?product=firefox-latest&os=win&lang=de'");
    println!("  curl '{base}/?product=firefox-latest&os=osx&lang=ja&print=yes'");
    println!(
        "  curl -sL -o /dev/null -w '%{{url_effective}}\\n' '{base}/?product=thunderbird-latest&os=linux64&lang=fr'"
    );
    println!(
        "  curl '{base}/files/firefox/releases/120.0/linux-x86_64/pt-BR/firefox-120.0.tar.bz2?print=yes'"
    );
    println!(
        "  curl -i '{base}/?product=firefox-latest-ssl'      # 503: no https mirror, never downgraded"
    );
    println!("  curl -i '{base}/?product=firefox-latest&lang=xx'  # 404 page not found");
    println!(
        "  curl -I '{base}/?product=firefox-latest&ip=192.0.2.1'  # a client in Germany: Europe's mirror (mirror-b)"
    );
    println!(
        "  curl -I '{base}/?product=firefox-latest&ip=198.51.100.1'  # the US: mirror-c 80% of the time"
    );
    println!("  {bin} --db {} region list", db.display());
    println!("  {bin} --db {} mirror list", db.display());
    println!("  {bin} --db {} stats", db.display());
    println!();
    println!("Download form: {base}/download   mirrors: {base}/mirrors   trends: {base}/stats");
    println!("Admin pages: {base}/admin/  (user admin, password {password})");
    println!();
    println!("Ctrl-C stops the demo.");
}
