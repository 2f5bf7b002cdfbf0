//! The public pages: the download form ([`download`]), the mirror list
//! ([`mirrors`]), RSS feeds ([`feeds`]) and download trends ([`trends`]).
//!
//! Only `public` and `active` products and active mirrors ever appear here.
//! Pages read the configuration the network published with its index (so
//! a busy download form does not read the database per
//! view), and feeds and trends are rendered at most once a minute per
//! address. Answered on a blocking thread, like the admin pages.

pub mod download;
pub mod feeds;
pub mod mirrors;
pub mod page;
#[cfg(test)]
pub mod testing;
pub mod trends;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CACHE_CONTROL, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};

use crate::error::Result;
use crate::http::Reply;
use crate::network::Network;
use crate::store::Counts;

/// How long a rendered feed or trends page is reused.
pub const RENDER_TTL: Duration = Duration::from_secs(60);

/// Rendered answers kept at most (one per distinct address).
const MAX_RENDERED: usize = 256;

/// The public site.
pub struct Public {
    /// The live network.
    pub network: Arc<Network>,
    /// OS preselected when the browser does not tell.
    pub default_os: String,
    /// Language preselected when the browser does not tell.
    pub default_lang: String,
    /// Header that marks requests that arrived over HTTPS at a proxy (for
    /// the absolute links feeds need).
    pub https_header: String,
    rendered: Mutex<HashMap<String, Rendered>>,
    /// Download counts by period, read at most once a minute each.
    counts: Mutex<HashMap<(u32, u32), CountsRead>>,
    /// Held while rendering: one render at a time, and a page many
    /// clients ask for at once is rendered once.
    render: Mutex<()>,
    /// When the mirrors feed's items last changed (their `pubDate`).
    news: feeds::News,
}

/// Counts of one period, and when they were read.
type CountsRead = (Instant, Arc<Counts>);

/// An answer kept for reuse.
#[derive(Clone)]
struct Rendered {
    at: Instant,
    generation: u64,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One public request (GET or HEAD; no body).
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, e.g. `/feeds/products.rss`.
    pub path: &'a str,
    /// The raw query string.
    pub query: &'a str,
    /// Request headers (Accept-Language, User-Agent, Host).
    pub headers: &'a HeaderMap,
    /// Whether it came through a trusted proxy (`--trusted-proxy`): only
    /// then does the header that says "arrived over HTTPS" count.
    pub via_proxy: bool,
}

impl Request<'_> {
    /// The absolute base of this site (`https://host`), for feeds. The
    /// host comes from the request; anything but a plain host name or
    /// address with a port becomes `localhost`. The scheme is https when a
    /// trusted proxy says the request arrived over HTTPS; anyone else's
    /// say-so does not shape links others may be served.
    pub fn site(&self, public: &Public) -> String {
        let host = self
            .headers
            .get(hyper::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let https =
            self.via_proxy && crate::http::arrived_over_https(self.headers, &public.https_header);
        format!("{}://{host}", if https { "https" } else { "http" })
    }
}

/// Whether `path` is one of the public pages.
pub fn serves(path: &str) -> bool {
    matches!(path, "/download" | "/mirrors" | "/mirrors.json" | "/stats")
        || path.starts_with("/feeds/")
}

impl Public {
    /// The public site of `network`.
    pub fn new(network: Arc<Network>, config: &crate::config::Config) -> Public {
        Public {
            network,
            default_os: config.default_os.clone(),
            default_lang: config.default_lang.clone(),
            https_header: config.https_header.clone(),
            rendered: Mutex::default(),
            counts: Mutex::default(),
            render: Mutex::default(),
            news: feeds::News::default(),
        }
    }

    /// Downloads over the days `from..=to`, read from the store at most
    /// once per [`RENDER_TTL`] for the same period.
    pub fn counts(&self, from: u32, to: u32) -> Result<Arc<Counts>> {
        if let Some((at, c)) = lock(&self.counts).get(&(from, to))
            && at.elapsed() < RENDER_TTL
        {
            return Ok(c.clone());
        }
        let c = Arc::new(self.network.store().counts(from, to)?);
        let mut map = lock(&self.counts);
        map.retain(|_, (at, _)| at.elapsed() < RENDER_TTL);
        map.insert((from, to), (Instant::now(), c.clone()));
        Ok(c)
    }

