//! The redirect handler: `/?product=…&os=…&lang=…` and `/files/<path>`
//! (SPEC §2). Reads the current index without locks, picks a mirror by
//! weight, counts the download without touching the disk.
//!
//! For download clients a redirect carries the file's digest when its
//! SHA-256 is known (RFC 3230 `Digest: sha-256=…`) and, when the operator
//! turns them on ([`crate::index::LINK_HEADERS`]), names up to four other
//! mirrors (RFC 6249 `Link: <…>; rel=duplicate; pri=N`). The same
//! URLs with `?metalink` (or `Accept: application/metalink4+xml`) answer a
//! Metalink v4 document and with `?mirrorlist` an HTML list of the mirrors
//! (see [`documents`]); neither counts as a download.

pub mod documents;
pub mod retries;

use std::borrow::Cow;
use std::net::IpAddr;

use hyper::body::Bytes;
use hyper::header::{ACCEPT, CACHE_CONTROL, HeaderMap, HeaderName, HeaderValue, LINK, RETRY_AFTER};
use hyper::{Method, StatusCode};

use crate::config::Config;
use crate::counters::{Counters, Hit, Lang};
use crate::geoip::Country;
use crate::http::{Reply, found, text, wants_html, with_type};
use crate::index::{
    Candidates, Index, KeyedRandom, MirrorEntry, Miss, StickyKey, Target, ThreadRandom,
};
use crate::network::Network;
use crate::query;

use documents::{METALINK_TYPE, file_name, metalink, mirrorlist};

/// How many other mirrors a redirect names in `Link` headers, at most.
pub const LINKS: usize = Candidates::RANKED - 1;

/// `Digest` (RFC 3230; not among hyper's constants).
static DIGEST: HeaderName = HeaderName::from_static("digest");

/// Who asks, and which mirrors may answer them.
struct Pool<'i> {
    /// The mirrors of the client's region (the world's when it has none).
    candidates: &'i Candidates,
    /// The sticky pick's key (client and file), when picks are sticky.
    key: Option<StickyKey>,
    /// The client's country, when GeoIP data is loaded.
    country: Option<Country>,
}

/// Where a request goes: a mirror, or the origin when nobody can serve.
struct Choice<'i> {
    /// The mirror's (or origin's) base URL.
    base: &'i str,
    /// The mirror's place in the index.
    picked: Option<u32>,
    /// The mirror, for counting.
    mirror: Option<&'i MirrorEntry>,
    /// Which place in the client's ranking it is (retries move down it).
    rank: usize,
}

/// What `send` needs to know about the request.
#[derive(Clone, Copy)]
struct Request<'a> {
    method: &'a Method,
    query: &'a str,
    headers: &'a HeaderMap,
    peer: IpAddr,
    /// The query asks for https explicitly ([`BounceQuery::https`]).
    asks_https: bool,
}

impl<'a> Request<'a> {
    fn new(
        method: &'a Method,
        query: &'a str,
        headers: &'a HeaderMap,
        peer: IpAddr,
        asks_https: bool,
    ) -> Self {
        Request {
            method,
            query,
            headers,
            peer,
            asks_https,
        }
    }
}

/// What the redirect path needs.
pub struct Bouncer {
    /// The live network.
    pub network: std::sync::Arc<Network>,
    /// Validated settings.
    pub config: Config,
    /// Download counting.
    pub counters: std::sync::Arc<Counters>,
    /// Who asked for the same file moments ago (sticky picks' retries).
    retries: retries::Retries,
    /// The HTTPS listeners' certificates, when this process serves TLS.
    pub tls: Option<std::sync::Arc<crate::tls::Certificates>>,
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
    /// `metalink` (any value): the Metalink document instead.
    pub metalink: bool,
    /// `mirrorlist` (any value): the list of mirrors instead.
    pub mirrorlist: bool,
    /// `json` (any value) with `mirrorlist`: the list as JSON.
    pub json: bool,
    /// `protocol=https`: https mirrors only (SPEC §13).
    pub https: bool,
}

/// What a request for a file wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A redirect to a mirror.
    Redirect,
    /// The mirror URL as text (`print=yes`).
    Print,
    /// A Metalink v4 document.
    Metalink,
    /// An HTML page listing the mirrors.
    Mirrorlist,
    /// The candidates in the order this client gets them, as JSON.
    MirrorlistJson,
}

impl BounceQuery<'_> {
    /// What the request wants: a Metalink document when asked for by the
    /// query or by `Accept`, else the mirror list, else the URL as text,
    /// else a redirect.
    pub fn want(&self, headers: &HeaderMap) -> Want {
        if self.metalink || accepts_metalink(headers) {
            Want::Metalink
        } else if self.mirrorlist && self.json {
            Want::MirrorlistJson
        } else if self.mirrorlist {
            Want::Mirrorlist
        } else if self.print {
            Want::Print
        } else {
            Want::Redirect
        }
    }
}

