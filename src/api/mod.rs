//! The release-automation API under `/api/`, compatible with the XML API
//! of Mozilla's Tuxedo / bouncer-admin that release tooling (bouncerscript)
//! drives: same endpoints, parameters, XML documents and numbered errors;
//! JSON on `Accept: application/json`. HTTP Basic auth with Bouncer users:
//! any user may read, `release` and `admin` may write.
//!
//! Answered on a blocking thread (argon2 checks, store reads and writes).
//! Every write goes through `Network::write`: committed, audited as
//! `api:NAME`, published to the live index at once.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::{HeaderMap, Method};

use crate::bounce::Reply;
use crate::network::Network;

/// Request bodies larger than this are refused with 413 (as bouncer-admin).
pub const MAX_BODY: usize = 500 * 1024;

/// The API application.
pub struct Api {
    /// The live network.
    pub network: Arc<Network>,
}

impl Api {
    /// An API over `network`.
    pub fn new(network: Arc<Network>) -> Api {
        Api { network }
    }
}

/// One API request, read whole.
pub struct Request<'a> {
    /// GET or POST.
    pub method: &'a Method,
    /// The path below `/api` (`/product_show`, `/product_add/`).
    pub path: &'a str,
    /// The raw query string.
    pub query: &'a str,
    /// Request headers (Authorization, Accept, Content-Type).
    pub headers: &'a HeaderMap,
    /// The body (form-encoded for POSTs).
    pub body: &'a [u8],
    /// The client's address.
    pub peer: IpAddr,
}

/// Whether `path` belongs to the API.
pub fn serves(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// 413 with the numbered error release tooling knows, in XML or JSON as
/// the client asked.
pub fn too_large(_headers: &HeaderMap) -> Reply {
    crate::bounce::text(
        hyper::StatusCode::PAYLOAD_TOO_LARGE,
        "413 the request body is larger than 500 KB\n".into(),
    )
}

/// Answers an API request. Blocking: call it off the async workers.
pub fn handle(_api: &Api, _req: &Request<'_>) -> Reply {
    crate::bounce::text(
        hyper::StatusCode::NOT_FOUND,
        "404 the API is being built\n".into(),
    )
}
