//! RSS feeds (being written).

use super::{Public, Request};
use crate::bounce::Reply;

/// Answers `/feeds/NAME`.
pub fn feed(_public: &Public, req: &Request<'_>, _name: &str) -> Reply {
    crate::bounce::not_found(req.headers, crate::index::Miss::Path)
}