/// Whether `Accept` names the Metalink v4 type (with any parameters).
fn accepts_metalink(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(ACCEPT) else {
        return false;
    };
    let wanted = METALINK_TYPE.as_bytes();
    accept.as_bytes().split(|&b| b == b',').any(|range| {
        let range = range.split(|&b| b == b';').next().unwrap_or(range);
        range.trim_ascii().eq_ignore_ascii_case(wanted)
    })
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
                "metalink" => out.metalink = true,
                "mirrorlist" => out.mirrorlist = true,
                "json" => out.json = true,
                "protocol" => out.https = v.trim().eq_ignore_ascii_case("https"),
                _ => {}
            }
        }
        out
    }
}

impl Bouncer {
    /// The redirect path over `network`.
    pub fn new(
        network: std::sync::Arc<Network>,
        config: Config,
        counters: std::sync::Arc<Counters>,
    ) -> Bouncer {
        Bouncer {
            network,
            config,
            counters,
            retries: retries::Retries::default(),
            tls: None,
        }
    }

    /// `/?product=…` from a client whose socket address is `peer`.
    pub fn bounce(&self, method: &Method, query: &str, headers: &HeaderMap, peer: IpAddr) -> Reply {
        let q = BounceQuery::parse(query);
        let Some(product) = q.product.as_deref() else {
            return redirect_to(self.config.home_url.clone(), None);
        };
        let os = q.os.as_deref().unwrap_or(&self.config.default_os);
        let lang = q.lang.as_deref().unwrap_or(&self.config.default_lang);
        let index = self.network.index();
        match index.resolve(product, os, lang) {
            Ok(target) => {
                let request = Request::new(method, query, headers, peer, q.https);
                self.send(&request, &index, &target, q.want(headers))
            }
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
        peer: IpAddr,
    ) -> Reply {
        let decoded = query::percent_decode(path);
        let q = BounceQuery::parse(query);
        let want = q.want(headers);
        let index = self.network.index();
        match index.resolve_path(&decoded) {
            Ok(target) => {
                let request = Request::new(method, query, headers, peer, q.https);
                self.send(&request, &index, &target, want)
            }
            Err(miss) => not_found(headers, miss),
        }
    }

    /// The client's address: the socket peer, or what trusted proxies say
    /// in `X-Forwarded-For`, or `?ip=` when the operator allows it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap, query: &str) -> IpAddr {
        if self.config.ip_override
            && let Some(ip) = query::pairs(query)
                .find(|(k, _)| k == "ip")
                .and_then(|(_, v)| v.trim().parse::<IpAddr>().ok())
        {
            return crate::client::unmap(ip);
        }
        self.config.trusted_proxies.client(peer, headers)
    }

    /// Answers a resolved request: choose a mirror, count the download,
    /// reply (a redirect, the printed URL, a Metalink document or the
    /// mirror list).
    fn send(&self, request: &Request<'_>, index: &Index, target: &Target<'_>, want: Want) -> Reply {
        let https_only = target.location.ssl_only()
            || self.arrived_over_https(request.headers)
            || request.asks_https;
        if want == Want::Mirrorlist {
            return self.mirrorlist(index, target, https_only, request.query);
        }
        let pool = self.pool(request, index, target, https_only);
        if want == Want::MirrorlistJson {
            return self.mirrorlist_json(request, index, target, &pool, https_only);
        }
        if want == Want::Metalink {
            return self.metalink(index, target, pool.candidates, pool.key, https_only);
        }
        let print = want == Want::Print;
        let Some(choice) = self.choose(request, index, &pool, print, https_only) else {
            return self.unavailable(wants_html(request.headers));
        };
        if let Some(mirror) = choice.mirror
            && request.method == Method::GET
            && !print
        {
            self.count(target, mirror, pool.country);
        }
        self.reply(index, target, &pool, &choice, print)
    }

