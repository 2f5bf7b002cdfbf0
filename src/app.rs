//! Wiring a serving process: the runtime, the sentry thread, the control
//! socket, the access log, the listeners and their routers, and the order
//! things stop in (stop accepting, finish requests, stop sentry, flush
//! counters). [`crate::server`] is the listener loop and router only.

use std::future::Future;
use std::sync::Arc;

use crate::bounce::Bouncer;
use crate::server::{Router, Site, Transport, run};

/// Connections the kernel queues before they are accepted.
const LISTEN_BACKLOG: u32 = 4096;

/// Installs handlers for SIGTERM and SIGINT (ctrl-c) now, and returns a
/// future that resolves when either arrives. Installing before the server
/// announces itself means a signal sent right after the announcement is
/// never lost to the default action (which would skip the counter flush).
/// Must be called inside the runtime.
pub fn shutdown_signal() -> crate::error::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| {
        signal(kind).map_err(|e| crate::error::Error::io("cannot install signal handlers", e))
    };
    let mut term = install(SignalKind::terminate())?;
    let mut int = install(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

/// HTTP workers for `threads` (0: the default) on a machine with `cores`:
/// one per core but one, at least one. The core left over runs what
/// serving needs besides the workers (the kernel's network work, the
/// counting thread, checks): a worker per core would fight them for it,
/// and on a small machine the redirects' tail would pay (measured on 2
/// cores: 0.76× nginx's throughput with 2 workers, 1.04× with 1).
pub fn workers(threads: usize, cores: usize) -> usize {
    match threads {
        0 => cores.saturating_sub(1).max(1),
        n => n,
    }
}

/// Builds the tokio runtime with `threads` workers (0: see [`workers`]).
pub fn runtime(threads: usize) -> crate::error::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers(threads, cores))
        .enable_all()
        // Hand each worker's download counts over when it idles or stops.
        .on_thread_park(crate::counters::flush_thread)
        .on_thread_stop(crate::counters::flush_thread)
        .thread_name("http")
        .build()
        .map_err(|e| crate::error::Error::io("cannot start the HTTP runtime", e))
}

/// The counting service `config` asks for.
pub fn counters(
    network: &Arc<crate::network::Network>,
    config: &crate::config::Config,
) -> Arc<crate::counters::Counters> {
    Arc::new(if config.counting {
        crate::counters::Counters::start(network.clone(), config.flush_interval)
    } else {
        crate::counters::Counters::off()
    })
}

/// Runs `serving` on a runtime with `threads` workers, then stops the
/// runtime (its workers hand over their last counts as they stop) and
/// flushes `counters`.
pub fn run_then_flush(
    threads: usize,
    counters: &crate::counters::Counters,
    serving: impl Future<Output = crate::error::Result<()>>,
) -> crate::error::Result<()> {
    let runtime = runtime(threads)?;
    let result = runtime.block_on(serving);
    drop(runtime);
    counters.stop();
    eprintln!("bouncer: stopped; counts flushed");
    result
}

