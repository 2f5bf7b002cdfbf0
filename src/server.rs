//! The HTTP server: hyper 1 on tokio, routes, connection limits, header
//! timeouts and graceful shutdown (stop accepting, finish requests, flush
//! counters).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::admin::Admin;
use crate::bounce::{Bouncer, not_found};
use crate::http::reply::secure;
use crate::http::{Reply, body, json, text};
use crate::index::Miss;
use crate::metrics::TRAFFIC;

/// Answers one request. Pure routing: tests call it without a socket.
pub fn route<B>(app: &Bouncer, req: &Request<B>, peer: std::net::IpAddr) -> Reply {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return crate::http::reply::only_get_and_head();
    }
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    match path {
        "/" => app.bounce(method, query, req.headers(), peer),
        "/__lbheartbeat__" => text(StatusCode::OK, "ok\n".into()),
        "/__heartbeat__" => heartbeat(app),
        "/__version__" => json(
            StatusCode::OK,
            format!(
                r#"{{"name":"bouncer","version":"{}","schema":{}}}"#,
                env!("CARGO_PKG_VERSION"),
                crate::store::SCHEMA_VERSION,
            ),
        ),
        _ if path.starts_with("/assets/") => match crate::assets::find(path) {
            Some((body, content_type)) => asset(body, content_type),
            None => not_found(req.headers(), Miss::Path),
        },
        _ => match path.strip_prefix("/files") {
            Some(file) if file.starts_with('/') => {
                app.bounce_file(method, file, query, req.headers(), peer)
            }
            _ => not_found(req.headers(), Miss::Path),
        },
    }
}

/// Whether `path` belongs to the admin pages.
fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// A site a listener may serve besides redirects.
#[derive(Clone)]
pub enum Site {
    /// The admin pages under `/admin/`, and `/metrics` beside them.
    Admin(Arc<Admin>),
    /// The public pages (download form, mirror list, feeds, trends).
    Public(Arc<crate::public::Public>),
    /// The release-automation API under `/api/`.
    Api(Arc<crate::api::Api>),
}

/// What one listener serves: its sites, then redirects for every other
/// path; where it logs each request, if anywhere; and how its
/// connections arrive.
#[derive(Clone, Default)]
pub struct Router {
    /// Shared by every connection's service: cloned per connection.
    sites: Arc<[Site]>,
    access_log: Option<Arc<crate::log::access::AccessLog>>,
    transport: Transport,
}

/// How a listener's connections arrive (SPEC §12).
#[derive(Clone, Default)]
pub enum Transport {
    /// Plain HTTP/1.1, and no HTTPS listener beside it.
    #[default]
    Plain,
    /// Plain HTTP/1.1 beside an HTTPS listener: admin pages and the API
    /// answer with a redirect to `https_port`; redirects are served as
    /// ever (release tooling, old clients); ACME HTTP-01 is answered.
    BesideTls {
        /// The HTTPS listener's port.
        https_port: u16,
        /// Where HTTP-01 answers are.
        certificates: Arc<crate::tls::Certificates>,
    },
    /// TLS, then HTTP/2 or HTTP/1.1 by ALPN. Requests count as HTTPS (as
    /// a trusted `X-Forwarded-Proto: https`); admin and API answers carry
    /// HSTS.
    Tls(tokio_rustls::TlsAcceptor),
}