    /// The client's pool: its region narrows the candidates (SPEC §2.5)
    /// and, with the file, it keys the sticky pick (§2.6).
    fn pool<'i>(
        &self,
        request: &Request<'_>,
        index: &'i Index,
        target: &Target<'i>,
        https_only: bool,
    ) -> Pool<'i> {
        // The client's address family picks the mirrors it can reach.
        let client = self.client(request.peer, request.headers, request.query);
        let country = index.country_of(client);
        let key = index
            .sticky()
            .then(|| target.location.sticky_key(client, target.lang));
        let candidates = match key {
            Some(key) => index.pool(
                target.location,
                https_only,
                client,
                country,
                &mut KeyedRandom(key.0),
            ),
            None => index.pool(
                target.location,
                https_only,
                client,
                country,
                &mut ThreadRandom,
            ),
        };
        Pool {
            candidates,
            key,
            country,
        }
    }

    /// The mirror for this request, or the origin when nobody can serve;
    /// `None`: not even that (503).
    fn choose<'i>(
        &'i self,
        request: &Request<'_>,
        index: &'i Index,
        pool: &Pool<'i>,
        print: bool,
        https_only: bool,
    ) -> Option<Choice<'i>> {
        // A client asking again for a redirect is retrying: the next mirror
        // in its ranking. Printing is no retry (tooling compares answers).
        let rank = match pool.key {
            Some(key) if !print => {
                let record = request.method == Method::GET;
                self.retries.rank(key, std::time::Instant::now(), record)
            }
            _ => 0,
        };
        let picked = match pool.key {
            Some(key) => pool.candidates.pick_sticky(key, rank),
            None => pool.candidates.pick(&mut ThreadRandom),
        };
        Some(match picked {
            Some(m) => {
                let mirror = index.mirror(m);
                Choice {
                    base: mirror.url(https_only),
                    picked,
                    mirror: Some(mirror),
                    rank,
                }
            }
            None => Choice {
                base: self.origin(https_only)?,
                picked: None,
                mirror: None,
                rank,
            },
        })
    }

    /// The origin (`--fallback-url`) when nobody can serve, unless the
    /// request came over TLS and the origin would downgrade it to http.
    fn origin(&self, https_only: bool) -> Option<&str> {
        self.config
            .fallback_url
            .as_deref()
            .filter(|origin| !https_only || origin.starts_with("https://"))
    }

    /// Counts a download from `mirror`.
    fn count(&self, target: &Target<'_>, mirror: &MirrorEntry, country: Option<Country>) {
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
            country: country.map_or(Country::UNKNOWN, |c| c.0),
        });
    }

    /// The redirect (or, with `print`, the URL as text): the URL, then the
    /// `Link` values naming what the client would get next, built in one
    /// buffer that the header values share.
    fn reply(
        &self,
        index: &Index,
        target: &Target<'_>,
        pool: &Pool<'_>,
        choice: &Choice<'_>,
        print: bool,
    ) -> Reply {
        let ranking;
        let links = match (choice.picked, pool.key) {
            (Some(_), Some(key)) if !print && index.link_headers() => {
                let mut order = pool.candidates.ranking(key);
                let next = (choice.rank + 1) % order.len();
                order.rotate_left(next);
                order.truncate(LINKS);
                ranking = order;
                &ranking[..]
            }
            (Some(_), None) if !print && index.link_headers() => pool.candidates.ranked(),
            _ => &[],
        };
        let base = choice.base;
        let mut url = String::with_capacity(
            (base.len() + 128) * (1 + links.len()) + if links.is_empty() { 0 } else { 64 },
        );
        url.push_str(base);
        target.location.render_path(target.lang, &mut url);
        let url_end = url.len();
        let mut link_ends = [0usize; LINKS];
        let mut n = 0;
        for &m in links {
            if Some(m) == choice.picked {
                continue;
            }
            if n == LINKS {
                break;
            }
            let other = index.mirror(m);
            url.push('<');
            // Over https where the pick is and the alternative has it.
            url.push_str(other.url(base.starts_with("https://")));
            target.location.render_path(target.lang, &mut url);
            url.push_str(">; rel=duplicate; pri=");
            url.push(char::from(b'1' + n as u8));
            if let Some(cc) = other.country() {
                url.push_str("; geo=");
                url.push_str(cc);
            }
            link_ends[n] = url.len();
            n += 1;
        }
        if print {
            return text(StatusCode::OK, url);
        }
        let bytes = Bytes::from(url);
        let (location, bytes) = if n == 0 {
            (HeaderValue::from_maybe_shared(bytes), Bytes::new())
        } else {
            (
                HeaderValue::from_maybe_shared(bytes.slice(..url_end)),
                bytes,
            )
        };
        let Ok(location) = location else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 the mirror URL is not a valid header value; check the mirror's base URL\n"
                    .into(),
            );
        };
        let mut reply = redirect_to(location, Some(self.config.cache_control.clone()));
        let out = reply.headers_mut();
        let mut start = url_end;
        for &end in &link_ends[..n] {
            // A mirror whose URL is no header value is left out.
            if let Ok(link) = HeaderValue::from_maybe_shared(bytes.slice(start..end)) {
                out.append(LINK, link);
            }
            start = end;
        }
        if let Some(digest) = target.file.and_then(|f| f.digest.as_ref()) {
            out.insert(DIGEST.clone(), digest.clone());
        }
        reply
    }

    /// The Metalink document for `target`: every candidate (the origin
    /// when there is none), with the file's size and digests. Those of
    /// the client's pool come first, in the order the client would be sent
    /// to them (its sticky ranking; heaviest first without a `key`), then
    /// the rest of the world's in the same order. Not a download: nothing
    /// is counted.
    fn metalink(
        &self,
        index: &Index,
        target: &Target<'_>,
        pool: &Candidates,
        key: Option<StickyKey>,
        https_only: bool,
    ) -> Reply {
        let order = |c: &Candidates| match key {
            Some(key) => c.ranking(key),
            None => c.by_weight().into_iter().map(|(m, _)| m).collect(),
        };
        let mut mirrors = order(pool);
        let world = target.location.candidates(https_only);
        if !std::ptr::eq(world, pool) {
            let rest: Vec<u32> = order(world)
                .into_iter()
                .filter(|m| !mirrors.contains(m))
                .collect();
            mirrors.extend(rest);
        }
        let path = target.path();
        let mut urls: Vec<documents::Url<'_>> = mirrors
            .into_iter()
            .map(|m| {
                let mirror = index.mirror(m);
                documents::Url {
                    url: format!("{}{path}", mirror.url(https_only)),
                    location: mirror.country(),
                }
            })
            .collect();
        if urls.is_empty() {
            let Some(origin) = self.origin(https_only) else {
                return self.unavailable(false);
            };
            urls.push(documents::Url {
                url: format!("{origin}{path}"),
                location: None,
            });
        }
        let name = file_name(&path);
        let body = metalink(&name, target.file, &urls, crate::model::now());
        let mut reply = with_type(StatusCode::OK, METALINK_TYPE, body);
        let h = reply.headers_mut();
        h.insert(CACHE_CONTROL, self.config.cache_control.clone());
        // `name` may be anything; the header gets a tame version of it.
        let tame: String = name
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '+' => c,
                _ => '_',
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{tame}.meta4\"")) {
            h.insert(hyper::header::CONTENT_DISPOSITION, v);
        }
        reply
    }

    /// The HTML list of mirrors that have `target`'s file. Not a download:
    /// nothing is counted.
    fn mirrorlist(
        &self,
        index: &Index,
        target: &Target<'_>,
        https_only: bool,
        query: &str,
    ) -> Reply {
        // The same request, asking for the Metalink instead.
        let mut metalink = String::from("?");
        for pair in query.split('&') {
            let name = pair.split('=').next().unwrap_or("");
            if !pair.is_empty() && name != "mirrorlist" && name != "metalink" {
                metalink.push_str(pair);
                metalink.push('&');
            }
        }
        metalink.push_str("metalink");
        let page = mirrorlist(index, target, https_only, &metalink);
        let mut reply = with_type(StatusCode::OK, "text/html; charset=utf-8", page);
        (reply.headers_mut()).insert(CACHE_CONTROL, self.config.cache_control.clone());
        reply
    }

    /// `?mirrorlist&json` (SPEC §13): the candidates in the order this
    /// client would get them (its first request, then each retry), with
    /// the file's size and hashes and why each is where it is. Nothing is
    /// counted, and it is no retry.
    fn mirrorlist_json(
        &self,
        request: &Request<'_>,
        index: &Index,
        target: &Target<'_>,
        pool: &Pool<'_>,
        https_only: bool,
    ) -> Reply {
        let client = self.client(request.peer, request.headers, request.query);
        let order: Vec<u32> = match pool.key {
            Some(key) => pool.candidates.ranking(key),
            None => pool
                .candidates
                .by_weight()
                .into_iter()
                .map(|(m, _)| m)
                .collect(),
        };
        let weights: std::collections::HashMap<u32, u64> = pool.candidates.iter().collect();
        let total = pool.candidates.total().max(1) as f64;
        let path = target.path();
        let region = pool
            .country
            .and_then(|c| index.regions().of(c))
            .map(|r| index.regions().get(r).name.to_string());
        let network = index.regions().group_of(client).is_some();
        let why = |rank: usize| {
            match (pool.key, rank) {
            (Some(_), 0) => "first: the best sticky score of this client and file among the pool, weighted by rating".to_string(),
            (Some(_), n) => format!("retry {n}: next in this client's sticky ranking"),
            (None, _) => "random pick weighted by rating (sticky picks are off); listed heaviest first".to_string(),
        }
        };
        let candidates: Vec<serde_json::Value> = order
            .iter()
            .enumerate()
            .map(|(rank, &m)| {
                let mirror = index.mirror(m);
                let weight = weights.get(&m).copied().unwrap_or(0);
                serde_json::json!({
                    "rank": rank + 1,
                    "mirror": &*mirror.name,
                    "url": format!("{}{path}", mirror.url(https_only)),
                    "country": mirror.country(),
                    "share_percent": (weight as f64 * 1000.0 / total).round() / 10.0,
                    "why": why(rank),
                })
            })
            .collect();
        let file = target.file.map(|f| {
            let hashes: serde_json::Map<String, serde_json::Value> = f
                .hashes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                .collect();
            serde_json::json!({ "size": f.size, "hashes": hashes })
        });
        let origin = if order.is_empty() {
            self.origin(https_only).map(|o| format!("{o}{path}"))
        } else {
            None
        };
        let body = serde_json::json!({
            "version": 1,
            "path": path,
            "file": file,
            "client": {
                "family": crate::model::Family::of(client).as_str(),
                "country": pool.country.map(|c| c.as_str().to_string()),
                "region": region,
                "claimed_network": network,
                "https_only": https_only,
            },
            "sticky": pool.key.is_some(),
            "candidates": candidates,
            "origin": origin,
        });
        let mut reply = crate::http::reply::json(StatusCode::OK, format!("{body:#}\n"));
        reply.headers_mut().insert(
            CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-store"),
        );
        reply
    }

    /// Whether the request came over TLS (directly or as a trusted proxy
    /// says).
    fn arrived_over_https(&self, headers: &HeaderMap) -> bool {
        crate::http::arrived_over_https(headers, &self.config.https_header)
    }

    /// 503 with `Retry-After`.
    /// A page with a way forward for browsers (`html`), text for tools.
    fn unavailable(&self, html: bool) -> Reply {
        let mut reply = if html {
            crate::http::message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Download unavailable",
                "No mirror can serve this file right now. Please try again in a few minutes, or choose another download.",
            )
        } else {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "503 no mirror can serve this file right now; try again later\n".into(),
            )
        };
        reply
            .headers_mut()
            .insert(RETRY_AFTER, self.config.retry_after.clone());
        reply
    }
}