    /// `render()`'s answer, reused for [`RENDER_TTL`] while the network's
    /// configuration stays the same (counts may be up to that old).
    /// Renders run one at a time; a page asked for by many at once is
    /// rendered once. An `Err` from `render` is passed on, not kept.
    pub fn rendered(&self, key: &str, render: impl FnOnce() -> PageResult) -> PageResult {
        let fresh = |generation: u64| {
            lock(&self.rendered)
                .get(key)
                .filter(|r| r.generation == generation && r.at.elapsed() < RENDER_TTL)
                .map(Rendered::reply)
        };
        if let Some(reply) = fresh(self.network.generation()) {
            return Ok(reply);
        }
        let _one_at_a_time = lock(&self.render);
        let generation = self.network.generation();
        if let Some(reply) = fresh(generation) {
            return Ok(reply);
        }
        let reply = render()?;
        if reply.status().is_success() {
            let (parts, body) = reply.into_parts();
            let body = body_bytes(body);
            let r = Rendered {
                at: Instant::now(),
                generation,
                status: parts.status,
                headers: parts.headers,
                body,
            };
            let mut map = lock(&self.rendered);
            if map.len() >= MAX_RENDERED {
                map.retain(|_, r| r.at.elapsed() < RENDER_TTL);
                // Still full: the oldest goes, not the pages in demand.
                if map.len() >= MAX_RENDERED
                    && let Some(oldest) =
                        map.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            map.insert(key.to_string(), r.clone());
            return Ok(r.reply());
        }
        Ok(reply)
    }
}

impl Rendered {
    fn reply(&self) -> Reply {
        let mut reply = Reply::new(Full::new(self.body.clone()));
        *reply.status_mut() = self.status;
        *reply.headers_mut() = self.headers.clone();
        reply
    }
}

/// The bytes of a body that is already complete.
fn body_bytes(body: Full<Bytes>) -> Bytes {
    use hyper::body::Body;
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match body.as_mut().poll_frame(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The public pages' Content-Security-Policy (see [`crate::http::reply::PUBLIC_CSP`]).
pub use crate::http::reply::PUBLIC_CSP as CSP;

/// Answers a public request. Blocking: call it off the async workers.
pub fn handle(public: &Public, req: &Request<'_>) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        return crate::http::reply::only_get_and_head();
    }
    let routed = match req.path {
        "/download" => download::page(public, req),
        "/mirrors" => mirrors::page(public, req),
        "/mirrors.json" => mirrors::json(public, req),
        "/stats" => trends::page(public, req),
        _ => match req.path.strip_prefix("/feeds/") {
            Some(feed) => feeds::feed(public, req, feed),
            None => Ok(crate::http::not_found(
                req.headers,
                crate::http::UNKNOWN_FILE,
            )),
        },
    };
    let mut reply = routed.unwrap_or_else(PageError::into_reply);
    let status = reply.status();
    let headers = reply.headers_mut();
    headers
        .entry(HeaderName::from_static("content-security-policy"))
        .or_insert(HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let cache = if status.is_success() || status.is_redirection() {
        "public, max-age=60"
    } else {
        "no-store"
    };
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(cache));
    reply
}

pub use crate::http::html;

/// Why a public page could not be shown. Pages return it with `?`, and
/// [`handle`] answers it; either way the reason goes to the log, not to
/// the public.
#[derive(Debug)]
pub enum PageError {
    /// The store could not be read: a 500 page in the site's layout.
    Broken(crate::error::Error),
    /// A feed could not be built: a plain-text 503 with `Retry-After`.
    FeedUnavailable(crate::error::Error),
}

impl From<crate::error::Error> for PageError {
    fn from(e: crate::error::Error) -> PageError {
        PageError::Broken(e)
    }
}

impl PageError {
    /// The public's answer: the reason goes to the log, the reader gets
    /// a generic page.
    fn into_reply(self) -> Reply {
        match self {
            PageError::Broken(e) => broken(&e),
            PageError::FeedUnavailable(e) => feed_unavailable(&e),
        }
    }
}

/// What a public page returns: the reply, or why there is none.
pub type PageResult = std::result::Result<Reply, PageError>;

/// 500 for a database that cannot be read: the reason goes to the log,
/// not to the public.
fn broken(e: &crate::error::Error) -> Reply {
    tracing::error!(error = %e, "a public page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::layout(
            "",
            "Error",
            maud::html! { h1 { "Something went wrong" } p { "Please try again in a minute." } },
        ),
    )
}

/// 503 for a feed that cannot be built right now (not cached).
fn feed_unavailable(e: &crate::error::Error) -> Reply {
    tracing::error!(error = %e, "a feed could not be built");
    let mut reply = crate::http::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "503 the feed cannot be built right now; try again in a minute\n".into(),
    );
    reply
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("60"));
    reply
}

#[cfg(test)]
mod tests {
    use super::PageError;
    use crate::error::Error;

    /// Failures keep their looks: pages a 500 in the layout, feeds a
    /// plain 503 with Retry-After; neither shows the reason.
    #[test]
    fn failures_answer_without_the_reason() {
        let page = PageError::Broken(Error::io("SECRET detail", std::io::Error::other("disk")))
            .into_reply();
        assert_eq!(page.status(), 500);
        let text = super::testing::body(page);
        assert!(text.contains("Something went wrong"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        let feed =
            PageError::FeedUnavailable(Error::io("SECRET detail", std::io::Error::other("disk")))
                .into_reply();
        assert_eq!(feed.status(), 503);
        assert_eq!(feed.headers()["retry-after"], "60");
        let text = super::testing::body(feed);
        assert!(text.starts_with("503 the feed cannot be built"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
}