/// `Strict-Transport-Security` of admin and API answers over TLS: a year.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Where a request goes.
enum Route<'a> {
    Metrics,
    Admin(&'a Arc<Admin>),
    Public(&'a Arc<crate::public::Public>),
    Api(&'a Arc<crate::api::Api>),
    /// Redirects, heartbeats, assets and 404s ([`route`]).
    Bounce,
}

impl Router {
    /// A listener serving `sites` (whose paths do not overlap) besides
    /// redirects, logging to `access_log`.
    pub fn new(sites: Vec<Site>, access_log: Option<Arc<crate::log::access::AccessLog>>) -> Router {
        Router {
            sites: sites.into(),
            access_log,
            transport: Transport::Plain,
        }
    }

    /// This router for connections that arrive by `transport`.
    pub fn over(mut self, transport: Transport) -> Router {
        self.transport = transport;
        self
    }

    fn route(&self, method: &Method, path: &str) -> Route<'_> {
        for site in self.sites.iter() {
            match site {
                Site::Admin(_) if path == "/metrics" && is_get_or_head(method) => {
                    return Route::Metrics;
                }
                Site::Admin(admin) if is_admin_path(path) => return Route::Admin(admin),
                Site::Public(public) if crate::public::serves(path) => {
                    return Route::Public(public);
                }
                Site::Api(api) if crate::api::serves(path) => return Route::Api(api),
                _ => {}
            }
        }
        Route::Bounce
    }
}

/// A reply ready at once (the redirect path: no allocation for a future)
/// or a page being produced on a blocking thread.
enum Answer {
    Now(Option<Reply>),
    Later(std::pin::Pin<Box<dyn Future<Output = Reply> + Send>>),
}

impl Future for Answer {
    type Output = Reply;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Reply> {
        match &mut *self {
            Answer::Now(reply) => std::task::Poll::Ready(
                reply
                    .take()
                    .expect("an answer is polled to completion once"),
            ),
            Answer::Later(f) => f.as_mut().poll(cx),
        }
    }
}

/// The per-node rate limit of an admin request: per user for a live
/// session, else per address; `Err` holds how long to wait.
fn admin_allowed(
    limits: &crate::ratelimit::Limits,
    user: Option<&str>,
    client: std::net::IpAddr,
) -> Result<(), std::time::Duration> {
    match user {
        Some(user) => limits.user(user),
        None => limits.anonymous(client),
    }
}

/// [`admin_reply`] for a request whose session is read from the database:
/// read on a blocking thread first (the blocking client panics on a
/// worker), then rate-limited.
async fn admin_reply_after_lookup(
    admin: Arc<Admin>,
    req: Request<Incoming>,
    client: std::net::IpAddr,
    limits: Arc<crate::ratelimit::Limits>,
) -> Reply {
    let (found, headers) = (admin.clone(), req.headers().clone());
    let user = match body::off_thread(ADMIN_FAILED, move || {
        crate::admin::session_user(&found, &headers)
    })
    .await
    {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    if let Err(wait) = admin_allowed(&limits, user.as_deref(), client) {
        return crate::ratelimit::too_many(wait);
    }
    admin_reply(admin, req, client, user.is_some()).await
}

/// Reads an admin request's body (capped: larger for a `live` session)
/// and answers it on a blocking thread: admin pages read and write the
/// store.
async fn admin_reply(
    admin: Arc<Admin>,
    req: Request<Incoming>,
    peer: std::net::IpAddr,
    live: bool,
) -> Reply {
    let (parts, body) = req.into_parts();
    // Decided before reading: only a logged-in upload may be large.
    let (limit, patience) = crate::admin::body_limit(live, parts.uri.path());
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("413 the request body is larger than {} KiB\n", limit >> 10),
        )
    };
    let body = match body::read(body, &parts.headers, limit, patience, too_large).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    body::blocking(ADMIN_FAILED, move || {
        let req = whole(&parts, "/admin", &body, peer);
        crate::admin::handle(&admin, &req)
    })
    .await
}

/// The view of a request read whole, its path below `prefix`.
fn whole<'a>(
    parts: &'a hyper::http::request::Parts,
    prefix: &str,
    body: &'a [u8],
    peer: std::net::IpAddr,
) -> crate::http::Request<'a> {
    let path = parts.uri.path();
    crate::http::Request {
        method: &parts.method,
        path: path.strip_prefix(prefix).unwrap_or(path),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
        peer,
    }
}

const ADMIN_FAILED: body::Failure = body::Failure::new(
    "an admin page failed",
    "500 the admin page failed; the server log says why\n",
);
const API_FAILED: body::Failure = body::Failure::new(
    "an API request failed",
    "500 the API request failed; the server log says why\n",
);
const PAGE_FAILED: body::Failure = body::Failure::new(
    "a public page failed",
    "500 the page failed; the server log says why\n",
);
const METRICS_FAILED: body::Failure = body::Failure::new(
    "/metrics failed",
    "500 /metrics failed; the server log says why\n",
);