fn redirect_to(location: HeaderValue, cache: Option<HeaderValue>) -> Reply {
    let mut reply = found(location);
    if let Some(cache) = cache {
        reply.headers_mut().insert(CACHE_CONTROL, cache);
    }
    reply
}

/// 404: exactly [`crate::http::NOT_FOUND_BODY`] for tools, a page with a way forward
/// for browsers.
pub fn not_found(headers: &HeaderMap, miss: Miss) -> Reply {
    let why = match miss {
        Miss::Product => "We do not offer that product.",
        Miss::Os => "That product is not available for that operating system.",
        Miss::Language => "That product is not available in that language.",
        Miss::Path => crate::http::UNKNOWN_FILE,
    };
    crate::http::not_found(headers, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

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

    #[test]
    fn what_a_request_wants() {
        let none = HeaderMap::new();
        let mut accept = HeaderMap::new();
        accept.insert(
            ACCEPT,
            HeaderValue::from_static("application/Metalink4+XML, */*;q=0.1"),
        );
        let want = |q: &str, h: &HeaderMap| BounceQuery::parse(q).want(h);
        assert_eq!(want("product=a", &none), Want::Redirect);
        assert_eq!(want("product=a&print=yes", &none), Want::Print);
        assert_eq!(want("product=a&metalink", &none), Want::Metalink);
        assert_eq!(want("metalink=1&print=yes", &none), Want::Metalink);
        assert_eq!(want("product=a&mirrorlist", &none), Want::Mirrorlist);
        assert_eq!(want("product=a", &accept), Want::Metalink);
        assert_eq!(want("mirrorlist", &accept), Want::Metalink);
        let mut h = HeaderMap::new();
        for (value, metalink) in [
            ("text/html,application/xhtml+xml,*/*;q=0.8", false),
            ("application/metalink4+xml;q=0.9", true),
            ("*/*, application/metalink4+xmlx", false),
            ("application/metalink+xml", false),
        ] {
            h.insert(ACCEPT, HeaderValue::from_static(value));
            assert_eq!(want("", &h) == Want::Metalink, metalink, "{value}");
        }
    }

    mod documents {
        use std::collections::BTreeSet;
        use std::sync::Arc;

        use super::super::*;
        use crate::model::{Availability, FileInfo, MirrorHealth};
        use crate::store::{NewMirror, NewProduct};

        /// SHA-256 of "abc" and its base64.
        const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        const SHA256_B64: &str = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        /// A hostile but valid path: `<`, `>` and `"` encoded, `&` and `'` not.
        const ODD: &str = "/odd/%3Cb%3E&'%22x%20y.exe";

        struct Net {
            _dir: tempfile::TempDir,
            app: Bouncer,
        }

        /// Mirrors m1–m6 (ratings 60, 50, …, 10; m1 in a region of one
        /// country, m2 in a region of two) serve `fx` in `de` and the odd
        /// file; m7 has them too but is down; m8 is inactive.
        fn net() -> Net {
            let dir = tempfile::tempdir().unwrap();
            let network = Arc::new(Network::open(dir.path().join("s.redb"), true).unwrap());
            network
                .write(&crate::model::Actor::Program("test"), |tx| {
                    let region = crate::model::fixtures::region;
                    tx.region_add(region("germany", &["DE"]))?;
                    tx.region_add(region("benelux", &["NL", "BE"]))?;
                    tx.product_add(NewProduct {
                        name: "fx".into(),
                        languages: vec!["de".into(), "fr".into()],
                        ..Default::default()
                    })?;
                    let fx = tx.location_add("fx", "win", "/fx/:lang/Fx%20Setup.exe")?;
                    tx.product_add(NewProduct {
                        name: "odd".into(),
                        ..Default::default()
                    })?;
                    let odd = tx.location_add("odd", "win", ODD)?;
                    for i in 1..=8u32 {
                        let m = tx.mirror_add(NewMirror {
                            name: format!("m{i}"),
                            base_url: if i == 3 {
                                "https://m3.example".into()
                            } else {
                                format!("http://m{i}.example/pub")
                            },
                            rating: 10 * (7 - i.min(6)),
                            regions: match i {
                                1 => vec!["germany".into()],
                                2 => vec!["benelux".into()],
                                _ => vec![],
                            },
                            inactive: i == 8,
                            ..Default::default()
                        })?;
                        if i == 7 {
                            tx.set_health(
                                m.id,
                                &MirrorHealth {
                                    healthy: false,
                                    error: "connection <refused>".into(),
                                    checked_at: 1_700_000_000,
                                    ..Default::default()
                                },
                            )?;
                        }
                        let present = Availability {
                            present: true,
                            healthy: true,
                            ..Default::default()
                        };
                        tx.set_availability(fx.id, m.id, &present)?;
                        tx.set_availability(odd.id, m.id, &present)?;
                    }
                    tx.setting_put(crate::index::LINK_HEADERS, Some("true"))?;
                    tx.file_put(&FileInfo {
                        path: "/fx/de/Fx%20Setup.exe".into(),
                        location: Some(fx.id),
                        lang: Some("de".into()),
                        size: Some(3),
                        sha256: Some(SHA256.into()),
                        md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
                        ..Default::default()
                    })
                })
                .unwrap();
            let app = Bouncer::new(
                network,
                Config::default(),
                Arc::new(Counters::start(
                    Arc::new(Discard),
                    std::time::Duration::from_secs(3600),
                )),
            );
            Net { _dir: dir, app }
        }

        struct Discard;
        impl crate::counters::CountSink for Discard {
            fn add_counts(&self, _: &crate::counters::Flush) -> crate::error::Result<()> {
                Ok(())
            }
        }

        impl Net {
            fn get(&self, query: &str, headers: &[(&'static str, &'static str)]) -> Reply {
                let mut h = HeaderMap::new();
                for (k, v) in headers {
                    h.insert(*k, HeaderValue::from_static(v));
                }
                self.app.bounce(&Method::GET, query, &h, super::LOCAL)
            }

            /// Sets an operator setting (and publishes a new index).
            fn set(&self, key: &str, value: &str) {
                let test = crate::model::Actor::Program("test");
                (self.app.network)
                    .write(&test, |tx| tx.setting_put(key, Some(value)))
                    .unwrap();
            }

            fn file(&self, path: &str, query: &str) -> Reply {
                self.app
                    .bounce_file(&Method::GET, path, query, &HeaderMap::new(), super::LOCAL)
            }

            /// Downloads counted by this thread so far.
            fn counted(&self) -> u64 {
                crate::counters::flush_thread();
                self.app
                    .counters
                    .stats()
                    .counted
                    .load(std::sync::atomic::Ordering::Relaxed)
            }
        }

        fn header_values(r: &Reply, name: &str) -> Vec<String> {
            r.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect()
        }

        /// The body of a reply (`Full`: ready at once).
        fn body(r: Reply) -> String {
            use http_body_util::BodyExt;
            let mut collect = std::pin::pin!(r.into_body().collect());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let std::task::Poll::Ready(Ok(collected)) = collect.as_mut().poll(&mut cx) else {
                panic!("a full body is ready at once");
            };
            String::from_utf8(collected.to_bytes().to_vec()).unwrap()
        }

        /// The mirror name of a redirect or printed URL.
        fn host(url: &str) -> String {
            url.split('/')
                .nth(2)
                .unwrap()
                .trim_end_matches(".example")
                .to_string()
        }

        #[test]
        fn sticky_redirects_walk_the_clients_ranking_and_name_what_comes_next() {
            let net = net();
            let first = body(net.get("product=fx&os=win&lang=de&print=yes", &[]));
            // Printing is no retry: always the same answer.
            for _ in 0..100 {
                assert_eq!(
                    body(net.get("product=fx&os=win&lang=de&print=yes", &[])),
                    first
                );
            }
            // Each redirect is a retry of the one before: the client walks
            // its ranking, and each redirect names the mirrors after it.
            let replies: Vec<Reply> = (0..7)
                .map(|_| net.get("product=fx&os=win&lang=de", &[]))
                .collect();
            let walk: Vec<String> = replies
                .iter()
                .map(|r| host(&header_values(r, "location")[0]))
                .collect();
            assert_eq!(walk[0], host(&first), "{walk:?}");
            assert_eq!(walk[6], walk[0], "round again after six: {walk:?}");
            let distinct: BTreeSet<&String> = walk[..6].iter().collect();
            assert_eq!(distinct.len(), 6, "every serving mirror once: {walk:?}");
            for (i, r) in replies.iter().take(6).enumerate() {
                let named: Vec<String> = header_values(r, "link")
                    .iter()
                    .map(|l| host(l.trim_start_matches('<')))
                    .collect();
                let next: Vec<String> = (1..=4).map(|k| walk[(i + k) % 6].clone()).collect();
                assert_eq!(named, next, "redirect {i} of {walk:?}");
            }
            // The same file by path: the same client ranking.
            let by_path = body(net.file("/fx/de/Fx%20Setup.exe", "print=yes"));
            assert_eq!(by_path, first);
        }

        #[test]
        fn without_stickiness_redirects_name_other_mirrors_best_first_and_the_digest() {
            let net = net();
            net.set(crate::index::STICKY, "false");
            let ranked = ["m1", "m2", "m3", "m4", "m5", "m6"];
            let mut picked = BTreeSet::new();
            for _ in 0..300 {
                let r = net.get("product=fx&os=win&lang=de", &[]);
                assert_eq!(r.status(), StatusCode::FOUND);
                let location = header_values(&r, "location").remove(0);
                let name = location
                    .split('/')
                    .nth(2)
                    .unwrap()
                    .trim_end_matches(".example")
                    .to_string();
                assert!(location.ends_with("/fx/de/Fx%20Setup.exe"), "{location}");
                let others: Vec<&str> = ranked.iter().copied().filter(|m| *m != name).collect();
                let want: Vec<String> = others[..4]
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let url = if *m == "m3" {
                            "https://m3.example/fx/de/Fx%20Setup.exe".to_string()
                        } else {
                            format!("http://{m}.example/pub/fx/de/Fx%20Setup.exe")
                        };
                        let geo = if *m == "m1" { "; geo=de" } else { "" };
                        format!("<{url}>; rel=duplicate; pri={}{geo}", i + 1)
                    })
                    .collect();
                assert_eq!(header_values(&r, "link"), want, "picked {name}");
                assert_eq!(
                    header_values(&r, "digest"),
                    vec![format!("sha-256={SHA256_B64}")]
                );
                picked.insert(name);
            }
            // Down (m7) and inactive (m8) mirrors are never picked nor named.
            assert_eq!(picked.len(), 6, "{picked:?}");
            // No hash known: no Digest; `Link` all the same.
            let r = net.get("product=fx&os=win&lang=fr", &[]);
            assert_eq!(r.status(), StatusCode::FOUND);
            assert!(r.headers().get("digest").is_none());
            assert_eq!(header_values(&r, "link").len(), 4);
            // Over TLS only https mirrors serve: nobody else to name.
            let r = net.get(
                "product=fx&os=win&lang=de",
                &[("x-forwarded-proto", "https")],
            );
            assert_eq!(
                header_values(&r, "location"),
                vec!["https://m3.example/fx/de/Fx%20Setup.exe"]
            );
            assert!(r.headers().get("link").is_none());
            assert!(r.headers().get("digest").is_some());
            // print=yes: just the URL.
            let r = net.get("product=fx&os=win&lang=de&print=yes", &[]);
            assert!(r.headers().get("link").is_none() && r.headers().get("digest").is_none());
        }

        #[test]
        fn link_headers_are_off_unless_switched_on() {
            let net = net();
            net.set(crate::index::LINK_HEADERS, "yes");
            let r = net.file("/fx/de/Fx%20Setup.exe", "");
            assert_eq!(r.status(), StatusCode::FOUND);
            assert!(r.headers().get("link").is_none());
            assert_eq!(
                header_values(&r, "digest"),
                vec![format!("sha-256={SHA256_B64}")]
            );
        }

        #[test]
        fn metalink_documents_list_every_candidate_and_count_nothing() {
            let net = net();
            let before = net.counted();
            let mut orders = Vec::new();
            for reply in [
                net.get("product=fx&os=win&lang=de&metalink", &[]),
                net.get("product=fx&os=win&lang=de", &[("accept", METALINK_TYPE)]),
                net.file("/fx/de/Fx%20Setup.exe", "metalink"),
                net.file("/fx/de/Fx Setup.exe", "metalink=yes"),
            ] {
                assert_eq!(reply.status(), StatusCode::OK);
                assert_eq!(header_values(&reply, "content-type"), vec![METALINK_TYPE]);
                assert!(reply.headers().get("location").is_none());
                let doc = body(reply);
                let xml = roxmltree::Document::parse(&doc).expect("well-formed");
                let file = xml
                    .descendants()
                    .find(|n| n.has_tag_name("file"))
                    .expect("a file");
                assert_eq!(file.attribute("name"), Some("Fx Setup.exe"));
                let text = |tag: &str| -> Vec<(Option<String>, String)> {
                    file.children()
                        .filter(|n| n.has_tag_name(tag))
                        .map(|n| {
                            (
                                n.attribute("type")
                                    .or(n.attribute("priority"))
                                    .map(String::from),
                                format!(
                                    "{}{}",
                                    n.attribute("location")
                                        .map(|l| format!("{l} "))
                                        .unwrap_or_default(),
                                    n.text().unwrap_or("")
                                ),
                            )
                        })
                        .collect()
                };
                assert_eq!(text("size"), vec![(None, "3".into())]);
                assert_eq!(
                    text("hash"),
                    vec![
                        (Some("sha-256".into()), SHA256.into()),
                        (
                            Some("md5".into()),
                            "900150983cd24fb0d6963f7d28e17f72".into()
                        )
                    ]
                );
                let urls: Vec<(String, String)> = text("url")
                    .into_iter()
                    .map(|(p, u)| (p.unwrap(), u))
                    .collect();
                let priorities: Vec<&str> = urls.iter().map(|(p, _)| p.as_str()).collect();
                assert_eq!(priorities, ["1", "2", "3", "4", "5", "6"]);
                let mut all: Vec<&str> = urls.iter().map(|(_, u)| u.as_str()).collect();
                orders.push(
                    all.iter()
                        .map(|u| host(u.rsplit(' ').next().unwrap()))
                        .collect::<Vec<_>>(),
                );
                all.sort_unstable();
                assert_eq!(
                    all,
                    vec![
                        "de http://m1.example/pub/fx/de/Fx%20Setup.exe",
                        "http://m2.example/pub/fx/de/Fx%20Setup.exe",
                        "http://m4.example/pub/fx/de/Fx%20Setup.exe",
                        "http://m5.example/pub/fx/de/Fx%20Setup.exe",
                        "http://m6.example/pub/fx/de/Fx%20Setup.exe",
                        "https://m3.example/fx/de/Fx%20Setup.exe",
                    ]
                );
            }
            assert_eq!(net.counted(), before, "a Metalink is not a download");
            // Priorities follow the client's own ranking: the order its
            // redirects (and retries) take, whichever way it asks.
            let walk: Vec<String> = (0..6)
                .map(|_| {
                    let r = net.get("product=fx&os=win&lang=de", &[]);
                    host(&header_values(&r, "location")[0])
                })
                .collect();
            for order in &orders {
                assert_eq!(order, &walk);
            }
            assert_eq!(net.counted(), before + 6);
        }

        #[test]
        fn metalink_of_a_hostile_path_is_escaped() {
            let net = net();
            let r = net.file(ODD, "metalink");
            assert_eq!(r.status(), StatusCode::OK);
            let disposition = header_values(&r, "content-disposition").remove(0);
            assert_eq!(disposition, "inline; filename=\"_b____x_y.exe.meta4\"");
            let doc = body(r);
            let xml = roxmltree::Document::parse(&doc).expect("well-formed");
            let file = xml.descendants().find(|n| n.has_tag_name("file")).unwrap();
            assert_eq!(file.attribute("name"), Some("<b>&'\"x y.exe"));
            let first = file.children().find(|n| n.has_tag_name("url")).unwrap();
            // The URL keeps its percent-encoding; `&` is escaped only in XML.
            let first = first.text().unwrap();
            assert!(
                first.starts_with("http://m")
                    && first.ends_with(".example/pub/odd/%3Cb%3E&'%22x%20y.exe"),
                "{first}"
            );
            assert!(doc.contains("/odd/%3Cb%3E&amp;&apos;%22x%20y.exe</url>"));
            assert!(!doc.contains("<b>"));
        }

        #[test]
        fn mirror_lists_show_status_and_hashes_and_count_nothing() {
            let net = net();
            let before = net.counted();
            let r = net.file("/fx/de/Fx%20Setup.exe", "mirrorlist");
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                header_values(&r, "content-type"),
                vec!["text/html; charset=utf-8"]
            );
            let page = body(r);
            for m in ["m1", "m2", "m3", "m4", "m5", "m6", "m7"] {
                assert!(page.contains(&format!(">{m}</th>")), "{m}: {page}");
            }
            assert!(!page.contains(">m8<"), "inactive mirrors are not listed");
            assert!(page.contains("down: connection &lt;refused&gt;"), "{page}");
            assert!(page.contains(SHA256) && page.contains("900150983cd24fb0d6963f7d28e17f72"));
            assert!(page.contains("3 bytes"));
            // Share of m1: 60 of 210.
            assert!(page.contains("28.6 %"), "{page}");
            let r = net.get("product=odd&os=win&mirrorlist", &[]);
            let page = body(r);
            assert!(page.contains("&lt;b&gt;&amp;'&quot;x y.exe"), "{page}");
            assert!(page.contains("href=\"?product=odd&amp;os=win&amp;metalink\""));
            assert!(!page.contains("<b>"));
            assert!(page.contains("No checksums are known"));
            assert_eq!(net.counted(), before, "a mirror list is not a download");
        }
    }

    proptest::proptest! {
        #[test]
        fn query_parsing_never_panics(q in ".*") {
            let _ = BounceQuery::parse(&q);
        }
    }
}