/// Serves `network` (opened live from `db`) until SIGTERM or ctrl-c:
/// control socket, sentry's schedule, HTTP. On the way out: stop
/// accepting, finish requests, stop sentry, remove the socket. The caller
/// flushes `counters` once the runtime has stopped ([`run_then_flush`]).
pub async fn serve_network(
    db: &crate::store::Place,
    network: Arc<crate::network::Network>,
    config: crate::config::Config,
    sentry: Option<(crate::sentry::SentryConfig, crate::sentry::Schedule)>,
    counters: Arc<crate::counters::Counters>,
) -> crate::error::Result<()> {
    crate::metrics::mark_start();
    let access_log = match &config.access_log {
        Some(path) => Some(access_log(path, config.access_log_format)?),
        None => None,
    };
    // On PostgreSQL, sentry runs on the node that holds its lease.
    let leadership = match (&sentry, network.store().postgres()) {
        (Some(_), Some(_)) => {
            let network = network.clone();
            // Its first claim asks the database: not on this thread.
            let claimed = tokio::task::spawn_blocking(move || {
                crate::sentry::Leadership::start(network, crate::sentry::lease::node_name("serve"))
            })
            .await
            .map_err(|e| crate::error::Error::Internal(format!("sentry's lease: {e}")))?;
            Some(claimed.0)
        }
        _ => None,
    };
    let sentry = sentry.map(|(sentry_config, schedule)| {
        let mut sentry = crate::sentry::Sentry::new(network.clone(), sentry_config);
        if let Some(leadership) = &leadership {
            sentry = sentry.with_leadership(leadership.clone());
        }
        let sentry = Arc::new(sentry);
        let runner = sentry.clone();
        let thread = std::thread::Builder::new()
            .name("sentry".into())
            .spawn(move || runner.run_schedule(&schedule))
            .ok();
        (sentry, thread)
    });
    // Maintenance windows start and end on their own.
    let windows_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let windows_network = network.clone();
    let windows = {
        let (network, stop) = (network.clone(), windows_stop.clone());
        std::thread::Builder::new()
            .name("windows".into())
            .spawn(move || network.follow_windows(&stop))
            .ok()
    };
    let ctx = Arc::new(crate::commands::Context {
        network: network.clone(),
        db: db.clone(),
        sentry: sentry.as_ref().map(|(s, _)| s.clone()),
    });
    // Commands reach a PostgreSQL network through its database.
    let control = match db.file().map(|_| crate::control::listen(ctx)) {
        Some(Ok(socket)) => Some(socket),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "other commands cannot reach this server");
            None
        }
        None => None,
    };
    let shutdown = shutdown_signal()?;
    let bind = |addr: std::net::SocketAddr| async move {
        let cannot = |e: std::io::Error| {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 {
                " (ports below 1024 need root, or: setcap cap_net_bind_service=+ep on the bouncer binary)"
            } else {
                ""
            };
            crate::error::Error::io(format!("cannot listen on {addr}{hint}"), e)
        };
        // A deep accept queue: with the default 128, thousands of clients
        // connecting at once see the kernel drop SYNs (1 s stalls).
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(cannot)?;
        socket.set_reuseaddr(true).map_err(cannot)?;
        socket.bind(addr).map_err(cannot)?;
        let listener = socket.listen(LISTEN_BACKLOG).map_err(cannot)?;
        let local = listener
            .local_addr()
            .map_err(|e| crate::error::Error::io("cannot read the listening address", e))?;
        Ok::<_, crate::error::Error>((listener, local))
    };
    let (listener, addr) = bind(config.listen).await?;
    let admin_listener = match config.admin_listen {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    // HTTPS: its listener is bound before ACME starts, which validates
    // through it.
    let https = match &config.tls {
        Some(tls) => {
            let (tls_listener, tls_addr) = bind(tls.listen).await?;
            let certificates = certificates(&tls.certificate)?;
            let acceptor = tokio_rustls::TlsAcceptor::from(
                crate::tls::server_config(certificates.clone()).map_err(|e| {
                    crate::error::Error::Internal(format!("TLS configuration: {e}"))
                })?,
            );
            Some((tls_listener, tls_addr, certificates, acceptor))
        }
        None => None,
    };
    let mut admin = crate::admin::Admin::new(
        network.clone(),
        sentry.as_ref().map(|(s, _)| s.clone()),
        sentry.as_ref().map_or_else(
            || crate::commands::default_reports_dir(db),
            |(s, _)| s.config().reports_dir.clone(),
        ),
    );
    admin.https_header = config.https_header.clone();
    admin.tls = https.as_ref().map(|(_, _, c, _)| c.clone());
    let admin = Arc::new(admin);
    let public = Arc::new(crate::public::Public::new(network.clone(), &config));
    let api = Arc::new(crate::api::Api::with_throttle(
        network.clone(),
        admin.throttle.clone(),
    ));
    let stats = network.index().stats();
    eprintln!(
        "bouncer: listening on http://{addr} (database {}, {} products, {} locations, {} mirrors)",
        db.name(),
        stats.products,
        stats.locations,
        stats.mirrors
    );
    if let Some((_, tls_addr, _, _)) = &https {
        eprintln!("bouncer: listening on https://{tls_addr} (HTTP/2 and HTTP/1.1)");
    }
    let admin_plain = config.tls.as_ref().is_some_and(|t| t.admin_plain);
    let mut app = Bouncer::new(network, config, counters);
    app.tls = https.as_ref().map(|(_, _, c, _)| c.clone());
    let app = Arc::new(app);
    // Where each listener's connections come from.
    let plain = match &https {
        Some((_, tls_addr, certificates, _)) => Transport::BesideTls {
            https_port: tls_addr.port(),
            certificates: certificates.clone(),
        },
        None => Transport::Plain,
    };
    let all = || {
        vec![
            Site::Admin(admin.clone()),
            Site::Public(public.clone()),
            Site::Api(api.clone()),
        ]
    };
    let mut listeners = Vec::new();
    match &admin_listener {
        None => {
            let admin_url = match &https {
                Some((_, tls_addr, _, _)) => format!("https://{tls_addr}/admin/"),
                None => format!("http://{addr}/admin/"),
            };
            eprintln!("bouncer: admin pages on {admin_url}");
            listeners.push((listener, Router::new(all(), access_log.clone()).over(plain)));
            if let Some((tls_listener, _, _, acceptor)) = https {
                let router = Router::new(all(), access_log.clone());
                listeners.push((tls_listener, router.over(Transport::Tls(acceptor))));
            }
        }
        Some((_, admin_addr)) => {
            let admin_tls = https
                .as_ref()
                .filter(|_| !admin_plain)
                .map(|(_, _, _, a)| a.clone());
            let scheme = if admin_tls.is_some() { "https" } else { "http" };
            eprintln!("bouncer: admin pages on {scheme}://{admin_addr}/admin/ (not on {addr})");
            // Release tooling is an internal client: the API lives with
            // the admin pages.
            let public_sites = || vec![Site::Public(public.clone())];
            listeners.push((
                listener,
                Router::new(public_sites(), access_log.clone()).over(plain),
            ));
            if let Some((tls_listener, _, _, acceptor)) = https {
                let router = Router::new(public_sites(), access_log.clone());
                listeners.push((tls_listener, router.over(Transport::Tls(acceptor))));
            }
            let (admin_listener, _) = admin_listener.expect("matched Some");
            let router = Router::new(
                vec![Site::Admin(admin.clone()), Site::Api(api.clone())],
                access_log.clone(),
            );
            let router = match admin_tls {
                Some(acceptor) => router.over(Transport::Tls(acceptor)),
                None => router,
            };
            listeners.push((admin_listener, router));
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shared = crate::server::Shared::new(&app.config);
    let servers = listeners.into_iter().map(|(listener, router)| {
        let mut stopped = stopped.clone();
        let until_stopped = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        tokio::spawn(run(
            listener,
            app.clone(),
            router,
            shared.clone(),
            until_stopped,
        ))
    });
    let servers: Vec<_> = servers.collect();
    shutdown.await;
    let _ = stop.send(true);
    for server in servers {
        let _ = server.await;
    }
    windows_stop.store(true, std::sync::atomic::Ordering::Release);
    windows_network.notify();
    if let Some(thread) = windows {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    if let Some((sentry, thread)) = sentry {
        sentry.stop();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
    if let Some(leadership) = leadership {
        // Released now, another node takes over at once.
        let _ = tokio::task::spawn_blocking(move || leadership.stop()).await;
    }
    drop(control);
    if let Some(log) = access_log {
        // Requests are over: write what is queued.
        let _ = tokio::task::spawn_blocking(move || log.stop()).await;
    }
    Ok(())
}

/// The certificates the HTTPS listeners present, from `source`, kept
/// fresh from then on. Must be called inside the runtime.
fn certificates(
    source: &crate::config::Certificate,
) -> crate::error::Result<Arc<crate::tls::Certificates>> {
    use crate::config::Certificate;
    Ok(match source {
        Certificate::Files(pair) => {
            let certificates = crate::tls::Certificates::new(crate::tls::Source::Files);
            crate::tls::files::serve_from(pair.clone(), certificates.clone())?;
            certificates
        }
        Certificate::Acme(settings) => {
            let certificates = crate::tls::Certificates::new(crate::tls::Source::Acme);
            crate::tls::acme::serve_from(settings.clone(), certificates.clone())?;
            certificates
        }
    })
}

/// Opens the access log at `path` and reopens it on every SIGHUP (after
/// `logrotate` renamed it). Must be called inside the runtime.
fn access_log(
    path: &std::path::Path,
    format: crate::log::access::Format,
) -> crate::error::Result<Arc<crate::log::access::AccessLog>> {
    use tokio::signal::unix::{SignalKind, signal};
    let log = Arc::new(crate::log::access::AccessLog::open(path, format)?);
    let mut hangup = signal(SignalKind::hangup())
        .map_err(|e| crate::error::Error::io("cannot install the SIGHUP handler", e))?;
    let reopen = Arc::downgrade(&log);
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match reopen.upgrade() {
                Some(log) => log.reopen(),
                None => break,
            }
        }
    });
    Ok(log)
}

/// `bouncer serve`.
pub fn serve(db: &crate::store::Place, args: &crate::cli::Serve) -> crate::error::Result<()> {
    crate::log::init(args.log_level.as_deref(), args.log_format.as_deref())?;
    let mut config = crate::config::Config::from_cli(args)?;
    config.place_acme_state(db)?;
    let network = Arc::new(
        crate::network::Network::open(db.clone(), true).map_err(|e| match e {
            crate::error::Error::Busy { .. } => crate::error::Error::InUse {
                detail: format!(
                    "{} is already served by another bouncer process; stop it first (several nodes share a PostgreSQL database: --db postgres://…)",
                    db.name()
                ),
            },
            e => e,
        })?,
    );
    if let Some(file) = &config.geoip_file {
        network.use_geoip_file(file)?;
        let (v4, v6) = network.index().geo().len();
        tracing::info!(
            file = %file.display(),
            ipv4_ranges = v4,
            ipv6_ranges = v6,
            "GeoIP data read"
        );
    }
    let sentry = (!args.no_sentry).then(|| sentry_settings(db, args));
    let counters = counters(&network, &config);
    // Other nodes' changes, on PostgreSQL; stops when serving ends.
    let _watcher = network.watch();
    run_then_flush(
        config.threads,
        &counters,
        serve_network(db, network, config, sentry, counters.clone()),
    )
}

/// Sentry's configuration and schedule from `serve`'s flags.
pub fn sentry_settings(
    db: &crate::store::Place,
    args: &crate::cli::Serve,
) -> (crate::sentry::SentryConfig, crate::sentry::Schedule) {
    let dir = args.reports_dir.as_ref().map_or_else(
        || crate::commands::default_reports_dir(db),
        std::path::PathBuf::from,
    );
    let mut config = crate::sentry::SentryConfig::new(dir);
    if let Some(t) = args.sentry_threads {
        config.threads = t.max(1);
    }
    if let Some(t) = args.check_timeout {
        config.probe.set_timeout(t);
    }
    config.probe.add_resolve(&args.resolve);
    if let Some(days) = args.keep_reports {
        config.keep_reports = crate::sentry::keep_reports(days);
    }
    let every = |flag: Option<u64>, default: Option<std::time::Duration>| match flag {
        Some(0) => None,
        Some(s) => Some(std::time::Duration::from_secs(s)),
        None => default,
    };
    let d = crate::sentry::Schedule::default();
    let schedule = crate::sentry::Schedule {
        spot: every(args.spot_every, d.spot),
        all: every(args.all_every, d.all),
        hashes: every(args.hashes_every, d.hashes),
    };
    (config, schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_core_to_the_rest_and_a_count_given_is_kept() {
        assert_eq!(workers(0, 1), 1);
        assert_eq!(workers(0, 2), 1);
        assert_eq!(workers(0, 8), 7);
        assert_eq!(workers(3, 2), 3);
        assert_eq!(workers(1, 64), 1);
    }
}