/// Reads an API request's body and answers it on a blocking thread. The
/// credentials of a request that sends a body are checked first: only a
/// caller whose credentials check out may send up to 500 KB (as
/// bouncer-admin); others 16 KiB, and sooner.
async fn api_reply(
    api: Arc<crate::api::Api>,
    req: Request<Incoming>,
    peer: std::net::IpAddr,
    limits: Arc<crate::ratelimit::Limits>,
) -> Reply {
    let (parts, body) = req.into_parts();
    let sends_body = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || parts.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    let checked = if sends_body && crate::api::has_credentials(&parts.headers) {
        let (api, headers, limits) = (api.clone(), parts.headers.clone(), limits.clone());
        let check = move || crate::api::check_credentials(&api, &headers, peer, &limits);
        match body::off_thread(API_FAILED, check).await {
            Ok(checked) => Some(checked),
            Err(reply) => return reply,
        }
    } else {
        None
    };
    let authenticated = matches!(checked, Some(Ok(_)));
    let (limit, patience) = if authenticated {
        (crate::api::MAX_BODY, std::time::Duration::from_secs(60))
    } else {
        (
            crate::api::MAX_UNAUTHENTICATED_BODY,
            std::time::Duration::from_secs(30),
        )
    };
    let too_large = || crate::api::too_large(&parts.headers, authenticated);
    let body = match body::read(body, &parts.headers, limit, patience, too_large).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    body::blocking(API_FAILED, move || {
        let req = whole(&parts, "/api", &body, peer);
        crate::api::handle(&api, &req, &limits, checked)
    })
    .await
}

/// Answers a public page on a blocking thread: pages read the store.
async fn public_reply(
    public: Arc<crate::public::Public>,
    req: Request<Incoming>,
    via_proxy: bool,
) -> Reply {
    let (parts, _body) = req.into_parts();
    body::blocking(PAGE_FAILED, move || {
        let req = crate::public::Request {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            via_proxy,
        };
        crate::public::handle(&public, &req)
    })
    .await
}

