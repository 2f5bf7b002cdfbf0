//! The view of a request read whole, as the admin pages and the API see it.

use std::net::IpAddr;

use hyper::{HeaderMap, Method};

/// One request, its body read whole.
pub struct Request<'a> {
    /// GET, POST, …
    pub method: &'a Method,
    /// The path below the site's prefix (`/mirrors/x` under `/admin`,
    /// `/product_show` under `/api`).
    pub path: &'a str,
    /// The raw query string.
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body (empty for GET).
    pub body: &'a [u8],
    /// The client's address (behind trusted proxies, the real client's).
    pub peer: IpAddr,
}

impl Request<'_> {
    /// The `Content-Type` header, if readable.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

/// Whether a request arrived over HTTPS at the proxy in front: its
/// `https_header` (by default `X-Forwarded-Proto`) says `https`.
pub fn arrived_over_https(headers: &HeaderMap, https_header: &str) -> bool {
    headers
        .get(https_header)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}
