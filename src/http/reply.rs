//! Replies: the one response type of every handler and its constructors.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};

/// The response type of every handler: a body that is complete.
pub type Reply = Response<Full<Bytes>>;

/// A reply with `status`, a `Content-Type` and a body.
pub fn with_type(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// A plain-text (UTF-8) reply.
pub fn text(status: StatusCode, body: String) -> Reply {
    with_type(status, "text/plain; charset=utf-8", body)
}

/// An HTML reply.
pub fn html(status: StatusCode, markup: maud::Markup) -> Reply {
    with_type(status, "text/html; charset=utf-8", markup.into_string())
}

/// A JSON reply.
pub fn json(status: StatusCode, body: String) -> Reply {
    with_type(status, "application/json", body)
}

/// 405 for a site that takes only GET and HEAD.
pub fn only_get_and_head() -> Reply {
    let mut reply = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 only GET and HEAD are allowed here\n".into(),
    );
    reply
        .headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    reply
}

/// 302 Found to `location`, without a body.
pub fn found(location: HeaderValue) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::FOUND;
    reply.headers_mut().insert(LOCATION, location);
    reply
}

/// 303 See Other to `to` (without `Location` if `to` cannot be a header).
pub fn see_other(to: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        reply.headers_mut().insert(LOCATION, v);
    }
    reply
}

/// The body release tooling matches on a miss (exactly).
pub const NOT_FOUND_BODY: &str = "404 page not found\n";

/// Why a path is not found, for browsers.
pub const UNKNOWN_FILE: &str = "We do not know that file.";

/// 404: exactly [`NOT_FOUND_BODY`] for tools, a page saying `why` with a
/// way forward for browsers.
pub fn not_found(headers: &HeaderMap, why: &str) -> Reply {
    if !wants_html(headers) {
        return text(StatusCode::NOT_FOUND, NOT_FOUND_BODY.into());
    }
    message_page(StatusCode::NOT_FOUND, "Download not found", why)
}

/// The HTML document every page shares: its `title`, what else its head
/// holds (`head`: stylesheets, feeds), and `body` in a `<body>` of `class`.
pub fn document(
    title: &str,
    head: maud::Markup,
    class: Option<&str>,
    body: maud::Markup,
) -> maud::Markup {
    maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                (head)
            }
            body class=[class] { (body) }
        }
    }
}

/// The public stylesheet's `<link>`.
pub fn public_css() -> maud::Markup {
    maud::html! { link rel="stylesheet" href=(crate::assets::CSS_PATH); }
}

/// A browser's page for a download that cannot be served: `title`, why,
/// and a link to the download form.
pub fn message_page(status: StatusCode, title: &str, why: &str) -> Reply {
    let body = maud::html! {
        main {
            h1 { (title) }
            p { (why) }
            p { a.button href="/download" { "Choose a download" } }
        }
    };
    html(status, document(title, public_css(), None, body))
}

/// Whether the client asked for HTML (a browser).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The public pages' Content-Security-Policy. `form-action` allows any
/// http(s) origin because the download form is redirected by the bounce to
/// a mirror, and browsers apply `form-action` to every redirect after a
/// submission; the pages hold nothing secret, and scripts stay `'self'`.
pub const PUBLIC_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// Sets the security headers of an answer. Every answer of every listener
/// passes here after routing, so a new page cannot forget them: any reply
/// with a body type gets `X-Content-Type-Options: nosniff`, and an HTML one
/// (the download pages, `?mirrorlist`, the 404 and 503 pages, …) a
/// Content-Security-Policy (the public pages' [`PUBLIC_CSP`]),
/// framing refused and referrers kept to the origin on other sites. What a
/// page set itself stays: the admin's stricter policy, `Referrer-Policy:
/// same-origin` and `no-store`, a sentry report's own policy and framing.
pub fn secure(reply: &mut Reply) {
    let headers = reply.headers_mut();
    // Redirects have no body to sniff, and are the hot path.
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return;
    };
    let html = content_type
        .as_bytes()
        .get(..9)
        .is_some_and(|t| t.eq_ignore_ascii_case(b"text/html"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if html {
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(PUBLIC_CSP));
        headers
            .entry(X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        headers
            .entry(REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    }
}