/// `/__heartbeat__`: the node's health from memory (no database call on
/// a request thread): the database as last seen, the index's generation
/// against the database's, how fresh the index is. 503 while the database
/// cannot be reached (redirects go on: load balancers check
/// `/__lbheartbeat__`).
fn heartbeat(app: &Bouncer) -> Reply {
    let db = app.network.db_health();
    let stats = app.network.index().stats();
    let ok = db.reachable;
    let mut body = format!(
        r#"{{"status":"{}","database":"{}","backend":"{}","products":{},"locations":{},"mirrors":{},"eligible_mirrors":{}"#,
        if ok { "ok" } else { "error" },
        if ok { "ok" } else { "unreachable" },
        db.backend,
        stats.products,
        stats.locations,
        stats.mirrors,
        stats.eligible_mirrors
    );
    if db.backend != "redb" {
        body.push_str(&format!(
            r#","generation":{{"index":{},"database":{}}},"refresh_age_ms":{}"#,
            db.index_generation,
            db.database_generation,
            db.refresh_age
                .map_or_else(|| "null".to_string(), |a| a.as_millis().to_string()),
        ));
        let leader = app.network.sentry_leader();
        body.push_str(&format!(
            r#","sentry_leader":{},"sentry_leader_since":{}"#,
            leader.is_some(),
            leader.map_or_else(|| "null".to_string(), |s| s.to_string())
        ));
        if app.config.counting {
            let lag = app.counters.stats().lag(crate::model::now());
            body.push_str(&format!(
                r#","counter_lag":{{"unflushed":{},"seconds":{}}}"#,
                lag.unflushed, lag.seconds
            ));
        }
        if let Some(error) = &db.error {
            body.push_str(&format!(
                r#","database_error":{}"#,
                serde_json::Value::String(error.clone())
            ));
        }
    }
    if let Some(tls) = &app.tls {
        body.push_str(r#","tls":"#);
        body.push_str(&tls.status().json(crate::model::now() as i64));
    }
    body.push('}');
    json(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
    )
}

fn asset(body: &'static str, content_type: &'static str) -> Reply {
    let mut reply = crate::http::with_type(StatusCode::OK, content_type, body);
    reply.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    reply
}

/// What every listener of a process shares: its connection slots
/// (`--max-connections` in all) and the admin and API rate limits.
#[derive(Clone)]
pub struct Shared {
    permits: Arc<Semaphore>,
    limits: Arc<crate::ratelimit::Limits>,
}

impl Shared {
    /// Slots and limits as `config` sets them.
    pub fn new(config: &crate::config::Config) -> Shared {
        Shared {
            permits: Arc::new(Semaphore::new(config.max_connections)),
            // Admin and API requests only: redirects never wait on them.
            limits: Arc::new(crate::ratelimit::Limits::new(
                config.admin_rate,
                config.user_rate,
            )),
        }
    }
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and
/// waits (up to the configured grace period) for requests in flight.
pub async fn run(
    listener: TcpListener,
    app: Arc<Bouncer>,
    router: Router,
    shared: Shared,
    shutdown: impl Future<Output = ()>,
) {
    let Shared { permits, limits } = shared;
    let graceful = GracefulShutdown::new();
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_timeout)
        .max_buf_size(64 * 1024)
        // The buffer's cap alone is soft (one read may overshoot it and a
        // whole 100 KB head get parsed); this one answers 431.
        .max_header_size(64 * 1024)
        .keep_alive(true);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024)
        .max_concurrent_streams(256);
    // Set on requests that arrived over TLS, as a proxy in front would.
    let https_header = hyper::header::HeaderName::from_bytes(app.config.https_header.as_bytes())
        .unwrap_or(hyper::header::HeaderName::from_static("x-forwarded-proto"));
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: excess clients queue in
        // the kernel's backlog instead of costing memory here.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let tls = matches!(router.transport, Transport::Tls(_));
        let service = Service {
            app: app.clone(),
            router: router.clone(),
            limits: limits.clone(),
            peer,
            https_header: tls.then(|| https_header.clone()),
            activity: None,
        };
        match &router.transport {
            Transport::Tls(acceptor) => {
                let (acceptor, watcher) = (acceptor.clone(), graceful.watcher());
                let (http1, http2) = (http1.clone(), http2.clone());
                let patience = app.config.header_timeout;
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(patience, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    match alpn.as_deref() {
                        // The ACME server saw the challenge certificate:
                        // nothing more is said (RFC 8737).
                        Some(crate::tls::ACME_TLS_ALPN) => {
                            let mut stream = stream;
                            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
                        }
                        Some(b"h2") => {
                            let activity = Arc::new(Activity::default());
                            let mut service = service;
                            service.activity = Some(activity.clone());
                            let service = service_fn(move |req| service.call(req));
                            let conn = http2.serve_connection(TokioIo::new(stream), service);
                            // Closed when idle, as HTTP/1 is by its header
                            // timeout: it would hold a connection slot.
                            tokio::select! {
                                _ = watcher.watch(conn) => {}
                                () = idle(&activity, patience) => {}
                            }
                        }
                        _ => {
                            let service = service_fn(move |req| service.call(req));
                            let conn = http1.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn).await;
                        }
                    }
                    drop(permit);
                });
            }
            _ => {
                let service = service_fn(move |req| service.call(req));
                let conn = http1.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let grace = app.config.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?grace,
            "some connections did not finish in time; closing them"
        );
    }
}

/// What answers the requests of one connection.
struct Service {
    app: Arc<Bouncer>,
    router: Router,
    limits: Arc<crate::ratelimit::Limits>,
    peer: std::net::SocketAddr,
    /// Over TLS: the header set to `https` on every request, as a proxy
    /// in front would set it.
    https_header: Option<hyper::header::HeaderName>,
    /// HTTP/2: the connection's requests, watched for idleness.
    activity: Option<Arc<Activity>>,
}

/// The requests of one HTTP/2 connection: how an idle one is told apart
/// (HTTP/1's idle limit is the header timeout; HTTP/2 has none of its
/// own).
#[derive(Default)]
struct Activity {
    started: std::sync::atomic::AtomicU64,
    in_flight: std::sync::atomic::AtomicUsize,
}

