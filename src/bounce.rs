//! The redirect handler: `/?product=…&os=…&lang=…` and `/files/<path>`
//! (SPEC §2). Reads the current index without locks, picks a mirror by
//! weight, counts the download without touching the disk.

use std::borrow::Cow;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER,
};
use hyper::{Method, Response, StatusCode};

use crate::config::Config;
use crate::counters::{Counters, Hit, Lang};
use crate::index::{Miss, Target, ThreadRandom};
use crate::network::Network;
use crate::query;

/// The body release tooling matches on a miss (exactly).
pub const NOT_FOUND_BODY: &str = "404 page not found\n";

/// The response type of every handler.
pub type Reply = Response<Full<Bytes>>;

/// What the redirect path needs.
pub struct Bouncer {
    /// The live network.
    pub network: std::sync::Arc<Network>,
    /// Validated settings.
    pub config: Config,
    /// Download counting.
    pub counters: std::sync::Arc<Counters>,
}

/// A bounce request's parameters, borrowed from the query where possible.
#[derive(Debug, Default, PartialEq)]
pub struct BounceQuery<'a> {
    /// `product`, trimmed.
    pub product: Option<Cow<'a, str>>,
    /// `os`, trimmed.
    pub os: Option<Cow<'a, str>>,
    /// `lang`, trimmed.
    pub lang: Option<Cow<'a, str>>,
    /// `print=yes`.
    pub print: bool,
}

impl<'a> BounceQuery<'a> {
    /// Parses a query string; unknown parameters are ignored, empty ones
    /// count as absent.
    pub fn parse(q: &'a str) -> BounceQuery<'a> {
        let mut out = BounceQuery::default();
        let trimmed = |v: Cow<'a, str>| -> Option<Cow<'a, str>> {
            let t = v.trim();
            if t.is_empty() {
                None
            } else if t.len() == v.len() {
                Some(v)
            } else {
                Some(Cow::Owned(t.to_string()))
            }
        };
        for (k, v) in query::pairs(q) {
            match &*k {
                "product" => out.product = trimmed(v),
                "os" => out.os = trimmed(v),
                "lang" => out.lang = trimmed(v),
                "print" => out.print = v.trim().eq_ignore_ascii_case("yes"),
                _ => {}
            }
        }
        out
    }
}

impl Bouncer {
    /// `/?product=…`.
    pub fn bounce(&self, method: &Method, query: &str, headers: &HeaderMap) -> Reply {
        let q = BounceQuery::parse(query);
        let Some(product) = q.product.as_deref() else {
            return redirect_to(self.config.home_url.clone(), None);
        };
        let os = q.os.as_deref().unwrap_or(&self.config.default_os);
        let lang = q.lang.as_deref().unwrap_or(&self.config.default_lang);
        let index = self.network.index();
        match index.resolve(product, os, lang) {
            Ok(target) => self.send(method, &index, &target, q.print, headers),
            Err(miss) => not_found(headers, miss),
        }
    }

