//! `bouncer demo`: a small but realistic mirror network on this machine.
//! Four mirrors are served by this process from generated files (one
//! complete, one complete but lighter, one that never synced Thunderbird,
//! one that is down), with two products in several languages and OSes, an
//! ssl-only product and aliases, and the redirector in front of them.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::StatusCode;

use crate::cli::Demo;
use crate::config::Config;
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

/// Where the demo keeps its database, its mirrors' files and sentry's
/// reports. A temporary directory is removed when the demo ends, however
/// it ends (done, failed, ctrl-c or SIGTERM); with `--db` everything stays.
struct Place {
    dir: PathBuf,
    db: PathBuf,
    temporary: bool,
}

impl Place {
    fn new(db: Option<PathBuf>) -> Result<Place> {
        let Some(db) = db else {
            let dir = temporary_dir()?;
            return Ok(Place {
                db: dir.join("demo.redb"),
                dir,
                temporary: true,
            });
        };
        let dir = db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            .join("bouncer-demo-mirrors");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(Place {
            dir,
            db,
            temporary: false,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.temporary
            && let Err(e) = std::fs::remove_dir_all(&self.dir)
        {
            eprintln!(
                "bouncer: cannot remove the demo's temporary files {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// A new directory of our own in the system's temporary directory
/// (`$TMPDIR`): a fresh name, created exclusively, owner-only.
fn temporary_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut attempts = 0;
    loop {
        let dir = base.join(format!(
            "bouncer-demo-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "cannot create a temporary directory in {} (set TMPDIR, or pass --db PATH)",
                        base.display()
                    ),
                    e,
                ));
            }
        }
    }
}

/// Builds the demo network and serves it until ctrl-c or SIGTERM.
pub fn run(db: Option<PathBuf>, args: &Demo) -> Result<()> {
    crate::log::init_from_env();
    // Dropped last: the directory goes once nothing uses it.
    let place = Place::new(db)?;
    let network = Arc::new(Network::open(&place.db, true)?);
    let db_place = crate::store::Place::from(&place.db);
    if !network.snapshot()?.products.is_empty() {
        return Err(Error::InUse {
            detail: format!(
                "{} already holds products; the demo needs a new database (omit --db to use a temporary one)",
                place.db.display()
            ),
        });
    }
    // With --tls: a self-signed certificate for this machine, which the
    // HTTPS listener and the mirrors present and sentry trusts.
    let tls = if args.tls {
        Some(DemoTls::make(&place.dir)?)
    } else {
        None
    };
    let serve = crate::cli::Serve {
        listen: Some(
            args.listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
        ),
        tls_cert: tls.as_ref().map(|t| t.pair.cert.display().to_string()),
        tls_key: tls.as_ref().map(|t| t.pair.key.display().to_string()),
        tls_listen: tls.as_ref().map(|_| {
            args.tls_listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8443".into())
        }),
        threads: args.threads,
        // The demo runs on loopback: let `?ip=` show the regions.
        allow_ip_override: true,
        ..crate::cli::Serve::default()
    };
    if args.tls_listen.is_some() && !args.tls {
        return Err(Error::invalid(
            "demo settings",
            "--tls-listen needs --tls".into(),
        ));
    }
    let mut config = Config::from_cli(&serve)?;
    // Port 0 (`--listen 127.0.0.1:0`): take a free port now, so the guide
    // prints the real one; held until just before the server binds it.
    let reserve = |addr: &mut std::net::SocketAddr| -> Result<Option<StdListener>> {
        if addr.port() != 0 {
            return Ok(None);
        }
        let listener = StdListener::bind(*addr)
            .map_err(|e| Error::io(format!("cannot listen on {addr}"), e))?;
        *addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the listening address", e))?;
        Ok(Some(listener))
    };
    let reserved = reserve(&mut config.listen)?;
    let reserved_tls = match &mut config.tls {
        Some(t) => reserve(&mut t.listen)?,
        None => None,
    };
    let (mut sentry_config, schedule) =
        crate::app::sentry_settings(&db_place, &crate::cli::Serve::default());
    if let Some(tls) = &tls {
        sentry_config.probe.also_trust.push(tls.der.clone());
    }
    let counters = crate::app::counters(&network, &config);
    let serve_counters = counters.clone();
    let no_serve = args.no_serve;
    let db = place.db.clone();
    let dir = place.dir.clone();
    let temporary = place.temporary;
    crate::app::run_then_flush(config.threads, &counters, async move {
        // Installed first, so a signal while the network is being built
        // still ends the demo through here (and its files are removed).
        let stop = crate::app::shutdown_signal()?;
        tokio::pin!(stop);
        let prepare = prepare(&network, &dir, sentry_config.clone(), tls.as_ref());
        let guide = tokio::select! {
            guide = prepare => guide?,
            () = &mut stop => return Ok(()),
        };
        print_guide(&db, temporary, &config, &guide, no_serve, tls.as_ref());
        if no_serve {
            return Ok(());
        }
        drop(reserved);
        drop(reserved_tls);
        let grace = config.shutdown_grace;
        let sentry = Some((sentry_config, schedule));
        let serving = crate::app::serve_network(&db_place, network, config, sentry, serve_counters);
        tokio::pin!(serving);
        tokio::select! {
            served = &mut serving => served,
            // The server listens for the same signals, but one that came
            // before it did is ours alone: give it its grace, then stop.
            () = &mut stop => tokio::time::timeout(grace + std::time::Duration::from_secs(1), serving)
                .await
                .unwrap_or(Ok(())),
        }
    })
}

/// What the guide shows: the mirrors (name, base URL, down) and the
/// admin's password.
struct Guide {
    mirrors: Vec<(&'static str, String, bool)>,
    password: String,
}

/// The demo's HTTPS: a self-signed certificate for localhost and
/// 127.0.0.1, written beside the database.
struct DemoTls {
    pair: crate::tls::files::Pair,
    /// The certificate, DER: what sentry trusts.
    der: Vec<u8>,
    fingerprint: String,
    /// For the mirrors' TLS listeners.
    acceptor: tokio_rustls::TlsAcceptor,
}

impl DemoTls {
    fn make(dir: &Path) -> Result<DemoTls> {
        let (cert, key) = crate::tls::self_signed(&["localhost", "127.0.0.1"])
            .map_err(|e| Error::Internal(format!("cannot make the demo's certificate: {e}")))?;
        let pair = crate::tls::files::Pair {
            cert: dir.join("demo-cert.pem"),
            key: dir.join("demo-key.pem"),
        };
        crate::tls::write_private(&pair.key, &key)?;
        crate::tls::write_private(&pair.cert, &cert)?;
        let loaded = pair.load()?;
        let der = loaded.key.cert[0].as_ref().to_vec();
        let fingerprint = loaded.info.fingerprint.clone();
        let certificates = crate::tls::Certificates::new(crate::tls::Source::Files);
        certificates.install(loaded);
        let config = crate::tls::server_config(certificates)
            .map_err(|e| Error::Internal(format!("TLS configuration: {e}")))?;
        Ok(DemoTls {
            pair,
            der,
            fingerprint,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        })
    }
}

/// Serves the mirrors' files (over HTTPS with `tls`), fills the database,
/// and runs one real sentry pass over the (local) mirrors to decide what
/// each one serves.
async fn prepare(
    network: &Arc<Network>,
    dir: &Path,
    sentry_config: crate::sentry::SentryConfig,
    tls: Option<&DemoTls>,
) -> Result<Guide> {
    // Mirror sockets first: their ports go into the base URLs.
    let mut mirrors = Vec::new();
    for m in MIRRORS {
        let listener = StdListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("cannot bind a demo mirror on 127.0.0.1", e))?;
        let url = format!(
            "{}://{}/pub",
            if tls.is_some() { "https" } else { "http" },
            listener
                .local_addr()
                .map_err(|e| Error::io("cannot read a demo mirror's address", e))?
        );
        let root = dir.join("mirrors").join(m.name);
        write_files(&root, m)?;
        // A down mirror's port is released: connections are refused.
        if !m.down {
            spawn_mirror(listener, root, tls.map(|t| t.acceptor.clone()))?;
        }
        mirrors.push((m, url));
    }
    populate(network, &mirrors)?;

    // An admin account for the admin pages, with a fresh password.
    let password = crate::auth::random_token()[..16].to_string();
    let admin = crate::model::User {
        name: "admin".into(),
        password_hash: crate::auth::hash_password(&password)?,
        role: crate::model::Role::Admin,
        created_at: crate::model::now(),
    };
    network.write(&crate::model::Actor::Demo, |tx| {
        tx.user_put(&admin, "user.add")
    })?;

    let sentry = crate::sentry::Sentry::new(network.clone(), sentry_config);
    let summary = tokio::task::spawn_blocking(move || sentry.run(crate::sentry::Mode::All, None))
        .await
        .map_err(|e| Error::Internal(format!("the first sentry run panicked: {e}")))??;
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
    Ok(Guide {
        mirrors: mirrors
            .into_iter()
            .map(|(m, url)| (m.name, url, m.down))
            .collect(),
        password,
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
    network.write(&crate::model::Actor::Demo, |tx| {
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
    network.replace_geoip(&crate::model::Actor::Demo, Some(geo.db))?;
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
fn spawn_mirror(
    listener: StdListener,
    root: PathBuf,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<()> {
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
            let (root, tls) = (root.clone(), tls.clone());
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
                let http1 = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => {
                            let stream = hyper_util::rt::TokioIo::new(stream);
                            http1.serve_connection(stream, service).await
                        }
                        Err(_) => return,
                    },
                    None => {
                        let stream = hyper_util::rt::TokioIo::new(stream);
                        http1.serve_connection(stream, service).await
                    }
                };
            });
        }
    });
    Ok(())
}

async fn serve_file(root: &Path, path: &str) -> crate::http::Reply {
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
        Some(bytes) => crate::http::with_type(StatusCode::OK, "application/octet-stream", bytes),
        None => crate::http::text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The guide: what was made, and examples to try, each with the answer it
/// gives (`# STATUS …`, naming the mirrors that may answer), which
/// `tests/examples.rs` runs and checks.
fn print_guide(
    db: &Path,
    temporary: bool,
    config: &Config,
    guide: &Guide,
    no_serve: bool,
    tls: Option<&DemoTls>,
) {
    // With --tls the examples go to the HTTPS listener, trusting the
    // demo's certificate.
    let (base, curl) = match (tls, &config.tls) {
        (Some(demo), Some(https)) => (
            format!("https://localhost:{}", https.listen.port()),
            format!(
                "curl --cacert {}",
                shell_word(&demo.pair.cert.display().to_string())
            ),
        ),
        _ => (format!("http://{}", config.listen), "curl".to_string()),
    };
    let bin = shell_word(
        &std::env::current_exe().map_or_else(|_| "bouncer".into(), |p| p.display().to_string()),
    );
    let db_arg = shell_word(&db.display().to_string());
    println!("Bouncer demo network");
    println!(
        "  database: {}{}",
        db.display(),
        if temporary {
            "  (temporary: removed when the demo stops; `demo --db PATH` keeps one)"
        } else {
            ""
        }
    );
    for (name, url, down) in &guide.mirrors {
        println!(
            "  mirror {name}: {url}{}",
            if *down { "  (down)" } else { "" }
        );
    }
    if let Some(demo) = tls {
        println!(
            "  HTTPS: self-signed certificate {} (SHA-256 {}); plain HTTP stays on http://{} for redirects",
            demo.pair.cert.display(),
            demo.fingerprint,
            config.listen
        );
    }
    println!();
    println!("Try (each with the answer it gives):");
    let examples = [
        (
            format!("{curl} -I '{base}/?product=firefox-latest&os=win&lang=de'"),
            "302 to mirror-a, mirror-b or mirror-c, by rating",
        ),
        (
            format!("{curl} '{base}/?product=firefox-latest&os=osx&lang=ja&print=yes'"),
            "200: the URL it would redirect to, on mirror-a, mirror-b or mirror-c",
        ),
        (
            format!(
                "{curl} -sL -o /dev/null -w '%{{url_effective}}\\n' '{base}/?product=thunderbird-latest&os=linux64&lang=fr'"
            ),
            "200 from mirror-a or mirror-b, the mirrors with Thunderbird",
        ),
        (
            format!(
                "{curl} '{base}/files/firefox/releases/120.0/linux-x86_64/pt-BR/firefox-120.0.tar.bz2?print=yes'"
            ),
            "200: a URL on mirror-a, mirror-b or mirror-c",
        ),
        (
            format!("{curl} -i '{base}/?product=firefox-latest-ssl'"),
            if tls.is_some() {
                "302 to mirror-a, mirror-b or mirror-c, all https: never downgraded"
            } else {
                "503: no https mirror, never downgraded"
            },
        ),
        (
            format!("{curl} -i '{base}/?product=firefox-latest&lang=xx'"),
            "404 page not found",
        ),
        (
            format!("{curl} -I '{base}/?product=firefox-latest&ip=192.0.2.1'"),
            "302 to mirror-b: a client in Germany gets Europe's mirror",
        ),
        (
            format!("{curl} -I '{base}/?product=firefox-latest&ip=198.51.100.1'"),
            "302 to mirror-c 80% of the time, else to Europe's mirror-b: a client in the US",
        ),
    ];
    for (command, answer) in examples {
        println!("  {command}  # {answer}");
    }
    for command in ["region list", "mirror list", "stats"] {
        println!("  {bin} --db {db_arg} {command}");
    }
    println!();
    println!("Download form: {base}/download   mirrors: {base}/mirrors   trends: {base}/stats");
    println!(
        "Admin pages: {base}/admin/  (user admin, password {})",
        guide.password
    );
    println!();
    match (no_serve, temporary) {
        (false, true) => println!("Ctrl-C stops the demo and removes its temporary files."),
        (false, false) => println!("Ctrl-C stops the demo; {} stays.", db.display()),
        (true, true) => println!("Not serving (--no-serve); the temporary files are removed."),
        (true, false) => println!("Not serving (--no-serve); {} stays.", db.display()),
    }
}

/// `s` as one shell word: as it is when it is safe, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell_word("/tmp/demo.redb"), "/tmp/demo.redb");
        assert_eq!(shell_word("/tmp/my demo.redb"), "'/tmp/my demo.redb'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