/// A request in flight on an HTTP/2 connection, until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> InFlight {
        use std::sync::atomic::Ordering::Relaxed;
        activity.started.fetch_add(1, Relaxed);
        activity.in_flight.fetch_add(1, Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        (self.0.in_flight).fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Resolves once `activity` has had no request in flight and none
/// started for a whole `period` (so after one to two periods of quiet).
async fn idle(activity: &Activity, period: std::time::Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut seen = None;
    loop {
        tokio::time::sleep(period).await;
        let started = activity.started.load(Relaxed);
        if seen == Some(started) && activity.in_flight.load(Relaxed) == 0 {
            return;
        }
        seen = Some(started);
    }
}

impl Service {
    fn call(
        &self,
        mut req: Request<Incoming>,
    ) -> impl Future<Output = Result<Reply, Infallible>> + use<> {
        let (app, router, peer) = (&self.app, &self.router, self.peer);
        let tls = self.https_header.is_some();
        if let Some(header) = &self.https_header {
            let headers = req.headers_mut();
            headers.insert(header.clone(), HeaderValue::from_static("https"));
            // HTTP/2 names the host in the URI only; pages read `Host`.
            if !headers.contains_key(hyper::header::HOST)
                && let Some(host) = req
                    .uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(hyper::header::HOST, host);
            }
        }
        let path = req.uri().path();
        // Behind trusted proxies, throttles count the real client.
        let client = || app.config.trusted_proxies.client(peer.ip(), req.headers());
        // Taken before the request moves into a page's future.
        let entry =
            (router.access_log.as_ref()).map(|_| crate::log::access::Entry::new(client(), &req));
        let goes = router.route(req.method(), path);
        let hsts = tls
            && matches!(goes, Route::Admin(_) | Route::Api(_))
            && on_default_port(req.headers());
        let in_flight = self.activity.clone().map(InFlight::new);
        let reply = match (goes, &router.transport) {
            (
                Route::Admin(_) | Route::Api(_),
                Transport::BesideTls {
                    https_port,
                    certificates,
                },
            ) => Answer::Now(Some(if certificates.usable(crate::model::now() as i64) {
                to_https(&req, *https_port)
            } else {
                no_https_yet(certificates)
            })),
            (Route::Bounce, Transport::BesideTls { certificates, .. })
                if path.starts_with(ACME_CHALLENGE) =>
            {
                Answer::Now(Some(acme_answer(
                    certificates,
                    &path[ACME_CHALLENGE.len()..],
                )))
            }
            (Route::Metrics, _) => metrics_answer(app, router, &req, peer.ip()),
            (Route::Admin(admin), _) => {
                TRAFFIC.page(crate::metrics::Site::Admin);
                let client = client();
                if crate::admin::session_user_blocks(admin, req.headers()) {
                    // The session is in the database: found off the
                    // workers, then limited as below.
                    let reply =
                        admin_reply_after_lookup(admin.clone(), req, client, self.limits.clone());
                    Answer::Later(Box::pin(reply))
                } else {
                    let user = crate::admin::session_user(admin, req.headers());
                    match admin_allowed(&self.limits, user.as_deref(), client) {
                        Ok(()) => Answer::Later(Box::pin(admin_reply(
                            admin.clone(),
                            req,
                            client,
                            user.is_some(),
                        ))),
                        Err(wait) => Answer::Now(Some(crate::ratelimit::too_many(wait))),
                    }
                }
            }
            (Route::Public(public), _) => {
                TRAFFIC.page(crate::metrics::Site::Public);
                let via_proxy = tls || app.config.trusted_proxies.contains(peer.ip());
                Answer::Later(Box::pin(public_reply(public.clone(), req, via_proxy)))
            }
            (Route::Api(api), _) => {
                TRAFFIC.page(crate::metrics::Site::Api);
                let client = client();
                let allowed = if crate::api::has_credentials(req.headers()) {
                    Ok(())
                } else {
                    self.limits.anonymous(client)
                };
                match allowed {
                    Ok(()) => Answer::Later(Box::pin(api_reply(
                        api.clone(),
                        req,
                        client,
                        self.limits.clone(),
                    ))),
                    Err(wait) => Answer::Now(Some(crate::api::too_many(req.headers(), wait))),
                }
            }
            (Route::Bounce, _) if crate::metrics::is_redirect_path(path) => {
                let started = std::time::Instant::now();
                let reply = route(app, &req, peer.ip());
                TRAFFIC.redirect(reply.status(), started.elapsed());
                Answer::Now(Some(reply))
            }
            (Route::Bounce, _) => Answer::Now(Some(route(app, &req, peer.ip()))),
        };
        let reply = match (entry, &router.access_log) {
            (Some(entry), Some(log)) => logged(reply, entry, log),
            _ => reply,
        };
        async move {
            let mut reply = reply.await;
            drop(in_flight);
            secure(&mut reply);
            if hsts {
                reply
                    .headers_mut()
                    .insert(hyper::header::STRICT_TRANSPORT_SECURITY, HSTS);
            }
            Ok::<_, Infallible>(reply)
        }
    }
}