    /// `/files/<path>`: `path` is the raw (percent-encoded) request path
    /// after `/files`.
    pub fn bounce_file(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Reply {
        let decoded = query::percent_decode(path);
        let print = query::pairs(query).any(|(k, v)| k == "print" && v.eq_ignore_ascii_case("yes"));
        let index = self.network.index();
        match index.resolve_path(&decoded) {
            Ok(target) => self.send(method, &index, &target, print, headers),
            Err(miss) => not_found(headers, miss),
        }
    }

    fn send(
        &self,
        method: &Method,
        index: &crate::index::Index,
        target: &Target<'_>,
        print: bool,
        headers: &HeaderMap,
    ) -> Reply {
        let https_only = target.product.ssl_only || self.arrived_over_https(headers);
        let candidates = target.location.candidates(https_only);
        // Region selection (SPEC §2.5) plugs in here: it narrows
        // `candidates` to the client's region before the pick.
        let (base, mirror) = match candidates.pick(&mut ThreadRandom) {
            Some(m) => {
                let mirror = index.mirror(m);
                (&*mirror.base_url, Some(mirror))
            }
            // Nobody can serve: the origin if configured (never a downgrade
            // to http for a TLS request), else 503.
            None => match &self.config.fallback_url {
                Some(origin) if !https_only || origin.starts_with("https://") => {
                    (origin.as_str(), None)
                }
                _ => return self.unavailable(),
            },
        };
        let mut url = String::with_capacity(base.len() + 128);
        url.push_str(base);
        target.location.render_path(target.lang, &mut url);
        if let Some(mirror) = mirror
            && method == Method::GET
            && !print
        {
            self.counters.count(Hit {
                product: target.product.id,
                location: target.location.id,
                // A product offered in every language counts under no
                // language: otherwise any client could mint new counter
                // rows with made-up language codes.
                lang: Lang::new(if target.product.languages.is_empty() {
                    ""
                } else {
                    target.lang
                }),
                mirror: mirror.id,
                country: *b"--",
            });
        }
        if print {
            return text(StatusCode::OK, url);
        }
        match HeaderValue::from_maybe_shared(Bytes::from(url)) {
            Ok(location) => redirect_to(location, Some(self.config.cache_control.clone())),
            Err(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 the mirror URL is not a valid header value; check the mirror's base URL\n"
                    .into(),
            ),
        }
    }

    fn arrived_over_https(&self, headers: &HeaderMap) -> bool {
        headers
            .get(self.config.https_header.as_str())
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }

    /// 503 with `Retry-After`.
    fn unavailable(&self) -> Reply {
        let mut reply = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 no mirror can serve this file right now; try again later\n".into(),
        );
        reply
            .headers_mut()
            .insert(RETRY_AFTER, self.config.retry_after.clone());
        reply
    }
}

fn redirect_to(location: HeaderValue, cache: Option<HeaderValue>) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::FOUND;
    reply.headers_mut().insert(LOCATION, location);
    if let Some(cache) = cache {
        reply.headers_mut().insert(CACHE_CONTROL, cache);
    }
    reply
}

/// A plain-text reply.
pub fn text(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

/// Whether the client asked for HTML (a browser).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// 404: exactly [`NOT_FOUND_BODY`] for tools, a page with a way forward
/// for browsers.
pub fn not_found(headers: &HeaderMap, miss: Miss) -> Reply {
    if !wants_html(headers) {
        return text(StatusCode::NOT_FOUND, NOT_FOUND_BODY.into());
    }
    let why = match miss {
        Miss::Product => "We do not offer that product.",
        Miss::Os => "That product is not available for that operating system.",
        Miss::Language => "That product is not available in that language.",
        Miss::Path => "We do not know that file.",
    };
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Download not found" }
                link rel="stylesheet" href=(crate::assets::CSS_PATH);
            }
            body {
                main {
                    h1 { "Download not found" }
                    p { (why) }
                    p { a.button href="/download" { "Choose a download" } }
                }
            }
        }
    };
    let mut reply = Response::new(Full::new(Bytes::from(page.into_string())));
    *reply.status_mut() = StatusCode::NOT_FOUND;
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = BounceQuery::parse("product=%20Firefox+&os=&lang=de&print=YES&x=1");
        assert_eq!(q.product.as_deref(), Some("Firefox"));
        assert_eq!(q.os, None);
        assert_eq!(q.lang.as_deref(), Some("de"));
        assert!(q.print);
        let q = BounceQuery::parse("product=a&print=no");
        assert!(!q.print);
        assert!(matches!(q.product, Some(Cow::Borrowed(_))));
    }

    proptest::proptest! {
        #[test]
        fn query_parsing_never_panics(q in ".*") {
            let _ = BounceQuery::parse(&q);
        }
    }
}
