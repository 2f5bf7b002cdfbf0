//! Test helpers for the public pages: a [`Public`] over a network in a
//! temporary directory, and requests answered through [`handle`].

use std::sync::Arc;

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method};

use super::{Public, Request, handle};
use crate::http::Reply;
use crate::network::Network;

/// A public site over an empty network, and the directory that holds it.
pub fn public() -> (tempfile::TempDir, Public) {
    let dir = tempfile::tempdir().unwrap();
    let network = Arc::new(Network::open(dir.path().join("t.redb"), true).unwrap());
    let public = Public::new(network, &crate::config::Config::default());
    (dir, public)
}

/// GET `path_and_query` with `headers` (name, value).
pub fn get(public: &Public, path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    handle(
        public,
        &Request {
            method: &Method::GET,
            path,
            query,
            headers: &map,
            via_proxy: false,
        },
    )
}

/// The reply's body as text.
pub fn body(reply: Reply) -> String {
    String::from_utf8(super::body_bytes(reply.into_body()).to_vec()).unwrap()
}