/// Whether the client named this host without a port or with 443: only
/// then does HSTS (which holds for the host, on port 443) lead its
/// browser back here.
fn on_default_port(headers: &hyper::HeaderMap) -> bool {
    let host = headers.get(hyper::header::HOST).map(HeaderValue::as_bytes);
    let Some(host) = host else { return false };
    let port = match host.iter().rposition(|&b| b == b':') {
        Some(at) if !host[at..].contains(&b']') => &host[at + 1..],
        _ => return true,
    };
    port == b"443"
}

/// The admin pages and API on the plain listener while HTTPS has no
/// usable certificate: said so, rather than sent where nothing answers
/// (and never served in clear).
fn no_https_yet(certificates: &crate::tls::Certificates) -> Reply {
    let why = certificates.status().error.unwrap_or_else(|| {
        "the first certificate is being obtained, or the one in place has expired".into()
    });
    let mut reply = text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "503 the admin pages and the API are served over HTTPS only, and HTTPS has no usable certificate yet: {why}\nThe server log says more; /__heartbeat__ shows the certificate's state.\n"
        ),
    );
    reply
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("60"));
    reply
}

/// Where ACME HTTP-01 validation asks (RFC 8555 §8.3).
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

/// The HTTP-01 answer for `token`, while an order waits for it.
fn acme_answer(certificates: &crate::tls::Certificates, token: &str) -> Reply {
    match certificates.key_authorization(token) {
        Some(answer) => crate::http::with_type(StatusCode::OK, "application/octet-stream", answer),
        None => text(
            StatusCode::NOT_FOUND,
            "404 no ACME challenge is waiting for this token\n".into(),
        ),
    }
}

/// 308 to the same page on the HTTPS listener at `https_port`, on the
/// host the client asked for; 400 when it named none.
fn to_https<B>(req: &Request<B>, https_port: u16) -> Reply {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(host_without_port);
    let Some(host) = host else {
        return text(
            StatusCode::BAD_REQUEST,
            "400 the admin pages and the API are served over HTTPS only: use https://<this server's name>/admin/\n".into(),
        );
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{target}");
    let mut reply = text(
        StatusCode::PERMANENT_REDIRECT,
        format!("308 the admin pages and the API are served over HTTPS only: {location}\n"),
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        reply.headers_mut().insert(hyper::header::LOCATION, value);
    }
    reply
}

/// A `Host` header's host without its port, if it is a plausible name or
/// address (nothing a client could use to point a redirect elsewhere).
fn host_without_port(host: &str) -> Option<&str> {
    let name = match host.strip_prefix('[') {
        Some(rest) => &host[..rest.find(']')? + 2],
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let plausible = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    plausible.then_some(name)
}

fn is_get_or_head(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// `/metrics`, on a listener that serves the admin pages: rendered on a
/// blocking thread (it reads sentry's runs from the database); 404 to a
/// client it is not for ([`crate::metrics::allowed`]).
fn metrics_answer<B>(
    app: &Arc<Bouncer>,
    router: &Router,
    req: &Request<B>,
    peer: std::net::IpAddr,
) -> Answer {
    if !crate::metrics::allowed(&app.config, peer, req.headers()) {
        return Answer::Now(Some(not_found(req.headers(), Miss::Path)));
    }
    TRAFFIC.page(crate::metrics::Site::Metrics);
    let app = app.clone();
    let dropped = router.access_log.as_ref().map(|log| log.dropped());
    Answer::Later(Box::pin(body::blocking(METRICS_FAILED, move || {
        crate::metrics::reply(crate::metrics::render(&app, &TRAFFIC, dropped))
    })))
}

/// `answer`, logging `entry` with its status and body length once it is
/// ready (at once for a redirect).
fn logged(
    answer: Answer,
    mut entry: crate::log::access::Entry,
    log: &Arc<crate::log::access::AccessLog>,
) -> Answer {
    fn finish(entry: &mut crate::log::access::Entry, reply: &Reply) {
        use hyper::body::Body;
        let bytes = reply.body().size_hint().exact().unwrap_or(0);
        entry.answered(reply.status(), bytes);
    }
    match answer {
        Answer::Now(Some(reply)) => {
            finish(&mut entry, &reply);
            log.log(entry);
            Answer::Now(Some(reply))
        }
        Answer::Later(future) => {
            let log = log.clone();
            Answer::Later(Box::pin(async move {
                let reply = future.await;
                finish(&mut entry, &reply);
                log.log(entry);
                reply
            }))
        }
        answer => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::counters::Counters;
    use crate::http::reply::secure;
    use crate::network::Network;
    use crate::store::{NewMirror, NewProduct};
    use hyper::header::LOCATION;
    use hyper::header::{
        CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
        X_FRAME_OPTIONS,
    };

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn app(config: Config) -> (tempfile::TempDir, Bouncer) {
        let dir = tempfile::tempdir().unwrap();
        let network = Arc::new(Network::open(dir.path().join("s.redb"), true).unwrap());
        network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: "p".into(),
                    languages: vec!["de".into()],
                    ..Default::default()
                })?;
                let l = tx.location_add("p", "win", "/p/:lang/p.exe")?;
                let m = tx.mirror_add(NewMirror {
                    name: "m".into(),
                    base_url: "http://m.example/pub".into(),
                    rating: 1,
                    ..Default::default()
                })?;
                tx.set_availability(
                    l.id,
                    m.id,
                    &crate::model::Availability {
                        present: true,
                        healthy: true,
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        let app = Bouncer::new(network, config, Arc::new(Counters::off()));
        (dir, app)
    }

    fn get(app: &Bouncer, uri: &str) -> Reply {
        route(app, &Request::get(uri).body(()).unwrap(), LOCAL)
    }

    #[test]
    fn routes() {
        let (_dir, app) = app(Config::default());
        let r = get(&app, "/?product=P&lang=de");
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[LOCATION], "http://m.example/pub/p/de/p.exe");
        assert_eq!(get(&app, "/files/p/de/p.exe").status(), StatusCode::FOUND);
        assert_eq!(get(&app, "/files").status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&app, "/nope").status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&app, "/__lbheartbeat__").status(), StatusCode::OK);
        assert_eq!(get(&app, "/assets/bouncer.css").status(), StatusCode::OK);
        let post = route(&app, &Request::post("/").body(()).unwrap(), LOCAL);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn configured_defaults_apply() {
        let config = Config::from_cli(&crate::cli::Serve {
            default_lang: Some("de".into()),
            home_url: Some("https://www.example.org/".into()),
            cache_max_age: Some(5),
            ..Default::default()
        })
        .unwrap();
        let (_dir, app) = app(config);
        let r = get(&app, "/?product=p");
        assert_eq!(r.headers()[LOCATION], "http://m.example/pub/p/de/p.exe");
        assert_eq!(r.headers()[hyper::header::CACHE_CONTROL], "max-age=5");
        assert_eq!(
            get(&app, "/").headers()[LOCATION],
            "https://www.example.org/"
        );
    }

    #[test]
    fn fallback_origin_never_downgrades() {
        let config = Config::from_cli(&crate::cli::Serve {
            fallback_url: Some("http://origin.example".into()),
            ..Default::default()
        })
        .unwrap();
        let (_dir, app) = app(config);
        app.network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_update("m", |m| m.active = false)
            })
            .unwrap();
        let r = get(&app, "/?product=p&lang=de");
        assert_eq!(r.headers()[LOCATION], "http://origin.example/p/de/p.exe");
        let https = route(
            &app,
            &Request::get("/?product=p&lang=de")
                .header("x-forwarded-proto", "https")
                .body(())
                .unwrap(),
            LOCAL,
        );
        assert_eq!(https.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(https.headers().contains_key(hyper::header::RETRY_AFTER));
    }

    #[test]
    fn html_answers_get_the_security_headers_and_keep_their_own() {
        let (_dir, app) = app(Config::default());
        let html = |uri: &str| {
            let req = Request::get(uri)
                .header("accept", "text/html")
                .body(())
                .unwrap();
            let mut reply = route(&app, &req, LOCAL);
            secure(&mut reply);
            reply
        };
        // A redirect has no body: nothing to add.
        let mut redirect = get(&app, "/?product=p&lang=de");
        assert_eq!(redirect.status(), StatusCode::FOUND);
        let before = redirect.headers().clone();
        secure(&mut redirect);
        assert_eq!(redirect.headers(), &before);
        for uri in ["/nope", "/?product=nope", "/?product=p&lang=de&mirrorlist"] {
            let r = html(uri);
            assert!(
                r.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{uri}"
            );
            assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], crate::public::CSP);
            assert_eq!(r.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(r.headers()[X_FRAME_OPTIONS], "DENY");
            assert!(r.headers().contains_key(REFERRER_POLICY));
        }
        // The 503 page, when no mirror is left.
        app.network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_update("m", |m| m.active = false)
            })
            .unwrap();
        let r = html("/?product=p&lang=de");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], crate::public::CSP);
        assert_eq!(r.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        // A page's own policy and framing stay.
        let mut own = text(StatusCode::OK, "<p>x</p>".into());
        let h = own.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("Text/HTML"));
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
        h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        secure(&mut own);
        assert_eq!(own.headers()[CONTENT_SECURITY_POLICY], "default-src 'none'");
        assert_eq!(own.headers()[X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(own.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        // Text gets nosniff only.
        let mut plain = get(&app, "/nope");
        secure(&mut plain);
        assert_eq!(plain.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(!plain.headers().contains_key(CONTENT_SECURITY_POLICY));
    }

    #[test]
    fn the_https_redirect_keeps_the_host_and_page_and_refuses_odd_hosts() {
        assert_eq!(
            host_without_port("download.example.org:8080"),
            Some("download.example.org")
        );
        assert_eq!(host_without_port("[2001:db8::1]:80"), Some("[2001:db8::1]"));
        assert_eq!(host_without_port("example.org"), Some("example.org"));
        for odd in ["", ":80", "evil.example/x", "a b", "[::1"] {
            assert_eq!(host_without_port(odd), None, "{odd:?}");
        }
        let req = |host: &str| {
            Request::get("/admin/mirrors?q=a")
                .header(hyper::header::HOST, host)
                .body(())
                .unwrap()
        };
        let r = to_https(&req("bouncer.example.org:80"), 443);
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.headers()[LOCATION],
            "https://bouncer.example.org/admin/mirrors?q=a"
        );
        let r = to_https(&req("[::1]:8080"), 8443);
        assert_eq!(
            r.headers()[LOCATION],
            "https://[::1]:8443/admin/mirrors?q=a"
        );
        assert_eq!(
            to_https(&req("evil.example/x"), 443).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn hsts_only_where_the_client_came_by_the_default_port() {
        let with = |host: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(hyper::header::HOST, HeaderValue::from_str(host).unwrap());
            on_default_port(&h)
        };
        assert!(with("download.example.org") && with("download.example.org:443"));
        assert!(with("[2001:db8::1]") && with("[2001:db8::1]:443"));
        assert!(!with("download.example.org:8443") && !with("[::1]:8443"));
        assert!(!on_default_port(&hyper::HeaderMap::new()));
    }
}
